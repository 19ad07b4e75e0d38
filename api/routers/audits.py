"""Audit rounds (抽查) over HTTP: draw, read, download lists, upload field tests, report.

The same operations as `village5g audit ...` (:mod:`coverage.audit.rounds`). Viewers read; auditors
and admins draw rounds and upload results. A region-limited key sees and changes only the villages
of its region: lists, strata and reports are cut to them, a round is drawn in the key's city, and
an upload naming a village outside the region is refused whole.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal

import pandas as pd
from fastapi import APIRouter, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import JSONResponse

from api.deps import AuditorDep, ReaderDep, SettingsDep, StoreDep
from api.errors import ApiError
from api.models_audits import (
    AuditReport,
    AuditRequest,
    AuditRoundDetail,
    AuditRounds,
    AuditUpload,
    AuditVillages,
)
from api.ogc import base_url, link
from api.params import MAX_ID, city_codes, division_code
from api.responses import file_responses, send_file, utc
from api.routers.ingest import received_file
from api.security import Principal
from coverage.audit.lists import write_sample
from coverage.audit.outcomes import PassRule
from coverage.audit.results import FieldTests
from coverage.audit.rounds import (
    draw_round,
    in_regions,
    list_title,
    round_report,
    round_summaries,
    sampling_plan,
    upload_results,
)
from coverage.audit.sampling import SAMPLE_COLUMNS, SUPPLEMENT, Sample
from coverage.audit.stats import report_tables
from coverage.audit.store import AuditStore
from coverage.store.storage import Store

router = APIRouter(prefix="/audits", tags=["Audits"])

RoundParam = Annotated[int, Path(ge=1, le=MAX_ID, description="Round number")]
_SHOWN = 20


def _plain(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON values (NaN and NA as null, numpy scalars as numbers)."""
    records: list[dict[str, Any]] = json.loads(frame.to_json(orient="records", date_format="iso", force_ascii=False,
                                                          double_precision=15))
    return records


def _region_sample(store: Store, round_number: int, principal: Principal) -> Sample:
    """A stored round cut to the caller's region; 404 when none of its villages lie there."""
    sample = in_regions(AuditStore(store).read_sample(round_number), principal.regions)
    if principal.regions and sample.villages.empty:
        raise ApiError(404, f"抽查轮次 {round_number} 在区域 {principal.region} 内没有行政村 "
                            f"(audit round {round_number} has no villages in region {principal.region})")
    return sample


def _detail(request: Request, sample: Sample, created_at: Any) -> dict[str, Any]:
    villages = sample.villages
    reserve = villages["reserve"].astype(bool)
    base = base_url(request)
    links = []
    if sample.round is not None:
        here = f"{base}/audits/{sample.round}"
        links = [link(here, "self", "application/json", "this round"),
                 link(f"{here}/villages", "items", "application/json", "the sample list"),
                 link(f"{here}/report", "describedby", "application/json", "the report"),
                 link(f"{base}/maps/audits/{sample.round}", "alternate", "text/html", "the map")]
    return {
        "round": sample.round, "created_at": utc(created_at), "run_id": sample.run_id, "seed": sample.plan.seed,
        "plan": sample.plan.to_dict(), "method": sample.plan.method, "excluded_rounds": sample.excluded_rounds,
        "villages": int((~reserve).sum()), "reserves": int(reserve.sum()),
        "supplementary": int((villages["stratum"].astype(str) == SUPPLEMENT).sum()), "strata": _plain(sample.strata),
        "links": links,
    }


@router.get("", response_model=AuditRounds, summary="Audit rounds")
def rounds(request: Request, store: StoreDep, principal: ReaderDep) -> dict[str, Any]:
    """Every round, newest first, with its design and how far its field tests have come.

    A region-limited key sees the rounds with villages in its region, counted there.
    """
    frame = round_summaries(store, regions=principal.regions)
    records = _plain(frame.drop(columns="created_at"))
    for row, created in zip(records, frame["created_at"], strict=True):
        row["created_at"] = utc(created)
    return {"rounds": records, "links": [link(f"{base_url(request)}/audits", "self", "application/json")]}


@router.post("", response_model=AuditRoundDetail, status_code=201, summary="Draw a new audit round",
             responses={200: {"description": "A dry run: the round that would be drawn, not stored",
                              "model": AuditRoundDetail}})
def create(request: Request, store: StoreDep, principal: AuditorDep, body: AuditRequest) -> Any:
    """Draw a stratified, seeded sample of villages and store it as the next round (auditor or admin).

    The parameters are those of `village5g audit sample`; the same parameters and seed give the same
    list. A key limited to a city draws in that city; a key limited to a smaller region cannot draw
    (rounds are stratified by city).
    """
    region = principal.region
    cities = city_codes(store, body.cities)
    if region is not None:
        if len(region) > 4:
            raise ApiError(403, f"此密钥限定于区域 {region}；抽查轮次按地市抽取，需要地市或更大范围的密钥 "
                                f"(the key is limited to region {region}; rounds are drawn per city, so this "
                                "needs a key of a city or above)")
        outside = [c for c in cities if not c.startswith(region)]
        if outside:
            raise ApiError(403, f"地市 {'、'.join(outside)} 在此密钥限定的区域 {region} 之外 "
                                f"(cities {', '.join(outside)} lie outside region {region}, which the key is "
                                "limited to)")
        if not cities and len(region) == 4:
            cities = (region,)
    plan = sampling_plan(
        strata=body.strata, confidence=body.confidence, margin=body.margin, expected_pass=body.expected_pass,
        rate=body.rate, minimum=body.minimum, reserve_share=body.reserve_share, reserve_min=body.reserve_min,
        exclude_rounds=body.exclude_rounds, population=body.population, cities=cities, seed=body.seed,
        uncertain=body.uncertain, uncertain_from=body.uncertain_from)
    drawn = draw_round(store, plan, run_id=body.run, save=not body.dry_run)
    created = AuditStore(store).read_round(drawn.round)["created_at"] if drawn.round is not None else None
    detail = _detail(request, drawn, created)
    if body.dry_run:
        return JSONResponse(AuditRoundDetail.model_validate(detail).model_dump(mode="json"), status_code=200)
    return detail


@router.get("/{round_number}", response_model=AuditRoundDetail, summary="An audit round")
def round_detail(request: Request, store: StoreDep, principal: ReaderDep, round_number: RoundParam
                 ) -> dict[str, Any]:
    """The round's parameters, seed, run and strata (population, required and drawn sizes, reserves)."""
    sample = _region_sample(store, round_number, principal)
    return _detail(request, sample, AuditStore(store).read_round(round_number)["created_at"])


ListFormat = Literal["json", "csv", "xlsx", "kml", "geojson"]


@router.get("/{round_number}/villages", response_model=AuditVillages, summary="A round's sample list",
            responses=file_responses(["csv", "xlsx", "kml", "geojson"]))
def villages(store: StoreDep, principal: ReaderDep, round_number: RoundParam,
             format: Annotated[ListFormat, Query(description="json, or a file: csv (UTF-8 with BOM), xlsx (a "
                                                             "printable sheet per city), kml or geojson")] = "json",
             city: Annotated[str | None, Query(min_length=1, max_length=40,
                                               description="Only this city (code or name)")] = None,
             lang: Annotated[Literal["zh", "en"], Query(description="CSV headers and labels: zh (Chinese) or en "
                                                                    "(the column keys)")] = "zh") -> Any:
    """Villages in stratum order, reserves after each stratum's sample, with the committee point in WGS84
    and GCJ-02, the run's verdict, the nearest site and the predicted SS-RSRP/SINR."""
    sample = _region_sample(store, round_number, principal)
    listed = sample.villages
    if city is not None:
        listed = listed[listed["city_code"] == division_code(store, "city", city, run_id=None,
                                                             within=principal.regions)]
    if format == "json":
        rows = _plain(pd.DataFrame(listed[list(SAMPLE_COLUMNS)]))
        return {"round": round_number, "numberReturned": len(rows), "villages": rows}
    folder = FilePath(tempfile.mkdtemp(prefix="village5g-audit-"))
    name = f"audit-round{round_number}.{format}"
    try:
        path = write_sample(listed, folder / name, fmt=format, title=list_title(round_number, sample.run_id),
                            lang=lang)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return send_file(path, folder, format, name)


def _region_guard(principal: Principal, round_number: int) -> Any:
    region = principal.region

    def accept(tests: FieldTests) -> None:
        if region is None:
            return
        codes = tests.frame["village_code"].astype(str)
        bad = [i for i, code in enumerate(codes) if not code.startswith(region)]
        if bad:
            raise ApiError(403, f"{len(bad)} 条实测结果的行政村在此密钥限定的区域 {region} 之外，未存储任何数据 "
                                f"({len(bad)} tests are of villages outside region {region}, which the key is "
                                "limited to; nothing was stored)", details=[
                {"file": tests.file_name, "row": i + 1, "field": "village_code",
                 "message": f"抽查轮次 {round_number} 的行政村 {codes.iloc[i]} 在区域 {region} 之外 "
                            f"(village {codes.iloc[i]} of round {round_number} is outside region {region})"}
                for i in bad[:_SHOWN]])

    return accept


@router.post("/{round_number}/results", response_model=AuditUpload, status_code=201,
             summary="Upload field test results",
             responses={413: {"description": "The file is larger than the service accepts"},
                        422: {"description": "The file was rejected; every problem is listed in details"}})
def results(
    store: StoreDep,
    settings: SettingsDep,
    principal: AuditorDep,
    round_number: RoundParam,
    file: Annotated[UploadFile, File(description="Field tests: CSV (UTF-8 or GBK), XLSX or JSON, one row per test")],
    crs: Annotated[str | None, Form(max_length=200, description="CRS of the test points: wgs84 (default) or gcj02"
                                    )] = None,
    encoding: Annotated[str | None, Form(max_length=40, description="Text encoding of a CSV (default: "
                                                                    "detected)")] = None,
    sheet: Annotated[str | None, Form(max_length=200, description="Worksheet of an XLSX (default: the "
                                                                  "first)")] = None,
    replace: Annotated[bool, Form(description="Replace the stored tests of the villages in the file")] = False,
) -> dict[str, Any]:
    """Validate a field-test file against the round and store it whole (auditor or admin).

    The CLI's validation (`village5g audit results`): a rejected file lists every problem with file,
    row and field, and nothing is stored. A region-limited key may upload tests of its region's
    villages only.
    """
    with received_file(file) as path:
        accepted = upload_results(store, round_number, path, crs=crs or None, encoding=encoding or None,
                                  sheet=sheet or None, replace=replace, accept=_region_guard(principal, round_number),
                                  limits=settings.limits)
    return {
        "round": round_number, "file_name": accepted.file_name, "rows": accepted.rows,
        "villages": int(accepted.frame["village_code"].nunique()), "replaced": replace, "crs": accepted.crs,
        "sha256": accepted.file_sha256,
        "warnings": [dataclasses.asdict(w) for w in accepted.warnings],
    }


@router.get("/{round_number}/report", response_model=AuditReport, summary="A round's report")
def report(
    store: StoreDep,
    principal: ReaderDep,
    round_number: RoundParam,
    method: Annotated[Literal["exact", "wilson"], Query(description="Interval: exact (Clopper-Pearson) or "
                                                                    "wilson")] = "exact",
    confidence: Annotated[float, Query(ge=0.5, le=0.999, description="Interval level")] = 0.95,
    rsrp_min: Annotated[float | None, Query(ge=-156, le=-31, description="Test bar: SS-RSRP >= this (dBm)")] = None,
    sinr_min: Annotated[float | None, Query(ge=-23, le=40, description="Test bar: SS-SINR >= this (dB)")] = None,
    dl_min: Annotated[float | None, Query(ge=0, le=100_000, description="Test bar: download (Mbit/s)")] = None,
    ul_min: Annotated[float | None, Query(ge=0, le=100_000, description="Test bar: upload (Mbit/s)")] = None,
    village_share: Annotated[float | None, Query(ge=0, le=1, description="A village passes when this share of "
                                                                         "its test points pass")] = None,
    calibrate: Annotated[bool, Query(description="Include the calibration offsets: those stored with the round, "
                                                 "else computed now (not stored)")] = True,
) -> dict[str, Any]:
    """Pass rate per stratum and overall (stratified, weights N_h / N) with exact or Wilson intervals, the
    predicted-versus-measured confusion matrix and the calibration offsets per band and city.

    Unset bars take the default pass rule's. A region-limited key gets the report of its region's
    villages. Offsets are the ones `village5g audit report` stored, else computed now without storing
    them (seconds on a province: every station is read and the run's raster sampled).
    """
    given = (("min_rsrp_dbm", rsrp_min), ("min_sinr_db", sinr_min), ("min_dl_mbps", dl_min),
             ("min_ul_mbps", ul_min), ("village_pass_share", village_share))
    overrides: dict[str, Any] = {k: v for k, v in given if v is not None}
    rule = dataclasses.replace(PassRule(), **overrides)
    _region_sample(store, round_number, principal)
    result = round_report(store, round_number, rule=rule, method=method, confidence=confidence, calibrate=calibrate,
                          save_offsets=False, stored_offsets=True, regions=principal.regions)
    tables = report_tables(result)
    return {
        "round": round_number, "rule": result.rule, "counts": result.counts, "uncertain_from": result.uncertain_from,
        "overall": _plain(pd.DataFrame([result.overall.to_dict()]))[0], "strata": _plain(tables["strata"]),
        "confusion": _plain(tables["confusion"]), "villages": _plain(tables["villages"]),
        "offsets": _plain(tables["offsets"]) if "offsets" in tables else None, "offsets_note": result.offsets_note,
    }

