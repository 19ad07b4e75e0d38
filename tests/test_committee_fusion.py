"""Each operator's own effect at the committee points (coverage.model.committee_fusion), against hand-computed
answers, and the SINR and headroom arithmetic it rests on."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyproj
import pytest

from coverage.model.committee_fusion import committee_estimate
from coverage.model.fusion import Evidence, Variogram
from coverage.model.grid import Grid
from coverage.model.prediction import GOOD, WEAK, Prediction, headroom_db, shifted_sinr_db
from coverage.model.rules import DEFAULT_RULES

GRID = Grid(pyproj.CRS("EPSG:32650"), 0.0, 1000.0, 100.0, 10, 10)
VARIOGRAM = Variogram(sigma_db=4.0, correlation_m=1000.0, nugget_db=1.0)


def _prediction() -> Prediction:
    """Two operators (A: cell 0, B: cell 1), one band (n78); probe 0 is another source's, probe 1 the
    committee point: A at -106 dBm, B at -105.5 dBm, both SS-SINR 10 dB."""
    shape = (GRID.height, GRID.width)
    z = np.zeros(shape, dtype=np.float32)
    return Prediction(GRID, z.copy(), z.copy(), np.zeros(shape, np.uint8), np.full(shape, -1, np.int32),
                      np.full(shape, -1, np.int8), ["A", "B"], pd.DataFrame({"band": ["n78", "n78"]}),
                      probe_band_rsrp=np.array([[[-90.0], [-90.0]], [[-106.0], [-105.5]]], dtype=np.float32),
                      probe_band_cell=np.array([[[0], [1]], [[0], [1]]], dtype=np.int32),
                      probe_band_sinr=np.array([[[5.0], [5.0]], [[10.0], [10.0]]], dtype=np.float32),
                      band_names=["n78"])


def _bin(residual_db: float) -> dict[int, Evidence]:
    """One bin of operator A on the committee pixel (row 2, col 2: centre 250, 750), noise variance 16."""
    return {0: Evidence(np.array([2]), np.array([2]), np.array([250.0]), np.array([750.0]), np.array([residual_db]),
                        np.array([1]), noise_var=np.array([16.0]))}


def test_shifted_sinr_and_headroom_by_hand() -> None:
    # S = -100 dBm (1e-10 mW), I = N = 1e-11 mW: SINR = 10 log10(1e-10 / 2e-11) = 6.9897 dB
    assert float(shifted_sinr_db(np.array([-100.0]), np.array([10 * math.log10(5.0)]), np.array([1e-11]),
                                 np.array([0.0]))[0]) == pytest.approx(6.9897, abs=1e-4)
    # +10 dB on signal and interference, not on noise: 1e-9 / (1e-10 + 1e-11) = 9.0909 -> 9.5861 dB
    assert float(shifted_sinr_db(np.array([-100.0]), np.array([10 * math.log10(5.0)]), np.array([1e-11]),
                                 np.array([10.0]))[0]) == pytest.approx(9.5861, abs=1e-4)
    # S = 1e-10, I = 1.8e-10, N = 1e-11 (SINR -2.7875 dB): the SINR bar -3 dB (T = 0.50119) holds down to
    # (S - T I) / (T N) = (1e-10 - 0.90214e-10) / 5.0119e-12 = 1.9526 -> 2.906 dB; RSRP allows 5 dB
    sinr = 10 * math.log10(1e-10 / 1.9e-10)
    assert float(headroom_db(np.array([-100.0]), np.array([sinr]), np.array([1e-11]), DEFAULT_RULES)[0]) \
        == pytest.approx(2.906, abs=1e-3)
    # interference alone below the bar: no headroom
    assert headroom_db(np.array([-100.0]), np.array([-4.0]), np.array([1e-15]), DEFAULT_RULES)[0] == -np.inf


def test_an_operator_s_own_bin_moves_it_and_it_serves_the_committee() -> None:
    # simple kriging with one bin at distance 0: weight 16 / (16 + 16) = 0.5, so A's effect is +2 dB and
    # its standard deviation sqrt(16 - 0.5 * 16) = 2.8284 dB; A: -106 + 2 = -104 dBm, good; B (no bin) stays
    # at -105.5 dBm, weak. SS-SINR of A: S = -106 dBm, SINR 10 dB, N = -122.2288 dBm, so I = S / 10 - N;
    # +2 dB on S and I: 10.3998 dB
    est = committee_estimate(_prediction(), 1, np.array([250.0]), np.array([750.0]), np.array([0.0]), _bin(4.0),
                             VARIOGRAM, rules=DEFAULT_RULES, noise_figure_db=7.0)
    assert est.operator.tolist() == [0] and est.cell.tolist() == [0]
    assert est.rsrp_dbm[0] == pytest.approx(-104.0)
    assert est.sinr_db[0] == pytest.approx(10.3998, abs=1e-3)
    assert est.coverage_class.tolist() == [GOOD]
    assert est.sd_db[0] == pytest.approx(math.sqrt(8.0))
    assert est.informed.tolist() == [True]


def test_a_weaker_own_effect_hands_the_committee_to_the_other_operator() -> None:
    # A's bin says -4 dB: A -108 dBm (headroom -3 dB), B -105.5 dBm (headroom -0.5 dB, no bin: sigma 4 dB)
    est = committee_estimate(_prediction(), 1, np.array([250.0]), np.array([750.0]), np.array([0.0]), _bin(-4.0),
                             VARIOGRAM, rules=DEFAULT_RULES, noise_figure_db=7.0)
    assert est.operator.tolist() == [1] and est.cell.tolist() == [1]
    assert est.rsrp_dbm[0] == pytest.approx(-105.5)
    assert est.sinr_db[0] == pytest.approx(10.0, abs=1e-4)
    assert est.coverage_class.tolist() == [WEAK]
    assert est.sd_db[0] == pytest.approx(4.0)
    assert est.informed.tolist() == [False]


def test_the_prior_adds_to_every_operator() -> None:
    # a prior of +1 dB: B at -104.5 dBm is good; A at -106 + 1 - 2 = -107 dBm is not; B serves
    est = committee_estimate(_prediction(), 1, np.array([250.0]), np.array([750.0]), np.array([1.0]), _bin(-4.0),
                             VARIOGRAM, rules=DEFAULT_RULES, noise_figure_db=7.0)
    assert est.operator.tolist() == [1]
    assert est.rsrp_dbm[0] == pytest.approx(-104.5)
    assert est.coverage_class.tolist() == [GOOD]
