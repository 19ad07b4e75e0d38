"""The web console: the map's vector tiles (what each zoom holds, region limits, the GCJ-02 shift, the
disk cache), the pages (dashboard, villages, a village, audits, map) and the API calls they add
(sorting, probability filters, a village's verdict over runs), in a headless browser too.

The world is the API tests' row of eight 1 km villages from lon 119.40, lat 32.40 (tests/worlds/row.py):
the first village holds the only site and is covered; the far ones (南京市 江宁区) have no site.
Tile numbers are worked out by hand from the Web Mercator tile formulas:
x = floor((lon + 180) / 360 * 2^z); y = floor((1 - ln(tan(lat) + sec(lat)) / pi) / 2 * 2^z).
At z = 12, lon 119.405 gives x = floor(3406.54) = 3406 and lat 32.405 gives y = floor(1657.9) = 1657.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import mapbox_vector_tile
import pytest
from fastapi.testclient import TestClient

from coverage.crs import wgs84_to_gcj02
from coverage.model.rules import DEFAULT_RULES
from coverage.runs.analysis import run_analysis
from coverage.store.storage import Store
from maps import png
from maps.style import hex_rgb, rsrp_steps
from maps.tiles import EXTENT, TileSource, tile_bounds
from tests.utils.api import app_for, key, live_server
from tests.utils.browser import open_page, page_script
from tests.worlds.row import PARAMS, SITE, SOUTH, VILLAGES, WEST, build_row_world

Z, X, Y = 12, 3406, 1657


def _layer(data: bytes, name: str) -> list[dict]:
    return mapbox_vector_tile.decode(data).get(name, {}).get("features", [])


def test_tile_bounds_match_the_web_mercator_grid() -> None:
    assert tile_bounds(0, 0, 0) == pytest.approx((-180.0, -85.0511287798, 180.0, 85.0511287798))
    assert tile_bounds(1, 1, 1) == pytest.approx((0.0, -85.0511287798, 180.0, 0.0))
    west, south, east, north = tile_bounds(Z, X, Y)
    assert west <= WEST + 0.005 < east and south <= SOUTH + 0.005 < north


def test_a_village_tile_holds_each_village_with_its_verdict(store: Store, tmp_path: Path) -> None:
    run_id = build_row_world(store)
    assert run_id is not None
    source = TileSource(store, tmp_path / "tiles")
    villages = {f["properties"]["code"]: f["properties"] for f in _layer(source.tile(run_id, Z, X, Y), "villages")}
    # the tile spans lon 119.3555-119.4434: villages 1 and 2 whole, the third's west edge within the buffer
    assert {VILLAGES[0][0], VILLAGES[1][0]} <= set(villages) and VILLAGES[7][0] not in villages
    first = villages[VILLAGES[0][0]]
    assert (first["name"], first["verdict"], first["cls"]) == ("甲村村委会", "covered", "covered")
    assert first["no_site"] is False
    assert 0.5 <= first["p"] <= 1.0
    # the next tile east (lon 119.4434-119.5313) holds the sixth village (lon 119.5064-119.5170)
    east = {f["properties"]["code"]: f["properties"] for f in _layer(source.tile(run_id, Z, X + 1, Y), "villages")}
    last = east[VILLAGES[5][0]]
    assert (last["verdict"], last["cls"], last["no_site"]) == ("uncovered", "no_site", True)
    # the second answer comes from the disk cache, byte for byte
    cached = list((tmp_path / "tiles").rglob(f"{Z}/{X}/{Y}.mvt"))
    assert len(cached) == 1 and cached[0].read_bytes() == source.tile(run_id, Z, X, Y)


def test_a_region_limited_tile_holds_only_that_region(store: Store, tmp_path: Path) -> None:
    run_id = build_row_world(store)
    assert run_id is not None
    source = TileSource(store)
    codes = {f["properties"]["code"] for f in _layer(source.tile(run_id, Z, X + 1, Y, regions=("3201",)), "villages")}
    assert codes and all(code.startswith("3201") for code in codes)
    # and a tile of only the other region's villages is empty for that key
    assert source.tile(run_id, Z, X, Y, regions=("3201",)) == b""


def test_low_zooms_hold_no_villages_and_gcj02_shifts_them(store: Store) -> None:
    run_id = build_row_world(store)
    assert run_id is not None
    source = TileSource(store)
    assert _layer(source.tile(run_id, 8, 212, 103), "villages") == []  # below the villages' zoom
    plain = {f["properties"]["code"]: f for f in _layer(source.tile(run_id, Z, X, Y), "villages")}
    shifted = {f["properties"]["code"]: f for f in _layer(source.tile(run_id, Z, X, Y, gcj02=True), "villages")}
    code = VILLAGES[0][0]
    x0 = min(p[0] for p in plain[code]["geometry"]["coordinates"][0])
    x1 = min(p[0] for p in shifted[code]["geometry"]["coordinates"][0])
    west, _, east, _ = tile_bounds(Z, X, Y)
    d_lon = wgs84_to_gcj02(WEST, SOUTH)[0] - WEST  # the published GCJ-02 offset here, about 0.0048 degrees east
    assert x1 - x0 == pytest.approx(d_lon / (east - west) * EXTENT, abs=2)


def test_tiles_and_the_map_page_over_http(store: Store, tmp_path: Path) -> None:
    run_id = build_row_world(store)
    with TestClient(app_for(store, tmp_path)) as client:
        answer = client.get(f"/tiles/{run_id}/{Z}/{X}/{Y}.mvt")
        assert answer.status_code == 200 and answer.headers["content-type"] == "application/vnd.mapbox-vector-tile"
        assert _layer(answer.content, "villages")
        assert client.get(f"/tiles/{run_id}/3/0/0.mvt").status_code == 204  # nothing stored up there
        assert client.get(f"/tiles/{run_id}/2/4/0.mvt").status_code == 404  # x beyond 2^z - 1
        assert client.get(f"/tiles/{run_id + 1}/{Z}/{X}/{Y}.mvt").status_code == 404  # no such run
        page = client.get("/console/map")
        assert page.status_code == 200 and "5G通达地图" in page.text and f'"run": {run_id}' in page.text
        assert "/console/static/maplibre/maplibre-gl.js" in page.text
        assert client.get("/console/static/maplibre/maplibre-gl.js").status_code == 200
        assert "5G coverage map" in client.get("/console/map", params={"lang": "en"}).text
        amap = client.get("/console/map", params={"basemap": "amap"}).text
        assert "crs=gcj02" in amap and "autonavi.com" in amap
        missing_key = client.get("/console/map", params={"basemap": "tianditu"})  # a console page saying so
        assert missing_key.status_code == 400 and "VILLAGE5G_TIANDITU_KEY" in missing_key.text
        assert "天地图底图需要密钥：请用 VILLAGE5G_TIANDITU_KEY 提供" in missing_key.text
        assert '<a href="/console/map">打开此页（不带 basemap）</a>' in missing_key.text


@pytest.fixture
def browser() -> None:
    from tests.utils.browser import find_chromium

    if find_chromium() is None:
        if os.environ.get("VILLAGE5G_REQUIRE_BROWSER") == "1":
            pytest.fail("VILLAGE5G_REQUIRE_BROWSER=1 but chromium is not installed (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_the_map_draws_every_village_and_a_click_opens_its_card(store: Store, tmp_path: Path, browser: None) -> None:
    build_row_world(store)
    click = """(async () => {
        const m = village5gMap;
        m.jumpTo({center: [119.48, 32.405], zoom: 11.5});  // the 15 km row in about 660 px
        await new Promise(r => m.once('idle', r));
        const codes = new Set(m.queryRenderedFeatures({layers: ['villages-fill']}).map(f => f.properties.code));
        const at = {lng: 119.405, lat: 32.405};
        m.fire('click', {point: m.project(at), lngLat: at});
        await new Promise(r => setTimeout(r, 1000));
        return [codes.size, document.getElementById('card').innerText,
                getComputedStyle(document.getElementById('audit-toggle')).display];
    })()"""
    with live_server(store.url, tmp_path / "data") as url:
        result, proxied = open_page(f"{url}/console/map", prepare=click)
    assert result.exceptions == [] and result.console_errors == []
    assert result.network_requests == [] and proxied == []  # nothing but the server itself
    n_codes, card, audit_toggle = result.prepared
    assert audit_toggle == "none"  # no audit round: no empty switch for its layer
    assert n_codes == len(VILLAGES)
    assert "甲村村委会" in card and "5G通达" in card and "村委会处信号良好" in card


# -- the console's pages and the API they use -----------------------------------------------------

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def test_a_browser_at_the_root_is_sent_to_the_console_and_api_clients_get_json(store: Store, tmp_path: Path) -> None:
    with TestClient(app_for(store, tmp_path)) as client:
        answer = client.get("/", headers={"Accept": BROWSER_ACCEPT}, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == "/console"
        assert client.get("/").json()["title"].startswith("village5g")  # Accept: */*
        assert client.get("/", headers={"Accept": "application/json, text/html;q=0.5"}).json()["links"]
        assert client.get("/", params={"f": "json"}, headers={"Accept": BROWSER_ACCEPT}).json()["links"]
        # before any run the dashboard says so instead of failing
        page = client.get("/console")
        assert page.status_code == 200 and '"run": null' in page.text


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_every_console_page_answers_in_chinese_and_english(store: Store, tmp_path: Path) -> None:
    build_row_world(store)
    code = VILLAGES[0][0]
    with TestClient(app_for(store, tmp_path)) as client:
        for path in ("/console", "/console/villages", f"/console/villages/{code}", "/console/audits", "/console/map",
                     "/console/data", "/console/planning"):
            zh = client.get(path)
            assert zh.status_code == 200 and "5G通达监测" in zh.text and 'lang="zh-CN"' in zh.text, path
            assert "/console/static/console/console.js" in zh.text
            en = client.get(path, params={"lang": "en"})
            assert "5G village coverage" in en.text and 'lang="en"' in en.text, path
        assert client.get("/console/villages/12345").status_code == 400  # not a 12-digit code
        for script in ("console", "home", "villages", "village", "audits", "map", "data", "planning"):
            assert client.get(f"/console/static/console/{script}.js").status_code == 200


def _main(page: str) -> str:
    """The ``<main>`` of a console page as served (an error page's message is there, not drawn by a script)."""
    return page.split('<main id="app">', 1)[1].split("</main>", 1)[0]


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_a_console_page_of_a_run_or_page_that_does_not_exist_is_a_console_page(store: Store, tmp_path: Path) -> None:
    """A console page asked for a run that does not exist, a malformed value or an address of no page
    answers a console page (header, navigation, what went wrong in Chinese first, the way back) with the
    API's status; it answered the API's JSON body. The JSON routes keep their JSON."""
    run_id = build_row_world(store)
    assert run_id == 1
    with TestClient(app_for(store, tmp_path)) as client:
        missing = client.get("/console/villages", params={"run": 999})
        assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
        assert '<a href="/console/villages" class="active">行政村</a>' in missing.text  # the console's navigation
        assert "/console/static/console/console.js" in missing.text and "villages.js" not in missing.text
        assert _main(missing.text) == (
            '<section class="panel failure"><h1>未找到</h1>'
            '<p class="error">分析运行 999 不存在 (run 999 does not exist)</p>'
            '<p class="back"><a href="/console/villages">打开此页（不带 run）</a> · <a href="/console">返回首页</a></p>'
            "</section>")
        # the other parameters stay on the way back; the page's language too
        other = client.get("/console/map", params={"run": 999, "basemap": "osm", "lang": "en"})
        assert other.status_code == 404 and 'lang="en"' in other.text
        assert "<h1>Not found</h1>" in other.text and "分析运行 999 不存在 (run 999 does not exist)" in other.text
        assert '<a href="/console/map?basemap=osm&amp;lang=en">Open this page without run</a>' in other.text
        assert client.get("/console", params={"run": 999}).status_code == 404
        # a well-formed code of no village of the run: the API's 404 for it (the page opened, with status 200,
        # and its panels said so); a village outside the key's region is not told apart from one of none
        absent = client.get("/console/villages/329999999999")
        assert absent.status_code == 404 and absent.headers["content-type"].startswith("text/html")
        assert _main(absent.text) == (
            '<section class="panel failure"><h1>未找到</h1>'
            '<p class="error">行政村 329999999999 不在分析运行 1 中 (village 329999999999 is not in run 1)</p>'
            '<p class="back"><a href="/console">返回首页</a></p></section>')
        assert '<a href="/console/villages" class="active">行政村</a>' in absent.text
        assert client.get("/console/villages/329999999999", params={"run": 1}).status_code == 404
        assert client.get("/collections/villages/items/329999999999").json()["message"] == (
            "行政村 329999999999 不在分析运行 1 中 (village 329999999999 is not in run 1)")
        assert client.get(f"/console/villages/{VILLAGES[0][0]}").status_code == 200
        nanjing = key(store, "viewer", region="3201")  # 甲村 is in 3210 扬州, 王庄 in 3201 南京
        assert client.get(f"/console/villages/{VILLAGES[0][0]}", headers=nanjing).status_code == 404
        assert client.get(f"/console/villages/{VILLAGES[4][0]}", headers=nanjing).status_code == 200
        # malformed values: the parameter's own message after the console's word for it, not JSON
        for value, problem in (("abc", "应为整数 (Input should be a valid integer, unable to parse string as an "
                                       "integer)"),
                               ("-1", "应不小于 1 (Input should be greater than or equal to 1)")):
            bad = client.get("/console/villages", params={"run": value})
            assert bad.status_code == 400 and bad.headers["content-type"].startswith("text/html"), value
            assert f'<h1>请求参数有误</h1><p class="error">分析批次（run）：{problem}</p>' in _main(bad.text)
        # every bad parameter, each on its own line
        both = _main(client.get("/console/map", params={"run": "x", "basemap": "google"}).text)
        assert both.count('<p class="error">') == 2 and "分析批次（run）：应为整数" in both
        assert "底图（basemap）：应为以下之一：&#x27;none&#x27;、&#x27;osm&#x27;、&#x27;tianditu&#x27;" in both
        # a fault in the address itself: the dashboard is the way back
        code = client.get("/console/villages/12345")
        assert code.status_code == 400
        assert "编码（code）：行政村代码应为 12 位数字 (a village code has 12 digits)" in code.text
        assert '<p class="back"><a href="/console">返回首页</a></p>' in code.text
        nowhere = client.get("/console/vilages")
        assert nowhere.status_code == 404
        assert "控制台没有页面 /console/vilages (the console has no page /console/vilages)" in nowhere.text
        wrong_method = client.get("/console/login")
        assert wrong_method.status_code == 405 and wrong_method.headers["allow"] == "POST"
        assert "<h1>不支持此请求方法</h1>" in wrong_method.text
        slash = client.get("/console/?lang=en", follow_redirects=False)
        assert slash.status_code == 307 and slash.headers["location"] == "/console?lang=en"
        # the JSON API answers JSON, and the OpenAPI document says which is which
        api = client.get("/collections/villages/items", params={"run": 999})
        assert api.status_code == 404 and api.json()["message"] == "分析运行 999 不存在 (run 999 does not exist)"
        assert client.get("/summary", params={"run": "abc"}).json()["code"] == "invalid_parameter"
        paths = client.get("/openapi.json").json()["paths"]
        assert list(paths["/console/villages"]["get"]["responses"]["404"]["content"]) == ["text/html"]
        assert list(paths["/collections/villages/items"]["get"]["responses"]["404"]["content"]) == ["application/json"]
        # a signed-in browser stays signed in on the error page (its header's sign-out needs the CSRF token)
        signed = client.post("/console/login", json={"key": key(store, "viewer")["X-API-Key"]}).json()
        page = client.get("/console/villages", params={"run": 999})
        assert page.status_code == 404 and '"role": "viewer"' in page.text
        assert f'"csrf": "{signed["csrf"]}"' in page.text
    # where reads need a key, the console's pages say so with the header's sign-in button (it was JSON:
    # no page, no button to sign in with)
    with TestClient(app_for(store, tmp_path, reads_need_key=True)) as client:
        locked = client.get("/console/villages")
        assert locked.status_code == 401 and "<h1>需要登录</h1>" in locked.text and 'id="key-button"' in locked.text
        assert "读取数据需要 API 密钥" in _main(locked.text)


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_an_unexpected_failure_of_a_console_page_is_a_console_page_and_is_logged(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """An exception no handler expects, raised while a console page is built, answers the console's error page
    with status 500 (it was the API's JSON 500) and is logged as the API logs one: traceback and request
    id. The JSON and tile routes keep the JSON 500."""
    import api.routers.console as console
    import api.security as security

    build_row_world(store)

    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("SELECT secret FROM /etc/passwd")

    monkeypatch.setattr(console, "resolve_run", explode)  # the run of every page with a run, and of the tiles
    with TestClient(app_for(store, tmp_path)) as client:
        with caplog.at_level(logging.ERROR, logger="village5g.error"):
            page = client.get("/console/villages", params={"city": "3210", "verdict": "covered"},
                              headers={"X-Request-ID": "req-42"})
        assert page.status_code == 500 and page.headers["content-type"].startswith("text/html")
        assert page.headers["x-request-id"] == "req-42"
        assert '<a href="/console/villages" class="active">行政村</a>' in page.text
        assert _main(page.text) == (
            '<section class="panel failure"><h1>服务器内部错误</h1>'
            '<p class="error">内部错误，已记录（请求 req-42）；请稍后重试或联系管理员 (internal error; it has been '
            'logged (request req-42); try again later or ask an administrator)</p>'
            '<p class="back"><a href="/console/villages?city=3210&amp;verdict=covered">重新打开此页</a> · '
            '<a href="/console">返回首页</a></p></section>')
        assert "SELECT" not in page.text and "passwd" not in page.text and "Traceback" not in page.text
        [record] = [r for r in caplog.records if r.name == "village5g.error"]
        assert record.getMessage() == "unhandled error in GET /console/villages"
        assert record.request_id == "req-42"  # type: ignore[attr-defined]
        assert record.exc_info is not None and str(record.exc_info[1]) == "SELECT secret FROM /etc/passwd"
        # the dashboard's own failure: its address once, as the way back; English headings with ?lang=en
        home = client.get("/console", params={"lang": "en"})
        assert home.status_code == 500 and "<h1>Internal error</h1>" in home.text
        assert '<p class="back"><a href="/console?lang=en">Open this page again</a></p>' in home.text
        # a signed-in browser stays signed in on it
        signed = client.post("/console/login", json={"key": key(store, "viewer")["X-API-Key"]}).json()
        mine = client.get("/console/map")
        assert mine.status_code == 500 and '"role": "viewer"' in mine.text and signed["csrf"] in mine.text
        # the JSON routes answer JSON
        tile = client.get(f"/tiles/1/{Z}/{X}/{Y}.mvt")
        assert tile.status_code == 500 and tile.json()["code"] == "internal_error"
        # where the store fails the session's lookup too (the page's key and the error page's header), the
        # page still answers, its header signed out
        monkeypatch.setattr(security, "session_key", explode)
        with caplog.at_level(logging.ERROR, logger="village5g.error"):
            caplog.clear()
            down = client.get("/console/audits")
        assert down.status_code == 500 and "<h1>服务器内部错误</h1>" in down.text and '"user": null' in down.text
        assert [r.getMessage() for r in caplog.records if r.name == "village5g.error"] == [
            "unhandled error in GET /console/audits"]


def test_village_lists_sort_and_filter_by_probability(store: Store, tmp_path: Path) -> None:
    run_id = build_row_world(store)
    with TestClient(app_for(store, tmp_path)) as client:
        every = client.get("/collections/villages/items", params={"run": run_id}).json()["features"]
        p = {f["properties"]["code"]: f["properties"]["p_covered"] for f in every}
        down = client.get("/collections/villages/items", params={"sortby": "-p_covered"}).json()
        values = [f["properties"]["p_covered"] for f in down["features"]]
        assert values == sorted(p.values(), reverse=True)
        names = [f["properties"]["name"] for f in client.get("/collections/villages/items",
                                                             params={"sortby": "name"}).json()["features"]]
        assert names == sorted(v[1] for v in VILLAGES)
        # sorted pages continue by offset: the next link carries no keyset token
        first = client.get("/collections/villages/items", params={"sortby": "-p_covered", "limit": 3}).json()
        after = next(link["href"] for link in first["links"] if link["rel"] == "next")
        assert "after=" not in after and "offset=3" in after
        assert client.get("/collections/villages/items", params={"sortby": "bogus"}).status_code == 400
        keyset = client.get("/collections/villages/items", params={"sortby": "-p_covered", "after": "1"})
        assert keyset.status_code == 400
        low = client.get("/collections/villages/items", params={"p_max": 0.5}).json()
        assert low["numberMatched"] == sum(1 for v in p.values() if v <= 0.5)
        assert all(f["properties"]["p_covered"] <= 0.5 for f in low["features"])
        high = client.get("/collections/villages/items", params={"p_min": 0.5}).json()
        assert high["numberMatched"] == sum(1 for v in p.values() if v >= 0.5)
        # the export takes the same filter
        export = client.get("/exports/villages", params={"p_min": 0.5, "format": "csv"})
        assert export.status_code == 200
        assert len(export.content.decode("utf-8-sig").strip().splitlines()) == 1 + high["numberMatched"]


def test_a_villages_verdict_over_runs(store: Store, tmp_path: Path) -> None:
    first = build_row_world(store)
    second = run_analysis(store, rules=DEFAULT_RULES, params=PARAMS).run_id
    code = VILLAGES[0][0]
    with TestClient(app_for(store, tmp_path)) as client:
        history = client.get(f"/villages/{code}/history").json()
        assert [r["run_id"] for r in history["runs"]] == [first, second]
        item = client.get(f"/collections/villages/items/{code}").json()["properties"]
        last = history["runs"][-1]
        assert (last["verdict"], last["p_covered"]) == (item["verdict"], item["p_covered"])
        assert last["rules"] == "default@2026.2"
        assert last["finished_at"].endswith(("Z", "+00:00"))  # RFC 3339 with its zone
        stored = client.get("/ingests").json()["ingests"]
        assert [i["kind"] for i in stored] == ["measurements", "stations", "villages"]  # newest first
        assert all(i["created_at"].endswith(("Z", "+00:00")) for i in stored)
        assert client.get("/villages/329999999999/history").status_code == 404
        outside = key(store, "viewer", region="3201")  # 甲村 is in 3210 扬州
        assert client.get(f"/villages/{code}/history", headers=outside).status_code == 404


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_the_console_pages_draw_in_a_browser(store: Store, tmp_path: Path, browser: None) -> None:
    build_row_world(store)
    code = VILLAGES[0][0]
    sort_by_probability = """(async () => {
        const before = [...document.querySelectorAll('#list tbody tr td:first-child')].map(td => td.textContent);
        document.querySelector('th[data-sort="p_covered"]').click();
        await window.village5gReady;
        await new Promise(r => setTimeout(r, 800));
        const after = [...document.querySelectorAll('#list tbody tr td:first-child')].map(td => td.textContent);
        return [before, after, document.getElementById('count').textContent];
    })()"""
    with live_server(store.url, tmp_path / "data") as url:
        home, _ = open_page(f"{url}/console")
        villages, _ = open_page(f"{url}/console/villages", prepare=sort_by_probability)
        village, _ = open_page(f"{url}/console/villages/{code}",
                               prepare="document.getElementById('facts').innerText")
    for result in (home, villages, village):
        assert result.exceptions == [] and result.console_errors == [] and result.network_requests == []
    before, after, count = villages.prepared
    assert before == sorted(v[0] for v in VILLAGES) and sorted(after) == before and count == "共 8 个行政村"
    assert "5G通达" in village.prepared and "村委会处信号良好" in village.prepared


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_an_auditor_draws_a_round_and_a_bad_upload_is_shown_row_by_row(store: Store, tmp_path: Path,
                                                                         browser: None) -> None:
    build_row_world(store)
    auditor = key(store, "auditor")["X-API-Key"]
    # signs in as the header's button does (the cookie is the browser's; the page takes the CSRF token)
    script = page_script("""
      const form = document.getElementById('draw');
      form.elements.margin.value = '30';
      form.elements.seed.value = '7';
      document.getElementById('preview').click();
      await until(() => !document.getElementById('confirm').disabled);
      const preview = document.getElementById('plan').innerText;
      document.getElementById('confirm').click();
      await until(() => document.querySelector('#plan .ok') && document.querySelector('input[data-upload]'));
      const drawn = document.querySelector('#plan .ok').innerText;
      const input = document.querySelector('input[data-upload="1"]');
      const files = new DataTransfer();
      files.items.add(new File(['village_code,rsrp\\n123,abc\\n'], 'bad.csv', {type: 'text/csv'}));
      input.files = files.files;
      input.dispatchEvent(new Event('change'));
      await until(() => document.querySelector('#upload-1 table'));
      // the round's list, caught where the page hands the download to the browser
      let blob = null;
      URL.createObjectURL = (b) => { blob = b; return 'about:blank'; };
      HTMLAnchorElement.prototype.click = function () {};
      document.querySelector('button[data-list="1"][data-format="xlsx"]').click();
      await until(() => blob !== null);
      const list = await new Promise(r => {
        const f = new FileReader(); f.onload = () => r(f.result); f.readAsDataURL(blob); });
      // the form to record the results on, beside the upload
      const template = document.querySelector('input[data-upload="1"]').closest('td').querySelector('a.field-template');
      const served = await fetch(template.getAttribute('href'));
      return [preview, drawn, document.getElementById('upload-1').innerText, list.split(',')[1],
              [template.textContent, template.getAttribute('href'), served.status, served.headers.get('content-type')]];
""", key=auditor)
    with live_server(store.url, tmp_path / "data") as url:
        result, _ = open_page(f"{url}/console/audits", prepare=script)
    assert result.exceptions == [] and result.console_errors == []
    preview, drawn, upload, listed, form = result.prepared
    assert form == ["下载现场测试填报模板", "/ingest/field_tests/template", 200,
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"]
    assert "扬州市" in preview and "南京市" in preview  # the two cities' strata before anything is stored
    assert drawn == "已抽取第 1 轮"
    assert "nothing was stored" in upload and "bad.csv" in upload and "lon" in upload
    with TestClient(app_for(store, tmp_path)) as client:
        rounds = client.get("/audits").json()["rounds"]
        assert [(r["round"], r["seed"], r["tests"]) for r in rounds] == [(1, 7, 0)]
        sample = {v["code"] for v in client.get("/audits/1/villages").json()["villages"]}
    # the downloaded list holds the round's villages (every sheet, main list and reserves)
    import base64
    import io

    import openpyxl

    book = openpyxl.load_workbook(io.BytesIO(base64.b64decode(listed)))
    in_file = {str(cell) for sheet in book.worksheets for row in sheet.iter_rows(values_only=True) for cell in row
               if isinstance(cell, str) and cell.isdigit() and len(cell) == 12}
    assert sample and in_file == sample


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_an_auditor_draws_the_supplement_among_the_flagged_villages(store: Store, tmp_path: Path,
                                                                    browser: None) -> None:
    build_row_world(store)
    auditor = key(store, "auditor")["X-API-Key"]
    script = page_script("""
      const form = document.getElementById('draw');
      const choice = form.elements.uncertain_from;
      const labels = [choice.value, choice.closest('label').innerText, [...choice.options].map(o => o.text)];
      // p = 100% asks for 1 village per city of 4, with 2 reserves: one village per city is left to supplement
      form.elements.expected_pass.value = '100';
      form.elements.margin.value = '30';
      form.elements.seed.value = '7';
      form.elements.uncertain.value = '50';
      choice.value = 'flagged';
      document.getElementById('preview').click();
      await until(() => !document.getElementById('confirm').disabled);
      const preview = document.querySelector('#plan .sub').innerText;
      document.getElementById('confirm').click();
      await until(() => document.querySelector('#plan .ok'));
      return [labels, preview];
""", key=auditor)
    with live_server(store.url, tmp_path / "data") as url:
        result, _ = open_page(f"{url}/console/audits", prepare=script)
    assert result.exceptions == [] and result.console_errors == []
    (default, label, options), preview = result.prepared
    assert default == "all" and label.startswith("补充村范围")
    assert options == ["全部村", "仅标记村（弱覆盖或无覆盖）"]
    with TestClient(app_for(store, tmp_path)) as client:
        detail = client.get("/audits/1").json()
        listed = client.get("/audits/1/villages").json()["villages"]
    assert detail["plan"]["uncertain"] == 50 and detail["plan"]["uncertain_from"] == "flagged"
    extra = [v for v in listed if v["stratum"] == "uncertain"]
    assert extra and all(v["verdict"] != "covered" for v in extra)
    # the preview counts the supplement apart from the sample, says where it came from and that it is short
    main = detail["villages"] - len(extra)
    assert (f"样本 {main} + 备选 {detail['reserves']} + 补充 {len(extra)} · 补充村范围 仅标记村（弱覆盖或无覆盖） · "
            f"要求 50 个，可选仅 {len(extra)} 个") in preview


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_predicted_rsrp_tiles_colour_the_runs_raster(store: Store, tmp_path: Path) -> None:
    build_row_world(store, analyze=False)
    with_raster = run_analysis(store, rules=DEFAULT_RULES, params=PARAMS, artifacts_dir=tmp_path / "runs").run_id
    without = run_analysis(store, rules=DEFAULT_RULES, params=PARAMS).run_id
    # the site's pixel in tile 12/3406/1657 (256 px): Web Mercator x, y of the site against the tile's corner
    size = 2 * math.pi * 6378137.0 / 2 ** Z
    mx = math.radians(SITE[0]) * 6378137.0 + math.pi * 6378137.0 - X * size
    my = math.pi * 6378137.0 - math.log(math.tan(math.pi / 4 + math.radians(SITE[1]) / 2)) * 6378137.0 - Y * size
    col, row = int(mx / size * 256), int(my / size * 256)
    good = {hex_rgb(step.color) for step in rsrp_steps(DEFAULT_RULES)[:3]}  # at or above the good cut-off
    with TestClient(app_for(store, tmp_path)) as client:
        answer = client.get(f"/tiles/{with_raster}/rsrp/{Z}/{X}/{Y}.png")
        assert answer.status_code == 200 and answer.headers["content-type"] == "image/png"
        image = png.decode(answer.content)
        assert image.shape == (256, 256, 4) and tuple(image[row, col, :3]) in good and image[row, col, 3] > 0
        assert client.get(f"/tiles/{with_raster}/rsrp/8/212/103.png").status_code == 204  # below zoom 9
        assert client.get(f"/tiles/{without}/rsrp/{Z}/{X}/{Y}.png").status_code == 204  # a run without raster
        # the tile (lon 119.3555-119.4434) holds 扬州 (3210) villages only: a 南京 (3201) key, whose villages
        # start at lon 119.4851, gets nothing there; a 扬州 key gets the tile
        tile = f"/tiles/{with_raster}/rsrp/{Z}/{X}/{Y}.png"
        assert client.get(tile, headers=key(store, "viewer", region="3210")).content == answer.content
        assert client.get(tile, headers=key(store, "viewer", region="3201")).status_code == 204



def test_signing_in_exchanges_a_key_for_a_session_and_signing_out_ends_it(store: Store, tmp_path: Path) -> None:
    build_row_world(store)
    nanjing = key(store, "auditor", region="3201")["X-API-Key"]
    yangzhou_code = VILLAGES[0][0]  # 3210 扬州
    with TestClient(app_for(store, tmp_path, reads_need_key=True)) as client:
        assert client.get("/collections/villages/items").status_code == 401
        assert client.post("/console/login", json={"key": "v5g_000000000000_wrong"}).status_code == 401
        answer = client.post("/console/login", json={"key": nanjing})
        assert answer.status_code == 200 and answer.json()["region"] == "3201"
        cookie = answer.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "village5g_session=" in cookie
        csrf = {"X-CSRF-Token": answer.json()["csrf"]}
        # the session stands for the key: its region only, by every read and tile
        codes = {f["properties"]["code"] for f in client.get("/collections/villages/items").json()["features"]}
        assert codes and all(c.startswith("3201") for c in codes)
        assert client.get(f"/collections/villages/items/{yangzhou_code}").status_code == 404
        assert client.get(f"/villages/{yangzhou_code}/history").status_code == 404
        assert client.get(f"/tiles/1/{Z}/{X}/{Y}.mvt").status_code == 204  # 扬州's tile
        assert [r["code"] for r in client.get("/summary").json()["regions"]] == ["3201"]
        page = client.get("/console")
        assert '"role": "auditor"' in page.text and answer.json()["csrf"] in page.text
        # writes need the session's CSRF token, uploads included (checked before the body is read)
        assert client.post("/audits", json={"dry_run": True, "margin": 0.3}).status_code == 403
        wrong = {"X-CSRF-Token": ("é" + answer.json()["csrf"][1:]).encode("latin-1")}  # beyond ASCII: refused
        assert client.post("/audits", json={"dry_run": True, "margin": 0.3}, headers=wrong).status_code == 403
        assert client.post("/audits", json={"dry_run": True, "margin": 0.3}, headers=csrf).status_code == 200
        upload = {"file": ("t.csv", b"village_code\n1\n", "text/csv")}
        assert client.post("/audits/1/results", files=upload).status_code == 403
        assert client.post("/console/logout").status_code == 403
        old = client.cookies.get("village5g_session")
        assert client.post("/console/logout", headers=csrf).status_code == 204
        assert client.get("/collections/villages/items").status_code == 401
        client.cookies.set("village5g_session", old)  # the old cookie replayed: the session is gone
        assert client.get("/collections/villages/items").status_code == 401


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_data_page_previews_a_file_ingests_it_and_runs_an_analysis(store: Store, tmp_path: Path,
                                                                    browser: None) -> None:
    build_row_world(store)
    admin = key(store, "admin")["X-API-Key"]
    # a site list as an operator exports it: Chinese headers, 维度 (the common typo of 纬度)
    # the second cell has no azimuth: a warning, not a failure (an accepted file's warnings are listed under
    # no failure heading)
    csv = ("站址编码,运营商,制式,频段,经度,维度,方位角,状态\\nNEW1,中国移动,NR,n41,119.48,32.405,120,在用\\n"
           "NEW2,中国移动,NR,n41,119.481,32.405,,在用\\n")
    script = page_script("""
      const form = document.getElementById('upload');
      form.elements.kind.value = 'stations';
      form.elements.kind.dispatchEvent(new Event('change'));
      const link = document.getElementById('template'), got = await fetch(link.getAttribute('href'));
      const template = [link.getAttribute('href'), link.innerText, got.status, got.headers.get('content-type')];
      form.elements.map.value = '维度=lat';
      const files = new DataTransfer();
      files.items.add(new File(['CSV_TEXT'], 'sites.csv', {type: 'text/csv'}));
      form.elements.file.files = files.files;
      document.getElementById('dry').click();
      await until(() => document.querySelector('#preview-out table'));
      const preview = document.getElementById('preview-out').innerText;
      const previewErrors = document.querySelectorAll('#preview-out .error').length;
      document.getElementById('ingest').click();
      await until(() => /已导入|不能|stored/.test(document.getElementById('preview-out').innerText));
      const stored = document.getElementById('preview-out').innerText;
      const storedErrors = document.querySelectorAll('#preview-out .error').length;
      document.getElementById('start').click();
      await until(() => /成功|失败/.test(document.getElementById('job').innerText));
      await until(() => document.querySelectorAll('#runs tbody tr').length >= 2);
      return [preview, previewErrors, stored, storedErrors, document.getElementById('job').innerText,
              document.querySelectorAll('#runs tbody tr').length, document.getElementById('ingests').innerText,
              template];
""", key=admin, polls=300).replace("CSV_TEXT", csv)
    with live_server(store.url, tmp_path / "data") as url:
        result, _ = open_page(f"{url}/console/data", prepare=script, timeout_s=180)
    assert result.exceptions == [] and result.console_errors == []
    preview, preview_errors, stored, stored_errors, job, n_runs, history, template = result.prepared
    # the fill-in workbook of the kind chosen, beside the select
    assert template[:3] == ["/ingest/stations/template", "下载该类数据的填报模板", 200]
    assert template[3].startswith("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    assert "可以导入：2 行" in preview and "维度" in preview and "--map" in preview
    assert "已导入 2 行" in stored
    # the warning of the cell without azimuth under both, and no failure heading above it
    assert "1 个小区没有方位角" in preview and "1 个小区没有方位角" in stored
    assert preview_errors == 0 and stored_errors == 0
    assert job.startswith("#1 成功 · 完成 (done)") and n_runs == 2
    assert "sites.csv" in history and "追加" in history and "种子世界" not in history  # the mode in words


@pytest.mark.slow
@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_planning_page_plans_sites_and_evaluates_proposed_ones(store: Store, tmp_path: Path, browser: None) -> None:
    build_row_world(store)
    auditor = key(store, "auditor")["X-API-Key"]
    # a proposed three-sector site in the middle of the sixth village (江宁, no site today)
    lon, lat = WEST + 10.5 / 94.0, SOUTH + 0.5 / 111.0
    proposed = "site_id,cell_id,operator,rat,band,lon,lat,azimuth_deg,power_dbm,status\\n" + "".join(
        f"P1,P1-{az},CMCC,NR,n41,{lon:.6f},{lat:.6f},{az},53,active\\n" for az in (0, 120, 240))
    script = page_script("""
      const plan = document.getElementById('plan');
      plan.elements.sites.value = '1';
      plan.requestSubmit();
      await until(() => document.querySelector('#plan-out table'));
      const planned = window.village5gPlanned.length;
      const rows = document.querySelectorAll('#plan-out tbody tr').length;
      const whatif = document.getElementById('whatif');
      const files = new DataTransfer();
      files.items.add(new File(['PROPOSED'], 'proposed.csv', {type: 'text/csv'}));
      whatif.elements.file.files = files.files;
      whatif.requestSubmit();
      await until(() => /→/.test(document.getElementById('whatif-out').innerText));
      return [planned, rows, document.getElementById('whatif-out').innerText];
""", key=auditor, polls=600).replace("PROPOSED", proposed)
    with live_server(store.url, tmp_path / "data") as url:
        result, _ = open_page(f"{url}/console/planning", prepare=script, timeout_s=240)
    assert result.exceptions == [] and result.console_errors == []
    planned, rows, whatif = result.prepared
    assert planned == rows == 1
    assert "评估前通达村 1 → 评估后通达村" in whatif and "李庄村委会" in whatif


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_a_code_of_no_region_typed_in_the_search_shows_the_apis_message(store: Store, tmp_path: Path,
                                                                        browser: None) -> None:
    """Digits in the search box are a region code prefix: one of no region shows why and the regions
    meant, where the list was (it was an empty table, as if the region had no village)."""
    build_row_world(store)
    script = """(async () => {
      for (let i = 0; i < 150 && !document.querySelector('#list .error'); i++) {
        await new Promise(r => setTimeout(r, 200)); }
      return [document.getElementById('list').innerText, document.getElementById('count').textContent,
              document.querySelectorAll('#list tbody tr').length];
    })()"""
    # a bad parameter's message reads as the parameter's own, without the API's location of it (参数
    # query.region 无效：... (invalid query.region)), after the label of the page's field of that name
    labelled = """window.V5G.message({code: 'invalid_parameter',
                                      message: '参数 body.region 无效：区划代码应为 ... (invalid body.region)',
                                      details: [{location: 'body.region', message: '区划代码应为 ...'}]})"""
    with live_server(store.url, tmp_path / "data") as url:
        result, _ = open_page(f"{url}/console/villages?q=3211", prepare=script)
        malformed, _ = open_page(f"{url}/console/villages?q=321", prepare=script)
        planning, _ = open_page(f"{url}/console/planning", prepare=labelled)
    for page in (result, malformed, planning):
        assert page.exceptions == [] and page.console_errors == []
    message, count, rows = result.prepared
    assert message.startswith("没有代码为“3211”的地市（已存区划中）；是否指 3210 扬州市 或 3201 南京市？")
    assert count == "" and rows == 0
    message, count, rows = malformed.prepared
    assert message == ("区划代码应为 2、4、6、9 或 12 位数字（省、地市、县区、乡镇、行政村） "
                       "(a division code has 2, 4, 6, 9 or 12 digits)")
    assert count == "" and rows == 0
    assert planning.prepared == "区域编码（可空）：区划代码应为 ..."


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_every_bad_parameter_is_shown_after_its_fields_label(store: Store, tmp_path: Path, browser: None) -> None:
    """Several bad parameters at once show every one, each after the label of its field, where only the
    first one's message was shown; a form's values out of its fields' bounds are refused by the browser
    before anything is sent; and the page of a run that does not exist draws as a console page."""
    build_row_world(store)
    auditor = key(store, "auditor")["X-API-Key"]
    listed = page_script("""
      await until(() => document.querySelector('#list .error'));
      return document.querySelector('#list .error').innerText;
""")
    # the audit round's form with three values out of range (typed into number boxes): the browser says so
    # beside the field before anything is sent (the form is in percent, the API's bounds in proportions:
    # its "应小于 1" would not fit a box of 150 %); once mended, the preview is drawn
    drawn = page_script("""
      const form = document.getElementById('draw'), f = form.elements;
      f.margin.value = '150';
      f.expected_pass.value = '200';
      f.uncertain.value = '-5';
      document.getElementById('preview').click();
      await new Promise(r => setTimeout(r, 1000));
      const refused = [document.getElementById('plan').innerHTML, f.seed.value, f.margin.validity.rangeOverflow,
                       f.expected_pass.validity.rangeOverflow, f.uncertain.validity.rangeUnderflow,
                       f.margin.validationMessage !== ''];
      f.margin.value = '30';
      f.expected_pass.value = '90';
      f.uncertain.value = '0';
      document.getElementById('preview').click();
      await until(() => document.querySelector('#plan table'));
      return [refused, !document.getElementById('confirm').disabled];
""", key=auditor)
    missing_run = """[document.querySelector('main').innerText, document.getElementById('key-button').textContent,
                      document.getElementById('lang-switch').href]"""
    with live_server(store.url, tmp_path / "data") as url:
        villages, _ = open_page(f"{url}/console/villages?status=bad&no_site=maybe&p_min=abc&p_max=xyz", prepare=listed)
        audits, _ = open_page(f"{url}/console/audits", prepare=drawn)
        missing, _ = open_page(f"{url}/console/villages?run=999", prepare=missing_run)
    for page in (villages, audits, missing):
        assert page.exceptions == [] and page.network_requests == []
    assert villages.console_errors == [] and audits.console_errors == [] and missing.console_errors == []
    assert villages.prepared.split("\n") == [
        "结论：应为以下之一：'covered'、'weak'、'uncovered' (Input should be 'covered', 'weak' or 'uncovered')",
        "无站址：应为 true 或 false (Input should be a valid boolean, unable to interpret input)",
        # p_min and p_max share the label 通达概率 and are wrong alike: the line once
        "通达概率：应为数字 (Input should be a valid number, unable to parse string as a number)",
    ]
    assert audits.prepared == [["", "", True, True, True, True], True]
    text, button, switch = missing.prepared
    assert [line for line in text.split("\n") if line] == [
        "未找到", "分析运行 999 不存在 (run 999 does not exist)", "打开此页（不带 run） · 返回首页"]
    assert button == "登录" and switch.endswith("/console/villages?run=999&lang=en")  # the header's scripts ran


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_a_filtered_list_exports_to_an_xlsx_with_the_same_villages(store: Store, tmp_path: Path,
                                                                   browser: None) -> None:
    import base64
    import io

    import openpyxl

    build_row_world(store)
    script = page_script("""
      await until(() => document.querySelectorAll('#list tbody tr').length > 0);
      const form = document.getElementById('filters');
      form.elements.no_site.value = 'true';
      form.requestSubmit();
      await until(() => /共 [0-9]+ 个/.test(document.getElementById('count').textContent)
                        && document.querySelectorAll('#list tbody tr').length < 8);
      const shown = [...document.querySelectorAll('#list tbody tr td:first-child')].map(td => td.textContent);
      // the download is caught where the page hands it to the browser
      let blob = null;
      URL.createObjectURL = (b) => { blob = b; return 'about:blank'; };
      HTMLAnchorElement.prototype.click = function () {};
      document.querySelector('button[data-format="xlsx"]').click();
      await until(() => blob !== null);
      const data = await new Promise(r => {
        const f = new FileReader(); f.onload = () => r(f.result); f.readAsDataURL(blob); });
      return [shown, data.split(',')[1], new URL(location.href).search];
""", )
    with live_server(store.url, tmp_path / "data") as url:
        result, _ = open_page(f"{url}/console/villages", prepare=script)
    assert result.exceptions == [] and result.console_errors == []
    shown, xlsx, address = result.prepared
    assert "no_site=true" in address  # the filter stays in the address
    sheet = openpyxl.load_workbook(io.BytesIO(base64.b64decode(xlsx))).active
    rows = list(sheet.iter_rows(values_only=True))
    header_at = next(i for i, row in enumerate(rows) if "代码" in row)  # the Chinese header of the code column
    column = rows[header_at].index("代码")
    exported = [str(row[column]) for row in rows[header_at + 1:] if row[column]]
    assert shown and sorted(exported) == sorted(shown)
    with TestClient(app_for(store, tmp_path)) as client:
        flagged = [f["properties"]["code"] for f in client.get("/collections/villages/items",
                                                               params={"no_site": "true"}).json()["features"]]
    assert sorted(shown) == sorted(flagged)



@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_the_map_shows_the_latest_audit_sample_as_a_layer(store: Store, tmp_path: Path, browser: None) -> None:
    from coverage.audit.rounds import draw_round
    from coverage.audit.sampling import SamplingPlan

    build_row_world(store)
    draw_round(store, SamplingPlan(margin=0.3, seed=1))
    show = page_script("""
      await until(() => !document.getElementById('audit-toggle').hidden);
      document.querySelector('input[data-layers="audit-points"]').click();
      village5gMap.jumpTo({center: [119.48, 32.405], zoom: 11.5});
      await new Promise(r => village5gMap.once('idle', r));
      const shown = village5gMap.queryRenderedFeatures({layers: ['audit-points']});
      return [document.getElementById('audit-toggle').innerText, new Set(shown.map(f => f.properties.code)).size,
              [...new Set(shown.map(f => f.properties.cls))]];
""", polls=100)
    with live_server(store.url, tmp_path / "data") as url:
        result, _ = open_page(f"{url}/console/map", prepare=show)
    assert result.exceptions == [] and result.console_errors == []
    label, n, classes = result.prepared
    with TestClient(app_for(store, tmp_path)) as client:
        listed = client.get("/audits/1/villages").json()["villages"]
    assert "第1轮" in label and n == len(listed) and set(classes) <= {"untested", "reserve"}
