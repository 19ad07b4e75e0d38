"""Partition plans: the villages split into areas of about :data:`DEFAULT_PARTITION_VILLAGES`, each
with a halo of the model's reach (the largest radius a cell's prediction stamps), so that every
partition sees every station and measurement that can touch its villages.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pyproj
import shapely

from coverage.crs import local_metric_crs
from coverage.errors import ConfigError, bi
from coverage.model.fusion import evidence_reach_m
from coverage.model.grid import make_grid
from coverage.model.parameters import ModelParameters
from coverage.model.predict import compile_cells
from coverage.model.rules import RuleSet
from coverage.model.verdicts import village_extents

#: A partition's metric bounds ``(minx, miny, maxx, maxy)``.
Box = tuple[float, float, float, float]

__all__ = [
    "DEFAULT_PARTITION_VILLAGES",
    "RADIUS_COLUMNS",
    "Box",
    "Partition",
    "PartitionPlan",
    "halo_from_radius",
    "halo_m",
    "plan_extents",
    "plan_partitions",
    "stamp_radius_px",
]

#: Default partition size (villages): a few counties; about 300 partitions for the nation.
DEFAULT_PARTITION_VILLAGES = 2000


#: The station columns a cell's stamp radius depends on (with whether its azimuth is missing).
RADIUS_COLUMNS = ("status", "rat", "operator", "band", "height_m", "power_dbm", "bandwidth_mhz")


@dataclass(frozen=True)
class Partition:
    """One part of a run: its villages (positions in the run's village order) and their metric bounds."""

    key: str
    index: np.ndarray
    bounds_m: Box


@dataclass(frozen=True)
class PartitionPlan:
    """How a run is split: the run's metric CRS, the halo (m), the partitions and the tile lattice."""

    crs: pyproj.CRS
    halo_m: float
    partitions: tuple[Partition, ...]
    #: The run's tile lattice ``(x0, y0, tile_px)``: partition grids are put on it (make_grid).
    lattice: tuple[float, float, int] | None = None

    def step(self, max_villages: int) -> str:
        """The progress step that announces the plan: ``12 个分区，每区至多 2,000 个行政村，缓冲 4.5 km
        (12 partitions of up to 2,000 villages, halo 4.5 km)``."""
        n, halo_km = len(self.partitions), self.halo_m / 1000
        return bi(f"{n} 个分区，每区至多 {max_villages:,} 个行政村，缓冲 {halo_km:.1f} km",
                  f"{n} partitions of up to {max_villages:,} villages, halo {halo_km:.1f} km")


def stamp_radius_px(stations: gpd.GeoDataFrame, crs: pyproj.CRS, *, rules: RuleSet, params: ModelParameters,
                    operators: list[str] | None = None) -> int:
    """The largest stamp radius (pixels) of the active cells of ``stations`` (0 without any):
    :func:`coverage.model.predict.compile_cells`, the radius the prediction uses. Cell by cell, so the
    largest over chunks of stations is the largest over all.

    A cell's radius depends only on its status, RAT, operator, band, height, power, bandwidth and
    whether it is omnidirectional (:func:`coverage.model.predict.prepare_cells` fills the defaults,
    :func:`coverage.model.predict.max_range_m` turns the link budget into a range), so one cell of each
    such combination is compiled: thousands instead of millions for a nation.
    """
    key = stations[list(RADIUS_COLUMNS)].assign(omni=stations["azimuth_deg"].isna())
    distinct = stations[~key.duplicated().to_numpy()]
    grid = make_grid((0.0, 0.0, params.resolution_m, params.resolution_m), crs, params.resolution_m)
    cells, _ = compile_cells(distinct, grid, rules=rules, params=params, operators=operators)
    return int(cells["radius_px"].max()) if len(cells) else 0


def halo_from_radius(radius_px: int, *, rules: RuleSet, params: ModelParameters) -> float:
    """The halo (m) for a largest stamp radius: one pixel more for snapping stations to pixel
    centres, plus the reach of measurements (:func:`coverage.model.fusion.evidence_reach_m`: a measurement
    that moves a partition's pixel needs its own prediction, from stations round it), and at least
    the no-site search radius plus one pixel."""
    return max((radius_px + 1) * params.resolution_m + evidence_reach_m(params),
               rules.search_radius_m + params.resolution_m)


def halo_m(stations: gpd.GeoDataFrame, crs: pyproj.CRS, *, rules: RuleSet, params: ModelParameters,
           operators: list[str] | None = None) -> float:
    """The margin (m) round a partition within which stations can change its results
    (:func:`halo_from_radius` of :func:`stamp_radius_px`)."""
    return halo_from_radius(stamp_radius_px(stations, crs, rules=rules, params=params, operators=operators),
                            rules=rules, params=params)


def plan_partitions(villages: gpd.GeoDataFrame, stations: gpd.GeoDataFrame, *, rules: RuleSet,
                    params: ModelParameters, operators: list[str] | None = None,
                    max_villages: int = DEFAULT_PARTITION_VILLAGES,
                    crs: pyproj.CRS | None = None) -> PartitionPlan:
    """:func:`plan_extents` for frames in memory.

    Parameters
    ----------
    villages, stations
        Canonical frames (EPSG:4326).
    rules, params, operators
        As for the run; they set the halo (:func:`halo_m`) and the tile size.
    max_villages
        Target size of a partition; bounds a worker's memory, not the results.
    crs
        The run's metric CRS (default :func:`coverage.crs.local_metric_crs` of the villages).
    """
    if villages.empty:
        raise ConfigError(bi("没有可分区的行政村", "no villages to partition"))
    crs = local_metric_crs(villages) if crs is None else crs
    metric, _, _, extent = village_extents(villages, crs)
    return plan_extents(shapely.bounds(metric.geometry.values), extent, crs,
                        halo_m(stations, crs, rules=rules, params=params, operators=operators),
                        params=params, max_villages=max_villages)


def plan_extents(bounds: np.ndarray, extent: np.ndarray, crs: pyproj.CRS, halo: float, *,
                 params: ModelParameters, max_villages: int = DEFAULT_PARTITION_VILLAGES,
                 max_pixels: int | None = None) -> PartitionPlan:
    """Split a run's villages into blocks of the run's tile lattice.

    ``bounds`` are the villages' polygon bounds and ``extent`` their extents (polygon and committee
    point, :func:`coverage.model.verdicts.village_extents`), both ``(n, 4)`` in the metric ``crs``, in the
    run's village order. Each village belongs to the prediction tile (``params.tile_px`` pixels of
    the run's grid) that holds the centre of its bounding box. Tiles of one tile row are grouped left
    to right up to ``max_villages`` and, when ``max_pixels`` is given, as long as the grid of the
    group's extent stays within ``max_pixels`` (a row of sparse tiles, as in 西藏 or 新疆, would
    otherwise make a partition thousands of kilometres wide); a tile with more villages is cut into
    quarters until each part has at most ``max_villages`` (or is 16 pixels wide). Partitions are
    returned largest first, so the longest tasks start first and a cluster's workers finish together.
    """
    if max_villages < 1:
        raise ConfigError(bi("每个分区的行政村数上限应不小于 1", "max_villages must be at least 1"))
    if len(bounds) == 0:
        raise ConfigError(bi("没有可分区的行政村", "no villages to partition"))
    res = params.resolution_m
    grid = make_grid((float(extent[:, 0].min()), float(extent[:, 1].min()), float(extent[:, 2].max()),
                      float(extent[:, 3].max())), crs, res)
    tile = params.tile_px
    # pixel (column, row) of each village's bounding-box centre on the run's grid
    ccol = np.floor(((bounds[:, 0] + bounds[:, 2]) / 2.0 - grid.x0) / res).astype(np.int64)
    crow = np.floor((grid.y0 - (bounds[:, 1] + bounds[:, 3]) / 2.0) / res).astype(np.int64)
    trow, tcol = crow // tile, ccol // tile
    groups: list[tuple[str, np.ndarray]] = []
    pending: list[np.ndarray] = []
    pending_keys: list[str] = []

    box = [np.inf, np.inf, -np.inf, -np.inf]  # extent of the pending group

    def flush() -> None:
        if pending:
            key = pending_keys[0] if len(pending_keys) == 1 else f"{pending_keys[0]}..{pending_keys[-1].split('-')[1]}"
            groups.append((key, np.sort(np.concatenate(pending))))
            pending.clear()
            pending_keys.clear()
        box[:] = [np.inf, np.inf, -np.inf, -np.inf]

    def grown(members: np.ndarray) -> list[float]:
        e = extent[members]
        return [min(box[0], float(e[:, 0].min())), min(box[1], float(e[:, 1].min())),
                max(box[2], float(e[:, 2].max())), max(box[3], float(e[:, 3].max()))]

    def too_wide(b: list[float]) -> bool:  # the partition grid's pixels, as the run checks them
        return max_pixels is not None and (
            (math.ceil((b[2] - b[0]) / res) + 1) * (math.ceil((b[3] - b[1]) / res) + 1) > max_pixels)

    order = np.lexsort((tcol, trow))
    keys = trow[order] * (int(tcol.max()) + 1) + tcol[order]
    _, starts = np.unique(keys, return_index=True)
    for members in np.split(order, starts[1:]):
        r, c = int(trow[members[0]]), int(tcol[members[0]])
        key = f"{r}-{c}"
        if len(members) > max_villages:
            flush()
            groups.extend(_quarters(key, np.sort(members), crow, ccol, r * tile, c * tile, tile, max_villages))
            continue
        same_row = not pending_keys or pending_keys[0].split("-")[0] == str(r)
        if not same_row or sum(len(p) for p in pending) + len(members) > max_villages or too_wide(grown(members)):
            flush()
        box[:] = grown(members)
        pending.append(members)
        pending_keys.append(key)
    flush()
    groups.sort(key=lambda g: -len(g[1]))
    parts = tuple(
        Partition(key, index, (float(extent[index, 0].min()), float(extent[index, 1].min()),
                               float(extent[index, 2].max()), float(extent[index, 3].max())))
        for key, index in groups)
    return PartitionPlan(crs, halo, parts, (grid.x0, grid.y0, tile))


def _quarters(key: str, members: np.ndarray, crow: np.ndarray, ccol: np.ndarray, r0: int, c0: int,
              size: int, max_villages: int) -> list[tuple[str, np.ndarray]]:
    """Cut the block of ``size`` pixels at (``r0``, ``c0``) into quarters until each part is small enough."""
    if len(members) <= max_villages or size <= 16:
        return [(key, members)]
    half = size // 2
    spans = ((0, half), (half, size))
    out = []
    for q, ((dr0, dr1), (dc0, dc1)) in enumerate((a, b) for a in spans for b in spans):
        inside = members[(crow[members] >= r0 + dr0) & (crow[members] < r0 + dr1)
                         & (ccol[members] >= c0 + dc0) & (ccol[members] < c0 + dc1)]
        if len(inside):
            out.extend(_quarters(f"{key}/{q}", inside, crow, ccol, r0 + dr0, c0 + dc0, dr1 - dr0, max_villages))
    return out
