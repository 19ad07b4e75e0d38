"""OGC API - Features (Part 1, Core, GeoJSON) pieces: collections, links, CRS choice and encoding.

Output is CRS84 (WGS84 longitude, latitude) by default, as RFC 7946 GeoJSON. ``crs=gcj02`` shifts
every coordinate of a response (geometries and the ``lon``/``lat``-style properties) to GCJ-02 for
Chinese web maps (Amap/Gaode, Tencent); ``bbox-crs=gcj02`` says a bbox is in GCJ-02 too. All the
shifting is done by :mod:`coverage.crs`.

Features are encoded by hand: each geometry goes to GeoJSON text once (GEOS) and properties through
:func:`json.dumps` (shortest round-trip floats, so values read back exactly); the collection is
assembled from those strings, with no intermediate dictionaries of coordinates.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlencode

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from fastapi import Request
from fastapi.responses import JSONResponse, Response

from api.errors import ApiError
from coverage.crs import gcj02_to_wgs84, wgs84_to_gcj02
from coverage.store.results_query import Envelope, Rows

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
GEOJSON = "application/geo+json"
OPENAPI_JSON = "application/vnd.oai.openapi+json;version=3.1"

CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
]


class CrsName(StrEnum):
    """Coordinate systems a response (or a bbox) may be in."""

    crs84_uri = CRS84
    crs84 = "CRS84"
    wgs84 = "wgs84"
    gcj02 = "gcj02"

    @property
    def is_gcj02(self) -> bool:
        """True for GCJ-02."""
        return self is CrsName.gcj02


class GeoJSONResponse(JSONResponse):
    """JSON with the GeoJSON media type."""

    media_type = GEOJSON


@dataclass(frozen=True)
class Collection:
    """A feature collection of the service."""

    id: str
    title: str
    description: str
    #: Properties holding WGS84 coordinates, as (lon, lat) pairs, shifted with the geometry.
    coordinate_properties: tuple[tuple[str, str], ...]


COLLECTIONS: dict[str, Collection] = {
    "villages": Collection(
        "villages", "Villages and their 5G verdicts",
        "Administrative villages with the verdicts and metrics of the latest published analysis run (or "
        "the run asked for with `run`): verdict (covered 5G通达, weak 弱覆盖, uncovered), the no-site flag "
        "(无站址), reason codes, coverage shares, committee-point signal and measured statistics. "
        "Feature id: the 12-digit village code.",
        (("point_lon", "point_lat"),)),
    "stations": Collection(
        "stations", "5G and LTE cells",
        "Stored base-station cells (one row per cell or per site): operator, band, position, antenna and "
        "status. Feature id: the stored row id.",
        (("lon", "lat"),)),
    "measurements": Collection(
        "measurements", "Signal measurements",
        "Drive tests, MR samples and field audit tests: SS-RSRP, SS-SINR and throughput. "
        "Feature id: the stored row id.",
        (("lon", "lat"),)),
}


# -- links ---------------------------------------------------------------------------------------


def base_url(request: Request) -> str:
    """The URL the service is reached at (the ``public_url`` setting, else the request's), no slash."""
    public: str = request.app.state.settings.public_url
    return public or str(request.base_url).rstrip("/")


def link(href: str, rel: str, media_type: str | None = None, title: str | None = None) -> dict[str, str]:
    """One link object."""
    out = {"href": href, "rel": rel}
    if media_type:
        out["type"] = media_type
    if title:
        out["title"] = title
    return out


def page_links(request: Request, *, offset: int, limit: int, returned: int, matched: int,
               last_id: object = None, media_type: str = GEOJSON) -> list[dict[str, str]]:
    """``self``, and ``next``/``prev`` where there are more pages, keeping every other parameter.

    The next link continues after ``last_id`` (keyset paging: the database seeks instead of
    skipping ``offset`` rows); ``offset`` still counts the features before the page.
    """
    url = base_url(request) + request.url.path
    params = [(k, v) for k, v in request.query_params.multi_items() if k not in ("offset", "limit", "after")]
    after = request.query_params.get("after")

    def at(start: int, continue_after: object = None) -> str:
        extra = [("after", str(continue_after))] if continue_after is not None else []
        return url + "?" + urlencode([*params, ("limit", str(limit)), ("offset", str(start)), *extra])

    links = [link(at(offset, after), "self", media_type, "this page")]
    if offset + returned < matched and returned == limit:
        links.append(link(at(offset + limit, last_id), "next", media_type, "next page"))
    if offset > 0:
        links.append(link(at(max(0, offset - limit)), "prev", media_type, "previous page"))
    return links


# -- parameters ----------------------------------------------------------------------------------


def parse_bbox(text: str | None, crs: CrsName | None = None) -> Envelope | None:
    """``lon_min,lat_min,lon_max,lat_max`` (or the 6-number 3D form) as a WGS84 envelope; 400 if bad."""
    if text is None or not text.strip():
        return None
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise ApiError(400, "bbox 应为 4 或 6 个逗号分隔的数字 (bbox must be 4 or 6 comma-separated numbers)",
                       code="invalid_parameter",
                       details=[{"location": "query.bbox",
                                 "message": "不是数字列表 (not a list of numbers)"}]) from None
    if len(values) == 6:
        values = [values[0], values[1], values[3], values[4]]
    problem = None
    if len(values) != 4:
        problem = "bbox 应为 4 或 6 个逗号分隔的数字 (bbox must be 4 or 6 comma-separated numbers)"
    elif not all(math.isfinite(v) for v in values):
        problem = "bbox 的数字应为有限值 (bbox numbers must be finite)"
    elif not (-180 <= values[0] <= 180 and -180 <= values[2] <= 180 and -90 <= values[1] <= values[3] <= 90):
        problem = ("bbox 应为以度为单位的 lon_min,lat_min,lon_max,lat_max，且 lat_min <= lat_max "
                   "(bbox must be lon_min,lat_min,lon_max,lat_max in degrees with lat_min <= lat_max)")
    if problem:
        raise ApiError(400, problem, code="invalid_parameter",
                       details=[{"location": "query.bbox", "message": problem}])
    lon_min, lat_min, lon_max, lat_max = values
    if crs is not None and crs.is_gcj02:
        # The shift is smooth and under a kilometre: the envelope of the unshifted corners is the box.
        lons, lats = gcj02_to_wgs84([lon_min, lon_max, lon_min, lon_max], [lat_min, lat_min, lat_max, lat_max])
        if lon_min <= lon_max:
            lon_min, lon_max = float(np.min(lons)), float(np.max(lons))
        lat_min, lat_max = float(np.min(lats)), float(np.max(lats))
    return (lon_min, lat_min, lon_max, lat_max)


# -- encoding ------------------------------------------------------------------------------------


def _to_gcj02(coords: np.ndarray) -> np.ndarray:
    lon, lat = wgs84_to_gcj02(coords[:, 0], coords[:, 1])
    return np.column_stack([lon, lat])


def _json_value(value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, np.generic):
        return _json_value(value.item())
    if isinstance(value, dt.datetime | pd.Timestamp):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _json_column(values: list[Any]) -> list[Any]:
    """``values`` as JSON-ready Python values; columns of plain text, integers or booleans pass as they are."""
    kinds = {type(v) for v in values}
    if kinds <= {str, int, bool, type(None)}:
        return values
    if kinds <= {float, int, type(None)}:
        return [v if v is None or math.isfinite(v) else None for v in values]
    return [_json_value(v) for v in values]


def frame_rows(frame: gpd.GeoDataFrame, *, columns: Sequence[str], id_column: str) -> Rows:
    """A GeoDataFrame as :class:`Rows` (for encoding with :func:`feature_strings`)."""
    values = {c: frame[c].tolist() for c in columns}
    return Rows(list(columns), values, np.asarray(frame.geometry.values, dtype=object), frame[id_column].tolist())


def feature_strings(rows: Rows, *, collection: Collection, crs: CrsName = CrsName.crs84,
                    extra: dict[str, Any] | None = None) -> list[str]:
    """Each row as the text of a GeoJSON Feature (WGS84, or GCJ-02 on request)."""
    if not len(rows):
        return []
    values = {c: _json_column(rows.values[c]) for c in rows.columns}
    geoms = rows.geometry
    if crs.is_gcj02:
        geoms = shapely.transform(geoms, _to_gcj02)
        for lon_col, lat_col in collection.coordinate_properties:
            if lon_col in values:
                lon = np.array([np.nan if v is None else v for v in values[lon_col]], dtype=float)
                lat = np.array([np.nan if v is None else v for v in values[lat_col]], dtype=float)
                glon, glat = wgs84_to_gcj02(lon, lat)
                values[lon_col] = [_json_value(float(v)) for v in glon]
                values[lat_col] = [_json_value(float(v)) for v in glat]
    geometry_text = shapely.to_geojson(geoms)
    columns = rows.columns
    extra = extra or {}
    dumps = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode
    out = []
    for i, feature_id in enumerate(rows.ids):
        props = {c: values[c][i] for c in columns}
        props.update(extra)
        out.append('{"type":"Feature","id":' + dumps(_json_value(feature_id)) + ',"geometry":'
                   + (geometry_text[i] if geometry_text[i] is not None else "null")
                   + ',"properties":' + dumps(props) + "}")
    return out


def content_crs(crs: CrsName) -> dict[str, str]:
    """The ``Content-Crs`` header of a response in ``crs``."""
    return {"Content-Crs": "<gcj02>" if crs.is_gcj02 else f"<{CRS84}>"}


def feature_collection(features: str, returned: int, *, links: list[dict[str, str]], matched: int,
                       crs: CrsName, members: dict[str, Any] | None = None) -> Response:
    """A FeatureCollection response assembled from ``returned`` encoded features joined by commas."""
    head = {
        "type": "FeatureCollection",
        "numberMatched": matched,
        "numberReturned": returned,
        "timeStamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        **(members or {}),
        "links": links,
    }
    text = (json.dumps(head, ensure_ascii=False, separators=(",", ":"))[:-1]
            + ',"features":[' + features + "]}")
    return Response(text.encode("utf-8"), media_type=GEOJSON, headers=content_crs(crs))


def feature(text: str, *, links: list[dict[str, str]], crs: CrsName) -> Response:
    """A single Feature response with its links."""
    body = text[:-1] + ',"links":' + json.dumps(links, ensure_ascii=False, separators=(",", ":")) + "}"
    return Response(body.encode("utf-8"), media_type=GEOJSON, headers=content_crs(crs))


def collection_document(request: Request, collection: Collection, envelope: Envelope | None,
                        temporal: tuple[str | None, str | None] | None = None) -> dict[str, Any]:
    """The metadata of one collection (``/collections/{id}``)."""
    root = base_url(request)
    extent: dict[str, Any] = {"spatial": {"bbox": [list(envelope) if envelope else [-180.0, -90.0, 180.0, 90.0]],
                                          "crs": CRS84}}
    if temporal is not None:
        extent["temporal"] = {"interval": [list(temporal)],
                              "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"}
    return {
        "id": collection.id,
        "title": collection.title,
        "description": collection.description,
        "itemType": "feature",
        "crs": [CRS84, "gcj02"],
        "storageCrs": CRS84,
        "extent": extent,
        "links": [
            link(f"{root}/collections/{collection.id}", "self", "application/json", collection.title),
            link(f"{root}/collections/{collection.id}/items", "items", GEOJSON, "features"),
        ],
    }
