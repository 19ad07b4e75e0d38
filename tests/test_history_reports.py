"""KPI history and reports over four runs of the small world (tests/utils/api.py), on SQLite and PostGIS.

The runs, and the 通达率 each must give (8 village committees: 4 in 扬州市 江都区 321012, 4 in 南京市
江宁区 320115):

1. analysis with one site at the centre of 甲村 (321012101201): only 甲村 covered -> 1/8 = 12.5 %
   (江都 1/4, 江宁 0/4). Snapshotted.
   (a failed run, never published: must not appear anywhere)
2. analysis after a second site is added at the centre of 王庄 (320115100201): 甲村 and 王庄 covered
   -> 2/8 = 25 % (江都 1/4, 江宁 1/4). Not snapshotted: computed from its stored results.
3. hand-published verdicts (VERDICTS_3): 6/8 = 75 % (江都 3/4, 江宁 3/4).
4. hand-published: as 3 but 丙村 321012101203 covered -> weak (flagged) and 赵庄 320115100204
   uncovered/no site -> covered (cleared): still 6/8 = 75 %.
"""

from __future__ import annotations

import html
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import openpyxl
import pandas as pd
import pytest
import shapely
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from coverage.errors import ConfigError, NotFoundError
from coverage.model.rules import DEFAULT_RULES
from coverage.reports.workbook import SHEETS, write_report_xlsx
from coverage.runs.analysis import run_analysis
from coverage.runs.history import kpi_history, record_snapshot
from coverage.store.results_query import compare_runs, result_rows
from coverage.store.storage import IngestRecord, Store
from maps.report import CHART_HEIGHT, chart_y, render_report_html, write_report_html
from tests.utils.api import app_for, key
from tests.utils.db import POSTGRES_URL, require_postgis, reset_postgres
from tests.worlds.row import (
    KM_LAT,
    KM_LON,
    PARAMS,
    SITE,
    SOUTH,
    VILLAGES,
    WEST,
    build_row_world,
    row_stations,
    row_village_box,
)

CODES = [v[0] for v in VILLAGES]  # 321012101201..204 (江都), then 320115100201..204 (江宁)
JIA, YI, BING, DING = CODES[:4]
WANG, LI, ZHANG, ZHAO = CODES[4:]

VERDICTS_3 = {JIA: ("covered", False), YI: ("covered", False), BING: ("covered", False), DING: ("weak", False),
              WANG: ("covered", False), LI: ("covered", False), ZHANG: ("covered", False),
              ZHAO: ("uncovered", True)}
VERDICTS_4 = {**VERDICTS_3, BING: ("weak", False), ZHAO: ("covered", False)}

PROVINCE_RATES = [1 / 8, 2 / 8, 6 / 8, 6 / 8]
JIANGDU_RATES = [1 / 4, 1 / 4, 3 / 4, 2 / 4]
JIANGNING_RATES = [0 / 4, 1 / 4, 3 / 4, 4 / 4]


@dataclass
class World:
    store: Store
    runs: list[int]
    client: TestClient
    tmp: Path


def publish(store: Store, verdicts: dict[str, tuple[str, bool]]) -> int:
    """Publish a run with the given verdict and no-site flag per village (other fields neutral)."""
    run_id = store.start_run(rules=DEFAULT_RULES.to_dict(), parameters={}, inputs={}, code_version="test")
    codes = list(verdicts)
    n = len(codes)
    rows = pd.DataFrame({
        "code": codes, "verdict": [verdicts[c][0] for c in codes], "predicted_verdict": [verdicts[c][0] for c in codes],
        "measured_verdict": [None] * n, "verdict_source": ["predicted"] * n, "no_site": [verdicts[c][1] for c in codes],
        "reasons": ["test"] * n, "sites_inside": [0] * n, "nearest_site_m": [1000.0] * n,
        "nearest_site_id": ["S0"] * n, "good_share": [0.5] * n, "weak_share": [0.25] * n, "none_share": [0.25] * n,
        "committee_rsrp_dbm": [-100.0] * n, "committee_sinr_db": [3.0] * n, "committee_class": ["good"] * n,
        "n_measurements": [0] * n, "measured_rsrp_median_dbm": [None] * n, "measured_good_share": [None] * n,
        "measured_reached_share": [None] * n,
    })
    store.publish_run(run_id, rows, timings={}, counts={}, raster_path=None)
    return run_id


def divisions() -> gpd.GeoDataFrame:
    """Province, the two cities and counties as boxes around their villages (for the province map)."""
    west_box = shapely.box(WEST - 0.01, SOUTH - 0.01, WEST + 7 * KM_LON + 0.001, SOUTH + KM_LAT + 0.01)
    east_box = shapely.box(WEST + 7 * KM_LON + 0.001, SOUTH - 0.01, WEST + 16 * KM_LON, SOUTH + KM_LAT + 0.01)
    rows = [("32", "江苏省", "province", None, west_box.union(east_box)),
            ("3210", "扬州市", "city", "32", west_box), ("321012", "江都区", "county", "3210", west_box),
            ("3201", "南京市", "city", "32", east_box), ("320115", "江宁区", "county", "3201", east_box)]
    return gpd.GeoDataFrame({"code": [r[0] for r in rows], "name": [r[1] for r in rows],
                             "level": [r[2] for r in rows], "parent_code": [r[3] for r in rows]},
                            geometry=[r[4] for r in rows], crs="EPSG:4326")


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("history")
    if request.param == "sqlite":
        store = Store(f"sqlite:///{tmp / 'history.db'}")
    else:
        require_postgis()
        reset_postgres()
        store = Store(POSTGRES_URL)
    store.create_schema()
    store.write_divisions(divisions())
    first = build_row_world(store)
    assert first is not None
    assert record_snapshot(store, first) == 1 + 2 + 2  # province, two cities, two counties
    failed = store.start_run(rules=DEFAULT_RULES.to_dict(), parameters={}, inputs={}, code_version="test")
    store.fail_run(failed, "test: never published")
    second_site = (WEST + 8.5 * KM_LON, SOUTH + 0.5 * KM_LAT)  # centre of 王庄, the fifth village
    assert shapely.Point(second_site).within(row_village_box(4))
    store.write("stations", row_stations([SITE, second_site]),
                record=IngestRecord(kind="stations", file_name="stations2.test", sha256="1" * 64), replace=True)
    second = run_analysis(store, rules=DEFAULT_RULES, params=PARAMS).run_id
    runs = [first, second, publish(store, VERDICTS_3), publish(store, VERDICTS_4)]
    with TestClient(app_for(store, tmp)) as client:
        yield World(store, runs, client, tmp)
    store.dispose()


def _covered(store: Store, run_id: int) -> list[str]:
    rows = result_rows(store, run_id)
    return sorted(rows.loc[rows["verdict"] == "covered", "code"])


# -- history -------------------------------------------------------------------------------------


def test_history_gives_the_hand_computed_rates_of_every_published_run(world: World) -> None:
    first, second, *_ = world.runs
    assert _covered(world.store, first) == [JIA]  # the premise of the hand-computed rates
    assert _covered(world.store, second) == sorted([JIA, WANG])
    province = kpi_history(world.store)
    assert province["run_id"].tolist() == world.runs  # the failed run is not there
    assert province["reach_rate"].tolist() == pytest.approx(PROVINCE_RATES)
    assert province["covered"].tolist() == [1, 2, 6, 6] and set(province["villages"]) == {8}
    assert province["source"].tolist() == ["snapshot", "computed", "computed", "computed"]
    assert province["target_rate"].tolist() == [0.9] * 4 and (province["code"] == "32").all()
    assert province["finished_at"].is_monotonic_increasing
    counties = kpi_history(world.store, level="county")
    jiangdu = counties[counties["code"] == "321012"]
    assert jiangdu["reach_rate"].tolist() == pytest.approx(JIANGDU_RATES)
    assert counties.loc[counties["code"] == "320115", "reach_rate"].tolist() == pytest.approx(JIANGNING_RATES)
    assert counties.loc[counties["run_id"] == world.runs[2], "no_site"].tolist() == [1, 0]  # 江宁 320115 first
    only = kpi_history(world.store, level="county", code="3201")
    assert only["code"].unique().tolist() == ["320115"]
    since = kpi_history(world.store, since=province["finished_at"].iloc[2].to_pydatetime())
    assert since["run_id"].tolist() == world.runs[2:]


def test_a_region_limit_counts_only_its_villages(world: World) -> None:
    limited = kpi_history(world.store, level="province", regions=("3201",))
    assert limited["code"].unique().tolist() == ["32"] and set(limited["villages"]) == {4}
    assert limited["reach_rate"].tolist() == pytest.approx(JIANGNING_RATES)
    cities = kpi_history(world.store, level="city", regions=("3201",))
    assert cities["code"].unique().tolist() == ["3201"]
    assert cities["reach_rate"].tolist() == pytest.approx(JIANGNING_RATES)


def test_snapshots_are_idempotent_and_agree_with_the_computed_rows(world: World) -> None:
    first, second, *_ = world.runs
    assert record_snapshot(world.store, first) == 0
    before = kpi_history(world.store, level="county")
    written = record_snapshot(world.store, second)
    try:
        assert written == 5 and record_snapshot(world.store, second) == 0
        after = kpi_history(world.store, level="county")
        assert after.loc[after["run_id"] == second, "source"].tolist() == ["snapshot", "snapshot"]
        columns = ["run_id", "code", "name", "villages", "covered", "weak", "uncovered", "no_site", "reach_rate"]
        pd.testing.assert_frame_equal(before[columns], after[columns])
    finally:
        from coverage.store.tables import kpi_snapshots

        with world.store.engine.begin() as conn:  # leave the module's world as the other tests expect it
            conn.execute(kpi_snapshots.delete().where(kpi_snapshots.c.run_id == second))
    with pytest.raises(NotFoundError):
        record_snapshot(world.store, world.runs[0] + 1)  # the failed run
    with pytest.raises(ConfigError, match="township"):
        kpi_history(world.store, level="township")


# -- XLSX ----------------------------------------------------------------------------------------


def _rows(sheet: object) -> list[tuple]:
    return [tuple(r) for r in sheet.iter_rows(min_row=2, values_only=True)]  # type: ignore[attr-defined]


def test_province_workbook_holds_kpis_lists_changes_and_history(world: World, tmp_path: Path) -> None:
    path = write_report_xlsx(world.store, tmp_path / "province.xlsx")
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == [SHEETS[k] for k in ("overview", "city", "county", "uncovered", "weak", "changes",
                                                    "history")]
    for sheet in book.worksheets:
        assert sheet.freeze_panes == "A2"
    overview = dict(_rows(book[SHEETS["overview"]]))
    assert overview["分析运行"] == world.runs[3] and overview["上期运行"] == world.runs[2]
    assert overview["行政村数"] == 8 and overview["5G通达"] == 6 and overview["通达率"] == pytest.approx(0.75)
    assert overview["距目标差(村)"] == 2  # ceil(0.9 * 8) = 8 needed, 6 covered
    assert overview["新增问题(村)"] == 1 and overview["已消除(村)"] == 1
    county = book[SHEETS["county"]]
    assert [c.value for c in county[1]][:3] == ["代码", "名称", "行政村数"]
    rows = {r[0]: r for r in _rows(county)}
    assert set(rows) == {"320115", "321012"}
    assert rows["321012"][7] == pytest.approx(0.5) and rows["321012"][10] == pytest.approx(0.75)
    assert rows["320115"][7] == pytest.approx(1.0) and rows["320115"][11] == pytest.approx(0.25)
    assert county.cell(2, 8).number_format == "0.0%" and county.cell(2, 1).number_format == "@"
    assert [r[0] for r in _rows(book[SHEETS["city"]])] == ["3201", "3210"]
    assert [r[0] for r in _rows(book[SHEETS["uncovered"]])] == []
    assert sorted(r[0] for r in _rows(book[SHEETS["weak"]])) == sorted([BING, DING])
    assert {r[5] for r in _rows(book[SHEETS["weak"]])} == {"弱覆盖"}
    changes = _rows(book[SHEETS["changes"]])
    villages, _, _ = compare_runs(result_rows(world.store, world.runs[2]), result_rows(world.store, world.runs[3]))
    assert sorted((r[1], r[0]) for r in changes) == sorted(
        (c, {"flagged": "新增问题", "cleared": "已消除"}[k]) for c, k in zip(villages["code"], villages["change"],
                                                                       strict=True))
    assert {(r[1], r[0], r[4], r[5]) for r in changes} == {(BING, "新增问题", "5G通达", "弱覆盖"),
                                                           (ZHAO, "已消除", "无覆盖", "5G通达")}
    history = _rows(book[SHEETS["history"]])
    assert [r[0] for r in history] == world.runs
    assert [r[7] for r in history] == pytest.approx(PROVINCE_RATES)


def test_city_workbook_of_an_earlier_run_compares_with_the_run_before_it(world: World, tmp_path: Path) -> None:
    path = write_report_xlsx(world.store, tmp_path / "nanjing.xlsx", region="3201", run_id=world.runs[2])
    book = openpyxl.load_workbook(path)
    assert SHEETS["city"] not in book.sheetnames
    overview = dict(_rows(book[SHEETS["overview"]]))
    assert overview["区域代码"] == "3201" and overview["上期运行"] == world.runs[1]
    assert overview["通达率"] == pytest.approx(0.75) and overview["上期通达率"] == pytest.approx(0.25)
    assert [r[0] for r in _rows(book[SHEETS["uncovered"]])] == [ZHAO]
    assert [r[0] for r in _rows(book[SHEETS["history"]])] == world.runs[:3]
    assert [r[7] for r in _rows(book[SHEETS["history"]])] == pytest.approx(JIANGNING_RATES[:3])
    with pytest.raises(NotFoundError, match="3299"):
        write_report_xlsx(world.store, tmp_path / "x.xlsx", region="3299")
    with pytest.raises(ConfigError, match="report region"):
        write_report_xlsx(world.store, tmp_path / "x.xlsx", region="nanjing")
    assert not (tmp_path / "x.xlsx").exists()


# -- HTML ----------------------------------------------------------------------------------------

_REMOTE = re.compile(r"""<(?:script|link)\b[^>]*\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)


def _srcdoc(page: str) -> str:
    match = re.search(r'<iframe class="map"[^>]*srcdoc="([^"]*)"', page)
    assert match, "the report embeds the map"
    return html.unescape(match.group(1))


def test_html_report_has_the_chart_tables_and_an_offline_map(world: World, tmp_path: Path) -> None:
    path = write_report_html(world.store, tmp_path / "nanjing.html", region="3201")
    page = path.read_text(encoding="utf-8")
    points = re.findall(r'<circle class="point" data-run="(\d+)" data-rate="([\d.]+)" cx="[\d.]+" cy="([\d.]+)"',
                        page)
    assert [int(p[0]) for p in points] == world.runs
    assert [float(p[1]) for p in points] == pytest.approx(JIANGNING_RATES)
    assert [float(p[2]) for p in points] == pytest.approx([chart_y(r) for r in JIANGNING_RATES], abs=0.06)
    target = re.search(r'<line class="target" data-rate="([\d.]+)" x1="[\d.]+" y1="([\d.]+)"', page)
    assert target and float(target.group(1)) == 0.9 and float(target.group(2)) == pytest.approx(chart_y(0.9), abs=0.06)
    assert 0 < chart_y(0.9) < chart_y(0.0) < CHART_HEIGHT  # higher rates are drawn higher
    assert re.search(r'<table class="changes" data-kind="cleared">.*?' + ZHAO, page, re.DOTALL)
    assert 'data-kind="flagged"' not in page  # 丙村 is in 扬州, not in this report
    assert '<tr data-code="320115">' in page
    inner = _srcdoc(page)
    assert WANG in inner and "L.map" in inner  # the village map, Leaflet inlined
    for text in (page, inner):
        assert not _REMOTE.search(text)


def test_province_html_draws_the_province_map_from_the_divisions(world: World) -> None:
    page = render_report_html(world.store)
    assert len(re.findall(r'<circle class="point"', page)) == 4
    inner = _srcdoc(page)
    assert "南京市" in inner and "扬州市" in inner and not _REMOTE.search(inner)
    assert re.search(r'<table class="changes" data-kind="flagged">.*?' + BING, page, re.DOTALL)


# -- API and CLI ---------------------------------------------------------------------------------


def test_history_route_returns_the_same_numbers(world: World) -> None:
    body = world.client.get("/summary/history?level=county").json()
    expected = kpi_history(world.store, level="county")
    assert [(p["run_id"], p["code"]) for p in body["series"]] == list(zip(expected["run_id"], expected["code"],
                                                                          strict=True))
    assert [p["reach_rate"] for p in body["series"]] == pytest.approx(expected["reach_rate"].tolist())
    assert body["series"][0]["finished_at"].endswith("Z") or "+00:00" in body["series"][0]["finished_at"]
    one = world.client.get("/summary/history?level=city&code=3210").json()
    assert [p["reach_rate"] for p in one["series"]] == pytest.approx(JIANGDU_RATES)
    assert world.client.get("/summary/history?level=township").status_code in (400, 422)


def test_the_history_route_answers_anew_once_a_snapshot_or_a_run_is_stored(world: World) -> None:
    """The route caches its answer; a snapshot stored (or deleted) changes what it says at once."""
    second = world.runs[1]

    def sources() -> list[str]:
        series = world.client.get("/summary/history?level=county").json()["series"]
        return [p["source"] for p in series if p["run_id"] == second]

    assert sources() == ["computed", "computed"] and sources() == ["computed", "computed"]
    try:
        assert record_snapshot(world.store, second) == 5
        assert sources() == ["snapshot", "snapshot"]
    finally:
        from coverage.store.tables import kpi_snapshots

        with world.store.engine.begin() as conn:  # leave the module's world as the other tests expect it
            conn.execute(kpi_snapshots.delete().where(kpi_snapshots.c.run_id == second))
    assert sources() == ["computed", "computed"]


def test_region_limited_key_sees_only_its_region(world: World) -> None:
    nanjing = key(world.store, "viewer", region="3201")
    body = world.client.get("/summary/history", headers=nanjing).json()
    assert body["region"] == "3201" and [p["villages"] for p in body["series"]] == [4] * 4
    assert [p["reach_rate"] for p in body["series"]] == pytest.approx(JIANGNING_RATES)
    cities = world.client.get("/summary/history?level=city", headers=nanjing).json()["series"]
    assert {p["code"] for p in cities} == {"3201"}
    assert world.client.get("/reports/province.xlsx", headers=nanjing).status_code == 403
    assert world.client.get("/reports/3210.html", headers=nanjing).status_code == 403
    allowed = world.client.get("/reports/3201.xlsx", headers=nanjing)
    assert allowed.status_code == 200, allowed.text
    book = openpyxl.load_workbook(io.BytesIO(allowed.content))
    assert [r[0] for r in _rows(book[SHEETS["county"]])] == ["320115"]


def test_report_routes_serve_the_workbook_and_the_page(world: World) -> None:
    xlsx = world.client.get("/reports/province.xlsx")
    assert xlsx.status_code == 200 and "attachment" in xlsx.headers["content-disposition"]
    book = openpyxl.load_workbook(io.BytesIO(xlsx.content))
    assert [r[7] for r in _rows(book[SHEETS["history"]])] == pytest.approx(PROVINCE_RATES)
    page = world.client.get(f"/reports/3210.html?run={world.runs[1]}")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert len(re.findall(r'<circle class="point"', page.text)) == 2  # runs up to the one asked for
    missing = world.client.get("/reports/3299.xlsx")
    assert missing.status_code == 404 and set(missing.json()) == {"code", "message", "details"}
    assert world.client.get("/reports/nanjing.html").status_code in (400, 422)


def test_cli_prints_history_and_writes_reports(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from api.cli import app, console

    monkeypatch.setattr(console, "width", 160)  # the console is made at import: COLUMNS alone comes too late
    runner = CliRunner()
    db = ["--db", world.store.url]
    result = runner.invoke(app, [*db, "summary", "--history"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    # a row per run: run, finished (date and time), counts, then 通达率; columns two cells apart at least
    lines = result.output.splitlines()
    assert [re.split(r"\s{2,}", line.strip())[7] for line in lines if re.match(r"^\d+\s", line)] == [
        "12.5%", "25.0%", "75.0%", "75.0%"]
    header = next(i for i, line in enumerate(lines) if line.startswith("运行"))
    assert re.split(r"\s{2,}", lines[header].strip())[:3] == ["运行", "完成时间", "行政村数"]
    assert re.split(r"\s{2,}", lines[header + 1].strip())[:3] == ["run", "finished", "villages"]
    counties = runner.invoke(app, [*db, "summary", "--history", "--level", "county"], env={"COLUMNS": "160"})
    assert counties.exit_code == 0 and re.search(r"320115\s+江宁区\s.*100.0%", counties.output)  # a row per county
    for name in ("r.xlsx", "r.html"):
        written = runner.invoke(app, [*db, "report", "--region", "3210", "-o", str(tmp_path / name)])
        assert written.exit_code == 0, written.output
    assert openpyxl.load_workbook(tmp_path / "r.xlsx").sheetnames[0] == SHEETS["overview"]
    assert "<svg" in (tmp_path / "r.html").read_text(encoding="utf-8")
    bad = runner.invoke(app, [*db, "report", "-o", str(tmp_path / "r.txt")])
    assert bad.exit_code != 0 and "xlsx" in bad.output
