"""The ``village5g`` command line: an interface over the domain, like the HTTP API.

The main app, its global ``--db`` option and the commands on the data (seed, ingest, export,
analyze, demo); the other commands live in their own modules of :mod:`api.cli` (``villages``
and ``summary`` in :mod:`api.cli.results`, ``status`` in :mod:`api.cli.status`, the shared choices
in :mod:`api.cli.options`) and are registered here. Every command prints one clear line and exits non-zero on a
domain error; no traceback reaches the user for a problem in their input.
"""

from __future__ import annotations

import signal
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, cast

import typer
from rich.markup import escape

from api.cli.audit import audit_app
from api.cli.context import COUNTS_ZH, configure, console, counts_text, err_console, heading, print_rows, state, tag
from api.cli.context import artifacts_dir as _artifacts_dir
from api.cli.context import open_store as _store
from api.cli.context import steps as _steps
from api.cli.jobs import jobs_app, scheduler
from api.cli.maps import map_command
from api.cli.options import ExportFormat, IngestKind, KindArg, Lang, LangOption, Level, Scope
from api.cli.plan import plan_command, what_if_command
from api.cli.reports import report_command
from api.cli.results import summary, villages
from api.cli.service import keys_app, serve
from api.cli.status import status
from coverage.errors import Village5gError, bi
from coverage.schema import Kind
from coverage.store.storage import IngestRecord

app = typer.Typer(
    name="village5g",
    help="5G 农村覆盖监测：行政村 × 5G 基站，覆盖结论，5G 通达率。\n\n5G rural coverage monitoring: villages x 5G "
         "stations, coverage verdicts, 5G reach rate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)
app.add_typer(audit_app, name="audit")
app.command("map")(map_command)
app.command("plan")(plan_command)
app.command("report")(report_command)
app.command()(serve)
app.add_typer(keys_app, name="keys")
app.add_typer(jobs_app, name="jobs")
app.command()(scheduler)


@app.callback()
def _global(
    db: Annotated[str | None, typer.Option(
        "--db", envvar="VILLAGE5G_DATABASE_URL",
        help=bi("数据库 URL",
                "Database URL (default: SQLite file data/village5g.db; postgresql+psycopg://... for PostGIS)"),
    )] = None,
) -> None:
    configure(db)


@app.command()
def seed(
    seed: Annotated[int, typer.Option(help=bi("合成部分的随机种子", "Random seed of the synthetic parts"))] = 20261126,
    provinces: Annotated[str | None, typer.Option(
        help=bi("改为这些省份的全国合成世界",
                "National synthetic world of these provinces instead (codes such as 32,33,34, or all); "
                "no measurements"))] = None,
    mr: Annotated[bool, typer.Option(
        "--mr", help=bi("同时生成各省一个月的运营商 MR 栅格统计",
                        "With --provinces: also a month of operators' MR grid statistics per province, drawn where "
                        "people are from a synthetic field (scale data for time and memory, not accuracy; about "
                        "doubles the seed's time); without it the stored MR is removed. The Jiangsu seed world "
                        "always has its MR"))] = False,
    terrain: Annotated[bool, typer.Option(
        "--terrain", help=bi("同时生成合成的高程和地物",
                             "Also a synthetic DEM and land cover (hills of 连云港, 徐州, 南京, 镇江; lakes, paddy, "
                             "villages, forest), stored as `ingest dem|landcover` would, and a true field that "
                             "feels them"))] = False,
) -> None:
    """构建江苏种子世界（真实区划，合成的行政村、基站、测量）。

    Build the Jiangsu seed world (real divisions, synthetic villages/stations/measurements)."""
    from seeds.national import parse_provinces, seed_national_world
    from seeds.world import build_world, world_checksums

    started = time.perf_counter()
    try:
        codes = parse_provinces(provinces) if provinces else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc).removeprefix("--provinces: "), param_hint="--provinces") from None
    with _store() as store, _steps() as step:
        if codes:  # built and stored one province at a time, in one transaction
            fingerprint, counts = seed_national_world(store, codes, seed=seed, progress=step, mr=mr)
        else:
            world = build_world(seed=seed, progress=step, terrain=terrain)
            step(bi("计算校验和", "computing checksums"))
            fingerprint = world_checksums(world)["all"]
            step(bi("写入数据库", "writing to the database"))
            counts = store.seed(
                divisions_frame=world.divisions,
                frames={"villages": world.villages, "stations": world.stations, "measurements": world.measurements},
                fingerprint=fingerprint,
            )
            from api.cli.mr import seed_mr

            counts["mr_grids"] = seed_mr(store, world, seed=seed, step=step)
            _seed_terrain(store, world, step)
    seconds = time.perf_counter() - started
    console.print(bi(f"种子世界 {fingerprint[:12]} 已存储，用时 {seconds:.1f} 秒",
                     f"seed world {fingerprint[:12]} stored in {seconds:.1f} s") + "：" + counts_text(counts),
                  soft_wrap=True)


def _seed_terrain(store: Any, world: Any, step: Any) -> None:
    """Store the seed world's DEM and land cover (``--terrain``), or remove a stored terrain."""
    import tempfile

    from coverage.ingest.terrain import clear_terrain, store_terrain

    folder = state.settings.data_dir.resolve() / "terrain"
    if world.terrain is None:
        clear_terrain(store, folder)
        return
    step(bi("写入地形栅格", "writing the terrain rasters"))
    with tempfile.TemporaryDirectory() as tmp:
        dem, landcover = world.terrain.write(Path(tmp))
        store_terrain(store, "dem", dem, folder)
        store_terrain(store, "landcover", landcover, folder)


@app.command()
def ingest(
    kind_arg: Annotated[IngestKind, typer.Argument(
        metavar="KIND", help=bi("文件内容类型",
                                "What the file holds (committees: 村委会 points joined to the stored villages)"))],
    file: Annotated[Path, typer.Argument(help=bi("输入文件",
                                                 "GeoJSON, GeoPackage, shapefile, CSV, XLSX or GeoParquet"))],
    crs: Annotated[str | None, typer.Option(
        help=bi("文件坐标系",
                "Coordinates of the file: wgs84, cgcs2000, gcj02 or EPSG:n (default: the file's own, else WGS84)"),
    )] = None,
    encoding: Annotated[str | None, typer.Option(help=bi("CSV/DBF 文本编码",
                                                         "Text encoding of CSV/DBF (default: detected)"))] = None,
    layer: Annotated[str | None, typer.Option(help=bi("多图层文件的图层",
                                                      "Layer of a multi-layer file (GeoPackage)"))] = None,
    replace: Annotated[bool, typer.Option(help=bi("替换该类型的全部已存数据",
                                                  "Replace everything stored of this kind"))] = False,
    map_: Annotated[list[str] | None, typer.Option(
        "--map", help=bi("文件列与字段的对应",
                         "Which file column is which: HEADER=column[,HEADER=column] (e.g. 维度=lat,A=site_id; "
                         "column 'ignore' drops one; a unit may follow in brackets: "
                         "参考信号功率=rs_power_dbm(0.1dBm))"))] = None,
    set_: Annotated[list[str] | None, typer.Option(
        "--set", help=bi("为缺少的列和空单元格指定值",
                         "A value for a column the file lacks, and for its empty cells: column=VALUE[,...] "
                         "(e.g. operator=CUCC,rat=LTE)"))] = None,
    profile: Annotated[str | None, typer.Option(
        help=bi("已保存的映射方案",
                "A saved mapping profile: NAME (<data dir>/profiles/NAME.toml) or a .toml path"))] = None,
    save_profile: Annotated[str | None, typer.Option(
        help=bi("把本次映射保存为方案",
                "Save this --map/--set/--crs/--encoding/--layer as profile NAME for the next export"))] = None,
    three_sectors: Annotated[bool, typer.Option(
        "--three-sectors",
        help=bi("基站：无方位角的行视为三扇区站",
                "Stations: a row without azimuth is a three-sector site (0, 120, 240 degrees)"))] = False,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help=bi("试运行：显示各列如何读取，不存储",
                             "Show how each column is understood, with converted sample values; store nothing")
    )] = False,
    threshold: Annotated[float | None, typer.Option(
        help=bi("mr：占比列统计的电平门限",
                "mr: the level (dBm) the file's share column counts, when its header does not say it"))] = None,
    classes: Annotated[Path | None, typer.Option(
        help=bi("landcover：地物分类表",
                "landcover: a class table (CSV: code, name, clutter_type, height_m, sigma_db) instead of the "
                "ESA WorldCover codes"))] = None,
) -> None:
    """完整校验文件，再在一个事务中存储（被拒收时不存储任何数据）。

    Validate FILE completely, then store it in one transaction (nothing is stored on rejection).

    `mr` (operators' MR grid statistics: CSV, Parquet or XLSX) is read and stored in chunks, still in
    one transaction (--crs, --encoding, --layer for the sheet, --threshold, --replace).
    `dem` and `landcover` (GeoTIFF, any CRS) replace the stored raster of that kind; the next analysis
    uses them (land cover: ESA WorldCover codes, or --classes)."""
    if kind_arg in (IngestKind.dem, IngestKind.landcover):
        from coverage.ingest.terrain import store_terrain

        with _store() as store, _steps() as step:
            step(bi(f"检查并存储 {file.name}", f"checking and storing {file.name}"))
            stored = store_terrain(store, kind_arg.value, file, state.settings.data_dir.resolve() / "terrain",
                                   classes=classes)
        size = (f"{stored.width:,} x {stored.height:,}", f"{stored.resolution[0]:g} x {stored.resolution[1]:g}")
        console.print(bi(f"已存储 {stored.kind} {stored.file_name}：{size[0]} 像素，像素 {size[1]}（{stored.crs}），"
                         f"sha256 {stored.sha256[:12]}；下次分析即使用",
                         f"stored {stored.kind} {stored.file_name}: {size[0]} pixels of {size[1]} ({stored.crs}), "
                         f"sha256 {stored.sha256[:12]}; the next analysis uses it"), soft_wrap=True)
        return
    if kind_arg is IngestKind.mr:
        from api.cli.mr import ingest_mr_file

        with _store() as store, _steps() as step:
            console.print(ingest_mr_file(store, file, crs=crs, encoding=encoding, sheet=layer, threshold_dbm=threshold,
                                         replace=replace, step=step))
        return
    from coverage.errors import ValidationError
    from coverage.ingest import far_from_villages, fill_division_names, inspect_input, read_input
    from coverage.ingest.mapping import ColumnMapping, load_profile, parse_pairs, profile_path
    from coverage.ingest.mapping import save_profile as write_profile
    from coverage.store.results_query import extent

    given = ColumnMapping(rename=parse_pairs(map_, "--map"), defaults=parse_pairs(set_, "--set"),
                          crs=crs, encoding=encoding, layer=layer, three_sectors=three_sectors)
    if kind_arg is IngestKind.committees:
        _ingest_committees(file, given, dry_run=dry_run)
        return
    kind = KindArg(kind_arg.value)
    what = COUNTS_ZH.get(kind.value, kind.value)  # 行政村, 小区, 测量: what the lines say is stored
    mapping = load_profile(profile, state.settings.profiles, kind=kind.value).merged(given) if profile else given
    mapping.check(kind.value)
    if save_profile:
        saved = write_profile(mapping, profile_path(save_profile, state.settings.profiles), kind=kind.value)
        console.print(bi(f"映射方案 {save_profile} 已保存到 {saved}", f"profile {save_profile} saved to {saved}"),
                      soft_wrap=True)
    if dry_run:
        inspection = inspect_input(kind.value, file, mapping=mapping)
        if inspection.result is not None:
            with _store() as store:
                far = far_from_villages(inspection.result, extent(store, "villages"))
            if far is not None:
                inspection.problems.insert(0, far)
                inspection.result = None
        _print_columns(inspection)
        for problem in inspection.problems:
            console.print(f"{tag(problem.severity)} {escape(str(problem))}", soft_wrap=True,
                          highlight=False)
        if inspection.result is None:
            n = len(inspection.problems)
            console.print(bi(f"试运行：{file.name} 将被拒收（{n} 个问题）；未存储任何数据",
                             f"dry run: {file.name} would be rejected ({n} problem(s)); nothing stored"),
                          soft_wrap=True)
            raise typer.Exit(1)
        rows = inspection.result.rows
        console.print(bi(f"试运行：将从 {file.name} 存储 {rows:,} 行{what}数据；未存储任何数据",
                         f"dry run: {rows:,} {kind.value} would be stored from {file.name}; nothing stored"),
                      soft_wrap=True)
        return
    with _store() as store, _steps() as step:
        step(bi(f"读取并校验 {file.name}", f"reading and validating {file.name}"))
        result = read_input(kind.value, file, mapping=mapping)
        far = far_from_villages(result, extent(store, "villages"))
        if far is not None:
            raise ValidationError([far])
        fill_division_names(result, store.read_divisions())
        step(bi(f"存储 {result.rows:,} 行{what}数据", f"storing {result.rows:,} {kind.value}"))
        written = store.write(
            cast(Kind, kind.value), result.frame, replace=replace,
            record=IngestRecord(kind=cast(Kind, kind.value), file_name=result.file_name, sha256=result.file_sha256,
                                crs=result.crs, encoding=result.encoding, warnings=len(result.warnings)),
        )
    for warning in result.warnings:
        err_console.print(f"{tag('warning')} {warning}", soft_wrap=True)
    console.print(bi(f"已从 {file.name} 存储 {written:,} 行{what}数据" + ("，替换原有数据" if replace else ""),
                     f"stored {written:,} {kind.value} from {file.name}"
                     + (" (replacing the previous set)" if replace else "")), soft_wrap=True)


def _ingest_committees(file: Path, mapping: Any, *, dry_run: bool) -> None:
    """Committee points joined to the stored villages by code or name; the report, then the update."""
    from coverage.errors import ConfigError, where
    from coverage.ingest import file_sha256
    from coverage.ingest.committees import match_committees, read_committees, store_committee_points

    points, warnings = read_committees(file, mapping=mapping)
    with _store() as store:
        stored = store.read("villages")
        if stored.empty:
            raise ConfigError("尚未存储行政村：请先导入行政村边界，再导入村委会位置 "
                              "(no villages stored: ingest the village boundaries before their committee points)")
        report = match_committees(points, stored, file_name=file.name, warnings=warnings)
        for warning in report.warnings:
            err_console.print(f"{tag('warning')} {escape(str(warning))}", soft_wrap=True, highlight=False)
        shown = [m for m in report.matches if m.status in ("ambiguous", "unmatched", "far")]
        for m in shown[:20]:
            what = {"ambiguous": bi("符合多个已存行政村：" + "、".join(m.candidates[:5]),
                                    "fits " + ", ".join(m.candidates[:5])),
                    "unmatched": bi("没有符合的已存行政村", "fits no stored village"),
                    "far": bi(f"名称与 {''.join(m.candidates)} 相符，但位于其外 {m.outside_m / 1000:.1f} 公里",
                              f"is named like {''.join(m.candidates)} but lies {m.outside_m / 1000:.1f} km outside it"),
                    }[m.status]
            err_console.print(f"{tag(m.status)} {escape(where(file.name, m.row))}："
                              f"{escape(m.code or '')} {escape(m.name or '')} {what}", soft_wrap=True, highlight=False)
        if len(shown) > 20:
            err_console.print(bi(f"另有 {len(shown) - 20} 行不唯一或未匹配",
                                 f"and {len(shown) - 20} more ambiguous or unmatched row(s)"))
        if dry_run:
            console.print(bi(f"试运行：{report.summary_zh()}；未存储任何数据",
                             f"dry run: {report.summary()}; nothing stored"), soft_wrap=True)
            return
        updated = store_committee_points(store, report, sha256=file_sha256(file), crs=str(mapping.crs or "file/WGS84"))
    console.print(bi(f"已从 {file.name} 存储 {updated:,} 个行政村的村委会位置（{report.summary_zh()}）",
                     f"committee points of {updated:,} villages stored from {file.name} ({report.summary()})"),
                  soft_wrap=True)


def _print_columns(inspection: Any) -> None:
    """The dry run's table: each file column, what it was read as, and sample cells converted."""
    rows = []
    for use in inspection.columns:
        conversion = "; ".join(x for x in (use.unit or "", use.note) if x)
        samples = ", ".join(f"{raw or '(empty)'} -> {value or '(empty)'}" if use.column else raw or "(empty)"
                            for raw, value in use.samples)
        rows.append([escape(use.header), use.column or "-", use.how, escape(conversion), escape(samples)])
    print_rows(bi(f"{inspection.file_name}：各列如何读取", f"{inspection.file_name}: how each column is read"),
               [heading("文件列", "file column"), heading("读作", "read as"), heading("依据", "because"),
                heading("单位/换算", "unit / conversion"),
                heading("前几行：单元格 -> 值", "first rows: cell -> value")], rows, left=5, fold=4)


class TemplateKind(StrEnum):
    villages = "villages"
    stations = "stations"
    measurements = "measurements"
    mr = "mr"
    field_tests = "field_tests"


@app.command()
def template(
    kind: Annotated[TemplateKind, typer.Argument(help=bi("模板收集的数据", "Which data the workbook collects"))],
    output: Annotated[Path, typer.Option("-o", "--output", help=bi("要写出的工作簿", "Workbook to write (.xlsx)"))],
) -> None:
    """写出填报模板：带单位的中文表头、下拉校验、两行示例和逐列说明。

    Write a fill-in workbook: Chinese headers with units, allowed values as data validation, two
    example rows and a sheet explaining every column; `ingest` reads it back as it is (field_tests:
    `audit results`, the example rows every operator's reading at one test point)."""
    from coverage.ingest.templates import TEMPLATE_TITLES, write_template

    write_template(kind.value, output)
    console.print(bi(f"已写出{TEMPLATE_TITLES[kind.value]}模板 {output}（第 2-3 行是示例，请删除）",
                     f"wrote the {kind.value} template to {output} (rows 2-3 are examples: delete them)"),
                  soft_wrap=True)


@app.command()
def export(
    kind: Annotated[KindArg, typer.Argument(help=bi("导出的数据", "What to export"))],
    output: Annotated[Path, typer.Option("-o", "--output", help=bi("要写出的文件", "File to write"))],
    fmt: Annotated[ExportFormat | None, typer.Option(
        "--format", help=bi("格式", "Format (default: from the file suffix)"))] = None,
) -> None:
    """导出已存储的数据，ingest 可原样读回（CSV 为带 BOM 的 UTF-8）。

    Write what is stored, in a form `ingest` reads back (CSV is UTF-8 with BOM for Excel)."""
    from coverage.ingest.export import write_output

    if kind is KindArg.mr:
        from api.cli.mr import export_mr_file

        with _store() as store:
            console.print(export_mr_file(store, output, fmt.value if fmt else None))
        return
    with _store() as store:
        frame = store.read(cast(Kind, kind.value))
    write_output(kind.value, frame, output, fmt=fmt.value if fmt else None)
    console.print(bi(f"已写出 {len(frame):,} 行{COUNTS_ZH.get(kind.value, kind.value)}数据到 {output}",
                     f"wrote {len(frame):,} {kind.value} to {output}"), soft_wrap=True)


app.command()(status)


@app.command()
def analyze(
    resolution: Annotated[float, typer.Option(help=bi("预测像素大小（米）",
                                                      "Pixel size of the prediction (m)"))] = 100.0,
    rules: Annotated[str | None, typer.Option(
        help=bi("规则集",
                "Rule set: a name (default, planning-90) or a TOML/JSON file; default (best estimate) otherwise")
    )] = None,
    operator: Annotated[list[str] | None, typer.Option(
        help=bi("只分析该运营商（可重复）", "Only this operator (repeatable): CMCC CUCC CTCC CBN"))] = None,
    scope: Annotated[Scope, typer.Option(
        help=bi("分析范围",
                "committees: village committees (NBS 200-399); all: every village-level unit"))] = Scope.committees,
    workers: Annotated[int, typer.Option(
        help=bi("按区域分区，在本地 Dask 集群上计算",
                "Partition by area and compute the partitions on a local Dask cluster of N worker processes "
                "(0: one process, prediction tiles on every core)"))] = 0,
    scheduler: Annotated[str | None, typer.Option(
        help=bi("按区域分区，在该地址的 Dask 集群上计算",
                "Partition by area and compute on the Dask cluster at this scheduler address (tcp://host:8786)")
    )] = None,
    partition_villages: Annotated[int | None, typer.Option(
        help=bi("分区运行每个分区的行政村数", "Villages per partition of a partitioned run (default 2000)"))] = None,
    calibration: Annotated[int | None, typer.Option(
        help=bi("用已存测量和抽查测试校准模型",
                "Calibrate the model on the stored measurements and the field tests of audit rounds up to this "
                "one (path-loss intercept and slope per band, area offsets, variogram; refused when held-out "
                "error would grow)"))] = None,
    add_sites: Annotated[Path | None, typer.Option(
        "--add-sites", help=bi("假设分析：加入拟建基站，不存储",
                               "What-if: add these proposed stations (any ingest format) in memory, store nothing, "
                               "list villages whose verdict changes against the latest run"))] = None,
    output: Annotated[Path | None, typer.Option(
        "-o", "--output", help=bi("与 --add-sites 一起：写出结论改变的行政村",
                                  "With --add-sites: write the changed villages (.csv or .xlsx)"))] = None,
    terrain: Annotated[bool, typer.Option(
        help=bi("使用已存储的高程和地物",
                "Use the stored DEM and land cover when there are any (--no-terrain: flat ground)"))] = True,
) -> None:
    """预测覆盖、判定行政村结论，并原子地发布为新的运行。

    Predict coverage, decide village verdicts and publish them as a new run (atomically)."""
    if add_sites is not None:
        what_if_command(add_sites, output)
        return
    from coverage.model.parameters import ModelParameters
    from coverage.model.rules import DEFAULT_RULES, load_rules
    from coverage.runs.analysis import run_analysis
    from coverage.summary import rate_text, reach_rate

    rule_set = load_rules(rules) if rules else DEFAULT_RULES
    params = ModelParameters(resolution_m=resolution)
    operators = _operators(operator)
    from coverage.audit.rounds import round_calibration

    with _store() as store, _steps() as step:
        from coverage.ingest.terrain import stored_terrain_source

        source = stored_terrain_source(store, state.settings.data_dir.resolve() / "terrain")[0] if terrain else None
        fitted = (round_calibration(store, calibration, rules=rule_set, params=params, scope=scope.value,
                                   progress=step, terrain=source) if calibration is not None else None)
        if fitted is not None:
            for band in fitted.bands.itertuples():
                step(bi(f"校准 {band.band}：1 km 处 {band.intercept_db:+.1f} dB，"
                        f"每十倍距离 {band.slope_db_per_decade:+.1f} dB（400 m-3 km），"
                        f"100 m 处 {band.at_100m_db:+.1f} dB（标准误 {band.se_100m_db:.1f}），测量 {band.samples:,} 个",
                        f"calibration {band.band}: {band.intercept_db:+.1f} dB at 1 km, "
                        f"{band.slope_db_per_decade:+.1f} dB/decade (400 m-3 km), {band.at_100m_db:+.1f} dB at 100 m "
                        f"(se {band.se_100m_db:.1f}), {band.samples:,} samples"))
        result = run_analysis(store, rules=rule_set, params=params, operators=operators, scope=scope.value,
                              artifacts_dir=_artifacts_dir(), progress=step, calibration=fitted,
                              workers=workers or None, scheduler=scheduler, partition_villages=partition_villages,
                              limits=state.settings.limits, terrain=terrain)
    c = result.counts
    seconds, rate = result.timings_s["total_s"], rate_text(reach_rate(c["covered"], c["villages"]))
    console.print(
        bi(f"运行 {result.run_id} 已发布，用时 {seconds:.1f} 秒（{rule_set.label}）：行政村 {c['villages']:,}，"
           f"5G通达 {c['covered']:,}，弱覆盖 {c['weak']:,}，无覆盖 {c['uncovered']:,}，无站址 {c['no_site']:,}；"
           f"通达率 {rate}",
           f"run {result.run_id} published in {seconds:.1f} s ({rule_set.label}): {c['villages']:,} villages, "
           f"{c['covered']:,} covered, {c['weak']:,} weak, {c['uncovered']:,} uncovered, {c['no_site']:,} without "
           f"a site; 通达率 {rate}"), soft_wrap=True)
    if result.raster_path:
        console.print(f"预测栅格 (prediction raster)：{result.raster_path}", soft_wrap=True)


app.command()(villages)
app.command()(summary)


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help=bi("输出文件夹", "Folder for the outputs"))] = Path("out"),
    reseed: Annotated[bool, typer.Option(help=bi("即使已有行政村也重建种子世界",
                                                 "Rebuild the seed world even if villages are stored"))] = False,
    serve_after: Annotated[bool, typer.Option("--serve/--no-serve", help=bi("然后启动 HTTP API",
                                                                            "Then start the HTTP API"))] = False,
    port: Annotated[int, typer.Option(help=bi("--serve 时 HTTP API 的端口",
                                              "Port of the HTTP API with --serve"), min=1, max=65535)] = 8000,
    lang: LangOption = Lang.zh,
) -> None:
    """演示：播种（库为空时）、分析、写出主要输出，可选启动服务。

    Seed (if empty), analyze, write the key outputs (uncovered list, summaries, the province report,
    GeoPackage, GeoTIFF, maps) and optionally serve the API: the README's main job."""
    import shutil

    from api.cli.service import LogFormat, port_in_use, refuse_port
    from coverage.ingest.export import write_table
    from coverage.model.parameters import ModelParameters
    from coverage.model.rules import DEFAULT_RULES
    from coverage.reports.workbook import write_report_xlsx
    from coverage.runs.analysis import run_analysis
    from coverage.store.queries import village_table
    from coverage.store.results_query import VillageQuery, query_villages, result_rows
    from coverage.summary import summarize, with_parent_city
    from maps import MapOptions, build_map, write_html
    from maps.report import write_report_html

    if serve_after and (busy := port_in_use("127.0.0.1", port)) is not None:
        # said before minutes of work, not after
        refuse_port("127.0.0.1", port, busy)
    with _store() as store:
        empty = store.counts()["villages"] == 0
    if empty or reseed:
        seed(seed=20261126)
    with _store() as store, _steps() as step:
        result = run_analysis(store, rules=DEFAULT_RULES, params=ModelParameters(),
                              artifacts_dir=_artifacts_dir(), progress=step)
    out.mkdir(parents=True, exist_ok=True)
    target = DEFAULT_RULES.target_rate
    with _store() as store:  # every file read through the SQL read layer, as `villages` and `summary` read

        def listed(query: VillageQuery) -> Any:
            return village_table(query_villages(store, result.run_id, query, count=False)[0])

        rows = result_rows(store, result.run_id)
        files: list[tuple[Path, str]] = [
            (write_table(listed(VillageQuery(verdict="uncovered")), out / "uncovered.csv", layer="villages",
                         lang=lang.value),
             bi("无覆盖行政村清单，Excel 可直接打开", "uncovered villages, Excel opens it")),
            (write_table(listed(VillageQuery(no_site=True)), out / "no_site.csv", layer="villages",
                         lang=lang.value), bi("无站址行政村清单", "villages without a 5G site")),
            (write_table(summarize(rows, level="city", target_rate=target), out / "summary_city.csv",
                         layer="summary", lang=lang.value), bi("各地市通达率", "reach rate per city")),
            (write_table(with_parent_city(summarize(rows, level="county", target_rate=target), rows),
                         out / "summary_county.xlsx", layer="summary", lang=lang.value),
             bi("各县区通达率", "reach rate per county")),
            (write_table(listed(VillageQuery()), out / "villages.gpkg", layer="villages"),
             bi("全部行政村及结论，供 QGIS 使用", "every village with its verdict, for QGIS")),
        ]
        if result.raster_path:
            files.append((Path(shutil.copy2(result.raster_path, out / "prediction.tif")),
                          bi("预测 SS-RSRP/SS-SINR/覆盖等级栅格", "predicted SS-RSRP/SS-SINR/class raster")))
        files.append((write_report_xlsx(store, out / "report_province.xlsx", run_id=result.run_id),
                      bi("全省报告：各地市、县区指标，行政村清单，变化，历史",
                         "the province report: KPIs by city and county, village lists, changes, history")))
        files.append((write_report_html(store, out / "report_province.html", run_id=result.run_id),
                      bi("同一报告的网页版，含图表和地图（离线）",
                         "the same report as a page with a chart and a map (offline)")))
        for city in (None, "3203"):
            path = out / ("map_province.html" if city is None else f"map_{city}.html")
            write_html(build_map(store, city=city, run_id=result.run_id, options=MapOptions(basemap="none")),
                       path, offline=True)
            files.append((path, bi("离线地图：各地市通达率", "offline map: cities by reach rate") if city is None
                          else bi("离线地图：徐州市各行政村", "offline map: 徐州市's villages")))
    summary(level=Level.city, run=result.run_id, target=None, output=None)
    width = max(len(str(p)) for p, _ in files)
    console.print("输出文件 (outputs)：\n" + "\n".join(f"  {p!s:<{width}}  {what}" for p, what in files),
                  soft_wrap=True, highlight=False)
    if serve_after:
        url = f"http://127.0.0.1:{port}"
        console.print(bi(f"启动网页控制台 {url}/（总览、行政村、地图、抽查、规划、数据）和 HTTP API：API 文档 "
                         f"{url}/docs；按 Ctrl-C 停止",
                         f"starting the web console at {url}/ (dashboard, villages, map, audits, planning, data) "
                         f"and the HTTP API: API docs {url}/docs, villages {url}/collections/villages/items, "
                         f"summary {url}/summary, maps {url}/maps and {url}/maps/city/3203; Ctrl-C stops it"),
                      soft_wrap=True, highlight=False)
        serve(host="127.0.0.1", port=port, workers=1, log_format=LogFormat.text)


def _operators(values: list[str] | None) -> list[str] | None:
    from coverage.schema import OPERATORS

    if not values:
        return None
    unknown = [v for v in values if v.upper() not in OPERATORS]
    if unknown:
        raise typer.BadParameter(bi(f"未知运营商 {'、'.join(unknown)}；应为 {'、'.join(OPERATORS)}",
                                    f"unknown operator {', '.join(unknown)}; use {', '.join(OPERATORS)}"),
                                 param_hint="--operator")
    return [v.upper() for v in values]


def _terminated(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def main() -> None:
    """Console-script entry point: domain errors become one red line and exit code 1; a command line
    click refuses (a bad or missing option, an unknown command) is said Chinese first
    (:func:`usage_error_lines`) and exits 2.

    SIGTERM ends the command like Ctrl-C does, through the code's cleanup: a run being computed is
    marked failed and its rasters are deleted.
    """
    signal.signal(signal.SIGTERM, _terminated)
    try:
        # not standalone: click's own errors come back here instead of being printed in English
        code = app(standalone_mode=False, prog_name="village5g")
    except Village5gError as exc:
        for line in error_lines(exc):
            err_console.print(f"{tag('error')} {escape(line)}", soft_wrap=True, highlight=False)
        raise SystemExit(1) from None
    except typer.TyperException as exc:  # the parser's: a bad or missing option, an unknown command
        if type(exc).__name__ == "NoArgsIsHelpError":  # no arguments: the help is printed already
            raise SystemExit(getattr(exc, "exit_code", 2)) from None
        *usage, message = usage_error_lines(exc)
        for line in usage:
            err_console.print(escape(line), soft_wrap=True, highlight=False)
        err_console.print(f"{tag('error')} {escape(message)}", soft_wrap=True, highlight=False)
        raise SystemExit(getattr(exc, "exit_code", 2)) from None
    except typer.Abort:
        err_console.print("已中止 (Aborted!)")
        raise SystemExit(1) from None
    raise SystemExit(code if isinstance(code, int) else 0)


#: What each kind of the parser's errors is, in Chinese, by class name (typer keeps them in its own
#: copy of click, which has no Chinese catalogue); ``{hint}`` is the option or argument it names.
USAGE_ERRORS_ZH = {
    "NoSuchOption": "没有选项 {hint}", "MissingParameter": "缺少{what} {hint}",
    "BadParameter": "{what} {hint} 的值无效", "BadOptionUsage": "选项 {hint} 的用法有误",
    "BadArgumentUsage": "参数用法有误", "FileError": "无法打开文件 {hint}", "UsageError": "命令行有误",
}


def usage_error_lines(exc: Exception) -> list[str]:
    """What the parser says of a refused command line, Chinese first: the usage and the help hint of
    the command (when it knows the command), then the problem with the parser's English in brackets
    (``选项 '--level' 的值无效 (Invalid value for '--level': ...)``)."""
    english = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    kind = next((k.__name__ for k in type(exc).__mro__ if k.__name__ in USAGE_ERRORS_ZH), None)
    param = getattr(exc, "param", None)
    ctx = getattr(exc, "ctx", None)
    hint = getattr(exc, "param_hint", None) or getattr(exc, "option_name", None) or getattr(exc, "ui_filename", None)
    if hint is None and getattr(param, "opts", None):  # as the parser names it: '--level', 'kind'
        hint = getattr(param, "opts", [])
    if hint is not None and not isinstance(hint, str):
        hint = " / ".join(repr(h) for h in hint)
    what = "选项" if str(hint or "").lstrip("'\"").startswith("-") else "参数"
    zh = USAGE_ERRORS_ZH[kind].format(hint=hint or "", what=what).replace("  ", " ").strip() if kind else "命令失败"
    close = getattr(exc, "possibilities", None)
    if kind == "NoSuchOption" and close:
        zh += f"（是否指 {'、'.join(close)}？）"
    lines = []
    if ctx is not None:
        lines.append(ctx.get_usage())
        if ctx.command.get_help_option(ctx) is not None:
            command = f"{ctx.command_path} {ctx.help_option_names[0]}"
            lines.append(f"用 '{command}' 查看帮助 (Try '{command}' for help.)")
    return [*lines, f"{zh} ({english})"]


def error_lines(exc: Village5gError, *, limit: int = 20) -> list[str]:
    """One line per problem of a rejected file (the first ``limit``, then how many more), else the message."""
    from coverage.errors import ValidationError, more_problems

    if not isinstance(exc, ValidationError):
        return [str(exc)]
    lines = [str(p) for p in exc.problems[:limit]]
    if len(exc.problems) > limit:
        lines.append(more_problems(len(exc.problems) - limit))
    return lines


if __name__ == "__main__":
    main()
