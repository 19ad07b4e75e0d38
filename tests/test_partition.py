"""Partitioned analysis: halo, merge, and equality with the single-process run (also on Dask)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely

from coverage.crs import local_metric_crs, project_xy, unproject_xy
from coverage.errors import ConfigError
from coverage.model.fusion import evidence_reach_m
from coverage.model.grid import make_grid
from coverage.model.parameters import ModelParameters
from coverage.model.predict import compile_cells
from coverage.model.rules import RuleSet
from coverage.runs.analysis import analyze_frames
from coverage.runs.partition import FrameInputs, analyze_partitioned, partition_tasks
from coverage.runs.partition_plan import PartitionPlan, halo_m, plan_extents, plan_partitions, stamp_radius_px
from tests.worlds.contract import contract_stations, contract_villages

if TYPE_CHECKING:
    from coverage.store.storage import Store
    from seeds import SeedWorld

RULES = RuleSet()
PARAMS = ModelParameters(workers=1)


def _two_counties() -> gpd.GeoDataFrame:
    """Village A (the fixture's square, county 321012) and village B 20 km east (county 321023)."""
    v = contract_villages()
    v.loc[1, "geometry"] = shapely.box(119.61, 32.40, 119.62, 32.41)
    v.loc[1, ["code", "township_code", "county_code"]] = ["321023101201", "321023101", "321023"]
    return v


def _one_village_partitions() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, PartitionPlan]:
    villages, stations = _two_counties(), contract_stations()
    return villages, stations, plan_partitions(villages, stations, rules=RULES, params=PARAMS, max_villages=1)


def _moved(stations: gpd.GeoDataFrame, rows: list[int], site_ids: list[str], x: list[float], y: list[float],
           crs: object) -> gpd.GeoDataFrame:
    lon, lat = unproject_xy(np.array(x), np.array(y), crs)  # type: ignore[arg-type]
    out = stations.iloc[rows].copy().reset_index(drop=True)
    out["site_id"] = site_ids
    out["lon"], out["lat"] = lon, lat
    return out.set_geometry(gpd.points_from_xy(lon, lat), crs="EPSG:4326")


def test_halo_is_the_largest_stamp_radius_plus_a_pixel() -> None:
    stations = contract_stations()
    villages = _two_counties()
    plan = plan_partitions(villages, stations, rules=RULES, params=PARAMS, max_villages=1)
    grid = make_grid((0.0, 0.0, 100.0, 100.0), plan.crs, 100.0)
    cells, _ = compile_cells(stations, grid, rules=RULES, params=PARAMS)
    # by hand: (largest radius in pixels + 1) x 100 m plus the reach of measurements (3 x 120 m
    # correlation + 2 pixels = 560 m), and never below the 3 km no-site search + 1 pixel
    assert evidence_reach_m(PARAMS) == 560.0
    assert plan.halo_m == max((int(cells["radius_px"].max()) + 1) * 100.0 + 560.0, 3100.0)
    assert halo_m(stations.iloc[:0], plan.crs, rules=RULES, params=PARAMS) == 3100.0
    # both villages lie in the run's first 512-pixel tile (A at its west edge, B about 200 pixels
    # east): quartered to 256 pixels they share quarter 0, quartered again A is in 0 and B in 1
    assert [p.key for p in plan.partitions] == ["0-0/0/0", "0-0/0/1"]
    assert [p.index.tolist() for p in plan.partitions] == [[0], [1]]
    assert plan.lattice is not None and plan.lattice[2] == PARAMS.tile_px


def test_partitions_group_tiles_of_a_row_and_come_largest_first() -> None:
    """Villages on a 4 x 2 pattern of 10-pixel tiles: (row, col) -> villages, grouped along rows."""
    base = contract_villages().iloc[[0]]
    lon0, lat0 = 119.40, 32.40
    rows = []
    # tile (0, 0): 3 villages, (0, 1): 1, (0, 3): 2, (1, 0): 1; 0.004 degrees is about 400 m
    spots = {(0, 0): 3, (0, 1): 1, (0, 3): 2, (1, 0): 1}
    params = ModelParameters(workers=1, tile_px=10)  # 1 km tiles
    for (tr, tc), count in spots.items():
        for k in range(count):
            x = lon0 + tc * 0.0107 + 0.002 + k * 0.0015
            y = lat0 - tr * 0.009 - 0.002
            row = base.copy()
            row["geometry"] = [shapely.box(x, y - 0.001, x + 0.001, y)]
            row["code"] = f"3210121012{len(rows):02d}"
            row["committee_lon"], row["committee_lat"] = x + 0.0005, y - 0.0005
            rows.append(row)
    villages = gpd.GeoDataFrame(pd.concat(rows, ignore_index=True), crs="EPSG:4326")
    plan = plan_partitions(villages, contract_stations(), rules=RULES, params=params, max_villages=4)
    # row 0: tiles 0 and 1 make 4 villages; tile 3 would make 6, so it starts a new group; row 1 alone
    assert [(p.key, p.index.tolist()) for p in plan.partitions] == [
        ("0-0..1", [0, 1, 2, 3]), ("0-3", [4, 5]), ("1-0", [6])]


def test_a_row_of_sparse_tiles_is_cut_where_its_grid_would_pass_the_pixel_limit() -> None:
    """Three 200 m villages on 1 km tiles 0, 5 and 9 of one tile row (metres): one group by village
    count, its grid 400-9,600 m x 200 m = 93 x 3 = 279 pixels at 100 m. With a limit of 200 pixels
    tiles 0 and 5 (400-5,600 m: 53 x 3 = 159 pixels) stay together and tile 9 starts its own."""
    x0 = np.array([400.0, 5_400.0, 9_400.0])
    bounds = np.column_stack([x0, np.full(3, -600.0), x0 + 200.0, np.full(3, -400.0)])
    crs = local_metric_crs((119.0, 32.0, 119.1, 32.1))
    params = ModelParameters(workers=1, tile_px=10)
    plan = plan_extents(bounds, bounds, crs, 0.0, params=params, max_villages=10)
    assert [(p.key, p.index.tolist()) for p in plan.partitions] == [("0-0..9", [0, 1, 2])]
    plan = plan_extents(bounds, bounds, crs, 0.0, params=params, max_villages=10, max_pixels=278)
    assert [(p.key, p.index.tolist()) for p in plan.partitions] == [("0-0..5", [0, 1]), ("0-9", [2])]
    plan = plan_extents(bounds, bounds, crs, 0.0, params=params, max_villages=10, max_pixels=279)
    assert len(plan.partitions) == 1


def test_station_within_the_halo_is_included_and_one_beyond_it_is_not() -> None:
    villages, base, plan = _one_village_partitions()
    minx, miny, _, maxy = plan.partitions[0].bounds_m
    h = plan.halo_m
    # west of village A (away from B): 300 m inside the halo, and 300 m beyond it
    stations = _moved(base, [0, 0], ["NEAR", "FAR"], [minx - h + 300.0, minx - h - 300.0],
                      [(miny + maxy) / 2] * 2, plan.crs)
    tasks = list(partition_tasks(plan, FrameInputs(villages, stations, None, plan.crs), rules=RULES, params=PARAMS))
    assert tasks[0].data.load().stations["site_id"].tolist() == ["NEAR"]
    assert tasks[1].data.load().stations.empty
    assert tasks[0].params.workers == 1
    # the near site is within a stamp radius + pixel + the reach of measurements, or the no-site
    # search of A (so the halo must include it); the far one is beyond both
    grid = make_grid(plan.partitions[0].bounds_m, plan.crs, 100.0)
    cells, _ = compile_cells(stations, grid, rules=RULES, params=PARAMS)
    reach = cells["radius_px"].to_numpy() * 100.0
    x, _ = project_xy(stations["lon"].to_numpy(), stations["lat"].to_numpy(), plan.crs)
    e = evidence_reach_m(PARAMS)
    assert minx - x[0] <= max(reach[0] + 100.0 + e, RULES.search_radius_m + 100.0)
    assert minx - x[1] > max(reach[1] + 100.0 + e, RULES.search_radius_m + 100.0)


def test_partitioned_equals_single_process_on_hand_made_villages() -> None:
    villages, base, plan = _one_village_partitions()
    minx, miny, _, maxy = plan.partitions[0].bounds_m
    h = plan.halo_m
    # the fixture's site inside A, one cell just within the halo west of A, and one 2 halos west
    extra = _moved(base, [0, 0], ["NEAR", "DISTANT"], [minx - h + 300.0, minx - 2 * h],
                   [(miny + maxy) / 2] * 2, plan.crs)
    stations = pd.concat([base, extra], ignore_index=True)
    single, _, _ = analyze_frames(villages, stations, None, rules=RULES, params=PARAMS)
    merged, parts = analyze_partitioned(villages, stations, None, rules=RULES, params=PARAMS, max_villages=1)
    pd.testing.assert_frame_equal(merged, single)
    assert len(parts) == 2
    # B has no site within its halo: its nearest site (S1 in A, about 19 km) comes from the merge
    assert merged.loc[1, "nearest_site_id"] == "S1"
    assert 18_000 < float(merged["nearest_site_m"].iloc[1]) < 20_000
    assert bool(merged.loc[1, "no_site"]) and merged.loc[1, "verdict"] == "uncovered"


def _mr_world() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame, pd.DataFrame]:
    """Villages A and B 20 km apart (one partition each), the contract site in A; in A 40 pixels with two
    CMCC drive-test samples and a well-heard CMCC MR grid each (LTE beside it), CTCC grids with LTE and no
    NR; in B only LTE samples (600 of them, no NR: "no 5G")."""
    villages, stations = _two_counties(), contract_stations()
    k = np.arange(40)
    lon, lat = 119.4015 + 0.001 * (k % 8), 32.4015 + 0.0016 * (k // 8)
    meas = gpd.GeoDataFrame({
        "lon": np.repeat(lon, 2), "lat": np.repeat(lat, 2),
        "measured_at": pd.Timestamp("2026-10-15 10:00:00"), "operator": "CMCC", "rat": "NR", "band": "n41",
        "rsrp_dbm": -96.0 + np.tile([-1.0, 1.0], 40) + np.repeat(3.0 * np.sin(k), 2), "sinr_db": 8.0,
        "dl_mbps": 300.0, "ul_mbps": 40.0, "loss_db": 3.0, "source": "drive_test"},
        geometry=gpd.points_from_xy(np.repeat(lon, 2), np.repeat(lat, 2)), crs="EPSG:4326")

    def rows(lon: np.ndarray, lat: np.ndarray, operator: str, rat: str, samples: int, rsrp: np.ndarray | float
             ) -> pd.DataFrame:
        return pd.DataFrame({
            "lon": lon, "lat": lat, "grid_m": 100.0, "period_start": pd.Timestamp("2026-10-01"),
            "period_end": pd.Timestamp("2026-10-31"), "operator": operator, "rat": rat,
            "band": "n41" if rat == "NR" else "B39", "arfcn": 504990.0 if rat == "NR" else 38400.0, "samples": samples,
            "rsrp_mean_dbm": rsrp, "share_good": 0.4, "threshold_dbm": -105.0, "sinr_mean_db": 5.0, "users": 5.0,
            "dl_mbps": np.nan, "source": "test"})

    b_lon, b_lat = 119.6105 + 0.002 * np.arange(4), np.full(4, 32.405)
    mr = pd.concat([rows(lon, lat, "CMCC", "NR", 200, -107.0 + 2.0 * np.cos(k)),
                    rows(lon, lat, "CMCC", "LTE", 210, -85.0), rows(lon[::3], lat[::3], "CTCC", "LTE", 400, -88.0),
                    rows(b_lon, b_lat, "CMCC", "LTE", 150, -90.0)], ignore_index=True)
    return villages, stations, meas.reset_index(drop=True), mr


def test_partitioned_run_with_mr_equals_single_process() -> None:
    villages, stations, meas, mr = _mr_world()
    timings: dict[str, float] = {}
    single, _, _ = analyze_frames(villages, stations, meas, rules=RULES, params=PARAMS, mr=mr, timings=timings)
    parted: dict[str, float] = {}
    merged, parts = analyze_partitioned(villages, stations, meas, rules=RULES, params=PARAMS, max_villages=1, mr=mr,
                                        timings=parted)
    assert len(parts) == 2
    pd.testing.assert_frame_equal(merged, single)
    # the offset is fitted once on the 40 co-located pixels, the same as the single process's
    assert timings["mr_offset_pixels"] == parted["mr_offset_pixels"] == 40
    assert timings["mr_offset_db"] == parted["mr_offset_db"]
    assert single["mr_samples"].tolist() == [8000 + 8400 + 14 * 400, 600]
    assert single["reasons"].str.endswith(";mr_fused")[0] and single["reasons"].str.endswith(";mr_no_5g")[1]
    # the MR moved A's estimate: without it the results differ
    alone, _, _ = analyze_frames(villages, stations, meas, rules=RULES, params=PARAMS)
    assert alone.loc[0, "committee_rsrp_dbm"] != single.loc[0, "committee_rsrp_dbm"]


def _stored_mr_world(tmp_path: Path) -> Store:
    """The MR world of :func:`_mr_world` stored in a SQLite file, as the CLI's ingests would store it."""
    from coverage.ingest.mr import write_mr_frame
    from coverage.store.storage import IngestRecord, Store

    villages, stations, meas, mr = _mr_world()
    store = Store(f"sqlite:///{tmp_path / 'mr.db'}")
    store.create_schema()
    for kind, frame in (("villages", villages), ("stations", stations), ("measurements", meas)):
        store.write(kind, frame, record=IngestRecord(kind=kind, file_name=f"{kind}.csv", sha256="0" * 64))  # type: ignore[arg-type]
    write_mr_frame(store, mr, file_name="mr.csv", sha256="0" * 64)
    return store


def test_stored_partitioned_run_reads_mr_by_area_and_equals_single_process(tmp_path: Path) -> None:
    from coverage.runs.analysis import run_analysis

    store = _stored_mr_world(tmp_path)
    single = run_analysis(store, rules=RULES, params=PARAMS)
    parted = run_analysis(store, rules=RULES, params=PARAMS, partition_villages=1)
    pd.testing.assert_frame_equal(parted.results, single.results)
    assert single.results["mr_samples"].tolist() == [8000 + 8400 + 14 * 400, 600]
    assert parted.timings_s["mr_offset_db"] == single.timings_s["mr_offset_db"]
    assert store.read_run(parted.run_id)["inputs"] == store.read_run(single.run_id)["inputs"]
    store.dispose()


def test_the_coordinator_reads_only_the_runs_mr_on_measured_pixels(tmp_path: Path) -> None:
    """mr_near_measurements in chunks of a few ids: of the rows latest_mr reads (a chunk whose rows are all
    missing a share included) only those on measured pixels, which give the same offset as all of them; the
    database's count and fingerprint of those rows, as of the whole frame read; nothing without measurements."""
    from coverage.ingest.mr import latest_mr, latest_mr_period, mr_box, stored_mr_fingerprint, write_mr_frame
    from coverage.runs.compute import run_mr_offset
    from coverage.runs.run_mr import mr_near_measurements

    store = _stored_mr_world(tmp_path)
    _v, _s, meas, mr = _mr_world()
    write_mr_frame(store, mr.assign(share_good=np.nan, period_start=pd.Timestamp("2026-10-02")).iloc[-4:],
                   file_name="more.csv", sha256="1" * 64, replace=False)
    villages = store.read("villages")
    b = tuple(float(v) for v in villages.total_bounds)
    whole = latest_mr(store, bounds=b)  # type: ignore[arg-type]
    period = latest_mr_period(store)
    assert period is not None
    crs = local_metric_crs(b)  # type: ignore[arg-type]
    box = mr_box(b, 0.05)
    stored = stored_mr_fingerprint(store, box, period)
    assert stored.rows == len(whole) == len(mr) + 4
    near = mr_near_measurements(store, box, period, meas, crs, PARAMS.resolution_m, chunk_ids=7)
    assert 0 < len(near) < len(whole)
    ex, ey = project_xy(np.array([b[0], b[2]]), np.array([b[1], b[3]]), crs)
    extent = np.array([[ex[0], ey[0], ex[1], ey[1]]])
    assert run_mr_offset(extent, meas, near, crs=crs, params=PARAMS) == \
        run_mr_offset(extent, meas, whole, crs=crs, params=PARAMS)
    assert mr_near_measurements(store, box, period, None, crs, PARAMS.resolution_m).empty
    assert mr_near_measurements(store, box, period, meas.iloc[:0], crs, PARAMS.resolution_m).empty
    store.dispose()


@pytest.mark.slow
def test_dask_workers_read_mr_by_area_and_equal_single_process(tmp_path: Path) -> None:
    """The stored run of the MR world on a two-worker LocalCluster: each worker reads its partition's MR."""
    from coverage.runs.analysis import run_analysis

    store = _stored_mr_world(tmp_path)
    single = run_analysis(store, rules=RULES, params=PARAMS)
    parted = run_analysis(store, rules=RULES, params=PARAMS, workers=2, partition_villages=1)
    pd.testing.assert_frame_equal(parted.results, single.results)
    assert parted.results["reasons"].str.contains("mr_no_5g").tolist() == [False, True]
    store.dispose()


def test_bad_partition_size_is_rejected() -> None:
    with pytest.raises(ConfigError, match="max_villages"):
        plan_partitions(contract_villages(), contract_stations(), rules=RULES, params=PARAMS, max_villages=0)


@pytest.mark.slow
def test_dask_partitions_equal_single_process_on_the_seed_world(tmp_path: Path, seed_world: SeedWorld) -> None:
    """One city of the seed world (Lianyungang: 1,424 village committees, no-site zones on the
    province edge) stored in SQLite and analysed twice: in one process, and in partitions of at most
    300 villages (at least 10) on a two-worker LocalCluster, each partition's rows read from the
    store and its results written back as it comes. Same results; rasters mosaic to the same pixels."""
    from coverage.runs.analysis import run_analysis
    from coverage.store.storage import IngestRecord, Store

    world = seed_world
    # the halo's radius from one cell per radio combination equals the largest over all 144k cells
    crs = local_metric_crs(world.villages)
    cells, _ = compile_cells(world.stations, make_grid((0.0, 0.0, 100.0, 100.0), crs, 100.0), rules=RULES,
                             params=ModelParameters())
    assert stamp_radius_px(world.stations, crs, rules=RULES, params=ModelParameters()) == int(cells["radius_px"].max())
    store = Store(f"sqlite:///{tmp_path / 'lyg.db'}")
    store.create_schema()
    for kind, frame in (("villages", world.villages[world.villages["city_code"] == "3207"]),
                        ("stations", world.stations), ("measurements", world.measurements)):
        store.write(kind, frame.reset_index(drop=True),  # type: ignore[arg-type]
                    record=IngestRecord(kind=kind, file_name=f"{kind}.csv", sha256="0" * 64))  # type: ignore[arg-type]
    params = ModelParameters()
    single = run_analysis(store, rules=RULES, params=params, artifacts_dir=tmp_path / "single")
    parted = run_analysis(store, rules=RULES, params=params, workers=2, partition_villages=300,
                          artifacts_dir=tmp_path / "parts")
    parts = sorted((tmp_path / "parts" / f"run-{parted.run_id}" / "partitions").glob("*.tif"))
    assert len(parts) >= 10
    assert parted.counts == single.counts and single.counts["villages"] == 1424
    pd.testing.assert_frame_equal(parted.results, single.results)
    assert (single.results["verdict_source"] == "measured").any() and single.results["no_site"].any()
    assert store.read_run(parted.run_id)["inputs"] == store.read_run(single.run_id)["inputs"]

    assert single.raster_path is not None and parted.raster_path is not None
    assert parted.raster_path.suffix == ".vrt"
    with rasterio.open(single.raster_path) as a, rasterio.open(parted.raster_path) as b:
        assert a.crs == b.crs and a.res == b.res
        # the partitions' grids are pieces of the single grid: the mosaic covers the same pixels
        assert (b.transform.c, b.transform.f, b.width, b.height) == (a.transform.c, a.transform.f, a.width, a.height)
        np.testing.assert_array_equal(b.read(), a.read())


def test_mr_grids_beyond_the_kriging_reach_of_every_village_are_not_probed_and_change_nothing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import coverage.runs.compute as compute
    from coverage.model.mr_evidence import mr_points

    villages, stations, meas, mr = _mr_world()
    well_heard = mr[(mr["operator"] == "CMCC") & (mr["rat"] == "NR")].iloc[:8]
    # 8 grids 280 m north of village A's edge (within the kriging radius, 3 x 120 m, of its edge pixels) and
    # 8 halfway between A and B, 8 km from both (inside the run's box, beyond every village's reach)
    near = well_heard.assign(lat=32.41 + 0.0025, rsrp_mean_dbm=-80.0)
    far = well_heard.assign(lon=119.5 + 0.001 * np.arange(8), lat=32.405, rsrp_mean_dbm=-80.0)
    probed: list[int] = []
    real_predict = compute.predict

    def predict(*args: object, **kwargs: object) -> object:
        probes = kwargs["probes"]
        probed.append(len(probes[0]))  # type: ignore[index]
        return real_predict(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(compute, "predict", predict)
    run = lambda frame: analyze_frames(villages, stations, meas, rules=RULES, params=PARAMS,  # noqa: E731
                                       mr=frame)
    with_near = pd.concat([mr, near], ignore_index=True)
    results, prediction, _ = run(pd.concat([with_near, far], ignore_index=True))
    _, without_far, _ = run(with_near)
    _, without_near, _ = run(mr)
    monkeypatch.setattr(compute, "near_mask", lambda rows, cols, mask, reach_px: np.ones(len(rows), dtype=bool))
    every, every_prediction, _ = run(pd.concat([with_near, far], ignore_index=True))
    # every grid kept: the far ones predicted as well, and the same results to the last bit
    assert probed[3] - probed[0] == len(mr_points(far)) == 8
    assert probed[0] == probed[1]
    pd.testing.assert_frame_equal(results, every)
    for name in ("rsrp_dbm", "sinr_db", "coverage_class", "sigma_db"):
        np.testing.assert_array_equal(getattr(prediction, name), getattr(every_prediction, name))
        np.testing.assert_array_equal(getattr(prediction, name), getattr(without_far, name))
    # the near grids were kept and moved A's edge pixels
    assert not np.array_equal(prediction.rsrp_dbm, without_near.rsrp_dbm)
