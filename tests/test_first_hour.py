"""What a new user meets in the first hour, on the small hand-made world (tests/utils/api.py):
Chinese-first, Excel-ready files; readable CLI tables with a total row; Chinese verdict words;
"did you mean" for region names; one error per line; progress lines without log locations; a
clear message on a busy port."""

from __future__ import annotations

import csv
import io
import socket
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest
from typer.testing import CliRunner

from api.cli import app, error_lines
from api.cli.service import port_in_use
from coverage.errors import ConfigError, NotFoundError, Problem, ValidationError
from coverage.labels import LABELS, header, parse_verdict, people_sheet
from coverage.store.regions import did_you_mean
from coverage.store.storage import Store
from tests.worlds.row import build_row_world

runner = CliRunner()

# The world's verdicts (tests/utils/api.py): one covered and one weak village next to the only site,
# six uncovered without a site; Nanjing's four are all uncovered.
COVERED, WEAK = "321012101201", "321012101202"
UNCOVERED = ["320115100201", "320115100202", "320115100203", "320115100204", "321012101203", "321012101204"]


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('first-hour') / 'w.db'}")
    store.create_schema()
    build_row_world(store)
    yield store.url
    store.dispose()


def _cli(db: str, *args: str, code: int = 0) -> str:
    result = runner.invoke(app, ["--db", db, *args], catch_exceptions=False, env={"COLUMNS": "80"})
    assert result.exit_code == code, result.output
    return result.output


def _csv(path: Path) -> list[dict[str, str]]:
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(data[3:].decode("utf-8"), newline="")))


# -- files -----------------------------------------------------------------------------------------


def test_village_csv_is_chinese_rounded_with_percentages_and_yes_no(db: str, tmp_path: Path) -> None:
    path = tmp_path / "v.csv"
    _cli(db, "villages", "--format", "csv", "-o", str(path))
    rows = {r["代码"]: r for r in _csv(path)}
    assert set(rows) == {COVERED, WEAK, *UNCOVERED}
    first = rows[COVERED]
    assert first["名称"] == "甲村村委会" and first["地市"] == "扬州市" and first["结论"] == "5G通达"
    assert rows[WEAK]["结论"] == "弱覆盖" and rows[UNCOVERED[0]]["结论"] == "无覆盖"
    assert first["无站址"] == "否" and rows[UNCOVERED[0]]["无站址"] == "是"
    share = first["良好覆盖面积占比"]
    assert share.endswith("%") and len(share.split(".")[1]) == 2  # "97.0%": one decimal, a percentage
    assert first["最近站点距离(米)"].isdigit()  # whole metres, no 1216.224752834002
    rsrp = first["村委会SS-RSRP(dBm)"]
    assert rsrp.startswith("-") and len(rsrp.split(".")[1]) == 1
    assert "True" not in path.read_text(encoding="utf-8-sig") and "False" not in path.read_text(encoding="utf-8-sig")


def test_english_files_keep_the_column_keys(db: str, tmp_path: Path) -> None:
    path = tmp_path / "v.csv"
    _cli(db, "villages", "--status", "uncovered", "--format", "csv", "-o", str(path), "--lang", "en")
    rows = _csv(path)
    assert sorted(r["code"] for r in rows) == UNCOVERED
    assert {r["verdict"] for r in rows} == {"uncovered"} and {r["no_site"] for r in rows} == {"yes"}


def test_county_summary_workbook_is_excel_ready(db: str, tmp_path: Path) -> None:
    path = tmp_path / "s.xlsx"
    _cli(db, "summary", "--level", "county", "-o", str(path))
    sheet = openpyxl.load_workbook(path).worksheets[0]
    assert sheet.title == "通达率汇总"
    headers = [c.value for c in sheet[1]]
    assert headers[:4] == ["地市代码", "地市", "代码", "名称"]  # the city of each county comes first
    assert {"行政村数", "5G通达", "弱覆盖", "无覆盖", "无站址", "通达率", "距目标差(村)"} <= set(headers)
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref == f"A1:{sheet.cell(1, len(headers)).column_letter}3"
    assert all(sheet.column_dimensions[c].width >= 8 for c in "ABCDEFG")
    rows = {r[2].value: dict(zip(headers, r, strict=True)) for r in sheet.iter_rows(min_row=2)}
    jiangdu = rows["321012"]
    assert jiangdu["地市"].value == "扬州市" and jiangdu["代码"].data_type == "s"
    assert jiangdu["代码"].number_format == "@"
    assert jiangdu["通达率"].value == pytest.approx(0.25) and jiangdu["通达率"].number_format == "0.0%"
    assert jiangdu["行政村数"].value == 4 and jiangdu["行政村数"].number_format == "#,##0"
    assert rows["320115"]["无站址"].value == 4 and rows["320115"]["通达率"].value == 0


def test_every_catalogued_header_is_unique_so_files_read_back_by_header() -> None:
    headers = [header(k) for k in LABELS]
    assert len(headers) == len(set(headers))


def test_people_sheet_refuses_an_unknown_language() -> None:
    import pandas as pd

    with pytest.raises(ConfigError, match="unknown language 'fr'"):
        people_sheet(pd.DataFrame({"code": ["1"]}), lang="fr")


# -- CLI tables ------------------------------------------------------------------------------------


def test_village_table_never_cuts_code_or_name_at_80_columns(db: str) -> None:
    out = _cli(db, "villages")
    for code in (COVERED, WEAK, *UNCOVERED):
        assert code in out
    assert "甲村村委会" in out and "赵庄村委会" in out
    assert "…" not in "".join(line for line in out.splitlines() if COVERED in line).split("甲村村委会")[0]
    assert "reasons" not in out  # fewer columns: the long reason codes stay in the files


def test_summary_table_ends_with_the_province_total(db: str) -> None:
    out = _cli(db, "summary")
    lines = out.splitlines()
    total = next(line for line in lines if "江苏省" in line)
    assert "32" in total and "8" in total and "12.5%" in total  # 1 of 8 covered
    assert lines.index(total) > max(i for i, line in enumerate(lines) if "扬州市" in line or "南京市" in line)


def test_summary_table_heads_each_column_in_chinese_then_english(db: str) -> None:
    lines = _cli(db, "summary").splitlines()
    title = next(line for line in lines if "分析运行" in line)
    assert title.strip().startswith("分析运行 ") and "各地市 5G 通达率，目标 " in title and "(run " in title
    head = next(i for i, line in enumerate(lines) if line.startswith("代码"))
    assert lines[head].split() == ["代码", "名称", "行政村数", "5G通达", "弱覆盖", "无覆盖", "无站址", "通达率",
                                   "期望通达率(95%)", "距目标差(村)"]
    assert lines[head + 1].split()[:4] == ["code", "name", "villages", "covered"]


def test_a_two_line_heading_is_as_wide_as_its_wider_line_in_terminal_cells() -> None:
    from api.cli import context as cli

    with cli.console.capture() as captured:
        cli.print_rows("t", [cli.heading("代码", "code"), cli.heading("行政村数", "villages")],
                       [["3201", "344"], ["32", "江苏省"]], left=1)
    # 代码 and code are 4 cells, 行政村数 and villages 8 (a Chinese character takes two); two cells apart
    assert captured.get().splitlines()[1:] == ["代码  行政村数", "code  villages", "─" * 14, "3201       344",
                                               "32      江苏省"]


def test_the_village_list_says_its_verdicts_and_flags_in_chinese(db: str) -> None:
    out = _cli(db, "villages", "--status", "weak")
    row = next(line for line in out.splitlines() if WEAK in line)
    assert "弱覆盖" in row and "weak" not in row
    assert "通达概率：该村 5G 通达的概率" in out and "(p: probability that the village is covered" in out


@pytest.mark.parametrize(("argv", "usage", "message"), [
    (["summary", "--level", "x"], "village5g summary",
     "选项 '--level' 的值无效 (Invalid value for '--level': "),
    (["summary", "--levle", "city"], "village5g summary",
     "没有选项 --levle（是否指 --level、--help？） (No such option: --levle"),
    (["summry"], "village5g", "命令行有误 (No such command 'summry'."),
    (["export"], "village5g export", "缺少参数 'kind' (Missing argument 'kind'."),
])
def test_a_refused_command_line_is_said_chinese_first(monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str], argv: list[str],
                                                       usage: str, message: str) -> None:
    from api.cli import main

    monkeypatch.setattr("sys.argv", ["village5g", *argv])
    with pytest.raises(SystemExit) as ended:
        main()
    assert ended.value.code == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith(f"Usage: {usage} ")
    assert lines[1] == f"用 '{usage} --help' 查看帮助 (Try '{usage} --help' for help.)"
    assert lines[2].startswith(f"错误 (error): {message}")


def test_progress_lines_carry_no_log_location(db: str) -> None:
    result = runner.invoke(app, ["--db", db, "analyze"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "cli.py:" not in result.output and " s  " in result.output


# -- words people type -----------------------------------------------------------------------------


@pytest.mark.parametrize(("word", "codes"), [
    ("无覆盖", UNCOVERED), ("未覆盖", UNCOVERED), ("弱覆盖", [WEAK]), ("5G通达", [COVERED]), ("已覆盖", [COVERED]),
    ("uncovered", UNCOVERED),
])
def test_chinese_verdict_words_are_accepted(db: str, tmp_path: Path, word: str, codes: list[str]) -> None:
    path = tmp_path / "v.csv"
    _cli(db, "villages", "--status", word, "--format", "csv", "-o", str(path))
    assert sorted(r["代码"] for r in _csv(path)) == sorted(codes)


def test_an_unknown_verdict_word_names_the_accepted_ones(db: str) -> None:
    out = _cli(db, "villages", "--status", "坏", code=2)
    assert "无覆盖" in out and "弱覆盖" in out
    with pytest.raises(ConfigError, match="unknown verdict"):
        parse_verdict("good")


def test_a_misspelt_city_gets_a_suggestion(db: str) -> None:
    result = runner.invoke(app, ["--db", db, "villages", "--city", "杨州"])
    assert isinstance(result.exception, NotFoundError)
    assert str(result.exception) == ("没有代码或名称为“杨州”的地市（已存区划中）；是否指 3210 扬州市？ (no city with "
                                     "code or name '杨州' among the stored regions (did you mean 3210 扬州市?))")
    result = runner.invoke(app, ["--db", db, "villages", "--county", "320151"])
    assert "did you mean 320115 江宁区?" in str(result.exception)


def test_did_you_mean_matches_names_with_or_without_their_suffix() -> None:
    cities = [("3207", "连云港市"), ("3208", "淮安市"), ("3203", "徐州市")]
    assert did_you_mean("连云岗", cities) == " (did you mean 3207 连云港市?)"
    assert did_you_mean("连云岗市", cities) == " (did you mean 3207 连云港市?)"
    assert did_you_mean("上海", cities) == ""


def test_each_problem_of_a_rejected_file_is_its_own_line() -> None:
    problems = [Problem("s.csv", i, "lon", f"problem {i}") for i in range(1, 24)]
    lines = error_lines(ValidationError(problems))
    assert lines[:2] == ["s.csv，第 1 行，字段 'lon'：problem 1", "s.csv，第 2 行，字段 'lon'：problem 2"]
    assert len(lines) == 21 and lines[-1] == "另有 3 个问题 (and 3 more problem(s))"
    assert str(Problem("s.csv", None, None, "empty")) == "s.csv：empty"
    assert str(Problem("s.csv", None, "lon", "x")) == "s.csv，字段 'lon'：x"
    assert error_lines(NotFoundError("no run 7")) == ["no run 7"]


# -- serving ---------------------------------------------------------------------------------------


def test_a_busy_port_is_one_clear_line(db: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert port_in_use("127.0.0.1", port) is not None
        result = runner.invoke(app, ["--db", db, "serve", "--port", str(port)])
    assert result.exit_code == 1
    message = result.output.strip()
    assert "\n" not in message and f"cannot serve on 127.0.0.1:{port}" in message
    assert f"--port {port + 1}" in message and f"make demo PORT={port + 1}" in message
    assert port_in_use("127.0.0.1", port) is None


def test_a_table_wider_than_the_terminal_is_printed_whole_not_cut() -> None:
    from api.cli import context as cli

    width = cli.console.width
    cli.console.width = 40
    try:
        with cli.console.capture() as captured:
            cli.print_rows("t", ["code", "name", "county", "villages"],
                            [["320771", "连云港经济技术开发区", "连云港经济技术开发区", "16"]], left=3, shrink=2)
    finally:
        cli.console.width = width
    row = next(line for line in captured.get().splitlines() if "320771" in line)
    assert "320771  连云港经济技术开发区  " in row and row.rstrip().endswith("16")
    assert "…" in row  # only the county column gave way


def test_the_demo_checks_its_port_before_any_work(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        db = f"sqlite:///{tmp_path / 'empty.db'}"
        result = runner.invoke(app, ["--db", db, "demo", "--serve", "--port", str(port), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"错误 (error): 无法在 127.0.0.1:{port} 上提供服务：端口已被占用，请用 --port {port + 1} 换一个端口（make demo "
        f"PORT={port + 1}） (cannot serve on 127.0.0.1:{port}: address already in use (another server is listening "
        f"there?); choose another port with --port {port + 1} (make demo PORT={port + 1}))"]
    assert not (tmp_path / "o").exists() and not (tmp_path / "empty.db").exists()


@pytest.mark.parametrize(("kind", "value", "csv_text", "excel"), [
    ("rate", 0.7063953488372093, "70.6%", 0.7064),
    ("m", 1216.224752834002, 1216, 1216),
    ("db", -105.04999, -105.0, -105.0),
    ("deg", 119.123456789, 119.123457, 119.123457),
    ("yesno", False, "否", "否"),
    ("yesno", True, "是", "是"),
    ("verdict", "weak", "弱覆盖", "弱覆盖"),
    ("level", "county", "区县", "区县"),
    ("code", "320111006207", "320111006207", "320111006207"),
    ("int", 13263.0, 13263, 13263),
    ("rate", float("nan"), None, None),
])
def test_values_are_shown_rounded_and_in_chinese(kind: str, value: object, csv_text: object, excel: object) -> None:
    from coverage.labels import show_value

    assert show_value(kind, value) == csv_text
    assert show_value(kind, value, excel=True) == excel
