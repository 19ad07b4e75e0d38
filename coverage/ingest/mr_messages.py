"""The wording of the problems of MR grid statistics files (:mod:`coverage.ingest.mr_file`): Chinese
first, the English unchanged in brackets (:func:`coverage.ingest.messages.bi`)."""

from __future__ import annotations

from collections.abc import Sequence

from coverage.ingest.messages import bi, column_zh, out_of_range, outside_china
from coverage.model.bands import EUTRA_CHANNELS, NR_CHANNELS

__all__ = [
    "GRID_PLACE",
    "NO_RAT_FOR_ARFCN",
    "NO_THRESHOLD",
    "arfcn_clash",
    "bad_grid_size",
    "not_a_channel",
    "other_threshold",
    "outside",
    "range_problem",
    "two_columns",
    "unknown_arfcn",
    "unreadable",
    "unsupported",
]

#: A file that has neither the grid's centre nor its corner.
GRID_PLACE = bi("缺少栅格位置：需要栅格中心（中心经度、中心纬度）或西南角（左下角经度、左下角纬度）",
                "the grid needs its centre (lon, lat / 中心经度, 中心纬度) or its south-west corner "
                "(corner_lon, corner_lat / 左下角经度, 左下角纬度)")
#: A channel number without a RAT or band to read it by.
NO_RAT_FOR_ARFCN = bi("要识别 ARFCN，需要制式（NR 或 LTE）或频段",
                      "an ARFCN needs the RAT (制式 NR or LTE) or a band to be read")
#: A share column whose threshold nothing states.
NO_THRESHOLD = bi("未说明达标比例的门限：请写在列名中（RSRP>=-105dBm占比）、"
                  "加一列达标门限（threshold_dbm）或用 --threshold",
                  "the share's threshold is not stated: name it in the header "
                  "(RSRP>=-105dBm占比), a threshold_dbm column or --threshold")

_UNREADABLE = {"encoding": ("无法按 {} 编码读取；请用 --encoding 指定编码（utf-8 或 gbk）",
                            "not readable as {}; give --encoding (utf-8 or gbk)"),
               "csv": ("无法读取的 CSV 文件：{}", "not a readable CSV file: {}"),
               "parquet": ("无法读取的 Parquet 文件（{}）", "not a readable Parquet file ({})"),
               "xlsx": ("无法读取的工作簿或工作表：{}", "not a readable workbook or sheet: {}")}


def unreadable(how: str, detail: object) -> str:
    """A file that cannot be read: ``how`` is ``encoding`` (``detail`` the encoding), ``csv``, ``parquet``
    or ``xlsx`` (``detail`` the reader's error)."""
    zh, en = _UNREADABLE[how]
    return bi(zh.format(detail), en.format(detail))


def unsupported(suffix: str) -> str:
    """A file type MR statistics do not come in."""
    return bi(f"MR 栅格统计不支持文件类型 {suffix or '(none)'!r}；应为 .csv、.parquet 或 .xlsx",
              f"unsupported file type {suffix or '(none)'!r} for MR grid statistics; use .csv, .parquet or .xlsx")


def two_columns(name: str, first: str, second: str) -> str:
    """Two headers that mean the same column."""
    return bi(f"有两列都表示{column_zh(name)}：{first!r} 和 {second!r}",
              f"two columns mean {name}: {first!r} and {second!r}")


def not_a_channel(number: float) -> str:
    """An ARFCN that is not a whole number."""
    return bi(f"ARFCN {number:g} 不是频点号（应为整数）", f"ARFCN {number:g} is not a channel number")


def unknown_arfcn(number: int, rat: str) -> str:
    """A downlink channel number in no band of its RAT (TS 38.104 NR-ARFCN, TS 36.101 EARFCN)."""
    if rat == "NR":
        ranges = ", ".join(f"{b} {lo}-{hi}" for b, lo, hi in NR_CHANNELS[:8])
        return bi(f"未知的 ARFCN {number}：不在 TS 38.104 表 5.4.2.3-1 的任何下行 NR-ARFCN 范围内",
                  f"unknown ARFCN {number}: in no downlink NR-ARFCN range of TS 38.104 Table 5.4.2.3-1 ({ranges}, ...)")
    ranges = ", ".join(f"{c.band} {c.n_first}-{c.n_last}" for c in EUTRA_CHANNELS if c.link == "DL")
    return bi(f"未知的 ARFCN {number}：不在 TS 36.101 表 5.7.3-1 的任何下行 EARFCN 范围内",
              f"unknown ARFCN {number}: in no downlink EARFCN range of TS 36.101 Table 5.7.3-1 ({ranges})")


def arfcn_clash(number: int, of_arfcn: str, given: str) -> str:
    """An ARFCN in another band than the row's band column says."""
    return bi(f"ARFCN {number} 属于 {of_arfcn}，与给出的频段（{given}）不一致",
              f"ARFCN {number} is in {of_arfcn}, not in the band given ({given})")


def bad_grid_size(size: float, sizes: Sequence[float]) -> str:
    """A grid size operators do not use."""
    return bi(f"栅格大小 {size:g} 米不正确（运营商的栅格为 {'、'.join(f'{g:g}' for g in sizes)} 米）",
              f"wrong grid size {size:g} m (operators' grids are {', '.join(f'{g:g}' for g in sizes)} m)")


def range_problem(what: str, value: float, unit: str, bounds: tuple[float, float]) -> str:
    """``mean RSRP`` / ``mean SINR`` / ``threshold`` ``value`` outside ``bounds``."""
    zh = {"mean RSRP": "平均 RSRP", "mean SINR": "平均 SINR", "threshold": "达标门限"}[what]
    lo, hi = f"{bounds[0]:g}", f"{bounds[1]:g}"
    return out_of_range(f"{value:g} {unit}", lo, hi, unit, f"{what} {value:g} {unit} outside {lo}..{hi}", what=zh)


def other_threshold(value: float, threshold: float) -> str:
    """A row's threshold that differs from the file's."""
    return bi(f"达标门限 {value:g} dBm 与本文件的 {threshold:g} dBm 不同（每个文件只能有一个门限）",
              f"threshold {value:g} dBm differs from the file's {threshold:g} dBm (one threshold per file)")


def outside(x: float, y: float, swapped: bool, crs_name: str) -> str:
    """A grid outside China, as the file gives it."""
    english = f"({x:g}, {y:g}) is outside China" + (" (latitude and longitude swapped?)" if swapped else
                                                     f" in {crs_name}")
    return outside_china(f"栅格 ({x:g}, {y:g})", english, "（经纬度颠倒了？）" if swapped else f"（坐标系 {crs_name}）")
