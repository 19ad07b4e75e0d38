"""The two-cities world of the audit tests: two cities of 40 one-kilometre villages each.

City 3201 sits round (118.80 E, 32.00 N), city 3202 round (119.30 E, 32.00 N), about 47 km apart.
Each city is one county and one township with an 8 x 5 grid of 0.01-degree square villages (NBS
unit codes 201-240, all village committees), the committee point at each square's centre. The
helpers build canonical frames, a hand-written results table (verdicts chosen by index) and a
store with a published analysis run and its GeoTIFF.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from coverage.model.parameters import ModelParameters
from coverage.model.rules import DEFAULT_RULES
from coverage.runs.analysis import run_analysis
from coverage.schema import Kind, conform
from coverage.store.storage import IngestRecord, Store

CITIES = {"3201": ("南京市", 118.80), "3202": ("无锡市", 119.30)}
COLS, ROWS = 8, 5
STEP = 0.01


def two_city_villages(cities: dict[str, tuple[str, float]] | None = None) -> gpd.GeoDataFrame:
    """80 square villages (40 per city), codes in order, committee point at the centre."""
    cities = cities or CITIES
    rows: dict[str, list[object]] = {k: [] for k in (
        "code", "name", "township_code", "township_name", "county_code", "county_name", "city_code", "city_name",
        "province_code", "province_name", "committee_lon", "committee_lat", "population")}
    boxes = []
    for city, (city_name, lon0) in cities.items():
        for k in range(COLS * ROWS):
            i, j = divmod(k, COLS)
            x0, y0 = lon0 + j * STEP, 32.00 + i * STEP
            boxes.append(shapely.box(x0, y0, x0 + STEP, y0 + STEP))
            for key, value in (("code", f"{city}01001{201 + k:03d}"), ("name", f"{city_name[:1]}{k + 1}村村委会"),
                               ("township_code", f"{city}01001"), ("township_name", f"{city_name[:1]}镇"),
                               ("county_code", f"{city}01"), ("county_name", f"{city_name[:1]}县"),
                               ("city_code", city), ("city_name", city_name), ("province_code", "32"),
                               ("province_name", "江苏省"), ("committee_lon", round(x0 + STEP / 2, 6)),
                               ("committee_lat", round(y0 + STEP / 2, 6)), ("population", 2000 + k)):
                rows[key].append(value)
    return conform("villages", rows, boxes)


def two_city_stations() -> gpd.GeoDataFrame:
    """Per city: four 3-sector CMCC n41 sites and one omnidirectional CBN n28 cell, all active, plus
    one planned cell."""
    rows: dict[str, list[object]] = {k: [] for k in (
        "site_id", "cell_id", "operator", "rat", "band", "lon", "lat", "height_m", "azimuth_deg", "tilt_deg",
        "power_dbm", "status", "activated_on")}

    def add(site: str, cell: str, op: str, band: str, lon: float, lat: float, az: float | None,
            power: float | None, status: str = "active") -> None:
        for key, value in (("site_id", site), ("cell_id", cell), ("operator", op), ("rat", "NR"), ("band", band),
                           ("lon", lon), ("lat", lat), ("height_m", 35.0), ("azimuth_deg", az), ("tilt_deg", 6.0),
                           ("power_dbm", power), ("status", status), ("activated_on", dt.date(2022, 1, 1))):
            rows[key].append(value)

    for city, (_, lon0) in CITIES.items():
        for s, (dx, dy) in enumerate(((0.015, 0.015), (0.055, 0.035), (0.015, 0.035), (0.055, 0.012))):
            for sector, az in enumerate((0.0, 120.0, 240.0)):
                add(f"{city}-S{s}", f"{city}-S{s}-{sector}", "CMCC", "n41", lon0 + dx, 32.0 + dy, az, 53.0)
        add(f"{city}-S9", f"{city}-S9-0", "CBN", "n28", lon0 + 0.035, 32.025, None, None)
        add(f"{city}-P", f"{city}-P-0", "CTCC", "n78", lon0 + 0.07, 32.045, 90.0, 53.0, status="planned")
    return conform("stations", rows, shapely.points(rows["lon"], rows["lat"]))


def two_city_results(villages: gpd.GeoDataFrame | None = None) -> gpd.GeoDataFrame:
    """Village results by hand: every 10th village uncovered, every 10th + 5 weak, the rest covered."""
    v = (villages if villages is not None else two_city_villages()).copy()
    k = np.arange(len(v))
    v["verdict"] = np.where(k % 10 == 0, "uncovered", np.where(k % 10 == 5, "weak", "covered"))
    v["verdict"] = v["verdict"].astype("str")
    v["committee_rsrp_dbm"] = np.where(v["verdict"] == "uncovered", np.nan, -90.0 - (k % 7))
    v["committee_sinr_db"] = np.where(v["verdict"] == "uncovered", np.nan, 5.0 + (k % 3))
    v.attrs["run_id"] = 1
    return v


def seed_two_cities(store: Store, tmp_path: Path) -> int:
    """Store the tiny world and publish an analysis run with its GeoTIFF; return the run id."""
    store.write("villages", two_city_villages(), record=_record("villages"))
    store.write("stations", two_city_stations(), record=_record("stations"))
    result = run_analysis(store, rules=DEFAULT_RULES, params=ModelParameters(workers=1),
                          artifacts_dir=tmp_path / "runs")
    return result.run_id


def _record(kind: Kind) -> IngestRecord:
    return IngestRecord(kind=kind, file_name=f"{kind}.test", sha256="0" * 64)


def field_tests(villages: pd.DataFrame, *, per_village: int = 2, rsrp: float = -90.0, day: str = "2026-11-02",
                headers: str = "zh") -> pd.DataFrame:
    """Field tests of ``villages`` (a sample list) as a team would record them: ``per_village``
    tests within 100 m of the committee point, passing every default bar unless ``rsrp`` is low."""
    out = []
    for n, rec in enumerate(villages.to_dict("records")):
        for t in range(per_village):
            out.append({
                "code": rec["code"], "name": rec["name"],
                "lon": round(rec["point_lon"] + 0.0005 * t, 6), "lat": round(rec["point_lat"], 6),
                "time": f"{day} {9 + n % 8:02d}:{(n * 7) % 60:02d}:{t * 10:02d}",
                "operator": "中国移动", "band": "n41" if t == 0 else None, "rsrp": rsrp, "sinr": 8.5,
                "dl": 350.0, "ul": 40.0, "tester": "张伟",
            })
    frame = pd.DataFrame(out)
    if headers == "zh":
        frame = frame.rename(columns={"code": "村代码", "name": "村名称", "lon": "测试点经度", "lat": "测试点纬度",
                                      "time": "测试时间", "operator": "运营商", "band": "频段", "rsrp": "SS-RSRP(dBm)",
                                      "sinr": "SS-SINR(dB)", "dl": "下载速率(Mbps)", "ul": "上传速率(Mbps)",
                                      "tester": "测试人"})
    return frame
