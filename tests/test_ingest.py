"""Ingest: the corpus of awkward and broken inputs, the values read from the good ones, and details
of header mapping, parsing and CRS handling. Fixtures are built in tmp_path (tests/utils/bad_inputs)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coverage.crs import wgs84_to_gcj02
from coverage.errors import ConfigError, Problem, ValidationError
from coverage.ingest import IngestResult, read_input
from coverage.ingest.messages import english
from coverage.schema import COLUMNS, column_names
from tests.utils import bad_inputs as corpus
from tests.utils.bad_inputs import (
    CODES,
    CORPUS,
    MEASUREMENT_HEADER,
    MEASUREMENT_ROWS,
    NAMES,
    STATION_HEADER_ZH,
    STATION_ROWS_ZH,
    VILLAGE_HEADER_ZH,
    VILLAGE_POLYGONS,
    CorpusCase,
    Expect,
    village_rows,
    write_csv,
    write_geojson,
    write_xlsx,
)

CASES = {case.name: case for case in CORPUS}


def _build(case_name: str, tmp_path: Path) -> tuple[CorpusCase, Path]:
    case = CASES[case_name]
    tmp_path.mkdir(parents=True, exist_ok=True)
    return case, case.build(tmp_path)


def _read(case_name: str, tmp_path: Path) -> IngestResult:
    case, path = _build(case_name, tmp_path)
    return read_input(case.kind, path, **case.options)


def _matches(problem: Problem, expect: Expect) -> bool:
    return (problem.row == expect.row
            and (expect.field is None or problem.field == expect.field)
            and expect.contains.casefold() in problem.message.casefold())


def _assert_frame_contract(kind: str, frame: gpd.GeoDataFrame) -> None:
    assert list(frame.columns) == [*column_names(kind), "geometry"]  # type: ignore[arg-type]
    assert frame.crs == "EPSG:4326"
    assert isinstance(frame.index, pd.RangeIndex)
    for column in COLUMNS[kind]:  # type: ignore[index]
        dtype = frame[column.name].dtype
        expected = {"float": "float64", "int": "Int64", "datetime": "datetime64[ns]", "date": "object",
                    "str": "str"}[column.dtype]
        assert str(dtype) == expected, (column.name, dtype)
    if kind != "villages":
        assert (frame.geometry.x == frame["lon"]).all() and (frame.geometry.y == frame["lat"]).all()
    else:
        assert set(frame.geom_type) <= {"Polygon", "MultiPolygon"} and frame.is_valid.all()


# --- the corpus ----------------------------------------------------------------------------------


def test_corpus_has_at_least_twenty_kinds_of_input() -> None:
    assert len(CORPUS) >= 20
    assert len({c.name for c in CORPUS}) == len(CORPUS)
    assert sum(1 for c in CORPUS if c.errors) >= 20


@pytest.mark.parametrize("case", CORPUS, ids=[c.name for c in CORPUS])
def test_corpus_case(case: CorpusCase, tmp_path: Path) -> None:
    path = case.build(tmp_path)
    if case.errors:
        with pytest.raises(ValidationError) as err:
            read_input(case.kind, path, **case.options)
        problems = err.value.problems
        assert problems and all(p.severity == "error" for p in problems)
        assert all(p.file == path.name for p in problems), problems  # the base name, never a full path
        for expect in case.errors:
            assert any(_matches(p, expect) for p in problems), (expect, problems)
        message = str(err.value)
        assert path.name in message and str(tmp_path) not in message
        rows = [e.row for e in case.errors if e.row is not None]
        if rows:
            assert f"第 {rows[0]} 行" in message
    else:
        result = read_input(case.kind, path, **case.options)
        assert result.rows == len(result.frame) > 0
        assert result.file_name == path.name
        _assert_frame_contract(case.kind, result.frame)
        assert all(p.severity == "warning" for p in result.warnings)
        for expect in case.warnings:
            assert any(_matches(p, expect) for p in result.warnings), (expect, result.warnings)
        if not case.warnings:
            assert result.warnings == []


def test_build_corpus_writes_every_case(tmp_path: Path) -> None:
    paths = corpus.build_corpus(tmp_path)
    assert set(paths) == set(CASES)
    assert all(p.exists() for p in paths.values())


# --- what the accepted corpus files contain -----------------------------------------------------


def test_gbk_csv_with_chinese_headers(tmp_path: Path) -> None:
    result = _read("gbk_csv_chinese_headers", tmp_path)
    frame = result.frame
    assert result.encoding == "gbk" and result.crs == "EPSG:4326" and result.crs_source == "assumed"
    assert frame["site_id"].tolist() == ["JD0001", "JD0001", "JD0002", "JD0003"]
    assert frame["cell_id"].isna().tolist() == [False, False, True, False]
    assert frame["operator"].tolist() == ["CMCC", "CMCC", "CTCC", "CBN"]
    assert frame["band"].tolist() == ["n41", "n41", "n78", "n28"]
    assert frame["rat"].tolist() == ["NR"] * 4
    assert frame["status"].tolist() == ["active", "active", "planned", "active"]
    assert frame["activated_on"].tolist() == [dt.date(2024, 5, 1), dt.date(2024, 5, 1), None,
                                              dt.date(2023, 11, 20)]
    assert frame["azimuth_deg"].isna().tolist() == [False, False, True, False]  # omni
    assert frame["height_m"].tolist() == [35.0, 35.0, 30.0, 40.0]
    assert frame["lon"].tolist() == [119.405, 119.405, 119.415, 119.425]
    assert result.file_sha256 == hashlib.sha256((tmp_path / "基站_gbk.csv").read_bytes()).hexdigest()


def test_utf8_bom_csv_villages(tmp_path: Path) -> None:
    result = _read("utf8_bom_csv", tmp_path)
    frame = result.frame
    assert result.encoding == "utf-8-sig"
    assert frame["code"].tolist() == list(CODES)
    assert frame["name"].tolist() == list(NAMES)
    assert frame["township_name"].tolist() == ["某镇"] * 3 and frame["county_name"].tolist() == ["江都区"] * 3
    # codes of the levels above are derived from the village code
    assert frame["township_code"].tolist() == ["321012101"] * 3
    assert frame["county_code"].tolist() == ["321012"] * 3
    assert frame["city_code"].tolist() == ["3210"] * 3 and frame["province_code"].tolist() == ["32"] * 3
    assert shapely.equals_exact(frame.geometry.values, np.array(VILLAGE_POLYGONS), tolerance=0).all()


def test_gcj02_declared_points_are_converted_to_wgs84(tmp_path: Path) -> None:
    result = _read("gcj02_declared_csv", tmp_path)
    assert result.crs == "gcj02" and result.crs_source == "declared"
    truth_lon = np.array([float(r[4]) for r in STATION_ROWS_ZH])
    truth_lat = np.array([float(r[5]) for r in STATION_ROWS_ZH])
    np.testing.assert_allclose(result.frame["lon"], truth_lon, atol=1e-6, rtol=0)
    np.testing.assert_allclose(result.frame["lat"], truth_lat, atol=1e-6, rtol=0)
    # actually far better than the 1e-6 degrees asked for
    assert np.abs(result.frame["lon"] - truth_lon).max() < 1e-9


def test_gcj02_without_declaring_it_stays_half_a_kilometre_off(tmp_path: Path) -> None:
    case, path = _build("gcj02_declared_csv", tmp_path)
    frame = read_input(case.kind, path).frame
    assert np.abs(frame["lon"] - float(STATION_ROWS_ZH[0][4])).min() > 0.004


def test_gcj02_declared_geojson_villages(tmp_path: Path) -> None:
    result = _read("gcj02_declared_geojson", tmp_path)
    assert result.crs == "gcj02"
    truth = np.array(VILLAGE_POLYGONS)
    assert shapely.equals_exact(result.frame.geometry.values, truth, tolerance=1e-9).all()


def test_cgcs2000_geojson(tmp_path: Path) -> None:
    result = _read("cgcs2000_geojson", tmp_path)
    assert result.crs == "EPSG:4490" and result.crs_source == "file"
    assert shapely.equals_exact(result.frame.geometry.values, np.array(VILLAGE_POLYGONS), tolerance=0).all()


def test_projected_shapefile_is_unprojected(tmp_path: Path) -> None:
    result = _read("projected_shapefile", tmp_path)
    assert result.crs == "EPSG:4549"
    geoms = shapely.normalize(np.asarray(result.frame.geometry.values))  # shapefile rings run clockwise
    assert shapely.equals_exact(geoms, shapely.normalize(np.array(VILLAGE_POLYGONS)), tolerance=1e-9).all()
    assert result.frame["name"].tolist() == list(NAMES)


def test_declaring_the_files_own_crs_in_other_words_is_fine(tmp_path: Path) -> None:
    case, path = _build("projected_shapefile", tmp_path)
    twin = "+proj=tmerc +lat_0=0 +lon_0=120 +k=1 +x_0=500000 +y_0=0 +ellps=GRS80 +units=m"
    for spec in ("EPSG:4549", twin):
        assert read_input(case.kind, path, crs=spec).crs_source == "file"
    with pytest.raises(ValidationError, match="the file's CRS is EPSG:4549 but crs='EPSG:4548' was given"):
        read_input(case.kind, path, crs="EPSG:4548")


def test_shapefile_without_prj_with_the_crs_declared(tmp_path: Path) -> None:
    case, path = _build("shapefile_without_prj", tmp_path)
    result = read_input(case.kind, path, crs="EPSG:4549")
    assert result.crs == "EPSG:4549" and result.crs_source == "declared"
    geoms = shapely.normalize(np.asarray(result.frame.geometry.values))
    assert shapely.equals_exact(geoms, shapely.normalize(np.array(VILLAGE_POLYGONS)), tolerance=1e-9).all()


def test_shapefile_without_cpg_in_gbk(tmp_path: Path) -> None:
    result = _read("shapefile_gbk_without_cpg", tmp_path)
    assert result.encoding == "GBK"
    assert result.frame["site_id"].tolist() == ["JD0001", "JD0002"]
    assert result.frame["operator"].tolist() == ["CMCC", "CUCC"]
    assert result.frame["lon"].tolist() == [119.405, 119.415]  # taken from the point geometry


def test_zipped_shapefile_reads_like_the_shapefile(tmp_path: Path) -> None:
    zipped = _read("zip_of_shapefile", tmp_path / "zip")
    plain = _read("shapefile_gbk_without_cpg", tmp_path / "plain")
    assert zipped.encoding == "GBK"
    pd.testing.assert_frame_equal(pd.DataFrame(zipped.frame.drop(columns="geometry")),
                                  pd.DataFrame(plain.frame.drop(columns="geometry")))


def test_bowtie_is_repaired_into_two_triangles(tmp_path: Path) -> None:
    result = _read("bowtie_polygon", tmp_path)
    repaired = result.frame.geometry.values[1]
    assert repaired.is_valid and repaired.geom_type == "MultiPolygon"
    assert len(repaired.geoms) == 2
    assert repaired.area == pytest.approx(0.5 * 0.01 * 0.01)  # two triangles, each a quarter square
    assert result.frame.geometry.values[0].equals_exact(VILLAGE_POLYGONS[0], 0)
    [warning] = result.warnings
    assert warning.row == 2 and "Self-intersection[119.415 32.405]" in warning.message


def test_xlsx_with_chinese_headers_and_excel_dates(tmp_path: Path) -> None:
    frame = _read("xlsx_chinese_headers", tmp_path).frame
    assert frame["measured_at"].tolist() == [pd.Timestamp("2026-05-01 10:00:00"),
                                             pd.Timestamp("2026-05-01 10:00:05"),
                                             pd.Timestamp("2026-05-01 10:00:10")]
    assert frame["operator"].tolist() == ["CMCC", "CMCC", "CTCC"]
    assert frame["band"].tolist()[:2] == ["n41", "n41"] and pd.isna(frame["band"].iloc[2])
    assert frame["rsrp_dbm"].tolist() == [-88.5, -101.25, -117.0]
    assert frame["sinr_db"].iloc[:2].tolist() == [12.0, 3.5] and np.isnan(frame["sinr_db"].iloc[2])
    assert frame["dl_mbps"].iloc[0] == 512.0


def test_power_in_watts_is_converted_to_dbm(tmp_path: Path) -> None:
    frame = _read("power_in_watts", tmp_path).frame
    assert frame["power_dbm"].tolist() == pytest.approx([53.0103] * 4, abs=1e-4)  # 200 W


def test_geoparquet_keeps_multipolygons(tmp_path: Path) -> None:
    result = _read("geoparquet", tmp_path)
    assert result.crs == "EPSG:4326" and result.crs_source == "file"
    assert result.frame.geom_type.tolist() == ["Polygon", "MultiPolygon", "Polygon"]


def test_plain_parquet_points(tmp_path: Path) -> None:
    frame = _read("plain_parquet", tmp_path).frame
    assert frame["lon"].tolist() == [119.401, 119.402, 119.403]
    assert frame["measured_at"].iloc[1] == pd.Timestamp("2026-05-01 10:00:05")


def test_excel_numeric_codes_become_text(tmp_path: Path) -> None:
    frame = _read("excel_numeric_codes", tmp_path).frame
    assert frame["code"].tolist() == list(CODES)


def test_multi_layer_geopackage_with_a_layer_chosen(tmp_path: Path) -> None:
    case, path = _build("multi_layer_gpkg", tmp_path)
    result = read_input(case.kind, path, layer="boundaries_2025")
    assert result.frame["code"].tolist() == list(CODES)
    with pytest.raises(ValidationError, match="no layer 'x'; the file has boundaries_2024, boundaries_2025"):
        read_input(case.kind, path, layer="x")


# --- all problems, never a partial result --------------------------------------------------------


def test_every_problem_of_a_file_is_listed_in_row_order(tmp_path: Path) -> None:
    rows = [list(r) for r in STATION_ROWS_ZH]
    rows[0][3] = "n99"             # unknown band
    rows[1][4] = "abc"             # non-numeric longitude
    rows[2][2] = "铁塔"            # unknown operator
    rows[3][7] = "400"             # azimuth out of range
    rows[3][8] = "-45"             # tilt out of range
    rows[3][11] = "2024-13-01"     # bad date
    path = write_csv(tmp_path / "many.csv", STATION_HEADER_ZH, rows)
    with pytest.raises(ValidationError) as err:
        read_input("stations", path)
    found = [(p.row, p.field) for p in err.value.problems]
    assert found == [(1, "频段"), (2, "经度"), (3, "运营商"), (4, "方位角"), (4, "下倾角"), (4, "开通日期")]
    text = str(err.value)
    assert text.startswith("many.csv，第 1 行，字段 '频段'：无法识别的频段 'n99'；应为 频段名称（n28、n41、")
    assert "或以 MHz 为单位的频率 (unknown band 'n99'; use a band name (n28, n41, " in text
    assert "400 is out of range: azimuth_deg must be 0 to 360 degrees" in text
    # the whole messages: Chinese first, the English unchanged in brackets
    messages = {p.field: p.message for p in err.value.problems}
    assert messages["经度"] == "无法解析为数字：'abc' (not a number: 'abc')"
    assert messages["方位角"] == ("方位角 400 超出范围：应在 0 到 360 度之间 "
                               "(400 is out of range: azimuth_deg must be 0 to 360 degrees)")
    assert messages["下倾角"] == ("下倾角 -45 超出范围：应在 -20 到 90 度之间 "
                               "(-45 is out of range: tilt_deg must be -20 to 90 degrees)")
    assert messages["运营商"].startswith("无法识别的运营商 '铁塔'；应为 CMCC (中国移动)、CUCC (中国联通)、")


def test_file_level_problems_come_first_and_duplicated_headers_are_named(tmp_path: Path) -> None:
    header = ["site_id", "operator", "band", "经度", "lng", "纬度"]
    path = write_csv(tmp_path / "dup_headers.csv", header, [["S1", "CMCC", "n41", "119.4", "119.4", "32.4"],
                                                            ["S2", "CMCC", "n99", "119.4", "119.4", "32.4"]])
    with pytest.raises(ValidationError) as err:
        read_input("stations", path)
    first, second = err.value.problems[:2]
    assert first.row is None and first.field == "lng" and "'经度' and 'lng' both map to lon" in first.message
    assert second.row == 2 and second.field == "band"


def test_rows_count_blank_lines_like_a_spreadsheet(tmp_path: Path) -> None:
    path = tmp_path / "blank.csv"
    path.write_text("site_id,operator,band,lon,lat\nS1,CMCC,n41,119.4,32.4\n\n,,,,\nS2,CMCC,n99,119.4,32.4\n",
                    encoding="utf-8")
    with pytest.raises(ValidationError) as err:
        read_input("stations", path)
    assert [p.row for p in err.value.problems] == [4]


# --- headers --------------------------------------------------------------------------------------


def test_headers_are_trimmed_case_folded_and_units_stripped(tmp_path: Path) -> None:
    header = [" Site_ID ", "OPERATOR", "Frequency Band", "Longitude (°)", "LATITUDE", "挂高（米）",
              "总下倾角(°)", "power_w", "带宽(MHz)", "备注"]
    path = write_csv(tmp_path / "english.csv", header,
                     [["S1", "China Mobile", "N41", "119.4", "32.4", "35", "6", "40", "100", "楼顶"]])
    result = read_input("stations", path)
    row = result.frame.iloc[0]
    assert (row["site_id"], row["operator"], row["band"]) == ("S1", "CMCC", "n41")
    assert (row["height_m"], row["tilt_deg"], row["bandwidth_mhz"]) == (35.0, 6.0, 100.0)
    assert row["power_dbm"] == pytest.approx(46.0206, abs=1e-4)  # 40 W
    assert [english(w.message) for w in result.warnings] == [
        "ignored columns not in the data contract: 备注",
        "1 cell(s) without azimuth (方位角/方向角): each is predicted as one omnidirectional 8 dBi antenna; "
        "if they are sector sites, pass --three-sectors"]


def test_a_generic_id_column_gives_way_to_the_real_code_column(tmp_path: Path) -> None:
    # ArcGIS adds an "Id" field (all zeros) to every new shapefile
    header = ["Id", "村代码", "村名称", "geometry"]
    rows = [["0", c, n, shapely.to_wkt(g)] for c, n, g in zip(CODES, NAMES, VILLAGE_POLYGONS, strict=True)]
    result = read_input("villages", write_csv(tmp_path / "arcgis.csv", header, rows))
    assert result.frame["code"].tolist() == list(CODES)
    assert [english(w.message) for w in result.warnings] == ["ignored columns not in the data contract: Id"]


def test_unsupported_unit_is_a_file_level_error(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "feet.csv", ["site_id", "operator", "band", "lon", "lat", "挂高(ft)"],
                     [["S1", "CMCC", "n41", "119.4", "32.4", "100"]])
    with pytest.raises(ValidationError, match=r"feet.csv，字段 '挂高\(ft\)'：天线挂高不支持单位 'ft'.* "
                                             r"\(unit 'ft' is not supported"):
        read_input("stations", path)


def test_defaults_when_optional_columns_are_absent(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "minimal.csv", ["site_id", "operator", "band", "lon", "lat"],
                     [["S1", "联通", "3500", "119.4", "32.4"]])
    frame = read_input("stations", path).frame
    assert (frame["rat"].iloc[0], frame["status"].iloc[0], frame["band"].iloc[0]) == ("NR", "active", "n78")
    assert frame["cell_id"].isna().all() and frame["activated_on"].tolist() == [None]


# --- values ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("2024-05-01", dt.date(2024, 5, 1)),
    ("2024/5/1", dt.date(2024, 5, 1)),
    ("2024.05.01", dt.date(2024, 5, 1)),
    ("20240501", dt.date(2024, 5, 1)),
    ("2024年5月1日", dt.date(2024, 5, 1)),
    ("2024-05-01 08:30:00", dt.date(2024, 5, 1)),
    ("45413", dt.date(2024, 5, 1)),  # Excel serial day number
])
def test_activation_date_formats(text: str, expected: dt.date, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "d.csv", ["site_id", "operator", "band", "lon", "lat", "开通日期"],
                     [["S1", "CMCC", "n41", "119.4", "32.4", text]])
    assert read_input("stations", path).frame["activated_on"].tolist() == [expected]


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-05-01 10:00:00", "2026-05-01 10:00:00"),
    ("2026-05-01T02:00:00Z", "2026-05-01 10:00:00"),  # UTC -> Asia/Shanghai, naive
    ("2026-05-01T10:00:00+08:00", "2026-05-01 10:00:00"),
    ("2026/5/1 10:00", "2026-05-01 10:00:00"),
    ("2026-05-01 10:00:00.1234", "2026-05-01 10:00:00.123"),  # millisecond resolution
])
def test_measurement_timestamps(text: str, expected: str, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", ["lon", "lat", "time", "operator", "rsrp"],
                     [["119.4", "32.4", text, "CMCC", "-90"]])
    assert read_input("measurements", path).frame["measured_at"].tolist() == [pd.Timestamp(expected)]


@pytest.mark.parametrize(("lon", "expected"), [
    ("119.4", 119.4),
    (" 119.40 ", 119.4),
    ("１１９．４", 119.4),  # full-width digits
    ("119°24'", 119.4),
    ("119°24′00″E", 119.4),
    ("119度24分0秒", 119.4),
])
def test_coordinate_spellings(lon: str, expected: float, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "c.csv", ["site_id", "operator", "band", "经度", "纬度"],
                     [["S1", "CMCC", "n41", lon, "32.4"]])
    assert read_input("stations", path).frame["lon"].iloc[0] == pytest.approx(expected, abs=1e-12)


def test_padded_twelve_digit_division_codes_are_accepted(tmp_path: Path) -> None:
    header = ["code", "name", "township_code", "county_code", "city_code", "province_code", "wkt"]
    rows = [[CODES[0], NAMES[0], "321012101000", "321012000000", "321000000000", "320000000000",
             shapely.to_wkt(VILLAGE_POLYGONS[0])]]
    frame = read_input("villages", write_csv(tmp_path / "nbs.csv", header, rows)).frame
    assert frame[["township_code", "county_code", "city_code", "province_code"]].iloc[0].tolist() == [
        "321012101", "321012", "3210", "32"]


def test_missing_required_values_are_named(tmp_path: Path) -> None:
    rows = village_rows()
    rows[0][1] = ""
    rows[1][0] = ""
    with pytest.raises(ValidationError) as err:
        read_input("villages", write_csv(tmp_path / "v.csv", VILLAGE_HEADER_ZH, rows))
    messages = [(p.row, p.field, p.message) for p in err.value.problems]
    assert (1, "村名称", "缺少行政村名称 (missing village name)") in messages
    assert (2, "村代码", "缺少行政村代码 (missing code)") in messages


def test_measurement_point_geometry_may_replace_lon_lat(tmp_path: Path) -> None:
    path = write_geojson(tmp_path / "m.geojson", [
        ({"operator": "CMCC", "rsrp": -95.5, "time": "2026-05-01T10:00:00"}, shapely.Point(119.401, 32.401)),
        ({"operator": "CMCC", "rsrp": -99.0, "time": "2026-05-01T10:00:01"}, shapely.Point(119.402, 32.402)),
    ])
    frame = read_input("measurements", path).frame
    assert frame["lon"].tolist() == [119.401, 119.402] and frame["lat"].tolist() == [32.401, 32.402]


def test_a_few_swapped_rows_are_flagged_individually(tmp_path: Path) -> None:
    rows = [list(r) for r in STATION_ROWS_ZH]
    rows[2][4], rows[2][5] = rows[2][5], rows[2][4]
    with pytest.raises(ValidationError) as err:
        read_input("stations", write_csv(tmp_path / "s.csv", STATION_HEADER_ZH, rows))
    [problem] = err.value.problems
    assert problem.row == 3 and "look swapped" in problem.message


def test_declared_projected_crs_for_a_csv(tmp_path: Path) -> None:
    case, path = _build("projected_without_crs", tmp_path)
    result = read_input(case.kind, path, crs="EPSG:4549")
    assert result.crs == "EPSG:4549" and result.crs_source == "declared"
    assert result.frame["lon"].iloc[0] == pytest.approx(119.4, abs=1e-7)
    assert result.frame["lat"].iloc[0] == pytest.approx(32.4, abs=1e-7)


def test_gcj02_committee_points_are_converted_too(tmp_path: Path) -> None:
    lon, lat = wgs84_to_gcj02(119.405, 32.405)
    geom = shapely.transform(VILLAGE_POLYGONS[0], lambda c: np.column_stack(wgs84_to_gcj02(c[:, 0], c[:, 1])))
    path = write_csv(tmp_path / "v.csv", ["code", "name", "committee_lon", "committee_lat", "geometry"],
                     [[CODES[0], NAMES[0], repr(lon), repr(lat),
                       shapely.to_wkt(geom, rounding_precision=-1)]])
    result = read_input("villages", path, crs="gcj02")
    assert result.warnings == []
    assert result.frame["committee_lon"].iloc[0] == pytest.approx(119.405, abs=1e-9)
    assert result.frame["committee_lat"].iloc[0] == pytest.approx(32.405, abs=1e-9)


# --- configuration errors and odd files -----------------------------------------------------------


def test_configuration_errors(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "s.csv", MEASUREMENT_HEADER, MEASUREMENT_ROWS)
    with pytest.raises(ConfigError, match="unknown kind"):
        read_input("towers", path)
    with pytest.raises(ConfigError, match="unknown CRS"):
        read_input("measurements", path, crs="mars")
    with pytest.raises(ConfigError, match="unknown text encoding"):
        read_input("measurements", path, encoding="klingon")


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"nope\.csv：文件不存在 \(file not found\)"):
        read_input("stations", tmp_path / "nope.csv")
    with pytest.raises(ValidationError, match="is a directory"):
        read_input("stations", tmp_path)


def test_declared_encoding_that_does_not_fit(tmp_path: Path) -> None:
    case, path = _build("gbk_csv_chinese_headers", tmp_path)
    with pytest.raises(ValidationError, match="cannot decode the text as utf-8"):
        read_input(case.kind, path, encoding="utf-8")
    assert read_input(case.kind, path, encoding="gb18030").encoding == "gb18030"


def test_empty_feature_collection_and_empty_sheet(tmp_path: Path) -> None:
    path = tmp_path / "none.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": []}), encoding="utf-8")
    with pytest.raises(ValidationError, match="no data rows"):
        read_input("villages", path)
    with pytest.raises(ValidationError, match="no data rows"):
        read_input("stations", write_xlsx(tmp_path / "h.xlsx", STATION_HEADER_ZH, []))


def test_tab_separated_utf16_export(tmp_path: Path) -> None:
    # Excel's "Unicode text" export: UTF-16 with BOM, tab-separated
    text = "\t".join(MEASUREMENT_HEADER) + "\r\n" + "\r\n".join("\t".join(r) for r in MEASUREMENT_ROWS)
    path = tmp_path / "unicode.txt"
    path.write_bytes(text.encode("utf-16"))
    result = read_input("measurements", path)
    assert result.encoding == "utf-16" and result.rows == 3


# --- storage: a rejected file changes nothing ---------------------------------------------------


def test_rejected_file_leaves_the_store_unchanged(tmp_path: Path) -> None:
    storage = pytest.importorskip("coverage.store.storage")
    store = storage.Store(f"sqlite:///{tmp_path / 'v.db'}")
    store.create_schema()
    try:
        good = _read("utf8_bom_csv", tmp_path / "good")
        store.write("villages", good.frame, record=storage.IngestRecord(
            kind="villages", file_name=good.file_name, sha256=good.file_sha256, crs=good.crs,
            encoding=good.encoding))
        before = store.read("villages")
        case, bad_path = _build("duplicate_village_codes", tmp_path / "bad")
        with pytest.raises(ValidationError):
            result = read_input(case.kind, bad_path)
            store.write("villages", result.frame, record=storage.IngestRecord(  # never reached
                kind="villages", file_name=result.file_name, sha256=result.file_sha256))
        pd.testing.assert_frame_equal(pd.DataFrame(store.read("villages").drop(columns="geometry")),
                                      pd.DataFrame(before.drop(columns="geometry")))
        assert len(store.last_ingests()) == 1
    finally:
        store.dispose()


# --- robustness: anything in a cell gives a result or a ValidationError, nothing else ----------

_CELL = st.one_of(st.text(max_size=12), st.sampled_from(["", "NULL", "-", "1e400", "nan", "119°", "３２.４",
                                                         "2024-02-30", "n78", "移动", "=1+1", "\u3000"]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.lists(_CELL, min_size=12, max_size=12), min_size=1, max_size=4))
def test_any_cells_give_a_frame_or_a_validation_error(rows: list[list[str]], tmp_path: Path) -> None:
    path = tmp_path / "fuzz.csv"
    write_csv(path, STATION_HEADER_ZH, rows, encoding="utf-8")
    try:
        result = read_input("stations", path)
    except ValidationError as exc:
        assert exc.problems and all(p.file == "fuzz.csv" for p in exc.problems)
    else:
        _assert_frame_contract("stations", result.frame)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(min_size=1, max_size=200), suffix=st.sampled_from(
    [".csv", ".xlsx", ".geojson", ".gpkg", ".parquet", ".zip", ".shp"]))
def test_random_bytes_give_a_validation_error(data: bytes, suffix: str, tmp_path: Path) -> None:
    path = tmp_path / f"noise{suffix}"
    path.write_bytes(data)
    try:
        read_input("villages", path)
    except ValidationError as exc:
        assert all(p.file == path.name for p in exc.problems)
        assert str(tmp_path) not in str(exc)


def test_site_number_header_is_the_site_id_as_in_planning(tmp_path: Path) -> None:
    # 站址编号 is what the planning candidates and many 工参 tables call the site id
    path = write_csv(tmp_path / "s.csv", ["站址编号", "运营商", "频段", "经度", "纬度"],
                     [["JS-0001", "移动", "n41", "119.4", "32.4"]])
    frame = read_input("stations", path).frame
    assert frame["site_id"].tolist() == ["JS-0001"] and frame["operator"].tolist() == ["CMCC"]
