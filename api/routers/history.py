"""KPI history (通达率 per region over runs) and the XLSX and HTML reports of a region."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field

from api.cache import LruCache
from api.deps import ReaderDep, StoreDep
from api.errors import ApiError
from api.models import RegionCounts
from api.params import MAX_ID, REGION_PATTERN, parse_since, region_error, region_prefix
from api.security import Principal
from coverage.reports.workbook import write_report_xlsx
from coverage.runs.history import history_version, kpi_history
from coverage.store.regions import UnknownRegionError, check_region
from coverage.store.storage import Store
from maps.report import render_report_html

router = APIRouter()

HistoryLevel = Literal["province", "city", "county"]
#: ``province`` or a 4-digit city or 6-digit county code.
REPORT_REGION = r"^(province|\d{4}|\d{6})$"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class HistoryPoint(RegionCounts):
    """The KPIs of one region in one published run."""

    run_id: int
    finished_at: dt.datetime | None = Field(description="When the run was published (UTC)")
    reach_rate: float = Field(description="通达率 = covered / villages, 0-1")
    target_rate: float = Field(description="The run's reach-rate target, 0-1")
    source: Literal["snapshot", "computed"] = Field(
        description="snapshot: recorded when the run was published; computed: from its stored results")


class History(BaseModel):
    """通达率 series per region, oldest run first."""

    level: HistoryLevel
    code: str | None
    region: str | None = Field(description="The caller's region limit, if any")
    series: list[HistoryPoint]


@router.get("/summary/history", response_model=History, tags=["Summaries"], summary="5G reach rate over runs")
def history(request: Request, store: StoreDep, principal: ReaderDep,
            level: Annotated[HistoryLevel, Query(description="Regions of the series")] = "province",
            code: Annotated[str | None, Query(pattern=REGION_PATTERN, description="Only regions whose code "
                                                                                   "starts with this")] = None,
            since: Annotated[str | None, Query(max_length=40, json_schema_extra={"format": "date-time"},
                                               description="Only runs published at or after this time "
                                                           "(RFC 3339 date-time; no zone means UTC)")] = None,
            ) -> Response:
    """通达率 and verdict counts per published run for each region of ``level``, oldest run first.

    Runs snapshotted when published report what they reported then; older runs are computed from
    their stored results. A key limited to a region sees its region only (its villages only, as in
    ``/summary``, when it asks for a level above its region).
    """
    start = parse_since(since)
    region_prefix(store, code, within=principal.regions, location="query.code")
    cache: LruCache = request.app.state.report_cache
    key = ("history", history_version(store), level, code, start, tuple(principal.regions))

    def compute() -> bytes:
        frame = kpi_history(store, level=level, code=code, since=start, regions=principal.regions)
        series = [{**r, "finished_at": _utc(r["finished_at"]),
                   "name": r["name"] if isinstance(r["name"], str) else None}
                  for r in frame.drop(columns="level").to_dict("records")]
        answer = {"level": level, "code": code, "region": principal.region, "series": series}
        return History.model_validate(answer).model_dump_json().encode()

    return Response(cache.get_or_compute(key, compute), media_type="application/json")


def _utc(value: Any) -> dt.datetime | None:
    if value is None or value != value:
        return None
    stamp: dt.datetime = value.to_pydatetime() if hasattr(value, "to_pydatetime") else value
    return stamp.replace(tzinfo=dt.UTC) if stamp.tzinfo is None else stamp


def _allowed(store: Store, principal: Principal, region: str) -> str | None:
    """The report region for the domain (None: the province); 403 outside the caller's region, 404
    (naming the closest regions) for a code the store knows no region of."""
    if principal.regions:
        inside = region != "province" and all(region.startswith(r) for r in principal.regions)
        limited_to_province = all(len(r) <= 2 for r in principal.regions)
        if not (inside or limited_to_province):
            raise ApiError(403, "此密钥限定于其区域：请查询区域内地市或县区的报告 "
                                "(this key is limited to its region: ask for a report of a city or county inside it)",
                           code="forbidden")
    if region == "province":
        return None
    try:
        return check_region(store, region)
    except UnknownRegionError as exc:
        raise region_error(exc, "path.region", status=404) from None


RegionParam = Annotated[str, PathParam(pattern=REPORT_REGION, description="province, a city or a county code")]
RunParam = Annotated[int | None, Query(ge=1, le=MAX_ID, description="Run id (default: latest published)")]


@router.get("/reports/{region}.xlsx", tags=["Exports"], summary="XLSX report of a region",
            response_class=Response, responses={200: {"content": {XLSX_TYPE: {}}}})
def report_xlsx(store: StoreDep, principal: ReaderDep, region: RegionParam, run: RunParam = None) -> Response:
    """KPIs by city and county, uncovered and weak villages, villages newly flagged or cleared since the
    previous run and the 通达率 history, as a workbook with Chinese headers."""
    chosen = _allowed(store, principal, region)
    with tempfile.TemporaryDirectory(prefix="village5g-report-") as folder:
        path = write_report_xlsx(store, Path(folder) / "report.xlsx", region=chosen, run_id=run)
        body = path.read_bytes()
    return Response(body, media_type=XLSX_TYPE,
                    headers={"Content-Disposition": f'attachment; filename="report_{region}.xlsx"'})


@router.get("/reports/{region}.html", tags=["Exports"], summary="HTML report of a region",
            response_class=HTMLResponse)
def report_html(store: StoreDep, principal: ReaderDep, region: RegionParam, run: RunParam = None) -> HTMLResponse:
    """KPIs, a chart of 通达率 over runs against the target, the changes since the previous run and the
    coverage map, in one page that also works saved to disk with no network."""
    chosen = _allowed(store, principal, region)
    return HTMLResponse(render_report_html(store, region=chosen, run_id=run))
