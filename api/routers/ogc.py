"""OGC API - Features: landing page, conformance, collections and their items."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from api.cache import LruCache
from api.deps import ReaderDep, StoreDep
from api.errors import ApiError
from api.models import (
    CollectionInfo,
    Collections,
    Conformance,
    LandingPage,
    MeasurementFeature,
    MeasurementFeatureCollection,
    StationFeature,
    StationFeatureCollection,
    VillageFeature,
    VillageFeatureCollection,
)
from api.ogc import (
    COLLECTIONS,
    CONFORMANCE,
    GEOJSON,
    OPENAPI_JSON,
    CrsName,
    GeoJSONResponse,
    base_url,
    collection_document,
    feature,
    feature_collection,
    feature_strings,
    link,
    page_links,
)
from api.params import (
    MAX_ID,
    ItemParams,
    MeasurementItemsParams,
    StationItemsParams,
    VillageItemsParams,
    one_village,
    point_query,
    village_query,
)
from coverage.store.point_query import PointQuery, count_points, point_rows
from coverage.store.results_query import (
    PointKind,
    count_villages,
    extent,
    measurement_times,
    resolve_run,
    resolve_run_and_version,
    stored_version,
    village_rows,
)
from coverage.store.storage import Store

router = APIRouter(tags=["OGC API - Features"])


@router.get("/", response_model=LandingPage, summary="Landing page",
            responses={303: {"description": "A browser (Accept: text/html) is sent to the console"}})
def landing(request: Request, _: ReaderDep,
            f: Annotated[Literal["json"] | None, Query(description="json: this document even for a browser")] = None,
            ) -> Any:
    """What the service is, and links to its API description, conformance and collections. A browser
    asking for HTML (and not ``f=json``) is redirected to the web console, ``/console``."""
    if f is None and _prefers_html(request.headers.get("accept", "")):
        return RedirectResponse("/console", status_code=303)
    root = base_url(request)
    return {
        "title": "village5g: 5G coverage of administrative villages",
        "description": "Villages x 5G stations: predicted and measured coverage, village verdicts (5G通达, "
                       "弱覆盖, 无站址) and the 5G reach rate (通达率) per region. OGC API - Features for the "
                       "geographic collections, plus summaries, runs, exports, ingest and jobs.",
        "links": [
            link(f"{root}/", "self", "application/json", "this document"),
            link(f"{root}/openapi.json", "service-desc", OPENAPI_JSON, "the API definition"),
            link(f"{root}/docs", "service-doc", "text/html", "the API documentation"),
            link(f"{root}/conformance", "conformance", "application/json", "OGC conformance classes"),
            link(f"{root}/collections", "data", "application/json", "feature collections"),
            link(f"{root}/summary", "summary", "application/json", "5G reach rate per region"),
            link(f"{root}/runs", "runs", "application/json", "analysis runs"),
        ],
    }


def _prefers_html(accept: str) -> bool:
    """Whether an Accept header ranks text/html above JSON (a browser's does; ``*/*`` alone does not)."""
    ranks: dict[str, float] = {}
    for part in accept.split(","):
        media, *options = (x.strip() for x in part.split(";"))
        q = 1.0
        for option in options:
            if option.startswith("q="):
                try:
                    q = float(option[2:])
                except ValueError:
                    q = 0.0
        ranks[media.lower()] = max(q, ranks.get(media.lower(), 0.0))
    html = ranks.get("text/html", 0.0)
    json_q = max(ranks.get("application/json", 0.0), ranks.get("application/geo+json", 0.0))
    return html > json_q


@router.get("/conformance", response_model=Conformance, summary="Conformance classes")
def conformance(_: ReaderDep) -> dict[str, Any]:
    """The OGC API - Features conformance classes implemented (Core, GeoJSON)."""
    return {"conformsTo": CONFORMANCE}


def _temporal(store: Store) -> tuple[str | None, str | None]:
    lo, hi = measurement_times(store)
    return (lo.isoformat() if lo else None, hi.isoformat() if hi else None)


def _collection(request: Request, store: Store, collection_id: str) -> dict[str, Any]:
    """A collection's metadata; its extent is read once per version of the stored rows."""
    cache: LruCache = request.app.state.report_cache

    def extents() -> tuple[Any, Any]:
        temporal = _temporal(store) if collection_id == "measurements" else None
        return extent(store, collection_id), temporal

    spatial, temporal = cache.get_or_compute(("extent", collection_id, _version(store, collection_id)), extents)
    return collection_document(request, COLLECTIONS[collection_id], spatial, temporal)


@router.get("/collections", response_model=Collections, summary="Feature collections")
def collections(request: Request, store: StoreDep, _: ReaderDep) -> dict[str, Any]:
    """The villages, stations and measurements collections."""
    root = base_url(request)
    return {
        "links": [link(f"{root}/collections", "self", "application/json", "feature collections")],
        "collections": [_collection(request, store, c) for c in COLLECTIONS],
    }


@router.get("/collections/{collection_id}", response_model=CollectionInfo, summary="One collection")
def collection(request: Request, store: StoreDep, _: ReaderDep,
               collection_id: Annotated[str, Path(max_length=40, description="villages, stations or measurements")]
               ) -> dict[str, Any]:
    """Metadata of one collection: title, description, extent and links."""
    if collection_id not in COLLECTIONS:
        raise ApiError(404, f"没有要素集 {collection_id!r}；现有 {'、'.join(COLLECTIONS)} "
                            f"(no collection {collection_id!r}; there are {', '.join(COLLECTIONS)})")
    return _collection(request, store, collection_id)


def _version(store: Store, kind: str) -> int:
    return stored_version(store, kind)


def _page(request: Request, key: tuple[Any, ...], count: Callable[[], int],
          encode: Callable[[], tuple[list[str], Any]]) -> tuple[int, str, int, Any]:
    """``numberMatched`` and the encoded page, remembered per query and version of the data.

    Counting a province-wide filter reads every row that matches, and a page of polygons takes
    a few milliseconds to encode; both stay right until the rows change, which a write of that
    kind (or, for villages, a new run id in the key) announces.
    """
    counts: LruCache = request.app.state.count_cache
    pages: LruCache = request.app.state.page_cache
    matched: int = counts.get_or_compute(key[:-4], count)

    def joined() -> tuple[str, int, Any]:
        features, last_id = encode()
        return ",".join(features), len(features), last_id

    text, returned, last_id = pages.get_or_compute(key, joined)
    return matched, text, returned, last_id


def _crs(value: CrsName | None) -> CrsName:
    return value or CrsName.crs84


@router.get("/collections/villages/items", response_class=GeoJSONResponse, summary="Villages",
            responses={200: {"model": VillageFeatureCollection, "description": "A page of villages"}})
def village_items(request: Request, store: StoreDep, principal: ReaderDep,
                  params: Annotated[VillageItemsParams, Query()]) -> Response:
    """Villages of a run with their verdicts and metrics, filtered and paged (ordered by code)."""
    run_id, version = resolve_run_and_version(store, params.run)
    query = village_query(store, params, principal, run_id)
    crs = _crs(params.crs)
    sortby = None if params.sortby in (None, "code") else params.sortby
    if sortby and params.after:
        raise ApiError(400, "排序后的分页不能从某个代码之后继续：请用 offset 分页 "
                            "(a sorted page cannot continue after a code: page it with offset)",
                       code="invalid_parameter", details=[{"location": "query.after",
                                                           "message": "请改用 offset (use offset)"}])

    def encode() -> tuple[list[str], Any]:
        try:
            rows, _ = village_rows(store, run_id, query, limit=params.limit, count=False, after=params.after,
                                   offset=0 if params.after else params.offset, sortby=sortby)
        except ValueError as exc:
            raise ApiError(400, str(exc), code="invalid_parameter",
                           details=[{"location": "query.sortby", "message": str(exc)}]) from None
        features = feature_strings(rows, collection=COLLECTIONS["villages"], crs=crs, extra={"run_id": run_id})
        # sorted pages continue by offset: no keyset token
        return features, rows.ids[-1] if len(rows) and not sortby else None

    key = ("villages", version, run_id, query, params.limit, params.offset, params.after, crs, sortby)
    matched, text, returned, last = _page(request, key, lambda: count_villages(store, run_id, query), encode)
    links = page_links(request, offset=params.offset, limit=params.limit, returned=returned, matched=matched,
                       last_id=last)
    return feature_collection(text, returned, links=links, matched=matched, crs=crs, members={"run_id": run_id})


@router.get("/collections/villages/items/{code}", response_class=GeoJSONResponse, summary="One village",
            responses={200: {"model": VillageFeature, "description": "The village"}})
def village_item(request: Request, store: StoreDep, principal: ReaderDep,
                 code: Annotated[str, Path(max_length=12, description="12-digit village code")],
                 params: Annotated[ItemParams, Query()]) -> Response:
    """One village of a run (default: the latest published) by its code."""
    run_id = resolve_run(store, params.run)
    rows = one_village(store, principal, run_id, code)
    crs = _crs(params.crs)
    text = feature_strings(rows, collection=COLLECTIONS["villages"], crs=crs, extra={"run_id": run_id})[0]
    root = base_url(request)
    return feature(text, crs=crs, links=[
        link(f"{root}/collections/villages/items/{code}", "self", GEOJSON, "this village"),
        link(f"{root}/collections/villages", "collection", "application/json", "villages"),
    ])


def _point_items(request: Request, store: Any, principal: Any, kind: PointKind,
                 params: StationItemsParams | MeasurementItemsParams) -> Response:
    query = point_query(store, params, principal)
    crs = _crs(params.crs)

    after = int(params.after) if params.after else None

    def encode() -> tuple[list[str], Any]:
        rows, _ = point_rows(store, kind, query, limit=params.limit, count=False, after=after,
                             offset=0 if after is not None else params.offset)
        return feature_strings(rows, collection=COLLECTIONS[kind], crs=crs), rows.ids[-1] if len(rows) else None

    # a region is its villages' polygons: pages limited to one change with the villages too
    villages_seen = _version(store, "villages") if query.regions else 0
    key = (kind, _version(store, kind), villages_seen, query, params.limit, params.offset, after, crs)
    matched, text, returned, last = _page(request, key, lambda: count_points(store, kind, query), encode)
    links = page_links(request, offset=params.offset, limit=params.limit, returned=returned, matched=matched,
                       last_id=last)
    return feature_collection(text, returned, links=links, matched=matched, crs=crs)


def _point_item(request: Request, store: Any, principal: Any, kind: PointKind, item_id: int,
                params: ItemParams) -> Response:
    if params.run is not None:
        raise ApiError(400, "run 参数只适用于行政村 (run applies to villages only)", code="invalid_parameter",
                       details=[{"location": "query.run",
                                 "message": "不是此要素集的参数 (not a parameter of this collection)"}])
    rows, _ = point_rows(store, kind, PointQuery(regions=principal.regions), item_id=item_id, count=False)
    if not len(rows):
        raise ApiError(404, f"{'基站' if kind == 'stations' else '实测记录'} {item_id} 不存在 "
                            f"({kind[:-1]} {item_id} does not exist)")
    crs = _crs(params.crs)
    text = feature_strings(rows, collection=COLLECTIONS[kind], crs=crs)[0]
    root = base_url(request)
    return feature(text, crs=crs, links=[
        link(f"{root}/collections/{kind}/items/{item_id}", "self", GEOJSON, f"this {kind[:-1]}"),
        link(f"{root}/collections/{kind}", "collection", "application/json", kind),
    ])


@router.get("/collections/stations/items", response_class=GeoJSONResponse, summary="Stations",
            responses={200: {"model": StationFeatureCollection, "description": "A page of cells"}})
def station_items(request: Request, store: StoreDep, principal: ReaderDep,
                  params: Annotated[StationItemsParams, Query()]) -> Response:
    """Stored cells, filtered and paged (ordered by id)."""
    return _point_items(request, store, principal, "stations", params)


@router.get("/collections/stations/items/{item_id}", response_class=GeoJSONResponse, summary="One station",
            responses={200: {"model": StationFeature, "description": "The cell"}})
def station_item(request: Request, store: StoreDep, principal: ReaderDep,
                 item_id: Annotated[int, Path(ge=1, le=MAX_ID)], params: Annotated[ItemParams, Query()]) -> Response:
    """One stored cell by id."""
    return _point_item(request, store, principal, "stations", item_id, params)


@router.get("/collections/measurements/items", response_class=GeoJSONResponse, summary="Measurements",
            responses={200: {"model": MeasurementFeatureCollection, "description": "A page of measurements"}})
def measurement_items(request: Request, store: StoreDep, principal: ReaderDep,
                      params: Annotated[MeasurementItemsParams, Query()]) -> Response:
    """Stored measurements, filtered and paged (ordered by id)."""
    return _point_items(request, store, principal, "measurements", params)


@router.get("/collections/measurements/items/{item_id}", response_class=GeoJSONResponse, summary="One measurement",
            responses={200: {"model": MeasurementFeature, "description": "The measurement"}})
def measurement_item(request: Request, store: StoreDep, principal: ReaderDep,
                     item_id: Annotated[int, Path(ge=1, le=MAX_ID)],
                     params: Annotated[ItemParams, Query()]) -> Response:
    """One stored measurement by id."""
    return _point_item(request, store, principal, "measurements", item_id, params)
