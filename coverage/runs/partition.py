"""Partitioned analysis: split the villages by area, compute each part alone, merge the results.

Why the merged results equal a single-process run, value for value:

* Every partition is predicted in the run's CRS (:func:`coverage.crs.local_metric_crs` of *all*
  villages) on a grid snapped to multiples of the resolution (:func:`coverage.model.grid.make_grid`),
  so a partition's pixels are the run's pixels and each village rasterises to the same pixels.
* A pixel's RSRP, SINR and class depend only on the cells stamped onto it, and a cell is stamped
  at most ``radius_px`` pixels from the pixel it stands in. A partition takes every station within
  its villages' and committee points' bounds plus a *halo* of the largest stamp radius and one pixel, so each of its
  pixels sees the same cells, in the same order (stations keep their order), as in the whole run.
  The per-pixel running sums of interference are then added in the same order, bit for bit.
* The no-site search (``rules.search_radius_m``) is inside the halo too, so ``sites_inside`` and
  ``no_site`` agree; a village whose nearest site lies beyond the halo gets its nearest site and
  distance from all stations when the results are merged.
* Measurements and MR grids move pixels within the reach of evidence
  (:func:`coverage.model.fusion.evidence_reach_m`), so a partition takes those within its bounds plus that
  reach; the MR offset is fitted once for the run before the partitions
  (:func:`coverage.runs.compute.run_mr_offset`: the same operator's measurements and MR on the same pixel,
  no prediction needed) and handed to each.

Partitions are blocks of the run's tile lattice (the ``params.tile_px`` tiles a single-process
prediction computes): each village goes to the tile holding its bounding-box centre, tiles of a
row are grouped up to ``max_villages`` and crowded tiles are quartered. A partition's grid is put
on the same lattice and, like every prediction, computes only the boxes of its village and
committee pixels (:func:`coverage.model.predict.tile_boxes`), so the partitions together stamp about
what one process stamps: no county bounding boxes overlapping each other. (The first version cut
by county and cost twice the single process's CPU.)
Each partition's prediction can be written as its own GeoTIFF on the run's lattice; a VRT
(:func:`write_mosaic_vrt`) mosaics them without resampling, so no national-size raster is held in
memory or written as one file.
"""

from __future__ import annotations

import datetime as dt
import gc
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol
from xml.sax.saxutils import escape

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import rasterio
import shapely

from coverage.crs import local_metric_crs, project_xy, to_metric
from coverage.errors import NO_VILLAGES, ConfigError, bi
from coverage.ingest.mr import EVIDENCE_COLUMNS, read_mr
from coverage.model.fusion import evidence_reach_m
from coverage.model.grid import NODATA
from coverage.model.parameters import ModelParameters
from coverage.model.rules import RuleSet
from coverage.model.terrain_inputs import TerrainSource
from coverage.model.verdicts import SiteIndex, active_sites, village_extents
from coverage.runs.compute import analyze_frames, run_mr_offset, write_geotiff
from coverage.runs.partition_plan import (
    DEFAULT_PARTITION_VILLAGES,
    Box,
    Partition,
    PartitionPlan,
    plan_partitions,
    stamp_radius_px,
)
from coverage.schema import Kind
from coverage.store.storage import Fingerprint, Store
from coverage.writers import atomic_write

__all__ = [
    "FrameInputs",
    "MapFunction",
    "PartitionFrames",
    "PartitionInputs",
    "PartitionResult",
    "PartitionTask",
    "StoreInputs",
    "StoreSlice",
    "StoreSurvey",
    "TaskStream",
    "analyze_partition",
    "analyze_partitioned",
    "merge_results",
    "partition_tasks",
    "run_partitions",
    "survey_store",
    "write_mosaic_vrt",
]

#: ``map_fn(function, tasks)``: yields ``function(task)`` for every task, in any order (each result
#: names its partition). ``tasks`` is consumed lazily (each task is built only when it is submitted)
#: and has a ``len``.
MapFunction = Callable[[Callable[["PartitionTask"], "PartitionResult"], "TaskStream"],
                       Iterable["PartitionResult"]]




@dataclass
class PartitionFrames:
    """A partition's rows: its villages, the stations within its bounds plus the halo (in stored
    order) and the measurements and MR grid rows within its bounds plus the reach of evidence."""

    villages: gpd.GeoDataFrame
    stations: gpd.GeoDataFrame
    measurements: gpd.GeoDataFrame | None
    mr: pd.DataFrame | None = None

    def load(self) -> PartitionFrames:
        return self


@dataclass(frozen=True)
class StoreSlice:
    """Where a partition's rows are in the database: read by the process that computes the task
    (:class:`StoreInputs`), so a Dask worker reads its own partition and the coordinator ships
    only codes and boxes. The database URL must reach the same database from every worker."""

    url: str
    codes: np.ndarray
    station_box: Box
    measurement_box: Box
    crs: pyproj.CRS
    #: The MR period the run fuses (first day, last day); None: the run has no MR.
    mr_period: tuple[dt.date, dt.date] | None = None

    def load(self) -> PartitionFrames:
        inputs = StoreInputs(_open_store(self.url), self.codes, self.crs, mr_period=self.mr_period)
        return PartitionFrames(inputs.villages(np.arange(len(self.codes))), inputs.stations(self.station_box),
                               inputs.measurements(self.measurement_box), inputs.mr(self.measurement_box))


_STORES: dict[str, Store] = {}


def _open_store(url: str) -> Store:
    """One :class:`Store` (engine and connection pool) per database URL and process."""
    if url not in _STORES:
        _STORES[url] = Store(url)
    return _STORES[url]


@dataclass
class PartitionTask:
    """Everything one partition needs, small enough to ship to a worker process: its rows, or where
    to read them."""

    key: str
    data: PartitionFrames | StoreSlice
    crs: pyproj.CRS
    rules: RuleSet
    params: ModelParameters
    operators: list[str] | None
    raster_path: Path | None = None
    lattice: tuple[float, float, int] | None = None
    #: The run's MR offset (:func:`coverage.runs.compute.run_mr_offset`), fitted once for all partitions.
    mr_offset_db: float | None = None
    #: The stored DEM and land cover (their paths must be readable where the task runs).
    terrain: TerrainSource | None = None


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


class PartitionInputs(Protocol):
    """Where a partitioned run's rows come from: frames in memory (:class:`FrameInputs`) or the
    database, read partition by partition (:class:`StoreInputs`)."""

    def villages(self, index: np.ndarray) -> gpd.GeoDataFrame:
        """The villages at ``index`` (ascending positions in the run's village order), in that order."""
        ...

    def stations(self, box: Box) -> gpd.GeoDataFrame:
        """The stations whose point lies in the metric ``box`` (edges included), in stored order."""
        ...

    def measurements(self, box: Box) -> gpd.GeoDataFrame | None:
        """The measurements in the metric ``box`` (edges included), in stored order."""
        ...

    def mr(self, box: Box) -> pd.DataFrame | None:
        """The MR grid rows (the run's period) whose centre lies in the metric ``box``, in stored order."""
        ...

    def data(self, index: np.ndarray, station_box: Box, measurement_box: Box) -> PartitionFrames | StoreSlice:
        """A partition's rows, or where the process computing it reads them."""
        ...


class FrameInputs:
    """:class:`PartitionInputs` from frames in memory (canonical, EPSG:4326)."""

    def __init__(self, villages: gpd.GeoDataFrame, stations: gpd.GeoDataFrame,
                 measurements: gpd.GeoDataFrame | None, crs: pyproj.CRS, mr: pd.DataFrame | None = None) -> None:
        self._villages, self._stations, self._measurements, self._mr = villages, stations, measurements, mr
        self._mr_xy = None
        if mr is not None and len(mr):
            self._mr_xy = project_xy(mr["lon"].to_numpy(float), mr["lat"].to_numpy(float), crs)
        sx, sy = project_xy(stations["lon"].to_numpy(float), stations["lat"].to_numpy(float), crs)
        self._station_tree = shapely.STRtree(shapely.points(sx, sy))
        self._measurement_tree = None
        if measurements is not None and len(measurements):
            mx, my = project_xy(measurements.geometry.x.to_numpy(), measurements.geometry.y.to_numpy(), crs)
            self._measurement_tree = shapely.STRtree(shapely.points(mx, my))

    def villages(self, index: np.ndarray) -> gpd.GeoDataFrame:
        return self._villages.iloc[index].reset_index(drop=True)

    def stations(self, box: Box) -> gpd.GeoDataFrame:
        # points in a box, edges included, in their stored order
        near = np.sort(self._station_tree.query(shapely.box(*box)))
        return self._stations.iloc[near].reset_index(drop=True)

    def measurements(self, box: Box) -> gpd.GeoDataFrame | None:
        if self._measurement_tree is None or self._measurements is None:
            return self._measurements
        inside = np.sort(self._measurement_tree.query(shapely.box(*box)))
        return self._measurements.iloc[inside].reset_index(drop=True)

    def mr(self, box: Box) -> pd.DataFrame | None:
        if self._mr is None or self._mr_xy is None:
            return None
        x, y = self._mr_xy
        inside = (x >= box[0]) & (x <= box[2]) & (y >= box[1]) & (y <= box[3])
        return self._mr[inside].reset_index(drop=True)

    def data(self, index: np.ndarray, station_box: Box, measurement_box: Box) -> PartitionFrames:
        return PartitionFrames(self.villages(index), self.stations(station_box), self.measurements(measurement_box),
                               self.mr(measurement_box))


class StoreInputs:
    """:class:`PartitionInputs` read from the database for each partition: the villages by code,
    points by an indexed longitude/latitude range round the box, then tested exactly in the run's CRS.
    Tasks carry a :class:`StoreSlice`, read where the task runs: nobody holds the nation's rows."""

    def __init__(self, store: Store, codes: np.ndarray, crs: pyproj.CRS, *,
                 mr_period: tuple[dt.date, dt.date] | None = None) -> None:
        self._store, self._codes, self._crs, self._mr_period = store, codes, crs, mr_period
        _STORES.setdefault(store.url, store)  # slices loaded in this process share its engine
        self._to_wgs84 = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True)

    def villages(self, index: np.ndarray) -> gpd.GeoDataFrame:
        codes = self._codes[index]
        frame = self._store.read("villages", codes=codes.tolist())
        if len(frame) != len(codes) or not np.array_equal(frame["code"].to_numpy().astype(str), codes):
            raise ConfigError(bi("分析期间已存的行政村发生了变化：请重新运行分析",
                                 "the stored villages changed during the run; run the analysis again"))
        return frame

    def _lonlat_box(self, box: Box) -> Box:
        # the box's longitude/latitude bounds (edges densified), widened by about 10 m for the curvature
        # between densified points; the exact test is in the run's CRS, as FrameInputs makes it
        lon0, lat0, lon1, lat1 = self._to_wgs84.transform_bounds(*box, densify_pts=21)
        pad = 1e-4
        return (lon0 - pad, lat0 - pad, lon1 + pad, lat1 + pad)

    def _points(self, kind: Kind, box: Box) -> gpd.GeoDataFrame:
        frame = self._store.read(kind, box=self._lonlat_box(box))
        x, y = project_xy(frame.geometry.x.to_numpy(), frame.geometry.y.to_numpy(), self._crs)
        inside = (x >= box[0]) & (x <= box[2]) & (y >= box[1]) & (y <= box[3])
        return frame[inside].reset_index(drop=True)

    def stations(self, box: Box) -> gpd.GeoDataFrame:
        return self._points("stations", box)

    def measurements(self, box: Box) -> gpd.GeoDataFrame | None:
        return self._points("measurements", box)

    def mr(self, box: Box) -> pd.DataFrame | None:
        if self._mr_period is None:
            return None
        frame = read_mr(self._store, box=self._lonlat_box(box), period=self._mr_period, columns=EVIDENCE_COLUMNS)
        x, y = project_xy(frame["lon"].to_numpy(float), frame["lat"].to_numpy(float), self._crs)
        inside = (x >= box[0]) & (x <= box[2]) & (y >= box[1]) & (y <= box[3])
        return frame[inside].reset_index(drop=True)

    def data(self, index: np.ndarray, station_box: Box, measurement_box: Box) -> StoreSlice:
        return StoreSlice(self._store.url, self._codes[index], station_box, measurement_box, self._crs,
                          self._mr_period)


def partition_tasks(plan: PartitionPlan, inputs: PartitionInputs, *, rules: RuleSet, params: ModelParameters,
                    operators: list[str] | None = None, raster_dir: Path | None = None,
                    mr_offset_db: float | None = None, terrain: TerrainSource | None = None
                    ) -> Iterator[PartitionTask]:
    """The tasks of ``plan``, one at a time: each partition's villages, the stations within its
    bounds plus the halo (in their stored order) and the measurements within its bounds plus
    :func:`coverage.model.fusion.evidence_reach_m`, as
    :class:`PartitionFrames` or as the :class:`StoreSlice` to read them from.

    Tile-level process pools are switched off inside a task (``params.workers = 1``): the
    partitions are the parallel unit, and results do not depend on it.
    """
    task_params = replace(params, workers=1)
    h = plan.halo_m
    e = evidence_reach_m(params)
    for part in plan.partitions:
        minx, miny, maxx, maxy = part.bounds_m
        raster = None if raster_dir is None else Path(raster_dir) / f"{part.key.replace('/', '_')}.tif"
        yield PartitionTask(part.key, inputs.data(part.index, (minx - h, miny - h, maxx + h, maxy + h),
                                                  (minx - e, miny - e, maxx + e, maxy + e)),
                            plan.crs, rules, task_params, operators, raster, plan.lattice, mr_offset_db, terrain)


def analyze_partition(task: PartitionTask) -> PartitionResult:
    """Compute one partition alone with :func:`coverage.runs.compute.analyze_frames` (and write its
    GeoTIFF, masked to its own villages, when the task names a path)."""

    timings: dict[str, float] = {}
    t = time.perf_counter()
    frames = task.data.load()
    timings["load_s"] = time.perf_counter() - t
    results, prediction, labels = analyze_frames(
        frames.villages, frames.stations, frames.measurements, rules=task.rules, params=task.params,
        operators=task.operators, timings=timings, crs=task.crs, lattice=task.lattice,
        mr=frames.mr if frames.mr is not None and len(frames.mr) else None, mr_offset_db=task.mr_offset_db,
        terrain=task.terrain)
    if task.raster_path is not None:
        write_geotiff(prediction, task.raster_path, mask=labels > 0)
    timings["total_s"] = time.perf_counter() - t
    return PartitionResult(task.key, results, timings, task.raster_path)


def run_partitions(plan: PartitionPlan, inputs: PartitionInputs, sites: gpd.GeoDataFrame, *, rules: RuleSet,
                   params: ModelParameters, operators: list[str] | None = None, map_fn: MapFunction | None = None,
                   raster_dir: Path | None = None, mr_offset_db: float | None = None,
                   terrain: TerrainSource | None = None) -> Iterator[tuple[Partition, PartitionResult]]:
    """Compute every partition of ``plan`` with ``map_fn`` (default: one after another in this
    process; :func:`coverage.runs.distributed.dask_map` runs them on Dask) and yield each with its final
    results, as they are done.

    A village whose nearest site is farther than the halo (or that has none in its partition) may
    have a nearer site outside the partition: its ``nearest_site_m`` and ``nearest_site_id`` are
    recomputed against ``sites`` (:func:`coverage.model.verdicts.active_sites` of the whole run). Nothing
    else can differ from a single-process run. ``mr_offset_db``: the run's MR offset
    (:func:`coverage.runs.compute.run_mr_offset`), given to every partition.
    """
    by_key = {part.key: part for part in plan.partitions}
    index: SiteIndex | None = None
    stream = TaskStream(partition_tasks(plan, inputs, rules=rules, params=params, operators=operators,
                                        raster_dir=raster_dir, mr_offset_db=mr_offset_db, terrain=terrain),
                        len(plan.partitions))
    done = (analyze_partition(task) for task in stream) if map_fn is None else map_fn(analyze_partition, stream)
    seen = 0
    for result in done:
        part = by_key.get(result.key)
        if part is None:
            raise ConfigError(f"a result for partition {result.key}, which the plan does not have")
        if len(result.results) != len(part.index):
            raise ConfigError(f"partition {part.key}: {len(result.results)} results for {len(part.index)} villages")
        frame = result.results
        far = (frame["nearest_site_m"].isna() | (frame["nearest_site_m"] > plan.halo_m)).to_numpy()
        if far.any():
            subset = to_metric(inputs.villages(part.index[far])[["code", "geometry"]], plan.crs)
            index = SiteIndex(sites, plan.crs) if index is None else index
            _, nearest_m, nearest_id = index.nearest(subset)
            frame = frame.copy()
            frame.loc[far, "nearest_site_m"] = np.where(np.isinf(nearest_m), np.nan, nearest_m)
            frame.loc[far, "nearest_site_id"] = nearest_id
            result.results = frame
        seen += 1
        yield part, result
    if seen != len(plan.partitions):
        raise ConfigError(f"{len(plan.partitions) - seen} partitions without results")


def merge_results(done: Iterable[tuple[Partition, PartitionResult]]) -> tuple[pd.DataFrame, list[PartitionResult]]:
    """The partitions' results as one frame in the run's village order, and the partition results."""
    frames, positions, parts = [], [], []
    for part, result in done:
        frames.append(result.results)
        positions.append(part.index)
        parts.append(result)
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
    return pd.DataFrame(columns), parts


def analyze_partitioned(villages: gpd.GeoDataFrame, stations: gpd.GeoDataFrame,
                        measurements: gpd.GeoDataFrame | None, *, rules: RuleSet, params: ModelParameters,
                        operators: list[str] | None = None, max_villages: int = DEFAULT_PARTITION_VILLAGES,
                        map_fn: MapFunction | None = None, raster_dir: Path | None = None,
                        progress: Callable[[str], None] | None = None,
                        timings: dict[str, float] | None = None, mr: pd.DataFrame | None = None
                        ) -> tuple[pd.DataFrame, list[PartitionResult]]:
    """Partition frames held in memory, compute the partitions (:func:`run_partitions`) and merge.
    ``mr``: MR grid rows fused as :func:`coverage.runs.compute.analyze_frames` fuses them (the offset fitted
    once for the run, :func:`coverage.runs.compute.run_mr_offset`).

    Returns the merged results (equal to :func:`coverage.runs.compute.analyze_frames`' results on the
    whole area) and the per-partition results (timings, raster paths). A stored run reads its rows
    partition by partition instead (:func:`survey_store`, :class:`StoreInputs`).
    """
    timings = {} if timings is None else timings
    say = progress or (lambda _m: None)
    t = time.perf_counter()
    plan = plan_partitions(villages, stations, rules=rules, params=params, operators=operators,
                           max_villages=max_villages)
    timings["plan_s"] = time.perf_counter() - t
    say(plan.step(max_villages))
    mr = mr if mr is not None and len(mr) else None
    mr_offset = None
    if mr is not None:
        mr_offset, pairs = run_mr_offset(village_extents(villages, plan.crs)[3], measurements, mr, crs=plan.crs,
                                         params=params, operators=operators)
        timings["mr_offset_db"], timings["mr_offset_pixels"] = round(mr_offset, 2), pairs
    t = time.perf_counter()
    merged, parts = merge_results(run_partitions(
        plan, FrameInputs(villages, stations, measurements, plan.crs, mr), active_sites(stations, operators=operators),
        rules=rules, params=params, operators=operators, map_fn=map_fn, raster_dir=raster_dir,
        mr_offset_db=mr_offset))
    timings["partitions_s"] = time.perf_counter() - t
    return merged, parts


@dataclass
class StoreSurvey:
    """One chunked pass over a run's stored inputs: what a partitioned run needs to know before it
    reads any partition, and nothing of the size of the nation but these arrays."""

    crs: pyproj.CRS
    #: Village codes in the run's (code) order, their polygon bounds and extents in ``crs`` (n x 4).
    codes: np.ndarray
    bounds: np.ndarray
    extent: np.ndarray
    #: The largest stamp radius (px) of the active cells.
    radius_px: int
    #: :func:`coverage.model.verdicts.active_sites` of all stations: one point per site.
    sites: gpd.GeoDataFrame
    #: :class:`coverage.store.storage.Fingerprint` of each kind, as run_analysis records its inputs.
    fingerprints: dict[str, str]
    rows: dict[str, int]
    #: The envelope (lon/lat) of the run's villages' polygons.
    envelope: tuple[float, float, float, float] | None = None


def survey_store(store: Store, *, committees_only: bool, rules: RuleSet, params: ModelParameters,
                 operators: list[str] | None = None) -> StoreSurvey:
    """Read the stored villages, stations and measurements once, chunk by chunk, keeping only the
    fingerprints, the villages' extents, the largest stamp radius and the active sites."""
    # the run's CRS from the envelope of its villages' polygons (the table of village bounds)
    from coverage.store.results_query import extent as stored_extent

    envelope = stored_extent(store, "villages", committees_only=committees_only)
    if envelope is None:
        raise ConfigError(NO_VILLAGES)
    crs = local_metric_crs(envelope)
    with _gc_paused():
        survey = _survey(store, crs, committees_only=committees_only, rules=rules, params=params,
                         operators=operators)
    return replace(survey, envelope=envelope)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for a bulk read (its full collections walk every object
    the imported libraries hold: a quarter of a national survey's time); what it would have found is
    collected at the end."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
            gc.collect()


def _survey(store: Store, crs: pyproj.CRS, *, committees_only: bool, rules: RuleSet, params: ModelParameters,
            operators: list[str] | None) -> StoreSurvey:
    fingerprints = {kind: Fingerprint() for kind in ("villages", "stations", "measurements")}
    rows = dict.fromkeys(fingerprints, 0)
    codes, bounds, extents = [], [], []
    for chunk in store.read_chunks("villages", committees_only=committees_only):
        fingerprints["villages"].update(chunk)
        rows["villages"] += len(chunk)
        if len(chunk):
            metric, _, _, ext = village_extents(chunk, crs)
            codes.append(chunk["code"].to_numpy().astype(str))
            bounds.append(shapely.bounds(metric.geometry.values))
            extents.append(ext)
    radius, sites = 0, []
    for chunk in store.read_chunks("stations"):
        fingerprints["stations"].update(chunk)
        rows["stations"] += len(chunk)
        radius = max(radius, stamp_radius_px(chunk, crs, rules=rules, params=params, operators=operators))
        sites.append(active_sites(chunk, operators=operators))
    for chunk in store.read_chunks("measurements"):
        fingerprints["measurements"].update(chunk)
        rows["measurements"] += len(chunk)
    if not codes:
        raise ConfigError(NO_VILLAGES)
    return StoreSurvey(crs, np.concatenate(codes), np.concatenate(bounds), np.concatenate(extents), radius,
                       # each chunk's first cell per site, then the first of those: the run's first cell per site
                       gpd.GeoDataFrame(pd.concat(sites, ignore_index=True).drop_duplicates("site_id"),
                                        geometry="geometry", crs="EPSG:4326").reset_index(drop=True),
                       {kind: f.hexdigest() for kind, f in fingerprints.items()}, rows)


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
    with atomic_write(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
