"""village5g domain library: the contracts every sub-package uses (errors, schema, crs, limits, writers,
labels) and one sub-package per subject: ingest, model, runs, store, audit, planning, reports.

Nothing in this package imports web, map or scheduler libraries; ``api`` and ``maps`` build on it.
"""

__version__ = "0.1.0"
