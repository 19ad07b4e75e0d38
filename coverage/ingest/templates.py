"""Fill-in workbooks for the people who collect data: Chinese headers with units, allowed values as
Excel data validation, two example rows, and a sheet that explains every column.

A template filled in goes back through ``village5g ingest`` unchanged: its headers are aliases of
:mod:`coverage.schema` and its example rows are valid (a test reads every template back). The
field-test form (``field_tests``) goes back through ``village5g audit results``: its columns are
:data:`coverage.schema.FIELD_TEST_COLUMNS` (headers, types, operators and ranges taken from there), its
two example rows every operator's reading at one test point, one row per operator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from coverage.errors import ConfigError, bi
from coverage.ingest.messages import KIND_ZH
from coverage.ingest.validation import RANGES
from coverage.model.bands import BANDS
from coverage.schema import COLUMNS, FIELD_TEST_COLUMNS, OPERATORS, STATUSES, chinese_name
from coverage.writers import atomic_write

__all__ = ["TEMPLATE_KINDS", "TEMPLATE_TITLES", "TemplateColumn", "template_columns", "write_template"]

TEMPLATE_KINDS = ("villages", "stations", "measurements", "mr", "field_tests")
#: Each template's sheet name, what the CLI calls it.
TEMPLATE_TITLES = {**KIND_ZH, "mr": "MR栅格", "field_tests": "现场测试"}
#: Rows given data validation below the header (the template's practical length).
VALIDATED_ROWS = 5000
_LON = (73.3, 135.1)
_LAT = (3.8, 53.6)


@dataclass(frozen=True)
class TemplateColumn:
    """One template column: its header (Chinese, unit in brackets), the canonical column, what it
    holds, the allowed values (a list) or range, and the two example values."""

    header: str
    column: str
    required: bool
    note: str
    allowed: tuple[str, ...] = ()
    bounds: tuple[float, float] | None = None
    kind: str = "text"  # text, decimal, whole, date
    examples: tuple[object, object] = (None, None)


_OPERATORS = tuple(str(chinese_name(aliases)) for aliases in OPERATORS.values())
_STATUS = tuple(str(chinese_name(aliases)) for aliases in STATUSES.values())
_SQUARE = "POLYGON (({0} 32.40, {1} 32.40, {1} 32.41, {0} 32.41, {0} 32.40))"


def template_columns(kind: str) -> list[TemplateColumn]:
    """The columns of the ``kind`` template, in order."""
    if kind == "villages":
        return [
            TemplateColumn(
                "村代码", "code", True, "12位统计用区划代码, 文本", examples=("321012101201", "321012101202")
            ),
            TemplateColumn("村名称", "name", True, "行政村名称", examples=("甲村村委会", "乙村村委会")),
            TemplateColumn("乡镇名称", "township_name", False, "所属乡镇(街道)", examples=("大桥镇", "大桥镇")),
            TemplateColumn("区县名称", "county_name", False, "所属区县", examples=("江都区", "江都区")),
            TemplateColumn(
                "村委会经度(°)",
                "committee_lon",
                False,
                "村委会位置, WGS84 经度",
                bounds=_LON,
                kind="decimal",
                examples=(119.405, None),
            ),
            TemplateColumn(
                "村委会纬度(°)",
                "committee_lat",
                False,
                "村委会位置, WGS84 纬度",
                bounds=_LAT,
                kind="decimal",
                examples=(32.405, None),
            ),
            TemplateColumn(
                "人口", "population", False, "人", bounds=(0, 10_000_000), kind="whole", examples=(2350, 1870)
            ),
            TemplateColumn("户数", "households", False, "户", bounds=(0, 1_000_000), kind="whole", examples=(780, 610)),
            TemplateColumn(
                "边界",
                "geometry",
                True,
                "村界 WKT (POLYGON/MULTIPOLYGON, WGS84 经纬度); 或改用 shapefile/GeoJSON",
                examples=(_SQUARE.format(119.40, 119.41), _SQUARE.format(119.41, 119.42)),
            ),
        ]
    if kind == "stations":
        return [
            TemplateColumn(
                "站址编码", "site_id", True, "物理站址编号 (共享站址同一编号)", examples=("JD0001", "JD0002")
            ),
            TemplateColumn("小区ID", "cell_id", False, "扇区/小区编号; 不知道可空", examples=("JD0001-1", "JD0002-1")),
            TemplateColumn(
                "运营商",
                "operator",
                True,
                "中国移动/联通/电信/广电",
                allowed=_OPERATORS,
                examples=("中国移动", "中国电信"),
            ),
            TemplateColumn(
                "制式", "rat", False, "NR (5G) 或 LTE (4G); 空: 按频段", allowed=("NR", "LTE"), examples=("NR", "NR")
            ),
            TemplateColumn("频段", "band", True, "频段名; 或频率(MHz)", allowed=tuple(BANDS), examples=("n41", "n78")),
            TemplateColumn(
                "经度(°)",
                "lon",
                True,
                "WGS84 经度 (GCJ-02 请在导入时声明 --crs gcj02)",
                bounds=_LON,
                kind="decimal",
                examples=(119.405, 119.415),
            ),
            TemplateColumn(
                "纬度(°)", "lat", True, "WGS84 纬度", bounds=_LAT, kind="decimal", examples=(32.405, 32.408)
            ),
            TemplateColumn(
                "天线挂高(m)",
                "height_m",
                False,
                "天线离地高度; 0 或空: 按频段默认",
                bounds=(0, 300),
                kind="decimal",
                examples=(35, 30),
            ),
            TemplateColumn(
                "方位角(°)",
                "azimuth_deg",
                False,
                "正北顺时针; 空: 全向天线",
                bounds=(0, 360),
                kind="decimal",
                examples=(120, None),
            ),
            TemplateColumn(
                "下倾角(°)",
                "tilt_deg",
                False,
                "总下倾角, 向下为正",
                bounds=RANGES["tilt_deg"][:2],
                kind="decimal",
                examples=(6, 4),
            ),
            TemplateColumn(
                "发射功率(dBm)",
                "power_dbm",
                False,
                "载波总发射功率 (不是每RE的参考信号功率)",
                bounds=RANGES["power_dbm"][:2],
                kind="decimal",
                examples=(53, 53),
            ),
            TemplateColumn(
                "带宽(MHz)",
                "bandwidth_mhz",
                False,
                "载波带宽",
                bounds=RANGES["bandwidth_mhz"][:2],
                kind="decimal",
                examples=(100, 100),
            ),
            TemplateColumn(
                "状态", "status", False, "在网/规划/退网; 空: 在网", allowed=_STATUS, examples=("在网", "规划")
            ),
            TemplateColumn("开通日期", "activated_on", False, "YYYY-MM-DD", kind="date", examples=("2024-05-01", None)),
        ]
    if kind == "measurements":
        return [
            TemplateColumn(
                "经度(°)", "lon", True, "WGS84 经度", bounds=_LON, kind="decimal", examples=(119.405, 119.406)
            ),
            TemplateColumn(
                "纬度(°)", "lat", True, "WGS84 纬度", bounds=_LAT, kind="decimal", examples=(32.405, 32.405)
            ),
            TemplateColumn(
                "测试时间",
                "measured_at",
                False,
                "YYYY-MM-DD HH:MM:SS (北京时间)",
                examples=("2026-06-01 10:00:00", "2026-06-01 10:00:05"),
            ),
            TemplateColumn(
                "运营商",
                "operator",
                True,
                "中国移动/联通/电信/广电",
                allowed=_OPERATORS,
                examples=("中国移动", "中国移动"),
            ),
            TemplateColumn(
                "制式",
                "rat",
                False,
                "NR (5G) 或 LTE (4G); LTE 样本不计入5G判定",
                allowed=("NR", "LTE"),
                examples=("NR", "NR"),
            ),
            TemplateColumn("频段", "band", False, "服务小区频段", allowed=tuple(BANDS), examples=("n41", "n41")),
            TemplateColumn(
                "参考信号接收功率(dBm)",
                "rsrp_dbm",
                True,
                "SS-RSRP; 无服务: 空或填 无服务",
                bounds=RANGES["rsrp_dbm"][:2],
                kind="decimal",
                examples=(-88.5, None),
            ),
            TemplateColumn(
                "信噪比(dB)",
                "sinr_db",
                False,
                "SS-SINR",
                bounds=RANGES["sinr_db"][:2],
                kind="decimal",
                examples=(12.5, None),
            ),
            TemplateColumn(
                "下载速率(Mbps)",
                "dl_mbps",
                False,
                "下行速率",
                bounds=(0, 10000),
                kind="decimal",
                examples=(310.2, None),
            ),
            TemplateColumn(
                "上传速率(Mbps)", "ul_mbps", False, "上行速率", bounds=(0, 10000), kind="decimal", examples=(45.1, None)
            ),
            TemplateColumn(
                "车内损耗(dB)",
                "loss_db",
                False,
                "车内测试的穿透损耗, 室外填0或空",
                bounds=RANGES["loss_db"][:2],
                kind="decimal",
                examples=(6, 6),
            ),
            TemplateColumn("来源", "source", False, "如 drive_test", examples=("drive_test", "drive_test")),
        ]
    if kind == "field_tests":
        return _field_test_columns()
    if kind == "mr":
        from coverage.ingest.mr_file import GRID_SIZES_M, RSRP_RANGE, SINR_RANGE

        return [
            TemplateColumn("栅格ID", "grid_id", False, "栅格编号", examples=("G0001", "G0002")),
            TemplateColumn(
                "中心经度(°)",
                "lon",
                True,
                "栅格中心 WGS84 经度 (或左下角经度)",
                bounds=_LON,
                kind="decimal",
                examples=(119.4045, 119.4055),
            ),
            TemplateColumn(
                "中心纬度(°)",
                "lat",
                True,
                "栅格中心 WGS84 纬度",
                bounds=_LAT,
                kind="decimal",
                examples=(32.4045, 32.4045),
            ),
            TemplateColumn(
                "栅格大小(m)",
                "grid_m",
                True,
                "栅格边长",
                allowed=tuple(f"{g:g}" for g in GRID_SIZES_M),
                kind="decimal",
                examples=(100, 100),
            ),
            TemplateColumn(
                "开始日期", "period_start", True, "统计周期第一天 YYYY-MM-DD", examples=("2026-06-01", "2026-06-01")
            ),
            TemplateColumn(
                "结束日期", "period_end", True, "统计周期最后一天 YYYY-MM-DD", examples=("2026-06-30", "2026-06-30")
            ),
            TemplateColumn(
                "运营商",
                "operator",
                True,
                "中国移动/联通/电信/广电",
                allowed=_OPERATORS,
                examples=("中国移动", "中国移动"),
            ),
            TemplateColumn("制式", "rat", False, "NR 或 LTE", allowed=("NR", "LTE"), examples=("NR", "NR")),
            TemplateColumn("频段", "band", False, "频段名; 或填频点", allowed=tuple(BANDS), examples=("n41", "n28")),
            TemplateColumn(
                "采样点数", "samples", True, "MR 采样点数", bounds=(1, 1e9), kind="whole", examples=(1520, 340)
            ),
            TemplateColumn(
                "平均RSRP(dBm)",
                "rsrp_mean_dbm",
                True,
                "平均 SS-RSRP",
                bounds=RSRP_RANGE,
                kind="decimal",
                examples=(-96.5, -109.2),
            ),
            TemplateColumn(
                "达标比例",
                "share_good",
                False,
                "RSRP 不低于门限的采样点比例 (0-1)",
                bounds=(0, 1),
                kind="decimal",
                examples=(0.82, 0.31),
            ),
            TemplateColumn(
                "门限(dBm)",
                "threshold_dbm",
                False,
                "达标比例所用的 RSRP 门限",
                bounds=(-140, -60),
                kind="decimal",
                examples=(-105, -105),
            ),
            TemplateColumn(
                "平均SINR(dB)",
                "sinr_mean_db",
                False,
                "平均 SS-SINR",
                bounds=SINR_RANGE,
                kind="decimal",
                examples=(8.5, 2.1),
            ),
        ]
    raise ConfigError(bi(f"没有 {kind!r} 的模板；应为 {'、'.join(TEMPLATE_KINDS)} 之一",
                         f"no template for {kind!r}; use one of {', '.join(TEMPLATE_KINDS)}"))


#: The field-test form's Chinese note and two example values per column of
#: :data:`coverage.schema.FIELD_TEST_COLUMNS` (headers, types, operators and ranges come from there): every
#: operator's reading at one test point of 甲村 (the villages template's first village, about 130 m from its
#: committee point), one row per operator. 中国电信's reading misses the bar and 中国移动's passes, so the
#: point passes: a point passes when any operator's test there does, and each row is compared with its own
#: operator's prediction (README, "Field results").
_FIELD_TEST_FORM: dict[str, tuple[str, tuple[object, object]]] = {
    "village_code": ("抽查名单上的12位统计用区划代码, 文本", ("321012101201", "321012101201")),
    "village_name": ("与名单上的村名核对; 可空", ("甲村村委会", "甲村村委会")),
    "lon": ("测试点 WGS84 经度; 同一测试点的各运营商行填相同坐标 (GCJ-02 请在上传时声明 --crs gcj02)",
            (119.4061, 119.4061)),
    "lat": ("测试点 WGS84 纬度", (32.4057, 32.4057)),
    "tested_at": ("YYYY-MM-DD HH:MM:SS (北京时间)", ("2026-06-01 10:00:00", "2026-06-01 10:00:00")),
    "operator": ("每个运营商一行: 测试点有几个运营商的手机就记几行, 不要只记读数最好的一个",
                 ("中国移动", "中国电信")),
    "band": ("手机显示的服务频段; 不知道可空", ("n41", "n78")),
    "rsrp_dbm": ("SS-RSRP; 无5G服务: 留空 (信噪比也留空, 速率留空按0计)", (-88.5, -108.0)),
    "sinr_db": ("SS-SINR", (12.5, 1.5)),
    "dl_mbps": ("下载速率", (310.2, 42.3)),
    "ul_mbps": ("上传速率", (45.1, 5.8)),
    "tester": ("测试人员姓名", ("张伟", "张伟")),
    "note": ("可空", ("同一测试点: 每个运营商一行", "电信未达标, 移动达标: 此测试点通过")),
}


def _field_test_columns() -> list[TemplateColumn]:
    """The field-test form: one column per :data:`FIELD_TEST_COLUMNS` entry, headed by its first
    Chinese alias with the unit of its range (coordinates in degrees)."""
    columns = []
    for col in FIELD_TEST_COLUMNS:
        note, examples = _FIELD_TEST_FORM[col.name]
        header = str(chinese_name(col.aliases))
        bounds: tuple[float, float] | None = None
        unit = ""
        if col.name in ("lon", "lat"):
            bounds, unit = (_LON if col.name == "lon" else _LAT), "°"
        elif col.name in RANGES:
            lo, hi, unit = RANGES[col.name]
            bounds = (lo, hi)
        allowed = {"operator": _OPERATORS, "band": tuple(BANDS)}.get(col.name, ())
        columns.append(TemplateColumn(f"{header}({unit})" if unit else header, col.name, col.required, note,
                                      allowed, bounds, "decimal" if col.dtype == "float" else "text", examples))
    return columns


def _range_text(bounds: tuple[float, float]) -> str:
    """``-156 ~ -31``, or ``≥ 0`` for a range open above."""
    lo, hi = bounds
    return f"≥ {lo:g}" if math.isinf(hi) else f"{lo:g} ~ {hi:g}"


#: The notes sheet's closing lines: what to do with the filled-in workbook.
_HOW_TO = {
    "field_tests": [
        "第2、3行是示例 (同一测试点两个运营商各一行), 填写前请删除。",
        "每行与该运营商的预测比较; 一个测试点只要有一个运营商的测试达标即通过 (5G通达只需任一运营商)。",
        "上传: village5g audit results 轮次 文件.xlsx (GCJ-02 坐标加 --crs gcj02), 或控制台 抽查 页面的 上传实测结果",
    ],
}


def write_template(kind: str, path: str | Path) -> Path:
    """Write the fill-in workbook of ``kind`` to ``path`` (.xlsx), atomically."""
    import openpyxl
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    columns = template_columns(kind)
    if kind == "mr":
        from coverage.ingest.mr_file import MR_COLUMNS

        known = set(MR_COLUMNS)
    elif kind == "field_tests":
        known = {c.name for c in FIELD_TEST_COLUMNS}
    else:
        known = {c.name for c in COLUMNS[kind]} | {"geometry"}  # type: ignore[index]
    assert all(c.column in known for c in columns)
    path = Path(path)
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = TEMPLATE_TITLES[kind]
    header_font, fill = Font(bold=True), PatternFill("solid", fgColor="DDEBF7")
    required_fill = PatternFill("solid", fgColor="FCE4D6")
    for j, col in enumerate(columns, start=1):
        cell = sheet.cell(row=1, column=j, value=col.header)
        cell.font, cell.fill = header_font, required_fill if col.required else fill
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        letter = get_column_letter(j)
        sheet.column_dimensions[letter].width = 60 if col.column == "geometry" else max(12, len(col.header) * 2 + 2)
        for i, example in enumerate(col.examples, start=2):
            value = sheet.cell(row=i, column=j, value=example)
            if col.kind == "text":
                value.number_format = "@"  # codes and ids stay text
        rng = f"{letter}2:{letter}{VALIDATED_ROWS + 1}"
        validation: DataValidation | None = None
        if col.allowed:
            validation = DataValidation(type="list", formula1='"' + ",".join(col.allowed) + '"', allow_blank=True)
            validation.error = f"{col.header}: 请从下拉列表中选择"
        elif col.bounds is not None and col.kind in ("decimal", "whole") and math.isinf(col.bounds[1]):
            validation = DataValidation(
                type=col.kind, operator="greaterThanOrEqual", formula1=f"{col.bounds[0]:g}", allow_blank=True
            )
            validation.error = f"{col.header}: 应不小于 {col.bounds[0]:g}"
        elif col.bounds is not None and col.kind in ("decimal", "whole"):
            validation = DataValidation(
                type=col.kind,
                operator="between",
                formula1=f"{col.bounds[0]:g}",
                formula2=f"{col.bounds[1]:g}",
                allow_blank=True,
            )
            validation.error = f"{col.header}: 应在 {col.bounds[0]:g} 到 {col.bounds[1]:g} 之间"
        if validation is not None:
            validation.showErrorMessage = True
            validation.errorTitle = "数值不符合要求"
            validation.prompt = col.note
            validation.showInputMessage = True
            sheet.add_data_validation(validation)
            validation.add(rng)
        if col.kind == "text":
            for row in range(2, 200):
                sheet.cell(row=row, column=j).number_format = "@"
    sheet.freeze_panes = "A2"
    notes = workbook.create_sheet("说明")
    notes.append(["列名", "字段", "必填", "说明", "允许值或范围"])
    for cell in notes[1]:
        cell.font, cell.fill = header_font, fill
    for col in columns:
        allowed = "、".join(col.allowed) if col.allowed else (_range_text(col.bounds) if col.bounds is not None else "")
        notes.append([col.header, col.column, "是" if col.required else "否", col.note, allowed])
    notes.append([])
    ingest = f"第2、3行是示例, 填写前请删除。导入: village5g ingest {kind} 文件.xlsx (先用 --dry-run 检查)"
    for line in _HOW_TO.get(kind, [ingest]):
        notes.append([line])
    for letter, width in zip("ABCDE", (22, 16, 6, 48, 40), strict=True):
        notes.column_dimensions[letter].width = width
    try:
        with atomic_write(path, suffix=".xlsx") as tmp:
            workbook.save(tmp)
    finally:
        workbook.close()
    return path
