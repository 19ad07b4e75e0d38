"""Coverage maps as HTML pages: the same folium builders as `village5g map`, assets served locally."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import HTMLResponse

from api.deps import ReaderDep, StoreDep
from api.errors import ApiError
from api.params import MAX_ID, region_prefix
from api.patterns import CITY_OR_COUNTY_PATTERN
from maps import MapOptions, build_map, render_html
from maps.audit import build_audit_map

router = APIRouter(prefix="/maps", tags=["Maps"])

Basemap = Literal["osm", "amap", "none"]
RunParam = Annotated[int | None, Query(ge=1, le=MAX_ID, description="Run id (default: latest published)")]
BasemapParam = Annotated[Basemap, Query(description="none (default: our own boundaries, no tile server needed), "
                                                            "osm, or amap (features shifted to GCJ-02)")]


def _page(store: StoreDep, principal: ReaderDep, *, level: str | None, code: str | None, run: int | None,
          basemap: str) -> HTMLResponse:
    if principal.regions and not (code and any(code.startswith(r) for r in principal.regions)):
        raise ApiError(403, "此密钥限定于其区域：请查看区域内的地图 "
                            "(this key is limited to its region: ask for a map inside it)", code="forbidden")
    options = MapOptions(basemap=basemap, link_template="/maps/{level}/{code}", parent_link=("/maps", "province"))
    m = build_map(store, city=code if level == "city" else None, county=code if level == "county" else None,
                  run_id=run, options=options)
    return HTMLResponse(render_html(m, offline=False, asset_base="/maps/static"))


@router.get("", response_class=HTMLResponse, summary="Province map: cities and counties by 5G reach rate")
def province(store: StoreDep, principal: ReaderDep, run: RunParam = None, basemap: BasemapParam = "none"
             ) -> HTMLResponse:
    """Cities and counties coloured by 通达率, linking down to their maps."""
    return _page(store, principal, level=None, code=None, run=run, basemap=basemap)


@router.get("/audits/{round_number}", response_class=HTMLResponse, summary="Map of an audit round's sample")
def audit(store: StoreDep, principal: ReaderDep, round_number: Annotated[int, Path(ge=1, le=MAX_ID)],
          city: Annotated[str | None, Query(pattern=r"^\d{4}$", description="Only this city (code)")] = None,
          basemap: BasemapParam = "none") -> HTMLResponse:
    """The sampled villages at their committee points, coloured by field outcome (passed, failed, not yet
    tested; reserves apart), with popups and the villages outlined. A region-limited key sees its region."""
    region_prefix(store, city, within=principal.regions, location="query.city")
    m = build_audit_map(store, round_number, city=city, regions=principal.regions,
                        options=MapOptions(basemap=basemap))
    return HTMLResponse(render_html(m, offline=False, asset_base="/maps/static"))


@router.get("/{level}/{code}", response_class=HTMLResponse, summary="City or county map with its villages")
def region(store: StoreDep, principal: ReaderDep, level: Literal["city", "county"],
           code: Annotated[str, Path(pattern=CITY_OR_COUNTY_PATTERN)], run: RunParam = None,
           basemap: BasemapParam = "none") -> HTMLResponse:
    """Village polygons coloured by verdict, sites, the predicted RSRP overlay, search and boundaries."""
    return _page(store, principal, level=level, code=code, run=run, basemap=basemap)
