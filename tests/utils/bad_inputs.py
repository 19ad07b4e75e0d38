"""The ingest corpus: awkward and broken input files, built at test time instead of committed.

Each :class:`CorpusCase` writes one file (plus sidecars) into a directory and says what
:func:`coverage.ingest.read_input` must do with it: succeed (with the listed warnings) or reject it
with problems naming the row, the field and the problem. ``python -m tests.utils.bad_inputs DIR``
writes the whole corpus to DIR for trying the CLI by hand.

All geometry is small and hand-made, around lon 119.40-119.44, lat 32.40-32.42 (Jiangdu, Yangzhou,
Jiangsu), so answers can be checked by eye.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import sys
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pyogrio
import shapely

from coverage.crs import wgs84_to_gcj02
from coverage.ingest.mapping import ColumnMapping

# --------------------------------------------------------------------------------------------
# Truth data
# --------------------------------------------------------------------------------------------

#: Village codes of one township (Jiangdu district 321012, township 101).
CODES = ("321012101201", "321012101202", "321012101203")
NAMES = ("甲村村委会", "乙村村委会", "丙村村委会")


def square(lon: float, lat: float, size: float = 0.01) -> shapely.Polygon:
    """An axis-aligned square with its south-west corner at (lon, lat), in degrees."""
    return shapely.box(lon, lat, lon + size, lat + size)


def bowtie(lon: float, lat: float, size: float = 0.01) -> shapely.Polygon:
    """A self-intersecting 'bow-tie' ring crossing itself at the square's centre."""
    return shapely.Polygon([(lon, lat), (lon + size, lat + size), (lon + size, lat), (lon, lat + size),
                            (lon, lat)])


#: Three adjacent village squares, west to east.
VILLAGE_POLYGONS = (square(119.40, 32.40), square(119.41, 32.40), square(119.42, 32.40))

#: Station rows with Chinese headers as a planning department exports them.
STATION_HEADER_ZH = ["站址编码", "小区ID", "运营商", "频段", "经度", "纬度", "挂高(m)", "方位角",
                     "下倾角", "发射功率(dBm)", "状态", "开通日期"]
STATION_ROWS_ZH = [
    ["JD0001", "JD0001-1", "中国移动", "2.6G", "119.405", "32.405", "35", "0", "6", "53", "在网",
     "2024/5/1"],
    ["JD0001", "JD0001-2", "中国移动", "2.6G", "119.405", "32.405", "35", "120", "6", "53", "在网",
     "2024/5/1"],
    ["JD0002", "", "中国电信", "3.5G", "119.415", "32.408", "30", "", "4", "53", "规划", ""],
    ["JD0003", "JD0003-1", "中国广电", "700M", "119.425", "32.402", "40", "240", "3", "49", "已开通",
     "2023年11月20日"],
]

MEASUREMENT_HEADER = ["lon", "lat", "measured_at", "operator", "rsrp_dbm", "sinr_db", "dl_mbps"]
MEASUREMENT_ROWS = [
    ["119.401", "32.401", "2026-05-01 10:00:00", "CMCC", "-88.5", "12", "512"],
    ["119.402", "32.402", "2026-05-01 10:00:05", "CMCC", "-101.25", "3.5", "120.5"],
    ["119.403", "32.403", "2026-05-01 10:00:10", "CTCC", "-117", "", ""],
]


def village_rows(geometries: Sequence[shapely.Geometry] = VILLAGE_POLYGONS) -> list[list[str]]:
    """Rows of a village table with a WKT geometry column."""
    return [[code, name, "某镇", "江都区", shapely.to_wkt(g, rounding_precision=-1)]
            for code, name, g in zip(CODES, NAMES, geometries, strict=False)]


VILLAGE_HEADER_ZH = ["村代码", "村名称", "乡镇", "区县", "geometry"]


# --------------------------------------------------------------------------------------------
# Writers
# --------------------------------------------------------------------------------------------


def write_csv(path: Path, header: Sequence[object], rows: Sequence[Sequence[object]], *,
              encoding: str = "utf-8") -> Path:
    """Write a CSV in ``encoding`` (``utf-8-sig`` for a BOM, ``gbk`` as Excel in China saves it)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def write_xlsx(path: Path, header: Sequence[object], rows: Sequence[Sequence[object]],
               sheet: str = "Sheet1") -> Path:
    """Write a one-sheet workbook with openpyxl; cell values keep their Python types."""
    workbook = openpyxl.Workbook()
    worksheet = workbook.active
    assert worksheet is not None
    worksheet.title = sheet
    worksheet.append(list(header))
    for row in rows:
        worksheet.append(list(row))
    workbook.save(path)
    workbook.close()
    return path


def write_geojson(path: Path, features: Sequence[tuple[dict[str, Any], shapely.Geometry | None]], *,
                  epsg: int | None = None) -> Path:
    """Hand-write a FeatureCollection (with an old-style ``crs`` member when ``epsg`` is given)."""
    collection: dict[str, Any] = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": props,
         "geometry": None if geom is None else json.loads(shapely.to_geojson(geom))}
        for props, geom in features]}
    if epsg is not None:
        collection["crs"] = {"type": "name", "properties": {"name": f"urn:ogc:def:crs:EPSG::{epsg}"}}
    path.write_text(json.dumps(collection, ensure_ascii=False), encoding="utf-8")
    return path


def village_features(geometries: Sequence[shapely.Geometry | None] = VILLAGE_POLYGONS,
                     codes: Sequence[str] = CODES) -> list[tuple[dict[str, Any], shapely.Geometry | None]]:
    """GeoJSON features of villages with English canonical property names."""
    return [({"code": code, "name": name}, geom)
            for code, name, geom in zip(codes, NAMES, geometries, strict=False)]


def write_shapefile(path: Path, frame: gpd.GeoDataFrame, *, encoding: str = "UTF-8",
                    keep_cpg: bool = True) -> Path:
    """Write a shapefile; without ``keep_cpg`` the .cpg is deleted and the DBF's LDID byte zeroed,
    which is what old desktop GIS exports look like."""
    pyogrio.write_dataframe(frame, path, driver="ESRI Shapefile", encoding=encoding)
    if not keep_cpg:
        path.with_suffix(".cpg").unlink(missing_ok=True)
        dbf = path.with_suffix(".dbf")
        data = bytearray(dbf.read_bytes())
        data[29] = 0
        dbf.write_bytes(bytes(data))
    return path


# --------------------------------------------------------------------------------------------
# The corpus
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expect:
    """A problem that must be reported: its row (None = file level), field (None = any) and a
    case-insensitive fragment of its message."""

    row: int | None
    field: str | None
    contains: str


@dataclass(frozen=True)
class CorpusCase:
    """One input file and the outcome read_input must give."""

    name: str
    kind: str
    description: str
    build: Callable[[Path], Path]
    options: dict[str, Any] = field(default_factory=dict)
    errors: tuple[Expect, ...] = ()  # empty: the file must be accepted
    warnings: tuple[Expect, ...] = ()


def _gbk_csv_chinese_headers(d: Path) -> Path:
    return write_csv(d / "基站_gbk.csv", STATION_HEADER_ZH, STATION_ROWS_ZH, encoding="gbk")


def _utf8_bom_csv(d: Path) -> Path:
    return write_csv(d / "villages_bom.csv", VILLAGE_HEADER_ZH, village_rows(), encoding="utf-8-sig")


def _swapped(d: Path) -> Path:
    rows = [[*r[:4], r[5], r[4], *r[6:]] for r in STATION_ROWS_ZH]
    return write_csv(d / "swapped.csv", STATION_HEADER_ZH, rows)


def _gcj02_stations(d: Path) -> Path:
    rows = []
    for r in STATION_ROWS_ZH:
        lon, lat = wgs84_to_gcj02(float(r[4]), float(r[5]))
        rows.append([*r[:4], repr(lon), repr(lat), *r[6:]])
    return write_csv(d / "stations_gcj02.csv", STATION_HEADER_ZH, rows)


def _gcj02_villages(d: Path) -> Path:
    shifted = [shapely.transform(g, lambda c: np.column_stack(wgs84_to_gcj02(c[:, 0], c[:, 1])))
               for g in VILLAGE_POLYGONS]
    return write_geojson(d / "villages_amap_gcj02.geojson", village_features(shifted))


def _cgcs2000_geojson(d: Path) -> Path:
    return write_geojson(d / "villages_cgcs2000.geojson", village_features(), epsg=4490)


def _projected_shapefile(d: Path) -> Path:
    frame = gpd.GeoDataFrame({"code": list(CODES), "name": list(NAMES)}, geometry=list(VILLAGE_POLYGONS),
                             crs="EPSG:4326").to_crs("EPSG:4549")
    return write_shapefile(d / "villages_gk120.shp", frame)


def _shapefile_without_prj(d: Path) -> Path:
    path = _projected_shapefile(d)
    path.with_suffix(".prj").unlink()
    return path


def _shapefile_gbk_no_cpg(d: Path) -> Path:
    frame = gpd.GeoDataFrame({"站址编码": ["JD0001", "JD0002"], "运营商": ["中国移动", "中国联通"],
                              "频段": ["n41", "n78"], "备注": ["村委会楼顶", "水塔"]},
                             geometry=shapely.points([119.405, 119.415], [32.405, 32.408]), crs="EPSG:4326")
    return write_shapefile(d / "stations_gbk.shp", frame, encoding="GBK", keep_cpg=False)


def _bowtie(d: Path) -> Path:
    geoms = [VILLAGE_POLYGONS[0], bowtie(119.41, 32.40)]
    return write_geojson(d / "villages_bowtie.geojson", village_features(geoms))


def _duplicate_codes(d: Path) -> Path:
    return write_geojson(d / "villages_dup.geojson",
                         village_features(codes=(CODES[0], CODES[1], CODES[0])))


def _duplicate_stations(d: Path) -> Path:
    rows = [*STATION_ROWS_ZH, STATION_ROWS_ZH[1]]
    return write_csv(d / "stations_dup.csv", STATION_HEADER_ZH, rows)


def _empty(d: Path) -> Path:
    path = d / "empty.csv"
    path.write_bytes(b"")
    return path


def _header_only(d: Path) -> Path:
    return write_csv(d / "header_only.csv", STATION_HEADER_ZH, [])


def _wrong_geometry(d: Path) -> Path:
    geoms = [VILLAGE_POLYGONS[0], shapely.Point(119.415, 32.405),
             shapely.LineString([(119.42, 32.40), (119.43, 32.41)])]
    return write_geojson(d / "villages_points.geojson", village_features(geoms))


def _missing_columns(d: Path) -> Path:
    keep = [0, 1, 4, 5]
    return write_csv(d / "stations_missing.csv", [STATION_HEADER_ZH[i] for i in keep],
                     [[r[i] for i in keep] for r in STATION_ROWS_ZH])


def _non_numeric(d: Path) -> Path:
    rows = [list(r) for r in STATION_ROWS_ZH]
    rows[1][4] = "东经119.4"
    rows[2][5] = "abc"
    return write_csv(d / "stations_text_coords.csv", STATION_HEADER_ZH, rows)


def _outside_china(d: Path) -> Path:
    rows = [list(r) for r in STATION_ROWS_ZH]
    rows[0][4], rows[0][5] = "2.3522", "48.8566"  # Paris
    rows[3][4], rows[3][5] = "139.6917", "35.6895"  # Tokyo
    return write_csv(d / "stations_abroad.csv", STATION_HEADER_ZH, rows)


def _unknown_band(d: Path) -> Path:
    rows = [list(r) for r in STATION_ROWS_ZH]
    rows[2][3] = "n99"
    return write_csv(d / "stations_band.csv", STATION_HEADER_ZH, rows)


def _unknown_operator(d: Path) -> Path:
    rows = [list(r) for r in STATION_ROWS_ZH]
    rows[0][2] = "中国铁塔"
    rows[3][2] = "移动/联通"
    return write_csv(d / "stations_operator.csv", STATION_HEADER_ZH, rows)


def _bad_codes(d: Path) -> Path:
    rows = village_rows()
    rows[0][0] = "32101210120"  # 11 digits
    rows[1][0] = "32101210120A"
    rows[2][0] = "3.21012E+11"  # Excel's scientific notation
    return write_csv(d / "villages_codes.csv", VILLAGE_HEADER_ZH, rows)


def _prefix_mismatch(d: Path) -> Path:
    header = ["code", "name", "county_code", "township_code", "city_code", "geometry"]
    rows = [[c, n, county, town, "3210", shapely.to_wkt(g)]
            for c, n, county, town, g in zip(
                CODES, NAMES, ["321012", "321023", "321012000000"], ["321012101", "321012101", "321012102"],
                VILLAGE_POLYGONS, strict=True)]
    return write_csv(d / "villages_prefix.csv", header, rows)


def _rsrp_range(d: Path) -> Path:
    rows = [list(r) for r in MEASUREMENT_ROWS]
    rows[0][4] = "-20"
    rows[2][4] = "-170"
    rows[1][5] = "55"
    return write_csv(d / "measurements_rsrp.csv", MEASUREMENT_HEADER, rows)


def _bad_dates(d: Path) -> Path:
    rows = [list(r) for r in STATION_ROWS_ZH]
    rows[0][11] = "2024-02-30"
    rows[1][11] = "上周"
    return write_csv(d / "stations_dates.csv", STATION_HEADER_ZH, rows)


def _xlsx_chinese(d: Path) -> Path:
    header = ["经度", "纬度", "测试时间", "运营商", "SS-RSRP(dBm)", "SS-SINR(dB)", "下载速率(Mbps)", "频段"]
    rows = [[119.401, 32.401, dt.datetime(2026, 5, 1, 10, 0, 0), "移动", -88.5, 12, 512.0, "n41"],
            [119.402, 32.402, "2026/5/1 10:00:05", "中国移动", -101.25, 3.5, 120.5, 2600],
            [119.403, 32.403, 46143.41678240741, "电信", -117, None, None, None]]
    return write_xlsx(d / "路测_中文表头.xlsx", header, rows)


def _power_watts(d: Path) -> Path:
    header = [h if h != "发射功率(dBm)" else "发射功率(W)" for h in STATION_HEADER_ZH]
    rows = [[*r[:9], "200", *r[10:]] for r in STATION_ROWS_ZH]
    return write_csv(d / "stations_watts.csv", header, rows)


def _power_watts_unlabelled(d: Path) -> Path:
    header = [h if h != "发射功率(dBm)" else "发射功率" for h in STATION_HEADER_ZH]
    rows = [[*r[:9], "200", *r[10:]] for r in STATION_ROWS_ZH]
    return write_csv(d / "stations_power.csv", header, rows)


def _geoparquet(d: Path) -> Path:
    two_parts = shapely.MultiPolygon([VILLAGE_POLYGONS[1], square(119.43, 32.40, 0.005)])
    frame = gpd.GeoDataFrame({"code": list(CODES), "name": list(NAMES)},
                             geometry=[VILLAGE_POLYGONS[0], two_parts, VILLAGE_POLYGONS[2]], crs="EPSG:4326")
    path = d / "villages.parquet"
    frame.to_parquet(path)
    return path


def _plain_parquet(d: Path) -> Path:
    frame = pd.DataFrame(MEASUREMENT_ROWS, columns=MEASUREMENT_HEADER)
    for column in ("lon", "lat", "rsrp_dbm"):
        frame[column] = frame[column].astype(float)
    path = d / "measurements_plain.parquet"
    frame.to_parquet(path)
    return path


def _projected_without_crs(d: Path) -> Path:
    rows = [list(r) for r in STATION_ROWS_ZH]
    for r in rows:
        r[4], r[5] = "443551.19", "3586366.94"  # EPSG:4549 metres, but nothing says so
    return write_csv(d / "stations_metres.csv", STATION_HEADER_ZH, rows)


def _unknown_extension(d: Path) -> Path:
    path = d / "stations.dat"
    path.write_text("site_id,operator\nS1,CMCC\n", encoding="utf-8")
    return path


def _unreadable_gpkg(d: Path) -> Path:
    path = d / "broken.gpkg"
    path.write_bytes(b"this is not a GeoPackage\x00\x01\x02" * 10)
    return path


def _broken_utf8(d: Path) -> Path:
    path = write_csv(d / "stations_broken_utf8.csv", STATION_HEADER_ZH, STATION_ROWS_ZH, encoding="utf-8")
    data = path.read_bytes()
    third_line = data.index(b"\r\n", data.index(b"\r\n") + 2) + 2
    path.write_bytes(data[:third_line] + b"\xff" + data[third_line:])
    return path


def _crs_conflict(d: Path) -> Path:
    return _projected_shapefile(d)


def _zip_shapefile(d: Path) -> Path:
    sub = d / "shp"
    sub.mkdir()
    shp = _shapefile_gbk_no_cpg(sub)
    archive = d / "stations_shp.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for part in sorted(sub.iterdir()):
            zf.write(part, arcname=part.name)
    for part in sub.iterdir():
        part.unlink()
    sub.rmdir()
    assert not shp.exists()
    return archive


def _ragged(d: Path) -> Path:
    rows = [list(r) for r in STATION_ROWS_ZH]
    rows[2] = [*rows[2], "多余的一列"]
    return write_csv(d / "stations_ragged.csv", STATION_HEADER_ZH, rows)


def _committee_far(d: Path) -> Path:
    header = ["村代码", "村名称", "村委会经度", "村委会纬度", "geometry"]
    rows = [[CODES[0], NAMES[0], "119.405", "32.405", shapely.to_wkt(VILLAGE_POLYGONS[0])],
            [CODES[1], NAMES[1], "119.45", "32.405", shapely.to_wkt(VILLAGE_POLYGONS[1])]]
    return write_csv(d / "villages_committee.csv", header, rows)


def _invalid_wkt(d: Path) -> Path:
    rows = village_rows()
    rows[1][4] = "POLYGON ((119.41 32.40, 119.42"
    rows[2][4] = ""
    return write_csv(d / "villages_wkt.csv", VILLAGE_HEADER_ZH, rows)


def _multi_layer_gpkg(d: Path) -> Path:
    path = d / "two_layers.gpkg"
    frame = gpd.GeoDataFrame({"code": list(CODES), "name": list(NAMES)}, geometry=list(VILLAGE_POLYGONS),
                             crs="EPSG:4326")
    frame.to_file(path, layer="boundaries_2024", engine="pyogrio")
    frame.to_file(path, layer="boundaries_2025", engine="pyogrio")
    return path


def _excel_number_codes(d: Path) -> Path:
    rows: list[list[Any]] = [[int(c), n, "某镇", "江都区", shapely.to_wkt(g)]
                             for c, n, g in zip(CODES, NAMES, VILLAGE_POLYGONS, strict=True)]
    rows[1][0] = float(CODES[1])  # a numeric cell formatted "General"
    return write_xlsx(d / "villages_numeric_codes.xlsx", VILLAGE_HEADER_ZH, rows)


#: A 4G 工参 export: 维度 (a typo of 纬度), 方向角, 参考信号功率 in 0.1 dBm per resource element, 制式.
GONGCAN_HEADER = ["小区名称", "站号", "运营商", "经度", "维度", "方向角", "下倾角", "天线挂高", "参考信号功率", "制式"]
GONGCAN_ROWS = [
    ["甲村-1", "JD01", "联通", "119.405", "32.405", "0", "6", "35", "152", "L1800"],
    ["乙村微站", "JD02", "联通", "119.415", "32.408", "360", "0", "0", "122", "L900"],
    ["丙村", "JD03", "联通", "119.425", "32.402", "", "3", "40", "180", "700M"],
]


def _gongcan(d: Path) -> Path:
    return write_csv(d / "4G工参.csv", GONGCAN_HEADER, GONGCAN_ROWS, encoding="gbk")


def _gongcan_band_as_nr(d: Path) -> Path:
    header = ["站号", "运营商", "制式", "频段", "经度", "纬度", "方位角"]
    rows = [["S1", "联通", "NR", "1800", "119.405", "32.405", "0"], ["S2", "联通", "L1800", "L900", "119.415",
                                                                    "32.405", "0"]]
    return write_csv(d / "rat_band.csv", header, rows)


def _rs_power_mixed(d: Path) -> Path:
    rows = [list(r) for r in GONGCAN_ROWS]
    rows[1][8] = "12.2"
    return write_csv(d / "rs_mixed.csv", GONGCAN_HEADER, rows)


def _no_service_with_rsrp(d: Path) -> Path:
    return write_csv(d / "outage.csv", ["经度", "纬度", "运营商", "RSRP_dBm", "服务状态"],
                     [["119.401", "32.401", "移动", "-95", "否"], ["119.402", "32.401", "移动", "-97", "是"]])


def _drive_test_text(d: Path) -> Path:
    lines = ["Time X Y Operator Tech NR-ARFCN Cell SS-RSRP(db) SS-SINR_dB DL_Mbps",
             "2026-06-01T10:00:00 653214.3 3587057.5 CMCC NR 504990 C1 -88.5 12 310.5",
             "2026-06-01T10:00:01 653300.0 3587100.0 CMCC NR 504990 C1"]
    path = d / "NR路测.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _urban_named_committees(d: Path) -> Path:
    header = ["村代码", "村名称", "geometry"]
    rows = [[CODES[0], "甲村", shapely.to_wkt(VILLAGE_POLYGONS[0])],
            [CODES[1], "东关街道办事处", shapely.to_wkt(VILLAGE_POLYGONS[1])],
            [CODES[2], "梅园社区", shapely.to_wkt(VILLAGE_POLYGONS[2])]]
    return write_csv(d / "土地调查编码.csv", header, rows)


def _opencellid(d: Path) -> Path:
    path = d / "460.csv"
    path.write_text("NR,460,0,28743,5862498305,0,119.405,32.405,1000,12,1,1690000000,1700000000,0\n"
                    "GSM,460,0,20809,4111,0,119.425,32.405,2000,3,1,1500000000,1500000000,0\n", encoding="utf-8")
    return path


CORPUS: tuple[CorpusCase, ...] = (
    CorpusCase("gbk_csv_chinese_headers", "stations", "GBK CSV from Excel with Chinese headers and units",
               _gbk_csv_chinese_headers, warnings=(Expect(None, "方位角", "1 cell(s) without azimuth"),)),
    CorpusCase("utf8_bom_csv", "villages", "UTF-8 CSV with BOM, Chinese headers, WKT boundaries",
               _utf8_bom_csv),
    CorpusCase("swapped_lat_lon", "stations", "latitude in the longitude column and vice versa", _swapped,
               errors=(Expect(None, "经度/纬度", "look swapped"), Expect(1, "经度/纬度", "swap the columns"),
                       Expect(4, "经度/纬度", "swap"))),
    CorpusCase("gcj02_declared_csv", "stations", "Amap (GCJ-02) coordinates declared with crs=gcj02",
               _gcj02_stations, {"crs": "gcj02"}, warnings=(Expect(None, "方位角", "without azimuth"),)),
    CorpusCase("gcj02_declared_geojson", "villages", "GeoJSON drawn on a GCJ-02 web map, declared gcj02",
               _gcj02_villages, {"crs": "gcj02"}),
    CorpusCase("cgcs2000_geojson", "villages", "GeoJSON with a crs member EPSG:4490 (CGCS2000)",
               _cgcs2000_geojson),
    CorpusCase("projected_shapefile", "villages", "shapefile in EPSG:4549 CGCS2000 3-degree GK CM 120E",
               _projected_shapefile),
    CorpusCase("shapefile_without_prj", "villages", "GK metres in a shapefile whose .prj was lost",
               _shapefile_without_prj, errors=(Expect(None, None, "declares no CRS; pass the CRS"),)),
    CorpusCase("shapefile_gbk_without_cpg", "stations", "GBK DBF without .cpg, Chinese field names",
               _shapefile_gbk_no_cpg,
               warnings=(Expect(None, None, "ignored columns not in the data contract: 备注"),)),
    CorpusCase("zip_of_shapefile", "stations", "the same shapefile zipped", _zip_shapefile,
               warnings=(Expect(None, None, "备注"),)),
    CorpusCase("bowtie_polygon", "villages", "self-intersecting bow-tie boundary", _bowtie,
               warnings=(Expect(2, "geometry", "self-intersecting polygon repaired"),)),
    CorpusCase("duplicate_village_codes", "villages", "the same code twice", _duplicate_codes,
               errors=(Expect(3, "code", "rows 1 and 3"),)),
    CorpusCase("duplicate_station_ids", "stations", "the same site/cell/operator/band twice",
               _duplicate_stations, errors=(Expect(5, "站址编码", "rows 2 and 5"),)),
    CorpusCase("empty_file", "stations", "zero bytes", _empty, errors=(Expect(None, None, "file is empty"),)),
    CorpusCase("header_only", "stations", "a header and no rows", _header_only,
               errors=(Expect(None, None, "no data rows"),)),
    CorpusCase("wrong_geometry_type", "villages", "points and lines instead of polygons", _wrong_geometry,
               errors=(Expect(2, "geometry", "geometry is a Point"),
                       Expect(3, "geometry", "geometry is a LineString"))),
    CorpusCase("missing_required_columns", "stations", "no operator and no band column", _missing_columns,
               errors=(Expect(None, "operator", "missing required column 'operator' (accepted headers: "
                              "operator, 运营商"),
                       Expect(None, "band", "missing required column 'band'"))),
    CorpusCase("non_numeric_coordinates", "stations", "text in the coordinate columns", _non_numeric,
               errors=(Expect(2, "经度", "not a number: '东经119.4'"),
                       Expect(3, "纬度", "not a number: 'abc'"))),
    CorpusCase("outside_china", "stations", "points in Paris and Tokyo", _outside_china,
               errors=(Expect(1, "经度/纬度", "outside china"), Expect(4, "经度/纬度", "outside china"))),
    CorpusCase("unknown_band", "stations", "band n99", _unknown_band,
               errors=(Expect(3, "频段", "unknown band 'n99'"),)),
    CorpusCase("unknown_operator", "stations", "China Tower and a two-operator cell", _unknown_operator,
               errors=(Expect(1, "运营商", "unknown operator '中国铁塔'"),
                       Expect(4, "运营商", "names several operators"))),
    CorpusCase("bad_code_format", "villages", "11 digits, a letter, scientific notation", _bad_codes,
               errors=(Expect(1, "村代码", "has 11 digits"), Expect(2, "村代码", "other than digits"),
                       Expect(3, "村代码", "scientific notation"))),
    CorpusCase("code_prefix_mismatch", "villages", "county and township codes that contradict the code",
               _prefix_mismatch,
               errors=(Expect(2, "county_code", "does not match the village code"),
                       Expect(3, "township_code", "does not match"))),
    CorpusCase("rsrp_out_of_range", "measurements", "SS-RSRP -20 and -170 dBm, SINR 55 dB", _rsrp_range,
               errors=(Expect(1, "rsrp_dbm", "-156 to -31 dbm"), Expect(3, "rsrp_dbm", "out of range"),
                       Expect(2, "sinr_db", "-23 to 40 db"))),
    CorpusCase("bad_dates", "stations", "30 February and 'last week'", _bad_dates,
               errors=(Expect(1, "开通日期", "not a valid date"),
                       Expect(2, "开通日期", "not a date: '上周'"))),
    CorpusCase("xlsx_chinese_headers", "measurements", "drive test workbook with Chinese headers and units",
               _xlsx_chinese),
    CorpusCase("power_in_watts", "stations", "transmit power column in watts (发射功率(W))", _power_watts,
               warnings=(Expect(None, "方位角", "without azimuth"),)),
    CorpusCase("power_watts_unlabelled", "stations", "200 in a dBm column: watts without saying so",
               _power_watts_unlabelled, errors=(Expect(1, "发射功率", "if the column is in watts"),)),
    CorpusCase("geoparquet", "villages", "GeoParquet with a MultiPolygon", _geoparquet),
    CorpusCase("plain_parquet", "measurements", "Parquet table with lon/lat columns", _plain_parquet),
    CorpusCase("projected_without_crs", "stations", "GK metres in lon/lat columns, no CRS declared",
               _projected_without_crs, errors=(Expect(None, None, "look projected"),)),
    CorpusCase("unknown_extension", "stations", ".dat file", _unknown_extension,
               errors=(Expect(None, None, "unsupported file type '.dat'"),)),
    CorpusCase("unreadable_gpkg", "villages", "garbage with a .gpkg name", _unreadable_gpkg,
               errors=(Expect(None, None, "not a readable .gpkg file"),)),
    CorpusCase("broken_utf8", "stations", "UTF-8 with one invalid byte on data row 2", _broken_utf8,
               errors=(Expect(2, None, "cannot decode the text as utf-8"),)),
    CorpusCase("declared_crs_conflict", "villages", "crs=wgs84 for a shapefile whose .prj says EPSG:4549",
               _crs_conflict, {"crs": "wgs84"},
               errors=(Expect(None, None, "but crs='EPSG:4326' was given"),)),
    CorpusCase("ragged_row", "stations", "a row with an extra non-empty field", _ragged,
               errors=(Expect(3, None, "row has 13 fields but the header has 12"),)),
    CorpusCase("committee_point_far", "villages", "committee point 3 km outside its village", _committee_far,
               warnings=(Expect(2, "村委会经度/村委会纬度", "km outside the village polygon"),)),
    CorpusCase("invalid_wkt", "villages", "truncated WKT and an empty geometry cell", _invalid_wkt,
               errors=(Expect(2, "geometry", "not valid wkt"), Expect(3, "geometry", "missing or empty"))),
    CorpusCase("multi_layer_gpkg", "villages", "GeoPackage with two layers and no layer chosen",
               _multi_layer_gpkg, errors=(Expect(None, None, "several layers"),)),
    CorpusCase("excel_numeric_codes", "villages", "codes stored as Excel numbers (int and float)",
               _excel_number_codes),
    CorpusCase("gongcan_without_mapping", "stations", "4G 工参 with 维度 for 纬度, no --map", _gongcan,
               errors=(Expect(None, "lat", "missing required column 'lat'"),)),
    CorpusCase("gongcan_mapped", "stations", "4G 工参 with --map 维度=lat: 制式, 0.1 dBm RS power, height 0",
               _gongcan, {"mapping": ColumnMapping(rename={"维度": "lat"})},
               warnings=(Expect(None, "天线挂高", "1 cell(s) with antenna height 0"),
                         Expect(None, "下倾角", "1 cell(s) with downtilt 0"),
                         Expect(None, "方向角", "1 cell(s) without azimuth"),
                         Expect(None, "参考信号功率", "3 power(s) per resource element above 60 read as 0.1 dBm"),
                         Expect(None, None, "ignored columns not in the data contract: 小区名称"))),
    CorpusCase("map_names_a_missing_column", "stations", "--map names a header the file lacks", _gongcan,
               {"mapping": ColumnMapping(rename={"纬度": "lat"})},
               errors=(Expect(None, "纬度", "which the file does not have"),)),
    CorpusCase("rat_band_disagree", "stations", "制式 NR with band 1800; 制式 L1800 with band L900",
               _gongcan_band_as_nr, errors=(Expect(1, "制式/频段", "RAT and band disagree"),
                                            Expect(2, "制式/频段", "the band columns disagree"))),
    CorpusCase("rs_power_mixed_units", "stations", "RS power in 0.1 dBm with one value in dBm", _rs_power_mixed,
               {"mapping": ColumnMapping(rename={"维度": "lat"})},
               errors=(Expect(1, "参考信号功率", "mixes it with dbm values"),
                       Expect(3, "参考信号功率", "mixes it with dbm values"))),
    CorpusCase("no_service_with_rsrp", "measurements", "a sample flagged no service that has an RSRP",
               _no_service_with_rsrp, errors=(Expect(2, "服务状态/RSRP_dBm", "marked as no service"),)),
    CorpusCase("drive_test_text_utm", "measurements", "whitespace text in UTM 50N, an outage row of 7 fields",
               _drive_test_text, {"crs": "EPSG:32650"},
               warnings=(Expect(None, None, "1 row(s) have fewer fields than the 10 of the header"),
                         Expect(None, "SS-RSRP(db)", "1 sample(s) without service"),
                         Expect(None, "SS-RSRP(db)", "unit 'dB' read as dBm"),
                         Expect(None, None, "ignored columns not in the data contract: Cell"))),
    CorpusCase("urban_named_committees", "villages", "land-survey codes: street office and 社区 coded 2xx",
               _urban_named_committees,
               warnings=(Expect(None, "村名称", "2 unit(s) coded as village committees (NBS 200-399) are named as "
                                "urban"),)),
    CorpusCase("opencellid_headerless", "stations", "OpenCelliD rows without a header, one GSM",
               _opencellid,
               warnings=(Expect(None, None, "1 NR/LTE cell(s) of China read as stations of unknown radio"),
                         Expect(None, None, "1 GSM/UMTS/CDMA cell(s) left out"),
                         Expect(None, "azimuth_deg", "1 cell(s) without azimuth"))),
)


def build_corpus(directory: Path) -> dict[str, Path]:
    """Write every corpus file into its own subdirectory of ``directory``; return name -> path."""
    out = {}
    for case in CORPUS:
        sub = directory / case.name
        sub.mkdir(parents=True, exist_ok=True)
        out[case.name] = case.build(sub)
    return out


if __name__ == "__main__":  # pragma: no cover - manual use
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "bad_inputs")
    for name, path in build_corpus(target).items():
        print(f"{name:28s} {path}")
