"""Analysis runs: read the stored inputs, predict, decide verdicts, publish atomically.

A run is recorded as ``running`` first; its results are written, and the run flipped to
``published``, in one transaction at the end. Readers always see the latest *published* run, so
a run that fails or is killed midway leaves the previous results in place.
"""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from coverage import __version__
from coverage.audit.rounds import audit_evidence
from coverage.errors import NO_VILLAGES, Village5gError
from coverage.ingest.mr import latest_mr, latest_mr_period, mr_box, stored_mr_fingerprint
from coverage.ingest.terrain import stored_terrain_source
from coverage.limits import DEFAULT_LIMITS, Limits, check_grid, grid_shape_of_bounds
from coverage.model.parameters import DEFAULT_PARAMETERS, ModelParameters
from coverage.model.rules import RuleSet
from coverage.model.terrain_inputs import TerrainSource
from coverage.model.verdicts import VERDICTS
from coverage.processes import owner_id
from coverage.runs.compute import analyze_frames as analyze_frames  # re-exported: the callers' entry point
from coverage.runs.compute import run_mr_offset, write_geotiff
from coverage.runs.jobs import fail_dead_runs, process_alive, run_step
from coverage.store.results_query import extent
from coverage.store.storage import Store, frame_fingerprint

if TYPE_CHECKING:
    from coverage.model.calibration import Calibration
    from coverage.runs.partition import MapFunction


class RunResult:
    """What a finished run produced: its id, counts, timings and raster. ``results`` (one row per
    village, the columns of :func:`analyze_frames`' results) are those computed in this process, or,
    for a run that streamed them to the store partition by partition, read back when first asked for.
    """

    def __init__(self, run_id: int, results: pd.DataFrame | None, counts: dict[str, int],
                 timings_s: dict[str, float] | None = None, raster_path: Path | None = None, *,
                 store: Store | None = None) -> None:
        if results is None and store is None:
            raise ValueError("a run result needs its results or the store that holds them")
        self.run_id, self.counts, self.raster_path = run_id, counts, raster_path
        self.timings_s = timings_s or {}
        self._results, self._store = results, store

    @property
    def results(self) -> pd.DataFrame:
        if self._results is None:
            assert self._store is not None
            self._results = self._store.read_run_results(self.run_id)
        return self._results


def run_analysis(store: Store, *, rules: RuleSet, params: ModelParameters = DEFAULT_PARAMETERS,
                 operators: list[str] | None = None, scope: str = "committees",
                 artifacts_dir: Path | None = None,
                 progress: Callable[[str], None] | None = None,
                 calibration: Calibration | None = None, workers: int | None = None,
                 scheduler: str | None = None, partition_villages: int | None = None,
                 limits: Limits = DEFAULT_LIMITS, terrain: bool = True,
                 terrain_dir: Path | None = None) -> RunResult:
    """Compute a run from the stored inputs and publish it atomically.

    Parameters
    ----------
    store
        Where inputs are read and results published.
    rules, params
        The rule set and the model parameters, recorded with the run.
    operators
        Only these operators' sites and measurements count (default: all).
    scope
        ``"committees"`` (village committees, NBS 200-399; the default) or ``"all"`` village-level units.
    calibration
        A fitted :class:`coverage.model.calibration.Calibration` (band path-loss terms, area offsets and the
        variogram, :func:`coverage.audit.rounds.round_calibration`): the run's parameters take it
        (:meth:`~coverage.model.calibration.Calibration.parameters`) and its summary is recorded with the
        run's inputs.
    artifacts_dir
        Folder for the run's GeoTIFF (``<dir>/run-<id>/prediction.tif``); none is written when None.
        A partitioned run writes one GeoTIFF per partition (``run-<id>/partitions/``) and a VRT
        mosaic of them, ``run-<id>/prediction.vrt``.
    workers, scheduler, partition_villages
        Partition the run by area (:mod:`coverage.runs.partition`) and compute the partitions on Dask:
        a local cluster of ``workers`` processes, or the scheduler at address ``scheduler``.
        ``partition_villages`` alone partitions in this process. The results equal the
        single-process run's (audit field tests aside: a partitioned run fuses only the stored
        measurements). A partitioned run reads its rows partition by partition and writes each
        partition's results as they come (:func:`_run_streamed`), so this process never holds the
        whole area's villages, stations or results.
    terrain, terrain_dir
        Use the stored DEM and land cover (``village5g ingest dem|landcover``), kept in ``terrain_dir``
        (default: ``terrain`` beside ``artifacts_dir``), when any is stored: their fingerprints are
        recorded with the run's inputs. ``terrain=False`` (or neither stored): flat ground, no land
        cover. A partitioned run's workers read the files themselves (a remote cluster needs them on
        a shared path).
    limits
        ``limits.max_grid_pixels`` bounds the prediction grid of one process (the run's, or each
        partition's); checked before the run is recorded (:class:`coverage.limits.LimitError`).
    """
    say = progress or (lambda _m: None)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    reap_dead_runs(store, artifacts_dir)
    committees_only = scope == "committees"
    partitioned = workers is not None or scheduler is not None or partition_villages is not None
    if calibration is not None:
        params = calibration.parameters(params)
    if not partitioned:
        check_run_grid(store, resolution_m=params.resolution_m, scope=scope, limits=limits)
    source: TerrainSource | None = None
    terrain_prints: dict[str, str] = {}
    folder = terrain_dir if terrain_dir is not None else (
        Path(artifacts_dir).parent / "terrain" if artifacts_dir is not None else None)
    if terrain and folder is not None:
        source, terrain_prints = stored_terrain_source(store, folder)
    if partitioned:
        return _run_streamed(store, rules=rules, params=params, operators=operators, scope=scope,
                             artifacts_dir=artifacts_dir, progress=say, workers=workers, scheduler=scheduler,
                             partition_villages=partition_villages, timings=timings, t0=t0, limits=limits,
                             calibration=None if calibration is None else calibration.summary(),
                             terrain=source, terrain_prints=terrain_prints)
    villages = store.read("villages", committees_only=committees_only)
    if villages.empty:
        raise Village5gError(NO_VILLAGES)
    stations = store.read("stations")
    measurements = store.read("measurements")
    # audit field tests are evidence too (outdoors, NR), fused like any other measurement
    audits = audit_evidence(store)
    if len(audits):
        measurements = pd.concat([measurements, audits], ignore_index=True)
    mr = latest_mr(store, villages)
    timings["read_s"] = time.perf_counter() - t0
    t = time.perf_counter()
    inputs: dict[str, object] = {
        "villages": frame_fingerprint(villages), "stations": frame_fingerprint(stations),
        "measurements": frame_fingerprint(measurements), "scope": scope, "operators": operators or "all",
    }
    unknown_radio = int(stations["source"].fillna("").astype(str).str.startswith("opencellid").sum())
    if unknown_radio:  # OpenCelliD cells: band assumed, every radio parameter a default
        inputs["stations_unknown_radio"] = unknown_radio
    mr_period = latest_mr_period(store)
    if len(mr) and mr_period is not None:  # the database's print of the rows read (as a partitioned run's)
        inputs["mr"] = stored_mr_fingerprint(store, mr_box(villages.total_bounds, MR_MARGIN_DEG), mr_period).fingerprint
    inputs.update(terrain_prints)
    timings["fingerprint_s"] = time.perf_counter() - t
    if calibration is not None:
        inputs["calibration"] = calibration.summary()
    run_id = store.start_run(rules=rules.to_dict(), parameters=asdict(params), inputs=inputs,
                             code_version=__version__)
    with _failing_run(store, run_id, artifacts_dir):
        say(_run_started(run_id, len(villages), len(stations), len(measurements), len(mr)))
        raster_path = None
        results, prediction, labels = analyze_frames(
            villages, stations, measurements, rules=rules, params=params, operators=operators,
            progress=say, timings=timings, mr=mr if len(mr) else None, terrain=source)
        if artifacts_dir is not None:
            t = time.perf_counter()
            raster_path = Path(artifacts_dir) / f"run-{run_id}" / "prediction.tif"
            write_geotiff(prediction, raster_path, mask=labels > 0)
            timings["geotiff_s"] = time.perf_counter() - t
        counts = summarize_counts(results)
        _publish(store, run_id, results, counts=counts, raster_path=raster_path, timings=timings, t0=t0)
    return RunResult(run_id, results, counts, timings, raster_path)


#: How far (degrees) round its villages' envelope a run takes MR grids (as :func:`coverage.ingest.mr.latest_mr`).
MR_MARGIN_DEG = 0.05

#: Villages whose results a streamed partitioned run writes in one transaction.
WRITE_BATCH = 20_000

def _run_started(run_id: int, villages: int, cells: int, measurements: int, mr_rows: int = 0) -> str:
    """The step that names a run once it is recorded (:func:`coverage.runs.jobs.run_step`: a job reads its
    run id from it): ``运行 7：行政村 812，小区 2,406，测量 9,100 (run 7: 812 villages, 2,406 cells, 9,100
    measurements)``, the MR grid rows after them when there are any."""
    chinese = (f"行政村 {villages:,}，小区 {cells:,}，测量 {measurements:,}"
               + (f"，MR 栅格 {mr_rows:,}" if mr_rows else ""))
    english = (f"{villages:,} villages, {cells:,} cells, {measurements:,} measurements"
               + (f", {mr_rows:,} MR grid rows" if mr_rows else ""))
    return run_step(run_id, chinese, english)


def check_run_grid(store: Store, *, resolution_m: float, scope: str = "committees",
                   limits: Limits = DEFAULT_LIMITS) -> None:
    """Refuse, before any work, a single-process run whose grid would exceed ``limits.max_grid_pixels``.

    The grid is estimated from the envelope of the stored villages in scope (a database
    aggregate), projected as the run projects it; nothing stored means nothing to check.
    """
    bounds = extent(store, "villages", committees_only=scope == "committees")
    if bounds is None:
        return
    width, height = grid_shape_of_bounds(bounds, resolution_m)
    check_grid(width, height, resolution_m, limits, what="the run's prediction grid")


@contextmanager
def _partition_map(workers: int | None, scheduler: str | None,
                   progress: Callable[[str], None]) -> Iterator[MapFunction | None]:
    """The ``map_fn`` of a partitioned run: None (in this process) or Dask's, on a cluster closed on exit."""
    if workers is None and scheduler is None:
        yield None
        return
    # imported here: Dask is needed only for runs on a cluster
    from coverage.runs.distributed import dask_client, dask_map

    with dask_client(workers=workers, scheduler=scheduler) as client:
        yield dask_map(client, progress=progress)


def _run_streamed(store: Store, *, rules: RuleSet, params: ModelParameters, operators: list[str] | None,
                  scope: str, artifacts_dir: Path | None, progress: Callable[[str], None],
                  workers: int | None, scheduler: str | None, partition_villages: int | None,
                  timings: dict[str, float], t0: float, limits: Limits,
                  calibration: dict[str, object] | None = None, terrain: TerrainSource | None = None,
                  terrain_prints: dict[str, str] | None = None) -> RunResult:
    """A partitioned run whose rows stream between the store and the partitions.

    One chunked pass over the stored inputs (:func:`coverage.runs.partition.survey_store`: fingerprints,
    village extents, halo, sites) plans the partitions; each partition's rows are read from the
    store when its task is submitted (:class:`coverage.runs.partition.StoreInputs`) and its results are
    written to the (still invisible) run as they come back; the run is published at the end, or
    failed with its rows deleted.
    """
    from coverage.runs.partition import StoreInputs, run_partitions, survey_store, write_mosaic_vrt
    from coverage.runs.partition_plan import DEFAULT_PARTITION_VILLAGES, halo_from_radius, plan_extents

    # MR: the database counts and fingerprints the run's rows (the box round its villages' envelope, the
    # same the survey finds) in a thread while this process surveys the other inputs (the query leaves
    # the interpreter's lock to the survey; its 1-2 s on a province-month then cost no wall time)
    committees_only = scope == "committees"
    mr_period = latest_mr_period(store)
    envelope = extent(store, "villages", committees_only=committees_only) if mr_period is not None else None
    with ThreadPoolExecutor(max_workers=1) as pool:
        printing = (None if envelope is None or mr_period is None else
                    pool.submit(stored_mr_fingerprint, store, mr_box(envelope, MR_MARGIN_DEG), mr_period))
        survey = survey_store(store, committees_only=committees_only, rules=rules, params=params,
                              operators=operators)
        stored = None if printing is None else printing.result()
    # the run's MR offset fitted once here (the same operator's measurements and MR on the same pixels, no
    # prediction), so every partition fuses MR as a single process does: of the rows latest_mr would read
    # only those on a measured pixel are read, in chunks (a nation's month does not fit in one process)
    mr_offset = None
    inputs: dict[str, object] = {**survey.fingerprints, "scope": scope, "operators": operators or "all"}
    if mr_period is not None and survey.envelope is not None:
        box = mr_box(survey.envelope, MR_MARGIN_DEG)
        if stored is None or survey.envelope != envelope:  # the villages changed in between: count again
            stored = stored_mr_fingerprint(store, box, mr_period)
        if stored.rows:
            from coverage.runs.run_mr import mr_near_measurements

            inputs["mr"] = stored.fingerprint
            measurements = store.read("measurements")
            near = mr_near_measurements(store, box, mr_period, measurements, survey.crs, params.resolution_m)
            mr_offset, pairs = run_mr_offset(survey.extent, measurements, near, crs=survey.crs,
                                             params=params, operators=operators)
            timings["mr_offset_db"], timings["mr_offset_pixels"] = round(mr_offset, 2), pairs
            del near, measurements
    if stored is None or not stored.rows:
        mr_period = None
    timings["read_s"] = time.perf_counter() - t0  # reading, fingerprints, extents and the MR offset
    if calibration is not None:
        inputs["calibration"] = calibration
    inputs.update(terrain_prints or {})
    t = time.perf_counter()
    size = partition_villages or DEFAULT_PARTITION_VILLAGES
    plan = plan_extents(survey.bounds, survey.extent, survey.crs,
                        halo_from_radius(survey.radius_px, rules=rules, params=params),
                        params=params, max_villages=size, max_pixels=limits.max_grid_pixels)
    timings["plan_s"] = time.perf_counter() - t
    res = params.resolution_m
    for part in plan.partitions:
        minx, miny, maxx, maxy = part.bounds_m
        check_grid(math.ceil((maxx - minx) / res) + 1, math.ceil((maxy - miny) / res) + 1, res, limits,
                   what=f"the prediction grid of partition {part.key}")
    run_id = store.start_run(rules=rules.to_dict(), parameters=asdict(params), inputs=inputs,
                             code_version=__version__)
    with _failing_run(store, run_id, artifacts_dir):
        rows = survey.rows
        progress(_run_started(run_id, rows["villages"], rows["stations"], rows["measurements"]))
        progress(plan.step(size))
        raster_dir = None if artifacts_dir is None else Path(artifacts_dir) / f"run-{run_id}"
        counts: dict[str, int] = {}
        rasters: list[Path] = []
        write_s = 0.0
        t = time.perf_counter()
        with _partition_map(workers, scheduler, progress) as map_fn:
            done = run_partitions(plan, StoreInputs(store, survey.codes, survey.crs, mr_period=mr_period), survey.sites,
                                  rules=rules, params=params, operators=operators, map_fn=map_fn,
                                  raster_dir=None if raster_dir is None else raster_dir / "partitions",
                                  mr_offset_db=mr_offset, terrain=terrain)
            pending: list[pd.DataFrame] = []
            for i, (_part, result) in enumerate(done, start=1):
                pending.append(result.results)
                for key, n in summarize_counts(result.results).items():
                    counts[key] = counts.get(key, 0) + n
                if result.raster_path is not None:
                    rasters.append(result.raster_path)
                # results written in batches of about WRITE_BATCH villages, one transaction each
                if sum(len(f) for f in pending) >= WRITE_BATCH or i == len(plan.partitions):
                    w = time.perf_counter()
                    store.write_results(run_id, pd.concat(pending, ignore_index=True))
                    write_s += time.perf_counter() - w
                    pending = []
        timings["partitions_s"] = time.perf_counter() - t - write_s
        timings["write_s"] = write_s
        raster_path = None if raster_dir is None else write_mosaic_vrt(rasters, raster_dir / "prediction.vrt")
        _publish(store, run_id, None, counts=counts, raster_path=raster_path, timings=timings, t0=t0)
    return RunResult(run_id, None, counts, timings, raster_path, store=store)


@contextmanager
def _failing_run(store: Store, run_id: int, artifacts_dir: Path | None) -> Iterator[None]:
    """Mark the run failed (its written results and rasters deleted) when the block raises, and re-raise."""
    try:
        yield
    except BaseException as exc:
        store.fail_run(run_id, f"{type(exc).__name__}: {exc}")
        _remove_artifacts(artifacts_dir, [run_id])
        raise


def _remove_artifacts(artifacts_dir: Path | None, run_ids: list[int]) -> None:
    if artifacts_dir is not None:
        for run_id in run_ids:
            shutil.rmtree(Path(artifacts_dir) / f"run-{run_id}", ignore_errors=True)


def reap_dead_runs(store: Store, artifacts_dir: Path | None = None) -> list[int]:
    """Fail the runs left ``running`` by processes of this host that are gone (killed mid-run), and
    delete their rasters under ``artifacts_dir``; returns their ids.

    Called when a run starts, when the service starts and when runs or jobs are read, so a run
    never stays ``running`` once its process is gone.
    """
    dead = fail_dead_runs(store, host=owner_id().rpartition(":")[0], alive=process_alive)
    _remove_artifacts(artifacts_dir, dead)
    return dead


def _publish(store: Store, run_id: int, results: pd.DataFrame | None, *, counts: dict[str, int],
             raster_path: Path | None, timings: dict[str, float], t0: float) -> None:
    """Publish the run (with ``results``, or those written before) and record the total and publish times."""
    t = time.perf_counter()
    timings["total_s"] = time.perf_counter() - t0
    store.publish_run(run_id, results, timings=timings, counts=counts,
                      raster_path=str(raster_path) if raster_path else None)
    timings["publish_s"] = time.perf_counter() - t


def summarize_counts(results: pd.DataFrame) -> dict[str, int]:
    """Villages per verdict, no-site villages and the total."""
    counts = {v: int((results["verdict"] == v).sum()) for v in VERDICTS}
    counts["no_site"] = int(results["no_site"].sum())
    counts["villages"] = len(results)
    counts["measured"] = int((results["verdict_source"] == "measured").sum())
    return counts
