"""The web console's map: vector tiles of a run and the page that draws them with MapLibre.

``/tiles/{run}/{z}/{x}/{y}.mvt`` serves :class:`maps.tiles.TileSource` tiles (cached per run on disk),
``/console/map`` the page. The page loads MapLibre GL from the vendored files under
``/console/static`` (``api/static``), so it works on an intranet with no internet access.

The console's pages (:data:`pages`) answer an error (a run or village that does not exist, a malformed
parameter, a key needed, a page that does not exist) as a console page with the API's status and message,
and an unexpected failure, logged as the API logs it, as a console page with status 500
(:class:`PageRoute`); the JSON routes (:data:`router`) answer JSON.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from collections.abc import Callable, Coroutine
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.console_text import TEXT
from api.deps import ReaderDep, StoreDep
from api.errors import ApiError, ErrorAnswer, allowed_methods, error_answer, log_unexpected
from api.openapi import HTML_ERRORS
from api.params import MAX_ID, one_village
from api.responses import utc
from api.security import SESSION_COOKIE, Principal, authenticate, session_principal
from coverage.errors import ConfigError, NotFoundError
from coverage.labels import CONFIDENCE_LABELS, REASON_LABELS, SOURCE_LABELS, VERDICT_LABELS
from coverage.model.verdicts import REASONS
from coverage.schema import OPERATORS, STATUSES, chinese_name
from coverage.store.keys import SESSION_HOURS, close_session, open_session
from coverage.store.results_query import extent, ingest_history, resolve_run, village_history
from coverage.store.storage import Store
from maps.basemaps import BASEMAPS, get_basemap, raster_sources
from maps.build import run_rules
from maps.raster import RSRP_MIN_ZOOM
from maps.style import AUDIT_CLASSES, NO_BASEMAP_BACKGROUND, NO_BASEMAP_LAND, js_config, rsrp_steps
from maps.tiles import MAX_ZOOM, SITE_MIN_ZOOM, VILLAGE_MIN_ZOOM


class PageRoute(APIRoute):
    """The route of a console page: an error, whether of a parameter (``?run=abc``), of the caller (a
    key needed) or of the handler (``?run=999``, a run that does not exist), answers as a console page
    (:func:`_error_page`) with the status and message the API gives it, not the API's JSON; an unexpected
    exception is logged as :class:`api.errors.CatchAllMiddleware` logs one and answers a console page
    with status 500 (:func:`_internal_answer`)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        # the OpenAPI document says the errors are HTML (api/openapi.py)
        kwargs["openapi_extra"] = {**(kwargs.get("openapi_extra") or {}), HTML_ERRORS: True}
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_or_error(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:
                answer = error_answer(request, exc)
                if answer is None:  # unexpected: logged in full (traceback, request id), said in a page
                    answer = _internal_answer(log_unexpected(request.scope))
                return await _error_page(request, answer)

        return page_or_error


router = APIRouter(tags=["Maps"])
#: The console's pages (HTML, their errors too); after :data:`router` in the app, whose paths they would take.
pages = APIRouter(tags=["Maps"], route_class=PageRoute)

#: The console's own assets (page script and style) and the vendored MapLibre GL.
STATIC_DIR = FilePath(__file__).resolve().parent.parent / "static"
MVT = "application/vnd.mapbox-vector-tile"

Lang = Literal["zh", "en"]
SOURCE_WORDS = {"zh": SOURCE_LABELS, "en": {"predicted": "predicted", "fused": "fused", "measured": "measured"}}


def _tile_answer(request: Request, store: Store, principal: Principal, kind: Literal["tile", "rsrp"], run_id: int,
                 z: int, x: int, y: int, crs: str, media_type: str) -> Response:
    """A tile of the app's :class:`maps.tiles.TileSource` (``kind``: its method) as the answer: 404 for a
    tile outside the zoom's grid or a run that is not published, 204 when empty."""
    if x >= 2 ** z or y >= 2 ** z:
        raise ApiError(404, f"瓦片 {z}/{x}/{y} 不存在 (tile {z}/{x}/{y} does not exist)", code="not_found")
    make = getattr(request.app.state.tiles, kind)
    data = make(resolve_run(store, run_id), z, x, y, regions=principal.regions, gcj02=crs == "gcj02")
    headers = {"Cache-Control": "private, max-age=3600"}
    if not data:
        return Response(status_code=204, headers=headers)
    return Response(data, media_type=media_type, headers=headers)


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
    return _tile_answer(request, store, principal, "tile", run_id, z, x, y, crs, MVT)


RunQuery = Annotated[int | None, Query(ge=1, le=MAX_ID, description="Run id (default: latest)")]
LangQuery = Annotated[Lang, Query(description="zh (default) or en")]
PAGES = ("home", "villages", "map", "audits", "planning", "data")


def _config(request: Request, store: Store, principal: Principal, lang: str, run: int | None, *, need_run: bool
            ) -> dict[str, Any]:
    """What every console page's script gets: texts, labels, colours, the run, the caller (signed-in
    key's role and region, and the session's CSRF token for its writes)."""
    run_id = None
    target = 0.9
    try:
        run_id = resolve_run(store, run)
        target = float(store.read_run(run_id)["rules"].get("target_rate", 0.9))
    except NotFoundError as exc:
        if run is not None:  # the page without ?run (the latest run) is the way back
            raise ApiError(404, str(exc), details=[{"location": "query.run", "message": str(exc)}]) from None
        if need_run:
            raise
    return {
        "run": run_id, "lang": lang, "text": TEXT[lang], "sources": SOURCE_WORDS[lang], "targetRate": target,
        "region": principal.region, "user": _user(principal), "csrf": getattr(request.state, "csrf", None),
        "verdicts": {"zh": VERDICT_LABELS, "en": {k: k for k in VERDICT_LABELS}}[lang],
        "confidence": {"zh": CONFIDENCE_LABELS, "en": {k: k for k in CONFIDENCE_LABELS}}[lang],
        # operators and site states as a Chinese user reads them (the first Chinese name of each)
        "operators": {k: (chinese_name(v) if lang == "zh" else k) for k, v in OPERATORS.items()},
        "siteStatus": {k: (chinese_name(v) if lang == "zh" else k) for k, v in STATUSES.items()},
        **js_config(target_rate=target),
        # after the map tables: the reasons in both languages, not only the English texts
        "reasons": {code: [REASON_LABELS.get(code, text), text] for code, text in REASONS.items()},
    }


def _user(principal: Principal) -> dict[str, Any] | None:
    """The signed-in key as the header shows it (None: nobody signed in)."""
    key = principal.key
    return None if key is None else {"id": key.id, "role": key.role, "region": key.region_code}


def _page(page: str, title: str, config: dict[str, Any], scripts: tuple[str, ...] = ()) -> HTMLResponse:
    """A console page: the shared header and navigation, ``config`` for the scripts, the page's own script."""
    return HTMLResponse(_shell(page, title, config, (*scripts, "console/console.js", f"console/{page}.js")))


def _shell(page: str, title: str, config: dict[str, Any], scripts: tuple[str, ...], *, main: str = "",
           active: str | None = None) -> str:
    """The HTML of a console page: the header with the navigation (``active``, default ``page``, marked),
    ``main`` in its body, ``config`` for ``scripts``."""
    text = config["text"]
    lang = config["lang"]
    suffix = "?lang=en" if lang == "en" else ""
    current = active or page
    mark = ' class="active"'
    links = "".join(
        f'<a href="/console{"" if name == "home" else "/" + name}{suffix}"'
        f'{mark if name in (current, current + "s") else ""}>{html.escape(text["nav_" + name])}</a>' for name in PAGES)
    head = "".join(f'<link rel="stylesheet" href="/console/static/{css}">' for css in
                   (("maplibre/maplibre-gl.css",) if "maplibre" in " ".join(scripts) else ()))
    body_scripts = "".join(f'<script src="/console/static/{src}"></script>' for src in scripts)
    return _SHELL.format(
        lang="zh-CN" if lang == "zh" else "en", title=html.escape(f"{title} · {text['app']}"), head=head,
        page=page, app=html.escape(text["app"]), links=links, docs=html.escape(text["nav_api"]), main=main,
        config=json.dumps(config, ensure_ascii=False, default=str).replace("</", "<\\/"), scripts=body_scripts)


#: A console page's parameters (query or path) and the console's word for each (``TEXT`` keys).
PARAMETER_WORDS = {"run": "run", "lang": "language", "basemap": "basemap", "code": "code"}


def _internal_answer(request_id: str | None) -> ErrorAnswer:
    """What a console page says of an unexpected failure (logged under ``request_id``): nothing of the
    exception, the id to quote to an administrator."""
    rid = (f"（请求 {request_id}）", f" (request {request_id})") if request_id else ("", "")
    return ErrorAnswer.of(500, f"内部错误，已记录{rid[0]}；请稍后重试或联系管理员 (internal error; it has been "
                               f"logged{rid[1]}; try again later or ask an administrator)")


async def _error_page(request: Request, answer: ErrorAnswer) -> HTMLResponse:
    """The API's error ``answer`` to a console page's request as a console page with its status: the
    header (signed in as the browser's session is), what went wrong, Chinese first (every bad parameter
    with the console's word for it), and the way back: the page without the parameters at fault (after
    a failure of the server, the same page again), the dashboard."""
    lang: Lang = "en" if request.query_params.get("lang") == "en" else "zh"
    text = TEXT[lang]
    user, csrf = None, None
    if not request.headers.get("x-api-key") and not request.headers.get("authorization"):
        try:
            session = await session_principal(request.app.state, request.cookies.get(SESSION_COOKIE), "GET", None)
        except ApiError:
            session = None
        except Exception:
            if answer.status < 500:
                raise
            # the failure this page reports (logged) may be the store's, which this lookup needs too
            session = None
        if session is not None:
            user, csrf = _user(session[0]), session[1]
    body = answer.body
    located = [d for d in body.details if d.get("location") and d.get("message")]
    lines = [body.message]
    if body.code == "invalid_parameter" and located:
        lines = [_parameter_words(str(d["location"]), lang) + str(d["message"]) for d in located]
    # the parameters at fault are left out of the way back; a fault in the path leaves only the dashboard
    parts = [str(d["location"]).split(".") for d in located]
    dropped = {part[1] for part in parts if part[0] == "query" and len(part) > 1}
    back = []
    if answer.status >= 500:  # the fault may pass: the same address, parameters and all
        back.append((request.url.path + (f"?{request.url.query}" if request.url.query else ""), text["error_again"]))
    elif dropped and all(part[0] == "query" for part in parts):
        kept = [(k, v) for k, v in request.query_params.multi_items() if k not in dropped]
        href = request.url.path + ("?" + urlencode(kept) if kept else "")
        names = ("、" if lang == "zh" else ", ").join(sorted(dropped))
        back.append((href, text["error_without"].format(names=names)))
    home = "/console" + ("?lang=en" if lang == "en" else "")
    if home not in (href for href, _ in back):  # the dashboard's own failure: once
        back.append((home, text["error_home"]))
    heading = text.get(f"error_{answer.status}", text["error_other"])
    main = ('<section class="panel failure"><h1>' + html.escape(heading) + "</h1>" +
            "".join(f'<p class="error">{html.escape(line)}</p>' for line in lines) + '<p class="back">' +
            " · ".join(f'<a href="{html.escape(href)}">{html.escape(words)}</a>' for href, words in back) +
            "</p></section>")
    config = {"run": None, "lang": lang, "text": text, "user": user, "csrf": csrf}
    parts_of_path = request.url.path.strip("/").split("/")
    active = parts_of_path[1] if len(parts_of_path) > 1 else "home"
    return HTMLResponse(_shell("error", heading, config, ("console/console.js",), main=main, active=active),
                        status_code=answer.status, headers=answer.headers)


def _parameter_words(location: str, lang: Lang) -> str:
    """A parameter's location (``query.run``) as a person reads it before its message on a console page:
    the console's word for it and its name in the address (``分析批次（run）：``, ``Run (run): ``)."""
    name = location.split(".")[-1]
    word = TEXT[lang].get(PARAMETER_WORDS.get(name, ""))
    if lang == "zh":
        return f"{word}（{name}）：" if word else f"{name}："
    return f"{word} ({name}): " if word else f"{name}: "


@router.get("/tiles/{run_id}/rsrp/{z}/{x}/{y}.png", summary="Raster tile of a run's predicted SS-RSRP",
            response_class=Response,
            responses={200: {"content": {"image/png": {}}}, 204: {"description": "empty tile"}})
def rsrp_tile(request: Request, store: StoreDep, principal: ReaderDep,
              run_id: Annotated[int, Path(ge=1, le=MAX_ID)], z: Annotated[int, Path(ge=0, le=MAX_ZOOM)],
              x: Annotated[int, Path(ge=0)], y: Annotated[int, Path(ge=0)],
              crs: Annotated[Literal["wgs84", "gcj02"], Query(description="gcj02: for a GCJ-02 basemap")] = "wgs84",
              ) -> Response:
    """The run's predicted SS-RSRP (band 1 of its GeoTIFF) as a 256 px PNG in the stepped colours of
    the rule set's cut-offs, from tile zoom 9; 204 where there is none. Cached per run."""
    return _tile_answer(request, store, principal, "rsrp", run_id, z, x, y, crs, "image/png")


@pages.get("/console", response_class=HTMLResponse, summary="Console: the dashboard")
def home_page(request: Request, store: StoreDep, principal: ReaderDep, run: RunQuery = None,
              lang: LangQuery = "zh") -> HTMLResponse:
    """通达率 of the province (or the caller's region) with its interval and gap to target, the trend over
    runs, cities and counties, what changed since the previous run and the latest jobs."""
    config = _config(request, store, principal, lang, run, need_run=False)
    return _page("home", TEXT[lang]["nav_home"], config)


@pages.get("/console/villages", response_class=HTMLResponse, summary="Console: the village list")
def villages_page(request: Request, store: StoreDep, principal: ReaderDep, run: RunQuery = None, lang: LangQuery = "zh"
                  ) -> HTMLResponse:
    """Villages filtered by region, verdict, no-site, probability, evidence and name or code; sortable,
    paged, and exported exactly as filtered (XLSX, CSV, KML, GeoPackage)."""
    config = _config(request, store, principal, lang, run, need_run=False)
    return _page("villages", TEXT[lang]["nav_villages"], config)


@pages.get("/console/villages/{code}", response_class=HTMLResponse, summary="Console: one village")
def village_page(request: Request, store: StoreDep, principal: ReaderDep,
                 code: Annotated[str, Path(pattern=r"^\d{12}$")],
                 run: RunQuery = None, lang: LangQuery = "zh") -> HTMLResponse:
    """The village's polygon on a small map, its metrics, reasons in words, probability, evidence, its
    verdict over past runs and the sites nearest to it."""
    config = _config(request, store, principal, lang, run, need_run=False)
    if config["run"] is not None:  # a code of no village of the run (or of none in the key's region): 404
        one_village(store, principal, config["run"], code)
    config["code"] = code
    config["tiles"] = f"/tiles/{config['run']}/{{z}}/{{x}}/{{y}}.mvt" if config["run"] else None
    config["background"], config["land"] = NO_BASEMAP_BACKGROUND, NO_BASEMAP_LAND
    return _page("village", code, config, ("maplibre/maplibre-gl.js",))


@pages.get("/console/audits", response_class=HTMLResponse, summary="Console: audit rounds")
def audits_page(request: Request, store: StoreDep, principal: ReaderDep, lang: LangQuery = "zh") -> HTMLResponse:
    """Audit rounds with their sample sizes and pass rates, the lists to download and the reports."""
    config = _config(request, store, principal, lang, None, need_run=False)
    return _page("audits", TEXT[lang]["nav_audits"], config)


@pages.get("/console/planning", response_class=HTMLResponse, summary="Console: fill-in planning and what-if")
def planning_page(request: Request, store: StoreDep, principal: ReaderDep, lang: LangQuery = "zh") -> HTMLResponse:
    """Plan N fill-in sites for a region (the sites and the villages they gain on a map and in a
    table), or upload proposed sites for a what-if against the latest run."""
    config = _config(request, store, principal, lang, None, need_run=False)
    if config["run"]:
        config["tiles"] = f"/tiles/{config['run']}/{{z}}/{{x}}/{{y}}.mvt"
        config["bounds"] = extent(store, "villages") or (73.0, 18.0, 135.0, 54.0)
        config["background"], config["land"] = NO_BASEMAP_BACKGROUND, NO_BASEMAP_LAND
    return _page("planning", TEXT[lang]["nav_planning"], config, ("maplibre/maplibre-gl.js",))


@pages.get("/console/data", response_class=HTMLResponse, summary="Console: data and runs")
def data_page(request: Request, store: StoreDep, principal: ReaderDep, lang: LangQuery = "zh") -> HTMLResponse:
    """Upload a file with a preview of how each column is read, the ingest history, the runs and
    their differences, and (admin) an analysis started and followed to its end."""
    config = _config(request, store, principal, lang, None, need_run=False)
    return _page("data", TEXT[lang]["nav_data"], config)


class IngestRecordOut(BaseModel):
    """One stored write of data."""

    id: int
    kind: str
    file_name: str
    rows: int
    mode: str = Field(description="append, replace or seed")
    crs: str | None
    encoding: str | None
    warnings: int
    created_at: dt.datetime
    sha256: str


class IngestHistory(BaseModel):
    """The latest stored writes of data, newest first."""

    ingests: list[IngestRecordOut]


@router.get("/ingests", response_model=IngestHistory, tags=["Ingest"], summary="Ingest history")
def ingests(_: ReaderDep, store: StoreDep,
            limit: Annotated[int, Query(ge=1, le=1000, description="How many, newest first")] = 50) -> dict[str, Any]:
    """The files ingested (and seeds stored), newest first, with their rows, mode, CRS and warnings.
    Rejected files store nothing and are not listed (the refresh job's result names the ones it
    rejected)."""
    return {"ingests": [{**row, "created_at": utc(row["created_at"])} for row in ingest_history(store, limit=limit)]}


@pages.get("/console/map", response_class=HTMLResponse, summary="Console: the map of villages by verdict")
def map_page(request: Request, store: StoreDep, principal: ReaderDep, run: RunQuery = None,
             basemap: Annotated[Literal["none", "osm", "tianditu", "amap"], Query(
                 description="none (default: our own boundaries, offline), osm, tianditu (needs "
                             "VILLAGE5G_TIANDITU_KEY), amap (GCJ-02: features shifted)")] = "none",
             lang: LangQuery = "zh") -> HTMLResponse:
    """Every village of the run coloured by verdict on vector tiles; click a village for its card."""
    config = _config(request, store, principal, lang, run, need_run=True)
    run_id = config["run"]
    chosen = get_basemap(basemap)
    try:
        sources = raster_sources(chosen, tianditu_key=request.app.state.settings.tianditu_key)
    except ConfigError as exc:  # the page with another basemap is the way back
        raise ApiError(400, str(exc), code="bad_request", details=[{"location": "query.basemap", "message": str(exc)}]
                       ) from None
    config.update({
        "tiles": f"/tiles/{run_id}/{{z}}/{{x}}/{{y}}.mvt" + ("?crs=gcj02" if chosen.gcj02 else ""),
        "rsrpTiles": f"/tiles/{run_id}/rsrp/{{z}}/{{x}}/{{y}}.png" + ("?crs=gcj02" if chosen.gcj02 else ""),
        "rsrpMinZoom": RSRP_MIN_ZOOM,
        "rsrpSteps": [{"color": st.color, "label": _rsrp_label(st.label, lang)}
                      for st in rsrp_steps(run_rules(store.read_run(run_id)))],
        "basemap": chosen.name, "rasters": sources, "background": NO_BASEMAP_BACKGROUND, "land": NO_BASEMAP_LAND,
        "bounds": extent(store, "villages") or (73.0, 18.0, 135.0, 54.0),
        # MapLibre draws vector tiles at 512 px: tile zoom z shows at map zoom z + 1
        "villageMinZoom": VILLAGE_MIN_ZOOM + 1, "siteMinZoom": SITE_MIN_ZOOM + 1, "maxZoom": MAX_ZOOM,
        "basemaps": {name: b.label for name, b in BASEMAPS.items()},
        "auditClasses": {c.key: {"color": c.color, "zh": c.label_zh, "en": c.label_en} for c in AUDIT_CLASSES},
    })
    return _page("map", TEXT[lang]["title"], config, ("maplibre/maplibre-gl.js",))


def _rsrp_label(label: str, lang: str) -> str:
    """A legend label of :func:`maps.style.rsrp_steps` in the page's language."""
    if lang != "zh":
        return label
    for en, zh in ((" to ", " 至 "), ("(good)", "（良好）"), ("(weak)", "（弱覆盖）"), ("(none)", "（无覆盖）")):
        label = label.replace(en, zh)
    return label


class SignIn(BaseModel):
    """An API key to sign in with."""

    key: str = Field(min_length=1, max_length=300)


class SignedIn(BaseModel):
    """Who signed in, and the session's CSRF token for its writes."""

    id: str
    role: str
    region: str | None
    csrf: str
    expires_in_s: int


@router.post("/console/login", response_model=SignedIn, summary="Sign in to the console with an API key")
async def login(request: Request, body: SignIn) -> JSONResponse:
    """Exchange an API key for a session: an HttpOnly, SameSite=Strict cookie (Secure over HTTPS) that
    stands for the key on every request of this browser; writes with it also need the returned
    CSRF token (``X-CSRF-Token``). 401 for a key that does not verify (and the address's limit on
    invalid keys applies)."""
    principal = await authenticate(request.app.state, body.key.strip(), request.client.host if request.client else "")
    assert principal.key is not None
    key = principal.key
    token, csrf = await run_in_threadpool(open_session, request.app.state.store, key)
    answer = JSONResponse({"id": key.id, "role": key.role, "region": key.region_code, "csrf": csrf,
                           "expires_in_s": int(SESSION_HOURS * 3600)})
    secure = request.url.scheme == "https" or request.app.state.settings.public_url.startswith("https://")
    answer.set_cookie(SESSION_COOKIE, token, max_age=int(SESSION_HOURS * 3600), path="/", httponly=True,
                      samesite="strict", secure=secure)
    return answer


@router.post("/console/logout", status_code=204, summary="Sign out of the console", response_class=Response)
def logout(request: Request, store: StoreDep, _: ReaderDep) -> Response:
    """End this browser's session (with its CSRF token): the cookie no longer works anywhere."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        close_session(store, token)
    answer = Response(status_code=204)
    answer.delete_cookie(SESSION_COOKIE, path="/")
    return answer


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
        raise ApiError(404, f"行政村 {code} 不在此密钥的区域内 (village {code} is not in this key's region)")
    runs = village_history(store, code)
    if not runs:
        raise ApiError(404, f"行政村 {code} 不在任何已发布的分析运行中 (village {code} is in no published run)")
    return {"code": code, "runs": [{**run, "finished_at": utc(run["finished_at"])} for run in runs]}


@pages.get("/console/{rest:path}", include_in_schema=False)
def no_such_page(request: Request, rest: str) -> Response:
    """Any other address under /console (its assets are mounted before): a 404 console page (a 405 one
    for an address of the console's writes), ``/console/`` the dashboard. Last of the pages."""
    if not rest:
        return RedirectResponse("/console" + (f"?{request.url.query}" if request.url.query else ""), status_code=307)
    if allowed_methods(request):
        raise StarletteHTTPException(405)
    raise ApiError(404, f"控制台没有页面 {request.url.path} (the console has no page {request.url.path})")


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
<main id="app">{main}</main>
<script>window.VILLAGE5G = {config};</script>
{scripts}
</body>
</html>
"""
