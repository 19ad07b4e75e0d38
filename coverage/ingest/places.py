"""Validation of places: point coordinates of stations and measurements (file geometry, WKT or
lon/lat, swapped or projected coordinates, transformation to WGS84) and village polygons, codes
and committee points.
"""

from __future__ import annotations

import math
import re
import unicodedata
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from numpy.typing import NDArray

from coverage import crs as crs_mod
from coverage.errors import Problem
from coverage.ingest.messages import KIND_ZH, bi, column_zh, missing_value, outside_china
from coverage.ingest.validation import ValidatorBase
from coverage.ingest.values import cell_text, is_missing
from coverage.schema import (
    is_village_committee,
    name_says_urban,
)

__all__ = [
    "COMMITTEE_MAX_OUTSIDE_M",
    "PlaceChecks",
]

#: Village committee point farther than this outside its polygon is reported (metres).
COMMITTEE_MAX_OUTSIDE_M = 1000.0

#: Division levels above the village: name of the code column and its number of digits.
_LEVELS = (("township_code", 9), ("county_code", 6), ("city_code", 4), ("province_code", 2))
_SCI_RE = re.compile(r"^[+-]?\d(?:\.\d+)?[eE][+-]?\d+$")


class PlaceChecks(ValidatorBase):
    """The checks of coordinates, polygons and division codes."""

    def point_geometry(self) -> NDArray[np.object_]:
        """Points of stations or measurements in WGS84, from the file's geometry or lon/lat."""
        x = np.asarray(self.values.get("lon", np.full(self.n, np.nan)), dtype=np.float64)
        y = np.asarray(self.values.get("lat", np.full(self.n, np.nan)), dtype=np.float64)
        lon_header, lat_header = self.header("lon"), self.header("lat")
        # rows whose coordinates could not be read (reported already) or are missing
        unreadable = np.zeros(self.n, dtype=bool)
        missing = {name: np.ones(self.n, dtype=bool) for name in ("lon", "lat")}
        for name, values in (("lon", x), ("lat", y)):
            if name in self.matches:
                missing[name] = self.raw_missing(name)
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
                        self.error(i, "geometry", bi("缺少几何，也没有经纬度", "missing geometry and no lon/lat"))
                        unreadable[i] = True
                    continue
                if shapely.get_type_id(geom) == 4 and shapely.get_num_geometries(geom) == 1:
                    geom = shapely.get_geometry(geom, 0)
                if shapely.get_type_id(geom) != 0:
                    self.error(i, "geometry", bi(f"几何类型为 {geom.geom_type}；{KIND_ZH[self.kind]}需要点",
                                                 f"geometry is a {geom.geom_type}; {self.kind} need points"))
                    unreadable[i] = True
                    continue
                x[i], y[i] = shapely.get_x(geom), shapely.get_y(geom)
                unreadable[i] = False
                missing["lon"][i] = missing["lat"][i] = False
            lon_header = lat_header = "geometry"
        else:
            for i in np.flatnonzero(missing["lon"] & ("lon" in self.matches)).tolist():
                self.error(int(i), lon_header, missing_value("lon", "missing longitude"))
            for i in np.flatnonzero(missing["lat"] & ("lat" in self.matches)).tolist():
                self.error(int(i), lat_header, missing_value("lat", "missing latitude"))
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
            text = cell_text(cell)
            if text is None:
                continue
            text = re.sub(r"^SRID=\d+;", "", text, flags=re.IGNORECASE)
            try:
                geom = shapely.from_wkt(text)
            except shapely.errors.GEOSException as exc:
                reason = str(exc).splitlines()[0]
                self.error(i, header, bi(f"不是有效的 WKT 几何：{reason}", f"not valid WKT geometry: {reason}"))
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
                self.projected_problem(f"x={x[i]:g}, y={y[i]:g} in row {self.rows[i]}")
                return np.full(self.n, np.nan), np.full(self.n, np.nan)
            if swapped.sum() >= 2 and swapped.sum() >= 0.5 * ok.sum():
                self.problems.append(Problem(
                    self.file, None, f"{lon_header}/{lat_header}",
                    bi(f"{int(ok.sum())} 行中有 {int(swapped.sum())} 行的经度和纬度疑似颠倒；请交换这两列"
                       "（中国境内经度约 73-135，纬度 4-54）",
                       f"longitude and latitude look swapped in {int(swapped.sum())} of {int(ok.sum())} rows; "
                       "swap the two columns (longitude is about 73-135 in China, latitude 4-54)")))
            for i in np.flatnonzero(swapped).tolist():
                self.error(int(i), f"{lon_header}/{lat_header}",
                           bi(f"经度 {x[i]:g} 和纬度 {y[i]:g} 疑似颠倒；请交换这两列",
                              f"longitude {x[i]:g} and latitude {y[i]:g} look swapped; swap the columns"))
            ok &= ~swapped
        lon = np.full(self.n, np.nan)
        lat = np.full(self.n, np.nan)
        if ok.any():
            lon[ok], lat[ok] = crs_mod.transform_xy(x[ok], y[ok], self.source)
        inside = crs_mod.in_china(lon, lat)
        for i in np.flatnonzero(ok & ~inside).tolist():
            where = f"({x[i]:g}, {y[i]:g})" if self.source.is_wgs84_like else \
                f"({x[i]:g}, {y[i]:g}) in {self.source.name}, i.e. ({lon[i]:g}, {lat[i]:g}) in WGS84"
            where_zh = f"({x[i]:g}, {y[i]:g})" if self.source.is_wgs84_like else \
                f"{self.source.name} 下的 ({x[i]:g}, {y[i]:g})，即 WGS84 下的 ({lon[i]:g}, {lat[i]:g})"
            self.error(int(i), f"{lon_header}/{lat_header}", outside_china(
                f"点 {where_zh}", f"point {where} is outside China (longitude 73.3-135.1, latitude 3.8-53.6)"))
        lon[~inside] = np.nan
        lat[~inside] = np.nan
        return lon, lat

    def projected_problem(self, example: str) -> None:
        """Report coordinates that look projected under a longitude/latitude CRS."""
        example_zh = example.replace(" in row ", "，第 ") + " 行" if " in row " in example else example
        if self.crs_source == "assumed":
            message = bi(f"坐标疑似投影坐标（{example_zh}），不是经纬度，而文件未声明坐标系；"
                         "请指定坐标系（如 --crs EPSG:4549）",
                         f"coordinates look projected ({example}), not longitude/latitude, and the file "
                         "declares no CRS; pass the CRS (e.g. --crs EPSG:4549)")
        else:
            message = bi(f"坐标疑似投影坐标（{example_zh}），但坐标系 {self.source.name} 是经纬度坐标系；"
                         "请指定正确的坐标系（如 --crs EPSG:4549）",
                         f"coordinates look projected ({example}) but the CRS is {self.source.name}, "
                         "which is longitude/latitude; pass the right CRS (e.g. --crs EPSG:4549)")
        self.problems.append(Problem(self.file, None, None, message))
    def village_geometry(self) -> NDArray[np.object_]:
        """Village polygons in WGS84: checked, repaired where possible, None where rejected."""
        source = self._source_geometry()
        out = np.empty(self.n, dtype=object)
        if source is None:
            return out
        polygonal = np.zeros(self.n, dtype=bool)
        for i, geom in enumerate(source):
            if self.wkt_failed[i]:
                continue
            if geom is None or shapely.is_empty(geom):
                self.error(i, "geometry", bi("缺少几何或几何为空", "missing or empty geometry"))
                continue
            type_id = shapely.get_type_id(geom)
            if type_id not in (3, 6):
                self.error(i, "geometry", bi(
                    f"几何类型为 {geom.geom_type}；行政村边界应为 Polygon 或 MultiPolygon",
                    f"geometry is a {geom.geom_type}; village boundaries must be Polygon or MultiPolygon"))
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
                self.projected_problem(f"x={bounds[i, 0]:g}, y={bounds[i, 1]:g} in row {self.rows[i]}")
                return out
            for i in np.flatnonzero(swapped).tolist():
                self.error(int(i), "geometry", bi("多边形坐标疑似为（纬度, 经度）；请先写经度",
                                                  "polygon coordinates look like (latitude, longitude); "
                                                  "write longitude first"))
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
                bounds_text = f"{minx:.4f}, {miny:.4f}, {maxx:.4f}, {maxy:.4f}"
                self.error(int(i), "geometry", outside_china(
                    f"多边形（WGS84 范围 {bounds_text}）",
                    f"polygon (bounds {bounds_text} in WGS84) is "
                    "outside China (longitude 73.3-135.1, latitude 3.8-53.6); check the CRS", "；请检查坐标系"))
                continue
            out[i] = geom
        return out

    def _repair(self, i: int, geom: Any) -> Any:
        if shapely.is_valid(geom):
            return geom
        reason = shapely.is_valid_reason(geom)
        fixed = shapely.make_valid(geom)
        parts = [p for p in shapely.get_parts(fixed) if shapely.get_type_id(p) in (3, 6) and not p.is_empty]
        unrepairable = bi(f"无效的多边形（{reason}），无法修复为面",
                          f"invalid polygon ({reason}) that cannot be repaired into an area")
        if not parts:
            self.error(i, "geometry", unrepairable)
            return None
        merged = shapely.union_all(parts) if len(parts) > 1 else parts[0]
        if shapely.get_type_id(merged) not in (3, 6):
            self.error(i, "geometry", unrepairable)
            return None
        if shapely.get_type_id(geom) == 6 and shapely.get_type_id(merged) == 3:
            merged = shapely.multipolygons([merged])
        crossing = "self-intersection" in reason.lower()
        what = "self-intersecting polygon" if crossing else "invalid polygon"
        what_zh = "自相交的多边形" if crossing else "无效的多边形"
        self.warn(i, "geometry", bi(f"{what_zh}已用 make_valid 修复（{reason}）",
                                    f"{what} repaired with make_valid ({reason})"))
        return merged

    def village_codes(self) -> None:
        """Check the 12-digit village codes and names, and derive or check the division codes above."""
        if "code" not in self.matches:
            return
        header = self.header("code")
        raw = self.table.columns[self.matches["code"].index]
        codes: list[str | None] = [None] * self.n
        for i, value in enumerate(raw):
            text = self._code_text(i, value, header, "code")
            if text is None:
                if is_missing(value):
                    self.error(i, header, missing_value("code", "missing code"))
                continue
            if not re.fullmatch(r"\d{12}", text):
                digits = sum(ch.isdigit() for ch in text)
                if text.isdigit():
                    detail = f"has {len(text)} digits"
                    detail_zh = f"有 {len(text)} 位数字"
                else:
                    detail = f"contains characters other than digits ({digits} digits)"
                    detail_zh = f"含有数字以外的字符（{digits} 位数字）"
                self.error(i, header, bi(f"行政村代码 {text!r} {detail_zh}；行政村代码应为 12 位统计用区划代码",
                                         f"code {text!r} {detail}; a village code is the 12-digit "
                                         "statistical division code (统计用区划代码)"))
                continue
            codes[i] = text
        self.values["code"] = codes
        names = self.values.get("name", [None] * self.n)
        for i, name in enumerate(names):
            if not name:
                self.error(i, self.header("name"), missing_value("name", "missing village name"))
        urban = [i for i, (c, name) in enumerate(zip(codes, names, strict=True))
                 if c is not None and is_village_committee(c[-3:].rjust(12, "0")) and name_says_urban(name)]
        if urban:
            shown = ", ".join(f"{codes[i]} {names[i]}" for i in urban[:3])
            self.warn(None, self.header("name"), bi(
                f"{len(urban)} 个单位的代码是村委会（国家统计局 200-399），"
                "名称却是城镇单位（社区、居委会、街道办事处），"
                f"如 {shown}：按城镇计，不计为行政村（这些代码可能不是国家统计局的编码）",
                f"{len(urban)} unit(s) coded as village committees (NBS 200-399) are named as urban units "
                f"(社区, 居委会, 街道办事处), e.g. {shown}: counted as urban, not as administrative villages "
                "(the codes may follow another scheme than NBS)"))
        self.duplicates([(c,) for c in codes], [i for i in range(self.n) if codes[i] is not None],
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
                    self.error(i, self.header(name), bi(f"{column_zh(name)} {text!r} 应为 {length} 位数字",
                                                        f"{name} {text!r} must have {length} digits"))
                    text = None
                elif text is not None and code is not None and text != code[:length]:
                    self.error(i, self.header(name), bi(
                        f"{column_zh(name)} {text!r} 与行政村代码 {code} 不一致（其前 {length} 位为 {code[:length]}）",
                        f"{name} {text!r} does not match the village code {code} (its first {length} "
                        f"digits are {code[:length]})"))
                if text is None and code is not None:
                    text = code[:length]
                derived.append(text)
            self.values[name] = derived

    def _code_text(self, i: int, value: object, header: str, name: str) -> str | None:
        if isinstance(value, (float, np.floating)) and math.isfinite(value) and not float(value).is_integer():
            self.error(i, header, bi(f"{column_zh(name)} {value!r} 不是整数；请把代码存为文本",
                                     f"{name} {value!r} is not a whole number; store codes as text"))
            return None
        text = cell_text(value)
        if text is None:
            return None
        text = unicodedata.normalize("NFKC", text).strip()
        if _SCI_RE.match(text):
            self.error(i, header, bi(f"{column_zh(name)} {text!r} 是科学计数法：导出表格时丢失了数字；"
                                     "请在 Excel 中把该列设为文本格式后重新导出",
                                     f"{name} {text!r} is in scientific notation: digits were lost when the "
                                     "sheet was exported; format the column as text in Excel and export again"))
            return None
        if re.fullmatch(r"\d+\.0+", text):
            text = text.split(".")[0]
        return text

    def committee_points(self, polygons: NDArray[np.object_]) -> None:
        """Check the committee points (inside China, near their village polygon) in WGS84."""
        if "committee_lon" not in self.values and "committee_lat" not in self.values:
            return
        x = np.asarray(self.values.get("committee_lon", np.full(self.n, np.nan)), dtype=np.float64)
        y = np.asarray(self.values.get("committee_lat", np.full(self.n, np.nan)), dtype=np.float64)
        field_name = f"{self.header('committee_lon')}/{self.header('committee_lat')}"
        half = np.isfinite(x) != np.isfinite(y)
        for i in np.flatnonzero(half).tolist():
            self.error(int(i), field_name, bi("村委会位置需要同时有经度和纬度",
                                              "committee point needs both longitude and latitude"))
        ok = np.isfinite(x) & np.isfinite(y)
        # Committee columns are longitude/latitude in the source's geographic system; a projected
        # source may carry them either as degrees (taken as WGS84) or in its own metres.
        lon = np.full(self.n, np.nan)
        lat = np.full(self.n, np.nan)
        degrees = ok & ~crs_mod.looks_projected(x, y)
        metres = ok & ~degrees
        if self.source.is_geographic:
            for i in np.flatnonzero(metres).tolist():
                self.error(int(i), field_name, bi(f"村委会位置 ({x[i]:g}, {y[i]:g}) 不是经纬度",
                                                  f"committee point ({x[i]:g}, {y[i]:g}) is not longitude/latitude"))
            if degrees.any():
                lon[degrees], lat[degrees] = crs_mod.transform_xy(x[degrees], y[degrees], self.source)
        else:
            lon[degrees], lat[degrees] = x[degrees], y[degrees]
            if metres.any():
                lon[metres], lat[metres] = crs_mod.transform_xy(x[metres], y[metres], self.source)
        inside = crs_mod.in_china(lon, lat)
        for i in np.flatnonzero(ok & np.isfinite(lon) & ~inside).tolist():
            swapped_point = crs_mod.in_china(lat[i], lon[i])
            hint = "; longitude and latitude look swapped" if swapped_point else ""
            self.error(int(i), field_name, outside_china(
                f"村委会位置 ({lon[i]:g}, {lat[i]:g})",
                f"committee point ({lon[i]:g}, {lat[i]:g}) is outside China{hint}",
                "；经度和纬度疑似颠倒" if swapped_point else ""))
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
                self.warn(int(i), field_name, bi(f"村委会位置在行政村边界外 {d / 1000:.1f} 公里",
                                                 f"committee point is {d / 1000:.1f} km outside the village polygon"))

