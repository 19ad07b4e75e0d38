"""Downloads: village lists with the collection's filters, and summaries, as files for people and GIS."""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import shapely
from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse
from pydantic import Field

from api.deps import ReaderDep, StoreDep
from api.errors import ApiError
from api.ogc import parse_bbox
from api.params import MAX_ID, REGION_PATTERN, VillageFilters, scoped_regions, village_query
from api.responses import MEDIA_TYPES, file_responses, send_file
from api.routers.runs import Level, summary_frame
from coverage.crs import wgs84_to_gcj02
from coverage.ingest.export import write_table
from coverage.store.queries import village_table
from coverage.store.results_query import query_villages, resolve_run

router = APIRouter(prefix="/exports", tags=["Exports"])



class VillageExportParams(VillageFilters):
    """Village filters and the file format."""

    format: Literal["csv", "xlsx", "geojson", "gpkg", "kml"] = Field(
        default="csv", description="csv (UTF-8 with BOM, for Excel), xlsx, geojson, gpkg (GeoPackage) or kml")
    lang: Literal["zh", "en"] = Field(
        default="zh", description="CSV/XLSX headers and labels: zh (Chinese headers, 5G通达/弱覆盖/无覆盖, "
                                  "是/否, rates as 70.6%) or en (the column keys, covered/weak/uncovered, yes/no)")


def _to_gcj02(coords: np.ndarray) -> np.ndarray:
    lon, lat = wgs84_to_gcj02(coords[:, 0], coords[:, 1])
    return np.column_stack([lon, lat])


@router.get("/villages", response_class=FileResponse, summary="Export villages",
            responses=file_responses(list(MEDIA_TYPES)))
def export_villages(store: StoreDep, principal: ReaderDep,
                    params: Annotated[VillageExportParams, Query()]) -> FileResponse:
    """Every village matching the filters of ``/collections/villages/items`` as one file.

    CSV and XLSX carry the attributes (with the committee point as ``point_lon``/``point_lat``);
    GeoJSON, GeoPackage and KML the polygons too, in WGS84 (GCJ-02 with ``crs=gcj02``).
    """
    run_id = resolve_run(store, params.run)
    frame, _ = query_villages(store, run_id, village_query(store, params, principal, run_id), count=False)
    table = village_table(frame)
    table.insert(len(table.columns) - 1, "run_id", run_id)
    if params.crs is not None and params.crs.is_gcj02:
        table = table.set_geometry(shapely.transform(np.asarray(table.geometry.values, dtype=object), _to_gcj02),
                                   crs="EPSG:4326")
        table["point_lon"], table["point_lat"] = wgs84_to_gcj02(table["point_lon"].to_numpy(float),
                                                                table["point_lat"].to_numpy(float))
    folder = Path(tempfile.mkdtemp(prefix="village5g-export-"))
    name = f"villages-run{run_id}.{params.format}"
    try:
        path = write_table(table, folder / name, fmt=params.format, layer="villages", lang=params.lang)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return send_file(path, folder, params.format, name)


@router.get("/summary", response_class=FileResponse, summary="Export a summary",
            responses=file_responses(["csv", "xlsx"]))
def export_summary(request: Request, store: StoreDep, principal: ReaderDep,
                   level: Annotated[Level, Query()] = "city",
                   run: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
                   target: Annotated[float | None, Query(ge=0, le=1)] = None,
                   region: Annotated[str | None, Query(pattern=REGION_PATTERN)] = None,
                   format: Annotated[Literal["csv", "xlsx"], Query()] = "csv",
                   lang: Annotated[Literal["zh", "en"], Query(description="Headers and labels: zh or en")] = "zh",
                   ) -> FileResponse:
    """``/summary`` as a spreadsheet: one row per region with 通达率 (a percentage), counts and gap to target."""
    run_id = resolve_run(store, run)
    regions = scoped_regions(store, principal, region)
    record = store.read_run(run_id)
    target_rate = target if target is not None else float(record["rules"]["target_rate"])
    frame, _ = summary_frame(store, run_id=run_id, level=level, target_rate=target_rate, regions=regions)
    folder = Path(tempfile.mkdtemp(prefix="village5g-export-"))
    name = f"summary-{level}-run{run_id}.{format}"
    try:
        path = write_table(frame, folder / name, fmt=format, layer="summary", lang=lang)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return send_file(path, folder, format, name)


@router.get("/mr", response_class=FileResponse, summary="Export MR grid statistics",
            responses=file_responses(["csv", "xlsx"]))
def export_mr_grids(store: StoreDep, principal: ReaderDep,
                    bbox: Annotated[str | None, Query(max_length=200,
                                                      description="lon_min,lat_min,lon_max,lat_max (WGS84)")] = None,
                    start: Annotated[dt.date | None, Query(description="first day of the period")] = None,
                    end: Annotated[dt.date | None, Query(description="last day of the period")] = None,
                    format: Annotated[Literal["csv", "xlsx"], Query()] = "csv") -> FileResponse:
    """The stored operators' MR grid statistics of a box and period, with the canonical headers
    ``village5g ingest mr`` reads back (CSV UTF-8 with BOM; XLSX up to one sheet of rows). Grids cover
    whole areas: a key limited to a region cannot export them."""
    from coverage.ingest.mr import export_mr

    if principal.region is not None:
        raise ApiError(403, "MR 栅格统计覆盖整片区域，导出需要不限区域的密钥 "
                            "(MR grid statistics cover whole areas; exporting them needs a key without a region limit)")
    envelope = parse_bbox(bbox)
    period = None if start is None and end is None else (start or dt.date(1980, 1, 1), end or dt.date(2100, 12, 31))
    folder = Path(tempfile.mkdtemp(prefix="village5g-export-"))
    name = f"mr.{format}"
    try:
        export_mr(store, folder / name, fmt=format, box=envelope, period=period)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return send_file(folder / name, folder, format, name)
