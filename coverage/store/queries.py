"""Shaping village results for lists and exports (:func:`village_table`, shared by the CLI, the API and
the demo). Which villages: :mod:`coverage.store.results_query`, in SQL, for every interface."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

from coverage.model.verdicts import committee_points

__all__ = [
    "LIST_COLUMNS",
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
