"""Operators' MR grid statistics (``mr``): read, validate, store and read back by area and period.

MR (measurement reports that phones send to the network, geolocated and aggregated per grid; MDT
where the phone adds GPS) reaches a regulator as grid statistics: one row per grid, period,
operator, RAT and band (or ARFCN) with the sample count, the mean RSRP (SS-RSRP for NR), the share of
samples at or above a level stated for the file, the mean SINR, and optionally users and the mean
download rate. A province-month is tens of millions of rows, so a file is read in chunks
(:data:`CHUNK_ROWS`), each chunk validated with vectorised checks and inserted inside **one**
transaction; a file with any error is rolled back whole, so nothing stored changes.

Why a table and not columnar files beside the database: every reader (analysis, exports, the API,
partitioned runs) already reads through :class:`coverage.store.storage.Store`, which gives the
all-or-nothing write and the same behaviour on SQLite and PostgreSQL for free; a grid row is small
(no geometry column: WGS84 centre and size), and one index ``(lon, lat, period_start)`` answers "this
box, this period" from the index alone. Inserts go through the driver's bulk path (SQLite
``executemany`` of 50-row statements binding only the values that vary, and a first load into an empty
table through a rollback journal when no other connection has the database open:
:mod:`coverage.ingest.mr_sqlite`; PostgreSQL a binary ``COPY`` built with numpy: :mod:`coverage.ingest.mr_copy`);
into an empty table the index is built once after the load, in the same transaction. For PostgreSQL the
next chunk is read (pyarrow's CSV reader) and validated in a thread while the server takes the current
one; ``benchmarks/bench_mr_ingest.py`` measures it against pandas ``read_csv`` + ``to_sql``.

Grids are given by their centre (``lon``/``lat``) or their south-west corner (``corner_lon``/
``corner_lat``) and their size ``grid_m`` (one of :data:`GRID_SIZES_M`), in WGS84, CGCS2000, GCJ-02
or any projected CRS (``--crs``); they are stored by their WGS84 centre.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np
import pandas as pd
from sqlalchemy import BigInteger, and_, cast, delete, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from coverage.crs import resolve_crs
from coverage.errors import ConfigError, Problem, ValidationError, bi
from coverage.ingest.mr_arrow import read_columns
from coverage.ingest.mr_copy import COPY_COLUMNS, CopyBuffer, binary_copy, fits_int4
from coverage.ingest.mr_file import (
    MAX_PROBLEMS,
    STORED,
    FileState,
    grid_keys,
    map_mr_headers,
    read_chunks,
    validate_chunk,
)
from coverage.ingest.mr_sqlite import back_to_wal, insert_sqlite, python_column, rollback_journal
from coverage.store.storage import Store
from coverage.store.tables import ingests, mr_grids

__all__ = ["CHUNK_ROWS", "MrIngestResult", "StoredMr", "ingest_mr", "insert_mr_rows", "mr_box", "mr_summary", "read_mr",
           "stored_mr_fingerprint", "write_mr_frame"]

T = TypeVar("T")

#: Rows read, validated and inserted at a time (memory: a few hundred MB per million rows at most).
CHUNK_ROWS = 250_000
#: SQLite page cache (KiB) of an MR ingest's connection.
SQLITE_CACHE_KIB = 262_144


@dataclass
class MrIngestResult:
    """What one MR ingest stored: rows, periods, threshold and how the file was read."""

    file_name: str
    file_sha256: str
    rows: int
    crs: str
    encoding: str | None
    threshold_dbm: float | None
    periods: list[tuple[str, str]] = field(default_factory=list)
    operators: list[str] = field(default_factory=list)
    replaced: bool = False
    warnings: list[Problem] = field(default_factory=list)


# -- reading ----------------------------------------------------------------------------------------


# -- validation -------------------------------------------------------------------------------------


def _overlaps(keys: np.ndarray, periods: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Indices of rows whose grid key repeats with an overlapping period (each later row of a pair);
    ``periods(indices)`` gives those rows' first and last days."""
    # only the rows whose key repeats are sorted and walked (a province-month has none or a few)
    ordered = np.sort(keys)
    repeated = ordered[1:][ordered[1:] == ordered[:-1]]
    del ordered
    if not len(repeated):
        return np.zeros(0, dtype=np.int64)
    subset = np.flatnonzero(np.isin(keys, repeated))
    starts, ends = periods(subset)
    by = np.lexsort((starts, keys[subset]))
    order, s, e = subset[by], starts[by], ends[by]
    k = keys[order]
    same = k[1:] == k[:-1]
    # within a key, sorted by start: a row overlaps an earlier one when it starts before the running
    # maximum end of the rows before it
    hits = []
    idx = np.flatnonzero(np.r_[same, False] | np.r_[False, same])
    groups = np.split(idx, np.flatnonzero(np.diff(k[idx]) != 0) + 1)
    for g in groups:
        run_end = e[g[0]]
        for j in g[1:]:
            if s[j] <= run_end:
                hits.append(order[j])
            run_end = max(run_end, e[j])
    return np.sort(np.asarray(hits, dtype=np.int64))


def _joined(parts: list[np.ndarray]) -> np.ndarray:
    """One array of a list of chunks' arrays, the list emptied (not both held at once)."""
    whole = np.concatenate(parts)
    parts.clear()
    return whole


def _duplicate_problems(conn: Connection, state: FileState, file: str, problems: list[Problem],
                        stored_up_to: int, where: str) -> None:
    """Rows repeating a grid of the file, or of what was stored before (ids up to ``stored_up_to``), for an
    overlapping period."""
    if not state.keys:
        return
    keys, codes = _joined(state.keys), _joined(state.period_codes)
    # each row's period is a code into the file's few (first day, last day) pairs
    table = np.array(sorted(state.period_index, key=state.period_index.__getitem__), dtype=np.int64)
    table_start, table_end = (table >> 20).astype(np.int32), (table & ((1 << 20) - 1)).astype(np.int32)

    def periods(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return table_start[codes[rows]], table_end[codes[rows]]
    # the file's row of an index: chunk by chunk, (first row, rows)
    firsts = np.array([first for first, _n in state.rows], dtype=np.int64)
    offsets = np.cumsum([0] + [n for _first, n in state.rows])

    def row_of(i: int) -> int:
        chunk = int(np.searchsorted(offsets, i, side="right")) - 1
        return int(firsts[chunk] + i - offsets[chunk])
    in_file = _overlaps(keys, periods)
    for i in in_file[:MAX_PROBLEMS]:
        problems.append(Problem(file, row_of(int(i)), where, "栅格重复：文件中更早已有同一栅格、运营商、制式和频段且统计周期重叠 (duplicate grid: the same grid, operator, RAT and band "  # noqa: E501
                                                             "for an overlapping period appears earlier in the file)"))
    if state.period[0] is None or stored_up_to == 0:
        return
    b = state.box
    pad = 1e-4
    stored = pd.read_sql(select(mr_grids.c.lon, mr_grids.c.lat, mr_grids.c.grid_m, mr_grids.c.operator,
                                mr_grids.c.rat, mr_grids.c.band, mr_grids.c.period_start, mr_grids.c.period_end)
                         .where(and_(mr_grids.c.id <= stored_up_to,
                                     mr_grids.c.lon.between(b[0] - pad, b[2] + pad),
                                     mr_grids.c.lat.between(b[1] - pad, b[3] + pad),
                                     mr_grids.c.period_start <= pd.Timestamp(state.period[1]).date(),
                                     mr_grids.c.period_end >= pd.Timestamp(state.period[0]).date(),
                                     mr_grids.c.operator.in_(sorted(state.operators)))), conn)
    if stored.empty:
        return
    day0 = np.datetime64("1970-01-01", "D")
    s_keys = grid_keys(stored)
    s_start = (pd.to_datetime(stored["period_start"]).to_numpy("datetime64[D]") - day0).astype(np.int32)
    s_end = (pd.to_datetime(stored["period_end"]).to_numpy("datetime64[D]") - day0).astype(np.int32)
    both_keys = np.concatenate([s_keys, keys])
    n_stored = len(stored)

    def both_periods(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mine = np.maximum(rows - n_stored, 0)
        was = rows < n_stored
        theirs = np.minimum(rows, n_stored - 1)
        return (np.where(was, s_start[theirs], table_start[codes[mine]]),
                np.where(was, s_end[theirs], table_end[codes[mine]]))
    # stored rows first: a file row that overlaps a stored one (or only its own file's) is a hit
    hits = _overlaps(both_keys, both_periods)
    hits = hits[hits >= n_stored] - n_stored
    seen = set(in_file.tolist())
    for i in [h for h in hits.tolist() if h not in seen][:MAX_PROBLEMS]:
        problems.append(Problem(file, row_of(i), where, "栅格重复：该栅格、运营商、制式和频段在重叠的统计周期内已存储（--replace 替换已存储的 MR） (duplicate grid: this grid, operator, RAT and band is "  # noqa: E501
                                                           "already stored for an overlapping period (--replace "
                                                           "replaces the stored MR))"))


# -- storing ----------------------------------------------------------------------------------------


def _insert(conn: Connection, frame: pd.DataFrame, buffer: CopyBuffer | None = None) -> None:
    """Bulk insert of stored-form rows: PostgreSQL a binary COPY built with numpy (ids in the frame's
    order), SQLite many-row statements (:func:`coverage.ingest.mr_sqlite.insert_sqlite`)."""
    if frame.empty:
        return
    raw = conn.connection.driver_connection
    assert raw is not None
    if conn.dialect.name == "postgresql" and all(fits_int4(frame[name].to_numpy(float, na_value=np.nan))
                                                 for name in ("arfcn", "samples", "users")):
        with raw.cursor() as cursor:
            # no other writer takes ids meanwhile: the caller's transaction holds the table's write lock
            cursor.execute("SELECT setval(pg_get_serial_sequence('mr_grids', 'id'), "
                           "nextval(pg_get_serial_sequence('mr_grids', 'id')) + %s - 1)", (len(frame),))
            row = cursor.fetchone()
            assert row is not None
            data = binary_copy(frame, int(row[0]) - len(frame) + 1, buffer)
            with cursor.copy(f"COPY mr_grids ({', '.join(COPY_COLUMNS)}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.write(data)
        return
    if conn.dialect.name == "postgresql":  # a count beyond PostgreSQL's integer: its own error, as before
        columns = [python_column(frame, name).tolist() for name in STORED]
        with raw.cursor() as cursor, cursor.copy(f"COPY mr_grids ({', '.join(STORED)}) FROM STDIN") as copy:
            for values in zip(*columns, strict=True):
                copy.write_row(values)
    else:
        insert_sqlite(raw, frame)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class _Background(Generic[T]):
    """``work()`` run in a thread beside the ingest (hashing releases the GIL: the second core does it)."""

    def __init__(self, work: Callable[[], T]) -> None:
        self._result: list[T] = []
        self._error: list[BaseException] = []

        def run() -> None:
            try:
                self._result.append(work())
            except BaseException as exc:  # handed to the caller of result()
                self._error.append(exc)
        self._thread = threading.Thread(target=run, name="mr-ingest-hash", daemon=True)
        self._thread.start()

    def result(self) -> T:
        self._thread.join()
        if self._error:
            raise self._error[0]
        return self._result[0]


def _ahead(items: Iterator[T]) -> Iterator[T]:
    """``items`` produced one ahead in a thread: the next chunk is read and validated while PostgreSQL takes
    the current one (the CSV parser, numpy and the driver's waits release the GIL). Not for SQLite, which
    works in this process: its driver hands the GIL over at every statement, and on the shared 2 cores the
    thread cost more than it gained (20 million rows at load 5-6: 149.8 s and 93.8 CPU s with it, 135.6 s
    and 84.4 CPU s without)."""
    slot: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def hand(item: tuple[bool, Any]) -> bool:
        while not stop.is_set():
            try:
                slot.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not hand((True, item)):
                    return
            hand((False, None))
        except BaseException as exc:  # raised again in the consumer's thread
            hand((False, exc))

    thread = threading.Thread(target=produce, name="mr-ingest-read", daemon=True)
    thread.start()
    try:
        while True:
            more, item = slot.get()
            if not more:
                if item is not None:
                    raise item
                return
            yield item
    finally:
        stop.set()
        thread.join()


def _validated(chunks: Iterator[pd.DataFrame], file: str, source_crs: str, state: FileState,
               problems: list[Problem], threshold_dbm: float | None, source: str | None,
               headers_out: list[dict[str, str]]) -> Iterator[tuple[int, pd.DataFrame | None]]:
    """Each chunk's row count and its rows in stored form (None when it had problems, which are appended);
    the file's header mapping is put in ``headers_out``."""
    headers: dict[str, str] | None = None
    first_row = 1
    for chunk in chunks:
        if headers is None:
            headers, header_threshold, header_problems = map_mr_headers([str(c) for c in chunk.columns], file)
            if header_threshold is not None:
                if threshold_dbm is not None and threshold_dbm != header_threshold:
                    header_problems.append(Problem(file, None, "share_good",
                                                   f"列名中的门限为 {header_threshold:g} dBm，与 --threshold {threshold_dbm:g} dBm 不一致 (the header states {header_threshold:g} dBm, "  # noqa: E501
                                                   f"--threshold {threshold_dbm:g} dBm)"))
                state.threshold = header_threshold
            if header_problems:
                raise ValidationError(header_problems)
            headers_out.append(headers)
        frame = validate_chunk(chunk, first_row, file, headers, source_crs, state, problems, source)
        first_row += len(chunk)
        yield len(chunk), frame


def _drop_indexes(conn: Connection) -> Callable[[], None]:
    """Drop the indexes of an empty ``mr_grids`` for the load; returns what builds them again at its end (one
    sort is much faster than millions of inserts into them). In the ingest's transaction: a rollback
    restores them; PostgreSQL readers of the (empty) table wait for the commit."""
    dropped = [index for index in mr_grids.indexes if index.name == "ix_mr_grids_lon_lat_period"]
    for index in dropped:
        index.drop(conn)
    primary = None
    if conn.dialect.name == "postgresql":
        # the primary key's index too (SQLite's is the table itself): explicit ids, checked unique once at the end
        primary = conn.exec_driver_sql("SELECT conname FROM pg_constraint WHERE conrelid = 'mr_grids'::regclass "
                                       "AND contype = 'p'").scalar()
        if primary is not None:
            conn.exec_driver_sql(f'ALTER TABLE mr_grids DROP CONSTRAINT "{primary}"')
        conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '256MB'")  # the sorts of the builds in memory

    def build() -> None:
        if primary is not None:
            conn.exec_driver_sql(f'ALTER TABLE mr_grids ADD CONSTRAINT "{primary}" PRIMARY KEY (id)')
        for index in dropped:
            index.create(conn)
    return build


def ingest_mr(store: Store, path: str | Path, *, crs: str | None = None, encoding: str | None = None,
              threshold_dbm: float | None = None, sheet: str | None = None, replace: bool = False,
              source: str | None = None, file_name: str | None = None, chunk_rows: int = CHUNK_ROWS,
              progress: Callable[[str], None] | None = None) -> MrIngestResult:
    """Validate and store an MR grid-statistics file (CSV, Parquet or XLSX) in one transaction.

    Parameters
    ----------
    crs
        Coordinates of the grid centres/corners (default WGS84; ``gcj02``, ``cgcs2000``, ``EPSG:n``).
    threshold_dbm
        The level the share column counts samples at or above, when neither its header
        (``RSRP>=-105dBm占比``) nor a ``threshold_dbm`` column states it.
    replace
        Delete every stored MR row in the same transaction first.

    Raises
    ------
    ValidationError
        Naming file, row and field of every problem (up to :data:`MAX_PROBLEMS`); nothing is stored.
    """
    path = Path(path)
    file = file_name or path.name
    if not path.is_file():
        raise ValidationError([Problem(file, None, None, "文件不存在 (no such file)")])
    if crs is not None:
        try:
            resolve_crs(crs)
        except ConfigError as exc:
            raise ValidationError([Problem(file, None, None, str(exc))]) from None
    say = progress or (lambda _m: None)
    source_crs = crs or "wgs84"
    enc, chunks = read_chunks(path, file, encoding=encoding, sheet=sheet, chunk_rows=chunk_rows)
    sha256 = _Background(lambda: _sha256(path))
    problems: list[Problem] = []
    state = FileState(threshold=threshold_dbm)
    stored_rows = 0
    found_headers: list[dict[str, str]] = []
    with store.engine.connect() as conn, ExitStack() as after, conn.begin():
        if conn.dialect.name == "sqlite":
            # a page cache that holds the index being built (the default 2 MB spills on every insert)
            conn.exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
            # the driver begins a transaction only at the first INSERT/UPDATE/DELETE: begin it now, so that
            # dropping the index below is rolled back with everything else
            raw = conn.connection.driver_connection
            if raw is not None and not raw.in_transaction:
                # the first load into an empty table: a rollback journal when no other connection has the
                # database open (mr_sqlite), WAL again once the transaction has ended
                if not raw.execute("SELECT 1 FROM mr_grids LIMIT 1").fetchall() and rollback_journal(raw):
                    after.callback(back_to_wal, raw)
                raw.execute("BEGIN")
        else:
            # MR writers take turns (the duplicate check and the ids COPY reserves need it); readers do not wait
            conn.exec_driver_sql("LOCK TABLE mr_grids IN SHARE ROW EXCLUSIVE MODE")
        if replace:
            conn.execute(delete(mr_grids))
        stored_up_to = int(conn.execute(select(func.coalesce(func.max(mr_grids.c.id), 0))).scalar_one())
        empty = conn.execute(select(mr_grids.c.id).limit(1)).first() is None
        build_indexes = _drop_indexes(conn) if empty else (lambda: None)
        buffer = CopyBuffer()
        read = 0
        validated = _validated(chunks, file, source_crs, state, problems, threshold_dbm, source, found_headers)
        for rows, frame in _ahead(validated) if conn.dialect.name == "postgresql" else validated:
            read += rows
            if frame is not None and not problems:
                _insert(conn, frame, buffer)
                stored_rows += len(frame)
            say(bi(f"{file}：已读 {read:,} 行", f"{file}: {read:,} rows read"))
        buffer.data = bytearray()  # its 80 MB are not needed for the checks that follow
        if not found_headers:
            raise ValidationError([Problem(file, None, None, "文件为空 (the file is empty)")])
        headers = found_headers[0]
        if not problems:
            _duplicate_problems(conn, state, file, problems, 0 if empty else stored_up_to,
                                headers.get("lon", headers.get("corner_lon", "lon")))
        if problems:
            raise ValidationError(problems)  # rolls the transaction back: nothing stored
        if stored_rows == 0:
            raise ValidationError([Problem(file, None, None, "没有数据行 (no data rows)")])
        build_indexes()
        digest = sha256.result()
        conn.execute(ingests.insert().values(
            kind="mr", file_name=file, sha256=digest, rows=stored_rows, mode="replace" if replace else "append",
            crs=resolve_crs(source_crs).name, encoding=enc, warnings=0,
            created_at=dt.datetime.now(dt.UTC).replace(tzinfo=None)))
    return MrIngestResult(file_name=file, file_sha256=digest, rows=stored_rows, crs=resolve_crs(source_crs).name,
                          encoding=enc, threshold_dbm=state.threshold, periods=sorted(state.periods),
                          operators=sorted(state.operators), replaced=replace)


def insert_mr_rows(conn: Connection, frame: pd.DataFrame) -> int:
    """Insert already-canonical MR rows on the caller's transaction (a seed storing them with its world,
    :class:`coverage.store.storage.SeedTable`); returns the rows inserted."""
    if conn.dialect.name == "postgresql":  # the ids COPY reserves need the table's write lock (held to the commit)
        conn.exec_driver_sql("LOCK TABLE mr_grids IN SHARE ROW EXCLUSIVE MODE")
    buffer = CopyBuffer()
    for start in range(0, len(frame), CHUNK_ROWS):
        _insert(conn, frame.iloc[start:start + CHUNK_ROWS], buffer)
    return len(frame)


def write_mr_frame(store: Store, frame: pd.DataFrame, *, file_name: str, sha256: str, replace: bool = True,
                   mode: str = "seed") -> int:
    """Store already-canonical MR rows (the seed world's) in one transaction, replacing what is stored."""
    with store.engine.begin() as conn:
        if conn.dialect.name == "postgresql":  # the lock before the delete: writers queue, never deadlock
            conn.exec_driver_sql("LOCK TABLE mr_grids IN SHARE ROW EXCLUSIVE MODE")
        if replace:
            conn.execute(delete(mr_grids))
        insert_mr_rows(conn, frame)
        conn.execute(ingests.insert().values(
            kind="mr", file_name=file_name, sha256=sha256, rows=len(frame), mode=mode, crs="EPSG:4326",
            encoding=None, warnings=0, created_at=dt.datetime.now(dt.UTC).replace(tzinfo=None)))
    return len(frame)


# -- reading back -----------------------------------------------------------------------------------


def read_mr(store: Store, *, box: tuple[float, float, float, float] | None = None,
            period: tuple[str | dt.date, str | dt.date] | None = None, operators: list[str] | None = None,
            columns: tuple[str, ...] = STORED, ids: tuple[int, int] | None = None,
            columnar: bool = True) -> pd.DataFrame:
    """Stored MR rows (``columns`` of :data:`STORED`, dates as ``datetime64``), in stored order.

    ``box`` (lon_min, lat_min, lon_max, lat_max) keeps grids whose centre lies in it; ``period``
    (first day, last day) keeps rows whose period overlaps it; both are answered from the index. Rows
    come through the driver's cursor, on PostgreSQL column by column (:mod:`coverage.ingest.mr_arrow`:
    ``COPY``, the same frame; ``columnar=False`` or no matching row: the cursor): a province-month reads in
    3-7 s.
    """
    conditions: list[ColumnElement[bool]] = []
    if box is not None:
        conditions += [mr_grids.c.lon.between(box[0], box[2]), mr_grids.c.lat.between(box[1], box[3])]
    if period is not None:
        first, last = (pd.Timestamp(p).date() for p in period)
        conditions += [mr_grids.c.period_start <= last, mr_grids.c.period_end >= first]
    if operators:
        conditions.append(mr_grids.c.operator.in_(operators))
    if ids is not None:  # rows ids[0]..ids[1] (a reader that streams the table in id ranges)
        conditions.append(mr_grids.c.id.between(ids[0], ids[1]))
    with store.engine.connect() as conn:
        frame = read_columns(conn, columns, conditions) if columnar else None
        if frame is None:
            frame = _read_rows(conn, columns, conditions)
    return _typed(frame, columns)


def _read_rows(conn: Connection, columns: tuple[str, ...], conditions: list[ColumnElement[bool]]) -> pd.DataFrame:
    """:func:`read_mr`'s rows through the driver's cursor (one Python tuple per row)."""
    query = select(*(mr_grids.c[name] for name in columns)).where(*conditions).order_by(mr_grids.c.id)
    compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    raw = conn.connection.driver_connection
    assert raw is not None
    cursor = raw.cursor()
    try:
        if compiled.positiontup is not None:
            params: Any = [_driver_value(compiled.params[k]) for k in compiled.positiontup]
        else:
            params = {k: _driver_value(v) for k, v in compiled.params.items()}
        cursor.execute(str(compiled), params)
        return pd.DataFrame.from_records(cursor.fetchall(), columns=list(columns), coerce_float=True)
    finally:
        cursor.close()


def _typed(frame: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    """Dates as ``datetime64``, numbers as floats (``samples`` as integers)."""
    for name in columns:
        if name.startswith("period_"):
            codes, uniques = pd.factorize(frame[name])
            dates = np.array([np.datetime64(pd.Timestamp(str(u)).date(), "ns") for u in uniques]
                             + [np.datetime64("NaT")], dtype="datetime64[ns]")
            frame[name] = dates[codes]
        elif name in ("arfcn", "users", "dl_mbps", "rsrp_mean_dbm", "share_good", "threshold_dbm", "sinr_mean_db",
                      "grid_m", "lon", "lat"):
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype(float)
        elif name == "samples":
            frame[name] = frame[name].astype(np.int64)
    return frame


def _driver_value(value: Any) -> Any:
    """Dates as ISO text for the driver (SQLite stores them so; PostgreSQL casts them)."""
    return value.isoformat() if isinstance(value, dt.date) else value


#: Columns an analysis reads.
EVIDENCE_COLUMNS = ("lon", "lat", "period_start", "period_end", "operator", "rat", "band", "samples", "rsrp_mean_dbm",
                    "share_good")
#: How far back from the latest stored period end an analysis takes MR (days): the latest month.
LATEST_DAYS = 31


def latest_mr_period(store: Store) -> tuple[dt.date, dt.date] | None:
    """The period an analysis fuses: the last :data:`LATEST_DAYS` days up to the latest stored period end
    (None when no MR is stored)."""
    with store.engine.connect() as conn:
        last = conn.execute(select(func.max(mr_grids.c.period_end))).scalar()
    if last is None:
        return None
    last_day = pd.Timestamp(str(last)).date()
    return last_day - dt.timedelta(days=LATEST_DAYS - 1), last_day


def latest_mr(store: Store, villages: Any = None, *, bounds: tuple[float, float, float, float] | None = None,
              margin_deg: float = 0.05) -> pd.DataFrame:
    """The MR rows an analysis of ``villages`` (EPSG:4326; or of the lon/lat envelope ``bounds``) fuses:
    grids in their bounds (plus ``margin_deg``) whose period overlaps :func:`latest_mr_period`."""
    period = latest_mr_period(store)
    b = villages.total_bounds if bounds is None and villages is not None and len(villages) else bounds
    if period is None or b is None:
        return read_mr(store, box=(0.0, 0.0, -1.0, -1.0), columns=EVIDENCE_COLUMNS)
    return read_mr(store, box=mr_box(b, margin_deg), period=period, columns=EVIDENCE_COLUMNS)


@dataclass(frozen=True)
class StoredMr:
    """The stored MR rows of a box and period, described by the database: how many, and their fingerprint."""

    rows: int
    fingerprint: str


def mr_box(bounds: Any, margin_deg: float = 0.05) -> tuple[float, float, float, float]:
    """The lon/lat box an analysis takes MR grids from: ``bounds`` (lon_min, lat_min, lon_max, lat_max)
    widened by ``margin_deg``."""
    b = [float(v) for v in bounds]
    return b[0] - margin_deg, b[1] - margin_deg, b[2] + margin_deg, b[3] + margin_deg


#: Fixed precisions of the fingerprint's integer sums (per unit of the stored value): RSRP 0.01 dB, share 1e-4.
_PRINT_SCALES = {"rsrp_mean_dbm": 100.0, "share_good": 1e4}


def stored_mr_fingerprint(store: Store, box: tuple[float, float, float, float],
                          period: tuple[dt.date, dt.date]) -> StoredMr:
    """The rows :func:`read_mr` would give for ``box`` and ``period`` (the rows an analysis fuses), counted
    and fingerprinted by one aggregate query in the database: no row leaves it (江苏's month of the national
    world, 1.4 million rows: about 1.5 s on SQLite, where reading them took 5-7 s).

    The fingerprint is the SHA-256 of these aggregates of the rows (of the rows, not of the query: two boxes
    that hold the same rows print the same): their number; the least, greatest and sum of their ids; the
    earliest period start and latest period end; how many have an RSRP and a share; and integer sums
    weighted by ``id % 101 + 1`` (exact, so the same whatever order the database adds in) of ``samples``
    and of RSRP and share at fixed precisions (:data:`_PRINT_SCALES`). Stored MR is never updated in place:
    ingests add rows under new ids or replace them all, so the ids tell which rows these are and the sums
    whether replaced rows under reused ids (SQLite numbers a table emptied by a replace from 1 again) carry
    other values. It changes when rows of the box and period are added, deleted or replaced by other values
    and not when rows elsewhere change; the same values stored again under other ids (PostgreSQL never reuses
    them) print differently. It is a checksum, not a hash of every value: rows edited in place by hand in the
    database, in a column it does not sum (coordinates, operator, band) or keeping every sum, would not show.
    """
    t = mr_grids
    weight = t.c.id % 101 + 1
    aggregates: list[Any] = [func.count(), func.min(t.c.id), func.max(t.c.id), func.sum(t.c.id),
                             func.min(t.c.period_start), func.max(t.c.period_end), func.count(t.c.rsrp_mean_dbm),
                             func.count(t.c.share_good), func.sum(weight * t.c.samples)]
    aggregates += [func.sum(weight * cast(func.round(t.c[name] * scale), BigInteger))
                   for name, scale in _PRINT_SCALES.items()]
    first, last = period
    query = select(*aggregates).where(t.c.lon.between(box[0], box[2]), t.c.lat.between(box[1], box[3]),
                                      t.c.period_start <= last, t.c.period_end >= first)
    with store.engine.connect() as conn:
        values = conn.execute(query).one()
    rows = int(values[0])
    described = [None if v is None else str(v) if isinstance(v, dt.date) else int(v) for v in values]
    return StoredMr(rows, hashlib.sha256(repr(described).encode()).hexdigest())


def mr_summary(store: Store) -> pd.DataFrame:
    """Rows and samples stored per period, operator and RAT."""
    query = (select(mr_grids.c.period_start, mr_grids.c.period_end, mr_grids.c.operator, mr_grids.c.rat,
                    func.count().label("rows"), func.sum(mr_grids.c.samples).label("samples"))
             .group_by(mr_grids.c.period_start, mr_grids.c.period_end, mr_grids.c.operator, mr_grids.c.rat)
             .order_by(mr_grids.c.period_start, mr_grids.c.operator, mr_grids.c.rat))
    with store.engine.connect() as conn:
        return pd.read_sql(query, conn)


def export_mr(store: Store, path: str | Path, *, fmt: str | None = None,
              box: tuple[float, float, float, float] | None = None,
              period: tuple[str | dt.date, str | dt.date] | None = None) -> int:
    """Write the stored MR rows (those of ``box`` and ``period``, as :func:`read_mr`) with canonical headers
    (CSV UTF-8 with BOM, Parquet or XLSX), read back exactly by :func:`ingest_mr`; the file appears
    complete or not at all. Returns the rows written."""
    from coverage.writers import write_csv, write_xlsx

    path = Path(path)
    fmt = (fmt or path.suffix.lstrip(".")).lower()
    frame = read_mr(store, box=box, period=period)
    for name in ("period_start", "period_end"):
        frame[name] = frame[name].dt.strftime("%Y-%m-%d")
    for name in ("arfcn", "users"):
        frame[name] = frame[name].round().astype("Int64")
    threshold = frame["threshold_dbm"].dropna().unique()
    if len(threshold) > 1:
        shown = ", ".join(f"{t:g}" for t in threshold)
        raise ConfigError(bi(f"已存的 MR 数据有多个达标门限（{shown} dBm），一个文件只能有一个门限",
                             f"the stored MR has several share thresholds ({shown} dBm); "
                             "one file states one threshold"))
    tmp = path.with_name(f".{path.name}.part")
    if fmt == "csv":
        write_csv(frame, tmp)
    elif fmt == "parquet":
        frame.to_parquet(tmp, index=False)
    elif fmt == "xlsx":
        if len(frame) > 1_048_575:
            raise ConfigError(bi(f"{len(frame):,} 行 MR 数据超出一个 XLSX 工作表的容量：请用 csv 或 parquet",
                                 f"{len(frame):,} MR rows do not fit one XLSX sheet; use csv or parquet"))
        write_xlsx({"mr": frame}, tmp)
    else:
        raise ConfigError(bi(f"MR 数据只能导出为 csv、parquet 或 xlsx，不能为 {fmt!r}",
                             f"MR exports as csv, parquet or xlsx, not {fmt!r}"))
    tmp.replace(path)
    return len(frame)
