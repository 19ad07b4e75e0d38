"""Users' own files without edits: --map, --set, profiles, dry runs and 工参 semantics.

Every file is hand-made here, in the styles the issue measured (a 4G 工参 table with Chinese
headers, 维度 for 纬度, 制式 values such as L1800, reference-signal power in 0.1 dBm per resource
element, heights of 0, sites without azimuth).
"""

from __future__ import annotations

import math
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.cli import app as cli_app
from coverage.errors import ConfigError, ValidationError
from coverage.ingest import inspect_input, read_input
from coverage.ingest.mapping import ColumnMapping, load_profile, parse_pairs, save_profile
from coverage.ingest.messages import english
from coverage.model.predict import prepare_cells
from coverage.schema import conform
from coverage.store.storage import Store
from tests.utils.api import app_for, key
from tests.utils.bad_inputs import write_csv
from tests.worlds.row import build_row_world

#: A 4G 工参 export as operators hand it out: no operator column, 维度 (a typo of 纬度), 方向角,
#: 参考信号功率 in 0.1 dBm per resource element, 制式 naming RAT and band, a micro cell of height 0.
GONGCAN_HEADER = ["小区名称", "站号", "经度", "维度", "方向角", "下倾角", "天线挂高", "参考信号功率", "制式"]
GONGCAN_ROWS = [
    ["甲村-1", "JD01", "119.405", "32.405", "0", "6", "35", "152", "L1800"],
    ["甲村-2", "JD01", "119.405", "32.405", "120", "6", "35", "152", "L1800"],
    ["乙村微站", "JD02", "119.415", "32.408", "360", "0", "0", "122", "L900"],
    ["丙村", "JD03", "119.425", "32.402", "240", "3", "40", "180", "700M"],
]
GONGCAN_MAPPING = ColumnMapping(rename={"维度": "lat", "小区名称": "cell_id"}, defaults={"operator": "CUCC"})


def _gongcan(tmp_path: Path, rows: list[list[str]] | None = None) -> Path:
    return write_csv(tmp_path / "4G工参.csv", GONGCAN_HEADER, rows or GONGCAN_ROWS, encoding="gbk")


def _problems(err: pytest.ExceptionInfo[ValidationError]) -> list[tuple[int | None, str | None, str]]:
    return [(p.row, p.field, p.message) for p in err.value.problems]


def test_the_raw_export_is_rejected_naming_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as err:
        read_input("stations", _gongcan(tmp_path))
    fields = {f for _, f, _ in _problems(err)}
    assert {"operator", "lat"} <= fields


def test_map_and_set_take_the_export_without_edits(tmp_path: Path) -> None:
    result = read_input("stations", _gongcan(tmp_path), mapping=GONGCAN_MAPPING)
    frame = result.frame
    assert list(frame["cell_id"]) == ["甲村-1", "甲村-2", "乙村微站", "丙村"]
    assert list(frame["operator"]) == ["CUCC"] * 4
    # 制式 names RAT and band: the LTE cells are LTE (before: stored as NR), 700M is NR n28
    assert list(frame["rat"]) == ["LTE", "LTE", "LTE", "NR"]
    assert list(frame["band"]) == ["B3", "B3", "B8", "n28"]
    assert list(frame["lat"]) == [32.405, 32.405, 32.408, 32.402]
    # 方向角 is the azimuth; 360 is 0
    assert list(frame["azimuth_deg"]) == [0.0, 120.0, 0.0, 240.0]
    # height 0 and a sector's tilt 0 are unknown: band defaults later, counted now
    assert math.isnan(frame["height_m"].iloc[2]) and math.isnan(frame["tilt_deg"].iloc[2])
    # 152 (0.1 dBm per RE) = 15.2 dBm per RE; LTE B3 20 MHz = 1200 subcarriers: +30.79 dB
    assert frame["power_dbm"].iloc[0] == pytest.approx(15.2 + 10 * math.log10(1200), abs=1e-9)
    # B8 10 MHz = 600 subcarriers; n28 30 MHz at 15 kHz = 160 RB = 1920 subcarriers
    assert frame["power_dbm"].iloc[2] == pytest.approx(12.2 + 10 * math.log10(600), abs=1e-9)
    assert frame["power_dbm"].iloc[3] == pytest.approx(18.0 + 10 * math.log10(1920), abs=1e-9)
    messages = [w.message for w in result.warnings]
    assert any(english(m).startswith("1 cell(s) with antenna height 0 taken as unknown") for m in messages)
    assert any(english(m).startswith("1 cell(s) with downtilt 0 taken as unknown") for m in messages)
    assert any(english(m).startswith("4 power(s) per resource element above 60 read as 0.1 dBm") for m in messages)


def test_the_unit_in_a_header_or_a_map_target_says_tenths_of_dbm(tmp_path: Path) -> None:
    header = [*GONGCAN_HEADER[:7], "参考信号功率(0.1dBm)", "制式"]
    path = write_csv(tmp_path / "unit.csv", header, GONGCAN_ROWS)
    result = read_input("stations", path, mapping=GONGCAN_MAPPING)
    assert result.frame["power_dbm"].iloc[0] == pytest.approx(15.2 + 30.7918, abs=1e-4)
    assert not any("read as 0.1 dBm" in w.message for w in result.warnings)
    mapped = ColumnMapping(rename={**GONGCAN_MAPPING.rename, "RS": "rs_power_dbm(0.1dBm)"},
                           defaults=GONGCAN_MAPPING.defaults)
    path = write_csv(tmp_path / "rs.csv", [*GONGCAN_HEADER[:7], "RS", "制式"], GONGCAN_ROWS)
    assert read_input("stations", path, mapping=mapped).frame["power_dbm"].iloc[0] == pytest.approx(45.9918, abs=1e-4)


def test_per_re_power_in_dbm_mixed_with_tenths_is_rejected(tmp_path: Path) -> None:
    rows = [list(r) for r in GONGCAN_ROWS]
    rows[1][7] = "15.2"
    with pytest.raises(ValidationError) as err:
        read_input("stations", _gongcan(tmp_path, rows), mapping=GONGCAN_MAPPING)
    assert any(r == 1 and f == "参考信号功率" and "mixes it with dBm values" in m for r, f, m in _problems(err))


def test_rs_power_typed_as_total_power_is_counted(tmp_path: Path) -> None:
    header = ["站号", "运营商", "频段", "经度", "纬度", "方位角", "发射功率"]
    rows = [["S1", "联通", "L1800", "119.405", "32.405", "0", "15.2"],
            ["S2", "联通", "L1800", "119.415", "32.405", "0", "46"]]
    result = read_input("stations", write_csv(tmp_path / "p.csv", header, rows))
    assert any(english(w.message).startswith("1 cell(s) with a total transmit power under 30 dBm") and "rs_power_dbm"
               in w.message for w in result.warnings)


def test_band_column_with_lte_names_and_no_rat_is_lte_not_nr(tmp_path: Path) -> None:
    header = ["站号", "运营商", "频段", "经度", "纬度", "方位角"]
    rows = [["S1", "联通", "L1800", "119.405", "32.405", "0"], ["S2", "联通", "1800", "119.415", "32.405", "0"],
            ["S3", "移动", "2.6G", "119.425", "32.405", "0"]]
    frame = read_input("stations", write_csv(tmp_path / "b.csv", header, rows)).frame
    assert list(frame["rat"]) == ["LTE", "LTE", "NR"]
    assert list(frame["band"]) == ["B3", "B3", "n41"]


def test_rat_and_band_that_disagree_reject_the_row(tmp_path: Path) -> None:
    header = ["站号", "运营商", "制式", "频段", "经度", "纬度", "方位角"]
    rows = [["S1", "联通", "NR", "1800", "119.405", "32.405", "0"],
            ["S2", "联通", "LTE", "n78", "119.415", "32.405", "0"],
            ["S3", "联通", "L1800", "L900", "119.425", "32.405", "0"],
            ["S4", "联通", "5G", "n78", "119.435", "32.405", "0"]]
    with pytest.raises(ValidationError) as err:
        read_input("stations", write_csv(tmp_path / "d.csv", header, rows))
    problems = _problems(err)
    assert any(r == 1 and "RAT and band disagree" in m for r, _, m in problems)
    assert any(r == 2 and "RAT and band disagree: LTE but band n78 is NR" in m for r, _, m in problems)
    assert any(r == 3 and "band columns disagree" in m and "制式 says B3" in m for r, _, m in problems)
    assert not any(r == 4 for r, _, _ in problems)


def test_set_rat_lte_with_a_band_of_nr_is_rejected(tmp_path: Path) -> None:
    header = ["站号", "运营商", "频段", "经度", "纬度", "方位角"]
    path = write_csv(tmp_path / "s.csv", header, [["S1", "联通", "n78", "119.405", "32.405", "0"]])
    with pytest.raises(ValidationError, match="RAT and band disagree"):
        read_input("stations", path, mapping=ColumnMapping(defaults={"rat": "LTE"}))


def test_channel_numbers_give_the_band(tmp_path: Path) -> None:
    header = ["站号", "运营商", "制式", "频点", "经度", "纬度", "方位角"]
    rows = [["S1", "移动", "NR", "504990", "119.405", "32.405", "0"],
            ["S2", "电信", "NR", "627264", "119.415", "32.405", "0"],
            ["S3", "联通", "LTE", "1650", "119.425", "32.405", "0"],
            ["S4", "广电", "", "152650", "119.435", "32.405", "0"]]
    frame = read_input("stations", write_csv(tmp_path / "c.csv", header, rows)).frame
    assert list(frame["band"]) == ["n41", "n78", "B3", "n28"]
    assert list(frame["rat"]) == ["NR", "NR", "LTE", "NR"]
    rows[2][3] = "99999"
    with pytest.raises(ValidationError) as err:
        read_input("stations", write_csv(tmp_path / "c2.csv", header, rows))
    assert any(r == 3 and f == "频点" and "not an EARFCN" in m for r, f, m in _problems(err))


def test_sites_without_azimuth_are_counted_or_split_into_three_sectors(tmp_path: Path) -> None:
    header = ["站号", "运营商", "频段", "经度", "纬度", "方位角"]
    rows = [["S1", "移动", "n41", "119.405", "32.405", ""], ["S2", "移动", "n41", "119.415", "32.405", "90"],
            ["S3", "移动", "n28", "119.425", "32.405", ""]]
    path = write_csv(tmp_path / "a.csv", header, rows)
    plain = read_input("stations", path)
    assert len(plain.frame) == 3
    assert any(english(w.message).startswith("2 cell(s) without azimuth") and "--three-sectors" in w.message
               for w in plain.warnings)
    split = read_input("stations", path, mapping=ColumnMapping(three_sectors=True)).frame
    assert len(split) == 7
    assert list(split["cell_id"].fillna("-")) == ["S1-1", "S1-2", "S1-3", "-", "S3-1", "S3-2", "S3-3"]
    assert list(split["azimuth_deg"]) == [0.0, 120.0, 240.0, 90.0, 0.0, 120.0, 240.0]


def test_map_names_a_column_the_file_lacks_or_a_target_that_is_no_column(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as err:
        read_input("stations", _gongcan(tmp_path),
                   mapping=ColumnMapping(rename={"纬度X": "lat"}, defaults={"operator": "CUCC"}))
    assert any(f == "纬度X" and "which the file does not have" in m for _, f, m in _problems(err))
    with pytest.raises(ConfigError, match="'latitude' is not a column of stations"):
        read_input("stations", _gongcan(tmp_path), mapping=ColumnMapping(rename={"维度": "latitude"}))
    with pytest.raises(ConfigError, match="write NAME=VALUE"):
        parse_pairs(["维度"], "--map")
    assert parse_pairs(["维度=lat，A=site_id", "B=cell_id"], "--map") == {"维度": "lat", "A": "site_id",
                                                                          "B": "cell_id"}


def test_map_ignore_drops_a_column_and_set_fills_empty_cells(tmp_path: Path) -> None:
    header = ["站号", "运营商", "频段", "经度", "纬度", "方位角", "备注"]
    rows = [["S1", "", "n41", "119.405", "32.405", "0", "x"], ["S2", "电信", "n78", "119.415", "32.405", "0", "y"]]
    result = read_input("stations", write_csv(tmp_path / "f.csv", header, rows),
                        mapping=ColumnMapping(rename={"备注": "ignore"}, defaults={"operator": "CMCC"}))
    assert list(result.frame["operator"]) == ["CMCC", "CTCC"]
    messages = [w.message for w in result.warnings]
    assert "1 个空单元格已用 --set operator=CMCC 填充 (1 empty cell(s) filled with --set operator=CMCC)" in messages
    assert not any("ignored columns" in m for m in messages)


def test_a_saved_profile_reads_the_same_export_again(tmp_path: Path) -> None:
    folder = tmp_path / "profiles"
    mapping = ColumnMapping(rename=GONGCAN_MAPPING.rename, defaults=GONGCAN_MAPPING.defaults, crs="gcj02",
                            three_sectors=True)
    save_profile(mapping, folder / "cucc-4g.toml", kind="stations")
    loaded = load_profile("cucc-4g", folder, kind="stations")
    assert (loaded.rename, loaded.defaults, loaded.crs, loaded.three_sectors) == (
        mapping.rename, mapping.defaults, "gcj02", True)
    with pytest.raises(ConfigError, match="is for stations, not measurements"):
        load_profile("cucc-4g", folder, kind="measurements")
    with pytest.raises(ConfigError, match="does not exist"):
        load_profile("nope", folder)
    (folder / "bad.toml").write_text('kind = "stations"\nfoo = 1\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown key"):
        load_profile("bad", folder)
    # the command line wins over the profile, key by key
    merged = loaded.merged(ColumnMapping(defaults={"operator": "CTCC"}, crs="wgs84"))
    assert merged.defaults == {"operator": "CTCC"} and merged.crs == "wgs84" and merged.rename == mapping.rename


def test_inspect_shows_each_column_with_converted_samples(tmp_path: Path) -> None:
    rejected = inspect_input("stations", _gongcan(tmp_path))
    assert rejected.result is None
    uses = {u.header: u for u in rejected.columns}
    assert uses["维度"].column is None and uses["维度"].how == "ignored"
    assert any(p.field == "operator" for p in rejected.problems)
    accepted = inspect_input("stations", _gongcan(tmp_path), mapping=GONGCAN_MAPPING)
    assert accepted.result is not None and accepted.result.rows == 4
    uses = {u.header: u for u in accepted.columns}
    assert (uses["维度"].column, uses["维度"].how) == ("lat", "--map")
    assert uses["--set operator"].samples[0] == ("CUCC", "CUCC")
    assert uses["参考信号功率"].samples[0] == ("152", "45.9918")
    assert uses["参考信号功率"].note == "0.1 dBm per RE -> total dBm"
    assert uses["制式"].samples[2] == ("L900", "LTE B8")
    assert uses["天线挂高"].samples[2] == ("0", "")


def test_cli_dry_run_stores_nothing_and_a_profile_is_saved(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'v.db'}"
    runner = CliRunner(env={"VILLAGE5G_DATA_DIR": str(tmp_path / "data")})
    path = _gongcan(tmp_path)
    out = runner.invoke(cli_app, ["--db", db, "ingest", "stations", str(path), "--dry-run", "--map",
                                  "维度=lat,小区名称=cell_id", "--set", "operator=CUCC", "--save-profile", "cucc4g"],
                        catch_exceptions=False)
    assert out.exit_code == 0, out.output
    assert "would be stored" in out.output and "nothing stored" in out.output
    assert (tmp_path / "data" / "profiles" / "cucc4g.toml").is_file()
    store = Store(db)
    store.create_schema()
    assert store.counts()["stations"] == 0
    out = runner.invoke(cli_app, ["--db", db, "ingest", "stations", str(path), "--profile", "cucc4g"],
                        catch_exceptions=False)
    assert out.exit_code == 0, out.output
    assert store.counts()["stations"] == 4
    store.dispose()


def test_analysis_names_the_station_with_a_height_of_zero() -> None:
    stations = conform("stations", {
        "site_id": ["S9"], "cell_id": ["S9-1"], "operator": ["CMCC"], "rat": ["NR"], "band": ["n41"],
        "lon": [119.4], "lat": [32.4], "height_m": [0.0], "status": ["active"]}, [shapely.Point(119.4, 32.4)])
    with pytest.raises(ConfigError, match=r"site S9 cell S9-1 \(CMCC n41\): 0 m"):
        prepare_cells(gpd.GeoDataFrame(stations), "EPSG:32650")


def test_api_dry_run_and_upload_with_map_and_set(store: Store, tmp_path: Path) -> None:
    build_row_world(store, analyze=False)
    headers = key(store, "admin")
    path = _gongcan(tmp_path)
    before = store.counts()["stations"]
    with TestClient(app_for(store, tmp_path)) as client:
        form = {"map": "维度=lat,小区名称=cell_id", "set": "operator=CUCC"}
        preview = client.post("/ingest/stations/dry-run", files={"file": (path.name, path.read_bytes())},
                              data=form, headers=headers)
        assert preview.status_code == 200, preview.text
        body = preview.json()
        assert body["accepted"] is True and body["rows"] == 4
        assert {"header": "维度", "column": "lat", "how": "--map"}.items() <= next(
            c for c in body["columns"] if c["header"] == "维度").items()
        assert store.counts()["stations"] == before
        bare = client.post("/ingest/stations/dry-run", files={"file": (path.name, path.read_bytes())},
                           headers=headers).json()
        assert bare["accepted"] is False and any(p["severity"] == "error" for p in bare["problems"])
        stored = client.post("/ingest/stations", files={"file": (path.name, path.read_bytes())}, data=form,
                             headers=headers)
        assert stored.status_code == 201, stored.text
        assert store.counts()["stations"] == before + 4
        bad = client.post("/ingest/stations", files={"file": (path.name, path.read_bytes())},
                          data={"map": "维度=latitude"}, headers=headers)
        assert bad.status_code == 400 and "not a column of stations" in bad.text


def test_ss_pbch_epre_has_its_own_header_and_nr_rows_prefer_it(tmp_path: Path) -> None:
    header = ["站号", "运营商", "制式", "经度", "纬度", "方位角", "参考信号功率", "SSB功率(dBm)"]
    rows = [["S1", "移动", "NR2600", "119.405", "32.405", "0", "", "18.0"],
            ["S2", "联通", "L1800", "119.415", "32.405", "0", "15.2", ""],
            ["S3", "电信", "NR3500", "119.425", "32.405", "0", "12.0", "17.0"]]
    result = read_input("stations", write_csv(tmp_path / "ssb.csv", header, rows))
    power = result.frame["power_dbm"].to_numpy()
    # NR 100 MHz at 30 kHz: 273 RB = 3276 subcarriers; LTE 20 MHz: 1200
    assert power[0] == pytest.approx(18.0 + 10 * math.log10(3276), abs=1e-9)
    assert power[1] == pytest.approx(15.2 + 10 * math.log10(1200), abs=1e-9)
    assert power[2] == pytest.approx(17.0 + 10 * math.log10(3276), abs=1e-9)
