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
``executemany`` of a prepared statement, PostgreSQL ``COPY``); ``benchmarks/bench_mr_ingest.py``
measures it against pandas ``read_csv`` + ``to_sql``.

Grids are given by their centre (``lon``/``lat``) or their south-west corner (``corner_lon``/
``corner_lat``) and their size ``grid_m`` (one of :data:`GRID_SIZES_M`), in WGS84, CGCS2000, GCJ-02
or any projected CRS (``--crs``); they are stored by their WGS84 centre.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import and_, delete, func, select
from sqlalchemy.engine import Connection

from coverage.crs import in_china, resolve_crs, transform_xy
from coverage.errors import ConfigError, Problem, ValidationError
from coverage.model.bands import BANDS, EUTRA_CHANNELS, NR_CHANNELS, channel, normalize_band
from coverage.schema import OPERATORS, RATS
from coverage.store.storage import Store
from coverage.store.tables import ingests, mr_grids

__all__ = ["CHUNK_ROWS", "GRID_SIZES_M", "MR_COLUMNS", "MrIngestResult", "ingest_mr", "mr_summary", "read_mr",
           "write_mr_frame"]

#: Rows read, validated and inserted at a time (memory: a few hundred MB per million rows at most).
CHUNK_ROWS = 500_000
#: Grid sizes (m) operators export; anything else is a wrong grid size.
GRID_SIZES_M = (25.0, 50.0, 100.0, 200.0, 250.0, 500.0, 1000.0)
#: SQLite page cache (KiB) of an MR ingest's connection.
SQLITE_CACHE_KIB = 262_144
#: Problems listed per rejected file (the rest are counted).
MAX_PROBLEMS = 200
#: Plausible value ranges (the measurements' ranges: SS-RSRP and RSRP, SS-SINR and SINR).
RSRP_RANGE = (-156.0, -31.0)
SINR_RANGE = (-23.0, 40.0)
THRESHOLD_RANGE = (-140.0, -60.0)

#: Canonical column -> (required, aliases; matched case-, space- and unit-insensitively).
MR_COLUMNS: dict[str, tuple[bool, tuple[str, ...]]] = {
    "grid_id": (False, ("栅格id", "栅格编号", "栅格号", "grid", "gridid")),
    "lon": (False, ("中心经度", "栅格中心经度", "经度", "longitude", "centerlon", "centrelon", "x", "centerx")),
    "lat": (False, ("中心纬度", "栅格中心纬度", "纬度", "latitude", "centerlat", "centrelat", "y", "centery")),
    "corner_lon": (False, ("左下角经度", "左下经度", "minlon", "cornerx", "llx", "swlon")),
    "corner_lat": (False, ("左下角纬度", "左下纬度", "minlat", "cornery", "lly", "swlat")),
    "grid_m": (True, ("栅格大小", "栅格边长", "栅格尺寸", "gridsize", "grid_size", "size")),
    "period_start": (True, ("开始日期", "开始时间", "统计开始时间", "统计开始日期", "起始日期", "start",
                            "startdate")),
    "period_end": (True, ("结束日期", "结束时间", "统计结束时间", "统计结束日期", "截止日期", "end", "enddate")),
    "operator": (True, ("运营商", "运营商名称")),
    "rat": (False, ("制式", "网络制式", "网络类型", "technology")),
    "band": (False, ("频段", "频带")),
    "arfcn": (False, ("频点", "earfcn", "nrarfcn", "nr-arfcn", "ssbarfcn", "ssb频点", "中心频点")),
    "samples": (True, ("采样点数", "采样点", "mr采样点数", "mr采样点", "样本数", "mr条数", "samplecount", "count")),
    "rsrp_mean_dbm": (True, ("平均rsrp", "rsrp均值", "平均电平", "rsrp", "ssrsrp", "ss-rsrp", "平均ss-rsrp",
                             "rsrpmean", "meanrsrp")),
    "share_good": (False, ("达标比例", "覆盖率", "rsrp达标比例", "达标率", "share", "goodshare")),
    "threshold_dbm": (False, ("门限", "达标门限", "rsrp门限", "threshold")),
    "sinr_mean_db": (False, ("平均sinr", "sinr均值", "sinr", "sssinr", "ss-sinr", "sinrmean", "meansinr")),
    "users": (False, ("用户数", "用户数量", "usercount")),
    "dl_mbps": (False, ("平均下载速率", "下载速率", "下行速率", "dl", "dlmbps", "downloadmbps")),
    "source": (False, ("来源", "数据来源")),
}
#: Stored columns in insert order (``id`` aside).
STORED = ("lon", "lat", "grid_m", "period_start", "period_end", "operator", "rat", "band", "arfcn", "samples",
          "rsrp_mean_dbm", "share_good", "threshold_dbm", "sinr_mean_db", "users", "dl_mbps", "source")
_NULLS = frozenset({"", "null", "none", "nan", "nat", "n/a", "#n/a", "na", "<na>", "-", "--", "—"})
_UNIT_RE = re.compile(r"[(\[（【][^)\]）】]*[)\]）】]")
#: A share header that states its level, e.g. ``RSRP>=-105dBm占比`` or ``share_ge_-110``.
_THRESHOLD_HEADER = re.compile(r"(?:>=|≥|ge_?|大于等于|不低于)\s*(-\d{2,3}(?:\.\d+)?)")
_SHARE_WORDS = ("占比", "比例", "share", "ratio", "覆盖率", "达标")
_M_PER_DEG_LAT = 110_574.0
_M_PER_DEG_LON_EQ = 111_320.0


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


def _norm(text: str) -> str:
    return re.sub(r"[\s_]+", "", _UNIT_RE.sub("", str(text))).lower()


def _detect_encoding(path: Path, declared: str | None) -> str:
    if declared:
        return declared
    head = path.read_bytes()[: 1 << 16]
    try:
        head.decode("utf-8")
        return "utf-8-sig"
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 4:  # a character cut by the 64 KB window
            return "utf-8-sig"
    return "gb18030"


def _chunks(path: Path, file: str, *, encoding: str | None, sheet: str | None, chunk_rows: int
            ) -> tuple[str | None, Iterator[pd.DataFrame]]:
    """The file's encoding (text files) and its rows in chunks of ``chunk_rows``, every value as read."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt", ".tsv"):
        enc = _detect_encoding(path, encoding)
        sep = "\t" if suffix == ".tsv" else None

        def csv_chunks() -> Iterator[pd.DataFrame]:
            try:
                # numbers parsed by the C reader; a column with any text stays text and is checked cell by cell
                reader = pd.read_csv(path, encoding=enc, chunksize=chunk_rows, sep=sep or ",",
                                     skipinitialspace=True, engine="c", low_memory=False)
                yield from reader
            except UnicodeDecodeError:
                raise ValidationError([Problem(file, None, None, f"not readable as {enc}; give --encoding "
                                                                 "(utf-8 or gbk)")]) from None
            except pd.errors.ParserError as exc:
                raise ValidationError([Problem(file, None, None, f"not a readable CSV file: {exc}")]) from None
        return enc, csv_chunks()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        def parquet_chunks() -> Iterator[pd.DataFrame]:
            try:
                parquet = pq.ParquetFile(path)
            except Exception as exc:
                raise ValidationError([Problem(file, None, None, f"not a readable Parquet file ({type(exc).__name__})")]
                                      ) from None
            for batch in parquet.iter_batches(batch_size=chunk_rows):
                yield batch.to_pandas()
        return None, parquet_chunks()
    if suffix in (".xlsx", ".xlsm"):
        def xlsx_chunks() -> Iterator[pd.DataFrame]:
            try:
                frame = pd.read_excel(path, sheet_name=sheet or 0, dtype=object, engine="openpyxl")
            except (ValueError, KeyError, OSError) as exc:
                raise ValidationError([Problem(file, None, None, f"not a readable workbook or sheet: {exc}")]
                                      ) from None
            for start in range(0, max(len(frame), 1), chunk_rows):
                yield frame.iloc[start:start + chunk_rows]
        return None, xlsx_chunks()
    raise ValidationError([Problem(file, None, None, f"unsupported file type {suffix or '(none)'!r} for MR grid "
                                                     "statistics; use .csv, .parquet or .xlsx")])


def _map_headers(headers: list[str], file: str) -> tuple[dict[str, str], float | None, list[Problem]]:
    """Canonical column -> header of the file, the threshold a share header states, problems."""
    index: dict[str, str] = {}
    for canonical, (_req, aliases) in MR_COLUMNS.items():
        for alias in (canonical, *aliases):
            index.setdefault(_norm(alias), canonical)
    found: dict[str, str] = {}
    threshold: float | None = None
    problems: list[Problem] = []
    for header in headers:
        key = _norm(header)
        name = index.get(key)
        if name is None and any(w in key for w in _SHARE_WORDS):
            name = "share_good"
        if name is None:
            continue
        if name == "share_good":
            m = _THRESHOLD_HEADER.search(str(header).replace(" ", ""))
            if m:
                threshold = float(m.group(1))
        if name in found:
            problems.append(Problem(file, None, header, f"two columns mean {name}: {found[name]!r} and {header!r}"))
            continue
        found[name] = header
    for name, (required, aliases) in MR_COLUMNS.items():
        if required and name not in found:
            problems.append(Problem(file, None, name, f"missing column {name} (or {', '.join(aliases[:3])})"))
    has_centre = "lon" in found and "lat" in found
    has_corner = "corner_lon" in found and "corner_lat" in found
    if not has_centre and not has_corner:
        problems.append(Problem(file, None, "lon", "the grid needs its centre (lon, lat / 中心经度, 中心纬度) "
                                                   "or its south-west corner (corner_lon, corner_lat / "
                                                   "左下角经度, 左下角纬度)"))
    if has_centre and has_corner:
        problems.append(Problem(file, None, "corner_lon", "both the grid centre and its corner are given; keep one"))
    if "band" not in found and "arfcn" not in found:
        problems.append(Problem(file, None, "band", "missing column band (频段) or arfcn (频点)"))
    return found, threshold, problems


# -- validation -------------------------------------------------------------------------------------


class _Checker:
    """Vectorised checks of one chunk; problems carry the file's row numbers and headers."""

    def __init__(self, file: str, headers: dict[str, str], problems: list[Problem]) -> None:
        self.file, self.headers, self.problems = file, headers, problems
        self.count = 0

    def add(self, rows: np.ndarray, name: str, messages: Callable[[int], str] | str) -> None:
        self.count += len(rows)
        room = MAX_PROBLEMS - len(self.problems)
        for r in rows[:max(room, 0)]:
            text = messages if isinstance(messages, str) else messages(int(r))
            self.problems.append(Problem(self.file, int(self.first_row + r), self.headers.get(name, name), text))

    first_row = 1


def _clean(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    if text.startswith("'"):
        text = text[1:]
    return None if text.lower() in _NULLS else text


def _by_value(series: pd.Series, convert: Callable[[str | None], Any], dtype: Any = object) -> np.ndarray:
    """``convert`` applied to each distinct (cleaned) value of ``series`` once, spread back over the rows:
    text columns of MR files have a handful of distinct values in millions of rows."""
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    mapped = [convert(_clean(u)) for u in uniques]
    table = np.empty(len(mapped) + 1, dtype=dtype)
    for i, v in enumerate(mapped):
        table[i] = v
    table[-1] = convert(None)
    return table[codes]


def _text(series: pd.Series) -> np.ndarray:
    return _by_value(series, lambda v: v)


def _numbers(check: _Checker, chunk: pd.DataFrame, name: str, *, required: bool, percent: bool = False
             ) -> np.ndarray:
    """Floats of column ``name`` (NaN when missing); non-numbers and missing required values are problems."""
    n = len(chunk)
    if name not in check.headers:
        return np.full(n, np.nan)
    raw = chunk[check.headers[name]]
    if pd.api.types.is_numeric_dtype(raw.dtype):
        values = raw.to_numpy(dtype=float, na_value=np.nan)
    else:
        # the distinct texts of a column are few (periods, sizes) or the column is mostly numbers
        text = raw.astype(str).fillna("").str.strip().str.lstrip("'")
        values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float, copy=True)
        odd = np.flatnonzero(np.isnan(values))
        if len(odd):
            t = text.to_numpy()[odd]
            missing = np.array([s.lower() in _NULLS for s in t], dtype=bool)
            fixed = np.full(len(odd), np.nan)
            for j, s in enumerate(t):
                if missing[j]:
                    continue
                s2 = s.replace(",", "")
                if percent and s2.endswith("%"):
                    v = pd.to_numeric(s2[:-1], errors="coerce")
                    fixed[j] = float(v) / 100.0 if pd.notna(v) else np.nan
                else:
                    v = pd.to_numeric(s2, errors="coerce")
                    fixed[j] = float(v) if pd.notna(v) else np.nan
            values[odd] = fixed
            bad = odd[~missing & np.isnan(fixed)]
            if len(bad):
                shown = text.to_numpy()
                check.add(bad, name, lambda r: f"not a number: {shown[r]!r}")
    if required:
        check.add(np.flatnonzero(np.isnan(values) & _present_raw(chunk, check, name, invert=True)), name,
                  "missing value")
    return values


def _present_raw(chunk: pd.DataFrame, check: _Checker, name: str, *, invert: bool = False) -> np.ndarray:
    """Rows whose raw value of ``name`` is empty (``invert``) or not."""
    raw = chunk[check.headers[name]]
    if pd.api.types.is_numeric_dtype(raw.dtype):
        empty = raw.isna().to_numpy()
    else:
        empty = raw.isna().to_numpy() | raw.astype(str).str.strip().str.lower().isin(_NULLS).to_numpy()
    return empty if invert else ~empty


def _lookup(series: pd.Series, table: dict[str, tuple[str, ...]]) -> np.ndarray:
    keys = {alias.lower(): canonical for canonical, aliases in table.items() for alias in (canonical, *aliases)}
    return _by_value(series, lambda v: None if v is None else keys.get(v.lower()))


def _dates(check: _Checker, chunk: pd.DataFrame, name: str) -> np.ndarray:
    """Dates (``datetime64[D]``, NaT when bad or missing) of column ``name``, parsed per distinct value."""
    series = chunk[check.headers[name]]
    raw = _text(series)
    out = _by_value(series, _parse_date, dtype="datetime64[D]")
    missing = pd.isna(raw)
    bad = np.flatnonzero(np.isnat(out) & ~missing)
    check.add(bad, name, lambda r: f"not a date: {raw[r]!r} (use YYYY-MM-DD, YYYY/M/D or YYYYMMDD)")
    check.add(np.flatnonzero(missing), name, "missing value")
    return out


def _parse_date(value: Any) -> np.datetime64:
    if value is None:
        return np.datetime64("NaT")
    if isinstance(value, dt.datetime | dt.date | pd.Timestamp):
        return np.datetime64(pd.Timestamp(value).date(), "D")
    text = str(value).strip()
    text = re.sub(r"^(\d{4})年(\d{1,2})月(\d{1,2})日?", r"\1-\2-\3", text)
    m = re.fullmatch(r"(\d{4})(\d{2})(\d{2})", text)
    if m:
        text = f"{m.group(1)}-{m.group(2)}-{m.group(3)}"
    try:
        stamp = pd.Timestamp(text.replace("/", "-").replace(".", "-"))
    except (ValueError, TypeError):
        return np.datetime64("NaT")
    if pd.isna(stamp) or not (1980 <= stamp.year <= 2100):
        return np.datetime64("NaT")
    return np.datetime64(stamp.date(), "D")


def _bands(check: _Checker, chunk: pd.DataFrame, rat: np.ndarray, arfcn: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
    """Band of each row (from ``band``, else from the ARFCN) and the RAT filled in from the band."""
    n = len(chunk)
    band = np.full(n, None, dtype=object)
    lte_names = {row.band.lower(): row.band for row in EUTRA_CHANNELS}
    if "band" in check.headers:
        series = chunk[check.headers["band"]]
        raw = _text(series)
        band = _by_value(series, lambda v: None if v is None else
                         (normalize_band(v) or lte_names.get(v.lower().replace("band", "b"))))
        unknown = np.flatnonzero(~pd.isna(raw) & pd.isna(band))
        known = sorted({*BANDS, *lte_names.values()})
        check.add(unknown, "band", lambda r: f"unknown band {raw[r]!r} (known: {', '.join(known)})")
    is_nr_band = pd.Series(band, dtype=object).str.startswith("n").fillna(False).to_numpy(dtype=bool)
    rat_from_band = _none_where(pd.isna(band), np.where(is_nr_band, "NR", "LTE"))
    rat = np.where(pd.isna(rat), rat_from_band, rat)
    has_arfcn = ~np.isnan(arfcn)
    if has_arfcn.any():
        whole = has_arfcn & (arfcn == np.round(arfcn)) & (arfcn >= 0)
        check.add(np.flatnonzero(has_arfcn & ~whole), "arfcn", lambda r: f"ARFCN {arfcn[r]:g} is not a channel number")
        from_arfcn = np.full(n, None, dtype=object)
        # one integer key per (RAT, channel): channel numbers are below 2^22
        rat_code = np.where(rat == "NR", 1, np.where(rat == "LTE", 2, 0)).astype(np.int64)
        key = np.where(whole, np.nan_to_num(arfcn, nan=-1).astype(np.int64), -1) * 4 + rat_code
        codes, uniques = pd.factorize(key)
        names = {1: "NR", 2: "LTE"}
        table = np.array([None if k < 0 or k % 4 == 0 else _downlink_band(int(k // 4), names[int(k % 4)])
                          for k in uniques] + [None], dtype=object)
        from_arfcn = _none_where(~whole, table[codes])
        no_rat = np.flatnonzero(whole & pd.isna(rat))
        check.add(no_rat, "rat", "an ARFCN needs the RAT (制式 NR or LTE) or a band to be read")
        unknown = np.flatnonzero(whole & ~pd.isna(rat) & np.array([b is None for b in from_arfcn]))

        def say(r: int) -> str:
            if rat[r] == "NR":
                return (f"unknown ARFCN {int(arfcn[r])}: in no downlink NR-ARFCN range of TS 38.104 Table "
                        "5.4.2.3-1 (" + ", ".join(f"{b} {lo}-{hi}" for b, lo, hi in NR_CHANNELS[:8]) + ", ...)")
            return (f"unknown ARFCN {int(arfcn[r])}: in no downlink EARFCN range of TS 36.101 Table 5.7.3-1 ("
                    + ", ".join(f"{c.band} {c.n_first}-{c.n_last}" for c in EUTRA_CHANNELS if c.link == "DL")
                    + ")")
        check.add(unknown, "arfcn", say)
        clash = np.flatnonzero(~pd.isna(from_arfcn) & ~pd.isna(band) & (from_arfcn != band))
        check.add(clash, "arfcn", lambda r: f"ARFCN {int(arfcn[r])} is in {from_arfcn[r]}, not in the band given "
                                            f"({band[r]})")
        band = np.where(pd.isna(band), from_arfcn, band)
    missing = np.flatnonzero(pd.isna(band) & ~has_arfcn & _empty_band(check, chunk))
    check.add(missing, "band", "missing band (频段) and ARFCN (频点)")
    is_nr_band = pd.Series(band, dtype=object).str.startswith("n").fillna(False).to_numpy(dtype=bool)
    wrong_rat = np.flatnonzero(~pd.isna(band) & ~pd.isna(rat) & (is_nr_band != (rat == "NR")))
    check.add(wrong_rat, "rat", lambda r: f"band {band[r]} is not a {rat[r]} band")
    return band, rat


def _downlink_band(number: int, rat: str) -> str | None:
    """The band of a downlink channel number (MR reports the cells phones receive), or None."""
    found = channel(number, rat)
    return found.band if found is not None and found.link == "DL" else None


def _empty_band(check: _Checker, chunk: pd.DataFrame) -> np.ndarray:
    if "band" not in check.headers:
        return np.ones(len(chunk), dtype=bool)
    return _present_raw(chunk, check, "band", invert=True)


@dataclass
class _FileState:
    """What a file's chunks share: the threshold, the duplicate keys seen, the extent, counters."""

    threshold: float | None
    keys: list[np.ndarray] = field(default_factory=list)
    starts: list[np.ndarray] = field(default_factory=list)
    ends: list[np.ndarray] = field(default_factory=list)
    rows: list[np.ndarray] = field(default_factory=list)
    box: list[float] = field(default_factory=lambda: [math.inf, math.inf, -math.inf, -math.inf])
    period: list[Any] = field(default_factory=lambda: [None, None])
    periods: set[tuple[str, str]] = field(default_factory=set)
    operators: set[str] = field(default_factory=set)


def _grid_keys(frame: pd.DataFrame) -> np.ndarray:
    """A 64-bit key of the grid a row describes, per operator, RAT, band and size: centres within about a
    metre are the same grid (the same grid from files in different CRSs)."""
    return pd.util.hash_pandas_object(pd.DataFrame({
        "o": frame["operator"].to_numpy(), "r": frame["rat"].to_numpy(), "b": frame["band"].to_numpy(),
        "x": np.round(frame["lon"].to_numpy() * 1e5).astype(np.int64),
        "y": np.round(frame["lat"].to_numpy() * 1e5).astype(np.int64),
        "g": frame["grid_m"].to_numpy()}), index=False).to_numpy()


def _validate_chunk(chunk: pd.DataFrame, first_row: int, file: str, headers: dict[str, str], source_crs: Any,
                    state: _FileState, problems: list[Problem], default_source: str | None) -> pd.DataFrame | None:
    """The chunk's rows in stored form, or None when it had problems (they are appended)."""
    check = _Checker(file, headers, problems)
    check.first_row = first_row
    n = len(chunk)
    centre = "lon" in headers
    x = _numbers(check, chunk, "lon" if centre else "corner_lon", required=True)
    y = _numbers(check, chunk, "lat" if centre else "corner_lat", required=True)
    grid_m = _numbers(check, chunk, "grid_m", required=True)
    bad_size = np.flatnonzero(~np.isnan(grid_m) & ~np.isin(grid_m, GRID_SIZES_M))
    check.add(bad_size, "grid_m", lambda r: f"wrong grid size {grid_m[r]:g} m (operators' grids are "
                                            f"{', '.join(f'{g:g}' for g in GRID_SIZES_M)} m)")
    start = _dates(check, chunk, "period_start")
    end = _dates(check, chunk, "period_end")
    check.add(np.flatnonzero(~np.isnat(start) & ~np.isnat(end) & (end < start)), "period_end",
              lambda r: f"period ends ({end[r]}) before it starts ({start[r]})")
    operator = _lookup(chunk[headers["operator"]], OPERATORS)
    raw_op = _text(chunk[headers["operator"]])
    check.add(np.flatnonzero(pd.isna(operator) & ~pd.isna(raw_op)), "operator",
              lambda r: f"unknown operator {raw_op[r]!r} (CMCC/CUCC/CTCC/CBN or 移动/联通/电信/广电)")
    check.add(np.flatnonzero(pd.isna(raw_op)), "operator", "missing value")
    rat = np.full(n, None, dtype=object)
    if "rat" in headers:
        raw_rat = _text(chunk[headers["rat"]])
        rat = _lookup(chunk[headers["rat"]], RATS)
        check.add(np.flatnonzero(pd.isna(rat) & ~pd.isna(raw_rat)), "rat",
                  lambda r: f"unknown RAT {raw_rat[r]!r} (NR/5G or LTE/4G)")
    arfcn = _numbers(check, chunk, "arfcn", required=False)
    band, rat = _bands(check, chunk, rat, arfcn)
    samples = _numbers(check, chunk, "samples", required=True)
    check.add(np.flatnonzero(samples < 0), "samples", lambda r: f"negative sample count {samples[r]:g}")
    check.add(np.flatnonzero((samples >= 0) & (samples != np.round(samples))), "samples",
              lambda r: f"sample count {samples[r]:g} is not a whole number")
    rsrp = _numbers(check, chunk, "rsrp_mean_dbm", required=False)
    check.add(np.flatnonzero(np.isnan(rsrp) & (samples > 0)), "rsrp_mean_dbm",
              "missing mean RSRP of a grid with samples")
    check.add(np.flatnonzero((rsrp < RSRP_RANGE[0]) | (rsrp > RSRP_RANGE[1])), "rsrp_mean_dbm",
              lambda r: f"mean RSRP {rsrp[r]:g} dBm outside {RSRP_RANGE[0]:g}..{RSRP_RANGE[1]:g}")
    share = _numbers(check, chunk, "share_good", required=False, percent=True)
    check.add(np.flatnonzero(share > 1.0), "share_good",
              lambda r: f"share {share[r]:g} above 1 (a share is 0-1: write 0.85 or 85%)")
    check.add(np.flatnonzero(share < 0.0), "share_good", lambda r: f"negative share {share[r]:g}")
    sinr = _numbers(check, chunk, "sinr_mean_db", required=False)
    check.add(np.flatnonzero((sinr < SINR_RANGE[0]) | (sinr > SINR_RANGE[1])), "sinr_mean_db",
              lambda r: f"mean SINR {sinr[r]:g} dB outside {SINR_RANGE[0]:g}..{SINR_RANGE[1]:g}")
    users = _numbers(check, chunk, "users", required=False)
    check.add(np.flatnonzero(users < 0), "users", lambda r: f"negative user count {users[r]:g}")
    dl = _numbers(check, chunk, "dl_mbps", required=False)
    check.add(np.flatnonzero(dl < 0), "dl_mbps", lambda r: f"negative download rate {dl[r]:g}")
    threshold = state.threshold
    if "threshold_dbm" in headers:
        column = _numbers(check, chunk, "threshold_dbm", required=False)
        given = column[~np.isnan(column)]
        if len(given):
            if threshold is None:
                threshold = state.threshold = float(given[0])
            other = np.flatnonzero(~np.isnan(column) & (column != threshold))
            check.add(other, "threshold_dbm", lambda r: f"threshold {column[r]:g} dBm differs from the file's "
                                                        f"{threshold:g} dBm (one threshold per file)")
    if "share_good" in headers and threshold is None and len(chunk):
        check.add(np.array([0]), "share_good", "the share's threshold is not stated: name it in the header "
                                               "(RSRP>=-105dBm占比), a threshold_dbm column or --threshold")
    if threshold is not None and not (THRESHOLD_RANGE[0] <= threshold <= THRESHOLD_RANGE[1]):
        check.add(np.array([0]), "threshold_dbm", f"threshold {threshold:g} dBm outside "
                                                  f"{THRESHOLD_RANGE[0]:g}..{THRESHOLD_RANGE[1]:g}")
    # coordinates: to WGS84, then the corner to the centre (half a grid north-east)
    ok = ~np.isnan(x) & ~np.isnan(y)
    spec = resolve_crs(source_crs)
    if not centre and not spec.is_geographic:
        x, y = x + grid_m / 2.0, y + grid_m / 2.0
    lon, lat = transform_xy(np.where(ok, x, np.nan), np.where(ok, y, np.nan), spec)
    if not centre and spec.is_geographic:
        lat = lat + grid_m / 2.0 / _M_PER_DEG_LAT
        lon = lon + grid_m / 2.0 / (_M_PER_DEG_LON_EQ * np.cos(np.radians(lat)))
    outside = np.flatnonzero(ok & ~in_china(lon, lat))
    swapped = in_china(y, x) if spec.is_geographic else np.zeros(n, dtype=bool)
    coord = "lon" if centre else "corner_lon"
    check.add(outside, coord, lambda r: f"({x[r]:g}, {y[r]:g}) is outside China"
                                        + (" (latitude and longitude swapped?)" if swapped[r] else
                                           f" in {spec.name}"))
    if check.count:
        return None
    source = _text(chunk[headers["source"]]) if "source" in headers else np.full(n, None, dtype=object)
    if default_source is not None:
        source = np.where(pd.isna(source), default_source, source)
    frame = pd.DataFrame({
        "lon": np.round(lon, 7), "lat": np.round(lat, 7), "grid_m": grid_m,
        "period_start": start, "period_end": end, "operator": operator.astype(object), "rat": rat.astype(object),
        "band": band.astype(object), "arfcn": arfcn, "samples": samples.astype(np.int64), "rsrp_mean_dbm": rsrp,
        "share_good": share, "threshold_dbm": np.full(n, np.nan if threshold is None else threshold),
        "sinr_mean_db": sinr, "users": users, "dl_mbps": dl, "source": source,
    })
    _remember(state, frame, first_row)
    return frame


def _remember(state: _FileState, frame: pd.DataFrame, first_row: int) -> None:
    state.keys.append(_grid_keys(frame))
    day0 = np.datetime64("1970-01-01", "D")
    state.starts.append((frame["period_start"].to_numpy("datetime64[D]") - day0).astype(np.int32))
    state.ends.append((frame["period_end"].to_numpy("datetime64[D]") - day0).astype(np.int32))
    state.rows.append(np.arange(first_row, first_row + len(frame), dtype=np.int64))
    if len(frame):
        b = state.box
        b[0], b[1] = min(b[0], float(frame["lon"].min())), min(b[1], float(frame["lat"].min()))
        b[2], b[3] = max(b[2], float(frame["lon"].max())), max(b[3], float(frame["lat"].max()))
        lo, hi = frame["period_start"].min(), frame["period_end"].max()
        state.period[0] = lo if state.period[0] is None else min(state.period[0], lo)
        state.period[1] = hi if state.period[1] is None else max(state.period[1], hi)
        pairs = frame[["period_start", "period_end"]].drop_duplicates()
        state.periods |= {(str(pd.Timestamp(a).date()), str(pd.Timestamp(z).date()))
                          for a, z in pairs.itertuples(index=False)}
        state.operators |= set(frame["operator"].unique())


def _overlaps(keys: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Indices of rows whose grid key repeats with an overlapping period (each later row of a pair)."""
    order = np.lexsort((starts, keys))
    k, s, e = keys[order], starts[order], ends[order]
    same = k[1:] == k[:-1]
    if not same.any():
        return np.zeros(0, dtype=np.int64)
    # within a key, sorted by start: a row overlaps an earlier one when it starts before the running
    # maximum end of the rows before it (only keys that repeat are walked)
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


def _duplicate_problems(conn: Connection, state: _FileState, file: str, problems: list[Problem],
                        stored_up_to: int, where: str) -> None:
    """Rows repeating a grid of the file, or of what was stored before (ids up to ``stored_up_to``), for an
    overlapping period."""
    if not state.keys:
        return
    keys, starts = np.concatenate(state.keys), np.concatenate(state.starts)
    ends, rows = np.concatenate(state.ends), np.concatenate(state.rows)
    for i in _overlaps(keys, starts, ends)[:MAX_PROBLEMS]:
        problems.append(Problem(file, int(rows[i]), where, "duplicate grid: the same grid, operator, RAT and band "
                                                           "for an overlapping period appears earlier in the file"))
    if state.period[0] is None:
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
    s_keys = _grid_keys(stored)
    s_start = (pd.to_datetime(stored["period_start"]).to_numpy("datetime64[D]") - day0).astype(np.int32)
    s_end = (pd.to_datetime(stored["period_end"]).to_numpy("datetime64[D]") - day0).astype(np.int32)
    both_keys = np.concatenate([s_keys, keys])
    both_start, both_end = np.concatenate([s_start, starts]), np.concatenate([s_end, ends])
    # stored rows first: a file row that overlaps a stored one (or only its own file's) is a hit
    hits = _overlaps(both_keys, both_start, both_end)
    hits = hits[hits >= len(stored)] - len(stored)
    in_file = set(_overlaps(keys, starts, ends).tolist())
    for i in [h for h in hits.tolist() if h not in in_file][:MAX_PROBLEMS]:
        problems.append(Problem(file, int(rows[i]), where, "duplicate grid: this grid, operator, RAT and band is "
                                                           "already stored for an overlapping period (--replace "
                                                           "replaces the stored MR)"))


# -- storing ----------------------------------------------------------------------------------------


def _none_where(mask: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``values`` as objects with None where ``mask`` (what drivers store as NULL)."""
    out = np.asarray(values).astype(object)
    out[np.asarray(mask, dtype=bool)] = None
    return out


def _insert(conn: Connection, frame: pd.DataFrame) -> None:
    """Bulk insert of stored-form rows: SQLite executemany of one prepared statement, PostgreSQL COPY."""
    if frame.empty:
        return
    columns = []
    for name in STORED:
        col = frame[name]
        if name in ("period_start", "period_end"):
            codes, uniques = pd.factorize(col)
            text = np.array([pd.Timestamp(u).strftime("%Y-%m-%d") for u in uniques] + [None], dtype=object)
            columns.append(text[codes].tolist())
        elif name == "samples":
            columns.append(col.to_numpy(np.int64).tolist())
        elif not pd.api.types.is_numeric_dtype(col.dtype):
            values = col.to_numpy(dtype=object)
            missing = pd.isna(values)
            columns.append(_none_where(missing, values).tolist())
        else:
            values = col.to_numpy(float)
            missing = np.isnan(values)
            if name in ("arfcn", "users"):
                whole = np.nan_to_num(values).astype(np.int64)
                listed = _none_where(missing, whole).tolist() if missing.any() else whole.tolist()
            else:
                listed = _none_where(missing, values).tolist() if missing.any() else values.tolist()
            columns.append(listed)
    # the driver's cursor on the connection's own transaction, fed row tuples as they are zipped
    raw = conn.connection.driver_connection
    assert raw is not None
    if conn.dialect.name == "postgresql":
        with raw.cursor() as cursor, cursor.copy(f"COPY mr_grids ({', '.join(STORED)}) FROM STDIN") as copy:
            for row in zip(*columns, strict=True):
                copy.write_row(row)
    else:
        marks = ", ".join("?" for _ in STORED)
        cursor = raw.cursor()
        try:
            cursor.executemany(f"INSERT INTO mr_grids ({', '.join(STORED)}) VALUES ({marks})",
                               zip(*columns, strict=True))
        finally:
            cursor.close()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
        raise ValidationError([Problem(file, None, None, "no such file")])
    if crs is not None:
        try:
            resolve_crs(crs)
        except ConfigError as exc:
            raise ValidationError([Problem(file, None, None, str(exc))]) from None
    say = progress or (lambda _m: None)
    source_crs = crs or "wgs84"
    enc, chunks = _chunks(path, file, encoding=encoding, sheet=sheet, chunk_rows=chunk_rows)
    problems: list[Problem] = []
    state = _FileState(threshold=threshold_dbm)
    stored_rows = 0
    headers: dict[str, str] | None = None
    with store.engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            # a page cache that holds the index being built (the default 2 MB spills on every insert)
            conn.exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        if replace:
            conn.execute(delete(mr_grids))
        stored_up_to = conn.execute(select(func.coalesce(func.max(mr_grids.c.id), 0))).scalar_one()
        first_row = 1
        for chunk in chunks:
            if headers is None:
                headers, header_threshold, header_problems = _map_headers([str(c) for c in chunk.columns], file)
                if header_threshold is not None:
                    if threshold_dbm is not None and threshold_dbm != header_threshold:
                        header_problems.append(Problem(file, None, "share_good",
                                                       f"the header states {header_threshold:g} dBm, "
                                                       f"--threshold {threshold_dbm:g} dBm"))
                    state.threshold = header_threshold
                if header_problems:
                    raise ValidationError(header_problems)
            frame = _validate_chunk(chunk, first_row, file, headers, source_crs, state, problems, source)
            first_row += len(chunk)
            if frame is not None and not problems:
                _insert(conn, frame)
                stored_rows += len(frame)
            say(f"{file}: {first_row - 1:,} rows read")
        if headers is None:
            raise ValidationError([Problem(file, None, None, "the file is empty")])
        if not problems:
            _duplicate_problems(conn, state, file, problems, int(stored_up_to),
                                headers.get("lon", headers.get("corner_lon", "lon")))
        if problems:
            raise ValidationError(problems)  # rolls the transaction back: nothing stored
        if stored_rows == 0:
            raise ValidationError([Problem(file, None, None, "no data rows")])
        conn.execute(ingests.insert().values(
            kind="mr", file_name=file, sha256=_sha256(path), rows=stored_rows, mode="replace" if replace else "append",
            crs=resolve_crs(source_crs).name, encoding=enc, warnings=0,
            created_at=dt.datetime.now(dt.UTC).replace(tzinfo=None)))
    return MrIngestResult(file_name=file, file_sha256=_sha256(path), rows=stored_rows, crs=resolve_crs(source_crs).name,
                          encoding=enc, threshold_dbm=state.threshold, periods=sorted(state.periods),
                          operators=sorted(state.operators), replaced=replace)


def write_mr_frame(store: Store, frame: pd.DataFrame, *, file_name: str, sha256: str, replace: bool = True,
                   mode: str = "seed") -> int:
    """Store already-canonical MR rows (the seed world's) in one transaction, replacing what is stored."""
    with store.engine.begin() as conn:
        if replace:
            conn.execute(delete(mr_grids))
        for start in range(0, len(frame), CHUNK_ROWS):
            _insert(conn, frame.iloc[start:start + CHUNK_ROWS])
        conn.execute(ingests.insert().values(
            kind="mr", file_name=file_name, sha256=sha256, rows=len(frame), mode=mode, crs="EPSG:4326",
            encoding=None, warnings=0, created_at=dt.datetime.now(dt.UTC).replace(tzinfo=None)))
    return len(frame)


# -- reading back -----------------------------------------------------------------------------------


def read_mr(store: Store, *, box: tuple[float, float, float, float] | None = None,
            period: tuple[str | dt.date, str | dt.date] | None = None, operators: list[str] | None = None,
            columns: tuple[str, ...] = STORED) -> pd.DataFrame:
    """Stored MR rows (``columns`` of :data:`STORED`, dates as ``datetime64``), in stored order.

    ``box`` (lon_min, lat_min, lon_max, lat_max) keeps grids whose centre lies in it; ``period``
    (first day, last day) keeps rows whose period overlaps it; both are answered from the index. Rows
    come through the driver's cursor (no per-row objects): a province-month reads in seconds.
    """
    query = select(*(mr_grids.c[name] for name in columns))
    if box is not None:
        query = query.where(mr_grids.c.lon.between(box[0], box[2]), mr_grids.c.lat.between(box[1], box[3]))
    if period is not None:
        first, last = (pd.Timestamp(p).date() for p in period)
        query = query.where(mr_grids.c.period_start <= last, mr_grids.c.period_end >= first)
    if operators:
        query = query.where(mr_grids.c.operator.in_(operators))
    with store.engine.connect() as conn:
        compiled = query.order_by(mr_grids.c.id).compile(dialect=conn.dialect,
                                                         compile_kwargs={"render_postcompile": True})
        raw = conn.connection.driver_connection
        assert raw is not None
        cursor = raw.cursor()
        try:
            if compiled.positiontup is not None:
                params: Any = [_driver_value(compiled.params[k]) for k in compiled.positiontup]
            else:
                params = {k: _driver_value(v) for k, v in compiled.params.items()}
            cursor.execute(str(compiled), params)
            frame = pd.DataFrame.from_records(cursor.fetchall(), columns=list(columns), coerce_float=True)
        finally:
            cursor.close()
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
    return read_mr(store, box=(b[0] - margin_deg, b[1] - margin_deg, b[2] + margin_deg, b[3] + margin_deg),
                   period=period, columns=EVIDENCE_COLUMNS)


def mr_fingerprint(mr: pd.DataFrame) -> str:
    """SHA-256 of the MR rows an analysis used (their values, in order)."""
    return hashlib.sha256(pd.util.hash_pandas_object(mr, index=False).to_numpy().tobytes()).hexdigest()


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
        raise ConfigError(f"the stored MR has several share thresholds ({', '.join(f'{t:g}' for t in threshold)} "
                          "dBm); one file states one threshold")
    tmp = path.with_name(f".{path.name}.part")
    if fmt == "csv":
        write_csv(frame, tmp)
    elif fmt == "parquet":
        frame.to_parquet(tmp, index=False)
    elif fmt == "xlsx":
        if len(frame) > 1_048_575:
            raise ConfigError(f"{len(frame):,} MR rows do not fit one XLSX sheet; use csv or parquet")
        write_xlsx({"mr": frame}, tmp)
    else:
        raise ConfigError(f"MR exports as csv, parquet or xlsx, not {fmt!r}")
    tmp.replace(path)
    return len(frame)
