"""``village5g villages`` and ``village5g summary``: a run's village lists and 通达率 per region, printed or
written as files. The commands are registered in :mod:`api.cli.root`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from api.cli.context import console, heading, region_options, wrote
from api.cli.context import open_store as _store
from api.cli.context import print_rows as _print_rows
from api.cli.options import Lang, LangOption, Level, TableFormat
from api.cli.reports import print_history
from coverage.errors import Village5gError, bi


def villages(
    status_: Annotated[str | None, typer.Option(
        "--status", help=bi("只列该结论", "Only this verdict: covered (5G通达, 已覆盖), weak (弱覆盖) or "
                                          "uncovered (无覆盖)"))] = None,
    no_site: Annotated[bool, typer.Option("--no-site", help=bi("只列无站址行政村",
                                                               "Only villages without a site (无站址)"))] = False,
    city: Annotated[str | None, typer.Option(help=bi("地市代码或名称", "City code or name"))] = None,
    county: Annotated[str | None, typer.Option(
        help=bi("区县代码或名称",
                "County code or name (a name two counties carry: give the code, or --city too)"))] = None,
    run: Annotated[int | None, typer.Option(help=bi("运行编号", "Run id (default: the latest published)"))] = None,
    fmt: Annotated[TableFormat, typer.Option("--format", help=bi("输出格式", "Output format"))] = TableFormat.table,
    output: Annotated[Path | None, typer.Option("-o", "--output", help=bi("要写出的文件",
                                                                          "File to write (all formats but table)"))
                      ] = None,
    limit: Annotated[int, typer.Option(help=bi("--format table 显示的行数", "Rows shown by --format table"))] = 50,
    lang: LangOption = Lang.zh,
) -> None:
    """列出某次运行的行政村及结论，可筛选（如某市的无覆盖清单）。

    List villages of a run with their verdicts, filtered (e.g. the uncovered list of a city)."""
    from coverage.ingest.export import write_table
    from coverage.labels import parse_verdict
    from coverage.store.queries import village_table
    from coverage.store.regions import resolve_division
    from coverage.store.results_query import VillageQuery, query_villages

    try:
        verdict = parse_verdict(status_) if status_ else None
    except Village5gError as exc:
        raise typer.BadParameter(str(exc), param_hint="--status") from None
    with _store() as store, region_options():
        run_id = store.published_run(run)
        city_code = resolve_division(store, "city", city, run_id=run_id, known=True) if city else None
        county_code = (resolve_division(store, "county", county, run_id=run_id, within=(city_code or "",), known=True)
                       if county else None)
        query = VillageQuery(verdict=verdict, no_site=True if no_site else None, city_code=city_code,
                             county_code=county_code)
        results, _ = query_villages(store, run_id, query, count=False)
    table = village_table(results)
    if fmt == TableFormat.table:
        _print_villages(table, limit)
        return
    if output is None:
        raise typer.BadParameter(bi("该格式需要 -o 文件", "-o FILE is needed for this format"), param_hint="--output")
    write_table(table, output, fmt=fmt.value, layer="villages", lang=lang.value)
    run_id = results.attrs["run_id"]
    console.print(bi(f"已写出运行 {run_id} 的 {len(table):,} 个行政村到 {output}",
                     f"wrote {len(table):,} villages of run {run_id} to {output}"), soft_wrap=True)


def summary(
    level: Annotated[Level | None, typer.Option(
        help=bi("汇总的区域级别", "Regions to summarise (default: city; with --history: province)"))] = None,
    run: Annotated[int | None, typer.Option(help=bi("运行编号", "Run id (default: the latest published)"))] = None,
    target: Annotated[float | None, typer.Option(help=bi("通达率目标 0-1",
                                                         "Reach-rate target 0-1 (default: the run's rule set)"))
                      ] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help=bi("同时写出 CSV 或 XLSX",
                                                                          "Also write CSV or XLSX"))] = None,
    history: Annotated[bool, typer.Option(
        "--history", help=bi("改为列出每次发布运行的通达率",
                             "通达率 of every published run instead (levels province, city, county)"))] = False,
    code: Annotated[str | None, typer.Option(help=bi("与 --history 一起：只列代码以此开头的区域",
                                                     "With --history: only regions whose code starts with this"))
                    ] = None,
    lang: LangOption = Lang.zh,
) -> None:
    """各区域 5G 通达率、结论计数、无站址行政村和距目标差距，含全省合计行。

    通达率 (5G reach rate), verdict counts, no-site villages and gap to target per region, with a
    total row for the whole province."""
    from coverage.ingest.export import write_table
    from coverage.store.regions import LEVEL_NAMES_ZH
    from coverage.store.results_query import result_rows
    from coverage.summary import summarize, with_parent_city

    if history:
        print_history(level=level.value if level else "province", code=code, since=None, output=output,
                      lang=lang.value)
        return
    level = level or Level.city
    with _store() as store:  # the rows the API's /summary reads: no geometry
        run_id = store.published_run(run)
        record = store.read_run(run_id)
        results = result_rows(store, run_id)
    target_rate = target if target is not None else float(record["rules"]["target_rate"])
    frame = summarize(results, level=level.value, target_rate=target_rate)
    total = summarize(results, level="province", target_rate=target_rate) if level != Level.province else None
    _print_summary(frame, total, title=f"分析运行 {record['id']}：各{LEVEL_NAMES_ZH[level.value]} 5G 通达率，目标 "
                                       f"{target_rate:.0%} (run {record['id']}: 5G reach rate by {level.value}, "
                                       f"target {target_rate:.0%})")
    if output:
        write_table(with_parent_city(frame, results), output, layer="summary", lang=lang.value)
        wrote(output)


def _print_summary(frame: object, total: object, *, title: str) -> None:
    """The summary as a table whose code and name are never cut, with a bold total row."""
    import pandas as pd

    assert isinstance(frame, pd.DataFrame)

    def cells(row: dict[Any, Any]) -> list[str]:
        counts = ("villages", "covered", "weak", "uncovered", "no_site")
        expected = float(row.get("expected_rate", float("nan")))
        interval = "" if expected != expected else (f"{expected:.1%} ({float(row['rate_low']):.1%}-"
                                                    f"{float(row['rate_high']):.1%})")
        return [str(row["code"]), str(row["name"] or ""), *(f"{int(row[c]):,}" for c in counts),
                f"{float(row['reach_rate']):.1%}", interval, f"{int(row['gap_villages']):,}"]

    rows = [cells(r) for r in frame.to_dict("records")]
    totals = [cells(r) for r in total.to_dict("records")] if isinstance(total, pd.DataFrame) else []
    _print_rows(title, [heading("代码", "code"), heading("名称", "name"), heading("行政村数", "villages"),
                        heading("5G通达", "covered"), heading("弱覆盖", "weak"), heading("无覆盖", "uncovered"),
                        heading("无站址", "no site"), heading("通达率", "reach rate"),
                        heading("期望通达率(95%)", "expected (95%)"), heading("距目标差(村)", "gap")],
                rows, totals=totals, left=2)


def _print_villages(table: object, limit: int) -> None:
    import pandas as pd

    from coverage.ingest.messages import bi
    from coverage.labels import VERDICT_LABELS

    assert isinstance(table, pd.DataFrame)
    head = table.head(limit)
    rows = [[str(r["code"]), str(r["name"] or ""), str(r["county_name"] or ""),
             VERDICT_LABELS.get(str(r["verdict"]), str(r["verdict"])), _fmt(r["p_covered"], "{:.0%}"),
             "是" if r["no_site"] else "", _fmt(r["nearest_site_m"], "{:,.0f}"), _fmt(r["good_share"], "{:.0%}"),
             _fmt(r["committee_rsrp_dbm"], "{:.1f}")] for r in head.to_dict("records")]
    n = f"{len(table):,}"
    title = (bi(f"{n} 个行政村（显示前 {limit} 个；-o FILE 写出全部行及所有列）",
                f"{n} villages (first {limit}; -o FILE writes them all with every column)") if len(table) > limit
             else bi(f"{n} 个行政村", f"{n} villages"))
    _print_rows(title, [heading("代码", "code"), heading("名称", "name"), heading("区县", "county"),
                        heading("结论", "verdict"), heading("通达概率", "p"), heading("无站址", "no site"),
                        heading("最近站点(米)", "site m"), heading("良好占比", "good"), heading("村委会RSRP", "dBm")],
                rows, left=5, shrink=2)
    console.print(bi("通达概率：该村 5G 通达的概率；最近站点(米)：到最近在用 5G 站址的距离；"
                     "良好占比：良好覆盖面积占比；村委会RSRP：村委会处预测 SS-RSRP (dBm)",
                     "p: probability that the village is covered; site m: distance to the nearest active 5G site; "
                     "good: share of the area with good coverage; dBm: predicted SS-RSRP at the village committee"),
                  style="dim", soft_wrap=True)


def _fmt(value: object, spec: str) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return spec.format(value)
