"""Each operator's own location effect at the committee points, where MR grids measure every operator.

The kriging of :mod:`coverage.model.fusion` fits one location effect for all operators: right for
shadowing, which every link at a place shares, but the model's own error differs by operator (each
network's sites, heights, beams and directions: about 2 dB at a committee point once the shared
effect is taken out, measured on the seed worlds). The verdict takes the best operator, so that
error decides which operator serves the committee point and whether it is good. MR grids measure
every operator at the same places (an operator's rows of one grid differ from another's by its
signal alone: the grid's indoor share and building loss are common to its phones), so at the
committee points each operator is estimated from its own evidence:

1. per operator, the residual bins of its own measurements and MR grids are kriged (the run's
   variogram and prior; exactly at the committee pixel, no blocks) to its effect ``E_o``;
2. its serving SS-RSRP at the committee pixel (the model's, at the probe) moves by the area prior
   plus ``E_o``, its SS-SINR as :func:`coverage.model.prediction.shifted_sinr_db` says;
3. the committee pixel takes the operator with the best class, then the largest good headroom
   (:func:`coverage.model.prediction.headroom_db`), and that operator's posterior standard deviation.

Villages' areas keep the shared effect (every pixel's operators would need their own rasters).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from coverage.model.fusion import Evidence, Variogram, krige
from coverage.model.grid import NODATA
from coverage.model.prediction import (
    NO_SIGNAL,
    Prediction,
    classify,
    headroom_db,
    pixel_noise_mw,
    probe_serving,
    probe_view,
    shifted_sinr_db,
)
from coverage.model.rules import RuleSet

__all__ = ["CommitteeEstimate", "committee_estimate"]


@dataclass
class CommitteeEstimate:
    """Per committee probe: the chosen operator's fused SS-RSRP (dBm, NaN none), SS-SINR (dB), class,
    serving cell (-1 none), operator index (-1 none), its posterior standard deviation (dB) and whether
    any of its bins informed it."""

    rsrp_dbm: np.ndarray
    sinr_db: np.ndarray
    coverage_class: np.ndarray
    cell: np.ndarray
    operator: np.ndarray
    sd_db: np.ndarray
    informed: np.ndarray


def committee_estimate(prediction: Prediction, first_probe: int, x: np.ndarray, y: np.ndarray,
                       prior_db: np.ndarray, bins: dict[int, Evidence], variogram: Variogram, *, rules: RuleSet,
                       noise_figure_db: float, selection_offsets: tuple[tuple[str, float], ...] = ()
                       ) -> CommitteeEstimate:
    """The committee points' best operator after each operator's own kriged effect.

    ``prediction`` was made with the committee pixels as probes from probe ``first_probe`` on (``len(x)``
    of them; ``x``, ``y``: their pixel centres, metric); ``prior_db``: the run's prior location effect
    there (area and class offsets); ``bins``: per operator index (``prediction.operators``) its residual
    bins with their noise (:class:`coverage.model.fusion.Evidence`, prior already subtracted). An
    operator without bins keeps the prior (its effect 0, standard deviation ``sigma``)."""
    m = len(x)
    view = probe_view(prediction, first_probe)
    rsrp = np.full(m, np.nan)
    sinr = np.full(m, np.nan)
    cls = np.full(m, NO_SIGNAL, dtype=np.uint8)
    cell = np.full(m, -1, dtype=np.int64)
    operator = np.full(m, -1, dtype=np.int64)
    sd = np.full(m, variogram.sigma_db)
    informed = np.zeros(m, dtype=bool)
    best_head = np.full(m, -np.inf)
    if m == 0 or view.probe_band_sinr is None:
        return CommitteeEstimate(rsrp, sinr, cls, cell, operator, sd, informed)
    rows = np.arange(m)
    for o in range(len(prediction.operators)):
        serving, o_cell, band = probe_serving(view, np.full(m, o, dtype=np.int64), selection_offsets)
        reached = np.isfinite(serving) & (serving > NODATA) & (o_cell >= 0)
        if not reached.any():
            continue
        o_sinr = view.probe_band_sinr[rows, o, np.maximum(band, 0)].astype(float)
        evidence = bins.get(o)
        if evidence is not None and len(evidence):
            mean, o_sd, o_informed = krige(evidence, x, y, variogram)
        else:
            mean, o_sd, o_informed = np.zeros(m), np.full(m, variogram.sigma_db), np.zeros(m, dtype=bool)
        effect = np.asarray(prior_db, dtype=float) + mean
        noise = pixel_noise_mw(prediction, np.maximum(o_cell, 0), noise_figure_db)
        level = np.where(reached, serving + effect, np.nan)
        with np.errstate(invalid="ignore", over="ignore"):
            o_sinr = np.where(reached, shifted_sinr_db(np.where(reached, serving, 0.0), np.where(reached, o_sinr, 0.0),
                                                       noise, effect), np.nan)
            head = np.where(reached, headroom_db(np.nan_to_num(level, nan=-300.0), np.nan_to_num(o_sinr, nan=-300.0),
                                                 noise, rules), -np.inf)
        o_cls = np.where(reached, classify(np.nan_to_num(level, nan=-300.0), np.nan_to_num(o_sinr, nan=-300.0), rules),
                         NO_SIGNAL).astype(np.uint8)
        take = reached & ((operator < 0) | (o_cls > cls) | ((o_cls == cls) & (head > best_head)))
        rsrp[take], sinr[take], cls[take] = level[take], o_sinr[take], o_cls[take]
        cell[take], operator[take], best_head[take] = o_cell[take], o, head[take]
        sd[take], informed[take] = o_sd[take], o_informed[take]
    return CommitteeEstimate(rsrp, sinr, cls, cell, operator, sd, informed)
