"""Stations and measurements read in SQL for the API and the tiles: filters by operator, RAT, band,
bounding box and region (a key limited to a region sees only the points inside its polygons), pages
and counts.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from sqlalchemy import func, select, true
from sqlalchemy.sql.expression import ColumnElement

from coverage.schema import COLUMNS
from coverage.store.results_query import Envelope, PointKind, Rows, code_prefix, data_stamp, region_envelope
from coverage.store.storage import Store
from coverage.store.tables import (
    measurements,
    stations,
    villages,
)

__all__ = ["PointQuery", "count_points", "in_regions", "point_rows"]

@dataclass(frozen=True)
class PointQuery:
    """Filters of a station or measurement list; every one given must hold.

    ``regions`` are division code prefixes (region limits, the ``region`` filter): the point must
    lie inside a village polygon of each (:func:`in_regions`; the regions' envelopes prefilter in
    SQL). ``bbox`` must contain the point too. ``status`` and ``site_id`` apply to stations,
    ``source``, ``start`` and ``end`` (inclusive, naive Asia/Shanghai time like ``measured_at``) to
    measurements.
    """

    operator: str | None = None
    rat: str | None = None
    band: str | None = None
    status: str | None = None
    site_id: str | None = None
    source: str | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    bbox: Envelope | None = None
    regions: tuple[str, ...] = field(default_factory=tuple)


def count_points(store: Store, kind: PointKind, query: PointQuery = PointQuery()) -> int:
    """The number of stations or measurements matching ``query``."""
    t = stations if kind == "stations" else measurements
    if query.regions:
        return len(_region_ids(store, kind, query, _point_conditions(store, kind, query)))
    with store.engine.connect() as conn:
        query_count = select(func.count()).select_from(t).where(*_point_conditions(store, kind, query))
        return int(conn.execute(query_count).scalar_one())


_REGION_IDS: dict[tuple[Any, ...], np.ndarray] = {}


_CACHE_LOCK = threading.Lock()


def _region_ids(store: Store, kind: PointKind, query: PointQuery, conds: list[ColumnElement[bool]],
                item_id: int | None = None) -> np.ndarray:
    """Ids (ascending) of the points meeting ``conds`` that lie in ``query``'s region polygons.

    Remembered per query and data version (the points' and the villages'), so paging through a
    region reads and tests its points once, not once per page.
    """
    t = stations if kind == "stations" else measurements
    with store.engine.connect() as conn:
        versions = (data_stamp(conn, kind), data_stamp(conn, "villages"))
        key = (store.url, kind, query, item_id, versions)
        hit = _REGION_IDS.get(key)
        if hit is not None:
            return hit
        rows = conn.execute(select(t.c.id, t.c.lon, t.c.lat).where(*conds).order_by(t.c.id)).all()
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    lon = np.fromiter((r[1] for r in rows), dtype=float, count=len(rows))
    lat = np.fromiter((r[2] for r in rows), dtype=float, count=len(rows))
    matching = ids[in_regions(store, query.regions, lon, lat)]
    with _CACHE_LOCK:
        if len(_REGION_IDS) >= 16:
            _REGION_IDS.pop(next(iter(_REGION_IDS)))
        _REGION_IDS[key] = matching
    return matching


def in_regions(store: Store, regions: Sequence[str], lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Which points (WGS84) lie inside a village polygon of every region (division code prefix).

    A region is the union of its stored villages' polygons, not their bounding box; a point on a
    polygon's boundary counts as inside.
    """
    inside = np.ones(len(lon), dtype=bool)
    if not len(lon):
        return inside
    with store.engine.connect() as conn:
        version = data_stamp(conn, "villages")
    for region in regions:
        shape = _region_shape(store, region, version)
        inside &= shapely.intersects_xy(shape, np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    return inside


_REGION_SHAPES: dict[tuple[str, str, tuple[int, str]], Any] = {}


def _region_shape(store: Store, region: str, version: tuple[int, str]) -> Any:
    """The union of the polygons of ``region``'s villages, prepared; remembered per villages version."""
    key = (store.url, region, version)
    shape = _REGION_SHAPES.get(key)
    if shape is None:
        with store.engine.connect() as conn:
            blobs = conn.execute(select(villages.c.geom).where(code_prefix(villages.c.code, region))).scalars().all()
        polygons = shapely.from_wkb(np.array(blobs, dtype=object)) if blobs else np.array([], dtype=object)
        shape = shapely.union_all(shapely.make_valid(polygons)) if len(polygons) else shapely.Polygon()
        shapely.prepare(shape)
        with _CACHE_LOCK:
            if len(_REGION_SHAPES) >= 64:
                _REGION_SHAPES.pop(next(iter(_REGION_SHAPES)))
            _REGION_SHAPES[key] = shape
    return shape


def point_rows(store: Store, kind: PointKind, query: PointQuery = PointQuery(), *, limit: int | None = None,
               offset: int = 0, count: bool = True, item_id: int | None = None,
               after: int | None = None) -> tuple[Rows, int | None]:
    """Stations or measurements matching ``query`` as :class:`Rows` (``id`` then the canonical
    columns), ordered by id; ``after`` starts after that id (the count ignores it)."""
    t = stations if kind == "stations" else measurements
    conds = _point_conditions(store, kind, query)
    if item_id is not None:
        conds.append(t.c.id == item_id)
    names = ["id", *(c.name for c in COLUMNS[kind])]
    if query.regions:
        # region polygons are tested here, not in SQL: the page is cut from the matching ids
        matching = _region_ids(store, kind, query, conds, item_id)
        chosen = matching[matching > after] if after is not None else matching
        chosen = chosen[offset:] if limit is None else chosen[offset:offset + limit]
        with store.engine.connect() as conn:
            rows = conn.execute(select(*(t.c[n] for n in names)).where(t.c.id.in_([int(i) for i in chosen]))
                                .order_by(t.c.id)).all() if len(chosen) else []
        matched: int | None = len(matching) if count else None
    else:
        matched_conds = list(conds)
        if after is not None:
            conds.append(t.c.id > after)
        page = select(*(t.c[n] for n in names)).where(*conds).order_by(t.c.id).offset(offset)
        if limit is not None:
            page = page.limit(limit)
        with store.engine.connect() as conn:
            rows = list(conn.execute(page).all())
            matched = None
            if count:
                matched = int(conn.execute(select(func.count()).select_from(t).where(*matched_conds)).scalar_one())
    values = {name: [r[i] for r in rows] for i, name in enumerate(names)}
    geometry = (shapely.points(np.asarray(values["lon"], dtype=float), np.asarray(values["lat"], dtype=float))
                if rows else np.array([], dtype=object))
    return Rows(names, values, geometry, list(values["id"])), matched


def _point_conditions(store: Store, kind: PointKind, query: PointQuery) -> list[ColumnElement[bool]]:
    t = stations if kind == "stations" else measurements
    conds: list[ColumnElement[bool]] = [true()]
    for name in ("operator", "rat", "band"):
        value = getattr(query, name)
        if value:
            conds.append(t.c[name] == value)
    if kind == "stations":
        if query.status:
            conds.append(t.c.status == query.status)
        if query.site_id:
            conds.append(t.c.site_id == query.site_id)
    else:
        if query.source:
            conds.append(t.c.source == query.source)
        if query.start is not None:
            conds.append(t.c.measured_at >= query.start)
        if query.end is not None:
            conds.append(t.c.measured_at <= query.end)
    within = [region_envelope(store, r) for r in query.regions]  # prefilter of the region polygons
    for box in (*within, *((query.bbox,) if query.bbox is not None else ())):
        lon_min, lat_min, lon_max, lat_max = box
        if lon_min <= lon_max or math.isinf(lon_min):
            conds.append((t.c.lon >= lon_min) & (t.c.lon <= lon_max))
        else:
            conds.append((t.c.lon >= lon_min) | (t.c.lon <= lon_max))
        conds.append((t.c.lat >= lat_min) & (t.c.lat <= lat_max))
    return conds
