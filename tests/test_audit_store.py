"""Audit rounds in the database (SQLite and PostGIS): round trips, exclusions, atomic uploads, and a
whole round on the tiny world - draw, upload, report, offsets, calibrated stations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from coverage.audit.calibration import sample_raster
from coverage.audit.outcomes import PassRule
from coverage.audit.rounds import draw_round, round_calibration, round_offsets, round_report, upload_results
from coverage.audit.sampling import SamplingPlan, draw_sample
from coverage.audit.stats import write_report
from coverage.audit.store import AuditStore
from coverage.errors import NotFoundError, ValidationError
from coverage.model.calibration import CalibrationRefused
from coverage.model.link_budget import edge_margin_db
from coverage.model.parameters import ModelParameters
from coverage.model.rules import DEFAULT_RULES
from coverage.store.storage import IngestRecord, Store
from tests.worlds.two_cities import field_tests, seed_two_cities, two_city_results, two_city_stations

MARGIN = float(edge_margin_db(DEFAULT_RULES.edge_probability, DEFAULT_RULES.shadow_sigma_db))


def test_sample_round_trip_and_numbering(store: Store) -> None:
    audits = AuditStore(store)
    sample = draw_sample(two_city_results(), two_city_stations(), SamplingPlan(margin=0.1, seed=4), run_id=1)
    assert audits.save_sample(sample) == 1
    second = draw_sample(two_city_results(), two_city_stations(), SamplingPlan(margin=0.2, seed=5), run_id=1)
    assert audits.save_sample(second) == 2 and audits.latest_round() == 2
    back = audits.read_sample(1)
    assert back.plan == sample.plan and back.run_id == 1 and back.round == 1
    pd.testing.assert_frame_equal(back.strata, sample.strata, check_dtype=False)
    left = pd.DataFrame(back.villages.drop(columns="geometry"))
    right = pd.DataFrame(sample.villages.drop(columns="geometry"))
    pd.testing.assert_frame_equal(left, right)
    assert back.villages.geometry.equals(sample.villages.geometry)
    rounds = audits.rounds()
    assert rounds["round"].tolist() == [2, 1]
    assert rounds.iloc[1][["villages", "reserves", "tests"]].tolist() == [38, 8, 0]
    with pytest.raises(NotFoundError, match="round 9 does not exist"):
        audits.read_round(9)


def test_recent_codes_are_main_lists_and_tested_reserves(store: Store, tmp_path: Path) -> None:
    store.write("villages", two_city_results().drop(columns=["verdict", "committee_rsrp_dbm", "committee_sinr_db"]),
                record=_record())
    audits = AuditStore(store)
    first = draw_sample(two_city_results(), two_city_stations(), SamplingPlan(margin=0.2, seed=4), run_id=1)
    audits.save_sample(first)
    reserve = first.villages[first.villages["reserve"]].iloc[:1]
    path = tmp_path / "t.csv"
    field_tests(reserve, per_village=1).to_csv(path, index=False)
    upload_results(store, 1, path)
    codes, rounds = audits.recent_codes(1)
    assert rounds == [1]
    assert codes == set(first.main["code"]) | set(reserve["code"])
    assert audits.recent_codes(0) == (set(), [])


def _record() -> IngestRecord:
    return IngestRecord(kind="villages", file_name="v", sha256="0" * 64)


def test_rejected_upload_stores_nothing_and_duplicates_are_refused(store: Store, tmp_path: Path) -> None:
    store.write("villages", two_city_results().drop(columns=["verdict", "committee_rsrp_dbm", "committee_sinr_db"]),
                record=_record())
    audits = AuditStore(store)
    sample = draw_sample(two_city_results(), two_city_stations(), SamplingPlan(margin=0.2, seed=4), run_id=1)
    audits.save_sample(sample)
    good = field_tests(sample.main.head(4))
    bad = good.astype(object)
    bad.loc[5, "SS-RSRP(dBm)"] = "weak"
    bad.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ValidationError, match=r"bad.csv，第 6 行，字段 'SS-RSRP\(dBm\)'"):
        upload_results(store, 1, tmp_path / "bad.csv")
    assert audits.read_tests(1).empty and audits.uploads(1).empty

    good.to_csv(tmp_path / "good.csv", index=False)
    assert len(upload_results(store, 1, tmp_path / "good.csv").frame) == 8
    stored = audits.read_tests(1)
    assert len(stored) == 8 and stored["tested_at"].dtype == "datetime64[ns]"
    assert stored["village_code"].tolist() == good["村代码"].tolist()
    with pytest.raises(ValidationError, match=r"good.csv：.*all 8 tests are already stored for round 1 \(the "):
        upload_results(store, 1, tmp_path / "good.csv")
    partly = pd.concat([good.head(1), field_tests(sample.main.iloc[[5]])], ignore_index=True)
    partly.to_csv(tmp_path / "partly.csv", index=False)
    with pytest.raises(ValidationError, match=r"partly.csv，第 1 行，字段 'tested_at'：.*the test of .* stored"):
        upload_results(store, 1, tmp_path / "partly.csv")
    assert len(audits.read_tests(1)) == 8

    # a corrected re-upload of one village replaces only that village's tests
    fix = good[good["村代码"] == good["村代码"].iloc[0]].assign(**{"SS-RSRP(dBm)": -99.0})
    fix.to_csv(tmp_path / "fix.csv", index=False)
    upload_results(store, 1, tmp_path / "fix.csv", replace=True)
    stored = audits.read_tests(1)
    assert len(stored) == 8
    assert (stored[stored["village_code"] == fix["村代码"].iloc[0]]["rsrp_dbm"] == -99.0).all()
    assert audits.uploads(1)["mode"].tolist() == ["append", "replace"]


def test_offsets_round_trip(store: Store) -> None:
    audits = AuditStore(store)
    offsets = pd.DataFrame({"band": ["n41", "n41"], "city_code": ["*", "3201"], "city_name": ["all cities", "南京市"],
                            "n_tests": [7, 5], "n_villages": [7, 5], "offset_db": [4.286, 6.0], "median_db": [4.0, 6.0],
                            "std_db": [3.4, np.nan], "low_db": [1.1, np.nan], "high_db": [7.4, np.nan],
                            "usable": [True, True]})
    audits.save_offsets(3, offsets, run_id=1, margin_db=MARGIN)
    audits.save_offsets(3, offsets, run_id=1, margin_db=MARGIN)  # replaces
    back = audits.read_offsets(3)
    assert back["offset_db"].tolist() == [4.286, 6.0] and np.isnan(back["std_db"].iloc[1])
    assert back["margin_db"].iloc[0] == pytest.approx(MARGIN, abs=1e-3) and back.attrs["round"] == 3


def test_a_whole_round_on_the_tiny_world(store: Store, tmp_path: Path) -> None:
    run_id = seed_two_cities(store, tmp_path)
    run = store.read_run(run_id)
    first = draw_round(store, SamplingPlan(margin=0.15, seed=8))
    assert first.round == 1 and first.run_id == run_id
    # n0 = 3.841459 * 0.9 * 0.1 / 0.15^2 = 15.3658; n = 15.3658 / (1 + 14.3658 / 40) = 11.306 -> 12
    assert list(first.strata["sample"]) == [12, 12]
    preview = draw_round(store, SamplingPlan(margin=0.15, seed=8), save=False)
    assert preview.round is None and list(preview.villages["code"]) == list(first.villages["code"])

    # field tests: at every listed village, measured RSRP = predicted median + 3 dB at the test point
    tests = field_tests(first.main, per_village=2)
    lon, lat = tests["测试点经度"].to_numpy(float), tests["测试点纬度"].to_numpy(float)
    raster = sample_raster(run["raster_path"], lon, lat)
    assert np.isfinite(raster).all()
    tests["SS-RSRP(dBm)"] = np.round(raster + MARGIN + 3.0, 6)
    path = tmp_path / "round1.csv"
    tests.to_csv(path, index=False, encoding="utf-8-sig")
    upload_results(store, 1, path)

    report = round_report(store, 1, rule=PassRule(min_rsrp_dbm=-200.0))
    assert report.counts["tested_villages"] == len(first.main) and report.counts["untested_villages"] == 0
    assert report.overall.pass_rate == 1.0 and report.overall.tested == len(first.main)
    assert report.confusion.loc["all", "covered"] == len(first.main)
    offsets = report.offsets
    assert offsets is not None, report.offsets_note
    pooled = offsets[offsets["city_code"] == "*"].set_index("band")
    # every test is CMCC: band n41 recorded, or n41 from the nearest CMCC site
    assert pooled.index.tolist() == ["n41"]
    assert pooled.loc["n41", "offset_db"] == pytest.approx(3.0, abs=1e-3)
    assert pooled.loc["n41", "n_tests"] == len(tests)
    assert AuditStore(store).read_offsets(1)["offset_db"].tolist() == pytest.approx(offsets["offset_db"].tolist())

    # the round's tests are evidence for a calibration of the model, but the tiny world's few dozen
    # cannot be split into enough training and held-out samples: refused, saying so
    with pytest.raises(CalibrationRefused, match="held-out samples"):
        round_calibration(store, 1, params=ModelParameters(workers=1))

    second = draw_round(store, SamplingPlan(margin=0.15, seed=9, exclude_rounds=1))
    assert second.round == 2 and second.excluded_rounds == [1]
    assert not set(second.villages["code"]) & set(first.main["code"])

    write_report(report, tmp_path / "report.xlsx")
    write_report(report, tmp_path / "report.json")
    assert (tmp_path / "report.xlsx").stat().st_size > 0


def test_offsets_need_tests_and_a_raster(store: Store, tmp_path: Path) -> None:
    seed_two_cities(store, tmp_path)
    draw_round(store, SamplingPlan(margin=0.3, seed=1))
    report = round_report(store, 1)
    assert report.offsets is None and "no field tests" in (report.offsets_note or "")
    with pytest.raises(NotFoundError, match="no field tests"):
        round_offsets(store, 1)
