"""Summaries (通达率 per region), analysis runs, their differences, and analysis jobs."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

import pandas as pd
from fastapi import APIRouter, Body, Path, Query, Request, Response

from api.cache import LruCache
from api.deps import AdminDep, ReaderDep, SettingsDep, StoreDep
from api.errors import INTERNAL_MESSAGE, ApiError
from api.jobs import JobRunner, rules_with
from api.models import AnalysisRequest, Job, Jobs, Run, RunDiff, Runs, Summary
from api.ogc import base_url, link
from api.params import MAX_ID, REGION_PATTERN, scoped_regions
from api.responses import utc
from api.security import Principal
from coverage.runs.analysis import check_run_grid
from coverage.runs.jobs import INTERNAL_ERROR, INTERRUPTED, error_is, list_jobs, read_job
from coverage.store.results_query import (
    compare_runs,
    resolve_run,
    resolve_run_and_version,
    result_rows,
    run_counts,
    stored_version,
)
from coverage.store.storage import Store
from coverage.summary import reach_gap, reach_interval, reach_rate, summarize

router = APIRouter()

Level = Literal["province", "city", "county", "township"]
#: The errors of a failed run the API shows (the domain's, and a stopped process's); any other is hidden.
_DOMAIN_ERRORS = ("ValidationError", "NotFoundError", "ConfigError", "Village5gError", "LimitError")


def _version(store: Store) -> int:
    return stored_version(store, "villages")


def _nan_none(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def summary_frame(store: Store, *, run_id: int, level: str, target_rate: float, regions: tuple[str, ...]
                  ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """通达率 per region of ``level`` for the villages of a run inside ``regions``, and the totals."""
    rows = result_rows(store, run_id, regions=regions)
    frame = summarize(rows, level=level, target_rate=target_rate)
    villages = len(rows)
    covered = int((rows["verdict"] == "covered").sum())
    expected, low, high = reach_interval(rows["p_covered"].to_numpy(float))
    totals = {
        "code": regions[-1] if regions else "", "name": "total", "villages": villages, "covered": covered,
        "weak": int((rows["verdict"] == "weak").sum()), "uncovered": int((rows["verdict"] == "uncovered").sum()),
        "no_site": int(rows["no_site"].sum()), "reach_rate": reach_rate(covered, villages),
        "target_rate": target_rate, "gap_villages": reach_gap(villages, covered, target_rate),
        "expected_rate": _nan_none(expected), "rate_low": _nan_none(low), "rate_high": _nan_none(high),
    }
    return frame, totals


@router.get("/summary", response_model=Summary, tags=["Summaries"], summary="5G reach rate per region")
def summary(request: Request, store: StoreDep, principal: ReaderDep,
            level: Annotated[Level, Query(description="Regions to summarise")] = "city",
            run: Annotated[int | None, Query(ge=1, le=MAX_ID, description="Run id (default: latest published)")] = None,
            target: Annotated[float | None, Query(ge=0, le=1, description="Reach-rate target 0-1 "
                                                                          "(default: the run's rule set)")] = None,
            region: Annotated[str | None, Query(pattern=REGION_PATTERN, description="Only villages of this "
                                                                                     "division code prefix")] = None,
            ) -> Response:
    """通达率 (covered / villages), verdict counts, no-site villages and gap to target per region.

    A key limited to a region summarises the villages of its region only. Answers are cached per run.
    """
    run_id, version = resolve_run_and_version(store, run)
    regions = scoped_regions(store, principal, region)
    cache: LruCache = request.app.state.report_cache
    key = ("summary", run_id, version, level, target, regions)

    def compute() -> dict[str, Any]:
        record = store.read_run(run_id)
        target_rate = target if target is not None else float(record["rules"]["target_rate"])
        frame, totals = summary_frame(store, run_id=run_id, level=level, target_rate=target_rate, regions=regions)
        return {
            "run_id": run_id, "level": level, "target_rate": target_rate,
            "rules": f"{record['rules'].get('name')}@{record['rules'].get('version')}",
            "region": regions[-1] if regions else None, "totals": totals,
            "regions": [{k: _nan_none(v) for k, v in r.items()} for r in frame.to_dict("records")],
        }

    return _json(cache.get_or_compute(key, lambda: Summary.model_validate(compute()).model_dump_json().encode()))


def _json(body: bytes) -> Response:
    """A cached, already validated JSON body as the response."""
    return Response(body, media_type="application/json")


def _run_document(request: Request, record: dict[str, Any], counts: dict[str, int] | None) -> dict[str, Any]:
    root = base_url(request)
    error = record.get("error")
    if error and not (error.startswith(_DOMAIN_ERRORS) or error_is(error, INTERRUPTED)):
        error = INTERNAL_MESSAGE
    villages = (counts or {}).get("villages") or 0
    run_id = record["id"]
    links = [link(f"{root}/runs/{run_id}", "self", "application/json", f"run {run_id}")]
    if record["status"] == "published":
        links += [
            link(f"{root}/collections/villages/items?run={run_id}", "items", "application/geo+json", "its villages"),
            link(f"{root}/summary?run={run_id}", "summary", "application/json", "its 5G reach rate"),
        ]
    return {
        **{k: record[k] for k in ("id", "status", "rules", "parameters", "inputs", "code_version", "timings")},
        "started_at": utc(record["started_at"]), "finished_at": utc(record["finished_at"]),
        "counts": counts,
        "reach_rate": reach_rate((counts or {}).get("covered", 0), villages),
        "has_raster": bool(record.get("raster_path")),
        "error": error,
        "links": links,
    }


def _counts(store: Store, principal: Principal, records: list[dict[str, Any]]) -> dict[int, dict[str, int] | None]:
    if not principal.regions:
        return {r["id"]: r["counts"] for r in records}
    published = [r["id"] for r in records if r["status"] == "published"]
    limited = run_counts(store, published, regions=principal.regions)
    return {r["id"]: limited.get(r["id"]) for r in records}


@router.get("/runs", response_model=Runs, tags=["Runs"], summary="Analysis runs")
def runs(request: Request, store: StoreDep, principal: ReaderDep,
         limit: Annotated[int, Query(ge=1, le=1000)] = 50,
         offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> dict[str, Any]:
    """Run records, newest first: status, rule set, parameters, input fingerprints, timings and counts.

    For a region-limited key the counts are those of its region.
    """
    request.app.state.jobs.recover()
    records = store.list_runs(limit=offset + limit)[offset:]
    counts = _counts(store, principal, records)
    root = base_url(request)
    return {"runs": [_run_document(request, r, counts[r["id"]]) for r in records],
            "links": [link(f"{root}/runs", "self", "application/json", "runs")]}


@router.get("/runs/{run_id}", response_model=Run, tags=["Runs"], summary="One run")
def run(request: Request, store: StoreDep, principal: ReaderDep,
        run_id: Annotated[int, Path(ge=1, le=MAX_ID)]) -> dict[str, Any]:
    """One run's record (a running run shows here as soon as it starts)."""
    request.app.state.jobs.recover()
    record = store.read_run(run_id)
    return _run_document(request, record, _counts(store, principal, [record])[run_id])


@router.get("/runs/{run_id}/diff", response_model=RunDiff, tags=["Runs"], summary="Compare two runs")
def diff(request: Request, store: StoreDep, principal: ReaderDep,
         run_id: Annotated[int, Path(ge=1, le=MAX_ID)],
         against: Annotated[int, Query(ge=1, le=MAX_ID, description="The earlier run")],
         level: Annotated[Level, Query(description="Regions whose 通达率 is compared")] = "city") -> Response:
    """Villages newly flagged (worse verdict or newly without a site) or cleared, and 通达率 changes by region."""
    after, before = resolve_run(store, run_id), resolve_run(store, against)
    regions = principal.regions
    cache: LruCache = request.app.state.report_cache

    def compute() -> dict[str, Any]:
        villages, by_region, counts = compare_runs(result_rows(store, before, regions=regions),
                                                   result_rows(store, after, regions=regions), level=level)
        return {
            "run_id": after, "against": before, "level": level, "counts": counts,
            "villages": [{k: None if v is None or v is pd.NA or (isinstance(v, float) and v != v) else v
                          for k, v in r.items()} for r in villages.to_dict("records")],
            "regions": [{k: _nan_none(v) for k, v in r.items()} for r in by_region.to_dict("records")],
        }

    key = ("diff", after, before, _version(store), level, regions)
    return _json(cache.get_or_compute(key, lambda: RunDiff.model_validate(compute()).model_dump_json().encode()))


def job_document(request: Request, record: dict[str, Any]) -> dict[str, Any]:
    root = base_url(request)
    links = [link(f"{root}/jobs/{record['id']}", "self", "application/json", f"job {record['id']}")]
    if record.get("run_id"):
        links.append(link(f"{root}/runs/{record['run_id']}", "run", "application/json", f"run {record['run_id']}"))
    error = record.get("error")
    if error_is(error, INTERNAL_ERROR):
        error = INTERNAL_MESSAGE
    return {**{k: record.get(k) for k in ("id", "kind", "status", "trigger", "attempt", "parameters", "progress",
                                          "run_id", "result")},
            **{k: utc(record.get(k)) for k in ("created_at", "started_at", "finished_at", "scheduled_for")},
            "error": error, "links": links}


@router.post("/runs", response_model=Job, status_code=202, tags=["Runs"], summary="Start an analysis run",
             responses={409: {"description": "An analysis is already queued or running"},
                        503: {"description": "The service is shutting down"}})
def start_run(request: Request, response: Response, store: StoreDep, settings: SettingsDep, principal: AdminDep,
              options: Annotated[AnalysisRequest | None, Body()] = None) -> dict[str, Any]:
    """Predict coverage, decide verdicts and publish a new run, in the background (admin key, no region limit).

    Answers at once with the job; follow ``/jobs/{id}`` until it has succeeded (it then names the run)
    or failed. Readers keep seeing the previous run until the new one is published.
    """
    if principal.region is not None:
        raise ApiError(403, "分析运行覆盖所有区域，需要不限区域的管理员（admin）密钥 "
                            "(an analysis covers every region: it needs an admin key without a region limit)")
    options = options or AnalysisRequest()
    rules = rules_with(options.rules)
    # decided here, before the job exists: a grid over max_grid_pixels is a 422 naming the limit
    check_run_grid(store, resolution_m=options.resolution_m, scope=options.scope, limits=settings.limits)
    runner: JobRunner = request.app.state.jobs
    job_id = runner.submit_analysis(
        rules=rules, resolution_m=options.resolution_m, operators=list(options.operators or []) or None,
        scope=options.scope, parameters=options.model_dump(), requested_by=principal.key.id if principal.key else None)
    response.headers["Location"] = f"{base_url(request)}/jobs/{job_id}"
    return job_document(request, read_job(store, job_id))


@router.get("/jobs", response_model=Jobs, tags=["Runs"], summary="Background jobs")
def jobs(request: Request, store: StoreDep, _: ReaderDep,
         limit: Annotated[int, Query(ge=1, le=1000)] = 50,
         offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
         kind: Annotated[Literal["analysis", "refresh", "snapshot", "report"] | None,
                         Query(description="Only jobs of this kind")] = None) -> dict[str, Any]:
    """Jobs, newest first: analyses started over HTTP and the scheduled refresh, snapshot and report runs."""
    request.app.state.jobs.recover()
    return {"jobs": [job_document(request, r) for r in list_jobs(store, limit=limit, offset=offset, kind=kind)]}


@router.get("/jobs/{job_id}", response_model=Job, tags=["Runs"], summary="One job")
def job(request: Request, store: StoreDep, _: ReaderDep, job_id: Annotated[int, Path(ge=1, le=MAX_ID)]
        ) -> dict[str, Any]:
    """A job's status, progress and, once it succeeded, the run it published."""
    request.app.state.jobs.recover()
    return job_document(request, read_job(store, job_id))
