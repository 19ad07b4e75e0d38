"""National scale: build the synthetic world of 1, 3, 10 or all 31 provinces, store it (one province
at a time, as `village5g seed --provinces` does), and time the partitioned analysis on a local Dask
cluster (2 workers) against the single-process run.

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
    python benchmarks/bench_national.py --sets all --work-dir /tmp/nation --rasters   # the whole nation, measured
    python benchmarks/bench_national.py --sets all --database-url postgresql+psycopg://postgres@127.0.0.1/nation
    python benchmarks/bench_national.py --sets west,1 --no-baseline --before ../old   # this code against a checkout
    python benchmarks/bench_national.py --sets 1 --no-baseline --mr --repeats 3   # with MR against without, medians
    (the single-process run is skipped for sets of more than --baseline-max provinces, default 3:
    its rasters cover the whole area and would not fit in memory)

Printed per set: the seed's seconds and peak memory (build and store, province by province), village
committees analysed, seconds and peak memory of each step, seconds per 1,000 villages, and the
baseline: the same `run_analysis` in one process (prediction tiles on every core), with the ratio;
then the nation (487,144 village committees) against the targets: measured when `all` was
run, else a linear extrapolation. `--database-url` runs on that database instead of a temporary SQLite
file (its stored world is replaced); `--work-dir` keeps the SQLite file and rasters there (deleted at
the end); `--rasters` writes the run's GeoTIFFs and VRT as `village5g analyze` does.

`--mr` seeds the set with its MR grid statistics (`village5g seed --provinces ... --mr`, scale data) and
times each partitioned run with the MR and without it (the same run with no MR period, so no MR is read or
fused), back to back, alternating (with, without, then without, with, ... `--repeats` pairs), each with the
load average at its start, then the medians and their ratio (issue 16: within 1.5x).

`--seeded --database-url URL` times the world already stored there (seeded by an earlier run's seed step,
e.g. `python benchmarks/bench_national.py --child seed --db sqlite:////tmp/west.db --provinces 54,63,65 --mr`)
instead of seeding it again; with `--before` or `--mr` it saves the seed's minute for each comparison.

`--before DIR` times the code of another checkout (e.g. `git worktree add --detach ../old <commit>`) on
the same stored world: each partitioned run is made with that code and with this one, alternately
(before, this, before, this with `--repeats 2`), and the ratio of their times is printed with the load
average at the start of each run (the machine may be shared). The `west` set is 西藏, 青海 and 新疆, the
provinces of the largest villages.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
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
    "1": ["32"],
    "3": ["31", "32", "34"],
    "10": ["31", "32", "33", "34", "35", "36", "41", "42", "43", "44"],
    "west": ["54", "63", "65"],  # the largest villages: 159 km² on average against 6.2 km² in the east
    "all": [],  # every province of the national list (seeds.national.province_codes)
}
NATION_COMMITTEES = 487_144
TARGET_S = 20 * 60  # the extrapolated analysis of the nation
NATION_TARGET_S = 15 * 60  # the measured nation's analysis (issue 23)
SEED_TARGET_MB = 4 * 1024  # the national seed's peak (issue 23)


def _child(step: str, db: str, provinces: list[str], workers: int, size: int | None,
           artifacts: str | None, mr: bool = False) -> dict[str, float]:
    """Run one step in this (child) process and return its figures."""
    from coverage.model.parameters import ModelParameters
    from coverage.model.rules import DEFAULT_RULES
    from coverage.runs.analysis import run_analysis
    from coverage.store.storage import Store

    store = Store(db)
    t = time.perf_counter()
    if step == "seed":  # what `village5g seed --provinces` does: build and store one province at a time
        from seeds.national import seed_national_world

        store.create_schema()
        _, counts = seed_national_world(store, provinces, mr=mr)
        return {"seed_s": time.perf_counter() - t, "cells": float(counts["stations"]),
                "villages": float(counts["villages"]), "mr_rows": float(counts.get("mr_grids", 0))}
    if step == "partitioned-no-mr":  # the same run as if no MR were stored: no period, nothing read or fused
        import coverage.runs.analysis as analysis

        analysis.latest_mr_period = lambda _store: None  # type: ignore[assignment]
    # the same run either way (read, fingerprint, compute, publish): partitioned on Dask, or one process
    result = run_analysis(store, rules=DEFAULT_RULES, params=ModelParameters(),
                          artifacts_dir=Path(artifacts) if artifacts else None,
                          workers=None if step == "single" else workers,
                          partition_villages=None if step == "single" else size)
    return {"seconds": time.perf_counter() - t, "villages": float(result.counts["villages"]),
            **{k: float(v) for k, v in result.timings_s.items()}}


def _measure(step: str, db: str, provinces: list[str], workers: int, size: int | None = None,
             artifacts: str | None = None, code: Path | None = None, mr: bool = False) -> dict[str, float]:
    """Run a step in a child process; add its wall time and the peak RSS (MB) of its process tree, of
    the child itself (the coordinator) and of its largest other process (a Dask worker). ``code``: a
    checkout whose packages the child (and its Dask workers) import instead of this one's."""
    env = None if code is None else {**os.environ, "PYTHONPATH": str(code.resolve())}
    load = os.getloadavg()[0]
    cmd = [sys.executable, __file__, "--child", step, "--db", db, "--provinces", ",".join(provinces),
           "--workers", str(workers), "--partition-villages", str(size or 0), *(["--artifacts", artifacts]
                                                                              if artifacts else []),
           *(["--mr"] if mr else [])]
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT if code is None else code, stdout=subprocess.PIPE, text=True, env=env)
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
    figures["load_start"] = load
    figures["load_end"] = os.getloadavg()[0]
    return figures


def _compare(args: argparse.Namespace, db: str, provinces: list[str], size: int, artifacts: str | None,
             units: float) -> dict[str, float]:
    """Time the partitioned run with the ``--before`` checkout and with this code, alternately, print
    both with their loads and the ratio, and return this code's fastest run."""
    times: dict[str, list[float]] = {"before": [], "this": []}
    best: dict[str, float] = {}
    villages = 0.0
    for k in range(args.repeats):
        for label, code in (("before", args.before), ("this", None)):
            part = _measure("partitioned", db, provinces, args.workers, size, artifacts, code=code)
            villages = part["villages"]
            times[label].append(part["wall_s"])
            if label == "this" and part["wall_s"] <= min(times["this"]):
                best = part
            per_1000 = part["wall_s"] / villages * 1000
            print(f"   {label:>6} code, run {k + 1}: {part['wall_s']:.0f} s, {per_1000:.2f} s per 1,000 villages, "
                  f"peak {part['peak_mb']:,.0f} MB (load average {part['load_start']:.2f} at the start, "
                  f"{part['load_end']:.2f} at the end)", flush=True)
    before, this = min(times["before"]) / villages * 1000, min(times["this"]) / villages * 1000
    print(f"   {villages:,.0f} village committees (of {units:,.0f} village-level units): before {before:.2f} s per "
          f"1,000 villages, this code {this:.2f} s: {before / this:.2f}x faster (the best run of each)", flush=True)
    return best


def _compare_mr(args: argparse.Namespace, db: str, provinces: list[str], size: int, artifacts: str | None
                ) -> dict[str, float]:
    """Time the partitioned run with the stored MR and without it, back to back and alternating, print each
    with its load, the medians and their ratio; return the with-MR run of median time."""
    runs: dict[str, list[dict[str, float]]] = {"partitioned": [], "partitioned-no-mr": []}
    label = {"partitioned": "with MR", "partitioned-no-mr": "without MR"}
    for k in range(args.repeats):
        order = ("partitioned", "partitioned-no-mr") if k % 2 == 0 else ("partitioned-no-mr", "partitioned")
        for step in order:
            part = _measure(step, db, provinces, args.workers, size, artifacts)
            runs[step].append(part)
            timing = ", ".join(f"{key[:-2]} {part[key]:.1f} s" for key in ("read_s", "partitions_s", "write_s")
                               if key in part)
            print(f"   {label[step]:>10}, run {k + 1}: {part['wall_s']:.0f} s ({timing}), peak "
                  f"{part['peak_mb']:,.0f} MB, largest worker {part['worker_mb']:,.0f} MB (load average "
                  f"{part['load_start']:.2f} at the start, {part['load_end']:.2f} at the end)", flush=True)
    with_mr = float(np.median([r["wall_s"] for r in runs["partitioned"]]))
    without = float(np.median([r["wall_s"] for r in runs["partitioned-no-mr"]]))
    print(f"   median of {args.repeats}: with MR {with_mr:.0f} s, without {without:.0f} s: {with_mr / without:.2f}x "
          f"(issue 16's bound 1.5x: {'met' if with_mr <= 1.5 * without else 'NOT met'})", flush=True)
    return sorted(runs["partitioned"], key=lambda r: r["wall_s"])[len(runs["partitioned"]) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", default="1,3", help="province sets to run: any of 1, 3, 10, all")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-baseline", action="store_true", help="skip the single-process runs")
    parser.add_argument("--baseline-max", type=int, default=3,
                        help="run the single-process baseline only for sets of at most this many provinces "
                             "(one process holds the whole area's rasters: 5 GB for 3 provinces)")
    parser.add_argument("--partition-sizes", default="2000",
                        help="villages per partition (comma-separated: one partitioned run per size)")
    parser.add_argument("--database-url", help="run on this database (its stored world is replaced) instead "
                                               "of a temporary SQLite file")
    parser.add_argument("--work-dir", type=Path, help="folder for the SQLite file and rasters (default: a "
                                                      "temporary folder); what the run writes there is deleted")
    parser.add_argument("--rasters", action="store_true",
                        help="write the run's GeoTIFFs and VRT mosaic, as `village5g analyze` does")
    parser.add_argument("--before", type=Path, help="a checkout of older code: time its partitioned runs too, "
                                                    "on the same stored world, alternating with this code's")
    parser.add_argument("--repeats", type=int, default=1, help="partitioned runs per code with --before, or per "
                                                                 "variant with --mr")
    parser.add_argument("--mr", action="store_true", help="seed with MR grid statistics and time each partitioned "
                                                          "run with and without them, back to back")
    parser.add_argument("--seeded", action="store_true",
                        help="time the world already stored at --database-url (seeded for these sets, with --mr "
                             "if given) instead of seeding it again")
    parser.add_argument("--partition-villages", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--provinces", help=argparse.SUPPRESS)
    parser.add_argument("--artifacts", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.child, args.db, args.provinces.split(","), args.workers,
                                args.partition_villages or None, args.artifacts, mr=args.mr)))
        return
    if args.seeded and not args.database_url:
        parser.error("--seeded needs --database-url (the stored world to time)")
    if args.before is not None and not (args.before / "coverage" / "runs" / "analysis.py").is_file():
        parser.error(f"--before: {args.before} is not a checkout of this project (no coverage/runs/analysis.py)")
    names = [n.strip() for n in args.sets.split(",")]
    unknown = [n for n in names if n not in SETS]
    if unknown:
        parser.error(f"--sets: unknown set(s) {', '.join(unknown)}; known: {', '.join(SETS)}")
    load = os.getloadavg()
    memory_gb = psutil.virtual_memory().total / 2**30
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}, {os.cpu_count()} cores, {memory_gb:.0f} GB; load average "
          f"at start {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f}", flush=True)

    rows = []
    for name in names:
        if name == "all":
            from seeds.national import province_codes

            provinces = province_codes()["code"].tolist()
        else:
            provinces = SETS[name]
        if args.work_dir is not None:
            args.work_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=args.work_dir) as tmp:
            db = args.database_url or f"sqlite:///{Path(tmp) / 'national.db'}"
            artifacts = str(Path(tmp) / "runs") if args.rasters else None
            if args.seeded:  # the stored world as it is: no seed figures
                seed = {"wall_s": float("nan"), "peak_mb": float("nan"), "villages": float("nan")}
                print(f"{name:>3} provinces ({','.join(provinces)}): the world stored at {db}, not seeded again",
                      flush=True)
            else:
                seed = _measure("seed", db, provinces, args.workers, mr=args.mr)
                mr_text = f", {seed['mr_rows']:,.0f} MR grid rows" if args.mr else ""
                print(f"{name:>3} provinces ({','.join(provinces)}): built and stored {seed['villages']:,.0f} "
                      f"villages and {seed['cells']:,.0f} cells{mr_text} one province at a time in "
                      f"{seed['wall_s']:.0f} s (peak {seed['peak_mb']:,.0f} MB, load {seed['load_start']:.2f} at the "
                      f"start, {os.getloadavg()[0]:.2f} at the end)", flush=True)
            sizes = [int(v) for v in args.partition_sizes.split(",")]
            runs = []
            if args.mr:  # every size with MR and without
                runs += [(v, _compare_mr(args, db, provinces, v, artifacts)) for v in sizes]
            elif args.before is not None:  # this code's best run of the comparison is the first size's run
                runs.append((sizes[0], _compare(args, db, provinces, sizes[0], artifacts, seed["villages"])))
            runs += [(v, _measure("partitioned", db, provinces, args.workers, v, artifacts))
                     for v in sizes[len(runs):]]
            skip = args.no_baseline or len(provinces) > args.baseline_max
            base = None if skip else _measure("single", db, provinces, args.workers, artifacts=artifacts)
        for partition_size, part in runs:
            n = part["villages"]
            row: dict[str, Any] = {
                "set": name, "provinces": len(provinces), "partition": partition_size, "villages": n,
                "seed_s": seed["wall_s"], "seed_mb": seed["peak_mb"], "part_s": part["wall_s"],
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
    print("| provinces | village committees | seed s | seed peak MB | partition | partitioned s | peak MB | "
          "coordinator MB | largest worker MB | s / 1,000 villages | single s | single MB |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        single = f"{r['base_s']:.0f} | {r['base_mb']:,.0f}" if r["base_s"] else "- | -"
        print(f"| {r['provinces']} | {r['villages']:,.0f} | {r['seed_s']:.0f} | {r['seed_mb']:,.0f} | "
              f"{r['partition']:,} | {r['part_s']:.0f} | {r['part_mb']:,.0f} | {r['coord_mb']:,.0f} | "
              f"{r['worker_mb']:,.0f} | {r['per_1000_s']:.2f} | {single} |")
    default_size = int(args.partition_sizes.split(",")[0])
    rows = [r for r in rows if r["partition"] == default_size]
    nation = [r for r in rows if r["set"] == "all"]
    if nation:
        r = nation[0]
        met = {True: "met", False: "NOT met"}
        print(f"\nthe nation, measured: seeded in {r['seed_s'] / 60:.1f} min with a peak of {r['seed_mb'] / 1024:.2f} "
              f"GB (target 4 GB: {met[r['seed_mb'] <= SEED_TARGET_MB]}); its {r['villages']:,.0f} village "
              f"committees analysed in {r['part_s'] / 60:.1f} min (target {NATION_TARGET_S // 60} min: "
              f"{met[r['part_s'] <= NATION_TARGET_S]}) with a peak of {r['part_mb'] / 1024:.2f} GB")
        return
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
