"""The wording of ingest problems: Chinese first, the English unchanged in brackets (users and tests
grep the English), e.g. ``缺少必需的列 运营商 (missing required column 'operator' ...)``.

:func:`bi` (from :mod:`coverage.errors`, for every package) joins a Chinese and an English text;
the helpers below serve the shapes many checks share (a missing column or value, a cell that is not a
number or a date, a value out of range, a duplicate, an unknown value) so that each says it the same
way; :func:`column_zh` names a canonical column in Chinese.
"""

from __future__ import annotations

from coverage.crs import CHINA_BOUNDS
from coverage.errors import bi

__all__ = [
    "COLUMN_ZH",
    "KIND_ZH",
    "bi",
    "column_zh",
    "duplicate",
    "english",
    "missing_column",
    "missing_value",
    "not_a_date",
    "not_a_number",
    "out_of_range",
    "outside_china",
    "unknown_value",
]

#: The Chinese of canonical columns (of villages, stations, measurements, MR grids and field results).
COLUMN_ZH: dict[str, str] = {
    "code": "行政村代码", "village_code": "行政村代码", "name": "行政村名称",
    "township_code": "乡镇代码", "township_name": "乡镇名称", "county_code": "区县代码", "county_name": "区县名称",
    "city_code": "地市代码", "city_name": "地市名称", "province_code": "省代码", "province_name": "省名称",
    "committee_lon": "村委会经度", "committee_lat": "村委会纬度", "population": "人口", "households": "户数",
    "source": "来源", "site_id": "站址编码", "cell_id": "小区标识", "operator": "运营商", "rat": "制式",
    "band": "频段", "lon": "经度", "lat": "纬度", "height_m": "天线挂高", "azimuth_deg": "方位角",
    "tilt_deg": "下倾角", "power_dbm": "发射功率", "bandwidth_mhz": "带宽", "status": "基站状态",
    "activated_on": "开通日期", "measured_at": "测试时间", "rsrp_dbm": "SS-RSRP", "sinr_db": "SS-SINR",
    "dl_mbps": "下载速率", "ul_mbps": "上传速率", "loss_db": "车内损耗", "arfcn": "频点（ARFCN）",
    "no_service": "无服务标记", "rs_power_dbm": "参考信号功率", "ssb_epre_dbm": "SSB 功率",
    "geometry": "几何（边界）", "corner_lon": "左下角经度", "corner_lat": "左下角纬度", "grid_id": "栅格编号",
    "grid_m": "栅格大小", "period_start": "统计开始日期", "period_end": "统计结束日期", "samples": "采样点数",
    "rsrp_mean_dbm": "平均 RSRP", "share_good": "达标比例", "threshold_dbm": "达标门限", "sinr_mean_db": "平均 SINR",
    "users": "用户数", "tested_at": "测试时间", "tester": "测试人", "note": "备注", "village_name": "村名",
}

#: The Chinese of the kinds of input.
KIND_ZH = {"villages": "行政村", "stations": "基站", "measurements": "测试数据"}

#: The Chinese of the units problems name.
_UNIT_ZH = {"m": "米", "degrees": "度", "persons": "人", "households": "户"}


def column_zh(name: str) -> str:
    """A canonical column's Chinese name (the name itself when none is known)."""
    return COLUMN_ZH.get(name, name)


def missing_column(name: str, english: str) -> str:
    """A file lacks the required column ``name``."""
    return bi(f"缺少必需的列：{column_zh(name)}", english)


def missing_value(name: str, english: str | None = None) -> str:
    """A row's required cell of column ``name`` is empty (English ``missing {name}`` by default)."""
    return bi(f"缺少{column_zh(name)}", english or f"missing {name}")


def not_a_number(shown: str, english: str | None = None) -> str:
    """A cell (quoted as ``shown``) that does not read as a number."""
    return bi(f"无法解析为数字：{shown}", english or f"not a number: {shown}")


def not_a_date(shown: str, english: str, formats: str = "YYYY-MM-DD") -> str:
    """A cell that does not read as a date."""
    return bi(f"无法解析为日期：{shown}；日期格式应为 {formats}", english)


def out_of_range(value: str, lo: str, hi: str | None, unit: str, english: str, what: str = "") -> str:
    """A value outside its plausible range: ``应在 lo 到 hi unit 之间`` (``hi`` None: at least ``lo``)."""
    unit_zh = _UNIT_ZH.get(unit, unit)
    if unit_zh.isascii():  # 300 dBm 之间, 300 米之间
        unit_zh += " "
    bound = f"应不小于 {lo} {unit_zh}".rstrip() if hi is None else f"应在 {lo} 到 {hi} {unit_zh}之间"
    return bi(f"{what + ' ' if what else ''}{value} 超出范围：{bound}", english)


def duplicate(what_zh: str, shown: str, rows: str, english: str) -> str:
    """A row repeating an earlier row's key (``rows``: the two row numbers)."""
    return bi(f"{what_zh}重复（{shown}）：第 {rows} 行", english)


def unknown_value(what_zh: str, shown: str, accepted: str, english: str) -> str:
    """A value that names nothing known; ``accepted`` says what to write."""
    return bi(f"无法识别的{what_zh} {shown}；应为 {accepted}", english)


def outside_china(where: str, english: str, hint: str = "") -> str:
    """A point or polygon outside China's longitude/latitude box."""
    west, south, east, north = CHINA_BOUNDS
    return bi(f"{where} 坐标超出范围：不在中国境内（经度 {west:g}-{east:g}，纬度 {south:g}-{north:g}）{hint}", english)


def english(message: str) -> str:
    """The English of a message :func:`bi` wrote (the text in its last, outermost brackets); the
    message itself when it has none."""
    if not message.endswith(")"):
        return message
    depth = 0
    for i in range(len(message) - 1, -1, -1):
        depth += {")": 1, "(": -1}.get(message[i], 0)
        if depth == 0:
            return message[i + 1:-1] if i > 0 and message[i - 1] == " " else message
    return message
