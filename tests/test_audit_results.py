"""Field-test files: Chinese headers, CSV/XLSX/JSON, GCJ-02, and every rejection naming file, row, field."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from coverage.audit.outcomes import PassRule, load_pass_rule, passing_tests
from coverage.audit.results import read_field_tests
from coverage.audit.rounds import evidence_frame, field_test_evidence
from coverage.audit.sampling import SamplingPlan, draw_sample
from coverage.crs import wgs84_to_gcj02
from coverage.errors import ConfigError, ValidationError
from coverage.ingest.messages import english
from tests.worlds.two_cities import field_tests, two_city_results, two_city_stations

RESULTS = two_city_results()
SAMPLE = draw_sample(RESULTS, two_city_stations(), SamplingPlan(margin=0.2, seed=11))
LISTED = SAMPLE.villages
KNOWN = set(RESULTS["code"]) | {"320101001299"}  # 299: stored, but in no round
NOW = dt.datetime(2026, 11, 26, 12, 0)


def _read(path: Path, **kw: object) -> pd.DataFrame:
    return read_field_tests(path, round_number=3, villages=LISTED, known_codes=KNOWN, now=NOW, **kw).frame  # type: ignore[arg-type]


def _problems(path: Path, **kw: object) -> list[str]:
    with pytest.raises(ValidationError) as err:
        _read(path, **kw)
    return [str(p) for p in err.value.problems]


def test_csv_with_chinese_headers(tmp_path: Path) -> None:
    tests = field_tests(LISTED.head(3))
    path = tmp_path / "结果.csv"
    tests.to_csv(path, index=False, encoding="utf-8-sig")
    frame = _read(path)
    assert len(frame) == 6
    assert frame["village_code"].tolist() == np.repeat(LISTED["code"].head(3).to_numpy(), 2).tolist()
    assert (frame["operator"] == "CMCC").all()
    assert frame["band"].iloc[0] == "n41" and pd.isna(frame["band"].iloc[1])
    assert frame["tested_at"].dtype == "datetime64[ns]"
    assert frame["tested_at"].iloc[0] == pd.Timestamp(tests["测试时间"].iloc[0])
    assert frame[["rsrp_dbm", "sinr_db", "dl_mbps", "ul_mbps"]].iloc[0].tolist() == [-90.0, 8.5, 350.0, 40.0]
    assert frame["tester"].iloc[0] == "张伟"
    assert frame.crs == "EPSG:4326" and frame.geometry.x.iloc[0] == frame["lon"].iloc[0]


def test_field_tests_as_evidence(tmp_path: Path) -> None:
    tests = field_tests(LISTED.head(2))
    tests.loc[3, ["SS-RSRP(dBm)", "SS-SINR(dB)", "下载速率(Mbps)", "上传速率(Mbps)"]] = np.nan  # no service
    path = tmp_path / "结果.csv"
    tests.to_csv(path, index=False, encoding="utf-8-sig")
    evidence = evidence_frame([field_test_evidence(_read(path), 3)])
    assert len(evidence) == 4 and evidence.crs == "EPSG:4326"
    # outdoor NR measurements of round 3; the test without service at the no-service level, -140 dBm
    assert evidence["rsrp_dbm"].tolist() == [-90.0, -90.0, -90.0, -140.0]
    assert evidence["dl_mbps"].tolist() == [350.0, 350.0, 350.0, 0.0]
    assert (evidence["loss_db"] == 0.0).all() and (evidence["rat"] == "NR").all()
    assert (evidence["source"] == "audit round 3").all() and (evidence["operator"] == "CMCC").all()
    assert evidence["lon"].tolist() == tests["测试点经度"].tolist()
    assert evidence.geometry.x.tolist() == tests["测试点经度"].tolist()
    assert len(evidence_frame([])) == 0


def test_gbk_csv_xlsx_and_json_read_alike(tmp_path: Path) -> None:
    tests = field_tests(LISTED.head(2))
    tests.to_csv(tmp_path / "a.csv", index=False, encoding="gbk")
    tests.to_excel(tmp_path / "a.xlsx", index=False)
    (tmp_path / "a.json").write_text(tests.to_json(orient="records", force_ascii=False), encoding="utf-8")
    records = json.loads(tests.to_json(orient="records", force_ascii=False))
    (tmp_path / "b.json").write_text(json.dumps({"tests": records}, ensure_ascii=False), encoding="utf-8")
    features = [{"type": "Feature", "properties": r,
                 "geometry": {"type": "Point", "coordinates": [r.pop("测试点经度"), r.pop("测试点纬度")]}}
                for r in json.loads(tests.to_json(orient="records", force_ascii=False))]
    (tmp_path / "c.json").write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    frames = [_read(tmp_path / name) for name in ("a.csv", "a.xlsx", "a.json", "b.json", "c.json")]
    base = pd.DataFrame(frames[0].drop(columns="geometry"))
    for other in frames[1:]:
        pd.testing.assert_frame_equal(base, pd.DataFrame(other.drop(columns="geometry")))


def test_english_headers_and_units(tmp_path: Path) -> None:
    tests = field_tests(LISTED.head(1), headers="en").rename(columns={"time": "tested_at", "rsrp": "SS-RSRP (dBm)",
                                                                      "dl": "download (Mbit/s)"})
    tests.to_csv(tmp_path / "en.csv", index=False)
    assert len(_read(tmp_path / "en.csv")) == 2
    tests.rename(columns={"download (Mbit/s)": "下载速率(kbps)"}).to_csv(tmp_path / "kbps.csv", index=False)
    assert any("unit 'kbps' is not supported" in p for p in _problems(tmp_path / "kbps.csv"))


def test_gcj02_points_are_converted_back(tmp_path: Path) -> None:
    tests = field_tests(LISTED.head(2))
    lon, lat = tests["测试点经度"].to_numpy(float), tests["测试点纬度"].to_numpy(float)
    g_lon, g_lat = wgs84_to_gcj02(lon, lat)
    shifted = tests.assign(**{"测试点经度": g_lon, "测试点纬度": g_lat})
    shifted.to_csv(tmp_path / "gcj.csv", index=False)
    frame = _read(tmp_path / "gcj.csv", crs="gcj02")
    assert np.allclose(frame["lon"], lon, atol=1e-7) and np.allclose(frame["lat"], lat, atol=1e-7)
    # undeclared, the ~500 m shift stays below the warning distance: accepted as WGS84 (the user's call)
    accepted = read_field_tests(tmp_path / "gcj.csv", round_number=3, villages=LISTED, known_codes=KNOWN, now=NOW)
    assert not accepted.warnings


def test_no_service_rows(tmp_path: Path) -> None:
    tests = field_tests(LISTED.head(1), per_village=1).astype(object)
    tests.loc[0, ["SS-RSRP(dBm)", "SS-SINR(dB)", "下载速率(Mbps)", "上传速率(Mbps)"]] = [None, None, None, None]
    tests.to_csv(tmp_path / "nos.csv", index=False)
    frame = _read(tmp_path / "nos.csv")
    assert np.isnan(frame["rsrp_dbm"].iloc[0]) and np.isnan(frame["sinr_db"].iloc[0])
    assert frame[["dl_mbps", "ul_mbps"]].iloc[0].tolist() == [0.0, 0.0]
    assert not passing_tests(frame, PassRule())[0]


def test_every_problem_is_reported_with_file_row_and_field(tmp_path: Path) -> None:
    listed = LISTED["code"].tolist()
    tests = field_tests(LISTED.head(12), per_village=1).astype(object)
    edits = {
        0: {"村代码": "320101001999"},  # a code no village has
        1: {"村代码": "320101001299"},  # a stored village, not in this round
        2: {"SS-RSRP(dBm)": "abc"},
        3: {"SS-RSRP(dBm)": -20.0},
        4: {"测试点经度": tests.loc[4, "测试点纬度"], "测试点纬度": tests.loc[4, "测试点经度"]},
        5: {"测试点纬度": tests.loc[5, "测试点纬度"] + 0.1},  # 11 km north
        6: {"测试时间": "2027-01-05 10:00:00"},
        7: {"SS-SINR(dB)": None},
        8: {"运营商": "中国铁通"},
        9: {"测试人": None},
        10: {"村代码": "32010100120"},  # 11 digits
    }
    for i, values in edits.items():
        for k, v in values.items():
            tests.loc[i, k] = v
    dup = tests.iloc[[11]].copy()
    tests = pd.concat([tests, dup], ignore_index=True)  # row 13 repeats row 12
    path = tmp_path / "bad.csv"
    tests.to_csv(path, index=False, encoding="utf-8-sig")
    problems = _problems(path)
    expected = [
        "bad.csv，第 1 行，字段 '村代码'：unknown village code 320101001999",
        "bad.csv，第 2 行，字段 '村代码'：village 320101001299 is not in round 3",
        "bad.csv，第 3 行，字段 'SS-RSRP(dBm)'：not a number: 'abc'",
        "bad.csv，第 4 行，字段 'SS-RSRP(dBm)'：-20 is out of range",
        "bad.csv，第 5 行，字段 '测试点经度/测试点纬度'：longitude",
        "bad.csv，第 6 行，字段 '测试点经度/测试点纬度'：test point is 11.1 km from the committee point of "
        f"{listed[5]}",
        "bad.csv，第 7 行，字段 '测试时间'：test time 2027-01-05 10:00 is in the future",
        "bad.csv，第 8 行，字段 'SS-SINR(dB)'：missing SS-SINR",
        "bad.csv，第 9 行，字段 '运营商'：unknown operator '中国铁通'",
        "bad.csv，第 10 行，字段 '测试人'：missing tester",
        "bad.csv，第 11 行，字段 '村代码'：village code '32010100120' is not a 12-digit NBS code",
        "bad.csv，第 13 行，字段 '测试时间'：duplicate test",
    ]
    # each problem says its file, row and field, its message Chinese first with the English in brackets
    english_only = [f"{p.split('：', 1)[0]}：{english(p.split('：', 1)[1])}" for p in problems]
    for text in expected:
        assert any(p.startswith(text) for p in english_only), (text, problems)
    assert len(problems) == len(expected)
    assert "bad.csv，第 10 行，字段 '测试人'：缺少测试人 (missing tester)" in problems
    assert ("bad.csv，第 7 行，字段 '测试时间'：测试时间 2027-01-05 10:00 在未来 "
            "(test time 2027-01-05 10:00 is in the future)") in problems
    assert ("bad.csv，第 4 行，字段 'SS-RSRP(dBm)'：SS-RSRP -20 超出范围：应在 -156 到 -31 dBm 之间 "
            "(-20 is out of range: rsrp_dbm must be -156 to -31 dBm)") in problems


def test_missing_columns_and_empty_files(tmp_path: Path) -> None:
    tests = field_tests(LISTED.head(1)).drop(columns=["测试人", "上传速率(Mbps)"])
    tests.to_csv(tmp_path / "cols.csv", index=False)
    problems = _problems(tmp_path / "cols.csv")
    assert any("missing required column 'ul_mbps'" in p and "上传速率" in p for p in problems)
    assert any("missing required column 'tester'" in p for p in problems)
    (tmp_path / "empty.csv").write_text("", encoding="utf-8")
    assert _problems(tmp_path / "empty.csv") == ["empty.csv：文件为空 (file is empty)"]
    (tmp_path / "x.json").write_text("{\"a\": 1}", encoding="utf-8")
    assert "expected a non-empty array" in _problems(tmp_path / "x.json")[0]
    (tmp_path / "x.txt.gz").write_text("x", encoding="utf-8")
    assert "unsupported file type" in _problems(tmp_path / "x.txt.gz")[0]


def test_warnings_do_not_reject(tmp_path: Path) -> None:
    tests = field_tests(LISTED.head(1), per_village=1)
    tests["村名称"] = "别的村"
    tests["测试点纬度"] = tests["测试点纬度"] + 0.018  # 2.0 km north: a warning, not an error
    tests["extra"] = 1
    tests.to_csv(tmp_path / "warn.csv", index=False)
    result = read_field_tests(tmp_path / "warn.csv", round_number=3, villages=LISTED, known_codes=KNOWN, now=NOW)
    messages = [str(w) for w in result.warnings]
    assert any("ignored columns" in m and "extra" in m for m in messages)
    assert any("differs from the listed" in m for m in messages)
    assert any("2000 m from the committee point" in m or "1996 m" in m or "m from the committee point" in m
               for m in messages)
    assert result.rows == 1


def test_pass_rule_file(tmp_path: Path) -> None:
    (tmp_path / "rule.toml").write_text("min_dl_mbps = 50\nname = \"lenient\"\n", encoding="utf-8")
    rule = load_pass_rule(tmp_path / "rule.toml")
    assert rule.min_dl_mbps == 50 and rule.min_rsrp_dbm == -105 and rule.label == "lenient@2026.1"
    (tmp_path / "bad.toml").write_text("min_speed = 50\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown pass-rule keys min_speed"):
        load_pass_rule(tmp_path / "bad.toml")
    with pytest.raises(ConfigError, match="village_pass_share"):
        PassRule(village_pass_share=1.5)
