"""Fill-in (补盲) site planning and what-if evaluation of proposed stations: nothing is stored."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, File, Request, UploadFile
from pydantic import BaseModel, Field

from api.deps import AuditorDep, SettingsDep, StoreDep
from api.errors import ApiError
from api.params import REGION_PATTERN, region_prefix
from api.routers.ingest import check_region, received_file
from coverage.ingest import read_input
from coverage.model.rules import PLANNING_RULES
from coverage.planning.sites import plan_sites, read_scope, run_settings, what_if_store
from coverage.summary import reach_rate

router = APIRouter(tags=["Planning"])
_SHOWN = 1000


class PlanRequest(BaseModel):
    """What to plan; the rule set, model parameters and scope are the latest published run's."""

    sites: int = Field(ge=1, le=500, description="Number of new sites")
    band: str = Field("n41", max_length=10, description="NR band of the new sites: n28 n41 n78 n79")
    operator: str = Field("CMCC", max_length=10, description="Operator of the new sites: CMCC CUCC CTCC CBN")
    region: str | None = Field(None, pattern=REGION_PATTERN,
                               description="Count gains in this division code prefix only")


class PlannedSite(BaseModel):
    rank: int
    site_id: str
    candidate_id: str
    lon: float
    lat: float
    band: str
    operator: str
    gained: int = Field(description="Net villages this site brings to covered")
    villages_gained: list[str]
    villages_lost: list[str]
    covered: int = Field(description="Covered villages after this site (cumulative)")
    reach_rate: float = Field(description="通达率 after this site (cumulative, 0-1)")
    region_covered: int | None = None
    region_reach_rate: float | None = None


class PlanResponse(BaseModel):
    run_id: int = Field(description="The published run whose rules, parameters and scope were used")
    villages: int
    covered_before: int
    reach_rate_before: float
    region: str | None
    candidates: int
    sites: list[PlannedSite]


class ChangedVillage(BaseModel):
    code: str
    name: str | None
    city_name: str | None
    county_name: str | None
    township_name: str | None
    verdict_before: str | None
    verdict_after: str
    committee_rsrp_dbm: float | None
    good_share: float


class WhatIfResponse(BaseModel):
    run_id: int = Field(description="The published run compared with")
    villages: int
    covered_before: int
    covered_after: int
    changed: int = Field(description="Villages whose verdict changes")
    villages_changed: list[ChangedVillage] = Field(description=f"At most {_SHOWN}, in code order")


def _region(principal_region: str | None, region: str | None) -> str | None:
    if principal_region is None:
        return region
    if region is None:
        return principal_region
    if not region.startswith(principal_region):
        raise ApiError(403, f"此密钥限定于区域 {principal_region} (the key is limited to region {principal_region})")
    return region


def _codes(text: object) -> list[str]:
    return [c for c in str(text).split(";") if c]


_BUSY: dict[int | str, dict[str, Any]] = {
    409: {"description": "This server process is computing another plan or what-if; try again later"}}


@contextmanager
def one_at_a_time(request: Request) -> Iterator[None]:
    """Hold the process's slot for a whole-area computation (a plan needs about 2.5 GB for the
    province); 409 at once when it is taken, instead of a second one in memory beside it."""
    slot: threading.Semaphore = request.app.state.heavy
    if not slot.acquire(blocking=False):
        raise ApiError(409, "此服务进程正在计算另一个规划或假设分析，请在它完成后再试 "
                            "(this server process is computing another plan or what-if; try again when it has "
                            "finished)")
    try:
        yield
    finally:
        slot.release()


@router.post("/plan", response_model=PlanResponse, summary="Plan fill-in sites (greedy maximum coverage)",
             responses=_BUSY)
def plan(request: Request, body: PlanRequest, store: StoreDep, principal: AuditorDep) -> dict[str, Any]:
    """Choose up to ``sites`` new sites that bring the most villages to covered, ranked, with the
    cumulative 通达率. Takes as long as an analysis (tens of seconds for the province), hence an
    auditor or admin key. A region-limited key plans inside its region."""
    region = _region(principal.region, body.region)
    region_prefix(store, body.region, within=(), location="body.region")
    with one_at_a_time(request):
        run_id, run_rules, params, scope, _operators = run_settings(store)
        # planning asks for 90 % location probability (the planning rule set's margin) on the run's thresholds
        rules = replace(run_rules, name=PLANNING_RULES.name, edge_probability=PLANNING_RULES.edge_probability)
        villages, stations, measurements = read_scope(store, scope)
        result = plan_sites(villages, stations, measurements, n_sites=body.sites, rules=rules, params=params,
                            band=body.band, operator=body.operator, region=region)
    rows = []
    for row in result.sites.drop(columns="geometry").to_dict("records"):
        row["villages_gained"], row["villages_lost"] = _codes(row["villages_gained"]), _codes(row["villages_lost"])
        rows.append(row)
    return {"run_id": run_id, "villages": result.villages, "covered_before": result.covered_before,
            "reach_rate_before": reach_rate(result.covered_before, result.villages), "region": region,
            "candidates": result.candidates, "sites": rows}


@router.post("/whatif", response_model=WhatIfResponse, summary="Evaluate proposed stations without storing them",
             responses=_BUSY)
def what_if(request: Request, store: StoreDep, settings: SettingsDep, principal: AuditorDep,
            file: Annotated[UploadFile, File(description="Proposed stations: any format `POST /ingest/stations` "
                                                         "takes (WGS84)")]) -> dict[str, Any]:
    """Add the proposed stations to the stored ones in memory, run the analysis with the latest run's
    settings and list the villages whose verdict changes. Stored stations and the published run stay
    as they are. A region-limited key may propose stations inside its region's villages only, and
    sees its region's villages and counts."""
    with received_file(file) as path:
        read = read_input("stations", path, limits=settings.limits)
    added = read.frame
    check_region(store, principal, "stations", added, read.file_name)  # another city's stations: 403
    with one_at_a_time(request):
        run_id, changed, counts = what_if_store(store, added, region=principal.region)
    records = [{k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in r.items()}
               for r in changed.head(_SHOWN).to_dict("records")]
    return {"run_id": run_id, "villages": counts["villages"], "covered_before": counts["before"],
            "covered_after": counts["after"], "changed": len(changed), "villages_changed": records}
