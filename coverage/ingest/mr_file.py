"""Reading an operator's MR grid statistics file: encodings, chunks, header aliases (Chinese and
English, the threshold of a share column read from its header) and the validation of every row of a
chunk, whose problems name the file, the row and the field.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from coverage.crs import in_china, resolve_crs, transform_xy
from coverage.errors import Problem, ValidationError
from coverage.ingest import mr_messages as say
from coverage.ingest.messages import bi, missing_column, missing_value, not_a_date, not_a_number, unknown_value
from coverage.model.bands import BANDS, EUTRA_CHANNELS, channel, normalize_band
from coverage.schema import OPERATORS, RATS

__all__ = ["GRID_SIZES_M", "MAX_PROBLEMS", "MR_COLUMNS", "STORED", "FileState", "grid_keys", "map_mr_headers",
           "none_where", "read_chunks", "validate_chunk"]

#: Grid sizes (m) operators export; anything else is a wrong grid size.
GRID_SIZES_M = (25.0, 50.0, 100.0, 200.0, 250.0, 500.0, 1000.0)


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


def _norm(text: str) -> str:
    return re.sub(r"[\s_]+", "", _UNIT_RE.sub("", str(text))).lower()


def _detect_encoding(path: Path, declared: str | None) -> str:
    if declared:
        return declared
    with path.open("rb") as handle:  # the first 64 KB, not the whole file read into memory
        head = handle.read(1 << 16)
    try:
        head.decode("utf-8")
        return "utf-8-sig"
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 4:  # a character cut by the 64 KB window
            return "utf-8-sig"
    return "gb18030"


def read_chunks(path: Path, file: str, *, encoding: str | None, sheet: str | None, chunk_rows: int
            ) -> tuple[str | None, Iterator[pd.DataFrame]]:
    """The file's encoding (text files) and its rows in chunks of ``chunk_rows``, every value as read."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt", ".tsv"):
        enc = _detect_encoding(path, encoding)
        sep = "\t" if suffix == ".tsv" else None

        def csv_chunks() -> Iterator[pd.DataFrame]:
            done = 0
            try:
                for chunk in _arrow_csv_chunks(path, enc, sep or ",", chunk_rows):
                    done += len(chunk)
                    yield chunk
                return
            except (ValueError, UnicodeDecodeError, LookupError):  # pyarrow's errors are ValueErrors
                pass  # whatever it cannot read, pandas reads or explains, from the row it stopped at on
            try:
                # numbers parsed by the C reader; a column with any text stays text and is checked cell by cell
                reader = pd.read_csv(path, encoding=enc, chunksize=chunk_rows, sep=sep or ",",
                                     skipinitialspace=True, engine="c", low_memory=False)
                for chunk in reader:
                    if done >= len(chunk):
                        done -= len(chunk)
                        continue
                    chunk = chunk.iloc[done:].reset_index(drop=True)
                    done = 0
                    yield chunk
            except UnicodeDecodeError:
                raise ValidationError([Problem(file, None, None, say.unreadable("encoding", enc))]) from None
            except pd.errors.ParserError as exc:
                raise ValidationError([Problem(file, None, None, say.unreadable("csv", exc))]) from None
        return enc, csv_chunks()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        def parquet_chunks() -> Iterator[pd.DataFrame]:
            try:
                parquet = pq.ParquetFile(path)
            except Exception as exc:
                raise ValidationError([Problem(file, None, None, say.unreadable("parquet", type(exc).__name__))]
                                      ) from None
            for batch in parquet.iter_batches(batch_size=chunk_rows):
                yield batch.to_pandas()
        return None, parquet_chunks()
    if suffix in (".xlsx", ".xlsm"):
        def xlsx_chunks() -> Iterator[pd.DataFrame]:
            try:
                frame = pd.read_excel(path, sheet_name=sheet or 0, dtype=object, engine="openpyxl")
            except (ValueError, KeyError, OSError) as exc:
                raise ValidationError([Problem(file, None, None, say.unreadable("xlsx", exc))]) from None
            for start in range(0, max(len(frame), 1), chunk_rows):
                yield frame.iloc[start:start + chunk_rows]
        return None, xlsx_chunks()
    raise ValidationError([Problem(file, None, None, say.unsupported(suffix))])


#: The texts pandas' CSV reader takes for a missing value (its ``na_values``), for pyarrow's reader.
_PANDAS_NA = ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>",
              "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"]


def _header_names(path: Path, enc: str, sep: str) -> list[str]:
    """The header's column names as pandas names them (leading spaces dropped, ``Unnamed: i`` for a blank
    one, ``name.1`` for a repeated one)."""
    with path.open("rb") as handle:
        head = handle.read(1 << 16).decode(enc, errors="replace")
    row = next(csv.reader(io.StringIO(head), delimiter=sep, skipinitialspace=True), [])
    names: list[str] = []
    counts: dict[str, int] = {}
    for i, raw in enumerate(row):
        name = raw if raw != "" else f"Unnamed: {i}"
        count = counts.get(name, 0)
        while count > 0:
            counts[name] = count + 1
            name = f"{name}.{count}"
            count = counts.get(name, 0)
        names.append(name)
        counts[name] = count + 1
    return names


def _arrow_csv_chunks(path: Path, enc: str, sep: str, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """The CSV's rows in chunks of ``chunk_rows`` through pyarrow's multithreaded reader, typed per chunk
    as pandas' reader types them (a column of numbers only is numbers, int64 when whole and complete; any
    text keeps it text); raises ``ValueError`` on what pandas' reader may read differently (a row of
    another length, bytes the encoding cannot read)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    names = _header_names(path, enc, sep)
    if not names:
        raise ValueError("no header")
    keys = [f"c{i}" for i in range(len(names))]
    native = enc.lower().replace("_", "-") in ("utf-8", "utf-8-sig", "utf8")
    reader = pacsv.open_csv(
        path, read_options=pacsv.ReadOptions(skip_rows=1, column_names=keys, encoding="utf8" if native else enc,
                                             block_size=16 << 20),
        parse_options=pacsv.ParseOptions(delimiter=sep),
        convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(keys, pa.string()), strings_can_be_null=True,
                                             null_values=_PANDAS_NA, quoted_strings_can_be_null=True))
    pending: list[pa.RecordBatch] = []
    held = given = 0
    for batch in reader:
        pending.append(batch)
        held += batch.num_rows
        while held >= chunk_rows:
            table = pa.Table.from_batches(pending)
            yield _typed(table.slice(0, chunk_rows), names)
            given += chunk_rows
            rest = table.slice(chunk_rows)
            pending, held = rest.to_batches(), rest.num_rows
    if held or not given:  # the rest, or the header alone (pandas' reader gives its columns, no rows)
        yield _typed(pa.Table.from_batches(pending, schema=reader.schema), names)
    pending.clear()
    pa.default_memory_pool().release_unused()  # the reader's blocks, back to the system for what follows


def _typed(table: Any, names: list[str]) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.compute as pc

    columns: dict[str, Any] = {}
    for name, column in zip(names, table.columns, strict=True):
        head = column.slice(0, 1000).drop_null()
        # a cast that fails costs a pass over the column: a column whose first value is text is text
        if table.num_rows == 0 or (len(head) and not _looks_numeric(head[0].as_py())):
            columns[name] = column.to_pandas() if table.num_rows else column.to_pandas().astype(object)
            continue
        try:
            floats = pc.cast(column, pa.float64())
        except pa.ArrowInvalid:
            columns[name] = column.to_pandas()
            continue
        values = floats.to_numpy(zero_copy_only=False)
        if floats.null_count == 0 and np.all(np.abs(values) < 2.0 ** 53) and np.all(values == np.round(values)):
            # whole numbers written as such are int64, as pandas reads them ("100.0" stays float)
            with contextlib.suppress(pa.ArrowInvalid):
                values = pc.cast(column, pa.int64()).to_numpy()
        columns[name] = values
    return pd.DataFrame(columns, index=pd.RangeIndex(table.num_rows))


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def map_mr_headers(headers: list[str], file: str) -> tuple[dict[str, str], float | None, list[Problem]]:
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
            problems.append(Problem(file, None, header, say.two_columns(name, found[name], header)))
            continue
        found[name] = header
    for name, (required, aliases) in MR_COLUMNS.items():
        if required and name not in found:
            problems.append(Problem(file, None, name, missing_column(
                name, f"missing column {name} (or {', '.join(aliases[:3])})")))
    has_centre = "lon" in found and "lat" in found
    has_corner = "corner_lon" in found and "corner_lat" in found
    if not has_centre and not has_corner:
        problems.append(Problem(file, None, "lon", say.GRID_PLACE))
    if has_centre and has_corner:
        problems.append(Problem(file, None, "corner_lon", bi(
            "同时给出了栅格中心和西南角；请只保留一种", "both the grid centre and its corner are given; keep one")))
    if "band" not in found and "arfcn" not in found:
        problems.append(Problem(file, None, "band", bi("缺少必需的列：频段或频点（ARFCN）",
                                                        "missing column band (频段) or arfcn (频点)")))
    return found, threshold, problems


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
    return _Values(series).map(convert, dtype)[0]


class _Values:
    """A column's distinct values, each cleaned once, and the rows' codes into them."""

    def __init__(self, series: pd.Series) -> None:
        self.codes, uniques = pd.factorize(series, use_na_sentinel=True)
        self.cleaned = [_clean(u) for u in uniques] + [None]  # code -1 (missing) takes the last

    def map(self, convert: Callable[[str | None], Any], dtype: Any = object) -> tuple[np.ndarray, np.ndarray]:
        """``convert`` of each row's value, and where it is missing (None or NaT), without a pass over
        objects per row."""
        mapped = [convert(v) for v in self.cleaned]
        table = np.empty(len(mapped), dtype=dtype)
        for i, v in enumerate(mapped):
            table[i] = v
        none = np.array([bool(pd.isna(v)) for v in table], dtype=bool)
        return table[self.codes], none[self.codes]


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
                check.add(bad, name, lambda r: not_a_number(repr(shown[r])))
    if required:
        check.add(np.flatnonzero(np.isnan(values) & _present_raw(chunk, check, name, invert=True)), name,
                  missing_value(name, "missing value"))
    return values


def _present_raw(chunk: pd.DataFrame, check: _Checker, name: str, *, invert: bool = False) -> np.ndarray:
    """Rows whose raw value of ``name`` is empty (``invert``) or not."""
    raw = chunk[check.headers[name]]
    if pd.api.types.is_numeric_dtype(raw.dtype):
        empty = raw.isna().to_numpy()
    else:  # per distinct value: the same test as on every row, once
        codes, uniques = pd.factorize(raw, use_na_sentinel=True)
        table = np.array([str(u).strip().lower() in _NULLS for u in uniques] + [True], dtype=bool)
        empty = table[codes]
    return empty if invert else ~empty


def _lookup(values: _Values, table: dict[str, tuple[str, ...]]) -> tuple[np.ndarray, np.ndarray]:
    keys = {alias.lower(): canonical for canonical, aliases in table.items() for alias in (canonical, *aliases)}
    return values.map(lambda v: None if v is None else keys.get(v.lower()))


def _dates(check: _Checker, chunk: pd.DataFrame, name: str) -> np.ndarray:
    """Dates (``datetime64[D]``, NaT when bad or missing) of column ``name``, parsed per distinct value."""
    values = _Values(chunk[check.headers[name]])
    raw, missing = values.map(lambda v: v)
    out = values.map(_parse_date, dtype="datetime64[D]")[0]
    bad = np.flatnonzero(np.isnat(out) & ~missing)
    check.add(bad, name, lambda r: not_a_date(repr(raw[r]), f"not a date: {raw[r]!r} (use YYYY-MM-DD, YYYY/M/D or "
                                              "YYYYMMDD)", "YYYY-MM-DD、YYYY/M/D 或 YYYYMMDD"))
    check.add(np.flatnonzero(missing), name, missing_value(name, "missing value"))
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


def _bands(check: _Checker, chunk: pd.DataFrame, rat: np.ndarray, rat_none: np.ndarray, arfcn: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
    """Band of each row (from ``band``, else from the ARFCN) and the RAT filled in from the band
    (``rat_none``: where the RAT is missing). Tests run on each distinct value, spread over the rows."""
    n = len(chunk)
    band = np.full(n, None, dtype=object)
    band_none = np.ones(n, dtype=bool)
    is_nr_band = np.zeros(n, dtype=bool)
    lte_names = {row.band.lower(): row.band for row in EUTRA_CHANNELS}

    def band_of(v: str | None) -> str | None:
        return None if v is None else (normalize_band(v) or lte_names.get(v.lower().replace("band", "b")))
    if "band" in check.headers:
        values = _Values(chunk[check.headers["band"]])
        raw, raw_none = values.map(lambda v: v)
        band, band_none = values.map(band_of)
        is_nr_band = values.map(lambda v: (band_of(v) or "").startswith("n"), dtype=bool)[0]
        unknown = np.flatnonzero(~raw_none & band_none)
        known = sorted({*BANDS, *lte_names.values()})
        check.add(unknown, "band", lambda r: unknown_value("频段", repr(raw[r]), "、".join(known),
                                                           f"unknown band {raw[r]!r} (known: {', '.join(known)})"))
    rat_from_band = none_where(band_none, np.where(is_nr_band, "NR", "LTE"))
    rat = np.where(rat_none, rat_from_band, rat)
    rat_none = rat_none & band_none
    has_arfcn = ~np.isnan(arfcn)
    if has_arfcn.any():
        whole = has_arfcn & (arfcn == np.round(arfcn)) & (arfcn >= 0)
        check.add(np.flatnonzero(has_arfcn & ~whole), "arfcn", lambda r: say.not_a_channel(arfcn[r]))
        # one integer key per (RAT, channel): channel numbers are below 2^22
        rat_code = _rat_codes(rat, rat_none)
        key = np.where(whole, np.nan_to_num(arfcn, nan=-1).astype(np.int64), -1) * 4 + rat_code
        codes, uniques = pd.factorize(key)
        names = {1: "NR", 2: "LTE"}
        table = np.array([None if k < 0 or k % 4 == 0 else _downlink_band(int(k // 4), names[int(k % 4)])
                          for k in uniques] + [None], dtype=object)
        from_arfcn = none_where(~whole, table[codes])
        from_none = ~whole | np.array([b is None for b in table], dtype=bool)[codes]
        from_nr = np.array([b is not None and b.startswith("n") for b in table], dtype=bool)[codes]
        no_rat = np.flatnonzero(whole & rat_none)
        check.add(no_rat, "rat", say.NO_RAT_FOR_ARFCN)
        unknown = np.flatnonzero(whole & ~rat_none & from_none)
        check.add(unknown, "arfcn", lambda r: say.unknown_arfcn(int(arfcn[r]), str(rat[r])))
        both = np.flatnonzero(~from_none & ~band_none)
        clash = both[from_arfcn[both] != band[both]]
        check.add(clash, "arfcn", lambda r: say.arfcn_clash(int(arfcn[r]), from_arfcn[r], band[r]))
        band = np.where(band_none, from_arfcn, band)
        is_nr_band = np.where(band_none, from_nr, is_nr_band)
        band_none = band_none & from_none
    missing = np.flatnonzero(band_none & ~has_arfcn & _empty_band(check, chunk))
    check.add(missing, "band", bi("缺少频段和频点（ARFCN）", "missing band (频段) and ARFCN (频点)"))
    wrong_rat = np.flatnonzero(~band_none & ~rat_none & (is_nr_band != (_rat_codes(rat, rat_none) == 1)))
    check.add(wrong_rat, "rat", lambda r: bi(f"频段 {band[r]} 不是 {rat[r]} 频段",
                                             f"band {band[r]} is not a {rat[r]} band"))
    return band, rat


def _rat_codes(rat: np.ndarray, rat_none: np.ndarray) -> np.ndarray:
    """1 for NR, 2 for LTE, 0 for a missing RAT (compared per distinct value)."""
    codes, uniques = pd.factorize(np.where(rat_none, "", rat))
    table = np.array([{"NR": 1, "LTE": 2}.get(str(u), 0) for u in uniques] + [0], dtype=np.int64)
    return table[codes]


def _downlink_band(number: int, rat: str) -> str | None:
    """The band of a downlink channel number (MR reports the cells phones receive), or None."""
    found = channel(number, rat)
    return found.band if found is not None and found.link == "DL" else None


def _empty_band(check: _Checker, chunk: pd.DataFrame) -> np.ndarray:
    if "band" not in check.headers:
        return np.ones(len(chunk), dtype=bool)
    return _present_raw(chunk, check, "band", invert=True)


@dataclass
class FileState:
    """What a file's chunks share: the threshold, the duplicate keys seen, the extent, counters."""

    threshold: float | None
    keys: list[np.ndarray] = field(default_factory=list)
    period_codes: list[np.ndarray] = field(default_factory=list)  # per row: its (start, end) in period_index
    period_index: dict[int, int] = field(default_factory=dict)  # start day << 20 | end day -> code
    rows: list[tuple[int, int]] = field(default_factory=list)  # (first row, rows) of each chunk
    box: list[float] = field(default_factory=lambda: [math.inf, math.inf, -math.inf, -math.inf])
    period: list[Any] = field(default_factory=lambda: [None, None])
    periods: set[tuple[str, str]] = field(default_factory=set)
    operators: set[str] = field(default_factory=set)


def grid_keys(frame: pd.DataFrame) -> np.ndarray:
    """A 64-bit key of the grid a row describes, per operator, RAT, band and size: centres within about a
    metre are the same grid (the same grid from files in different CRSs)."""
    return pd.util.hash_pandas_object(pd.DataFrame({
        # the columns' own arrays: categories are hashed per value (the same hashes as the texts')
        "o": frame["operator"].array, "r": frame["rat"].array, "b": frame["band"].array,
        "x": np.round(frame["lon"].to_numpy() * 1e5).astype(np.int64),
        "y": np.round(frame["lat"].to_numpy() * 1e5).astype(np.int64),
        "g": frame["grid_m"].to_numpy()}), index=False).to_numpy()


def validate_chunk(chunk: pd.DataFrame, first_row: int, file: str, headers: dict[str, str], source_crs: Any,
                    state: FileState, problems: list[Problem], default_source: str | None) -> pd.DataFrame | None:
    """The chunk's rows in stored form, or None when it had problems (they are appended)."""
    check = _Checker(file, headers, problems)
    check.first_row = first_row
    n = len(chunk)
    centre = "lon" in headers
    x = _numbers(check, chunk, "lon" if centre else "corner_lon", required=True)
    y = _numbers(check, chunk, "lat" if centre else "corner_lat", required=True)
    grid_m = _numbers(check, chunk, "grid_m", required=True)
    bad_size = np.flatnonzero(~np.isnan(grid_m) & ~np.isin(grid_m, GRID_SIZES_M))
    check.add(bad_size, "grid_m", lambda r: say.bad_grid_size(grid_m[r], GRID_SIZES_M))
    start = _dates(check, chunk, "period_start")
    end = _dates(check, chunk, "period_end")
    check.add(np.flatnonzero(~np.isnat(start) & ~np.isnat(end) & (end < start)), "period_end",
              lambda r: bi(f"统计结束日期（{end[r]}）早于开始日期（{start[r]}）",
                           f"period ends ({end[r]}) before it starts ({start[r]})"))
    operators = _Values(chunk[headers["operator"]])
    operator, op_none = _lookup(operators, OPERATORS)
    raw_op, raw_op_none = operators.map(lambda v: v)
    check.add(np.flatnonzero(op_none & ~raw_op_none), "operator",
              lambda r: unknown_value("运营商", repr(raw_op[r]), "CMCC/CUCC/CTCC/CBN 或 移动/联通/电信/广电",
                                      f"unknown operator {raw_op[r]!r} (CMCC/CUCC/CTCC/CBN or 移动/联通/电信/广电)"))
    check.add(np.flatnonzero(raw_op_none), "operator", missing_value("operator", "missing value"))
    rat = np.full(n, None, dtype=object)
    rat_none = np.ones(n, dtype=bool)
    if "rat" in headers:
        rats = _Values(chunk[headers["rat"]])
        raw_rat, raw_rat_none = rats.map(lambda v: v)
        rat, rat_none = _lookup(rats, RATS)
        check.add(np.flatnonzero(rat_none & ~raw_rat_none), "rat",
                  lambda r: unknown_value("制式", repr(raw_rat[r]), "NR/5G 或 LTE/4G",
                                          f"unknown RAT {raw_rat[r]!r} (NR/5G or LTE/4G)"))
    arfcn = _numbers(check, chunk, "arfcn", required=False)
    band, rat = _bands(check, chunk, rat, rat_none, arfcn)
    samples = _numbers(check, chunk, "samples", required=True)
    check.add(np.flatnonzero(samples < 0), "samples",
              lambda r: bi(f"采样点数为负：{samples[r]:g}", f"negative sample count {samples[r]:g}"))
    check.add(np.flatnonzero((samples >= 0) & (samples != np.round(samples))), "samples",
              lambda r: bi(f"采样点数 {samples[r]:g} 应为整数", f"sample count {samples[r]:g} is not a whole number"))
    rsrp = _numbers(check, chunk, "rsrp_mean_dbm", required=False)
    check.add(np.flatnonzero(np.isnan(rsrp) & (samples > 0)), "rsrp_mean_dbm",
              bi("有采样点的栅格缺少平均 RSRP", "missing mean RSRP of a grid with samples"))
    check.add(np.flatnonzero((rsrp < RSRP_RANGE[0]) | (rsrp > RSRP_RANGE[1])), "rsrp_mean_dbm",
              lambda r: say.range_problem("mean RSRP", rsrp[r], "dBm", RSRP_RANGE))
    share = _numbers(check, chunk, "share_good", required=False, percent=True)
    check.add(np.flatnonzero(share > 1.0), "share_good",
              lambda r: bi(f"达标比例 {share[r]:g} 大于 1（比例应在 0 到 1 之间：写 0.85 或 85%）",
                           f"share {share[r]:g} above 1 (a share is 0-1: write 0.85 or 85%)"))
    check.add(np.flatnonzero(share < 0.0), "share_good",
              lambda r: bi(f"达标比例为负：{share[r]:g}", f"negative share {share[r]:g}"))
    sinr = _numbers(check, chunk, "sinr_mean_db", required=False)
    check.add(np.flatnonzero((sinr < SINR_RANGE[0]) | (sinr > SINR_RANGE[1])), "sinr_mean_db",
              lambda r: say.range_problem("mean SINR", sinr[r], "dB", SINR_RANGE))
    users = _numbers(check, chunk, "users", required=False)
    check.add(np.flatnonzero(users < 0), "users",
              lambda r: bi(f"用户数为负：{users[r]:g}", f"negative user count {users[r]:g}"))
    dl = _numbers(check, chunk, "dl_mbps", required=False)
    check.add(np.flatnonzero(dl < 0), "dl_mbps",
              lambda r: bi(f"下载速率为负：{dl[r]:g}", f"negative download rate {dl[r]:g}"))
    threshold = state.threshold
    if "threshold_dbm" in headers:
        column = _numbers(check, chunk, "threshold_dbm", required=False)
        given = column[~np.isnan(column)]
        if len(given):
            if threshold is None:
                threshold = state.threshold = float(given[0])
            other = np.flatnonzero(~np.isnan(column) & (column != threshold))
            check.add(other, "threshold_dbm", lambda r: say.other_threshold(column[r], threshold))
    if "share_good" in headers and threshold is None and len(chunk):
        check.add(np.array([0]), "share_good", say.NO_THRESHOLD)
    if threshold is not None and not (THRESHOLD_RANGE[0] <= threshold <= THRESHOLD_RANGE[1]):
        check.add(np.array([0]), "threshold_dbm", say.range_problem("threshold", threshold, "dBm", THRESHOLD_RANGE))
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
    check.add(outside, coord, lambda r: say.outside(x[r], y[r], bool(swapped[r]), spec.name))
    if check.count:
        return None
    if "source" in headers:
        source, source_none = _Values(chunk[headers["source"]]).map(lambda v: v)
    else:
        source, source_none = np.full(n, None, dtype=object), np.ones(n, dtype=bool)
    if default_source is not None:
        source = np.where(source_none, default_source, source)
    frame = pd.DataFrame({
        "lon": np.round(lon, 7), "lat": np.round(lat, 7), "grid_m": grid_m,
        # text columns as categories: a handful of values, hashed and encoded per value, not per row
        "period_start": start, "period_end": end, "operator": pd.Categorical(operator),
        "rat": pd.Categorical(rat), "band": pd.Categorical(band), "arfcn": arfcn,
        "samples": samples.astype(np.int64), "rsrp_mean_dbm": rsrp,
        "share_good": share, "threshold_dbm": np.full(n, np.nan if threshold is None else threshold),
        "sinr_mean_db": sinr, "users": users, "dl_mbps": dl, "source": source,
    })
    _remember(state, frame, first_row)
    return frame


def _remember(state: FileState, frame: pd.DataFrame, first_row: int) -> None:
    state.keys.append(grid_keys(frame))
    day0 = np.datetime64("1970-01-01", "D")
    start = (frame["period_start"].to_numpy("datetime64[D]") - day0).astype(np.int64)
    end = (frame["period_end"].to_numpy("datetime64[D]") - day0).astype(np.int64)
    codes, uniques = pd.factorize(start << 20 | end)  # days 1980-2100: below 2^20
    index = state.period_index
    table = np.array([index.setdefault(int(u), len(index)) for u in uniques], dtype=np.int64)
    state.period_codes.append(table[codes].astype(np.uint16 if len(index) < 1 << 16 else np.uint32))
    state.rows.append((first_row, len(frame)))
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


def none_where(mask: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``values`` as objects with None where ``mask`` (what drivers store as NULL)."""
    out = np.asarray(values).astype(object)
    out[np.asarray(mask, dtype=bool)] = None
    return out
