"""The row world: eight 1 km x 1 km villages in a row of two townships of two cities (扬州市 江都区 and
南京市 江宁区; the codes are real-looking, the places deliberately side by side near lon 119.4,
lat 32.4 so one small prediction grid covers them). One 3-sector CMCC n41 site stands at the centre
of the first village; the villages far from it come out uncovered and without a site.

The world of the API, CLI, history, refresh and scheduler tests.
"""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import shapely

from coverage.model.parameters import ModelParameters
from coverage.model.rules import DEFAULT_RULES
from coverage.runs.analysis import run_analysis
from coverage.schema import conform
from coverage.store.storage import IngestRecord, Store

KM_LON = 1 / 94.0  # degrees of longitude per km at 32.4 N
KM_LAT = 1 / 111.0
WEST, SOUTH = 119.40, 32.40

#: (code, name, township name, county name, city name) of the villages, west to east.
VILLAGES = [
    ("321012101201", "甲村村委会", "大桥镇", "江都区", "扬州市"),
    ("321012101202", "乙村村委会", "大桥镇", "江都区", "扬州市"),
    ("321012101203", "丙村村委会", "大桥镇", "江都区", "扬州市"),
    ("321012101204", "丁庄村委会", "大桥镇", "江都区", "扬州市"),
    ("320115100201", "王庄村委会", "秣陵街道", "江宁区", "南京市"),
    ("320115100202", "李庄村委会", "秣陵街道", "江宁区", "南京市"),
    ("320115100203", "张庄村委会", "秣陵街道", "江宁区", "南京市"),
    ("320115100204", "赵庄村委会", "秣陵街道", "江宁区", "南京市"),
]
SITE = (WEST + 0.5 * KM_LON, SOUTH + 0.5 * KM_LAT)
PARAMS = ModelParameters(resolution_m=100.0, workers=1)
#: A weak site (46 dBm): under the best-estimate rules only the village it stands in is covered, as
#: the hand-computed answers of these worlds assume (at 53 dBm its neighbour is covered too).
SITE_POWER_DBM = 46.0
#: Sites after the first are new: on air after the drive tests of June 2026, which they do not explain.
NEW_SITE_ON = dt.date(2026, 11, 1)


def row_village_box(i: int) -> shapely.Polygon:
    """The i-th village: a 1 km square, the row running east from (WEST, SOUTH), 1 km gaps between."""
    west = WEST + 2 * i * KM_LON
    return shapely.box(west, SOUTH, west + KM_LON, SOUTH + KM_LAT)


#: The twin variant (``twins=True``): 南京市's county and township carry the names of 扬州市's, so that
#: 江都区 and 大桥镇 each name two regions (320115 and 321012; 320115100 and 321012101).
TWIN_VILLAGES = [(code, name, "大桥镇", "江都区", city) for code, name, _, _, city in VILLAGES]


def row_villages(*, twins: bool = False) -> gpd.GeoDataFrame:
    """The eight villages in the canonical contract (committee point known for the first only);
    ``twins``: with :data:`TWIN_VILLAGES`' names."""
    rows = TWIN_VILLAGES if twins else VILLAGES
    n = len(rows)
    codes = [v[0] for v in rows]
    return conform("villages", {
        "code": codes, "name": [v[1] for v in rows],
        "township_code": [c[:9] for c in codes], "township_name": [v[2] for v in rows],
        "county_code": [c[:6] for c in codes], "county_name": [v[3] for v in rows],
        "city_code": [c[:4] for c in codes], "city_name": [v[4] for v in rows],
        "province_code": ["32"] * n, "province_name": ["江苏省"] * n,
        "committee_lon": [SITE[0], *([None] * (n - 1))], "committee_lat": [SITE[1], *([None] * (n - 1))],
        "population": [1000 + 10 * i for i in range(n)], "source": ["test"] * n,
    }, [row_village_box(i) for i in range(n)])


def row_stations(sites: list[tuple[float, float]] | None = None) -> gpd.GeoDataFrame:
    """Three-sector CMCC n41 sites (default: the one at the first village's committee)."""
    sites = sites if sites is not None else [SITE]
    rows: dict[str, list[object]] = {k: [] for k in ("site_id", "cell_id", "operator", "rat", "band", "lon", "lat",
                                                      "azimuth_deg", "power_dbm", "status", "activated_on")}
    for i, (lon, lat) in enumerate(sites):
        for sector, az in enumerate((0.0, 120.0, 240.0)):
            for key, value in (("site_id", f"S{i}"), ("cell_id", f"S{i}-{sector}"), ("operator", "CMCC"),
                               ("rat", "NR"), ("band", "n41"), ("lon", lon), ("lat", lat), ("azimuth_deg", az),
                               ("power_dbm", SITE_POWER_DBM), ("status", "active"),
                               ("activated_on", dt.date(2021, 1, 1) if i == 0 else NEW_SITE_ON)):
                rows[key].append(value)
    return conform("stations", rows, shapely.points(rows["lon"], rows["lat"]))


def row_measurements() -> gpd.GeoDataFrame:
    """Five drive-test samples in the first village and two in the fifth (CMCC and CTCC)."""
    lon = [SITE[0] + d for d in (-0.002, -0.001, 0.0, 0.001, 0.002)] + [WEST + 8.5 * KM_LON] * 2
    lat = [SITE[1]] * 5 + [SOUTH + 0.5 * KM_LAT] * 2
    times = [dt.datetime(2026, 5, 1, 10, 0, i) for i in range(5)] + [dt.datetime(2026, 6, 1, 9, 0, 0)] * 2
    return conform("measurements", {
        "lon": lon, "lat": lat, "measured_at": times, "operator": ["CMCC"] * 5 + ["CTCC", "CMCC"],
        "rat": ["NR"] * 7, "band": ["n41"] * 7, "rsrp_dbm": [-80.0, -85.0, -90.0, -95.0, -100.0, -118.0, -119.0],
        "sinr_db": [15.0, 12.0, 9.0, 5.0, 1.0, -6.0, -7.0], "source": ["drive_test"] * 5 + ["audit"] * 2,
    }, shapely.points(lon, lat))


def build_row_world(store: Store, *, analyze: bool = True, twins: bool = False) -> int | None:
    """Store the small world (three ingests; ``twins``: its twin-name variant) and publish one analysis
    run; return its id."""
    for kind, frame in (("villages", row_villages(twins=twins)), ("stations", row_stations()),
                        ("measurements", row_measurements())):
        store.write(kind, frame, record=IngestRecord(kind=kind, file_name=f"{kind}.test", sha256="0" * 64))
    if not analyze:
        return None
    return run_analysis(store, rules=DEFAULT_RULES, params=PARAMS).run_id
