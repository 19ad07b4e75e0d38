"""Benchmark: the biggest city's map (Xuzhou 3203, every village-level unit) as offline HTML in Chromium.

Usage::

    python benchmarks/bench_maps.py [--db URL [--run N]] [--city 3203] [--repeats 3] [--scope all]
                                    [--keep DIR] [--screenshots DIR [--county 320312]]

Without ``--db`` the seed world is built into a temporary SQLite file and analysed with ``--scope``
(default ``all``: residents' committees too, about 2,800 units in Xuzhou); with ``--db`` the latest
published run of that database is used as it is.

What is measured:

``build``
    :meth:`maps.MapSource.region` (simplify, pack stations, resample the RSRP raster) for the city,
    basemap ``none``; reading the store is not timed.
``render``
    :func:`maps.render_html` with ``offline=True`` (one self-contained file).
``HTML size``
    Of that file; budget 8 MB.
``draw time``
    Median over ``--repeats`` fresh headless-Chromium launches (network blocked, 1280 x 900) of
    ``performance.now()`` when the map has drawn: two animation frames after every layer was added
    (:class:`maps.elements.ReadyHook`), counted from navigation start, so HTML parsing and script
    execution are included. Budget 3 s.

Exit status 1 when a budget is exceeded. ``--screenshots DIR`` also writes ``map_city_<city>.png``,
``map_county_<county>.png`` and ``map_province.png`` (the pictures under docs/, taken from the default
``committees`` scope: ``--scope committees``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from coverage.model.parameters import ModelParameters
from coverage.model.rules import DEFAULT_RULES
from coverage.runs.analysis import run_analysis
from coverage.store.storage import Store
from maps import MapOptions, MapSource, render_html

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the browser driver is a test utility (tests/utils/browser.py)
from tests.utils.browser import find_chromium, open_page  # noqa: E402

SIZE_BUDGET_MB = 8.0
DRAW_BUDGET_MS = 3000.0


def seeded_store(folder: Path, scope: str) -> Store:
    """The seed world in a new SQLite file, analysed once with ``scope``."""
    from seeds.world import build_world, world_checksums

    store = Store(f"sqlite:///{folder / 'seed.db'}")
    store.create_schema()
    print("building the seed world ...", flush=True)
    world = build_world()
    store.seed(divisions_frame=world.divisions,
               frames={"villages": world.villages, "stations": world.stations, "measurements": world.measurements},
               fingerprint=world_checksums(world)["all"])
    print(f"analysing (scope {scope}) ...", flush=True)
    run_analysis(store, rules=DEFAULT_RULES, params=ModelParameters(), scope=scope, artifacts_dir=folder / "runs")
    return store


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", help="database URL with a published run (default: build the seed world)")
    parser.add_argument("--run", type=int, help="run id in --db (default: the latest published)")
    parser.add_argument("--city", default="3203", help="city code (default 3203, Xuzhou)")
    parser.add_argument("--county", default="320312", help="county of the county screenshot (default 320312)")
    parser.add_argument("--scope", choices=("all", "committees"), default="all", help="analysis scope (seed world)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="keep the HTML in this folder")
    parser.add_argument("--screenshots", type=Path, help="write the city and county screenshots here")
    args = parser.parse_args(argv)
    if find_chromium() is None:
        print("chromium is not installed (apt-get install chromium)", file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory(prefix="bench-maps-") as tmp:
        folder = Path(tmp)
        store = Store(args.db) if args.db else seeded_store(folder, args.scope)
        source = MapSource.load(store, args.run if args.db else None)
        store.dispose()
        units = int((source.results["city_code"] == args.city).sum())
        options = MapOptions(basemap="none")

        t = time.perf_counter()
        m = source.region(city=args.city, options=options)
        build_s = time.perf_counter() - t
        t = time.perf_counter()
        html = render_html(m, offline=True)
        render_s = time.perf_counter() - t
        out = (args.keep or folder) / f"map_{args.city}.html"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(html, encoding="utf-8")
        size_mb = out.stat().st_size / 1e6

        draws = []
        for _ in range(args.repeats):
            result, requests = open_page(out, screenshot=False)
            if requests or result.network_requests or result.exceptions:
                print(f"the page misbehaved: {requests} {result.network_requests} {result.exceptions}")
                return 1
            draws.append(result.drawn_ms)
        draw_ms = statistics.median(draws)

        print(f"city {args.city}: {units:,} village-level units (run {source.run_id})")
        print(f"build  {build_s:6.2f} s")
        print(f"render {render_s:6.2f} s")
        print(f"HTML size  {size_mb:6.2f} MB   (budget {SIZE_BUDGET_MB:g} MB)")
        print(f"draw time  {draw_ms:6.0f} ms  (median of {len(draws)}: "
              + ", ".join(f"{d:.0f}" for d in draws) + f"; budget {DRAW_BUDGET_MS:.0f} ms)")

        if args.screenshots:
            args.screenshots.mkdir(parents=True, exist_ok=True)
            pages = [(f"map_city_{args.city}", out)]
            county_page = folder / f"map_{args.county}.html"
            county_page.write_text(render_html(source.region(county=args.county, options=options)), encoding="utf-8")
            pages.append((f"map_county_{args.county}", county_page))
            province_page = folder / "map_province.html"
            province_page.write_text(render_html(source.province(options)), encoding="utf-8")
            pages.append(("map_province", province_page))
            for name, page in pages:
                result, _ = open_page(page, settle_ms=1000)
                assert result.png is not None
                (args.screenshots / f"{name}.png").write_bytes(result.png)
                print(f"screenshot {args.screenshots / (name + '.png')}")

    ok = size_mb <= SIZE_BUDGET_MB and draw_ms <= DRAW_BUDGET_MS
    print("within budget" if ok else "OVER BUDGET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
