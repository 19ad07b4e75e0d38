"""The contract world: tiny hand-made frames in the canonical contracts (around lon 119.4, lat 32.4
in Jiangsu): two villages of one township, a shared site and a planned cell, three drive-test samples."""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely


def contract_villages() -> gpd.GeoDataFrame:
    """Two villages of one township: a square and a two-part MultiPolygon, one with a committee point."""
    square = shapely.box(119.40, 32.40, 119.41, 32.41)
    multi = shapely.MultiPolygon([shapely.box(119.41, 32.40, 119.42, 32.41),
                                  shapely.box(119.43, 32.40, 119.435, 32.405)])
    return gpd.GeoDataFrame(
        {
            "code": ["321012101201", "321012101202"],
            "name": ["甲村村委会", "乙村村委会"],
            "township_code": ["321012101", "321012101"],
            "township_name": ["某镇", "某镇"],
            "county_code": ["321012", "321012"],
            "county_name": ["江都区", "江都区"],
            "city_code": ["3210", "3210"],
            "city_name": ["扬州市", "扬州市"],
            "province_code": ["32", "32"],
            "province_name": ["江苏省", "江苏省"],
            "committee_lon": [119.405, np.nan],
            "committee_lat": [32.405, np.nan],
            "population": pd.array([2100, None], dtype="Int64"),
            "households": pd.array([760, None], dtype="Int64"),
            "source": ["test", None],
        },
        geometry=[square, multi],
        crs="EPSG:4326",
    )


def contract_stations() -> gpd.GeoDataFrame:
    """A shared 3-sector site (two operators) and an omnidirectional planned cell without cell_id."""
    lon = [119.405, 119.405, 119.405, 119.405, 119.43]
    lat = [32.405, 32.405, 32.405, 32.405, 32.402]
    return gpd.GeoDataFrame(
        {
            "site_id": ["S1", "S1", "S1", "S1", "S2"],
            "cell_id": ["S1-1", "S1-2", "S1-3", "S1-1", None],
            "operator": ["CMCC", "CMCC", "CMCC", "CTCC", "CBN"],
            "rat": ["NR", "NR", "NR", "NR", "NR"],
            "band": ["n41", "n41", "n41", "n78", "n28"],
            "lon": lon,
            "lat": lat,
            "height_m": [35.0, 35.0, 35.0, 30.0, 40.0],
            "azimuth_deg": [0.0, 120.0, 240.0, 60.0, np.nan],
            "tilt_deg": [6.0, 6.0, 6.0, 4.0, 3.0],
            "power_dbm": [53.0, 53.0, 53.0, 53.0, 49.0],
            "bandwidth_mhz": [100.0, 100.0, 100.0, 100.0, 30.0],
            "status": ["active", "active", "active", "active", "planned"],
            "activated_on": [dt.date(2020, 5, 1)] * 4 + [None],
            "source": ["test"] * 5,
        },
        geometry=shapely.points(lon, lat),
        crs="EPSG:4326",
    )


def contract_measurements() -> gpd.GeoDataFrame:
    """Three drive-test samples."""
    lon = [119.401, 119.402, 119.403]
    lat = [32.401, 32.402, 32.403]
    return gpd.GeoDataFrame(
        {
            "lon": lon,
            "lat": lat,
            "measured_at": pd.to_datetime(["2026-05-01 10:00:00", "2026-05-01 10:00:05",
                                           "2026-05-01 10:00:10"]).astype("datetime64[ns]"),
            "operator": ["CMCC", "CMCC", "CMCC"],
            "rat": ["NR", "NR", "NR"],
            "band": ["n41", None, "n41"],
            "rsrp_dbm": [-88.5, -101.25, -117.0],
            "sinr_db": [12.0, 3.5, np.nan],
            "dl_mbps": [512.0, 120.5, np.nan],
            "ul_mbps": [60.0, 20.0, np.nan],
            "loss_db": [3.0, 3.0, np.nan],
            "source": ["drive_test"] * 3,
        },
        geometry=shapely.points(lon, lat),
        crs="EPSG:4326",
    )


CONTRACT_FRAMES = {"villages": contract_villages, "stations": contract_stations, "measurements": contract_measurements}
