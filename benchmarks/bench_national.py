"""National scale: build the synthetic world of 1, 3 and 10 provinces, store it, and time the
partitioned analysis on a local Dask cluster (2 workers) against the single-process run.

Every step runs in a fresh child process while this process samples the resident memory of the
child's whole process tree (Dask scheduler, nannies and workers included) every 0.2 s, so the
peak memory printed is that of everything the step started; it is also split into the coordinator
(the child itself: survey, plan, task reads, result writes, and the Dask scheduler) and the largest
single worker process. The partitioned run streams rows from the store partition by partition, so
the coordinator's peak should stay flat as the area grows and a worker's follow the partition size.

    python benchmarks/bench_national.py                    # 1 and 3 provinces
    python benchmarks/bench_national.py --sets 1,3,10      # and 10 (long on a 2-core machine)
    python benchmarks/bench_national.py --no-baseline      # skip the single-process runs
    python benchmarks/bench_national.py --sets 3 --partition-sizes 500,2000,8000   # memory vs partition size
    (the single-process run is skipped for sets of more than --baseline-max provinces, default 3:
    its rasters cover the whole area and would not fit in memory)

Printed per set: village committees analysed, seconds and peak memory of each step, seconds per
1,000 villages, and the baseline: the same `run_analysis` in one process (prediction tiles on every
core), with the ratio; then a linear extrapolation to the
nation (487,144 village committees) and whether the 20-minute target holds.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parent.parent
SETS = {
    1: ["32"],
    3: ["31", "32", "34"],
    10: ["31", "32", "33", "34", "35", "36", "41", "42", "43", "44"],
}
NATION_COMMITTEES = 487_144
TARGET_S = 20 * 60


def _child(step: str, db: str, provinces: list[str], workers: int, size: int | None) -> dict[str, float]:
    """Run one step in this (child) process and return its figures."""
    from coverage.analysis import run_analysis
    from coverage.predict import ModelParameters
    from coverage.rules import DEFAULT_RULES
    from coverage.storage import Store

    store = Store(db)
    t = time.perf_counter()
    if step == "seed":
        from seeds.national import build_national_world

        store.create_schema()
        world = build_national_world(provinces)
        built = time.perf_counter() - t
        store.seed(divisions_frame=world.divisions, frames={"villages": world.villages, "stations": world.stations,
                                                             "measurements": world.measurements},
                   fingerprint="bench")
        return {"build_s": built, "store_s": time.perf_counter() - t - built,
                "cells": float(len(world.stations))}
    # the same run either way (read, fingerprint, compute, publish): partitioned on Dask, or one process
    result = run_analysis(store, rules=DEFAULT_RULES, params=ModelParameters(),
                          workers=workers if step == "partitioned" else None,
                          partition_villages=size if step == "partitioned" else None)
    return {"seconds": time.perf_counter() - t, "villages": float(result.counts["villages"]),
            **{k: float(v) for k, v in result.timings_s.items()}}


def _measure(step: str, db: str, provinces: list[str], workers: int, size: int | None = None) -> dict[str, float]:
    """Run a step in a child process; add its wall time and the peak RSS (MB) of its process tree, of
    the child itself (the coordinator) and of its largest other process (a Dask worker)."""
    cmd = [sys.executable, __file__, "--child", step, "--db", db, "--provinces", ",".join(provinces),
           "--workers", str(workers), "--partition-villages", str(size or 0)]
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    peak = coordinator = worker = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak, coordinator, worker
        root = psutil.Process(proc.pid)
        while not stop.is_set():
            try:
                tree = [root, *root.children(recursive=True)]
                total = 0
                for p in tree:
                    with contextlib.suppress(psutil.NoSuchProcess):
                        rss = p.memory_info().rss
                        total += rss
                        if p.pid == root.pid:
                            coordinator = max(coordinator, rss)
                        else:
                            worker = max(worker, rss)
                peak = max(peak, total)
            except psutil.NoSuchProcess:
                return
            stop.wait(0.2)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    out, _ = proc.communicate()
    stop.set()
    thread.join()
    if proc.returncode != 0:
        raise SystemExit(f"{step} failed with exit code {proc.returncode}")
    figures = json.loads(out.strip().splitlines()[-1])
    figures["wall_s"] = time.perf_counter() - t
    figures["peak_mb"] = peak / 2**20
    figures["coordinator_mb"] = coordinator / 2**20
    figures["worker_mb"] = worker / 2**20
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", default="1,3", help="province-set sizes to run: any of 1, 3, 10")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-baseline", action="store_true", help="skip the single-process runs")
    parser.add_argument("--baseline-max", type=int, default=3,
                        help="run the single-process baseline only for sets of at most this many provinces "
                             "(one process holds the whole area's rasters: 5 GB for 3 provinces)")
    parser.add_argument("--partition-sizes", default="2000",
                        help="villages per partition (comma-separated: one partitioned run per size)")
    parser.add_argument("--partition-villages", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--provinces", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.child, args.db, args.provinces.split(","), args.workers,
                                args.partition_villages or None)))
        return

    rows = []
    for size in (int(s) for s in args.sets.split(",")):
        provinces = SETS[size]
        with tempfile.TemporaryDirectory() as tmp:
            db = f"sqlite:///{Path(tmp) / 'national.db'}"
            seed = _measure("seed", db, provinces, args.workers)
            print(f"{size:>2} provinces {','.join(provinces)}: built in {seed['build_s']:.0f} s, stored "
                  f"{seed['cells']:,.0f} cells and the villages in {seed['store_s']:.0f} s "
                  f"(peak {seed['peak_mb']:,.0f} MB)", flush=True)
            sizes = [int(v) for v in args.partition_sizes.split(",")]
            runs = [(v, _measure("partitioned", db, provinces, args.workers, v)) for v in sizes]
            skip = args.no_baseline or size > args.baseline_max
            base = None if skip else _measure("single", db, provinces, args.workers)
        for partition_size, part in runs:
            n = part["villages"]
            row: dict[str, Any] = {
                "size": size, "partition": partition_size, "villages": n, "part_s": part["wall_s"],
                "part_mb": part["peak_mb"], "coord_mb": part["coordinator_mb"], "worker_mb": part["worker_mb"],
                "per_1000_s": part["wall_s"] / n * 1000, "base_s": base["wall_s"] if base else None,
                "base_mb": base["peak_mb"] if base else None}
            rows.append(row)
            base_text = (f"single process {row['base_s']:.0f} s, {row['base_mb']:,.0f} MB; ratio "
                         f"{row['part_s'] / row['base_s']:.2f}x time, {row['part_mb'] / row['base_mb']:.2f}x memory"
                         if base else "single process skipped")
            print(f"   {n:,.0f} village committees in partitions of {partition_size:,}: partitioned "
                  f"({args.workers} Dask workers, read + compute + publish) {row['part_s']:.0f} s, peak "
                  f"{row['part_mb']:,.0f} MB (coordinator {row['coord_mb']:,.0f} MB, largest worker "
                  f"{row['worker_mb']:,.0f} MB), {row['per_1000_s']:.2f} s per 1,000 villages; {base_text}",
                  flush=True)
            stages = ("read_s", "fingerprint_s", "plan_s", "partitions_s", "write_s", "merge_s", "publish_s")
            rest = part["wall_s"] - sum(part.get(k, 0.0) for k in stages)
            print("   partitioned stages: " + ", ".join(f"{k[:-2]} {part[k]:.1f} s" for k in stages if k in part)
                  + f"; the rest (imports, cluster start and stop) {rest:.1f} s", flush=True)

    print()
    print("| provinces | village committees | partition | partitioned s | peak MB | coordinator MB | "
          "largest worker MB | s / 1,000 villages | single s | single MB |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        single = f"{r['base_s']:.0f} | {r['base_mb']:,.0f}" if r["base_s"] else "- | -"
        print(f"| {r['size']} | {r['villages']:,.0f} | {r['partition']:,} | {r['part_s']:.0f} | {r['part_mb']:,.0f} | "
              f"{r['coord_mb']:,.0f} | {r['worker_mb']:,.0f} | {r['per_1000_s']:.2f} | {single} |")
    default_size = int(args.partition_sizes.split(",")[0])
    rows = [r for r in rows if r["partition"] == default_size]
    per_1000 = max(r["per_1000_s"] for r in rows)
    nation_s = per_1000 * NATION_COMMITTEES / 1000
    print(f"\nlinear extrapolation with the slowest rate ({per_1000:.2f} s per 1,000 villages): the nation's "
          f"{NATION_COMMITTEES:,} village committees in {nation_s / 60:.1f} min: the 20-minute target is "
          f"{'met' if nation_s <= TARGET_S else 'NOT met'} on this machine")
    if len(rows) >= 2:
        # least squares: seconds = fixed + marginal x villages (start-up costs do not grow with the area)
        marginal, fixed = np.polyfit([r["villages"] for r in rows], [r["part_s"] for r in rows], 1)
        fitted_s = fixed + marginal * NATION_COMMITTEES
        print(f"fit over the sets: {fixed:.0f} s fixed + {marginal * 1000:.2f} s per 1,000 villages -> the nation "
              f"in {fitted_s / 60:.1f} min ({'met' if fitted_s <= TARGET_S else 'NOT met'})")


if __name__ == "__main__":
    main()
