"""The simulated field tests of the seed world (seeds.truth.simulate_field_tests): today's form pinned, and
the form with every operator's reading at each test point."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from coverage.audit.outcomes import PassRule, passing_tests, village_outcomes
from coverage.audit.results import field_test_points, read_field_tests
from seeds import SeedWorld
from seeds.truth import OPERATOR_ZH, simulate_field_tests, true_readings

SEED = 20261201
#: sha256 of the CSV text of the default form for :func:`_listed` and SEED, written by the simulator before
#: the every-operator form was added: round 1 of every benchmark and `village5g seed` rest on these rows.
DEFAULT_FORM_SHA256 = "187f8d5554ad764bc82cd2c9752c26582af2baacc2162fde916dde458e7bbaea"
KEY = ["村代码", "测试点经度", "测试点纬度"]


def _listed(world: SeedWorld) -> pd.DataFrame:
    """80 committees across the province (every 173rd), strata by city, the last two of each a reserve;
    three of them moved to sea east of the province, where no operator has service."""
    v = world.villages
    v = v[v["committee_lon"].notna()].iloc[::173].head(80)
    listed = pd.DataFrame({"code": v["code"].astype(str).to_numpy(), "name": v["name"].to_numpy(),
                           "stratum": v["city_code"].astype(str).to_numpy(),
                           "point_lon": v["committee_lon"].to_numpy(float),
                           "point_lat": v["committee_lat"].to_numpy(float)})
    listed.loc[[5, 6, 7], "point_lon"] = 122.9
    listed["order"] = listed.groupby("stratum").cumcount() + 1
    listed["reserve"] = listed["order"] > listed.groupby("stratum")["order"].transform("max") - 2
    return listed


@pytest.fixture(scope="module")
def forms(seed_world: SeedWorld) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    listed = _listed(seed_world)
    assert seed_world.true_field is not None
    best = simulate_field_tests(seed_world.true_field, listed, seed=SEED, unreachable=0.2)
    every = simulate_field_tests(seed_world.true_field, listed, seed=SEED, unreachable=0.2, every_operator=True)
    return listed, best, every


def test_default_form_is_todays(forms: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]) -> None:
    _, best, _ = forms
    assert len(best) == 300 and best["村代码"].nunique() == 60  # 5 points each; reserves for the skipped
    assert hashlib.sha256(best.to_csv(index=False).encode()).hexdigest() == DEFAULT_FORM_SHA256


def test_every_operator_form_holds_the_same_points_and_readings(
        forms: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]) -> None:
    _, best, every = forms
    # the same villages and points, the point's coordinates and time on each of its rows
    assert best.drop_duplicates(KEY)[KEY].values.tolist() == every.drop_duplicates(KEY)[KEY].values.tolist()
    assert every.groupby(KEY)["测试时间"].nunique().eq(1).all()
    rows = every.groupby(KEY, sort=False).size()
    assert set(rows) <= {1, 2, 3, 4} and (rows == 4).sum() > 250
    # at most one row per operator at a point, each with service, except a point where none has service
    assert not every.duplicated([*KEY, "运营商"]).any()
    served = every["SS-RSRP(dBm)"].notna()
    none = every[~served]
    assert none.merge(every[served], on=KEY).empty and (none.groupby(KEY).size() == 1).all()
    assert len(none) == best["SS-RSRP(dBm)"].isna().sum() == 9
    # each operator reads with its own noise, drawn as for today's form: the strongest reading of a point
    # is today's row (operator, SS-RSRP and SS-SINR)
    strongest = every.assign(r=every["SS-RSRP(dBm)"].fillna(-999.0)).sort_values("r", ascending=False,
                                                                                kind="stable").drop_duplicates(KEY)
    paired = best.merge(strongest, on=KEY, suffixes=("", "_every"))
    assert len(paired) == len(best)
    for column in ("运营商", "SS-RSRP(dBm)", "SS-SINR(dB)"):
        assert paired[column].equals(paired[f"{column}_every"].rename(column)), column


def test_every_operator_readings_carry_no_selection_bias(
        seed_world: SeedWorld, forms: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]) -> None:
    _, best, every = forms
    assert seed_world.true_field is not None
    error = {}
    for name, tests in (("best", best), ("every", every)):
        truth = true_readings(seed_world.true_field, tests)
        reading = tests["SS-RSRP(dBm)"].to_numpy(float)
        ok = np.isfinite(reading)
        error[name] = float(np.mean(reading[ok] - truth[ok]))
    # noise 2.5 dB: the mean of 1,159 readings has a standard error of 0.07 dB; the best of four
    # noisy readings is biased up (the winner's curse), by about 1 dB here
    assert abs(error["every"]) < 0.25
    assert error["best"] > 0.75


def _read(tmp_path: Path, listed: pd.DataFrame, tests: pd.DataFrame, name: str) -> pd.DataFrame:
    csv = tmp_path / f"{name}.csv"
    tests.to_csv(csv, index=False, encoding="utf-8-sig")
    read = read_field_tests(csv, round_number=2, villages=listed, known_codes=set(listed["code"]))
    assert len(read.frame) == len(tests)
    return read.frame


def test_every_operator_form_reads_as_an_upload_and_counts_points(
        tmp_path: Path, forms: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]) -> None:
    listed, best, every = forms
    read = {"best": _read(tmp_path, listed, best, "best"), "every": _read(tmp_path, listed, every, "every")}
    assert set(read["every"]["operator"]) == set(OPERATOR_ZH)
    # 300 tests at 299 points: two of 遥观村村委会's random points lie 2 m apart (one place)
    points = {name: len(np.unique(field_test_points(frame))) for name, frame in read.items()}
    assert points == {"best": 299, "every": 299}
    villages = listed.assign(city_code="32", city_name="江苏", verdict="covered")
    out = {name: village_outcomes(villages, frame, PassRule()).set_index("code") for name, frame in read.items()}
    assert out["every"]["n_tests"].equals(out["best"]["n_tests"])
    assert out["every"]["n_tests"].value_counts().to_dict() == {5: 59, 0: 20, 4: 1}
    assert out["every"].loc["320412104220", "n_tests"] == 4
    # a point passes when any operator's reading there passes
    frame = read["every"]
    frame = frame.assign(point=field_test_points(frame), ok=passing_tests(frame, PassRule()))
    by_point = frame.groupby(["village_code", "point"])["ok"].any().groupby("village_code").sum()
    tested = out["every"][out["every"]["n_tests"] > 0]
    assert tested["n_pass"].sort_index().tolist() == by_point.sort_index().tolist()
    assert by_point.sum() < frame["ok"].sum()  # counting rows would have counted more passes
