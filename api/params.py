"""Query parameters of the collections and exports, and their translation into domain queries.

Each set is a pydantic model that forbids unknown parameters, so a misspelt filter is a 400 rather
than a silently unfiltered answer. A region the store does not know (a code or name of no region,
a code prefix no village or division has) is a 400 too, naming the closest regions, rather than a
silently empty answer; a known region without villages is an empty answer.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from api.errors import ApiError
from api.ogc import CrsName, parse_bbox
from api.patterns import REGION_PATTERN
from api.security import Principal
from coverage.model.bands import normalize_band
from coverage.store.point_query import PointQuery
from coverage.store.regions import (
    LEVEL_NAMES_ZH,
    AmbiguousRegionError,
    UnknownRegionError,
    check_region,
    resolve_division,
)
from coverage.store.results_query import Rows, VillageQuery, village_rows
from coverage.store.storage import Store

MAX_ID = 2**31 - 1
MAX_OFFSET = 1_000_000_000
DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
_SHANGHAI = ZoneInfo("Asia/Shanghai")


class _Forbid(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class VillageFilters(_Forbid):
    """Filters of village lists and exports."""

    run: int | None = Field(default=None, ge=1, le=MAX_ID, description="Run id (default: the latest published)")
    status: Literal["covered", "weak", "uncovered"] | None = Field(
        default=None, description="Only this verdict: covered (5G通达), weak (弱覆盖) or uncovered")
    no_site: bool | None = Field(default=None, description="true: only villages without a site (无站址); "
                                                          "false: only villages with one")
    verdict_source: Literal["predicted", "fused", "measured"] | None = Field(
        default=None, description="Only verdicts decided by the prediction alone, by the prediction corrected by "
                                  "measurements nearby (fused) or by measurements inside the village")
    city: str | None = Field(default=None, min_length=1, max_length=40,
                             description="City code (4 digits) or name (南京市 or 南京); a code or name of no "
                                         "stored region is refused (400) naming the closest")
    county: str | None = Field(default=None, min_length=1, max_length=40,
                               description="County code (6 digits) or name (江都区 or 江都); a name two counties "
                                           "carry is refused, naming both: give the code, or the city too")
    township: str | None = Field(default=None, min_length=1, max_length=40,
                                 description="Township code (9 digits) or name (a name found in several "
                                             "counties is refused, naming them: give the code, or the county too)")
    region: str | None = Field(default=None, pattern=REGION_PATTERN,
                               description="Division code prefix (2, 4, 6, 9 or 12 digits); a code of no stored "
                                           "village or division is refused (400) naming the closest")
    name: str | None = Field(default=None, min_length=1, max_length=100,
                             description="Part of the village name, e.g. 村委会 or 王庄")
    p_min: float | None = Field(default=None, ge=0, le=1, description="Only villages with p_covered >= this")
    p_max: float | None = Field(default=None, ge=0, le=1, description="Only villages with p_covered <= this")
    bbox: str | None = Field(default=None, max_length=200,
                             description="lon_min,lat_min,lon_max,lat_max: villages whose envelope intersects it")
    bbox_crs: CrsName | None = Field(default=None, alias="bbox-crs",
                                     description="CRS of bbox (default CRS84; gcj02 for web-map coordinates)")
    crs: CrsName | None = Field(default=None, description="CRS of the output (default CRS84; gcj02 for Chinese "
                                                          "web maps)")


class Page(_Forbid):
    """Paging of a collection."""

    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Features per page")
    offset: int = Field(default=0, ge=0, le=MAX_OFFSET, description="Features to skip (see the next link)")
    after: str | None = Field(
        default=None, min_length=1, max_length=12, pattern=r"^[0-9]+$",
        description="Continuation token that next links carry: the page starts after this feature id, so "
                    "deep pages cost as little as the first (offset then only numbers the page)")
    f: Literal["json", "geojson"] | None = Field(default=None, description="Output format (GeoJSON only)")


class VillageItemsParams(VillageFilters, Page):
    """Parameters of ``/collections/villages/items``."""

    sortby: str | None = Field(
        default=None, max_length=40, pattern=r"^-?[a-z_]+$",
        description="Sort by code (default), name, county_code, township_code, verdict, p_covered, verdict_source, "
                    "no_site, nearest_site_m, n_measurements or population; '-' before it for descending "
                    "(missing values last). Sorted pages are paged with offset.")


class _PointFilters(_Forbid):
    operator: Literal["CMCC", "CUCC", "CTCC", "CBN"] | None = Field(default=None, description="Operator")
    rat: Literal["NR", "LTE"] | None = Field(default=None, description="Radio access technology")
    band: str | None = Field(default=None, min_length=1, max_length=16,
                             description="Band: n28, n41, n78, n79, ... (2.6G, 3500 and the like are understood)")
    region: str | None = Field(default=None, pattern=REGION_PATTERN,
                               description="Division code prefix: points inside the envelope of its villages "
                                           "(a code of no stored village or division is refused, 400)")
    bbox: str | None = Field(default=None, max_length=200, description="lon_min,lat_min,lon_max,lat_max")
    bbox_crs: CrsName | None = Field(default=None, alias="bbox-crs", description="CRS of bbox (default CRS84)")
    crs: CrsName | None = Field(default=None, description="CRS of the output (default CRS84)")


class StationItemsParams(_PointFilters, Page):
    """Parameters of ``/collections/stations/items``."""

    status: Literal["active", "planned", "retired"] | None = Field(default=None, description="Cell status")
    site_id: str | None = Field(default=None, min_length=1, max_length=100, description="Site identifier")


class MeasurementItemsParams(_PointFilters, Page):
    """Parameters of ``/collections/measurements/items``."""

    source: str | None = Field(default=None, min_length=1, max_length=200,
                               description="Source label: drive_test, mr, audit, ...")
    datetime: str | None = Field(
        default=None, max_length=100,
        description="Measurement time: an instant or an interval a/b (open end: ..), RFC 3339; times "
                    "without a zone are Asia/Shanghai")


class ItemParams(_Forbid):
    """Parameters of a single feature."""

    crs: CrsName | None = Field(default=None, description="CRS of the output (default CRS84)")
    run: int | None = Field(default=None, ge=1, le=MAX_ID, description="Run id (villages only; default: latest)")
    f: Literal["json", "geojson"] | None = None


def _bad(location: str, message: str) -> ApiError:
    return ApiError(400, message, code="invalid_parameter", details=[{"location": location, "message": message}])


_CODE_LENGTHS = {"city": 4, "county": 6, "township": 9}
#: How a caller chooses among the candidates of an ambiguous name, per level: by code, or with the
#: parameter of the level above (a township's county by code: county names repeat across cities).
_CHOOSE = {"city": ("city={code}", None), "county": ("county={code}", "city={parent}&county={name}"),
           "township": ("township={code}", "county={parent_code}&township={name}")}


def region_error(exc: UnknownRegionError | AmbiguousRegionError, location: str, *, status: int = 400,
                 choose: tuple[str, str | None] | None = None) -> ApiError:
    """The API's answer to a region the resolver refused: the resolver's message (Chinese first, as the
    CLI prints it) and, in ``details``, the regions it names: the closest ones of an unknown code or
    name (none when nothing is close), each candidate of an ambiguous name with where it lies.
    ``choose``: how the caller names a candidate instead (:meth:`AmbiguousRegionError.choose`), when
    not with the query parameter of the level."""
    if isinstance(exc, AmbiguousRegionError):
        code, parent = choose or _CHOOSE[exc.level]
        chosen = exc.choose(code=code, parent=parent)
        return ApiError(status, str(chosen), code="invalid_parameter", details=[
            {"location": location, "message": c.label, "code": c.code, "name": c.name,
             "parents": list(c.parents)} for c in exc.candidates])
    details = [{"location": location, "message": f"{c} {n}".strip(), "code": c, "name": n}
               for c, n in exc.suggestions] or [{"location": location, "message": str(exc)}]
    return ApiError(status, str(exc), code="invalid_parameter" if status == 400 else None, details=details)


def division_code(store: Store, level: str, value: str | None, *, run_id: int | None, within: tuple[str, ...],
                  location: str | None = None) -> str | None:
    """The code ``value`` (a code or a name) names at ``level`` among run ``run_id``'s villages inside
    ``within`` (the one resolver of the CLI and the maps too), or a region the store knows without
    villages there (the filter is then empty). 400 for a code of the wrong length, a code or name of
    no region, and a name several regions carry."""
    if value is None:
        return None
    value = value.strip()
    location = location or f"query.{level}"
    if value.isdigit() and len(value) != _CODE_LENGTHS[level]:
        n = _CODE_LENGTHS[level]
        raise _bad(location, f"{LEVEL_NAMES_ZH[level]}代码应为 {n} 位数字 (a {level} code has {n} digits)")
    try:
        return resolve_division(store, level, value, run_id=run_id, within=within, known=True)
    except (UnknownRegionError, AmbiguousRegionError) as exc:
        raise region_error(exc, location) from None


def region_prefix(store: Store, code: str | None, *, within: tuple[str, ...], location: str = "query.region"
                  ) -> str | None:
    """``code``, a division code prefix, when the store knows the region inside ``within`` (the caller's
    region limit); 400 naming the closest regions otherwise."""
    if code is None:
        return None
    try:
        return check_region(store, code, within=within)
    except UnknownRegionError as exc:
        raise region_error(exc, location) from None


def city_codes(store: Store, values: Sequence[str], *, location: str = "body.cities") -> tuple[str, ...]:
    """City codes for codes or names (南京市 or 南京) among the stored villages, sorted and without
    repeats, as ``village5g audit sample --city`` resolves them (:func:`coverage.audit.rounds.resolve_cities`);
    400 with the resolver's message for an entry that names no such city or several, ``details``
    locating that entry (``body.cities.1``: the second)."""
    codes = []
    for i, value in enumerate(values):
        try:
            codes.append(resolve_division(store, "city", value))
        except (UnknownRegionError, AmbiguousRegionError) as exc:
            raise region_error(exc, f"{location}.{i}", choose=(f'"{location.split(".")[-1]}": ["{{code}}"]', None)
                               ) from None
    return tuple(sorted(set(codes)))


def scoped_regions(store: Store, principal: Principal, region: str | None) -> tuple[str, ...]:
    """The caller's region limit and ``region`` (400 when the store knows no such region inside the limit)."""
    region_prefix(store, region, within=principal.regions)
    return (*principal.regions, *((region,) if region else ()))


def village_query(store: Store, params: VillageFilters, principal: Principal, run_id: int) -> VillageQuery:
    """The domain query for these filters, inside the caller's region; names of regions are resolved
    among run ``run_id``'s villages, a county inside the city given, a township inside the county."""
    regions = scoped_regions(store, principal, params.region)
    city = division_code(store, "city", params.city, run_id=run_id, within=regions)
    county = division_code(store, "county", params.county, run_id=run_id, within=(*regions, city or ""))
    township = division_code(store, "township", params.township, run_id=run_id,
                             within=(*regions, county or city or ""))
    return VillageQuery(
        verdict=params.status, no_site=params.no_site, verdict_source=params.verdict_source, city_code=city,
        county_code=county, township_code=township, regions=regions, name=params.name,
        bbox=parse_bbox(params.bbox, params.bbox_crs), p_min=params.p_min, p_max=params.p_max,
    )


def one_village(store: Store, principal: Principal, run_id: int, code: str) -> Rows:
    """Village ``code`` of run ``run_id`` as a village list's one row (:func:`village_rows`, one indexed
    read), inside the caller's region; 404 when the run has no such village there (the API's village and
    the console's village page)."""
    rows, _ = village_rows(store, run_id, VillageQuery(regions=principal.regions), code=code, count=False)
    if not len(rows):
        raise ApiError(404, f"行政村 {code} 不在分析运行 {run_id} 中 (village {code} is not in run {run_id})")
    return rows


def point_query(store: Store, params: StationItemsParams | MeasurementItemsParams,
                principal: Principal) -> PointQuery:
    """The domain query for these filters, inside the polygons of the caller's region."""
    regions = scoped_regions(store, principal, params.region)
    band = normalize_band(params.band) or params.band if params.band else None
    common = dict(operator=params.operator, rat=params.rat, band=band, bbox=parse_bbox(params.bbox, params.bbox_crs),
                  regions=regions)
    if isinstance(params, StationItemsParams):
        return PointQuery(status=params.status, site_id=params.site_id, **common)  # type: ignore[arg-type]
    start, end = parse_interval(params.datetime)
    return PointQuery(source=params.source, start=start, end=end, **common)  # type: ignore[arg-type]


def _instant(text: str, *, end: bool) -> dt.datetime | None:
    text = text.strip()
    if text in ("", ".."):
        return None
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            moment = dt.datetime.combine(day, dt.time.max if end else dt.time.min)
        else:
            moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise _bad("query.datetime", f"{text!r} is not an RFC 3339 date or date-time") from None
    if moment.tzinfo is not None:
        try:
            moment = moment.astimezone(_SHANGHAI).replace(tzinfo=None)
        except OverflowError:  # within hours of year 1 or 9999: before or after every measurement
            return dt.datetime.min if moment.year == 1 else dt.datetime.max
    return moment


def parse_since(text: str | None) -> dt.datetime | None:
    """An RFC 3339 date-time (``2026-11-01T00:00:00Z``; no zone means UTC) as given; 400 otherwise.

    Only the date-time text is accepted: a number such as ``0.5`` is not taken for a Unix time.
    """
    if text is None or not text.strip():
        return None
    value = text.strip()
    if len(value) < 10 or not value[:4].isdigit() or value[4] != "-":
        raise _bad("query.since", f"{text!r} is not an RFC 3339 date-time")
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise _bad("query.since", f"{text!r} is not an RFC 3339 date-time") from None


def parse_interval(text: str | None) -> tuple[dt.datetime | None, dt.datetime | None]:
    """An OGC ``datetime`` value as inclusive naive Asia/Shanghai bounds (None: open)."""
    if text is None or not text.strip():
        return None, None
    if "/" in text:
        first, _, second = text.partition("/")
        start, end = _instant(first, end=False), _instant(second, end=True)
        if start is not None and end is not None and start > end:
            raise _bad("query.datetime", "the interval ends before it starts")
        return start, end
    if text.strip() == "..":
        raise _bad("query.datetime", "an instant cannot be open")
    return _instant(text, end=False), _instant(text, end=True)
