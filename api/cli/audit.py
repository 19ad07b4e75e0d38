"""``village5g audit``: draw audit samples (抽查), export lists, upload field results, report.

Registered in :mod:`api.cli.root` with ``app.add_typer(audit_app, name="audit")``; the parent callback
sets the database URL (``--db``), and the store comes from :func:`api.cli.context.open_store`.
"""

from __future__ import annotations

import math
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from api.cli.context import console, err_console, heading, print_rows, tag, wrote
from api.cli.context import open_store as _store
from api.cli.context import resolve_cities as _resolve_cities
from coverage.errors import bi
from coverage.labels import VERDICT_LABELS

if TYPE_CHECKING:
    import pandas as pd

    from coverage.audit.sampling import Sample
    from coverage.audit.stats import AuditReport

audit_app = typer.Typer(
    help="抽查：公平、可复现的行政村样本，现场结果，通过率，校准。\n\nAudit sampling (抽查): fair, reproducible "
         "village samples, field results, pass rates, calibration.",
    no_args_is_help=True,
)


class Strata(StrEnum):
    city = "city"
    city_verdict = "city-verdict"


class Population(StrEnum):
    all = "all"
    covered = "covered"
    weak = "weak"
    uncovered = "uncovered"


class UncertainFrom(StrEnum):
    all = "all"
    flagged = "flagged"


class ListFormat(StrEnum):
    csv = "csv"
    xlsx = "xlsx"
    kml = "kml"
    geojson = "geojson"


class Method(StrEnum):
    exact = "exact"
    wilson = "wilson"


def _title(round_number: int | None, run_id: int | None) -> str:
    from coverage.audit.rounds import list_title

    return list_title(round_number, run_id)


@audit_app.command()
def sample(
    strata: Annotated[Strata, typer.Option(help=bi("分层方式",
                                                   "Strata: city, or city x the run's verdict"))] = Strata.city,
    confidence: Annotated[float, typer.Option(help=bi("Cochran 公式的置信度",
                                                      "Confidence level of Cochran's formula"))] = 0.95,
    margin: Annotated[float, typer.Option(help=bi("误差范围", "Margin of error (proportion, 0.05 = 5 points)"))] = 0.05,
    expected_pass: Annotated[float | None, typer.Option(
        "--expected-pass", help=bi("Cochran 公式的预期通过率",
                                   "Expected pass rate p of Cochran's formula (default 0.9)"))] = None,
    rate: Annotated[float | None, typer.Option(help=bi("改用每层固定抽样比例",
                                                       "Fixed sampling rate per stratum instead (0-1]"))] = None,
    minimum: Annotated[int | None, typer.Option("--min", help=bi("与 --rate 一起：每层最少抽样数",
                                                                 "Minimum per stratum with --rate"))] = None,
    reserve_share: Annotated[float, typer.Option(help=bi("备选村占各层样本的比例",
                                                         "Reserve villages as a share of each stratum's sample"))
                             ] = 0.2,
    reserve_min: Annotated[int, typer.Option(help=bi("每层至少的备选村数",
                                                     "At least this many reserves per stratum"))] = 2,
    exclude_rounds: Annotated[int, typer.Option(help=bi("排除最近 K 轮抽过的行政村",
                                                        "Leave out villages sampled in the last K rounds"))] = 0,
    population: Annotated[Population, typer.Option(
        help=bi("抽样总体", "Sample all villages of the run, or only those it calls covered (to verify claims), weak, "
                "uncovered"))] = Population.all,
    city: Annotated[list[str] | None, typer.Option(help=bi("只抽该地市（可重复）",
                                                           "Only this city (code or name; repeatable)"))] = None,
    seed: Annotated[int | None, typer.Option(help=bi("随机种子",
                                                     "Random seed (default: drawn at random and stored)"))] = None,
    uncertain: Annotated[int, typer.Option(
        help=bi("另列 N 个通达概率最接近 0.5 的补充村",
                "Also list N supplementary villages whose p_covered is closest to 0.5 (tests there change most "
                "verdicts); they are left out of the pass-rate estimate"))] = 0,
    uncertain_from: Annotated[UncertainFrom, typer.Option(
        "--uncertain-from", help="补充村范围：all 全部村，flagged 仅标记村（弱覆盖或无覆盖），即建站前现场核实的村 "
                                 "(choose the --uncertain villages among all villages, or among the flagged ones "
                                 "only: weak or uncovered)")] = UncertainFrom.all,
    run: Annotated[int | None, typer.Option(help=bi("抽样的运行",
                                                    "Run to sample (default: the latest published)"))] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help=bi("试运行：只显示样本，不存储",
                                                               "Show the sample without storing a round"))] = False,
    output: Annotated[Path | None, typer.Option("-o", "--output", help=bi("同时写出清单",
                                                                          "Also write the list (.csv .xlsx .kml "
                                                                           ".geojson)"))] = None,
    lang: Annotated[str, typer.Option("--lang", help=bi("CSV 表头和标签语言",
                                                        "CSV headers and labels: zh (Chinese) or en (column keys)"))
                    ] = "zh",
) -> None:
    """分层抽取可复现的行政村样本，存为下一轮抽查。

    Draw a stratified, seeded sample of villages and store it as the next audit round."""
    from coverage.audit.lists import write_sample
    from coverage.audit.rounds import draw_round, sampling_plan
    from coverage.audit.sampling import SUPPLEMENT

    if rate is not None and expected_pass is not None:
        raise typer.BadParameter(bi("--expected-pass（Cochran）与 --rate/--min 只能给一个",
                                    "give either --expected-pass (Cochran) or --rate/--min, not both"),
                                 param_hint="--rate")
    if minimum is not None and rate is None:
        raise typer.BadParameter(bi("--min 须与 --rate 一起用", "--min goes with --rate"), param_hint="--min")
    with _store() as store:
        plan = sampling_plan(
            strata=strata.value, confidence=confidence, margin=margin, expected_pass=expected_pass, rate=rate,
            minimum=minimum, reserve_share=reserve_share, reserve_min=reserve_min, exclude_rounds=exclude_rounds,
            population=population.value, cities=_resolve_cities(store, city), seed=seed, uncertain=uncertain,
            uncertain_from=uncertain_from.value)
        drawn = draw_round(store, plan, run_id=run, save=not dry_run)
    supplementary = int((drawn.villages["stratum"].astype(str) == SUPPLEMENT).sum())
    main = len(drawn.main) - supplementary
    reserves = len(drawn.villages) - len(drawn.main)
    how = (f"Cochran n for {plan.confidence:.0%} ± {plan.margin:.0%}, p {plan.expected_pass:g}" if plan.rate is None
           else f"rate {plan.rate:g}, min {plan.minimum}")
    head = "preview (not stored)" if dry_run else f"round {drawn.round}"
    head_zh = "预览（未存储）" if dry_run else f"第 {drawn.round} 轮"
    how_zh = (f"Cochran 样本量，置信度 {plan.confidence:.0%} ± {plan.margin:.0%}，预期通过率 {plan.expected_pass:g}"
              if plan.rate is None else f"抽样比例 {plan.rate:g}，每层至少 {plan.minimum}")
    console.print(
        f"{head_zh}：{main:,} 个行政村、{reserves:,} 个备选，{len(drawn.strata)} 个分层，来自运行 {drawn.run_id}；"
        f"种子 {plan.seed}{'' if seed is not None else '（随机抽取，已存储）'}；{how_zh}"
        + f"；总体 {plan.population}" + (f"；另有 {supplementary:,} 个补充村" if supplementary else "")
        + f" ({head}: {main:,} villages and {reserves:,} reserves in {len(drawn.strata)} strata from run "
        f"{drawn.run_id}; seed {plan.seed}{'' if seed is not None else ' (drawn at random, stored)'}; {how}; "
        f"population {plan.population}"
        + (f"; excluded {int(drawn.strata['excluded'].sum()):,} villages of round"
           f"{'s' if len(drawn.excluded_rounds) > 1 else ''} "
           f"{', '.join(map(str, drawn.excluded_rounds))}" if drawn.excluded_rounds else "")
        + (f"; plus {supplementary:,} supplementary villages where p_covered is closest to 0.5"
           f"{_among(plan.uncertain_from)} (stratum '{SUPPLEMENT}': evidence for the model, not part of the "
           "pass-rate estimate)" if supplementary else "")
        + (f"; {plan.uncertain:,} supplementary villages asked, {supplementary:,} eligible"
           f"{_among(plan.uncertain_from)}" if supplementary < plan.uncertain else "") + ")",
        soft_wrap=True)
    _print_strata(drawn)
    if output is not None:
        write_sample(drawn.villages, output, title=_title(drawn.round, drawn.run_id), lang=_lang(lang))
        console.print(bi(f"已写出 {len(drawn.villages):,} 个行政村到 {output}",
                         f"wrote {len(drawn.villages):,} villages to {output}"), soft_wrap=True)


def _among(uncertain_from: str | None) -> str:
    """How a round's supplementary villages were chosen, for the printed summaries."""
    return " among the flagged villages (weak or uncovered)" if uncertain_from == "flagged" else ""


def _print_strata(drawn: Sample) -> None:
    rows = []
    for r in drawn.strata.to_dict("records"):
        short = " 不足 (short)" if r["sample"] < r["required"] else ""
        rows.append([str(r["stratum"]), str(r["city_name"] or ""), f"{r['population']:,}", f"{r['excluded']:,}",
                     f"{r['required']:,}", f"{r['sample']:,}{short}", f"{r['reserve']:,}"])
    s = drawn.strata
    total = ["全部 (all)", "", *(f"{int(s[c].sum()):,}" for c in ("population", "excluded", "required", "sample",
                                                                   "reserve"))]
    print_rows(bi("分层", "strata"),
               [heading("分层", "stratum"), heading("地市", "city"), heading("总数", "N"),
                heading("已排除", "excluded"), heading("需抽数", "required n"), heading("样本", "sample"),
                heading("备选", "reserve")], rows, totals=[total], left=2)


@audit_app.command("list")
def list_(
    round_number: Annotated[int | None, typer.Argument(metavar="[ROUND]", help=bi("显示该轮清单",
                                                                                  "Show this round's list"))] = None,
    city: Annotated[str | None, typer.Option(help=bi("只列该地市", "Only this city (code or name)"))] = None,
    limit: Annotated[int, typer.Option(help=bi("显示的行政村数", "Villages shown"))] = 30,
) -> None:
    """列出抽查轮次，或某一轮的行政村。

    List the audit rounds, or the villages of one round."""
    from coverage.audit.store import AuditStore

    with _store() as store:
        audits = AuditStore(store)
        if round_number is None:
            rounds = audits.rounds()
            if rounds.empty:
                console.print(bi("尚无抽查轮次：用 `village5g audit sample` 抽取一轮",
                                 "no audit rounds yet: draw one with `village5g audit sample`"))
                return
            print_rows(bi("抽查轮次", "audit rounds"),
                       [heading("轮次", "round"), heading("抽取 (UTC)", "drawn (UTC)"), heading("运行", "run"),
                        heading("种子", "seed"), heading("设计", "design"), heading("行政村", "villages"),
                        heading("备选", "reserves"), heading("测试", "tests"), heading("已测村", "tested"),
                        heading("偏差", "offsets")],
                       [[str(r.round), f"{r.created_at:%Y-%m-%d %H:%M}", str(r.run_id), str(r.seed),
                         f"{r.strata}/{r.population}/{r.method}", f"{r.villages:,}", f"{r.reserves:,}", f"{r.tests:,}",
                         f"{r.tested_villages:,}", f"{r.offsets:,}"] for r in rounds.itertuples(index=False)],
                       left=0, also_left=(1, 4))
            return
        drawn = audits.read_sample(round_number)
        codes = _resolve_cities(store, [city]) if city else ()
    villages = drawn.villages
    if codes:
        villages = villages[villages["city_code"].isin(codes)]
        drawn.strata = drawn.strata[drawn.strata["city_code"].isin(codes)]
    plan = drawn.plan
    reserves = len(drawn.villages) - len(drawn.main)
    console.print(bi(f"第 {round_number} 轮：运行 {drawn.run_id}，种子 {plan.seed}，{len(drawn.main):,} 个行政村 + "
                     f"{reserves:,} 个备选" + (f"；补充村 {plan.uncertain:,} 个" if plan.uncertain else ""),
                     f"round {round_number}: run {drawn.run_id}, seed {plan.seed}, strata {plan.strata}, "
                     f"population {plan.population}, {len(drawn.main):,} villages + {reserves:,} reserves"
                     + (f"; supplementary villages: {plan.uncertain:,} asked{_among(plan.uncertain_from)}"
                        if plan.uncertain else "")), soft_wrap=True)
    _print_strata(drawn)
    first = len(villages) > limit
    title = bi(f"{len(villages):,} 个行政村" + (f"（前 {limit} 个）" if first else ""),
               f"{len(villages):,} villages" + (f" (first {limit})" if first else ""))
    by_stratum = plan.strata != "city"
    main_size = dict(zip(drawn.strata["stratum"], drawn.strata["sample"], strict=True))
    headers = [*((heading("分层", "stratum"),) if by_stratum else ()), heading("顺序", "order"),
               heading("代码", "code"), heading("名称", "name"), heading("乡镇", "township"),
               heading("结论", "verdict"), heading("通达概率", "p"), heading("WGS84 经度,纬度", "WGS84 lon,lat"),
               heading("GCJ-02 经度,纬度", "GCJ-02 lon,lat"), heading("最近站点(米)", "site m"),
               heading("RSRP (dBm)", "RSRP dBm")]
    rows = []
    for r in villages.head(limit).itertuples(index=False):
        order = f"R{r.order - main_size.get(r.stratum, 0)}" if r.reserve else str(r.order)
        rows.append([*((str(r.stratum),) if by_stratum else ()), order, str(r.code), str(r.name),
                     _fmt(r.township_name), VERDICT_LABELS.get(str(r.verdict), str(r.verdict)),
                     "" if r.p_covered != r.p_covered else f"{r.p_covered:.0%}",
                     f"{r.point_lon:.6f},{r.point_lat:.6f}", f"{r.gcj02_lon:.6f},{r.gcj02_lat:.6f}",
                     _fmt(r.nearest_site_m), _fmt(r.predicted_rsrp_dbm)])
    o = int(by_stratum)  # the coordinates left-aligned with the text; p, site m and RSRP right-aligned
    print_rows(title, headers, rows, left=5 + o, also_left=(6 + o, 7 + o))
    console.print(bi("顺序 Rk：该分层的第 k 个备选（某村无法到达时按顺序启用备选）",
                     "order Rk: the stratum's k-th reserve (use reserves in order when a village cannot be reached)"),
                  soft_wrap=True)


@audit_app.command()
def export(
    round_number: Annotated[int, typer.Argument(metavar="ROUND", help=bi("轮次", "Round number"))],
    output: Annotated[Path, typer.Option("-o", "--output", help=bi("要写出的文件", "File to write"))],
    fmt: Annotated[ListFormat | None, typer.Option("--format", help=bi("格式",
                                                                       "Format (default: from the suffix)"))] = None,
    city: Annotated[str | None, typer.Option(help=bi("只列该地市", "Only this city (code or name)"))] = None,
    lang: Annotated[str, typer.Option("--lang", help=bi("CSV 表头和标签语言",
                                                        "CSV headers and labels: zh (Chinese) or en (column keys)"))
                    ] = "zh",
) -> None:
    """写出某轮抽查清单：CSV、XLSX（每市一页，可打印）、KML 或 GeoJSON。

    Write a round's list: CSV (UTF-8 BOM), XLSX (a printable sheet per city), KML or GeoJSON."""
    from coverage.audit.lists import write_sample
    from coverage.audit.store import AuditStore

    with _store() as store:
        drawn = AuditStore(store).read_sample(round_number)
        codes = _resolve_cities(store, [city]) if city else ()
    villages = drawn.villages
    if codes:
        villages = villages[villages["city_code"].isin(codes)]
    write_sample(villages, output, fmt=fmt.value if fmt else None, title=_title(round_number, drawn.run_id),
                 lang=_lang(lang))
    console.print(bi(f"已写出第 {round_number} 轮的 {len(villages):,} 个行政村到 {output}",
                     f"wrote {len(villages):,} villages of round {round_number} to {output}"), soft_wrap=True)


@audit_app.command()
def results(
    round_number: Annotated[int, typer.Argument(metavar="ROUND", help=bi("轮次", "Round number"))],
    file: Annotated[Path, typer.Argument(help=bi("现场测试文件", "Field tests: CSV, XLSX or JSON"))],
    crs: Annotated[str | None, typer.Option(
        help=bi("测试点坐标系",
                "CRS of the test points: wgs84 (default) or gcj02 (points copied from Chinese map apps)"))] = None,
    encoding: Annotated[str | None, typer.Option(help=bi("CSV 文本编码",
                                                         "Text encoding of a CSV (default: detected)"))] = None,
    sheet: Annotated[str | None, typer.Option(help=bi("XLSX 工作表",
                                                      "Worksheet of an XLSX (default: the first)"))] = None,
    replace: Annotated[bool, typer.Option(help=bi("替换文件中各村已存的测试",
                                                  "Replace the stored tests of the villages in the file"))] = False,
) -> None:
    """按某轮校验现场测试文件并存储（被拒收时不存储任何数据）；填报模板：village5g template field_tests。

    Validate a field-test file against a round and store it (nothing is stored on rejection); the
    form to record tests on: `village5g template field_tests -o FILE.xlsx`."""
    from coverage.audit.rounds import upload_results

    with _store() as store:
        accepted = upload_results(store, round_number, file, crs=crs, encoding=encoding, sheet=sheet,
                                  replace=replace)
    for warning in accepted.warnings:
        err_console.print(f"{tag('warning')} {warning}", soft_wrap=True)
    frame = accepted.frame
    tested = frame["village_code"].nunique()
    console.print(bi(f"已从 {accepted.file_name} 存储第 {round_number} 轮 {tested:,} 个行政村的 "
                     f"{accepted.rows:,} 条测试"
                     + ("，替换这些村原有的测试" if replace else ""),
                     f"stored {accepted.rows:,} tests of {tested:,} villages for round {round_number} from "
                     f"{accepted.file_name}" + (" (replacing those villages' tests)" if replace else "")),
                  soft_wrap=True)


_RULE = "; default: the pass rule's"


@audit_app.command()
def report(
    round_number: Annotated[int, typer.Argument(metavar="ROUND", help=bi("轮次", "Round number"))],
    rules: Annotated[Path | None, typer.Option(
        help=bi("通过规则文件",
                "Pass rule file (TOML or JSON with keys of coverage.audit.outcomes.PassRule, whose defaults apply "
                "otherwise; the report prints the bars in force)"))] = None,
    rsrp_min: Annotated[float | None, typer.Option(help=bi("测试门限：SS-RSRP",
                                                           f"Test bar: SS-RSRP >= this (dBm){_RULE}"))] = None,
    sinr_min: Annotated[float | None, typer.Option(help=bi("测试门限：SS-SINR",
                                                           f"Test bar: SS-SINR >= this (dB){_RULE}"))] = None,
    dl_min: Annotated[float | None, typer.Option(help=bi("测试门限：下载速率",
                                                         f"Test bar: download >= this (Mbit/s){_RULE}"))] = None,
    ul_min: Annotated[float | None, typer.Option(help=bi("测试门限：上传速率",
                                                         f"Test bar: upload >= this (Mbit/s){_RULE}"))] = None,
    village_share: Annotated[float | None, typer.Option(
        help=bi("行政村通过所需的测试点比例",
                f"A village passes when this share (0-1) of its test points pass (a point passes when any "
                f"operator's test there passes){_RULE}"))] = None,
    method: Annotated[Method, typer.Option(help=bi("区间方法",
                                                   "Interval: exact (Clopper-Pearson) or wilson"))] = Method.exact,
    confidence: Annotated[float, typer.Option(help=bi("区间置信度", "Interval level"))] = 0.95,
    raster: Annotated[Path | None, typer.Option(help=bi("运行的 GeoTIFF",
                                                        "The run's GeoTIFF, if not where the run record says"))] = None,
    calibrate: Annotated[bool, typer.Option(help=bi("计算并存储校准偏差",
                                                    "Compute and store calibration offsets"))] = True,
    output: Annotated[Path | None, typer.Option("-o", "--output", help=bi("同时写出报告",
                                                                          "Also write the report (.xlsx or .json)"))
                      ] = None,
) -> None:
    """各分层及总体通过率和区间，预测与实测对比，校准偏差。

    Pass rate per stratum and overall with intervals, predicted vs measured, calibration offsets."""
    from dataclasses import replace as dc_replace

    from coverage.audit.outcomes import PassRule, load_pass_rule
    from coverage.audit.rounds import round_report
    from coverage.audit.stats import write_report

    rule = load_pass_rule(rules) if rules else PassRule()
    given = (("min_rsrp_dbm", rsrp_min), ("min_sinr_db", sinr_min), ("min_dl_mbps", dl_min),
             ("min_ul_mbps", ul_min), ("village_pass_share", village_share))
    overrides: dict[str, Any] = {k: v for k, v in given if v is not None}
    rule = dc_replace(rule, **overrides)
    with _store() as store:
        result = round_report(store, round_number, rule=rule, method=method.value, confidence=confidence,
                              raster_path=raster, calibrate=calibrate)
    _print_report(result)
    if output is not None:
        write_report(result, output)
        wrote(output)


def _pct(value: float) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.1%}"


def _print_report(result: AuditReport) -> None:
    r = result.rule
    c = result.counts
    console.print(
        f"第 {result.round} 轮：{c['tests']:,} 条测试，{c['tested_villages']:,} 个行政村 ("
        f"round {result.round}: {c['tests']:,} tests in {c['tested_villages']:,} villages "
        f"({c['reserves_tested']:,} reserves used, {c['untested_villages']:,} listed villages untested); pass rule "
        f"{r['name']}@{r['version']}: RSRP >= {r['min_rsrp_dbm']:g} dBm, SINR >= {r['min_sinr_db']:g} dB, "
        f"DL >= {r['min_dl_mbps']:g} Mbit/s, UL >= {r['min_ul_mbps']:g} Mbit/s per test; "
        f"village >= {r['village_pass_share']:.0%} of tests)", soft_wrap=True)
    if c.get("supplementary"):
        console.print(
            f"补充村：{c['supplementary']:,} 个，已测 {c['supplementary_tested']:,}，"
            f"通过 {c['supplementary_passed']:,}；"
            "用作模型证据，不计入通达率估计 ("
            f"supplementary villages (where p_covered was closest to 0.5{_among(result.uncertain_from)}): "
            f"{c['supplementary']:,} listed, "
            f"{c['supplementary_tested']:,} tested, {c['supplementary_passed']:,} passed; they are evidence for the "
            "model (fusion, calibration), not part of the pass-rate estimate below, which rests on the random "
            "sample alone)", soft_wrap=True)
    o = result.overall
    level = f"{o.confidence:.0%} {o.method}"
    rows = [[str(x["stratum"]), str(x["city_name"] or ""), f"{x['population']:,}", f"{x['weight']:.3f}",
             f"{x['tested']:,}", f"{x['passed']:,}", _pct(x["pass_rate"]), _pct(x["low"]), _pct(x["high"])]
            for x in result.strata.to_dict("records")]
    total = ["总体（分层加权） (overall (stratified))", "", f"{o.population:,}", f"{o.population_share:.3f}",
             f"{o.tested:,}", f"{o.passed:,}", _pct(o.pass_rate), _pct(o.low), _pct(o.high)]
    print_rows(bi(f"各分层通过率（{level} 区间）", f"pass rate by stratum ({level} intervals)"),
               [heading("分层", "stratum"), heading("地市", "city"), heading("总数", "N"), heading("权重", "weight"),
                heading("已测", "tested"), heading("通过", "passed"), heading("通过率", "pass rate"),
                heading("下限", "low"), heading("上限", "high")], rows, totals=[total], left=2)
    if o.tested:
        console.print(bi(f"总体通过率 {_pct(o.pass_rate)}（{level} 区间 {_pct(o.low)} - {_pct(o.high)}）",
                         f"overall pass rate {_pct(o.pass_rate)} ({level} interval {_pct(o.low)} - {_pct(o.high)}, "
                         f"effective n {o.effective_n:,.1f}"
                         + (f", strata with results cover {o.population_share:.1%} of the population"
                            if o.population_share < 1 else "") + ")"), soft_wrap=True)
    conf = result.confusion
    rows = [[bi(VERDICT_LABELS.get(str(name), str(name)), str(name)),
             *(f"{int(counts[c]):,}" for c in ("covered", "weak", "uncovered", "tested")), _pct(counts["pass_rate"])]
            for name, counts in zip(conf.index, conf.to_dict("records"), strict=True)]
    print_rows(bi("预测（运行结论）与实测（抽查）", "predicted (run verdict) vs measured (audit)"),
               [heading("预测", "predicted"), heading("实测 5G通达", "measured covered"),
                heading("实测弱覆盖", "measured weak"), heading("实测无覆盖", "measured uncovered"),
                heading("已测", "tested"), heading("通过率", "pass rate")], rows, left=1)
    if result.offsets is not None:
        _print_offsets(result.offsets)
    elif result.offsets_note:
        console.print(f"未计算校准偏差 (calibration offsets not computed)：{result.offsets_note}", soft_wrap=True)


def _print_offsets(offsets: pd.DataFrame) -> None:
    from coverage.audit.calibration import ALL_BANDS

    attrs = offsets.attrs
    county = (offsets["band"] == ALL_BANDS) & (offsets["city_code"].str.len() > 4)
    counties, offsets = offsets[county], offsets[~county]
    bands = sorted(offsets["band"].unique())
    title = bi(f"校准偏差 (dB)：实测均值 - 预测 SS-RSRP 中位数（测试数）；运行 {attrs.get('run_id')}，"
               f"已加回边缘余量 {attrs.get('margin_db', float('nan')):.2f} dB；* 测试太少，采用全部地市的值",
               f"calibration offsets (dB): mean measured - predicted median SS-RSRP (tests); run "
               f"{attrs.get('run_id')}, edge margin {attrs.get('margin_db', float('nan')):.2f} dB added back; "
               "* too few tests, the all-cities value applies")
    headers = [heading("地市", "city"), *(heading("区域（全部频段，收缩）", "area (all bands, shrunk)")
                                          if band == ALL_BANDS else str(band) for band in bands)]
    cities = offsets[["city_code", "city_name"]].drop_duplicates().sort_values("city_code", key=lambda c: c != "*",
                                                                                kind="stable")
    rows = []
    for city_code, city_name in cities.itertuples(index=False):
        label = "全部地市 (all cities)" if city_code == "*" else f"{city_code} {city_name or ''}"
        cells = []
        for band in bands:
            hit = offsets[(offsets["band"] == band) & (offsets["city_code"] == city_code)]
            if hit.empty:
                cells.append("")
                continue
            row = hit.iloc[0]
            cells.append(f"{row['offset_db']:+.1f} ({row['n_tests']:,}){'' if row['usable'] else '*'}")
        rows.append([label, *cells])
    print_rows(title, headers, rows, left=1)
    if len(counties):
        low, high = counties["offset_db"].min(), counties["offset_db"].max()
        console.print(bi(f"区县地物偏差 {len(counties):,} 个（全部频段，向所在地市收缩）：{low:+.1f} .. {high:+.1f} dB",
                         f"{len(counties):,} county clutter offsets (all bands, shrunk towards their city): "
                         f"{low:+.1f} .. {high:+.1f} dB; a cell moves by its band's all-cities offset plus its "
                         "county's"), soft_wrap=True)
    n, unpredicted, round_ = attrs.get("tests", 0), attrs.get("unpredicted", 0), attrs.get("round")
    console.print(bi(f"比较了 {n:,} 条测试（{unpredicted:,} 条在测试点无预测）；用 `village5g analyze --calibration "
                     f"{round_}` 应用",
                     f"{n:,} tests compared ({unpredicted:,} without a prediction at the test point); apply with "
                     f"`village5g analyze --calibration {round_}`"), soft_wrap=True)


def _fmt(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, float):
        if value != value:
            return ""
        return f"{value:.1f}"
    return "" if value is None else str(value)


def _lang(value: str) -> str:
    if value not in ("zh", "en"):
        raise typer.BadParameter(bi(f"{value!r}：请用 zh 或 en", f"{value!r}: use zh or en"), param_hint="--lang")
    return value
