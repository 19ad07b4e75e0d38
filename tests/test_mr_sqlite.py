"""MR into SQLite: the rows of many-row statements, and the rollback journal of a first load (WAL again
after it, also when the file is rejected or the process dies in the middle)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import inspect

from coverage.errors import ValidationError
from coverage.ingest.mr import ingest_mr, read_mr
from coverage.ingest.mr_sqlite import python_column, same_in_every_row
from coverage.store.storage import Store

HEADER = ("栅格ID,中心经度,中心纬度,栅格大小(m),开始日期,结束日期,运营商,制式,频点,采样点数,平均RSRP(dBm),"
          "RSRP>=-105dBm占比,用户数")
OPERATORS = [("移动", "CMCC", "NR", 504990, "n41"), ("电信", "CTCC", "LTE", 1825, "B3"),
             ("广电", "CBN", "NR", 152650, "n28")]


def _rows(n: int) -> list[str]:
    """``n`` rows on distinct grids, the operator turning every row, a user count missing every fifth."""
    rows = []
    for i in range(n):
        op, _code, rat, arfcn, _band = OPERATORS[i % 3]
        users = "" if i % 5 == 4 else str(i % 7)
        rows.append(f"g{i},{118 + i * 0.001:.3f},32.05,100,2026-10-01,2026-10-31,{op},{rat},{arfcn},{10 + i},"
                    f"{-100 - i % 9}.5,0.{i % 10},{users}")
    return rows


def _csv(path: Path, rows: list[str]) -> Path:
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def _sqlite(tmp_path: Path) -> tuple[Store, Path]:
    db = tmp_path / "v.db"
    store = Store(f"sqlite:///{db}")
    store.create_schema()
    return store, db


def _mode(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        return str(conn.execute("PRAGMA journal_mode").fetchone()[0])
    finally:
        conn.close()


def _indexed(store: Store) -> bool:
    return "ix_mr_grids_lon_lat_period" in {ix["name"] for ix in inspect(store.engine).get_indexes("mr_grids")}


def test_driver_values_and_literals_of_a_chunk() -> None:
    frame = pd.DataFrame({
        "lon": [118.5, 118.25], "lat": [32.0, 32.0], "grid_m": [100.0, 100.0],
        "period_start": np.array(["2026-10-01", "2026-10-01"], dtype="datetime64[D]"),
        "period_end": np.array(["2026-10-31", "2026-10-30"], dtype="datetime64[D]"),
        "operator": pd.Categorical(["CMCC", "CTCC"]), "rat": pd.Categorical(["NR", "NR"]),
        "band": pd.Categorical(["n41", None]), "arfcn": [504990.0, np.nan], "samples": [12, 0],
        "rsrp_mean_dbm": [-98.5, np.nan], "share_good": [0.5, 0.25], "threshold_dbm": [-105.0, -105.0],
        "sinr_mean_db": [np.nan, np.nan], "users": [3.0, 3.0], "dl_mbps": [np.nan, np.nan], "source": [None, None]})
    assert python_column(frame, "operator").tolist() == ["CMCC", "CTCC"]
    assert python_column(frame, "band").tolist() == ["n41", None]
    assert python_column(frame, "arfcn").tolist() == [504990, None]
    assert type(python_column(frame, "arfcn")[0]) is int and type(python_column(frame, "samples")[1]) is int
    assert python_column(frame, "rsrp_mean_dbm").tolist() == [-98.5, None]
    assert python_column(frame, "period_end").tolist() == ["2026-10-31", "2026-10-30"]
    # what every row shares is a literal; samples is always bound
    assert same_in_every_row(frame) == {
        "lat": "32.0", "grid_m": "100.0", "period_start": "'2026-10-01'", "rat": "'NR'", "threshold_dbm": "-105.0",
        "sinr_mean_db": "NULL", "users": "3", "dl_mbps": "NULL", "source": "NULL"}


def test_rows_of_many_row_statements_come_back_in_file_order(tmp_path: Path) -> None:
    # 123 rows in one chunk: two statements of 50 rows, then 23 single rows
    store, _db = _sqlite(tmp_path)
    ingest_mr(store, _csv(tmp_path / "mr.csv", _rows(123)))
    frame = read_mr(store)
    assert len(frame) == 123
    assert frame["samples"].tolist() == list(range(10, 133))
    assert frame["lon"].tolist() == pytest.approx([118 + i * 0.001 for i in range(123)])
    assert frame["operator"].tolist() == [OPERATORS[i % 3][1] for i in range(123)]
    assert frame["band"].tolist() == [OPERATORS[i % 3][4] for i in range(123)]
    assert frame["rsrp_mean_dbm"].tolist() == [-100 - i % 9 - 0.5 for i in range(123)]
    assert frame["share_good"].tolist() == pytest.approx([(i % 10) / 10 for i in range(123)])
    assert frame["users"].fillna(-1).tolist() == [-1 if i % 5 == 4 else i % 7 for i in range(123)]
    store.dispose()


def test_a_first_load_alone_goes_through_a_rollback_journal_then_wal_again(tmp_path: Path) -> None:
    store, db = _sqlite(tmp_path)
    assert _mode(db) == "wal"
    seen: list[bool] = []
    ingest_mr(store, _csv(tmp_path / "mr.csv", _rows(30)), chunk_rows=10,
              progress=lambda _m: seen.append((tmp_path / "v.db-journal").exists()))
    assert seen == [True, True, True]  # the rollback journal during the load
    assert _mode(db) == "wal" and not (tmp_path / "v.db-journal").exists()
    assert len(read_mr(store)) == 30 and _indexed(store)
    # a second file: the table has rows, the load stays in WAL
    seen.clear()
    rows = [r.replace("2026-10-01,2026-10-31", "2026-11-01,2026-11-30") for r in _rows(10)]
    ingest_mr(store, _csv(tmp_path / "nov.csv", rows), progress=lambda _m: seen.append(
        (tmp_path / "v.db-journal").exists()))
    assert seen == [False] and _mode(db) == "wal" and len(read_mr(store)) == 40
    store.dispose()


def test_a_rejected_first_file_leaves_wal_an_empty_table_and_the_index(tmp_path: Path) -> None:
    store, db = _sqlite(tmp_path)
    bad = [*_rows(25), _rows(1)[0].replace(",100,", ",75,")]
    with pytest.raises(ValidationError) as caught:
        ingest_mr(store, _csv(tmp_path / "bad.csv", bad), chunk_rows=10)
    assert caught.value.problems[0].row == 26
    assert _mode(db) == "wal" and not (tmp_path / "v.db-journal").exists()
    assert len(read_mr(store)) == 0 and _indexed(store)
    store.dispose()


def test_with_another_connection_open_the_load_stays_in_wal_and_it_reads_meanwhile(tmp_path: Path) -> None:
    store, db = _sqlite(tmp_path)
    other = sqlite3.connect(db, timeout=0.1)
    other.execute("SELECT count(*) FROM villages").fetchall()
    counts: list[int] = []
    ingest_mr(store, _csv(tmp_path / "mr.csv", _rows(20)), chunk_rows=10,
              progress=lambda _m: counts.append(other.execute("SELECT count(*) FROM mr_grids").fetchone()[0]))
    assert counts == [0, 0]  # the last committed state, without waiting
    assert other.execute("SELECT count(*) FROM mr_grids").fetchone()[0] == 20
    assert not (tmp_path / "v.db-journal").exists() and _mode(db) == "wal"
    other.close()
    store.dispose()


def test_a_process_dying_in_a_first_load_leaves_nothing_of_it(tmp_path: Path) -> None:
    # a page cache of a few pages: the load's pages reach the database file before the process dies
    store, db = _sqlite(tmp_path)
    store.dispose()
    csv = _csv(tmp_path / "mr.csv", _rows(3000))
    script = textwrap.dedent(f"""
        import os
        import coverage.ingest.mr as mr
        from coverage.store.storage import Store
        mr.SQLITE_CACHE_KIB = 64
        calls = []
        def die(message):  # the second chunk's step (2,000 rows read), whatever its wording
            calls.append(message)
            if len(calls) == 2:
                os._exit(3)
        mr.ingest_mr(Store("sqlite:///{db}"), "{csv}", chunk_rows=1000, progress=die)
    """)
    size = db.stat().st_size
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 3, done.stderr
    assert (tmp_path / "v.db-journal").exists() and db.stat().st_size > size  # pages written, a hot journal
    store = Store(f"sqlite:///{db}")
    assert len(read_mr(store)) == 0 and _indexed(store) and _mode(db) == "wal"
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
    ingest_mr(store, csv)
    assert len(read_mr(store)) == 3000
    store.dispose()


def test_a_connection_opened_during_a_rollback_journal_load_reads_what_it_allows(tmp_path: Path,
                                                                                 monkeypatch: pytest.MonkeyPatch
                                                                                 ) -> None:
    # a load holding the write lock of a database in rollback-journal mode, its pages not yet in the file
    import coverage.store.storage as storage

    monkeypatch.setattr(storage, "SQLITE_BUSY_TIMEOUT_MS", 100)
    store, db = _sqlite(tmp_path)
    store.dispose()
    load = sqlite3.connect(db, isolation_level=None)
    assert load.execute("PRAGMA journal_mode=DELETE").fetchone()[0] == "delete"
    load.execute("BEGIN IMMEDIATE")
    load.execute("INSERT INTO mr_grids (lon, lat, grid_m, period_start, period_end, operator, rat, band, samples) "
                 "VALUES (118.0, 32.0, 100.0, '2026-10-01', '2026-10-31', 'CMCC', 'NR', 'n41', 1)")
    reader = Store(f"sqlite:///{db}")
    assert len(read_mr(reader)) == 0  # it cannot switch to WAL, and reads the last committed state
    load.execute("COMMIT")
    load.close()
    reader.dispose()
    reader = Store(f"sqlite:///{db}")
    assert len(read_mr(reader)) == 1 and _mode(db) == "wal"  # the next connection switches
    reader.dispose()
