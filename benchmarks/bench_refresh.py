"""The scheduled refresh on a real-sized database: what a refresh costs when nothing new arrived.

Usage::

    python benchmarks/bench_refresh.py --db sqlite:///COPY_OF_SEEDED.db [--repeat 3]

Needs a seeded database with villages stored (``village5g seed``); **use a copy**: the first step
publishes a run of the stored inputs if the latest run does not match them (what a refresh does).
Prints medians of

- a refresh with an empty drop folder: listing the folder and finding no write logged since the
  latest run read its inputs (``coverage.runs.refresh.inputs_changed``);
- the check a refresh makes when a write was logged after that: the stored inputs' fingerprints
  (``coverage.runs.refresh.stored_fingerprints``) compared with the run's;
- the baseline: a refresh that re-analysed every time (``coverage.runs.analysis.run_analysis``, what the
  daily job would cost without the fingerprint check);
- the once-only claim of a fire time (one INSERT; its loser's IntegrityError) against a plain
  ``SELECT 1`` round trip.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import text

from coverage.model.parameters import ModelParameters
from coverage.model.rules import DEFAULT_RULES
from coverage.runs.analysis import run_analysis
from coverage.runs.jobs import claim_fire
from coverage.runs.refresh import refresh, stored_fingerprints
from coverage.store.storage import Store
from coverage.store.tables import job_claims


def median_s(fn: Callable[[], object], repeat: int) -> float:
    """Median wall time of ``repeat`` calls, seconds."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", required=True, help="database URL of a seeded copy")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    store = Store(args.db)
    store.create_schema()
    params = ModelParameters()
    with tempfile.TemporaryDirectory() as tmp:
        drop = Path(tmp) / "drop"
        first = refresh(store, drop, rules=DEFAULT_RULES, params=params)
        print(f"set-up refresh: {first.analysis}")
        counts = store.counts()
        print(f"{counts['village_committees']:,} village committees, {counts['stations']:,} cells, "
              f"{counts['measurements']:,} measurements")
        noop = median_s(lambda: refresh(store, drop, rules=DEFAULT_RULES, params=params), args.repeat)
        check = median_s(lambda: stored_fingerprints(store), args.repeat)
        full = median_s(lambda: run_analysis(store, rules=DEFAULT_RULES, params=params), args.repeat)
    print(f"refresh, nothing new, no recent write     median {noop:7.2f} s")
    print(f"refresh's fingerprint check (recent write) median {check:6.2f} s")
    print(f"baseline: re-analyse every refresh        median {full:7.2f} s   ratios {full / noop:,.0f}x, "
          f"{full / check:.1f}x")

    base = dt.datetime(2030, 1, 1)
    with store.engine.begin() as conn:  # claims of an earlier run of this script
        conn.execute(job_claims.delete().where(job_claims.c.name == "bench"))
    fires = iter(range(10**6))

    def claim_twice() -> None:
        fire = base + dt.timedelta(seconds=next(fires))
        assert claim_fire(store, "bench", fire, owner="a:1")
        assert not claim_fire(store, "bench", fire, owner="b:2")

    def round_trip() -> None:
        with store.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    n = max(args.repeat, 1) * 20
    claim = median_s(claim_twice, n)
    ping = median_s(round_trip, n)
    print(f"claim a fire time (winner + loser)        median {claim * 1000:7.2f} ms")
    print(f"baseline: SELECT 1 round trip             median {ping * 1000:7.2f} ms   ratio {claim / ping:5.1f}x")
    store.dispose()


if __name__ == "__main__":
    main()
