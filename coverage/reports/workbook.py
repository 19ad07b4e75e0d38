"""Reports of a published run for the province or one city (or county): what the analyst hands on.

:func:`report_data` gathers everything once: KPIs per region below the report's region (counts,
通达率 against the target, last run's rate), the uncovered (无覆盖) and weak (弱覆盖) village lists, the
villages newly flagged or cleared since the previous published run (:func:`compare_runs`, the same
comparison as ``/runs/{id}/diff``) and the 通达率 series over runs (:func:`kpi_history`).
:func:`write_report_xlsx` writes it as a workbook with Chinese headers; ``maps.report`` renders the
same data as an HTML page with a chart and a map.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import func, select

from coverage.errors import ConfigError, NotFoundError, bi
from coverage.labels import CONFIDENCE_LABELS, SOURCE_LABELS, VERDICT_LABELS
from coverage.runs.history import CODE_WIDTH, kpi_history
from coverage.store.results_query import VillageQuery, compare_runs, query_villages, resolve_run, result_rows
from coverage.store.storage import Store
from coverage.store.tables import runs
from coverage.summary import summarize
from coverage.writers import Sheet, append_table, atomic_write, header_cells, xlsx_cell

__all__ = ["CHANGE_LABELS", "REPORT_TZ", "SHEETS", "VERDICT_LABELS", "ReportData", "local_time", "parse_region",
           "previous_run", "report_data", "write_report_xlsx"]

#: Kinds of change between runs (:func:`coverage.store.results_query.compare_runs`) as the reports name them.
CHANGE_LABELS = {"flagged": "新增问题", "cleared": "已消除", "changed": "有升有降", "added": "新增村",
                 "removed": "移除村"}

#: Columns of the village lists (uncovered, weak), in order.
LIST_COLUMNS = ("code", "name", "township_name", "county_name", "city_name", "verdict", "p_covered", "confidence",
                "no_site", "nearest_site_m",
                "nearest_site_id", "sites_inside", "good_share", "committee_rsrp_dbm", "committee_sinr_db",
                "verdict_source", "n_measurements", "reasons")

#: The level below each report region's level: the rows of its KPI sheets.
_SUBLEVELS = {"province": ("city", "county"), "city": ("county",), "county": ()}


@dataclass
class ReportData:
    """Everything a report of one region and run shows.

    ``kpis`` maps a level (``city``, ``county``) to :func:`coverage.summary.summarize` rows of the
    regions inside the report's region plus ``reach_rate_before`` and ``change`` against
    ``previous_run_id``; ``totals`` is one row of the same shape for the whole region. ``changes``
    is the village part of :func:`compare_runs` (empty without a previous run); ``history`` the
    :func:`kpi_history` rows of the report's region.
    """

    run_id: int
    finished_at: dt.datetime | None
    rules: str
    target_rate: float
    level: str
    code: str
    name: str
    previous_run_id: int | None
    totals: dict[str, Any]
    kpis: dict[str, pd.DataFrame]
    uncovered: pd.DataFrame
    weak: pd.DataFrame
    changes: pd.DataFrame
    change_counts: dict[str, int]
    history: pd.DataFrame

    @property
    def title(self) -> str:
        """``江苏省 5G 行政村通达率报告`` style heading."""
        return f"{self.name} 行政村5G通达率报告"


#: Times in reports are Beijing time (stored times are naive UTC).
REPORT_TZ = ZoneInfo("Asia/Shanghai")


def local_time(value: Any) -> dt.datetime | None:
    """A stored naive-UTC time as naive Beijing time (None stays None)."""
    if value is None or value is pd.NaT or (isinstance(value, float) and value != value):
        return None
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return stamp.tz_convert(REPORT_TZ).tz_localize(None).to_pydatetime()


def parse_region(region: str | None) -> tuple[str, str | None]:
    """``(level, code prefix)`` of a report region: None or ``province`` (whole province, no prefix),
    a 2-digit province, 4-digit city or 6-digit county code."""
    if region is None or region == "province":
        return "province", None
    widths = {w: level for level, w in CODE_WIDTH.items()}
    if not region.isdigit() or len(region) not in widths:
        raise ConfigError(f"报告区域 {region!r}：请用 'province'（全省）、4 位地市代码或 6 位县区代码 "
                          f"(report region {region!r}: use 'province', a 4-digit city or a 6-digit county code)")
    return widths[len(region)], region


def previous_run(store: Store, run_id: int) -> int | None:
    """The newest published run older than ``run_id``, or None."""
    with store.engine.connect() as conn:
        value = conn.execute(select(func.max(runs.c.id))
                             .where(runs.c.status == "published", runs.c.id < run_id)).scalar()
    return int(value) if value is not None else None


def report_data(store: Store, *, region: str | None = None, run_id: int | None = None,
                village_lists: bool = True) -> ReportData:
    """Gather a report of ``region`` (see :func:`parse_region`) for a published run (default: latest).

    Without ``village_lists`` the uncovered and weak lists are left empty (the HTML report does not
    show them). Raises :class:`NotFoundError` when the run is not published or has no village in the region.
    """
    level, prefix = parse_region(region)
    run = resolve_run(store, run_id)
    record = store.read_run(run)
    target_rate = float(record["rules"]["target_rate"])
    limits = (prefix,) if prefix else ()
    rows = result_rows(store, run, regions=limits)
    if rows.empty:
        raise NotFoundError(f"分析运行 {run} 在区域 {region or '全省'} 内没有行政村 "
                            f"(run {run} has no village in region {region or 'province'})")
    code = prefix or str(rows["province_code"].iloc[0])
    level_name = f"{level}_name"
    names = rows[level_name].dropna()
    name = str(names.iloc[0]) if len(names) else code
    before = previous_run(store, run)
    before_rows = result_rows(store, before, regions=limits) if before is not None else None
    kpis = {}
    for sub in _SUBLEVELS[level]:
        frame = summarize(rows, level=sub, target_rate=target_rate)
        kpis[sub] = _with_change(frame, summarize(before_rows, level=sub, target_rate=target_rate)
                                 if before_rows is not None and len(before_rows) else None)
    totals = summarize(rows, level=level, target_rate=target_rate)
    totals = _with_change(totals, summarize(before_rows, level=level, target_rate=target_rate)
                          if before_rows is not None and len(before_rows) else None)
    if before_rows is not None:
        changes, _, counts = compare_runs(before_rows, rows, level=level)
        order = {k: i for i, k in enumerate(CHANGE_LABELS)}
        changes = changes.sort_values(["change", "code"], key=lambda s: s.map(order) if s.name == "change" else s,
                                      kind="stable").reset_index(drop=True)
    else:
        changes, counts = _no_changes(), {k: 0 for k in CHANGE_LABELS}
    history = kpi_history(store, level=level, code=code)
    # a report of an earlier run shows the history as it stood then
    history = history[(history["code"] == code) & (history["finished_at"] <= pd.Timestamp(record["finished_at"]))]
    history = history.reset_index(drop=True)
    return ReportData(
        run_id=run, finished_at=record["finished_at"],
        rules=f"{record['rules'].get('name')}@{record['rules'].get('version')}", target_rate=target_rate,
        level=level, code=code, name=name, previous_run_id=before,
        totals={str(k): v for k, v in totals.iloc[0].to_dict().items()},
        kpis=kpis, uncovered=_village_list(store, run, "uncovered", limits if village_lists else None),
        weak=_village_list(store, run, "weak", limits if village_lists else None), changes=changes,
        change_counts={k: int(counts.get(k, 0)) for k in CHANGE_LABELS}, history=history,
    )


def _with_change(frame: pd.DataFrame, before: pd.DataFrame | None) -> pd.DataFrame:
    out = frame.copy()
    if before is None:
        out["reach_rate_before"] = float("nan")
    else:
        out = out.merge(before[["code", "reach_rate"]].rename(columns={"reach_rate": "reach_rate_before"}),
                        on="code", how="left")
    out["change"] = out["reach_rate"] - out["reach_rate_before"]
    return out


def _no_changes() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in (
        "code", "name", "county_code", "county_name", "before_verdict", "after_verdict", "before_no_site",
        "after_no_site", "change")})


def _village_list(store: Store, run_id: int, verdict: str, regions: tuple[str, ...] | None) -> pd.DataFrame:
    if regions is None:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in LIST_COLUMNS})
    frame, _ = query_villages(store, run_id, VillageQuery(verdict=verdict, regions=regions), count=False)
    return pd.DataFrame(frame[list(LIST_COLUMNS)]).reset_index(drop=True)


# -- XLSX ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Col:
    key: str
    header: str
    width: float
    number_format: str | None = None
    convert: Callable[[Any], Any] | None = None


def _yes(value: Any) -> str:
    return "是" if value is True or value == 1 else ""


def _verdict(value: Any) -> Any:
    return VERDICT_LABELS.get(value, value)


_CODE, _INT, _RATE, _M = "@", "#,##0", "0.0%", "#,##0"

_KPI_COLUMNS = (
    _Col("code", "代码", 10, _CODE), _Col("name", "名称", 16), _Col("villages", "行政村数", 10, _INT),
    _Col("covered", "5G通达", 10, _INT), _Col("weak", "弱覆盖", 10, _INT), _Col("uncovered", "无覆盖", 10, _INT),
    _Col("no_site", "无站址", 10, _INT), _Col("reach_rate", "通达率", 10, _RATE),
    _Col("target_rate", "目标", 8, _RATE), _Col("gap_villages", "距目标差(村)", 13, _INT),
    _Col("reach_rate_before", "上期通达率", 12, _RATE), _Col("change", "变化", 9, "+0.0%;-0.0%;0.0%"),
)
_LIST_COLUMNS = (
    _Col("code", "村代码", 15, _CODE), _Col("name", "村名称", 16), _Col("township_name", "乡镇", 12),
    _Col("county_name", "区县", 10), _Col("city_name", "地市", 9), _Col("verdict", "结论", 9, None, _verdict),
    _Col("p_covered", "通达概率", 10, _RATE),
    _Col("confidence", "可信度", 8, None, lambda v: CONFIDENCE_LABELS.get(v, v)),
    _Col("no_site", "无站址", 8, None, _yes), _Col("nearest_site_m", "最近站点距离(米)", 16, _M),
    _Col("nearest_site_id", "最近站点", 14, _CODE), _Col("sites_inside", "村内站点数", 11, _INT),
    _Col("good_share", "良好覆盖面积占比", 17, _RATE), _Col("committee_rsrp_dbm", "村委会SS-RSRP(dBm)", 19, "0.0"),
    _Col("committee_sinr_db", "村委会SS-SINR(dB)", 18, "0.0"),
    _Col("verdict_source", "依据", 9, None, lambda v: SOURCE_LABELS.get(v, v)),
    _Col("n_measurements", "实测样本数", 11, _INT), _Col("reasons", "原因代码", 40),
)
_CHANGE_COLUMNS = (
    _Col("change", "变化", 10, None, lambda v: CHANGE_LABELS.get(v, v)), _Col("code", "村代码", 15, _CODE),
    _Col("name", "村名称", 16), _Col("county_name", "区县", 10),
    _Col("before_verdict", "上期结论", 10, None, _verdict), _Col("after_verdict", "本期结论", 10, None, _verdict),
    _Col("before_no_site", "上期无站址", 11, None, _yes), _Col("after_no_site", "本期无站址", 11, None, _yes),
)
_HISTORY_COLUMNS = (
    _Col("run_id", "运行", 7), _Col("finished_at", "完成时间(北京时间)", 18, "yyyy-mm-dd hh:mm", local_time),
    _Col("villages", "行政村数", 10, _INT), _Col("covered", "5G通达", 10, _INT), _Col("weak", "弱覆盖", 10, _INT),
    _Col("uncovered", "无覆盖", 10, _INT), _Col("no_site", "无站址", 10, _INT),
    _Col("reach_rate", "通达率", 10, _RATE), _Col("target_rate", "目标", 8, _RATE),
)

#: Sheet names of the workbook.
SHEETS = {"overview": "概况", "city": "分市指标", "county": "分县指标", "uncovered": "无覆盖村", "weak": "弱覆盖村",
          "changes": "较上期变化", "history": "通达率历史"}


def _sheet(workbook: Any, title: str, frame: pd.DataFrame, columns: tuple[_Col, ...]) -> None:
    values = {c.header: pd.Series([c.convert(v) for v in frame[c.key].tolist()] if c.convert
                                  else frame[c.key].tolist(), dtype=object, index=range(len(frame)))
              for c in columns}
    table = pd.DataFrame(values, index=range(len(frame)))
    append_table(workbook, title, Sheet(table, [c.width for c in columns], [c.number_format for c in columns]))


def _overview(workbook: Any, data: ReportData) -> None:
    sheet = workbook.create_sheet(SHEETS["overview"])
    t = data.totals
    counts = data.change_counts
    rows: list[tuple[str, Any, str | None]] = [
        ("报告", data.title, None), ("区域代码", data.code, _CODE), ("分析运行", data.run_id, None),
        ("完成时间(北京时间)", local_time(data.finished_at), "yyyy-mm-dd hh:mm"), ("规则集", data.rules, None),
        ("行政村数", t["villages"], _INT), ("5G通达", t["covered"], _INT), ("弱覆盖", t["weak"], _INT),
        ("无覆盖", t["uncovered"], _INT), ("无站址", t["no_site"], _INT), ("通达率", t["reach_rate"], _RATE),
        ("目标", data.target_rate, _RATE), ("距目标差(村)", t["gap_villages"], _INT),
        ("上期运行", data.previous_run_id, None), ("上期通达率", t["reach_rate_before"], _RATE),
        *((f"{CHANGE_LABELS[k]}(村)", counts[k], _INT) for k in CHANGE_LABELS),
    ]
    sheet.column_dimensions["A"].width = 18
    sheet.column_dimensions["B"].width = 30
    sheet.freeze_panes = "A2"
    sheet.append(header_cells(sheet, ["项目", "值"]))
    for label, value, fmt in rows:
        sheet.append([xlsx_cell(sheet, label), xlsx_cell(sheet, value, fmt)])


def write_report_xlsx(store: Store, path: str | Path, *, region: str | None = None, run_id: int | None = None
                      ) -> Path:
    """Write the XLSX report of ``region`` (None/``province``, a city or a county code) for a run.

    Sheets: 概况 (overview: totals, 通达率 against the target, change counts), 分市指标 (province
    reports) and 分县指标 (KPIs per city and county with the previous run's rate), 无覆盖村 and 弱覆盖村
    (village lists), 较上期变化 (villages newly flagged or cleared since the previous published run)
    and 通达率历史 (the region's series). Headers are Chinese, the header row frozen, rates formatted
    as percentages and codes as text. The file appears complete or not at all.
    """
    import openpyxl

    path = Path(path)
    if path.suffix.lower() != ".xlsx":
        raise ConfigError(bi(f"无法写出 XLSX 报告 {path.name!r}：文件名应以 .xlsx 结尾",
                             f"cannot write an XLSX report to {path.name!r}: use a .xlsx file name"))
    data = report_data(store, region=region, run_id=run_id)
    workbook = openpyxl.Workbook(write_only=True)  # rows streamed: a province's weak list is 50k+ cells
    _overview(workbook, data)
    for level, frame in data.kpis.items():
        _sheet(workbook, SHEETS[level], frame, _KPI_COLUMNS)
    _sheet(workbook, SHEETS["uncovered"], data.uncovered, _LIST_COLUMNS)
    _sheet(workbook, SHEETS["weak"], data.weak, _LIST_COLUMNS)
    _sheet(workbook, SHEETS["changes"], data.changes, _CHANGE_COLUMNS)
    _sheet(workbook, SHEETS["history"], data.history, _HISTORY_COLUMNS)
    try:
        with atomic_write(path, suffix=".xlsx") as tmp:
            workbook.save(tmp)
    finally:
        workbook.close()
    return path
