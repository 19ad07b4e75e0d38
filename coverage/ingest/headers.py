"""Header aliases: a file's header row mapped to the canonical columns of :mod:`coverage.schema`
(names, units in brackets or after an underscore, ``--map`` renames).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache

from coverage.errors import Problem
from coverage.ingest.mapping import IGNORE, ColumnMapping, split_target
from coverage.ingest.messages import bi, column_zh
from coverage.ingest.readers import Table
from coverage.ingest.values import is_missing, norm_key
from coverage.schema import (
    COLUMNS,
    Column,
    Kind,
)

__all__ = [
    "EXTRA_ALIASES",
    "GEOMETRY_HEADERS",
    "WATT_UNITS",
    "HeaderMatch",
    "accepted_headers",
    "map_headers",
    "split_unit",
]

#: Header names (normalised like all headers) of a WKT geometry column in tabular files.
GEOMETRY_HEADERS: tuple[str, ...] = ("geometry", "wkt", "geom", "thegeom", "shape", "几何", "边界", "范围")

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
WATT_UNITS = frozenset({"w", "watt", "watts", "瓦"})


_UNIT_SUFFIX_RE = re.compile(r"^(.+?)[_\s]+(dbm|db|mbps|mbit/s|mhz|deg|m|w)$", re.IGNORECASE)
_UNIT_RE = re.compile(r"^(.*?)\s*[(\[【]\s*([^)\]】]*?)\s*[)\]】]\s*$")


def split_unit(header: str) -> tuple[str, str | None]:
    """A header as (lookup key, unit or None): ``挂高(m)`` gives ``('挂高', 'm')``."""
    text = unicodedata.normalize("NFKC", header).strip()
    m = _UNIT_RE.match(text)
    if m and m.group(1):
        return norm_key(m.group(1)), m.group(2).strip().casefold() or None
    return norm_key(text), None


@cache
def _alias_index(kind: Kind) -> dict[str, str]:
    index: dict[str, str] = {}
    for column in COLUMNS[kind]:
        for name in (column.name, *column.aliases):
            key = norm_key(name)
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
            key = norm_key(name)
            if key in main:
                raise RuntimeError(f"extra alias {name!r} is also an alias of {main[key]}")
            index[key] = column
    return index


@dataclass(frozen=True)
class HeaderMatch:
    """One file column matched to a canonical column: its position, header text, unit and how."""
    index: int
    header: str
    column: str
    unit: str | None
    how: str = "header"


def map_headers(kind: Kind, table: Table, file: str, mapping: ColumnMapping | None = None
                 ) -> tuple[dict[str, HeaderMatch], int | None, list[Problem]]:
    """Map the table's headers to canonical columns (and the extra inputs of :data:`EXTRA_ALIASES`).

    ``mapping.rename`` (``--map``) decides first, by the header's exact text or its normalised
    form. Returns the matches by column, the index of a WKT geometry column (tabular files), and
    file-level problems (duplicates, bad units, ``--map`` names the file lacks, ignored columns as
    warnings).
    """
    index = {**_alias_index(kind), **_extra_index(kind)}
    renames = {norm_key(h): split_target(t) for h, t in (mapping.rename if mapping else {}).items()}
    used: set[str] = set()
    matches: dict[str, HeaderMatch] = {}
    problems: list[Problem] = []
    ignored: list[str] = []
    wkt_index: int | None = None
    geometry_keys = {norm_key(g) for g in GEOMETRY_HEADERS}
    for i, header in enumerate(table.headers):
        key, unit = split_unit(header)
        how = "header"
        full_key = norm_key(unicodedata.normalize("NFKC", header))
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
                if m and index.get(norm_key(m.group(1))) is not None:
                    column, unit = index[norm_key(m.group(1))], m.group(2).casefold()
        if column == "rsrp_dbm" and unit == "db":
            problems.append(Problem(file, None, header, bi("单位 'dB' 按 dBm 读取：RSRP 是功率（dBm），不是比值",
                                                           "unit 'dB' read as dBm: RSRP is a power (dBm), never "
                                                           "a ratio"), severity="warning"))
            unit = "dbm"
        if column is None and unit is None and key.endswith("w") and index.get(key[:-1]) == "power_dbm":
            column, unit = "power_dbm", "w"  # power_w, 发射功率W
        if column is None and unit is None and key.endswith("dbm") and index.get(key[:-3]) == "power_dbm":
            column, unit = "power_dbm", "dbm"
        if column is None:
            if not table.vector and key in geometry_keys and unit is None:
                if wkt_index is not None:
                    problems.append(Problem(file, None, header, bi(
                        f"有两个几何列：{table.headers[wkt_index]!r} 和 {header!r}",
                        f"two geometry columns: {table.headers[wkt_index]!r} and {header!r}")))
                wkt_index = i
                continue
            if header.startswith("(column ") and all(is_missing(v) for v in table.columns[i]):
                continue
            ignored.append(header)
            continue
        allowed = _UNITS.get(column) or _EXTRA_UNITS.get(column)
        if unit is not None and allowed is not None and unit not in allowed:
            problems.append(Problem(file, None, header, bi(
                f"{column_zh(column)}不支持单位 {unit!r}；请用 " + " 或 ".join(sorted(allowed)),
                f"unit {unit!r} is not supported for {column}; use " + " or ".join(sorted(allowed)))))
        if column in matches:
            other = matches[column]
            if how == "--map" and other.how != "--map":  # the user's word wins over a header's name
                ignored.append(other.header)
                matches[column] = HeaderMatch(i, header, column, unit, how)
                continue
            if other.how == "--map" and how != "--map":
                ignored.append(header)
                continue
            if key in _WEAK_KEYS and split_unit(other.header)[0] not in _WEAK_KEYS:
                ignored.append(header)  # e.g. ArcGIS's default "Id" next to a real 村代码 column
                continue
            if split_unit(other.header)[0] in _WEAK_KEYS and key not in _WEAK_KEYS:
                ignored.append(other.header)
                matches[column] = HeaderMatch(i, header, column, unit, how)
                continue
            problems.append(Problem(file, None, header, bi(
                f"列 {other.header!r} 和 {header!r} 都对应{column_zh(column)}（{column}）；"
                f"请保留其中一列（或用 --map 把其中一列设为 {IGNORE}）",
                f"columns {other.header!r} and {header!r} both map to "
                f"{column}; keep one of them (or --map one of them to {IGNORE})")))
            continue
        matches[column] = HeaderMatch(i, header, column, unit, how)
    for key in renames.keys() - used:
        written = next(h for h in (mapping.rename if mapping else {}) if norm_key(h) == key)
        problems.append(Problem(file, None, written, bi(
            f"--map 指定的列 {written!r} 在文件中不存在；文件的列为 {'、'.join(table.headers)}",
            f"--map names column {written!r}, which the file does "
            f"not have; its columns are {', '.join(table.headers)}")))
    if ignored:
        problems.append(Problem(file, None, None, bi("已忽略不在数据规范中的列：" + "、".join(ignored),
                                                     "ignored columns not in the data contract: "
                                                     + ", ".join(ignored)), severity="warning"))
    return matches, wkt_index, problems


#: Generic header names that give way to a specific one for the same column instead of clashing.
_WEAK_KEYS = frozenset({"id", "编码", "代码", "名称", "x", "y"})


def accepted_headers(column: Column) -> str:
    """The header names a canonical column is recognised by, for messages."""
    return ", ".join([column.name, *column.aliases])

