"""Filtered, paged queries over the stored villages, results, stations and measurements, in SQL.

Everything here filters, counts and pages in the database (SQLite and PostgreSQL alike), so a page
of a province-wide collection reads only that page. Rows come back in the shapes the rest of the
domain uses: village pages as :meth:`coverage.store.storage.Store.read_results` returns them (so
:func:`coverage.store.queries.village_table` and :func:`coverage.summary.summarize` apply unchanged),
station and measurement pages as :meth:`~coverage.store.storage.Store.read` does, plus their ``id``.

Bounding boxes
    Villages are selected by bounding box through :data:`~coverage.store.tables.village_bounds`, a table
    of each village's longitude/latitude envelope keyed by its code (SQLite has no spatial index; one code path serves
    both databases). A village matches a bbox when the bbox intersects its polygon's envelope: this
    is the envelope test PostGIS's ``&&`` makes, a superset of true intersection by at most the
    corners of an envelope. The table follows the villages by itself: it records the id of the last
    village ingest it was built from (every write of villages logs one) and is rebuilt, in one
    transaction, when a read finds that the villages moved on (:func:`ensure_village_bounds`).
    Stations and measurements are points with indexed ``lon``/``lat`` columns, tested exactly.
Region limits
    A region is a prefix of the 12-digit village code; it selects by code range, which the primary
    key serves. Points have no division code: a region limit on them keeps the points inside the
    envelope of the region's villages (:func:`region_envelope`).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import func, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.expression import ColumnElement, Select

from coverage.errors import NO_PUBLISHED_RUN, NotFoundError, run_missing, run_unpublished
from coverage.schema import COLUMNS, conform
from coverage.store.queries import LIST_COLUMNS
from coverage.store.storage import Store
from coverage.store.tables import (
    ingests,
    measurements,
    runs,
    stations,
    village_bounds,
    village_bounds_state,
    village_results,
    villages,
)
from coverage.summary import reach_rates

__all__ = [
    "VILLAGE_SORT_COLUMNS", "Envelope", "Rows", "VillageQuery", "code_prefix", "compare_runs",
    "count_villages", "data_version", "ensure_village_bounds", "extent",
    "ingest_history", "measurement_times", "query_villages", "refresh_village_bounds",
    "region_envelope", "resolve_run",
    "resolve_run_and_version", "result_rows", "run_counts", "stored_version", "village_history",
    "village_rows", "villages_version",
]

#: (lon_min, lat_min, lon_max, lat_max) in WGS84 degrees. ``lon_min > lon_max`` crosses the antimeridian.
Envelope = tuple[float, float, float, float]
PointKind = Literal["stations", "measurements"]

#: An envelope no point or village intersects (a region with no villages).
EMPTY_ENVELOPE: Envelope = (math.inf, math.inf, -math.inf, -math.inf)

_RESULT_COLUMNS = [c for c in village_results.columns if c.name not in ("run_id", "code")]
_LEVEL_COLUMNS = ("province_code", "province_name", "city_code", "city_name", "county_code", "county_name",
                  "township_code", "township_name")


@dataclass(frozen=True)
class VillageQuery:
    """Filters of a village list; every one given must hold.

    ``regions`` are code prefixes that all must match (a caller's region limit and a requested
    region, say); division codes come from names through :func:`coverage.store.regions.resolve_division`.
    ``name`` is a substring of the village name. ``bbox`` intersects the village's envelope (WGS84 degrees).
    """

    verdict: str | None = None
    no_site: bool | None = None
    verdict_source: str | None = None
    city_code: str | None = None
    county_code: str | None = None
    township_code: str | None = None
    regions: tuple[str, ...] = ()
    name: str | None = None
    bbox: Envelope | None = None
    p_min: float | None = None
    p_max: float | None = None


#: Columns a village page can be sorted by (``-`` before the name: descending); code breaks ties.
VILLAGE_SORT_COLUMNS = ("code", "name", "county_code", "township_code", "verdict", "p_covered", "verdict_source",
                        "no_site", "nearest_site_m", "n_measurements", "population")


# -- runs ----------------------------------------------------------------------------------------


def resolve_run(store: Store, run_id: int | None = None) -> int:
    """``run_id`` when that run is published, else the latest published run; NotFoundError otherwise."""
    with store.engine.connect() as conn:
        if run_id is None:
            value = conn.execute(select(func.max(runs.c.id)).where(runs.c.status == "published")).scalar()
            if value is None:
                raise NotFoundError(NO_PUBLISHED_RUN)
            return int(value)
        status = conn.execute(select(runs.c.status).where(runs.c.id == run_id)).scalar()
    if status is None:
        raise NotFoundError(run_missing(run_id))
    if status != "published":
        raise NotFoundError(run_unpublished(run_id, status))
    return run_id


def resolve_run_and_version(store: Store, run_id: int | None = None) -> tuple[int, int]:
    """:func:`resolve_run` and :func:`villages_version` in one round trip (the hot path of reads)."""
    published = select(func.max(runs.c.id)).where(runs.c.status == "published").scalar_subquery()
    status = select(runs.c.status).where(runs.c.id == (run_id or 0)).scalar_subquery()
    version = select(func.max(ingests.c.id)).where(ingests.c.kind == "villages").scalar_subquery()
    with store.engine.connect() as conn:
        latest, run_status, villages_at = conn.execute(select(published, status, version)).one()
    if run_id is None:
        if latest is None:
            raise NotFoundError(NO_PUBLISHED_RUN)
        return int(latest), int(villages_at or 0)
    if run_status is None:
        raise NotFoundError(run_missing(run_id))
    if run_status != "published":
        raise NotFoundError(run_unpublished(run_id, run_status))
    return run_id, int(villages_at or 0)


# -- village bounds ------------------------------------------------------------------------------


def villages_version(conn: Connection) -> int:
    """Id of the last logged write of villages (0 when none): changes whenever the villages do."""
    return data_version(conn, "villages")


def data_stamp(conn: Connection, kind: str) -> tuple[int, str]:
    """Id and time of the last logged write of ``kind``: unlike :func:`data_version` alone, it also
    tells a database that was emptied and filled again (ids restart) from the one before, for caches
    that outlive a connection."""
    row = conn.execute(select(ingests.c.id, ingests.c.created_at).where(ingests.c.kind == kind)
                       .order_by(ingests.c.id.desc()).limit(1)).first()
    return (0, "") if row is None else (int(row[0]), str(row[1]))


def data_version(conn: Connection, kind: str) -> int:
    """Id of the last logged write of ``kind`` (0 when none): changes whenever the stored rows do."""
    value = conn.execute(select(func.max(ingests.c.id)).where(ingests.c.kind == kind)).scalar()
    return int(value or 0)


def stored_version(store: Store, kind: str) -> int:
    """:func:`data_version` of ``kind`` in ``store`` (what caches of the stored rows are keyed by)."""
    with store.engine.connect() as conn:
        return data_version(conn, kind)


def measurement_times(store: Store) -> tuple[dt.datetime | None, dt.datetime | None]:
    """The first and the last ``measured_at`` of the stored measurements (None, None when there are none)."""
    with store.engine.connect() as conn:
        first, last = conn.execute(select(func.min(measurements.c.measured_at),
                                          func.max(measurements.c.measured_at))).one()
    return first, last


def ensure_village_bounds(store: Store) -> None:
    """Rebuild :data:`~coverage.store.tables.village_bounds` when the villages changed since it was built
    (two small reads)."""
    with store.engine.connect() as conn:
        current = villages_version(conn)
        built = conn.execute(select(village_bounds_state.c.villages_version)
                             .where(village_bounds_state.c.id == 1)).scalar()
    if built != current:
        refresh_village_bounds(store)


def refresh_village_bounds(store: Store, *, force: bool = False) -> int:
    """Recompute every village's envelope in one transaction; return the number of villages.

    Concurrent callers (several API workers) serialise on the state row; the later one finds the
    work done and returns. Without ``force`` nothing is rebuilt when the bounds are current.
    """
    for attempt in range(2):
        try:
            return _refresh(store, force=force)
        except IntegrityError:  # two first-time callers raced to create the state row
            if attempt:
                raise
    raise AssertionError("unreachable")


def _refresh(store: Store, *, force: bool) -> int:
    state = village_bounds_state
    with store.engine.begin() as conn:
        # Writing the state row first takes the write lock (SQLite) or the row lock (PostgreSQL).
        locked = conn.execute(state.update().where(state.c.id == 1)
                              .values(villages_version=state.c.villages_version)).rowcount
        if not locked:
            conn.execute(state.insert().values(id=1, villages_version=None))
        version = villages_version(conn)
        built = conn.execute(select(state.c.villages_version).where(state.c.id == 1)).scalar()
        if built == version and not force:
            return int(conn.execute(select(func.count()).select_from(village_bounds)).scalar_one())
        conn.execute(village_bounds.delete())
        result = conn.execute(select(villages.c.code, villages.c.geom).order_by(villages.c.code))
        n = 0
        while chunk := result.fetchmany(5000):
            codes = [r[0] for r in chunk]
            bounds = shapely.bounds(shapely.from_wkb(np.array([r[1] for r in chunk], dtype=object)))
            conn.execute(village_bounds.insert(), [
                {"code": c, "min_lon": float(b[0]), "min_lat": float(b[1]), "max_lon": float(b[2]),
                 "max_lat": float(b[3])}
                for c, b in zip(codes, bounds, strict=True)
            ])
            n += len(chunk)
        conn.execute(state.update().where(state.c.id == 1).values(villages_version=version))
    return n


def region_envelope(store: Store, region: str) -> Envelope:
    """The envelope of the villages whose code starts with ``region`` (:data:`EMPTY_ENVELOPE` if none)."""
    ensure_village_bounds(store)
    b = village_bounds
    with store.engine.connect() as conn:
        row = conn.execute(select(func.min(b.c.min_lon), func.min(b.c.min_lat), func.max(b.c.max_lon),
                                  func.max(b.c.max_lat)).where(code_prefix(b.c.code, region))).one()
    if row[0] is None:
        return EMPTY_ENVELOPE
    return (float(row[0]), float(row[1]), float(row[2]), float(row[3]))


def extent(store: Store, kind: str, *, committees_only: bool = False) -> Envelope | None:
    """The envelope of everything stored of ``kind`` (None when nothing is); of villages, the
    envelope of their polygons (``committees_only``: of the village committees')."""
    if kind == "villages":
        ensure_village_bounds(store)
        b = village_bounds
        query = select(func.min(b.c.min_lon), func.min(b.c.min_lat), func.max(b.c.max_lon), func.max(b.c.max_lat))
        if committees_only:
            query = query.join_from(b, villages, b.c.code == villages.c.code).where(villages.c.is_committee.is_(True))
    else:
        t = stations if kind == "stations" else measurements
        query = select(func.min(t.c.lon), func.min(t.c.lat), func.max(t.c.lon), func.max(t.c.lat))
    with store.engine.connect() as conn:
        row = conn.execute(query).one()
    return None if row[0] is None else (float(row[0]), float(row[1]), float(row[2]), float(row[3]))


# -- villages ------------------------------------------------------------------------------------


def code_prefix(column: Any, prefix: str) -> ColumnElement[bool]:
    """``column`` starts with the digits ``prefix``, as a range the index serves."""
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return (column >= prefix) & (column < upper)


def _lon_ranges(bbox: Envelope) -> list[tuple[float, float]]:
    lon_min, _, lon_max, _ = bbox
    if lon_min <= lon_max:
        return [(lon_min, lon_max)]
    return [(lon_min, 180.0), (-180.0, lon_max)]  # across the antimeridian


def _village_conditions(query: VillageQuery, run_id: int) -> list[ColumnElement[bool]]:
    r, v = village_results, villages
    conds: list[ColumnElement[bool]] = [r.c.run_id == run_id]
    # Verdicts are not selective: wrapped in coalesce so that SQLite, which has no statistics,
    # walks the (run_id, code) key instead of the verdict index across every run.
    if query.verdict:
        conds.append(func.coalesce(r.c.verdict, "") == query.verdict)
    if query.no_site is not None:
        conds.append(r.c.no_site.is_(query.no_site))
    if query.verdict_source:
        conds.append(func.coalesce(r.c.verdict_source, "") == query.verdict_source)
    if query.p_min is not None:
        conds.append(r.c.p_covered >= query.p_min)
    if query.p_max is not None:
        conds.append(r.c.p_covered <= query.p_max)
    # Division codes are prefixes of the village code: the range lets the key do the work, the
    # equality keeps the answer exact for any stored code.
    for column, value in (("city_code", query.city_code), ("county_code", query.county_code),
                          ("township_code", query.township_code)):
        if value:
            conds += [v.c[column] == value, code_prefix(r.c.code, value)]
    for region in query.regions:
        conds.append(code_prefix(r.c.code, region))
    if query.name:
        conds.append(v.c.name.contains(query.name, autoescape=True))
    if query.bbox is not None:
        b = village_bounds
        _, lat_min, _, lat_max = query.bbox
        lon = [(b.c.max_lon >= lo) & (b.c.min_lon <= hi) for lo, hi in _lon_ranges(query.bbox)]
        inside = select(b.c.code).where(lon[0] if len(lon) == 1 else lon[0] | lon[1],
                                        b.c.max_lat >= lat_min, b.c.min_lat <= lat_max)
        conds.append(r.c.code.in_(inside))
    return conds


def _village_select(*columns: Any) -> Select[Any]:
    return select(*columns).join_from(village_results, villages, village_results.c.code == villages.c.code)


def query_villages(store: Store, run_id: int, query: VillageQuery = VillageQuery(), *,
                   limit: int | None = None, offset: int = 0, count: bool = True,
                   columns: Sequence[str] | None = None) -> tuple[gpd.GeoDataFrame, int | None]:
    """One page of a run's village results that match ``query``, ordered by code, and the number matched.

    Parameters
    ----------
    run_id
        A published run (see :func:`resolve_run`).
    limit, offset
        The page; ``limit=None`` returns every match from ``offset`` on.
    count
        Also count every match (the second value; None without it).
    columns
        Only these village and result columns are read (a map reads a third of them); default all.

    Returns
    -------
    (GeoDataFrame, int or None)
        Rows shaped like :meth:`Store.read_results` (``attrs["run_id"]`` set), EPSG:4326: the same
        columns in the same order and dtypes, less those ``columns`` leaves out.
    """
    if query.bbox is not None:
        ensure_village_bounds(store)
    village_cols, result_cols = _chosen_columns(columns)
    conds = _village_conditions(query, run_id)
    page = (_village_select(*(villages.c[name] for name in village_cols), villages.c.geom, *result_cols)
            .where(*conds).order_by(village_results.c.code).offset(offset))
    if limit is not None:
        page = page.limit(limit)
    with store.engine.connect() as conn:
        result = conn.execute(page)
        keys = list(result.keys())
        rows = result.fetchall()
        matched = None
        if count:
            matched = int(conn.execute(_village_select(func.count()).where(*conds)).scalar_one())
    return _results_frame(keys, rows, run_id, village_cols, result_cols), matched


def _chosen_columns(columns: Sequence[str] | None) -> tuple[list[str], list[Any]]:
    village_cols = [c.name for c in COLUMNS["villages"]]
    if columns is None:
        return village_cols, list(_RESULT_COLUMNS)
    wanted = set(columns)
    unknown = wanted - set(village_cols) - {c.name for c in _RESULT_COLUMNS}
    if unknown:
        raise ValueError(f"villages have no column {', '.join(sorted(unknown))}")
    return [c for c in village_cols if c in wanted], [c for c in _RESULT_COLUMNS if c.name in wanted]


@dataclass
class Rows:
    """A page as plain columns: ``values[name]`` lists one Python value per row (None when missing).

    ``geometry`` holds shapely geometries (EPSG:4326), ``ids`` the feature ids. Reading a page
    this way skips building a GeoDataFrame; the values equal those of the frame functions.
    """

    columns: list[str]
    values: dict[str, list[Any]]
    geometry: np.ndarray
    ids: list[Any]

    def __len__(self) -> int:
        return len(self.ids)


#: Columns of a village page (:data:`coverage.store.queries.LIST_COLUMNS` without the computed point).
def _page_columns() -> list[Any]:
    by_name = {**{c.name: c for c in village_results.columns if c.name != "run_id"},
               **{c.name: c for c in villages.columns}}
    return [by_name[name] for name in LIST_COLUMNS if name not in ("point_lon", "point_lat")]


def village_rows(store: Store, run_id: int, query: VillageQuery = VillageQuery(), *, limit: int | None = None,
                 offset: int = 0, count: bool = True, code: str | None = None,
                 after: str | None = None, sortby: str | None = None) -> tuple[Rows, int | None]:
    """Like :func:`query_villages` but as :class:`Rows` with the columns of a village list, in order.

    ``point_lon``/``point_lat`` are computed exactly as :func:`coverage.store.queries.village_table` does
    (committee point, else a point on the polygon's surface, rounded to 1e-6 degree). ``code``
    selects one village; ``after`` starts the page after that code (then ``offset`` counts from
    there), which the key serves without skipping rows. The count ignores ``after``. ``sortby`` is one
    of :data:`VILLAGE_SORT_COLUMNS`, ``-`` before it for descending (missing values last), code next;
    it cannot be combined with ``after``.
    """
    if query.bbox is not None:
        ensure_village_bounds(store)
    conds = _village_conditions(query, run_id)
    if code is not None:
        conds.append(village_results.c.code == code)
    matched_conds = list(conds)
    if after is not None:
        conds.append(village_results.c.code > after)
    columns = _page_columns()
    page = (_village_select(*columns, villages.c.committee_lon, villages.c.committee_lat, villages.c.geom)
            .where(*conds).order_by(*_village_order(sortby, after)).offset(offset))
    if limit is not None:
        page = page.limit(limit)
    with store.engine.connect() as conn:
        rows = conn.execute(page).all()
        matched = int(conn.execute(_village_select(func.count()).where(*matched_conds)).scalar_one()) if count else None
    n = len(columns)
    values: dict[str, list[Any]] = {c.name: [r[i] for r in rows] for i, c in enumerate(columns)}
    wkb = np.array([r[n + 2] for r in rows], dtype=object)
    geometry = shapely.from_wkb(wkb) if rows else np.array([], dtype=object)
    lon = np.array([np.nan if r[n] is None else r[n] for r in rows], dtype=float)
    lat = np.array([np.nan if r[n + 1] is None else r[n + 1] for r in rows], dtype=float)
    unknown = np.isnan(lon) | np.isnan(lat)
    if unknown.any():
        surface = shapely.point_on_surface(geometry[unknown])
        lon[unknown], lat[unknown] = shapely.get_x(surface), shapely.get_y(surface)
    values["point_lon"] = np.round(lon, 6).tolist()
    values["point_lat"] = np.round(lat, 6).tolist()
    return Rows(list(LIST_COLUMNS), values, geometry, list(values["code"])), matched


def _village_order(sortby: str | None, after: str | None) -> list[Any]:
    if not sortby or sortby == "code":
        return [village_results.c.code]
    name = sortby.removeprefix("-")
    if name not in VILLAGE_SORT_COLUMNS or sortby.count("-") > 1:
        raise ValueError(f"cannot sort villages by {sortby!r}; use one of {', '.join(VILLAGE_SORT_COLUMNS)} "
                         "(- before it: descending)")
    if after is not None:
        raise ValueError("a sorted page cannot continue after a code: page it with offset")
    column = villages.c[name] if name in villages.c else village_results.c[name]
    key = column.desc() if sortby.startswith("-") else column.asc()
    return [column.is_(None), key, village_results.c.code]


def ingest_history(store: Store, *, limit: int = 50) -> list[dict[str, Any]]:
    """The latest stored writes of data (files ingested, seeds), newest first: ``id``, ``kind``,
    ``file_name``, ``rows``, ``mode`` (append, replace, seed), ``crs``, ``encoding``, ``warnings``,
    ``created_at``, ``sha256``."""
    i = ingests
    query = (select(i.c.id, i.c.kind, i.c.file_name, i.c.rows, i.c.mode, i.c.crs, i.c.encoding, i.c.warnings,
                    i.c.created_at, i.c.sha256).order_by(i.c.id.desc()).limit(limit))
    with store.engine.connect() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


def village_history(store: Store, code: str) -> list[dict[str, Any]]:
    """The village's verdict in every published run that has it, oldest first: ``run_id``,
    ``finished_at``, ``rules`` (name@version), ``verdict``, ``p_covered``, ``verdict_source``, ``no_site``."""
    r = village_results
    query = (select(runs.c.id, runs.c.finished_at, runs.c.rules, r.c.verdict, r.c.p_covered, r.c.verdict_source,
                    r.c.no_site)
             .join_from(r, runs, r.c.run_id == runs.c.id)
             .where(r.c.code == code, runs.c.status == "published").order_by(runs.c.id))
    with store.engine.connect() as conn:
        rows = conn.execute(query).all()
    out = []
    for run_id, finished, rules, verdict, p, source, no_site in rows:
        rules = rules or {}
        out.append({"run_id": int(run_id), "finished_at": finished,
                    "rules": f"{rules.get('name')}@{rules.get('version')}", "verdict": verdict,
                    "p_covered": None if p is None else float(p), "verdict_source": source,
                    "no_site": bool(no_site)})
    return out


def count_villages(store: Store, run_id: int, query: VillageQuery = VillageQuery()) -> int:
    """The number of a run's villages matching ``query``."""
    if query.bbox is not None:
        ensure_village_bounds(store)
    with store.engine.connect() as conn:
        return int(conn.execute(_village_select(func.count()).where(*_village_conditions(query, run_id))).scalar_one())


def _results_frame(keys: list[str], rows: Sequence[Any], run_id: int, village_cols: list[str],
                   result_cols: list[Any]) -> gpd.GeoDataFrame:
    data = {k: [r[i] for r in rows] for i, k in enumerate(keys)}
    geometry = shapely.from_wkb(np.array(data["geom"], dtype=object)) if rows else np.array([], dtype=object)
    frame = conform("villages", data, geometry)  # the canonical dtypes; columns not read are dropped
    if len(village_cols) < len(COLUMNS["villages"]):
        frame = frame.drop(columns=[c.name for c in COLUMNS["villages"] if c.name not in village_cols])
    for col in result_cols:
        frame[col.name] = data[col.name]
    if "nearest_site_m" in frame:
        frame["nearest_site_m"] = frame["nearest_site_m"].astype(float)
    frame.attrs["run_id"] = run_id
    return frame


def result_rows(store: Store, run_id: int, *, regions: Sequence[str] = ()) -> pd.DataFrame:
    """Every village of a run without geometry: code, name, division codes and names, verdict, no_site,
    p_covered.

    Enough for :func:`coverage.summary.summarize` and for comparing runs; cheap to read.
    """
    conds = _village_conditions(VillageQuery(regions=tuple(regions)), run_id)
    query = (_village_select(villages.c.code, villages.c.name, *(villages.c[c] for c in _LEVEL_COLUMNS),
                             village_results.c.verdict, village_results.c.no_site, village_results.c.p_covered)
             .where(*conds).order_by(village_results.c.code))
    with store.engine.connect() as conn:
        result = conn.execute(query)
        keys = list(result.keys())
        rows = result.all()
    # column by column from plain tuples: pandas probing 13k SQLAlchemy rows one by one took most of
    # a dashboard's history call (0.19 of 0.25 s on the seed world)
    frame = pd.DataFrame({k: [r[i] for r in rows] for i, k in enumerate(keys)}, columns=keys)
    if frame.empty:
        frame = pd.DataFrame({c: pd.Series(dtype=object) for c in frame.columns})
    frame["no_site"] = frame["no_site"].astype(bool)
    frame["p_covered"] = pd.to_numeric(frame["p_covered"], errors="coerce").astype(float)
    return frame


# -- stations and measurements -------------------------------------------------------------------


# -- runs seen from a region, and what changed between runs --------------------------------------

_RANK = {"uncovered": 0, "weak": 1, "covered": 2}


def run_counts(store: Store, run_ids: Sequence[int], *, regions: Sequence[str] = ()) -> dict[int, dict[str, int]]:
    """Villages per verdict, no-site, measured and total of each run, inside ``regions`` (one query)."""
    if not run_ids:
        return {}
    r = village_results
    conds: list[ColumnElement[bool]] = [r.c.run_id.in_(list(run_ids))]
    conds += [code_prefix(r.c.code, region) for region in regions]
    query = (select(r.c.run_id, r.c.verdict, r.c.no_site, r.c.verdict_source, func.count())
             .where(*conds).group_by(r.c.run_id, r.c.verdict, r.c.no_site, r.c.verdict_source))
    out: dict[int, dict[str, int]] = {
        int(i): {"covered": 0, "weak": 0, "uncovered": 0, "no_site": 0, "villages": 0, "measured": 0}
        for i in run_ids}
    with store.engine.connect() as conn:
        for run_id, verdict, no_site, source, n in conn.execute(query):
            counts = out[int(run_id)]
            counts[verdict] = counts.get(verdict, 0) + int(n)
            counts["villages"] += int(n)
            counts["no_site"] += int(n) if no_site else 0
            counts["measured"] += int(n) if source == "measured" else 0
    return out


def compare_runs(before: pd.DataFrame, after: pd.DataFrame, *, level: str = "city"
                 ) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int]]:
    """Villages whose verdict or no-site flag changed, and 通达率 per region, from ``before`` to ``after``.

    Both frames are :func:`result_rows` of a run. A village is ``flagged`` when its verdict got
    worse or it newly lacks a site, ``cleared`` when its verdict got better or it gained a site,
    ``changed`` when both happened, ``added``/``removed`` when it is in one run only.

    Returns
    -------
    (villages, regions, counts)
        ``villages``: code, name, county_code, county_name, before_verdict, after_verdict,
        before_no_site, after_no_site, change (ordered by code); ``regions``: code, name,
        villages_before, villages_after, reach_rate_before, reach_rate_after, change (0-1 scale,
        None where a run has no village of the region); ``counts`` of each kind of change.
    """
    keep = ["code", "name", "county_code", "county_name", "verdict", "no_site"]
    merged = before[keep].merge(after[keep], on="code", how="outer", suffixes=("_b", "_a"), sort=True)
    in_b, in_a = merged["verdict_b"].notna().to_numpy(), merged["verdict_a"].notna().to_numpy()
    rank_b = merged["verdict_b"].map(_RANK).to_numpy(dtype=float)
    rank_a = merged["verdict_a"].map(_RANK).to_numpy(dtype=float)
    site_b = merged["no_site_b"].astype(object).fillna(False).astype(bool).to_numpy()
    site_a = merged["no_site_a"].astype(object).fillna(False).astype(bool).to_numpy()
    worse = (rank_a < rank_b) | (site_a & ~site_b)
    better = (rank_a > rank_b) | (~site_a & site_b)
    change = np.full(len(merged), "", dtype=object)
    both = in_b & in_a
    change[both & worse & ~better] = "flagged"
    change[both & better & ~worse] = "cleared"
    change[both & better & worse] = "changed"
    change[~in_b] = "added"
    change[~in_a] = "removed"
    counts = {kind: int((change == kind).sum()) for kind in ("flagged", "cleared", "changed", "added", "removed")}
    counts["unchanged"] = int((change == "").sum())
    chosen = merged[change != ""]
    villages_out = pd.DataFrame({
        "code": chosen["code"],
        "name": chosen["name_a"].where(chosen["name_a"].notna(), chosen["name_b"]),
        "county_code": chosen["county_code_a"].where(chosen["county_code_a"].notna(), chosen["county_code_b"]),
        "county_name": chosen["county_name_a"].where(chosen["county_name_a"].notna(), chosen["county_name_b"]),
        "before_verdict": chosen["verdict_b"], "after_verdict": chosen["verdict_a"],
        "before_no_site": chosen["no_site_b"], "after_no_site": chosen["no_site_a"],
        "change": change[change != ""],
    }).reset_index(drop=True)
    code_col, name_col = f"{level}_code", f"{level}_name"

    def rates(frame: pd.DataFrame) -> pd.DataFrame:
        grouped = frame.assign(covered=frame["verdict"] == "covered").groupby(code_col, sort=True)
        return pd.DataFrame({"name": grouped[name_col].first(), "villages": grouped.size(),
                             "covered": grouped["covered"].sum()})

    rb, ra = rates(before), rates(after)
    regions = rb.merge(ra, left_index=True, right_index=True, how="outer", suffixes=("_b", "_a")).sort_index()
    villages_b = regions["villages_b"].fillna(0).astype(int)
    villages_a = regions["villages_a"].fillna(0).astype(int)
    rate_b = reach_rates(regions["covered_b"], regions["villages_b"])
    rate_a = reach_rates(regions["covered_a"], regions["villages_a"])
    regions_out = pd.DataFrame({
        "code": regions.index.astype(str),
        "name": regions["name_a"].where(regions["name_a"].notna(), regions["name_b"]),
        "villages_before": villages_b.to_numpy(), "villages_after": villages_a.to_numpy(),
        "reach_rate_before": rate_b.to_numpy(dtype=float), "reach_rate_after": rate_a.to_numpy(dtype=float),
        "change": (rate_a - rate_b).to_numpy(dtype=float),
    }).reset_index(drop=True)
    return villages_out, regions_out, counts
