"""The seed world: real Jiangsu divisions plus synthetic township/village polygons, 5G stations and
drive-test measurements drawn from a documented "true" signal field.

Entry point: :func:`build_world`. Everything synthetic is labelled (``synthetic`` in the divisions,
``source == "synthetic-seed"`` in villages, stations and measurements). The same seed gives
byte-identical frames (:func:`world_checksums`). All reprojection goes through
:mod:`coverage.crs`; the generator itself works in metres in :data:`METRIC_CRS`.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from numpy.typing import NDArray

from coverage.crs import WGS84, local_metric_crs, to_lonlat, to_metric, unproject_xy
from coverage.errors import bi
from coverage.schema import (
    MEASUREMENT_COLUMNS,
    STATION_COLUMNS,
    VILLAGE_COLUMNS,
    VILLAGE_COMMITTEE_MAX,
    VILLAGE_COMMITTEE_MIN,
)
from seeds.data import PROVINCE_CODE, PROVINCE_NAME, RealData, load_real_data
from seeds.field import FIELD, TrueField, drive_tests
from seeds.stations import StationPlan, Stations, place_stations
from seeds.terrain import SeedTerrain
from seeds.tessellate import blob_polygons, polygonal, sample_points, tile_groups

#: WGS84 bounds of the shipped Jiangsu province polygon (lon_min, lat_min, lon_max, lat_max).
JIANGSU_BOUNDS = (116.353805, 30.767185, 121.953827, 35.141629)
#: The generator's metric CRS: coverage.crs's transverse Mercator for Jiangsu (lon_0 = 119).
METRIC_CRS = local_metric_crs(JIANGSU_BOUNDS)
SOURCE = "synthetic-seed"
DEFAULT_SEED = 20261126
COORD_DECIMALS = 6  # point coordinates (committee, station, sample): ~0.1 m, like GPS logs
DIVISION_COLUMNS = ["code", "name", "level", "parent_code", "synthetic", "host_code"]

# Layout parameters (documented in seeds/README.md).
LLOYD_ITERATIONS = 2
STREET_AREA_WEIGHT = 3.0  # a town (镇) is ~3x the area of an urban street (街道)
RC_AREA_WEIGHT = 5.0  # a village committee is ~5x the area of a residents' committee


@dataclass
class SeedWorld:
    """The generated world. All frames are EPSG:4326.

    ``divisions``: ``code, name, level, parent_code, synthetic, host_code, geometry`` with levels
    province, city, county, township. ``villages``, ``stations``, ``measurements``: exactly the
    canonical columns of :mod:`coverage.schema` plus ``geometry``. ``truth``: parameters of the true
    signal field and generator statistics (JSON-serialisable). ``true_field``: the field itself, to
    evaluate the truth at arbitrary points in :data:`METRIC_CRS` (not part of the checksums).
    """

    divisions: gpd.GeoDataFrame
    villages: gpd.GeoDataFrame
    stations: gpd.GeoDataFrame
    measurements: gpd.GeoDataFrame
    truth: dict[str, Any]
    true_field: TrueField | None = field(default=None, repr=False, compare=False)
    #: The DEM and land cover of a world built with ``terrain=True`` (:meth:`SeedTerrain.write`).
    terrain: SeedTerrain | None = field(default=None, repr=False, compare=False)


# -- reprojection (through coverage.crs) ----------------------------------------------------------


def _geoms_to_metric(geoms: NDArray[np.object_], crs: pyproj.CRS = METRIC_CRS) -> NDArray[np.object_]:
    return np.asarray(to_metric(gpd.GeoSeries(geoms, crs=WGS84), crs).array, dtype=object)


def _geoms_to_wgs84(geoms: NDArray[np.object_], crs: pyproj.CRS = METRIC_CRS) -> NDArray[np.object_]:
    out = np.asarray(to_lonlat(gpd.GeoSeries(geoms, crs=crs)).array, dtype=object)
    bad = ~shapely.is_valid(out)
    if bad.any():  # a sliver can fold when its vertices move; repair, keep the polygonal part
        out[bad] = polygonal(shapely.make_valid(out[bad]))
    return out


def _points_to_wgs84(x: NDArray[np.float64], y: NDArray[np.float64], crs: pyproj.CRS = METRIC_CRS
                     ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    lon, lat = unproject_xy(x, y, crs)
    return np.round(lon, COORD_DECIMALS), np.round(lat, COORD_DECIMALS)


# -- townships and villages -----------------------------------------------------------------------


def _largest_part(geoms: NDArray[np.object_]) -> NDArray[np.object_]:
    parts, idx = shapely.get_parts(geoms, return_index=True)
    area = shapely.area(parts)
    order = np.lexsort((-area, idx))
    first = order[np.r_[True, idx[order][1:] != idx[order][:-1]]]
    return parts[first]


def _disc_radius(share: NDArray[np.float64], area: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.sqrt(share * area / np.pi)


@dataclass
class _Townships:
    codes: NDArray[np.str_]  # sorted
    cells: NDArray[np.object_]  # metric
    seat_x: NDArray[np.float64]  # a point inside each township (its final Voronoi seed)
    seat_y: NDArray[np.float64]


def _build_townships(real: RealData, rng: np.random.Generator, crs: pyproj.CRS = METRIC_CRS) -> _Townships:
    """Tile every county polygon (a host shared with its development zone) with its townships:
    urban streets (街道) in a core round the county seat, a development zone's townships in a
    block of the host away from that core, towns and the rest over the remainder."""
    counties = real.counties
    has_poly = counties.geometry.notna().to_numpy()
    poly_codes = counties["code"].to_numpy()[has_poly]
    parents = _geoms_to_metric(counties.geometry.to_numpy()[has_poly], crs)

    tw = real.townships  # sorted by code
    codes = tw["code"].to_numpy()
    county = tw["county_code"].to_numpy()
    host = np.array([real.hosts.get(c, c) for c in county])
    pidx = np.searchsorted(poly_codes, host)
    orphan = poly_codes[np.minimum(pidx, len(poly_codes) - 1)] != host
    if orphan.any():
        raise ValueError("county " + ", ".join(sorted(set(county[orphan]))) + " has townships but no polygon "
                         "and no host county with one")

    n_par = len(parents)
    area = shapely.area(parents)
    seat = shapely.point_on_surface(_largest_part(parents))
    seat_x, seat_y = shapely.get_x(seat), shapely.get_y(seat)
    is_zone = county != host
    is_street = np.array([c[6] == "0" for c in codes]) & ~is_zone
    n_street = np.bincount(pidx, is_street, n_par)
    n_zone = np.bincount(pidx, is_zone, n_par)
    n_other = np.bincount(pidx, ~is_street & ~is_zone, n_par)
    n_all = n_street + n_zone + n_other

    # Group 0: streets in an urban core (where the county also has towns); group 1: the
    # development zone; group 2: the rest.
    street_core = (n_street > 0) & (n_other > 0)
    group = np.full(len(codes), 2, np.intp)
    group[is_street & street_core[pidx]] = 0
    group[is_zone] = 1
    s_street = n_street / np.maximum(n_street + STREET_AREA_WEIGHT * (n_other + n_zone), 1e-9)
    r_street = _disc_radius(np.clip(s_street, 0.01, 0.6), area)
    r_zone = _disc_radius(n_zone / np.maximum(n_all, 1), area)
    core_street = np.full(n_par, None, dtype=object)
    sc = np.nonzero(street_core)[0]
    core_street[sc] = blob_polygons(rng, seat_x[sc], seat_y[sc], r_street[sc])
    core_zone = np.full(n_par, None, dtype=object)
    zp = np.nonzero(n_zone > 0)[0]
    if zp.size:
        excl = np.full((zp.size, 1, 3), np.nan)
        excl[:, 0, 0], excl[:, 0, 1] = seat_x[zp], seat_y[zp]
        excl[:, 0, 2] = np.where(street_core[zp], r_street[zp], 0.0) + r_zone[zp]
        ax, ay = sample_points(rng, parents, zp, exclude=excl)
        core_zone[zp] = blob_polygons(rng, ax, ay, r_zone[zp])
    cells, x, y = tile_groups(rng, parents, pidx, group, [core_street, core_zone],
                              iterations=LLOYD_ITERATIONS)
    return _Townships(codes=codes, cells=cells, seat_x=x, seat_y=y)


@dataclass
class _Villages:
    frame: pd.DataFrame  # code, name, township_code, county_code, city_code; sorted by code
    cells: NDArray[np.object_]  # metric
    x: NDArray[np.float64]  # committee point, metric
    y: NDArray[np.float64]
    is_vc: NDArray[np.bool_]


def _build_villages(real: RealData, towns: _Townships, rng: np.random.Generator) -> _Villages:
    """Tile every township with its village-level units: residents' committees (and the other
    non-village units) in a town core round the township seat, village committees over the rest."""
    v = real.villages.reset_index(drop=True)
    pidx = np.searchsorted(towns.codes, v["township_code"].to_numpy())
    unit = np.array([int(c[9:12]) for c in v["code"].to_numpy()])
    is_vc = (unit >= VILLAGE_COMMITTEE_MIN) & (unit <= VILLAGE_COMMITTEE_MAX)
    parents = towns.cells
    n_par = len(parents)
    area = shapely.area(parents)
    n_vc = np.bincount(pidx, is_vc, n_par)
    n_rc = np.bincount(pidx, ~is_vc, n_par)
    share = n_rc / np.maximum(n_rc + RC_AREA_WEIGHT * n_vc, 1e-9)
    core = np.nonzero((n_vc > 0) & (n_rc > 0))[0]
    blobs = np.full(n_par, None, dtype=object)
    blobs[core] = blob_polygons(rng, towns.seat_x[core], towns.seat_y[core],
                                _disc_radius(np.clip(share[core], 0.01, 0.8), area[core]))
    group = np.where(is_vc, 1, 0).astype(np.intp)
    cells, x, y = tile_groups(rng, parents, pidx, group, [blobs], iterations=LLOYD_ITERATIONS)
    return _Villages(frame=v, cells=cells, x=x, y=y, is_vc=is_vc)


def _population(rng: np.random.Generator, unit: NDArray[np.int64]
                ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Lognormal population: village committees ~1,000-5,000, residents' committees
    ~3,000-10,000, other units (4xx/5xx: farms, parks, virtual communities) smaller; households
    from a household size N(2.8, 0.12) clipped to 2.3-3.4."""
    n = len(unit)
    z = rng.standard_normal(n)
    is_vc = (unit >= VILLAGE_COMMITTEE_MIN) & (unit <= VILLAGE_COMMITTEE_MAX)
    is_rc = unit < VILLAGE_COMMITTEE_MIN
    median = np.where(is_vc, 2300.0, np.where(is_rc, 5500.0, 1500.0))
    sigma = np.where(is_vc, 0.4, np.where(is_rc, 0.35, 0.6))
    lo = np.where(is_vc, 500.0, np.where(is_rc, 1200.0, 100.0))
    hi = np.where(is_vc, 9000.0, np.where(is_rc, 20000.0, 8000.0))
    pop = np.clip(np.round(median * np.exp(sigma * z)), lo, hi).astype(np.int64)
    size = np.clip(2.8 + 0.12 * rng.standard_normal(n), 2.3, 3.4)
    households = np.maximum(np.round(pop / size), 1).astype(np.int64)
    return pop, households


# -- frames ---------------------------------------------------------------------------------------


def _divisions(real: RealData, towns: _Townships, crs: pyproj.CRS = METRIC_CRS,
               province_code: str = PROVINCE_CODE) -> gpd.GeoDataFrame:
    prov, cities, counties = real.province, real.cities, real.counties
    tw = real.townships.set_index("code").loc[list(towns.codes)]
    frames = [
        pd.DataFrame({"code": prov["code"], "name": prov["name"], "level": "province",
                      "parent_code": None, "synthetic": False, "host_code": None,
                      "geometry": prov.geometry.to_numpy()}),
        pd.DataFrame({"code": cities["code"], "name": cities["name"], "level": "city",
                      "parent_code": province_code, "synthetic": False, "host_code": None,
                      "geometry": cities.geometry.to_numpy()}),
        pd.DataFrame({"code": counties["code"], "name": counties["name"], "level": "county",
                      "parent_code": counties["city_code"], "synthetic": False,
                      "host_code": [real.hosts.get(c) for c in counties["code"]],
                      "geometry": counties.geometry.to_numpy()}),
        pd.DataFrame({"code": towns.codes, "name": tw["name"].to_numpy(), "level": "township",
                      "parent_code": tw["county_code"].to_numpy(), "synthetic": True,
                      "host_code": None, "geometry": _geoms_to_wgs84(towns.cells, crs)}),
    ]
    df = pd.concat(frames, ignore_index=True)
    for col in ("code", "name", "level", "parent_code", "host_code"):
        df[col] = df[col].astype("str")  # a missing parent/host stays missing (NaN)
    df["synthetic"] = df["synthetic"].astype(bool)
    return gpd.GeoDataFrame(df, geometry="geometry", crs="EPSG:4326")


def _village_frame(real: RealData, vil: _Villages, pop: NDArray[np.int64], hh: NDArray[np.int64],
                   crs: pyproj.CRS = METRIC_CRS, province_code: str = PROVINCE_CODE,
                   province_name: str = PROVINCE_NAME) -> gpd.GeoDataFrame:
    v = vil.frame
    township = dict(zip(real.townships["code"], real.townships["name"], strict=True))
    county = dict(zip(real.counties["code"], real.counties["name"], strict=True))
    city = dict(zip(real.cities["code"], real.cities["name"], strict=True))
    lon, lat = _points_to_wgs84(vil.x, vil.y, crs)
    df = pd.DataFrame({
        "code": v["code"].to_numpy(),
        "name": v["name"].to_numpy(),
        "township_code": v["township_code"].to_numpy(),
        "township_name": v["township_code"].map(township).to_numpy(),
        "county_code": v["county_code"].to_numpy(),
        "county_name": v["county_code"].map(county).to_numpy(),
        "city_code": v["city_code"].to_numpy(),
        "city_name": v["city_code"].map(city).to_numpy(),
        "province_code": province_code,
        "province_name": province_name,
        "committee_lon": lon,
        "committee_lat": lat,
        "population": pop,
        "households": hh,
        "source": SOURCE,
    })
    return _conform(df, VILLAGE_COLUMNS, _geoms_to_wgs84(vil.cells, crs))


def _conform(df: pd.DataFrame, columns: tuple[Any, ...], geometry: Any) -> gpd.GeoDataFrame:
    out = df[[c.name for c in columns]].copy()
    for c in columns:
        if c.dtype == "str":
            out[c.name] = out[c.name].astype("str")
        elif c.dtype == "float":
            out[c.name] = out[c.name].astype(np.float64)
        elif c.dtype == "int":
            out[c.name] = out[c.name].astype(np.int64)
        elif c.dtype in ("date", "datetime"):
            out[c.name] = out[c.name].astype("datetime64[ns]")
    return gpd.GeoDataFrame(out, geometry=geometry, crs="EPSG:4326")


def _point_frame(df: pd.DataFrame, columns: tuple[Any, ...], crs: pyproj.CRS = METRIC_CRS) -> gpd.GeoDataFrame:
    lon, lat = _points_to_wgs84(df["x"].to_numpy(), df["y"].to_numpy(), crs)
    df = df.assign(lon=lon, lat=lat, source=SOURCE)
    return _conform(df, columns, gpd.points_from_xy(lon, lat))


def _zones_wgs84(st: Stations) -> dict[str, list[dict[str, float]]]:
    out: dict[str, list[dict[str, float]]] = {}
    for kind, zones in (("no_site", st.nosite_zones), ("sparse", st.sparse_zones)):
        lon, lat = _points_to_wgs84(zones[:, 0], zones[:, 1])
        out[kind] = [{"lon": float(a), "lat": float(b), "radius_m": round(float(r), 1)}
                     for a, b, r in zip(lon, lat, zones[:, 2], strict=True)]
    return out


def _statistics(st: Stations, tfield: TrueField, vil: _Villages, towns: _Townships
                ) -> dict[str, Any]:
    """Counts and the coverage arrangement the tests and README quote."""
    cells = st.cells
    active = cells[cells["status"] == "active"].drop_duplicates("site_id")
    tree = shapely.STRtree(shapely.points(active["x"].to_numpy(), active["y"].to_numpy()))
    vc = np.nonzero(vil.is_vc)[0]
    _, dist = tree.query_nearest(vil.cells[vc], return_distance=True, all_matches=False)
    has_inside = np.zeros(len(vil.is_vc), bool)
    has_inside[active["village_index"].to_numpy()] = True
    # True best-server quality at the committee points (outdoors, no measurement noise).
    q = tfield.committee_quality(vil.x[vc], vil.y[vc])
    gnbs = cells.drop_duplicates(["site_id", "operator"])
    n_vc = len(vc)
    return {
        "villages": len(vil.frame),
        "village_committees": n_vc,
        "townships": len(towns.codes),
        "sites": int(cells["site_id"].nunique()),
        "gnbs": len(gnbs),
        "cells": len(cells),
        "gnbs_per_operator": {str(k): int(v) for k, v in
                              sorted(gnbs["operator"].value_counts().items())},
        "cells_per_band": {str(k): int(v) for k, v in
                           sorted(cells["band"].value_counts().items())},
        "cells_per_status": {str(k): int(v) for k, v in
                             sorted(cells["status"].value_counts().items())},
        "gnbs_per_village_committee": round(len(gnbs) / max(n_vc, 1), 3),
        "gnbs_inside_village_committees_per_vc": round(st.gnbs_in_vc / max(n_vc, 1), 3),
        "vc_without_active_site_inside_share": round(float((~has_inside[vc]).mean()), 4),
        "vc_no_active_site_within_3km_share": round(float((dist > 3000.0).mean()), 4),
        "vc_true_good_share": round(float(q["good"].mean()), 4),
        "vc_true_weak_share": round(float(q["weak"].mean()), 4),
        "vc_true_uncovered_share": round(float((~q["good"] & ~q["weak"]).mean()), 4),
    }


# -- entry points ---------------------------------------------------------------------------------


def build_world(*, seed: int = DEFAULT_SEED,
                progress: Callable[[str], None] | None = None, terrain: bool = False) -> SeedWorld:
    """Build the seed world for Jiangsu.

    Parameters
    ----------
    seed : master seed; every random stream is derived from it (numpy ``SeedSequence.spawn``), so
        the same seed gives byte-identical frames on the same library versions.
    progress : optional callback receiving one short message per stage (with elapsed seconds).
    terrain : add a synthetic DEM and land cover (:mod:`seeds.terrain`, ``world.terrain``) and put their
        losses in the true field (so in the drive tests); off by default, which leaves the world
        exactly as without this option (its own random stream).

    Returns
    -------
    SeedWorld with frames in EPSG:4326 (see :class:`SeedWorld`). ``activated_on`` is
    ``datetime64[ns]`` at midnight (NaT for planned cells); ``measured_at`` is naive
    ``datetime64[ns]`` in Asia/Shanghai local time; codes are text (pandas ``str``).
    """
    t0 = time.perf_counter()
    timings: dict[str, float] = {}

    def step(chinese: str, english: str) -> None:
        now = time.perf_counter() - t0
        timings[english.split(" (")[0]] = round(now, 3)  # the truth's timings keep their English keys
        if progress is not None:
            progress(bi(f"{chinese}（{now:.1f} 秒）", f"{english} ({now:.1f} s)"))

    rng_town, rng_vil, rng_pop, rng_sta, rng_field, rng_meas = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(6))

    real = load_real_data()
    lon0, lat0, lon1, lat1 = (float(b) for b in real.province.total_bounds)
    bounds = (lon0, lat0, lon1, lat1)
    if local_metric_crs(bounds) != METRIC_CRS:
        raise ValueError("the shipped province polygon moved: update JIANGSU_BOUNDS")
    step("读取真实行政区划", "read the real divisions")
    towns = _build_townships(real, rng_town)
    counties = len(real.counties) - len(real.hosts)
    step(f"用 {len(towns.codes):,} 个乡镇铺满 {counties:,} 个县级区划",
         f"tiled {counties:,} county polygons with {len(towns.codes):,} townships")
    vil = _build_villages(real, towns, rng_vil)
    unit = np.array([int(c[9:12]) for c in vil.frame["code"].to_numpy()], np.int64)
    pop, hh = _population(rng_pop, unit)
    step(f"用 {len(vil.frame):,} 个村级单位铺满各乡镇",
         f"tiled the townships with {len(vil.frame):,} village-level units")

    province_m = _geoms_to_metric(real.province.geometry.to_numpy())[0]
    plan = StationPlan(cells=vil.cells, x=vil.x, y=vil.y, is_vc=vil.is_vc, population=pop,
                       county_codes=vil.frame["county_code"].to_numpy(), province=province_m)
    st = place_stations(plan, rng_sta)
    step(f"布设站址 {st.n_sites:,} 个、gNB {st.n_gnbs:,} 个、小区 {len(st.cells):,} 个",
         f"placed {st.n_sites:,} sites, {st.n_gnbs:,} gNBs, {len(st.cells):,} cells")

    world_terrain = None
    if terrain:
        world_terrain = SeedTerrain.build(np.random.default_rng(np.random.SeedSequence([seed, 22])),
                                          bounds_m=tuple(float(b) for b in shapely.bounds(province_m)),  # type: ignore[arg-type]
                                          crs=METRIC_CRS, village_xy=np.column_stack([vil.x, vil.y]))
        step("生成地形（DEM 与土地覆盖）", "built the terrain (DEM and land cover)")
    tfield = TrueField.build(rng_field, cells=st.cells, province=province_m,
                             towns_cells=towns.cells, town_codes=towns.codes,
                             county_codes=sorted(real.counties["code"]), terrain=world_terrain)
    step("生成真实信号场", "built the true signal field")
    meas = drive_tests(rng_meas, tfield, plan=plan, nosite=st.nosite_village,
                       sparse=st.sparse_village)
    step(f"路测 {meas.n_routes:,} 条路线，采样 {len(meas.frame):,} 个",
         f"drove {meas.n_routes:,} routes, {len(meas.frame):,} samples")

    divisions = _divisions(real, towns)
    villages = _village_frame(real, vil, pop, hh)
    stations = _point_frame(st.cells, STATION_COLUMNS)
    # the drive-test team declares its car's loss (the field's vehicle loss), as a real source must
    measurements = _point_frame(meas.frame.assign(loss_db=FIELD["vehicle_loss_db"]), MEASUREMENT_COLUMNS)
    stats = _statistics(st, tfield, vil, towns)
    truth: dict[str, Any] = {
        "seed": int(seed),
        "generator": "seeds.world.build_world",
        "metric_crs": METRIC_CRS.srs,
        "layout": {
            "lloyd_iterations": LLOYD_ITERATIONS,
            "street_area_weight": STREET_AREA_WEIGHT,
            "residents_committee_area_weight": RC_AREA_WEIGHT,
            "dev_zone_hosts": {k: real.hosts[k] for k in sorted(real.hosts)},
        },
        "stations": copy.deepcopy(st.params),
        "zones": _zones_wgs84(st),
        "field": copy.deepcopy(tfield.params()),
        "measurements": copy.deepcopy(meas.params),
        "stats": stats,
    }
    if world_terrain is not None:
        truth["terrain"] = world_terrain.params()
    step("组装数据表", "assembled the frames")
    truth["timings_s"] = timings
    return SeedWorld(divisions=divisions, villages=villages, stations=stations,
                     measurements=measurements, truth=truth, true_field=tfield, terrain=world_terrain)


def _canonical_csv(frame: pd.DataFrame, *, header: bool = True) -> bytes:
    """Deterministic CSV of a frame: floats to 7 decimals, ISO timestamps, empty for missing,
    geometry as WKB hex (little endian, 2D) with coordinates rounded to 1e-7.

    Every value is written on its own, so the CSV of frames concatenated (same columns and dtypes) is
    the first frame's CSV followed by the others' without ``header``."""
    is_geo = isinstance(frame, gpd.GeoDataFrame)
    df = pd.DataFrame(frame.drop(columns=[frame.geometry.name]) if is_geo else frame)
    if is_geo:
        geoms = frame.geometry.to_numpy()
        present = ~shapely.is_missing(geoms)
        rounded = shapely.transform(geoms[present], lambda c: np.round(c, 7))
        wkb = np.full(len(geoms), "", dtype=object)
        wkb[present] = shapely.to_wkb(rounded, hex=True, output_dimension=2, byte_order=1)
        df = df.assign(geometry=wkb)
    buf = io.StringIO()
    df.to_csv(buf, index=False, header=header, lineterminator="\n", float_format="%.7f", na_rep="",
              date_format="%Y-%m-%dT%H:%M:%S")
    return buf.getvalue().encode("utf-8")


FRAMES = ("divisions", "villages", "stations", "measurements")


class WorldChecksums:
    """:func:`world_checksums` of a world that comes in parts: :meth:`update` with each part's frames
    in order (a frame's rows as they follow one another in the whole world), then :meth:`hexdigests`
    with the whole world's truth. A world given in one part gives :func:`world_checksums`."""

    def __init__(self) -> None:
        self._hashes = {name: hashlib.sha256() for name in FRAMES}
        self._started: set[str] = set()

    def update(self, **frames: pd.DataFrame) -> None:
        """Hash the next rows of the named frames (``divisions``, ``villages``, ``stations``,
        ``measurements``); the first part of each frame must be given, even when empty (its header)."""
        for name, frame in frames.items():
            self._hashes[name].update(_canonical_csv(frame, header=name not in self._started))
            self._started.add(name)

    def hexdigests(self, truth: dict[str, Any]) -> dict[str, str]:
        """SHA-256 per frame and of ``truth`` (without ``timings_s``), plus ``all`` over those."""
        missing = [name for name in FRAMES if name not in self._started]
        if missing:
            raise ValueError(f"no part of {', '.join(missing)} was hashed")
        out = {name: h.hexdigest() for name, h in self._hashes.items()}
        kept = {k: v for k, v in truth.items() if k != "timings_s"}
        out["truth"] = hashlib.sha256(json.dumps(kept, sort_keys=True, ensure_ascii=False)
                                      .encode("utf-8")).hexdigest()
        out["all"] = hashlib.sha256("".join(f"{k}={out[k]}\n" for k in sorted(out))
                                    .encode("ascii")).hexdigest()
        return out


def world_checksums(world: SeedWorld) -> dict[str, str]:
    """SHA-256 per frame and of the truth, plus ``all`` over those.

    A frame's hash is over its canonical CSV (floats to 7 decimals, ISO times, empty for missing,
    WKB hex of the geometry with coordinates rounded to 1e-7 degrees); the truth's over its sorted
    JSON without ``timings_s``. Equal seeds give equal checksums.
    """
    checksums = WorldChecksums()
    checksums.update(**{name: getattr(world, name) for name in FRAMES})
    return checksums.hexdigests(world.truth)
