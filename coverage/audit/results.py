"""Field results of an audit round: reading per-test records.

A field team records one row per test (one phone, one place, one time): the village code, the test
point, the time, the operator, SS-RSRP, SS-SINR, download and upload throughput and the tester. A
form may hold several operators' readings at one test point, one row per operator with the point's
coordinates (:func:`field_test_points` groups them).
:func:`read_field_tests` reads such a file (CSV in UTF-8/GBK, XLSX or JSON), maps Chinese and
English headers (村代码, 测试时间, 下载速率 ...), validates every row against the round it belongs
to and either returns the whole file or raises :class:`~coverage.errors.ValidationError` listing
every problem with file, row and field. Nothing is stored by this module; the caller stores a
file only when it was accepted as a whole.

The pass rule and each village's outcome are in :mod:`coverage.audit.outcomes`.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from coverage import crs as crs_mod
from coverage.errors import Problem, ValidationError
from coverage.ingest.headers import split_unit
from coverage.ingest.messages import (
    bi,
    column_zh,
    duplicate,
    missing_column,
    missing_value,
    out_of_range,
    outside_china,
    unknown_value,
)
from coverage.ingest.readers import (
    Table,
    check_encoding,
    csv_head,
    file_error,
    fingerprint,
    grid_to_table,
    read_csv_table,
    read_xlsx_table,
)
from coverage.ingest.validation import RANGES
from coverage.ingest.values import (
    accepted_values,
    cell_text,
    is_missing,
    norm_key,
    normalize_operator,
    parse_dates,
    parse_floats,
    show_value,
)
from coverage.limits import DEFAULT_LIMITS, Limits
from coverage.model.bands import BANDS, normalize_band
from coverage.schema import FIELD_TEST_COLUMNS, OPERATORS

__all__ = [
    "FIELD_TEST_COLUMNS",
    "TEST_COLUMNS",
    "FieldTests",
    "field_test_points",
    "read_field_tests",
    "tests_frame",
]

#: Columns of the normalised frame of field tests (geometry, the test point, last).
TEST_COLUMNS = ("village_code", "lon", "lat", "tested_at", "operator", "band", "rsrp_dbm", "sinr_db",
                "dl_mbps", "ul_mbps", "tester", "note")

#: Rows of one village whose coordinates agree when rounded to this many decimals of a degree (1e-4
#: degrees, about 10 m) are readings at one test point (several operators' phones at the same place).
TEST_POINT_DECIMALS = 4
#: A test point farther than this from its village's list point is reported as a warning (m).
TEST_POINT_WARN_M = 1500.0
#: ... and farther than this is an error: a wrong village code or a wrong CRS (m).
TEST_POINT_MAX_M = 5000.0

_UNITS: dict[str, frozenset[str]] = {
    "lon": frozenset({"°", "deg", "度", "degree", "degrees"}),
    "lat": frozenset({"°", "deg", "度", "degree", "degrees"}),
    "rsrp_dbm": frozenset({"dbm"}),
    "sinr_db": frozenset({"db"}),
    "dl_mbps": frozenset({"mbps", "mbit/s", "mb/s", "m", "兆"}),
    "ul_mbps": frozenset({"mbps", "mbit/s", "mb/s", "m", "兆"}),
}
_READERS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".xlsx": "xlsx", ".xlsm": "xlsx", ".json": "json"}


# ============================================================================================
# Reading field-test files
# ============================================================================================


@dataclass
class FieldTests:
    """A validated field-test file.

    Attributes
    ----------
    frame : geopandas.GeoDataFrame
        :data:`TEST_COLUMNS` plus the test point (EPSG:4326). ``tested_at`` is naive
        Asia/Shanghai time (``datetime64[ns]``, whole milliseconds); missing RSRP/SINR mean no
        service.
    warnings : list of Problem
        Findings worth a look that did not reject the file.
    file_name, file_sha256 : str
        The file's base name and the SHA-256 of its bytes.
    crs : str
        The coordinates' CRS as read (``EPSG:4326`` or ``gcj02`` ...).
    """

    frame: gpd.GeoDataFrame
    warnings: list[Problem]
    file_name: str
    file_sha256: str
    crs: str

    @property
    def rows(self) -> int:
        """Number of tests."""
        return len(self.frame)


def empty_tests() -> gpd.GeoDataFrame:
    """A field-test frame with no rows and the canonical columns and dtypes."""
    return tests_frame({c: [] for c in TEST_COLUMNS}, np.array([], dtype=object))


def tests_frame(values: dict[str, Any], geometry: np.ndarray) -> gpd.GeoDataFrame:
    """A field-test frame (:data:`TEST_COLUMNS`, canonical dtypes, EPSG:4326) from column values."""
    n = len(geometry)
    stamps = pd.Series(pd.to_datetime(pd.Series(values.get("tested_at", [None] * n), dtype=object)))
    data = {
        "village_code": pd.Series(values["village_code"], dtype="str"),
        "lon": pd.Series(values["lon"], dtype="float64"),
        "lat": pd.Series(values["lat"], dtype="float64"),
        "tested_at": stamps.astype("datetime64[ns]").dt.round("ms"),
        "operator": pd.Series(values["operator"], dtype="str"),
        "band": pd.Series(values.get("band", [None] * n), dtype="str"),
    }
    for name in ("rsrp_dbm", "sinr_db", "dl_mbps", "ul_mbps"):
        data[name] = pd.Series(values[name], dtype="float64")
    data["tester"] = pd.Series(values["tester"], dtype="str")
    data["note"] = pd.Series(values.get("note", [None] * n), dtype="str")
    frame = pd.DataFrame(data, index=pd.RangeIndex(n))
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(list(geometry), crs="EPSG:4326").values, crs="EPSG:4326")


def field_test_points(tests: pd.DataFrame) -> np.ndarray:
    """The test point of each row (int64 ids, 0 ... in order of first appearance): rows of one village
    at the same place (``lon``/``lat`` rounded to :data:`TEST_POINT_DECIMALS` decimals, about 10 m)
    are one point, e.g. the readings of several operators' phones there."""
    if len(tests) == 0:
        return np.zeros(0, dtype=np.int64)
    key = pd.DataFrame({"code": tests["village_code"].astype(str).to_numpy(),
                        "lon": np.round(tests["lon"].to_numpy(float), TEST_POINT_DECIMALS),
                        "lat": np.round(tests["lat"].to_numpy(float), TEST_POINT_DECIMALS)})
    return key.groupby(["code", "lon", "lat"], sort=False, dropna=False).ngroup().to_numpy(np.int64)


def read_field_tests(path: str | Path, *, round_number: int, villages: pd.DataFrame,
                     known_codes: Collection[str], crs: object = None, encoding: str | None = None,
                     sheet: str | None = None, now: dt.datetime | None = None,
                     limits: Limits = DEFAULT_LIMITS) -> FieldTests:
    """Read and validate a field-test file of one audit round.

    Parameters
    ----------
    path : str or Path
        ``.csv`` (UTF-8, UTF-8 with BOM, GBK ...), ``.xlsx`` or ``.json`` (an array of objects, an
        object holding one under ``tests``/``records``/``results``/``data``, or a GeoJSON
        FeatureCollection of points).
    round_number : int, keyword-only
        The round the tests belong to (named in messages).
    villages : pandas.DataFrame
        The round's sample list (main and reserve villages): ``code, name, point_lon, point_lat``.
    known_codes : collection of str
        Every village code in the database: a code outside it is reported as unknown, a known
        code outside ``villages`` as "not in this round".
    crs : optional
        CRS of the test points (``"gcj02"`` for coordinates copied from Chinese map apps); WGS84
        by default.
    encoding, sheet : str, optional
        Text encoding of a CSV file; worksheet of a workbook (default: the first).
    now : datetime, optional
        The present (naive Asia/Shanghai), for the "test in the future" check.
    limits : Limits, optional
        Rows and archive sizes the file may have, checked before it is parsed.

    Returns
    -------
    FieldTests

    Raises
    ------
    ValidationError
        Every problem found (file, 1-based data row, field, message); nothing is returned.
    """
    path = Path(path)
    file = path.name
    source = crs_mod.resolve_crs(crs if crs not in (None, "") else "EPSG:4326")
    check_encoding(encoding)
    if not path.exists():
        raise file_error(file, bi("文件不存在", "file not found"))
    suffix = path.suffix.lower()
    if suffix not in _READERS:
        raise file_error(file, bi(f"不支持的文件类型 {suffix or '(no extension)'!r}；应为 .csv、.xlsx 或 .json",
                                  f"unsupported file type {suffix or '(no extension)'!r}; use .csv, .xlsx or .json"))
    if path.stat().st_size == 0:
        raise file_error(file, bi("文件为空", "file is empty"))
    sha = fingerprint(path)
    reader = _READERS[suffix]
    if reader == "csv":
        head = csv_head(path, file, encoding)
        if head is not None:  # a missing column is reported before the whole file is parsed
            _Checker(file, head, source, round_number, villages, known_codes, dt.datetime(2000, 1, 1))._map_headers()
        table = read_csv_table(path, file, encoding, limits)
    elif reader == "xlsx":
        table = read_xlsx_table(path, file, "measurements", sheet, limits)
    else:
        table = _read_json(path, file)
    checker = _Checker(file, table, source, round_number, villages, known_codes,
                       now or dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(hours=8))
    frame = checker.run()
    return FieldTests(frame=frame, warnings=checker.warnings, file_name=file, file_sha256=sha, crs=source.name)


def _read_json(path: Path, file: str) -> Table:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError:
        raise file_error(file, bi("JSON 文件应为 UTF-8 编码", "JSON must be UTF-8")) from None
    except ValueError as exc:
        raise file_error(file, bi(f"不是有效的 JSON：{exc}", f"not valid JSON: {exc}")) from None
    records: Any = data
    if isinstance(data, dict):
        if data.get("type") == "FeatureCollection":
            records = [_feature_record(f) for f in data.get("features") or []]
        else:
            records = next((data[k] for k in ("tests", "records", "results", "data", "items")
                            if isinstance(data.get(k), list)), None)
    if not isinstance(records, list) or not records:
        raise file_error(file, bi("应为非空的测试记录数组（或带 'tests' 数组的对象，或 GeoJSON FeatureCollection）",
                                  "expected a non-empty array of test objects (or an object with a 'tests' array, "
                                  "or a GeoJSON FeatureCollection)"))
    header: list[str] = []
    seen: set[str] = set()
    problems = []
    for i, rec in enumerate(records, start=1):
        if not isinstance(rec, dict):
            problems.append(Problem(file, i, None, bi(f"第 {i} 条测试记录不是对象", f"test {i} is not an object")))
            continue
        for key in rec:
            if key not in seen:
                seen.add(key)
                header.append(str(key))
    if problems:
        raise ValidationError(problems)
    body = [[_json_cell(rec.get(h)) for h in header] for rec in records]
    return grid_to_table(file, header, body, encoding="utf-8")


def _json_cell(value: Any) -> Any:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else value


def _feature_record(feature: Any) -> dict[str, Any]:
    if not isinstance(feature, dict):
        return {}
    props = dict(feature.get("properties") or {})
    geom = feature.get("geometry") or {}
    coords = geom.get("coordinates") if isinstance(geom, dict) and geom.get("type") == "Point" else None
    has_xy = any(_alias_of(k) in ("lon", "lat") for k in props)
    if coords and not has_xy and len(coords) >= 2:
        props["lon"], props["lat"] = coords[0], coords[1]
    return props


_ALIASES: dict[str, str] = {}
for _col in FIELD_TEST_COLUMNS:
    for _name in (_col.name, *_col.aliases):
        _ALIASES[norm_key(_name)] = _col.name


def _alias_of(header: str) -> str | None:
    return _ALIASES.get(split_unit(str(header))[0])


class _Checker:
    """Interprets a table of field tests; collects every problem, then builds the frame."""

    def __init__(self, file: str, table: Table, source: crs_mod.CrsSpec, round_number: int,
                 villages: pd.DataFrame, known_codes: Collection[str], now: dt.datetime) -> None:
        self.file = file
        self.table = table
        self.source = source
        self.round = round_number
        self.n = table.n
        self.rows = table.rows
        self.problems: list[Problem] = []
        self.headers: dict[str, str] = {}
        self.index: dict[str, int] = {}
        self.values: dict[str, Any] = {}
        self.listed = {str(c): i for i, c in enumerate(villages["code"].astype(str))}
        self.list_names = villages["name"].astype(object).tolist()
        self.list_lon = villages["point_lon"].to_numpy(float)
        self.list_lat = villages["point_lat"].to_numpy(float)
        self.known = known_codes if isinstance(known_codes, set | frozenset) else set(known_codes)
        self.now = now

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    def error(self, i: int | None, column: str | None, message: str) -> None:
        row = int(self.rows[i]) if i is not None else None
        self.problems.append(Problem(self.file, row, self.headers.get(column or "", column), message))

    def warn(self, i: int | None, column: str | None, message: str) -> None:
        row = int(self.rows[i]) if i is not None else None
        self.problems.append(Problem(self.file, row, self.headers.get(column or "", column), message,
                                     severity="warning"))

    def run(self) -> gpd.GeoDataFrame:
        self._map_headers()
        self._convert()
        self._row_checks()
        geometry = self._points()
        errors = [p for p in self.problems if p.severity == "error"]
        if errors:
            order = {h: j for j, h in enumerate(self.table.headers)}
            errors.sort(key=lambda p: (p.row is not None, p.row or 0, order.get(p.field or "", len(order))))
            raise ValidationError(errors)
        return tests_frame(self.values, geometry)

    def _map_headers(self) -> None:
        ignored = []
        for j, header in enumerate(self.table.headers):
            key, unit = split_unit(header)
            name = _ALIASES.get(key)
            if name is None:
                if not (header.startswith("(column ") and all(is_missing(v) for v in self.table.columns[j])):
                    ignored.append(header)
                continue
            allowed = _UNITS.get(name)
            if unit is not None and allowed is not None and unit not in allowed:
                self.problems.append(Problem(self.file, None, header, bi(
                    f"{column_zh(name)}不支持单位 {unit!r}；请用 " + " 或 ".join(sorted(allowed)),
                    f"unit {unit!r} is not supported for {name}; use " + " or ".join(sorted(allowed)))))
            if name in self.index:
                self.problems.append(Problem(self.file, None, header, bi(
                    f"列 {self.headers[name]!r} 和 {header!r} 都对应{column_zh(name)}（{name}）；请保留其中一列",
                    f"columns {self.headers[name]!r} and {header!r} both map to {name}; keep one of them")))
                continue
            self.index[name] = j
            self.headers[name] = header
        for column in FIELD_TEST_COLUMNS:
            if column.required and column.name not in self.index:
                accepted = ", ".join([column.name, *column.aliases])
                self.problems.append(Problem(self.file, None, column.name, missing_column(
                    column.name, f"missing required column {column.name!r} (accepted headers: {accepted})")))
        if ignored:
            self.problems.append(Problem(self.file, None, None, bi(
                "已忽略不在现场测试数据规范中的列：" + "、".join(ignored),
                "ignored columns not in the field-test contract: " + ", ".join(ignored)), severity="warning"))
        if any(p.severity == "error" for p in self.problems):
            raise ValidationError(self.problems)

    def _raw(self, name: str) -> np.ndarray:
        if name not in self.index:
            return np.full(self.n, None, dtype=object)
        return self.table.columns[self.index[name]]

    def _convert(self) -> None:
        for column in FIELD_TEST_COLUMNS:
            raw = self._raw(column.name)
            if column.dtype == "str":
                self.values[column.name] = [cell_text(v) for v in raw]
            elif column.dtype == "float":
                numbers, errors = parse_floats(raw, dms=column.name in ("lon", "lat"))
                for i, message in errors.items():
                    self.error(i, column.name, message)
                self.values[column.name] = numbers
            else:
                parsed, errors = parse_dates(raw, with_time=True)
                for i, message in errors.items():
                    self.error(i, column.name, message)
                self.values[column.name] = parsed
        for name in ("rsrp_dbm", "sinr_db", "dl_mbps", "ul_mbps"):
            lo, hi, unit = RANGES[name]
            values = self.values[name]
            with np.errstate(invalid="ignore"):
                outside = np.isfinite(values) & ((values < lo) | (values > hi))
            for i in np.flatnonzero(outside).tolist():
                bound = f"at least {lo:g}" if math.isinf(hi) else f"{lo:g} to {hi:g}"
                self.error(i, name, out_of_range(
                    f"{values[i]:g}", f"{lo:g}", None if math.isinf(hi) else f"{hi:g}", unit,
                    f"{values[i]:g} is out of range: {name} must be {bound} {unit}", what=column_zh(name)))
                values[i] = np.nan

    def _row_checks(self) -> None:
        v = self.values
        raw = {name: self._raw(name) for name in ("rsrp_dbm", "sinr_db", "dl_mbps", "ul_mbps", "tested_at")}
        operators = []
        bands: list[str | None] = []
        seen: dict[tuple[Any, ...], int] = {}
        for i in range(self.n):
            code = v["village_code"][i]
            if code is None:
                self.error(i, "village_code", missing_value("village_code", "missing village code"))
            elif not (len(code) == 12 and code.isdigit()):
                self.error(i, "village_code", bi(f"行政村代码 {show_value(code)} 不是 12 位统计用区划代码",
                                                 f"village code {show_value(code)} is not a 12-digit NBS code"))
            elif code not in self.listed:
                if code in self.known:
                    self.error(i, "village_code", bi(
                        f"行政村 {code} 不在第 {self.round} 轮审核中（既不在抽样名单上，也不是备选）",
                        f"village {code} is not in round {self.round} (neither on its list nor a reserve)"))
                else:
                    self.error(i, "village_code", bi(f"未知的行政村代码 {code}：没有存储这个行政村",
                                                     f"unknown village code {code}: no such village is stored"))
            elif v["village_name"][i] is not None:
                listed = self.list_names[self.listed[code]]
                given = str(v["village_name"][i])
                if isinstance(listed, str) and given not in listed and listed not in given:
                    self.warn(i, "village_name", bi(f"村名 {given!r} 与名单上 {code} 的 {listed!r} 不同",
                                                    f"name {given!r} differs from the listed {listed!r} for {code}"))
            stamp = v["tested_at"][i]
            if stamp is None and is_missing(raw["tested_at"][i]):
                self.error(i, "tested_at", bi("缺少测试时间", "missing test time"))
            elif isinstance(stamp, dt.datetime) and stamp > self.now + dt.timedelta(days=1):
                self.error(i, "tested_at", bi(f"测试时间 {stamp:%Y-%m-%d %H:%M} 在未来",
                                              f"test time {stamp:%Y-%m-%d %H:%M} is in the future"))
            op_text = v["operator"][i]
            op: str | None = None
            if op_text is None:
                self.error(i, "operator", missing_value("operator"))
            else:
                found = normalize_operator(op_text)
                if isinstance(found, str):
                    op = found
                elif isinstance(found, tuple) and found:
                    self.error(i, "operator", bi(f"{op_text!r} 包含多个运营商（{'、'.join(found)}）；"
                                                 "请每个运营商记一行",
                                                 f"{op_text!r} names several operators ({', '.join(found)}); "
                                                 "record one row per operator"))
                else:
                    self.error(i, "operator", unknown_value(
                        "运营商", repr(op_text), "、".join(accepted_values(OPERATORS)),
                        f"unknown operator {op_text!r}; use one of " + ", ".join(accepted_values(OPERATORS))))
            operators.append(op)
            band_text = v["band"][i]
            band = normalize_band(band_text) if band_text is not None else None
            if band_text is not None and band is None:
                self.error(i, "band", unknown_value(
                    "频段", repr(band_text), f"频段名称（{'、'.join(BANDS)}）或以 MHz 为单位的频率",
                    f"unknown band {band_text!r}; use a band name ({', '.join(BANDS)}) or a frequency in MHz"))
            bands.append(band)
            no_service = is_missing(raw["rsrp_dbm"][i])
            if no_service:
                if not is_missing(raw["sinr_db"][i]):
                    self.error(i, "sinr_db", bi("有 SS-SINR 却没有 SS-RSRP；无服务时两者都留空",
                                                "SS-SINR given without SS-RSRP; leave both empty for no service"))
                for name in ("dl_mbps", "ul_mbps"):
                    if is_missing(raw[name][i]):
                        v[name][i] = 0.0  # no service: no throughput
            else:
                for name, what in (("sinr_db", "SS-SINR"), ("dl_mbps", "download rate"),
                                   ("ul_mbps", "upload rate")):
                    if is_missing(raw[name][i]):
                        self.error(i, name, bi(f"缺少{column_zh(name)}（只有无 5G 服务、SS-RSRP 为空的测试可以留空）",
                                               f"missing {what} (only a test without 5G service, with empty "
                                               "SS-RSRP, may leave it empty)"))
            if v["tester"][i] is None:
                self.error(i, "tester", missing_value("tester"))
            if code is not None and op is not None and isinstance(stamp, dt.datetime):
                key = (code, stamp, op)
                if key in seen:
                    rows = (self.rows[seen[key]], self.rows[i])
                    self.error(i, "tested_at", duplicate(
                        "测试记录", f"{code}，{op}，{stamp:%Y-%m-%d %H:%M:%S}", f"{rows[0]} 和 {rows[1]}",
                        f"duplicate test of {code} by {op} at {stamp:%Y-%m-%d %H:%M:%S}: rows {rows[0]} and {rows[1]}"))
                else:
                    seen[key] = i
        v["operator"] = operators
        v["band"] = bands

    def _points(self) -> np.ndarray:
        x = np.asarray(self.values["lon"], dtype=float)
        y = np.asarray(self.values["lat"], dtype=float)
        raw_lon, raw_lat = self._raw("lon"), self._raw("lat")
        for i in range(self.n):
            if is_missing(raw_lon[i]):
                self.error(i, "lon", bi("缺少测试点经度", "missing longitude of the test point"))
            if is_missing(raw_lat[i]):
                self.error(i, "lat", bi("缺少测试点纬度", "missing latitude of the test point"))
        ok = np.isfinite(x) & np.isfinite(y)
        swapped = ok & crs_mod.in_china(y, x) & ~crs_mod.in_china(x, y)
        where = f"{self.headers['lon']}/{self.headers['lat']}"
        for i in np.flatnonzero(swapped).tolist():
            self.problems.append(Problem(self.file, int(self.rows[i]), where,
                                         bi(f"经度 {x[i]:g} 和纬度 {y[i]:g} 疑似颠倒；请交换这两列",
                                            f"longitude {x[i]:g} and latitude {y[i]:g} look swapped; "
                                            "swap the columns")))
        ok &= ~swapped
        lon = np.full(self.n, np.nan)
        lat = np.full(self.n, np.nan)
        if ok.any():
            lon[ok], lat[ok] = crs_mod.transform_xy(x[ok], y[ok], self.source)
        inside = crs_mod.in_china(lon, lat)
        for i in np.flatnonzero(ok & ~inside).tolist():
            self.problems.append(Problem(self.file, int(self.rows[i]), where,
                                         outside_china(f"测试点 ({x[i]:g}, {y[i]:g})",
                                                       f"point ({x[i]:g}, {y[i]:g}) is outside China")))
        lon[~inside], lat[~inside] = np.nan, np.nan
        self._distances(lon, lat, where)
        self.values["lon"], self.values["lat"] = np.round(lon, 7), np.round(lat, 7)
        out = np.empty(self.n, dtype=object)
        good = np.isfinite(lon) & np.isfinite(lat)
        out[good] = shapely.points(lon[good], lat[good])
        return out

    def _distances(self, lon: np.ndarray, lat: np.ndarray, where: str) -> None:
        codes = self.values["village_code"]
        idx = np.array([self.listed.get(c, -1) if c is not None else -1 for c in codes], dtype=np.int64)
        ok = (idx >= 0) & np.isfinite(lon)
        if not ok.any():
            return
        ref_lon, ref_lat = self.list_lon[idx[ok]], self.list_lat[idx[ok]]
        metric = crs_mod.local_metric_crs((float(np.nanmin(lon[ok])), float(np.nanmin(lat[ok])),
                                           float(np.nanmax(lon[ok])), float(np.nanmax(lat[ok]))))
        tx, ty = crs_mod.project_xy(lon[ok], lat[ok], metric)
        rx, ry = crs_mod.project_xy(ref_lon, ref_lat, metric)
        dist = np.hypot(tx - rx, ty - ry)
        for i, d in zip(np.flatnonzero(ok).tolist(), dist.tolist(), strict=True):
            if not math.isfinite(d):
                continue
            code = codes[i]
            if d > TEST_POINT_MAX_M:
                self.problems.append(Problem(
                    self.file, int(self.rows[i]), where,
                    bi(f"测试点距 {code} 的村委会位置 {d / 1000:.1f} 公里（最多 {TEST_POINT_MAX_M / 1000:g} 公里）："
                       "行政村代码或坐标有误",
                       f"test point is {d / 1000:.1f} km from the committee point of {code} (at most "
                       f"{TEST_POINT_MAX_M / 1000:g} km): wrong village code or coordinates")))
            elif d > TEST_POINT_WARN_M:
                self.problems.append(Problem(
                    self.file, int(self.rows[i]), where,
                    bi(f"测试点距 {code} 的村委会位置 {d:.0f} 米", f"test point is {d:.0f} m from the committee point "
                       f"of {code}"), severity="warning"))
