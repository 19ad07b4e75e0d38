"""Measured-minus-predicted offsets of an audit round's field tests: the round's report.

For every field test with 5G service the measured SS-RSRP is compared with the prediction at the
test point, read from the run's GeoTIFF (band 1, SS-RSRP in dBm, nodata -999, in the grid's metric
CRS) with rasterio. The GeoTIFF holds RSRP *minus the run's edge margin* z_p sigma: 0 for the
default (best-estimate) rule set, 10.25 dB for ``planning-90``. The offset is taken against the
predicted **median**, raster + margin, because measurements scatter around the median.

This table is the round's report (measured minus predicted per band, city and area). Analyses are
calibrated by :mod:`coverage.model.calibration` instead, which fits the model itself by band and distance.

    difference = measured RSRP - (raster RSRP + edge margin)                      (dB)
    offset(band, city) = mean of the differences of the tests of that band and city

The band of a test is the serving band the phone recorded or, when it did not, the band of the
nearest active NR cell of the test's operator (at a site with several bands, a capacity band
n41/n78/n79 before n28, as phones prefer them). The prediction is best-of-operators, so by default
only the strongest test at each test point (tests of several operators at the same place) is
compared ("like with like"). Each (band, city) row reports its test count, the median, the
standard deviation and a t-interval of the mean; rows with city ``*`` pool all cities of a band
and serve as the fallback where a city has too few tests.

Area offsets. The model's error has two parts that calibration can learn: a bias per band
(frequency dependence of the path loss) and an offset per area (clutter: buildings, vegetation and
terrain that the model does not see), common to all bands. A city mixes counties whose clutter
differs by several dB, so per (band, city) means learn little of it, and per (band, county) means
rest on too few villages. The offsets table therefore also holds area rows (``band`` =
:data:`ALL_BANDS`, ``city_code`` a 4-digit city or 6-digit county code): the mean residual after the
band's pooled offset, per city and then per county within its city, each shrunk towards its parent
by the empirical-Bayes (Buhlmann credibility) weight

    w = tau^2 / (tau^2 + sigma^2 / n)         (n villages of the area)

where sigma^2 is the variance of village means within areas and tau^2 the variance between areas
(method of moments, floored at 0). Villages, not tests, are the units, since the tests of one
village share its shadowing.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
from scipy.spatial import cKDTree
from scipy.stats import t as student_t

from coverage import crs as crs_mod
from coverage.audit.results import field_test_points
from coverage.errors import NotFoundError
from coverage.model.bands import normalize_band
from coverage.model.calibration import shrunk_means

__all__ = [
    "ALL_BANDS",
    "ALL_CITIES",
    "OFFSET_COLUMNS",
    "calibration_offsets",
    "measured_vs_predicted",
    "sample_raster",
    "serving_bands",
]

#: ``city_code`` of the rows that pool every city of a band.
ALL_CITIES = "*"
#: ``band`` of the area rows (clutter offsets common to every band); their ``city_code`` is a
#: city (4 digits) or county (6 digits) code.
ALL_BANDS = "*"
#: Columns of an offsets table.
OFFSET_COLUMNS = ("band", "city_code", "city_name", "n_tests", "n_villages", "offset_db", "median_db",
                  "std_db", "low_db", "high_db", "usable")
#: Default minimum number of tests for a (band, city) offset to be applied.
MIN_TESTS = 5
_NODATA = -999.0
#: Band preference at a multi-band site: capacity bands before the 700 MHz coverage layer.
_BAND_PREFERENCE = {"n41": 0, "n78": 0, "n79": 1, "n28": 2}


def sample_raster(path: str | Path, lon: np.ndarray, lat: np.ndarray, *, band: int = 1) -> np.ndarray:
    """Values of one band of a GeoTIFF at WGS84 points (nearest pixel).

    Parameters
    ----------
    path : str or Path
        A GeoTIFF with a CRS (the run's prediction: band 1 SS-RSRP dBm, band 2 SS-SINR dB).
    lon, lat : array_like
        WGS84 longitude and latitude (degrees).
    band : int, keyword-only
        1-based band index.

    Returns
    -------
    numpy.ndarray
        float64 values; NaN outside the raster, at nodata (-999) and for NaN input.

    Raises
    ------
    NotFoundError
        When the file does not exist.
    """
    import rasterio

    path = Path(path)
    if not path.exists():
        raise NotFoundError(f"prediction raster {path} does not exist (it is written by `village5g analyze` "
                            "in the data folder; run the command from the folder it was run in)")
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    out = np.full(lon.shape, np.nan)
    with rasterio.open(path) as src:
        crs = pyproj.CRS.from_wkt(src.crs.to_wkt())
        x, y = crs_mod.project_xy(lon, lat, crs)
        inv = ~src.transform
        col = np.floor(inv.a * x + inv.b * y + inv.c)
        row = np.floor(inv.d * x + inv.e * y + inv.f)
        ok = np.isfinite(col) & np.isfinite(row) & (col >= 0) & (row >= 0) & (col < src.width) & (row < src.height)
        if ok.any():
            r, c = row[ok].astype(np.int64), col[ok].astype(np.int64)
            # one window over the points' bounding box: a few reads, not one per point
            r0, r1, c0, c1 = int(r.min()), int(r.max()) + 1, int(c.min()), int(c.max()) + 1
            if (r1 - r0) * (c1 - c0) <= 64_000_000:
                from rasterio.windows import Window

                data = src.read(band, window=Window(c0, r0, c1 - c0, r1 - r0))
                values = data[r - r0, c - c0].astype(float)
            else:
                values = np.array([v[0] for v in src.sample(zip(x[ok], y[ok], strict=True), indexes=band)],
                                  dtype=float)
            nodata = src.nodata if src.nodata is not None else _NODATA
            values[(values == nodata) | ~np.isfinite(values)] = np.nan
            out[ok] = values
    return out


def serving_bands(tests: pd.DataFrame, stations: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The band of each test: recorded, or that of the nearest active NR cell of its operator.

    Parameters
    ----------
    tests : pandas.DataFrame
        Field tests (``lon, lat, operator, band``; WGS84 degrees).
    stations : geopandas.GeoDataFrame
        Canonical stations.

    Returns
    -------
    (bands, sources) : object arrays
        Band names (None when neither is known) and ``"recorded"`` / ``"nearest cell"`` / None.
    """
    n = len(tests)
    bands = np.array([normalize_band(b) if isinstance(b, str) else None for b in tests["band"]], dtype=object)
    sources = np.array(["recorded" if b is not None else None for b in bands], dtype=object)
    need = np.flatnonzero(np.array([b is None for b in bands], dtype=bool))
    if n == 0 or need.size == 0 or stations is None or stations.empty:
        return bands, sources
    cells = stations[(stations["status"] == "active") & (stations["rat"] == "NR")]
    cells = cells.assign(band_name=[normalize_band(b) for b in cells["band"]]).dropna(subset=["band_name"])
    if cells.empty:
        return bands, sources
    lon = tests["lon"].to_numpy(float)
    lat = tests["lat"].to_numpy(float)
    metric = crs_mod.local_metric_crs((float(np.nanmin(lon)), float(np.nanmin(lat)), float(np.nanmax(lon)),
                                       float(np.nanmax(lat))))
    tx, ty = crs_mod.project_xy(lon, lat, metric)
    cx, cy = crs_mod.project_xy(cells["lon"].to_numpy(float), cells["lat"].to_numpy(float), metric)
    preference = np.array([_BAND_PREFERENCE.get(b, 1) for b in cells["band_name"]], dtype=float)
    cell_ops = cells["operator"].to_numpy(str)
    cell_bands = cells["band_name"].to_numpy(object)
    test_ops = tests["operator"].astype(str).to_numpy()
    for op in np.unique(test_ops[need]):
        rows = need[test_ops[need] == op]
        pool = np.flatnonzero(cell_ops == op)
        if pool.size == 0:
            pool = np.arange(len(cells))  # the operator has no cells stored: any operator's
        tree = cKDTree(np.column_stack([cx[pool], cy[pool]]))
        k = min(8, pool.size)
        dist, idx = tree.query(np.column_stack([tx[rows], ty[rows]]), k=k)
        dist = dist.reshape(len(rows), k)
        idx = idx.reshape(len(rows), k)
        # cells within 1 m of the nearest one stand on the same site: prefer the capacity band
        score = np.where(dist <= dist[:, :1] + 1.0, preference[pool][idx], np.inf)
        best = idx[np.arange(len(rows)), np.argmin(score, axis=1)]
        bands[rows] = cell_bands[pool][best]
        sources[rows] = "nearest cell"
    return bands, sources


def measured_vs_predicted(tests: pd.DataFrame, *, raster_path: str | Path, stations: gpd.GeoDataFrame,
                          margin_db: float, best_of_operators: bool = True) -> pd.DataFrame:
    """Measured SS-RSRP against the predicted median at each test point.

    Parameters
    ----------
    tests : pandas.DataFrame
        Field tests (:data:`coverage.audit.results.TEST_COLUMNS`). Tests without service (no
        RSRP) are left out.
    raster_path : str or Path, keyword-only
        The run's GeoTIFF (band 1: SS-RSRP in dBm after the edge margin).
    stations : geopandas.GeoDataFrame, keyword-only
        Canonical stations, for the band of tests that did not record one.
    margin_db : float, keyword-only
        The run's edge margin z_p sigma (dB), added back to the raster to get the median.
    best_of_operators : bool, keyword-only
        Keep only the strongest test per test point (:func:`coverage.audit.results.field_test_points`:
        same village, coordinates equal to 1e-4 degrees, about 10 m), since the prediction is the
        best of all operators.

    Returns
    -------
    pandas.DataFrame
        ``village_code, city_code, operator, band, band_source, lon, lat, measured_rsrp_dbm,
        predicted_rsrp_dbm`` (raster), ``predicted_median_dbm`` (raster + margin),
        ``difference_db`` (measured - median); NaN predictions where the raster has no value.
    """
    frame = pd.DataFrame({c: tests[c].to_numpy() for c in ("village_code", "operator", "band", "lon", "lat",
                                                            "rsrp_dbm")})
    frame = frame[frame["rsrp_dbm"].notna()].reset_index(drop=True)
    if best_of_operators and len(frame):
        frame["_point"] = field_test_points(frame)
        order = frame.sort_values("rsrp_dbm", ascending=False, kind="stable")
        frame = order.drop_duplicates("_point").sort_index().drop(columns="_point").reset_index(drop=True)
    bands, sources = serving_bands(frame, stations)
    predicted = sample_raster(raster_path, frame["lon"].to_numpy(float), frame["lat"].to_numpy(float)) \
        if len(frame) else np.array([], dtype=float)
    out = pd.DataFrame({
        "village_code": frame["village_code"].astype(str).to_numpy(),
        "city_code": [str(c)[:4] for c in frame["village_code"]],
        "operator": frame["operator"].to_numpy(),
        "band": pd.Series(bands, dtype="str"),
        "band_source": pd.Series(sources, dtype="str"),
        "lon": frame["lon"].to_numpy(float),
        "lat": frame["lat"].to_numpy(float),
        "measured_rsrp_dbm": frame["rsrp_dbm"].to_numpy(float),
        "predicted_rsrp_dbm": predicted,
        "predicted_median_dbm": predicted + margin_db,
    })
    out["difference_db"] = out["measured_rsrp_dbm"] - out["predicted_median_dbm"]
    return out


def calibration_offsets(comparison: pd.DataFrame, *, city_names: dict[str, str] | None = None,
                        min_tests: int = MIN_TESTS, confidence: float = 0.95) -> pd.DataFrame:
    """Mean measured-minus-predicted SS-RSRP per (band, city), and per band over all cities.

    Parameters
    ----------
    comparison : pandas.DataFrame
        :func:`measured_vs_predicted` output; rows without a band or a prediction are left out.
    city_names : dict, keyword-only
        City code -> name, for the report.
    min_tests : int, keyword-only
        A row with fewer tests is reported but not ``usable`` (too few tests to read much into it).
    confidence : float, keyword-only
        Level of the t-interval of the mean.

    Returns
    -------
    pandas.DataFrame
        :data:`OFFSET_COLUMNS`: ``band, city_code`` (:data:`ALL_CITIES` for the pooled rows),
        ``city_name, n_tests, n_villages, offset_db`` (mean difference, dB), ``median_db,
        std_db, low_db, high_db`` (interval of the mean, dB), ``usable``; ordered by band, then
        city with the pooled row first. The area rows (``band`` :data:`ALL_BANDS`, shrunk clutter
        offsets per city and county; see the module notes) come first, each county after its city.
    """
    data = comparison.dropna(subset=["band", "difference_db"])
    data = data[data["band"].astype(str) != "nan"]
    names = dict(city_names or {})
    rows = []
    pooled = data.assign(city_code=ALL_CITIES)
    for (band, city), part in pd.concat([pooled, data]).groupby(["band", "city_code"], sort=True):
        diff = part["difference_db"].to_numpy(float)
        n = len(diff)
        std = float(np.std(diff, ddof=1)) if n > 1 else float("nan")
        mean = float(np.mean(diff))
        if n > 1 and std > 0:
            half = float(student_t.ppf(0.5 + confidence / 2.0, n - 1)) * std / np.sqrt(n)
        else:
            half = float("nan")
        rows.append({
            "band": str(band), "city_code": str(city),
            "city_name": "all cities" if city == ALL_CITIES else names.get(str(city)),
            "n_tests": n, "n_villages": int(part["village_code"].nunique()),
            "offset_db": round(mean, 3), "median_db": round(float(np.median(diff)), 3),
            "std_db": round(std, 3), "low_db": round(mean - half, 3), "high_db": round(mean + half, 3),
            "usable": n >= min_tests,
        })
    rows.extend(_area_rows(data, rows, names=names, min_tests=min_tests, confidence=confidence))
    out = pd.DataFrame(rows, columns=list(OFFSET_COLUMNS))
    out["city_name"] = out["city_name"].astype("str")
    return out.sort_values(["band", "city_code"], kind="stable").reset_index(drop=True)


def _area_rows(data: pd.DataFrame, band_rows: list[dict[str, object]], *, names: dict[str, str],
               min_tests: int, confidence: float) -> list[dict[str, object]]:
    """Area rows: residuals after the band's pooled offset, shrunk per city, then per county in it."""
    pooled = {r["band"]: r["offset_db"] for r in band_rows if r["city_code"] == ALL_CITIES}
    if data.empty:
        return []
    residual = data["difference_db"].to_numpy(float) - data["band"].astype(str).map(pooled).to_numpy(float)
    tests = pd.DataFrame({"village": data["village_code"].astype(str).to_numpy(), "r": residual})
    tests["city"] = tests["village"].str[:4]
    tests["county"] = tests["village"].str[:6]
    villages = tests.groupby("village", sort=True).agg(r=("r", "mean"), city=("city", "first"),
                                                      county=("county", "first"))
    city = shrunk_means(villages["r"], villages["city"])
    villages["city_offset"] = city["offset"].reindex(villages["city"]).to_numpy()
    county = shrunk_means(villages["r"] - villages["city_offset"], villages["county"])
    county_parent = villages.groupby("county")["city_offset"].first()
    rows: list[dict[str, object]] = []
    parents = {str(k): float(v) for k, v in county_parent.items()}
    for level, table in (("city", city), ("county", county)):
        for code, rec in table.iterrows():
            part = tests.loc[tests[level] == code, "r"].to_numpy(float)
            offset = float(rec["offset"]) + (parents[str(code)] if level == "county" else 0.0)
            n = len(part)
            std = float(np.std(part, ddof=1)) if n > 1 else float("nan")
            # the interval is that of the raw mean residual; the offset is the shrunk estimate
            half = float(student_t.ppf(0.5 + confidence / 2.0, n - 1)) * std / np.sqrt(n) \
                if n > 1 and std > 0 else float("nan")
            mean = float(np.mean(part))
            rows.append({
                "band": ALL_BANDS, "city_code": str(code), "city_name": names.get(str(code)),
                "n_tests": n, "n_villages": int(rec["n"]), "offset_db": round(offset, 3),
                "median_db": round(float(np.median(part)), 3), "std_db": round(std, 3),
                "low_db": round(mean - half, 3), "high_db": round(mean + half, 3), "usable": n >= min_tests,
            })
    return rows
