"""MR grid statistics at province scale: ingest time and peak memory against plain pandas.

For each size (``--rows``, default 1, 2 and 5 million; the issue's province-month is 20 million:
``--rows 20000000``) a synthetic MR CSV of that many rows is written (Chinese headers, 100 m grids over
Jiangsu, one month, four operators, NR and LTE), then ingested into a fresh SQLite database twice, each
in its own process (peak memory is that process's maximum resident set):

- ``village5g``: :func:`coverage.ingest.mr.ingest_mr` (chunks of 250,000 rows, every row validated, one
  transaction, bulk insert, the area/period index built after the load into the empty table; on SQLite
  50-row statements and, the database being the benchmark's alone, a rollback journal for that load);
- ``pandas``: ``pandas.read_csv`` of the whole file, then ``DataFrame.to_sql`` (chunks of 100,000
  rows, no validation, no index): the plain baseline.

Then the time to read one box holding 4 % of the grids (a county of a province) for the month back from each database
(with the index, and the baseline's full scan).

``--postgres URL`` runs both into a PostgreSQL database instead (emptied before each run: every table of
its ``public`` schema is dropped, so give it a database of its own): village5g stores through ``COPY``, the
baseline through ``to_sql`` (SQLAlchemy's multi-row ``INSERT``).

Each line prints the ingest's wall time, its CPU seconds (all its threads, imports included) and the
load average: on the shared 2-core machine the wall time follows the load.

Run: ``nice -n 10 .venv/bin/python benchmarks/bench_mr_ingest.py [--rows 1000000,2000000] [--folder /tmp/mr-bench]
[--postgres postgresql+psycopg://postgres@127.0.0.1:5432/village5g_bench_mr] [--baseline-max-rows 0]``.

Measured 2026-12-06 (``nice -n 5 ... --rows 20000000 [--postgres URL]``, the village5g side only;
README's MR section has the whole table), load average 8-13 from other jobs on the 2 cores:
PostgreSQL 15 590.3 s / 2,044 MB before, 104.1-122.3 s / 1,323-1,327 MB now (40 CPU s; load 4-8);
SQLite 607.6 s / 2,355 MB first, 239.4 s / 1,700 MB next (104.7 CPU s; load 8-13), now 67.5-116.1 s /
1,585-1,603 MB (72-78 CPU s; load 1-4.5; the previous code right after each: 80.2-112.6 s, 97-107 CPU s).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HEADER = ["栅格ID", "中心经度", "中心纬度", "栅格大小(m)", "开始日期", "结束日期", "运营商", "制式", "频点",
          "采样点数", "平均RSRP(dBm)", "RSRP>=-105dBm占比", "平均SINR(dB)", "用户数"]
LON0, LAT0, DLON, DLAT = 116.4, 30.8, 0.00106, 0.0009  # 100 m grids over Jiangsu


def _side(rows: int) -> int:
    """Grids per lattice row: the grids (8 rows each) laid out in a square."""
    return max(1, int(np.ceil(np.sqrt(rows / 8))))


def box_of(rows: int) -> tuple[float, float, float, float]:
    """A box holding the middle 4 % of the grids (a county of a province-month)."""
    side = _side(rows)
    return (LON0 + 0.4 * side * DLON, LAT0 + 0.4 * side * DLAT, LON0 + 0.6 * side * DLON, LAT0 + 0.6 * side * DLAT)


def write_csv(path: Path, rows: int, seed: int = 1) -> None:
    """``rows`` MR rows on distinct 100 m grids (8 rows per grid: 4 operators x NR/LTE), in 1M-row blocks."""
    rng = np.random.default_rng(seed)
    ops = np.array(["移动", "联通", "电信", "广电"])
    arfcn = {("移动", "NR"): 504990, ("联通", "NR"): 627264, ("电信", "NR"): 633984, ("广电", "NR"): 152650,
             ("移动", "LTE"): 38400, ("联通", "LTE"): 1650, ("电信", "LTE"): 1825, ("广电", "LTE"): 38400}
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(",".join(HEADER) + "\n")
        for start in range(0, rows, 1_000_000):
            n = min(1_000_000, rows - start)
            i = np.arange(start, start + n)
            grid = i // 8
            op = ops[(i // 2) % 4]
            rat = np.where(i % 2 == 0, "NR", "LTE")
            # grids on a 100 m lattice over Jiangsu (about 0.00106 x 0.0009 degrees), in a square
            side = _side(rows)
            col, row = grid % side, grid // side
            lon = LON0 + col * DLON + DLON / 2
            lat = LAT0 + row * DLAT + DLAT / 2
            frame = pd.DataFrame({
                "id": "g" + pd.Series(grid).astype(str), "lon": np.round(lon, 6), "lat": np.round(lat, 6),
                "size": 100, "start": "2026-10-01", "end": "2026-10-31", "op": op, "rat": rat,
                "arfcn": [arfcn[(o, r)] for o, r in zip(op, rat, strict=True)],
                "samples": rng.integers(20, 3000, n), "rsrp": np.round(rng.normal(-98, 8, n), 1),
                "share": np.round(rng.uniform(0, 1, n), 3), "sinr": np.round(rng.normal(8, 4, n), 1),
                "users": rng.integers(1, 80, n)})
            frame.to_csv(out, header=False, index=False)


def _child(mode: str, csv: Path, url: str) -> None:
    """Run one ingest in this (child) process into the (empty) database ``url`` and print its time and peak
    memory as JSON."""
    t = time.perf_counter()
    if mode == "village5g":
        from coverage.ingest.mr import ingest_mr
        from coverage.store.storage import Store

        store = Store(url)
        store.create_schema()
        rows = ingest_mr(store, csv).rows
        store.dispose()
    else:
        from sqlalchemy import create_engine

        frame = pd.read_csv(csv)
        engine = create_engine(url)
        rows = int(frame.to_sql("mr", engine, if_exists="append", index=False, chunksize=100_000) or len(frame))
        engine.dispose()
    seconds = time.perf_counter() - t
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"rows": rows, "seconds": seconds, "peak_mb": usage.ru_maxrss / 1024.0,
                      "cpu_s": usage.ru_utime + usage.ru_stime}))


def _empty_postgres(url: str) -> None:
    """Drop every table of ``url``'s public schema (the benchmark's own database)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def run(mode: str, csv: Path, db: Path, postgres: str | None) -> dict[str, float]:
    if postgres:
        _empty_postgres(postgres)
    else:
        db.unlink(missing_ok=True)
    url = postgres or f"sqlite:///{db}"
    out = subprocess.run([sys.executable, __file__, "--child", mode, str(csv), url], check=True,
                         capture_output=True, text=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def read_box(url: str, mode: str, rows: int) -> tuple[float, int]:
    from sqlalchemy import text

    from coverage.ingest.mr import read_mr
    from coverage.store.storage import Store

    box = box_of(rows)
    store = Store(url)
    t = time.perf_counter()
    if mode == "village5g":
        n = len(read_mr(store, box=box, period=("2026-10-01", "2026-10-31")))
    else:
        with store.engine.connect() as conn:
            n = len(pd.read_sql(text(
                'SELECT * FROM mr WHERE "中心经度" BETWEEN :x0 AND :x1 AND "中心纬度" BETWEEN :y0 AND :y1'), conn,
                params={"x0": box[0], "x1": box[2], "y0": box[1], "y1": box[3]}))
    seconds = time.perf_counter() - t
    store.dispose()
    return seconds, n


def main(argv: list[str]) -> None:
    if argv[:1] == ["--child"]:
        _child(argv[1], Path(argv[2]), argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", default="1000000,2000000,5000000", help="sizes, comma-separated")
    parser.add_argument("--folder", type=Path, default=Path("/tmp/village5g-mr-bench"))
    parser.add_argument("--postgres", default=None,
                        help="a PostgreSQL database of the benchmark's own (emptied before each run)")
    parser.add_argument("--baseline-max-rows", type=int, default=5_000_000,
                        help="run the pandas baseline only up to this many rows (it holds the whole file: about "
                             "1 GB per million rows)")
    args = parser.parse_args(argv)
    args.folder.mkdir(parents=True, exist_ok=True)
    print(f"store: {'PostgreSQL (COPY)' if args.postgres else 'SQLite (executemany of 50-row statements)'}")
    print(f"load average {os.getloadavg()[0]:.1f} (1 min) on {os.cpu_count()} cores")
    print(f"{'rows':>11} {'CSV MB':>7} | {'village5g s':>11} {'CPU s':>6} {'peak MB':>8} {'rows/s':>9} | "
          f"{'pandas s':>9} {'peak MB':>8} {'rows/s':>9} | {'box read v5g s':>14} {'pandas s':>9}")
    for rows in (int(r) for r in args.rows.split(",")):
        csv = args.folder / f"mr_{rows}.csv"
        if not csv.is_file():
            write_csv(csv, rows)
        ours_db, base_db = args.folder / f"ours_{rows}.db", args.folder / f"pandas_{rows}.db"
        # PostgreSQL: one database, so each side's box is read right after its own ingest
        ours = run("village5g", csv, ours_db, args.postgres)
        ours_read, n1 = read_box(args.postgres or f"sqlite:///{ours_db}", "village5g", rows)
        line = (f"{rows:>11,} {csv.stat().st_size / 1e6:>7.0f} | {ours['seconds']:>11.1f} {ours['cpu_s']:>6.1f} "
                f"{ours['peak_mb']:>8.0f} {rows / ours['seconds']:>9,.0f} | ")
        if rows > args.baseline_max_rows:
            print(line + f"{'not run: needs about ' + str(max(1, round(rows / 1e6))) + ' GB':>28} | {ours_read:>14.2f} "
                  f"{'-':>9}  ({n1:,} rows in the box; load average {os.getloadavg()[0]:.1f})", flush=True)
            continue
        base = run("pandas", csv, base_db, args.postgres)
        base_read, n2 = read_box(args.postgres or f"sqlite:///{base_db}", "pandas", rows)
        assert n1 == n2, (n1, n2)
        print(line + f"{base['seconds']:>9.1f} {base['peak_mb']:>8.0f} {rows / base['seconds']:>9,.0f} | "
              f"{ours_read:>14.2f} {base_read:>9.2f}  ({n1:,} rows in the box; load average "
              f"{os.getloadavg()[0]:.1f})", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
