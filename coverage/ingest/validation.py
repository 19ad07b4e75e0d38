"""Validation of one table: the state of a validator, its problem helpers and the generic column
checks (required columns, numbers, dates, ranges, power units, categories, duplicates), and what a
validated file gives (:class:`IngestResult`, :class:`ColumnUse`, :class:`Inspection`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from coverage import crs as crs_mod
from coverage.errors import Problem, ValidationError
from coverage.ingest.headers import GEOMETRY_HEADERS, WATT_UNITS, HeaderMatch, accepted_headers, map_headers
from coverage.ingest.mapping import ColumnMapping
from coverage.ingest.messages import (
    bi,
    column_zh,
    duplicate,
    missing_column,
    missing_value,
    out_of_range,
    unknown_value,
)
from coverage.ingest.readers import Table
from coverage.ingest.values import (
    NO_SERVICE_TOKENS,
    cell_text,
    is_missing,
    norm_key,
    parse_dates,
    parse_floats,
    show_cell,
    show_value,
)
from coverage.schema import (
    COLUMNS,
    Kind,
    conform,
)

__all__ = [
    "RANGES",
    "ColumnUse",
    "IngestResult",
    "Inspection",
    "ValidatorBase",
]

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

#: The Chinese of the keys :meth:`ValidatorBase.duplicates` is told of.
_DUPLICATE_ZH = {"village code": "行政村代码", "site_id/cell_id/operator/band": "基站小区（站址/小区/运营商/频段）"}

_DEGREE_COLUMNS = frozenset({"lon", "lat", "committee_lon", "committee_lat"})


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


class ValidatorBase:
    """The state of a validator that interprets a :class:`~coverage.ingest.readers.Table` as ``kind``:
    the problems it collects, the columns it matched and the values it converted, and the generic
    checks. :class:`coverage.ingest.inputs.Validator` adds the checks of places and radio columns."""

    def __init__(self, kind: Kind, file: str, table: Table, declared: crs_mod.CrsSpec | None,
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
        self.matches: dict[str, HeaderMatch] = {}
        self.wkt_index: int | None = None
        self.wkt_failed = np.zeros(self.n, dtype=bool)
        self.source, self.crs_source = self._resolve_source()

    # --- problem helpers ---------------------------------------------------------------------

    @property
    def warnings(self) -> list[Problem]:
        """The problems found so far that are warnings."""
        return [p for p in self.problems if p.severity == "warning"]

    def error(self, position: int | None, field: str | None, message: str) -> None:
        """Record an error at a row position (None: the whole file) and field."""
        row = int(self.rows[position]) if position is not None else None
        self.problems.append(Problem(self.file, row, field, message))

    def warn(self, position: int | None, field: str | None, message: str) -> None:
        """Record a warning at a row position (None: the whole file) and field."""
        row = int(self.rows[position]) if position is not None else None
        self.problems.append(Problem(self.file, row, field, message, severity="warning"))

    def header(self, column: str) -> str:
        """The file's header of a canonical column (the column's name when the file has none)."""
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
            bi(f"文件自带的坐标系是 {from_file.name}，但又指定了 crs={declared.name!r}；"
               "请去掉 crs 选项或改正文件的坐标系（.prj）",
               f"the file's CRS is {from_file.name} but crs={declared.name!r} was given; drop the crs "
               "option or fix the file's CRS (.prj)")))
        return from_file, "file"

    # --- main --------------------------------------------------------------------------------

    def apply_defaults(self) -> None:
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
                self.matches[column] = HeaderMatch(len(self.table.headers) - 1, header, column, None, "--set")
                continue
            raw = self.table.columns[match.index]
            empty = np.fromiter((is_missing(v) for v in raw), dtype=bool, count=self.n)
            if empty.any():
                filled = raw.copy()
                filled[empty] = value
                self.table.columns[match.index] = filled
                filled_n = int(empty.sum())
                self.warn(None, match.header, bi(f"{filled_n} 个空单元格已用 --set {column}={value} 填充",
                                                 f"{filled_n} empty cell(s) filled with --set {column}={value}"))
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
                samples = tuple((show_cell(raw[j]), "") for j in range(shown))
                out.append(ColumnUse(header, None, how, samples=samples))
                continue
            column = match.column
            target = targets.get(column, column)
            converted: list[str] = []
            for j in range(shown):
                if column in targets and is_missing(raw[j]):
                    converted.append("")  # the value came from another column
                    continue
                if frame is not None and target in frame.columns and len(frame) == self.n:
                    value = frame[target].iloc[j]
                    if column == "rat" and "band" in frame.columns:
                        value = f"{value} {frame['band'].iloc[j]}"
                else:
                    stored = self.values.get(target)
                    value = stored[j] if stored is not None and len(stored) == self.n else None
                converted.append(show_cell(value))
            out.append(ColumnUse(header, column, match.how, match.unit, self.notes.get(column, ""),
                                 tuple((show_cell(raw[j]), converted[j]) for j in range(shown))))
        if self.table.geometry is not None:
            out.append(ColumnUse("(geometry)", "geometry", "geometry"))
        return out

    def reading_order(self, problem: Problem) -> tuple[bool, int, int]:
        """File-level problems first, then by row, then left to right as the columns stand."""
        columns = {h: i for i, h in enumerate(self.table.headers)}
        first = (problem.field or "").split("/", 1)[0]
        return problem.row is not None, problem.row or 0, columns.get(first, len(columns))

    def check_headers(self) -> None:
        """Raise :class:`ValidationError` for the problems of the header row alone (missing,
        duplicate or unknown-unit columns); the rows are not looked at."""
        self.matches, self.wkt_index, header_problems = map_headers(self.kind, self.table, self.file,
                                                                     self.mapping)
        self.problems.extend(header_problems)
        self.apply_defaults()
        self.check_required()
        errors = [p for p in self.problems if p.severity == "error"]
        if errors:
            raise ValidationError(sorted(errors, key=self.reading_order))

    def check_required(self) -> None:
        """Report the required columns the file lacks."""
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
                missing_column(column.name, f"missing required column {column.name!r} "
                               f"(accepted headers: {accepted_headers(column)})")))
        if self.kind == "villages" and not has_geometry:
            self.problems.append(Problem(
                self.file, None, "geometry",
                bi("缺少行政村边界：请添加 WKT 列（列名为 " + "、".join(GEOMETRY_HEADERS)
                   + " 之一），或改用 GeoJSON/GeoPackage/shapefile",
                   "missing village boundaries: add a WKT column named one of "
                   + ", ".join(GEOMETRY_HEADERS) + " or use a GeoJSON/GeoPackage/shapefile")))

    # --- generic column conversion -------------------------------------------------------------

    def convert_columns(self) -> None:
        """Convert every matched column by its dtype and check the plausible ranges."""
        for column in COLUMNS[self.kind]:
            match = self.matches.get(column.name)
            if match is None:
                continue
            raw = self.table.columns[match.index]
            if column.name == "rsrp_dbm":  # "无服务" in the RSRP column: a sample without service
                self.no_service_cells = np.fromiter(
                    (isinstance(v, str) and norm_key(v) in NO_SERVICE_TOKENS for v in raw), dtype=bool, count=self.n)
                if self.no_service_cells.any():
                    raw = raw.copy()
                    raw[self.no_service_cells] = None
            if column.dtype == "str":
                self.values[column.name] = [cell_text(v) for v in raw]
            elif column.dtype in ("float", "int"):
                numbers, errors = parse_floats(raw, dms=column.name in _DEGREE_COLUMNS)
                for i, message in errors.items():
                    self.error(i, match.header, message)
                if column.dtype == "int":
                    with np.errstate(invalid="ignore"):
                        fractional = np.isfinite(numbers) & (numbers != np.round(numbers))
                    for i in np.flatnonzero(fractional).tolist():
                        self.error(int(i), match.header, bi(f"应为整数：{show_value(raw[i])}",
                                                         f"not a whole number: {show_value(raw[i])}"))
                        numbers[i] = np.nan
                if column.name == "power_dbm" and match.unit in WATT_UNITS:
                    numbers = self._watts_to_dbm(numbers, match.header)
                self.values[column.name] = numbers
            elif column.dtype in ("date", "datetime"):
                parsed, errors = parse_dates(raw, with_time=column.dtype == "datetime")
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
                self.error(int(i), header, bi(f"发射功率应大于 0 W，实为 {watts[i]:g} W",
                                              f"transmit power must be above 0 W, got {watts[i]:g} W"))
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
            self.error(int(i), header, out_of_range(
                f"{values[i]:g}", f"{lo:g}", None if math.isinf(hi) else f"{hi:g}", unit,
                f"{values[i]:g} is out of range: {name} must be {bound} {unit}", what=column_zh(name)))

    def _check_power(self) -> None:
        values = self.values["power_dbm"]
        match = self.matches["power_dbm"]
        lo, hi, _ = RANGES["power_dbm"]
        in_watts = match.unit in WATT_UNITS
        with np.errstate(invalid="ignore"):
            outside = np.isfinite(values) & ((values < lo) | (values > hi))
        for i in np.flatnonzero(outside).tolist():
            if in_watts:
                watts = f"{10 ** ((values[i] - 30) / 10):g} W ({values[i]:.1f} dBm)"
                message = bi(f"发射功率 {watts} 超出范围：应在 0 到 80 dBm 之间", f"{watts} is outside 0-80 dBm")
            else:
                zh = f"发射功率 {values[i]:g} dBm 超出范围：应在 0 到 80 dBm 之间"
                en = f"{values[i]:g} dBm is outside the plausible 0-80 dBm"
                if values[i] > hi:
                    zh += "；若该列单位是瓦，请把列名写成如 '发射功率(W)' 或 'power_w'，即会换算"
                    en += ("; if the column is in watts, name it e.g. '发射功率(W)' or 'power_w' "
                           "and it is converted")
                message = bi(zh, en)
            self.error(int(i), match.header, message)

    def categorical(self, name: str, lookup: Callable[[str], object], accepted: Iterable[str],
                     default: str | None, required: bool) -> list[str | None]:
        """A text column's values looked up as canonical names; unknown or ambiguous ones reported."""
        texts: list[str | None] = self.values.get(name, [None] * self.n)
        header = self.header(name)
        out: list[str | None] = []
        for i, text in enumerate(texts):
            if text is None:
                if required and name in self.matches:
                    self.error(i, header, missing_value(name))
                out.append(default)
                continue
            found = lookup(text)
            if isinstance(found, str):
                out.append(found)
            elif isinstance(found, tuple) and found:
                self.error(i, header, bi(f"{text!r} 包含多个运营商（{'、'.join(found)}）；共享站址请每个运营商写一行",
                                         f"{text!r} names several operators ({', '.join(found)}); "
                                         "write one row per operator for shared sites"))
                out.append(None)
            else:
                self.error(i, header, unknown_value(column_zh(name), repr(text), "、".join(accepted),
                                                    f"unknown {name} {text!r}; use one of {', '.join(accepted)}"))
                out.append(None)
        return out

    def raw_missing(self, name: str) -> NDArray[np.bool_]:
        """Which raw cells of a matched column are empty."""
        raw = self.table.columns[self.matches[name].index]
        return np.fromiter((is_missing(v) for v in raw), dtype=bool, count=self.n)

    def text_required(self, name: str) -> None:
        """Report the rows whose text column ``name`` is empty."""
        for i, value in enumerate(self.values.get(name, [])):
            if value is None:
                self.error(i, self.header(name), missing_value(name))

    def duplicates(self, keys: list[tuple[Any, ...]], candidates: list[int], what: str, field: str) -> None:
        """Report every candidate row whose key repeats an earlier row's."""
        first: dict[tuple[Any, ...], int] = {}
        for i in candidates:
            key = keys[i]
            if key in first:
                j = first[key]
                shown = ", ".join("" if k is None else str(k) for k in key)
                rows = (self.rows[j], self.rows[i])
                self.error(i, field, duplicate(_DUPLICATE_ZH.get(what, what), shown, f"{rows[0]} 和 {rows[1]}",
                                               f"duplicate {what} ({shown}): rows {rows[0]} and {rows[1]}"))
            else:
                first[key] = i

    # --- frame ---------------------------------------------------------------------------------

    def build_frame(self, geometry: NDArray[np.object_]) -> gpd.GeoDataFrame:
        """The normalised frame of the converted values and ``geometry``."""
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
