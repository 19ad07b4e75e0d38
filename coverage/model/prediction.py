"""A prediction (best-of-operators RSRP, SINR, coverage class and serving cell per pixel) and what is
read from it: cropping to an inner grid, the serving cell at probe points, noise per pixel, the
headroom over the good bar and the class of RSRP/SINR values under a rule set.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from coverage.model import link_budget
from coverage.model.bands import BANDS
from coverage.model.grid import NODATA, Grid
from coverage.model.rules import RuleSet

#: Coverage classes of a pixel, as stored in the class raster.
NO_SIGNAL, WEAK, GOOD = 0, 1, 2

__all__ = ["GOOD", "NO_SIGNAL", "WEAK", "Prediction", "classify", "crop_prediction", "crop_prediction_array",
           "good_headroom_db", "headroom_db", "pixel_noise_mw", "probe_serving", "probe_view", "shifted_sinr_db"]


@dataclass
class Prediction:
    """Best-of-operators prediction over a grid (arrays ``(height, width)``).

    ``rsrp_dbm`` and ``sinr_db`` are float32 with :data:`NODATA` where no cell reaches;
    ``cell`` is the index into ``cells`` of the serving cell (-1 none); ``coverage_class`` holds
    :data:`GOOD`, :data:`WEAK` or :data:`NO_SIGNAL`; ``operator`` indexes ``operators`` (-1 none).
    """

    grid: Grid
    rsrp_dbm: np.ndarray
    sinr_db: np.ndarray
    coverage_class: np.ndarray
    cell: np.ndarray
    operator: np.ndarray
    operators: list[str]
    cells: pd.DataFrame
    timings_s: dict[str, float] = field(default_factory=dict)
    #: Per probe (the ``probes`` of :func:`predict`), operator (``operators`` order) and band
    #: (``band_names`` order): the band's best SS-RSRP (dBm, -inf where none of its cells reaches, NaN
    #: off the grid) and that cell (index into ``cells``, -1 none).
    probe_band_rsrp: np.ndarray | None = None
    probe_band_cell: np.ndarray | None = None
    #: The same probes' SS-SINR (dB) of that band's best server (-inf where none reaches, NaN off the grid).
    probe_band_sinr: np.ndarray | None = None
    band_names: list[str] = field(default_factory=list)
    #: Standard deviation (dB, float32) of the location effect per pixel, once a run has fused its
    #: evidence (:mod:`coverage.model.fusion`); None for the model alone.
    sigma_db: np.ndarray | None = None


def crop_prediction_array(array: np.ndarray, grid: Grid, inner: Grid) -> np.ndarray:
    """The window of ``array`` (on ``grid``) that is ``inner``, a grid on the same lattice inside it."""
    r0 = round((grid.y0 - inner.y0) / grid.resolution_m)
    c0 = round((inner.x0 - grid.x0) / grid.resolution_m)
    if r0 < 0 or c0 < 0 or r0 + inner.height > grid.height or c0 + inner.width > grid.width:
        raise ValueError("the inner grid is not inside the grid")
    return array[r0:r0 + inner.height, c0:c0 + inner.width]


def crop_prediction(prediction: Prediction, inner: Grid) -> Prediction:
    """``prediction`` cut to ``inner`` (its arrays are views; probes are left out)."""
    def cut(a: np.ndarray) -> np.ndarray:
        return crop_prediction_array(a, prediction.grid, inner)

    return Prediction(inner, cut(prediction.rsrp_dbm), cut(prediction.sinr_db), cut(prediction.coverage_class),
                      cut(prediction.cell), cut(prediction.operator), prediction.operators, prediction.cells,
                      timings_s=prediction.timings_s,
                      sigma_db=None if prediction.sigma_db is None else cut(prediction.sigma_db))


def probe_serving(prediction: Prediction, operator_index: np.ndarray,
                  selection_offsets: tuple[tuple[str, float], ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each probe's serving SS-RSRP (dBm, -inf none, NaN off the grid), cell (-1 none) and band index
    for the operator ``operator_index`` (-1: none), the serving band chosen by RSRP plus
    ``selection_offsets`` as :func:`predict` chooses it."""
    n = len(operator_index)
    if prediction.probe_band_rsrp is None or prediction.probe_band_cell is None or n == 0:
        return np.full(n, np.nan), np.full(n, -1, dtype=np.int64), np.full(n, -1, dtype=np.int64)
    rows = np.arange(n)
    op = np.maximum(operator_index, 0)
    rsrp = prediction.probe_band_rsrp[rows, op].astype(float)
    cells = prediction.probe_band_cell[rows, op]
    offsets = np.array([dict(selection_offsets).get(b, 0.0) for b in prediction.band_names] or [0.0])
    with np.errstate(invalid="ignore"):
        score = np.where(np.isnan(rsrp), -np.inf, rsrp + offsets[None, :])
    band = np.argmax(score, axis=1)
    serving = rsrp[rows, band]
    cell = cells[rows, band].astype(np.int64)
    serving = np.where(operator_index >= 0, serving, -np.inf)
    off_grid = np.isnan(rsrp).all(axis=1)
    serving = np.where(off_grid, np.nan, serving)
    return serving, np.where(operator_index >= 0, cell, -1), np.where(np.isfinite(serving), band, -1)


def probe_view(prediction: Prediction, start: int) -> Prediction:
    """``prediction`` whose probes start at probe ``start`` (shallow; probes of several sources share a run:
    measurements, MR grids, committee points)."""
    view = copy.copy(prediction)
    if prediction.probe_band_rsrp is not None:
        view.probe_band_rsrp = prediction.probe_band_rsrp[start:]
    if prediction.probe_band_cell is not None:
        view.probe_band_cell = prediction.probe_band_cell[start:]
    if prediction.probe_band_sinr is not None:
        view.probe_band_sinr = prediction.probe_band_sinr[start:]
    return view


def pixel_noise_mw(prediction: Prediction, cell: np.ndarray, noise_figure_db: float) -> np.ndarray:
    """Noise per resource element (mW) of the serving cells ``cell`` (indices into
    ``prediction.cells``; -1 gives the first band's), for SS-SINR arithmetic on pixels."""
    bands = prediction.cells["band"].to_numpy().astype(str)
    if not len(bands):
        return np.full(np.shape(cell), np.nan)
    names, band_index = np.unique(bands, return_inverse=True)
    noise_dbm = np.array([float(link_budget.noise_per_re_dbm(BANDS[b].scs_khz, noise_figure_db)) for b in names])
    # per band, then gathered per pixel: the same values as raising every pixel's noise to the power
    return (10.0 ** (noise_dbm / 10.0))[band_index[np.maximum(cell, 0)]]


def good_headroom_db(prediction: Prediction, rules: RuleSet, noise_figure_db: float, *,
                     where: np.ndarray | None = None) -> np.ndarray:
    """Per pixel, the smallest location effect (dB, added to every link at the place) that keeps the
    pixel good, negated: the pixel is good exactly where this is >= 0, and stays good under any
    common loss smaller than it. -inf where nothing reaches or interference alone keeps SS-SINR below
    the bar.

    SS-RSRP moves one for one with the effect; SS-SINR = S g / (I g + N) moves only through the noise
    (``g = 10^(effect/10)``), so an interference-limited pixel keeps its SINR however much common
    loss it gets: the SINR bar holds for ``g >= T N / (S - T I)``.

    ``where``: a boolean ``(height, width)`` of the pixels wanted (e.g. the villages' and committee
    points'); the others are -inf, unread.
    """
    reached = prediction.rsrp_dbm > NODATA
    if where is not None:
        reached &= where
    out = np.full(prediction.rsrp_dbm.shape, -np.inf)
    if not reached.any():
        return out
    rows, cols = np.nonzero(reached)
    n_mw = pixel_noise_mw(prediction, prediction.cell[rows, cols], noise_figure_db)
    out[rows, cols] = headroom_db(prediction.rsrp_dbm[rows, cols], prediction.sinr_db[rows, cols], n_mw, rules)
    return out


def headroom_db(rsrp_dbm: np.ndarray, sinr_db: np.ndarray, noise_mw: np.ndarray, rules: RuleSet) -> np.ndarray:
    """The good headroom (:func:`good_headroom_db`) of serving SS-RSRP ``rsrp_dbm`` and SS-SINR ``sinr_db``
    with noise ``noise_mw`` per resource element: ``min(RSRP - good RSRP bar, 10 log10((S - T I) / (T N)))``,
    ``T`` the SINR bar (linear) and ``I = S / SINR - N``; -inf where interference alone keeps the SINR below it."""
    s_dbm = np.asarray(rsrp_dbm, dtype=np.float64)
    n_mw = np.asarray(noise_mw, dtype=np.float64)
    s_mw = 10.0 ** (s_dbm / 10.0)
    i_mw = np.maximum(s_mw / 10.0 ** (np.asarray(sinr_db, dtype=np.float64) / 10.0) - n_mw, 0.0)
    t = 10.0 ** (rules.good_sinr_db / 10.0)
    margin = s_mw - t * i_mw
    with np.errstate(divide="ignore", invalid="ignore"):
        sinr_headroom = np.where(margin > 0, 10.0 * np.log10(margin / (t * n_mw)), -np.inf)
    return np.minimum(s_dbm - rules.good_rsrp_dbm, sinr_headroom)


def shifted_sinr_db(rsrp_dbm: np.ndarray, sinr_db: np.ndarray, noise_mw: np.ndarray, effect_db: np.ndarray
                    ) -> np.ndarray:
    """SS-SINR (dB) after a location effect ``effect_db`` common to every link at the place: signal and
    interference move with it, the noise does not: ``S g / (I g + N)``, ``g = 10^(effect/10)``,
    ``I = S / SINR - N``."""
    s_mw = 10.0 ** (np.asarray(rsrp_dbm, dtype=np.float64) / 10.0)
    n_mw = np.asarray(noise_mw, dtype=np.float64)
    i_mw = np.maximum(s_mw / 10.0 ** (np.asarray(sinr_db, dtype=np.float64) / 10.0) - n_mw, 0.0)
    g = 10.0 ** (np.asarray(effect_db, dtype=np.float64) / 10.0)
    return 10.0 * np.log10(s_mw * g / (i_mw * g + n_mw))


def classify(rsrp_dbm: np.ndarray, sinr_db: np.ndarray, rules: RuleSet) -> np.ndarray:
    """:data:`GOOD` where RSRP and SINR meet the good bars, :data:`WEAK` where RSRP is at least the
    weak bar, else :data:`NO_SIGNAL` (uint8, the shape of the inputs)."""
    good = (rsrp_dbm >= rules.good_rsrp_dbm) & (sinr_db >= rules.good_sinr_db)
    weak = rsrp_dbm >= rules.weak_rsrp_dbm
    return np.where(good, GOOD, np.where(weak, WEAK, NO_SIGNAL)).astype(np.uint8)
