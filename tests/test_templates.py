"""Fill-in templates: Chinese headers, data validation, two example rows, and they read back."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.cli import app as cli_app
from api.cli.root import TemplateKind
from api.routers.ingest import XLSX
from coverage.audit.outcomes import PassRule, passing_tests, village_outcomes
from coverage.audit.results import TEST_COLUMNS, field_test_points, read_field_tests
from coverage.audit.rounds import upload_results
from coverage.audit.sampling import Sample, SamplingPlan, draw_sample
from coverage.audit.store import AuditStore
from coverage.ingest import read_input
from coverage.ingest.mr import ingest_mr, read_mr
from coverage.ingest.templates import TEMPLATE_KINDS, template_columns, write_template
from coverage.store.storage import IngestRecord, Store
from tests.utils.api import app_for, key
from tests.worlds.two_cities import two_city_results, two_city_stations

#: 2026-12-01 noon, Beijing: the examples' 2026-06-01 is in the past.
NOW = dt.datetime(2026, 12, 1, 12, 0)


def _template_round(tmp_path: Path) -> tuple[gpd.GeoDataFrame, Sample]:
    """The villages template's two villages (甲村 321012101201 with its committee point, 乙村 without)
    and a round over them: at a 20-point margin Cochran's n for N = 2 is both."""
    villages = read_input("villages", write_template("villages", tmp_path / "村.xlsx")).frame
    sample = draw_sample(two_city_results(villages), two_city_stations(), SamplingPlan(margin=0.2, seed=1))
    assert sorted(sample.villages["code"]) == ["321012101201", "321012101202"]
    return villages, sample


def _stored_round(store: Store, tmp_path: Path) -> Sample:
    villages, sample = _template_round(tmp_path)
    store.write("villages", villages, record=IngestRecord(kind="villages", file_name="村.xlsx", sha256="0" * 64))
    assert AuditStore(store).save_sample(sample) == 1
    return sample


@pytest.mark.parametrize("kind", TEMPLATE_KINDS)
def test_a_template_reads_back_with_its_two_example_rows(kind: str, tmp_path: Path) -> None:
    path = write_template(kind, tmp_path / f"{kind}.xlsx")
    if kind == "mr":
        store = Store(f"sqlite:///{tmp_path / 'mr.db'}")
        store.create_schema()
        stored = ingest_mr(store, path)
        assert stored.rows == 2 and stored.threshold_dbm == -105.0 and stored.warnings == []
        assert list(read_mr(store)["rsrp_mean_dbm"]) == [-96.5, -109.2]
        store.dispose()
    elif kind == "field_tests":
        _, sample = _template_round(tmp_path)
        tests = read_field_tests(path, round_number=1, villages=sample.villages,
                                 known_codes=set(sample.villages["code"]), now=NOW)
        assert tests.rows == 2 and tests.warnings == []
    else:
        result = read_input(kind, path)
        assert result.rows == 2
        assert not any("ignored columns" in w.message for w in result.warnings)
    workbook = openpyxl.load_workbook(path)
    sheet = workbook.worksheets[0]
    headers = [c.value for c in sheet[1]]
    assert headers == [c.header for c in template_columns(kind)]
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in h) for h in headers)  # Chinese first
    assert workbook.sheetnames[1] == "说明"


def test_the_stations_template_validates_operator_band_and_ranges(tmp_path: Path) -> None:
    sheet = openpyxl.load_workbook(write_template("stations", tmp_path / "s.xlsx")).worksheets[0]
    rules = {str(v.sqref).split(":")[0]: v for v in sheet.data_validations.dataValidation}
    headers = {c.value: c.column_letter for c in sheet[1]}
    operator = rules[f"{headers['运营商']}2"]
    assert operator.type == "list" and "中国移动" in operator.formula1 and "中国广电" in operator.formula1
    band = rules[f"{headers['频段']}2"]
    assert "n41" in band.formula1 and "B3" in band.formula1
    lon = rules[f"{headers['经度(°)']}2"]
    assert (lon.type, lon.formula1, lon.formula2) == ("decimal", "73.3", "135.1")
    assert sheet[f"{headers['站址编码']}2"].value == "JD0001"


def test_cli_and_api_serve_the_same_template(store: Store, tmp_path: Path) -> None:
    out = CliRunner().invoke(cli_app, ["template", "measurements", "-o", str(tmp_path / "m.xlsx")],
                             catch_exceptions=False)
    assert out.exit_code == 0 and (tmp_path / "m.xlsx").is_file()
    with TestClient(app_for(store, tmp_path)) as client:
        response = client.get("/ingest/measurements/template")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    served = tmp_path / "served.xlsx"
    served.write_bytes(response.content)
    assert read_input("measurements", served).frame.equals(read_input("measurements", tmp_path / "m.xlsx").frame)


def test_the_field_test_form_is_every_operators_reading_at_one_point_and_uploads_to_a_round(
        store: Store, tmp_path: Path) -> None:
    sample = _stored_round(store, tmp_path)
    accepted = upload_results(store, 1, write_template("field_tests", tmp_path / "现场测试.xlsx"), now=NOW)
    assert accepted.warnings == [] and accepted.crs == "EPSG:4326"
    frame = accepted.frame
    assert list(frame.columns) == [*TEST_COLUMNS, "geometry"]
    # the two example rows as written: 甲村, one point, one time, 中国移动 and 中国电信
    assert frame["village_code"].tolist() == ["321012101201", "321012101201"]
    assert frame["operator"].tolist() == ["CMCC", "CTCC"] and frame["band"].tolist() == ["n41", "n78"]
    assert frame["lon"].tolist() == [119.4061, 119.4061] and frame["lat"].tolist() == [32.4057, 32.4057]
    assert frame["tested_at"].tolist() == [pd.Timestamp("2026-06-01 10:00:00")] * 2
    assert frame[["rsrp_dbm", "sinr_db", "dl_mbps", "ul_mbps"]].to_numpy().tolist() == [
        [-88.5, 12.5, 310.2, 45.1], [-108.0, 1.5, 42.3, 5.8]]
    assert frame["tester"].tolist() == ["张伟", "张伟"]
    # one test point; 中国移动 passes every bar, 中国电信 misses -105 dBm (and 100/10 Mbit/s): the point passes
    assert field_test_points(frame).tolist() == [0, 0]
    assert passing_tests(frame, PassRule()).tolist() == [True, False]
    outcome = village_outcomes(sample.villages, frame, PassRule(min_tests=1)).set_index("code").loc["321012101201"]
    assert (outcome["n_tests"], outcome["n_pass"], bool(outcome["passed"])) == (1, 1, True)
    assert len(AuditStore(store).read_tests(1)) == 2


def test_the_field_test_form_has_chinese_headers_and_validation_lists(tmp_path: Path) -> None:
    book = openpyxl.load_workbook(write_template("field_tests", tmp_path / "f.xlsx"))
    assert book.sheetnames == ["现场测试", "说明"]
    sheet = book["现场测试"]
    headers = [c.value for c in sheet[1]]
    assert headers == ["村代码", "村名", "测试点经度(°)", "测试点纬度(°)", "测试时间", "运营商", "频段",
                       "参考信号接收功率(dBm)", "信噪比(dB)", "下载速率(Mbit/s)", "上传速率(Mbit/s)", "测试人", "备注"]
    # the header and the two example rows hold values (text columns are formatted as text to row 199)
    filled = [i for i, row in enumerate(sheet.iter_rows(values_only=True), start=1) if any(v is not None for v in row)]
    assert filled == [1, 2, 3] and sheet.max_column == 13 and sheet.freeze_panes == "A2"
    rules = {str(v.sqref): v for v in sheet.data_validations.dataValidation}
    letter = {h: c.column_letter for h, c in zip(headers, sheet[1], strict=True)}

    def rule(header: str) -> tuple[str | None, str | None, str | None, str | None]:
        v = rules[f"{letter[header]}2:{letter[header]}5001"]
        return v.type, v.operator, v.formula1, v.formula2

    assert rule("运营商") == ("list", None, '"中国移动,中国联通,中国电信,中国广电"', None)
    assert rule("频段")[2] == '"n28,n41,n78,n79,B3,B8,B5,B28,B34,B38,B1,B39,B40,B41,n1"'
    assert rule("参考信号接收功率(dBm)") == ("decimal", "between", "-156", "-31")
    assert rule("信噪比(dB)") == ("decimal", "between", "-23", "40")
    assert rule("下载速率(Mbit/s)") == ("decimal", "greaterThanOrEqual", "0", None)
    assert rule("测试点纬度(°)") == ("decimal", "between", "3.8", "53.6")
    assert len(rules) == 8  # operator, band, the two coordinates, RSRP, SINR and the two speeds
    # the example rows: the code a text cell, the coordinates numbers
    assert sheet["A2"].value == "321012101201" and sheet["A2"].number_format == "@"
    assert sheet["C2"].value == sheet["C3"].value == 119.4061
    # the notes sheet explains every column, required ones marked, and says where the form goes
    notes = [row for row in book["说明"].iter_rows(values_only=True)]
    assert [r[0] for r in notes[1:14]] == headers
    assert [r[2] for r in notes[1:14]] == ["是", "否", "是", "是", "是", "是", "否", "是", "是", "是", "是", "是", "否"]
    assert notes[8][4] == "-156 ~ -31" and notes[10][4] == "≥ 0"
    assert any("village5g audit results" in str(r[0]) for r in notes[15:])


def test_cli_and_api_serve_the_field_test_form_and_it_uploads_over_http(store: Store, tmp_path: Path) -> None:
    assert [k.value for k in TemplateKind] == list(TEMPLATE_KINDS)
    out = CliRunner().invoke(cli_app, ["template", "field_tests", "-o", str(tmp_path / "form.xlsx")],
                             catch_exceptions=False)
    assert out.exit_code == 0 and "已写出现场测试模板" in out.output
    _stored_round(store, tmp_path)
    with TestClient(app_for(store, tmp_path)) as client:
        kinds = client.get("/openapi.json").json()["paths"]["/ingest/{kind}/template"]["get"]["parameters"][0]
        assert kinds["schema"]["enum"] == list(TEMPLATE_KINDS)
        response = client.get("/ingest/field_tests/template")
        assert response.status_code == 200
        assert response.headers["content-type"] == XLSX
        assert "village5g-field_tests-template.xlsx" in response.headers["content-disposition"]
        served = tmp_path / "served.xlsx"
        served.write_bytes(response.content)
        assert openpyxl.load_workbook(served).sheetnames == ["现场测试", "说明"]
        uploaded = client.post("/audits/1/results", files={"file": ("现场测试.xlsx", response.content)},
                               headers=key(store, "auditor"))
    assert uploaded.status_code == 201, uploaded.text
    assert (uploaded.json()["rows"], uploaded.json()["villages"], uploaded.json()["warnings"]) == (2, 1, [])
    cli = read_field_tests(tmp_path / "form.xlsx", round_number=1, villages=AuditStore(store).read_sample(1).villages,
                           known_codes={"321012101201", "321012101202"}, now=NOW).frame
    stored = AuditStore(store).read_tests(1)
    assert stored["rsrp_dbm"].tolist() == cli["rsrp_dbm"].tolist() == [-88.5, -108.0]
    assert np.array_equal(stored["operator"].to_numpy(), cli["operator"].to_numpy())
