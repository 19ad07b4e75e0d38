"""How result tables look to people: Chinese (or English) headers, rounded values, Excel formats.

One catalogue, :data:`LABELS`, names every column of the village lists, summaries, history,
planning and what-if tables once: its Chinese header, its English header (the column's own key,
which is also what the API and ``ingest`` use), its width in an XLSX sheet and how its values are
shown. :func:`people_sheet` turns a result frame into a :class:`coverage.writers.Sheet`, which
:func:`coverage.writers.write_csv` and :func:`coverage.writers.write_xlsx` write; so every CSV and
XLSX a person opens (``village5g villages -o``, ``summary -o``, the demo's files, ``/exports``)
shows the same words and the same rounding.

Value kinds (``Label.kind``):

``code``     division codes and ids: text in CSV and XLSX (``@``), never a number that loses digits
``int``      counts: whole numbers with thousands separators in XLSX
``rate``     shares 0-1: ``70.6%`` in CSV, a number with the ``0.0%`` format in XLSX
``db``       SS-RSRP (dBm), SS-SINR (dB): one decimal
``m``        distances (metres): whole metres
``deg``      longitude/latitude: 6 decimals (about 0.1 m)
``yesno``    flags: 是/否 (``--lang en``: yes/no)
``verdict``  covered/weak/uncovered as 5G通达/弱覆盖/无覆盖
``source``   predicted/fused/measured as 预测/预测+实测修正/实测
``confidence`` high/medium/low (of ``p_covered``) as 高/中/低
``class``    committee-point class good/weak/none as 良好/弱/无
``level``    province/city/county/township as 省/地市/区县/乡镇
``time``     timestamps (naive, as given)
``text``     anything else
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from coverage.errors import ConfigError
from coverage.writers import Sheet

__all__ = ["CONFIDENCE_LABELS", "LABELS", "LANGS", "SHEET_NAMES", "SOURCE_LABELS", "VERDICT_LABELS", "VERDICT_WORDS",
           "Label", "header", "parse_verdict",
           "people_sheet", "show_value"]

#: Languages of the files a person opens; Chinese is the default.
LANGS = ("zh", "en")

#: Verdicts as people read them.
VERDICT_LABELS = {"covered": "5G通达", "weak": "弱覆盖", "uncovered": "无覆盖"}
#: Words people use for each verdict (the labels above, their short forms, 已覆盖/未覆盖), for parsing.
VERDICT_WORDS = {
    "covered": ("covered", "5G通达", "通达", "已覆盖", "覆盖良好", "良好"),
    "weak": ("weak", "弱覆盖", "弱"),
    "uncovered": ("uncovered", "无覆盖", "未覆盖", "无"),
}
#: Evidence behind a verdict, and the confidence labels of ``p_covered``, as people read them.
SOURCE_LABELS = {"predicted": "预测", "fused": "预测+实测修正", "measured": "实测"}
CONFIDENCE_LABELS = {"high": "高", "medium": "中", "low": "低"}
#: The reason codes of a verdict (:data:`coverage.model.verdicts.REASONS`) as people read them.
REASON_LABELS = {
    "committee_good": "村委会处信号良好（RSRP与SINR均达标）",
    "committee_weak": "村委会处有信号但未达良好标准",
    "committee_none": "村委会处无可用信号",
    "area_good": "村域良好覆盖面积占比达标",
    "area_good_short": "村域良好覆盖面积占比不足",
    "area_reached": "村域有信号面积占比达标",
    "area_reached_short": "村域有信号面积占比不足",
    "no_site": "村内及搜索半径内无在用5G站址",
    "measured_decides": "村内同一运营商实测样本充足，以实测结论为准",
    "measured_fused": "周边实测数据已修正预测（残差克里金）",
    "probability_short": "预测中值达到通达标准，但通达概率低于50%",
    "probability_met": "预测中值未达通达标准，但通达概率不低于50%",
    "measured_good": "实测良好样本占比达标",
    "measured_reached": "实测有信号样本占比达标",
    "measured_short": "实测良好或弱覆盖样本不足",
    "mr_fused": "村内运营商MR栅格数据已融合修正预测",
    "mr_no_5g": "MR判定：村内大量4G采样点而无任何5G采样点（手机收不到5G），判为未通达",
}
_CLASS_LABELS = {"good": "良好", "weak": "弱", "none": "无"}
_LEVEL_LABELS = {"province": "省", "city": "地市", "county": "区县", "township": "乡镇"}


@dataclass(frozen=True)
class Label:
    """How one column is shown: Chinese header, XLSX width (characters) and value kind."""

    zh: str
    width: float
    kind: str = "text"


#: Every result column a person may see, by key.
LABELS: dict[str, Label] = {
    # divisions
    "code": Label("代码", 14, "code"), "name": Label("名称", 16),
    "province_code": Label("省代码", 8, "code"), "province_name": Label("省", 8),
    "city_code": Label("地市代码", 9, "code"), "city_name": Label("地市", 9),
    "county_code": Label("区县代码", 10, "code"), "county_name": Label("区县", 11),
    "township_code": Label("乡镇代码", 12, "code"), "township_name": Label("乡镇", 12),
    # verdicts
    "verdict": Label("结论", 9, "verdict"), "p_covered": Label("通达概率", 9, "rate"),
    "confidence": Label("可信度", 7, "confidence"), "sigma_db": Label("位置标准差(dB)", 14, "db"),
    "predicted_verdict": Label("模型结论", 10, "verdict"),
    "measured_verdict": Label("实测结论", 10, "verdict"), "verdict_source": Label("依据", 7, "source"),
    "verdict_before": Label("原结论", 9, "verdict"), "verdict_after": Label("新结论", 9, "verdict"),
    "no_site": Label("无站址", 8, "yesno"), "reasons": Label("原因代码", 36),
    "sites_inside": Label("村内站点数", 11, "int"), "nearest_site_m": Label("最近站点距离(米)", 16, "m"),
    "nearest_site_id": Label("最近站点", 14, "code"), "good_share": Label("良好覆盖面积占比", 16, "rate"),
    "weak_share": Label("弱覆盖面积占比", 14, "rate"), "none_share": Label("无覆盖面积占比", 14, "rate"),
    "committee_rsrp_dbm": Label("村委会SS-RSRP(dBm)", 19, "db"),
    "committee_sinr_db": Label("村委会SS-SINR(dB)", 18, "db"), "committee_class": Label("村委会覆盖", 10, "class"),
    "n_measurements": Label("实测样本数", 11, "int"),
    "measured_rsrp_median_dbm": Label("实测SS-RSRP中位数(dBm)", 22, "db"),
    "measured_good_share": Label("实测良好样本占比", 16, "rate"),
    "mr_samples": Label("MR采样点数", 11, "int"), "mr_good_share": Label("MR达标采样点占比", 16, "rate"),
    "mr_period": Label("MR统计周期", 22),
    "point_lon": Label("村委会经度", 12, "deg"), "point_lat": Label("村委会纬度", 12, "deg"),
    "population": Label("人口", 9, "int"),
    # summaries and history
    "villages": Label("行政村数", 10, "int"), "covered": Label("5G通达", 9, "int"), "weak": Label("弱覆盖", 9, "int"),
    "uncovered": Label("无覆盖", 9, "int"),
    "reach_rate": Label("通达率", 9, "rate"), "target_rate": Label("目标", 8, "rate"),
    "expected_rate": Label("期望通达率", 11, "rate"), "rate_low": Label("通达率下限(95%)", 15, "rate"),
    "rate_high": Label("通达率上限(95%)", 15, "rate"),
    "gap_villages": Label("距目标差(村)", 13, "int"), "run_id": Label("运行", 7, "int"),
    "finished_at": Label("完成时间(UTC)", 18, "time"), "level": Label("层级", 8, "level"), "source": Label("来源", 10),
    # planning and what-if
    "rank": Label("序号", 6, "int"), "site_id": Label("站址编号", 14, "code"),
    "candidate_id": Label("候选点", 12, "code"), "lon": Label("经度", 12, "deg"), "lat": Label("纬度", 12, "deg"),
    "band": Label("频段", 7), "operator": Label("运营商", 8), "gained": Label("新增通达(村)", 12, "int"),
    "villages_gained": Label("新增通达村", 30), "villages_lost": Label("减少通达村", 30),
    "region_gained": Label("区域新增通达(村)", 16, "int"), "region_covered": Label("区域5G通达", 11, "int"),
    "region_villages": Label("区域行政村数", 12, "int"), "region_reach_rate": Label("区域通达率", 11, "rate"),
}

#: Sheet names of one-table workbooks, by the writer's layer name.
SHEET_NAMES = {"villages": "行政村", "summary": "通达率汇总", "history": "通达率历史", "plan": "补盲规划",
               "whatif": "结论变化村", "results": "结果"}

#: Excel number formats by kind.
_XLSX_FORMATS = {"code": "@", "int": "#,##0", "rate": "0.0%", "db": "0.0", "m": "#,##0", "deg": "0.000000",
                 "time": "yyyy-mm-dd hh:mm"}


def parse_verdict(value: str) -> str:
    """The verdict key (covered, weak, uncovered) of an English or Chinese word for it (5G通达,
    已覆盖, 弱覆盖, 无覆盖, ...; case and spaces ignored). Raises :class:`ConfigError` naming the
    words accepted."""
    text = "".join(value.split()).lower()
    for verdict, words in VERDICT_WORDS.items():
        if text in (w.lower() for w in words):
            return verdict
    accepted = ", ".join(f"{k} ({'/'.join(w[1:3])})" for k, w in VERDICT_WORDS.items())
    raise ConfigError(f"未知的结论 {value!r}；请用 {accepted} (unknown verdict {value!r}; use {accepted})")


def header(key: str, lang: str = "zh") -> str:
    """The header of column ``key`` in ``lang`` (the key itself in English or when uncatalogued)."""
    label = LABELS.get(key)
    return label.zh if lang == "zh" and label is not None else key


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value))


def show_value(kind: str, value: Any, *, lang: str = "zh", excel: bool = False) -> Any:
    """``value`` of a column of ``kind`` as a person sees it (see the module docstring).

    With ``excel`` numbers stay numbers (the sheet's number format shows them); without, they
    become the text a CSV cell holds. Missing values give None (an empty cell).
    """
    if _missing(value):
        return None
    if isinstance(value, np.generic):
        value = value.item()
    zh = lang == "zh"
    if kind == "yesno":
        yes = bool(value)
        return ("是" if yes else "否") if zh else ("yes" if yes else "no")
    if kind in ("verdict", "source", "confidence", "class", "level"):
        labels = {"verdict": VERDICT_LABELS, "source": SOURCE_LABELS,
                  "confidence": CONFIDENCE_LABELS, "class": _CLASS_LABELS,
                  "level": _LEVEL_LABELS}[kind]
        return labels.get(str(value), str(value)) if zh else str(value)
    if kind == "code":
        return str(value)
    if kind in ("int", "m"):
        return round(float(value))
    if kind == "rate":
        return round(float(value), 4) if excel else f"{float(value):.1%}"
    if kind == "db":
        return round(float(value), 1)
    if kind == "deg":
        return round(float(value), 6)
    if kind == "time":
        return pd.Timestamp(value).to_pydatetime() if excel else pd.Timestamp(value).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float):
        return round(value, 4)
    return value


def _kind(key: str, column: pd.Series) -> str:
    label = LABELS.get(key)
    if label is not None:
        if label.kind == "yesno" and pd.api.types.is_integer_dtype(column.dtype) \
                and not pd.api.types.is_bool_dtype(column.dtype):
            return "int"
        return label.kind
    if pd.api.types.is_bool_dtype(column.dtype):
        return "yesno"
    return "text"


def _text_width(text: str) -> float:
    """Width of ``text`` in Excel characters: CJK characters count double."""
    return float(sum(2 if ord(c) >= 0x2E80 else 1 for c in text))


def people_sheet(frame: pd.DataFrame, *, lang: str = "zh", excel: bool = False) -> Sheet:
    """``frame`` as people read it: headers in ``lang``, values shown per :data:`LABELS`.

    The geometry of a GeoDataFrame is left out. A flag column holding counts (a summary's
    ``no_site``) is shown as a count. Raises :class:`ConfigError` for an unknown language.
    """
    if lang not in LANGS:
        raise ConfigError(f"未知的语言 {lang!r}；请用 {'、'.join(LANGS)} 之一 (unknown language {lang!r}; use one of "
                          f"{', '.join(LANGS)})")
    geometry = getattr(frame, "_geometry_column_name", None)
    table = pd.DataFrame(frame.drop(columns=geometry) if geometry in frame.columns else frame)
    out: dict[str, list[Any]] = {}
    widths: list[float] = []
    formats: list[str | None] = []
    for key in table.columns:
        key = str(key)
        kind = _kind(key, table[key])
        name = header(key, lang)
        out[name] = [show_value(kind, v, lang=lang, excel=excel) for v in table[key].astype(object).tolist()]
        label = LABELS.get(key)
        widths.append(max(label.width if label else 10.0, _text_width(name) + 2))
        formats.append(_XLSX_FORMATS.get(kind))
    data = pd.DataFrame({name: pd.Series(values, dtype=object) for name, values in out.items()},
                        index=range(len(table)))
    return Sheet(data, tuple(widths), tuple(formats))
