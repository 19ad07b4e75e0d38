"""Villages as users have them: committee points from a separate file, joined by code or by name,
and urban units classified by their names when the codes cannot say."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.cli import app as cli_app
from coverage.crs import wgs84_to_gcj02
from coverage.errors import ValidationError
from coverage.ingest import read_input
from coverage.ingest.committees import match_committees, normalize_village_name, read_committees
from coverage.ingest.messages import english
from coverage.schema import is_village_committee, name_says_urban
from coverage.store.storage import Store
from tests.utils.api import app_for, key
from tests.utils.bad_inputs import VILLAGE_POLYGONS, write_csv
from tests.worlds.row import KM_LAT, KM_LON, SOUTH, WEST, build_row_world


@pytest.mark.parametrize(("name", "prefixes", "core"), [
    ("甲村村委会", (), "甲"), ("甲村", (), "甲"), ("甲村村民委员会", (), "甲"), ("甲村(新)", (), "甲"),
    ("甲村（旧）村委会", (), "甲"), ("江都区大桥镇甲村", ("江都区", "大桥镇"), "甲"), ("大桥甲村", ("大桥镇",), "甲"),
    ("梅园新村社区居委会", (), "梅园新"), ("王 庄", (), "王庄"),
])
def test_names_are_normalised(name: str, prefixes: tuple[str, ...], core: str) -> None:
    assert normalize_village_name(name, prefixes=prefixes) == core


def test_urban_names_are_urban_but_rural_words_keep_a_committee() -> None:
    assert name_says_urban("东关街道办事处") and name_says_urban("梅园社区") and name_says_urban("新华居委会")
    assert not name_says_urban("西街村居民委员会") and not name_says_urban("巴润宝拉格嘎查社区")
    assert not name_says_urban("甲村村委会")
    assert is_village_committee("321012101201", "甲村村委会")
    assert not is_village_committee("321012101201", "东关街道办事处")
    assert not is_village_committee("321012101101", "甲村村委会")  # NBS 1xx: a residents' committee


def test_land_survey_codes_with_urban_names_are_counted_not_committees(tmp_path: Path) -> None:
    header = ["村代码", "村名称", "geometry"]
    rows = [["321012101201", "甲村", VILLAGE_POLYGONS[0].wkt],
            ["321012101202", "东关街道办事处", VILLAGE_POLYGONS[1].wkt],
            ["321012101203", "梅园社区", VILLAGE_POLYGONS[2].wkt]]
    result = read_input("villages", write_csv(tmp_path / "土地调查.csv", header, rows))
    assert any(english(w.message).startswith("2 unit(s) coded as village committees (NBS 200-399) are named as urban")
               for w in result.warnings)
    store = Store(f"sqlite:///{tmp_path / 'v.db'}")
    store.create_schema()
    from coverage.store.storage import IngestRecord

    store.write("villages", result.frame, record=IngestRecord(kind="villages", file_name="x", sha256="0",
                                                              crs="EPSG:4326", encoding=None, warnings=0))
    assert store.counts()["village_committees"] == 1
    store.dispose()


def _points_file(tmp_path: Path, rows: list[list[str]]) -> Path:
    return write_csv(tmp_path / "村委会点位.csv", ["adcode", "village", "area_code", "乡镇", "经度", "纬度"], rows)


def _gcj(lon: float, lat: float) -> tuple[str, str]:
    glon, glat = wgs84_to_gcj02(lon, lat)
    return f"{float(glon):.7f}", f"{float(glat):.7f}"


def test_committee_points_join_by_code_then_by_name(tmp_path: Path) -> None:
    stored = pd.DataFrame({"code": ["321012101201", "321012101202", "321012101203", "320115100201"],
                           "name": ["甲村村委会", "乙村村委会", "甲村村委会", "王庄村委会"],
                           "township_name": ["大桥镇", "大桥镇", "小桥镇", "秣陵街道"],
                           "county_name": ["江都区", "江都区", "江都区", "江宁区"]})
    centre = (WEST + 0.5 * KM_LON, SOUTH + 0.5 * KM_LAT)
    rows = [["321012101202", "乙村", "0514", "", *_gcj(*centre)],          # a stored code
            ["320115999201", "王庄村(新)", "025", "", *_gcj(*centre)],      # NBS code unknown here: by name
            ["320115999202", "甲村", "0514", "", *_gcj(*centre)],           # two 甲村 and no township: ambiguous
            ["320115999203", "甲村", "0514", "大桥", *_gcj(*centre)],       # the township says which
            ["320115999204", "戊村", "0514", "", *_gcj(*centre)]]           # none
    points, warnings = read_committees(_points_file(tmp_path, rows), crs="gcj02")
    assert points["lon"].iloc[0] == pytest.approx(centre[0], abs=1e-7)
    assert any(w.field == "area_code" and "not a division code" in w.message for w in warnings)
    report = match_committees(points, stored, file_name="村委会点位.csv", warnings=warnings)
    got = [(m.status, m.village_code, m.candidates) for m in report.matches]
    assert got == [("code", "321012101202", ()), ("name", "320115100201", ()),
                   ("ambiguous", None, ("321012101201", "321012101203")), ("name", "321012101201", ()),
                   ("unmatched", None, ())]
    assert report.summary() == "1 matched by code, 2 by name, 1 ambiguous, 1 unmatched"
    assert report.summary_zh() == "按代码匹配 1，按名称匹配 2，不唯一 1，未匹配 1"


def test_committee_file_problems_name_row_and_field(tmp_path: Path) -> None:
    rows = [["321012101201", "甲村", "0514", "", "119.405", "32.405"], ["321012101202", "乙村", "", "", "abc", "32.4"],
            ["321012101203", "丙村", "", "", "2.405", "48.4"]]
    with pytest.raises(ValidationError) as err:
        read_committees(_points_file(tmp_path, rows))
    problems = [(p.row, p.field) for p in err.value.problems]
    assert (2, "经度") in problems and (3, "lon/lat") in problems


def test_cli_ingest_committees_stores_the_matched_points_only(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'v.db'}"
    store = Store(db)
    store.create_schema()
    build_row_world(store, analyze=False)
    second = (WEST + 2.5 * KM_LON, SOUTH + 0.5 * KM_LAT)  # the middle of the second village (乙村)
    rows = [["320000000000", "江都区大桥镇乙村(新)", "0514", "大桥镇", *_gcj(*second)],
            ["320000000001", "戊村", "0514", "", *_gcj(*second)],
            ["320000000002", "丁庄", "0514", "", *_gcj(*second)]]  # 丁庄 is the fourth village, 4 km east
    path = _points_file(tmp_path, rows)
    runner = CliRunner()
    dry = runner.invoke(cli_app, ["--db", db, "ingest", "committees", str(path), "--crs", "gcj02", "--dry-run"],
                        catch_exceptions=False)
    assert dry.exit_code == 0 and "1 by name" in dry.output and "nothing stored" in dry.output
    assert ("试运行：按代码匹配 0，按名称匹配 1，不唯一 0，未匹配 1，名称相符但相距 1 公里以上 1；未存储任何数据"
            in dry.output)
    before = store.read("villages").set_index("code")
    assert pd.isna(before.at["321012101202", "committee_lon"])
    out = runner.invoke(cli_app, ["--db", db, "ingest", "committees", str(path), "--crs", "gcj02"],
                        catch_exceptions=False)
    assert out.exit_code == 0, out.output
    assert "committee points of 1 villages stored" in out.output and "1 unmatched" in out.output
    assert "1 named like a village more than 1 km away" in out.output
    after = store.read("villages").set_index("code")
    assert after.at["321012101202", "committee_lon"] == pytest.approx(second[0], abs=1e-7)
    assert after.drop(index="321012101202")["committee_lon"].equals(before.drop(index="321012101202")["committee_lon"])
    store.dispose()


def test_api_joins_committee_points_and_reports_the_rest(store: Store, tmp_path: Path) -> None:
    build_row_world(store, analyze=False)
    second = (WEST + 2.5 * KM_LON, SOUTH + 0.5 * KM_LAT)
    path = _points_file(tmp_path, [["320000000000", "乙村村民委员会", "0514", "", *_gcj(*second)],
                                   ["320000000001", "戊村", "0514", "", *_gcj(*second)]])
    files = {"file": (path.name, path.read_bytes())}
    with TestClient(app_for(store, tmp_path)) as client:
        dry = client.post("/ingest/committees", files=files, data={"crs": "gcj02", "dry_run": "true"},
                          headers=key(store, "admin"))
        assert dry.status_code == 200, dry.text
        assert (dry.json()["name"], dry.json()["unmatched"], dry.json()["updated"]) == (1, 1, 0)
        assert pd.isna(store.read("villages").set_index("code").at["321012101202", "committee_lon"])
        limited = client.post("/ingest/committees", files=files, data={"crs": "gcj02"},
                              headers=key(store, "admin", region="3210"))
        assert limited.status_code == 403
        done = client.post("/ingest/committees", files=files, data={"crs": "gcj02"}, headers=key(store, "admin"))
        assert done.status_code == 200 and done.json()["updated"] == 1
        assert done.json()["not_joined"] == [{"row": 2, "code": "320000000001", "name": "戊村", "status": "unmatched",
                                              "candidates": [], "outside_m": None}]
    lon = store.read("villages").set_index("code").at["321012101202", "committee_lon"]
    assert lon == pytest.approx(second[0], abs=1e-7)


def test_empty_division_names_are_filled_from_the_stored_divisions_or_counted(tmp_path: Path) -> None:
    import geopandas as gpd

    from coverage.ingest import fill_division_names

    divisions = gpd.GeoDataFrame({"code": ["32", "3210", "321012", "321012101"],
                                  "name": ["江苏省", "扬州市", "江都区", "大桥镇"],
                                  "level": ["province", "city", "county", "township"]},
                                 geometry=[None] * 4, crs="EPSG:4326")
    header = ["村代码", "村名称", "geometry"]
    rows = [["321012101201", "甲村", VILLAGE_POLYGONS[0].wkt], ["321012999201", "乙村", VILLAGE_POLYGONS[1].wkt]]
    result = read_input("villages", write_csv(tmp_path / "v.csv", header, rows))
    fill_division_names(result, divisions)
    frame = result.frame
    assert list(frame["township_name"].fillna("-")) == ["大桥镇", "-"]  # 321012999 is no known township
    assert list(frame["county_name"]) == ["江都区", "江都区"] and list(frame["province_name"]) == ["江苏省"] * 2
    messages = [w.message for w in result.warnings]
    assert ("已按已存储的行政区划补全名称：乡镇 1 个，区县 2 个，地市 2 个，省 2 个 (division names filled from the "
            "stored divisions: 1 township, 2 county, 2 city, 2 province name(s))") in messages
    assert any(english(m).startswith("division names missing and their codes unknown to the stored divisions: "
                                     "1 township") for m in messages)
