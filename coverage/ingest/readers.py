"""Readers: every supported file format becomes a :class:`Table` of raw cells, column by column,
before any interpretation; file fingerprints and encodings.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import hashlib
import io
import re
import tempfile
import unicodedata
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import charset_normalizer
import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pyogrio
import pyogrio.errors
import pyproj
from numpy.typing import NDArray
from openpyxl.utils.exceptions import InvalidFileException

from coverage.errors import ConfigError, Problem, ValidationError
from coverage.ingest.messages import bi
from coverage.ingest.values import is_missing
from coverage.limits import LimitError, Limits, check_archive, check_rows, count_lines
from coverage.schema import (
    Kind,
)

#: File suffixes read_input understands, and the reader each goes to.
SUPPORTED_SUFFIXES: dict[str, str] = {
    ".csv": "csv", ".tsv": "csv", ".txt": "csv",
    ".xlsx": "xlsx", ".xlsm": "xlsx",
    ".geojson": "vector", ".json": "vector", ".gpkg": "vector", ".shp": "vector",
    ".parquet": "parquet", ".geoparquet": "parquet",
    ".zip": "zip",
}


def check_encoding(encoding: str | None) -> None:
    """Raise :class:`ConfigError` unless ``encoding`` is None or the name of a text encoding."""
    if encoding is None:
        return
    try:
        text_encoding = codecs.lookup(encoding)._is_text_encoding
    except LookupError:
        raise ConfigError(bi(f"未知的文本编码 {encoding!r}", f"unknown text encoding {encoding!r}")) from None
    if not text_encoding:  # hex, rot13, zlib, base64: codecs, but not of text files
        raise ConfigError(bi(f"{encoding!r} 不是文本编码；请用 utf-8、gbk 或 gb18030 等",
                             f"{encoding!r} is not a text encoding; use e.g. utf-8, gbk or gb18030"))


def file_error(file: str, message: str, field: str | None = None) -> ValidationError:
    """A :class:`ValidationError` of one file-level problem."""
    return ValidationError([Problem(file, None, field, message)])


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file as :attr:`IngestResult.file_sha256` records it (a shapefile: with its sidecars)."""
    return fingerprint(Path(path))


def fingerprint(path: Path) -> str:
    """SHA-256 of a file's bytes; a shapefile's with its sidecars (.shx, .dbf, .prj, .cpg)."""
    digest = hashlib.sha256()
    if path.suffix.lower() == ".shp":
        for ext in (".shp", ".shx", ".dbf", ".prj", ".cpg"):
            part = _sidecar(path, ext)
            if part is not None:
                with part.open("rb") as fh:
                    for chunk in iter(lambda: fh.read(1 << 20), b""):
                        digest.update(chunk)
        return digest.hexdigest()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _sidecar(path: Path, ext: str) -> Path | None:
    """The file next to ``path`` with extension ``ext`` in any letter case, if it exists."""
    for candidate in (path.with_suffix(ext), path.with_suffix(ext.upper())):
        if candidate.exists():
            return candidate
    for candidate in path.parent.glob(path.stem + ".*"):
        if candidate.suffix.lower() == ext:
            return candidate
    return None


# ============================================================================================
# Readers: every format becomes a Table of raw cells
# ============================================================================================


@dataclass
class Table:
    """Raw cells of a file, column by column, before any interpretation."""

    headers: list[str]
    columns: list[NDArray[np.object_]]
    rows: NDArray[np.int64]  # 1-based data-row numbers (blank rows dropped, numbering kept)
    geometry: NDArray[np.object_] | None = None  # shapely geometries or None, in file CRS
    file_crs: pyproj.CRS | None = None
    encoding: str | None = None
    vector: bool = False  # geometry comes from the format, not from a WKT column
    notes: list[Problem] = dataclasses.field(default_factory=list)  # the reader's warnings

    @property
    def n(self) -> int:
        """Number of data rows."""
        return len(self.rows)


def read_table(kind: Kind, path: Path, file: str, *, encoding: str | None, layer: str | None,
                limits: Limits) -> Table:
    """The raw cells of a file, by the reader its suffix selects (:data:`SUPPORTED_SUFFIXES`)."""
    reader = SUPPORTED_SUFFIXES[path.suffix.lower()]
    if reader == "csv":
        return read_csv_table(path, file, encoding, limits)
    if reader == "xlsx":
        return read_xlsx_table(path, file, kind, layer, limits)
    if reader == "vector":
        return _read_vector(path, file, kind, encoding, layer, limits)
    if reader == "parquet":
        return _read_parquet(path, file, limits)
    return _read_zip(path, file, kind, encoding, layer, limits)


# --- CSV ------------------------------------------------------------------------------------


def _decode(data: bytes, declared: str | None, file: str) -> tuple[str, str]:
    """Decode CSV bytes: declared encoding, else BOM, else UTF-8, else GBK/GB18030, else a guess."""
    if declared:
        try:
            return data.decode(declared).lstrip("\ufeff"), declared
        except UnicodeDecodeError as exc:
            raise _decode_error(data, exc, file, declared) from None
    if data.startswith(codecs.BOM_UTF8):
        try:
            return data[len(codecs.BOM_UTF8):].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError as exc:
            raise _decode_error(data, exc, file, "UTF-8 (the file starts with a UTF-8 BOM)",
                                "UTF-8（文件以 UTF-8 BOM 开头）") from None
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16").lstrip("\ufeff"), "utf-16"
        except UnicodeDecodeError as exc:
            raise _decode_error(data, exc, file, "UTF-16") from None
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        utf8_error = exc
    # A file that is almost all valid UTF-8 is broken UTF-8, not GBK: say where it breaks instead
    # of silently turning every Chinese character into mojibake.
    loose = data.decode("utf-8", errors="replace")
    non_ascii = sum(1 for ch in loose if ord(ch) > 127)
    if non_ascii and loose.count("\ufffd") <= 0.1 * non_ascii:
        raise _decode_error(data, utf8_error, file, "UTF-8")
    for candidate in ("gbk", "gb18030"):
        try:
            return data.decode(candidate), candidate
        except UnicodeDecodeError:
            continue
    best = charset_normalizer.from_bytes(data).best()
    if best is not None:
        return str(best), best.encoding
    raise file_error(file, bi("无法识别文本编码；请指定编码（如 encoding='gbk'）",
                              "cannot detect the text encoding; declare it (e.g. encoding='gbk')"))


def _decode_error(data: bytes, exc: UnicodeDecodeError, file: str, encoding: str,
                  encoding_zh: str | None = None) -> ValidationError:
    line = data[: exc.start].count(b"\n")
    row = line if line > 0 else None
    message = bi(
        f"无法按 {encoding_zh or encoding} 编码解码文本：偏移 {exc.start} 处的字节 0x{data[exc.start]:02x} 无效；"
        "请指定正确的编码（如 encoding='gbk'）或把文件另存为 UTF-8",
        f"cannot decode the text as {encoding}: byte 0x{data[exc.start]:02x} at offset {exc.start} "
        "is invalid; declare the right encoding (e.g. encoding='gbk') or re-save the file as UTF-8")
    return ValidationError([Problem(file, row, None, message)])


def _sniff_delimiter(text: str) -> str:
    first = text.split("\n", 1)[0]
    counts = {d: first.count(d) for d in (",", "\t", ";", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


#: A CSV file larger than this has its header checked on its first lines before it is read whole.
HEAD_BYTES = 1 << 16


def csv_head(path: Path, file: str, encoding: str | None) -> Table | None:
    """The header and the first complete lines of a CSV larger than :data:`HEAD_BYTES`, or None
    (a small file, UTF-16, or a head that does not parse on its own: the whole read will tell)."""
    if path.stat().st_size <= HEAD_BYTES:
        return None
    with path.open("rb") as fh:
        data = fh.read(HEAD_BYTES)
    cut = data.rfind(b"\n")
    if cut <= 0 or data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return None
    try:
        text, used = _decode(data[:cut + 1], encoding, file)
        if _whitespace_separated(text):
            return None
        records = list(csv.reader(io.StringIO(text, newline=""), delimiter=_sniff_delimiter(text)))
        if len(records) < 2:
            return None
        return grid_to_table(file, [h.strip() for h in records[0]], records[1:], encoding=used)
    except (ValidationError, csv.Error):
        return None


def read_csv_table(path: Path, file: str, encoding: str | None, limits: Limits) -> Table:
    """The raw cells of a CSV (or whitespace-separated text) file, its encoding decoded or detected."""
    if limits.max_rows is not None:
        # counted before the file is read: a line is at least one row's worth of text
        check_rows(count_lines(path, limits.max_rows + 1) - 1, file, limits, unit="lines")
    data = path.read_bytes()
    text, used = _decode(data, encoding, file)
    if not text.strip():
        raise file_error(file, bi("文件为空", "file is empty"))
    csv.field_size_limit(1 << 30)
    if _whitespace_separated(text):
        return _read_whitespace(text, file, used)
    try:
        records = list(csv.reader(io.StringIO(text, newline=""), delimiter=_sniff_delimiter(text)))
    except csv.Error as exc:
        raise file_error(file, bi(f"无法读取的 CSV 文件：{exc}", f"not a readable CSV file: {exc}")) from None
    header = [h.strip() for h in records[0]]
    return grid_to_table(file, header, records[1:], encoding=used)


def _whitespace_separated(text: str) -> bool:
    """A drive-test text export: fields separated by runs of spaces, no comma, tab, ; or | in the header."""
    first = text.lstrip("\ufeff").split("\n", 1)[0].strip()
    return bool(first) and not any(d in first for d in (",", "\t", ";", "|")) and len(first.split()) >= 3


_DATE_TOKEN = re.compile(r"^\d{4}[-/.]\d{1,2}[-/.]\d{1,2}$")
_TIME_TOKEN = re.compile(r"^\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?$")


def _join_date_time(tokens: list[str]) -> list[str]:
    """``2026-06-01 10:00:00`` is one field, not two: a date token followed by a time token is joined."""
    out: list[str] = []
    for token in tokens:
        if out and _TIME_TOKEN.match(token) and _DATE_TOKEN.match(out[-1]):
            out[-1] = f"{out[-1]} {token}"
        else:
            out.append(token)
    return out


def _read_whitespace(text: str, file: str, encoding: str) -> Table:
    """Fields separated by whitespace; an empty field cannot be written, so rows shorter than the
    header (outage rows of drive tests) are read as the first columns with the rest empty, counted
    in a warning. A longer row is an error, as in CSV."""
    lines = text.lstrip("\ufeff").splitlines()
    header = lines[0].split()
    body = [_join_date_time(line.split()) for line in lines[1:]]
    short: dict[int, int] = {}
    for record in body:
        if record and len(record) < len(header):
            short[len(record)] = short.get(len(record), 0) + 1
    table = grid_to_table(file, header, body, encoding=encoding)
    if short:
        counts = ", ".join(f"{n} with {k}" for k, n in sorted(short.items()))
        counts_zh = "，".join(f"{n} 行有 {k} 个" for k, n in sorted(short.items()))
        table.notes.append(Problem(
            file, None, None, bi(
                f"空格分隔的文本：{sum(short.values())} 行的字段少于表头的 {len(header)} 个（{counts_zh}）；"
                "按前几列读取，其余为空（请用 --dry-run 检查中间没有缺列）",
                f"whitespace-separated text: {sum(short.values())} row(s) have fewer fields than "
                f"the {len(header)} of the header ({counts}); read as the first columns, the rest empty "
                "(check with --dry-run that no column in the middle is missing)"), severity="warning"))
    return table


def grid_to_table(
    file: str, header: Sequence[object], body: Sequence[Sequence[object]], *, encoding: str | None
) -> Table:
    """Build a Table from a header row and data rows (CSV or worksheet)."""
    width = len(header)
    while width > 0 and _blank(header[width - 1]) and all(
        len(r) < width or is_missing(r[width - 1]) for r in body
    ):
        width -= 1  # trailing unnamed, empty columns (common in Excel exports)
    headers = [_header_text(h, i) for i, h in enumerate(header[:width])]
    if not any(not h.startswith("(column ") for h in headers):
        raise file_error(file, bi("没有表头行：第一行为空", "no header row: the first row is empty"))
    kept: list[Sequence[object]] = []
    numbers: list[int] = []
    problems: list[Problem] = []
    for number, record in enumerate(body, start=1):
        if all(is_missing(v) for v in record):
            continue  # blank line: skipped, but later rows keep their spreadsheet numbers
        if len(record) > width:
            if any(not is_missing(v) for v in record[width:]):
                problems.append(Problem(file, number, None,
                                        bi(f"该行有 {len(record)} 个字段，但表头只有 {width} 个",
                                           f"row has {len(record)} fields but the header has {width}")))
                continue
            record = record[:width]
        elif len(record) < width:
            record = list(record) + [None] * (width - len(record))
        kept.append(record)
        numbers.append(number)
    if problems:
        raise ValidationError(problems)
    if not kept:
        raise file_error(file, bi("没有数据行（只有表头）", "no data rows (only a header)"))
    columns = []
    for j in range(width):
        col = np.empty(len(kept), dtype=object)
        col[:] = [r[j] for r in kept]
        columns.append(col)
    return Table(headers, columns, np.asarray(numbers, dtype=np.int64), encoding=encoding)


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _header_text(value: object, index: int) -> str:
    if _blank(value):
        return f"(column {_column_letter(index)})"
    return unicodedata.normalize("NFC", str(value)).strip()


def _column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


# --- XLSX -----------------------------------------------------------------------------------


def read_xlsx_table(path: Path, file: str, kind: Kind, sheet: str | None, limits: Limits) -> Table:
    """The raw cells of a workbook's sheet (``sheet``, else the one named like ``kind``, else the first)."""
    try:
        with zipfile.ZipFile(path) as archive:  # a workbook is a zip archive: no bombs
            check_archive(archive, file, limits)
        with warnings.catch_warnings():
            # openpyxl warns about styles and extensions it ignores; they do not affect values.
            warnings.filterwarnings("ignore", category=UserWarning, module="openpyxl")
            workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        message = _clean_message(exc, path, file)
        raise file_error(file, bi(f"无法读取的 .xlsx 工作簿：{message}",
                                  f"not a readable .xlsx workbook: {message}")) from None
    try:
        names = workbook.sheetnames
        if sheet is not None:
            if sheet not in names:
                raise file_error(file, bi(f"没有工作表 {sheet!r}；工作簿中的工作表为 {'、'.join(names)}",
                                          f"no sheet {sheet!r}; the workbook has {', '.join(names)}"))
            worksheet = workbook[sheet]
        elif kind in names:
            worksheet = workbook[kind]
        else:
            worksheet = workbook[names[0]]
        if limits.max_rows is not None and isinstance(worksheet.max_row, int):
            check_rows(worksheet.max_row - 1, file, limits)  # the sheet's stated dimension
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=UserWarning, module="openpyxl")
            grid = []
            for r in worksheet.iter_rows(values_only=True):
                grid.append(tuple(r))
                if limits.max_rows is not None and len(grid) > limits.max_rows + 1:
                    check_rows(len(grid) - 1, file, limits, unit="lines")  # the dimension understated it
    finally:
        workbook.close()
    while grid and all(is_missing(v) for v in grid[-1]):
        grid.pop()
    if not grid:
        raise file_error(file, bi("文件为空：工作表没有单元格", "file is empty: the sheet has no cells"))
    return grid_to_table(file, list(grid[0]), grid[1:], encoding=None)


# --- GeoJSON, GeoPackage, shapefile ---------------------------------------------------------


_OGR_ERRORS: tuple[type[BaseException], ...] = (
    pyogrio.errors.DataSourceError,
    pyogrio.errors.DataLayerError,
    pyogrio.errors.FieldError,
    pyogrio.errors.GeometryError,
    pyogrio.errors.FeatureError,
    pyogrio.errors.CRSError,
)

__all__ = [
    "HEAD_BYTES",
    "SUPPORTED_SUFFIXES",
    "Table",
    "check_encoding",
    "csv_head",
    "file_error",
    "file_sha256",
    "fingerprint",
    "grid_to_table",
    "read_csv_table",
    "read_table",
    "read_xlsx_table",
]


def _read_vector(path: Path, file: str, kind: Kind, encoding: str | None, layer: str | None, limits: Limits
                 ) -> Table:
    is_shapefile = path.suffix.lower() == ".shp"
    read_encoding: str | None = None  # passed to GDAL; None lets it use the .cpg
    reported: str | None = None
    if is_shapefile:
        dbf, cpg = _sidecar(path, ".dbf"), _sidecar(path, ".cpg")
        if _sidecar(path, ".shx") is None or dbf is None:
            raise file_error(file, bi("shapefile 不完整：.shx 和 .dbf 文件必须与 .shp 放在一起",
                                      "incomplete shapefile: the .shx and .dbf files must sit next to the .shp"))
        if encoding is not None:
            read_encoding = reported = encoding
        elif cpg is None:
            read_encoding = reported = _detect_dbf_encoding(dbf.read_bytes(), file)
        else:
            reported = cpg.read_text(encoding="ascii", errors="replace").strip() or None
    try:
        layers = [str(name) for name, _ in pyogrio.list_layers(path)]
    except _OGR_ERRORS as exc:
        message = _clean_message(exc, path, file)
        raise file_error(file, _unreadable(path.suffix, message)) from None
    if layer is not None:
        if layer not in layers:
            raise file_error(file, bi(f"没有图层 {layer!r}；文件中的图层为 {'、'.join(layers) or '（无）'}",
                                      f"no layer {layer!r}; the file has {', '.join(layers) or 'none'}"))
        chosen = layer
    elif len(layers) == 1:
        chosen = layers[0]
    elif kind in layers:
        chosen = kind
    else:
        raise file_error(file, bi(f"文件有多个图层（{'、'.join(layers)}）；请用 layer= 选择一个",
                                  f"the file has several layers ({', '.join(layers)}); choose one with layer="))
    try:
        if limits.max_rows is not None:
            features = int(pyogrio.read_info(path, layer=chosen, encoding=read_encoding)["features"])
            check_rows(features, file, limits)  # -1 (unknown without reading) passes
        # GDAL's GeoJSON driver turns text that looks like a date (a source named "0/01/01") into a
        # timestamp; the contracts say which columns are dates, so every property is read as given
        options = {"DATE_AS_STRING": "YES"} if path.suffix.lower() in (".geojson", ".json") else {}
        frame = pyogrio.read_dataframe(path, layer=chosen, encoding=read_encoding, **options)
    except UnicodeDecodeError as exc:
        raise file_error(file, bi(
            f"无法按 {read_encoding or 'UTF-8'} 编码解码属性表（{exc.reason}）；请指定正确的编码（如 encoding='gbk'）",
            f"cannot decode the attribute table as {read_encoding or 'UTF-8'} ({exc.reason}); "
            "declare the right encoding (e.g. encoding='gbk')")) from None
    except _OGR_ERRORS as exc:
        message = _clean_message(exc, path, file)
        raise file_error(file, _unreadable(path.suffix, message)) from None
    if len(frame) == 0:
        raise file_error(file, bi("没有数据行（文件中没有要素）", "no data rows (the file has no features)"))
    geometry: NDArray[np.object_] | None = None
    file_crs: pyproj.CRS | None = None
    if isinstance(frame, gpd.GeoDataFrame) and frame.geometry.name in frame.columns:
        geometry = np.asarray(frame.geometry.array, dtype=object)
        file_crs = pyproj.CRS(frame.crs) if frame.crs is not None else None
        frame = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    headers = [_header_text(h, i) for i, h in enumerate(frame.columns)]
    columns = [_object_column(frame.iloc[:, j]) for j in range(frame.shape[1])]
    rows = np.arange(1, len(frame) + 1, dtype=np.int64)
    return Table(headers, columns, rows, geometry, file_crs, encoding=reported, vector=geometry is not None)


def _unreadable(what: str, message: str) -> str:
    """A file (``what``: its suffix or format) that its library could not read, with the library's message."""
    return bi(f"无法读取的 {what} 文件：{message}", f"not a readable {what} file: {message}")


def _clean_message(exc: BaseException, path: Path, file: str) -> str:
    """A library's error message without the server-side path and without GDAL's driver advice."""
    text = str(exc).strip()
    text = text.splitlines()[0] if text else type(exc).__name__
    text = text.replace(str(path), file).split("; It might help", 1)[0]
    return text.rstrip(".;")


def _detect_dbf_encoding(data: bytes, file: str) -> str | None:
    """Encoding of a DBF without .cpg, judged from its field names and records.

    Returns None for pure ASCII (any encoding reads it), else ``"UTF-8"``, ``"GBK"`` or
    ``"GB18030"`` when the bytes decode cleanly, else charset-normalizer's best guess.
    """
    if len(data) < 32:
        raise file_error(file, bi(".dbf 文件不完整（被截断）", "the .dbf file is truncated"))
    header_len = int.from_bytes(data[8:10], "little")
    names = b"".join(data[i: i + 11].split(b"\x00", 1)[0] for i in range(32, max(32, header_len - 1), 32))
    sample = names + b"\n" + data[header_len:]
    if sample.isascii():
        return None
    for candidate, label in (("utf-8", "UTF-8"), ("gbk", "GBK"), ("gb18030", "GB18030")):
        try:
            sample.decode(candidate)
            return label
        except UnicodeDecodeError:
            continue
    best = charset_normalizer.from_bytes(sample).best()
    if best is None:
        raise file_error(file, bi("无法识别 .dbf 的编码；请添加 .cpg 文件或指定 encoding=",
                                  "cannot detect the encoding of the .dbf; add a .cpg file or pass encoding="))
    return best.encoding


def _object_column(series: pd.Series) -> NDArray[np.object_]:
    out = np.empty(len(series), dtype=object)
    out[:] = series.astype(object).tolist()
    out[series.isna().to_numpy(dtype=bool)] = None
    return out


# --- Parquet --------------------------------------------------------------------------------


def _read_parquet(path: Path, file: str, limits: Limits) -> Table:
    try:
        metadata_ = pq.read_metadata(path)
        schema = pq.read_schema(path)
    except (pa.ArrowException, OSError) as exc:
        raise file_error(file, _unreadable("Parquet", _clean_message(exc, path, file))) from None
    check_rows(metadata_.num_rows, file, limits)
    unpacked = sum(metadata_.row_group(i).total_byte_size for i in range(metadata_.num_row_groups))
    if unpacked > limits.max_unpacked_bytes:
        raise LimitError(f"the Parquet file unpacks to {unpacked:,} bytes, more than the limit max_unpacked_mb = "
                         f"{limits.max_unpacked_bytes / 1024**2:g} MiB", setting="max_unpacked_mb",
                         limit=limits.max_unpacked_bytes, found=unpacked, file=file,
                         zh=f"Parquet 文件解压后有 {unpacked:,} 字节，超过限制 max_unpacked_mb = "
                            f"{limits.max_unpacked_bytes / 1024**2:g} MiB")
    metadata = schema.metadata or {}
    try:
        if b"geo" in metadata:
            frame: pd.DataFrame = gpd.read_parquet(path)
        else:
            frame = pd.read_parquet(path)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise file_error(file, _unreadable("Parquet", _clean_message(exc, path, file))) from None
    if len(frame) == 0:
        raise file_error(file, bi("没有数据行", "no data rows"))
    geometry: NDArray[np.object_] | None = None
    file_crs: pyproj.CRS | None = None
    if isinstance(frame, gpd.GeoDataFrame):
        geometry = np.asarray(frame.geometry.array, dtype=object)
        file_crs = pyproj.CRS(frame.crs) if frame.crs is not None else None
        frame = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    frame = frame.reset_index(drop=True)
    headers = [_header_text(h, i) for i, h in enumerate(frame.columns)]
    columns = [_object_column(frame.iloc[:, j]) for j in range(frame.shape[1])]
    rows = np.arange(1, len(frame) + 1, dtype=np.int64)
    return Table(headers, columns, rows, geometry, file_crs, vector=geometry is not None)


# --- ZIP ------------------------------------------------------------------------------------


def _read_zip(path: Path, file: str, kind: Kind, encoding: str | None, layer: str | None, limits: Limits
              ) -> Table:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        message = _clean_message(exc, path, file)
        raise file_error(file, bi(f"无法读取的 .zip 压缩包：{message}",
                                  f"not a readable .zip archive: {message}")) from None
    with archive, tempfile.TemporaryDirectory(prefix="village5g-zip-") as tmp:
        members = [m for m in archive.infolist() if not m.is_dir()
                   and not m.filename.startswith("__MACOSX/") and not Path(m.filename).name.startswith(".")]
        check_archive(archive, file, limits)
        for member in members:
            parts = Path(member.filename).parts
            if member.filename.startswith(("/", "\\")) or ".." in parts:
                raise file_error(file, bi(f"压缩包中有不安全的路径：{member.filename!r}",
                                          f"unsafe path in the archive: {member.filename!r}"))
        data_files = [m for m in members if Path(m.filename).suffix.lower() in SUPPORTED_SUFFIXES
                      and Path(m.filename).suffix.lower() not in (".zip", ".txt")]
        shapefiles = [m for m in data_files if Path(m.filename).suffix.lower() == ".shp"]
        chosen = shapefiles if shapefiles else data_files
        if len(chosen) != 1:
            names = ", ".join(m.filename for m in chosen) or "none"
            names_zh = "、".join(m.filename for m in chosen) or "无"
            raise file_error(file, bi(f"压缩包中应恰有一个数据文件；实有：{names_zh}",
                                      f"the archive must hold exactly one data file; found {names}"))
        try:
            archive.extractall(tmp, members=members)
        except (zipfile.BadZipFile, OSError, RuntimeError) as exc:
            message = _clean_message(exc, path, file)
            raise file_error(file, bi(f"无法解压压缩包：{message}", f"cannot unpack the archive: {message}")) from None
        # problems keep naming the archive: that is the file the user knows
        return read_table(kind, Path(tmp) / chosen[0].filename, file, encoding=encoding, layer=layer,
                           limits=limits)

