"""Stored data and how it is read: :mod:`~coverage.store.storage` (the tables and :class:`Store`, on
SQLite or PostGIS), :mod:`~coverage.store.results_query` (the SQL read layer over published
results), :mod:`~coverage.store.queries` (lists from a loaded run), :mod:`~coverage.store.regions`
(the one resolver of region codes and names) and :mod:`~coverage.store.keys` (API keys)."""
