"""One analysis computed in memory on frames, with no store: predict, fuse the evidence, decide the
verdicts (:func:`analyze_frames`), and the run's GeoTIFF (:func:`write_geotiff`).

Runs over the store (:mod:`coverage.runs.analysis`) and their partitions (:mod:`coverage.runs.partition`) both
call these; ``coverage.runs.analysis`` re-exports them for its callers.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import rasterio

from coverage.crs import local_metric_crs, project_xy
from coverage.errors import bi
from coverage.model.calibration import area_offsets_of
from coverage.model.committee_fusion import committee_estimate
from coverage.model.fusion import (
    NEIGHBOURS,
    Evidence,
    Posterior,
    Variogram,
    apply_effect,
    combine_evidence,
    evidence_reach_m,
    evidence_residuals,
    fuse,
    near_mask,
    residual_bins,
)
from coverage.model.grid import NODATA, make_grid
from coverage.model.link_budget import edge_margin_db
from coverage.model.mr_evidence import (
    DEFAULT_MR_MODEL,
    MrModel,
    apply_mr_verdicts,
    fit_colocated_offset,
    mr_bins,
    mr_points,
    mr_residuals,
    village_mr,
)
from coverage.model.parameters import ModelParameters
from coverage.model.predict import predict
from coverage.model.prediction import Prediction, classify, crop_prediction, crop_prediction_array
from coverage.model.rules import RuleSet
from coverage.model.terrain_inputs import TerrainSource, read_layers
from coverage.model.verdicts import VillageRaster, village_extents, village_metrics, village_raster
from coverage.writers import atomic_write


def analyze_frames(villages: gpd.GeoDataFrame, stations: gpd.GeoDataFrame,
                   measurements: gpd.GeoDataFrame | None, *, rules: RuleSet,
                   params: ModelParameters, operators: list[str] | None = None,
                   progress: Callable[[str], None] | None = None,
                   timings: dict[str, float] | None = None,
                   crs: pyproj.CRS | None = None, lattice: tuple[float, float, int] | None = None,
                   mr: pd.DataFrame | None = None, mr_model: MrModel = DEFAULT_MR_MODEL,
                   terrain: TerrainSource | None = None, mr_offset_db: float | None = None
                   ) -> tuple[pd.DataFrame, Prediction, np.ndarray]:
    """Predict and decide verdicts for ``villages`` (no storage): results, prediction, labels.

    ``mr``: operators' MR grid statistics (:func:`coverage.ingest.mr.read_mr` rows), fused as evidence with their
    own error model (:mod:`coverage.model.mr_evidence`) beside the measurements, and summarised per village
    (``mr_samples``, ``mr_good_share``, ``mr_period``; ``mr_no_5g`` decides where no 5G is heard).
    ``mr_offset_db``: the MR offset of the whole run (a partition's run fits it once,
    :func:`run_mr_offset`); None fits it here from these rows.

    The grid is in ``crs`` (default :func:`coverage.crs.local_metric_crs` of the villages) and snapped
    to multiples of the resolution, so runs over parts of an area in the same CRS share one lattice;
    ``lattice`` (see :func:`coverage.model.grid.make_grid`) also aligns its tiles with a whole run's.
    Only village and committee pixels are predicted (:func:`coverage.model.verdicts.village_raster`).
    ``terrain``: the stored DEM and land cover, read onto the grid in windows and used by the model
    (:mod:`coverage.model.terrain`); None: flat ground, no land cover.
    """
    timings = {} if timings is None else timings
    say = progress or (lambda _m: None)
    t = time.perf_counter()
    crs = local_metric_crs(villages) if crs is None else crs
    # measurements are evidence only for the monitoring verdict: a planning rule set asks the model
    # (with its margin) alone, as the planner does; measured verdicts still decide in both
    fusing = float(edge_margin_db(rules.edge_probability, rules.shadow_sigma_db)) == 0.0
    meas = measurements if measurements is not None and len(measurements) else None
    if meas is not None and operators:
        meas = meas[meas["operator"].isin(operators)].reset_index(drop=True)
    extents = village_extents(villages, crs)
    extent = extents[3]
    bounds = (float(extent[:, 0].min()), float(extent[:, 1].min()), float(extent[:, 2].max()),
              float(extent[:, 3].max()))
    village_grid = grid = make_grid(bounds, crs, params.resolution_m, lattice=lattice)
    mx = my = None
    points = None
    if fusing and mr is not None and len(mr):
        use = mr if not operators else mr[mr["operator"].isin(operators)]
        points = mr_points(use)
        qx, qy = project_xy(points["lon"].to_numpy(float), points["lat"].to_numpy(float), crs)
        reach = evidence_reach_m(params)
        near = ((qx >= bounds[0] - reach) & (qx <= bounds[2] + reach) & (qy >= bounds[1] - reach)
                & (qy <= bounds[3] + reach))
        points = points[near].reset_index(drop=True)
        qx, qy = qx[near], qy[near]
    if fusing and meas is not None and len(meas):
        # samples within reach of the villages are evidence; the prediction's grid covers them too,
        # so a partition predicts those round it as a whole run does (the raster keeps the villages' grid)
        mx, my = project_xy(meas.geometry.x.to_numpy(), meas.geometry.y.to_numpy(), crs)
        reach = evidence_reach_m(params)
        near = ((mx >= bounds[0] - reach) & (mx <= bounds[2] + reach) & (my >= bounds[1] - reach)
                & (my <= bounds[3] + reach))
        meas, mx, my = meas[near].reset_index(drop=True), mx[near], my[near]
    n_meas = 0 if mx is None else len(mx)
    if points is not None and len(points) and mr_offset_db is None:
        mr_offset_db, pairs = fit_colocated_offset(meas, points, crs, params.resolution_m, model=mr_model)
        timings["mr_offset_db"], timings["mr_offset_pixels"] = round(mr_offset_db, 2), pairs
    village_mask = None
    if points is not None and len(points):
        # only MR grids within the kriging's reach of a village or committee pixel can move an estimate
        # (fuse and the committee kriging take no bin beyond the radius); the rest would only be predicted
        # (in the west most grids round a partition lie outside its villages)
        village_mask = village_raster(villages, crs, params.resolution_m, lattice=lattice, grid=village_grid,
                                      extents=extents)
        reach_px = int(np.ceil(run_variogram(rules, params).radius_m / params.resolution_m)) + MR_REACH_SPARE_PX
        keep = near_mask(*village_grid.pixel_of(qx, qy), village_mask.mask, reach_px)
        points, qx, qy = points[keep].reset_index(drop=True), qx[keep], qy[keep]
    committee_first = None
    if points is not None and len(points):
        # MR grids, then the committee points: each operator is estimated there from its own evidence
        committee_first = n_meas + len(points)
        mx = np.concatenate([qx, extents[1]]) if mx is None else np.concatenate([mx, qx, extents[1]])
        my = np.concatenate([qy, extents[2]]) if my is None else np.concatenate([my, qy, extents[2]])
    if mx is not None and my is not None and len(mx):
        grid = make_grid((min(bounds[0], float(mx.min())), min(bounds[1], float(my.min())),
                          max(bounds[2], float(mx.max())), max(bounds[3], float(my.max()))),
                         crs, params.resolution_m, lattice=lattice)
    raster = (village_mask if village_mask is not None and grid == village_grid
              else village_raster(villages, crs, params.resolution_m, lattice=lattice, grid=grid, extents=extents))
    grid, labels = raster.grid, raster.labels
    timings["rasterize_s"] = time.perf_counter() - t
    say(bi(f"栅格 {grid.width} x {grid.height}，像素 {params.resolution_m:g} m；预测中",
           f"grid {grid.width} x {grid.height} at {params.resolution_m:g} m; predicting"))
    layers = None
    if terrain is not None and (terrain.dem_path is not None or terrain.landcover_path is not None):
        t = time.perf_counter()
        layers = read_layers(terrain, grid)
        timings["terrain_read_s"] = time.perf_counter() - t
    t = time.perf_counter()
    probes = None if mx is None or my is None else grid.pixel_of(mx, my)
    prediction = predict(stations, grid, rules=rules, params=params, operators=operators, mask=raster.mask,
                         probes=probes, terrain=layers)
    timings["predict_s"] = time.perf_counter() - t
    t = time.perf_counter()
    model_class, posterior = fuse_evidence(prediction, raster, villages, meas if fusing else None,
                                           probes, rules=rules, params=params, use_area_prior=fusing,
                                           mr_grid_points=points, mr_first_probe=n_meas, mr_model=mr_model,
                                           mr_offset_db=mr_offset_db, committee_first_probe=committee_first,
                                           landcover=None if layers is None else layers.grid_landcover(grid.height,
                                                                                                       grid.width))
    class_sigma = None if layers is None else layers.class_sigma_db(grid.height, grid.width)
    if class_sigma is not None:  # each land-cover class's own location variability adds to the effect's
        posterior = dataclasses.replace(posterior, sd_db=np.sqrt(posterior.sd_db ** 2 + class_sigma ** 2,
                                                                   dtype=np.float32))
        prediction.sigma_db = posterior.sd_db
    timings["fusion_s"] = time.perf_counter() - t
    say(bi("判定各村结论", "deciding village verdicts"))
    t = time.perf_counter()
    results = village_metrics(villages, stations, prediction, rules=rules, measurements=meas,
                              operators=operators, raster=raster, sigma_db=posterior.sd_db,
                              informed=posterior.informed, model_class=model_class,
                              noise_figure_db=params.noise_figure_db, correlation_m=params.correlation_m)
    if fusing and mr is not None and len(mr):
        results = apply_mr_verdicts(results, village_mr(raster.labels, raster.grid, len(villages), mr), model=mr_model)
    else:  # no MR in this run: its columns are empty (as a stored run reads them back)
        results = results.assign(mr_samples=np.nan, mr_good_share=np.nan,
                                 mr_period=pd.Series([None] * len(results), dtype=object))
    timings["verdicts_s"] = time.perf_counter() - t
    if grid != village_grid:
        labels = crop_prediction_array(labels, grid, village_grid)
        prediction = crop_prediction(prediction, village_grid)
    return results, prediction, labels


def run_mr_offset(extent: np.ndarray, measurements: gpd.GeoDataFrame | None, mr: pd.DataFrame | None, *,
                  crs: pyproj.CRS, params: ModelParameters, operators: list[str] | None = None,
                  model: MrModel = DEFAULT_MR_MODEL) -> tuple[float, int]:
    """The MR offset (dB, and the pairs it rests on) that :func:`analyze_frames` fits for villages of
    metric ``extent`` (n x 4, :func:`coverage.model.verdicts.village_extents`), from the measurements and MR
    rows within reach of them: what a partitioned run fits once for all its partitions."""
    if mr is None or not len(mr) or measurements is None or not len(measurements) or not len(extent):
        return model.prior_offset_db, 0
    reach = evidence_reach_m(params)
    x0, y0 = float(extent[:, 0].min()) - reach, float(extent[:, 1].min()) - reach
    x1, y1 = float(extent[:, 2].max()) + reach, float(extent[:, 3].max()) + reach
    meas = measurements if not operators else measurements[measurements["operator"].isin(operators)]
    mx, my = project_xy(meas.geometry.x.to_numpy(), meas.geometry.y.to_numpy(), crs)
    meas = meas[(mx >= x0) & (mx <= x1) & (my >= y0) & (my <= y1)].reset_index(drop=True)
    points = mr_points(mr if not operators else mr[mr["operator"].isin(operators)])
    qx, qy = project_xy(points["lon"].to_numpy(float), points["lat"].to_numpy(float), crs)
    points = points[(qx >= x0) & (qx <= x1) & (qy >= y0) & (qy <= y1)].reset_index(drop=True)
    if not len(points):
        return model.prior_offset_db, 0
    return fit_colocated_offset(meas, points, crs, params.resolution_m, model=model)


#: Pixels beyond the kriging radius that an MR grid may lie from the nearest village or committee pixel and
#: still be fused (:func:`coverage.model.fusion.near_mask`): a block's centre lies up to a pixel's half
#: diagonal off its pixels, a committee point half a pixel off its pixel.
MR_REACH_SPARE_PX = 2
#: Pixels per side of the blocks a run with MR grids is kriged on (:func:`coverage.model.fusion.fuse`).
MR_BLOCK_PX = 2
#: Neighbouring bins each block of a run with MR grids is kriged from: MR grids lie about every 100 m where
#: people are, so the nearest 8 screen the rest (against 16: fusion 28 -> 16 s on the seed worlds, the
#: accuracy the same within a few villages, README "Measured accuracy").
MR_BLOCK_NEIGHBOURS = 8


def area_prior(codes: np.ndarray, params: ModelParameters) -> np.ndarray:
    """The calibrated prior of the location effect (dB) of villages by code: their county's area
    offset, else their city's, else 0 (:attr:`coverage.model.predict.ModelParameters.area_offsets`)."""
    return area_offsets_of(codes, dict(params.area_offsets))


def run_variogram(rules: RuleSet, params: ModelParameters) -> Variogram:
    """The run's variogram of the location effect: the calibration's, else the priors."""
    return Variogram(sigma_db=params.sigma_db if params.sigma_db is not None else rules.shadow_sigma_db,
                     correlation_m=params.correlation_m, nugget_db=params.nugget_db)


def fuse_evidence(prediction: Prediction, raster: VillageRaster, villages: gpd.GeoDataFrame,
                  measurements: gpd.GeoDataFrame | None,
                  probes: tuple[np.ndarray, np.ndarray] | None, *, rules: RuleSet, params: ModelParameters,
                  use_area_prior: bool = True, mr_grid_points: pd.DataFrame | None = None, mr_first_probe: int = 0,
                  mr_model: MrModel = DEFAULT_MR_MODEL, mr_offset_db: float | None = None,
                  committee_first_probe: int | None = None,
                  landcover: np.ndarray | None = None) -> tuple[np.ndarray, Posterior]:
    """Move ``prediction`` (in place) to the best estimate: the calibrated area prior plus the kriged
    residuals of the measurements (:mod:`coverage.model.fusion`) and of the MR grids (``mr_grid_points``,
    :func:`coverage.model.mr_evidence.mr_points`, probed from probe ``mr_first_probe`` on, with the offset
    ``mr_offset_db``, default the model's prior). ``committee_first_probe``: the committee points are
    probes from there on (a run with MR): each operator is kriged there from its own bins
    (:mod:`coverage.model.committee_fusion`) and the committee pixels take the best operator's estimate.
    ``landcover``: the grid's land-cover codes, where the calibration's ``class_offsets`` add to the prior.
    Returns the model's classes before the move and the posterior (its standard deviation is the prior
    sigma where no data informs)."""
    model_class = prediction.coverage_class.copy()
    variogram = run_variogram(rules, params)
    grid = prediction.grid
    prior = np.zeros((grid.height, grid.width), dtype=np.float32)
    if use_area_prior and params.area_offsets:
        by_village = np.concatenate([[0.0], area_prior(villages["code"].to_numpy(), params)]).astype(np.float32)
        prior = by_village[raster.labels]
    if use_area_prior and params.class_offsets and landcover is not None:
        by_code = np.zeros(256, dtype=np.float32)
        for code, offset in params.class_offsets:
            by_code[code] = offset
        prior = prior + by_code[landcover]
    posterior = Posterior(np.zeros_like(prior), np.full_like(prior, variogram.sigma_db), np.zeros(prior.shape, bool))
    parts = []
    by_operator: dict[int, list[Evidence]] = {}
    if probes is not None:
        rows, cols = probes
        on = (rows >= 0) & (rows < grid.height) & (cols >= 0) & (cols < grid.width)
        prior_at = np.where(on, prior[np.clip(rows, 0, grid.height - 1), np.clip(cols, 0, grid.width - 1)], 0.0)
        outdoor = None
        if measurements is not None and len(measurements):
            samples, outdoor = evidence_residuals(measurements, prediction, rows[:mr_first_probe],
                                                  cols[:mr_first_probe], prior_db=prior_at[:mr_first_probe],
                                                  selection_offsets=params.selection_offsets)
            parts.append(outdoor)
            for o, name in enumerate(prediction.operators):
                by_operator.setdefault(o, []).append(residual_bins(samples[samples["operator"] == name], grid))
        if mr_grid_points is not None and len(mr_grid_points):
            mr_slice = slice(mr_first_probe, mr_first_probe + len(mr_grid_points))
            mrow, mcol, mprior = rows[mr_slice], cols[mr_slice], prior_at[mr_slice]
            offset = mr_model.prior_offset_db if mr_offset_db is None else mr_offset_db
            residual, variance, _ = mr_residuals(mr_grid_points, prediction, mr_first_probe, model=mr_model,
                                                 offset_db=offset, selection_offsets=params.selection_offsets,
                                                 prior_db=mprior)
            parts.append(mr_bins(mr_grid_points, mrow, mcol, residual, variance, grid))
            mr_ops = mr_grid_points["operator"].to_numpy().astype(str)
            for o, name in enumerate(prediction.operators):
                sel = mr_ops == name
                by_operator.setdefault(o, []).append(mr_bins(mr_grid_points[sel], mrow[sel], mcol[sel], residual[sel],
                                                             variance[sel], grid))
    if parts:
        # MR reaches every village pixel: krige per 2 x 2 block then (see fusion.fuse), else per pixel
        with_mr = mr_grid_points is not None and len(mr_grid_points) > 0
        posterior = fuse(combine_evidence(parts, variogram.nugget_db), grid, raster.mask, variogram,
                         block_px=MR_BLOCK_PX if with_mr else 1,
                         neighbours=MR_BLOCK_NEIGHBOURS if with_mr else NEIGHBOURS)
    effect = prior + posterior.mean_db
    apply_effect(prediction, effect, noise_figure_db=params.noise_figure_db,
                 rules_classify=lambda r, s: classify(r, s, rules))
    if probes is not None and committee_first_probe is not None and by_operator:
        posterior = _committee_operators(prediction, posterior, probes, committee_first_probe, prior_at,
                                         {o: combine_evidence(b, variogram.nugget_db) for o, b in by_operator.items()},
                                         variogram, rules=rules, params=params)
    prediction.sigma_db = posterior.sd_db
    return model_class, posterior


def _committee_operators(prediction: Prediction, posterior: Posterior, probes: tuple[np.ndarray, np.ndarray],
                         first: int, prior_at: np.ndarray, bins: dict[int, Evidence], variogram: Variogram, *,
                         rules: RuleSet, params: ModelParameters) -> Posterior:
    """The committee pixels (probes from ``first`` on) take their best operator's own estimate
    (:func:`coverage.model.committee_fusion.committee_estimate`): values in ``prediction`` in place, and the
    posterior's standard deviation there (a copy)."""
    grid = prediction.grid
    rows, cols = probes[0][first:], probes[1][first:]
    # every committee probe is estimated (they are read by position from probe ``first`` on); only those
    # on the grid are written back
    on = (rows >= 0) & (rows < grid.height) & (cols >= 0) & (cols < grid.width)
    x = grid.x0 + (cols + 0.5) * grid.resolution_m
    y = grid.y0 - (rows + 0.5) * grid.resolution_m
    est = committee_estimate(prediction, first, x, y, prior_at[first:], bins, variogram, rules=rules,
                             noise_figure_db=params.noise_figure_db, selection_offsets=params.selection_offsets)
    take = on & (est.operator >= 0)
    r, c = rows[take], cols[take]
    prediction.rsrp_dbm[r, c] = est.rsrp_dbm[take].astype(np.float32)
    prediction.sinr_db[r, c] = est.sinr_db[take].astype(np.float32)
    prediction.coverage_class[r, c] = est.coverage_class[take]
    prediction.cell[r, c] = est.cell[take].astype(prediction.cell.dtype)
    prediction.operator[r, c] = est.operator[take].astype(prediction.operator.dtype)
    sd, informed = posterior.sd_db.copy(), posterior.informed.copy()
    sd[r, c] = est.sd_db[take].astype(np.float32)
    informed[r, c] |= est.informed[take]
    return Posterior(posterior.mean_db, sd, informed)


def write_geotiff(prediction: Prediction, path: Path, *, mask: np.ndarray | None = None) -> None:
    """Write RSRP (dBm), SINR (dB), coverage class and, after fusion, the standard deviation of the
    location effect (dB) as a 3- or 4-band float32 GeoTIFF in the grid's CRS.

    Pixels outside ``mask`` (and pixels no cell reaches) are nodata (-999).
    """
    grid = prediction.grid
    bands = [prediction.rsrp_dbm, prediction.sinr_db, prediction.coverage_class.astype(np.float32)]
    if prediction.sigma_db is not None:
        bands.append(prediction.sigma_db)
    profile = {
        "driver": "GTiff", "height": grid.height, "width": grid.width, "count": len(bands), "dtype": "float32",
        "crs": grid.crs.to_wkt(), "transform": grid.transform, "nodata": float(NODATA),
        # zstd level 1 on all cores writes the Jiangsu raster about twice as fast as deflate
        "compress": "zstd", "zstd_level": 1, "predictor": 3, "num_threads": "all_cpus",
        "tiled": True, "blockxsize": 512, "blockysize": 512,
    }
    with atomic_write(path) as tmp, rasterio.open(tmp, "w", **profile) as dst:
        for i, band in enumerate(bands, start=1):
            data = band.astype(np.float32, copy=True)
            if mask is not None:
                data[~mask] = NODATA
            dst.write(data, i)
        dst.set_band_description(1, "ss_rsrp_dbm")
        dst.set_band_description(2, "ss_sinr_db")
        dst.set_band_description(3, "coverage_class (2 good, 1 weak, 0 none)")
        if len(bands) == 4:
            dst.set_band_description(4, "location_sigma_db (standard deviation of the best estimate)")
