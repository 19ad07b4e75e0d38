"""The console on the whole seed world, in headless Chromium, as README shows it: the dashboard, the
villages table, the map with a village's card, a village's page and an audit round's report. Each page
must load with no error and no request leaving the server, and show what the stored run says (counted
here from the run's results, not from the API the pages call).

The screenshots are README's pictures: ``VILLAGE5G_SCREENSHOTS=docs python -m pytest
tests/test_console_screenshots.py`` writes them to ``docs/console_*.png``; without the variable they go
to the test's temporary folder (kept by pytest for a look when a test fails).
"""

from __future__ import annotations

import json
import os
import sqlite3
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest

from coverage.audit.rounds import draw_round, upload_results
from coverage.audit.sampling import SamplingPlan
from coverage.store.storage import Store
from coverage.summary import rate_text, reach_rate
from maps import png as pngio
from maps.style import NO_BASEMAP_BACKGROUND, NO_BASEMAP_LAND, VILLAGE_CLASSES, VILLAGE_FILL_OPACITY, hex_rgb
from tests.utils.api import live_server
from tests.utils.browser import PageResult, assert_offline, open_page, page_script, require_browser

if TYPE_CHECKING:
    from seeds import SeedWorld

pytestmark = pytest.mark.slow

#: Donghai county (东海县, Lianyungang): hills and fields, villages of every verdict.
COUNTY = "320722"
AUDIT_SEED = 20261201


class ConsoleWorld:
    def __init__(self, store: Store, url: str, results: pd.DataFrame, folder: Path) -> None:
        self.store, self.url, self.results, self.folder = store, url, results, folder


@pytest.fixture(scope="module")
def world(seed_store: Store, seed_world: SeedWorld, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleWorld]:
    """A copy of the session's seeded and analysed store (the session's stays read only) with an audit
    round of the whole province drawn and tested in the field (simulated from the true field), served."""
    require_browser()
    from seeds.truth import simulate_field_tests

    folder = tmp_path_factory.mktemp("console-world")
    source = seed_store.url.removeprefix("sqlite:///")
    copy = folder / "console.db"
    with sqlite3.connect(source) as a, sqlite3.connect(copy) as b:
        a.backup(b)
    store = Store(f"sqlite:///{copy}")
    sample = draw_round(store, SamplingPlan(seed=AUDIT_SEED))
    assert sample.round == 1
    assert seed_world.true_field is not None
    tests = simulate_field_tests(seed_world.true_field, sample.villages, seed=AUDIT_SEED)
    results_csv = folder / "field_tests.csv"
    tests.to_csv(results_csv, index=False, encoding="utf-8-sig")
    upload_results(store, 1, results_csv)
    results = store.read_results()
    with live_server(store.url, folder / "data") as url:
        yield ConsoleWorld(store, url, results, folder)
    store.dispose()


def script(body: str) -> str:
    """A page script: ``body`` in an async function with ``until(condition)`` at hand (up to 40 s)."""
    return page_script(body, polls=200)


def shots() -> Path | None:
    folder = os.environ.get("VILLAGE5G_SCREENSHOTS")
    return Path(folder) if folder else None


def keep(result: PageResult, name: str, tmp_path: Path) -> np.ndarray:
    """Write the page's screenshot (to ``$VILLAGE5G_SCREENSHOTS`` when set) and return its pixels."""
    assert result.png is not None
    folder = shots() or tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"console_{name}.png").write_bytes(result.png)
    return pngio.decode(result.png)[..., :3].astype(int)


def colour_pixels(rgb: np.ndarray, colour: np.ndarray, tolerance: int = 8) -> int:
    return int((np.abs(rgb - colour) <= tolerance).all(axis=2).sum())


def test_dashboard_shows_the_province_rate_of_the_run(world: ConsoleWorld, tmp_path: Path) -> None:
    result, proxied = open_page(f"{world.url}/console", prepare=script("""
        await until(() => document.querySelector('#regions tbody tr') && document.querySelector('#trend svg'));
        return [document.getElementById('cards').innerText, document.querySelectorAll('#regions tbody tr').length];
    """))
    assert_offline(result, proxied)
    cards, n_cities = result.prepared
    covered = int((world.results["verdict"] == "covered").sum())
    assert rate_text(reach_rate(covered, len(world.results))) in cards
    assert f"{len(world.results):,}" in cards
    assert n_cities == world.results["city_code"].nunique() == 13
    keep(result, "home", tmp_path)


def test_villages_table_lists_the_uncovered_farthest_first(world: ConsoleWorld, tmp_path: Path) -> None:
    page = f"{world.url}/console/villages?status=uncovered&sortby=-nearest_site_m"
    result, proxied = open_page(page, prepare=script("""
        await until(() => document.querySelectorAll('#list tbody tr').length > 0);
        return [document.getElementById('count').textContent,
                [...document.querySelectorAll('#list tbody tr td:first-child')].map(td => td.textContent)];
    """))
    assert_offline(result, proxied)
    count, codes = result.prepared
    uncovered = world.results[world.results["verdict"] == "uncovered"]
    assert f"{len(uncovered):,}" in count
    farthest = uncovered.sort_values("nearest_site_m", ascending=False, kind="stable")["code"].astype(str)
    assert codes == farthest.head(len(codes)).tolist() and len(codes) == min(50, len(uncovered))
    keep(result, "villages", tmp_path)


def _weak_village(world: ConsoleWorld) -> pd.Series:
    """A weak village of the county, with a site (so its card and page have something to show)."""
    county = world.results[(world.results["county_code"] == COUNTY) & (world.results["verdict"] == "weak")
                           & ~world.results["no_site"].astype(bool)]
    assert len(county) > 0
    return county.sort_values("code").iloc[len(county) // 2]


def test_map_draws_the_county_by_verdict_and_a_click_opens_a_card(world: ConsoleWorld, tmp_path: Path) -> None:
    village = _weak_village(world)
    point = village.geometry.representative_point()
    result, proxied = open_page(f"{world.url}/console/map", prepare=script("""
        const m = village5gMap;
        const at = {lng: LON, lat: LAT};
        await until(() => !document.getElementById('audit-toggle').hidden);
        m.jumpTo({center: at, zoom: 11});
        await new Promise(r => m.once('idle', r));
        m.fire('click', {point: m.project(at), lngLat: at});
        await until(() => /CODE/.test(document.getElementById('card').innerText));
        await new Promise(r => setTimeout(r, 500));
        return [document.getElementById('card').innerText, document.getElementById('audit-toggle').innerText];
    """).replace("LON", f"{point.x:.6f}").replace("LAT", f"{point.y:.6f}").replace("CODE", village["code"]),
        timeout_s=120)
    assert_offline(result, proxied)
    card, audit_toggle = result.prepared
    assert village["name"] in card and "弱覆盖" in card
    assert "第1轮" in audit_toggle
    rgb = keep(result, "map", tmp_path)
    # the villages are drawn in their verdict colours (blended by the fill opacity on the map's
    # background or land): the county's two commonest classes cover large parts of the view
    colours = {c.key: c.color for c in VILLAGE_CLASSES}
    for cls in ("covered", "weak"):
        fill = np.array(hex_rgb(colours[cls]), float)
        n = sum(colour_pixels(rgb, VILLAGE_FILL_OPACITY * fill + (1 - VILLAGE_FILL_OPACITY) * np.array(hex_rgb(base)))
                for base in (NO_BASEMAP_BACKGROUND, NO_BASEMAP_LAND))
        assert n >= 2_000, (cls, n)


def test_village_page_shows_the_verdict_and_the_sites_nearby(world: ConsoleWorld, tmp_path: Path) -> None:
    village = _weak_village(world)
    result, proxied = open_page(f"{world.url}/console/villages/{village['code']}", prepare=script("""
        await until(() => document.querySelectorAll('table').length >= 2);
        return document.getElementById('app').innerText;
    """))
    assert_offline(result, proxied)
    text = result.prepared
    assert village["name"] in text and "弱覆盖" in text and f"{100 * village['p_covered']:.1f}%" in text
    # the nearby sites in the user's words: operators and states in Chinese, distances from the committee
    assert "中国移动" in text and "在网" in text and "距村委会" in text
    assert not any(word in text for word in ("CMCC", "active"))
    keep(result, "village", tmp_path)


def test_audit_round_report_shows_the_pass_rate_with_its_interval(world: ConsoleWorld, tmp_path: Path) -> None:
    result, proxied = open_page(f"{world.url}/console/audits", prepare=script("""
        await until(() => document.querySelector('button[data-report="1"]'));
        document.querySelector('button[data-report="1"]').click();
        await until(() => document.querySelector('#report table'));
        document.getElementById('report-panel').scrollIntoView();
        return document.getElementById('report').innerText;
    """), window=(1280, 1000))
    assert_offline(result, proxied)
    with urllib.request.urlopen(f"{world.url}/audits/1/report") as answer:
        report = json.load(answer)
    overall = report["overall"]
    assert overall["tested"] > 0
    assert f"{100 * overall['pass_rate']:.1f}%" in result.prepared
    assert f"{100 * overall['low']:.1f}%–{100 * overall['high']:.1f}%" in result.prepared
    # a round stratified by city: no verdict column standing empty
    assert all(not s.get("verdict") for s in report["strata"])
    header = result.prepared.split("\n地市", 1)[1].split("\n", 1)[0]
    assert "结论" not in header and "样本" in header
    keep(result, "audits", tmp_path)
