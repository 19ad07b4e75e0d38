"""The boxes world: villages drawn as boxes (lon/lat bounds) and 3-sector CMCC n41 sites placed by
hand, with the rules and model parameters the hand-computed verdicts assume. Village A: a 1 km
square; village B: 20 km north of it."""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import shapely

from coverage.model.parameters import ModelParameters
from coverage.model.rules import RuleSet
from coverage.schema import conform

RULES = RuleSet()
PARAMS = ModelParameters(resolution_m=100.0)
# 1 degree of latitude is ~111 km; at 32.4 N one degree of longitude is ~94 km.
KM_LAT = 1 / 111.0


def box_villages(*boxes: tuple[float, float, float, float]) -> gpd.GeoDataFrame:
    n = len(boxes)
    codes = [f"3210121012{i:02d}" for i in range(1, n + 1)]
    return conform("villages", {"code": codes, "name": [f"村{i}" for i in range(n)],
                                "township_code": ["321012101"] * n, "county_code": ["321012"] * n,
                                "city_code": ["3210"] * n, "province_code": ["32"] * n},
                   [shapely.box(*b) for b in boxes])


def sector_stations(sites: list[tuple[float, float]], *, power_dbm: float = 53.0,
             status: str = "active") -> gpd.GeoDataFrame:
    rows: dict[str, list[object]] = {k: [] for k in ("site_id", "cell_id", "operator", "rat", "band", "lon",
                                                      "lat", "azimuth_deg", "power_dbm", "status",
                                                      "activated_on")}
    for i, (lon, lat) in enumerate(sites):
        for sector, az in enumerate((0.0, 120.0, 240.0)):
            for key, value in (("site_id", f"S{i}"), ("cell_id", f"S{i}-{sector}"), ("operator", "CMCC"),
                               ("rat", "NR"), ("band", "n41"), ("lon", lon), ("lat", lat),
                               ("azimuth_deg", az), ("power_dbm", power_dbm), ("status", status),
                               ("activated_on", dt.date(2021, 1, 1))):
                rows[key].append(value)
    return conform("stations", rows, shapely.points(rows["lon"], rows["lat"]))


# Village A: 1 km square with a site at its centre. Village B: 20 km north of every site.
A = (119.40, 32.40, 119.41, 32.409)
B = (119.40, 32.40 + 20 * KM_LAT, 119.41, 32.409 + 20 * KM_LAT)
