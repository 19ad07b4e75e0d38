"""``village5g report`` and ``village5g summary --history``: reports and the 通达率 series over runs.

``report_command`` is registered in :mod:`api.cli.root` with ``app.command("report")``; ``print_history``
is what ``summary --history`` prints. The store and the console come from :mod:`api.cli.context`.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from api.cli.context import console, heading, open_store, print_rows, wrote
from coverage.errors import bi

if TYPE_CHECKING:
    import pandas as pd


class ReportFormat(StrEnum):
    xlsx = "xlsx"
    html = "html"


def print_history(*, level: str, code: str | None, since: dt.datetime | None, output: Path | None,
                  lang: str = "zh") -> None:
    """Print 通达率 per published run for the regions of ``level`` (one table), optionally write it."""
    from coverage.reports.workbook import local_time
    from coverage.runs.history import kpi_history
    from coverage.store.regions import LEVEL_NAMES_ZH

    with open_store() as store:
        frame = kpi_history(store, level=level, code=code, since=since)
    if frame.empty:
        since_zh, since_en = (f"自 {since} 起", f" since {since}") if since else ("", "")
        console.print(bi(f"{since_zh}没有已发布的分析运行含{LEVEL_NAMES_ZH.get(level, level)}级行政村"
                         + (f"（{code}）" if code else ""),
                         f"no published run{since_en} has villages at level {level}" + (f" in {code}" if code else "")))
        return
    regions = frame.drop_duplicates("code")[["code", "name"]]
    where = f" {code}" if code else ""
    title_zh = f"各次分析运行的{LEVEL_NAMES_ZH.get(level, level)} 5G 通达率{where}（北京时间）"
    title_en = f"5G reach rate by run, {level}{where} (times: Beijing)"
    runs = frame.drop_duplicates("run_id")[["run_id", "finished_at", "target_rate"]]
    if len(regions) == 1:
        headers = [heading(zh, en) for zh, en in (
            ("运行", "run"), ("完成时间", "finished"), ("行政村数", "villages"), ("5G通达", "covered"),
            ("弱覆盖", "weak"), ("无覆盖", "uncovered"), ("无站址", "no site"), ("通达率", "reach rate"),
            ("目标", "target"), ("变化", "change"))]
        rows, previous = [], None
        for row in frame.to_dict("records"):
            rate = float(row["reach_rate"])
            rows.append([str(row["run_id"]), _when(local_time(row["finished_at"])), f"{row['villages']:,}",
                         f"{row['covered']:,}", f"{row['weak']:,}", f"{row['uncovered']:,}", f"{row['no_site']:,}",
                         f"{rate:.1%}", f"{row['target_rate']:.0%}",
                         "" if previous is None else f"{rate - previous:+.1%}"])
            previous = rate
        print_rows(bi(title_zh, title_en), headers, rows, left=2)
    else:
        # one row per region (code and name whole), one column per run: regions outnumber runs
        rates = frame.pivot(index="code", columns="run_id", values="reach_rate")
        headers = [heading("代码", "code"), heading("名称", "name"),
                   *(heading(f"运行 {r['run_id']} (run {r['run_id']})", _when(local_time(r["finished_at"])))
                     for r in runs.to_dict("records"))]
        rows = [[str(rec["code"]), str(rec["name"] or ""),
                 *("" if v != v else f"{v:.1%}" for v in rates.loc[rec["code"]].reindex(runs["run_id"]).tolist())]
                for rec in regions.to_dict("records")]
        target = ", ".join(sorted({f"{t:.0%}" for t in runs["target_rate"]}))
        print_rows(bi(f"{title_zh}，目标 {target}", f"{title_en}, target {target}"), headers, rows, left=2)
    _written(frame, output, lang)


def _written(frame: pd.DataFrame, output: Path | None, lang: str) -> None:
    from coverage.ingest.export import write_table

    if output:
        write_table(frame, output, layer="history", lang=lang)
        wrote(output)


def _when(value: dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else ""


def report_command(
    output: Annotated[Path, typer.Option("-o", "--output", help=bi("要写出的文件", "File to write (.xlsx or .html)"))],
    region: Annotated[str | None, typer.Option(
        help=bi("区域", "province (default), a 4-digit city or a 6-digit county code"))] = None,
    fmt: Annotated[ReportFormat | None, typer.Option(
        "--format", help=bi("格式", "xlsx or html (default: from the file name)"))] = None,
    run: Annotated[int | None, typer.Option(help=bi("运行编号", "Run id (default: the latest published)"))] = None,
) -> None:
    """写出区域报告：XLSX 或 HTML（离线可用）。

    Write the report of a region: XLSX (KPIs by city/county, uncovered and weak villages, changes since
    the previous run, 通达率 history) or HTML (KPIs, chart of 通达率 over runs, changes, map; works offline)."""
    from coverage.reports.workbook import write_report_xlsx
    from maps.report import write_report_html

    chosen = fmt.value if fmt is not None else output.suffix.lower().lstrip(".")
    if chosen == "htm":
        chosen = "html"
    if chosen not in ("xlsx", "html"):
        raise typer.BadParameter(bi(f"无法从 {output.name!r} 判断格式：请用 .xlsx 或 .html，或指定 --format",
                                    f"cannot tell the format from {output.name!r}: use .xlsx or .html, or --format"),
                                 param_hint="--format")
    with open_store() as store:
        if chosen == "xlsx":
            path = write_report_xlsx(store, output, region=region, run_id=run)
        else:
            path = write_report_html(store, output, region=region, run_id=run)
    size_mb = path.stat().st_size / 1e6
    wrote(path, f"（{size_mb:.2f} MB，区域 {region or '全省'}）", f" ({size_mb:.2f} MB, region {region or 'province'})")
