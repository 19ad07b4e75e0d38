"""Background job records: what was asked, who runs it, how far it got and what it produced.

A job (today: an analysis run started over HTTP) is recorded ``queued`` when it is accepted, then
``running``, then ``succeeded`` (with the id of the run it published) or ``failed`` (with a message
fit for users). The record lives in the database, so every API worker answers for every job. The
``owner`` names the process that executes it (``host:pid``); a job whose owner died is marked
failed by :func:`fail_orphans` when a worker starts on that host.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Integer, String, Table, select

from coverage.errors import NotFoundError
from coverage.storage import Store, metadata, runs

__all__ = ["JOB_STATUSES", "create_job", "fail_orphans", "finish_job", "jobs", "list_jobs", "read_job",
           "set_progress", "start_job"]

JOB_STATUSES = ("queued", "running", "succeeded", "failed")

jobs = Table(
    "jobs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("parameters", JSON, nullable=False),
    Column("requested_by", String(40)),
    Column("owner", String(200)),
    Column("created_at", DateTime, nullable=False),
    Column("started_at", DateTime),
    Column("finished_at", DateTime),
    Column("progress", String(500)),
    Column("run_id", Integer),
    Column("error", String(2000)),
)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def create_job(store: Store, *, kind: str, parameters: dict[str, Any], owner: str,
               requested_by: str | None = None) -> int:
    """Record a new ``queued`` job and return its id."""
    with store.engine.begin() as conn:
        result = conn.execute(jobs.insert().values(
            kind=kind, status="queued", parameters=parameters, requested_by=requested_by, owner=owner,
            created_at=_now(), progress="queued",
        ))
        return int(result.inserted_primary_key[0])  # type: ignore[index]


def start_job(store: Store, job_id: int) -> None:
    """Mark a job ``running``."""
    with store.engine.begin() as conn:
        conn.execute(jobs.update().where(jobs.c.id == job_id).values(status="running", started_at=_now(),
                                                                     progress="started"))


def set_progress(store: Store, job_id: int, message: str, *, run_id: int | None = None) -> None:
    """Record the current step of a running job (and the run it works on, once known)."""
    values: dict[str, Any] = {"progress": message[:500]}
    if run_id is not None:
        values["run_id"] = run_id
    with store.engine.begin() as conn:
        conn.execute(jobs.update().where(jobs.c.id == job_id).values(**values))


def finish_job(store: Store, job_id: int, *, run_id: int | None = None, error: str | None = None) -> None:
    """Mark a job ``succeeded`` (with the run it produced) or, with ``error``, ``failed``."""
    values: dict[str, Any] = {"finished_at": _now(), "status": "failed" if error else "succeeded",
                              "progress": "failed" if error else "done"}
    if run_id is not None:
        values["run_id"] = run_id
    if error:
        values["error"] = error[:2000]
    with store.engine.begin() as conn:
        conn.execute(jobs.update().where(jobs.c.id == job_id).values(**values))


def read_job(store: Store, job_id: int) -> dict[str, Any]:
    """One job's record; :class:`NotFoundError` when there is none."""
    with store.engine.connect() as conn:
        row = conn.execute(select(jobs).where(jobs.c.id == job_id)).mappings().first()
    if row is None:
        raise NotFoundError(f"job {job_id} does not exist")
    return dict(row)


def list_jobs(store: Store, *, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
    """Job records, newest first."""
    with store.engine.connect() as conn:
        rows = conn.execute(select(jobs).order_by(jobs.c.id.desc()).limit(limit).offset(offset)).mappings().all()
    return [dict(r) for r in rows]


def fail_orphans(store: Store, *, host: str, alive: Callable[[int], bool]) -> int:
    """Mark failed the unfinished jobs owned by processes of ``host`` that are no longer ``alive``.

    A run such a job had started (still ``running``, its results never published) is marked failed too.
    """
    message = "interrupted: the server process running it stopped"
    with store.engine.begin() as conn:
        rows = conn.execute(select(jobs.c.id, jobs.c.owner, jobs.c.run_id)
                            .where(jobs.c.status.in_(("queued", "running")))).all()
        dead = []
        for job_id, owner, run_id in rows:
            owner_host, _, pid = (owner or "").rpartition(":")
            if owner_host == host and pid.isdigit() and not alive(int(pid)):
                dead.append((job_id, run_id))
        if dead:
            conn.execute(jobs.update().where(jobs.c.id.in_([j for j, _ in dead])).values(
                status="failed", finished_at=_now(), progress="failed", error=message))
            started = [r for _, r in dead if r is not None]
            if started:
                conn.execute(runs.update().where(runs.c.id.in_(started), runs.c.status == "running")
                             .values(status="failed", finished_at=_now(), error=message))
    return len(dead)
