"""MR grid statistics as evidence: residual bins with their own error model, "no 5G" from absence, and
per-village MR figures.

An MR grid's mean RSRP is not an outdoor measurement: most phones are indoors, so the mean sits an
*offset* below the outdoor field (the indoor share times the building loss); a phone reports an NR
cell only when it hears it, so where NR is weak the heard samples are the strong ones. The model
here (:class:`MrModel`):

- **Well heard** (NR samples at least ``heard_share`` of the operator's LTE samples in the grid, or no
  LTE row to compare with): residual ``r = mean RSRP + offset - predicted`` (operator's serving band at
  the grid's pixel), with variance ``floor^2 + sample_sd^2 / n`` (``n`` NR samples; ``floor``: what many
  samples do not average out, the grid's own indoor share and buildings).
- **Partly heard or not heard** (``n_lte >= min_lte_samples`` LTE samples): the share heard
  ``f = (n_nr + 0.5) / (n_lte + 1)`` says where the phones' levels lie against the level a phone
  hears (``heard_dbm``): outdoor level ``H + offset + sample_sd Phi^-1(f)``, variance by the delta
  method plus ``floor^2`` plus ``censored_extra_db^2``. Where no NR sample is heard among many LTE
  samples (absence: in NSA networks a phone reports the NR cells it hears) this is an upper bound of
  the level, used only when it is below the prediction: "no 5G here".
- The **offset** is fitted per run against the outdoor reference: the same operator's drive-test and
  field-test samples on the same pixels where they measure at least ``offset_min_dbm`` outdoors
  (:func:`fit_colocated_offset`: the median of their difference, at least :data:`MIN_OFFSET_PAIRS`
  pairs; no prediction enters, so a partitioned run fits it once for all partitions), else the prior
  ``prior_offset_db`` (indoor share 0.8 x 13 dB low-loss O2I, TR 38.901 7.4.3).

Rows of a grid are binned per pixel of the run's grid (inverse-variance weighted), and enter the
kriging of :mod:`coverage.model.fusion` beside the measurements' bins, each bin with its own noise variance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

from coverage.crs import project_xy
from coverage.model.fusion import Evidence
from coverage.model.grid import NODATA, Grid
from coverage.model.prediction import Prediction, probe_serving, probe_view
from coverage.model.verdicts import NO_SERVICE_RSRP_DBM, REASONS, confidence_label

__all__ = ["MR_REASONS", "MrModel", "apply_mr_verdicts", "fit_colocated_offset", "heard_lift", "mr_bins", "mr_points",
           "village_mr"]

#: Reason codes MR adds to a verdict (listed with the others in :data:`coverage.model.verdicts.REASONS`).
MR_REASONS = {code: REASONS[code] for code in ("mr_fused", "mr_no_5g")}
#: Co-located pixels (MR and outdoor measurements) the per-run offset fit needs.
MIN_OFFSET_PAIRS = 30


@dataclass(frozen=True)
class MrModel:
    """The error model of MR grid statistics (dB, dBm, samples); see the module docstring."""

    prior_offset_db: float = 10.4
    floor_db: float = 3.0
    sample_sd_db: float = 7.5
    heard_dbm: float = -124.0
    heard_share: float = 0.8
    min_lte_samples: int = 50
    censored_extra_db: float = 3.0
    #: A village with at least this many LTE samples inside and no NR sample is "no 5G" (``mr_no_5g``).
    no_5g_lte_samples: int = 300
    #: The offset is fitted on pixels whose outdoor level (the measurements') is at least this (dBm):
    #: there the indoor phones, some 10 dB lower, lie about two sample deviations above the hearing level,
    #: so the difference is the indoor loss, not the lift's approximation too (which the weak grids that
    #: still count as well heard carry). Selected on the outdoor side: on the MR side it would pick the
    #: grids whose noise happened to be positive.
    offset_min_dbm: float = -100.0


DEFAULT_MR_MODEL = MrModel()


def mr_points(mr: pd.DataFrame) -> pd.DataFrame:
    """One row per grid and operator: NR samples and mean RSRP (samples-weighted over the grid's NR rows),
    the NR share at or above the threshold, and LTE samples (``lon, lat, operator, n_nr, rsrp_nr, good_nr,
    n_lte``)."""
    if mr.empty:
        return pd.DataFrame({c: [] for c in ("lon", "lat", "operator", "n_nr", "rsrp_nr", "good_nr", "n_lte")})
    nr = mr[(mr["rat"] == "NR") & (mr["samples"] > 0)]
    w = nr["samples"].to_numpy(float)
    share = nr["share_good"].to_numpy(float) if "share_good" in nr else np.full(len(nr), np.nan)
    agg = pd.DataFrame({"lon": nr["lon"].to_numpy(), "lat": nr["lat"].to_numpy(), "operator": nr["operator"].to_numpy(),
                        "n": w, "wr": w * nr["rsrp_mean_dbm"].to_numpy(float), "wg": w * np.nan_to_num(share),
                        "gn": np.where(np.isnan(share), 0.0, w)}).groupby(["lon", "lat", "operator"], sort=False).sum()
    lte = mr[mr["rat"] == "LTE"].groupby(["lon", "lat", "operator"], sort=False)["samples"].sum()
    out = agg.join(lte.rename("n_lte"), how="outer").reset_index()
    out["n_nr"] = out["n"].fillna(0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["rsrp_nr"] = out["wr"] / out["n"]
        out["good_nr"] = np.where(out["gn"] > 0, out["wg"] / out["gn"], np.nan)
    out["n_lte"] = out["n_lte"].astype(float)
    return out[["lon", "lat", "operator", "n_nr", "rsrp_nr", "good_nr", "n_lte"]]


def mr_residuals(points: pd.DataFrame, prediction: Prediction, first_probe: int, *, model: MrModel,
                 offset_db: float, selection_offsets: tuple[tuple[str, float], ...] = (),
                 prior_db: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per grid point: residual (dB; NaN when the point says nothing), its variance (dB^2), and whether it
    is a well-heard mean (the rest come from the share heard). ``points`` (:func:`mr_points`) were probed
    from probe ``first_probe`` on."""
    n = len(points)
    ops = {name: i for i, name in enumerate(prediction.operators)}
    op_index = np.array([ops.get(str(o), -1) for o in points["operator"].to_numpy()], dtype=np.int64)
    predicted, _cell, _band = probe_serving(probe_view(prediction, first_probe), op_index, selection_offsets)
    n_nr = points["n_nr"].to_numpy(float)
    n_lte = points["n_lte"].to_numpy(float)
    rsrp = points["rsrp_nr"].to_numpy(float)
    has_lte = np.isfinite(n_lte) & (n_lte > 0)
    share = np.where(has_lte, n_nr / np.where(has_lte, n_lte, 1.0), 1.0)
    ok_pred = np.isfinite(predicted)
    pred = np.where(ok_pred & (predicted > NODATA), predicted, np.nan)
    prior = np.zeros(n) if prior_db is None else np.asarray(prior_db, dtype=float)
    well = (n_nr > 0) & np.isfinite(rsrp) & (share >= model.heard_share)
    residual = np.full(n, np.nan)
    variance = np.full(n, np.nan)
    lift, gain = heard_lift(rsrp[well], share[well], has_lte[well], model)
    residual[well] = rsrp[well] - lift + offset_db - pred[well] - prior[well]
    variance[well] = model.floor_db**2 + model.sample_sd_db**2 / n_nr[well] * gain**2
    # partly heard or not heard: the share heard places the level against the level phones hear
    part = ~well & has_lte & (n_lte >= model.min_lte_samples) & (op_index >= 0)
    f = (n_nr[part] + 0.5) / (n_lte[part] + 1.0)
    z = ndtri(np.clip(f, 1e-6, 1 - 1e-6))
    level = model.heard_dbm + offset_db + model.sample_sd_db * z
    density = np.exp(-0.5 * z**2) / np.sqrt(2.0 * np.pi)
    var_f = model.sample_sd_db**2 * f * (1.0 - f) / (n_lte[part] + 1.0) / np.maximum(density, 1e-6) ** 2
    r = level - np.nan_to_num(pred[part], nan=-np.inf) - prior[part]
    # not heard at all is a bound: it says "weaker than this", never "stronger" (nor anything where the model
    # reaches nothing)
    bound = n_nr[part] == 0
    usable = np.isfinite(r) & (~bound | (r < 0.0))
    idx = np.flatnonzero(part)
    residual[idx[usable]] = r[usable]
    variance[idx[usable]] = model.floor_db**2 + model.censored_extra_db**2 + np.minimum(var_f[usable], 100.0)
    residual = np.where(np.isfinite(pred), residual, np.nan)
    return residual, variance, well


#: How strongly the heard mean may be corrected for the phones not heard (no LTE row to count them): the
#: inverse below is cut where the heard mean lies within this many sample deviations of the hearing level.
MIN_HEARD_DISTANCE = 0.3


def _truncated_location(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For a normal truncated below at ``H``, the standardised truncation point ``a = (H - mu) / s`` whose
    heard mean lies ``t`` deviations above ``H`` (``t = lambda(a) - a``, lambda the inverse Mills ratio;
    decreasing in ``a``, solved by bisection), and ``d t / d a`` (negative)."""
    t = np.maximum(np.asarray(t, dtype=float), MIN_HEARD_DISTANCE)
    lo, hi = np.full(t.shape, -40.0), np.full(t.shape, 40.0)
    for _ in range(60):
        a = 0.5 * (lo + hi)
        mills = np.exp(-0.5 * a * a) / np.sqrt(2.0 * np.pi) / np.maximum(ndtr(-a), 1e-300)
        above = mills - a > t
        lo, hi = np.where(above, a, lo), np.where(above, hi, a)
    a = 0.5 * (lo + hi)
    mills = np.exp(-0.5 * a * a) / np.sqrt(2.0 * np.pi) / np.maximum(ndtr(-a), 1e-300)
    return a, mills * (mills - a) - 1.0


def heard_lift(heard_mean_dbm: np.ndarray, share: np.ndarray, has_lte: np.ndarray, model: MrModel
               ) -> tuple[np.ndarray, np.ndarray]:
    """How far (dB) the mean of the heard NR samples lies above the mean of all phones, and the factor
    by which the heard mean's sampling error grows in the corrected mean.

    A phone reports NR only at or above ``heard_dbm``, so the heard samples are the upper part of the
    phones' levels (normal, deviation ``sample_sd_db``). With an LTE row the share heard ``f`` is counted
    (``n_NR / n_LTE``): the lift is ``sd phi(Phi^-1(f)) / f`` (0 when all are heard). Without one (an SA
    operator, or a file without LTE rows) nothing counts the phones not heard: the lift follows from
    how near the heard mean lies to the hearing level (the mean of a truncated normal, inverted): none
    far above it, about 10 dB where the heard mean is the hearing level plus 2.5 dB; the closer, the
    larger and the less certain (the factor, ``1 / |dt/da|``)."""
    heard_mean_dbm = np.asarray(heard_mean_dbm, dtype=float)
    sd = model.sample_sd_db
    f = np.clip(np.asarray(share, dtype=float), 1e-6, 1.0)
    z = ndtri(np.clip(f, 1e-6, 1 - 1e-9))
    lift = np.where(f < 1.0, sd * np.exp(-0.5 * z**2) / np.sqrt(2.0 * np.pi) / f, 0.0)
    gain = np.ones(len(heard_mean_dbm))
    alone = ~np.asarray(has_lte, dtype=bool) & np.isfinite(heard_mean_dbm)
    if alone.any():
        a, slope = _truncated_location((heard_mean_dbm[alone] - model.heard_dbm) / sd)
        lift[alone] = heard_mean_dbm[alone] - (model.heard_dbm - a * sd)
        gain[alone] = np.minimum(1.0 / np.maximum(np.abs(slope), 1e-3), 5.0)
    return lift, gain


def mr_bins(points: pd.DataFrame, rows: np.ndarray, cols: np.ndarray, residual: np.ndarray, variance: np.ndarray,
            grid: Grid) -> Evidence:
    """Per-pixel bins of MR residuals: inverse-variance weighted mean and the variance of that mean."""
    ok = np.isfinite(residual) & np.isfinite(variance) & (rows >= 0) & (rows < grid.height) & (cols >= 0) \
        & (cols < grid.width)
    if not ok.any():
        z = np.zeros(0)
        return Evidence(z.astype(np.int64), z.astype(np.int64), z, z, z, z.astype(np.int64), noise_var=z)
    w = 1.0 / variance[ok]
    g = pd.DataFrame({"row": rows[ok], "col": cols[ok], "w": w, "wr": w * residual[ok], "n": 1}).groupby(
        ["row", "col"], sort=True).sum().reset_index()
    row, col = g["row"].to_numpy(np.int64), g["col"].to_numpy(np.int64)
    return Evidence(row, col, grid.x0 + (col + 0.5) * grid.resolution_m, grid.y0 - (row + 0.5) * grid.resolution_m,
                    (g["wr"] / g["w"]).to_numpy(float), g["n"].to_numpy(np.int64),
                    noise_var=(1.0 / g["w"]).to_numpy(float))


def fit_colocated_offset(measurements: pd.DataFrame | None, points: pd.DataFrame, crs: Any, resolution_m: float,
                         *, model: MrModel = DEFAULT_MR_MODEL) -> tuple[float, int]:
    """The MR offset (dB) from the same operator's outdoor measurements on the same pixel: the median over
    (pixel, operator) pairs of the measurements' mean outdoor level (SS-RSRP plus the declared
    ``loss_db``) minus the well-heard MR grids' mean (less the lift of the phones not heard), pairs
    with at least two measured samples. Returns (offset, pairs); the prior below
    :data:`MIN_OFFSET_PAIRS` pairs.

    Pixels are those of the run's lattice (multiples of ``resolution_m`` in ``crs``), and the same
    operator's signal at the same place is compared, so no prediction enters: a partitioned run fits
    the run's offset once, before its partitions, from the same rows a single process would use.
    ``measurements``: canonical (``operator``, ``rat``, ``rsrp_dbm``, optional ``loss_db``, point
    geometry); ``points``: :func:`mr_points`."""
    if measurements is None or not len(measurements) or not len(points):
        return model.prior_offset_db, 0
    rat = measurements["rat"].to_numpy(dtype=object) if "rat" in measurements else np.full(len(measurements), "NR")
    rsrp = measurements["rsrp_dbm"].to_numpy(float)
    loss = np.nan_to_num(measurements["loss_db"].to_numpy(float), nan=0.0) if "loss_db" in measurements \
        else np.zeros(len(measurements))
    ok = (rat == "NR") & np.isfinite(rsrp) & (rsrp > NO_SERVICE_RSRP_DBM)
    if not ok.any():
        return model.prior_offset_db, 0
    geometry = measurements.geometry[ok]
    mx, my = project_xy(geometry.x.to_numpy(), geometry.y.to_numpy(), crs)
    outdoor = pd.DataFrame({"col": np.floor(mx / resolution_m).astype(np.int64),
                            "row": np.floor(my / resolution_m).astype(np.int64),
                            "operator": measurements["operator"].to_numpy()[ok].astype(str),
                            "level": rsrp[ok] + loss[ok]}).groupby(["row", "col", "operator"])["level"].agg(
        ["mean", "size"])
    outdoor = outdoor[(outdoor["size"] >= 2) & (outdoor["mean"] >= model.offset_min_dbm)]
    n_nr = points["n_nr"].to_numpy(float)
    n_lte = points["n_lte"].to_numpy(float)
    level = points["rsrp_nr"].to_numpy(float)
    has_lte = np.isfinite(n_lte) & (n_lte > 0)
    share = np.where(has_lte, n_nr / np.where(has_lte, n_lte, 1.0), 1.0)
    well = (n_nr > 0) & np.isfinite(level) & (share >= model.heard_share)
    if not well.any() or outdoor.empty:
        return model.prior_offset_db, 0
    lift, gain = heard_lift(level[well], share[well], has_lte[well], model)
    qx, qy = project_xy(points["lon"].to_numpy(float)[well], points["lat"].to_numpy(float)[well], crs)
    w = 1.0 / (model.floor_db**2 + model.sample_sd_db**2 / n_nr[well] * gain**2)
    g = pd.DataFrame({"col": np.floor(qx / resolution_m).astype(np.int64),
                      "row": np.floor(qy / resolution_m).astype(np.int64),
                      "operator": points["operator"].to_numpy()[well].astype(str), "w": w,
                      "wl": w * (level[well] - lift)}).groupby(["row", "col", "operator"])[["w", "wl"]].sum()
    both = outdoor.join(g, how="inner")
    if len(both) < MIN_OFFSET_PAIRS:
        return model.prior_offset_db, len(both)
    return float(np.median(both["mean"] - both["wl"] / both["w"])), len(both)


def village_mr(labels: np.ndarray, grid: Grid, n: int, mr: pd.DataFrame) -> pd.DataFrame:
    """Per village (``labels``: village index + 1 per pixel of ``grid``, :func:`coverage.model.verdicts.label_raster`):
    MR samples of the grids whose centre falls on its pixels (NR and LTE rows), NR samples, LTE samples, the
    NR share at or above the files' threshold, and the period (``mr_samples``, ``mr_nr_samples``,
    ``mr_lte_samples``, ``mr_good_share``, ``mr_period``). A grid belongs to the village its centre's pixel
    belongs to, as the verdicts count pixels."""
    out = pd.DataFrame({"mr_samples": np.zeros(n, np.int64), "mr_nr_samples": np.zeros(n, np.int64),
                        "mr_lte_samples": np.zeros(n, np.int64), "mr_good_share": np.full(n, np.nan),
                        "mr_period": np.full(n, None, dtype=object)})
    if mr.empty or n == 0:
        return out
    x, y = project_xy(mr["lon"].to_numpy(float), mr["lat"].to_numpy(float), grid.crs)
    row, col = grid.pixel_of(x, y)
    on = (row >= 0) & (row < grid.height) & (col >= 0) & (col < grid.width)
    lab = np.zeros(len(mr), dtype=np.int64)
    lab[on] = labels[row[on], col[on]]
    m_idx = np.flatnonzero(lab > 0)
    if not len(m_idx):
        return out
    v_idx = lab[m_idx] - 1
    samples = mr["samples"].to_numpy(np.int64)[m_idx]
    nr = (mr["rat"].to_numpy() == "NR")[m_idx]
    share = mr["share_good"].to_numpy(float)[m_idx] if "share_good" in mr else np.full(len(m_idx), np.nan)
    out["mr_samples"] = np.bincount(v_idx, weights=samples, minlength=n).astype(np.int64)
    out["mr_nr_samples"] = np.bincount(v_idx, weights=samples * nr, minlength=n).astype(np.int64)
    out["mr_lte_samples"] = np.bincount(v_idx, weights=samples * ~nr, minlength=n).astype(np.int64)
    known = nr & np.isfinite(share)
    good = np.bincount(v_idx, weights=np.where(known, share * samples, 0.0), minlength=n)
    base = np.bincount(v_idx, weights=np.where(known, samples, 0), minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["mr_good_share"] = np.where(base > 0, good / base, np.nan)
    start = pd.Series(mr["period_start"].to_numpy()[m_idx]).groupby(v_idx).min()
    end = pd.Series(mr["period_end"].to_numpy()[m_idx]).groupby(v_idx).max()
    period = np.full(n, None, dtype=object)
    period[start.index.to_numpy()] = [f"{pd.Timestamp(a).date()}/{pd.Timestamp(b).date()}"
                                      for a, b in zip(start.to_numpy(), end.to_numpy(), strict=True)]
    out["mr_period"] = period
    return out


def apply_mr_verdicts(results: pd.DataFrame, stats: pd.DataFrame, *, model: MrModel = DEFAULT_MR_MODEL
                      ) -> pd.DataFrame:
    """``results`` (:func:`coverage.model.verdicts.village_metrics`) with the MR figures beside them and MR's
    decision: a village with ``no_5g_lte_samples`` LTE samples inside and no NR sample is not covered
    (``mr_no_5g``; weak or uncovered as the model's reach says, ``p_covered`` at most 0.05 unless
    measurements inside decided); villages with MR inside get ``mr_fused``."""
    out = pd.concat([results.reset_index(drop=True),
                     stats[["mr_samples", "mr_good_share", "mr_period", "mr_nr_samples", "mr_lte_samples"]]
                     .reset_index(drop=True)], axis=1)
    no_5g = ((out["mr_lte_samples"].to_numpy() >= model.no_5g_lte_samples) & (out["mr_nr_samples"].to_numpy() == 0)
             & (out["verdict_source"].to_numpy() != "measured"))
    has_mr = out["mr_samples"].to_numpy() > 0
    verdict = out["verdict"].to_numpy(dtype=object).copy()
    predicted = out["predicted_verdict"].to_numpy(dtype=object)
    verdict[no_5g & (verdict == "covered")] = np.where(predicted[no_5g & (verdict == "covered")] == "uncovered",
                                                       "uncovered", "weak")
    out["verdict"] = verdict
    out["p_covered"] = np.where(no_5g, np.minimum(out["p_covered"].to_numpy(float), 0.05), out["p_covered"])
    out["confidence"] = confidence_label(out["p_covered"].to_numpy(float))
    reasons = out["reasons"].to_numpy(dtype=object).copy()
    for i in np.flatnonzero(has_mr):
        reasons[i] = f"{reasons[i]};{'mr_no_5g' if no_5g[i] else 'mr_fused'}"
    out["reasons"] = reasons
    source = out["verdict_source"].to_numpy(dtype=object).copy()
    source[has_mr & (source == "predicted")] = "fused"
    source[no_5g] = "measured"
    out["verdict_source"] = source
    return out.drop(columns=["mr_nr_samples", "mr_lte_samples"])
