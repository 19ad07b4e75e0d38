"""MR grid rows read column by column on PostgreSQL: ``COPY ... TO STDOUT`` parsed by pyarrow.

A DB-API cursor hands back one Python tuple per row, one Python object per value, which pandas then turns
back into columns: for a province-month most of the read. On PostgreSQL the rows go out as
``COPY (query) TO STDOUT (FORMAT csv)`` through psycopg and are parsed by pyarrow's CSV reader with the
stored types (``extra_float_digits = 3`` for the transaction: every float is written so that it reads back
to the same double; NULL is the unquoted empty field, an empty text the quoted one). Measured 2026-12-06 on
1,438,367 rows (江苏's month of the national world, the 10 evidence columns), load about 3: cursor 5.3-7.1 s,
COPY 3.1-4.6 s (ADBC's PostgreSQL driver 2.8-3.2 s: no gain worth a second driver).

SQLite reads through the cursor. ADBC's SQLite driver (``adbc-driver-sqlite``, Arrow-native) read the same
rows in 2.6-3.0 s, but it carries its own copy of the SQLite library: two copies in one process, each with
its own POSIX locks and mapping of the WAL index on the same file, are what SQLite's "how to corrupt"
page warns against, and the test suite crashed with SIGBUS inside the driver while the process's own
sqlite3 connections used the database (a Dask worker died the same way in a benchmark). Not used.
"""

from __future__ import annotations

import io

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
from sqlalchemy import Integer, String, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from coverage.store.tables import mr_grids

__all__ = ["read_columns"]


def _kind(name: str) -> str:
    """"number" or "text" (the column's stored type)."""
    return "text" if isinstance(mr_grids.c[name].type, String) else "number"


def _is_integer(name: str) -> bool:
    return isinstance(mr_grids.c[name].type, Integer)


def read_columns(conn: Connection, columns: tuple[str, ...], conditions: list[ColumnElement[bool]]
                 ) -> pd.DataFrame | None:
    """The ``columns`` of the ``mr_grids`` rows that meet ``conditions``, in id order, as a frame of the values
    the cursor gives (dates as ISO text, nullable numbers with NaN for NULL), read column-wise; None when
    this connection has no columnar path (SQLite) or no row matches (the caller reads through the cursor)."""
    if conn.dialect.name == "postgresql":
        return _read_postgresql(conn, columns, conditions)
    return None


def _read_postgresql(conn: Connection, columns: tuple[str, ...], conditions: list[ColumnElement[bool]]
                     ) -> pd.DataFrame | None:
    query = select(*(mr_grids.c[name] for name in columns)).where(*conditions).order_by(mr_grids.c.id)
    sql = str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    raw = conn.connection.driver_connection
    assert raw is not None
    buffer = io.BytesIO()
    with raw.cursor() as cursor:
        cursor.execute("SET LOCAL extra_float_digits = 3")
        with cursor.copy(f"COPY ({sql}) TO STDOUT (FORMAT csv)") as copy:
            for block in copy:
                buffer.write(block)
    if buffer.tell() == 0:
        return None
    buffer.seek(0)
    types: dict[str, pa.DataType] = {}
    for name in columns:
        if _kind(name) == "text" or name.startswith("period_"):  # dates as ISO text, as SQLite gives them
            types[name] = pa.string()
        elif _is_integer(name) and not mr_grids.c[name].nullable:
            types[name] = pa.int64()
        else:
            types[name] = pa.float64()
    table = pacsv.read_csv(
        buffer, read_options=pacsv.ReadOptions(column_names=list(columns)),
        parse_options=pacsv.ParseOptions(newlines_in_values="source" in columns),  # the only free text
        convert_options=pacsv.ConvertOptions(column_types=types, null_values=[""], strings_can_be_null=True,
                                             quoted_strings_can_be_null=False))
    return table.to_pandas()
