"""Audit sampling: sizes computed by hand, reproducible seeded selection, exclusions, reserves, lists."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coverage.audit.lists import XLSX_HEADERS, write_sample
from coverage.audit.sampling import (
    SAMPLE_COLUMNS,
    SUPPLEMENT,
    SamplingPlan,
    cochran_size,
    draw_sample,
    rate_size,
    reserve_size,
    stratum_size,
    uncertain_villages,
    z_value,
)
from coverage.crs import wgs84_to_gcj02
from coverage.errors import ConfigError, Village5gError
from tests.worlds.two_cities import two_city_results, two_city_stations, two_city_villages

# -- sizes -------------------------------------------------------------------------------------


def test_cochran_size_n1000_95_percent_5_points_p09_is_122() -> None:
    # z = 1.959964 (95 %); n0 = z^2 p (1-p) / e^2 = 3.841459 * 0.9 * 0.1 / 0.0025 = 138.2925
    # n = n0 / (1 + (n0 - 1) / N) = 138.2925 / (1 + 137.2925 / 1000) = 138.2925 / 1.1372925 = 121.598
    # rounded up: 122
    assert z_value(0.95) == pytest.approx(1.959964, abs=1e-6)
    n0 = z_value(0.95) ** 2 * 0.9 * 0.1 / 0.05**2
    assert n0 == pytest.approx(138.2925, abs=1e-4)
    assert n0 / (1 + (n0 - 1) / 1000) == pytest.approx(121.598, abs=1e-3)
    assert cochran_size(1000, confidence=0.95, margin=0.05, expected_pass=0.9) == 122


@pytest.mark.parametrize(("population", "confidence", "margin", "p", "expected"), [
    # n0 = 1.959964^2 * 0.25 / 0.0025 = 384.146; n = 384.146 / (1 + 383.146 / 10000) = 369.97 -> 370
    (10_000, 0.95, 0.05, 0.5, 370),
    # N = 344 (Nanjing's village committees): n = 138.2925 / (1 + 137.2925 / 344) = 98.85 -> 99
    (344, 0.95, 0.05, 0.9, 99),
    # 90 %: z = 1.644854, n0 = 2.705543 * 0.09 / 0.0025 = 97.40; N = 2000: 97.40 / 1.04820 = 92.92 -> 93
    (2000, 0.90, 0.05, 0.9, 93),
    # 99 %, e = 0.03: z = 2.575829, n0 = 6.634897 * 0.16 / 0.0009 = 1179.54; N = 500: 1179.54 / 3.35708 = 351.36
    (500, 0.99, 0.03, 0.8, 352),
    # tiny strata: N = 3 -> 138.2925 / (1 + 137.2925 / 3) = 2.956 -> 3 (everyone); N = 1 -> 1; N = 0 -> 0
    (3, 0.95, 0.05, 0.9, 3),
    (1, 0.95, 0.05, 0.9, 1),
    (0, 0.95, 0.05, 0.9, 0),
])
def test_cochran_sizes_by_hand(population: int, confidence: float, margin: float, p: float, expected: int) -> None:
    assert cochran_size(population, confidence=confidence, margin=margin, expected_pass=p) == expected


def test_rate_size_with_minimum() -> None:
    assert rate_size(1000, rate=0.05, minimum=10) == 50  # ceil(0.05 * 1000)
    assert rate_size(120, rate=0.05, minimum=10) == 10  # ceil(6) < 10
    assert rate_size(7, rate=0.05, minimum=10) == 7  # never more than the stratum
    assert rate_size(101, rate=0.1) == 11  # ceil(10.1)
    assert rate_size(30, rate=0.1) == 3  # 0.1 * 30 = 3.0000000000000004 in floating point: still 3


def test_bad_plans_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="strata"):
        SamplingPlan(strata="county")
    with pytest.raises(ConfigError, match="margin"):
        SamplingPlan(margin=0)
    with pytest.raises(ConfigError, match="rate"):
        SamplingPlan(rate=1.5)
    with pytest.raises(ConfigError, match="population"):
        SamplingPlan(population="some")


def test_reserve_size() -> None:
    plan = SamplingPlan(reserve_share=0.2, reserve_min=2)
    assert reserve_size(122, plan) == 25  # ceil(24.4)
    assert reserve_size(5, plan) == 2  # the minimum
    assert reserve_size(0, plan) == 0


# -- drawing -----------------------------------------------------------------------------------


RESULTS = two_city_results()
STATIONS = two_city_stations()


def test_every_stratum_size_matches_the_formula() -> None:
    # 40 villages per city: n = 138.2925 / (1 + 137.2925 / 40) = 31.19 -> 32; with margin 0.1: n0 = 34.57,
    # n = 34.57 / (1 + 33.57 / 40) = 18.80 -> 19
    for margin, expected in ((0.05, 32), (0.10, 19)):
        sample = draw_sample(RESULTS, STATIONS, SamplingPlan(margin=margin, seed=1))
        assert list(sample.strata["population"]) == [40, 40]
        assert list(sample.strata["sample"]) == [expected, expected]
        assert sample.main.groupby("stratum").size().to_dict() == {"3201": expected, "3202": expected}
        for row in sample.strata.itertuples():
            assert row.sample == stratum_size(row.population, sample.plan)


def test_city_verdict_strata_sizes() -> None:
    # per city: 4 uncovered (k % 10 == 0), 4 weak, 32 covered
    # covered N=32: 138.2925 / (1 + 137.2925/32) = 26.13 -> 27; N=4: 138.29 / 35.32 = 3.92 -> 4 (all of them)
    sample = draw_sample(RESULTS, STATIONS, SamplingPlan(strata="city-verdict", seed=3))
    sizes = dict(zip(sample.strata["stratum"], sample.strata["sample"], strict=True))
    assert sizes == {"3201/covered": 27, "3201/uncovered": 4, "3201/weak": 4,
                     "3202/covered": 27, "3202/uncovered": 4, "3202/weak": 4}
    # a stratum sampled whole has no villages left for reserves
    reserves = dict(zip(sample.strata["stratum"], sample.strata["reserve"], strict=True))
    assert reserves["3201/weak"] == 0 and reserves["3201/covered"] == 5  # min(ceil(5.4)=6, 32-27=5)


def test_same_request_gives_the_same_list_and_another_seed_another() -> None:
    plan = SamplingPlan(margin=0.1, seed=42)
    a = draw_sample(RESULTS, STATIONS, plan)
    b = draw_sample(RESULTS.sample(frac=1.0, random_state=7), STATIONS, plan)  # input order does not matter
    pd.testing.assert_frame_equal(pd.DataFrame(a.villages.drop(columns="geometry")),
                                  pd.DataFrame(b.villages.drop(columns="geometry")))
    c = draw_sample(RESULTS, STATIONS, SamplingPlan(margin=0.1, seed=43))
    assert list(c.villages["code"]) != list(a.villages["code"])


def test_strata_are_independent_streams() -> None:
    plan = SamplingPlan(margin=0.1, seed=42)
    both = draw_sample(RESULTS, STATIONS, plan)
    only_3202 = draw_sample(RESULTS, STATIONS, SamplingPlan(margin=0.1, seed=42, cities=("3202",)))
    assert list(only_3202.villages["code"]) == list(both.villages[both.villages["city_code"] == "3202"]["code"])


def test_exclusion_of_recent_villages() -> None:
    plan = SamplingPlan(margin=0.1, seed=5)
    first = draw_sample(RESULTS, STATIONS, plan)
    excluded = set(first.main["code"])
    second = draw_sample(RESULTS, STATIONS, SamplingPlan(margin=0.1, seed=6, exclude_rounds=1), excluded=excluded,
                         excluded_rounds=[1])
    assert not excluded & set(second.villages["code"])  # neither sampled nor reserve again
    assert list(second.strata["excluded"]) == [19, 19]
    assert list(second.strata["sample"]) == [19, 19]  # N stays 40: 40 - 19 = 21 eligible >= 19
    assert list(second.strata["reserve"]) == [2, 2]  # 21 - 19 left; ceil(0.2 * 19) = 4 wanted
    # a third round excluding both: 40 - 38 = 2 eligible per city, the stratum comes up short
    both = excluded | set(second.main["code"])
    third = draw_sample(RESULTS, STATIONS, SamplingPlan(margin=0.1, seed=7), excluded=both)
    assert list(third.strata["required"]) == [19, 19]
    assert list(third.strata["sample"]) == [2, 2] and list(third.strata["reserve"]) == [0, 0]


def test_reserve_list_is_ordered_after_the_sample() -> None:
    sample = draw_sample(RESULTS, STATIONS, SamplingPlan(margin=0.1, seed=9))
    for _, part in sample.villages.groupby("stratum"):
        assert list(part["order"]) == list(range(1, len(part) + 1))
        n = int((~part["reserve"]).sum())
        assert not part["reserve"].iloc[:n].any() and part["reserve"].iloc[n:].all()
        assert len(part) - n == 4  # ceil(0.2 * 19)
        assert part["code"].is_unique


def test_population_filter_covered_only() -> None:
    sample = draw_sample(RESULTS, STATIONS, SamplingPlan(population="covered", margin=0.1, seed=1))
    assert set(sample.villages["verdict"]) == {"covered"}
    assert list(sample.strata["population"]) == [32, 32]
    with pytest.raises(Village5gError, match="nothing to sample"):
        draw_sample(RESULTS[RESULTS["verdict"] != "weak"], STATIONS, SamplingPlan(population="weak"))


def test_rate_plan() -> None:
    sample = draw_sample(RESULTS, STATIONS, SamplingPlan(rate=0.1, minimum=6, seed=1))
    assert list(sample.strata["sample"]) == [6, 6]  # ceil(4.0) = 4 < 6


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32), margin=st.floats(0.03, 0.3), excluded=st.sets(st.integers(0, 79), max_size=60))
def test_sample_properties(seed: int, margin: float, excluded: set[int]) -> None:
    codes = set(RESULTS["code"].iloc[sorted(excluded)])
    sample = draw_sample(RESULTS, STATIONS, SamplingPlan(margin=margin, seed=seed), excluded=codes)
    v = sample.villages
    assert v["code"].is_unique
    assert not set(v["code"]) & codes
    for row in sample.strata.itertuples():
        part = v[v["stratum"] == row.stratum]
        assert int((~part["reserve"]).sum()) == row.sample == min(row.required, row.eligible)
        assert row.required == cochran_size(40, margin=margin)
        assert row.sample + row.reserve <= row.eligible


# -- the list ----------------------------------------------------------------------------------


def test_list_columns_points_and_nearest_site() -> None:
    sample = draw_sample(RESULTS, STATIONS, SamplingPlan(margin=0.1, seed=2))
    v = sample.villages
    assert list(v.columns) == [*SAMPLE_COLUMNS, "geometry"]
    assert (v["point_source"] == "committee").all()
    g_lon, g_lat = wgs84_to_gcj02(v["point_lon"].to_numpy(), v["point_lat"].to_numpy())
    assert np.allclose(v["gcj02_lon"], g_lon, atol=1e-6) and np.allclose(v["gcj02_lat"], g_lat, atol=1e-6)
    # the GCJ-02 shift is some 300-600 m in Jiangsu
    assert (np.abs(v["gcj02_lon"] - v["point_lon"]) > 0.002).all()
    # village 1 of 3201 has its committee at (118.805, 32.005); site 3201-S0 stands at (118.815, 32.015):
    # 0.01 deg east (944 m at 32 N) and 0.01 deg north (1109 m) -> about 1457 m
    row = draw_sample(RESULTS[RESULTS["code"] == "320101001201"], STATIONS, SamplingPlan(seed=0)).villages.iloc[0]
    assert row["nearest_site_id"] == "3201-S0"
    assert row["nearest_site_m"] == pytest.approx(1457, abs=5)
    assert row["verdict"] == "uncovered" and np.isnan(row["predicted_rsrp_dbm"])  # hand-made: k % 10 == 0
    second = draw_sample(RESULTS[RESULTS["code"] == "320101001202"], STATIONS, SamplingPlan(seed=0)).villages.iloc[0]
    assert (second["verdict"], second["predicted_rsrp_dbm"], second["predicted_sinr_db"]) == ("covered", -91.0, 6.0)


def test_representative_point_when_committee_unknown() -> None:
    results = RESULTS.copy()
    results.loc[results["code"] == "320101001202", ["committee_lon", "committee_lat"]] = np.nan
    v = draw_sample(results[results["code"] == "320101001202"], STATIONS, SamplingPlan(seed=0)).villages
    assert v.iloc[0]["point_source"] == "representative"
    assert results.geometry.iloc[1].contains(v.geometry.iloc[0])


def test_write_csv_xlsx_kml_geojson(tmp_path: Path) -> None:
    sample = draw_sample(RESULTS, STATIONS, SamplingPlan(margin=0.1, seed=2))
    v = sample.villages.copy()
    v["round"] = pd.array([4] * len(v), dtype="Int64")

    csv = write_sample(v, tmp_path / "list.csv")
    raw = csv.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM for Excel
    back = pd.read_csv(csv, encoding="utf-8-sig", dtype=str)
    assert list(back.columns) == [XLSX_HEADERS[c] for c in SAMPLE_COLUMNS] and len(back) == len(v)  # Chinese first
    assert set(back["村代码"]) == set(v["code"]) and set(back["备选"]) == {"是", "否"}
    assert set(back["预测结论"]) <= {"5G通达", "弱覆盖", "无覆盖"}
    assert back["预测RSRP(dBm)"].dropna().str.fullmatch(r"-?\d+\.\d").all()  # one decimal
    english = pd.read_csv(write_sample(v, tmp_path / "list_en.csv", lang="en"), encoding="utf-8-sig",
                          dtype={"code": str, "city_code": str})
    assert list(english.columns) == list(SAMPLE_COLUMNS) and set(english["code"]) == set(v["code"])

    xlsx = write_sample(v, tmp_path / "list.xlsx", title="第4轮")
    book = openpyxl.load_workbook(xlsx)
    assert book.sheetnames == ["3201 南京市", "3202 无锡市"]
    sheet = book["3201 南京市"]
    assert sheet["A1"].value == "轮次" and sheet["E1"].value == "村代码"
    assert sheet.freeze_panes == "G2"
    assert sheet.print_title_rows == "$1:$1"
    assert sheet.column_dimensions["E"].width == 14
    assert sheet.page_setup.orientation == "landscape"
    assert sheet.max_row == 1 + int((v["city_code"] == "3201").sum())
    codes = [sheet.cell(r, 5).value for r in range(2, sheet.max_row + 1)]
    assert all(isinstance(c, str) and len(c) == 12 for c in codes)  # text, not a number in E notation
    assert "第4轮" in sheet.oddHeader.center.text

    kml = write_sample(v, tmp_path / "list.kml", title="第4轮")
    ns = {"k": "http://www.opengis.net/kml/2.2"}
    root = ET.parse(kml).getroot()
    folders = root.findall(".//k:Folder", ns)
    assert [f.find("k:name", ns).text for f in folders] == ["3201 南京市", "3202 无锡市"]  # type: ignore[union-attr]
    marks = root.findall(".//k:Placemark", ns)
    assert len(marks) == len(v)
    first = marks[0]
    lon, lat = (float(x) for x in first.find(".//k:coordinates", ns).text.split(","))  # type: ignore[union-attr]
    row = v.sort_values(["city_code", "stratum", "reserve", "order"]).iloc[0]
    assert (lon, lat) == (row["point_lon"], row["point_lat"])
    assert first.find("k:name", ns).text == f"1 {row['name']}"  # type: ignore[union-attr]

    geojson = write_sample(v, tmp_path / "list.geojson")
    data = json.loads(geojson.read_text(encoding="utf-8"))
    assert len(data["features"]) == len(v)
    props = data["features"][0]["properties"]
    assert set(props) == set(SAMPLE_COLUMNS) and props["round"] == 4
    assert data["features"][0]["geometry"]["coordinates"] == [props["point_lon"], props["point_lat"]]


def test_unknown_format_is_a_config_error(tmp_path: Path) -> None:
    sample = draw_sample(RESULTS, STATIONS, SamplingPlan(margin=0.3, seed=2))
    with pytest.raises(ConfigError, match="format"):
        write_sample(sample.villages, tmp_path / "list.pdf")


def test_province_sized_stratum_sizes() -> None:
    # a stratum the size of Xuzhou's 1,964 village committees: 138.2925 / (1 + 137.2925 / 1964) = 129.26 -> 130
    assert cochran_size(1964) == 130
    assert math.ceil(138.2925 / (1 + 137.2925 / 1964)) == 130
    big = two_city_villages({f"32{c:02d}": (f"城{c}", 117.0 + c * 0.2) for c in range(1, 4)})
    sample = draw_sample(two_city_results(big), STATIONS, SamplingPlan(seed=1))
    assert list(sample.strata["sample"]) == [32, 32, 32]


def test_uncertain_supplement_takes_the_villages_nearest_a_coin_toss_outside_the_estimate() -> None:
    from coverage.audit.sampling import SUPPLEMENT

    results = two_city_results()
    k = np.arange(len(results))
    results["p_covered"] = np.round(np.abs(np.sin(k)), 4)  # deterministic spread over 0-1
    plan = SamplingPlan(rate=0.1, minimum=1, seed=5)
    plain = draw_sample(results, two_city_stations(), plan)
    sample = draw_sample(results, two_city_stations(), SamplingPlan(rate=0.1, minimum=1, seed=5, uncertain=3))
    extra = sample.villages[sample.villages["stratum"] == SUPPLEMENT]
    # the random part is unchanged, and the strata table (the estimate) knows nothing of the supplement
    assert sample.villages[sample.villages["stratum"] != SUPPLEMENT]["code"].tolist() == plain.villages["code"].tolist()
    assert SUPPLEMENT not in set(sample.strata["stratum"])
    listed = set(plain.villages["code"])
    pool = results[~results["code"].isin(listed)]
    expected = pool.assign(d=(pool["p_covered"] - 0.5).abs()).sort_values(["d", "code"])["code"].head(3).tolist()
    assert extra["code"].tolist() == expected and extra["order"].tolist() == [1, 2, 3]
    assert not extra["reserve"].any()
    with pytest.raises(ConfigError, match="uncertain"):
        SamplingPlan(uncertain=-1)


#: Seven villages by hand, rows out of code order; |p - 0.5| in the comment.
COIN_TOSSES = pd.DataFrame({
    "code": ["003", "001", "002", "006", "004", "005", "007"],
    "verdict": ["uncovered", "covered", "weak", "covered", "weak", "uncovered", "weak"],
    "p_covered": [0.60, 0.50, 0.40, 0.55, 0.45, 0.05, np.nan],
    # distance:   0.10  0.00  0.10  0.05  0.05  0.45  none
})


def _codes(positions: np.ndarray) -> list[str]:
    return COIN_TOSSES["code"].iloc[positions].tolist()


def test_the_flagged_pick_takes_the_coin_tosses_among_weak_and_uncovered_only() -> None:
    # every village: 001 (0.00), then 004 and 006 (0.05, by code)
    assert _codes(uncertain_villages(COIN_TOSSES, 3)) == ["001", "004", "006"]
    assert _codes(uncertain_villages(COIN_TOSSES, 3, among="all")) == ["001", "004", "006"]
    # flagged only: 001 and 006 are covered; 004 (0.05), then 002 and 003 tied at 0.10, by code not by row
    assert _codes(uncertain_villages(COIN_TOSSES, 3, among="flagged")) == ["004", "002", "003"]
    # fewer flagged villages with a probability (004 002 003 005; 007 has none) than asked: what there is
    assert _codes(uncertain_villages(COIN_TOSSES, 10, among="flagged")) == ["004", "002", "003", "005"]
    # already listed (row 4, village 004) stays out
    assert _codes(uncertain_villages(COIN_TOSSES, 3, among="flagged", exclude=np.array([4]))) == ["002", "003", "005"]
    assert len(uncertain_villages(COIN_TOSSES, 0, among="flagged")) == 0
    with pytest.raises(ConfigError, match=r"补充村范围.*among must be all or flagged"):
        uncertain_villages(COIN_TOSSES, 3, among="weak")


@settings(max_examples=60, deadline=None)
@given(verdicts=st.lists(st.sampled_from(["covered", "weak", "uncovered"]), min_size=1, max_size=40),
       count=st.integers(0, 45), data=st.data())
def test_the_flagged_pick_is_the_pick_with_the_covered_villages_excluded(verdicts: list[str], count: int,
                                                                          data: st.DataObject) -> None:
    """The benchmark's former pick (``exclude`` the covered villages) and ``among="flagged"`` agree."""
    n = len(verdicts)
    p = data.draw(st.lists(st.sampled_from([0.0, 0.1, 0.4, 0.5, 0.6, 0.9, 1.0, math.nan]), min_size=n, max_size=n))
    listed = data.draw(st.sets(st.integers(0, n - 1)))
    frame = pd.DataFrame({"code": [f"{i:03d}" for i in data.draw(st.permutations(range(n)))],
                          "verdict": verdicts, "p_covered": p})
    covered = np.flatnonzero(frame["verdict"].to_numpy() == "covered")
    exclude = np.array(sorted(listed), dtype=np.int64)
    old = uncertain_villages(frame, count, exclude=np.union1d(exclude, covered))
    new = uncertain_villages(frame, count, exclude=exclude, among="flagged")
    assert new.tolist() == old.tolist()
    assert set(frame["verdict"].iloc[new]) <= {"weak", "uncovered"}


def test_a_round_draws_its_supplement_among_the_flagged_villages_when_asked() -> None:
    results = two_city_results()
    k = np.arange(len(results))
    results["p_covered"] = np.round(np.abs(np.sin(k)), 4)
    plan = SamplingPlan(rate=0.1, minimum=1, seed=5, uncertain=3, uncertain_from="flagged")
    sample = draw_sample(results, two_city_stations(), plan)
    plain = draw_sample(results, two_city_stations(), SamplingPlan(rate=0.1, minimum=1, seed=5, uncertain=3))
    random_part = sample.villages[sample.villages["stratum"] != SUPPLEMENT]
    assert random_part["code"].tolist() == plain.villages[plain.villages["stratum"] != SUPPLEMENT]["code"].tolist()
    extra = sample.villages[sample.villages["stratum"] == SUPPLEMENT]
    # the flagged villages are every 10th (uncovered) and every 10th + 5 (weak): 16 of 80
    flagged = results[(k % 5 == 0) & ~results["code"].isin(set(random_part["code"]))]
    expected = flagged.assign(d=(flagged["p_covered"] - 0.5).abs()).sort_values(["d", "code"])["code"].head(3)
    assert extra["code"].tolist() == expected.tolist() and set(extra["verdict"]) <= {"weak", "uncovered"}
    # asking for more than there are flagged villages left gives every one of them, in the same order
    many = draw_sample(results, two_city_stations(), SamplingPlan(rate=0.1, minimum=1, seed=5, uncertain=50,
                                                                  uncertain_from="flagged"))
    supplement = many.villages[many.villages["stratum"] == SUPPLEMENT]
    assert len(flagged) < 50 and len(supplement) == len(flagged)
    assert supplement["code"].tolist()[:3] == expected.tolist()


def test_the_plan_keeps_where_its_supplement_comes_from() -> None:
    plan = SamplingPlan(uncertain=5, uncertain_from="flagged")
    assert plan.to_dict()["uncertain_from"] == "flagged" and SamplingPlan.from_dict(plan.to_dict()) == plan
    # a round stored before the choice existed drew among every village
    old = plan.to_dict()
    del old["uncertain_from"]
    assert SamplingPlan.from_dict(old).uncertain_from == "all"
    with pytest.raises(ConfigError, match=r"补充村范围 uncertain_from 应为 all 或 flagged.*not 'weak'"):
        SamplingPlan(uncertain_from="weak")
    # a population of covered villages holds no flagged one: refused rather than an empty supplement
    with pytest.raises(ConfigError, match="population covered leaves no flagged village"):
        SamplingPlan(population="covered", uncertain=5, uncertain_from="flagged")
    assert SamplingPlan(population="weak", uncertain=5, uncertain_from="flagged").population == "weak"
