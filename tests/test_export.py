"""Export: every format and kind reads back through ingest as the identical frame."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coverage.errors import ConfigError, ValidationError
from coverage.ingest import read_input
from coverage.ingest.export import EXCEL_CELL_LIMIT, FORMATS, write_output
from coverage.schema import conform
from tests.utils.frames import assert_frames_equal
from tests.worlds.contract import CONTRACT_FRAMES

KINDS = ("villages", "stations", "measurements")


def awkward_frames() -> dict[str, gpd.GeoDataFrame]:
    """Frames that stress exactness: 17-digit floats, Chinese text with commas and quotes, text that
    looks like a formula or a number with leading zeros, missing values everywhere, a MultiPolygon
    with a hole, dates and millisecond timestamps."""
    hole = shapely.Polygon(shell=[(119.40, 32.40), (119.41234567890123, 32.40), (119.41234567890123, 32.41),
                                  (119.40, 32.41)],
                           holes=[[(119.402, 32.402), (119.404, 32.402), (119.404, 32.404)]])
    multi = shapely.MultiPolygon([hole, shapely.box(119.42, 32.40, 119.43, 32.4100000000000001)])
    villages = conform("villages", {
        "code": ["321012101201", "321012101202"],
        "name": ['甲村,"东"组', "=乙村"],
        "township_code": ["321012101", "321012101"], "township_name": ["某镇", None],
        "county_code": ["321012", "321012"], "county_name": ["江都区", "江都区"],
        "city_code": ["3210", "3210"], "city_name": ["扬州市", None],
        "province_code": ["32", "32"], "province_name": ["江苏省", "江苏省"],
        "committee_lon": [119.40500000000001, None], "committee_lat": [0.1 + 32.3, None],
        "population": [2100, None], "households": [None, 12], "source": [None, "survey 2024"],
    }, [multi, shapely.box(119.43, 32.40, 119.44, 32.41)])
    lon = [119.41234567890123, 119.4 + 0.1 + 0.2, 119.43]
    lat = [32.40000000000001, 32.1 + 0.3, 32.402]
    stations = conform("stations", {
        "site_id": ["007", "S-2", "3.2E+11"], "cell_id": [None, "0012", "c"],
        "operator": ["CMCC", "CUCC", "CBN"], "rat": ["NR", "LTE", "NR"], "band": ["n41", "B3", "n28"],
        "lon": lon, "lat": lat,
        "height_m": [35.5, None, 1e-3], "azimuth_deg": [0.1 + 0.2, None, 359.99999999999994],
        "tilt_deg": [-2.0, None, 6.0], "power_dbm": [53.010299956639813, None, 49.0],
        "bandwidth_mhz": [100.0, 20.0, None], "status": ["active", "retired", "planned"],
        "activated_on": [dt.date(2019, 6, 6), None, dt.date(2026, 12, 31)], "source": ["=1+1", None, "测试"],
    }, shapely.points(lon, lat))
    mlon = [119.401, 119.40200000000002]
    mlat = [32.401, 32.402]
    measurements = conform("measurements", {
        "lon": mlon, "lat": mlat,
        "measured_at": [pd.Timestamp("2026-05-01 10:00:00.123"), None],
        "operator": ["CTCC", "CMCC"], "rat": ["NR", "NR"], "band": [None, "n79"],
        "rsrp_dbm": [-156.0, -31.0], "sinr_db": [None, 40.0], "dl_mbps": [0.0, 1234.5678901234567],
        "ul_mbps": [None, 0.1], "source": ["audit", None],
    }, shapely.points(mlon, mlat))
    return {"villages": villages, "stations": stations, "measurements": measurements}


@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize("kind", KINDS)
def test_round_trip_of_the_hand_made_frames(kind: str, fmt: str, tmp_path: Path) -> None:
    frame = CONTRACT_FRAMES[kind]()
    path = write_output(kind, frame, tmp_path / f"{kind}{FORMATS[fmt][0]}")
    result = read_input(kind, path)
    # the hand-made stations include a cell without azimuth, which is counted
    assert [w.message for w in result.warnings if "without azimuth" not in w.message] == []
    assert_frames_equal(result.frame, frame)


@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize("kind", KINDS)
def test_round_trip_is_exact_for_awkward_values(kind: str, fmt: str, tmp_path: Path) -> None:
    frame = awkward_frames()[kind]
    path = write_output(kind, frame, tmp_path / "out.bin", fmt=fmt)
    renamed = path.rename(tmp_path / f"out{FORMATS[fmt][0]}")
    assert_frames_equal(read_input(kind, renamed).frame, frame)


def test_csv_is_utf8_with_bom_points_as_lon_lat_villages_as_wkt(tmp_path: Path) -> None:
    stations = write_output("stations", CONTRACT_FRAMES["stations"](), tmp_path / "s.csv")
    data = stations.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    header = data[3:].decode("utf-8").splitlines()[0].split(",")
    assert header[:7] == ["site_id", "cell_id", "operator", "rat", "band", "lon", "lat"]
    assert "geometry" not in header
    villages = write_output("villages", CONTRACT_FRAMES["villages"](), tmp_path / "v.csv")
    text = villages.read_bytes()[3:].decode("utf-8")
    assert text.splitlines()[0].endswith(",population,households,source,geometry")
    assert "甲村村委会" in text and ',"MULTIPOLYGON (((119.42 32.4, 119.42 32.41, ' in text


def test_geojson_is_plain_wgs84_utf8(tmp_path: Path) -> None:
    path = write_output("villages", CONTRACT_FRAMES["villages"](), tmp_path / "v.geojson")
    text = path.read_text(encoding="utf-8")
    assert "甲村村委会" in text  # not \\u-escaped
    document = json.loads(text)
    assert "crs" not in document and document["name"] == "villages"
    first = document["features"][0]["properties"]
    assert first["code"] == "321012101201" and first["population"] == 2100
    assert document["features"][1]["properties"]["committee_lon"] is None


def test_xlsx_cells_keep_types_and_text_never_becomes_a_formula(tmp_path: Path) -> None:
    path = write_output("stations", awkward_frames()["stations"], tmp_path / "s.xlsx")
    workbook = openpyxl.load_workbook(path)
    sheet = workbook["stations"]
    header = [c.value for c in sheet[1]]
    row = {h: c for h, c in zip(header, sheet[2], strict=True)}
    assert row["source"].value == "=1+1" and row["source"].data_type == "s"
    assert row["site_id"].value == "007" and row["lon"].value == 119.41234567890123
    assert row["activated_on"].is_date
    workbook.close()


def test_xlsx_refuses_wkt_beyond_the_excel_cell_limit(tmp_path: Path) -> None:
    frame = CONTRACT_FRAMES["villages"]()
    ring = shapely.Point(119.4, 32.4).buffer(0.01, quad_segs=1024)
    frame.loc[1, "geometry"] = ring
    assert len(shapely.to_wkt(ring, rounding_precision=-1)) > EXCEL_CELL_LIMIT
    with pytest.raises(ValidationError) as err:
        write_output("villages", frame, tmp_path / "v.xlsx")
    [problem] = err.value.problems
    assert (problem.file, problem.row, problem.field) == ("v.xlsx", 2, "geometry")
    assert "32,767-character cell limit" in problem.message
    assert list(tmp_path.iterdir()) == []  # nothing written, no temporary file left behind
    # the other formats take the long boundary
    path = write_output("villages", frame, tmp_path / "v.gpkg")
    assert_frames_equal(read_input("villages", path).frame, frame)


def test_format_from_suffix_or_argument(tmp_path: Path) -> None:
    frame = CONTRACT_FRAMES["measurements"]()
    with pytest.raises(ConfigError, match="cannot tell the export format"):
        write_output("measurements", frame, tmp_path / "m.txt")
    with pytest.raises(ConfigError, match="unknown export format"):
        write_output("measurements", frame, tmp_path / "m.kml", fmt="kml")
    with pytest.raises(ConfigError, match="unknown kind"):
        write_output("towers", frame, tmp_path / "m.csv")
    path = write_output("measurements", frame, tmp_path / "m.json")
    assert json.loads(path.read_text(encoding="utf-8"))["type"] == "FeatureCollection"
    path = write_output("measurements", frame, tmp_path / "m.data", fmt="GeoParquet")
    assert gpd.read_parquet(path).crs == "EPSG:4326"


def test_missing_columns_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="lacks canonical columns: rsrp_dbm"):
        write_output("measurements", CONTRACT_FRAMES["measurements"]().drop(columns="rsrp_dbm"), tmp_path / "m.csv")


def test_projected_frame_is_written_in_wgs84(tmp_path: Path) -> None:
    frame = CONTRACT_FRAMES["villages"]()
    path = write_output("villages", frame.to_crs("EPSG:4549"), tmp_path / "v.gpkg")
    back = read_input("villages", path).frame
    assert back.crs == "EPSG:4326"
    assert shapely.equals_exact(back.geometry.values, frame.geometry.values, tolerance=1e-9).all()


def test_existing_file_is_replaced_not_appended(tmp_path: Path) -> None:
    frame = CONTRACT_FRAMES["stations"]()
    target = tmp_path / "s.gpkg"
    write_output("stations", frame, target)
    write_output("stations", frame.iloc[:2], target)
    assert read_input("stations", target).rows == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.gpkg"]


def test_extra_columns_are_not_exported(tmp_path: Path) -> None:
    frame = CONTRACT_FRAMES["measurements"]()
    frame["debug"] = np.arange(len(frame))
    path = write_output("measurements", frame, tmp_path / "m.csv")
    assert "debug" not in path.read_text(encoding="utf-8-sig").splitlines()[0]


# --- property: any valid stations frame survives every text-based format bit for bit --------------

_NULL_LOOKING = {"null", "none", "nan", "nat", "n/a", "#n/a", "na", "<na>", "-", "--", "—"}  # read as missing
_TEXT = st.text(st.characters(categories=["L", "N", "P", "S", "Zs"]), min_size=1, max_size=12).filter(
    lambda s: s == s.strip() and s.casefold() not in _NULL_LOOKING)


@st.composite
def _stations(draw: st.DrawFn) -> gpd.GeoDataFrame:
    n = draw(st.integers(1, 4))
    lon = draw(st.lists(st.floats(116.3, 121.95), min_size=n, max_size=n))
    lat = draw(st.lists(st.floats(30.7, 35.2), min_size=n, max_size=n))

    def column(strategy: st.SearchStrategy[object]) -> list[object]:
        return draw(st.lists(st.one_of(st.none(), strategy), min_size=n, max_size=n))

    bands = draw(st.lists(st.sampled_from(["n28", "n41", "n78", "n79", "B3", "B8"]), min_size=n, max_size=n))
    return conform("stations", {
        "site_id": [f"{i}-{t}" for i, t in enumerate(draw(st.lists(_TEXT, min_size=n, max_size=n)))],
        "cell_id": column(_TEXT),
        "operator": draw(st.lists(st.sampled_from(["CMCC", "CUCC", "CTCC", "CBN"]), min_size=n, max_size=n)),
        # RAT and band agree (a disagreeing row is rejected)
        "rat": ["LTE" if b.startswith("B") else "NR" for b in bands],
        "band": bands,
        "lon": lon, "lat": lat,
        # height 0 and a sector's tilt 0 read as unknown, azimuth 360 as 0 (工参 conventions)
        "height_m": column(st.floats(0, 300, exclude_min=True)),
        "azimuth_deg": column(st.floats(0, 360, exclude_max=True)),
        "tilt_deg": column(st.floats(-20, 90).filter(lambda v: v != 0)), "power_dbm": column(st.floats(0, 80)),
        "bandwidth_mhz": column(st.floats(0.1, 400)),
        "status": draw(st.lists(st.sampled_from(["active", "planned", "retired"]), min_size=n, max_size=n)),
        "activated_on": column(st.dates(dt.date(1980, 1, 1), dt.date(2100, 12, 31))),
        "source": column(_TEXT),
    }, shapely.points(lon, lat))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frame=_stations(), fmt=st.sampled_from(["csv", "geojson", "xlsx"]))
def test_any_valid_stations_frame_round_trips(frame: gpd.GeoDataFrame, fmt: str, tmp_path: Path) -> None:
    path = write_output("stations", frame, tmp_path / f"s{FORMATS[fmt][0]}")
    assert_frames_equal(read_input("stations", path).frame, frame)


@pytest.mark.parametrize("fmt", ["csv", "geojson", "xlsx"])
def test_text_that_looks_like_a_date_stays_text(fmt: str, tmp_path: Path) -> None:
    # found by the property test above: GDAL's GeoJSON driver read "0/01/01" as 2000-01-01
    frame = CONTRACT_FRAMES["stations"]().assign(source="0/01/01")
    path = write_output("stations", frame, tmp_path / f"s.{fmt}")
    assert read_input("stations", path).frame["source"].tolist() == ["0/01/01"] * len(frame)
