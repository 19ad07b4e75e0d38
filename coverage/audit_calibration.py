"""Calibration offsets from audit field tests, and how an analysis applies them.

For every field test with 5G service the measured SS-RSRP is compared with the prediction at the
test point, read from the run's GeoTIFF (band 1, SS-RSRP in dBm, nodata -999, in the grid's metric
CRS) with rasterio. The GeoTIFF holds RSRP *minus the edge margin* z_p sigma (10.25 dB for 90 %
and 8 dB): a deliberately pessimistic value. The offset is taken against the predicted **median**,
raster + margin, because measurements scatter around the median; an offset against the raster
itself would, once applied, cancel the edge margin and silently turn a 90 % coverage prediction
into a 50 % one.

    difference = measured RSRP - (raster RSRP + edge margin)                      (dB)
    offset(band, city) = mean of the differences of the tests of that band and city

The band of a test is the serving band the phone recorded or, when it did not, the band of the
nearest active NR cell of the test's operator (at a site with several bands, a capacity band
n41/n78/n79 before n28, as phones prefer them). The prediction is best-of-operators, so by default
only the strongest test at each test point (tests of several operators at the same place) is
compared ("like with like"). Each (band, city) row reports its test count, the median, the
standard deviation and a t-interval of the mean; rows with city ``*`` pool all cities of a band
and serve as the fallback where a city has too few tests.

:func:`apply_calibration` adds the offset (dB) to the transmit power of each active cell by band
and city, so an analysis calls it on the stations before predicting and the prediction code stays
as it is: received power is linear in transmit power in dB, so the cell's predicted RSRP moves by
exactly the offset everywhere.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from scipy.spatial import cKDTree
from scipy.stats import t as student_t

from coverage import crs as crs_mod
from coverage.bands import BANDS, normalize_band
from coverage.errors import NotFoundError

__all__ = [
    "ALL_CITIES",
    "OFFSET_COLUMNS",
    "apply_calibration",
    "calibration_offsets",
    "measured_vs_predicted",
    "sample_raster",
    "serving_bands",
]

#: ``city_code`` of the rows that pool every city of a band.
ALL_CITIES = "*"
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
        Field tests (:data:`coverage.audit_results.TEST_COLUMNS`). Tests without service (no
        RSRP) are left out.
    raster_path : str or Path, keyword-only
        The run's GeoTIFF (band 1: SS-RSRP in dBm after the edge margin).
    stations : geopandas.GeoDataFrame, keyword-only
        Canonical stations, for the band of tests that did not record one.
    margin_db : float, keyword-only
        The run's edge margin z_p sigma (dB), added back to the raster to get the median.
    best_of_operators : bool, keyword-only
        Keep only the strongest test per village and test point (rounded to 1e-4 degrees, about
        10 m), since the prediction is the best of all operators.

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
        frame["_px"] = np.round(frame["lon"].to_numpy(float), 4)
        frame["_py"] = np.round(frame["lat"].to_numpy(float), 4)
        order = frame.sort_values("rsrp_dbm", ascending=False, kind="stable")
        frame = order.drop_duplicates(["village_code", "_px", "_py"]).sort_index().drop(columns=["_px", "_py"])
        frame = frame.reset_index(drop=True)
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
        A row with fewer tests is reported but not ``usable``: :func:`apply_calibration` then
        falls back to the band's all-city row.
    confidence : float, keyword-only
        Level of the t-interval of the mean.

    Returns
    -------
    pandas.DataFrame
        :data:`OFFSET_COLUMNS`: ``band, city_code`` (:data:`ALL_CITIES` for the pooled rows),
        ``city_name, n_tests, n_villages, offset_db`` (mean difference, dB), ``median_db,
        std_db, low_db, high_db`` (interval of the mean, dB), ``usable``; ordered by band, then
        city with the pooled row first.
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
    out = pd.DataFrame(rows, columns=list(OFFSET_COLUMNS))
    out["city_name"] = out["city_name"].astype("str")
    return out


def _station_cities(stations: gpd.GeoDataFrame, villages: gpd.GeoDataFrame | None) -> np.ndarray:
    """City code of each station: its own column, the village it stands in, or the nearest village."""
    n = len(stations)
    if "city_code" in stations.columns:
        return stations["city_code"].astype(object).to_numpy()
    out = np.full(n, None, dtype=object)
    if villages is None or villages.empty or n == 0:
        return out
    points = shapely.points(stations["lon"].to_numpy(float), stations["lat"].to_numpy(float))
    polygons = villages.geometry.values
    tree = shapely.STRtree(polygons)
    s_idx, v_idx = tree.query(points, predicate="within")
    cities = villages["city_code"].astype(str).to_numpy()
    out[s_idx] = cities[v_idx]
    outside = np.flatnonzero(pd.isna(out))
    if outside.size:
        metric = crs_mod.local_metric_crs(villages)
        mtree = shapely.STRtree(np.asarray(crs_mod.to_metric(villages.geometry, metric).array, dtype=object))
        x, y = crs_mod.project_xy(stations["lon"].to_numpy(float)[outside],
                                  stations["lat"].to_numpy(float)[outside], metric)
        src, tgt = mtree.query_nearest(shapely.points(x, y), all_matches=False)
        out[outside[src]] = cities[tgt]
    return out


def apply_calibration(stations: gpd.GeoDataFrame, offsets: pd.DataFrame, *,
                      villages: gpd.GeoDataFrame | None = None, min_tests: int | None = None) -> gpd.GeoDataFrame:
    """Stations with each active cell's transmit power moved by its (band, city) offset.

    Parameters
    ----------
    stations : geopandas.GeoDataFrame
        Canonical stations (EPSG:4326); not modified.
    offsets : pandas.DataFrame
        :func:`calibration_offsets` (``band, city_code, offset_db`` and ``usable`` or
        ``n_tests``).
    villages : geopandas.GeoDataFrame, keyword-only, optional
        Village polygons with ``city_code``: a station's city is that of the village it stands in,
        else of the nearest village. Not needed when ``stations`` has a ``city_code`` column;
        without either, only the all-city rows apply.
    min_tests : int, keyword-only, optional
        Override the offsets' ``usable`` flag: rows with at least this many tests apply.

    Returns
    -------
    geopandas.GeoDataFrame
        A copy with ``power_dbm`` (dBm) of every active cell = its power, or the band default
        when missing, + the usable (band, city) offset, else + the band's all-city offset, else
        unchanged. ``attrs["calibration"]`` summarises what was applied (cells changed, mean
        offset in dB).
    """
    out = stations.copy()
    if "usable" in offsets.columns and min_tests is None:
        usable = offsets["usable"].astype(bool).to_numpy()
    else:
        usable = offsets["n_tests"].to_numpy() >= (MIN_TESTS if min_tests is None else min_tests)
    table = {(str(b), str(c)): float(o) for b, c, o, u in
             zip(offsets["band"], offsets["city_code"], offsets["offset_db"], usable, strict=True)
             if u and np.isfinite(o)}
    active = (out["status"] == "active").to_numpy()
    bands = np.array([normalize_band(b) for b in out["band"]], dtype=object)
    cities = _station_cities(out, villages)
    delta = np.zeros(len(out))
    for i in np.flatnonzero(active).tolist():
        band = bands[i]
        if band is None:
            continue
        city = cities[i]
        key = (band, str(city)) if city is not None else None
        if key is not None and key in table:
            delta[i] = table[key]
        elif (band, ALL_CITIES) in table:
            delta[i] = table[(band, ALL_CITIES)]
    changed = delta != 0.0
    if changed.any():
        power = out["power_dbm"].to_numpy(float).copy()
        default = np.array([BANDS[b].power_dbm if b in BANDS else np.nan for b in bands], dtype=float)
        power = np.where(np.isnan(power), default, power)
        out.loc[changed, "power_dbm"] = power[changed] + delta[changed]
    out.attrs = dict(stations.attrs)
    out.attrs["calibration"] = {"cells_changed": int(changed.sum()),
                                "mean_offset_db": float(delta[changed].mean()) if changed.any() else 0.0}
    return out
