"""Read, validate and normalise village, station and measurement files.

:func:`read_input` turns one file into a GeoDataFrame with exactly the canonical columns of
:mod:`coverage.schema`, in WGS84 (EPSG:4326), or raises :class:`~coverage.errors.ValidationError`
listing every problem found (file, 1-based data row, field, message). It never returns a partial
result: a caller stores the frame only when the whole file is valid, so a rejected input changes
nothing.

Formats (by extension): ``.csv``/``.tsv``/``.txt`` (UTF-8, UTF-8 with BOM, UTF-16 with BOM, GBK or
GB18030, detected or declared), ``.xlsx``, ``.geojson``/``.json``, ``.gpkg``, ``.shp`` (with or without
``.cpg``; without one the DBF's encoding is detected), ``.zip`` (holding one data file, e.g. a
shapefile), ``.parquet`` (GeoParquet, or a plain table with lon/lat or a WKT column).

Row numbers are data-row numbers as a user sees them in a spreadsheet with the header excluded:
row 1 is the first line after the header (blank lines count), or the first feature of a vector file.
Field names in problems are the file's own header text.

Conventions of the normalised frame:

* dtypes are those of :func:`coverage.schema.conform` (text ``str`` with NaN when missing, floats
  ``float64``, integers nullable ``Int64``, ``activated_on`` ``datetime.date`` or ``None``);
  ``measured_at`` is ``datetime64[ns]``, naive Asia/Shanghai time, rounded to the millisecond (the
  finest resolution GeoPackage and XLSX keep, so every export format round-trips exactly);
* villages carry Polygon/MultiPolygon geometry; stations and measurements carry points built from
  their ``lon``/``lat`` columns, which always equal the point geometry;
* codes are strings of digits; township/county/city/province codes are derived from the village
  code when missing.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import datetime as dt
import hashlib
import io
import math
import re
import tempfile
import unicodedata
import warnings
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

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
import shapely
from numpy.typing import NDArray
from openpyxl.utils.exceptions import InvalidFileException

from coverage import crs as crs_mod
from coverage import opencellid
from coverage.bands import BANDS, band_rat, channel, total_power_dbm
from coverage.bands import normalize_band as _normalize_band
from coverage.bands import parse_technology as _parse_technology
from coverage.errors import ConfigError, Problem, ValidationError
from coverage.limits import DEFAULT_LIMITS, LimitError, Limits, check_archive, check_rows, count_lines
from coverage.mapping import IGNORE, ColumnMapping, split_target
from coverage.schema import (
    COLUMNS,
    KINDS,
    OPERATORS,
    RATS,
    STATUSES,
    Column,
    Kind,
    conform,
    is_village_committee,
    name_says_urban,
)
from coverage.writers import csv_unescape

__all__ = [
    "GEOMETRY_HEADERS",
    "SUPPORTED_SUFFIXES",
    "ColumnUse",
    "IngestResult",
    "Inspection",
    "far_from_villages",
    "file_sha256",
    "fill_division_names",
    "inspect_input",
    "read_input",
]

#: File suffixes read_input understands, and the reader each goes to.
SUPPORTED_SUFFIXES: dict[str, str] = {
    ".csv": "csv", ".tsv": "csv", ".txt": "csv",
    ".xlsx": "xlsx", ".xlsm": "xlsx",
    ".geojson": "vector", ".json": "vector", ".gpkg": "vector", ".shp": "vector",
    ".parquet": "parquet", ".geoparquet": "parquet",
    ".zip": "zip",
}

#: Header names (normalised like all headers) of a WKT geometry column in tabular files.
GEOMETRY_HEADERS: tuple[str, ...] = ("geometry", "wkt", "geom", "thegeom", "shape", "几何", "边界", "范围")

#: Village committee point farther than this outside its polygon is reported (metres).
COMMITTEE_MAX_OUTSIDE_M = 1000.0

#: Plausible value ranges (inclusive) with units, per canonical column.
RANGES: dict[str, tuple[float, float, str]] = {
    "height_m": (0.0, 300.0, "m"),
    "azimuth_deg": (0.0, 360.0, "degrees"),
    "tilt_deg": (-20.0, 90.0, "degrees"),
    "power_dbm": (0.0, 80.0, "dBm"),
    "bandwidth_mhz": (0.1, 400.0, "MHz"),
    # SS-RSRP reporting range of 3GPP TS 38.133 (Table 10.1.6.1-1): -156 to -31 dBm.
    "rsrp_dbm": (-156.0, -31.0, "dBm"),
    # SS-SINR reporting range of TS 38.133 (Table 10.1.16.1-1): -23 to 40 dB.
    "sinr_db": (-23.0, 40.0, "dB"),
    "dl_mbps": (0.0, math.inf, "Mbit/s"),
    "ul_mbps": (0.0, math.inf, "Mbit/s"),
    # in-car losses run 3-10 dB (TR 38.901 7.4.3.2: mean 9, sd 5 dB); 40 dB would be a basement
    "loss_db": (0.0, 40.0, "dB"),
    "population": (0.0, math.inf, "persons"),
    "households": (0.0, math.inf, "households"),
}

# Units accepted in a bracketed header suffix, e.g. 挂高(m). Columns not listed accept any.
_UNITS: dict[str, frozenset[str]] = {
    "lon": frozenset({"°", "deg", "度", "degree", "degrees"}),
    "lat": frozenset({"°", "deg", "度", "degree", "degrees"}),
    "committee_lon": frozenset({"°", "deg", "度", "degree", "degrees"}),
    "committee_lat": frozenset({"°", "deg", "度", "degree", "degrees"}),
    "height_m": frozenset({"m", "米", "metre", "meter", "metres", "meters"}),
    "azimuth_deg": frozenset({"°", "deg", "度", "degree", "degrees"}),
    "tilt_deg": frozenset({"°", "deg", "度", "degree", "degrees"}),
    "power_dbm": frozenset({"dbm", "w", "watt", "watts", "瓦"}),
    "bandwidth_mhz": frozenset({"mhz", "m", "兆", "兆赫"}),
    "rsrp_dbm": frozenset({"dbm"}),
    "sinr_db": frozenset({"db"}),
    "loss_db": frozenset({"db"}),
    "dl_mbps": frozenset({"mbps", "mbit/s", "mb/s", "m", "兆"}),
    "ul_mbps": frozenset({"mbps", "mbit/s", "mb/s", "m", "兆"}),
}
_WATT_UNITS = frozenset({"w", "watt", "watts", "瓦"})

_DEGREE_COLUMNS = frozenset({"lon", "lat", "committee_lon", "committee_lat"})
#: Division levels above the village: name of the code column and its number of digits.
_LEVELS = (("township_code", 9), ("county_code", 6), ("city_code", 4), ("province_code", 2))
_YES = frozenset({"1", "true", "yes", "y", "是", "有", "t"})
_NO = frozenset({"0", "false", "no", "n", "否", "无", "f"})
#: What an RSRP cell or a no-service column of a drive-test export says for "no service".
_NO_SERVICE_TOKENS = frozenset({"无服务", "noservice", "无信号", "nosignal", "脱网", "outofservice", "oos",
                                "limitedservice", "无覆盖", "nocoverage"})
_NULL_TOKENS = frozenset({"", "null", "none", "nan", "nat", "n/a", "#n/a", "na", "<na>", "-", "--", "—"})
_SHANGHAI = ZoneInfo("Asia/Shanghai")


@dataclass
class IngestResult:
    """A validated, normalised input file.

    Attributes
    ----------
    kind : str
        ``villages``, ``stations`` or ``measurements``.
    frame : geopandas.GeoDataFrame
        Exactly the canonical columns of ``schema.COLUMNS[kind]`` in order, plus ``geometry``;
        CRS EPSG:4326; dtypes as described in the module docstring.
    warnings : list of Problem
        Findings that were repaired or are worth a look (severity ``"warning"``).
    file_sha256 : str
        SHA-256 of the file's bytes (for a shapefile: of its .shp, .shx, .dbf, .prj and .cpg).
    file_name : str
        Base name of the file.
    rows : int
        Number of data rows in the frame.
    crs : str
        The CRS the coordinates were read in: ``"EPSG:4326"``, ``"EPSG:4490"``, ``"gcj02"``, ...
    crs_source : str
        ``"file"`` (from the file itself), ``"declared"`` (the ``crs`` argument) or ``"assumed"``
        (nothing said; WGS84 assumed).
    encoding : str or None
        Text encoding detected or declared for CSV files and DBF tables (e.g. ``"utf-8"``,
        ``"utf-8-sig"``, ``"gbk"``); ``None`` where the format fixes it.
    """

    kind: Kind
    frame: gpd.GeoDataFrame
    warnings: list[Problem]
    file_sha256: str
    file_name: str
    rows: int
    crs: str
    crs_source: str
    encoding: str | None
    columns: list[ColumnUse] = dataclasses.field(default_factory=list)


@dataclass(frozen=True)
class ColumnUse:
    """How one column of a file was understood (``ingest --dry-run`` prints these).

    ``column`` is the canonical column it feeds (``None``: ignored); ``how`` says why: ``header``
    (its header is a known name), ``--map``, ``--set`` (a fixed value, no file column), ``ignored``
    or ``geometry``; ``note`` names a conversion (watts to dBm, power per resource element to total
    power, 制式 to RAT and band); ``samples`` pairs the first rows' cells with what they became.
    """

    header: str
    column: str | None
    how: str
    unit: str | None = None
    note: str = ""
    samples: tuple[tuple[str, str], ...] = ()


@dataclass
class Inspection:
    """What :func:`inspect_input` found: the columns as understood, and either the frame that would
    be stored (``result``) or the problems that reject the file."""

    kind: Kind
    file_name: str
    columns: list[ColumnUse]
    result: IngestResult | None
    problems: list[Problem]


# ============================================================================================
# Public entry point
# ============================================================================================


def read_input(
    kind: str,
    path: str | Path,
    *,
    crs: object = None,
    encoding: str | None = None,
    layer: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
    mapping: ColumnMapping | None = None,
) -> IngestResult:
    """Read and validate one input file of ``kind``.

    Parameters
    ----------
    kind : {"villages", "stations", "measurements"}
        What the file holds.
    path : str or Path
        The file. Its suffix selects the reader (see :data:`SUPPORTED_SUFFIXES`).
    crs : optional
        CRS of the coordinates (``"wgs84"``, ``"cgcs2000"``, ``"gcj02"``, ``"EPSG:4549"``, ...;
        anything :func:`coverage.crs.resolve_crs` accepts). Needed for tables whose coordinates
        are not WGS84 and for vector files without a CRS. For a vector file that has a CRS it may
        only confirm it, or declare GCJ-02 where the file says WGS84/CGCS2000 (GeoJSON always
        does); a contradiction is an error. Without any CRS, WGS84 is assumed.
    encoding : str, optional
        Text encoding of a CSV file or of a shapefile's DBF; detected when omitted.
    layer : str, optional
        Layer of a GeoPackage or sheet of a workbook. By default the only one, else the one named
        like ``kind``.
    limits : Limits, optional
        Rows and archive sizes the file may have (:class:`coverage.limits.Limits`), checked before
        the file is parsed.
    mapping : ColumnMapping, optional
        Header renames (``--map``), fixed values (``--set``) and options of a saved profile
        (:mod:`coverage.mapping`); ``crs``, ``encoding`` and ``layer`` given here win over the
        profile's.

    Returns
    -------
    IngestResult

    Raises
    ------
    ValidationError
        Listing every problem found; nothing of the file is returned. A
        :class:`~coverage.limits.LimitError` when the file breaks one of ``limits``.
    ConfigError
        For an unknown ``kind``, CRS specification or encoding name.
    """
    validator, frame, error = _read(kind, path, crs=crs, encoding=encoding, layer=layer, limits=limits,
                                    mapping=mapping)
    if error is not None:
        raise error
    assert frame is not None
    return validator.result(frame)


def inspect_input(
    kind: str,
    path: str | Path,
    *,
    crs: object = None,
    encoding: str | None = None,
    layer: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
    mapping: ColumnMapping | None = None,
) -> Inspection:
    """Read ``path`` as :func:`read_input` does, but return how each column was understood, with
    the first rows' cells and what they became, and the problems instead of raising them.

    File-level failures that stop the reading (unreadable file, missing file) still raise.
    """
    validator, frame, error = _read(kind, path, crs=crs, encoding=encoding, layer=layer, limits=limits,
                                    mapping=mapping, stop_at_headers=False)
    columns = validator.column_uses(frame)
    if error is not None:
        return Inspection(validator.kind, validator.file, columns, None, list(error.problems))
    assert frame is not None
    result = validator.result(frame)
    return Inspection(validator.kind, validator.file, columns, result, list(result.warnings))


def _read(kind: str, path: str | Path, *, crs: object, encoding: str | None, layer: str | None, limits: Limits,
          mapping: ColumnMapping | None, stop_at_headers: bool = True,
          ) -> tuple[_Validator, gpd.GeoDataFrame | None, ValidationError | None]:
    if kind not in KINDS:
        raise ConfigError(f"unknown kind {kind!r}; use one of {', '.join(KINDS)}")
    kind = cast(Kind, kind)
    mapping = mapping or ColumnMapping()
    mapping.check(kind)
    crs = crs if crs is not None and crs != "" else mapping.crs
    encoding = encoding or mapping.encoding
    layer = layer or mapping.layer
    path = Path(path)
    file = path.name
    declared = crs_mod.resolve_crs(crs) if crs is not None and crs != "" else None
    check_encoding(encoding)
    if not path.exists():
        raise _file_error(file, "file not found")
    if path.is_dir():
        raise _file_error(file, "is a directory, not a file")
    suffix = path.suffix.lower()
    if suffix == ".xls":
        raise _file_error(file, "old Excel .xls files are not supported; save the sheet as .xlsx or CSV")
    if suffix not in SUPPORTED_SUFFIXES:
        raise _file_error(
            file,
            f"unsupported file type {suffix or '(no extension)'!r}; use one of "
            + ", ".join(sorted(SUPPORTED_SUFFIXES)),
        )
    if path.stat().st_size == 0:
        raise _file_error(file, "file is empty")

    sha = _fingerprint(path)
    if suffix == ".csv" and stop_at_headers:
        head = csv_head(path, file, encoding)
        # a missing column is reported before the whole file is parsed
        if head is not None and not opencellid.is_opencellid(head.headers):
            _Validator(kind, file, head, declared, mapping).check_headers()
    table = _read_table(kind, path, file, encoding=encoding, layer=layer, limits=limits)
    if kind == "stations" and table.geometry is None and opencellid.is_opencellid(table.headers):
        table = opencellid.convert(table, file)
        if not table.n:
            raise ValidationError([*table.notes, Problem(file, None, None, "no NR or LTE cell of China in the file")])
    validator = _Validator(kind, file, table, declared, mapping)
    validator.sha = sha
    try:
        return validator, validator.run(), None
    except ValidationError as exc:
        return validator, None, exc


#: A file of points whose median lies farther than this outside the stored villages' extent is
#: rejected: a wrong CRS, e.g. one UTM zone off (about 600 km at 30N), not a shift to take silently.
NEAR_VILLAGES_KM = 50.0


def far_from_villages(result: IngestResult, extent: tuple[float, float, float, float] | None) -> Problem | None:
    """The problem of a station or measurement file whose points lie (median) more than
    :data:`NEAR_VILLAGES_KM` outside ``extent`` (the stored villages' lon/lat box), else None; no
    check without villages."""
    frame = result.frame
    if extent is None or result.kind == "villages" or not len(frame) or not all(map(math.isfinite, extent)):
        return None
    lon, lat = frame["lon"].to_numpy(float), frame["lat"].to_numpy(float)
    min_lon, min_lat, max_lon, max_lat = extent
    dx = np.maximum(np.maximum(min_lon - lon, lon - max_lon), 0.0) * 111.32 * np.cos(np.radians(lat))
    dy = np.maximum(np.maximum(min_lat - lat, lat - max_lat), 0.0) * 110.57
    distance = np.hypot(dx, dy)
    median = float(np.median(distance))
    if median <= NEAR_VILLAGES_KM:
        return None
    far = int((distance > NEAR_VILLAGES_KM).sum())
    return Problem(result.file_name, None, "lon/lat",
                   f"{far} of {len(frame)} points lie more than {NEAR_VILLAGES_KM:g} km outside the stored villages "
                   f"(longitude {min_lon:.2f}-{max_lon:.2f}, latitude {min_lat:.2f}-{max_lat:.2f}; median "
                   f"{median:.0f} km) in CRS {result.crs}: check the CRS (one UTM zone off moves points "
                   "about 600 km); nothing stored")


def fill_division_names(result: IngestResult, divisions: pd.DataFrame) -> None:
    """Fill the empty township, county, city and province names of a village file from the stored
    division reference (``code``, ``name``, ``level``), in place, with a warning counting them; the
    names still empty afterwards (codes the reference does not know, e.g. a land-survey scheme's)
    are counted in a warning too, since reports then show codes only."""
    if result.kind != "villages" or divisions is None or not len(divisions):
        return
    frame = result.frame
    names = dict(zip(divisions["code"].astype(str), divisions["name"].astype(str), strict=True))
    filled: list[str] = []
    unknown: list[str] = []
    for level in ("township", "county", "city", "province"):
        code_col, name_col = f"{level}_code", f"{level}_name"
        empty = frame[name_col].isna().to_numpy()
        if not empty.any():
            continue
        codes = frame[code_col].astype(str).to_numpy()
        found = np.array([names.get(c) or names.get(c.ljust(12, "0")) for c in codes], dtype=object)
        hit = empty & np.array([f is not None for f in found])
        if hit.any():
            values = frame[name_col].astype(object).to_numpy().copy()
            values[hit] = found[hit]
            frame[name_col] = pd.Series(values, index=frame.index, dtype="str")
            filled.append(f"{int(hit.sum())} {level}")
        if (empty & ~hit).any():
            unknown.append(f"{int((empty & ~hit).sum())} {level}")
    if filled:
        result.warnings.append(Problem(result.file_name, None, None, "division names filled from the stored "
                                       f"divisions: {', '.join(filled)} name(s)", severity="warning"))
    if unknown:
        result.warnings.append(Problem(result.file_name, None, None, "division names missing and their codes "
                                       f"unknown to the stored divisions: {', '.join(unknown)} name(s); reports "
                                       "show these units by code (are the codes NBS codes?)", severity="warning"))


def check_encoding(encoding: str | None) -> None:
    """Raise :class:`ConfigError` unless ``encoding`` is None or the name of a text encoding."""
    if encoding is None:
        return
    try:
        text_encoding = codecs.lookup(encoding)._is_text_encoding
    except LookupError:
        raise ConfigError(f"unknown text encoding {encoding!r}") from None
    if not text_encoding:  # hex, rot13, zlib, base64: codecs, but not of text files
        raise ConfigError(f"{encoding!r} is not a text encoding; use e.g. utf-8, gbk or gb18030")


def _file_error(file: str, message: str, field: str | None = None) -> ValidationError:
    return ValidationError([Problem(file, None, field, message)])


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file as :attr:`IngestResult.file_sha256` records it (a shapefile: with its sidecars)."""
    return _fingerprint(Path(path))


def _fingerprint(path: Path) -> str:
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
# Readers: every format becomes a _Table of raw cells
# ============================================================================================


@dataclass
class _Table:
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
        return len(self.rows)


def _read_table(kind: Kind, path: Path, file: str, *, encoding: str | None, layer: str | None,
                limits: Limits) -> _Table:
    reader = SUPPORTED_SUFFIXES[path.suffix.lower()]
    if reader == "csv":
        return _read_csv(path, file, encoding, limits)
    if reader == "xlsx":
        return _read_xlsx(path, file, kind, layer, limits)
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
            raise _decode_error(data, exc, file, "UTF-8 (the file starts with a UTF-8 BOM)") from None
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
    raise _file_error(file, "cannot detect the text encoding; declare it (e.g. encoding='gbk')")


def _decode_error(data: bytes, exc: UnicodeDecodeError, file: str, encoding: str) -> ValidationError:
    line = data[: exc.start].count(b"\n")
    row = line if line > 0 else None
    message = (
        f"cannot decode the text as {encoding}: byte 0x{data[exc.start]:02x} at offset {exc.start} "
        "is invalid; declare the right encoding (e.g. encoding='gbk') or re-save the file as UTF-8"
    )
    return ValidationError([Problem(file, row, None, message)])


def _sniff_delimiter(text: str) -> str:
    first = text.split("\n", 1)[0]
    counts = {d: first.count(d) for d in (",", "\t", ";", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


#: A CSV file larger than this has its header checked on its first lines before it is read whole.
HEAD_BYTES = 1 << 16


def csv_head(path: Path, file: str, encoding: str | None) -> _Table | None:
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
        return _grid_to_table(file, [h.strip() for h in records[0]], records[1:], encoding=used)
    except (ValidationError, csv.Error):
        return None


def _read_csv(path: Path, file: str, encoding: str | None, limits: Limits) -> _Table:
    if limits.max_rows is not None:
        # counted before the file is read: a line is at least one row's worth of text
        check_rows(count_lines(path, limits.max_rows + 1) - 1, file, limits, unit="lines")
    data = path.read_bytes()
    text, used = _decode(data, encoding, file)
    if not text.strip():
        raise _file_error(file, "file is empty")
    csv.field_size_limit(1 << 30)
    if _whitespace_separated(text):
        return _read_whitespace(text, file, used)
    try:
        records = list(csv.reader(io.StringIO(text, newline=""), delimiter=_sniff_delimiter(text)))
    except csv.Error as exc:
        raise _file_error(file, f"not a readable CSV file: {exc}") from None
    header = [h.strip() for h in records[0]]
    return _grid_to_table(file, header, records[1:], encoding=used)


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


def _read_whitespace(text: str, file: str, encoding: str) -> _Table:
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
    table = _grid_to_table(file, header, body, encoding=encoding)
    if short:
        counts = ", ".join(f"{n} with {k}" for k, n in sorted(short.items()))
        table.notes.append(Problem(
            file, None, None, f"whitespace-separated text: {sum(short.values())} row(s) have fewer fields than "
            f"the {len(header)} of the header ({counts}); read as the first columns, the rest empty "
            "(check with --dry-run that no column in the middle is missing)", severity="warning"))
    return table


def _grid_to_table(
    file: str, header: Sequence[object], body: Sequence[Sequence[object]], *, encoding: str | None
) -> _Table:
    """Build a _Table from a header row and data rows (CSV or worksheet)."""
    width = len(header)
    while width > 0 and _blank(header[width - 1]) and all(
        len(r) < width or _is_missing(r[width - 1]) for r in body
    ):
        width -= 1  # trailing unnamed, empty columns (common in Excel exports)
    headers = [_header_text(h, i) for i, h in enumerate(header[:width])]
    if not any(not h.startswith("(column ") for h in headers):
        raise _file_error(file, "no header row: the first row is empty")
    kept: list[Sequence[object]] = []
    numbers: list[int] = []
    problems: list[Problem] = []
    for number, record in enumerate(body, start=1):
        if all(_is_missing(v) for v in record):
            continue  # blank line: skipped, but later rows keep their spreadsheet numbers
        if len(record) > width:
            if any(not _is_missing(v) for v in record[width:]):
                problems.append(Problem(file, number, None,
                                        f"row has {len(record)} fields but the header has {width}"))
                continue
            record = record[:width]
        elif len(record) < width:
            record = list(record) + [None] * (width - len(record))
        kept.append(record)
        numbers.append(number)
    if problems:
        raise ValidationError(problems)
    if not kept:
        raise _file_error(file, "no data rows (only a header)")
    columns = []
    for j in range(width):
        col = np.empty(len(kept), dtype=object)
        col[:] = [r[j] for r in kept]
        columns.append(col)
    return _Table(headers, columns, np.asarray(numbers, dtype=np.int64), encoding=encoding)


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


def _read_xlsx(path: Path, file: str, kind: Kind, sheet: str | None, limits: Limits) -> _Table:
    try:
        with zipfile.ZipFile(path) as archive:  # a workbook is a zip archive: no bombs
            check_archive(archive, file, limits)
        with warnings.catch_warnings():
            # openpyxl warns about styles and extensions it ignores; they do not affect values.
            warnings.filterwarnings("ignore", category=UserWarning, module="openpyxl")
            workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise _file_error(file, f"not a readable .xlsx workbook: {_clean_message(exc, path, file)}") from None
    try:
        names = workbook.sheetnames
        if sheet is not None:
            if sheet not in names:
                raise _file_error(file, f"no sheet {sheet!r}; the workbook has {', '.join(names)}")
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
    while grid and all(_is_missing(v) for v in grid[-1]):
        grid.pop()
    if not grid:
        raise _file_error(file, "file is empty: the sheet has no cells")
    return _grid_to_table(file, list(grid[0]), grid[1:], encoding=None)


# --- GeoJSON, GeoPackage, shapefile ---------------------------------------------------------


_OGR_ERRORS: tuple[type[BaseException], ...] = (
    pyogrio.errors.DataSourceError,
    pyogrio.errors.DataLayerError,
    pyogrio.errors.FieldError,
    pyogrio.errors.GeometryError,
    pyogrio.errors.FeatureError,
    pyogrio.errors.CRSError,
)


def _read_vector(path: Path, file: str, kind: Kind, encoding: str | None, layer: str | None, limits: Limits
                 ) -> _Table:
    is_shapefile = path.suffix.lower() == ".shp"
    read_encoding: str | None = None  # passed to GDAL; None lets it use the .cpg
    reported: str | None = None
    if is_shapefile:
        dbf, cpg = _sidecar(path, ".dbf"), _sidecar(path, ".cpg")
        if _sidecar(path, ".shx") is None or dbf is None:
            raise _file_error(file, "incomplete shapefile: the .shx and .dbf files must sit next to the .shp")
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
        raise _file_error(file, f"not a readable {path.suffix} file: {message}") from None
    if layer is not None:
        if layer not in layers:
            raise _file_error(file, f"no layer {layer!r}; the file has {', '.join(layers) or 'none'}")
        chosen = layer
    elif len(layers) == 1:
        chosen = layers[0]
    elif kind in layers:
        chosen = kind
    else:
        raise _file_error(file, f"the file has several layers ({', '.join(layers)}); choose one with layer=")
    try:
        if limits.max_rows is not None:
            features = int(pyogrio.read_info(path, layer=chosen, encoding=read_encoding)["features"])
            check_rows(features, file, limits)  # -1 (unknown without reading) passes
        # GDAL's GeoJSON driver turns text that looks like a date (a source named "0/01/01") into a
        # timestamp; the contracts say which columns are dates, so every property is read as given
        options = {"DATE_AS_STRING": "YES"} if path.suffix.lower() in (".geojson", ".json") else {}
        frame = pyogrio.read_dataframe(path, layer=chosen, encoding=read_encoding, **options)
    except UnicodeDecodeError as exc:
        raise _file_error(
            file, f"cannot decode the attribute table as {read_encoding or 'UTF-8'} ({exc.reason}); "
            "declare the right encoding (e.g. encoding='gbk')") from None
    except _OGR_ERRORS as exc:
        message = _clean_message(exc, path, file)
        raise _file_error(file, f"not a readable {path.suffix} file: {message}") from None
    if len(frame) == 0:
        raise _file_error(file, "no data rows (the file has no features)")
    geometry: NDArray[np.object_] | None = None
    file_crs: pyproj.CRS | None = None
    if isinstance(frame, gpd.GeoDataFrame) and frame.geometry.name in frame.columns:
        geometry = np.asarray(frame.geometry.array, dtype=object)
        file_crs = pyproj.CRS(frame.crs) if frame.crs is not None else None
        frame = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    headers = [_header_text(h, i) for i, h in enumerate(frame.columns)]
    columns = [_object_column(frame.iloc[:, j]) for j in range(frame.shape[1])]
    rows = np.arange(1, len(frame) + 1, dtype=np.int64)
    return _Table(headers, columns, rows, geometry, file_crs, encoding=reported, vector=geometry is not None)


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
        raise _file_error(file, "the .dbf file is truncated")
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
        raise _file_error(file, "cannot detect the encoding of the .dbf; add a .cpg file or pass encoding=")
    return best.encoding


def _object_column(series: pd.Series) -> NDArray[np.object_]:
    out = np.empty(len(series), dtype=object)
    out[:] = series.astype(object).tolist()
    out[series.isna().to_numpy(dtype=bool)] = None
    return out


# --- Parquet --------------------------------------------------------------------------------


def _read_parquet(path: Path, file: str, limits: Limits) -> _Table:
    try:
        metadata_ = pq.read_metadata(path)
        schema = pq.read_schema(path)
    except (pa.ArrowException, OSError) as exc:
        raise _file_error(file, f"not a readable Parquet file: {_clean_message(exc, path, file)}") from None
    check_rows(metadata_.num_rows, file, limits)
    unpacked = sum(metadata_.row_group(i).total_byte_size for i in range(metadata_.num_row_groups))
    if unpacked > limits.max_unpacked_bytes:
        raise LimitError(f"the Parquet file unpacks to {unpacked:,} bytes, more than the limit max_unpacked_mb = "
                         f"{limits.max_unpacked_bytes / 1024**2:g} MiB", setting="max_unpacked_mb",
                         limit=limits.max_unpacked_bytes, found=unpacked, file=file)
    metadata = schema.metadata or {}
    try:
        if b"geo" in metadata:
            frame: pd.DataFrame = gpd.read_parquet(path)
        else:
            frame = pd.read_parquet(path)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise _file_error(file, f"not a readable Parquet file: {_clean_message(exc, path, file)}") from None
    if len(frame) == 0:
        raise _file_error(file, "no data rows")
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
    return _Table(headers, columns, rows, geometry, file_crs, vector=geometry is not None)


# --- ZIP ------------------------------------------------------------------------------------


def _read_zip(path: Path, file: str, kind: Kind, encoding: str | None, layer: str | None, limits: Limits
              ) -> _Table:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise _file_error(file, f"not a readable .zip archive: {_clean_message(exc, path, file)}") from None
    with archive, tempfile.TemporaryDirectory(prefix="village5g-zip-") as tmp:
        members = [m for m in archive.infolist() if not m.is_dir()
                   and not m.filename.startswith("__MACOSX/") and not Path(m.filename).name.startswith(".")]
        check_archive(archive, file, limits)
        for member in members:
            parts = Path(member.filename).parts
            if member.filename.startswith(("/", "\\")) or ".." in parts:
                raise _file_error(file, f"unsafe path in the archive: {member.filename!r}")
        data_files = [m for m in members if Path(m.filename).suffix.lower() in SUPPORTED_SUFFIXES
                      and Path(m.filename).suffix.lower() not in (".zip", ".txt")]
        shapefiles = [m for m in data_files if Path(m.filename).suffix.lower() == ".shp"]
        chosen = shapefiles if shapefiles else data_files
        if len(chosen) != 1:
            names = ", ".join(m.filename for m in chosen) or "none"
            raise _file_error(file, f"the archive must hold exactly one data file; found {names}")
        try:
            archive.extractall(tmp, members=members)
        except (zipfile.BadZipFile, OSError, RuntimeError) as exc:
            raise _file_error(file, f"cannot unpack the archive: {_clean_message(exc, path, file)}") from None
        # problems keep naming the archive: that is the file the user knows
        return _read_table(kind, Path(tmp) / chosen[0].filename, file, encoding=encoding, layer=layer,
                           limits=limits)


# ============================================================================================
# Headers
# ============================================================================================


def _norm_key(text: str) -> str:
    return re.sub(r"[\s_\-]+", "", unicodedata.normalize("NFKC", text)).casefold()


_UNIT_SUFFIX_RE = re.compile(r"^(.+?)[_\s]+(dbm|db|mbps|mbit/s|mhz|deg|m|w)$", re.IGNORECASE)
_UNIT_RE = re.compile(r"^(.*?)\s*[(\[【]\s*([^)\]】]*?)\s*[)\]】]\s*$")


def _split_unit(header: str) -> tuple[str, str | None]:
    text = unicodedata.normalize("NFKC", header).strip()
    m = _UNIT_RE.match(text)
    if m and m.group(1):
        return _norm_key(m.group(1)), m.group(2).strip().casefold() or None
    return _norm_key(text), None


@cache
def _alias_index(kind: Kind) -> dict[str, str]:
    index: dict[str, str] = {}
    for column in COLUMNS[kind]:
        for name in (column.name, *column.aliases):
            key = _norm_key(name)
            other = index.setdefault(key, column.name)
            if other != column.name:
                raise RuntimeError(f"schema alias {name!r} maps to both {other} and {column.name}")
    return index


#: Headers of values the reader converts into canonical columns, per kind (also ``--map`` targets):
#: reference-signal / SS-PBCH power per resource element (to ``power_dbm``), channel numbers (to
#: ``band``) and a no-service flag of measurements.
EXTRA_ALIASES: dict[str, dict[str, tuple[str, ...]]] = {
    "stations": {
        "rs_power_dbm": ("参考信号功率", "rs功率", "rs发射功率", "参考信号发射功率", "导频功率", "rspower",
                         "rs_power", "referencesignalpower", "crs功率", "rs_epre", "crs_epre", "每re功率"),
        "ssb_epre_dbm": ("ssb功率", "ss-pbch功率", "ssbepre", "ss_pbch_epre", "ssb_epre", "ssbpower", "同步信号功率",
                         "ssb发射功率", "ss-pbch_epre", "sspbchepre"),
        "arfcn": ("频点", "下行频点", "中心频点", "earfcn", "dl_earfcn", "nrarfcn", "nr_arfcn", "ssb频点",
                  "ssb_arfcn", "arfcn", "dlarfcn", "下行中心频点"),
    },
    "measurements": {
        "arfcn": ("频点", "earfcn", "nrarfcn", "nr_arfcn", "ssb_arfcn", "arfcn", "ssb频点"),
        "no_service": ("无服务", "服务状态", "no_service", "noservice", "service_state", "脱网"),
    },
    "villages": {},
}
_EXTRA_UNITS: dict[str, frozenset[str]] = {"rs_power_dbm": frozenset({"dbm", "0.1dbm"}),
                                           "ssb_epre_dbm": frozenset({"dbm", "0.1dbm"})}


@cache
def _extra_index(kind: Kind) -> dict[str, str]:
    main = _alias_index(kind)
    index: dict[str, str] = {}
    for column, aliases in EXTRA_ALIASES[kind].items():
        for name in (column, *aliases):
            key = _norm_key(name)
            if key in main:
                raise RuntimeError(f"extra alias {name!r} is also an alias of {main[key]}")
            index[key] = column
    return index


@dataclass(frozen=True)
class _Match:
    index: int
    header: str
    column: str
    unit: str | None
    how: str = "header"


def _map_headers(kind: Kind, table: _Table, file: str, mapping: ColumnMapping | None = None
                 ) -> tuple[dict[str, _Match], int | None, list[Problem]]:
    """Map the table's headers to canonical columns (and the extra inputs of :data:`EXTRA_ALIASES`).

    ``mapping.rename`` (``--map``) decides first, by the header's exact text or its normalised
    form. Returns the matches by column, the index of a WKT geometry column (tabular files), and
    file-level problems (duplicates, bad units, ``--map`` names the file lacks, ignored columns as
    warnings).
    """
    index = {**_alias_index(kind), **_extra_index(kind)}
    renames = {_norm_key(h): split_target(t) for h, t in (mapping.rename if mapping else {}).items()}
    used: set[str] = set()
    matches: dict[str, _Match] = {}
    problems: list[Problem] = []
    ignored: list[str] = []
    wkt_index: int | None = None
    geometry_keys = {_norm_key(g) for g in GEOMETRY_HEADERS}
    for i, header in enumerate(table.headers):
        key, unit = _split_unit(header)
        how = "header"
        full_key = _norm_key(unicodedata.normalize("NFKC", header))
        target = renames.get(full_key) or renames.get(key)
        if target is not None:
            used.add(full_key if full_key in renames else key)
            if target[0] == IGNORE:
                continue
            column: str | None = target[0]
            unit = target[1] if target[1] is not None else unit
            how = "--map"
        else:
            column = index.get(key)
            if column is None and unit is None:  # RSRP_dBm, SINR dB, 下载速率_Mbps: the unit after _ or a space
                m = _UNIT_SUFFIX_RE.match(unicodedata.normalize("NFKC", header).strip())
                if m and index.get(_norm_key(m.group(1))) is not None:
                    column, unit = index[_norm_key(m.group(1))], m.group(2).casefold()
        if column == "rsrp_dbm" and unit == "db":
            problems.append(Problem(file, None, header, "unit 'dB' read as dBm: RSRP is a power (dBm), never "
                                    "a ratio", severity="warning"))
            unit = "dbm"
        if column is None and unit is None and key.endswith("w") and index.get(key[:-1]) == "power_dbm":
            column, unit = "power_dbm", "w"  # power_w, 发射功率W
        if column is None and unit is None and key.endswith("dbm") and index.get(key[:-3]) == "power_dbm":
            column, unit = "power_dbm", "dbm"
        if column is None:
            if not table.vector and key in geometry_keys and unit is None:
                if wkt_index is not None:
                    problems.append(Problem(file, None, header, f"two geometry columns: "
                                            f"{table.headers[wkt_index]!r} and {header!r}"))
                wkt_index = i
                continue
            if header.startswith("(column ") and all(_is_missing(v) for v in table.columns[i]):
                continue
            ignored.append(header)
            continue
        allowed = _UNITS.get(column) or _EXTRA_UNITS.get(column)
        if unit is not None and allowed is not None and unit not in allowed:
            problems.append(Problem(file, None, header,
                                    f"unit {unit!r} is not supported for {column}; use "
                                    + " or ".join(sorted(allowed))))
        if column in matches:
            other = matches[column]
            if how == "--map" and other.how != "--map":  # the user's word wins over a header's name
                ignored.append(other.header)
                matches[column] = _Match(i, header, column, unit, how)
                continue
            if other.how == "--map" and how != "--map":
                ignored.append(header)
                continue
            if key in _WEAK_KEYS and _split_unit(other.header)[0] not in _WEAK_KEYS:
                ignored.append(header)  # e.g. ArcGIS's default "Id" next to a real 村代码 column
                continue
            if _split_unit(other.header)[0] in _WEAK_KEYS and key not in _WEAK_KEYS:
                ignored.append(other.header)
                matches[column] = _Match(i, header, column, unit, how)
                continue
            problems.append(Problem(file, None, header,
                                    f"columns {other.header!r} and {header!r} both map to "
                                    f"{column}; keep one of them (or --map one of them to {IGNORE})"))
            continue
        matches[column] = _Match(i, header, column, unit, how)
    for key in renames.keys() - used:
        written = next(h for h in (mapping.rename if mapping else {}) if _norm_key(h) == key)
        problems.append(Problem(file, None, written, f"--map names column {written!r}, which the file does "
                                f"not have; its columns are {', '.join(table.headers)}"))
    if ignored:
        problems.append(Problem(file, None, None, "ignored columns not in the data contract: "
                                + ", ".join(ignored), severity="warning"))
    return matches, wkt_index, problems


#: Generic header names that give way to a specific one for the same column instead of clashing.
_WEAK_KEYS = frozenset({"id", "编码", "代码", "名称", "x", "y"})


def _accepted(column: Column) -> str:
    return ", ".join([column.name, *column.aliases])


# ============================================================================================
# Cell conversion
# ============================================================================================


def _is_missing(value: object) -> bool:
    if value is None or value is pd.NaT or value is pd.NA:
        return True
    if isinstance(value, str):
        return value.strip().casefold() in _NULL_TOKENS
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, (int, dt.date)):
        return False
    try:
        return bool(pd.isna(cast(Any, value)))
    except (TypeError, ValueError):
        return False


def _text(value: object) -> str | None:
    if _is_missing(value):
        return None
    if isinstance(value, str):
        # our CSV writer puts an apostrophe before text a spreadsheet would take for a formula
        return csv_unescape(value.strip())
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        number = float(value)
        if number.is_integer() and abs(number) < 1e15:
            return str(int(number))
        return repr(number)
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).strip()


_SCI_RE = re.compile(r"^[+-]?\d(?:\.\d+)?[eE][+-]?\d+$")
_DMS_RE = re.compile(
    r"^(\d{1,3})\s*[°度:]\s*(?:(\d{1,2}(?:\.\d+)?)\s*['′’分:]?\s*)?(?:(\d{1,2}(?:\.\d+)?)\s*(?:\"|″|”|''|′′|秒)?)?\s*([NSEW东西南北])?$",
    re.IGNORECASE,
)
_THOUSANDS_RE = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")


def _parse_number(value: object, *, dms: bool) -> float | str:
    """A float, or an error message (the slow path of :func:`_floats`)."""
    if isinstance(value, (bool, np.bool_)):
        return f"not a number: {value!r}"
    if isinstance(value, (int, float, np.integer, np.floating)):
        number = float(value)
        return number if math.isfinite(number) else f"not a finite number: {value!r}"
    if not isinstance(value, str):
        return f"not a number: {_show(value)}"
    text = unicodedata.normalize("NFKC", value).strip().replace("−", "-")
    if _THOUSANDS_RE.match(text):
        text = text.replace(",", "")
    try:
        number = float(text)
    except ValueError:
        if dms:
            m = _DMS_RE.match(text)
            if m:
                deg, minutes, seconds = float(m.group(1)), float(m.group(2) or 0), float(m.group(3) or 0)
                if minutes < 60 and seconds < 60:
                    number = deg + minutes / 60.0 + seconds / 3600.0
                    if (m.group(4) or "").upper() in ("S", "W", "南", "西"):
                        number = -number
                    return number
        return f"not a number: {_show(value)}"
    return number if math.isfinite(number) else f"not a finite number: {_show(value)}"


def _show_cell(value: object) -> str:
    """A cell as ``ingest --dry-run`` shows it: empty for missing, numbers without noise."""
    if value is None or _is_missing(value):
        return ""
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.6g}"
    text = _text(value) or ""
    return text if len(text) <= 40 else text[:37] + "..."


def _show(value: object) -> str:
    text = repr(value) if isinstance(value, str) else repr(_text(value) or value)
    return text if len(text) <= 60 else text[:57] + "...'"


def _floats(values: NDArray[np.object_], *, dms: bool = False) -> tuple[NDArray[np.float64], dict[int, str]]:
    """Parse a column of cells as floats: (values with NaN for missing, {position: error})."""
    numbers = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce")
    out = np.asarray(numbers, dtype=np.float64).copy()
    errors: dict[int, str] = {}
    for i in np.flatnonzero(~np.isfinite(out)).tolist():
        value = values[i]
        if _is_missing(value):
            out[i] = np.nan
            continue
        parsed = _parse_number(value, dms=dms)
        if isinstance(parsed, str):
            errors[int(i)] = parsed
            out[i] = np.nan
        else:
            out[i] = parsed
    return out, errors


_DATE_RE = re.compile(
    r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
    r"(?:(?:\s+|T)(\d{1,2})\s*[:时]\s*(\d{1,2})(?:\s*[:分]\s*(\d{1,2})(?:\.(\d{1,9}))?\s*秒?)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?$",
    re.IGNORECASE,
)
_COMPACT_RE = re.compile(r"^(\d{4})(\d{2})(\d{2})(?:[ T]?(\d{2})(\d{2})(\d{2}))?$")
_EXCEL_EPOCH = dt.datetime(1899, 12, 30)
_YEAR_RANGE = (1980, 2100)
_DATE_FORMATS = "YYYY-MM-DD, YYYY/M/D, YYYY.MM.DD, YYYYMMDD, YYYY年M月D日 or an Excel date"


def _parse_datetime(value: object) -> dt.datetime | str:
    """A naive Asia/Shanghai datetime, or an error message."""
    if isinstance(value, pd.Timestamp):
        stamp = value.tz_convert(_SHANGHAI).tz_localize(None) if value.tzinfo is not None else value
        result: dt.datetime = stamp.to_pydatetime()
    elif isinstance(value, np.datetime64):
        result = pd.Timestamp(value).to_pydatetime()
    elif isinstance(value, dt.datetime):
        result = value.astimezone(_SHANGHAI).replace(tzinfo=None) if value.tzinfo else value
    elif isinstance(value, dt.date):
        result = dt.datetime(value.year, value.month, value.day)
    elif isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_)):
        number = float(value)
        if number.is_integer() and 19000101 <= number <= 21001231:
            return _parse_datetime(str(int(number)))
        if 20000 <= number <= 80000:  # Excel serial day number (1900 date system): 1954-2119
            result = _EXCEL_EPOCH + dt.timedelta(days=number)
        else:
            return f"not a date: {_show(value)}; use {_DATE_FORMATS}"
    elif isinstance(value, str):
        text = unicodedata.normalize("NFKC", value).strip()
        m = _DATE_RE.match(text)
        parts: tuple[str | None, ...]
        zone: str | None = None
        if m:
            parts, zone = m.groups()[:7], m.group(8)
        else:
            c = _COMPACT_RE.match(text)
            if c is None:
                if re.fullmatch(r"\d{5}(\.\d+)?", text):
                    return _parse_datetime(float(text))
                return f"not a date: {_show(value)}; use {_DATE_FORMATS}"
            parts = (*c.groups(), None)
        year, month, day = int(parts[0] or 0), int(parts[1] or 0), int(parts[2] or 0)
        hour, minute, second = int(parts[3] or 0), int(parts[4] or 0), int(parts[5] or 0)
        micro = int(((parts[6] or "") + "000000")[:6])
        try:
            result = dt.datetime(year, month, day, hour, minute, second, micro)
        except ValueError as exc:
            return f"not a valid date: {_show(value)} ({exc})"
        if zone:
            sign = -1 if zone.startswith("-") else 1
            digits = zone.replace(":", "")[1:] if zone.upper() != "Z" else "0000"
            offset = dt.timedelta(hours=int(digits[:2] or 0), minutes=int(digits[2:] or 0)) * sign
            aware = result.replace(tzinfo=dt.timezone(offset))
            result = aware.astimezone(_SHANGHAI).replace(tzinfo=None)
    else:
        return f"not a date: {_show(value)}; use {_DATE_FORMATS}"
    if not _YEAR_RANGE[0] <= result.year <= _YEAR_RANGE[1]:
        return f"implausible date {_show(value)}: the year must be {_YEAR_RANGE[0]}-{_YEAR_RANGE[1]}"
    return result


def _dates(values: NDArray[np.object_], *, with_time: bool) -> tuple[list[Any], dict[int, str]]:
    cache: dict[object, dt.datetime | str] = {}
    out: list[Any] = [None] * len(values)
    errors: dict[int, str] = {}
    for i, value in enumerate(values):
        if _is_missing(value):
            continue
        try:
            parsed = cache[value]
        except KeyError:
            parsed = cache[value] = _parse_datetime(value)
        except TypeError:  # unhashable
            parsed = _parse_datetime(value)
        if isinstance(parsed, str):
            errors[i] = parsed
        else:
            out[i] = parsed if with_time else parsed.date()
    return out, errors


def _lookup_table(table: dict[str, tuple[str, ...]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for canonical, aliases in table.items():
        for name in (canonical, *aliases):
            out[_norm_key(name)] = canonical
    return out


def _accepted_values(table: dict[str, tuple[str, ...]]) -> list[str]:
    """'CMCC (中国移动)', ...: each canonical value with its first Chinese name, for messages."""
    out = []
    for canonical, aliases in table.items():
        chinese = next((a for a in aliases if not a.isascii()), None)
        out.append(f"{canonical} ({chinese})" if chinese else canonical)
    return out


_OPERATOR_KEYS = _lookup_table(OPERATORS)
_RAT_KEYS = _lookup_table(RATS)
_STATUS_KEYS = _lookup_table(STATUSES)
_OPERATOR_CJK = {alias: op for op, aliases in OPERATORS.items() for alias in aliases
                 if alias in ("移动", "联通", "电信", "广电")}


def _rat(text: str) -> str | None:
    return _RAT_KEYS.get(_norm_key(text))


def _status(text: str) -> str | None:
    return _STATUS_KEYS.get(_norm_key(text))


def _normalize_operator(text: str) -> str | tuple[str, ...] | None:
    key = _norm_key(text)
    if key in _OPERATOR_KEYS:
        return _OPERATOR_KEYS[key]
    # "江苏移动", "中国电信江苏分公司": a unique short Chinese name inside the value.
    hits = tuple(sorted({op for alias, op in _OPERATOR_CJK.items() if alias in text}))
    if len(hits) == 1:
        return hits[0]
    return hits or None


# ============================================================================================
# Validation
# ============================================================================================


class _Validator:
    """Interprets a _Table as ``kind``; collects every problem, then builds the frame."""

    def __init__(self, kind: Kind, file: str, table: _Table, declared: crs_mod.CrsSpec | None,
                 mapping: ColumnMapping | None = None) -> None:
        self.kind = kind
        self.file = file
        self.table = table
        self.declared = declared
        self.mapping = mapping or ColumnMapping()
        self.sha = ""
        self.notes: dict[str, str] = {}  # column -> conversion applied, for ColumnUse
        self.no_service_cells = np.zeros(table.n, dtype=bool)
        self.problems: list[Problem] = []
        self.rows = table.rows
        self.n = table.n
        self.values: dict[str, Any] = {}
        self.matches: dict[str, _Match] = {}
        self.wkt_index: int | None = None
        self.wkt_failed = np.zeros(self.n, dtype=bool)
        self.source, self.crs_source = self._resolve_source()

    # --- problem helpers ---------------------------------------------------------------------

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    def error(self, position: int | None, field: str | None, message: str) -> None:
        row = int(self.rows[position]) if position is not None else None
        self.problems.append(Problem(self.file, row, field, message))

    def warn(self, position: int | None, field: str | None, message: str) -> None:
        row = int(self.rows[position]) if position is not None else None
        self.problems.append(Problem(self.file, row, field, message, severity="warning"))

    def header(self, column: str) -> str:
        match = self.matches.get(column)
        return match.header if match is not None else column

    # --- CRS ---------------------------------------------------------------------------------

    def _resolve_source(self) -> tuple[crs_mod.CrsSpec, str]:
        file_crs = self.table.file_crs
        declared = self.declared
        if file_crs is None:
            if declared is not None:
                return declared, "declared"
            return crs_mod.resolve_crs("EPSG:4326"), "assumed"
        from_file = crs_mod.resolve_crs(file_crs)
        if declared is None:
            return from_file, "file"
        if declared.is_gcj02 and from_file.is_wgs84_like:
            return declared, "declared"  # GCJ-02 cannot be written in a file's CRS; trust the user
        if crs_mod.same_coordinates(declared, from_file):
            return from_file, "file"
        self.problems.append(Problem(
            self.file, None, None,
            f"the file's CRS is {from_file.name} but crs={declared.name!r} was given; drop the crs "
            "option or fix the file's CRS (.prj)"))
        return from_file, "file"

    # --- main --------------------------------------------------------------------------------

    def run(self) -> gpd.GeoDataFrame:
        self.matches, wkt_index, header_problems = _map_headers(self.kind, self.table, self.file, self.mapping)
        self.problems.extend(self.table.notes)
        self.problems.extend(header_problems)
        self.wkt_index = wkt_index
        self._apply_defaults()
        self._check_required()
        self._convert_columns()
        if self.kind == "villages":
            geometry = self._village_geometry()
            self._village_codes()
            self._committee_points(geometry)
        else:
            geometry = self._point_geometry()
            if self.kind == "stations":
                self._station_checks()
            else:
                self._measurement_checks()
        errors = [p for p in self.problems if p.severity == "error"]
        if errors:
            raise ValidationError(sorted(errors, key=self._reading_order))
        frame = self._frame(geometry)
        if self.kind == "stations":
            frame = self._sectors(frame)
        return frame

    def result(self, frame: gpd.GeoDataFrame) -> IngestResult:
        return IngestResult(kind=self.kind, frame=frame, warnings=self.warnings, file_sha256=self.sha,
                            file_name=self.file, rows=len(frame), crs=self.source.name,
                            crs_source=self.crs_source, encoding=self.table.encoding,
                            columns=self.column_uses(frame))

    def _apply_defaults(self) -> None:
        """``--set COLUMN=VALUE``: a column of that value where the file has none, else the value in
        the column's empty cells (counted in a warning)."""
        for column, value in self.mapping.defaults.items():
            match = self.matches.get(column)
            if match is None:
                cells = np.empty(self.n, dtype=object)
                cells[:] = value
                header = f"--set {column}"
                self.table.headers.append(header)
                self.table.columns.append(cells)
                self.matches[column] = _Match(len(self.table.headers) - 1, header, column, None, "--set")
                continue
            raw = self.table.columns[match.index]
            empty = np.fromiter((_is_missing(v) for v in raw), dtype=bool, count=self.n)
            if empty.any():
                filled = raw.copy()
                filled[empty] = value
                self.table.columns[match.index] = filled
                self.warn(None, match.header, f"{int(empty.sum())} empty cell(s) filled with --set {column}={value}")
                self.notes[column] = f"empty cells: --set {value}"

    def column_uses(self, frame: gpd.GeoDataFrame | None) -> list[ColumnUse]:
        """How each column of the file (and each --set value) was understood, with up to three
        sample cells and what they became (from ``frame`` when the file was accepted)."""
        by_index = {m.index: m for m in self.matches.values()}
        shown = min(3, self.n)
        out: list[ColumnUse] = []
        targets = {"rs_power_dbm": "power_dbm", "ssb_epre_dbm": "power_dbm", "arfcn": "band", "no_service": "rsrp_dbm"}
        for i, header in enumerate(self.table.headers):
            match = by_index.get(i)
            raw = self.table.columns[i]
            if match is None:
                how = "geometry" if i == self.wkt_index else "ignored"
                samples = tuple((_show_cell(raw[j]), "") for j in range(shown))
                out.append(ColumnUse(header, None, how, samples=samples))
                continue
            column = match.column
            target = targets.get(column, column)
            converted: list[str] = []
            for j in range(shown):
                if column in targets and _is_missing(raw[j]):
                    converted.append("")  # the value came from another column
                    continue
                if frame is not None and target in frame.columns and len(frame) == self.n:
                    value = frame[target].iloc[j]
                    if column == "rat" and "band" in frame.columns:
                        value = f"{value} {frame['band'].iloc[j]}"
                else:
                    stored = self.values.get(target)
                    value = stored[j] if stored is not None and len(stored) == self.n else None
                converted.append(_show_cell(value))
            out.append(ColumnUse(header, column, match.how, match.unit, self.notes.get(column, ""),
                                 tuple((_show_cell(raw[j]), converted[j]) for j in range(shown))))
        if self.table.geometry is not None:
            out.append(ColumnUse("(geometry)", "geometry", "geometry"))
        return out

    def _reading_order(self, problem: Problem) -> tuple[bool, int, int]:
        """File-level problems first, then by row, then left to right as the columns stand."""
        columns = {h: i for i, h in enumerate(self.table.headers)}
        first = (problem.field or "").split("/", 1)[0]
        return problem.row is not None, problem.row or 0, columns.get(first, len(columns))

    def check_headers(self) -> None:
        """Raise :class:`ValidationError` for the problems of the header row alone (missing,
        duplicate or unknown-unit columns); the rows are not looked at."""
        self.matches, self.wkt_index, header_problems = _map_headers(self.kind, self.table, self.file,
                                                                     self.mapping)
        self.problems.extend(header_problems)
        self._apply_defaults()
        self._check_required()
        errors = [p for p in self.problems if p.severity == "error"]
        if errors:
            raise ValidationError(sorted(errors, key=self._reading_order))

    def _check_required(self) -> None:
        has_geometry = self.table.geometry is not None or self.wkt_index is not None
        for column in COLUMNS[self.kind]:
            if not column.required or column.name in self.matches:
                continue
            if column.name in ("lon", "lat") and has_geometry:
                continue  # taken from point geometry
            if column.name == "band" and ("arfcn" in self.matches or "rat" in self.matches):
                continue  # a channel number or a 制式 such as L1800 names the band; rows without one are named
            if column.name == "rsrp_dbm" and "no_service" in self.matches:
                continue
            self.problems.append(Problem(
                self.file, None, column.name,
                f"missing required column {column.name!r} (accepted headers: {_accepted(column)})"))
        if self.kind == "villages" and not has_geometry:
            self.problems.append(Problem(
                self.file, None, "geometry",
                "missing village boundaries: add a WKT column named one of "
                + ", ".join(GEOMETRY_HEADERS) + " or use a GeoJSON/GeoPackage/shapefile"))

    # --- generic column conversion -------------------------------------------------------------

    def _convert_columns(self) -> None:
        for column in COLUMNS[self.kind]:
            match = self.matches.get(column.name)
            if match is None:
                continue
            raw = self.table.columns[match.index]
            if column.name == "rsrp_dbm":  # "无服务" in the RSRP column: a sample without service
                self.no_service_cells = np.fromiter(
                    (isinstance(v, str) and _norm_key(v) in _NO_SERVICE_TOKENS for v in raw), dtype=bool, count=self.n)
                if self.no_service_cells.any():
                    raw = raw.copy()
                    raw[self.no_service_cells] = None
            if column.dtype == "str":
                self.values[column.name] = [_text(v) for v in raw]
            elif column.dtype in ("float", "int"):
                numbers, errors = _floats(raw, dms=column.name in _DEGREE_COLUMNS)
                for i, message in errors.items():
                    self.error(i, match.header, message)
                if column.dtype == "int":
                    with np.errstate(invalid="ignore"):
                        fractional = np.isfinite(numbers) & (numbers != np.round(numbers))
                    for i in np.flatnonzero(fractional).tolist():
                        self.error(int(i), match.header, f"not a whole number: {_show(raw[i])}")
                        numbers[i] = np.nan
                if column.name == "power_dbm" and match.unit in _WATT_UNITS:
                    numbers = self._watts_to_dbm(numbers, match.header)
                self.values[column.name] = numbers
            elif column.dtype in ("date", "datetime"):
                parsed, errors = _dates(raw, with_time=column.dtype == "datetime")
                for i, message in errors.items():
                    self.error(i, match.header, message)
                self.values[column.name] = parsed
            else:  # pragma: no cover - schema only uses the types above
                raise RuntimeError(f"unsupported dtype {column.dtype}")
        for name, (lo, hi, unit) in RANGES.items():
            if name in self.values and name in self.matches and name != "power_dbm":
                self._check_range(name, lo, hi, unit)
        if "power_dbm" in self.values:
            self._check_power()

    def _watts_to_dbm(self, watts: NDArray[np.float64], header: str) -> NDArray[np.float64]:
        out = np.full(watts.shape, np.nan)
        for i in np.flatnonzero(np.isfinite(watts)).tolist():
            if watts[i] <= 0:
                self.error(int(i), header, f"transmit power must be above 0 W, got {watts[i]:g} W")
            else:
                out[i] = 10.0 * math.log10(watts[i]) + 30.0
        return out

    def _check_range(self, name: str, lo: float, hi: float, unit: str) -> None:
        values = self.values[name]
        header = self.header(name)
        with np.errstate(invalid="ignore"):
            outside = np.isfinite(values) & ((values < lo) | (values > hi))
        for i in np.flatnonzero(outside).tolist():
            bound = f"at least {lo:g}" if math.isinf(hi) else f"{lo:g} to {hi:g}"
            self.error(int(i), header, f"{values[i]:g} is out of range: {name} must be {bound} {unit}")

    def _check_power(self) -> None:
        values = self.values["power_dbm"]
        match = self.matches["power_dbm"]
        lo, hi, _ = RANGES["power_dbm"]
        in_watts = match.unit in _WATT_UNITS
        with np.errstate(invalid="ignore"):
            outside = np.isfinite(values) & ((values < lo) | (values > hi))
        for i in np.flatnonzero(outside).tolist():
            if in_watts:
                message = f"{10 ** ((values[i] - 30) / 10):g} W ({values[i]:.1f} dBm) is outside 0-80 dBm"
            else:
                message = f"{values[i]:g} dBm is outside the plausible 0-80 dBm"
                if values[i] > hi:
                    message += ("; if the column is in watts, name it e.g. '发射功率(W)' or 'power_w' "
                                "and it is converted")
            self.error(int(i), match.header, message)

    def _categorical(self, name: str, lookup: Callable[[str], object], accepted: Iterable[str],
                     default: str | None, required: bool) -> list[str | None]:
        texts: list[str | None] = self.values.get(name, [None] * self.n)
        header = self.header(name)
        out: list[str | None] = []
        for i, text in enumerate(texts):
            if text is None:
                if required and name in self.matches:
                    self.error(i, header, f"missing {name}")
                out.append(default)
                continue
            found = lookup(text)
            if isinstance(found, str):
                out.append(found)
            elif isinstance(found, tuple) and found:
                self.error(i, header, f"{text!r} names several operators ({', '.join(found)}); "
                           "write one row per operator for shared sites")
                out.append(None)
            else:
                self.error(i, header, f"unknown {name} {text!r}; use one of {', '.join(accepted)}")
                out.append(None)
        return out

    # --- points (stations, measurements) -------------------------------------------------------

    def _point_geometry(self) -> NDArray[np.object_]:
        x = np.asarray(self.values.get("lon", np.full(self.n, np.nan)), dtype=np.float64)
        y = np.asarray(self.values.get("lat", np.full(self.n, np.nan)), dtype=np.float64)
        lon_header, lat_header = self.header("lon"), self.header("lat")
        # rows whose coordinates could not be read (reported already) or are missing
        unreadable = np.zeros(self.n, dtype=bool)
        missing = {name: np.ones(self.n, dtype=bool) for name in ("lon", "lat")}
        for name, values in (("lon", x), ("lat", y)):
            if name in self.matches:
                missing[name] = self._raw_missing(name)
                unreadable |= ~missing[name] & np.isnan(values)
        geometry = self._source_geometry()
        if geometry is not None:
            # the file's geometry is authoritative; lon/lat columns are rebuilt from it
            for i, geom in enumerate(geometry):
                if self.wkt_failed[i]:
                    unreadable[i] = True
                    continue
                if geom is None or shapely.is_empty(geom):
                    if not (np.isfinite(x[i]) and np.isfinite(y[i])) and not unreadable[i]:
                        self.error(i, "geometry", "missing geometry and no lon/lat")
                        unreadable[i] = True
                    continue
                if shapely.get_type_id(geom) == 4 and shapely.get_num_geometries(geom) == 1:
                    geom = shapely.get_geometry(geom, 0)
                if shapely.get_type_id(geom) != 0:
                    self.error(i, "geometry", f"geometry is a {geom.geom_type}; {self.kind} need points")
                    unreadable[i] = True
                    continue
                x[i], y[i] = shapely.get_x(geom), shapely.get_y(geom)
                unreadable[i] = False
                missing["lon"][i] = missing["lat"][i] = False
            lon_header = lat_header = "geometry"
        else:
            for i in np.flatnonzero(missing["lon"] & ("lon" in self.matches)).tolist():
                self.error(int(i), lon_header, "missing longitude")
            for i in np.flatnonzero(missing["lat"] & ("lat" in self.matches)).tolist():
                self.error(int(i), lat_header, "missing latitude")
        x[unreadable], y[unreadable] = np.nan, np.nan
        lon, lat = self._to_wgs84_points(x, y, lon_header, lat_header)
        self.values["lon"], self.values["lat"] = lon, lat
        out = np.empty(self.n, dtype=object)
        ok = np.isfinite(lon) & np.isfinite(lat)
        out[ok] = shapely.points(lon[ok], lat[ok])
        return out

    def _source_geometry(self) -> NDArray[np.object_] | None:
        """Geometry of the file (vector formats) or parsed from its WKT column (tables)."""
        if self.table.geometry is not None:
            return np.asarray(shapely.force_2d(self.table.geometry), dtype=object)
        if self.wkt_index is None:
            return None
        header = self.table.headers[self.wkt_index]
        out = np.empty(self.n, dtype=object)
        for i, cell in enumerate(self.table.columns[self.wkt_index]):
            text = _text(cell)
            if text is None:
                continue
            text = re.sub(r"^SRID=\d+;", "", text, flags=re.IGNORECASE)
            try:
                geom = shapely.from_wkt(text)
            except shapely.errors.GEOSException as exc:
                self.error(i, header, f"not valid WKT geometry: {str(exc).splitlines()[0]}")
                self.wkt_failed[i] = True
                continue
            out[i] = shapely.force_2d(geom)
        return out

    def _to_wgs84_points(
        self, x: NDArray[np.float64], y: NDArray[np.float64], lon_header: str, lat_header: str
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Check raw coordinates, transform them to WGS84 and check they fall in China."""
        ok = np.isfinite(x) & np.isfinite(y)
        if self.source.is_geographic:
            swapped = ok & crs_mod.in_china(y, x) & ~crs_mod.in_china(x, y)
            projected = ok & ~swapped & crs_mod.looks_projected(x, y)
            if projected.any():
                i = int(np.flatnonzero(projected)[0])
                self._projected_problem(f"x={x[i]:g}, y={y[i]:g} in row {self.rows[i]}")
                return np.full(self.n, np.nan), np.full(self.n, np.nan)
            if swapped.sum() >= 2 and swapped.sum() >= 0.5 * ok.sum():
                self.problems.append(Problem(
                    self.file, None, f"{lon_header}/{lat_header}",
                    f"longitude and latitude look swapped in {int(swapped.sum())} of {int(ok.sum())} rows; "
                    "swap the two columns (longitude is about 73-135 in China, latitude 4-54)"))
            for i in np.flatnonzero(swapped).tolist():
                self.error(int(i), f"{lon_header}/{lat_header}",
                           f"longitude {x[i]:g} and latitude {y[i]:g} look swapped; swap the columns")
            ok &= ~swapped
        lon = np.full(self.n, np.nan)
        lat = np.full(self.n, np.nan)
        if ok.any():
            lon[ok], lat[ok] = crs_mod.transform_xy(x[ok], y[ok], self.source)
        inside = crs_mod.in_china(lon, lat)
        for i in np.flatnonzero(ok & ~inside).tolist():
            where = f"({x[i]:g}, {y[i]:g})" if self.source.is_wgs84_like else \
                f"({x[i]:g}, {y[i]:g}) in {self.source.name}, i.e. ({lon[i]:g}, {lat[i]:g}) in WGS84"
            self.error(int(i), f"{lon_header}/{lat_header}",
                       f"point {where} is outside China (longitude 73.3-135.1, latitude 3.8-53.6)")
        lon[~inside] = np.nan
        lat[~inside] = np.nan
        return lon, lat

    def _projected_problem(self, example: str) -> None:
        if self.crs_source == "assumed":
            message = (f"coordinates look projected ({example}), not longitude/latitude, and the file "
                       "declares no CRS; pass the CRS (e.g. --crs EPSG:4549)")
        else:
            message = (f"coordinates look projected ({example}) but the CRS is {self.source.name}, "
                       "which is longitude/latitude; pass the right CRS (e.g. --crs EPSG:4549)")
        self.problems.append(Problem(self.file, None, None, message))

    def _station_checks(self) -> None:
        self._text_required("site_id")
        self.values["operator"] = self._categorical(
            "operator", _normalize_operator, _accepted_values(OPERATORS), None, required=True)
        self.values["rat"], self.values["band"] = self._rat_and_band(required=True)
        self.values["status"] = self._categorical(
            "status", _status, _accepted_values(STATUSES), "active", False)
        self._radio_parameters()
        keys = ("site_id", "cell_id", "operator", "band")
        cells = [self.values.get(k, [None] * self.n) for k in keys]
        self._duplicates(
            [tuple(c[i] for c in cells) for i in range(self.n)],
            [i for i in range(self.n) if None not in (cells[0][i], cells[2][i], cells[3][i])],
            "site_id/cell_id/operator/band", self.header("site_id"))

    def _measurement_checks(self) -> None:
        self.values["operator"] = self._categorical(
            "operator", _normalize_operator, _accepted_values(OPERATORS), None, required=True)
        self.values["rat"], self.values["band"] = self._rat_and_band(required=False)
        self._no_service()

    def _no_service(self) -> None:
        """Samples without service are samples: an RSRP cell saying so (无服务, no service), a
        no-service column, or an empty RSRP. They are stored at the no-service level
        (:data:`coverage.verdicts.NO_SERVICE_RSRP_DBM`), count as no coverage in a village's measured
        share and are never a residual; each way is counted in a warning."""
        from coverage.verdicts import NO_SERVICE_RSRP_DBM

        rsrp = np.asarray(self.values.get("rsrp_dbm", np.full(self.n, np.nan)), dtype=np.float64)
        flagged = np.zeros(self.n, dtype=bool)
        if "no_service" in self.matches:
            match = self.matches["no_service"]
            for i, cell in enumerate(self.table.columns[match.index]):
                text = _text(cell)
                if text is None:
                    continue
                key = _norm_key(text)
                if key in _YES or key in _NO_SERVICE_TOKENS:
                    flagged[i] = True
                elif key not in _NO:
                    self.error(i, match.header, f"{text!r} is not yes/no (是/否, 1/0, true/false)")
        tokens = self.no_service_cells
        empty = self._raw_missing("rsrp_dbm") & ~tokens if "rsrp_dbm" in self.matches else ~flagged
        both = flagged & np.isfinite(rsrp)
        for i in np.flatnonzero(both).tolist():
            self.error(int(i), f"{self.header('no_service')}/{self.header('rsrp_dbm')}",
                       f"marked as no service but has SS-RSRP {rsrp[i]:g} dBm")
        none = (flagged | tokens | empty) & ~both
        rsrp[none] = NO_SERVICE_RSRP_DBM
        self.values["rsrp_dbm"] = rsrp
        if none.any():
            parts = []
            if (tokens & none).any():
                parts.append(f"{int((tokens & none).sum())} say so in {self.header('rsrp_dbm')!r}")
            if (flagged & none & ~tokens).any():
                parts.append(f"{int((flagged & none & ~tokens).sum())} flagged in {self.header('no_service')!r}")
            if (empty & none & ~flagged).any():
                parts.append(f"{int((empty & none & ~flagged).sum())} have an empty SS-RSRP")
            self.warn(None, self.header("rsrp_dbm"),
                      f"{int(none.sum())} sample(s) without service ({'; '.join(parts)}): kept, stored at "
                      f"{NO_SERVICE_RSRP_DBM:g} dBm and counted as no coverage; remove rows that are log gaps "
                      "rather than outages")
            self.notes["rsrp_dbm"] = f"no service -> {NO_SERVICE_RSRP_DBM:g} dBm"

    def _rat_and_band(self, *, required: bool) -> tuple[list[str | None], list[str | None]]:
        """RAT and band of each row from the RAT/制式 column (``L1800`` names both), the band
        column and a channel number (EARFCN or NR-ARFCN); every source that names a band must name
        the same one, and the band must belong to the RAT, or the row is rejected. Without any RAT
        the band's decides; without either, NR."""
        rat_texts: list[str | None] = self.values.get("rat", [None] * self.n)
        band_texts: list[str | None] = self.values.get("band", [None] * self.n)
        arfcn = self.table.columns[self.matches["arfcn"].index] if "arfcn" in self.matches else None
        rat_h, band_h, arfcn_h = self.header("rat"), self.header("band"), self.header("arfcn")
        rats: list[str | None] = []
        bands: list[str | None] = []
        from_technology = 0
        # a file repeats a handful of values: each is parsed once
        parse_technology = cache(_parse_technology)
        normalize_band = cache(_normalize_band)
        channel_of = cache(channel)
        for i in range(self.n):
            rat: str | None = None
            named: dict[str, str] = {}
            text = rat_texts[i]
            ok = True
            if text is not None:
                tech = parse_technology(text)
                if tech is None:
                    self.error(i, rat_h, f"unknown RAT {text!r}; use NR or LTE (5G/4G), or a 制式 such as "
                               "NR3500, NR2600, 700M, L1800, L900, L2100, TDD-F")
                    ok = False
                else:
                    rat = tech.rat
                    if tech.band is not None:
                        named[rat_h] = tech.band
            if arfcn is not None and not _is_missing(arfcn[i]):
                found = channel_of(_text(arfcn[i]), rat)
                if found is None:
                    self.error(i, arfcn_h, f"channel number {_show(arfcn[i])} is not "
                               + ({"LTE": "an EARFCN", "NR": "an NR-ARFCN"}.get(rat or "", "an EARFCN or NR-ARFCN")
                                  + " of a known band (TS 36.101 / TS 38.104)"))
                    ok = False
                else:
                    named[arfcn_h] = found.band
                    rat = rat or found.rat
            text = band_texts[i]
            if text is not None:
                band = normalize_band(text, rat)
                if band is None:  # a 制式 such as L1800 in the band column names the band too
                    tech = parse_technology(text)
                    band = tech.band if tech is not None and tech.band in BANDS else None
                if band is None:
                    other = normalize_band(text)
                    if other is not None and rat is not None:
                        self.error(i, f"{rat_h}/{band_h}", f"RAT and band disagree: {rat_h} says {rat} but "
                                   f"{text!r} is {band_rat(other)} band {other}")
                    else:
                        self.error(i, band_h, f"unknown band {text!r}; use a band name "
                                   f"({', '.join(BANDS)}) or a frequency in MHz")
                    ok = False
                else:
                    named[band_h] = band
            distinct = sorted(set(named.values()))
            band_out: str | None = None
            if len(distinct) > 1:
                self.error(i, "/".join(named), "the band columns disagree: "
                           + ", ".join(f"{h} says {b}" for h, b in named.items()))
                ok = False
            elif distinct:
                band_out = distinct[0]
                band_is = band_rat(band_out)
                if rat is not None and band_is != rat:
                    self.error(i, "/".join([rat_h, *named]), f"RAT and band disagree: {rat} but band {band_out} "
                               f"is {band_is}; the row is rejected")
                    ok = False
                rat = rat or band_is
                if required and band_out not in BANDS:
                    self.error(i, "/".join(named), f"band {band_out} has no radio defaults (coverage/bands.py: "
                               f"{', '.join(BANDS)})")
                    ok = False
                if rat_h in named:
                    from_technology += 1
            elif required and ok:
                self.error(i, band_h, "missing band")
                ok = False
            rats.append(rat or "NR" if ok else None)
            bands.append(band_out if ok else None)
        if from_technology:
            self.notes["rat"] = "制式 -> RAT and band"
        return rats, bands

    def _radio_parameters(self) -> None:
        """Station radio columns as 工参 tables write them: height 0, or tilt 0 of a sector cell,
        means unknown (band defaults, counted), azimuth 360 is 0, cells without azimuth are counted (omnidirectional, or
        three sectors with ``three_sectors``), reference-signal power per resource element becomes
        total power (:func:`coverage.bands.total_power_dbm`), and a total power that looks like a
        per-RE power is counted in a warning."""
        sector = np.isfinite(np.asarray(self.values.get("azimuth_deg", np.full(self.n, np.nan)), dtype=np.float64))
        for name, what in (("height_m", "antenna height"), ("tilt_deg", "downtilt")):
            if name not in self.matches:
                continue
            values = np.asarray(self.values[name], dtype=np.float64)
            # an omnidirectional antenna (no azimuth) has no downtilt: its 0 is a real value
            zero = (values == 0) & (sector if name == "tilt_deg" else True)
            if zero.any():
                values = values.copy()
                values[zero] = np.nan
                self.values[name] = values
                self.warn(None, self.header(name), f"{int(zero.sum())} cell(s) with {what} 0 taken as unknown: "
                          "the band's default is used")
                self.notes[name] = "0 -> band default"
        if "azimuth_deg" in self.matches:
            az = np.asarray(self.values["azimuth_deg"], dtype=np.float64)
            self.values["azimuth_deg"] = np.where(az == 360.0, 0.0, az)
        missing = np.isnan(np.asarray(self.values.get("azimuth_deg", np.full(self.n, np.nan)), dtype=np.float64))
        if missing.any():
            if self.mapping.three_sectors:
                self.warn(None, self.header("azimuth_deg"),
                          f"{int(missing.sum())} row(s) without azimuth taken as three-sector sites "
                          "(0, 120 and 240 degrees; --three-sectors)")
                self.notes["azimuth_deg"] = "empty -> three sectors 0/120/240"
            else:
                self.warn(None, self.header("azimuth_deg"),
                          f"{int(missing.sum())} cell(s) without azimuth (方位角/方向角): each is predicted as one "
                          "omnidirectional 8 dBi antenna; if they are sector sites, pass --three-sectors")
        bands = self.values.get("band", [None] * self.n)
        bandwidth = np.asarray(self.values.get("bandwidth_mhz", np.full(self.n, np.nan)), dtype=np.float64)
        power = np.asarray(self.values.get("power_dbm", np.full(self.n, np.nan)), dtype=np.float64)
        per_re = [name for name in ("rs_power_dbm", "ssb_epre_dbm") if name in self.matches]
        if per_re:
            rats = self.values.get("rat", [None] * self.n)
            epres: dict[str, NDArray[np.float64]] = {c: self._per_re_power(c) for c in per_re}
            both = 0
            for i in range(self.n):
                band = bands[i]
                # LTE rows take the reference-signal power first, NR rows the SS-PBCH EPRE
                order = ("ssb_epre_dbm", "rs_power_dbm") if rats[i] == "NR" else ("rs_power_dbm", "ssb_epre_dbm")
                source = next((c for c in order if c in epres and np.isfinite(epres[c][i])), None)
                if source is None or band is None or band not in BANDS:
                    continue
                if np.isfinite(power[i]):
                    both += 1
                    continue
                epre = float(epres[source][i])
                width = float(bandwidth[i]) if np.isfinite(bandwidth[i]) else None
                power[i] = total_power_dbm(epre, band, width)
                if not RANGES["power_dbm"][0] <= power[i] <= RANGES["power_dbm"][1]:
                    self.error(i, self.header(source), f"{epre:g} dBm per resource element is "
                               f"{power[i]:.1f} dBm in total, outside the plausible 0-80 dBm")
            if both:
                self.warn(None, "/".join(self.header(n) for n in per_re),
                          f"{both} row(s) give both total power and power per resource element; the total power "
                          f"({self.header('power_dbm')}) is used")
            self.values["power_dbm"] = power
        elif "power_dbm" in self.matches:
            low = np.isfinite(power) & (power < 30.0)
            if low.any():
                self.warn(None, self.header("power_dbm"),
                          f"{int(low.sum())} cell(s) with a total transmit power under 30 dBm (1 W); if the column "
                          "is the reference-signal power per resource element (参考信号功率), map it with "
                          f"--map {self.header('power_dbm')}=rs_power_dbm: it is 30.8 dB below the total for "
                          "LTE 20 MHz")

    def _per_re_power(self, name: str) -> NDArray[np.float64]:
        """A power-per-resource-element column in dBm: ``(0.1dBm)`` in its header or --map target
        divides by 10; without a unit, a column whose values all lie beyond +-60 (no per-RE power
        does) is read as 0.1 dBm with a warning, and a column mixing both is an error."""
        match = self.matches[name]
        epre, errors = _floats(self.table.columns[match.index])
        for i, message in errors.items():
            self.error(i, match.header, message)
        finite = np.isfinite(epre)
        self.notes[name] = "dBm per RE -> total dBm"
        if match.unit == "0.1dbm":
            self.notes[name] = "0.1 dBm per RE -> total dBm"
            return epre / 10.0
        if not finite.any():
            return epre
        tenths = finite & (np.abs(epre) > 60.0)
        if (tenths == finite).all():
            self.warn(None, match.header,
                      f"{int(tenths.sum())} power(s) per resource element above 60 read as 0.1 dBm "
                      "(e.g. 152 = 15.2 dBm); name the unit, e.g. 参考信号功率(0.1dBm), to say so")
            self.notes[name] = "0.1 dBm per RE -> total dBm"
            return epre / 10.0
        if tenths.any():
            for i in np.flatnonzero(tenths).tolist():
                self.error(int(i), match.header, f"{epre[i]:g} is not a power per resource element in "
                           "dBm (-60 to 60) and the column mixes it with dBm values")
            epre[tenths] = np.nan
        return epre

    def _sectors(self, frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        """With ``three_sectors``: each row without azimuth becomes three rows at 0, 120 and 240
        degrees, cell ids ``<cell or site>-1/-2/-3``."""
        if not self.mapping.three_sectors:
            return frame
        omni = frame["azimuth_deg"].isna().to_numpy()
        if not omni.any():
            return frame
        parts = [frame[~omni]]
        base = frame[omni]
        names = base["cell_id"].where(base["cell_id"].notna(), base["site_id"]).astype(str)
        for k, azimuth in enumerate((0.0, 120.0, 240.0), start=1):
            part = base.copy()
            part["azimuth_deg"] = azimuth
            part["cell_id"] = (names + f"-{k}").to_numpy()
            parts.append(part)
        out = pd.concat(parts)
        order = np.argsort(np.concatenate([np.flatnonzero(~omni), *(np.flatnonzero(omni),) * 3]), kind="stable")
        return gpd.GeoDataFrame(out.iloc[order].reset_index(drop=True), geometry="geometry", crs=frame.crs)

    def _raw_missing(self, name: str) -> NDArray[np.bool_]:
        raw = self.table.columns[self.matches[name].index]
        return np.fromiter((_is_missing(v) for v in raw), dtype=bool, count=self.n)

    def _text_required(self, name: str) -> None:
        for i, value in enumerate(self.values.get(name, [])):
            if value is None:
                self.error(i, self.header(name), f"missing {name}")

    def _duplicates(self, keys: list[tuple[Any, ...]], candidates: list[int], what: str, field: str) -> None:
        first: dict[tuple[Any, ...], int] = {}
        for i in candidates:
            key = keys[i]
            if key in first:
                j = first[key]
                shown = ", ".join("" if k is None else str(k) for k in key)
                self.error(i, field, f"duplicate {what} ({shown}): rows {self.rows[j]} and {self.rows[i]}")
            else:
                first[key] = i

    # --- villages ------------------------------------------------------------------------------

    def _village_geometry(self) -> NDArray[np.object_]:
        source = self._source_geometry()
        out = np.empty(self.n, dtype=object)
        if source is None:
            return out
        polygonal = np.zeros(self.n, dtype=bool)
        for i, geom in enumerate(source):
            if self.wkt_failed[i]:
                continue
            if geom is None or shapely.is_empty(geom):
                self.error(i, "geometry", "missing or empty geometry")
                continue
            type_id = shapely.get_type_id(geom)
            if type_id not in (3, 6):
                self.error(i, "geometry",
                           f"geometry is a {geom.geom_type}; village boundaries must be Polygon "
                           "or MultiPolygon")
                continue
            polygonal[i] = True
        geoms = source.copy()
        geoms[~polygonal] = None
        bounds = np.full((self.n, 4), np.nan)
        if polygonal.any():
            bounds[polygonal] = shapely.bounds(geoms[polygonal].astype(object))
        if self.source.is_geographic and polygonal.any():
            swapped = polygonal & crs_mod.in_china(bounds[:, 1], bounds[:, 0]) & ~crs_mod.in_china(
                bounds[:, 0], bounds[:, 1])
            projected = polygonal & ~swapped & (crs_mod.looks_projected(bounds[:, 0], bounds[:, 1])
                                                | crs_mod.looks_projected(bounds[:, 2], bounds[:, 3]))
            if projected.any():
                i = int(np.flatnonzero(projected)[0])
                self._projected_problem(f"x={bounds[i, 0]:g}, y={bounds[i, 1]:g} in row {self.rows[i]}")
                return out
            for i in np.flatnonzero(swapped).tolist():
                self.error(int(i), "geometry", "polygon coordinates look like (latitude, longitude); "
                           "write longitude first")
            polygonal &= ~swapped
        if not polygonal.any():
            return out
        series = gpd.GeoSeries(geoms[polygonal], crs=self.source.crs)
        wgs = np.asarray(crs_mod.to_wgs84(series, self.source).array, dtype=object)
        positions = np.flatnonzero(polygonal)
        for i, geom in zip(positions.tolist(), wgs, strict=True):
            geom = self._repair(int(i), geom)
            if geom is None:
                continue
            minx, miny, maxx, maxy = shapely.bounds(geom)
            if not (crs_mod.in_china(minx, miny) and crs_mod.in_china(maxx, maxy)):
                self.error(int(i), "geometry",
                           f"polygon (bounds {minx:.4f}, {miny:.4f}, {maxx:.4f}, {maxy:.4f} in WGS84) is "
                           "outside China (longitude 73.3-135.1, latitude 3.8-53.6); check the CRS")
                continue
            out[i] = geom
        return out

    def _repair(self, i: int, geom: Any) -> Any:
        if shapely.is_valid(geom):
            return geom
        reason = shapely.is_valid_reason(geom)
        fixed = shapely.make_valid(geom)
        parts = [p for p in shapely.get_parts(fixed) if shapely.get_type_id(p) in (3, 6) and not p.is_empty]
        if not parts:
            self.error(i, "geometry", f"invalid polygon ({reason}) that cannot be repaired into an area")
            return None
        merged = shapely.union_all(parts) if len(parts) > 1 else parts[0]
        if shapely.get_type_id(merged) not in (3, 6):
            self.error(i, "geometry", f"invalid polygon ({reason}) that cannot be repaired into an area")
            return None
        if shapely.get_type_id(geom) == 6 and shapely.get_type_id(merged) == 3:
            merged = shapely.multipolygons([merged])
        what = "self-intersecting polygon" if "self-intersection" in reason.lower() else "invalid polygon"
        self.warn(i, "geometry", f"{what} repaired with make_valid ({reason})")
        return merged

    def _village_codes(self) -> None:
        if "code" not in self.matches:
            return
        header = self.header("code")
        raw = self.table.columns[self.matches["code"].index]
        codes: list[str | None] = [None] * self.n
        for i, value in enumerate(raw):
            text = self._code_text(i, value, header, "code")
            if text is None:
                if _is_missing(value):
                    self.error(i, header, "missing code")
                continue
            if not re.fullmatch(r"\d{12}", text):
                digits = sum(ch.isdigit() for ch in text)
                if text.isdigit():
                    detail = f"has {len(text)} digits"
                else:
                    detail = f"contains characters other than digits ({digits} digits)"
                self.error(i, header, f"code {text!r} {detail}; a village code is the 12-digit "
                           "statistical division code (统计用区划代码)")
                continue
            codes[i] = text
        self.values["code"] = codes
        names = self.values.get("name", [None] * self.n)
        for i, name in enumerate(names):
            if not name:
                self.error(i, self.header("name"), "missing village name")
        urban = [i for i, (c, name) in enumerate(zip(codes, names, strict=True))
                 if c is not None and is_village_committee(c[-3:].rjust(12, "0")) and name_says_urban(name)]
        if urban:
            shown = ", ".join(f"{codes[i]} {names[i]}" for i in urban[:3])
            self.warn(None, self.header("name"),
                      f"{len(urban)} unit(s) coded as village committees (NBS 200-399) are named as urban units "
                      f"(社区, 居委会, 街道办事处), e.g. {shown}: counted as urban, not as administrative villages "
                      "(the codes may follow another scheme than NBS)")
        self._duplicates([(c,) for c in codes], [i for i in range(self.n) if codes[i] is not None],
                         "village code", header)
        for name, length in _LEVELS:
            given: list[str | None] = [None] * self.n
            if name in self.matches:
                column_raw = self.table.columns[self.matches[name].index]
                for i, value in enumerate(column_raw):
                    given[i] = self._code_text(i, value, self.header(name), name)
            derived: list[str | None] = []
            for i in range(self.n):
                code, text = codes[i], given[i]
                if text is not None and len(text) == 12 and text[length:] == "0" * (12 - length):
                    text = text[:length]  # NBS publishes every level as a 12-digit code
                if text is not None and not re.fullmatch(rf"\d{{{length}}}", text):
                    self.error(i, self.header(name), f"{name} {text!r} must have {length} digits")
                    text = None
                elif text is not None and code is not None and text != code[:length]:
                    self.error(i, self.header(name),
                               f"{name} {text!r} does not match the village code {code} (its first {length} "
                               f"digits are {code[:length]})")
                if text is None and code is not None:
                    text = code[:length]
                derived.append(text)
            self.values[name] = derived

    def _code_text(self, i: int, value: object, header: str, name: str) -> str | None:
        if isinstance(value, (float, np.floating)) and math.isfinite(value) and not float(value).is_integer():
            self.error(i, header, f"{name} {value!r} is not a whole number; store codes as text")
            return None
        text = _text(value)
        if text is None:
            return None
        text = unicodedata.normalize("NFKC", text).strip()
        if _SCI_RE.match(text):
            self.error(i, header, f"{name} {text!r} is in scientific notation: digits were lost when the "
                       "sheet was exported; format the column as text in Excel and export again")
            return None
        if re.fullmatch(r"\d+\.0+", text):
            text = text.split(".")[0]
        return text

    def _committee_points(self, polygons: NDArray[np.object_]) -> None:
        if "committee_lon" not in self.values and "committee_lat" not in self.values:
            return
        x = np.asarray(self.values.get("committee_lon", np.full(self.n, np.nan)), dtype=np.float64)
        y = np.asarray(self.values.get("committee_lat", np.full(self.n, np.nan)), dtype=np.float64)
        field_name = f"{self.header('committee_lon')}/{self.header('committee_lat')}"
        half = np.isfinite(x) != np.isfinite(y)
        for i in np.flatnonzero(half).tolist():
            self.error(int(i), field_name, "committee point needs both longitude and latitude")
        ok = np.isfinite(x) & np.isfinite(y)
        # Committee columns are longitude/latitude in the source's geographic system; a projected
        # source may carry them either as degrees (taken as WGS84) or in its own metres.
        lon = np.full(self.n, np.nan)
        lat = np.full(self.n, np.nan)
        degrees = ok & ~crs_mod.looks_projected(x, y)
        metres = ok & ~degrees
        if self.source.is_geographic:
            for i in np.flatnonzero(metres).tolist():
                self.error(int(i), field_name,
                           f"committee point ({x[i]:g}, {y[i]:g}) is not longitude/latitude")
            if degrees.any():
                lon[degrees], lat[degrees] = crs_mod.transform_xy(x[degrees], y[degrees], self.source)
        else:
            lon[degrees], lat[degrees] = x[degrees], y[degrees]
            if metres.any():
                lon[metres], lat[metres] = crs_mod.transform_xy(x[metres], y[metres], self.source)
        inside = crs_mod.in_china(lon, lat)
        for i in np.flatnonzero(ok & np.isfinite(lon) & ~inside).tolist():
            hint = "; longitude and latitude look swapped" if crs_mod.in_china(lat[i], lon[i]) else ""
            self.error(int(i), field_name,
                       f"committee point ({lon[i]:g}, {lat[i]:g}) is outside China{hint}")
        lon[~inside], lat[~inside] = np.nan, np.nan
        self.values["committee_lon"], self.values["committee_lat"] = lon, lat
        check = inside & np.array([g is not None for g in polygons], dtype=bool)
        if not check.any():
            return
        metric = crs_mod.local_metric_crs(
            (float(np.nanmin(lon[check])), float(np.nanmin(lat[check])),
             float(np.nanmax(lon[check])), float(np.nanmax(lat[check]))))
        points = gpd.GeoSeries(shapely.points(lon[check], lat[check]), crs=crs_mod.WGS84).to_crs(metric)
        areas = gpd.GeoSeries(polygons[check].astype(object), crs=crs_mod.WGS84).to_crs(metric)
        distance = np.asarray(points.distance(areas, align=False), dtype=np.float64)
        for i, d in zip(np.flatnonzero(check).tolist(), distance.tolist(), strict=True):
            if d > COMMITTEE_MAX_OUTSIDE_M:
                self.warn(int(i), field_name,
                          f"committee point is {d / 1000:.1f} km outside the village polygon")

    # --- frame ---------------------------------------------------------------------------------

    def _frame(self, geometry: NDArray[np.object_]) -> gpd.GeoDataFrame:
        data: dict[str, Any] = {}
        for column in COLUMNS[self.kind]:
            values = self.values.get(column.name)
            if values is None:
                continue
            if column.dtype == "datetime":
                stamps = pd.Series(pd.to_datetime(pd.Series(values, dtype=object))).astype("datetime64[ns]")
                values = stamps.dt.round("ms")  # the resolution GeoPackage and XLSX keep
            data[column.name] = values
        return conform(self.kind, data, geometry)
