"""``village5g audit ...`` on the tiny world: sample, list, export, results, report."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest
from typer.testing import CliRunner

from api.cli import app
from api.cli.audit import audit_app
from coverage.errors import ValidationError
from coverage.store.storage import Store
from tests.worlds.two_cities import field_tests, seed_two_cities

if not any(group.typer_instance is audit_app for group in app.registered_groups):
    app.add_typer(audit_app, name="audit")  # until api/cli.py registers it

runner = CliRunner()


def _cli(db: str, *args: str) -> str:
    result = runner.invoke(app, ["--db", db, "audit", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables as wide as they need, so their cells do not wrap in the captured output."""
    from api.cli import console

    monkeypatch.setattr(console, "width", 200)


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    store = Store(url)
    store.create_schema()
    seed_two_cities(store, tmp_path)
    store.dispose()
    return url


def test_sample_list_export(db: str, tmp_path: Path) -> None:
    out = _cli(db, "sample", "--margin", "0.15", "--seed", "8", "-o", str(tmp_path / "r1.xlsx"))
    assert "round 1: 24 villages and 6 reserves in 2 strata from run 1; seed 8" in out
    assert "wrote 30 villages" in out
    assert openpyxl.load_workbook(tmp_path / "r1.xlsx").sheetnames == ["3201 南京市", "3202 无锡市"]
    again = _cli(db, "sample", "--margin", "0.15", "--seed", "8", "--dry-run")
    assert "preview (not stored): 24 villages" in again
    third = _cli(db, "sample", "--rate", "0.1", "--min", "6", "--exclude-rounds", "1", "--city", "南京",
                 "--population", "covered", "--strata", "city-verdict")
    assert "round 2: 6 villages" in third and "excluded" in third
    listing = _cli(db, "list")
    assert "audit rounds" in listing and "city-verdict/covered/rate" in listing
    one = _cli(db, "list", "1", "--city", "3202", "--limit", "3")
    assert "round 1: run 1, seed 8" in one and "(first 3)" in one
    _cli(db, "export", "1", "-o", str(tmp_path / "r1.kml"))
    assert (tmp_path / "r1.kml").read_text(encoding="utf-8").count("<Placemark>") == 30
    random_seed = _cli(db, "sample", "--margin", "0.3", "--dry-run")
    assert "(drawn at random, stored)" in random_seed


def test_results_and_report(db: str, tmp_path: Path) -> None:
    _cli(db, "sample", "--margin", "0.15", "--seed", "8", "-o", str(tmp_path / "r1.csv"), "--lang", "en")
    import pandas as pd

    listed = pd.read_csv(tmp_path / "r1.csv", encoding="utf-8-sig", dtype={"code": str})
    _cli(db, "export", "1", "-o", str(tmp_path / "r1_zh.csv"))  # the default: Chinese headers, same villages
    chinese = pd.read_csv(tmp_path / "r1_zh.csv", encoding="utf-8-sig", dtype=str)
    assert chinese["村代码"].tolist() == listed["code"].tolist()
    assert chinese["备选"].tolist() == ["是" if r else "否" for r in listed["reserve"]]
    tests = field_tests(listed[~listed["reserve"]], per_village=3)
    tests.to_csv(tmp_path / "tests.csv", index=False, encoding="utf-8-sig")
    out = _cli(db, "results", "1", str(tmp_path / "tests.csv"))
    assert "stored 72 tests of 24 villages for round 1" in out
    report = _cli(db, "report", "1", "--dl-min", "50", "-o", str(tmp_path / "report.xlsx"))
    assert "72 tests in 24 villages" in report
    assert "DL >= 50 Mbit/s" in report
    assert "overall pass rate" in report and "calibration offsets" in report
    assert set(openpyxl.load_workbook(tmp_path / "report.xlsx").sheetnames) == {
        "overall", "strata", "confusion", "villages", "offsets", "rule"}
    wilson = _cli(db, "report", "1", "--method", "wilson", "--no-calibrate")
    assert "95% wilson" in wilson


def test_bad_results_file_is_one_error_and_nothing_stored(db: str, tmp_path: Path) -> None:
    _cli(db, "sample", "--margin", "0.15", "--seed", "8")
    (tmp_path / "bad.csv").write_text("村代码,经度\n320101001201,118.8\n", encoding="utf-8")
    result = runner.invoke(app, ["--db", db, "audit", "results", "1", str(tmp_path / "bad.csv")])
    assert result.exit_code != 0
    assert isinstance(result.exception, ValidationError)
    assert "bad.csv，字段 'lat'：缺少必需的列：纬度 (missing required column 'lat'" in str(result.exception)
    assert "0 tests" not in _cli(db, "list")
    both = runner.invoke(app, ["--db", db, "audit", "sample", "--rate", "0.1", "--expected-pass", "0.8"])
    assert both.exit_code != 0 and "not both" in both.output


def test_uncertain_from_flagged_draws_the_supplement_among_flagged_villages(db: str, tmp_path: Path) -> None:
    from coverage.audit.sampling import SUPPLEMENT
    from coverage.audit.store import AuditStore

    out = _cli(db, "sample", "--margin", "0.15", "--seed", "8", "--uncertain", "10", "--uncertain-from", "flagged")
    store = Store(db)
    results = store.read_results(None)
    sample = AuditStore(store).read_sample(1)
    store.dispose()
    assert sample.plan.uncertain == 10 and sample.plan.uncertain_from == "flagged"
    # the run flags 6 of the 80 villages (weak); those not already on the random list or its reserves are all
    # there is to add, fewer than the 10 asked
    random_part = set(sample.villages.loc[sample.villages["stratum"] != SUPPLEMENT, "code"])
    flagged = results[(results["verdict"] != "covered") & ~results["code"].isin(random_part)]
    extra = sample.villages[sample.villages["stratum"] == SUPPLEMENT]
    assert len(results[results["verdict"] != "covered"]) == 6 and 0 < len(flagged) < 10
    expected = flagged.assign(d=(flagged["p_covered"] - 0.5).abs()).sort_values(["d", "code"])["code"]
    assert extra["code"].tolist() == expected.tolist()
    assert (f"plus {len(flagged)} supplementary villages where p_covered is closest to 0.5 among the flagged "
            "villages (weak or uncovered)") in out
    assert f"10 supplementary villages asked, {len(flagged)} eligible among the flagged villages" in out
    assert "supplementary villages: 10 asked among the flagged villages" in _cli(db, "list", "1")
    # the report says how the supplement was drawn, on screen and in the workbook
    tests = field_tests(extra, per_village=2)
    tests.to_csv(tmp_path / "tests.csv", index=False, encoding="utf-8-sig")
    _cli(db, "results", "1", str(tmp_path / "tests.csv"))
    report = _cli(db, "report", "1", "--no-calibrate", "-o", str(tmp_path / "report.xlsx"))
    assert (f"supplementary villages (where p_covered was closest to 0.5 among the flagged villages (weak or "
            f"uncovered)): {len(flagged)} listed, {len(flagged)} tested") in report
    overall = list(openpyxl.load_workbook(tmp_path / "report.xlsx")["overall"].iter_rows(values_only=True))
    assert dict(zip(overall[0], overall[1], strict=True))["uncertain_from"] == "flagged"
    # the default is unchanged, and a bad choice is refused before anything is drawn
    assert "among the flagged" not in _cli(db, "sample", "--margin", "0.15", "--seed", "8", "--uncertain", "3",
                                           "--dry-run")
    bad = runner.invoke(app, ["--db", db, "audit", "sample", "--uncertain", "3", "--uncertain-from", "weak"])
    assert bad.exit_code == 2 and "--uncertain-from" in bad.output
