"""Benchmark: the web console on a served store: the dashboard's first paint, the village filter's
latency, and the map's vector tiles of a city against the folium city page they replace.

Usage::

    python benchmarks/bench_console.py [--db URL [--run N]] [--city 3203] [--zooms 6,8,9,10,11,12]
    python benchmarks/bench_console.py --db URL --city all --zooms 3,4,5,6,7   # a national world

Without ``--db`` the seed world is built into a temporary SQLite file and analysed (committee scope,
as ``make demo`` does); with ``--db`` the latest published run of that database is used as it is.

What is measured (targets of the console's issue in brackets):

``dashboard``
    ``/console`` in headless Chromium from a uvicorn server on the store: the time from navigation
    until every API call of the page has answered and the page is drawn (``window.village5gReady``),
    median of 3 [under 1 s].
``village filter``
    30 requests of ``/collections/villages/items`` with the console's filters (city, verdict, no-site,
    p_covered range, name, sorting; 50 a page), each filter set new to the server's page cache:
    median and 95th percentile [p95 under 300 ms].

and for every tile of the city's envelope at each tile zoom (the map zoom is one more: MapLibre draws
vector tiles at 512 px) [p95 cold under 500 ms, cached under 50 ms]:

``cold``
    :meth:`maps.tiles.TileSource.tile` with an empty cache: read the store, clip, simplify, encode.
    Median, 95th percentile and maximum per tile, and the sum (all tiles made one after another).
``warm``
    The same tiles again, answered from the disk cache.
``size``
    Median and maximum bytes per tile.

Baseline, in the same run: the folium page of the same city as ``GET /maps/city/{code}`` makes it on
every request (:meth:`maps.MapSource.region` and :func:`maps.render_html`, basemap none). The ratio
printed is that page's time over the cold time of the tiles a first view of the city needs (the
tiles of the city's envelope at tile zoom 8: the whole city on one screen).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import shapely

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_maps import seeded_store  # noqa: E402
from coverage.store.results_query import VillageQuery, resolve_run, village_rows  # noqa: E402
from coverage.store.storage import Store  # noqa: E402
from maps import MapOptions, MapSource, render_html  # noqa: E402
from maps.tiles import TileSource  # noqa: E402
from tests.utils.api import live_server  # noqa: E402
from tests.utils.browser import find_chromium, open_page  # noqa: E402


def tile_range(bounds: tuple[float, float, float, float], z: int) -> list[tuple[int, int]]:
    """(x, y) of the tiles at zoom ``z`` that meet ``bounds`` (west, south, east, north degrees)."""
    n = 2 ** z

    def tx(lon: float) -> int:
        return min(n - 1, int((lon + 180) / 360 * n))

    def ty(lat: float) -> int:
        r = math.radians(lat)
        return min(n - 1, int((1 - math.log(math.tan(r) + 1 / math.cos(r)) / math.pi) / 2 * n))

    west, south, east, north = bounds
    return [(x, y) for x in range(tx(west), tx(east) + 1) for y in range(ty(north), ty(south) + 1)]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", help="database URL with a published run (default: build the seed world)")
    parser.add_argument("--run", type=int, help="run id in --db (default: the latest published)")
    parser.add_argument("--city", default="3203",
                        help="city code (default 3203, Xuzhou), or 'all': every village of the run (a national "
                             "world's tiles from the lowest zooms; the folium baseline is then left out)")
    parser.add_argument("--zooms", default="6,8,9,10,11,12", help="tile zooms (default 6,8,9,10,11,12)")
    parser.add_argument("--max-tiles", type=int, default=120, help="at most this many tiles per zoom (default 120)")
    args = parser.parse_args(argv)
    zooms = [int(z) for z in args.zooms.split(",")]

    with tempfile.TemporaryDirectory(prefix="bench-tiles-") as tmp:
        folder = Path(tmp)
        store = Store(args.db) if args.db else seeded_store(folder, "committees")
        run_id = resolve_run(store, args.run)
        whole = args.city == "all"
        rows, _ = village_rows(store, run_id, VillageQuery() if whole else VillageQuery(city_code=args.city),
                               count=False)
        geoms = rows.geometry
        west, south, east, north = (float(v) for v in shapely.total_bounds(geoms))
        print(f"{'every village' if whole else 'city ' + args.city}: {len(rows):,} villages of run {run_id}, envelope "
              f"{west:.3f},{south:.3f},{east:.3f},{north:.3f}")

        # the served console: dashboard first paint and the village filter's latency
        with live_server(store.url, folder / "served") as url:
            draws = []
            if find_chromium() is not None:
                for _ in range(3):
                    result, _ = open_page(f"{url}/console", screenshot=False)
                    draws.append(result.drawn_ms)
            filters: list[dict[str, str]] = []
            for status in ("", "covered", "weak", "uncovered"):
                for extra in ({}, {"no_site": "true"}, {"p_max": "0.5"}, {"sortby": "-p_covered"}, {"name": "村"},
                              {"p_min": "0.2", "p_max": "0.8", "sortby": "nearest_site_m"}, {"offset": "50"},
                              {"sortby": "-nearest_site_m", "no_site": "false"}):
                    chosen = {"status": status} if status else {}
                    filters.append({**({} if whole else {"city": args.city}), "limit": "50", **chosen, **extra})
            latencies = []
            for params in filters[:30]:
                t = time.perf_counter()
                with urllib.request.urlopen(f"{url}/collections/villages/items?{urllib.parse.urlencode(params)}",
                                            timeout=60) as answer:
                    answer.read()
                latencies.append(time.perf_counter() - t)
        if draws:
            print(f"dashboard first paint: median {statistics.median(draws):.0f} ms of "
                  + ", ".join(f"{d:.0f}" for d in draws) + " (target under 1,000 ms)")
        else:
            print("dashboard: chromium is not installed, not measured")
        print(f"village filter ({len(latencies)} filter sets of {'the run' if whole else 'city ' + args.city}): median "
              f"{statistics.median(latencies) * 1000:.0f} ms, p95 {percentile(latencies, 0.95) * 1000:.0f} ms "
              "(target p95 under 300 ms)")

        folium_s = None
        if not whole:
            source = MapSource.load(store, run_id)
            t = time.perf_counter()
            page = render_html(source.region(city=args.city, options=MapOptions(basemap="none")), offline=False,
                               asset_base="/maps/static")
            folium_s = time.perf_counter() - t
            print(f"baseline: folium city page {folium_s:.2f} s, {len(page) / 1e6:.1f} MB of HTML (every request)")

        tiles = TileSource(store, folder / "tiles")
        first_view_s = None
        print(f"{'zoom':>4} {'tiles':>5} {'cold median':>11} {'p95':>7} {'max':>7} {'sum':>7} "
              f"{'warm median':>11} {'size median':>11} {'max':>9}")
        for z in zooms:
            xy = tile_range((west, south, east, north), z)[: args.max_tiles]
            cold, warm, sizes = [], [], []
            for x, y in xy:
                t = time.perf_counter()
                data = tiles.tile(run_id, z, x, y)
                cold.append(time.perf_counter() - t)
                sizes.append(len(data))
            for x, y in xy:
                t = time.perf_counter()
                tiles.tile(run_id, z, x, y)
                warm.append(time.perf_counter() - t)
            if z == 8:
                first_view_s = sum(cold)
            print(f"{z:>4} {len(xy):>5} {statistics.median(cold) * 1000:>9.0f}ms "
                  f"{percentile(cold, 0.95) * 1000:>5.0f}ms "
                  f"{max(cold) * 1000:>5.0f}ms {sum(cold):>6.2f}s {statistics.median(warm) * 1000:>9.1f}ms "
                  f"{statistics.median(sizes) / 1000:>9.1f}KB {max(sizes) / 1000:>7.1f}KB")
        if first_view_s is not None and folium_s is not None:
            print(f"first view of the city (tile zoom 8, cold): {first_view_s:.2f} s against the folium page's "
                  f"{folium_s:.2f} s: {folium_s / first_view_s:.1f}x faster; cached tiles answer in milliseconds")
        store.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
