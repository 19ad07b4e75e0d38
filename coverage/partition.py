"""Partitioned analysis: split the villages by area, compute each part alone, merge the results.

Why the merged results equal a single-process run, value for value:

* Every partition is predicted in the run's CRS (:func:`coverage.crs.local_metric_crs` of *all*
  villages) on a grid snapped to multiples of the resolution (:func:`coverage.predict.make_grid`),
  so a partition's pixels are the run's pixels and each village rasterises to the same pixels.
* A pixel's RSRP, SINR and class depend only on the cells stamped onto it, and a cell is stamped
  at most ``radius_px`` pixels from the pixel it stands in. A partition takes every station within
  its villages' and committee points' bounds plus a *halo* of the largest stamp radius and one pixel, so each of its
  pixels sees the same cells, in the same order (stations keep their order), as in the whole run.
  The per-pixel running sums of interference are then added in the same order, bit for bit.
* The no-site search (``rules.search_radius_m``) is inside the halo too, so ``sites_inside`` and
  ``no_site`` agree; a village whose nearest site lies beyond the halo gets its nearest site and
  distance from all stations when the results are merged.
* Measurements count only inside a village, so a partition needs only those within its bounds.

Partitions are blocks of the run's tile lattice (the ``params.tile_px`` tiles a single-process
prediction computes): each village goes to the tile holding its bounding-box centre, tiles of a
row are grouped up to ``max_villages`` and crowded tiles are quartered. A partition's grid is put
on the same lattice and, like every prediction, computes only the boxes of its village and
committee pixels (:func:`coverage.predict.tile_boxes`), so the partitions together stamp about
what one process stamps: no county bounding boxes overlapping each other. (The first version cut
by county and cost twice the single process's CPU.)
Each partition's prediction can be written as its own GeoTIFF on the run's lattice; a VRT
(:func:`write_mosaic_vrt`) mosaics them without resampling, so no national-size raster is held in
memory or written as one file.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from xml.sax.saxutils import escape

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import rasterio
import shapely

from coverage.crs import local_metric_crs, project_xy, to_metric
from coverage.errors import ConfigError
from coverage.predict import NODATA, ModelParameters, compile_cells, make_grid
from coverage.rules import RuleSet
from coverage.verdicts import nearest_sites, village_extents

#: Default partition size (villages): a few counties; about 300 partitions for the nation.
DEFAULT_PARTITION_VILLAGES = 2000

#: ``map_fn(function, tasks)``: returns ``function(task)`` for every task, in the tasks' order. ``tasks``
#: is consumed lazily (each task is built only when it is submitted) and has a ``len``.
MapFunction = Callable[[Callable[["PartitionTask"], "PartitionResult"], "TaskStream"],
                       list["PartitionResult"]]


@dataclass(frozen=True)
class Partition:
    """One part of a run: its villages (positions in the run's village frame) and their metric bounds."""

    key: str
    index: np.ndarray
    bounds_m: tuple[float, float, float, float]


@dataclass(frozen=True)
class PartitionPlan:
    """How a run is split: the run's metric CRS, the halo (m), the partitions and the tile lattice."""

    crs: pyproj.CRS
    halo_m: float
    partitions: tuple[Partition, ...]
    #: The run's tile lattice ``(x0, y0, tile_px)``: partition grids are put on it (make_grid).
    lattice: tuple[float, float, int] | None = None


@dataclass
class PartitionTask:
    """Everything one partition needs, small enough to ship to a worker process."""

    key: str
    villages: gpd.GeoDataFrame
    stations: gpd.GeoDataFrame
    measurements: gpd.GeoDataFrame | None
    crs: pyproj.CRS
    rules: RuleSet
    params: ModelParameters
    operators: list[str] | None
    raster_path: Path | None = None
    lattice: tuple[float, float, int] | None = None


class TaskStream:
    """The tasks of a plan, built one at a time as they are taken, with their number."""

    def __init__(self, tasks: Iterable[PartitionTask], count: int) -> None:
        self._tasks, self._count = tasks, count

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[PartitionTask]:
        return iter(self._tasks)


@dataclass
class PartitionResult:
    """A partition's village results (in the order of its villages) and what it cost."""

    key: str
    results: pd.DataFrame
    timings_s: dict[str, float]
    raster_path: Path | None


def halo_m(stations: gpd.GeoDataFrame, crs: pyproj.CRS, *, rules: RuleSet, params: ModelParameters,
           operators: list[str] | None = None) -> float:
    """The margin (m) round a partition within which stations can change its results.

    The largest stamp radius of the active cells (:func:`coverage.predict.compile_cells`, the same
    radius the prediction uses) plus one pixel for snapping stations to pixel centres, and at least
    the no-site search radius plus one pixel.
    """
    grid = make_grid((0.0, 0.0, params.resolution_m, params.resolution_m), crs, params.resolution_m)
    cells, _ = compile_cells(stations, grid, rules=rules, params=params, operators=operators)
    stamp_px = int(cells["radius_px"].max()) if len(cells) else 0
    return max((stamp_px + 1) * params.resolution_m, rules.search_radius_m + params.resolution_m)


def plan_partitions(villages: gpd.GeoDataFrame, stations: gpd.GeoDataFrame, *, rules: RuleSet,
                    params: ModelParameters, operators: list[str] | None = None,
                    max_villages: int = DEFAULT_PARTITION_VILLAGES,
                    crs: pyproj.CRS | None = None) -> PartitionPlan:
    """Split ``villages`` into blocks of the run's tile lattice.

    Each village belongs to the prediction tile (``params.tile_px`` pixels of the run's grid) that
    holds the centre of its bounding box. Tiles of one tile row are grouped left to right up to
    ``max_villages``; a tile with more villages is cut into quarters until each part has at most
    ``max_villages`` (or is 16 pixels wide). Partitions are returned largest first, so the longest
    tasks start first and a cluster's workers finish together.

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
    if max_villages < 1:
        raise ConfigError("max_villages must be at least 1")
    if villages.empty:
        raise ConfigError("no villages to partition")
    crs = local_metric_crs(villages) if crs is None else crs
    # the extent of a partition: its villages and their committee points (what its grid covers)
    metric, _, _, extent = village_extents(villages, crs)
    bounds = shapely.bounds(metric.geometry.values)
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

    def flush() -> None:
        if pending:
            key = pending_keys[0] if len(pending_keys) == 1 else f"{pending_keys[0]}..{pending_keys[-1].split('-')[1]}"
            groups.append((key, np.sort(np.concatenate(pending))))
            pending.clear()
            pending_keys.clear()

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
        if not same_row or sum(len(p) for p in pending) + len(members) > max_villages:
            flush()
        pending.append(members)
        pending_keys.append(key)
    flush()
    groups.sort(key=lambda g: -len(g[1]))
    parts = tuple(
        Partition(key, index, (float(extent[index, 0].min()), float(extent[index, 1].min()),
                               float(extent[index, 2].max()), float(extent[index, 3].max())))
        for key, index in groups)
    return PartitionPlan(crs, halo_m(stations, crs, rules=rules, params=params, operators=operators), parts,
                         (grid.x0, grid.y0, tile))


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


def partition_tasks(plan: PartitionPlan, villages: gpd.GeoDataFrame, stations: gpd.GeoDataFrame,
                    measurements: gpd.GeoDataFrame | None, *, rules: RuleSet, params: ModelParameters,
                    operators: list[str] | None = None, raster_dir: Path | None = None
                    ) -> Iterable[PartitionTask]:
    """The tasks of ``plan``, one at a time: each partition's villages, the stations within its
    bounds plus the halo (in their stored order) and the measurements within its bounds.

    Tile-level process pools are switched off inside a task (``params.workers = 1``): the
    partitions are the parallel unit, and results do not depend on it.
    """
    sx, sy = project_xy(stations["lon"].to_numpy(float), stations["lat"].to_numpy(float), plan.crs)
    station_tree = shapely.STRtree(shapely.points(sx, sy))
    measurement_tree = None
    if measurements is not None and len(measurements):
        mx, my = project_xy(measurements.geometry.x.to_numpy(), measurements.geometry.y.to_numpy(), plan.crs)
        measurement_tree = shapely.STRtree(shapely.points(mx, my))
    task_params = replace(params, workers=1)
    h = plan.halo_m
    for part in plan.partitions:
        minx, miny, maxx, maxy = part.bounds_m
        # points in a box, edges included, in their stored order
        near = np.sort(station_tree.query(shapely.box(minx - h, miny - h, maxx + h, maxy + h)))
        meas = measurements
        if measurement_tree is not None and measurements is not None:
            inside = np.sort(measurement_tree.query(shapely.box(minx, miny, maxx, maxy)))
            meas = measurements.iloc[inside].reset_index(drop=True)
        raster = None if raster_dir is None else Path(raster_dir) / f"{part.key.replace('/', '_')}.tif"
        yield PartitionTask(part.key, villages.iloc[part.index].reset_index(drop=True),
                            stations.iloc[near].reset_index(drop=True), meas, plan.crs, rules, task_params,
                            operators, raster, plan.lattice)


def analyze_partition(task: PartitionTask) -> PartitionResult:
    """Compute one partition alone with :func:`coverage.analysis.analyze_frames` (and write its
    GeoTIFF, masked to its own villages, when the task names a path)."""
    # imported here: coverage.analysis imports this module to run partitioned analyses
    from coverage.analysis import analyze_frames, write_geotiff

    timings: dict[str, float] = {}
    t = time.perf_counter()
    results, prediction, labels = analyze_frames(
        task.villages, task.stations, task.measurements, rules=task.rules, params=task.params,
        operators=task.operators, timings=timings, crs=task.crs, lattice=task.lattice)
    if task.raster_path is not None:
        write_geotiff(prediction, task.raster_path, mask=labels > 0)
    timings["total_s"] = time.perf_counter() - t
    return PartitionResult(task.key, results, timings, task.raster_path)


def merge_results(plan: PartitionPlan, parts: Sequence[PartitionResult], villages: gpd.GeoDataFrame,
                  stations: gpd.GeoDataFrame, *, operators: list[str] | None = None) -> pd.DataFrame:
    """The partitions' results as one frame in the order of ``villages``.

    A village whose nearest site is farther than the halo (or that has none in its partition) may
    have a nearer site outside the partition: its ``nearest_site_m`` and ``nearest_site_id`` are
    recomputed against all ``stations``. Nothing else can differ from a single-process run.
    """
    by_key = {p.key: p for p in parts}
    missing = [part.key for part in plan.partitions if part.key not in by_key]
    if missing:
        raise ConfigError(f"partitions without results: {', '.join(missing[:5])}")
    frames, positions = [], []
    for part in plan.partitions:
        result = by_key[part.key].results
        if len(result) != len(part.index):
            raise ConfigError(f"partition {part.key}: {len(result)} results for {len(part.index)} villages")
        frames.append(result)
        positions.append(part.index)
    merged = pd.concat(frames, ignore_index=True)
    order = np.argsort(np.concatenate(positions), kind="stable")
    merged = merged.iloc[order].reset_index(drop=True)
    # rebuilt from plain arrays as village_metrics builds its frame, so text columns get the dtype a
    # whole run infers (a partition whose column is all None would otherwise leave it ``object``)
    columns: dict[str, np.ndarray] = {}
    for name in merged.columns:
        values = merged[name].to_numpy(copy=True)
        if values.dtype == object:
            values[pd.isna(values)] = None
        columns[name] = values
    merged = pd.DataFrame(columns)
    far = (merged["nearest_site_m"].isna() | (merged["nearest_site_m"] > plan.halo_m)).to_numpy()
    if far.any():
        subset = to_metric(villages.iloc[np.flatnonzero(far)][["code", "geometry"]], plan.crs)
        _, nearest_m, nearest_id = nearest_sites(subset, stations, operators=operators)
        merged.loc[far, "nearest_site_m"] = np.where(np.isinf(nearest_m), np.nan, nearest_m)
        merged.loc[far, "nearest_site_id"] = nearest_id
    return merged


def analyze_partitioned(villages: gpd.GeoDataFrame, stations: gpd.GeoDataFrame,
                        measurements: gpd.GeoDataFrame | None, *, rules: RuleSet, params: ModelParameters,
                        operators: list[str] | None = None, max_villages: int = DEFAULT_PARTITION_VILLAGES,
                        map_fn: MapFunction | None = None, raster_dir: Path | None = None,
                        progress: Callable[[str], None] | None = None,
                        timings: dict[str, float] | None = None) -> tuple[pd.DataFrame, list[PartitionResult]]:
    """Partition, compute every partition with ``map_fn`` (default: one after another in this
    process; :func:`coverage.distributed.dask_map` runs them on Dask) and merge.

    Returns the merged results (equal to :func:`coverage.analysis.analyze_frames`' results on the
    whole area) and the per-partition results (timings, raster paths).
    """
    timings = {} if timings is None else timings
    say = progress or (lambda _m: None)
    t = time.perf_counter()
    plan = plan_partitions(villages, stations, rules=rules, params=params, operators=operators,
                           max_villages=max_villages)
    timings["plan_s"] = time.perf_counter() - t
    say(f"{len(plan.partitions)} partitions of up to {max_villages:,} villages, halo {plan.halo_m / 1000:.1f} km")
    tasks = partition_tasks(plan, villages, stations, measurements, rules=rules, params=params,
                            operators=operators, raster_dir=raster_dir)
    t = time.perf_counter()
    stream = TaskStream(tasks, len(plan.partitions))
    parts = [analyze_partition(task) for task in stream] if map_fn is None else map_fn(analyze_partition, stream)
    timings["partitions_s"] = time.perf_counter() - t
    t = time.perf_counter()
    merged = merge_results(plan, parts, villages, stations, operators=operators)
    timings["merge_s"] = time.perf_counter() - t
    return merged, parts


def write_mosaic_vrt(rasters: Sequence[Path], path: Path) -> Path:
    """A GDAL VRT mosaic of per-partition GeoTIFFs on one lattice (same CRS, resolution, and origins
    on multiples of it): no resampling; a source's nodata pixels let the others show through."""
    if not rasters:
        raise ConfigError("no partition rasters to mosaic")
    metas = []
    for raster in rasters:
        with rasterio.open(raster) as src:
            metas.append((Path(raster), src.transform, src.width, src.height, src.crs, src.count,
                          list(src.descriptions)))
    _, t0, _, _, crs, count, descriptions = metas[0]
    res = t0.a
    minx = min(m[1].c for m in metas)
    maxy = max(m[1].f for m in metas)
    maxx = max(m[1].c + m[2] * res for m in metas)
    miny = min(m[1].f - m[3] * res for m in metas)
    width, height = round((maxx - minx) / res), round((maxy - miny) / res)

    def rel(src: Path) -> str:
        return Path(os.path.relpath(src.resolve(), path.parent.resolve())).as_posix()

    lines = [f'<VRTDataset rasterXSize="{width}" rasterYSize="{height}">',
             f"  <SRS>{escape(crs.to_wkt())}</SRS>",
             f"  <GeoTransform>{minx!r}, {res!r}, 0.0, {maxy!r}, 0.0, {-res!r}</GeoTransform>"]
    for band in range(1, count + 1):
        lines.append(f'  <VRTRasterBand dataType="Float32" band="{band}">')
        lines.append(f"    <NoDataValue>{float(NODATA)!r}</NoDataValue>")
        if descriptions[band - 1]:
            lines.append(f"    <Description>{escape(descriptions[band - 1])}</Description>")
        for src_path, transform, w, h, *_ in metas:
            xoff, yoff = round((transform.c - minx) / res), round((maxy - transform.f) / res)
            lines += ["    <ComplexSource>",
                      f'      <SourceFilename relativeToVRT="1">{escape(rel(src_path))}</SourceFilename>',
                      f"      <SourceBand>{band}</SourceBand>",
                      f'      <SrcRect xOff="0" yOff="0" xSize="{w}" ySize="{h}"/>',
                      f'      <DstRect xOff="{xoff}" yOff="{yoff}" xSize="{w}" ySize="{h}"/>',
                      f"      <NODATA>{float(NODATA)!r}</NODATA>",
                      "    </ComplexSource>"]
        lines.append("  </VRTRasterBand>")
    lines.append("</VRTDataset>")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".vrt.partial")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path
