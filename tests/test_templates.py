"""Fill-in templates: Chinese headers, data validation, two example rows, and they read back."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.cli import app as cli_app
from coverage.ingest import read_input
from coverage.ingest.mr import ingest_mr, read_mr
from coverage.ingest.templates import TEMPLATE_KINDS, template_columns, write_template
from coverage.store.storage import Store
from tests.utils.api import app_for


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
