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

from coverage.crs import project_xy, to_metric
from coverage.predict import GOOD, NO_SIGNAL, WEAK, Grid, Prediction, make_grid
from coverage.rules import RuleSet

VERDICTS = ("covered", "weak", "uncovered")
CLASS_NAMES = {GOOD: "good", WEAK: "weak", NO_SIGNAL: "none"}

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
    "measured_decides": "enough measurements inside the village: the measured verdict decides",
    "measured_good": "the share of good samples meets covered_area_share",
    "measured_reached": "the share of at least weak samples meets reached_area_share",
    "measured_short": "too few good or weak samples",
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
                   lattice: tuple[float, float, int] | None = None, grid: Grid | None = None) -> VillageRaster:
    """Grid, labels, mask and committee pixels of ``villages`` (EPSG:4326) in the metric ``crs``.

    The grid (unless ``grid`` is given) covers the villages and their committee points
    (:func:`coverage.predict.make_grid`, on ``lattice`` when given); the mask, the pixels a
    prediction must compute, is every village pixel and every committee pixel, so verdicts never
    depend on pixels outside it.
    """
    metric, px, py, extent = village_extents(villages, crs)
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


def village_metrics(villages: gpd.GeoDataFrame, stations: gpd.GeoDataFrame, prediction: Prediction,
                    *, rules: RuleSet, measurements: gpd.GeoDataFrame | None = None,
                    operators: list[str] | None = None, raster: VillageRaster | None = None) -> pd.DataFrame:
    """Metrics and verdicts of every village.

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

    Returns
    -------
    pandas.DataFrame
        One row per village, in the order of ``villages``: ``code``, ``verdict``,
        ``predicted_verdict``, ``measured_verdict`` (None without enough samples),
        ``verdict_source``, ``no_site``, ``reasons`` (``;``-separated codes of :data:`REASONS`),
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
    pixels = np.bincount(lab, minlength=n + 1)[1:].astype(float)
    good_px = np.bincount(lab, weights=(cls == GOOD), minlength=n + 1)[1:]
    weak_px = np.bincount(lab, weights=(cls == WEAK), minlength=n + 1)[1:]

    # committee / representative point values
    prow, pcol = raster.row, raster.col
    on_grid = (prow >= 0) & (prow < grid.height) & (pcol >= 0) & (pcol < grid.width)
    prow_c, pcol_c = np.clip(prow, 0, grid.height - 1), np.clip(pcol, 0, grid.width - 1)
    c_class = np.where(on_grid, prediction.coverage_class[prow_c, pcol_c], NO_SIGNAL).astype(np.uint8)
    c_rsrp = np.where(on_grid, prediction.rsrp_dbm[prow_c, pcol_c], np.nan).astype(float)
    c_sinr = np.where(on_grid, prediction.sinr_db[prow_c, pcol_c], np.nan).astype(float)
    reached_point = c_class > NO_SIGNAL
    c_rsrp = np.where(reached_point, c_rsrp, np.nan)
    c_sinr = np.where(reached_point, c_sinr, np.nan)

    tiny = pixels == 0  # smaller than a pixel: the point's class stands for the whole area
    pixels = np.where(tiny, 1.0, pixels)
    good_px = np.where(tiny, (c_class == GOOD).astype(float), good_px)
    weak_px = np.where(tiny, (c_class == WEAK).astype(float), weak_px)
    good_share = good_px / pixels
    weak_share = weak_px / pixels
    none_share = 1.0 - good_share - weak_share

    sites_inside, nearest_m, nearest_id = nearest_sites(metric, active_sites(stations, operators=operators))
    no_site = nearest_m > rules.search_radius_m

    predicted, reasons = decide_predicted(c_class, good_share, good_share + weak_share, rules)

    # measurements
    n_meas = np.zeros(n, dtype=np.int64)
    meas_median = np.full(n, np.nan)
    meas_good = np.full(n, np.nan)
    meas_reached = np.full(n, np.nan)
    if measurements is not None and len(measurements):
        meas = measurements if not operators else measurements[measurements["operator"].isin(operators)]
        tree = shapely.STRtree(villages.geometry.values)
        m_idx, v_idx = tree.query(meas.geometry.values, predicate="within")
        if len(m_idx):
            rsrp = meas["rsrp_dbm"].to_numpy(float)[m_idx]
            sinr = meas["sinr_db"].to_numpy(float)[m_idx]
            good = (rsrp >= rules.good_rsrp_dbm) & (np.isnan(sinr) | (sinr >= rules.good_sinr_db))
            reached = rsrp >= rules.weak_rsrp_dbm
            n_meas = np.bincount(v_idx, minlength=n).astype(np.int64)
            with np.errstate(invalid="ignore", divide="ignore"):
                meas_good = np.bincount(v_idx, weights=good, minlength=n) / n_meas
                meas_reached = np.bincount(v_idx, weights=reached, minlength=n) / n_meas
            medians = pd.Series(rsrp).groupby(v_idx).median()
            meas_median[medians.index.to_numpy()] = medians.to_numpy()
    enough = n_meas >= rules.min_measurements
    measured = np.where(meas_good >= rules.covered_area_share, "covered",
                        np.where(meas_reached >= rules.reached_area_share, "weak", "uncovered"))
    measured_verdict = np.array([m if e else None for m, e in zip(measured, enough, strict=True)],
                                dtype=object)
    verdict = np.where(enough, measured, predicted)

    reason_text = []
    for i in range(n):
        codes = list(reasons[i])
        if enough[i]:
            codes.append("measured_decides")
            codes.append("measured_good" if meas_good[i] >= rules.covered_area_share
                         else "measured_reached" if meas_reached[i] >= rules.reached_area_share
                         else "measured_short")
        if no_site[i]:
            codes.append("no_site")
        reason_text.append(";".join(codes))

    return pd.DataFrame({
        "code": villages["code"].to_numpy(),
        "verdict": verdict.astype(object),
        "predicted_verdict": predicted.astype(object),
        "measured_verdict": measured_verdict,
        "verdict_source": np.where(enough, "measured", "predicted").astype(object),
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
