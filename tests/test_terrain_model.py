"""Terrain and land cover in the prediction: a hand-made ridge, flat ground, clutter (coverage.model.predict
with coverage.model.terrain_inputs layers, through coverage.runs.compute.analyze_frames).

The row world (tests/worlds/row.py): one 3-sector CMCC n41 site at the first village's committee; here
at 53 dBm, so that its neighbour 1.5-2.5 km east is covered too. A 90 m north-south ridge at 1.2 km
east of the site, between the two villages, must leave that neighbour weak or uncovered; a flat DEM
(and no DEM) must give today's model exactly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from affine import Affine

from coverage.errors import ValidationError
from coverage.model.parameters import ModelParameters
from coverage.model.rules import DEFAULT_RULES
from coverage.model.terrain_inputs import TerrainSource, check_raster, read_class_table
from coverage.runs.compute import analyze_frames
from tests.worlds.row import KM_LAT, KM_LON, SITE, SOUTH, WEST, row_stations, row_villages

PARAMS = ModelParameters(resolution_m=100.0, workers=1)
PIXEL_DEG = 0.0003  # about 30 m: a DEM finer than the prediction grid, in EPSG:4326 (not the grid's CRS)


def _write(path: Path, data: np.ndarray, west: float, north: float, dtype: str, nodata: float | None) -> Path:
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[1], height=data.shape[0], count=1, dtype=dtype,
                       crs="EPSG:4326", transform=Affine(PIXEL_DEG, 0.0, west, 0.0, -PIXEL_DEG, north),
                       nodata=nodata) as dst:
        dst.write(data.astype(dtype), 1)
    return path


def _dem(tmp_path: Path, ridge_m: float, name: str) -> Path:
    west, north = WEST - 12 * KM_LON, SOUTH + 13 * KM_LAT
    width, height = int(40 * KM_LON / PIXEL_DEG), int(26 * KM_LAT / PIXEL_DEG)
    lon = west + (np.arange(width) + 0.5) * PIXEL_DEG
    east_km = (lon - SITE[0]) / KM_LON
    row = 12.0 + ridge_m * np.exp(-(((east_km - 1.2) / 0.08) ** 2))
    return _write(tmp_path / name, np.repeat(row[None, :], height, axis=0), west, north, "float32", -9999.0)


def _run(stations_power: float, terrain: TerrainSource | None) -> dict[str, str]:
    stations = row_stations()
    stations["power_dbm"] = stations_power
    results, _prediction, _labels = analyze_frames(row_villages(), stations, None, rules=DEFAULT_RULES,
                                                   params=PARAMS, terrain=terrain)
    return dict(zip(results["code"], results["verdict"], strict=True))


def test_a_ridge_between_site_and_village_takes_its_coverage_and_removing_it_restores_it(tmp_path: Path) -> None:
    plain = _run(53.0, None)
    neighbour = "321012101202"
    assert plain[neighbour] == "covered"
    ridge = _run(53.0, TerrainSource(dem_path=_dem(tmp_path, 90.0, "ridge.tif")))
    assert ridge[neighbour] in ("weak", "uncovered")
    assert ridge["321012101201"] == "covered"  # the site's own village is in front of the ridge
    flat = _run(53.0, TerrainSource(dem_path=_dem(tmp_path, 0.0, "flat.tif")))
    assert flat == plain  # no ridge: today's model, village for village


def test_flat_dem_gives_todays_prediction_exactly(tmp_path: Path) -> None:
    stations = row_stations()
    villages = row_villages()
    _r, base, _l = analyze_frames(villages, stations, None, rules=DEFAULT_RULES, params=PARAMS)
    _r, flat, _l = analyze_frames(villages, stations, None, rules=DEFAULT_RULES, params=PARAMS,
                                  terrain=TerrainSource(dem_path=_dem(tmp_path, 0.0, "flat.tif")))
    np.testing.assert_array_equal(base.rsrp_dbm, flat.rsrp_dbm)
    np.testing.assert_array_equal(base.sinr_db, flat.sinr_db)


def test_forest_at_the_receiver_costs_its_p2108_loss(tmp_path: Path) -> None:
    west, north = WEST - 12 * KM_LON, SOUTH + 13 * KM_LAT
    width, height = int(40 * KM_LON / PIXEL_DEG), int(26 * KM_LAT / PIXEL_DEG)
    codes = np.full((height, width), 40, dtype=np.uint8)  # cropland: no clutter loss
    lc_crop = _write(tmp_path / "crop.tif", codes, west, north, "uint8", 0)
    lc_forest = _write(tmp_path / "forest.tif", np.full_like(codes, 10), west, north, "uint8", 0)
    stations = row_stations()
    villages = row_villages()
    _r, base, _l = analyze_frames(villages, stations, None, rules=DEFAULT_RULES, params=PARAMS)
    _r, crop, _l = analyze_frames(villages, stations, None, rules=DEFAULT_RULES, params=PARAMS,
                                  terrain=TerrainSource(landcover_path=lc_crop))
    _r, forest, _l = analyze_frames(villages, stations, None, rules=DEFAULT_RULES, params=PARAMS,
                                    terrain=TerrainSource(landcover_path=lc_forest))
    reached = base.rsrp_dbm > -999
    np.testing.assert_array_equal(base.rsrp_dbm, crop.rsrp_dbm)
    # P.2108 3.1 eq. 2a, trees/forest R = 15 m, w_s = 15 m, h = 1.5 m, 2.565 GHz:
    # theta = atan(13.5 / 15) = 41.99 deg, v = 0.342 sqrt(2.565) sqrt(13.5 x 41.99) = 13.02,
    # J(v) = 6.9 + 20 log10(sqrt(12.92^2 + 1) + 12.92) = 35.15 dB, A_h = 35.15 - 6.03 = 29.1 dB
    drop = (base.rsrp_dbm - forest.rsrp_dbm)[reached]
    assert drop == pytest.approx(np.full(drop.shape, 29.1), abs=0.05)
    # the class's own location variability (6 dB for tree cover) adds to the 8 dB prior: sqrt(64 + 36) = 10
    assert forest.sigma_db is not None and base.sigma_db is not None
    np.testing.assert_allclose(forest.sigma_db[reached], 10.0, rtol=1e-6)
    np.testing.assert_allclose(base.sigma_db[reached], 8.0, rtol=1e-6)


def test_bad_rasters_and_class_tables_are_rejected_with_the_file_named(tmp_path: Path) -> None:
    text = tmp_path / "dem.tif"
    text.write_text("not a raster")
    with pytest.raises(ValidationError, match=r"dem\.tif"):
        check_raster(text, "dem")
    floats = _write(tmp_path / "lc.tif", np.zeros((4, 4)), WEST, SOUTH, "float32", None)
    with pytest.raises(ValidationError, match="integer class codes"):
        check_raster(floats, "landcover")
    table = tmp_path / "classes.csv"
    table.write_text("code,name,clutter_type,height_m,sigma_db\n10,林地,urban_trees_forest,15,6\n11,x,jungle,3,2\n",
                     encoding="utf-8")
    with pytest.raises(ValidationError, match=r"classes\.csv.*jungle"):
        read_class_table(table)
    table.write_text("code,name,clutter_type,height_m,sigma_db\n10,林地,urban_trees_forest,high,6\n", encoding="utf-8")
    with pytest.raises(ValidationError, match="第 2 行"):
        read_class_table(table)


def test_cli_ingests_a_dem_and_the_runs_fingerprint_follows_it(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from api.cli import app
    from coverage.runs.refresh import inputs_changed
    from coverage.store.storage import Store
    from tests.worlds.row import build_row_world

    data = tmp_path / "data"
    db = f"sqlite:///{tmp_path / 'v.db'}"
    store = Store(db)
    store.create_schema()
    build_row_world(store, analyze=False)
    runner = CliRunner(env={"VILLAGE5G_DATA_DIR": str(data)})

    def cli(*args: str) -> str:
        result = runner.invoke(app, ["--db", db, *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    bad = tmp_path / "bad.tif"
    bad.write_text("no raster")
    result = runner.invoke(app, ["--db", db, "ingest", "dem", str(bad)])
    assert result.exit_code == 1 and "bad.tif" in result.output
    assert not (data / "terrain" / "dem.tif").exists()

    flat = _dem(tmp_path, 0.0, "flat.tif")
    assert "stored dem flat.tif" in cli("ingest", "dem", str(flat))
    assert (data / "terrain" / "dem.tif").exists()
    cli("analyze", "--resolution", "100")
    first = store.read_run(store.latest_run_id() or 0)
    assert first["inputs"]["dem"] == store.last_ingests(1)["sha256"].iloc[0]
    assert not inputs_changed(store)
    ridge = _dem(tmp_path, 90.0, "ridge.tif")
    cli("ingest", "dem", str(ridge))
    assert inputs_changed(store)  # a changed DEM changes the inputs: a refresh analyses again
    cli("analyze", "--resolution", "100")
    second = store.read_run(store.latest_run_id() or 0)
    assert second["inputs"]["dem"] != first["inputs"]["dem"]
    cli("analyze", "--no-terrain")
    assert "dem" not in store.read_run(store.latest_run_id() or 0)["inputs"]
    # a new seed world (without --terrain) removes the stored terrain: files and fingerprints
    from coverage.ingest.terrain import clear_terrain, stored_terrain_source, terrain_fingerprints

    assert clear_terrain(store, data / "terrain") == ["dem"]
    assert terrain_fingerprints(store) == {} and stored_terrain_source(store, data / "terrain") == (None, {})
    assert not (data / "terrain" / "dem.tif").exists()
    store.dispose()


def test_api_takes_a_dem_upload_from_an_admin_only(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from coverage.ingest.terrain import terrain_fingerprints
    from coverage.store.storage import Store
    from tests.utils.api import app_for, key
    from tests.worlds.row import build_row_world

    store = Store(f"sqlite:///{tmp_path / 'api.db'}")
    store.create_schema()
    build_row_world(store, analyze=False)
    dem = _dem(tmp_path, 90.0, "ridge.tif")
    with TestClient(app_for(store, tmp_path)) as client:
        def upload(headers: dict[str, str], name: str = "ridge.tif", body: bytes | None = None) -> Any:
            return client.post("/ingest/dem", files={"file": (name, body if body is not None else dem.read_bytes())},
                               headers=headers)

        assert upload(key(store, "auditor")).status_code == 403
        bad = upload(key(store, "admin"), "text.tif", b"no raster")
        assert bad.status_code == 422 and "text.tif" in bad.text and "village5g-upload" not in bad.text
        assert terrain_fingerprints(store) == {}
        ok = upload(key(store, "admin"))
        assert ok.status_code == 201, ok.text
        body = ok.json()
        assert body["kind"] == "dem" and body["sha256"] == terrain_fingerprints(store)["dem"]
        assert (tmp_path / "data" / "terrain" / "dem.tif").exists()
    store.dispose()


def test_partitioned_run_with_terrain_equals_the_single_process_run(tmp_path: Path) -> None:
    from coverage.ingest.terrain import store_terrain
    from coverage.runs.analysis import run_analysis
    from coverage.store.storage import Store
    from tests.worlds.row import build_row_world

    store = Store(f"sqlite:///{tmp_path / 'p.db'}")
    store.create_schema()
    build_row_world(store, analyze=False)
    folder = tmp_path / "terrain"
    store_terrain(store, "dem", _dem(tmp_path, 90.0, "ridge.tif"), folder)
    west, north = WEST - 12 * KM_LON, SOUTH + 13 * KM_LAT
    codes = np.full((int(26 * KM_LAT / PIXEL_DEG), int(40 * KM_LON / PIXEL_DEG)), 40, np.uint8)
    codes[:, : codes.shape[1] // 2] = 10  # forest in the west half
    store_terrain(store, "landcover", _write(tmp_path / "lc.tif", codes, west, north, "uint8", 0), folder)
    single = run_analysis(store, rules=DEFAULT_RULES, params=PARAMS, terrain_dir=folder)
    parted = run_analysis(store, rules=DEFAULT_RULES, params=PARAMS, terrain_dir=folder, partition_villages=2)
    flat = run_analysis(store, rules=DEFAULT_RULES, params=PARAMS, terrain=False)
    import pandas as pd

    pd.testing.assert_frame_equal(parted.results, single.results)
    assert store.read_run(parted.run_id)["inputs"] == store.read_run(single.run_id)["inputs"]
    assert {"dem", "landcover"} <= set(store.read_run(single.run_id)["inputs"])
    assert not single.results["committee_rsrp_dbm"].equals(flat.results["committee_rsrp_dbm"])
    store.dispose()


def test_calibration_learns_a_land_cover_class_offset_and_the_prior_applies_it(tmp_path: Path) -> None:
    import pandas as pd

    from coverage.model.calibration import _class_offsets

    rng = np.random.default_rng(3)
    n = 600
    rows, cols = rng.integers(0, 40, n), rng.integers(0, 40, n)
    landcover = np.full((40, 40), 40, np.uint8)
    landcover[:, :20] = 10  # forest in the west half: the model is 6 dB too strong there
    left = np.where(landcover[rows, cols] == 10, -6.0, 0.0) + rng.normal(0.0, 2.0, n)
    samples = pd.DataFrame({"row": rows, "col": cols, "village": [""] * n})
    offsets, rest = _class_offsets(samples, left, landcover)
    got = dict(offsets)
    assert got[10] == pytest.approx(-6.0, abs=0.5) and got[40] == pytest.approx(0.0, abs=0.5)
    assert float(np.std(rest)) < 2.5  # what is left is the noise

    # a class offset moves the prior of the location effect at that class's pixels, nowhere else
    west, north = WEST - 12 * KM_LON, SOUTH + 13 * KM_LAT
    codes = np.full((int(26 * KM_LAT / PIXEL_DEG), int(40 * KM_LON / PIXEL_DEG)), 40, np.uint8)
    source = TerrainSource(landcover_path=_write(tmp_path / "crop.tif", codes, west, north, "uint8", 0))
    _r, base, _l = analyze_frames(row_villages(), row_stations(), None, rules=DEFAULT_RULES, params=PARAMS,
                                  terrain=source)
    shifted = ModelParameters(resolution_m=100.0, workers=1, class_offsets=((40, -5.0),))
    _r, moved, _l = analyze_frames(row_villages(), row_stations(), None, rules=DEFAULT_RULES, params=shifted,
                                   terrain=source)
    reached = base.rsrp_dbm > -999
    np.testing.assert_allclose((base.rsrp_dbm - moved.rsrp_dbm)[reached & (moved.rsrp_dbm > -999)], 5.0, atol=1e-4)
