"""Analysis runs through a store (SQLite and PostGIS): provenance, atomic publication, failures, GeoTIFF."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import rasterio
import shapely
from sqlalchemy import func, select

import coverage.runs.analysis
import coverage.runs.compute
import coverage.runs.partition
import coverage.runs.partition_plan
import coverage.store.storage
from coverage import __version__
from coverage.crs import local_metric_crs, project_xy
from coverage.errors import NotFoundError
from coverage.model.grid import NODATA
from coverage.model.parameters import ModelParameters
from coverage.model.prediction import GOOD
from coverage.model.rules import RuleSet
from coverage.runs.analysis import RunResult, run_analysis
from coverage.schema import Kind, conform
from coverage.store.storage import IngestRecord, Store, frame_fingerprint
from coverage.store.tables import village_results

RULES = RuleSet()
PARAMS = ModelParameters(resolution_m=100.0, workers=1)
KM_LAT = 1 / 111.0  # degrees of latitude per km

# Village A: a 1 km square with a site at its committee point. Village B: the same 20 km north, no
# site near it. R: a residents' committee (NBS 101) east of A, outside the default scope.
A = (119.40, 32.40, 119.41, 32.409)
B = (119.40, 32.40 + 20 * KM_LAT, 119.41, 32.409 + 20 * KM_LAT)
R = (119.41, 32.40, 119.42, 32.409)
CODE_A, CODE_B, CODE_R = "321012101201", "321012101202", "321012101101"
SITE_A = (119.405, 32.4045)
SITE_B = (119.405, 32.4045 + 20 * KM_LAT)


def _record(kind: Kind, name: str) -> IngestRecord:
    return IngestRecord(kind=kind, file_name=name, sha256="0" * 64)


def _villages() -> gpd.GeoDataFrame:
    codes = [CODE_A, CODE_B, CODE_R]
    n = len(codes)
    return conform("villages", {
        "code": codes, "name": ["甲村村委会", "乙村村委会", "某社区居委会"],
        "township_code": ["321012101"] * n, "county_code": ["321012"] * n, "city_code": ["3210"] * n,
        "province_code": ["32"] * n, "committee_lon": [SITE_A[0], None, None],
        "committee_lat": [SITE_A[1], None, None],
    }, [shapely.box(*A), shapely.box(*B), shapely.box(*R)])


def _stations(sites: list[tuple[float, float]], prefix: str) -> gpd.GeoDataFrame:
    """Three n41 sectors of CMCC per site."""
    rows: dict[str, list[Any]] = {k: [] for k in ("site_id", "cell_id", "operator", "rat", "band", "lon", "lat",
                                                  "azimuth_deg", "status", "activated_on")}
    for i, (lon, lat) in enumerate(sites):
        for sector, azimuth in enumerate((0.0, 120.0, 240.0)):
            for key, value in (("site_id", f"{prefix}{i}"), ("cell_id", f"{prefix}{i}-{sector}"),
                               ("operator", "CMCC"), ("rat", "NR"), ("band", "n41"), ("lon", lon),
                               ("lat", lat), ("azimuth_deg", azimuth), ("status", "active"),
                               ("activated_on", dt.date(2024, 1, 1))):
                rows[key].append(value)
    return conform("stations", rows, shapely.points(rows["lon"], rows["lat"]))


def _measurements() -> gpd.GeoDataFrame:
    """Five samples in A: fewer than rules.min_measurements, so no measured verdict; they only
    correct the prediction around them (verdict source ``fused``)."""
    lon = np.full(5, 119.404)
    lat = np.linspace(32.401, 32.408, 5)
    return conform("measurements", {"lon": lon, "lat": lat, "operator": ["CMCC"] * 5, "rat": ["NR"] * 5,
                                    "rsrp_dbm": np.full(5, -90.0), "sinr_db": np.full(5, 10.0)},
                   shapely.points(lon, lat))


@pytest.fixture
def world(store: Store) -> Store:
    """The store holding villages A, B and R, one site in A and five samples."""
    store.write("villages", _villages(), record=_record("villages", "villages.geojson"))
    store.write("stations", _stations([SITE_A], "S"), record=_record("stations", "stations.csv"))
    store.write("measurements", _measurements(), record=_record("measurements", "drive.csv"))
    return store


def _run(store: Store, artifacts: Path | None = None) -> RunResult:
    return run_analysis(store, rules=RULES, params=PARAMS, artifacts_dir=artifacts)


def _result_rows(store: Store, run_id: int) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(village_results)
                                .where(village_results.c.run_id == run_id)).scalar_one())


def test_a_run_records_rules_parameters_fingerprints_version_timings_and_counts(world: Store,
                                                                                 tmp_path: Path) -> None:
    run = _run(world, tmp_path)
    record = world.read_run(run.run_id)
    assert record["status"] == "published" and record["error"] is None
    assert record["started_at"] <= record["finished_at"]
    assert record["rules"] == RULES.to_dict()
    assert record["parameters"] == json.loads(json.dumps(asdict(PARAMS)))  # as stored: tuples become lists
    assert record["code_version"] == __version__
    # fingerprints of exactly what the run read: the village committees in scope, all stations, samples
    assert record["inputs"] == {
        "villages": frame_fingerprint(world.read("villages", committees_only=True)),
        "stations": world.fingerprint("stations"),
        "measurements": world.fingerprint("measurements"),
        "scope": "committees",
        "operators": "all",
    }
    assert record["inputs"]["villages"] != world.fingerprint("villages")  # R is stored but not in scope
    timings = record["timings"]
    for stage in ("read_s", "rasterize_s", "predict_s", "verdicts_s", "geotiff_s", "total_s"):
        assert 0.0 <= timings[stage] <= timings["total_s"], stage
    assert record["counts"] == run.counts == {"covered": 1, "weak": 0, "uncovered": 1, "no_site": 1,
                                              "villages": 2, "measured": 0}
    assert record["raster_path"] == str(run.raster_path)
    assert run.raster_path == tmp_path / f"run-{run.run_id}" / "prediction.tif"


def test_read_results_returns_the_latest_published_run(world: Store) -> None:
    with pytest.raises(NotFoundError):
        world.read_results()
    run = _run(world)
    results = world.read_results()
    assert results.attrs["run_id"] == run.run_id == world.latest_run_id()
    assert results["code"].tolist() == [CODE_A, CODE_B]  # the residents' committee is out of scope
    by_code = results.set_index("code")
    assert by_code.loc[CODE_A, "verdict"] == "covered" and not by_code.loc[CODE_A, "no_site"]
    assert by_code.loc[CODE_A, "n_measurements"] == 5 and by_code.loc[CODE_A, "verdict_source"] == "fused"
    assert by_code.loc[CODE_B, "verdict"] == "uncovered" and by_code.loc[CODE_B, "no_site"]
    assert by_code.loc[CODE_A, "name"] == "甲村村委会"  # joined with the stored villages
    assert results.crs == "EPSG:4326"


def test_a_second_run_publishes_new_verdicts_and_the_first_stays_readable(world: Store) -> None:
    first = _run(world)
    world.write("stations", _stations([SITE_B], "T"), record=_record("stations", "new_site.csv"))
    second = _run(world)
    assert second.run_id > first.run_id
    assert world.latest_run_id() == second.run_id

    latest = world.read_results().set_index("code")
    assert latest.attrs["run_id"] == second.run_id
    assert latest.loc[CODE_B, "verdict"] == "covered" and not latest.loc[CODE_B, "no_site"]
    assert latest.loc[CODE_B, "nearest_site_id"] == "T0"
    old = world.read_results(first.run_id).set_index("code")
    assert old.attrs["run_id"] == first.run_id
    assert old.loc[CODE_B, "verdict"] == "uncovered" and old.loc[CODE_B, "no_site"]
    assert second.counts["covered"] == 2 and first.counts["covered"] == 1

    runs = {r["id"]: r for r in world.list_runs()}
    assert runs[first.run_id]["status"] == runs[second.run_id]["status"] == "published"
    first_inputs, second_inputs = runs[first.run_id]["inputs"], runs[second.run_id]["inputs"]
    assert first_inputs["stations"] != second_inputs["stations"]
    assert first_inputs["villages"] == second_inputs["villages"]
    assert _result_rows(world, first.run_id) == _result_rows(world, second.run_id) == 2


def _fail_in_verdicts(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("boom in the verdicts")

    monkeypatch.setattr(coverage.runs.compute, "village_metrics", boom)


def _fail_inside_publish(monkeypatch: pytest.MonkeyPatch) -> None:
    """The results rows are inserted, then the transaction fails before the run is flipped."""
    insert = coverage.store.storage.insert_rows

    def insert_then_fail(conn: Any, table: Any, rows: Any, chunk: int = 5000) -> None:
        insert(conn, table, rows, chunk)
        if table is village_results:
            raise RuntimeError("boom while publishing")

    monkeypatch.setattr(coverage.store.storage, "insert_rows", insert_then_fail)


@pytest.mark.parametrize("fail", [_fail_in_verdicts, _fail_inside_publish], ids=["verdicts", "publish"])
def test_a_failed_run_leaves_the_previous_run_published(world: Store, monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path, fail: Any) -> None:
    good = _run(world, tmp_path)
    world.write("stations", _stations([SITE_B], "T"), record=_record("stations", "new_site.csv"))
    fail(monkeypatch)
    with pytest.raises(RuntimeError, match="boom"):
        _run(world, tmp_path)
    monkeypatch.undo()

    failed = world.list_runs()[0]
    assert failed["id"] > good.run_id
    assert failed["status"] == "failed"
    assert failed["error"].startswith("RuntimeError: boom")
    assert failed["finished_at"] is not None and failed["counts"] is None
    assert _result_rows(world, failed["id"]) == 0
    assert world.latest_run_id() == good.run_id
    results = world.read_results()
    assert results.attrs["run_id"] == good.run_id
    assert results.set_index("code").loc[CODE_B, "verdict"] == "uncovered"  # not the new site's verdict
    with pytest.raises(NotFoundError, match="failed"):
        world.read_results(failed["id"])
    # the next run after the failure publishes normally
    assert _run(world, tmp_path).counts["covered"] == 2


def test_the_geotiff_has_four_bands_in_the_grid_crs_and_a_site_pixel_is_good(world: Store,
                                                                             tmp_path: Path) -> None:
    run = _run(world, tmp_path)
    assert run.raster_path is not None and run.raster_path.is_file()
    assert not list(run.raster_path.parent.glob("*.partial"))
    grid_crs = local_metric_crs(world.read("villages", committees_only=True))
    with rasterio.open(run.raster_path) as src:
        assert src.count == 4
        assert src.dtypes == ("float32",) * 4
        assert src.nodata == NODATA
        assert pyproj.CRS.from_wkt(src.crs.to_wkt()) == grid_crs
        assert src.res == (PARAMS.resolution_m, PARAMS.resolution_m)
        assert src.descriptions[0] == "ss_rsrp_dbm" and src.descriptions[1] == "ss_sinr_db"
        assert src.descriptions[3].startswith("location_sigma_db")
        rsrp, sinr, cls, sigma = src.read()
        # band B is far from the five samples in A: its standard deviation is the prior's
        (sbx,), (sby,) = project_xy([SITE_B[0]], [SITE_B[1]], grid_crs)
        assert sigma[src.index(sbx, sby)] == RULES.shadow_sigma_db
        (x,), (y,) = project_xy([SITE_A[0]], [SITE_A[1]], grid_crs)
        row, col = src.index(x, y)
        assert cls[row, col] == GOOD
        assert rsrp[row, col] >= RULES.good_rsrp_dbm and sinr[row, col] >= RULES.good_sinr_db
        # far from every site inside B: no signal (class 0), and pixels outside villages are nodata
        (bx,), (by,) = project_xy([SITE_B[0]], [SITE_B[1]], grid_crs)
        brow, bcol = src.index(bx, by)
        assert cls[brow, bcol] == 0 and rsrp[brow, bcol] == NODATA
        between = src.index(x, (y + by) / 2)
        assert cls[between] == NODATA


def test_a_partitioned_run_streams_through_the_store_and_equals_the_single_run(world: Store) -> None:
    """Partitions of one village, read from the store partition by partition and written back as they
    come: the same inputs' fingerprints, counts and results as one process (B's nearest site, S0 in
    A about 20 km away, is beyond the halo and comes from the run's sites)."""
    single = _run(world)
    parted = run_analysis(world, rules=RULES, params=PARAMS, partition_villages=1)
    one, two = world.read_run(single.run_id), world.read_run(parted.run_id)
    assert two["status"] == "published" and two["inputs"] == one["inputs"]
    assert parted.counts == single.counts == two["counts"]
    assert parted.results["nearest_site_id"].tolist() == ["S0", "S0"]
    assert 19_000 < parted.results["nearest_site_m"].iloc[1] < 21_000
    pd.testing.assert_frame_equal(parted.results, single.results)
    pd.testing.assert_frame_equal(world.read_results(parted.run_id), world.read_results(single.run_id))
    for stage in ("read_s", "plan_s", "partitions_s", "write_s", "total_s"):
        assert 0.0 <= two["timings"][stage] <= two["timings"]["total_s"], stage


def test_a_partitioned_run_that_fails_midway_deletes_what_it_wrote(world: Store,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    good = _run(world)
    analyze = coverage.runs.partition.analyze_partition
    written: list[int] = []

    def second_fails(task: Any) -> Any:
        if task.key != coverage.runs.partition_plan.plan_partitions(  # the first (largest) partition is computed
                world.read("villages", committees_only=True), world.read("stations"), rules=RULES,
                params=PARAMS, max_villages=1).partitions[0].key:
            written.append(_result_rows(world, world.list_runs()[0]["id"]))
            raise RuntimeError("boom in a partition")
        return analyze(task)

    monkeypatch.setattr(coverage.runs.partition, "analyze_partition", second_fails)
    monkeypatch.setattr(coverage.runs.analysis, "WRITE_BATCH", 1)  # each partition's results written at once
    with pytest.raises(RuntimeError, match="boom in a partition"):
        run_analysis(world, rules=RULES, params=PARAMS, partition_villages=1)
    monkeypatch.undo()
    failed = world.list_runs()[0]
    assert written == [1]  # the first partition's village was in the run's rows, not visible
    assert failed["status"] == "failed" and _result_rows(world, failed["id"]) == 0
    assert world.latest_run_id() == good.run_id
