"""KPI history and reports on a real-sized database: snapshots against computing from stored results.

Usage::

    python benchmarks/bench_history.py [--db URL] [--repeat 5] [--city 3203]

Needs a database with published runs (e.g. ``village5g seed`` and two or three ``village5g analyze``).
Records the missing snapshots first (additive: the ``kpi_snapshots`` rows ``village5g`` would record
anyway), then prints medians of

- ``kpi_history`` per county over every run, read from the snapshots, against the baseline of
  computing the same rows from each run's stored village results (what history does for a run that
  was never snapshotted);
- the XLSX and HTML reports of the province and of one city, with their sizes, and the offline map
  page alone (the HTML report embeds it) as the baseline of the HTML report.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pandas as pd

from coverage.reports.workbook import write_report_xlsx
from coverage.runs.history import kpi_history, record_snapshot, run_kpis
from coverage.store.storage import Store
from maps import MapOptions, build_map, render_html
from maps.report import write_report_html


def median_s(fn: Callable[[], object], repeat: int) -> float:
    """Median wall time of ``repeat`` calls, seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def map_page(store: Store, city: str | None) -> str:
    """The offline map page of the province or a city, as ``village5g map --offline --basemap none``."""
    return render_html(build_map(store, city=city, options=MapOptions(basemap="none")), offline=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="sqlite:///data/village5g.db")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--city", default="3203")
    args = parser.parse_args()
    store = Store(args.db)
    store.create_schema()
    published = [r["id"] for r in store.list_runs(limit=1000) if r["status"] == "published"][::-1]
    if not published:
        raise SystemExit("no published run: seed and analyze first")
    start = time.perf_counter()
    written = sum(record_snapshot(store, r) for r in published)
    print(f"{len(published)} published runs; snapshot rows written now: {written} "
          f"({time.perf_counter() - start:.2f} s)")

    def computed() -> pd.DataFrame:
        return pd.concat([run_kpis(store, r, levels=("county",)) for r in published], ignore_index=True)

    history = kpi_history(store, level="county")
    baseline = computed()
    cols = ["run_id", "code", "villages", "covered", "reach_rate"]
    same = history[cols].sort_values(["run_id", "code"]).reset_index(drop=True).equals(
        baseline[cols].sort_values(["run_id", "code"]).reset_index(drop=True))
    t_snap = median_s(lambda: kpi_history(store, level="county"), args.repeat)
    t_comp = median_s(computed, args.repeat)
    print(f"\nkpi_history(level=county), {len(history)} rows, identical to computed: {same}")
    print(f"  {'from snapshots':<34}{t_snap * 1000:>10.1f} ms")
    print(f"  {'baseline: computed from results':<34}{t_comp * 1000:>10.1f} ms   ({t_comp / t_snap:.1f}x slower)")

    print(f"\nreports of run {published[-1]} (median of {min(args.repeat, 3)})")
    with tempfile.TemporaryDirectory() as folder:
        for region in (None, args.city):
            for suffix, writer in (("xlsx", write_report_xlsx), ("html", write_report_html)):
                path = Path(folder) / f"report_{region or 'province'}.{suffix}"
                seconds = median_s(partial(writer, store, path, region=region), min(args.repeat, 3))
                print(f"  {region or 'province':<10}{suffix:<6}{seconds:>8.2f} s  {path.stat().st_size / 1e6:>6.2f} MB")
            alone = median_s(partial(map_page, store, region), min(args.repeat, 3))
            print(f"  {'':<10}{'map':<6}{alone:>8.2f} s  (baseline: the `village5g map --offline` page alone)")
    store.dispose()


if __name__ == "__main__":
    main()
