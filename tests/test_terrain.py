"""Terrain diffraction, effective antenna height and clutter loss (coverage.model.terrain).

Reference values:
- ITU-R P.526-15 eq. 31 (J(v)); J(0) = 6.03 dB is the value P.526's Figure 9 reads at v = 0.
- Rappaport, *Wireless Communications* (2nd ed.), Example 4.7: a 25 m knife edge midway on a 2 km
  path at 900 MHz, v = 2.74 and a loss of about 22 dB (21.7 dB by Lee's approximation).
- NTIA/p2108 (U.S. reference implementation of ITU-R P.2108-1), tests/data/
  HeightGainTerminalCorrectionModelTestData.csv and TerrestrialStatisticalModelTestData.csv
  (values given to 0.1 dB).
- The Bullington construction of P.526 4.5.1 computed by hand for one and two edges.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from coverage.errors import ConfigError
from coverage.model.propagation import hata_path_loss, hata_valid
from coverage.model.terrain import (
    WORLDCOVER_CLASSES,
    ClutterClass,
    bullington_excess_loss_db,
    bullington_loss_db,
    bullington_v,
    class_table,
    clutter_height_gain_loss_db,
    clutter_loss_table_db,
    effective_antenna_height_m,
    knife_edge_loss_db,
    radial_terrain_v,
    sweep_excess_loss_db,
    terrestrial_clutter_loss_db,
)

FLAT_EARTH = 1e15  # an earth radius that removes the curvature term, for hand geometry
C = 299_792_458.0


def test_knife_edge_published_values() -> None:
    j = knife_edge_loss_db([-1.0, -0.78, 0.0, 1.0])
    assert j[0] == 0.0 and j[1] == 0.0
    assert j[2] == pytest.approx(6.03, abs=0.005)
    assert j[3] == pytest.approx(13.93, abs=0.01)  # 6.9 + 20 log10(sqrt(0.81 + 1) + 0.9)
    # Rappaport Example 4.7: v = 2.74, about 22 dB (21.7 dB with Lee's approximation)
    lam = 3e8 / 900e6
    v = 25.0 * math.sqrt(2.0 / lam * (1 / 1000 + 1 / 1000))
    assert v == pytest.approx(2.74, abs=0.005)
    assert float(knife_edge_loss_db(v)) == pytest.approx(21.7, abs=0.3)
    # monotone non-decreasing
    grid = np.linspace(-3, 5, 400)
    assert np.all(np.diff(knife_edge_loss_db(grid)) >= 0)


def test_bullington_single_edge_is_the_knife_edge() -> None:
    d = np.array([0.0, 1000.0, 2000.0])
    h = np.array([0.0, 25.0, 0.0])
    v = float(bullington_v(d, h, 0.0, 0.0, 900.0, earth_radius_m=FLAT_EARTH))
    expected = 25.0 * math.sqrt(2.0 / (C / 900e6) * (1 / 1000 + 1 / 1000))
    assert v == pytest.approx(expected, rel=1e-9)
    assert float(bullington_loss_db(d, h, 0.0, 0.0, 900.0, earth_radius_m=FLAT_EARTH)) == pytest.approx(
        float(knife_edge_loss_db(expected)), rel=1e-9)


def test_bullington_two_edges_by_hand() -> None:
    # Tx at 10 m over 0, Rx at 10 m at 4 km; edges 40 m at 1 km and 30 m at 3 km.
    d = np.array([0.0, 1000.0, 2000.0, 3000.0, 4000.0])
    h = np.array([0.0, 40.0, 0.0, 30.0, 0.0])
    s_tim = max(30 / 1000, 20 / 3000)  # (40 - 10) / 1000
    s_rim = max(30 / 3000, 20 / 1000)  # (30 - 10) / 1000
    d_b = (10 - 10 + s_rim * 4000) / (s_tim + s_rim)  # 1600 m
    h_b = 10 + s_tim * d_b - 10  # height of the equivalent edge above the Tx-Rx line
    lam = C / 1800e6
    v_b = h_b * math.sqrt(2 * 4000 / (lam * d_b * (4000 - d_b)))
    v = float(bullington_v(d, h, 10.0, 10.0, 1800.0, earth_radius_m=FLAT_EARTH))
    assert d_b == pytest.approx(1600.0)
    assert v == pytest.approx(v_b, rel=1e-9)


def test_bullington_vectorised_over_profiles_and_los() -> None:
    d = np.array([0.0, 500.0, 1000.0])
    h = np.array([[0.0, 0.0, 0.0], [0.0, 50.0, 0.0]])
    v = bullington_v(d, h, np.array([30.0, 30.0]), np.array([1.5, 1.5]), 2600.0)
    assert v.shape == (2,)
    assert v[0] < -0.78 < v[1]  # clear path (LOS, v the point's, negative) and an obstructed one


def test_excess_loss_is_zero_on_flat_and_sloping_ground_and_grows_with_a_ridge() -> None:
    d = np.linspace(0.0, 3000.0, 31)
    flat = np.zeros_like(d)
    slope = d * 0.02  # 60 m rise over 3 km
    assert float(bullington_excess_loss_db(d, flat, 30.0, 1.5, 773.0)) == pytest.approx(0.0, abs=1e-9)
    assert float(bullington_excess_loss_db(d, slope, 30.0, 1.5, 773.0)) == pytest.approx(0.0, abs=1e-6)
    ridge = 60.0 * np.exp(-(((d - 2000.0) / 150.0) ** 2))
    loss_773 = float(bullington_excess_loss_db(d, ridge, 30.0, 1.5, 773.0))
    loss_3500 = float(bullington_excess_loss_db(d, ridge, 30.0, 1.5, 3500.0))
    assert 10.0 < loss_773 < loss_3500  # diffraction grows with frequency


def _ridge_dem(n: int = 101, ridge_col: int | None = 70, height: float = 80.0) -> np.ndarray:
    z = np.full((n, n), 20.0)
    if ridge_col is not None:
        cols = np.arange(n)
        z += height * np.exp(-(((cols - ridge_col) / 2.0) ** 2))[None, :]
    return z


def test_radial_sweep_matches_the_exact_bullington_of_its_profile() -> None:
    dem = _ridge_dem()
    res = 100.0
    v_a, v_s = radial_terrain_v(dem, 50, 20, h_tx_m=30.0, h_rx_m=1.5, radius_px=75, resolution_m=res)
    assert v_a.shape == (360, 76) and v_s.shape == (360, 76)
    east = 90  # the radial due east runs along the row through the ridge
    for k in (30, 52, 60, 75):
        profile = dem[50, 20:21 + k]
        dist = np.arange(k + 1) * res
        exact = float(bullington_v(dist, profile, profile[0] + 30.0, profile[-1] + 1.5, 1000.0))
        assert v_a[east, k] == pytest.approx(exact, rel=1e-6, abs=1e-9)
    # west, away from the ridge, the ground is flat: the actual and smooth paths are the same
    np.testing.assert_allclose(v_a[270, 2:20], v_s[270, 2:20])
    loss = sweep_excess_loss_db(v_a, v_s, 2565.0)
    assert loss[east, 75] > 15.0 and loss[270, 19] == 0.0 and loss[east, 40] == 0.0


def test_effective_height_follows_the_ground_around_the_site() -> None:
    z = np.zeros((81, 81))
    z[40, 40] = 50.0  # a site on a 50 m knoll in flat land
    h = effective_antenna_height_m(z, [40, 10], [40, 10], [30.0, 30.0], resolution_m=100.0)
    np.testing.assert_allclose(h, [80.0, 30.0])
    low = np.full((81, 81), 60.0)
    low[40, 40] = 0.0  # in a valley 60 m below its surroundings: clipped to the RMa minimum
    assert float(effective_antenna_height_m(low, 40, 40, 30.0, resolution_m=100.0)) == 10.0


@pytest.mark.parametrize(("f_ghz", "h", "ws", "r", "eq", "expected"), [
    (1.5, 2.0, 27.0, 10.0, "2b", 16.0),   # water/sea
    (1.5, 2.0, 27.0, 6.0, "2b", 10.9),    # open/rural, R = 6 m
    (1.5, 2.0, 27.0, 10.0, "2a", 20.5),   # suburban
    (1.5, 2.0, 27.0, 15.0, "2a", 24.5),   # urban, trees/forest
    (3.0, 3.0, 15.0, 15.0, "2a", 29.0),   # dense urban
    (0.9, 2.3, 30.0, 10.0, "2b", 13.7),
    (1.5, 2.5, 25.0, 10.0, "2a", 20.2),
    (0.03, 2.1, 24.5, 9.8, "2a", 5.7),
    (1.7, 30.0, 24.5, 9.8, "2a", 0.0),    # above the clutter
])
def test_p2108_height_gain_matches_the_reference_implementation(
        f_ghz: float, h: float, ws: float, r: float, eq: str, expected: float) -> None:
    assert float(clutter_height_gain_loss_db(f_ghz, h, r, ws, eq)) == pytest.approx(expected, abs=0.05)


@pytest.mark.parametrize(("f_ghz", "d_km", "p", "expected"), [
    (0.5, 0.25, 50.0, 17.4), (0.5, 0.25, 1.0, 3.9), (0.5, 0.25, 99.0, 30.9), (26.6, 15.8, 45.0, 32.5),
    (67.0, 5.4, 30.5, 30.9), (3.5, 1.0, 0.1, 16.8), (3.5, 1.0, 99.9, 42.8),
])
def test_p2108_terrestrial_matches_the_reference_implementation(
        f_ghz: float, d_km: float, p: float, expected: float) -> None:
    assert float(terrestrial_clutter_loss_db(f_ghz, d_km, p)) == pytest.approx(expected, abs=0.05)


def test_p2108_rejects_outside_its_range() -> None:
    for args in ((0.24, 2.0, 50.0), (67.1, 5.0, 50.0), (10.0, 0.24, 50.0), (6.0, 3.0, 0.0), (6.0, 3.0, 100.0)):
        with pytest.raises(ConfigError):
            terrestrial_clutter_loss_db(*args)
    with pytest.raises(ConfigError):
        clutter_height_gain_loss_db(1.0, 0.0, 9.0, 10.0, "2b")


def test_clutter_table_per_worldcover_class() -> None:
    loss, sigma = clutter_loss_table_db(2565.0, 1.5)
    assert loss[40] == 0.0 and loss[80] == 0.0  # paddy and water: open
    assert loss[10] > loss[50] > 0.0  # forest (15 m) loses more than a village (10 m)
    assert sigma[10] == WORLDCOVER_CLASSES[10].sigma_db and sigma[0] == 0.0
    with pytest.raises(ConfigError, match="code 300"):
        class_table({300: ClutterClass("x", "none", 0.0, 1.0)})
    with pytest.raises(ConfigError, match="unknown clutter type"):
        class_table({7: ClutterClass("x", "jungle", 5.0, 1.0)})


def test_cost231_hata_extrapolated_to_3500_mhz() -> None:
    # COST-231 medium city, hb 30 m, hm 1.5 m, 1 km, by hand:
    # 46.3 + 33.9 log f - 13.82 log 30 - a(hm), a = (1.1 log f - 0.7) 1.5 - (1.56 log f - 0.8)
    for f in (2600.0, 3500.0):
        lf = math.log10(f)
        a = (1.1 * lf - 0.7) * 1.5 - (1.56 * lf - 0.8)
        expected = 46.3 + 33.9 * lf - 13.82 * math.log10(30.0) - a
        assert float(hata_path_loss(1000.0, f, h_bs_m=30.0, h_ut_m=1.5)) == pytest.approx(expected, abs=1e-9)
        assert not hata_valid(2000.0, f, h_bs_m=30.0, h_ut_m=1.5)
    with pytest.raises(ConfigError):
        hata_path_loss(1000.0, 3600.0, h_bs_m=30.0, h_ut_m=1.5)
