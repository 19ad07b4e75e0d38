"""MR grids as evidence: aggregation per grid, the error model's residuals, the offset fit and MR's
verdict rule, on hand-made numbers."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from scipy.stats import truncnorm

from coverage.crs import local_metric_crs, unproject_xy
from coverage.model.fusion import Evidence, Variogram, combine_evidence, krige
from coverage.model.mr_evidence import MrModel, apply_mr_verdicts, fit_colocated_offset, heard_lift, mr_points


def _mr(rows: list[tuple[float, str, str, int, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["lon", "operator", "rat", "samples", "rsrp_mean_dbm", "share_good"]).assign(
        lat=32.0)


def test_mr_points_weigh_rows_by_samples_and_pair_nr_with_lte() -> None:
    points = mr_points(_mr([(119.0, "CMCC", "NR", 100, -100.0, 0.5), (119.0, "CMCC", "NR", 300, -96.0, 0.9),
                            (119.0, "CMCC", "LTE", 500, -85.0, 1.0), (119.1, "CTCC", "LTE", 800, -90.0, 1.0)]))
    cmcc = points[points["operator"] == "CMCC"].iloc[0]
    # (100 x -100 + 300 x -96) / 400 = -97; share (50 + 270) / 400 = 0.8
    assert (cmcc["n_nr"], cmcc["rsrp_nr"], cmcc["good_nr"], cmcc["n_lte"]) == (400, -97.0, 0.8, 500)
    ctcc = points[points["operator"] == "CTCC"].iloc[0]
    assert ctcc["n_nr"] == 0 and ctcc["n_lte"] == 800  # absence: LTE samples, no NR


def test_offset_is_the_median_outdoor_minus_mr_of_the_same_operator_on_shared_pixels() -> None:
    crs = local_metric_crs(gpd.GeoSeries([shapely.box(119.40, 32.40, 119.45, 32.45)], crs="EPSG:4326"))
    # 40 pixel centres 300 m apart; on each two CMCC samples (-95 and -93 dBm, 3 dB car loss: outdoor -91)
    # and a well-heard CMCC grid (no LTE row: nothing unheard, no lift) at -101 - (i % 3 - 1) dBm
    i = np.arange(40)
    x, y = (i % 8) * 300.0 + 50.0, (i // 8) * 300.0 + 50.0
    lon, lat = unproject_xy(x, y, crs)
    meas = gpd.GeoDataFrame({"operator": "CMCC", "rat": "NR", "rsrp_dbm": np.tile([-95.0, -93.0], 40),
                             "loss_db": 3.0}, geometry=gpd.points_from_xy(np.repeat(lon, 2), np.repeat(lat, 2)),
                            crs="EPSG:4326")
    mr = pd.DataFrame({"lon": lon, "lat": lat, "operator": "CMCC", "rat": "NR", "samples": 200,
                       "rsrp_mean_dbm": -101.0 - (i % 3 - 1), "share_good": 0.5})
    # as many LTE samples as NR ones: every phone heard NR, no lift; another operator's grids on the same
    # pixels are no pair (its signal is another network's)
    lte = mr.assign(rat="LTE", rsrp_mean_dbm=-85.0)
    other = mr.assign(operator="CTCC", rsrp_mean_dbm=-130.0)
    mr = pd.concat([mr, lte])
    offset, pairs = fit_colocated_offset(meas, mr_points(pd.concat([mr, other])), crs, 100.0)
    # outdoor -91 minus MR -100/-101/-102: 9, 10, 11 dB (14, 13, 13 of each): median 10
    assert (offset, pairs) == (10.0, 40)
    # one measured sample on a pixel is no pair; fewer than 30 pairs: the prior
    assert fit_colocated_offset(meas.iloc[::2], mr_points(mr), crs, 100.0) == (10.4, 0)
    assert fit_colocated_offset(meas.iloc[:40], mr_points(mr), crs, 100.0) == (10.4, 20)
    # pixels whose outdoor level is below offset_min_dbm (-100) are no pairs: 30 more pixels with outdoor
    # -102 dBm (two samples -105 and -105, 3 dB car loss) beside MR grids at -120 (a 18 dB difference,
    # what weak grids still counted as well heard would pull in) leave the median and the 40 pairs as they were
    j = np.arange(30)
    wx, wy = (j % 8) * 300.0 + 50.0, (j // 8) * 300.0 + 2450.0
    wlon, wlat = unproject_xy(wx, wy, crs)
    weak_meas = gpd.GeoDataFrame({"operator": "CMCC", "rat": "NR", "rsrp_dbm": np.full(60, -105.0), "loss_db": 3.0},
                                 geometry=gpd.points_from_xy(np.repeat(wlon, 2), np.repeat(wlat, 2)), crs="EPSG:4326")
    weak_mr = pd.DataFrame({"lon": wlon, "lat": wlat, "operator": "CMCC", "rat": "NR", "samples": 200,
                            "rsrp_mean_dbm": -120.0, "share_good": 0.0})
    both_meas = pd.concat([meas, weak_meas], ignore_index=True)
    both_mr = mr_points(pd.concat([mr, weak_mr, weak_mr.assign(rat="LTE", rsrp_mean_dbm=-95.0)]))
    assert fit_colocated_offset(both_meas, both_mr, crs, 100.0) == (10.0, 40)
    # with the bar lowered to -110 dBm they count: 40 pairs at 9-11 dB and 30 at 18 dB, median of 70: 11
    assert fit_colocated_offset(both_meas, both_mr, crs, 100.0, model=MrModel(offset_min_dbm=-110.0)) == (11.0, 70)


def test_without_lte_rows_the_heard_mean_is_corrected_as_a_truncated_normal() -> None:
    # phones at N(mu, 7.5 dB) report NR at or above -124 dBm: the heard samples' mean is the truncated
    # normal's (scipy's truncnorm); without an LTE row to count the unheard, the lift is read off that mean
    model = MrModel()
    mu = np.array([-90.0, -110.0, -118.0, -121.0])
    a = (model.heard_dbm - mu) / model.sample_sd_db
    heard = truncnorm.mean(a, np.inf, loc=mu, scale=model.sample_sd_db)
    lift, gain = heard_lift(heard, np.ones(4), np.zeros(4, bool), model)
    np.testing.assert_allclose(heard - lift, mu, atol=1e-6)
    assert lift[0] < 1e-3 and np.all(np.diff(lift) > 0) and np.all(np.diff(gain) > 0)
    # with an LTE row the share heard is counted: 90 % heard, lift 7.5 phi(Phi^-1(0.9)) / 0.9 = 1.46 dB
    lift, gain = heard_lift(np.array([-110.0]), np.array([0.9]), np.array([True]), model)
    assert lift[0] == pytest.approx(7.5 * 0.17549833193248685 / 0.9) and gain[0] == 1.0


def test_bins_with_their_own_noise_krige_like_the_nugget_says() -> None:
    # one bin, noise variance v: simple kriging at the bin gives r sigma^2 / (sigma^2 + v)
    one = Evidence(np.array([0]), np.array([0]), np.array([0.0]), np.array([0.0]), np.array([-6.0]),
                   np.array([1]), noise_var=np.array([9.0]))
    vg = Variogram(sigma_db=6.0, correlation_m=1000.0, nugget_db=3.0)
    mean, sd, _ = krige(one, np.array([0.0]), np.array([0.0]), vg)
    assert mean[0] == pytest.approx(-6.0 * 36.0 / 45.0)
    assert sd[0] == pytest.approx(np.sqrt(36.0 - 36.0**2 / 45.0))
    # measurements' bins get nugget^2 / n when combined with MR bins
    meas = Evidence(np.array([1]), np.array([1]), np.array([50.0]), np.array([0.0]), np.array([2.0]), np.array([4]))
    both = combine_evidence([meas, one], nugget_db=3.0)
    assert both.noise_var is not None and both.noise_var.tolist() == [9.0 / 4.0, 9.0]


def test_no_nr_among_many_lte_samples_says_not_covered() -> None:
    results = pd.DataFrame({"verdict": ["covered", "covered", "weak"], "predicted_verdict": ["covered", "uncovered",
                                                                                            "weak"],
                            "p_covered": [0.8, 0.6, 0.3], "confidence": ["medium", "low", "low"],
                            "reasons": ["a", "b", "c"], "verdict_source": ["predicted", "fused", "measured"]})
    stats = pd.DataFrame({"mr_samples": [900, 400, 500], "mr_nr_samples": [0, 100, 0],
                          "mr_lte_samples": [900, 300, 500],
                          "mr_good_share": [np.nan, 0.7, np.nan], "mr_period": ["2026-10-01/2026-10-31"] * 3})
    out = apply_mr_verdicts(results, stats, model=MrModel(no_5g_lte_samples=300))
    assert out["verdict"].tolist() == ["weak", "covered", "weak"]  # the measured verdict of village 3 stands
    assert out["p_covered"].tolist() == [0.05, 0.6, 0.3]
    assert out["reasons"].tolist() == ["a;mr_no_5g", "b;mr_fused", "c;mr_fused"]
    assert out["verdict_source"].tolist() == ["measured", "fused", "measured"]
    assert "mr_nr_samples" not in out and out["mr_samples"].tolist() == [900, 400, 500]


def test_block_kriging_gives_a_block_the_value_at_its_centre_on_the_global_lattice() -> None:
    import pyproj

    from coverage.model.fusion import fuse
    from coverage.model.grid import Grid

    vg = Variogram(sigma_db=6.0, correlation_m=1000.0, nugget_db=3.0)
    bins = Evidence(np.array([1]), np.array([1]), np.array([150.0]), np.array([-150.0]), np.array([-4.0]),
                    np.array([3]))
    crs = pyproj.CRS.from_epsg(32650)
    # a grid whose corner is one pixel off the block lattice: its pixel (0, 0) is the lower-right of a block
    grid = Grid(crs, 100.0, 0.0, 100.0, 4, 4)
    post = fuse(bins, grid, np.ones((4, 4), dtype=bool), vg, block_px=2)
    # block of absolute columns 2-3 (x 200-400) and rows 0-1 (y 0 to -200): centre (300, -100)
    expected, _, _ = krige(bins, np.array([300.0]), np.array([-100.0]), vg)
    assert post.mean_db[0, 1] == pytest.approx(expected[0], rel=1e-6)
    assert post.mean_db[0, 1] == post.mean_db[0, 2] == post.mean_db[1, 1] == post.mean_db[1, 2]
    first, _, _ = krige(bins, np.array([100.0]), np.array([-100.0]), vg)  # x 0-200: pixel (0, 0) alone here
    assert post.mean_db[0, 0] == pytest.approx(first[0], rel=1e-6) and post.mean_db[0, 0] != post.mean_db[0, 1]
