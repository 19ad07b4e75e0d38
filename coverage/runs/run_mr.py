"""A partitioned run's MR rows on measured pixels, read in the coordinator in chunks.

The coordinator needs two things of the run's MR before its partitions start: their fingerprint (recorded
with the run's inputs: :func:`coverage.ingest.mr.stored_mr_fingerprint`, computed by the database, no row
read) and the run's MR offset (:func:`coverage.runs.compute.run_mr_offset`), which pairs only MR rows on a
pixel that holds a measurement. Reading the whole run's rows into one frame for those, as a single process
does, would hold a nation's month of MR (tens of millions of rows) in the coordinator; so the rows round
the measurements are read in ranges of ids (:data:`CHUNK_IDS`) and only those on a measured pixel kept.
With no measurement nothing is read. The partitions read their own rows by area.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyproj
from sqlalchemy import func, select

from coverage.crs import project_xy
from coverage.ingest.mr import EVIDENCE_COLUMNS, read_mr
from coverage.store.storage import Store
from coverage.store.tables import mr_grids

__all__ = ["CHUNK_IDS", "mr_near_measurements"]

#: Ids read at a time (about 100 MB of rows in flight).
CHUNK_IDS = 500_000


def _pixel_keys(x: np.ndarray, y: np.ndarray, resolution_m: float) -> np.ndarray:
    col = np.floor(x / resolution_m).astype(np.int64)
    row = np.floor(y / resolution_m).astype(np.int64)
    return (col << 32) ^ (row & 0xFFFFFFFF)


def mr_near_measurements(store: Store, box: tuple[float, float, float, float], period: tuple[dt.date, dt.date],
                         measurements: pd.DataFrame | None, crs: pyproj.CRS, resolution_m: float, *,
                         chunk_ids: int = CHUNK_IDS) -> pd.DataFrame:
    """Of the stored MR rows of ``box`` (lon/lat) and ``period`` (the rows :func:`coverage.ingest.mr.latest_mr`
    reads for those bounds) those whose centre lies on a ``resolution_m`` pixel of ``crs`` that holds one
    of ``measurements`` (point geometry), in stored order; read ``chunk_ids`` ids at a time, and only within
    the measurements' own lon/lat envelope (widened by two pixels)."""
    if measurements is None or not len(measurements):
        return read_mr(store, box=(0.0, 0.0, -1.0, -1.0), columns=EVIDENCE_COLUMNS)
    lon, lat = measurements.geometry.x.to_numpy(), measurements.geometry.y.to_numpy()
    mx, my = project_xy(lon, lat, crs)
    pixels = np.unique(_pixel_keys(mx, my, resolution_m))
    pad = 2 * resolution_m / 50_000  # degrees: two pixels wherever a degree of longitude is 50 km or more
    box = (max(box[0], float(lon.min()) - pad), max(box[1], float(lat.min()) - pad),
           min(box[2], float(lon.max()) + pad), min(box[3], float(lat.max()) + pad))
    with store.engine.connect() as conn:
        low, high = conn.execute(select(func.min(mr_grids.c.id), func.max(mr_grids.c.id))).one()
    kept: list[pd.DataFrame] = []
    for start in range(int(low or 1), int(high or 0) + 1, chunk_ids):
        chunk = read_mr(store, box=box, period=period, columns=EVIDENCE_COLUMNS, ids=(start, start + chunk_ids - 1))
        if chunk.empty:
            continue
        x, y = project_xy(chunk["lon"].to_numpy(float), chunk["lat"].to_numpy(float), crs)
        near = np.isin(_pixel_keys(x, y, resolution_m), pixels)
        if near.any():
            kept.append(chunk[near])
    if kept:
        return pd.concat(kept, ignore_index=True)
    return read_mr(store, box=(0.0, 0.0, -1.0, -1.0), columns=EVIDENCE_COLUMNS)
