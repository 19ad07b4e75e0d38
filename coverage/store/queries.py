"""Shaping village results for lists and exports (:func:`village_table`, shared by the CLI and the API),
and filters over a run already loaded whole (the maps of :mod:`maps.build`, which read a run once). The
CLI's and the API's village lists filter in SQL (:mod:`coverage.store.results_query`)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

from coverage.model.verdicts import committee_points
from coverage.store.regions import region_codes

__all__ = [
    "LIST_COLUMNS",
    "filter_results",
    "village_table",
]

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


def filter_results(results: gpd.GeoDataFrame, *, verdict: str | None = None, no_site: bool = False,
                   city: str | None = None, county: str | None = None,
                   township: str | None = None) -> gpd.GeoDataFrame:
    """Rows of ``results`` that match every filter given.

    ``city``, ``county`` and ``township`` accept a code or a name, with or without its suffix (南京市
    or 南京; :mod:`coverage.store.regions`).
    Raises :class:`NotFoundError` for a region that is not in the results.
    """
    keep = np.ones(len(results), dtype=bool)
    if verdict:
        keep &= (results["verdict"] == verdict).to_numpy()
    if no_site:
        keep &= results["no_site"].astype(bool).to_numpy()
    for level, value in (("city", city), ("county", county), ("township", township)):
        if value:
            pairs = results[[f"{level}_code", f"{level}_name"]].drop_duplicates().itertuples(index=False, name=None)
            keep &= results[f"{level}_code"].isin(region_codes(pairs, value, level)).to_numpy()
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
