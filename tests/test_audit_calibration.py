"""Calibration: raster sampling, serving bands, offsets and their application, checked by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
from affine import Affine

from coverage.audit.calibration import (
    ALL_BANDS,
    ALL_CITIES,
    calibration_offsets,
    measured_vs_predicted,
    sample_raster,
    serving_bands,
)
from coverage.crs import local_metric_crs, project_xy
from coverage.errors import NotFoundError
from coverage.model.calibration import shrunk_means
from tests.worlds.two_cities import two_city_stations

CRS = local_metric_crs((118.7, 31.9, 118.9, 32.1))  # tmerc on 119 E


def _raster(path: Path) -> Path:
    """A 3-band float32 GeoTIFF like a run's: 10 x 10 pixels of 100 m, band 1 = -100 - column (dBm),
    the last column nodata (-999); top-left corner at the projection of (118.80 E, 32.01 N)."""
    x0, y0 = project_xy(np.array([118.80]), np.array([32.01]), CRS)
    data = np.zeros((3, 10, 10), dtype=np.float32)
    data[0] = -100.0 - np.arange(10, dtype=np.float32)[None, :]
    data[0, :, 9] = -999.0
    data[1] = 5.0
    profile = {"driver": "GTiff", "height": 10, "width": 10, "count": 3, "dtype": "float32", "crs": CRS.to_wkt(),
               "transform": Affine(100.0, 0.0, float(x0[0]), 0.0, -100.0, float(y0[0])), "nodata": -999.0}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return path


def _lonlat_of_pixel(path: Path, row: int, col: int) -> tuple[float, float]:
    from coverage.crs import unproject_xy

    with rasterio.open(path) as src:
        t = src.transform
        x, y = t.c + (col + 0.5) * t.a, t.f + (row + 0.5) * t.e
    lon, lat = unproject_xy(np.array([x]), np.array([y]), CRS)
    return float(lon[0]), float(lat[0])


def test_sample_raster_reads_the_pixel_under_each_point(tmp_path: Path) -> None:
    tif = _raster(tmp_path / "p.tif")
    points = [_lonlat_of_pixel(tif, 2, 3), _lonlat_of_pixel(tif, 7, 0), _lonlat_of_pixel(tif, 4, 9)]
    lon = np.array([p[0] for p in points] + [118.0, np.nan])
    lat = np.array([p[1] for p in points] + [32.0, 32.0])
    values = sample_raster(tif, lon, lat)
    assert values[:2].tolist() == [-103.0, -100.0]
    assert np.isnan(values[2])  # nodata
    assert np.isnan(values[3]) and np.isnan(values[4])  # outside, NaN input
    assert sample_raster(tif, lon[:1], lat[:1], band=2).tolist() == [5.0]
    with pytest.raises(NotFoundError, match="does not exist"):
        sample_raster(tmp_path / "missing.tif", lon, lat)


def test_serving_band_recorded_or_nearest_capacity_cell() -> None:
    stations = two_city_stations()
    tests = pd.DataFrame({
        "lon": [118.815, 118.836, 118.836, 119.0], "lat": [32.015, 32.025, 32.025, 32.0],
        "operator": ["CMCC", "CBN", "CMCC", "CUCC"], "band": ["N78", None, None, None],
    })
    bands, sources = serving_bands(tests, stations)
    # recorded; CBN's only cell is n28; CMCC's nearest site is S0 (n41); CUCC has no cells: any operator's
    # nearest active cell - at (119.0, 32.0) that is 3201-S1 (n41) at (118.855, 32.035)
    assert bands.tolist() == ["n78", "n28", "n41", "n41"]
    assert sources.tolist() == ["recorded", "nearest cell", "nearest cell", "nearest cell"]


def _comparison() -> pd.DataFrame:
    diff = {
        ("n41", "3201"): [2.0, 4.0, 6.0, 8.0, 10.0],  # mean 6, sd 3.1623
        ("n41", "3202"): [-1.0, 1.0],  # mean 0, too few for use
        ("n28", "3201"): [-3.0, -3.0, -3.0, -3.0, -3.0, -3.0],
    }
    rows = []
    for (band, city), values in diff.items():
        for i, d in enumerate(values):
            rows.append({"village_code": f"{city}01001{201 + i:03d}", "city_code": city, "band": band,
                         "difference_db": d})
    rows.append({"village_code": "320101001201", "city_code": "3201", "band": None, "difference_db": 9.9})
    rows.append({"village_code": "320101001201", "city_code": "3201", "band": "n41", "difference_db": np.nan})
    return pd.DataFrame(rows)


def test_calibration_offsets_by_hand() -> None:
    out = calibration_offsets(_comparison(), city_names={"3201": "南京市", "3202": "无锡市"}, min_tests=5)
    table = out.set_index(["band", "city_code"])
    # n41 over all cities: (2+4+6+8+10-1+1)/7 = 30/7 = 4.2857
    assert table.loc[("n41", ALL_CITIES), "offset_db"] == pytest.approx(30 / 7, abs=1e-3)
    assert table.loc[("n41", ALL_CITIES), "n_tests"] == 7 and bool(table.loc[("n41", ALL_CITIES), "usable"])
    row = table.loc[("n41", "3201")]
    assert (row["offset_db"], row["median_db"], row["n_tests"], row["n_villages"]) == (6.0, 6.0, 5, 5)
    assert row["std_db"] == pytest.approx(np.sqrt(10.0), abs=1e-3)
    # t(0.975, 4) = 2.776445: 6 -+ 2.776445 * 3.162278 / sqrt(5) = 6 -+ 3.9265
    assert row["low_db"] == pytest.approx(2.0735, abs=1e-3) and row["high_db"] == pytest.approx(9.9265, abs=1e-3)
    assert row["city_name"] == "南京市"
    assert not bool(table.loc[("n41", "3202"), "usable"])
    assert table.loc[("n28", "3201"), "offset_db"] == -3.0
    bands = _band_city(out)
    assert list(bands["city_code"][:3]) == [ALL_CITIES, "3201", ALL_CITIES]  # pooled row first within a band
    # the area rows come first, each county after its city
    assert out["city_code"][:4].tolist() == ["3201", "320101", "3202", "320201"]


def _band_city(offsets: pd.DataFrame) -> pd.DataFrame:
    """The (band, city) rows only: a table as older rounds stored it, without area rows."""
    return offsets[offsets["band"] != ALL_BANDS].reset_index(drop=True)


def test_shrunk_means_by_hand() -> None:
    # groups A [1, 3], B [5, 7], C [-1, 1]: sigma^2 = 6 / (6 - 3) = 2; the means 2, 6, 0 have
    # variance 28/3; tau^2 = 28/3 - 2/2 = 25/3; w = (25/3) / (25/3 + 1) = 25/28
    out = shrunk_means(pd.Series([1.0, 3.0, 5.0, 7.0, -1.0, 1.0]), pd.Series(list("AABBCC")))
    assert out["weight"].tolist() == pytest.approx([25 / 28] * 3)
    assert out["offset"].tolist() == pytest.approx([2 * 25 / 28, 6 * 25 / 28, 0.0])
    # equal means: all between-group spread is noise, nothing is learned
    same = shrunk_means(pd.Series([1.0, 3.0, 1.0, 3.0]), pd.Series(list("AABB")))
    assert same["offset"].tolist() == [0.0, 0.0]
    # one group, or one unit per group: no estimate of the noise, weight 0
    assert shrunk_means(pd.Series([4.0, 6.0]), pd.Series(["A", "A"]))["offset"].tolist() == [0.0]
    assert shrunk_means(pd.Series([4.0, 6.0]), pd.Series(["A", "B"]))["offset"].tolist() == [0.0, 0.0]


def test_area_offsets_by_hand() -> None:
    # Residuals after the band offsets (n41 30/7, n28 -3), averaged per village: 3201's six villages
    # -8/7, -1/7, 6/7, 13/7, 20/7, 0 (mean 5/7); 3202's two -37/7, -23/7 (mean -30/7).
    # sigma^2 = (74/7 + 2) / 6 = 2.10204; tau^2 = 12.5 - (sigma^2/6 + sigma^2/2) / 2 = 11.79932;
    # city offsets (5/7) w and (-30/7) w with w = tau^2 / (tau^2 + sigma^2 / n): 0.69369, -3.93518.
    # Per county (one county per city here) the means left are 0.0206 and -0.3505: their spread is
    # below the noise, tau^2 = 0, so each county keeps its city's offset.
    out = calibration_offsets(_comparison(), min_tests=5)
    area = out[out["band"] == ALL_BANDS].set_index("city_code")
    assert area["offset_db"].to_dict() == pytest.approx(
        {"3201": 0.694, "3202": -3.935, "320101": 0.694, "320201": -3.935}, abs=1e-3)
    assert area.loc["3201", "n_villages"] == 6 and area.loc["3201", "n_tests"] == 11
    assert area.loc["3202", "n_tests"] == 2 and not area.loc["3202", "usable"]  # fewer than 5 tests


def test_measured_vs_predicted_keeps_the_strongest_test_per_point(tmp_path: Path) -> None:
    tif = _raster(tmp_path / "p.tif")
    lon, lat = _lonlat_of_pixel(tif, 2, 3)  # raster -103 dBm there
    tests = pd.DataFrame({
        "village_code": ["320101001211"] * 3, "operator": ["CMCC", "CTCC", "CMCC"], "band": ["n41", "n78", None],
        "lon": [lon, lon + 1e-6, lon], "lat": [lat, lat, lat], "rsrp_dbm": [-100.0, -110.0, np.nan],
    })
    out = measured_vs_predicted(tests, raster_path=tif, stations=two_city_stations(), margin_db=10.25)
    assert len(out) == 1  # CTCC's weaker test at the same point and the no-service test are left out
    row = out.iloc[0]
    assert (row["band"], row["predicted_rsrp_dbm"], row["predicted_median_dbm"]) == ("n41", -103.0, -92.75)
    assert row["difference_db"] == pytest.approx(-100.0 - (-92.75))
    both = measured_vs_predicted(tests, raster_path=tif, stations=two_city_stations(), margin_db=10.25,
                                 best_of_operators=False)
    assert sorted(both["band"]) == ["n41", "n78"]
