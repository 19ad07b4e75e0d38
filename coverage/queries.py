"""Filtering and shaping village results for lists and exports (shared by the CLI and the API)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

import geopandas as gpd
import numpy as np
import shapely

from coverage.errors import NotFoundError
from coverage.verdicts import committee_points

#: Columns of a village list, in order (geometry last).
LIST_COLUMNS = (
    "code", "name", "township_code", "township_name", "county_code", "county_name", "city_code", "city_name",
    "verdict", "p_covered", "confidence", "predicted_verdict", "measured_verdict", "verdict_source", "no_site",
    "reasons",
    "sites_inside", "nearest_site_m", "nearest_site_id", "good_share", "weak_share", "none_share",
    "committee_rsrp_dbm", "committee_sinr_db", "committee_class", "n_measurements",
    "measured_rsrp_median_dbm", "measured_good_share", "mr_samples", "mr_good_share", "mr_period", "point_lon",
    "point_lat", "population",
)


def _short(name: str) -> str:
    """A division name without its 市/县/区 suffix (连云港市 -> 连云港)."""
    return name.removesuffix("市").removesuffix("县").removesuffix("区")


def did_you_mean(value: str, regions: Iterable[tuple[str, str]]) -> str:
    """`` (did you mean 3207 连云港市?)`` for the regions (code, name) closest to a missed ``value``:
    names compared with and without their 市/县/区 suffix (连云岗 -> 连云港市, 杨州 -> 扬州市), codes
    with codes (320151 -> 320115); empty when nothing is close."""
    value = value.strip()
    digits = value.isdigit()
    by_key: dict[str, tuple[str, str]] = {}
    for code, name in regions:
        for key in ((code,) if digits else (name, _short(name))):
            if key:
                by_key.setdefault(key, (code, name))
    # one wrong character of a two-character name (杨州 for 扬州) is a ratio of 0.5; codes must be closer
    close = difflib.get_close_matches(value, list(by_key), n=3, cutoff=0.7 if digits else 0.5)
    hits = list(dict.fromkeys(by_key[k] for k in close))
    if not hits:
        return ""
    return " (did you mean " + " or ".join(f"{code} {name}".strip() for code, name in hits) + "?)"


def _match_region(results: gpd.GeoDataFrame, value: str, code_col: str, name_col: str, what: str
                  ) -> np.ndarray:
    value = value.strip()
    by_code = (results[code_col] == value).to_numpy()
    if by_code.any():
        return by_code
    names = results[name_col].astype(str)
    by_name = (names == value).to_numpy() | (names.map(_short) == value).to_numpy()
    if by_name.any():
        return by_name
    regions = results[[code_col, name_col]].astype(str).drop_duplicates().itertuples(index=False, name=None)
    raise NotFoundError(f"no {what} with code or name {value!r} in these results{did_you_mean(value, regions)}")


def filter_results(results: gpd.GeoDataFrame, *, verdict: str | None = None, no_site: bool = False,
                   city: str | None = None, county: str | None = None,
                   township: str | None = None) -> gpd.GeoDataFrame:
    """Rows of ``results`` that match every filter given.

    ``city``, ``county`` and ``township`` accept a code or a name (南京市 or 南京).
    Raises :class:`NotFoundError` for a region that is not in the results.
    """
    keep = np.ones(len(results), dtype=bool)
    if verdict:
        keep &= (results["verdict"] == verdict).to_numpy()
    if no_site:
        keep &= results["no_site"].astype(bool).to_numpy()
    if city:
        keep &= _match_region(results, city, "city_code", "city_name", "city")
    if county:
        keep &= _match_region(results, county, "county_code", "county_name", "county")
    if township:
        keep &= _match_region(results, township, "township_code", "township_name", "township")
    out = results[keep].copy()
    out.attrs = dict(results.attrs)
    return out


def village_table(results: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The list columns of :data:`LIST_COLUMNS` with the village polygon as geometry.

    ``point_lon``/``point_lat`` are the committee point, or a representative point inside the
    polygon where the committee point is unknown (WGS84 degrees).
    """
    points = committee_points(results) if len(results) else np.array([], dtype=object)
    table = results.copy()
    table["point_lon"] = np.round(shapely.get_x(points).astype(float), 6)
    table["point_lat"] = np.round(shapely.get_y(points).astype(float), 6)
    out = gpd.GeoDataFrame(table[list(LIST_COLUMNS)], geometry=table.geometry.values, crs=results.crs)
    out.attrs = dict(results.attrs)
    return out
