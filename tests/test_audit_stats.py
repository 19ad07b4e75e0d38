"""Audit statistics: intervals equal scipy's, 95 % intervals cover about 95 % of the time, stratified
estimates and the predicted-versus-measured table computed by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binom, binomtest

from coverage.audit.outcomes import PassRule, village_outcomes
from coverage.audit.stats import (
    clopper_pearson,
    confusion_matrix,
    proportion_interval,
    stratified_estimate,
    stratum_estimates,
    wilson,
)
from coverage.errors import ConfigError

COUNTS = [(0, 1), (1, 1), (0, 10), (3, 10), (10, 10), (57, 60), (112, 122), (122, 122), (1, 1547), (699, 1547)]


@pytest.mark.parametrize(("k", "n"), COUNTS)
@pytest.mark.parametrize("confidence", [0.90, 0.95, 0.99])
def test_intervals_equal_scipy(k: int, n: int, confidence: float) -> None:
    exact = binomtest(k, n).proportion_ci(confidence_level=confidence, method="exact")
    low, high = clopper_pearson(k, n, confidence)
    assert float(low) == pytest.approx(exact.low, abs=1e-12)
    assert float(high) == pytest.approx(exact.high, abs=1e-12)
    score = binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
    low, high = wilson(k, n, confidence)
    assert float(low) == pytest.approx(score.low, abs=1e-12)
    assert float(high) == pytest.approx(score.high, abs=1e-12)


def test_intervals_vectorised_and_empty() -> None:
    k = np.array([0, 5, 9])
    n = np.array([10, 10, 0])
    low, high = proportion_interval(k, n, method="exact")
    assert np.isnan(low[2]) and np.isnan(high[2])
    assert low[0] == 0.0 and high[0] == pytest.approx(binomtest(0, 10).proportion_ci().high)
    with pytest.raises(ConfigError):
        proportion_interval(k, n, method="wald")


def _coverage_exact(p: float, n: int, method: str) -> float:
    """Probability that the interval of k ~ Binomial(n, p) covers p (sum of the pmf over k)."""
    k = np.arange(n + 1)
    low, high = proportion_interval(k, np.full(n + 1, n), method=method)
    return float(binom.pmf(k, n, p)[(low <= p) & (p <= high)].sum())


@pytest.mark.parametrize("method", ["exact", "wilson"])
def test_simulated_field_results_cover_the_true_pass_rate_about_95_percent(method: str) -> None:
    # 2000 simulated audits of a stratum of 1,000 villages whose true pass rate is 0.9: each audit tests
    # the Cochran sample of 122 villages (drawn without replacement), each village's field tests pass
    # with the village's fate. How often does the 95 % interval contain 0.9?
    rng = np.random.default_rng(20261126)
    population = np.zeros(1000, dtype=bool)
    population[:900] = True  # true pass rate 0.9
    sims, n = 2000, 122
    passed = np.array([population[rng.choice(1000, n, replace=False)].sum() for _ in range(sims)])
    low, high = proportion_interval(passed, np.full(sims, n), method=method)
    covered = float(np.mean((low <= 0.9) & (high >= 0.9)))
    # binomial tolerance: 3 standard errors of a share estimated from 2000 simulations
    tolerance = 3 * np.sqrt(0.95 * 0.05 / sims)  # 0.0146
    # sampling without replacement from N = 1000 has less spread than the binomial, so the coverage is
    # at least the binomial one; Clopper-Pearson is >= 95 % by construction
    assert covered >= 0.95 - tolerance
    assert covered <= 0.995
    # and the binomial coverage at p = 0.9, n = 122 is itself close to 95 %
    assert 0.93 <= _coverage_exact(0.9, n, method) <= 0.99


@pytest.mark.parametrize("method", ["exact", "wilson"])
def test_with_replacement_simulation_matches_the_exact_binomial_coverage(method: str) -> None:
    rng = np.random.default_rng(7)
    sims, n, p = 2000, 80, 0.85
    k = rng.binomial(n, p, size=sims)
    low, high = proportion_interval(k, np.full(sims, n), method=method)
    covered = float(np.mean((low <= p) & (p <= high)))
    expected = _coverage_exact(p, n, method)
    assert abs(covered - expected) <= 3 * np.sqrt(expected * (1 - expected) / sims)
    assert abs(expected - 0.95) <= 0.03


def test_stratified_interval_covers_the_province_rate() -> None:
    # three strata (cities) with different pass rates; the province's rate is sum W_h p_h
    rng = np.random.default_rng(11)
    big_n = np.array([344, 1964, 1008])
    p_h = np.array([0.95, 0.80, 0.90])
    n_h = np.array([99, 130, 122])
    truth = float(np.sum(big_n / big_n.sum() * p_h))  # 0.84129...
    sims = 2000
    k = rng.binomial(n_h, p_h, size=(sims, 3))
    hits = {"exact": 0, "wilson": 0}
    for row in k:
        for method in hits:
            est = stratified_estimate(big_n, n_h, row, method=method)
            hits[method] += est.low <= truth <= est.high
    tolerance = 3 * np.sqrt(0.95 * 0.05 / sims)
    for method, count in hits.items():
        assert 0.95 - tolerance <= count / sims <= 0.995, method


def test_stratified_estimate_by_hand() -> None:
    # W = (100, 300) / 400 = (0.25, 0.75); p = (8/10, 15/20) -> 0.25 * 0.8 + 0.75 * 0.75 = 0.7625
    # v = 0.25^2 * 0.8 * 0.2 / 10 + 0.75^2 * 0.75 * 0.25 / 20 = 0.001 + 0.00527344 = 0.00627344
    # n* = 0.7625 * 0.2375 / 0.00627344 = 28.8670 (< 30 tested), k* = 0.7625 n* = 22.0111
    est = stratified_estimate([100, 300], [10, 20], [8, 15])
    assert est.pass_rate == pytest.approx(0.7625)
    assert est.std_error == pytest.approx(np.sqrt(0.00627344), rel=1e-5)
    assert est.effective_n == pytest.approx(28.8670, abs=1e-3)
    assert est.effective_k == pytest.approx(22.0111, abs=1e-3)
    low, high = clopper_pearson(est.effective_k, est.effective_n)
    assert (est.low, est.high) == (pytest.approx(float(low)), pytest.approx(float(high)))
    assert est.tested == 30 and est.passed == 23 and est.population_share == 1.0


def test_one_stratum_is_the_simple_interval() -> None:
    est = stratified_estimate([1000], [122], [110], method="exact")
    ci = binomtest(110, 122).proportion_ci(method="exact")
    assert est.effective_n == pytest.approx(122) and est.effective_k == pytest.approx(110)
    assert (est.low, est.high) == (pytest.approx(ci.low), pytest.approx(ci.high))


def test_strata_without_results_are_left_out_and_reported() -> None:
    est = stratified_estimate([100, 300], [10, 0], [9, 0])
    assert est.pass_rate == pytest.approx(0.9)
    assert est.population_share == pytest.approx(0.25)
    none = stratified_estimate([100], [0], [0])
    assert np.isnan(none.pass_rate) and none.tested == 0


def _list() -> pd.DataFrame:
    return pd.DataFrame({
        "code": [f"32010100120{i}" for i in range(1, 7)], "name": [f"村{i}" for i in range(1, 7)],
        "city_code": "3201", "city_name": "南京市", "stratum": ["A", "A", "A", "B", "B", "B"],
        "order": [1, 2, 3, 1, 2, 3], "reserve": [False, False, True, False, False, True],
        "verdict": ["covered", "covered", "weak", "covered", "uncovered", "covered"],
    })


def _tests() -> pd.DataFrame:
    rows = [
        # village 1: 5 tests, 4 pass (one DL 80 < 100) -> share 0.8 -> passes
        *[("320101001201", -90.0, 5.0, 300.0, 30.0)] * 4, ("320101001201", -90.0, 5.0, 80.0, 30.0),
        # village 2: 2 tests, 1 passes (SINR -4 < -3) -> 0.5 -> fails; median RSRP -100 -> weak
        ("320101001202", -100.0, 5.0, 300.0, 30.0), ("320101001202", -100.0, -4.0, 300.0, 30.0),
        # village 4: no service twice -> fails, median -156 (the floor) -> uncovered
        ("320101001204", np.nan, np.nan, 0.0, 0.0), ("320101001204", np.nan, np.nan, 0.0, 0.0),
        # village 5 untested; reserve 6 tested instead: UL 9 < 10 -> fails; RSRP -110 -> weak
        ("320101001206", -110.0, 2.0, 150.0, 9.0),
    ]
    tests = pd.DataFrame(rows, columns=["village_code", "rsrp_dbm", "sinr_db", "dl_mbps", "ul_mbps"])
    # each test at a point of its own, 0.001 degrees (about 100 m) apart
    return tests.assign(lon=118.8 + 0.001 * np.arange(len(tests)), lat=32.0)


def test_a_point_with_several_operators_passes_when_one_passes() -> None:
    """Rows of several operators at one test point (same village, same place to 1e-4 degrees) are one
    point: it passes when any of them passes, and its reading is a passing row's, else the strongest."""
    ok, low_dl = (5.0, 300.0, 30.0), (5.0, 80.0, 30.0)
    rows = [
        # village 1, 3 points. A: CMCC passes, CBN weak -> passes, reading -100
        ("320101001201", 118.80001, 32.0, "CMCC", -100.0, *ok), ("320101001201", 118.80001, 32.0, "CBN", -110.0, *ok),
        # B, 100 m east: CMCC -108 fails, CUCC -95 with DL 80 fails -> fails, reading the strongest, -95
        ("320101001201", 118.801, 32.0, "CMCC", -108.0, *ok), ("320101001201", 118.801, 32.0, "CUCC", -95.0, *low_dl),
        # C: CTCC alone passes, -99
        ("320101001201", 118.802, 32.0, "CTCC", -99.0, *ok),
        # village 2, 5 points of two rows each, one passing: every point passes; the rows 2 m apart
        # (118.80301 and 118.80303 round to 118.8030) are at the same point
        *[r for i in range(5) for r in (
            ("320101001202", 118.80301 + 0.001 * i, 32.0, "CMCC", -112.0, *ok),
            ("320101001202", 118.80303 + 0.001 * i, 32.0, "CTCC", -101.0 - i, *ok))],
    ]
    tests = pd.DataFrame(rows, columns=["village_code", "lon", "lat", "operator", "rsrp_dbm", "sinr_db", "dl_mbps",
                                        "ul_mbps"])
    out = village_outcomes(_list(), tests, PassRule()).set_index("code")
    assert out["n_tests"].tolist()[:2] == [3, 5]
    assert out["n_pass"].tolist()[:2] == [2, 5]
    # village 1: 2 of 3 points (0.67 < 0.8) fails; by rows it would be 2 of 5. Median of -100, -95, -99: -99
    assert out.loc["320101001201", "pass_share"] == pytest.approx(2 / 3)
    assert out.loc["320101001201", "passed"] == False  # noqa: E712
    assert out.loc["320101001201", "rsrp_median_dbm"] == -99.0
    assert out.loc["320101001201", "measured_class"] == "weak"
    assert out.loc["320101001201", "dl_median_mbps"] == 300.0  # A 300, B 80 (CUCC, the strongest), C 300
    # village 2: 5 of 5 points pass (by rows 5 of 10, 0.5, it would fail); readings CTCC's -101 ... -105
    assert out.loc["320101001202", "passed"] == True  # noqa: E712
    assert out.loc["320101001202", "rsrp_median_dbm"] == -103.0


def test_village_outcomes_and_confusion_by_hand() -> None:
    out = village_outcomes(_list(), _tests(), PassRule()).set_index("code")
    assert out["n_tests"].tolist() == [5, 2, 0, 2, 0, 1]
    assert out["n_pass"].tolist() == [4, 1, 0, 0, 0, 0]
    assert out["pass_share"].iloc[0] == pytest.approx(0.8)
    assert out["tested"].tolist() == [True, True, False, True, False, True]
    assert out["passed"].tolist() == [True, False, pd.NA, False, pd.NA, False]
    assert out["measured_class"].tolist()[:2] == ["covered", "weak"]
    assert out.loc["320101001204", "measured_class"] == "uncovered"
    assert out.loc["320101001206", "measured_class"] == "weak"

    strata = pd.DataFrame({"stratum": ["A", "B"], "city_code": "3201", "city_name": "南京市", "verdict": None,
                           "population": [30, 10], "sample": [2, 2], "reserve": [1, 1]})
    est = stratum_estimates(out.reset_index(), strata)
    assert est["tested"].tolist() == [2, 2] and est["passed"].tolist() == [1, 0]
    assert est["reserves_tested"].tolist() == [0, 1]
    assert est["weight"].tolist() == [0.75, 0.25]
    ci = binomtest(1, 2).proportion_ci(method="exact")
    assert (est.loc[0, "low"], est.loc[0, "high"]) == (pytest.approx(ci.low), pytest.approx(ci.high))

    table = confusion_matrix(out.reset_index())
    # tested: v1 covered->covered, v2 covered->weak, v4 covered->uncovered, v6 covered->weak
    assert table.loc["covered", ["covered", "weak", "uncovered"]].tolist() == [1, 2, 1]
    assert table.loc["weak", "tested"] == 0 and table.loc["uncovered", "tested"] == 0
    assert table.loc["all", "tested"] == 4
    assert table.loc["covered", "pass_rate"] == pytest.approx(0.25)


def test_stricter_rule_changes_outcomes() -> None:
    strict = PassRule(village_pass_share=1.0)
    out = village_outcomes(_list(), _tests(), strict).set_index("code")
    assert out.loc["320101001201", "passed"] == False  # noqa: E712  (4 of 5 is not all)
    lenient = PassRule(min_dl_mbps=50.0, min_ul_mbps=5.0, village_pass_share=0.5)
    out = village_outcomes(_list(), _tests(), lenient).set_index("code")
    # village 2: 1 of 2 passes = 0.5 -> passes; village 6: RSRP -110 < -105 still fails
    assert out["passed"].tolist()[:2] == [True, True]
    assert out["passed"].isna().tolist() == [False, False, True, False, True, False]
    assert not out.loc["320101001204", "passed"] and not out.loc["320101001206", "passed"]
