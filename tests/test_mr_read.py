"""Reading stored MR back column-wise on PostgreSQL (coverage/ingest/mr_arrow.py) and the database's
fingerprint of a run's MR (coverage.ingest.mr.stored_mr_fingerprint), on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from coverage.ingest.mr import EVIDENCE_COLUMNS, read_mr, stored_mr_fingerprint, write_mr_frame
from coverage.ingest.mr_arrow import read_columns
from coverage.ingest.mr_file import STORED
from coverage.store.storage import Store
from coverage.store.tables import mr_grids

OCTOBER = (dt.date(2026, 10, 1), dt.date(2026, 10, 31))
BOX = (119.0, 32.0, 120.0, 33.0)


def _rows(n: int, *, lon0: float = 119.2, month: str = "2026-10", operator: str = "CMCC") -> pd.DataFrame:
    """``n`` canonical MR rows of one grid each along a line from ``lon0`` (inside :data:`BOX` for lon0 < 119.8)."""
    k = np.arange(n)
    start = pd.Timestamp(f"{month}-01")
    return pd.DataFrame({
        "lon": lon0 + 1e-5 * k, "lat": 32.5 + 1e-5 * k, "grid_m": 50.0, "period_start": start,
        "period_end": start + pd.offsets.MonthEnd(0), "operator": operator, "rat": np.where(k % 3, "NR", "LTE"),
        "band": np.where(k % 3, "n41", "B3"), "arfcn": 504990.0, "samples": 100 + k,
        "rsrp_mean_dbm": -100.0 + 0.013 * k, "share_good": 0.5 + 1e-4 * (k % 100), "threshold_dbm": -105.0,
        "sinr_mean_db": 5.0 + 0.1 * (k % 7), "users": 3.0, "dl_mbps": 80.0 + 0.5 * (k % 11), "source": "test"})


def _with_gaps(n: int) -> pd.DataFrame:
    """Rows whose first 1,500 have every nullable field NULL, then values, texts with a comma, a quote and a
    line break."""
    rows = _rows(n)
    first = np.arange(n) < 1500
    for name in ("arfcn", "rsrp_mean_dbm", "share_good", "sinr_mean_db", "users", "dl_mbps"):
        rows.loc[first, name] = np.nan
    rows["source"] = rows["source"].astype(object)
    rows.loc[first, "source"] = None
    rows.loc[n - 3, "source"] = 'a, "b"\nc'
    rows.loc[n - 2, "source"] = "运营商 MR, 10 月"
    return rows


def test_the_columnar_read_gives_the_cursors_frame(store: Store) -> None:
    write_mr_frame(store, _with_gaps(2_000), file_name="mr.csv", sha256="0" * 64)
    write_mr_frame(store, _rows(50, lon0=121.0, month="2026-09", operator="CUCC"), file_name="more.csv",
                   sha256="1" * 64, replace=False)
    with store.engine.connect() as conn:  # on PostgreSQL the columnar path is taken; SQLite has none
        read = read_columns(conn, ("lon", "share_good", "source"), [mr_grids.c.id > 0])
    if store.engine.dialect.name == "sqlite":
        assert read is None
    else:
        assert read is not None and len(read) == 2_050
        assert read["share_good"].isna().sum() == 1500 and read["source"].isna().sum() == 1500
    queries: list[dict[str, object]] = [
        {}, {"columns": EVIDENCE_COLUMNS}, {"box": BOX, "period": OCTOBER, "columns": EVIDENCE_COLUMNS},
        {"operators": ["CUCC"]}, {"ids": (1400, 1600)}, {"box": (0.0, 0.0, -1.0, -1.0)},
        {"period": ("2026-09-01", "2026-09-30"), "columns": ("source", "users", "period_end")}]
    for query in queries:
        columnar = read_mr(store, **query)  # type: ignore[arg-type]
        cursor = read_mr(store, **query, columnar=False)  # type: ignore[arg-type]
        pd.testing.assert_frame_equal(columnar, cursor)
    whole = read_mr(store)
    assert len(whole) == 2_050 and whole["source"].iloc[1997] == 'a, "b"\nc'
    assert whole["source"].iloc[1998] == "运营商 MR, 10 月" and pd.isna(whole["source"].iloc[0])
    assert whole["rsrp_mean_dbm"].iloc[1500] == -100.0 + 0.013 * 1500  # every float exact
    assert read_mr(store, box=BOX, period=OCTOBER).shape == (2_000, len(STORED))


def test_the_fingerprint_changes_with_the_boxs_stored_mr_and_only_then(store: Store) -> None:
    base = _rows(300)
    write_mr_frame(store, base, file_name="mr.csv", sha256="0" * 64)
    first = stored_mr_fingerprint(store, BOX, OCTOBER)
    assert first.rows == 300 == len(read_mr(store, box=BOX, period=OCTOBER))
    assert stored_mr_fingerprint(store, BOX, OCTOBER) == first
    # the same rows in a wider box: the print is the rows', not the query's
    assert stored_mr_fingerprint(store, (118.0, 31.0, 120.5, 33.5), OCTOBER) == first
    # rows outside the box, or of another month: not the box's MR
    write_mr_frame(store, _rows(20, lon0=121.0), file_name="east.csv", sha256="1" * 64, replace=False)
    write_mr_frame(store, _rows(20, month="2026-08"), file_name="august.csv", sha256="2" * 64, replace=False)
    assert stored_mr_fingerprint(store, BOX, OCTOBER) == first
    # a row more in the box and month
    write_mr_frame(store, _rows(1, lon0=119.5), file_name="one.csv", sha256="3" * 64, replace=False)
    more = stored_mr_fingerprint(store, BOX, OCTOBER)
    assert more.rows == 301 and more.fingerprint != first.fingerprint
    # all rows replaced (SQLite numbers them from 1 again) by rows that differ in one value, in a value moved
    # between two rows, in a missing share, in the samples
    prints = {first.fingerprint, more.fingerprint}
    swapped = base.copy()
    swapped.loc[[10, 11], "rsrp_mean_dbm"] = base.loc[[11, 10], "rsrp_mean_dbm"].to_numpy()
    for changed in (base.assign(rsrp_mean_dbm=base["rsrp_mean_dbm"].where(base.index != 7, -90.0)), swapped,
                    base.assign(share_good=base["share_good"].where(base.index != 3, np.nan)),
                    base.assign(samples=base["samples"] + (base.index == 5))):
        write_mr_frame(store, changed, file_name="changed.csv", sha256="4" * 64)
        again = stored_mr_fingerprint(store, BOX, OCTOBER)
        assert again.rows == 300 and again.fingerprint not in prints
        prints.add(again.fingerprint)
    assert stored_mr_fingerprint(store, (0.0, 0.0, -1.0, -1.0), OCTOBER).rows == 0
