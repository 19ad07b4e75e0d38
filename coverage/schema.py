"""Data contracts: the canonical columns of villages, stations, measurements and field tests.

Every reader (ingest, storage, export, seed generator) produces and consumes GeoDataFrames with
exactly these columns, in WGS84 (EPSG:4326). Column order here is the order of exports. The field-test
columns are a file's (``coverage.audit.results`` reads them, ``coverage.ingest.templates`` writes
their fill-in form).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd

Kind = Literal["villages", "stations", "measurements"]
KINDS: tuple[Kind, ...] = ("villages", "stations", "measurements")

#: Operators (运营商) and the names they go by in Chinese exports.
OPERATORS: dict[str, tuple[str, ...]] = {
    # MCC-MNC (PLMN) codes as phones and drive-test tools log them: ITU-T E.212 assignments for 460
    "CMCC": ("cmcc", "中国移动", "移动", "china mobile", "mobile", "46000", "46002", "46004", "46007", "46008"),
    "CUCC": ("cucc", "中国联通", "联通", "china unicom", "unicom", "46001", "46006", "46009"),
    "CTCC": ("ctcc", "中国电信", "电信", "china telecom", "telecom", "46003", "46005", "46011"),
    "CBN": ("cbn", "中国广电", "广电", "china broadnet", "broadnet", "cbnet", "46015"),
}
RATS: dict[str, tuple[str, ...]] = {
    "NR": ("nr", "5g", "5g nr", "sa", "nsa"),
    "LTE": ("lte", "4g", "4g lte", "fdd-lte", "td-lte", "tdd-lte"),
}
STATUSES: dict[str, tuple[str, ...]] = {
    "active": ("active", "在网", "在用", "开通", "已开通", "运行", "in service", "on air"),
    "planned": ("planned", "规划", "在建", "待建", "未开通"),
    "retired": ("retired", "退网", "退服", "拆除", "已拆除", "decommissioned"),
}


def chinese_name(aliases: tuple[str, ...]) -> str | None:
    """The first name of an alias list written in Chinese (``中国移动`` of the CMCC aliases), None without one."""
    return next((a for a in aliases if not a.isascii()), None)

#: NBS village-level code ranges: 001-199 residents' committees, 200-399 village committees.
VILLAGE_COMMITTEE_MIN = 200
VILLAGE_COMMITTEE_MAX = 399


@dataclass(frozen=True)
class Column:
    """One column of a data contract.

    ``dtype`` is one of ``str``, ``float``, ``int``, ``date``, ``datetime``, ``bool``.
    ``aliases`` are header names found in real exports (compared case- and space-insensitively).
    """

    name: str
    dtype: str
    required: bool
    aliases: tuple[str, ...] = ()
    doc: str = ""


VILLAGE_COLUMNS: tuple[Column, ...] = (
    Column("code", "str", True, ("村代码", "行政村代码", "区划代码", "统计用区划代码", "行政区划代码",
                                 "村编码", "编码", "代码", "village_code", "adcode", "id"),
           "12-digit NBS statistical division code (统计用区划代码)"),
    Column("name", "str", True, ("村名", "村名称", "行政村", "行政村名称", "名称", "village_name",
                                 "village"), "village-level unit name"),
    Column("township_code", "str", False, ("乡镇代码", "街道代码", "乡镇街道代码", "town_code",
                                           "street_code", "streetcode"), "9-digit township code"),
    Column("township_name", "str", False, ("乡镇", "乡镇名称", "乡镇街道", "街道", "town", "street",
                                           "township"), ""),
    Column("county_code", "str", False, ("区县代码", "县区代码", "area_code", "areacode"),
           "6-digit county code"),
    Column("county_name", "str", False, ("区县", "县区", "区县名称", "county", "district"), ""),
    Column("city_code", "str", False, ("地市代码", "城市代码", "citycode"), "4-digit city code"),
    Column("city_name", "str", False, ("地市", "城市", "市", "地市名称", "city"), ""),
    Column("province_code", "str", False, ("省代码", "provincecode"), "2-digit province code"),
    Column("province_name", "str", False, ("省", "省份", "province"), ""),
    Column("committee_lon", "float", False, ("村委会经度", "committee_lng", "office_lon"),
           "村委会 location, WGS84 longitude (degrees)"),
    Column("committee_lat", "float", False, ("村委会纬度", "office_lat"),
           "村委会 location, WGS84 latitude (degrees)"),
    Column("population", "int", False, ("人口", "户籍人口", "常住人口", "pop"), "persons"),
    Column("households", "int", False, ("户数", "户籍户数", "hh"), "households"),
    Column("source", "str", False, ("来源", "数据来源"), "provenance label, e.g. 'synthetic-seed'"),
)

STATION_COLUMNS: tuple[Column, ...] = (
    Column("site_id", "str", True, ("站址编码", "站址编号", "站址id", "站址代码", "站号", "基站编号", "基站id",
                                    "gnb_id", "gnbid", "enodeb_id", "site", "siteid"),
           "physical site identifier (shared sites carry one id for several operators)"),
    Column("cell_id", "str", False, ("小区id", "小区编号", "小区标识", "cgi", "ecgi", "ncgi", "cell",
                                     "cellid"), "cell/sector identifier; empty when sectors are unknown"),
    Column("operator", "str", True, ("运营商", "归属运营商", "operator_name", "carrier"),
           "CMCC, CUCC, CTCC or CBN"),
    Column("rat", "str", False, ("制式", "网络制式", "网络类型", "technology", "tech"),
           "NR or LTE (default NR)"),
    Column("band", "str", True, ("频段", "工作频段", "频带", "frequency_band"),
           "band name (n28, n41, n78, n79, B3, ...) or centre frequency in MHz"),
    Column("lon", "float", True, ("经度", "lng", "longitude", "x", "long"), "WGS84 longitude (degrees)"),
    Column("lat", "float", True, ("纬度", "latitude", "y"), "WGS84 latitude (degrees)"),
    Column("height_m", "float", False, ("挂高", "天线挂高", "天线高度", "height", "antenna_height"),
           "antenna height above ground (m; 0 is read as unknown)"),
    Column("azimuth_deg", "float", False, ("方位角", "天线方位角", "方向角", "天线方向角", "azimuth"),
           "degrees clockwise from north (360 is read as 0); empty means omnidirectional"),
    Column("tilt_deg", "float", False, ("下倾角", "总下倾角", "电下倾", "tilt", "downtilt"),
           "downtilt (degrees, positive down)"),
    Column("power_dbm", "float", False, ("发射功率", "发射功率dbm", "总功率", "tx_power", "power"),
           "total transmit power (dBm)"),
    Column("bandwidth_mhz", "float", False, ("带宽", "载波带宽", "bandwidth"), "carrier bandwidth (MHz)"),
    Column("status", "str", False, ("状态", "基站状态", "运行状态", "state"),
           "active, planned or retired (default active)"),
    Column("activated_on", "date", False, ("开通日期", "开通时间", "入网日期", "activation_date",
                                           "on_air_date"), "ISO date of activation"),
    Column("source", "str", False, ("来源", "数据来源"), "provenance label"),
)

MEASUREMENT_COLUMNS: tuple[Column, ...] = (
    Column("lon", "float", True, ("经度", "lng", "longitude", "x", "long"), "WGS84 longitude (degrees)"),
    Column("lat", "float", True, ("纬度", "latitude", "y"), "WGS84 latitude (degrees)"),
    Column("measured_at", "datetime", False, ("时间", "测试时间", "采样时间", "time", "timestamp",
                                              "datetime"), "ISO timestamp (Asia/Shanghai when naive)"),
    Column("operator", "str", True, ("运营商", "carrier"), "CMCC, CUCC, CTCC or CBN"),
    Column("rat", "str", False, ("制式", "网络制式", "网络类型", "technology", "tech", "networktech", "network_type"),
           "NR or LTE, or a 制式 such as NR3500 or L1800 (default: the band's RAT, else NR)"),
    Column("band", "str", False, ("频段", "工作频段"), "serving band, when known"),
    Column("rsrp_dbm", "float", True, ("ss-rsrp", "ss_rsrp", "ssrsrp", "rsrp", "nr_rsrp", "参考信号接收功率"),
           "SS-RSRP (dBm)"),
    Column("sinr_db", "float", False, ("ss-sinr", "ss_sinr", "sssinr", "sinr", "nr_sinr", "信噪比"),
           "SS-SINR (dB)"),
    Column("dl_mbps", "float", False, ("下载速率", "下行速率", "下载速率mbps", "下行速率mbps", "dl",
                                       "download", "download_mbps"), "download throughput (Mbit/s)"),
    Column("ul_mbps", "float", False, ("上传速率", "上行速率", "上传速率mbps", "上行速率mbps", "ul",
                                       "upload", "upload_mbps"), "upload throughput (Mbit/s)"),
    Column("loss_db", "float", False, ("车内损耗", "穿透损耗", "附加损耗", "vehicle_loss_db", "penetration_loss_db",
                                       "loss"),
           "declared loss between the phone and the outdoors at 1.5 m (dB; e.g. 3-9 in a car, 0 or empty "
           "outdoors): added back before the sample is compared with the prediction"),
    Column("source", "str", False, ("来源", "数据来源", "测试来源"),
           "drive_test, mr, audit, synthetic-seed, ..."),
)

#: Columns of a field-test file of an audit round (read by :mod:`coverage.audit.results`; the field-test
#: template's headers are the first Chinese alias of each): canonical name, type, required, header aliases.
FIELD_TEST_COLUMNS: tuple[Column, ...] = (
    Column("village_code", "str", True, ("村代码", "行政村代码", "村编码", "村委会代码", "区划代码",
                                         "统计用区划代码", "code", "village_code", "村庄代码"),
           "12-digit NBS code of the sampled village"),
    Column("village_name", "str", False, ("村名", "村名称", "行政村", "行政村名称", "村委会", "name",
                                          "village", "village_name"), "checked against the list"),
    Column("lon", "float", True, ("测试点经度", "经度", "测试经度", "lng", "longitude", "x", "long"),
           "test point longitude (degrees; WGS84 unless crs says otherwise)"),
    Column("lat", "float", True, ("测试点纬度", "纬度", "测试纬度", "latitude", "y"),
           "test point latitude (degrees)"),
    Column("tested_at", "datetime", True, ("测试时间", "时间", "测试日期", "采样时间", "time", "timestamp",
                                           "datetime", "tested_at", "measured_at"),
           "local time of the test (Asia/Shanghai when naive)"),
    Column("operator", "str", True, ("运营商", "carrier", "operator"), "CMCC, CUCC, CTCC or CBN"),
    Column("band", "str", False, ("频段", "服务频段", "工作频段", "band"), "serving band, when the phone shows it"),
    Column("rsrp_dbm", "float", True, ("ss-rsrp", "ss_rsrp", "ssrsrp", "rsrp", "nr_rsrp", "参考信号接收功率",
                                       "信号强度"), "SS-RSRP (dBm); empty means no 5G service"),
    Column("sinr_db", "float", True, ("ss-sinr", "ss_sinr", "sssinr", "sinr", "nr_sinr", "信噪比"),
           "SS-SINR (dB)"),
    Column("dl_mbps", "float", True, ("下载速率", "下行速率", "下载速度", "下行速度", "dl", "download",
                                      "download_mbps"), "download throughput (Mbit/s)"),
    Column("ul_mbps", "float", True, ("上传速率", "上行速率", "上传速度", "上行速度", "ul", "upload",
                                      "upload_mbps"), "upload throughput (Mbit/s)"),
    Column("tester", "str", True, ("测试人", "测试人员", "测试员", "tester"), "who ran the test"),
    Column("note", "str", False, ("备注", "note", "notes", "remark"), ""),
)

COLUMNS: dict[Kind, tuple[Column, ...]] = {
    "villages": VILLAGE_COLUMNS,
    "stations": STATION_COLUMNS,
    "measurements": MEASUREMENT_COLUMNS,
}

#: Geometry kind per data kind: villages carry polygons, the others points built from lon/lat.
GEOMETRY: dict[Kind, str] = {"villages": "polygon", "stations": "point", "measurements": "point"}


def column_names(kind: Kind) -> list[str]:
    """Canonical column names of ``kind``, in export order (geometry excluded)."""
    return [c.name for c in COLUMNS[kind]]


#: Name endings of urban units (街道办事处, 社区, 居委会): never a village committee, whatever the code.
URBAN_NAME_RE = re.compile(r"(街道办事处|街道办|街道|社区|社区居委会|社区居民委员会|居委会|居民委员会)"
                           r"\s*(?:[(（][^)）]*[)）])?\s*$")


#: Words of rural units that may still end like urban ones (西街村居民委员会, 巴润宝拉格嘎查社区).
_RURAL_WORDS = ("村", "嘎查", "屯", "组")


def name_says_urban(name: object) -> bool:
    """True when a unit's name ends like an urban unit's (XX社区, XX居委会, XX街道办事处,
    XX社区居民委员会) and names no rural unit (村, 嘎查) before that ending."""
    if not isinstance(name, str):
        return False
    m = URBAN_NAME_RE.search(name.strip())
    return m is not None and not any(w in name[:m.start()] for w in _RURAL_WORDS)


def is_village_committee(code: str, name: object = None) -> bool:
    """True for NBS codes whose last three digits are 200-399 (村委会, administrative villages),
    unless ``name`` says the unit is urban (社区, 居委会, 街道办事处): no NBS village committee of the
    seed world's 13,263 is named so, and a file whose codes follow another scheme (a land-survey
    one numbers every unit 2xx) would otherwise count street offices as villages."""
    unit = int(code[-3:])
    return VILLAGE_COMMITTEE_MIN <= unit <= VILLAGE_COMMITTEE_MAX and not name_says_urban(name)


def conform(kind: Kind, data: Mapping[str, Any] | pd.DataFrame, geometry: Any) -> gpd.GeoDataFrame:
    """A GeoDataFrame of ``kind`` with exactly the canonical columns and dtypes, in EPSG:4326.

    Text columns are pandas ``str`` (missing = NaN), floats ``float64``, integers nullable
    ``Int64``, dates Python :class:`datetime.date` objects (missing = None) and timestamps naive
    ``datetime64[ns]``. Absent optional columns are filled with missing values. Every reader and
    writer goes through this function so that frames compare equal whatever their origin.
    """
    n = len(geometry)
    columns: dict[str, pd.Series] = {}
    for col in COLUMNS[kind]:
        raw = data[col.name] if col.name in data else [None] * n
        columns[col.name] = _typed(list(raw), col.dtype)
    frame = pd.DataFrame(columns, index=pd.RangeIndex(n))
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(list(geometry), crs="EPSG:4326").values,
                            crs="EPSG:4326")


def _missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def _typed(values: list[Any], dtype: str) -> pd.Series:
    # fast paths for columns that are already of one type (rows from the database, typed frames);
    # they give what the per-value conversions below give
    kind = pd.api.types.infer_dtype(values, skipna=True) if values else "empty"
    if dtype == "float" and kind in ("floating", "integer", "mixed-integer-float", "empty"):
        with contextlib.suppress(TypeError):  # pd.NA among the values: the slow path
            return pd.Series(np.array(values, dtype="float64"))
    if dtype == "int" and kind == "integer":
        return pd.Series(values, dtype="Int64")
    if dtype == "str" and kind == "string":
        return pd.Series(np.array(values, dtype=object), dtype="str")
    if dtype == "float":
        return pd.Series([np.nan if _missing(v) else float(v) for v in values], dtype="float64")
    if dtype == "int":
        return pd.Series([pd.NA if _missing(v) else int(v) for v in values], dtype="Int64")
    if dtype == "datetime":
        return pd.Series(pd.to_datetime(pd.Series([None if _missing(v) else v for v in values],
                                                  dtype=object))).astype("datetime64[ns]")
    if dtype == "date":
        out: list[dt.date | None] = []
        for v in values:
            if _missing(v):
                out.append(None)
            elif isinstance(v, dt.datetime | pd.Timestamp):
                out.append(v.date())
            elif isinstance(v, dt.date):
                out.append(v)
            else:
                out.append(dt.date.fromisoformat(str(v)[:10]))
        return pd.Series(out, dtype=object)
    if dtype == "bool":
        return pd.Series([None if _missing(v) else bool(v) for v in values], dtype=object)
    return pd.Series([None if _missing(v) else str(v) for v in values], dtype="str")
