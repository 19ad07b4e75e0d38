"""The schedule: which jobs run when (``GET /schedule``) and running one now (``POST /jobs/{name}/run``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request, Response

from api.deps import AdminDep, ReaderDep, StoreDep
from api.errors import ApiError
from api.models import Job, Schedule
from api.ogc import base_url
from api.routers.runs import job_document
from api.scheduler import JobScheduler
from coverage.runs.jobs import read_job

router = APIRouter()


@router.get("/schedule", response_model=Schedule, tags=["Runs"], summary="Scheduled jobs")
def schedule(request: Request, _: ReaderDep) -> dict[str, Any]:
    """The refresh, snapshot and report jobs: schedule, next fire time, the job running each now, the last run."""
    scheduler: JobScheduler = request.app.state.scheduler
    jobs = scheduler.schedule()
    for job in jobs:
        job["last_job"] = job_document(request, job["last_job"]) if job["last_job"] else None
    return {"timezone": scheduler.settings.schedule_timezone, "running_here": scheduler.running, "jobs": jobs}


@router.post("/jobs/{name}/run", response_model=Job, status_code=202, tags=["Runs"], summary="Run a scheduled job now",
             responses={409: {"description": "The job is running already"}})
def run_job(request: Request, response: Response, store: StoreDep, principal: AdminDep,
            name: Annotated[Literal["refresh", "snapshot", "report"], Path(description="The job")]) -> dict[str, Any]:
    """Run ``refresh``, ``snapshot`` or ``report`` now, in the background (admin key without a region limit).

    Answers at once with the job record; follow ``/jobs/{id}``. 409 while the job runs in any process.
    """
    if principal.region is not None:
        raise ApiError(403, "定时任务覆盖所有区域，需要不限区域的管理员（admin）密钥 "
                            "(scheduled jobs cover every region: they need an admin key without a region limit)")
    scheduler: JobScheduler = request.app.state.scheduler
    job_id = scheduler.trigger_now(name, requested_by=principal.key.id if principal.key else None)
    response.headers["Location"] = f"{base_url(request)}/jobs/{job_id}"
    return job_document(request, read_job(store, job_id))
