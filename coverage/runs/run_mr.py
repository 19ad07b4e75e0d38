"""A partitioned run's pass over its MR grid statistics in the coordinator, in chunks.

The coordinator needs two things of the run's MR before its partitions start: their fingerprint (recorded
with the run's inputs) and the run's MR offset (:func:`coverage.runs.compute.run_mr_offset`). Reading the
whole run's rows into one frame for them, as a single process does, would hold a nation's month of MR (tens
of millions of rows) in the coordinator. So the rows are read in ranges of ids (:data:`CHUNK_IDS`): each
chunk is hashed into the fingerprint (the same digest as :func:`coverage.ingest.mr.mr_fingerprint` of all
the rows at once: it hashes row by row, in stored order) and only the rows on a pixel that holds a
measurement are kept, the only ones the offset pairs. The partitions read their own rows by area.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyproj
from sqlalchemy import func, select

from coverage.crs import project_xy
from coverage.ingest.mr import EVIDENCE_COLUMNS, read_mr
from coverage.store.storage import Store
from coverage.store.tables import mr_grids

__all__ = ["CHUNK_IDS", "RunMr", "scan_run_mr"]

#: Ids read at a time (about 100 MB of rows in flight).
CHUNK_IDS = 500_000


@dataclass(frozen=True)
class RunMr:
    """The run's MR rows: how many, their fingerprint, and those on a pixel with a measurement."""

    rows: int
    fingerprint: str
    near_measurements: pd.DataFrame


def _pixel_keys(x: np.ndarray, y: np.ndarray, resolution_m: float) -> np.ndarray:
    col = np.floor(x / resolution_m).astype(np.int64)
    row = np.floor(y / resolution_m).astype(np.int64)
    return (col << 32) ^ (row & 0xFFFFFFFF)


def scan_run_mr(store: Store, box: tuple[float, float, float, float], period: tuple[dt.date, dt.date],
                measurements: pd.DataFrame | None, crs: pyproj.CRS, resolution_m: float, *,
                chunk_ids: int = CHUNK_IDS) -> RunMr:
    """The stored MR rows of ``box`` (lon/lat) and ``period`` (the rows :func:`coverage.ingest.mr.latest_mr`
    reads for those bounds), read ``chunk_ids`` ids at a time: their count, fingerprint and the rows whose
    centre lies on a ``resolution_m`` pixel of ``crs`` that holds one of ``measurements`` (point geometry)."""
    with store.engine.connect() as conn:
        low, high = conn.execute(select(func.min(mr_grids.c.id), func.max(mr_grids.c.id))).one()
    pixels = np.empty(0, np.int64)
    if measurements is not None and len(measurements):
        mx, my = project_xy(measurements.geometry.x.to_numpy(), measurements.geometry.y.to_numpy(), crs)
        pixels = np.unique(_pixel_keys(mx, my, resolution_m))
    digest = hashlib.sha256()
    rows = 0
    kept: list[pd.DataFrame] = []
    for start in range(int(low or 1), int(high or 0) + 1, chunk_ids):
        chunk = read_mr(store, box=box, period=period, columns=EVIDENCE_COLUMNS, ids=(start, start + chunk_ids - 1))
        if chunk.empty:
            continue
        digest.update(pd.util.hash_pandas_object(chunk, index=False).to_numpy().tobytes())
        rows += len(chunk)
        if pixels.size:
            x, y = project_xy(chunk["lon"].to_numpy(float), chunk["lat"].to_numpy(float), crs)
            near = np.isin(_pixel_keys(x, y, resolution_m), pixels)
            if near.any():
                kept.append(chunk[near])
    near_rows = (pd.concat(kept, ignore_index=True) if kept
                 else read_mr(store, box=(0.0, 0.0, -1.0, -1.0), columns=EVIDENCE_COLUMNS))
    return RunMr(rows=rows, fingerprint=digest.hexdigest(), near_measurements=near_rows)
