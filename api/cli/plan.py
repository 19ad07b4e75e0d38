"""``village5g plan`` and ``village5g analyze --add-sites``: fill-in (补盲) site planning and what-if.

Registered in :mod:`api.cli.root`; the store and the consoles come from :mod:`api.cli.context`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.cli.context import console, wrote
from api.cli.context import open_store as _store
from api.cli.context import steps as _steps
from coverage.errors import bi


def plan_command(
    sites: Annotated[int, typer.Option("--sites", help=bi("规划的新站数", "Number of new sites to plan"))],
    band: Annotated[str, typer.Option(help=bi("新站的 NR 频段", "NR band of the new sites: n28 n41 n78 n79"))] = "n41",
    operator: Annotated[str, typer.Option(help=bi("新站的运营商",
                                                  "Operator of the new sites: CMCC CUCC CTCC CBN"))] = "CMCC",
    candidates: Annotated[Path | None, typer.Option(
        help=bi("候选站址",
                "Candidate locations (CSV/XLSX/GeoJSON/GPKG with lon/lat, WGS84), e.g. tower-company sites; "
                "default: committee points of the villages not covered"))] = None,
    region: Annotated[str | None, typer.Option(
        help=bi("区划代码前缀：只统计该处的增益",
                "Division code prefix (city 3203, county 320321): count gains there only"))] = None,
    output: Annotated[list[Path] | None, typer.Option(
        "-o", "--output", help=bi("排名清单文件（可重复）",
                                  "Ranked list: .csv (UTF-8 BOM), .xlsx, .geojson, .gpkg or .html (map); "
                                  "repeatable"))] = None,
    sites_file: Annotated[Path | None, typer.Option(
        "--sites-file", help=bi("同时把规划站点写成基站文件",
                                "Also write the planned sites as a stations file (3 sectors each) for "
                                "`analyze --add-sites` or `ingest stations`"))] = None,
    resolution: Annotated[float, typer.Option(help=bi("预测像素大小（米）",
                                                      "Pixel size of the prediction (m)"))] = 100.0,
    rules: Annotated[str | None, typer.Option(
        help=bi("规则集", "Rule set: a name (planning-90, default) or a TOML/JSON file; planning-90 (90 % location "
                "probability, 10.25 dB margin) otherwise"))] = None,
    scope: Annotated[str, typer.Option(help=bi("分析范围",
                                               "committees (NBS 200-399) or all village-level units"))] = "committees",
) -> None:
    """选择让最多行政村达到通达的新站址（贪心最大覆盖）。

    Choose new sites that bring the most villages to covered (greedy maximum coverage)."""
    from coverage.ingest.export import write_output, write_table
    from coverage.model.parameters import ModelParameters
    from coverage.model.rules import PLANNING_RULES, load_rules
    from coverage.planning.sites import plan_sites, plan_stations, read_candidates, read_scope
    from coverage.summary import rate_text, reach_rate

    rule_set = load_rules(rules) if rules else PLANNING_RULES
    params = ModelParameters(resolution_m=resolution)
    points = read_candidates(candidates) if candidates else None
    with _store() as store, _steps() as step:
        villages, stations, measurements = read_scope(store, scope)
        plan = plan_sites(villages, stations, measurements, n_sites=sites, rules=rule_set, params=params,
                          band=band, operator=operator, candidates=points, region=region, progress=step)
    before = plan.covered_before
    after, seconds = before + int(plan.sites["gained"].sum()), plan.timings_s["total_s"]
    rates = f"{rate_text(reach_rate(before, plan.villages))} -> {rate_text(reach_rate(after, plan.villages))}"
    console.print(bi(f"从 {plan.candidates:,} 个候选点规划 {len(plan.sites)} 个站点，用时 {seconds:.1f} 秒"
                     f"（{rule_set.label}）；{plan.villages:,} 个行政村中通达 {before:,} -> {after:,}；通达率 {rates}",
                     f"{len(plan.sites)} sites planned from {plan.candidates:,} candidates in {seconds:.1f} s "
                     f"({rule_set.label}); covered {before:,} -> {after:,} of {plan.villages:,} villages; 通达率 "
                     f"{rates}"), soft_wrap=True)
    for row in plan.sites.itertuples():
        console.print(f"{row.rank:>3} {row.site_id} {row.lon:.6f},{row.lat:.6f} {row.band} {row.operator} "
                      f"+{row.gained} -> {row.reach_rate:.2%}", soft_wrap=True)
    for path in output or []:
        if path.suffix.lower() in (".html", ".htm"):
            from maps.plan import plan_map

            plan_map(plan.sites, villages, path)
        else:
            write_table(plan.sites, path, layer="plan")
        wrote(path)
    if sites_file:
        write_output("stations", plan_stations(plan), sites_file)
        wrote(sites_file)


def what_if_command(add_sites: Path, output: Path | None) -> None:
    """``analyze --add-sites FILE``: evaluate proposed stations without storing them."""
    from coverage.ingest import read_input
    from coverage.ingest.export import write_table
    from coverage.planning.sites import what_if_store

    added = read_input("stations", add_sites).frame
    with _store() as store, _steps() as step:
        step(bi(f"假设分析：{add_sites.name} 中拟建小区 {len(added):,} 个",
                f"what-if: {len(added):,} proposed cells from {add_sites.name}"))
        run_id, changed, counts = what_if_store(store, added)
    n = max(counts["villages"], 1)
    covered = f"{counts['before']:,} -> {counts['after']:,}"
    rates = f"{counts['before'] / n:.1%} -> {counts['after'] / n:.1%}"
    console.print(bi(f"对照运行 {run_id} 的假设分析（未存储）：{counts['villages']:,} 个行政村中通达 {covered}；"
                     f"通达率 {rates}；{len(changed):,} 个行政村结论改变",
                     f"what-if against run {run_id} (nothing stored): covered {covered} of {counts['villages']:,}; "
                     f"通达率 {rates}; {len(changed):,} villages change verdict"), soft_wrap=True)
    for row in changed.head(50).itertuples():
        console.print(f"{row.code} {row.name} {row.verdict_before} -> {row.verdict_after}", soft_wrap=True)
    if output:
        write_table(changed, output, layer="whatif")
        wrote(output)
