"""Uploads of village, station and measurement files: the CLI's validation, one transaction, or nothing."""

from __future__ import annotations

import dataclasses
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, Depends, File, Form, UploadFile
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from api.deps import SettingsDep, StoreDep
from api.errors import ApiError
from api.models import IngestPreview, IngestResult
from api.security import Principal, get_principal, needs_key, needs_role
from coverage.errors import ConfigError, ValidationError, Village5gError
from coverage.ingest import far_from_villages, fill_division_names, inspect_input, read_input
from coverage.ingest.mapping import ColumnMapping, load_profile, parse_pairs
from coverage.ingest.templates import write_template
from coverage.limits import LimitError
from coverage.store.keys import role_allows
from coverage.store.point_query import in_regions
from coverage.store.results_query import extent
from coverage.store.storage import IngestRecord

router = APIRouter(prefix="/ingest", tags=["Ingest"])
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

#: The role each kind of upload needs: field audit tests are measurements, so auditors may add them.
ROLE_FOR: dict[str, str] = {"villages": "admin", "stations": "admin", "measurements": "auditor", "mr": "admin",
                            "dem": "admin", "landcover": "admin"}
_SHOWN = 20
#: The Chinese of each kind of upload, for messages (the console's names, api/console_text.py).
KIND_NAMES = {"villages": "行政村边界", "stations": "基站工参", "measurements": "路测/实测", "mr": "MR 栅格统计",
              "dem": "地形高程（DEM）", "landcover": "地表覆盖"}


def _safe_name(name: str | None) -> str:
    """The uploaded file's base name, without folders or control characters."""
    base = PurePosixPath((name or "").replace("\\", "/")).name
    base = re.sub(r"[\x00-\x1f\x7f]", "", base).strip()[-200:]
    return base if base not in ("", ".", "..") else "upload"


def _scrubbed(exc: Village5gError, folder: Path) -> Village5gError:
    """``exc`` without the server's temporary folder in its messages (GDAL names whole paths)."""

    def clean(text: str) -> str:
        return text.replace(f"{folder}/", "").replace(str(folder), "")

    if isinstance(exc, LimitError):
        return exc  # names the file by its base name only
    if isinstance(exc, ValidationError):
        return ValidationError([dataclasses.replace(p, file=clean(p.file), message=clean(p.message))
                                for p in exc.problems])
    return type(exc)(clean(str(exc)))


@contextmanager
def received_file(file: UploadFile) -> Iterator[Path]:
    """The upload written to a fresh temporary folder, removed afterwards.

    A domain error raised inside the block comes out without the folder in its messages.
    """
    folder = Path(tempfile.mkdtemp(prefix="village5g-upload-"))
    try:
        path = folder / _safe_name(file.filename)
        with path.open("wb") as out:
            shutil.copyfileobj(file.file, out, length=1024 * 1024)
        yield path
    except Village5gError as exc:
        raise _scrubbed(exc, folder) from None
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _authorize(principal: Principal, kind: str, replace: bool) -> None:
    needed = ROLE_FOR[kind]
    if principal.key is None:
        raise ApiError(401, needs_key(f"上传{KIND_NAMES.get(kind, kind)}", needed,
                                      f"uploading {kind} needs an API key with role {needed} or above"),
                       headers={"WWW-Authenticate": 'Bearer realm="village5g"'})
    if not role_allows(principal.key.role, needed):
        raise ApiError(403, needs_role(f"上传{KIND_NAMES.get(kind, kind)}", needed, principal.key.role,
                                       f"uploading {kind} needs role {needed} or above; the key has role "
                                       f"{principal.key.role}"))
    if replace and (principal.region is not None or principal.key.role != "admin"):
        raise ApiError(403, "替换已存的数据集需要不限区域的管理员（admin）密钥 "
                            "(replacing a stored set needs an admin key without a region limit)")


def _outside(problems: list[dict[str, Any]], what: str, region: str) -> None:
    if problems:
        raise ApiError(403, f"{len(problems)} 条{KIND_NAMES.get(what, what)}在此密钥限定的区域 {region} 之外，"
                            f"未存储任何数据 ({len(problems)} {what} lie outside region {region}, which the key is "
                            "limited to; nothing was stored)", details=problems[:_SHOWN])


def check_region(store: Any, principal: Principal, kind: str, frame: Any, file_name: str) -> None:
    """403 naming the rows of ``frame`` outside the caller's region (villages by code, points by the
    region's village polygons); nothing for a key without a region limit."""
    region = principal.region
    if region is None:
        return
    if kind == "villages":
        codes = frame["code"].astype(str).to_numpy()
        bad = np.flatnonzero(~np.char.startswith(codes.astype(str), region))
        _outside([{"file": file_name, "row": int(i) + 1, "field": "code",
                   "message": f"行政村 {codes[i]} 在区域 {region} 之外 (village {codes[i]} is outside region {region})"}
                  for i in bad], "villages", region)
        return
    lon, lat = frame["lon"].to_numpy(float), frame["lat"].to_numpy(float)
    bad = np.flatnonzero(~in_regions(store, [region], lon, lat))
    _outside([{"file": file_name, "row": int(i) + 1, "field": "lon",
               "message": f"({lon[i]}, {lat[i]}) 不在区域 {region} 的任何行政村内 "
                          f"(({lon[i]}, {lat[i]}) is not inside a village of region {region})"}
              for i in bad], kind, region)


MapForm = Annotated[str | None, Form(
    max_length=4000, description="Which file column is which: HEADER=column,... (e.g. 维度=lat,A=site_id; "
                                 "'ignore' drops a column; a unit may follow: 参考信号功率=rs_power_dbm(0.1dBm))")]
SetForm = Annotated[str | None, Form(
    max_length=4000, description="Values for columns the file lacks and for their empty cells: column=VALUE,... "
                                 "(e.g. operator=CUCC,rat=LTE)")]
ProfileForm = Annotated[str | None, Form(
    max_length=100, description="A mapping profile saved on the server (<data dir>/profiles/NAME.toml)")]
SectorsForm = Annotated[bool, Form(description="Stations: a row without azimuth is a three-sector site")]
CrsForm = Annotated[str | None, Form(max_length=200, description="wgs84, cgcs2000, gcj02 or EPSG:n "
                                                                 "(default: the file's own, else WGS84)")]
EncodingForm = Annotated[str | None, Form(max_length=40, description="Text encoding of CSV/DBF (default: detected)")]
LayerForm = Annotated[str | None, Form(max_length=200, description="Layer of a GeoPackage or sheet of a workbook")]
FileForm = Annotated[UploadFile, File(description="GeoJSON, GeoPackage, zipped shapefile, CSV, XLSX or GeoParquet")]


def mapping_of(settings: Any, kind: str, map_: str | None, set_: str | None, profile: str | None,
               three_sectors: bool, crs: str | None, encoding: str | None, layer: str | None) -> ColumnMapping:
    """The upload's column mapping: the named profile, overridden by the form's own fields."""
    given = ColumnMapping(rename=parse_pairs(map_, "map"), defaults=parse_pairs(set_, "set"), crs=crs or None,
                          encoding=encoding or None, layer=layer or None, three_sectors=three_sectors)
    if not profile:
        given.check(kind)
        return given
    if not re.fullmatch(r"[\w.\-]+", profile) or profile.startswith(".") or profile.endswith(".toml"):
        raise ConfigError(f"映射方案 {profile!r}：请给出已保存方案的名称 "
                          f"(profile {profile!r}: give the name of a saved profile)")
    return load_profile(profile, settings.profiles, kind=kind).merged(given)


@router.get("/{kind}/template", summary="A fill-in workbook", response_class=FileResponse,
            responses={200: {"content": {XLSX: {}}, "description": "The template workbook"}})
def template(kind: Literal["villages", "stations", "measurements", "mr", "field_tests"]) -> FileResponse:
    """The workbook `village5g template KIND` writes: Chinese headers with units, allowed values as
    data validation, two example rows and a sheet explaining every column. No key needed.

    `field_tests` is the form of an audit round's field results (uploaded to
    `POST /audits/{round}/results`): it is the same for every round and holds no data, so it is served
    here with the other forms."""
    folder = Path(tempfile.mkdtemp(prefix="village5g-template-"))
    path = write_template(kind, folder / f"village5g-{kind}-template.xlsx")
    return FileResponse(path, media_type=XLSX, filename=path.name,
                        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True))


@router.post("/{kind}/dry-run", response_model=IngestPreview, summary="Preview how a file would be read",
             responses={422: {"description": "The mapping options are unusable"}})
def ingest_dry_run(
    store: StoreDep,
    settings: SettingsDep,
    kind: Literal["villages", "stations", "measurements"],
    file: FileForm,
    principal: Annotated[Principal, Depends(get_principal)],
    crs: CrsForm = None,
    encoding: EncodingForm = None,
    layer: LayerForm = None,
    map: MapForm = None,
    set: SetForm = None,
    profile: ProfileForm = None,
    three_sectors: SectorsForm = False,
) -> dict[str, Any]:
    """How each column of the file is read, with the first rows' cells converted, and whether it
    would be accepted (with every problem); nothing is stored. Needs the key an upload needs."""
    _authorize(principal, kind, False)
    mapping = mapping_of(settings, kind, map, set, profile, three_sectors, crs, encoding, layer)
    with received_file(file) as path:
        inspection = inspect_input(kind, path, limits=settings.limits, mapping=mapping)
    if inspection.result is not None:
        far = far_from_villages(inspection.result, extent(store, "villages"))
        if far is not None:
            inspection.problems.insert(0, far)
            inspection.result = None
    return {
        "kind": kind, "file_name": inspection.file_name, "accepted": inspection.result is not None,
        "rows": inspection.result.rows if inspection.result is not None else None,
        "columns": [dataclasses.asdict(c) for c in inspection.columns],
        "problems": [{"file": p.file, "row": p.row, "field": p.field, "message": p.message, "severity": p.severity}
                     for p in inspection.problems[:200]],
    }


@router.post("/committees", summary="Join village-committee points to the stored villages",
             responses={422: {"description": "The file was rejected; every problem is listed in details"}})
def ingest_committees(
    store: StoreDep,
    file: FileForm,
    principal: Annotated[Principal, Depends(get_principal)],
    crs: CrsForm = None,
    encoding: EncodingForm = None,
    layer: LayerForm = None,
    map: MapForm = None,
    dry_run: Annotated[bool, Form(description="Report the join only; store nothing")] = False,
) -> dict[str, Any]:
    """村委会 points (their own CRS) joined to the stored villages by 12-digit code, else by normalised
    name narrowed by a township or county column, as ``village5g ingest committees`` does: the
    report lists ambiguous and unmatched rows (nothing is joined for them) and, unless ``dry_run``,
    the matched villages' committee points are stored in one transaction. Needs an admin key
    without a region limit."""
    from coverage.ingest import file_sha256
    from coverage.ingest.committees import match_committees, read_committees, store_committee_points

    _authorize(principal, "villages", False)
    if principal.region is not None:
        raise ApiError(403, "关联村委会位置需要不限区域的密钥 "
                            "(joining committee points needs a key without a region limit)")
    mapping = ColumnMapping(rename=parse_pairs(map, "map"))
    with received_file(file) as path:
        points, warnings = read_committees(path, crs=crs or None, encoding=encoding or None, layer=layer or None,
                                           mapping=mapping)
        sha = file_sha256(path)
    stored = store.read("villages")
    if stored.empty:
        raise ConfigError("尚未存储行政村：请先上传行政村边界，再上传村委会位置 "
                          "(no villages stored: upload the village boundaries before their committee points)")
    report = match_committees(points, stored, file_name=_safe_name(file.filename), warnings=warnings)
    updated = 0 if dry_run else store_committee_points(store, report, sha256=sha, crs=crs or "file/WGS84")
    return {
        "file_name": report.file_name, "dry_run": dry_run, "updated": updated,
        **{status: report.count(status) for status in ("code", "name", "ambiguous", "unmatched", "far")},
        "not_joined": [{"row": m.row, "code": m.code, "name": m.name, "status": m.status,
                        "candidates": list(m.candidates),
                        "outside_m": None if m.outside_m != m.outside_m else round(m.outside_m)}
                       for m in report.matches if m.status in ("ambiguous", "unmatched", "far")][:_SHOWN * 10],
        "warnings": [{"file": w.file, "row": w.row, "field": w.field, "message": w.message} for w in report.warnings],
    }


@router.post("/{kind}", response_model=IngestResult, status_code=201, summary="Upload a file",
             responses={413: {"description": "The file is larger than the service accepts"},
                        422: {"description": "The file was rejected; every problem is listed in details"}})
def ingest(
    store: StoreDep,
    settings: SettingsDep,
    kind: Literal["villages", "stations", "measurements", "mr", "dem", "landcover"],
    file: FileForm,
    principal: Annotated[Principal, Depends(get_principal)],
    crs: CrsForm = None,
    encoding: EncodingForm = None,
    layer: LayerForm = None,
    replace: Annotated[bool, Form(description="Replace everything stored of this kind (admin key "
                                              "without region limit)")] = False,
    map: MapForm = None,
    set: SetForm = None,
    profile: ProfileForm = None,
    three_sectors: SectorsForm = False,
    threshold: Annotated[float | None, Form(description="mr: the level (dBm) the share column counts, when its "
                                                        "header does not state it")] = None,
) -> dict[str, Any]:
    """Validate the file completely, then store it in one transaction; a rejected file changes nothing.

    ``mr`` (operators' MR grid statistics, CSV/Parquet/XLSX) needs an admin key without a region limit
    and is read in chunks, still in one transaction (``crs``, ``encoding``, ``layer`` for the sheet,
    ``threshold``).

    ``dem`` and ``landcover`` (a GeoTIFF in any CRS; land cover in ESA WorldCover codes) replace the
    stored raster of that kind, which the next analysis uses (``village5g ingest dem|landcover``);
    admin key without a region limit. A raster larger than the upload limit goes in with the CLI.

    Villages and stations need an admin key, measurements an auditor key. A region-limited key may
    add only villages of its region and points inside its region's village polygons. A
    shapefile goes up as a .zip with its .shp, .shx, .dbf, .prj (and .cpg). ``map``, ``set`` and
    ``profile`` read a file with its own headers as ``village5g ingest --map/--set/--profile`` does.
    """
    _authorize(principal, kind, replace)
    if kind == "mr":
        return _ingest_mr(store, file, principal, crs=crs, encoding=encoding, sheet=layer, threshold=threshold,
                          replace=replace)
    if kind == "dem" or kind == "landcover":
        return _ingest_terrain(store, settings.data_dir / "terrain", file, principal, kind)
    mapping = mapping_of(settings, kind, map, set, profile, three_sectors, crs, encoding, layer)
    with received_file(file) as path:
        result = read_input(kind, path, limits=settings.limits, mapping=mapping)
    far = far_from_villages(result, extent(store, "villages"))
    if far is not None:
        raise ValidationError([far])
    fill_division_names(result, store.read_divisions())
    check_region(store, principal, kind, result.frame, result.file_name)
    store.write(kind, result.frame, replace=replace, record=IngestRecord(
        kind=kind, file_name=result.file_name, sha256=result.file_sha256, crs=result.crs,
        encoding=result.encoding, warnings=len(result.warnings)))
    return {
        "kind": kind, "file_name": result.file_name, "rows": result.rows, "replaced": replace, "crs": result.crs,
        "encoding": result.encoding, "sha256": result.file_sha256,
        "warnings": [{"file": w.file, "row": w.row, "field": w.field, "message": w.message} for w in result.warnings],
    }


def _ingest_terrain(store: Any, folder: Path, file: UploadFile, principal: Principal, kind: str) -> dict[str, Any]:
    """A DEM or land-cover raster (coverage.ingest.terrain), kept with the data for the next analysis."""
    from coverage.ingest.terrain import store_terrain

    if principal.region is not None:
        raise ApiError(403, "地形数据覆盖整片区域，上传需要不限区域的密钥 "
                            "(terrain covers whole areas; uploading it needs a key without a region limit)")
    with received_file(file) as path:
        stored = store_terrain(store, kind, path, folder)
    return {"kind": kind, "file_name": stored.file_name, "rows": stored.width * stored.height, "replaced": True,
            "crs": stored.crs, "encoding": None, "sha256": stored.sha256, "warnings": []}


def _ingest_mr(store: Any, file: UploadFile, principal: Principal, *, crs: str | None, encoding: str | None,
               sheet: str | None, threshold: float | None, replace: bool) -> dict[str, Any]:
    """MR grid statistics (coverage.ingest.mr): validated and stored in chunks, in one transaction."""
    from coverage.ingest.mr import ingest_mr

    if principal.region is not None:
        raise ApiError(403, "MR 栅格统计覆盖整片区域，上传需要不限区域的密钥 "
                            "(MR grid statistics cover whole areas; uploading them needs a key without a region limit)")
    with received_file(file) as path:
        result = ingest_mr(store, path, crs=crs or None, encoding=encoding or None, sheet=sheet or None,
                           threshold_dbm=threshold, replace=replace, file_name=_safe_name(file.filename))
    return {"kind": "mr", "file_name": result.file_name, "rows": result.rows, "replaced": replace,
            "crs": result.crs, "encoding": result.encoding, "sha256": result.file_sha256, "warnings": []}
