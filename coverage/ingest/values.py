"""Cell values: missing cells, text, numbers (degrees-minutes-seconds, thousands separators),
dates and times (naive Asia/Shanghai), operator, RAT and status names.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from typing import Any, cast
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from coverage.ingest.messages import bi, not_a_date, not_a_number
from coverage.schema import OPERATORS, STATUSES, chinese_name
from coverage.writers import csv_unescape

#: What an RSRP cell or a no-service column of a drive-test export says for "no service".
NO_SERVICE_TOKENS = frozenset({"无服务", "noservice", "无信号", "nosignal", "脱网", "outofservice", "oos",
                                "limitedservice", "无覆盖", "nocoverage"})
_NULL_TOKENS = frozenset({"", "null", "none", "nan", "nat", "n/a", "#n/a", "na", "<na>", "-", "--", "—"})
_SHANGHAI = ZoneInfo("Asia/Shanghai")


def norm_key(text: str) -> str:
    """A header or value as a lookup key: NFKC, without spaces, underscores and dashes, case-folded."""
    return re.sub(r"[\s_\-]+", "", unicodedata.normalize("NFKC", text)).casefold()


def is_missing(value: object) -> bool:
    """Whether a cell is empty: None, NaN, NaT or a null token such as ``''``, ``NULL``, ``#N/A``, ``-``."""
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


def cell_text(value: object) -> str | None:
    """A cell as text (whole floats without ``.0``), or None when missing."""
    if is_missing(value):
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


_DMS_RE = re.compile(
    r"^(\d{1,3})\s*[°度:]\s*(?:(\d{1,2}(?:\.\d+)?)\s*['′’分:]?\s*)?(?:(\d{1,2}(?:\.\d+)?)\s*(?:\"|″|”|''|′′|秒)?)?\s*([NSEW东西南北])?$",
    re.IGNORECASE,
)
_THOUSANDS_RE = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")


def parse_number(value: object, *, dms: bool) -> float | str:
    """A float, or an error message (the slow path of :func:`parse_floats`)."""
    if isinstance(value, (bool, np.bool_)):
        return not_a_number(repr(value))
    if isinstance(value, (int, float, np.integer, np.floating)):
        number = float(value)
        return number if math.isfinite(number) else _not_finite(repr(value))
    if not isinstance(value, str):
        return not_a_number(show_value(value))
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
        return not_a_number(show_value(value))
    return number if math.isfinite(number) else _not_finite(show_value(value))


def _not_finite(shown: str) -> str:
    return bi(f"应为有限的数字：{shown}", f"not a finite number: {shown}")


def show_cell(value: object) -> str:
    """A cell as ``ingest --dry-run`` shows it: empty for missing, numbers without noise."""
    if value is None or is_missing(value):
        return ""
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.6g}"
    text = cell_text(value) or ""
    return text if len(text) <= 40 else text[:37] + "..."


def show_value(value: object) -> str:
    """A cell as problem messages quote it, shortened."""
    text = repr(value) if isinstance(value, str) else repr(cell_text(value) or value)
    return text if len(text) <= 60 else text[:57] + "...'"


def parse_floats(values: NDArray[np.object_], *, dms: bool = False) -> tuple[NDArray[np.float64], dict[int, str]]:
    """Parse a column of cells as floats: (values with NaN for missing, {position: error})."""
    numbers = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce")
    out = np.asarray(numbers, dtype=np.float64).copy()
    errors: dict[int, str] = {}
    for i in np.flatnonzero(~np.isfinite(out)).tolist():
        value = values[i]
        if is_missing(value):
            out[i] = np.nan
            continue
        parsed = parse_number(value, dms=dms)
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

__all__ = [
    "NO_SERVICE_TOKENS",
    "accepted_values",
    "cell_text",
    "is_missing",
    "norm_key",
    "normalize_operator",
    "parse_dates",
    "parse_datetime",
    "parse_floats",
    "parse_number",
    "show_cell",
    "show_value",
    "status_of",
]
_COMPACT_RE = re.compile(r"^(\d{4})(\d{2})(\d{2})(?:[ T]?(\d{2})(\d{2})(\d{2}))?$")
_EXCEL_EPOCH = dt.datetime(1899, 12, 30)
_YEAR_RANGE = (1980, 2100)
_DATE_FORMATS = "YYYY-MM-DD, YYYY/M/D, YYYY.MM.DD, YYYYMMDD, YYYY年M月D日 or an Excel date"
_DATE_FORMATS_ZH = "YYYY-MM-DD、YYYY/M/D、YYYY.MM.DD、YYYYMMDD、YYYY年M月D日 或 Excel 日期"


def _not_a_date(value: object) -> str:
    shown = show_value(value)
    return not_a_date(shown, f"not a date: {shown}; use {_DATE_FORMATS}", _DATE_FORMATS_ZH)


def parse_datetime(value: object) -> dt.datetime | str:
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
            return parse_datetime(str(int(number)))
        if 20000 <= number <= 80000:  # Excel serial day number (1900 date system): 1954-2119
            result = _EXCEL_EPOCH + dt.timedelta(days=number)
        else:
            return _not_a_date(value)
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
                    return parse_datetime(float(text))
                return _not_a_date(value)
            parts = (*c.groups(), None)
        year, month, day = int(parts[0] or 0), int(parts[1] or 0), int(parts[2] or 0)
        hour, minute, second = int(parts[3] or 0), int(parts[4] or 0), int(parts[5] or 0)
        micro = int(((parts[6] or "") + "000000")[:6])
        try:
            result = dt.datetime(year, month, day, hour, minute, second, micro)
        except ValueError as exc:
            return bi(f"不是有效的日期：{show_value(value)}", f"not a valid date: {show_value(value)} ({exc})")
        if zone:
            sign = -1 if zone.startswith("-") else 1
            digits = zone.replace(":", "")[1:] if zone.upper() != "Z" else "0000"
            offset = dt.timedelta(hours=int(digits[:2] or 0), minutes=int(digits[2:] or 0)) * sign
            aware = result.replace(tzinfo=dt.timezone(offset))
            result = aware.astimezone(_SHANGHAI).replace(tzinfo=None)
    else:
        return _not_a_date(value)
    if not _YEAR_RANGE[0] <= result.year <= _YEAR_RANGE[1]:
        return bi(f"日期不合理：{show_value(value)}，年份应在 {_YEAR_RANGE[0]} 到 {_YEAR_RANGE[1]} 之间",
                  f"implausible date {show_value(value)}: the year must be {_YEAR_RANGE[0]}-{_YEAR_RANGE[1]}")
    return result


def parse_dates(values: NDArray[np.object_], *, with_time: bool) -> tuple[list[Any], dict[int, str]]:
    """Parse a column of cells as datetimes (or dates): (values with None for missing, {position: error})."""
    cache: dict[object, dt.datetime | str] = {}
    out: list[Any] = [None] * len(values)
    errors: dict[int, str] = {}
    for i, value in enumerate(values):
        if is_missing(value):
            continue
        try:
            parsed = cache[value]
        except KeyError:
            parsed = cache[value] = parse_datetime(value)
        except TypeError:  # unhashable
            parsed = parse_datetime(value)
        if isinstance(parsed, str):
            errors[i] = parsed
        else:
            out[i] = parsed if with_time else parsed.date()
    return out, errors


def _lookup_table(table: dict[str, tuple[str, ...]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for canonical, aliases in table.items():
        for name in (canonical, *aliases):
            out[norm_key(name)] = canonical
    return out


def accepted_values(table: dict[str, tuple[str, ...]]) -> list[str]:
    """'CMCC (中国移动)', ...: each canonical value with its first Chinese name, for messages."""
    out = []
    for canonical, aliases in table.items():
        chinese = chinese_name(aliases)
        out.append(f"{canonical} ({chinese})" if chinese else canonical)
    return out


_OPERATOR_KEYS = _lookup_table(OPERATORS)
_STATUS_KEYS = _lookup_table(STATUSES)
_OPERATOR_CJK = {alias: op for op, aliases in OPERATORS.items() for alias in aliases
                 if alias in ("移动", "联通", "电信", "广电")}



def status_of(text: str) -> str | None:
    """The canonical station status of a text, or None."""
    return _STATUS_KEYS.get(norm_key(text))


def normalize_operator(text: str) -> str | tuple[str, ...] | None:
    """The canonical operator of a text, the several it names, or None."""
    key = norm_key(text)
    if key in _OPERATOR_KEYS:
        return _OPERATOR_KEYS[key]
    # "江苏移动", "中国电信江苏分公司": a unique short Chinese name inside the value.
    hits = tuple(sorted({op for alias, op in _OPERATOR_CJK.items() if alias in text}))
    if len(hits) == 1:
        return hits[0]
    return hits or None

