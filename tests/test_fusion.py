"""Best estimate, probability and evidence fusion on hand-made worlds, and the kriging itself."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import norm

from coverage.model.calibration import CalibrationRefused, _fit_band, _line, fit_calibration
from coverage.model.fusion import Evidence, Variogram, fit_variogram, krige
from coverage.model.grid import make_grid
from coverage.model.parameters import CALIBRATION_KNOTS_M, ModelParameters
from coverage.model.rules import PLANNING_RULES, RULE_SETS, load_rules
from coverage.model.verdicts import BINNED_HEADROOM_STEP_DB, BINNED_PIXELS, confidence_label, covered_probability
from coverage.runs.analysis import analyze_frames
from coverage.schema import conform
from coverage.summary import reach_interval
from tests.worlds.boxes import KM_LAT, RULES, A
from tests.worlds.boxes import box_villages as villages
from tests.worlds.boxes import sector_stations as stations

#: A correlation length such as a calibration fits on the seed world's drive tests.
PARAMS = ModelParameters(resolution_m=100.0, workers=1, correlation_m=500.0)
#: A site 3 km south of village A: the model puts A at about -107 dBm, weak.
FAR_SITE = (119.405, 32.4045 - 3.0 * KM_LAT)


def _samples(lon: np.ndarray, lat: np.ndarray, rsrp: float, *, rat: str = "NR", operator: str = "CMCC",
             loss_db: float | None = None) -> object:
    n = len(lon)
    return conform("measurements", {"lon": lon, "lat": lat, "operator": [operator] * n, "rat": [rat] * n,
                                    "rsrp_dbm": np.full(n, rsrp), "sinr_db": np.full(n, 15.0),
                                    "loss_db": np.full(n, np.nan if loss_db is None else loss_db)},
                   shapely.points(lon, lat))


def _grid_in_a(k: int = 5) -> tuple[np.ndarray, np.ndarray]:
    lon, lat = np.meshgrid(np.linspace(A[0] + 0.001, A[2] - 0.001, k), np.linspace(A[1] + 0.001, A[3] - 0.001, k))
    return lon.ravel(), lat.ravel()


def test_the_default_rule_set_is_the_best_estimate_and_planning_keeps_the_90_percent_margin() -> None:
    assert RULES.edge_probability == 0.5 and PLANNING_RULES.edge_probability == 0.9
    assert load_rules("planning-90") is PLANNING_RULES and set(RULE_SETS) == {"default", "planning-90"}
    v, s = villages(A), stations([(119.405, 32.4045 - 1.5 * KM_LAT)])
    best = analyze_frames(v, s, None, rules=RULES, params=PARAMS)[0].iloc[0]
    planned = analyze_frames(v, s, None, rules=PLANNING_RULES, params=PARAMS)[0].iloc[0]
    assert best["verdict"] == "covered" and planned["verdict"] == "weak"
    # the planning margin z_0.9 * 8 dB = 10.25 dB lowers every pixel by exactly that
    assert best["committee_rsrp_dbm"] - planned["committee_rsrp_dbm"] == pytest.approx(10.25, abs=0.01)


def test_p_covered_is_phi_of_the_headroom_over_sigma_and_agrees_with_the_verdict() -> None:
    v, s = villages(A), stations([FAR_SITE])
    row = analyze_frames(v, s, None, rules=RULES, params=PARAMS)[0].iloc[0]
    assert row["verdict"] == "weak" and row["sigma_db"] == RULES.shadow_sigma_db
    # with the whole village below -105 dBm the committee point's headroom decides at most; the
    # probability is below one half, as the verdict is not covered
    assert 0.0 < row["p_covered"] < 0.5
    assert row["p_covered"] <= norm.cdf((row["committee_rsrp_dbm"] - RULES.good_rsrp_dbm) / 8.0) + 1e-4
    near = analyze_frames(v, stations([(119.405, 32.4045)]), None, rules=RULES, params=PARAMS)[0].iloc[0]
    assert near["verdict"] == "covered" and near["p_covered"] > 0.9 and near["confidence"] == "high"


def test_good_measurements_all_round_make_a_model_weak_village_covered_with_high_probability() -> None:
    v, s = villages(A), stations([FAR_SITE])
    lon, lat = _grid_in_a(5)  # 25 samples: fewer than min_measurements, so only the fusion acts
    row = analyze_frames(v, s, _samples(lon, lat, -85.0), rules=RULES, params=PARAMS)[0].iloc[0]
    assert row["predicted_verdict"] == "weak" and row["measured_verdict"] is None
    assert row["verdict"] == "covered" and row["verdict_source"] == "fused"
    assert row["p_covered"] >= 0.9 and "measured_fused" in row["reasons"]


def test_lte_samples_never_change_a_5g_verdict() -> None:
    v, s = villages(A), stations([FAR_SITE])
    lon, lat = _grid_in_a(7)  # 49 samples, enough for a measured verdict if they counted
    model = analyze_frames(v, s, None, rules=RULES, params=PARAMS)[0].iloc[0]
    lte = analyze_frames(v, s, _samples(lon, lat, -75.0, rat="LTE"), rules=RULES, params=PARAMS)[0].iloc[0]
    assert lte["verdict"] == model["verdict"] == "weak" and lte["p_covered"] == model["p_covered"]
    assert lte["n_measurements"] == 0 and lte["verdict_source"] == "predicted"
    # and in a village with no site at all, LTE samples do not make it covered
    far = stations([(119.405, 32.4045 - 20 * KM_LAT)])
    row = analyze_frames(v, far, _samples(lon, lat, -75.0, rat="LTE"), rules=RULES, params=PARAMS)[0].iloc[0]
    assert row["verdict"] == "uncovered" and row["no_site"]


def test_a_declared_in_car_loss_is_added_back_before_comparing() -> None:
    v, s = villages(A), stations([FAR_SITE])
    lon, lat = _grid_in_a(7)
    # 49 samples at -108 dBm in a car with 6 dB loss are -102 dBm outdoors: good, so covered
    inside = analyze_frames(v, s, _samples(lon, lat, -108.0, loss_db=6.0), rules=RULES, params=PARAMS)[0].iloc[0]
    assert inside["measured_verdict"] == "covered" and inside["verdict"] == "covered"
    assert inside["measured_rsrp_median_dbm"] == pytest.approx(-102.0)
    plain = analyze_frames(v, s, _samples(lon, lat, -108.0), rules=RULES, params=PARAMS)[0].iloc[0]
    assert plain["measured_verdict"] == "weak"


@settings(max_examples=15, deadline=None, derandomize=True)
@given(power=st.floats(40.0, 50.0), extra=st.floats(0.5, 10.0))
def test_p_covered_is_monotone_in_the_sites_power(power: float, extra: float) -> None:
    v = villages(A)
    low = analyze_frames(v, stations([FAR_SITE], power_dbm=power), None, rules=RULES, params=PARAMS)[0].iloc[0]
    high = analyze_frames(v, stations([FAR_SITE], power_dbm=power + extra), None, rules=RULES,
                          params=PARAMS)[0].iloc[0]
    assert high["p_covered"] >= low["p_covered"]


def _one_bin(value: float, n: int = 10) -> Evidence:
    return Evidence(np.array([0]), np.array([0]), np.array([0.0]), np.array([0.0]), np.array([value]), np.array([n]))


def test_kriging_reproduces_a_measured_value_at_its_location_and_returns_to_the_prior_far_away() -> None:
    vario = Variogram(sigma_db=8.0, correlation_m=500.0, nugget_db=3.0)
    mean, sd, informed = krige(_one_bin(-12.0), np.array([0.0, 250.0, 5000.0]), np.array([0.0, 0.0, 0.0]), vario)
    # at the bin: w = sigma^2 / (sigma^2 + tau^2 / n) = 64 / 64.9
    w = 64.0 / (64.0 + 9.0 / 10)
    assert mean[0] == pytest.approx(-12.0 * w) and sd[0] == pytest.approx(math.sqrt(64.0 * (1 - w)))
    # 250 m away the covariance is 64 exp(-0.5): the weight falls with it
    w250 = 64.0 * math.exp(-0.5) / (64.0 + 0.9)
    assert mean[1] == pytest.approx(-12.0 * w250)
    # beyond 3 L nothing informs: the prior mean 0 and sigma
    assert (mean[2], sd[2], informed[2]) == (0.0, 8.0, False) and informed[0] and informed[1]


def test_kriging_two_bins_matches_the_hand_solved_system() -> None:
    vario = Variogram(sigma_db=6.0, correlation_m=1000.0, nugget_db=0.0)
    bins = Evidence(np.array([0, 0]), np.array([0, 1]), np.array([0.0, 1000.0]), np.array([0.0, 0.0]),
                    np.array([4.0, -2.0]), np.array([1, 1]))
    mean, sd, _ = krige(bins, np.array([500.0]), np.array([0.0]), vario)
    c = 36.0 * math.exp(-1.0)
    k0 = 36.0 * math.exp(-0.5)
    w = np.linalg.solve(np.array([[36.0, c], [c, 36.0]]), np.array([k0, k0]))
    assert mean[0] == pytest.approx(w @ np.array([4.0, -2.0]))
    assert sd[0] == pytest.approx(math.sqrt(36.0 - w @ np.array([k0, k0])))


def test_the_variogram_fit_finds_the_sill_and_range_of_a_simulated_field() -> None:
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 20_000, 1500)
    y = rng.uniform(0, 20_000, 1500)
    d = np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :])
    cov = 36.0 * np.exp(-d / 800.0)
    field = np.linalg.cholesky(cov + 1e-6 * np.eye(len(x))) @ rng.standard_normal(len(x))
    n = np.full(len(x), 4)
    values = field + rng.standard_normal(len(x)) * 2.0 / 2.0  # four samples of 2 dB noise each
    bins = Evidence(np.zeros(len(x), int), np.arange(len(x)), x, y, values, n)
    fit = fit_variogram(bins, prior=Variogram(8.0, 120.0, 3.0))
    assert fit.sigma_db == pytest.approx(6.0, rel=0.2)
    assert fit.correlation_m == pytest.approx(800.0, rel=0.35)


def test_the_band_fit_recovers_a_known_line_and_a_near_site_knee_and_shrinks_thin_data() -> None:
    rng = np.random.default_rng(2)
    logd = np.log10(rng.uniform(100, 10_000, 3000) / 1000.0)
    r = 4.0 - 6.0 * logd + rng.standard_normal(3000) * 3.0
    values, se = _fit_band(r, logd)
    # a straight line in log-distance is reproduced at every knot (1 km: 4 dB; 100 m: 10 dB; 10 km: -2 dB)
    assert values == pytest.approx(4.0 - 6.0 * np.log10(np.array(CALIBRATION_KNOTS_M) / 1000.0), abs=0.6)
    assert _line(values) == pytest.approx((4.0, -6.0), abs=0.6) and np.all((se > 0) & (se < 1.5))
    # 12 dB too strong at 100 m, fading out by 400 m: the knee is followed, the far values stay near 0
    knee = np.interp(logd, np.log10([0.1, 0.4]), [-12.0, 0.0]) + rng.standard_normal(3000) * 3.0
    values, _ = _fit_band(knee, logd)
    assert values[0] == pytest.approx(-12.0, abs=1.5) and np.all(np.abs(values[2:]) < 1.0)
    # three samples: the priors (no correction) pull the fit towards zero
    values, _ = _fit_band(r[:3], logd[:3])
    assert np.all(np.abs(values) < np.abs(4.0 - 6.0 * np.log10(np.array(CALIBRATION_KNOTS_M) / 1000.0)) + 1.0)
    assert np.abs(values).max() < 8.0


def test_a_calibration_without_enough_evidence_is_refused() -> None:
    v, s = villages(A), stations([FAR_SITE])
    lon, lat = _grid_in_a(3)
    with pytest.raises(CalibrationRefused, match="usable NR samples"):
        fit_calibration(v, s, _samples(lon, lat, -100.0), rules=RULES, params=PARAMS)


def test_covered_probability_with_a_village_wide_effect_is_phi_of_the_smaller_headroom() -> None:
    labels = np.array([[1, 1, 1, 1], [2, 2, 0, 0]])
    headroom = np.array([[-3.0, 5.0, 1.0, -1.0], [2.0, -np.inf, 9.0, 9.0]])
    committee = np.array([4.0, -1.0, 3.0])
    # a correlation length far beyond the village: one common effect; half the area must be good, so
    # the share-th best pixel decides: village 1 its second best (1 dB < 4 dB at the committee point),
    # village 2 its committee point (-1 dB < 2 dB, its best of two); village 3, smaller than a pixel,
    # is its committee point (3 dB)
    p = covered_probability(labels, headroom, committee, np.full(3, 8.0), np.full(3, 4e4), n=3, share=0.5,
                            correlation_m=1e12)
    assert p == pytest.approx([norm.cdf(1.0 / 8.0), norm.cdf(-1.0 / 8.0), norm.cdf(3.0 / 8.0)], abs=2e-3)


def test_covered_probability_needs_both_committee_and_area_so_it_is_below_either_alone() -> None:
    # one village, every pixel and the committee exactly 0.5 dB above the bar; L comparable to the village
    labels = np.ones((10, 10), dtype=np.int32)
    headroom = np.full((10, 10), 0.5)
    p = covered_probability(labels, headroom, np.array([0.5]), np.array([8.0]), np.array([1e6]), n=1, share=0.5,
                            correlation_m=1000.0)
    # with a partly independent committee effect the joint probability is below the common-effect value
    assert 0.3 < p[0] < norm.cdf(0.5 / 8.0)


def _large_and_small_villages() -> tuple[np.ndarray, np.ndarray, dict[str, object]]:
    """Village 1: 150 x 150 pixels (22,500, above BINNED_PIXELS), headroom rising from -12 to +12 dB
    west to east with a ripple, a strip nothing reaches; village 2: 20 x 20 pixels (400) beside it."""
    labels = np.zeros((150, 170), dtype=np.int32)
    labels[:, :150] = 1
    labels[:20, 150:] = 2
    rows, cols = np.mgrid[0:150, 0:170]
    headroom = -12.0 + cols * (24.0 / 150.0) + 1.7 * np.sin(rows * 0.37) * np.cos(cols * 0.21)
    headroom[140:, :] = -np.inf
    pixels = np.bincount(labels.ravel(), minlength=3)[1:]
    kwargs: dict[str, object] = {"n": 2, "share": 0.5, "correlation_m": 5_000.0}
    return labels, headroom, {"h_committee": np.array([2.0, 1.0]), "sigma_db": np.full(2, 8.0),
                              "area_m2": pixels * 1e4, **kwargs}


def test_covered_probability_of_a_large_village_on_binned_headrooms_is_within_its_bound() -> None:
    labels, headroom, args = _large_and_small_villages()
    assert (labels == 1).sum() > BINNED_PIXELS >= (labels == 2).sum()
    binned = covered_probability(labels, headroom, **args)  # type: ignore[arg-type]
    exact = covered_probability(labels, headroom, **args, binned_pixels=None)  # type: ignore[arg-type]
    half = BINNED_HEADROOM_STEP_DB / 2.0
    lower = covered_probability(labels, headroom - half, **args, binned_pixels=None)  # type: ignore[arg-type]
    upper = covered_probability(labels, headroom + half, **args, binned_pixels=None)  # type: ignore[arg-type]
    # the small village takes the pixel path: the same value, bit for bit
    assert binned[1] == exact[1]
    # the large one: between the exact answers with every area headroom moved by half a bin either way
    # (about 0.02 apart here: a 5 km correlation leaves a common effect of sigma 4 dB over 2.25 km²)
    assert 0.05 < exact[0] < 0.95 and upper[0] - lower[0] < 0.03
    assert lower[0] - 1e-9 <= binned[0] <= upper[0] + 1e-9
    assert binned[0] != exact[0]  # the fast path did run
    # headrooms already on bin centres lose nothing: the same answer up to the order of the sums
    centred = (np.floor(headroom / BINNED_HEADROOM_STEP_DB) + 0.5) * BINNED_HEADROOM_STEP_DB
    assert covered_probability(labels, centred, **args)[0] == pytest.approx(  # type: ignore[arg-type]
        covered_probability(labels, centred, **args, binned_pixels=None)[0], abs=1e-9)  # type: ignore[arg-type]


def test_covered_probability_leaves_unreached_pixels_out_but_counts_them_in_the_area() -> None:
    # 4 pixels, 2 of them unreached: with half the area required, the better reached pixel decides
    # (a common effect); the unreached ones still count, so three quarters would never be met
    labels = np.ones((2, 2), dtype=np.int32)
    headroom = np.array([[1.0, 3.0], [-np.inf, -np.inf]])
    common = {"h_committee": np.array([9.0]), "sigma_db": np.array([8.0]), "area_m2": np.array([4e4]),
              "n": 1, "correlation_m": 1e12}
    assert covered_probability(labels, headroom, share=0.5, **common)[0] == pytest.approx(  # type: ignore[arg-type]
        norm.cdf(1.0 / 8.0), abs=2e-3)
    assert covered_probability(labels, headroom, share=0.75, **common)[0] == 0.0  # type: ignore[arg-type]


def test_confidence_labels_and_the_reach_interval() -> None:
    assert confidence_label(np.array([0.95, 0.05, 0.8, 0.2, 0.3, 0.5])).tolist() == [
        "high", "high", "medium", "medium", "low", "low"]
    # four villages at 0.5: mean 2, variance 1 -> 50 % +- 1.96 / 4
    assert reach_interval(np.full(4, 0.5)) == pytest.approx((0.5, 0.5 - 0.49, 0.5 + 0.49))
    assert reach_interval(np.array([1.0, 0.0])) == (0.5, 0.5, 0.5)
    assert all(math.isnan(x) for x in reach_interval(np.array([])))


def test_summaries_carry_the_expected_rate() -> None:
    from coverage.summary import summarize

    results = pd.DataFrame({"city_code": ["3201", "3201", "3202"], "city_name": ["南京市", "南京市", "无锡市"],
                            "verdict": ["covered", "weak", "covered"], "no_site": [False, False, False],
                            "p_covered": [0.9, 0.3, 0.8]})
    out = summarize(results, level="city").set_index("code")
    assert out.loc["3201", "expected_rate"] == pytest.approx(0.6) and out.loc["3202", "reach_rate"] == 1.0
    assert out.loc["3201", "rate_low"] < 0.6 < out.loc["3201", "rate_high"]


def test_model_parameters_keep_tables_hashable_after_a_json_round_trip() -> None:
    values = [1.0, 0.0, -1.0, 0.0, 2.0, 3.0]
    params = replace(PARAMS, calibration=[["n41", values]], area_offsets=[["321012", -1.5]])  # type: ignore[arg-type]
    assert params.calibration == (("n41", tuple(values)),) and hash(params)


def test_a_selection_offset_keeps_phones_on_the_capacity_layer() -> None:
    # one site with an n28 and an n41 sector layer: n28 (700 MHz) is the stronger at the committee point
    v = villages(A)
    n41 = stations([(119.405, 32.4045 - 0.8 * KM_LAT)])
    n28 = n41.assign(band="n28", site_id="S0", cell_id=n41["cell_id"] + "-28")
    both = pd.concat([n41, n28], ignore_index=True)
    plain = analyze_frames(v, both, None, rules=RULES, params=PARAMS)
    offset = analyze_frames(v, both, None, rules=RULES, params=replace(PARAMS, selection_offsets=(("n28", -30.0),)))
    only_n41 = analyze_frames(v, n41, None, rules=RULES, params=PARAMS)
    assert plain[0].iloc[0]["committee_rsrp_dbm"] > only_n41[0].iloc[0]["committee_rsrp_dbm"]
    # with a 30 dB offset n41 serves wherever it reaches: the committee point is n41's
    assert offset[0].iloc[0]["committee_rsrp_dbm"] == pytest.approx(only_n41[0].iloc[0]["committee_rsrp_dbm"])


def test_the_selection_offset_is_fitted_from_the_serving_bands_the_samples_report() -> None:
    from coverage.model.calibration import fit_selection_offsets
    from coverage.model.prediction import Prediction

    rng = np.random.default_rng(3)
    n = 400
    n28 = rng.uniform(-110, -80, n)
    n41 = n28 - rng.uniform(0, 10, n)  # n28 always the stronger, by 0-10 dB
    served = np.where(n28 - n41 > 6.0, "n28", "n41")  # the network's rule: n41 unless n28 is 6 dB stronger
    grid = make_grid((0.0, 0.0, 100.0, 100.0), pyproj.CRS("EPSG:32650"), 100.0)
    empty = np.zeros((1, 1), dtype=np.float32)
    prediction = Prediction(grid, empty, empty, empty.astype(np.uint8), empty.astype(np.int32), empty.astype(np.int8),
                            ["CMCC"], pd.DataFrame(), probe_band_rsrp=np.stack([n28, n41], axis=1)[:, None, :],
                            probe_band_cell=np.zeros((n, 1, 2), dtype=np.int32), band_names=["n28", "n41"])
    offsets, (before, after) = fit_selection_offsets(pd.DataFrame({"band": served}), prediction, np.zeros(n, int))
    assert offsets == (("n28", -6.0),) or offsets == (("n28", -5.5),)
    assert after == 1.0 and before == pytest.approx(np.mean(served == "n28"))
