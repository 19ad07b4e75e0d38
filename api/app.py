"""The HTTP service: ``create_app(settings)`` builds it; ``village5g serve`` runs it with uvicorn.

Nothing is read from the environment at import: the caller builds the settings (and may hand in a
store, as the tests do). The factory creates the database schema that is missing (the API's own
tables included), so a fresh database serves at once.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from api.cache import LruCache
from api.docs import install_docs
from api.errors import CatchAllMiddleware, install_error_handlers
from api.jobs import JobRunner
from api.limits import BodyLimitMiddleware
from api.logs import AccessLogMiddleware, configure_logging
from api.openapi import install_openapi
from api.routers import audits, console, exports, health, history, ingest, maps, ogc, planning, runs, schedule
from api.scheduler import JobScheduler
from api.security import UPLOAD_PREFIXES, KeyBeforeBodyMiddleware, KeyCache
from api.service_settings import ServiceSettings
from coverage import __version__
from coverage.store.storage import Store
from maps import STATIC_DIR
from maps.tiles import TileSource

#: Memory for encoded pages of features (characters, about bytes); a larger page is not kept.
PAGE_CACHE_BYTES = 64 * 1024 * 1024
#: Largest body of a request other than an upload (JSON options), bytes.
MAX_JSON_BODY = 1024 * 1024

DESCRIPTION = """\
5G coverage of administrative villages (行政村): which villages are covered (5G通达), weak (弱覆盖),
uncovered or without a site (无站址), and the 5G reach rate (通达率) per province, city, county and
township.

* **OGC API - Features** (Part 1 Core, GeoJSON): `/collections/villages`, `/collections/stations`,
  `/collections/measurements` with `bbox`, `limit`, `offset`, filters and next/prev links. Output is
  CRS84; `crs=gcj02` gives GCJ-02 for Chinese web maps.
* **Summaries, runs and differences**: `/summary`, `/summary/history` (通达率 over runs), `/runs`,
  `/runs/{id}/diff`; reports of a region as `/reports/{region}.xlsx` and `.html`.
* **Exports**: CSV (UTF-8 with BOM), XLSX, GeoJSON, GeoPackage, KML under `/exports`.
* **Audits** (抽查): rounds, sample lists, field results and pass-rate reports under `/audits`.
* **Writes** (`/ingest/{kind}`, `POST /runs`, `POST /audits`) need an API key (`X-API-Key` or `Authorization: Bearer`)
  with the right role; a key limited to a region code sees and changes only that region.

Every error is `{"code", "message", "details"}`.
"""


def create_app(settings: ServiceSettings, *, store: Store | None = None) -> FastAPI:
    """The API over ``store`` (default: the store of ``settings.database_url``).

    The store is created and disposed by the app unless it was handed in.
    """
    owns_store = store is None
    the_store = store if store is not None else Store(settings.resolved_database_url())
    the_store.create_schema()
    runner = JobRunner(the_store, artifacts_dir=settings.data_dir / "runs", limits=settings.limits)
    runner.recover()
    scheduler = JobScheduler(the_store, settings, owner=runner.owner)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runner.start()
        if settings.scheduler:
            scheduler.start()
        yield
        scheduler.shutdown()
        runner.shutdown()
        if owns_store:
            the_store.dispose()

    app = FastAPI(
        title="village5g", version=__version__, description=DESCRIPTION, lifespan=lifespan,
        docs_url=None, redoc_url=None, openapi_url="/openapi.json",
        openapi_tags=[
            {"name": "OGC API - Features", "description": "Landing page, conformance, collections and items"},
            {"name": "Summaries", "description": "5G reach rate (通达率) per region"},
            {"name": "Runs", "description": "Analysis runs, their differences, and analysis jobs"},
            {"name": "Exports", "description": "Files for spreadsheets and GIS"},
            {"name": "Ingest", "description": "Uploads of villages, stations and measurements"},
            {"name": "Audits", "description": "Audit rounds (抽查): sample lists, field results, pass rates"},
            {"name": "Planning", "description": "Fill-in (补盲) site planning and what-if runs; nothing is stored"},
            {"name": "Health", "description": "Probes"},
        ],
    )
    app.state.settings = settings
    app.state.store = the_store
    app.state.key_cache = KeyCache(settings.key_cache_s, failed_limit=settings.failed_key_limit,
                                   failed_window_s=settings.failed_key_window_s)
    app.state.report_cache = LruCache(256)
    app.state.count_cache = LruCache(4096)
    app.state.page_cache = LruCache(1024, max_weight=PAGE_CACHE_BYTES, weigh=lambda page: len(page[0]))
    app.state.jobs = runner
    app.state.heavy = threading.Semaphore(1)  # one plan or what-if at a time per process
    app.state.scheduler = scheduler
    app.state.tiles = TileSource(the_store, settings.data_dir / "tiles")
    install_error_handlers(app)
    app.add_middleware(KeyBeforeBodyMiddleware, prefixes=UPLOAD_PREFIXES)
    app.add_middleware(BodyLimitMiddleware, upload_bytes=settings.max_upload_bytes, other_bytes=MAX_JSON_BODY,
                       upload_prefix=UPLOAD_PREFIXES)
    app.add_middleware(CatchAllMiddleware)
    app.add_middleware(AccessLogMiddleware)
    app.include_router(ogc.router)
    app.include_router(runs.router)
    app.include_router(schedule.router)
    app.include_router(history.router)
    app.include_router(exports.router)
    app.include_router(ingest.router)
    app.include_router(audits.router)
    app.include_router(health.router)
    app.include_router(planning.router)
    # the assets first: /maps/{level}/{code} must not shadow /maps/static/...
    app.mount("/maps/static", StaticFiles(directory=STATIC_DIR), name="map-assets")
    app.include_router(maps.router)
    app.mount("/console/static", StaticFiles(directory=console.STATIC_DIR), name="console-assets")
    app.include_router(console.router)
    app.include_router(console.pages)
    install_docs(app)
    install_openapi(app)
    return app


def app_from_environment() -> FastAPI:
    """Factory for uvicorn workers (``uvicorn --factory api.app:app_from_environment``).

    Reads ``VILLAGE5G_*`` (and ``.env``) and logs JSON lines.
    """
    settings = ServiceSettings()
    configure_logging(settings.log_level)
    app = create_app(settings)
    settle_heap()
    return app


def settle_heap() -> None:
    """Move everything allocated so far out of the garbage collector's sight (``gc.freeze``).

    The libraries loaded at start-up (pandas, GEOS, PROJ, SQLAlchemy) leave about a million
    long-lived objects; without this, every full collection walks them all and stalls requests
    for tens of milliseconds, which is what a latency tail is made of.
    """
    gc.collect()
    gc.freeze()
