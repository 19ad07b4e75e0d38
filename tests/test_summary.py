"""通达率 and gap to target, against counts worked out by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from coverage.summary import reach_gap, summarize


def test_reach_gap_by_hand() -> None:
    assert reach_gap(10, 9, 0.9) == 0  # 90% reached exactly
    assert reach_gap(10, 8, 0.9) == 1
    assert reach_gap(7, 6, 0.9) == 1  # ceil(6.3) = 7 villages needed
    assert reach_gap(100, 95, 0.9) == 0


def test_summary_per_city_and_province() -> None:
    results = pd.DataFrame({
        "province_code": ["32"] * 5, "province_name": ["江苏省"] * 5,
        "city_code": ["3201", "3201", "3203", "3203", "3203"],
        "city_name": ["南京市", "南京市", "徐州市", "徐州市", "徐州市"],
        "verdict": ["covered", "weak", "covered", "uncovered", "uncovered"],
        "no_site": [False, False, False, True, False],
    })
    city = summarize(results, level="city", target_rate=0.9).set_index("code")
    assert city.loc["3201", "reach_rate"] == pytest.approx(0.5)
    assert city.loc["3203", ["villages", "covered", "uncovered", "no_site", "gap_villages"]].tolist() == [
        3, 1, 2, 1, 2]
    province = summarize(results, level="province").iloc[0]
    assert province["reach_rate"] == pytest.approx(2 / 5) and province["gap_villages"] == 3


def test_reach_rate_is_covered_over_villages_and_none_without_villages() -> None:
    from coverage.summary import rate_text, reach_rate, reach_rates

    assert reach_rate(3, 4) == 0.75 and reach_rate(0, 4) == 0.0
    assert reach_rate(0, 0) is None
    rates = reach_rates(pd.Series([1, 0, 2]), pd.Series([4, 0, float("nan")]))
    assert rates.iloc[0] == 0.25 and rates.iloc[1:].isna().all()
    assert (rate_text(0.1234), rate_text(None), rate_text(float("nan"))) == ("12.3%", "–", "–")
