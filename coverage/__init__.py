"""village5g domain library: the modules every sub-package uses (errors, schema, crs, limits, writers,
labels, summary, processes) and one sub-package per subject: model, store, ingest, audit, runs, reports,
planning.

Nothing in this package imports web, map or scheduler libraries; ``api`` and ``maps`` build on it.
"""

__version__ = "0.1.0"
