"""The web console's map: vector tiles of a run and the page that draws them with MapLibre.

``/tiles/{run}/{z}/{x}/{y}.mvt`` serves :class:`maps.tiles.TileSource` tiles (cached per run on disk),
``/console/map`` the page. The page loads MapLibre GL from the vendored files under
``/console/static`` (``api/static``), so it works on an intranet with no internet access.
"""

from __future__ import annotations

import html
import json
from pathlib import Path as FilePath
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from api.deps import ReaderDep, StoreDep
from api.errors import ApiError
from api.params import MAX_ID
from coverage.errors import ConfigError
from coverage.labels import REASON_LABELS, SOURCE_LABELS
from coverage.results_query import extent, resolve_run
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
           "loading": "加载中…", "m": "米", "yes": "是", "no": "否"},
    "en": {"title": "5G coverage map", "villages": "Villages", "sites": "Sites", "divisions": "Divisions",
           "basemap": "Basemap", "legend": "Legend", "reach": "Reach rate", "none": "None (our boundaries)",
           "run": "Run", "zoom_hint": "Zoom in for villages, further for sites", "details": "Details",
           "p": "P(covered)", "source": "Evidence", "no_site": "No site", "county": "County",
           "township": "Township", "verdict": "Verdict", "code": "Code", "villages_n": "Villages",
           "covered_n": "Covered", "switch": "中文", "reasons": "Reasons", "nearest": "Nearest site",
           "samples": "Samples", "operator": "Operator", "band": "Band", "azimuth": "Azimuth",
           "status": "Status", "omni": "omni", "loading": "Loading…", "m": "m", "yes": "yes", "no": "no"},
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


@router.get("/console/map", response_class=HTMLResponse, summary="The console's map of villages by verdict")
def map_page(request: Request, store: StoreDep, principal: ReaderDep,
             run: Annotated[int | None, Query(ge=1, le=MAX_ID, description="Run id (default: latest)")] = None,
             basemap: Annotated[Literal["none", "osm", "tianditu", "amap"], Query(
                 description="none (default: our own boundaries, offline), osm, tianditu (needs "
                             "VILLAGE5G_TIANDITU_KEY), amap (GCJ-02: features shifted)")] = "none",
             lang: Annotated[Lang, Query(description="zh (default) or en")] = "zh") -> HTMLResponse:
    """Every village of the run coloured by verdict on vector tiles; click a village for its card."""
    run_id = resolve_run(store, run)
    record = store.read_run(run_id)
    chosen = get_basemap(basemap)
    try:
        sources = raster_sources(chosen, tianditu_key=request.app.state.settings.tianditu_key)
    except ConfigError as exc:
        raise ApiError(400, str(exc), code="bad_request") from None
    bounds = extent(store, "villages") or (73.0, 18.0, 135.0, 54.0)
    text = TEXT[lang]
    config = {
        "run": run_id, "lang": lang, "text": text, "sources": SOURCE_WORDS[lang],
        "tiles": f"/tiles/{run_id}/{{z}}/{{x}}/{{y}}.mvt" + ("?crs=gcj02" if chosen.gcj02 else ""),
        "basemap": chosen.name, "rasters": sources, "background": NO_BASEMAP_BACKGROUND, "land": NO_BASEMAP_LAND,
        # MapLibre draws vector tiles at 512 px: tile zoom z shows at map zoom z + 1
        "bounds": bounds, "villageMinZoom": VILLAGE_MIN_ZOOM + 1, "siteMinZoom": SITE_MIN_ZOOM + 1, "maxZoom": MAX_ZOOM,
        "targetRate": float(record["rules"].get("target_rate", 0.9)),
        "basemaps": {name: b.label for name, b in BASEMAPS.items()},
        "region": principal.region,
        **js_config(target_rate=float(record["rules"].get("target_rate", 0.9))),
        "reasons": {code: [REASON_LABELS.get(code, text), text] for code, text in REASONS.items()},
    }
    title = f"{text['title']} · {text['run']} {run_id}"
    page = _PAGE.format(lang="zh-CN" if lang == "zh" else "en", title=html.escape(title),
                        config=json.dumps(config, ensure_ascii=False).replace("</", "<\\/"))
    return HTMLResponse(page)


_PAGE = """<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="/console/static/maplibre/maplibre-gl.css">
<link rel="stylesheet" href="/console/static/console/console.css">
</head>
<body class="map-page">
<div id="map"></div>
<aside id="panel"></aside>
<script>window.VILLAGE5G = {config};</script>
<script src="/console/static/maplibre/maplibre-gl.js"></script>
<script src="/console/static/console/map.js"></script>
</body>
</html>
"""
