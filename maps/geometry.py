"""Display geometry: topology-preserving simplification, GCJ-02 display shift, rounded GeoJSON.

Everything here is for drawing only; stored geometries are never changed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely

from coverage.crs import wgs84_to_gcj02

#: Default simplification tolerance (degrees; about 10 m): roughly the square root of the area of the
#: triangles Visvalingam-Whyatt may remove.
SIMPLIFY_TOLERANCE_DEG = 1e-4
#: Default coordinate rounding (degrees; 1e-5 is about 1 m).
PRECISION_DEG = 1e-5


def simplify_coverage(geoms: Sequence[Any] | np.ndarray, tolerance_deg: float = SIMPLIFY_TOLERANCE_DEG
                      ) -> np.ndarray:
    """Simplify a set of polygons together so that shared edges stay shared.

    ``shapely.coverage_simplify`` (GEOS >= 3.12) simplifies each shared edge once for both of its
    polygons, so neighbouring villages keep one common border and no slivers or gaps open between them.
    Edges that are not exactly shared in the input (overlaps, unmatched vertices) are simplified without
    repair. Missing or empty geometries pass through as they are. ``tolerance_deg`` <= 0 returns a copy.
    """
    out = np.array(geoms, dtype=object)
    present = ~shapely.is_missing(out) & ~shapely.is_empty(out)
    if tolerance_deg > 0 and present.any():
        out[present] = shapely.coverage_simplify(out[present], tolerance_deg)
    return out


def shift_to_gcj02(geoms: np.ndarray) -> np.ndarray:
    """WGS84 geometries shifted to GCJ-02 (for drawing on a GCJ-02 basemap only)."""

    def shift(coords: np.ndarray) -> np.ndarray:
        lon, lat = wgs84_to_gcj02(coords[:, 0], coords[:, 1])
        return np.column_stack([lon, lat])

    return np.asarray(shapely.transform(np.asarray(geoms, dtype=object), shift), dtype=object)


def round_coordinates(geoms: np.ndarray, precision_deg: float = PRECISION_DEG) -> np.ndarray:
    """Coordinates rounded to ``precision_deg`` so the embedded GeoJSON stays short."""
    decimals = max(0, round(-math.log10(precision_deg)))
    return np.asarray(shapely.transform(np.asarray(geoms, dtype=object),
                                        lambda c: np.round(c, decimals)), dtype=object)


def display_geometries(geoms: Sequence[Any] | np.ndarray, *, tolerance_deg: float = SIMPLIFY_TOLERANCE_DEG,
                       precision_deg: float = PRECISION_DEG, gcj02: bool = False) -> np.ndarray:
    """Simplify (as one coverage), shift to GCJ-02 when asked, and round: geometries ready to draw."""
    out = simplify_coverage(geoms, tolerance_deg)
    if gcj02:
        out = shift_to_gcj02(out)
    return round_coordinates(out, precision_deg)


def display_points(lon: np.ndarray, lat: np.ndarray, *, gcj02: bool = False,
                   precision_deg: float = PRECISION_DEG) -> tuple[np.ndarray, np.ndarray]:
    """Point coordinates ready to draw: shifted to GCJ-02 when asked, rounded."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    if gcj02:
        lon, lat = wgs84_to_gcj02(lon, lat)
    decimals = max(0, round(-math.log10(precision_deg)))
    return np.round(lon, decimals), np.round(lat, decimals)


def feature_collection(geoms: np.ndarray, properties: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of the geometries that exist, with their properties."""
    features = []
    for geom, props in zip(geoms, properties, strict=True):
        if geom is None or shapely.is_empty(geom):
            continue
        features.append({"type": "Feature", "properties": props, "geometry": geom.__geo_interface__})
    return {"type": "FeatureCollection", "features": features}


def lonlat_bounds(geoms: np.ndarray) -> list[list[float]]:
    """Leaflet bounds ``[[south, west], [north, east]]`` of the geometries."""
    minx, miny, maxx, maxy = shapely.total_bounds(np.asarray(geoms, dtype=object))
    return [[float(miny), float(minx)], [float(maxy), float(maxx)]]
