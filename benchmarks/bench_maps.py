"""Benchmark: the biggest city's map (Xuzhou 3203, every village-level unit) as offline HTML in Chromium.

Usage::

    python benchmarks/bench_maps.py [--db URL [--run N]] [--city 3203] [--repeats 3] [--scope all]
                                    [--keep DIR] [--screenshots DIR [--county 320312]]
    python benchmarks/bench_maps.py --read-model [--db URL [--run N]] [--county 320312] [--city 3203]

Without ``--db`` the seed world is built into a temporary SQLite file and analysed with ``--scope``
(default ``all``: residents' committees too, about 2,800 units in Xuzhou); with ``--db`` the latest
published run of that database is used as it is.

What is measured:

``build``
    :meth:`maps.MapSource.region` (read the city's villages, sites and townships, simplify, pack
    stations, resample the RSRP raster), basemap ``none``.
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

``--read-model`` (no browser): how the maps read the store. For the county ``--county``, the city
``--city`` and the province, each drawn (read, built, rendered offline) in a fresh process per repeat,
side by side:

``whole run (before)``
    What the maps did before they read through the SQL read layer: the whole run with every column
    and polygon (``Store.read_results``), every division and every station, then the region kept in
    memory, then the same builders.
``SQL read model (after)``
    :class:`maps.MapSource`: the region's villages filtered in SQL with only the columns a map draws,
    the sites in the region's envelope, its townships; the province's villages without geometry.

Printed: median wall time, peak resident memory of the process (``VmHWM``) and what the map added to
the memory the process had after its imports, and whether both pages are identical (byte for byte, once
folium's random element ids are numbered in order).
"""

from __future__ import annotations

import argparse
import re
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


def _rss_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _draw(url: str, run_id: int, level: str, code: str | None, path: str) -> tuple[float, float, float, str]:
    """Draw one map in this (fresh) process: (seconds, peak RSS MB, MB added since start, HTML sha256)."""
    import hashlib

    from maps import MapOptions, MapSource, province_map, region_map
    from maps.build import run_rules

    store = Store(url)
    options = MapOptions(basemap="none")
    start = _rss_mb("VmRSS")
    t = time.perf_counter()
    if path == "before":  # the whole run in memory, then the region kept (the maps' old read path)
        results = store.read_results(run_id)
        record = store.read_run(run_id)
        divisions = store.read_divisions()
        raster = record.get("raster_path")
        if level == "province":
            m = province_map(results, divisions=divisions, rules=run_rules(record), basemap="none", run_id=run_id,
                             link_template=None)
        else:
            stations = store.read("stations")
            chosen = results[(results[f"{level}_code"] == code).to_numpy()].copy()
            m = region_map(chosen, level=level, code=str(code), divisions=divisions, stations=stations,
                           raster_path=raster if raster and Path(raster).is_file() else None,
                           rules=run_rules(record), basemap="none", run_id=run_id)
        del results
    else:
        source = MapSource.load(store, run_id)
        m = source.province(options) if level == "province" else source.region(**{level: code}, options=options)
    html = render_html(m, offline=True)
    seconds = time.perf_counter() - t
    store.dispose()
    ids: dict[str, str] = {}  # folium names its elements with random hex ids: numbered in order of appearance
    page = re.sub(r"[0-9a-f]{32}", lambda hit: ids.setdefault(hit.group(0), f"id{len(ids)}"), html)
    return seconds, _rss_mb("VmHWM"), _rss_mb("VmHWM") - start, hashlib.sha256(page.encode()).hexdigest()


def read_model(args: argparse.Namespace) -> int:
    """``--read-model``: the maps' reads before and after, side by side (see the module docstring)."""
    import multiprocessing

    from coverage.store.results_query import resolve_run

    context = multiprocessing.get_context("spawn")  # a fresh interpreter per draw: its peak is its own
    with tempfile.TemporaryDirectory(prefix="bench-maps-") as tmp:
        url = args.db or f"sqlite:///{Path(tmp) / 'seed.db'}"
        if not args.db:
            seeded_store(Path(tmp), "committees").dispose()
        store = Store(url)
        run_id = resolve_run(store, args.run)
        store.dispose()
        print(f"run {run_id} of {url}; median of {args.repeats} fresh processes per row")
        print(f"{'map':<16} {'read path':<24} {'time s':>7} {'peak MB':>8} {'added MB':>9}  same page")
        for level, code in (("county", args.county), ("city", args.city), ("province", None)):
            pages = {}
            for path in ("before", "after"):
                runs = []
                for _ in range(args.repeats):
                    with context.Pool(1) as pool:
                        runs.append(pool.apply(_draw, (url, run_id, level, code, path)))
                pages[path] = {r[3] for r in runs}
                seconds = statistics.median(r[0] for r in runs)
                peak = statistics.median(r[1] for r in runs)
                added = statistics.median(r[2] for r in runs)
                same = "" if path == "before" else ("yes" if pages["before"] == pages["after"] else "NO")
                label = "whole run (before)" if path == "before" else "SQL read model (after)"
                name = f"{level} {code or ''}"
                print(f"{name:<16} {label:<24} {seconds:>7.2f} {peak:>8.0f} {added:>9.0f}  {same}", flush=True)
            if pages["before"] != pages["after"]:
                return 1
    return 0


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
    parser.add_argument("--read-model", action="store_true",
                        help="no browser: time and peak memory of the county, city and province maps read the "
                             "old way (whole run) and through the SQL read layer, side by side")
    args = parser.parse_args(argv)
    if args.read_model:
        return read_model(args)
    if find_chromium() is None:
        print("chromium is not installed (apt-get install chromium)", file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory(prefix="bench-maps-") as tmp:
        folder = Path(tmp)
        store = Store(args.db) if args.db else seeded_store(folder, args.scope)
        source = MapSource.load(store, args.run if args.db else None)
        units = int((source.rows["city_code"] == args.city).sum())
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
        store.dispose()

    ok = size_mb <= SIZE_BUDGET_MB and draw_ms <= DRAW_BUDGET_MS
    print("within budget" if ok else "OVER BUDGET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
