"""A national synthetic world for scale tests: the real NBS division list and real province, city
and county boundaries of China (``seeds/data/china/``), with synthetic township and village
polygons and 5G stations generated province by province by the Jiangsu seed world's own code
(:mod:`seeds.world`, :mod:`seeds.tessellate`, :mod:`seeds.stations`).

Differences from the Jiangsu seed world, all for size: no drive-test measurements (the measurement
frame is empty), no true signal field kept or scored against, and each province is generated in its own
transverse Mercator (:func:`coverage.crs.local_metric_crs` of the province).

Operators' MR grid statistics (``mr=True``, ``village5g seed --provinces ... --mr``) are **scale data**: they
exercise the time and memory of storing and fusing a nation's MR, not accuracy. Each province's MR is drawn
by :func:`seeds.mr.iter_mr_grids` (the seed world's own code: phones where people are, indoor loss, phone
noise, heard level, LTE anchor rows) from a signal field that the seed world's field generator
(:class:`seeds.field.TrueField`: the same path loss, antennas, county/township clutter and correlated
shadowing as Jiangsu's true field) builds over that province's stations for the purpose and drops once the
province's MR is stored; nothing scores an analysis against it. It is not the product's own prediction: that
would cost a second national analysis at seeding, and MR drawn from the model the analysis uses would agree
with it by construction, where this field differs from the model as Jiangsu's MR does. Station density per village
follows the Jiangsu generator, so the number of stations scales with the number of villages.
County-level units without a boundary of their own (development zones, and the counties of the
four municipalities' "县" lists) are drawn inside a host: the same city's district with the lowest
code, else the city's own polygon, else the province's first district (an assumption, like the
Jiangsu hosts).
"""

from __future__ import annotations

import gzip
import io
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from coverage.crs import local_metric_crs
from coverage.errors import bi
from coverage.schema import MEASUREMENT_COLUMNS, STATION_COLUMNS, VILLAGE_COMMITTEE_MAX, VILLAGE_COMMITTEE_MIN, Kind
from seeds import world
from seeds.data import DATA_DIR, DEV_ZONE_HOSTS, RealData
from seeds.field import TrueField
from seeds.mr import iter_mr_grids
from seeds.stations import StationPlan, place_stations

if TYPE_CHECKING:
    from coverage.store.storage import Store

CHINA_DIR = DATA_DIR / "china"


@cache
def _tables() -> dict[str, Any]:
    """Every shipped national table, read once per process (codes as text)."""

    def csv(name: str) -> pd.DataFrame:
        return pd.read_csv(CHINA_DIR / name, dtype=str, keep_default_na=False, encoding="utf-8")

    def boundaries(name: str, digits: int) -> gpd.GeoDataFrame:
        with gzip.open(CHINA_DIR / name, "rb") as fh:
            frame = gpd.read_file(io.BytesIO(fh.read()))
        gb = frame["gb"].astype(str)
        keep = gb.str.len() >= 3 + digits
        return gpd.GeoDataFrame({"code": gb[keep].str.slice(3, 3 + digits).to_numpy(),
                                 "name": frame.loc[keep, "name"].astype(str).to_numpy()},
                                geometry=frame.geometry[keep].to_numpy(), crs="EPSG:4326")

    return {
        "provinces": csv("provinces.csv"),
        "cities": csv("cities.csv").rename(columns={"provinceCode": "province_code"}),
        "areas": csv("areas.csv").rename(columns={"cityCode": "city_code", "provinceCode": "province_code"}),
        "streets": csv("streets.csv.gz").rename(columns={"areaCode": "county_code", "cityCode": "city_code",
                                                         "provinceCode": "province_code"}),
        "villages": csv("villages.csv.gz").rename(columns={"streetCode": "township_code", "areaCode": "county_code",
                                                           "cityCode": "city_code", "provinceCode": "province_code"}),
        "province_geo": boundaries("province.geojson.gz", 2),
        "city_geo": boundaries("city.geojson.gz", 4),
        "district_geo": boundaries("district.geojson.gz", 6),
    }


def province_codes() -> pd.DataFrame:
    """The provinces of the national list: ``code``, ``name`` and the number of village committees."""
    t = _tables()
    unit = t["villages"]["code"].str.slice(9, 12).astype(int)
    vc = t["villages"][(unit >= VILLAGE_COMMITTEE_MIN) & (unit <= VILLAGE_COMMITTEE_MAX)]
    counts = vc.groupby("province_code").size()
    out = t["provinces"][["code", "name"]].copy()
    out["village_committees"] = out["code"].map(counts).fillna(0).astype(int)
    return out


def parse_provinces(spec: str) -> list[str]:
    """``"all"`` or comma-separated two-digit province codes, checked against the national list."""
    known = province_codes()["code"].tolist()
    if spec.strip().lower() == "all":
        return known
    codes = [c.strip() for c in spec.split(",") if c.strip()]
    unknown = [c for c in codes if c not in known]
    if not codes or unknown:
        raise ValueError(f"--provinces: unknown province code(s) {', '.join(unknown) or '(none given)'}; "
                         f"known: {', '.join(known)} or all")
    return sorted(set(codes))


def load_province_data(code: str) -> RealData:
    """One province's divisions and boundaries in the form :mod:`seeds.world` builds from."""
    t = _tables()
    prov_geo = t["province_geo"][t["province_geo"]["code"] == code]
    if prov_geo.empty:
        raise ValueError(f"province {code} has no boundary in the shipped data")
    name = t["provinces"].set_index("code").loc[code, "name"]
    province = gpd.GeoDataFrame({"code": [code], "name": [name]},
                                geometry=[shapely.union_all(prov_geo.geometry.to_numpy())], crs="EPSG:4326")
    cities = t["cities"][t["cities"]["province_code"] == code].sort_values("code").reset_index(drop=True)
    city_geom = dict(zip(t["city_geo"]["code"], t["city_geo"].geometry, strict=False))
    areas = t["areas"][t["areas"]["province_code"] == code].sort_values("code").reset_index(drop=True)
    districts = t["district_geo"][t["district_geo"]["code"].str.startswith(code)]
    geom: dict[str, Any] = dict(zip(districts["code"], districts.geometry, strict=False))
    streets = t["streets"][t["streets"]["province_code"] == code]
    streets = streets[streets["county_code"].isin(areas["code"])].sort_values("code").reset_index(drop=True)
    villages = t["villages"][t["villages"]["province_code"] == code]
    villages = villages[villages["township_code"].isin(streets["code"])].sort_values("code").reset_index(drop=True)

    # hosts for county-level units without a polygon (see the module docstring). A host must be a
    # county of the list: the boundary file also has polygons under codes that are not (嘉峪关市, a
    # city without districts, is 620200 there and its one county-level unit 620201 in the list), and
    # a township carved from a polygon that is no county of the world has no parent to tile.
    own = {c for c in areas["code"] if c in geom}
    hosts: dict[str, str] = {}
    for county, city in areas[["code", "city_code"]].itertuples(index=False):
        if county in own:
            continue
        listed = DEV_ZONE_HOSTS.get(county)
        same_city = sorted(c for c in own if c[:4] == city)
        if listed is not None and listed in own:
            hosts[county] = listed
        elif same_city:
            hosts[county] = same_city[0]
        elif city_geom.get(city) is not None:
            geom[county] = city_geom[city]
            own.add(county)
        elif own:
            hosts[county] = sorted(own)[0]
        else:
            raise ValueError(f"province {code}: county {county} has no polygon, and neither its city "
                             "nor any other county of the province has one to host it")
    counties = gpd.GeoDataFrame({"code": areas["code"], "name": areas["name"], "city_code": areas["city_code"]},
                                geometry=[geom.get(c) for c in areas["code"]], crs="EPSG:4326")
    # a municipality's city ("市辖区", "县") has no polygon of its own: the union of its counties
    city_polys = [city_geom.get(c) or shapely.union_all([g for k, g in geom.items() if k[:4] == c] or [None])
                  for c in cities["code"]]
    cities_gdf = gpd.GeoDataFrame({"code": cities["code"], "name": cities["name"]}, geometry=city_polys,
                                  crs="EPSG:4326")
    return RealData(province=province, cities=cities_gdf, counties=counties,
                    townships=streets[["code", "name", "county_code", "city_code"]].copy(),
                    villages=villages[["code", "name", "township_code", "county_code", "city_code"]].copy(),
                    hosts=hosts)


@dataclass
class ProvinceWorld:
    """One province of the national world: its frames (EPSG:4326, as in :class:`seeds.world.SeedWorld`)
    and its generator statistics."""

    code: str
    name: str
    divisions: gpd.GeoDataFrame
    villages: gpd.GeoDataFrame
    stations: gpd.GeoDataFrame
    stats: dict[str, Any]
    #: The province's MR grid statistics (``mr=True``), in chunks drawn when asked for (:func:`seeds.mr.iter_mr_grids`).
    mr: Iterator[pd.DataFrame] | None = None


def build_province(code: str, *, seed: int = world.DEFAULT_SEED, mr: bool = False) -> ProvinceWorld:
    """The synthetic world of one province, from its own random streams (``SeedSequence([seed, code])``),
    so a province does not depend on which other provinces are built with it. ``mr``: with its MR grid
    statistics (the module docstring), from the streams after the first four, so the frames are the same
    with or without."""
    real = load_province_data(code)
    crs = local_metric_crs(tuple(float(b) for b in real.province.total_bounds))
    rng_town, rng_vil, rng_pop, rng_sta, rng_field, rng_mr = (
        np.random.default_rng(s) for s in np.random.SeedSequence([seed, int(code)]).spawn(6))
    towns = world._build_townships(real, rng_town, crs)
    vil = world._build_villages(real, towns, rng_vil)
    unit = np.array([int(c[9:12]) for c in vil.frame["code"].to_numpy()], np.int64)
    pop, hh = world._population(rng_pop, unit)
    province_m = world._geoms_to_metric(real.province.geometry.to_numpy(), crs)[0]
    plan = StationPlan(cells=vil.cells, x=vil.x, y=vil.y, is_vc=vil.is_vc, population=pop,
                       county_codes=vil.frame["county_code"].to_numpy(), province=province_m,
                       site_prefix=f"CN{code}")
    st = place_stations(plan, rng_sta)
    name = str(real.province["name"].iloc[0])
    stats = {"name": name, "villages": len(vil.frame), "village_committees": int(vil.is_vc.sum()),
             "townships": len(towns.codes), "cells": len(st.cells), "sites": st.n_sites}
    villages = world._village_frame(real, vil, pop, hh, crs, code, name)
    mr_chunks = None
    if mr:
        field = TrueField.build(rng_field, cells=st.cells, province=province_m, towns_cells=towns.cells,
                                town_codes=towns.codes, county_codes=sorted(real.counties["code"]))
        mr_chunks = iter_mr_grids(rng_mr, field, villages, crs)
    return ProvinceWorld(code=code, name=name, divisions=world._divisions(real, towns, crs, province_code=code),
                         villages=villages, stations=world._point_frame(st.cells, STATION_COLUMNS, crs), stats=stats,
                         mr=mr_chunks)


def iter_national_world(provinces: Sequence[str], *, seed: int = world.DEFAULT_SEED,
                        progress: Callable[[str], None] | None = None, mr: bool = False) -> Iterator[ProvinceWorld]:
    """:func:`build_province` of each of ``provinces`` in turn, built when the next one is asked for."""
    t0 = time.perf_counter()
    for code in provinces:
        part = build_province(code, seed=seed, mr=mr)
        if progress is not None:
            stats, took = part.stats, time.perf_counter() - t0
            progress(bi(f"{code} {part.name}：行政村 {stats['villages']:,}，站址 {stats['sites']:,}，"
                        f"小区 {stats['cells']:,}（{took:.1f} 秒）",
                        f"{code} {part.name}: {stats['villages']:,} villages, {stats['sites']:,} sites, "
                        f"{stats['cells']:,} cells ({took:.1f} s)"))
        yield part


def _empty_measurements() -> gpd.GeoDataFrame:
    return world._conform(pd.DataFrame({c.name: pd.Series(dtype=object) for c in MEASUREMENT_COLUMNS}),
                          MEASUREMENT_COLUMNS, gpd.GeoSeries([], crs="EPSG:4326"))


def _truth(provinces: Sequence[str], seed: int, stats: dict[str, Any]) -> dict[str, Any]:
    return {"seed": int(seed), "generator": "seeds.national.build_national_world",
            "provinces": list(provinces), "stats": stats, "station_parameters": "seeds.stations.PARAMS"}


def build_national_world(provinces: Sequence[str], *, seed: int = world.DEFAULT_SEED,
                         progress: Callable[[str], None] | None = None) -> world.SeedWorld:
    """Build the synthetic world of ``provinces`` (two-digit codes; see :func:`parse_provinces`) in memory.

    Each province gets its own random streams (``SeedSequence([seed, code])``), so a province's
    villages and stations do not depend on which other provinces are built with it. Site ids are
    ``CN<code>-S<number>``. The measurement frame is empty. The whole nation needs about 12 GB this
    way: :func:`seed_national_world` stores the same rows one province at a time.
    """
    parts = list(iter_national_world(provinces, seed=seed, progress=progress))
    return world.SeedWorld(
        divisions=gpd.GeoDataFrame(pd.concat([p.divisions for p in parts], ignore_index=True), crs="EPSG:4326"),
        villages=gpd.GeoDataFrame(pd.concat([p.villages for p in parts], ignore_index=True), crs="EPSG:4326"),
        stations=gpd.GeoDataFrame(pd.concat([p.stations for p in parts], ignore_index=True), crs="EPSG:4326"),
        measurements=_empty_measurements(), truth=_truth(provinces, seed, {p.code: p.stats for p in parts}))


def seed_national_world(store: Store, provinces: Sequence[str], *, seed: int = world.DEFAULT_SEED,
                        progress: Callable[[str], None] | None = None, mr: bool = False
                        ) -> tuple[str, dict[str, int]]:
    """Build and store the national world of ``provinces`` one province at a time, replacing what is stored.

    ``mr``: also each province's MR grid statistics (scale data, see the module docstring), drawn and stored
    in chunks after the province's rows, in the same transaction (``mr_grids`` in the counts; MR is not part
    of the checksum, as for the seed world). Without it the stored MR is removed (it would be another world's).

    The stored rows, and the checksum logged with them, are those of ``store.seed`` with
    :func:`build_national_world` and its :func:`seeds.world.world_checksums`; the memory is one
    province's (the largest, 37 山东省, rather than the nation). Everything is stored in one
    transaction (:meth:`coverage.store.storage.Store.seed_parts`). Returns the checksum (``all``) and the
    rows stored per table.
    """
    from coverage.ingest.mr import insert_mr_rows
    from coverage.store.storage import SeedPart, SeedTable
    from coverage.store.tables import mr_grids

    checksums = world.WorldChecksums()
    stats: dict[str, Any] = {}

    def counted(part: ProvinceWorld, chunks: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        t, rows = time.perf_counter(), 0
        for chunk in chunks:
            rows += len(chunk)
            yield chunk
        if progress is not None:
            took = time.perf_counter() - t
            progress(bi(f"{part.code} {part.name}：已生成并存储 MR 栅格 {rows:,} 行（{took:.1f} 秒）",
                        f"{part.code} {part.name}: {rows:,} MR grid rows drawn and stored ({took:.1f} s)"))

    def parts() -> Iterator[SeedPart]:
        frames: dict[Kind, gpd.GeoDataFrame] = {"measurements": _empty_measurements()}
        checksums.update(measurements=frames["measurements"])
        for part in iter_national_world(provinces, seed=seed, progress=progress, mr=mr):
            checksums.update(divisions=part.divisions, villages=part.villages, stations=part.stations)
            stats[part.code] = part.stats
            frames["villages"], frames["stations"] = part.villages, part.stations
            if part.mr is None:
                yield part.divisions, frames
            else:
                yield part.divisions, frames, {"mr_grids": counted(part, part.mr)}
            frames = {}

    digest: list[str] = []

    def fingerprint() -> str:  # called once every part is stored and hashed
        digest.append(checksums.hexdigests(_truth(provinces, seed, stats))["all"])
        return digest[0]

    counts = store.seed_parts(parts(), kinds=("villages", "stations", "measurements"), fingerprint=fingerprint,
                              tables=(SeedTable("mr", mr_grids, insert_mr_rows),))
    return digest[0], counts
