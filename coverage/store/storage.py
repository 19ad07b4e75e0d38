"""Relational storage through SQLAlchemy 2: the :class:`Store` of one deployment, on SQLite (embedded) or
PostgreSQL/PostGIS, over the one schema of :mod:`coverage.store.tables`.

Geometries are WGS84 (EPSG:4326). On SQLite they are stored as WKB blobs, so the embedded default
needs no SpatiaLite; on PostgreSQL the same columns are PostGIS ``geometry(Geometry, 4326)`` with
GiST indexes, written and read as WKB. Every write is one transaction: a write that fails leaves
the database as it was.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import (
    Boolean,
    Float,
    Integer,
    Table,
    create_engine,
    delete,
    event,
    false,
    func,
    select,
)
from sqlalchemy.engine import Connection, Engine

from coverage.errors import (
    NO_PUBLISHED_RUN_ANALYZE,
    RUN_STATUS_NAMES,
    ConfigError,
    NotFoundError,
    Problem,
    ValidationError,
    run_missing,
    run_unpublished,
)
from coverage.processes import owner_id
from coverage.schema import COLUMNS, GEOMETRY, Kind, conform, is_village_committee
from coverage.store.tables import (
    TABLES,
    Geometry,
    create_schema,
    divisions,
    ingests,
    runs,
    stations,
    village_results,
    villages,
)

__all__ = [
    "CODES_PER_QUERY",
    "KEYS",
    "READ_CHUNK",
    "WGS84",
    "Fingerprint",
    "IngestRecord",
    "SeedTable",
    "Store",
    "frame_fingerprint",
    "insert_rows",
    "make_engine",
    "python_value",
]

WGS84 = "EPSG:4326"


#: Columns that identify a row of each kind (stations: NULL cell_id counts as one value).
KEYS: dict[Kind, tuple[str, ...]] = {
    "villages": ("code",),
    "stations": ("site_id", "cell_id", "operator", "band"),
    "measurements": (),
}


@dataclass(frozen=True)
class IngestRecord:
    """What is logged about one write: the file, its fingerprint and how it was read."""

    kind: Kind
    file_name: str
    sha256: str
    mode: str = "append"
    crs: str | None = None
    encoding: str | None = None
    warnings: int = 0


#: How long a SQLite connection waits for another's lock (ms).
SQLITE_BUSY_TIMEOUT_MS = 30_000


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    # WAL: readers keep the last committed state during writes. A first MR load may hold the database with a
    # rollback journal (coverage/ingest/mr_sqlite.py) and switch it back at its end: this connection cannot
    # switch then, and waits for the load's locks as any reader
    with contextlib.suppress(sqlite3.OperationalError):
        cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def make_engine(url: str) -> Engine:
    """An engine for ``url`` (``sqlite:///path`` or ``postgresql+psycopg://...``)."""
    if url.startswith("sqlite"):
        engine = create_engine(url)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith("postgresql"):
        return create_engine(url, pool_pre_ping=True)
    raise ConfigError(f"不支持的数据库地址 {url!r}：请用 sqlite:///FILE 或 postgresql+psycopg://... "
                      f"(unsupported database URL {url!r}: use sqlite:///FILE or postgresql+psycopg://...)")



@dataclass(frozen=True)
class SeedTable:
    """A table besides the kinds that :meth:`Store.seed_parts` replaces in its transaction (the MR grids):
    the parts name it by the table's name, the ingest log by ``kind``; ``write(conn, rows)`` stores one chunk
    of rows on the seed's connection and returns how many."""

    kind: str
    table: Table
    write: Callable[[Connection, Any], int]


#: One part of a seed: (divisions, {kind: rows}), optionally with {table name: row chunks} of its :class:`SeedTable`s.
SeedPart = (tuple[gpd.GeoDataFrame, Mapping[Kind, gpd.GeoDataFrame]]
            | tuple[gpd.GeoDataFrame, Mapping[Kind, gpd.GeoDataFrame], Mapping[str, Iterable[Any]]])

class Store:
    """The database of one deployment.

    Parameters
    ----------
    url
        SQLAlchemy database URL. ``sqlite:///data/village5g.db`` is the embedded default;
        ``postgresql+psycopg://user@host/db`` selects PostgreSQL with PostGIS.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    def create_schema(self) -> None:
        """Create every table and index that is missing (:func:`coverage.store.tables.create_schema`)."""
        create_schema(self.engine)

    def dispose(self) -> None:
        """Close pooled connections."""
        self.engine.dispose()

    # -- writing -------------------------------------------------------------------------------

    def write(self, kind: Kind, frame: gpd.GeoDataFrame, *, record: IngestRecord,
              replace: bool = False) -> int:
        """Store validated rows of ``kind`` in one transaction; return the number written.

        With ``replace`` the rows stored before are deleted in the same transaction. Without it,
        rows whose key is already stored reject the whole write (:class:`ValidationError` naming
        the rows), so a second ingest of the same file cannot duplicate data.
        """
        rows = _to_rows(kind, frame)
        with self.engine.begin() as conn:
            if replace:
                conn.execute(delete(TABLES[kind]))
            else:
                self._check_conflicts(conn, kind, frame, record.file_name)
            insert_rows(conn, TABLES[kind], rows)
            conn.execute(ingests.insert().values(
                kind=kind, file_name=record.file_name, sha256=record.sha256, rows=len(rows),
                mode="replace" if replace and record.mode == "append" else record.mode,
                crs=record.crs, encoding=record.encoding, warnings=record.warnings,
                created_at=_utcnow(),
            ))
        return len(rows)

    def _check_conflicts(self, conn: Connection, kind: Kind, frame: gpd.GeoDataFrame,
                         file_name: str) -> None:
        key = KEYS[kind]
        if not key or frame.empty:
            return
        table = TABLES[kind]
        stored = {
            tuple(_key_part(v) for v in row)
            for row in conn.execute(select(*(table.c[k] for k in key)))
        }
        if not stored:
            return
        problems = []
        incoming = zip(*(frame[k].tolist() for k in key), strict=True)
        for i, values in enumerate(incoming):
            if tuple(_key_part(v) for v in values) in stored:
                shown = ", ".join(f"{k}={v}" for k, v in zip(key, values, strict=True) if v is not None)
                problems.append(Problem(file_name, i + 1, key[0],
                                        f"{kind[:-1]} {shown} is already stored (use --replace to "
                                        "replace the stored set)"))
        if problems:
            raise ValidationError(problems)

    def write_divisions(self, frame: gpd.GeoDataFrame) -> int:
        """Replace the division reference (province, city, county, township rows) in one transaction."""
        rows = _division_rows(frame)
        with self.engine.begin() as conn:
            conn.execute(delete(divisions))
            insert_rows(conn, divisions, rows)
        return len(rows)

    def seed(self, *, divisions_frame: gpd.GeoDataFrame, frames: dict[Kind, gpd.GeoDataFrame],
             fingerprint: str) -> dict[str, int]:
        """Replace divisions and every kind with the given frames in one transaction."""
        return self.seed_parts([(divisions_frame, frames)], kinds=tuple(frames), fingerprint=lambda: fingerprint)

    def seed_parts(self, parts: Iterable[SeedPart], *, kinds: Sequence[Kind], fingerprint: Callable[[], str],
                   tables: Sequence[SeedTable] = ()) -> dict[str, int]:
        """Replace divisions and every kind of ``kinds`` with the rows of ``parts``, in one transaction.

        ``parts`` yields (divisions, {kind: rows}) pairs, e.g. one province at a time from a
        generator that builds it when asked: each part is stored before the next is asked for, so
        the memory is one part's, and the rows are stored in the order given, as one
        :meth:`seed` of the parts concatenated stores them. ``fingerprint`` is called after the
        last part (a checksum of the whole world) and logged with every kind. Until the commit
        readers see what was stored before; an error, or a part that fails to build, stores nothing.

        ``tables``: other tables the seed replaces too (the MR grids): each is emptied first; a part may
        carry a third item, {table name: iterable of row chunks}, each chunk stored by the table's
        ``write`` as it comes (so a part's rows of it need not be in memory at once). A table with rows
        is logged like the kinds, as its ``kind``; its rows are counted under its name.
        """
        extra = {t.table.name: t for t in tables}
        counts: dict[str, int] = {"divisions": 0, **dict.fromkeys(kinds, 0), **dict.fromkeys(extra, 0)}
        with self.engine.begin() as conn:
            for kind in kinds:
                conn.execute(delete(TABLES[kind]))
            for table in tables:
                conn.execute(delete(table.table))
            conn.execute(delete(divisions))
            for divisions_frame, frames, *more in parts:
                unknown = set(frames) - set(kinds) | {k for m in more for k in m} - set(extra)
                if unknown:
                    raise ValueError(f"a seed part has rows of {', '.join(sorted(unknown))}, not among "
                                     f"{(*kinds, *extra)}")
                counts["divisions"] += _insert_frame(conn, divisions, divisions_frame, _division_rows)
                for kind, frame in frames.items():
                    counts[kind] += _insert_frame(conn, TABLES[kind], frame, partial(_to_rows, kind))
                for chunks in more:
                    for name, row_chunks in chunks.items():
                        for chunk in row_chunks:
                            counts[name] += extra[name].write(conn, chunk)
            sha256, now = fingerprint(), _utcnow()
            logged: list[tuple[str, int]] = [(kind, counts[kind]) for kind in kinds]
            logged += [(t.kind, counts[name]) for name, t in extra.items() if counts[name]]
            for logged_kind, logged_rows in logged:
                conn.execute(ingests.insert().values(
                    kind=logged_kind, file_name="seed world", sha256=sha256, rows=logged_rows,
                    mode="seed", crs="EPSG:4326", encoding=None, warnings=0, created_at=now,
                ))
        return counts

    # -- reading -------------------------------------------------------------------------------

    def read(self, kind: Kind, *, city_code: str | None = None, county_code: str | None = None,
             committees_only: bool = False, codes: Sequence[str] | None = None,
             box: tuple[float, float, float, float] | None = None) -> gpd.GeoDataFrame:
        """Stored rows of ``kind`` as a GeoDataFrame with the canonical columns, in EPSG:4326.

        ``city_code``, ``county_code``, ``committees_only`` and ``codes`` filter villages;
        ``box`` (lon_min, lat_min, lon_max, lat_max, edges included) filters stations and
        measurements. Villages come in code order, points in stored (id) order.
        """
        frames = list(self.read_chunks(kind, city_code=city_code, county_code=county_code,
                                       committees_only=committees_only, codes=codes, box=box))
        if len(frames) == 1:
            return frames[0]
        return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=WGS84)

    def read_chunks(self, kind: Kind, *, city_code: str | None = None, county_code: str | None = None,
                    committees_only: bool = False, codes: Sequence[str] | None = None,
                    box: tuple[float, float, float, float] | None = None) -> Iterator[gpd.GeoDataFrame]:
        """:meth:`read` in typed chunks of at most :data:`READ_CHUNK` rows (at least one, maybe empty).

        Rows are converted chunk by chunk (a server-side cursor on PostgreSQL), so the Python objects
        of at most ``READ_CHUNK`` rows exist at a time: a caller that keeps only what it needs of each
        chunk (a fingerprint, bounds) reads a national table in the memory of one chunk.
        """
        table = TABLES[kind]
        names = [c.name for c in COLUMNS[kind]]
        cols = [table.c[n] for n in names]
        if GEOMETRY[kind] == "polygon":
            cols.append(table.c.geom)
        order = [table.c.code] if kind == "villages" else [table.c.id]
        query = select(*cols).order_by(*order)
        if kind == "villages":
            if city_code:
                query = query.where(villages.c.city_code == city_code)
            if county_code:
                query = query.where(villages.c.county_code == county_code)
            if committees_only:
                query = query.where(villages.c.is_committee.is_(True))
        elif box is not None:
            query = query.where(table.c.lon >= box[0], table.c.lon <= box[2],
                                table.c.lat >= box[1], table.c.lat <= box[3])
        if codes is not None and kind == "villages":
            wanted = sorted(set(codes))
            queries = [query.where(villages.c.code.in_(wanted[i:i + CODES_PER_QUERY]))
                       for i in range(0, len(wanted), CODES_PER_QUERY)] or [query.where(false())]
        else:
            queries = [query]
        keys = [c.name for c in cols]
        produced = False
        with self.engine.connect() as conn:
            for q in queries:
                result = conn.execution_options(stream_results=True, yield_per=READ_CHUNK).execute(q)
                for rows in result.partitions():
                    data = {k: [r[i] for r in rows] for i, k in enumerate(keys)}
                    produced = True
                    yield _from_rows(kind, data, len(rows))
                    del rows, data
        if not produced:
            yield _from_rows(kind, {k: [] for k in keys}, 0)

    def read_divisions(self, level: str | Sequence[str] | None = None, *, within: str | None = None
                       ) -> gpd.GeoDataFrame:
        """The division reference, by code (optionally of one level or several, and only the divisions
        whose code starts with ``within``), geometry in EPSG:4326 where known."""
        query = select(divisions).order_by(divisions.c.code)
        if level:
            query = query.where(divisions.c.level.in_([level] if isinstance(level, str) else list(level)))
        if within:
            query = query.where(divisions.c.code.startswith(within, autoescape=True))
        with self.engine.connect() as conn:
            result = conn.execute(query)
            data = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
        geom = data.pop("geom") if "geom" in data else pd.Series([], dtype=object)
        geometry = shapely.from_wkb(np.array([g if g is not None else None for g in geom], dtype=object))
        return gpd.GeoDataFrame(data, geometry=geometry, crs=WGS84)

    def counts(self) -> dict[str, int]:
        """Row counts of every stored table."""
        with self.engine.connect() as conn:
            out = {
                name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
                for name, table in (("divisions", divisions), *TABLES.items())
            }
            out["village_committees"] = int(conn.execute(
                select(func.count()).select_from(villages).where(villages.c.is_committee.is_(True))
            ).scalar_one())
        return out

    def counts_by_city(self) -> pd.DataFrame:
        """Village-level units and village committees (村委会) per city."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(villages.c.city_code, func.max(villages.c.city_name), func.count(),
                       func.sum(func.cast(villages.c.is_committee, Integer)))
                .group_by(villages.c.city_code).order_by(villages.c.city_code)
            ).all()
        return pd.DataFrame(
            [(r[0], r[1], int(r[2]), int(r[3] or 0)) for r in rows],
            columns=["city_code", "city_name", "units", "village_committees"],
        )

    def station_counts(self) -> pd.DataFrame:
        """Cells per operator, band and status."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(stations.c.operator, stations.c.band, stations.c.status, func.count())
                .group_by(stations.c.operator, stations.c.band, stations.c.status)
                .order_by(stations.c.operator, stations.c.band, stations.c.status)
            ).all()
        return pd.DataFrame([tuple(r) for r in rows], columns=["operator", "band", "status", "cells"])

    def last_ingests(self, limit: int = 10) -> pd.DataFrame:
        """The most recent writes, newest first."""
        with self.engine.connect() as conn:
            result = conn.execute(select(ingests).order_by(ingests.c.id.desc()).limit(limit))
            return pd.DataFrame(result.fetchall(), columns=list(result.keys()))

    # -- analysis runs -------------------------------------------------------------------------

    def start_run(self, *, rules: dict[str, Any], parameters: dict[str, Any], inputs: dict[str, Any],
                  code_version: str) -> int:
        """Record a new run as ``running`` (invisible to readers of results) and return its id.

        The run names this process as its owner (``host:pid``), so that a run whose process was
        killed can be found and failed (:func:`coverage.runs.jobs.fail_dead_runs`).
        """
        with self.engine.begin() as conn:
            result = conn.execute(runs.insert().values(
                status="running", started_at=_utcnow(), rules=rules, parameters=parameters,
                inputs=inputs, code_version=code_version, owner=owner_id(),
            ))
            return int(result.inserted_primary_key[0])  # type: ignore[index]

    def write_results(self, run_id: int, results: pd.DataFrame) -> int:
        """Add village results to a run that is still ``running`` (its own transaction).

        Readers see only published runs, so a partitioned run writes each partition's results as it
        arrives and publishes at the end (:meth:`publish_run` without results); a run that fails
        has them deleted (:meth:`fail_run`).
        """
        rows = _result_rows(run_id, results)
        with self.engine.begin() as conn:
            status = conn.execute(select(runs.c.status).where(runs.c.id == run_id)).scalar()
            if status != "running":
                raise ConfigError(f"分析运行 {run_id} {RUN_STATUS_NAMES.get(status or 'missing', status)}，"
                                  f"不在运行中：它的结果已定 "
                                  f"(run {run_id} is {status or 'missing'}, not running: its results are final)")
            insert_rows(conn, village_results, rows)
        return len(rows)

    def publish_run(self, run_id: int, results: pd.DataFrame | None, *, timings: dict[str, float],
                    counts: dict[str, int], raster_path: str | None) -> None:
        """Store a run's village results (None: written before with :meth:`write_results`) and mark
        it ``published``, in one transaction."""
        rows = [] if results is None else _result_rows(run_id, results)
        with self.engine.begin() as conn:
            insert_rows(conn, village_results, rows)
            conn.execute(runs.update().where(runs.c.id == run_id).values(
                status="published", finished_at=_utcnow(), timings=timings, counts=counts,
                raster_path=raster_path,
            ))

    def fail_run(self, run_id: int, error: str) -> None:
        """Mark a run ``failed`` with its error and delete any results it had written."""
        with self.engine.begin() as conn:
            conn.execute(delete(village_results).where(village_results.c.run_id == run_id))
            conn.execute(runs.update().where(runs.c.id == run_id).values(
                status="failed", finished_at=_utcnow(), error=error[:2000],
            ))

    def latest_run_id(self) -> int | None:
        """The newest published run, or None."""
        with self.engine.connect() as conn:
            value = conn.execute(select(func.max(runs.c.id)).where(runs.c.status == "published")).scalar()
        return int(value) if value is not None else None

    def read_run(self, run_id: int) -> dict[str, Any]:
        """One run's record; :class:`NotFoundError` when there is none."""
        with self.engine.connect() as conn:
            row = conn.execute(select(runs).where(runs.c.id == run_id)).mappings().first()
        if row is None:
            raise NotFoundError(run_missing(run_id))
        return dict(row)

    def list_runs(self, limit: int = 50) -> list[dict[str, Any]]:
        """Run records, newest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(runs).order_by(runs.c.id.desc()).limit(limit)).mappings().all()
        return [dict(r) for r in rows]

    def published_run(self, run_id: int | None = None) -> int:
        """``run_id`` when that run is published (default: the latest published run); :class:`NotFoundError`
        naming what is missing otherwise."""
        if run_id is None:
            run_id = self.latest_run_id()
            if run_id is None:
                raise NotFoundError(NO_PUBLISHED_RUN_ANALYZE)
            return run_id
        status = self.read_run(run_id)["status"]
        if status != "published":
            raise NotFoundError(run_unpublished(run_id, status))
        return run_id

    def read_results(self, run_id: int | None = None) -> gpd.GeoDataFrame:
        """Village results of a run (default: the latest published) joined with the villages.

        Columns: the canonical village columns, then every result column; geometry EPSG:4326.
        """
        run_id = self.published_run(run_id)
        result_cols = [c for c in village_results.columns if c.name not in ("run_id", "code")]
        query = (select(*(villages.c[c.name] for c in COLUMNS["villages"]), villages.c.geom, *result_cols)
                 .join_from(village_results, villages, village_results.c.code == villages.c.code)
                 .where(village_results.c.run_id == run_id).order_by(villages.c.code))
        with self.engine.connect() as conn:
            result = conn.execute(query)
            keys = list(result.keys())
            rows = result.fetchall()
        data = {k: [r[i] for r in rows] for i, k in enumerate(keys)}
        frame = _from_rows("villages", data, len(rows))
        for col in result_cols:
            frame[col.name] = data[col.name]
        frame["nearest_site_m"] = frame["nearest_site_m"].astype(float)
        frame.attrs["run_id"] = run_id
        return frame

    def read_run_results(self, run_id: int) -> pd.DataFrame:
        """A run's village results as :func:`coverage.runs.analysis.analyze_frames` returns them: ``code``
        and the result columns, in code order (no village columns, no geometry)."""
        names = [c.name for c in village_results.columns if c.name != "run_id"]
        query = (select(*(village_results.c[n] for n in names)).where(village_results.c.run_id == run_id)
                 .order_by(village_results.c.code))
        with self.engine.connect() as conn:
            rows = conn.execute(query).fetchall()
        data: dict[str, Any] = {}
        for i, column in enumerate(list(village_results.columns)[1:]):
            values = [r[i] for r in rows]
            if isinstance(column.type, Float):
                data[column.name] = np.array([np.nan if v is None else v for v in values], dtype=float)
            elif isinstance(column.type, Integer):
                data[column.name] = (np.array(values, dtype=np.int64) if None not in values
                                     else np.array([np.nan if v is None else v for v in values], dtype=float))
            elif isinstance(column.type, Boolean):
                data[column.name] = np.array(values, dtype=bool)
            else:
                data[column.name] = np.array(values, dtype=object)
        return pd.DataFrame(data, columns=names)

    def fingerprint(self, kind: Kind, *, committees_only: bool = False) -> str:
        """:func:`frame_fingerprint` of the stored rows of ``kind`` (an analysis run's input id),
        computed chunk by chunk without holding the table."""
        fingerprint = Fingerprint()
        for chunk in self.read_chunks(kind, committees_only=committees_only):
            fingerprint.update(chunk)
        return fingerprint.hexdigest()


#: Rows converted at a time when reading (see :meth:`Store.read_chunks`).
READ_CHUNK = 50_000

#: Village codes per ``IN`` list when reading villages by code (SQLite allows 32,766 parameters).
CODES_PER_QUERY = 10_000


class Fingerprint:
    """A stable sha256 of a canonical frame's values and geometries, fed in row chunks.

    Values: the column names and pandas' row hashes (``hash_pandas_object``) of the typed columns
    (:func:`coverage.schema.conform` makes them the same whichever database they were read from).
    Geometries: type, coordinate count and coordinates rounded to 1e-7 degree (about 1 cm), so a
    database's float round trip does not change it. Each of the four streams has its own sha256 and
    the digest is taken over theirs, so it does not depend on how the rows were cut into chunks:
    a national table is fingerprinted chunk by chunk as it is read (:meth:`Store.fingerprint`).
    Vectorised: about 0.1 s for the seed world's 144,000 cells (writing them as CSV, the first
    version, took 2.7 s).
    """

    def __init__(self) -> None:
        self._columns: str | None = None
        self._streams = [hashlib.sha256() for _ in range(4)]

    def update(self, frame: gpd.GeoDataFrame) -> Fingerprint:
        """Add the next rows (same columns as the rows before)."""
        plain = pd.DataFrame(frame.drop(columns=frame.geometry.name))
        columns = "\x1f".join(map(str, plain.columns))
        if self._columns is None:
            self._columns = columns
        elif columns != self._columns:
            raise ValueError("every chunk of a fingerprinted frame must have the same columns")
        rows, types, counts, coords = self._streams
        if len(plain):
            rows.update(pd.util.hash_pandas_object(plain, index=False).to_numpy().tobytes())
        geoms = np.asarray(frame.geometry.values, dtype=object)
        types.update(shapely.get_type_id(geoms).astype(np.int8).tobytes())
        counts.update(shapely.get_num_coordinates(geoms).astype(np.int64).tobytes())
        coords.update((np.round(shapely.get_coordinates(geoms), 7) + 0.0).tobytes())
        return self

    def hexdigest(self) -> str:
        digest = hashlib.sha256(b"village5g-fingerprint-3")
        digest.update((self._columns or "").encode("utf-8"))
        for stream in self._streams:
            digest.update(stream.digest())
        return digest.hexdigest()


def frame_fingerprint(frame: gpd.GeoDataFrame) -> str:
    """The :class:`Fingerprint` of a whole frame."""
    return Fingerprint().update(frame).hexdigest()


# -- row conversion ----------------------------------------------------------------------------


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def python_value(value: Any) -> Any:
    """Python scalar or None for pandas/numpy missing values."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value


def _key_part(value: Any) -> Any:
    value = python_value(value)
    return "" if value is None else str(value)


def _result_rows(run_id: int, results: pd.DataFrame) -> list[dict[str, Any]]:
    names = [c.name for c in village_results.columns if c.name != "run_id"]
    # a nullable column the results lack (a frame from before it existed) is stored empty
    columns = [results[n].tolist() if n in results or not village_results.c[n].nullable else [None] * len(results)
               for n in names]
    return [
        {"run_id": run_id, **{n: python_value(v) for n, v in zip(names, values, strict=True)}}
        for values in zip(*columns, strict=True)
    ]


def _to_rows(kind: Kind, frame: gpd.GeoDataFrame) -> list[dict[str, Any]]:
    names = [c.name for c in COLUMNS[kind]]
    geoms = frame.geometry.values
    if frame.crs is not None and not frame.crs.equals(WGS84) and len(frame):
        raise ConfigError(f"{kind} must be in EPSG:4326 before storing, got {frame.crs}")
    wkb = shapely.to_wkb(np.asarray(geoms, dtype=object))
    rows: list[dict[str, Any]] = []
    columns = [frame[n].tolist() for n in names]
    for i, values in enumerate(zip(*columns, strict=True)):
        row = {n: python_value(v) for n, v in zip(names, values, strict=True)}
        row["geom"] = wkb[i]
        if kind == "villages":
            row["is_committee"] = is_village_committee(row["code"], row.get("name"))
        if kind == "stations" and isinstance(row.get("activated_on"), dt.datetime):
            row["activated_on"] = row["activated_on"].date()
        rows.append(row)
    return rows


def _division_rows(frame: gpd.GeoDataFrame) -> list[dict[str, Any]]:
    geoms = frame.geometry.values
    rows = []
    for i, rec in enumerate(frame.to_dict("records")):
        geom = geoms[i]
        rows.append({
            "code": str(rec["code"]), "name": str(rec["name"]), "level": str(rec["level"]),
            "parent_code": python_value(rec.get("parent_code")), "host_code": python_value(rec.get("host_code")),
            "synthetic": bool(rec.get("synthetic", False)),
            "geom": None if geom is None or geom.is_empty else shapely.to_wkb(geom),
        })
    return rows


def _insert_frame(conn: Connection, table: Table, frame: gpd.GeoDataFrame,
                  to_rows: Callable[[gpd.GeoDataFrame], list[dict[str, Any]]], chunk: int = 50_000) -> int:
    """:func:`insert_rows` of a frame's rows converted ``chunk`` at a time (the Python rows of one chunk
    exist at a time); return the number of rows."""
    for start in range(0, len(frame), chunk):
        insert_rows(conn, table, to_rows(frame.iloc[start:start + chunk]))
    return len(frame)


def insert_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]], chunk: int = 5000) -> None:
    """Bulk insert in the caller's transaction: COPY on PostgreSQL, executemany in chunks on SQLite."""
    if conn.dialect.name == "postgresql" and rows:
        _copy_rows(conn, table, rows)
        return
    for start in range(0, len(rows), chunk):
        conn.execute(table.insert(), list(rows[start:start + chunk]))


def _copy_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """``COPY table FROM STDIN`` through psycopg; geometries (WKB) go in as hex EWKB with SRID 4326."""
    names = list(rows[0])
    geo = {n for n in names if isinstance(table.c[n].type, Geometry)}
    ewkb: dict[str, list[Any]] = {}
    for n in geo:
        geoms = shapely.set_srid(shapely.from_wkb([r[n] for r in rows]), 4326)
        ewkb[n] = list(shapely.to_wkb(geoms, hex=True, include_srid=True))
    cols = ", ".join(f'"{n}"' for n in names)
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor, cursor.copy(f'COPY "{table.name}" ({cols}) FROM STDIN') as copy:
        for i, row in enumerate(rows):
            copy.write_row([ewkb[n][i] if n in geo else row[n] for n in names])


def _from_rows(kind: Kind, data: dict[str, list[Any]], n: int) -> gpd.GeoDataFrame:
    if GEOMETRY[kind] == "polygon":
        geometry = shapely.from_wkb(np.array(data["geom"], dtype=object))
    else:
        geometry = shapely.points(np.asarray(data["lon"], dtype=float), np.asarray(data["lat"], dtype=float))
    return conform(kind, data, geometry)
