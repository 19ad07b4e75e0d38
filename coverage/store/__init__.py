"""Stored data and how it is read: :mod:`~coverage.store.tables` (every table and the one
create_schema()), :mod:`~coverage.store.storage` (:class:`Store`, on SQLite or PostGIS),
:mod:`~coverage.store.results_query` (the one SQL read layer over published results, for the CLI,
the API, the maps and the reports), :mod:`~coverage.store.point_query` (stations and measurements read
in SQL), :mod:`~coverage.store.queries` (the columns and shape of a village list),
:mod:`~coverage.store.regions` (the one resolver of region codes and names) and
:mod:`~coverage.store.keys` (API keys)."""
