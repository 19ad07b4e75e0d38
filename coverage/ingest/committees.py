"""Village-committee (村委会) points from a separate file, joined to the stored villages.

Boundaries and committee points often come from different sources: a county's boundary layer with
its own codes, and an NBS list of committee points (GCJ-02 from a web map, columns such as
``adcode``, ``village`` and a telephone ``area_code``). :func:`read_committees` reads such a file
(its own CRS), :func:`match_committees` joins each point to a stored village by its 12-digit code,
else by its normalised name (:func:`normalize_village_name`: 村委会/村民委员会/社区居委会/村
suffixes, county and town prefixes and bracketed notes such as (新)/(旧) removed), narrowed by the
township or county named in the file. Nothing is guessed: a name that fits several villages is
*ambiguous*, one that fits none *unmatched*, and both are listed in the report.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import update

from coverage import crs as crs_mod
from coverage.errors import Problem, ValidationError
from coverage.ingest.headers import split_unit
from coverage.ingest.mapping import IGNORE, ColumnMapping, split_target
from coverage.ingest.messages import bi, column_zh, missing_column, outside_china
from coverage.ingest.readers import SUPPORTED_SUFFIXES, check_encoding, read_table
from coverage.ingest.values import cell_text, norm_key, parse_floats
from coverage.limits import DEFAULT_LIMITS, Limits
from coverage.store.storage import Store
from coverage.store.tables import ingests
from coverage.store.tables import villages as villages_table

__all__ = ["CommitteeMatch", "CommitteeReport", "match_committees", "normalize_village_name", "read_committees",
           "report_frame", "store_committee_points"]

#: Header names of a committee-point file (compared like all headers: case, spaces, _ and - ignored).
COMMITTEE_HEADERS: dict[str, tuple[str, ...]] = {
    "code": ("code", "adcode", "村代码", "区划代码", "统计用区划代码", "行政区划代码", "村编码", "village_code"),
    "name": ("name", "village", "村名", "村名称", "村委会", "村委会名称", "行政村", "行政村名称", "village_name"),
    "township_name": ("township_name", "乡镇", "乡镇名称", "乡镇街道", "town", "township", "street"),
    "county_name": ("county_name", "区县", "县区", "区县名称", "county", "district"),
    "lon": ("lon", "经度", "lng", "longitude", "x", "村委会经度"),
    "lat": ("lat", "纬度", "latitude", "y", "村委会纬度"),
}
#: Headers that look like codes but are not division codes (a telephone area code, a postcode):
#: named in the report instead of being taken for a county.
NOT_DIVISION_CODES = ("area_code", "areacode", "区号", "电话区号", "postcode", "邮编", "zip")

_SUFFIXES = ("社区居民委员会", "村民委员会", "居民委员会", "社区居委会", "村委会", "居委会", "委员会", "社区", "村")
_BRACKETS = re.compile(r"[(（\[【][^)）\]】]*[)）\]】]")


def normalize_village_name(name: object, *, prefixes: tuple[str, ...] = ()) -> str:
    """The comparable core of a village name: NFKC, no spaces, no bracketed notes ((新), (旧)),
    no leading ``prefixes`` (the county's and township's names, with or without 县/区/镇/乡/街道),
    no trailing 社区居民委员会/村民委员会/村委会/居委会/社区/村."""
    if not isinstance(name, str):
        return ""
    text = re.sub(r"\s+", "", unicodedata.normalize("NFKC", name))
    text = _BRACKETS.sub("", text)
    forms = sorted({f for p in prefixes if p for f in (p, re.sub(r"(县|区|市|镇|乡|街道|街道办事处)$", "", p)) if f},
                   key=len, reverse=True)
    stripped = True
    while stripped:  # 江都区大桥镇甲村: the county's name, then the township's
        stripped = False
        for form in forms:
            if text.startswith(form) and len(text) > len(form):
                text = text[len(form):]
                stripped = True
                break
    stripped = True
    while stripped:  # 甲村村委会 -> 甲村 -> 甲, as 甲村 -> 甲
        stripped = False
        for suffix in _SUFFIXES:
            if text.endswith(suffix) and len(text) > len(suffix):
                text = text[: -len(suffix)]
                stripped = True
                break
    return text


@dataclass(frozen=True)
class CommitteeMatch:
    """One row of the file and what it was joined to."""

    row: int
    code: str | None
    name: str | None
    lon: float
    lat: float
    status: str  # "code", "name", "ambiguous", "unmatched", "far" (a name match too far away)
    village_code: str | None
    candidates: tuple[str, ...] = ()
    outside_m: float = float("nan")  # metres from the point to the matched village polygon (0 inside)


@dataclass
class CommitteeReport:
    """The join: one :class:`CommitteeMatch` per row, and the file's notes."""

    file_name: str
    matches: list[CommitteeMatch]
    warnings: list[Problem]

    def count(self, status: str) -> int:
        return sum(1 for m in self.matches if m.status == status)

    @property
    def matched(self) -> list[CommitteeMatch]:
        return [m for m in self.matches if m.status in ("code", "name")]

    def summary(self) -> str:
        """How the rows were joined, in English: ``3 matched by code, 1 by name, 0 ambiguous, 1 unmatched``
        (and the rows named like a village too far from it, when there are any)."""
        text = (f"{self.count('code')} matched by code, {self.count('name')} by name, "
                f"{self.count('ambiguous')} ambiguous, {self.count('unmatched')} unmatched")
        far = self.count("far")
        return text + (f", {far} named like a village more than {MAX_OUTSIDE_M / 1000:g} km away" if far else "")

    def summary_zh(self) -> str:
        """:meth:`summary` in Chinese: ``按代码匹配 3，按名称匹配 1，不唯一 0，未匹配 1``."""
        text = (f"按代码匹配 {self.count('code')}，按名称匹配 {self.count('name')}，"
                f"不唯一 {self.count('ambiguous')}，未匹配 {self.count('unmatched')}")
        far = self.count("far")
        return text + (f"，名称相符但相距 {MAX_OUTSIDE_M / 1000:g} 公里以上 {far}" if far else "")


def read_committees(path: str | Path, *, crs: object = None, encoding: str | None = None, layer: str | None = None,
                    mapping: ColumnMapping | None = None, limits: Limits = DEFAULT_LIMITS,
                    ) -> tuple[pd.DataFrame, list[Problem]]:
    """Committee points of a file: a frame of ``row, code, name, township_name, county_name, lon,
    lat`` (WGS84) and warnings; :class:`ValidationError` naming file, row and field otherwise."""
    path = Path(path)
    file = path.name
    mapping = mapping or ColumnMapping()
    crs = crs if crs not in (None, "") else mapping.crs
    check_encoding(encoding or mapping.encoding)
    if not path.is_file():
        raise ValidationError([Problem(file, None, None, bi("文件不存在", "file not found"))])
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        raise ValidationError([Problem(file, None, None, bi(f"不支持的文件类型 {path.suffix!r}",
                                                            f"unsupported file type {path.suffix!r}"))])
    table = read_table("villages", path, file, encoding=encoding or mapping.encoding, layer=layer or mapping.layer,
                        limits=limits)
    source = crs_mod.resolve_crs(crs) if crs not in (None, "") else (
        crs_mod.resolve_crs(table.file_crs) if table.file_crs is not None else crs_mod.resolve_crs("EPSG:4326"))
    index = {norm_key(a): column for column, aliases in COMMITTEE_HEADERS.items() for a in aliases}
    renames = {norm_key(h): split_target(t)[0] for h, t in mapping.rename.items()}
    found: dict[str, int] = {}
    problems: list[Problem] = []
    warnings: list[Problem] = []
    for i, header in enumerate(table.headers):
        key = split_unit(header)[0]
        column = renames.get(norm_key(header)) or renames.get(key) or index.get(key)
        if column == IGNORE or column is None:
            if key in {norm_key(n) for n in NOT_DIVISION_CODES}:
                warnings.append(Problem(file, None, header, bi(
                    f"{header!r} 不是区划代码（是电话区号或邮政编码）：未使用",
                    f"{header!r} is not a division code (a telephone area code or postcode): not used"),
                    severity="warning"))
            continue
        if column in found:
            first = table.headers[found[column]]
            problems.append(Problem(file, None, header, bi(
                f"列 {first!r} 和 {header!r} 都对应{column_zh(column)}（{column}）；请保留其中一列",
                f"columns {first!r} and {header!r} both map to {column}; keep one of them")))
            continue
        found[column] = i
    if "code" not in found and "name" not in found:
        accepted = COMMITTEE_HEADERS["code"] + COMMITTEE_HEADERS["name"]
        problems.append(Problem(file, None, None, bi(
            "缺少行政村代码列或名称列：可用的列名为 " + "、".join(accepted),
            "no code or name column: accepted headers " + ", ".join(accepted))))
    n = table.n
    x = np.full(n, np.nan)
    y = np.full(n, np.nan)
    if table.geometry is not None:
        for i, geom in enumerate(table.geometry):
            if geom is not None and geom.geom_type == "Point":
                x[i], y[i] = geom.x, geom.y
    else:
        for name, target in (("lon", x), ("lat", y)):
            if name not in found:
                problems.append(Problem(file, None, name, missing_column(name, f"missing required column {name!r}")))
                continue
            values, errors = parse_floats(table.columns[found[name]], dms=True)
            target[:] = values
            for i, message in errors.items():
                problems.append(Problem(file, int(table.rows[i]), table.headers[found[name]], message))
    ok = np.isfinite(x) & np.isfinite(y)
    lon, lat = np.full(n, np.nan), np.full(n, np.nan)
    if ok.any():
        lon[ok], lat[ok] = crs_mod.transform_xy(x[ok], y[ok], source)
    for i in np.flatnonzero(~ok).tolist():
        problems.append(Problem(file, int(table.rows[i]), "lon/lat", bi(
            "缺少村委会位置或无法读取", "missing or unreadable committee point")))
    for i in np.flatnonzero(ok & ~crs_mod.in_china(lon, lat)).tolist():
        problems.append(Problem(file, int(table.rows[i]), "lon/lat",
                                outside_china(f"点 ({x[i]:g}, {y[i]:g})",
                                              f"point ({x[i]:g}, {y[i]:g}) is outside China; "
                                              f"check the CRS ({source.name})", f"；请检查坐标系（{source.name}）")))
    if problems:
        raise ValidationError(problems)

    def texts(column: str) -> list[str | None]:
        if column not in found:
            return [None] * n
        return [cell_text(v) for v in table.columns[found[column]]]

    codes = [re.sub(r"\.0+$", "", c) if c else None for c in texts("code")]
    frame = pd.DataFrame({"row": table.rows, "code": codes, "name": texts("name"),
                          "township_name": texts("township_name"), "county_name": texts("county_name"),
                          "lon": lon, "lat": lat})
    return frame, warnings


def match_committees(points: pd.DataFrame, villages: pd.DataFrame, *, file_name: str = "",
                     warnings: list[Problem] | None = None) -> CommitteeReport:
    """Join committee points to ``villages`` (``code``, ``name``, ``township_name``,
    ``county_name``): by a 12-digit code that is stored, else by normalised name, narrowed by the
    township and county named in the file; ambiguous and unmatched rows are reported, never joined."""
    stored = villages.reset_index(drop=True)
    known = set(stored["code"].astype(str))
    position = {str(c): i for i, c in enumerate(stored["code"])}
    # the same prefixes on both sides: every stored county, township and city name
    places = tuple(sorted({str(v) for column in ("city_name", "county_name", "township_name") if column in stored
                           for v in stored[column].dropna().unique()}))
    cores = [normalize_village_name(n, prefixes=places) for n in stored["name"]]
    by_core: dict[str, list[int]] = {}
    for i, core in enumerate(cores):
        by_core.setdefault(core, []).append(i)
    out: list[CommitteeMatch] = []
    for rec in points.to_dict("records"):
        base: dict[str, Any] = {"row": int(rec["row"]), "code": rec["code"], "name": rec["name"],
                                "lon": float(rec["lon"]), "lat": float(rec["lat"])}
        code = rec["code"]
        if isinstance(code, str) and re.fullmatch(r"\d{12}", code) and code in known:
            out.append(CommitteeMatch(**base, status="code", village_code=code,
                                      outside_m=_outside_m(stored, position[code], base["lon"], base["lat"])))
            continue
        own = tuple(str(v) for v in (rec.get("county_name"), rec.get("township_name")) if isinstance(v, str))
        core = normalize_village_name(rec["name"], prefixes=places + own)
        candidates = by_core.get(core, []) if core else []
        for column in ("township_name", "county_name"):
            wanted = rec.get(column)
            if len(candidates) > 1 and isinstance(wanted, str) and column in stored:
                narrowed = [i for i in candidates if isinstance(stored.at[i, column], str)
                            and _same_place(str(stored.at[i, column]), wanted)]
                candidates = narrowed or candidates
        if len(candidates) == 1:
            distance = _outside_m(stored, candidates[0], base["lon"], base["lat"])
            if distance > MAX_OUTSIDE_M:  # a namesake elsewhere, not this village's committee
                out.append(CommitteeMatch(**base, status="far", village_code=None,
                                          candidates=(str(stored.at[candidates[0], "code"]),),
                                          outside_m=distance))
                continue
            out.append(CommitteeMatch(**base, status="name", village_code=str(stored.at[candidates[0], "code"]),
                                      outside_m=distance))
        elif candidates:
            out.append(CommitteeMatch(**base, status="ambiguous", village_code=None,
                                      candidates=tuple(str(stored.at[i, "code"]) for i in candidates)))
        else:
            out.append(CommitteeMatch(**base, status="unmatched", village_code=None))
    return CommitteeReport(file_name, out, list(warnings or []))


#: A name match whose point lies farther than this outside the village's polygon is not joined
#: (status ``far``): a namesake elsewhere. A code match is joined and the distance reported.
MAX_OUTSIDE_M = 1000.0


def _outside_m(stored: pd.DataFrame, i: int, lon: float, lat: float) -> float:
    """Metres from (lon, lat) to the polygon of stored village ``i`` (0 inside; NaN without one)."""
    geometry = stored.geometry.iloc[i] if isinstance(stored, gpd.GeoDataFrame) else None
    if geometry is None or geometry.is_empty:
        return float("nan")
    metric = crs_mod.local_metric_crs(geometry.bounds)
    point = gpd.GeoSeries([shapely.Point(lon, lat)], crs=crs_mod.WGS84).to_crs(metric)
    polygon = gpd.GeoSeries([geometry], crs=crs_mod.WGS84).to_crs(metric)
    return float(point.distance(polygon, align=False).iloc[0])


def _same_place(a: str, b: str) -> bool:
    def core(text: str) -> str:
        return re.sub(r"(县|区|市|镇|乡|街道|街道办事处)$", "", unicodedata.normalize("NFKC", text).strip())
    return core(a) == core(b)


def store_committee_points(store: Store, report: CommitteeReport, *, sha256: str, crs: str) -> int:
    """Set the committee point of every matched village, in one transaction with its ingest record;
    returns the number of villages updated. Two rows matched to one village reject the whole file."""
    matched = report.matched
    seen: dict[str, int] = {}
    problems = []
    for m in matched:
        if m.village_code in seen:
            problems.append(Problem(report.file_name, m.row, None, bi(
                f"行政村 {m.village_code} 同时匹配到第 {seen[m.village_code]} 和 {m.row} 行；"
                "每个行政村只保留一个村委会位置",
                f"village {m.village_code} is matched by rows "
                f"{seen[m.village_code]} and {m.row}; keep one committee point per village")))
        else:
            seen[str(m.village_code)] = m.row
    if problems:
        raise ValidationError(problems)
    with store.engine.begin() as conn:
        for m in matched:
            conn.execute(update(villages_table).where(villages_table.c.code == m.village_code)
                         .values(committee_lon=m.lon, committee_lat=m.lat))
        conn.execute(ingests.insert().values(
            kind="committees", file_name=report.file_name, sha256=sha256, rows=len(matched), mode="update",
            crs=crs, encoding=None, warnings=len(report.warnings) + len(report.matches) - len(matched),
            created_at=dt.datetime.now(dt.UTC).replace(tzinfo=None)))
    return len(matched)


def report_frame(report: CommitteeReport) -> pd.DataFrame:
    """The report as a table with Chinese headers (行号, 代码, 名称, 结果, 匹配村代码, 候选)."""
    labels = {"code": "按代码匹配", "name": "按名称匹配", "ambiguous": "名称不唯一", "unmatched": "未匹配",
              "far": "同名村距离过远"}
    return pd.DataFrame({
        "行号": [m.row for m in report.matches], "代码": [m.code for m in report.matches],
        "名称": [m.name for m in report.matches], "结果": [labels[m.status] for m in report.matches],
        "匹配村代码": [m.village_code for m in report.matches],
        "候选": [";".join(m.candidates) for m in report.matches]})
