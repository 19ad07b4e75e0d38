"""The web console's map: vector tiles of a run and the page that draws them with MapLibre.

``/tiles/{run}/{z}/{x}/{y}.mvt`` serves :class:`maps.tiles.TileSource` tiles (cached per run on disk),
``/console/map`` the page. The page loads MapLibre GL from the vendored files under
``/console/static`` (``api/static``), so it works on an intranet with no internet access.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel

from api.deps import ReaderDep, StoreDep
from api.errors import ApiError
from api.params import MAX_ID
from api.security import Principal
from coverage.errors import ConfigError, NotFoundError
from coverage.labels import CONFIDENCE_LABELS, REASON_LABELS, SOURCE_LABELS, VERDICT_LABELS
from coverage.results_query import extent, resolve_run, village_history
from coverage.storage import Store
from coverage.verdicts import REASONS
from maps.basemaps import BASEMAPS, get_basemap, raster_sources
from maps.style import NO_BASEMAP_BACKGROUND, NO_BASEMAP_LAND, js_config
from maps.tiles import MAX_ZOOM, SITE_MIN_ZOOM, VILLAGE_MIN_ZOOM

router = APIRouter(tags=["Maps"])

#: The console's own assets (page script and style) and the vendored MapLibre GL.
STATIC_DIR = FilePath(__file__).resolve().parent.parent / "static"
MVT = "application/vnd.mapbox-vector-tile"

Lang = Literal["zh", "en"]
TEXT = {
    "zh": {"title": "5G通达地图", "villages": "行政村", "sites": "基站", "divisions": "行政区划",
           "basemap": "底图", "legend": "图例", "reach": "通达率", "none": "无底图（本地边界）",
           "run": "分析批次", "zoom_hint": "放大可看到行政村；再放大可看到基站", "details": "详情",
           "p": "通达概率", "source": "依据", "no_site": "无站址", "county": "区县", "township": "乡镇",
           "verdict": "结论", "code": "编码", "villages_n": "行政村数", "covered_n": "通达村数",
           "switch": "English", "reasons": "原因", "nearest": "最近站址", "samples": "实测样本",
           "operator": "运营商", "band": "频段", "azimuth": "方位角", "status": "状态", "omni": "全向",
           "loading": "加载中…", "m": "米", "yes": "是", "no": "否",
           "app": "5G通达监测", "nav_home": "首页", "nav_villages": "行政村", "nav_map": "地图", "nav_audits": "抽查",
           "nav_api": "接口文档", "key": "API密钥", "key_prompt": "输入API密钥（留空则退出）：",
           "key_set": "已使用密钥",
           "province": "全省", "city": "地市", "target": "目标", "gap": "距目标差", "expected": "期望通达率",
           "interval": "95%区间", "covered": "5G通达", "weak": "弱覆盖", "uncovered": "无覆盖",
           "trend": "通达率趋势", "by_city": "各地市", "by_county": "各区县", "changes": "与上一批次相比",
           "jobs": "最近任务", "no_runs": "尚无分析结果", "newly_flagged": "新增问题村", "cleared": "问题消除村",
           "level": "层级", "name": "名称", "villages_count": "行政村数", "filters": "筛选", "all": "全部",
           "search": "名称或编码", "p_range": "通达概率", "apply": "查询", "reset": "重置", "export": "导出",
           "prev": "上一页", "next": "下一页", "matched": "共 {n} 个行政村", "page": "第 {a}-{b} 个",
           "history": "历次结论", "metrics": "指标", "evidence": "依据与证据", "nearby_sites": "附近站点",
           "good_share": "良好面积占比", "weak_share": "弱覆盖面积占比", "committee_rsrp": "村委会RSRP",
           "committee_sinr": "村委会SINR", "measured_rsrp": "实测RSRP中位数", "measured_good": "实测良好占比",
           "population": "人口", "sites_inside": "村内站点", "distance": "距离", "finished": "完成时间",
           "rules": "规则", "kind": "类型", "state": "状态", "created": "创建时间", "none_found": "无",
           "back": "返回列表", "confidence": "置信度", "rounds": "抽查轮次", "round": "轮次",
           "sample": "样本", "tested": "已测", "passed": "通过", "pass_rate": "通过率", "lists": "名单",
           "report": "报告", "nav_hint": "点击地市查看其行政村", "run_label": "批次",
           "draw": "抽取新一轮", "strata": "分层", "strata_city": "按地市", "strata_city_verdict": "按地市×结论",
           "confidence_level": "置信水平", "margin": "允许误差", "expected_pass": "预期通过率",
           "uncertain": "补充不确定村（个）", "seed": "随机种子（可空）", "seed_short": "随机种子", "preview": "预览", "confirm": "确认抽取",
           "population_label": "抽样范围", "drawn": "已抽取第 {n} 轮", "required": "应抽", "reserve": "备选",
           "eligible": "可抽", "upload": "上传实测结果", "uploaded": "已保存 {rows} 行，涉及 {n} 个行政村",
           "file": "文件", "row": "行", "field": "字段", "problem": "问题", "failed": "失败，未保存任何数据",
           "needs_auditor": "需要审核员（auditor）或管理员密钥", "total": "合计"},
    "en": {"title": "5G coverage map", "villages": "Villages", "sites": "Sites", "divisions": "Divisions",
           "basemap": "Basemap", "legend": "Legend", "reach": "Reach rate", "none": "None (our boundaries)",
           "run": "Run", "zoom_hint": "Zoom in for villages, further for sites", "details": "Details",
           "p": "P(covered)", "source": "Evidence", "no_site": "No site", "county": "County",
           "township": "Township", "verdict": "Verdict", "code": "Code", "villages_n": "Villages",
           "covered_n": "Covered", "switch": "中文", "reasons": "Reasons", "nearest": "Nearest site",
           "samples": "Samples", "operator": "Operator", "band": "Band", "azimuth": "Azimuth",
           "status": "Status", "omni": "omni", "loading": "Loading…", "m": "m", "yes": "yes", "no": "no",
           "app": "5G village coverage", "nav_home": "Home", "nav_villages": "Villages", "nav_map": "Map",
           "nav_audits": "Audits", "nav_api": "API docs", "key": "API key",
           "key_prompt": "API key (empty to sign out):", "key_set": "Key in use", "province": "Province",
           "city": "City", "target": "Target", "gap": "Gap to target", "expected": "Expected rate",
           "interval": "95% interval", "covered": "covered", "weak": "weak", "uncovered": "uncovered",
           "trend": "Reach rate over runs", "by_city": "Cities", "by_county": "Counties",
           "changes": "Since the previous run", "jobs": "Latest jobs", "no_runs": "No analysis yet",
           "newly_flagged": "Newly flagged", "cleared": "Cleared", "level": "Level", "name": "Name",
           "villages_count": "Villages", "filters": "Filters", "all": "all", "search": "Name or code",
           "p_range": "P(covered)", "apply": "Search", "reset": "Reset", "export": "Export", "prev": "Previous",
           "next": "Next", "matched": "{n} villages", "page": "{a}-{b}", "history": "Verdict over runs",
           "metrics": "Metrics", "evidence": "Evidence", "nearby_sites": "Sites nearby",
           "good_share": "Good area share", "weak_share": "Weak area share", "committee_rsrp": "Committee RSRP",
           "committee_sinr": "Committee SINR", "measured_rsrp": "Measured RSRP median",
           "measured_good": "Measured good share", "population": "Population", "sites_inside": "Sites inside",
           "distance": "Distance", "finished": "Finished", "rules": "Rules", "kind": "Kind", "state": "Status",
           "created": "Created", "none_found": "none", "back": "Back to the list", "confidence": "Confidence",
           "rounds": "Audit rounds", "round": "Round", "sample": "Sample", "tested": "Tested", "passed": "Passed",
           "pass_rate": "Pass rate", "lists": "Lists", "report": "Report", "nav_hint": "Click a city for its villages",
           "run_label": "Run", "draw": "Draw a new round", "strata": "Strata", "strata_city": "city",
           "strata_city_verdict": "city x verdict", "confidence_level": "Confidence", "margin": "Margin",
           "expected_pass": "Expected pass rate", "uncertain": "Uncertain villages (extra)",
           "seed": "Seed (optional)", "seed_short": "Seed", "preview": "Preview", "confirm": "Draw", "population_label": "Population",
           "drawn": "Round {n} drawn", "required": "Required", "reserve": "Reserves", "eligible": "Eligible",
           "upload": "Upload field results", "uploaded": "Stored {rows} rows for {n} villages", "file": "File",
           "row": "Row", "field": "Field", "problem": "Problem", "failed": "Rejected; nothing was stored",
           "needs_auditor": "Needs an auditor or admin key", "total": "Total"},
}
SOURCE_WORDS = {"zh": SOURCE_LABELS, "en": {"predicted": "predicted", "fused": "fused", "measured": "measured"}}


@router.get("/tiles/{run_id}/{z}/{x}/{y}.mvt", summary="Vector tile of a run (villages, divisions, sites)",
            response_class=Response, responses={200: {"content": {MVT: {}}}, 204: {"description": "empty tile"}})
def tile(request: Request, store: StoreDep, principal: ReaderDep,
         run_id: Annotated[int, Path(ge=1, le=MAX_ID)], z: Annotated[int, Path(ge=0, le=MAX_ZOOM)],
         x: Annotated[int, Path(ge=0)], y: Annotated[int, Path(ge=0)],
         crs: Annotated[Literal["wgs84", "gcj02"], Query(description="gcj02: shifted for a GCJ-02 basemap")] = "wgs84",
         ) -> Response:
    """A Mapbox Vector Tile of run ``run_id``: layers ``divisions`` (counties, cities below zoom 7, with
    their 通达率), ``villages`` (from zoom 9, by verdict) and ``sites`` (from zoom 12). A key limited to
    a region gets that region only. Tiles are cached per run."""
    if x >= 2 ** z or y >= 2 ** z:
        raise ApiError(404, f"tile {z}/{x}/{y} does not exist", code="not_found")
    run = resolve_run(store, run_id)
    data = request.app.state.tiles.tile(run, z, x, y, regions=principal.regions, gcj02=crs == "gcj02")
    headers = {"Cache-Control": "private, max-age=3600"}
    if not data:
        return Response(status_code=204, headers=headers)
    return Response(data, media_type=MVT, headers=headers)


RunQuery = Annotated[int | None, Query(ge=1, le=MAX_ID, description="Run id (default: latest)")]
LangQuery = Annotated[Lang, Query(description="zh (default) or en")]
PAGES = ("home", "villages", "map", "audits")


def _config(store: Store, principal: Principal, lang: str, run: int | None, *, need_run: bool) -> dict[str, Any]:
    """What every console page's script gets: texts, labels, colours, the run and the caller's region."""
    run_id = None
    target = 0.9
    try:
        run_id = resolve_run(store, run)
        target = float(store.read_run(run_id)["rules"].get("target_rate", 0.9))
    except NotFoundError:
        if need_run or run is not None:
            raise
    return {
        "run": run_id, "lang": lang, "text": TEXT[lang], "sources": SOURCE_WORDS[lang], "targetRate": target,
        "region": principal.region, "verdicts": {"zh": VERDICT_LABELS, "en": {k: k for k in VERDICT_LABELS}}[lang],
        "confidence": {"zh": CONFIDENCE_LABELS, "en": {k: k for k in CONFIDENCE_LABELS}}[lang],
        **js_config(target_rate=target),
        # after the map tables: the reasons in both languages, not only the English texts
        "reasons": {code: [REASON_LABELS.get(code, text), text] for code, text in REASONS.items()},
    }


def _page(page: str, title: str, config: dict[str, Any], scripts: tuple[str, ...] = ()) -> HTMLResponse:
    """A console page: the shared header and navigation, ``config`` for the scripts, the page's own script."""
    text = config["text"]
    lang = config["lang"]
    suffix = "?lang=en" if lang == "en" else ""
    active = ' class="active"'
    links = "".join(
        f'<a href="/console{"" if name == "home" else "/" + name}{suffix}"'
        f'{active if name in (page, page + "s") else ""}>{html.escape(text["nav_" + name])}</a>' for name in PAGES)
    head = "".join(f'<link rel="stylesheet" href="/console/static/{css}">' for css in
                   (("maplibre/maplibre-gl.css",) if "maplibre" in " ".join(scripts) else ()))
    body_scripts = "".join(f'<script src="/console/static/{src}"></script>' for src in
                           (*scripts, "console/console.js", f"console/{page}.js"))
    return HTMLResponse(_SHELL.format(
        lang="zh-CN" if lang == "zh" else "en", title=html.escape(f"{title} · {text['app']}"), head=head,
        page=page, app=html.escape(text["app"]), links=links, docs=html.escape(text["nav_api"]),
        config=json.dumps(config, ensure_ascii=False, default=str).replace("</", "<\\/"), scripts=body_scripts))


@router.get("/console", response_class=HTMLResponse, summary="Console: the dashboard")
def home_page(store: StoreDep, principal: ReaderDep, run: RunQuery = None, lang: LangQuery = "zh") -> HTMLResponse:
    """通达率 of the province (or the caller's region) with its interval and gap to target, the trend over
    runs, cities and counties, what changed since the previous run and the latest jobs."""
    config = _config(store, principal, lang, run, need_run=False)
    return _page("home", TEXT[lang]["nav_home"], config)


@router.get("/console/villages", response_class=HTMLResponse, summary="Console: the village list")
def villages_page(store: StoreDep, principal: ReaderDep, run: RunQuery = None, lang: LangQuery = "zh"
                  ) -> HTMLResponse:
    """Villages filtered by region, verdict, no-site, probability, evidence and name or code; sortable,
    paged, and exported exactly as filtered (XLSX, CSV, KML, GeoPackage)."""
    config = _config(store, principal, lang, run, need_run=False)
    return _page("villages", TEXT[lang]["nav_villages"], config)


@router.get("/console/villages/{code}", response_class=HTMLResponse, summary="Console: one village")
def village_page(store: StoreDep, principal: ReaderDep, code: Annotated[str, Path(pattern=r"^\d{12}$")],
                 run: RunQuery = None, lang: LangQuery = "zh") -> HTMLResponse:
    """The village's polygon on a small map, its metrics, reasons in words, probability, evidence, its
    verdict over past runs and the sites nearest to it."""
    config = _config(store, principal, lang, run, need_run=False)
    config["code"] = code
    config["tiles"] = f"/tiles/{config['run']}/{{z}}/{{x}}/{{y}}.mvt" if config["run"] else None
    config["background"], config["land"] = NO_BASEMAP_BACKGROUND, NO_BASEMAP_LAND
    return _page("village", code, config, ("maplibre/maplibre-gl.js",))


@router.get("/console/audits", response_class=HTMLResponse, summary="Console: audit rounds")
def audits_page(store: StoreDep, principal: ReaderDep, lang: LangQuery = "zh") -> HTMLResponse:
    """Audit rounds with their sample sizes and pass rates, the lists to download and the reports."""
    config = _config(store, principal, lang, None, need_run=False)
    return _page("audits", TEXT[lang]["nav_audits"], config)


@router.get("/console/map", response_class=HTMLResponse, summary="Console: the map of villages by verdict")
def map_page(request: Request, store: StoreDep, principal: ReaderDep, run: RunQuery = None,
             basemap: Annotated[Literal["none", "osm", "tianditu", "amap"], Query(
                 description="none (default: our own boundaries, offline), osm, tianditu (needs "
                             "VILLAGE5G_TIANDITU_KEY), amap (GCJ-02: features shifted)")] = "none",
             lang: LangQuery = "zh") -> HTMLResponse:
    """Every village of the run coloured by verdict on vector tiles; click a village for its card."""
    config = _config(store, principal, lang, run, need_run=True)
    run_id = config["run"]
    chosen = get_basemap(basemap)
    try:
        sources = raster_sources(chosen, tianditu_key=request.app.state.settings.tianditu_key)
    except ConfigError as exc:
        raise ApiError(400, str(exc), code="bad_request") from None
    config.update({
        "tiles": f"/tiles/{run_id}/{{z}}/{{x}}/{{y}}.mvt" + ("?crs=gcj02" if chosen.gcj02 else ""),
        "basemap": chosen.name, "rasters": sources, "background": NO_BASEMAP_BACKGROUND, "land": NO_BASEMAP_LAND,
        "bounds": extent(store, "villages") or (73.0, 18.0, 135.0, 54.0),
        # MapLibre draws vector tiles at 512 px: tile zoom z shows at map zoom z + 1
        "villageMinZoom": VILLAGE_MIN_ZOOM + 1, "siteMinZoom": SITE_MIN_ZOOM + 1, "maxZoom": MAX_ZOOM,
        "basemaps": {name: b.label for name, b in BASEMAPS.items()},
    })
    return _page("map", TEXT[lang]["title"], config, ("maplibre/maplibre-gl.js",))


class VillageRun(BaseModel):
    """The village's verdict in one published run."""

    run_id: int
    finished_at: dt.datetime | None
    rules: str
    verdict: str
    p_covered: float | None
    verdict_source: str | None
    no_site: bool


class VillageHistory(BaseModel):
    """A village's verdicts over the published runs, oldest first."""

    code: str
    runs: list[VillageRun]


@router.get("/villages/{code}/history", response_model=VillageHistory, tags=["Summaries"],
            summary="A village's verdict over runs")
def village_history_json(store: StoreDep, principal: ReaderDep,
                         code: Annotated[str, Path(pattern=r"^\d{12}$", description="12-digit village code")]
                         ) -> dict[str, Any]:
    """The verdict, p_covered and evidence of the village in every published run that has it."""
    if principal.regions and not any(code.startswith(r) for r in principal.regions):
        raise ApiError(404, f"village {code} is not in this key's region")
    runs = village_history(store, code)
    if not runs:
        raise ApiError(404, f"village {code} is in no published run")
    return {"code": code, "runs": runs}


_SHELL = """<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
{head}<link rel="stylesheet" href="/console/static/console/console.css">
</head>
<body class="page-{page}">
<header class="top"><a class="brand" href="/console">{app}</a><nav>{links}<a href="/docs">{docs}</a></nav>
<span class="tools"><a id="lang-switch" href="#"></a> <button id="key-button" type="button"></button></span></header>
<main id="app"></main>
<script>window.VILLAGE5G = {config};</script>
{scripts}
</body>
</html>
"""
