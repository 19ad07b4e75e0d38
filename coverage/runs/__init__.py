"""Analysis runs: :mod:`~coverage.runs.compute` (one analysis in memory: predictions, fusion,
verdicts, rasters), :mod:`~coverage.runs.analysis` (runs over the store, published atomically),
:mod:`~coverage.runs.partition` (each area computed alone, merged) with
:mod:`~coverage.runs.partition_plan` (areas with a halo), :mod:`~coverage.runs.distributed`
(partitions on Dask), :mod:`~coverage.runs.refresh` (new exports picked up, ingested, analysed),
:mod:`~coverage.runs.jobs` (recorded job runs and their lock) and :mod:`~coverage.runs.history`
(ingest history, a village's verdicts over runs). Worker pools are :mod:`coverage.processes`."""
