"""Calibration that fixes the model, not only its offset: path-loss intercept and slope per band,
area (county/city) offsets and the location effect's variogram, fitted on measurements and checked
on held-out villages.

What is fitted, from the residuals of :func:`coverage.model.fusion.evidence_residuals` (outdoor-equivalent
measured SS-RSRP minus the model's prediction for the sample's operator, NR only):

1. **Per band**, the error as a function of distance: ``r = f(log10(d / 1 km))`` with ``f`` linear
   between the values at :data:`coverage.model.parameters.CALIBRATION_KNOTS_M` (100 m to 10 km; ``d`` the
   ground distance to the predicted server). A straight line (intercept and slope) is the special
   case; the knots let the fit also follow what a line cannot: on the seed world the model is
   10-16 dB too strong within 200 m of a site (real panels have narrow vertical beams, the TR
   38.901 element has 65 degrees) and 1-3 dB too weak beyond 1 km. Robust regression (soft-L1
   loss, scale 6 dB, so a few samples behind a hill do not steer it) with Gaussian priors: each
   value ``~ N(0, 10 dB)`` and each second difference ``~ N(0, 4 dB)`` (smoothness), so with thin
   data the fit stays near the standard's model (zero correction) and with thick data the priors do
   not matter. Reported per band: the values with standard errors (from the fit's Jacobian), and the
   line they imply (``intercept_db`` at 1 km, ``slope_db_per_decade`` from 400 m to 3 km). The term is
   added to every link of the band's cells, inside the path-loss kernels
   (:class:`coverage.model.predict.ModelParameters` ``calibration``).
2. **Per area**, the mean residual of each village after the band term, shrunk city -> county by the
   empirical-Bayes weights of :func:`shrunk_means` (villages are the
   units: the samples of a village share its shadowing). These are the prior mean of the location
   effect at the area's pixels (``area_offsets``).
0. **The serving layer** first: where the measurements report their serving band, the selection
   offset of the coverage layers (bands below 1 GHz, n28) that best reproduces which band served
   (:attr:`coverage.model.predict.ModelParameters.selection_offsets`; searched from 0 to -15 dB in 0.5 dB
   steps, 0 kept unless another offset explains strictly more samples). The residuals below are
   then taken against the band that serves.
3. **The variogram** of what is left (:func:`coverage.model.fusion.fit_variogram`): location variability
   sigma, correlation length and the noise of one sample, used by the kriging and by the village
   probabilities in place of the standard's sigma.

Validation: villages with samples are split (by a hash of their code and ``seed``) into a training
share and ``holdout_share`` held out; the calibration fitted on the training villages must lower the
RMS residual of the held-out villages' samples, or it is refused (:class:`CalibrationRefused`, with
both figures). The parameters returned are then refitted on every village.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.optimize import least_squares

from coverage.crs import local_metric_crs, project_xy
from coverage.errors import Village5gError, bi
from coverage.model.bands import BANDS, normalize_band
from coverage.model.fusion import Variogram, evidence_residuals, fit_variogram, residual_bins
from coverage.model.parameters import CALIBRATION_KNOTS_M, ModelParameters, log_distance
from coverage.model.predict import predict
from coverage.model.prediction import Prediction
from coverage.model.rules import RuleSet
from coverage.model.terrain_inputs import TerrainSource, read_layers
from coverage.model.verdicts import village_raster

__all__ = ["Calibration", "CalibrationRefused", "area_offsets_of", "fit_calibration", "fit_selection_offsets",
           "shrunk_means"]

#: Prior standard deviations of a band's values and of their second differences (dB).
PRIOR_VALUE_DB = 10.0
PRIOR_CURVATURE_DB = 4.0
#: Scale of the robust loss (dB): residuals beyond it weigh less than squares.
ROBUST_SCALE_DB = 6.0
#: Samples a band needs before it is fitted at all.
MIN_BAND_SAMPLES = 30


class CalibrationRefused(Village5gError):
    """A calibration that would make held-out error worse (or has nothing to learn from)."""


@dataclass
class Calibration:
    """A fitted calibration: band terms, area offsets, variogram and its held-out check.

    ``bands``: ``band, samples, intercept_db, slope_db_per_decade`` (the line the values imply) and
    per knot ``at_<d>m_db`` with ``se_<d>m_db``;
    ``areas``: ``code`` (4-digit city or 6-digit county), ``villages``, ``offset_db``;
    ``holdout``: ``villages``, ``samples``, ``rms_before_db``, ``rms_after_db``.
    """

    bands: pd.DataFrame
    areas: pd.DataFrame
    variogram: Variogram
    holdout: dict[str, float]
    samples: int
    selection_offsets: tuple[tuple[str, float], ...] = ()
    serving_band_agreement: tuple[float, float] = (float("nan"), float("nan"))
    sources: dict[str, Any] = field(default_factory=dict)
    #: Per land-cover code (with a land cover stored): ``(code, dB)``, the location effect's prior there.
    classes: tuple[tuple[int, float], ...] = ()

    def parameters(self, params: ModelParameters) -> ModelParameters:
        """``params`` with this calibration's band terms, area offsets and variogram."""
        return replace(
            params,
            calibration=tuple((str(r["band"]), tuple(round(float(r[c]), 3) for c in VALUE_COLUMNS))
                              for r in self.bands.to_dict("records")),
            area_offsets=tuple((str(c), round(float(o), 3)) for c, o in zip(self.areas["code"],
                                                                           self.areas["offset_db"].to_numpy(float),
                                                                           strict=True) if abs(o) >= 0.005),
            selection_offsets=self.selection_offsets,
            class_offsets=tuple((int(c), round(float(o), 3)) for c, o in self.classes if abs(o) >= 0.005),
            sigma_db=round(self.variogram.sigma_db, 3), correlation_m=round(self.variogram.correlation_m, 1),
            nugget_db=round(self.variogram.nugget_db, 3))

    def summary(self) -> dict[str, Any]:
        """Plain values for a run record or a report."""
        return {
            "samples": self.samples,
            "bands": self.bands.round(3).to_dict("records"),
            "areas": len(self.areas),
            "variogram": {"sigma_db": round(self.variogram.sigma_db, 2),
                          "correlation_m": round(self.variogram.correlation_m, 0),
                          "nugget_db": round(self.variogram.nugget_db, 2)},
            "holdout": {k: round(v, 3) if isinstance(v, float) else v for k, v in self.holdout.items()},
            "selection_offsets": [list(x) for x in self.selection_offsets],
            "serving_band_agreement": [round(x, 4) for x in self.serving_band_agreement],
            **({"class_offsets": {str(c): round(o, 2) for c, o in self.classes}} if self.classes else {}),
            **self.sources,
        }


#: Columns of the band table holding the values at the knots, and their standard errors.
VALUE_COLUMNS = tuple(f"at_{int(k)}m_db" for k in CALIBRATION_KNOTS_M)
SE_COLUMNS = tuple(f"se_{int(k)}m_db" for k in CALIBRATION_KNOTS_M)
_LOG_KNOTS = np.log10(np.array(CALIBRATION_KNOTS_M) / 1000.0)


def _basis(logd: np.ndarray) -> np.ndarray:
    """Hat functions of the knots at ``logd``: ``basis @ values`` interpolates linearly."""
    eye = np.eye(len(_LOG_KNOTS))
    return np.column_stack([np.interp(logd, _LOG_KNOTS, eye[k]) for k in range(len(_LOG_KNOTS))])


def _fit_band(residual: np.ndarray, logd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Robust MAP fit of the values at the knots: values and their standard errors (dB)."""
    basis = _basis(logd)
    k = len(_LOG_KNOTS)
    second = np.zeros((k - 2, k))
    for i in range(k - 2):
        second[i, i:i + 3] = (1.0, -2.0, 1.0)

    def fun(p: np.ndarray) -> np.ndarray:
        return np.concatenate([(basis @ p - residual) / ROBUST_SCALE_DB, p / PRIOR_VALUE_DB,
                               second @ p / PRIOR_CURVATURE_DB])

    fit = least_squares(fun, np.zeros(k), loss="soft_l1", f_scale=1.0)
    n = len(residual)
    # residual variance of the data terms (in the scaled units of ``fun``) times (J^T J)^-1
    scale2 = float(np.sum(fit.fun[:n] ** 2)) / max(n - k, 1)
    try:
        se = np.sqrt(np.clip(np.diag(np.linalg.inv(fit.jac.T @ fit.jac) * scale2), 0.0, None))
    except np.linalg.LinAlgError:
        se = np.full(k, np.nan)
    return fit.x, se


def _line(values: np.ndarray) -> tuple[float, float]:
    """The intercept at 1 km and the slope from 400 m to 3 km (dB per decade) of knot values."""
    at = dict(zip(CALIBRATION_KNOTS_M, values, strict=True))
    return float(at[1000.0]), float((at[3000.0] - at[400.0]) / np.log10(3000.0 / 400.0))


def fit_selection_offsets(measurements: pd.DataFrame, prediction: Prediction, operator_index: np.ndarray
                          ) -> tuple[tuple[tuple[str, float], ...], tuple[float, float]]:
    """The coverage layers' selection offset that best explains the serving bands the samples report,
    and the share of samples whose band the model picks without and with it (see the module doc)."""
    names = list(prediction.band_names)
    low = [b for b in names if b in BANDS and BANDS[b].freq_mhz < 1000.0]
    if prediction.probe_band_rsrp is None or not low or "band" not in measurements:
        return (), (float("nan"), float("nan"))
    reported = np.array([names.index(b) if b in names else -1
                         for b in (normalize_band(str(v)) if isinstance(v, str) else None
                                   for v in measurements["band"].to_numpy(dtype=object))])
    rows = np.arange(len(measurements))
    rsrp = prediction.probe_band_rsrp[rows, np.maximum(operator_index, 0)].astype(float)
    choice = (reported >= 0) & (operator_index >= 0) & (np.isfinite(rsrp).sum(axis=1) >= 2)
    if choice.sum() < 100:
        return (), (float("nan"), float("nan"))
    rsrp, reported = np.where(np.isfinite(rsrp[choice]), rsrp[choice], -np.inf), reported[choice]
    is_low = np.array([b in low for b in names])

    def agreement(offset: float) -> float:
        return float(np.mean(np.argmax(rsrp + np.where(is_low, offset, 0.0)[None, :], axis=1) == reported))

    base = best_agreement = agreement(0.0)
    best = 0.0
    for offset in np.arange(-0.5, -15.01, -0.5):
        a = agreement(float(offset))
        if a > best_agreement:
            best, best_agreement = float(offset), a
    return (tuple((b, best) for b in low) if best else ()), (base, best_agreement)


def _fit(samples: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """Band terms and area offsets fitted on ``samples``; also each sample's calibrated residual."""
    rows = []
    left = samples["residual_db"].to_numpy(float).copy()
    logd = log_distance(samples["distance_m"].to_numpy(float))
    for band, part in samples.groupby("band", sort=True):
        idx = part.index.to_numpy()
        if len(idx) < MIN_BAND_SAMPLES:
            continue
        values, se = _fit_band(left[idx], logd[idx])
        left[idx] -= _basis(logd[idx]) @ values
        intercept, slope = _line(values)
        rows.append({"band": str(band), "samples": len(idx), "intercept_db": intercept, "slope_db_per_decade": slope,
                     **dict(zip(VALUE_COLUMNS, values, strict=True)), **dict(zip(SE_COLUMNS, se, strict=True))})
    bands = pd.DataFrame(rows, columns=["band", "samples", "intercept_db", "slope_db_per_decade", *VALUE_COLUMNS,
                                        *SE_COLUMNS])
    areas = pd.DataFrame(columns=["code", "villages", "offset_db"])
    coded = samples["village"].astype(str).str.len() == 12
    if coded.any():
        per_village = pd.DataFrame({"village": samples.loc[coded, "village"].astype(str), "r": left[coded.to_numpy()]}
                                   ).groupby("village", sort=True)["r"].mean()
        village_codes = per_village.index.to_series()
        city = shrunk_means(per_village, village_codes.str[:4])
        city_offset = city["offset"].reindex(village_codes.str[:4]).to_numpy()
        county = shrunk_means(per_village - city_offset, village_codes.str[:6])
        parent = pd.Series(city_offset, index=village_codes.str[:6].to_numpy()).groupby(level=0).first()
        areas = pd.concat([
            pd.DataFrame({"code": city.index.astype(str), "villages": city["n"].to_numpy(int),
                          "offset_db": city["offset"].to_numpy(float)}),
            pd.DataFrame({"code": county.index.astype(str), "villages": county["n"].to_numpy(int),
                          "offset_db": county["offset"].to_numpy(float) + parent.reindex(county.index).to_numpy()}),
        ], ignore_index=True)
        left = left - area_offsets_of(samples["village"].to_numpy(), dict(zip(areas["code"].astype(str),
                                                                              areas["offset_db"].astype(float),
                                                                              strict=True)))
    return bands, areas, left


def area_offsets_of(codes: np.ndarray, offsets: dict[str, float]) -> np.ndarray:
    """Per 12-digit village code, its county's area offset (dB), else its city's, else 0 (0 for
    anything that is no village code)."""
    code = pd.Series(np.asarray(codes, dtype=object)).astype(str)
    table = pd.Series(offsets, dtype=float)
    county = code.str[:6].map(table)
    city = code.str[:4].map(table)
    out = county.fillna(city).fillna(0.0).to_numpy(float)
    return np.where(code.str.len().to_numpy() == 12, out, 0.0)


def _apply(samples: pd.DataFrame, bands: pd.DataFrame, areas: pd.DataFrame) -> np.ndarray:
    """Residuals of ``samples`` after a fitted calibration."""
    logd = log_distance(samples["distance_m"].to_numpy(float))
    terms = {str(r["band"]): np.array([r[c] for c in VALUE_COLUMNS], dtype=float) for r in bands.to_dict("records")}
    zero = np.zeros(len(CALIBRATION_KNOTS_M))
    basis = _basis(logd)
    correction = np.array([basis[i] @ terms.get(b, zero) for i, b in enumerate(samples["band"].astype(str))])
    area = area_offsets_of(samples["village"].to_numpy(),
                           dict(zip(areas["code"].astype(str), areas["offset_db"].astype(float), strict=True)))
    return samples["residual_db"].to_numpy(float) - correction - area


def _held_out(codes: pd.Series, share: float, seed: int) -> np.ndarray:
    """Whether each village code is held out: a stable hash of code and seed below ``share``."""
    def u(code: str) -> float:
        return int(hashlib.sha256(f"{seed}:{code}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return np.array([len(c) == 12 and u(c) < share for c in codes.astype(str)], dtype=bool)


def fit_calibration(villages: gpd.GeoDataFrame, stations: gpd.GeoDataFrame, measurements: gpd.GeoDataFrame,
                    *, rules: RuleSet, params: ModelParameters, operators: list[str] | None = None,
                    holdout_share: float = 0.2, seed: int = 0,
                    progress: Callable[[str], None] | None = None,
                    terrain: TerrainSource | None = None) -> Calibration:
    """Fit a calibration of the model to ``measurements`` (canonical; NR samples with service count).

    The model is predicted once (``params`` without any calibration) with the samples as probes, over
    ``terrain`` (the stored DEM and land cover) when given, as the run it calibrates predicts.

    Raises
    ------
    CalibrationRefused
        Fewer than :data:`MIN_BAND_SAMPLES` usable samples, or held-out error not lowered.
    """
    say = progress or (lambda _m: None)
    base = replace(params, calibration=(), area_offsets=(), selection_offsets=())
    crs = local_metric_crs(villages)
    raster = village_raster(villages, crs, base.resolution_m)
    meas = measurements if not operators else measurements[measurements["operator"].isin(operators)]
    meas = meas.reset_index(drop=True)
    mx, my = project_xy(meas.geometry.x.to_numpy(), meas.geometry.y.to_numpy(), crs)
    rows, cols = raster.grid.pixel_of(mx, my)
    say(bi(f"校准：在 {len(meas):,} 个测量点上预测模型", f"calibration: predicting the model at {len(meas):,} samples"))
    layers = None if terrain is None else read_layers(terrain, raster.grid)
    prediction = predict(stations, raster.grid, rules=rules, params=base, operators=operators, mask=raster.mask,
                         probes=(rows, cols), terrain=layers)
    ops = {name: i for i, name in enumerate(prediction.operators)}
    op_index = np.array([ops.get(str(o), -1) for o in meas["operator"].to_numpy()], dtype=np.int64)
    selection, serving = fit_selection_offsets(meas, prediction, op_index)
    offsets = dict(selection) or None
    say(bi(f"校准：报告了频段的测量中，{serving[0]:.1%} 的服务频段可由最强频段解释，"
           f"加选择偏置 {offsets or '无'} 后为 {serving[1]:.1%}",
           f"calibration: serving band of {serving[0]:.1%} of the samples with a reported band explained by the "
           f"strongest band, {serving[1]:.1%} with selection offsets {offsets or 'none'}"))
    samples, _ = evidence_residuals(meas, prediction, rows, cols, selection_offsets=selection)
    if len(samples) < MIN_BAND_SAMPLES:
        raise CalibrationRefused(bi(f"拒绝校准：有服务的可用 NR 测量仅 {len(samples)} 个，"
                                    f"至少需要 {MIN_BAND_SAMPLES} 个",
                                    f"calibration refused: {len(samples)} usable NR samples with service, "
                                    f"at least {MIN_BAND_SAMPLES} needed"))
    grid = raster.grid
    r, c = samples["row"].to_numpy(), samples["col"].to_numpy()
    on = (r >= 0) & (r < grid.height) & (c >= 0) & (c < grid.width)
    label = np.zeros(len(samples), dtype=np.int64)
    label[on] = raster.labels[r[on], c[on]]
    codes = np.concatenate([[""], villages["code"].astype(str).to_numpy()])
    samples = samples.assign(village=codes[label]).reset_index(drop=True)

    held = _held_out(samples["village"], holdout_share, seed)
    train, test = samples[~held].reset_index(drop=True), samples[held].reset_index(drop=True)
    if len(train) < MIN_BAND_SAMPLES or len(test) < MIN_BAND_SAMPLES:
        raise CalibrationRefused(bi(f"拒绝校准：训练测量 {len(train)} 个、留出测量 {len(test)} 个，"
                                    f"各至少需要 {MIN_BAND_SAMPLES} 个",
                                    f"calibration refused: {len(train)} training and {len(test)} held-out samples; "
                                    f"at least {MIN_BAND_SAMPLES} each are needed"))
    bands, areas, _ = _fit(train)
    before = float(np.sqrt(np.mean(test["residual_db"].to_numpy(float) ** 2)))
    after = float(np.sqrt(np.mean(_apply(test, bands, areas) ** 2)))
    holdout = {"villages": int(test["village"].nunique()), "samples": len(test), "rms_before_db": before,
               "rms_after_db": after}
    say(bi(f"校准：留出的 {holdout['villages']:,} 个行政村上残差均方根 {before:.2f} -> {after:.2f} dB",
           f"calibration: held-out RMS residual {before:.2f} -> {after:.2f} dB on {holdout['villages']:,} villages"))
    if not after < before:
        raise CalibrationRefused(bi(f"拒绝校准：留出数据的均方根误差将由 {before:.2f} 升至 {after:.2f} dB"
                                    f"（行政村 {holdout['villages']} 个，测量 {len(test)} 个）",
                                    f"calibration refused: it would raise the held-out RMS error from {before:.2f} "
                                    f"to {after:.2f} dB ({holdout['villages']} villages, {len(test)} samples)"))
    bands, areas, left = _fit(samples)
    classes: tuple[tuple[int, float], ...] = ()
    landcover = None if layers is None else layers.grid_landcover(grid.height, grid.width)
    if landcover is not None:
        classes, left = _class_offsets(samples, left, landcover)
        if classes:
            offsets_text = ", ".join(f"{c}: {o:+.1f} dB" for c, o in classes)
            say(bi(f"校准：地物类别偏置 {offsets_text}", f"calibration: land-cover offsets {offsets_text}"))

    bins = residual_bins(samples.assign(residual_db=left), grid)
    prior = Variogram(sigma_db=rules.shadow_sigma_db, correlation_m=params.correlation_m, nugget_db=params.nugget_db)
    variogram = fit_variogram(bins, prior=prior)
    say(bi(f"校准：标准差 {variogram.sigma_db:.2f} dB，相关距离 {variogram.correlation_m:.0f} m，"
           f"测量噪声 {variogram.nugget_db:.2f} dB",
           f"calibration: sigma {variogram.sigma_db:.2f} dB, correlation {variogram.correlation_m:.0f} m, "
           f"sample noise {variogram.nugget_db:.2f} dB"))
    return Calibration(bands=bands, areas=areas, variogram=variogram, holdout=holdout, samples=len(samples),
                       selection_offsets=selection, serving_band_agreement=serving, classes=classes)


def _class_offsets(samples: pd.DataFrame, left: np.ndarray, landcover: np.ndarray
                   ) -> tuple[tuple[tuple[int, float], ...], np.ndarray]:
    """Per land-cover class, the mean residual left after the band and area terms, shrunk towards 0 by
    :func:`shrunk_means` over units of one village (or one pixel outside villages) and class, so a class
    with few places stays near 0; returns the offsets and the residuals less them."""
    r, c = samples["row"].to_numpy(), samples["col"].to_numpy()
    on = (r >= 0) & (r < landcover.shape[0]) & (c >= 0) & (c < landcover.shape[1])
    code = np.zeros(len(samples), dtype=np.int64)
    code[on] = landcover[r[on], c[on]]
    village = samples["village"].astype(str).reset_index(drop=True)
    pixel = "p" + pd.Series(r).astype(str) + "_" + pd.Series(c).astype(str)
    place = np.where(village.str.len() == 12, village, pixel).astype(str)
    known = code > 0
    if not known.any():
        return (), left
    unit = pd.DataFrame({"place": place[known], "code": code[known], "r": left[known]}).groupby(
        ["place", "code"], sort=True)["r"].mean()
    stats = shrunk_means(unit, unit.index.get_level_values("code").to_series(index=unit.index).astype(str))
    offsets = {int(str(k)): float(v) for k, v in stats["offset"].items()}
    out = left - np.array([offsets.get(int(k), 0.0) for k in code])
    return tuple(sorted(offsets.items())), out


def shrunk_means(values: pd.Series, groups: pd.Series) -> pd.DataFrame:
    """Group means shrunk towards 0 by the empirical-Bayes (Buhlmann credibility) weight.

    Parameters
    ----------
    values : pandas.Series
        One value per unit (here: a village's mean residual, dB), centred on the parent's level.
    groups : pandas.Series
        The group of each unit (same index).

    Returns
    -------
    pandas.DataFrame
        Indexed by group: ``n`` (units), ``mean``, ``weight`` = tau^2 / (tau^2 + sigma^2 / n) and
        ``offset`` = weight x mean, where sigma^2 is the pooled within-group variance of the units
        and tau^2 = max(0, variance of the group means - mean of sigma^2 / n) the between-group
        variance (method of moments). Weights are 0 when there are fewer than two groups or no
        group has two units (nothing separates area from noise then).
    """
    frame = pd.DataFrame({"v": values.to_numpy(float), "g": groups.astype(str).to_numpy()})
    stats = frame.groupby("g", sort=True)["v"].agg(["count", "mean"]).rename(columns={"count": "n"})
    within = frame["v"].to_numpy() - stats["mean"].reindex(frame["g"]).to_numpy()
    dof = len(frame) - len(stats)
    if len(stats) < 2 or dof < 1:
        return stats.assign(weight=0.0, offset=0.0)
    sigma2 = float(np.sum(within ** 2)) / dof
    tau2 = max(0.0, float(np.var(stats["mean"].to_numpy(), ddof=1)) - float(np.mean(sigma2 / stats["n"])))
    weight = tau2 / (tau2 + sigma2 / stats["n"]) if tau2 > 0 else stats["n"] * 0.0
    return stats.assign(weight=weight.astype(float), offset=(weight * stats["mean"]).astype(float))
