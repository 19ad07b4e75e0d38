"""SQLite's bulk load of stored-form MR rows: many rows per statement, and a rollback journal for the
first load into an empty table.

**Statements.** The driver binds row by row, and each ``executemany`` row costs its own step and reset.
A statement here inserts :data:`ROWS_PER_STATEMENT` rows (``VALUES (...), (...), ...``): its parameters
are one row of a 2-D object array holding the chunk's rows one after another, built a column at a time
with numpy (a text column from its categories and codes). A value the same in every row of the chunk (the
period, the grid size, the threshold, an absent column) is a literal of the statement instead of a
parameter. Rows keep the chunk's order (their ids follow it). At 2 million rows this took the insert
from 3.8 to 3.0 CPU s.

**Journal.** In WAL mode every page of the load is written twice: into the WAL during the load, then
into the database by the checkpoint after the commit (2.8 GB each for 20 million rows; the checkpoint
took 7-13 s, and the index build read the table back through the WAL). A rollback journal keeps only the
original content of the pages a transaction changes, and an empty table has hardly any: the new pages go
straight into the database file, and a rollback (a rejected file) or a crash cuts the file back to its
size before the load and restores the few changed pages from the journal, so the load stays all or
nothing. :func:`rollback_journal` switches before the transaction (SQLite switches only outside one)
and only when SQLite grants it, that is when no other connection, of this process or another, has the
database open; :func:`back_to_wal` switches back after the transaction, committed or rolled back. A
connection opened during such a load cannot switch to WAL and waits for the load's locks like any reader
then (up to the busy timeout each time, 30 s); with any other connection open at the start the load
stays in WAL, where readers keep the last committed state.
"""

from __future__ import annotations

import contextlib
import sqlite3
from typing import Any

import numpy as np
import pandas as pd

from coverage.ingest.mr_file import STORED

__all__ = ["ROWS_PER_STATEMENT", "back_to_wal", "insert_sqlite", "python_column", "rollback_journal",
           "same_in_every_row"]

#: Rows one ``INSERT`` statement carries (its parameters stay far below SQLite's 32,766 variables).
ROWS_PER_STATEMENT = 50


def python_column(frame: pd.DataFrame, name: str) -> np.ndarray:
    """Column ``name`` of stored-form rows as an object array of driver values: None for missing, dates as ISO
    text, whole-number columns as ``int``, the others as ``float`` or ``str``."""
    col = frame[name]
    if name in ("period_start", "period_end"):
        codes, uniques = pd.factorize(col)
        text = [pd.Timestamp(u).strftime("%Y-%m-%d") for u in uniques]
        return np.array([*text, None], dtype=object)[codes]
    if isinstance(col.dtype, pd.CategoricalDtype):  # each text once, spread over the rows by its code
        return np.array([*(str(c) for c in col.cat.categories), None], dtype=object)[col.cat.codes.to_numpy()]
    if name == "samples":
        return col.to_numpy(np.int64).astype(object)
    if not pd.api.types.is_numeric_dtype(col.dtype):
        values = col.to_numpy(dtype=object)
        return _none_where(pd.isna(values), values)
    values = col.to_numpy(float)
    missing = np.isnan(values)
    out = (np.nan_to_num(values).astype(np.int64) if name in ("arfcn", "users") else values).astype(object)
    return _none_where(missing, out)


def _none_where(missing: np.ndarray, values: np.ndarray) -> np.ndarray:
    if missing.any():
        values = values.copy() if values.dtype == object else values.astype(object)
        values[missing] = None
    return values


def same_in_every_row(frame: pd.DataFrame) -> dict[str, str]:
    """SQL literals of the stored columns whose value is the same in every row: NULL, a text (the dates as
    ISO text) or a whole number (exact as a literal)."""
    same: dict[str, str] = {}
    for name in STORED:
        if name == "samples":  # one column always bound: a row per tuple
            continue
        col = frame[name]
        if name in ("period_start", "period_end") or not pd.api.types.is_numeric_dtype(col.dtype):
            codes, uniques = pd.factorize(col)
            if (codes == -1).all():
                same[name] = "NULL"
            elif len(uniques) == 1 and (codes == 0).all():
                value = uniques[0]
                text = pd.Timestamp(value).strftime("%Y-%m-%d") if name.startswith("period_") else str(value)
                same[name] = "'" + text.replace("'", "''") + "'"
        else:
            values = col.to_numpy(float, na_value=np.nan)
            if np.isnan(values).all():
                same[name] = "NULL"
            elif not np.isnan(values).any() and values.min() == values.max() and float(values[0]).is_integer() \
                    and abs(values[0]) < 2 ** 53:
                whole = int(values[0])
                same[name] = str(whole) if name in ("arfcn", "users") else f"{whole}.0"
    return same


def insert_sqlite(raw: Any, frame: pd.DataFrame, rows_per_statement: int = ROWS_PER_STATEMENT) -> None:
    """Insert ``frame``'s rows (stored form) into ``mr_grids`` through the sqlite3 connection ``raw``, in the
    frame's order, inside the caller's transaction."""
    n = len(frame)
    if not n:
        return
    same = same_in_every_row(frame)
    varying = [name for name in STORED if name not in same]
    values = np.empty((n, len(varying)), dtype=object)
    for j, name in enumerate(varying):
        values[:, j] = python_column(frame, name)
    one = "(" + ", ".join(same.get(name, "?") for name in STORED) + ")"
    head = f"INSERT INTO mr_grids ({', '.join(STORED)}) VALUES "
    full = n - n % rows_per_statement
    cursor = raw.cursor()
    try:
        if full:
            cursor.executemany(head + ", ".join([one] * rows_per_statement),
                               values[:full].reshape(full // rows_per_statement, -1).tolist())
        if full < n:
            cursor.executemany(head + one, values[full:].tolist())
    finally:
        cursor.close()


def rollback_journal(raw: sqlite3.Connection) -> bool:
    """Switch the database of ``raw`` (outside a transaction) from WAL to a rollback journal when no other
    connection has it open; True when it switched (:func:`back_to_wal` switches back)."""
    if str(raw.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
        return False
    timeout = int(raw.execute("PRAGMA busy_timeout").fetchone()[0])
    raw.execute("PRAGMA busy_timeout=0")  # another connection has it open: SQLite refuses at once
    try:
        mode = raw.execute("PRAGMA journal_mode=DELETE").fetchone()[0]
    except sqlite3.OperationalError:
        return False
    finally:
        raw.execute(f"PRAGMA busy_timeout={timeout}")
    return str(mode).lower() == "delete"


def back_to_wal(raw: sqlite3.Connection) -> None:
    """WAL again after the load's transaction (a connection opened meanwhile and still reading: the next
    connection's own ``PRAGMA journal_mode=WAL`` switches)."""
    with contextlib.suppress(sqlite3.OperationalError):
        raw.execute("PRAGMA journal_mode=WAL").fetchall()
