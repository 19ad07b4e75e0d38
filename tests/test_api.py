"""The HTTP API over the small hand-made world (tests/utils/api.py), on SQLite and on PostGIS:
OGC API - Features collections, paging, filters, CRS, summaries, runs, differences and exports."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pyogrio
import pytest
import shapely
from fastapi.testclient import TestClient

from coverage.crs import wgs84_to_gcj02
from coverage.model.rules import DEFAULT_RULES
from coverage.store.queries import LIST_COLUMNS, village_table
from coverage.store.storage import Store
from coverage.summary import summarize
from tests.utils.api import app_for
from tests.utils.db import POSTGRES_URL, require_postgis, reset_postgres
from tests.worlds.row import PARAMS, SITE, VILLAGES, build_row_world, row_village_box

CODES = sorted(v[0] for v in VILLAGES)


@dataclass
class World:
    store: Store
    run_id: int
    client: TestClient
    tmp: Path


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("api")
    if request.param == "sqlite":
        store = Store(f"sqlite:///{tmp / 'api.db'}")
    else:
        require_postgis()
        reset_postgres()
        store = Store(POSTGRES_URL)
    store.create_schema()
    run_id = build_row_world(store)
    assert run_id is not None
    with TestClient(app_for(store, tmp)) as client:
        yield World(store, run_id, client, tmp)
    store.dispose()


def _features(client: TestClient, url: str) -> list[dict]:
    response = client.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/geo+json")
    return list(response.json()["features"])


def _codes(client: TestClient, url: str) -> list[str]:
    return [f["id"] for f in _features(client, url)]


# -- OGC API - Features ------------------------------------------------------------------------


def test_landing_page_conformance_and_collections_link_to_each_other(world: World) -> None:
    landing = world.client.get("/").json()
    rels = {link["rel"]: link["href"] for link in landing["links"]}
    assert {"self", "service-desc", "conformance", "data"} <= set(rels)
    assert rels["data"].endswith("/collections")
    conf = world.client.get("/conformance").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in conf
    collections = world.client.get("/collections").json()["collections"]
    assert [c["id"] for c in collections] == ["villages", "stations", "measurements"]
    villages = world.client.get("/collections/villages").json()
    lon_min, lat_min, lon_max, lat_max = villages["extent"]["spatial"]["bbox"][0]
    expected = shapely.bounds(shapely.union_all([row_village_box(i) for i in range(len(VILLAGES))]))
    np.testing.assert_allclose([lon_min, lat_min, lon_max, lat_max], expected)
    assert any(link["rel"] == "items" for link in villages["links"])
    measurements = world.client.get("/collections/measurements").json()
    assert measurements["extent"]["temporal"]["interval"] == [["2026-05-01T10:00:00", "2026-06-01T09:00:00"]]


def test_village_items_carry_the_village_table_of_the_latest_run(world: World) -> None:
    body = world.client.get("/collections/villages/items?limit=100").json()
    assert body["type"] == "FeatureCollection"
    assert body["numberMatched"] == body["numberReturned"] == len(VILLAGES)
    assert body["run_id"] == world.run_id
    expected = village_table(world.store.read_results(world.run_id))
    assert [f["id"] for f in body["features"]] == expected["code"].tolist()
    for feature, (_, row) in zip(body["features"], expected.iterrows(), strict=True):
        props = feature["properties"]
        assert list(props) == [*LIST_COLUMNS, "run_id"]
        for column in LIST_COLUMNS:
            value = row[column]
            if value is None or (not isinstance(value, str) and pd.isna(value)):
                assert props[column] is None, column
            else:
                assert props[column] == (value.item() if hasattr(value, "item") else value), column
        assert shapely.equals_exact(shapely.from_geojson(json.dumps(feature["geometry"])), row.geometry, 1e-12)


def test_paging_returns_each_village_exactly_once_and_links_next_and_prev(world: World) -> None:
    seen: list[str] = []
    url: str | None = "/collections/villages/items?limit=3&status=uncovered"
    pages = 0
    matched = None
    while url:
        body = world.client.get(url).json()
        matched = body["numberMatched"]
        assert body["numberReturned"] == len(body["features"]) <= 3
        seen += [f["id"] for f in body["features"]]
        links = {link["rel"]: link["href"] for link in body["links"]}
        assert "status=uncovered" in links["self"]
        assert ("prev" in links) == (pages > 0)
        url = links.get("next")
        pages += 1
    assert len(seen) == len(set(seen)) == matched
    uncovered = world.store.read_results(world.run_id)
    assert seen == sorted(uncovered.loc[uncovered["verdict"] == "uncovered", "code"])
    assert pages == -(-len(seen) // 3)
    beyond = world.client.get("/collections/villages/items?offset=100").json()
    assert beyond["features"] == [] and beyond["numberMatched"] == len(VILLAGES)
    assert any(link["rel"] == "prev" for link in beyond["links"])


def test_filters_select_the_expected_villages(world: World) -> None:
    results = world.store.read_results(world.run_id).set_index("code")
    c = world.client
    assert _codes(c, "/collections/villages/items?city=3201") == [x for x in CODES if x.startswith("3201")]
    assert _codes(c, "/collections/villages/items?city=南京") == [x for x in CODES if x.startswith("3201")]
    assert _codes(c, "/collections/villages/items?county=江都区") == [x for x in CODES if x.startswith("321012")]
    assert _codes(c, "/collections/villages/items?township=321012101") == [x for x in CODES if x.startswith("3210")]
    assert _codes(c, "/collections/villages/items?region=320115100") == [x for x in CODES if x.startswith("3201")]
    assert _codes(c, "/collections/villages/items?name=王庄") == ["320115100201"]
    for verdict in ("covered", "weak", "uncovered"):
        expected = sorted(results.index[results["verdict"] == verdict])
        assert _codes(c, f"/collections/villages/items?status={verdict}") == expected
    assert _codes(c, "/collections/villages/items?no_site=true") == sorted(results.index[results["no_site"]])
    assert _codes(c, "/collections/villages/items?no_site=false") == sorted(results.index[~results["no_site"]])
    measured = sorted(results.index[results["verdict_source"] == "measured"])
    assert _codes(c, "/collections/villages/items?verdict_source=measured") == measured
    combined = _codes(c, "/collections/villages/items?city=3210&status=uncovered&no_site=true")
    assert combined == sorted(x for x in results.index[(results["verdict"] == "uncovered") & results["no_site"]]
                              if x.startswith("3210"))
    # a known region with no village matching the filters is an empty list, not an error
    assert _codes(c, "/collections/villages/items?city=南京&status=covered") == []
    assert _codes(c, "/collections/villages/items?region=3201&status=covered") == []


#: What the resolver says of a code of no city, in the API as in the CLI (Chinese first).
UNKNOWN_CITY = "没有代码或名称为“9999”的地市（已存区划中） (no city with code or name '9999' among the stored regions)"
#: A code prefix (``region=``, ``code=``) of no region; 3211 is close to both stored cities.
UNKNOWN_PREFIX = ("没有代码为“3211”的地市（已存区划中）；是否指 3210 扬州市 或 3201 南京市？ "
                  "(no city with code '3211' among the stored regions (did you mean 3210 扬州市 or 3201 南京市?))")


@pytest.mark.parametrize(("url", "location"), [
    ("/collections/villages/items?region=3211", "query.region"),
    ("/collections/villages/items?city=3210&region=3211", "query.region"),
    ("/collections/stations/items?region=3211", "query.region"),
    ("/collections/measurements/items?region=3211", "query.region"),
    ("/exports/villages?format=csv&region=3211", "query.region"),
    ("/summary?level=county&region=3211", "query.region"),
    ("/exports/summary?region=3211", "query.region"),
    ("/summary/history?level=county&code=3211", "query.code"),
    ("/maps/audits/1?city=3211", "query.city"),
])
def test_an_unknown_region_prefix_is_a_400_naming_the_closest_regions(world: World, url: str, location: str) -> None:
    response = world.client.get(url)
    assert response.status_code == 400, url
    body = response.json()
    assert body["code"] == "invalid_parameter" and body["message"] == UNKNOWN_PREFIX
    assert [(d["location"], d["code"], d["message"]) for d in body["details"]] == [
        (location, "3210", "3210 扬州市"), (location, "3201", "3201 南京市")]


def test_an_unknown_region_code_or_name_is_the_clis_error(world: World) -> None:
    """``city=9999`` was an empty list: now the resolver's error, word for word what the CLI prints."""
    from typer.testing import CliRunner

    from api.cli import app

    for url in ("/collections/villages/items?city=9999", "/exports/villages?format=csv&city=9999",
                "/collections/villages/items?status=uncovered&city=9999"):
        response = world.client.get(url)
        assert response.status_code == 400, url
        assert response.json() == {"code": "invalid_parameter", "message": UNKNOWN_CITY,
                                   "details": [{"location": "query.city", "message": UNKNOWN_CITY}]}
    cli = CliRunner().invoke(app, ["--db", world.store.url, "villages", "--city", "9999"])
    assert str(cli.exception) == UNKNOWN_CITY
    misspelt = world.client.get("/collections/villages/items", params={"city": "杨州"}).json()
    assert misspelt["message"].startswith("没有代码或名称为“杨州”的地市（已存区划中）；是否指 3210 扬州市？ (")
    assert [(d["location"], d["code"], d["name"]) for d in misspelt["details"]] == [("query.city", "3210", "扬州市")]
    cli = CliRunner().invoke(app, ["--db", world.store.url, "villages", "--city", "杨州"])
    assert str(cli.exception) == misspelt["message"]
    county = world.client.get("/collections/villages/items?county=321013").json()
    assert "是否指 321012 江都区" in county["message"] and county["details"][0]["location"] == "query.county"
    township = world.client.get("/exports/villages", params={"township": "大乔镇", "format": "csv"})
    assert township.status_code == 400 and "是否指 321012101 大桥镇？" in township.json()["message"]


def test_bbox_selects_villages_whose_envelope_it_touches(world: World) -> None:
    # the first village's east half and nothing of the second (1 km gap between them)
    box = row_village_box(0).bounds
    mid = (box[0] + box[2]) / 2
    url = f"/collections/villages/items?bbox={mid},{box[1]},{box[2] + 0.001},{box[3]}"
    assert _codes(world.client, url) == ["321012101201"]
    second = row_village_box(1).bounds
    url = f"/collections/villages/items?bbox={box[0]},{box[1]},{second[0]},{box[3]}"  # touches the second's edge
    assert _codes(world.client, url) == ["321012101201", "321012101202"]
    assert _codes(world.client, "/collections/villages/items?bbox=100,20,101,21") == []
    six = f"/collections/villages/items?bbox={mid},{box[1]},0,{box[2] + 0.001},{box[3]},100"
    assert _codes(world.client, six) == ["321012101201"]


def test_gcj02_output_and_bbox_shift_every_coordinate(world: World) -> None:
    plain = _features(world.client, "/collections/villages/items?name=甲村")[0]
    response = world.client.get("/collections/villages/items?name=甲村&crs=gcj02")
    assert response.headers["content-crs"] == "<gcj02>"
    shifted = response.json()["features"][0]
    lon, lat = np.array(plain["geometry"]["coordinates"][0]).T
    glon, glat = wgs84_to_gcj02(lon, lat)
    np.testing.assert_allclose(np.array(shifted["geometry"]["coordinates"][0]), np.column_stack([glon, glat]))
    assert shifted["properties"]["point_lon"] == pytest.approx(wgs84_to_gcj02(*SITE)[0])
    # a bbox drawn on a GCJ-02 web map around the shifted village finds it
    gbox = shapely.bounds(shapely.from_geojson(json.dumps(shifted["geometry"])))
    inner = ",".join(str(v) for v in (gbox[0] + 0.002, gbox[1] + 0.002, gbox[2] - 0.002, gbox[3] - 0.002))
    assert _codes(world.client, f"/collections/villages/items?bbox={inner}&bbox-crs=gcj02") == ["321012101201"]
    station = _features(world.client, "/collections/stations/items?limit=1&crs=gcj02")[0]
    assert station["properties"]["lon"] == pytest.approx(wgs84_to_gcj02(*SITE)[0])
    assert station["geometry"]["coordinates"][0] == pytest.approx(wgs84_to_gcj02(*SITE)[0])


def test_one_village_by_code_and_the_errors_of_missing_things(world: World) -> None:
    feature = world.client.get("/collections/villages/items/321012101201").json()
    assert feature["type"] == "Feature" and feature["id"] == "321012101201"
    assert feature["properties"]["name"] == "甲村村委会"
    assert {link["rel"] for link in feature["links"]} == {"self", "collection"}
    for url in ("/collections/villages/items/999999999999", "/collections/nope", "/collections/nope/items",
                "/nowhere", f"/runs/{world.run_id + 100}", "/collections/villages/items?run=999",
                "/collections/stations/items/99999", "/jobs/12345"):
        response = world.client.get(url)
        assert response.status_code == 404, url
        body = response.json()
        assert set(body) == {"code", "message", "details"} and body["code"] == "not_found", url
    # Chinese first (the console shows the message as it is), the English unchanged in brackets
    missing = world.run_id + 100
    for url, message in (
            (f"/runs/{missing}", f"分析运行 {missing} 不存在 (run {missing} does not exist)"),
            ("/collections/villages/items/999999999999",
             f"行政村 999999999999 不在分析运行 {world.run_id} 中 (village 999999999999 is not in run {world.run_id})"),
            ("/collections/nope", "没有要素集 'nope'；现有 villages、stations、measurements "
                                  "(no collection 'nope'; there are villages, stations, measurements)"),
            ("/jobs/12345", "任务 12345 不存在 (job 12345 does not exist)"),
            ("/nowhere", "没有这个资源 (no such resource)")):
        assert world.client.get(url).json()["message"] == message, url


def test_invalid_parameters_are_400_in_the_error_shape(world: World) -> None:
    for url, location in (("/collections/villages/items?limit=0", "query.limit"),
                          ("/collections/villages/items?limit=abc", "query.limit"),
                          ("/collections/villages/items?status=great", "query.status"),
                          ("/collections/villages/items?statsu=covered", "query.statsu"),
                          ("/collections/villages/items?bbox=1,2,3", "query.bbox"),
                          ("/collections/villages/items?bbox=a,b,c,d", "query.bbox"),
                          ("/collections/villages/items?bbox=0,50,1,40", "query.bbox"),
                          ("/collections/villages/items?city=12", "query.city"),
                          ("/collections/villages/items?city=火星市", "query.city"),
                          ("/collections/villages/items?crs=EPSG:3857", "query.crs"),
                          ("/collections/measurements/items?datetime=yesterday", "query.datetime"),
                          ("/summary?level=village", "query.level")):
        response = world.client.get(url)
        assert response.status_code == 400, url
        body = response.json()
        assert body["code"] == "invalid_parameter", url
        assert body["details"][0]["location"] == location, url
        assert "Traceback" not in response.text and "SELECT" not in response.text


def test_a_malformed_region_code_says_what_a_code_looks_like(world: World) -> None:
    # the console's search box sends digits as ``region``: a user who types 3 of them reads what a code is,
    # in Chinese first, not the regular expression it failed
    for url, location in (("/collections/villages/items?region=321", "query.region"),
                          ("/summary?region=3210012", "query.region")):
        response = world.client.get(url)
        assert response.status_code == 400, url
        body = response.json()
        expected = ("区划代码应为 2、4、6、9 或 12 位数字（省、地市、县区、乡镇、行政村） "
                    "(a division code has 2, 4, 6, 9 or 12 digits)")
        assert body["details"] == [{"location": location, "message": expected}], url
        assert body["message"].startswith(f"参数 {location} 无效：区划代码应为"), url
        assert "pattern" not in response.text


def test_a_division_code_of_the_wrong_length_is_answered_in_chinese_first(world: World) -> None:
    for url, location, expected in (
            ("/collections/villages/items?township=9999", "query.township",
             "乡镇代码应为 9 位数字 (a township code has 9 digits)"),
            ("/collections/villages/items?city=32101", "query.city",
             "地市代码应为 4 位数字 (a city code has 4 digits)"),
            ("/maps/city/杨州", "path.code",
             "地市或县区代码应为 4 或 6 位数字 (a city or county code has 4 or 6 digits)")):
        response = world.client.get(url)
        assert response.status_code == 400, url
        body = response.json()
        assert body["code"] == "invalid_parameter", url
        assert body["details"] == [{"location": location, "message": expected}], url


def test_a_bad_parameter_is_answered_in_chinese_first(world: World) -> None:
    # pydantic's English in brackets after the Chinese; the console shows this message alone
    for url, location, expected in (
            ("/collections/villages/items?limit=0", "query.limit",
             "应不小于 1 (Input should be greater than or equal to 1)"),
            ("/collections/villages/items?p_max=2", "query.p_max",  # a float's bound as the English says it
             "应不大于 1 (Input should be less than or equal to 1)"),
            ("/collections/villages/items?status=good", "query.status",
             "应为以下之一：'covered'、'weak'、'uncovered' (Input should be 'covered', 'weak' or 'uncovered')"),
            ("/collections/villages/items?stauts=weak", "query.stauts",
             "没有这个参数（拼写有误？） (Extra inputs are not permitted)"),
            ("/runs/1/diff", "query.against", "缺少此参数 (Field required)")):
        response = world.client.get(url)
        assert response.status_code == 400, url
        body = response.json()
        assert body["details"][0] == {"location": location, "message": expected}, url
        assert body["message"] == f"参数 {location} 无效：{expected} (invalid {location})", url


def test_station_and_measurement_filters(world: World) -> None:
    c = world.client
    body = c.get("/collections/stations/items?operator=CMCC&band=2.6G&status=active").json()
    assert body["numberMatched"] == 3
    assert {f["properties"]["cell_id"] for f in body["features"]} == {"S0-0", "S0-1", "S0-2"}
    assert c.get("/collections/stations/items?operator=CTCC").json()["numberMatched"] == 0
    first = body["features"][0]
    one = c.get(f"/collections/stations/items/{first['id']}").json()
    assert one["properties"] == first["properties"] and one["properties"]["activated_on"] == "2021-01-01"
    assert c.get("/collections/measurements/items?source=audit").json()["numberMatched"] == 2
    assert c.get("/collections/measurements/items?datetime=2026-05-01").json()["numberMatched"] == 5
    assert c.get("/collections/measurements/items?datetime=2026-05-15/..").json()["numberMatched"] == 2
    assert c.get("/collections/measurements/items?datetime=../2026-05-01T02:00:02Z").json()["numberMatched"] == 3
    assert c.get("/collections/measurements/items?region=3201").json()["numberMatched"] == 2
    assert c.get("/collections/measurements/items?operator=CTCC&rat=NR").json()["numberMatched"] == 1
    ids: list[int] = []
    url: str | None = "/collections/measurements/items?limit=2"
    while url:  # next links continue after the last id (keyset paging)
        body = c.get(url).json()
        ids += [f["id"] for f in body["features"]]
        url = next((link["href"] for link in body["links"] if link["rel"] == "next"), None)
        assert url is None or "after=" in url
    assert len(ids) == len(set(ids)) == 7 and ids == sorted(ids)


# -- summaries, runs, differences --------------------------------------------------------------


def test_summary_matches_summarize_over_the_stored_results(world: World) -> None:
    results = world.store.read_results(world.run_id)
    for level in ("province", "city", "county", "township"):
        body = world.client.get(f"/summary?level={level}").json()
        expected = summarize(results, level=level, target_rate=DEFAULT_RULES.target_rate)
        assert [r["code"] for r in body["regions"]] == expected["code"].tolist()
        assert [r["covered"] for r in body["regions"]] == expected["covered"].tolist()
        assert [r["gap_villages"] for r in body["regions"]] == expected["gap_villages"].tolist()
        assert body["totals"]["villages"] == len(results)
        assert body["totals"]["reach_rate"] == pytest.approx((results["verdict"] == "covered").mean())
    narrowed = world.client.get("/summary?level=county&region=3201&target=0.5").json()
    assert [r["code"] for r in narrowed["regions"]] == ["320115"] and narrowed["target_rate"] == 0.5
    assert narrowed["totals"]["villages"] == 4


def test_runs_and_the_difference_between_two_runs(world: World) -> None:
    from coverage.runs.analysis import run_analysis

    stricter = DEFAULT_RULES.__class__(**{**DEFAULT_RULES.to_dict(), "good_rsrp_dbm": -60.0, "version": "strict"})
    second = run_analysis(world.store, rules=stricter, params=PARAMS).run_id
    runs = world.client.get("/runs").json()["runs"]
    assert [r["id"] for r in runs][:2] == [second, world.run_id]
    record = world.client.get(f"/runs/{second}").json()
    assert record["status"] == "published" and record["rules"]["version"] == "strict"
    assert record["counts"]["villages"] == len(VILLAGES) and "raster_path" not in record
    assert world.client.get("/collections/villages/items?limit=1").json()["run_id"] == second
    diff = world.client.get(f"/runs/{second}/diff?against={world.run_id}&level=county").json()
    before = world.store.read_results(world.run_id).set_index("code")
    after = world.store.read_results(second).set_index("code")
    rank = {"uncovered": 0, "weak": 1, "covered": 2}
    worse = sorted(c for c in before.index if rank[after.loc[c, "verdict"]] < rank[before.loc[c, "verdict"]])
    assert worse, "the stricter rule set must flag something"
    assert sorted(v["code"] for v in diff["villages"] if v["change"] == "flagged") == worse
    assert diff["counts"]["flagged"] == len(worse) and diff["counts"]["cleared"] == 0
    jiangdu = next(r for r in diff["regions"] if r["code"] == "321012")
    assert jiangdu["reach_rate_before"] == pytest.approx((before.loc[before.index.str.startswith("321012"),
                                                                     "verdict"] == "covered").mean())
    assert jiangdu["change"] <= 0
    old = world.client.get(f"/collections/villages/items?run={world.run_id}&limit=1").json()
    assert old["run_id"] == world.run_id


# -- exports -----------------------------------------------------------------------------------


def test_exports_in_every_format_hold_the_filtered_villages(world: World, tmp_path: Path) -> None:
    expected = [c for c in CODES if c.startswith("3210")]
    csv = world.client.get("/exports/villages?format=csv&city=3210")
    assert csv.status_code == 200 and csv.content.startswith(b"\xef\xbb\xbf")
    assert "attachment" in csv.headers["content-disposition"]
    table = pd.read_csv(io.BytesIO(csv.content), encoding="utf-8-sig", dtype={"代码": str})
    assert table["代码"].tolist() == expected and "运行" in table  # Chinese headers by default
    assert set(table["无站址"]) <= {"是", "否"} and table["良好覆盖面积占比"].str.endswith("%").all()
    english = pd.read_csv(io.BytesIO(world.client.get("/exports/villages?format=csv&city=3210&lang=en").content),
                          encoding="utf-8-sig", dtype={"code": str})
    assert english["code"].tolist() == expected and "run_id" in english
    assert set(english["verdict"]) <= {"covered", "weak", "uncovered"}
    xlsx = world.client.get("/exports/villages?format=xlsx&city=3210")
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None and sheet.max_row == len(expected) + 1
    for fmt, suffix in (("geojson", "geojson"), ("gpkg", "gpkg"), ("kml", "kml")):
        response = world.client.get(f"/exports/villages?format={fmt}&city=3210")
        assert response.status_code == 200, response.text
        path = tmp_path / f"villages.{suffix}"
        path.write_bytes(response.content)
        frame = pyogrio.read_dataframe(path)
        assert len(frame) == len(expected), fmt
    summary = world.client.get("/exports/summary?level=county&format=csv")
    assert pd.read_csv(io.BytesIO(summary.content), encoding="utf-8-sig", dtype={"代码": str})["代码"].tolist() == [
        "320115", "321012"]


def test_reads_can_require_a_key(world: World, tmp_path: Path) -> None:
    from tests.utils.api import key

    with TestClient(app_for(world.store, tmp_path, reads_need_key=True)) as client:
        response = client.get("/collections/villages/items")
        assert response.status_code == 401 and response.json()["code"] == "unauthorized"
        assert response.json()["message"] == ("读取数据需要 API 密钥（X-API-Key 请求头或 Authorization: Bearer） "
                                              "(reads need an API key (X-API-Key header or Authorization: Bearer))")
        assert response.headers["www-authenticate"].startswith("Bearer")
        viewer = key(world.store, "viewer")
        assert client.get("/collections/villages/items", headers=viewer).status_code == 200
        bearer = {"Authorization": "Bearer " + viewer["X-API-Key"]}
        assert client.get("/summary", headers=bearer).status_code == 200
        assert client.get("/healthz").status_code == 200  # probes stay open


# -- maps ----------------------------------------------------------------------------------------


def test_city_map_page_uses_local_assets_only(world: World) -> None:
    city = CODES[0][:4]
    page = world.client.get(f"/maps/city/{city}?basemap=none")
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert CODES[0] in html  # the villages are drawn
    assert "/maps/static/leaflet/" in html and "cdn" not in html.lower()
    asset = world.client.get("/maps/static/leaflet/dist/leaflet.js")
    assert asset.status_code == 200 and len(asset.content) > 10_000
    missing = world.client.get("/maps/city/9999?basemap=none")
    assert missing.status_code == 404 and set(missing.json()) == {"code", "message", "details"}
    # the served maps default to our own boundaries, like the CLI's and the demo's files; tiles on request
    assert "tile.openstreetmap.org" not in world.client.get(f"/maps/city/{city}").text
    assert "tile.openstreetmap.org" in world.client.get(f"/maps/city/{city}?basemap=osm").text


def test_a_known_region_without_villages_is_an_empty_answer(tmp_path: Path) -> None:
    """Regions the division reference knows but no village lies in (六合区, 无锡市) filter to nothing;
    a region of stored villages that the run does not have filters to nothing too."""
    import geopandas as gpd

    from coverage.store.storage import IngestRecord
    from tests.worlds.row import row_villages

    store = Store(f"sqlite:///{tmp_path / 'api.db'}")
    store.create_schema()
    build_row_world(store)
    rows = [("32", "江苏省", "province", None), ("3210", "扬州市", "city", "32"),
            ("321012", "江都区", "county", "3210"), ("3201", "南京市", "city", "32"),
            ("320115", "江宁区", "county", "3201"),
            ("320116", "六合区", "county", "3201"), ("3202", "无锡市", "city", "32")]
    store.write_divisions(gpd.GeoDataFrame({"code": [r[0] for r in rows], "name": [r[1] for r in rows],
                                            "level": [r[2] for r in rows], "parent_code": [r[3] for r in rows]},
                                           geometry=[None] * len(rows), crs="EPSG:4326"))
    # a village stored after the run: its township is known, with no village in the run
    late = row_villages().iloc[[0]].assign(code="321012102201", township_code="321012102", township_name="小纪镇")
    store.write("villages", late, record=IngestRecord(kind="villages", file_name="late.csv", sha256="1" * 64))
    with TestClient(app_for(store, tmp_path)) as client:
        for url in ("/collections/villages/items?county=320116", "/collections/villages/items?county=六合",
                    "/collections/villages/items?city=无锡市", "/collections/villages/items?city=南京&county=六合区",
                    "/collections/villages/items?region=3202", "/collections/villages/items?township=小纪",
                    "/collections/stations/items?region=320116"):
            answer = client.get(url)
            assert answer.status_code == 200, (url, answer.text)
            assert answer.json()["features"] == [], url
        exported = client.get("/exports/villages?format=csv&county=六合区")
        assert exported.status_code == 200 and len(pd.read_csv(io.BytesIO(exported.content))) == 0
        summary = client.get("/summary?level=county&region=3202")
        assert summary.status_code == 200 and summary.json()["regions"] == []
        assert client.get("/summary/history?level=county&code=320116").json()["series"] == []
        # a county of another city is still no county of that city
        inside = client.get("/collections/villages/items?city=扬州&county=六合区")
        assert inside.status_code == 400 and "限 3210" in inside.json()["message"]
    store.dispose()
