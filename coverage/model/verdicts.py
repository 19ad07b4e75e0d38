"""Village verdicts: per-village metrics from the prediction raster, sites and measurements.

Villages are labelled on the prediction grid by rasterising their polygons (villages tile their
township, so each pixel belongs to one village); the shares of good, weak and no-signal pixels are
then a ``numpy.bincount`` away. A village smaller than one pixel takes the class of the pixel under
its committee (or representative) point.

Verdicts (5G通达 covered / 弱覆盖 weak / uncovered) and the ``no_site`` (无站址) flag follow the rule
set; each village carries reason codes naming the rules that decided it. Predicted and measured
evidence are kept apart: with ``rules.min_measurements`` samples inside a village the measured
verdict decides, and both are reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from rasterio import features
from scipy.special import betainc, ndtr, ndtri

from coverage.crs import project_xy, to_metric
from coverage.model.grid import Grid, make_grid
from coverage.model.link_budget import edge_margin_db
from coverage.model.prediction import GOOD, NO_SIGNAL, WEAK, Prediction, good_headroom_db
from coverage.model.rules import RuleSet

VERDICTS = ("covered", "weak", "uncovered")
CLASS_NAMES = {GOOD: "good", WEAK: "weak", NO_SIGNAL: "none"}
#: A measured sample at or below this SS-RSRP (dBm), or without any, had no service.
NO_SERVICE_RSRP_DBM = -140.0

#: Reason codes and what they mean (echoed in docs and the API).
REASONS = {
    "committee_good": "the committee point has good SS-RSRP and SS-SINR",
    "committee_weak": "the committee point is reached but below the good bar",
    "committee_none": "the committee point has no usable signal",
    "area_good": "the good share of the area meets covered_area_share",
    "area_good_short": "the good share of the area is below covered_area_share",
    "area_reached": "the reached (good or weak) share meets reached_area_share",
    "area_reached_short": "the reached share is below reached_area_share",
    "no_site": "no active 5G site inside or within search_radius_m",
    "measured_decides": "enough samples of one operator inside the village: they found coverage, or they "
                        "measured the operator predicted to serve the committee point; the measured verdict decides",
    "measured_fused": "measurements nearby corrected the prediction (kriged residuals)",
    "probability_short": "the median prediction meets the covered rule, but with probability below 0.5",
    "probability_met": "the median prediction falls short of the covered rule, but it is met with probability "
                       "0.5 or more",
    "measured_good": "the share of good samples meets covered_area_share",
    "measured_reached": "the share of at least weak samples meets reached_area_share",
    "measured_short": "too few good or weak samples",
    # operators' MR grid statistics (coverage.model.mr_evidence)
    "mr_fused": "operators' MR grids inside the village were fused (their residuals moved the estimate)",
    "mr_no_5g": "MR decides: many LTE samples inside the village and not one NR sample of any operator "
                "(phones hear no 5G there), so not covered",
}


def label_raster(villages_metric: gpd.GeoDataFrame, grid: Grid) -> np.ndarray:
    """Village index + 1 per pixel (0 outside every village), int32 on ``grid``.

    ``villages_metric`` must be in the grid's CRS.
    """
    shapes = zip(villages_metric.geometry.values, range(1, len(villages_metric) + 1), strict=True)
    return features.rasterize(shapes, out_shape=(grid.height, grid.width), transform=grid.transform,
                              fill=0, dtype="int32")


@dataclass
class VillageRaster:
    """The villages of a run on their grid: metric frame, grid, labels and the prediction mask."""

    metric: gpd.GeoDataFrame
    grid: Grid
    labels: np.ndarray
    mask: np.ndarray
    #: Row and column of each village's committee point (may fall off a given grid).
    row: np.ndarray
    col: np.ndarray


def village_raster(villages: gpd.GeoDataFrame, crs: pyproj.CRS, resolution_m: float, *,
                   lattice: tuple[float, float, int] | None = None, grid: Grid | None = None,
                   extents: tuple[gpd.GeoDataFrame, np.ndarray, np.ndarray, np.ndarray] | None = None
                   ) -> VillageRaster:
    """Grid, labels, mask and committee pixels of ``villages`` (EPSG:4326) in the metric ``crs``.

    The grid (unless ``grid`` is given) covers the villages and their committee points
    (:func:`coverage.model.grid.make_grid`, on ``lattice`` when given); the mask, the pixels a
    prediction must compute, is every village pixel and every committee pixel, so verdicts never
    depend on pixels outside it. ``extents``: :func:`village_extents` of the villages in ``crs``, when
    the caller has them already.
    """
    metric, px, py, extent = village_extents(villages, crs) if extents is None else extents
    if grid is None:
        bounds = (float(extent[:, 0].min()), float(extent[:, 1].min()), float(extent[:, 2].max()),
                  float(extent[:, 3].max()))
        grid = make_grid(bounds, crs, resolution_m, lattice=lattice)
    labels = label_raster(metric, grid)
    mask = labels > 0
    row, col = grid.pixel_of(px, py)
    on = (row >= 0) & (row < grid.height) & (col >= 0) & (col < grid.width)
    mask[row[on], col[on]] = True
    return VillageRaster(metric, grid, labels, mask, row, col)


def village_extents(villages: gpd.GeoDataFrame, crs: pyproj.CRS
                    ) -> tuple[gpd.GeoDataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """``villages`` (EPSG:4326) in the metric ``crs``, their committee points' x and y there, and
    each village's extent ``(n, 4)``: the bounds of its polygon and its committee point, what a
    grid must cover for it (:func:`village_raster`; partitions use the same extents)."""
    metric = to_metric(villages, crs)
    points = committee_points(villages)
    px, py = project_xy(shapely.get_x(points), shapely.get_y(points), crs)
    bounds = shapely.bounds(metric.geometry.values)
    extent = np.column_stack([np.minimum(bounds[:, 0], px), np.minimum(bounds[:, 1], py),
                              np.maximum(bounds[:, 2], px), np.maximum(bounds[:, 3], py)])
    return metric, px, py, extent


def committee_points(villages: gpd.GeoDataFrame) -> np.ndarray:
    """The committee point of each village, or a representative point inside its polygon."""
    lon = villages["committee_lon"].to_numpy(float)
    lat = villages["committee_lat"].to_numpy(float)
    known = ~(np.isnan(lon) | np.isnan(lat))
    points = shapely.point_on_surface(villages.geometry.values)
    points = np.asarray(points, dtype=object)
    points[known] = shapely.points(lon[known], lat[known])
    return points


#: Villages with more pixels than this (about 164 km² at 100 m; the seed world's largest village
#: committee has 12,276) find the area's common effect on their headroom rounded to
#: :data:`BINNED_HEADROOM_STEP_DB` (:func:`covered_probability`): a few hundred weighted values instead
#: of tens of thousands of pixels in each of the bisection's steps.
BINNED_PIXELS = 4_096
#: Width (dB) of the headroom bins of a village above :data:`BINNED_PIXELS`: every pixel's headroom
#: moves by at most half of it.
BINNED_HEADROOM_STEP_DB = 0.1


def covered_probability(labels: np.ndarray, headroom: np.ndarray, h_committee: np.ndarray, sigma_db: np.ndarray,
                        area_m2: np.ndarray, *, n: int, share: float, correlation_m: float,
                        iterations: int = 24, nodes: int = 64, binned_pixels: int | None = BINNED_PIXELS,
                        step_db: float = BINNED_HEADROOM_STEP_DB) -> np.ndarray:
    """P(covered) of each village under a two-part location effect (see :func:`village_metrics`).

    The effect at a pixel is ``V + W``: ``V`` common to the village with variance ``rho sigma^2``,
    ``W`` independent from pixel to pixel with variance ``(1 - rho) sigma^2``, where ``rho =
    exp(-0.52 sqrt(area) / L)`` is the exponential correlation at the mean distance between two
    points of a square of that area (0.5214 times its side). Given ``V`` the area is covered when
    the expected good share ``mean_i Phi((h_i + V) / sigma_W)`` reaches ``share``, i.e. ``V >= v*``
    (found by bisection); the committee point is good when ``V + W_c >= -h_c``. So

        p = integral over V >= v* of phi_V(V) Phi((h_c + V) / sigma_W) dV

    (midpoint rule on ``nodes`` quantiles of ``V``). With ``rho = 1`` it is ``Phi(min(h_c, h_q) /
    sigma)``, ``h_q`` the headroom of the share-th best pixel. Villages without pixels use the
    committee point for the area.

    Pixels no cell reaches (headroom -inf) add exactly 0 to the expected good share at every ``V``,
    so the bisection leaves them out (they still count in the area): the result is the same, bit for bit.
    A village with more than ``binned_pixels`` pixels (default :data:`BINNED_PIXELS`; None: never)
    finds ``v*`` on its headrooms rounded to the centres of ``step_db``-wide bins, each bin weighted
    by its pixels. Every headroom moves by at most ``step_db / 2``, and the expected good share only
    grows with the headrooms, so ``v*`` is within ``step_db / 2`` of the exact one (0.05 dB by
    default, against a location effect of some 8 dB) and ``p`` lies between the exact ``p`` of the
    village with every area headroom lowered by ``step_db / 2`` and with every one raised by it
    (the committee point's is exact); tests/test_fusion.py checks that bracket on a large village.
    """
    sigma = np.maximum(np.asarray(sigma_db, dtype=float), 1e-6)
    rho = np.exp(-0.5214 * np.sqrt(np.asarray(area_m2, dtype=float)) / max(correlation_m, 1e-6))
    sigma_v = np.maximum(sigma * np.sqrt(rho), 1e-6)
    sigma_w = np.maximum(sigma * np.sqrt(1.0 - rho), 1e-3)
    inside = labels > 0
    lab = labels[inside].astype(np.int64) - 1
    h = headroom[inside]
    counts = np.bincount(lab, minlength=n).astype(float)
    has = counts > 0
    lab, h, weight = _bisection_terms(lab, h, counts, binned_pixels, step_db)
    sw = sigma_w[lab]
    # bisection for v*: the common effect at which the expected good share reaches ``share``
    low, high = np.full(n, -80.0), np.full(n, 80.0)
    for _ in range(iterations):
        mid = (low + high) / 2.0
        with np.errstate(invalid="ignore"):
            good = ndtr((h + mid[lab]) / sw)
        if weight is not None:
            good *= weight
        expected = np.bincount(lab, weights=good, minlength=n) / np.maximum(counts, 1.0)
        enough = expected >= share
        high = np.where(enough, mid, high)
        low = np.where(enough, low, mid)
    v_star = np.where(has, high, -h_committee)
    v_star = np.where(has & (high >= 80.0), np.inf, v_star)  # never enough, however strong
    t_star = v_star / sigma_v
    tail = ndtr(-t_star)  # P(V >= v*)
    u = ndtr(t_star)[:, None] + (np.arange(nodes) + 0.5)[None, :] / nodes * tail[:, None]
    v = sigma_v[:, None] * ndtri(np.clip(u, 1e-15, 1 - 1e-15))
    with np.errstate(invalid="ignore"):
        committee = ndtr((h_committee[:, None] + v) / sigma_w[:, None])
    p = tail * committee.mean(axis=1)
    return np.where(np.isfinite(h_committee) & np.isfinite(v_star), np.clip(p, 0.0, 1.0), 0.0)


def _bisection_terms(lab: np.ndarray, h: np.ndarray, counts: np.ndarray, binned_pixels: int | None,
                     step_db: float) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The terms of :func:`covered_probability`'s bisection: village, headroom and weight (None: all 1).

    Unreached pixels are left out; the pixels of a village above ``binned_pixels`` become one term per
    occupied ``step_db`` bin of its headroom (its centre, weighted by its pixels). The other villages'
    pixels keep their order, so their sums are those of every pixel, bit for bit."""
    reached = h != -np.inf  # NaN stays (it makes the share NaN, as before)
    big = np.zeros(len(counts), dtype=bool) if binned_pixels is None else counts > binned_pixels
    if not big.any():
        return lab[reached], h[reached], None
    in_big = big[lab]
    exact = reached & ~in_big
    binned = in_big & np.isfinite(h)
    b_lab, b_h = lab[binned], h[binned]
    if not len(b_lab):
        return lab[exact], h[exact], None
    q = np.floor(b_h / step_db).astype(np.int64)
    q_min = int(q.min())
    span = int(q.max()) - q_min + 1
    villages = np.flatnonzero(big)
    rank = np.zeros(len(counts), dtype=np.int64)
    rank[villages] = np.arange(len(villages))
    v_index = rank[b_lab]
    key = v_index.astype(np.int64) * span + (q - q_min)
    if len(villages) * span <= 4 * len(key) + 1_000_000:
        tally = np.bincount(key, minlength=len(villages) * span)
        key = np.flatnonzero(tally)
        count = tally[key]
    else:  # headrooms spread too wide for a dense table
        key, count = np.unique(key, return_counts=True)
    centre = (key % span + q_min + 0.5) * step_db
    return (np.concatenate([lab[exact], villages[key // span]]), np.concatenate([h[exact], centre]),
            np.concatenate([np.ones(int(exact.sum())), count.astype(float)]))


#: Confidence labels of ``p_covered``: high beyond 0.9 / 0.1, medium beyond 0.75 / 0.25, else low.
CONFIDENCE = (("high", 0.9), ("medium", 0.75))


def confidence_label(p_covered: np.ndarray) -> np.ndarray:
    """``high``, ``medium`` or ``low``: how far ``p_covered`` is from a coin toss (:data:`CONFIDENCE`)."""
    certainty = np.maximum(p_covered, 1.0 - p_covered)
    return np.where(certainty >= CONFIDENCE[0][1], "high",
                    np.where(certainty >= CONFIDENCE[1][1], "medium", "low")).astype(object)


def village_metrics(villages: gpd.GeoDataFrame, stations: gpd.GeoDataFrame, prediction: Prediction,
                    *, rules: RuleSet, measurements: gpd.GeoDataFrame | None = None,
                    operators: list[str] | None = None, raster: VillageRaster | None = None,
                    sigma_db: np.ndarray | None = None, informed: np.ndarray | None = None,
                    model_class: np.ndarray | None = None, noise_figure_db: float = 7.0,
                    correlation_m: float = 120.0) -> pd.DataFrame:
    """Metrics, best-estimate verdicts and their probabilities for every village.

    The prediction is the median, corrected by the measurements around it when the run fused them
    (:mod:`coverage.model.fusion`). ``p_covered`` is the probability that the village meets the covered
    rule (committee point good and ``covered_area_share`` of the area good) given the location
    effect's standard deviation at the committee pixel (the posterior's) and its correlation length
    (:func:`covered_probability`; a pixel's headroom is :func:`coverage.model.prediction.good_headroom_db`).
    The verdict is the best estimate, the most probable one: ``covered`` when ``p_covered >= 0.5``,
    else ``weak`` or ``uncovered`` by the median prediction's reach (reason codes
    ``probability_short`` / ``probability_met`` say when this differs from the median's verdict).
    Under a planning rule set (a margin for a location probability above 0.5) the verdict is the
    rule applied to the prediction lowered by the margin (no measurements fused), every measured
    verdict decides, and ``p_covered`` is still that of the median.

    Parameters
    ----------
    villages, stations, measurements
        Canonical frames in EPSG:4326.
    prediction
        The prediction on a grid that covers the villages.
    rules
        Thresholds and shares; echoed by the caller with the results.
    operators
        Restrict sites and measurements to these operators (default: all).
    raster
        The villages on the prediction's grid, :func:`village_raster` (computed when omitted).
    sigma_db
        Standard deviation of the location effect per pixel (dB; default the rule set's
        ``shadow_sigma_db`` everywhere): the posterior of the fusion, the prior far from data.
    informed
        Pixels where measurements informed the estimate (``verdict_source`` ``fused``).
    model_class
        The model's coverage classes before fusion (default: the prediction's): ``predicted_verdict``.
    correlation_m
        Correlation length of the location effect (m; :class:`coverage.model.predict.ModelParameters`).
    noise_figure_db
        The UE noise figure of the prediction (:class:`coverage.model.predict.ModelParameters`), for the
        headroom of SS-SINR (:func:`coverage.model.prediction.good_headroom_db`).

    Returns
    -------
    pandas.DataFrame
        One row per village, in the order of ``villages``: ``code``, ``verdict`` (best estimate),
        ``p_covered`` (0-1), ``confidence``, ``sigma_db``, ``predicted_verdict`` (the model alone),
        ``measured_verdict`` (from the samples inside, None without enough),
        ``verdict_source`` (measured / fused / predicted), ``no_site``,
        ``reasons`` (``;``-separated codes of :data:`REASONS`),
        ``sites_inside``, ``nearest_site_m`` (polygon to site, 0 inside), ``nearest_site_id``,
        ``good_share``, ``weak_share``, ``none_share`` (of the area, 0-1), ``committee_rsrp_dbm``,
        ``committee_sinr_db``, ``committee_class``, ``n_measurements``, ``measured_rsrp_median_dbm``,
        ``measured_good_share``, ``measured_reached_share``.
    """
    grid = prediction.grid
    if raster is None:
        raster = village_raster(villages, grid.crs, grid.resolution_m, grid=grid)
    metric, labels = raster.metric, raster.labels
    n = len(villages)

    flat_labels = labels.ravel()
    inside = flat_labels > 0
    lab = flat_labels[inside]
    cls = prediction.coverage_class.ravel()[inside]
    model_cls = cls if model_class is None else model_class.ravel()[inside]
    pixels = np.bincount(lab, minlength=n + 1)[1:].astype(float)
    # pixels per village and class (NO_SIGNAL, WEAK, GOOD are 0, 1, 2) in one pass each
    by_class = np.bincount(lab * 3 + cls, minlength=3 * (n + 1)).reshape(n + 1, 3)[1:].astype(float)
    good_px, weak_px = by_class[:, GOOD], by_class[:, WEAK]
    model_by_class = (by_class if model_class is None else
                      np.bincount(lab * 3 + model_cls, minlength=3 * (n + 1)).reshape(n + 1, 3)[1:].astype(float))
    model_good_px, model_weak_px = model_by_class[:, GOOD], model_by_class[:, WEAK]

    # committee / representative point values
    prow, pcol = raster.row, raster.col
    on_grid = (prow >= 0) & (prow < grid.height) & (pcol >= 0) & (pcol < grid.width)
    prow_c, pcol_c = np.clip(prow, 0, grid.height - 1), np.clip(pcol, 0, grid.width - 1)
    c_class = np.where(on_grid, prediction.coverage_class[prow_c, pcol_c], NO_SIGNAL).astype(np.uint8)
    model_c_class = c_class if model_class is None else np.where(on_grid, model_class[prow_c, pcol_c],
                                                                  NO_SIGNAL).astype(np.uint8)
    # a planning rule set's margin lowered every pixel: the probability is of the median, without it
    margin_db = float(edge_margin_db(rules.edge_probability, rules.shadow_sigma_db))
    # only village and committee pixels are read (covered_probability, h_committee)
    headroom = good_headroom_db(prediction, rules, noise_figure_db, where=raster.mask) + margin_db
    h_committee = np.where(on_grid, headroom[prow_c, pcol_c], -np.inf)
    sigma_v = np.full(n, float(rules.shadow_sigma_db))
    if sigma_db is not None:
        sigma_v = np.where(on_grid, sigma_db[prow_c, pcol_c], sigma_v).astype(float)
    fused_here = np.zeros(n, dtype=bool)
    if informed is not None:
        fused_here = np.where(on_grid, informed[prow_c, pcol_c], False)
        fused_here |= np.bincount(lab, weights=informed.ravel()[inside], minlength=n + 1)[1:] > 0
    c_rsrp = np.where(on_grid, prediction.rsrp_dbm[prow_c, pcol_c], np.nan).astype(float)
    c_sinr = np.where(on_grid, prediction.sinr_db[prow_c, pcol_c], np.nan).astype(float)
    reached_point = c_class > NO_SIGNAL
    c_rsrp = np.where(reached_point, c_rsrp, np.nan)
    c_sinr = np.where(reached_point, c_sinr, np.nan)

    tiny = pixels == 0  # smaller than a pixel: the point's class stands for the whole area
    pixels = np.where(tiny, 1.0, pixels)
    good_px = np.where(tiny, (c_class == GOOD).astype(float), good_px)
    weak_px = np.where(tiny, (c_class == WEAK).astype(float), weak_px)
    model_good_px = np.where(tiny, (model_c_class == GOOD).astype(float), model_good_px)
    model_weak_px = np.where(tiny, (model_c_class == WEAK).astype(float), model_weak_px)
    good_share = good_px / pixels
    weak_share = weak_px / pixels
    none_share = 1.0 - good_share - weak_share
    area_m2 = pixels * grid.resolution_m**2
    p_covered = covered_probability(labels, headroom, h_committee, sigma_v, area_m2, n=n,
                                    share=rules.covered_area_share, correlation_m=correlation_m)

    sites_inside, nearest_m, nearest_id = nearest_sites(metric, active_sites(stations, operators=operators))
    no_site = nearest_m > rules.search_radius_m

    median, reasons = decide_predicted(c_class, good_share, good_share + weak_share, rules)
    # the best estimate is the most probable verdict: covered when p_covered >= 0.5 (the median field's
    # verdict is optimistic for a rule that needs two things at once, the committee point and the area);
    # a planning rule set asks for its location probability through its margin, so its verdict is the
    # rule applied to the lowered prediction
    likely = p_covered >= 0.5 if margin_db == 0.0 else median == "covered"
    best = np.where(likely, "covered", np.where(median == "covered", "weak", median))
    reasons = [(*r, "probability_short") if m == "covered" and not k else
               (*r, "probability_met") if m != "covered" and k else r
               for r, m, k in zip(reasons, median, likely, strict=True)]
    predicted, _ = decide_predicted(model_c_class, model_good_px / pixels,
                                    (model_good_px + model_weak_px) / pixels, rules)

    # measurements: NR samples inside the village, as outdoor equivalents, per operator
    n_meas = np.zeros(n, dtype=np.int64)
    meas_median = np.full(n, np.nan)
    meas_good = np.full(n, np.nan)
    meas_reached = np.full(n, np.nan)
    measured_rank = np.full(n, -1)
    measured_ops: list[set[str]] = [set() for _ in range(n)]
    # good and all samples of each village's best-measured operator (highest rank, then good share)
    best_good = np.zeros(n)
    best_n = np.zeros(n)
    if measurements is not None and len(measurements):
        meas = measurements if not operators else measurements[measurements["operator"].isin(operators)]
        if "rat" in meas:  # LTE samples never decide a 5G verdict (they stay stored and shown)
            meas = meas[meas["rat"].fillna("NR").astype(str) == "NR"]
        tree = shapely.STRtree(villages.geometry.values)
        m_idx, v_idx = tree.query(meas.geometry.values, predicate="within")
        if len(m_idx):
            rsrp = meas["rsrp_dbm"].to_numpy(float)[m_idx]
            if "loss_db" in meas:  # outdoor equivalent: add back the declared loss (e.g. in a car)
                served = np.isfinite(rsrp) & (rsrp > NO_SERVICE_RSRP_DBM)
                rsrp = np.where(served, rsrp + np.nan_to_num(meas["loss_db"].to_numpy(float)[m_idx]), rsrp)
            rsrp = np.nan_to_num(rsrp, nan=NO_SERVICE_RSRP_DBM)  # a sample with no service is a sample
            sinr = meas["sinr_db"].to_numpy(float)[m_idx]
            good = (rsrp >= rules.good_rsrp_dbm) & (np.isnan(sinr) | (sinr >= rules.good_sinr_db))
            reached = rsrp >= rules.weak_rsrp_dbm
            n_meas = np.bincount(v_idx, minlength=n).astype(np.int64)
            with np.errstate(invalid="ignore", divide="ignore"):
                meas_good = np.bincount(v_idx, weights=good, minlength=n) / n_meas
                meas_reached = np.bincount(v_idx, weights=reached, minlength=n) / n_meas
            medians = pd.Series(rsrp).groupby(v_idx).median()
            meas_median[medians.index.to_numpy()] = medians.to_numpy()
            # one phone measures one operator: a verdict per operator with enough samples, the best counts
            per_op = pd.DataFrame({"v": v_idx, "op": meas["operator"].to_numpy()[m_idx].astype(str),
                                   "good": good, "reached": reached}).groupby(["v", "op"]).agg(
                n=("good", "size"), good=("good", "mean"), reached=("reached", "mean")).reset_index()
            per_op = per_op[per_op["n"] >= rules.min_measurements]
            op_rank = np.where(per_op["good"] >= rules.covered_area_share, 2,
                               np.where(per_op["reached"] >= rules.reached_area_share, 1, 0))
            order = np.lexsort((per_op["good"].to_numpy(), op_rank))  # the best operator of a village comes last
            for v, op, r, k, m in zip(per_op["v"].to_numpy()[order], per_op["op"].to_numpy()[order], op_rank[order],
                                      (per_op["good"] * per_op["n"]).to_numpy()[order], per_op["n"].to_numpy()[order],
                                      strict=True):
                measured_rank[v] = max(measured_rank[v], int(r))
                measured_ops[v].add(str(op))
                best_good[v], best_n[v] = k, m
    # the measured verdict decides when it finds coverage, or when it measured the operator the
    # prediction expects to serve the committee point (one operator's weak signal says nothing of another's)
    serving_op = np.full(n, "", dtype=object)
    names = list(prediction.operators)
    op_at = np.where(on_grid, prediction.operator[prow_c, pcol_c], -1)
    serving_op[op_at >= 0] = [names[i] for i in op_at[op_at >= 0]]
    enough = measured_rank >= 0
    decides = enough & ((measured_rank == 2) | np.array([serving_op[i] in measured_ops[i] or serving_op[i] == ""
                                                         for i in range(n)], dtype=bool))
    if margin_db != 0.0:
        # a planning rule set keeps every measured verdict fixed, as the planner does (its new sites
        # cannot change which operator the samples speak for)
        decides = enough
    measured = np.array(["uncovered", "weak", "covered"], dtype=object)[np.maximum(measured_rank, 0)]
    measured_verdict = np.array([m if e else None for m, e in zip(measured, enough, strict=True)], dtype=object)
    verdict = np.where(decides, measured, best)
    # where the samples decide, p_covered is theirs: the Jeffreys posterior probability that the good share
    # of the deciding operator reaches covered_area_share (kept on the side of the verdict it gives)
    with np.errstate(invalid="ignore", divide="ignore"):
        p_measured = 1.0 - betainc(best_good + 0.5, best_n - best_good + 0.5, rules.covered_area_share)
    p_measured = np.where(measured == "covered", np.maximum(p_measured, 0.5), np.minimum(p_measured, 0.4999))
    p_covered = np.where(decides, p_measured, p_covered)
    source = np.where(decides, "measured", np.where(fused_here | enough, "fused", "predicted"))

    reason_text = []
    for i in range(n):
        codes = list(reasons[i])
        if (fused_here[i] or enough[i]) and not decides[i]:
            codes.append("measured_fused")
        if decides[i]:
            codes.append("measured_decides")
            codes.append({2: "measured_good", 1: "measured_reached"}.get(int(measured_rank[i]), "measured_short"))
        if no_site[i]:
            codes.append("no_site")
        reason_text.append(";".join(codes))

    return pd.DataFrame({
        "code": villages["code"].to_numpy(),
        "verdict": verdict.astype(object),
        "p_covered": np.round(p_covered, 4),
        "confidence": confidence_label(p_covered),
        "sigma_db": np.round(sigma_v, 2),
        "predicted_verdict": predicted.astype(object),
        "measured_verdict": measured_verdict,
        "verdict_source": source.astype(object),
        "no_site": no_site,
        "reasons": reason_text,
        "sites_inside": sites_inside,
        "nearest_site_m": np.where(np.isinf(nearest_m), np.nan, nearest_m),
        "nearest_site_id": nearest_id,
        "good_share": good_share,
        "weak_share": weak_share,
        "none_share": np.clip(none_share, 0.0, 1.0),
        "committee_rsrp_dbm": c_rsrp,
        "committee_sinr_db": c_sinr,
        "committee_class": [CLASS_NAMES[int(c)] for c in c_class],
        "n_measurements": n_meas,
        "measured_rsrp_median_dbm": meas_median,
        "measured_good_share": np.where(n_meas > 0, meas_good, np.nan),
        "measured_reached_share": np.where(n_meas > 0, meas_reached, np.nan),
    })


def active_sites(stations: gpd.GeoDataFrame, *, operators: list[str] | None = None) -> gpd.GeoDataFrame:
    """The active 5G sites of ``stations``: ``site_id`` and the point of its first cell in stored
    order (EPSG:4326), one row per site, in the order of those first cells."""
    active = stations[(stations["status"] == "active") & (stations["rat"] == "NR")]
    if operators:
        active = active[active["operator"].isin(operators)]
    return active.drop_duplicates("site_id")[["site_id", "geometry"]].reset_index(drop=True)


class SiteIndex:
    """Sites (:func:`active_sites`) projected to a metric CRS once, with their search tree: a
    partitioned run asks it for the villages whose nearest site may lie outside their partition."""

    def __init__(self, sites: gpd.GeoDataFrame, crs: pyproj.CRS) -> None:
        self.crs = crs
        self.points = np.asarray(sites.to_crs(crs).geometry.values, dtype=object)
        self.ids = sites["site_id"].to_numpy().astype(str)
        self.tree = shapely.STRtree(self.points)

    def nearest(self, villages_metric: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:func:`nearest_sites` of ``villages_metric`` (in this index's CRS)."""
        n = len(villages_metric)
        sites_inside = np.zeros(n, dtype=np.int64)
        nearest_m = np.full(n, np.inf)
        nearest_id = np.full(n, None, dtype=object)
        if len(self.ids) and n:
            geoms = villages_metric.geometry.values
            v_idx, _ = self.tree.query(geoms, predicate="intersects")
            sites_inside = np.bincount(v_idx, minlength=n).astype(np.int64)
            # all equidistant sites (every site inside is at 0 m), then the smallest site id: the choice
            # does not depend on which other sites were loaded (partitioned runs agree with whole ones)
            pairs_v, pairs_s = self.tree.query_nearest(geoms, return_distance=False, all_matches=True)
            ids = self.ids[pairs_s]
            pick = np.lexsort((ids, pairs_v))
            first = pick[np.r_[True, pairs_v[pick][1:] != pairs_v[pick][:-1]]]
            nearest_m[pairs_v[first]] = shapely.distance(geoms[pairs_v[first]], self.points[pairs_s[first]])
            nearest_id[pairs_v[first]] = ids[first]
        return sites_inside, nearest_m, nearest_id


def nearest_sites(villages_metric: gpd.GeoDataFrame, sites: gpd.GeoDataFrame
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sites inside each village, and the nearest one with its distance.

    ``villages_metric`` is in a metric CRS; ``sites`` (:func:`active_sites`, any CRS) are projected
    to it. Returns ``sites_inside`` (int64), ``nearest_m`` (polygon to site in metres, 0 inside, inf
    without any site) and ``nearest_id`` (site id or None; of equidistant sites the smallest id),
    one entry per village.
    """
    return SiteIndex(sites, villages_metric.crs).nearest(villages_metric)


def decide_predicted(committee_class: np.ndarray, good_share: np.ndarray, reached_share: np.ndarray,
                     rules: RuleSet) -> tuple[np.ndarray, list[tuple[str, ...]]]:
    """Predicted verdicts and their reason codes (see :data:`REASONS`)."""
    committee_code = np.where(committee_class == GOOD, "committee_good",
                              np.where(committee_class == WEAK, "committee_weak", "committee_none"))
    area_good = good_share >= rules.covered_area_share
    area_reached = reached_share >= rules.reached_area_share
    covered = (committee_class == GOOD) & area_good
    weak = ~covered & ((committee_class >= WEAK) | area_reached)
    verdict = np.where(covered, "covered", np.where(weak, "weak", "uncovered"))
    reasons: list[tuple[str, ...]] = [
        (str(c), "area_good" if g else "area_good_short", "area_reached" if r else "area_reached_short")
        for c, g, r in zip(committee_code, area_good, area_reached, strict=True)
    ]
    return verdict, reasons
