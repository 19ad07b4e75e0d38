"""village5g domain library: data contracts, CRS, ingest, storage and (later) the coverage model.

Nothing in this package imports web, map or scheduler libraries; ``api`` and ``maps`` build on it.
"""

__version__ = "0.1.0"
