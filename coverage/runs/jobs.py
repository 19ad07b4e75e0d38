"""Background job records, the once-only claim of a scheduled fire time, and job leases.

A job (an analysis started over HTTP, or a scheduled ``refresh``, ``snapshot`` or ``report``) is
recorded ``queued`` when it is accepted, then ``running``, then ``succeeded`` (with what it did in
``result`` and, for an analysis, the run it published), ``failed`` (with a message fit for users) or
``skipped`` (another process was already running a job of that name). ``trigger`` says why it ran
(``api``, ``schedule``, ``retry``, ``manual``, ``after-refresh``), ``scheduled_for`` the fire time it
ran for (naive UTC) and ``attempt`` which try it was (1 for the first). The records live in the
database, so every API worker and ``village5g jobs`` answer for every job.

Two locks keep several processes on one database from doing a job twice; both work the same on
SQLite and PostgreSQL because they rest on a primary key, not on a server feature:

* a **claim** (:func:`claim_fire`): one row per (job name, scheduled fire time, attempt); the first
  INSERT wins and every other process gets an IntegrityError and skips that fire time;
* a **lease** (:func:`acquire_lease`): one row per job name naming its holder and an expiry time that
  the holder renews while it works, so a manual trigger never runs beside a scheduled run. A lease
  whose holder died is taken over at once when the holder ran on this host (its pid is gone), else
  when it expires.

The ``owner`` of a job or lease names the process (``host:pid``); the unfinished jobs of a process
that died are marked failed by :func:`fail_orphans` (same host) or when its lease is taken over.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from coverage.errors import NotFoundError, Village5gError, bi
from coverage.store.storage import Store
from coverage.store.tables import job_claims, job_leases, jobs, runs, village_results

__all__ = ["INTERNAL_ERROR", "INTERRUPTED", "JOB_STATUSES", "JobBusyError", "acquire_lease", "claim_fire",
           "create_job", "error_is", "execute_job", "fail_dead_runs", "fail_orphans", "finish_job", "interrupted",
           "job_progress",
           "lease_holder", "list_jobs", "live_lease", "process_alive", "read_job", "release_lease", "renew_lease",
           "run_of_step", "run_step", "set_progress", "start_job"]

log = logging.getLogger("village5g.jobs")

JOB_STATUSES = ("queued", "running", "succeeded", "failed", "skipped")
#: A job's progress before its first step and after its last.
_STAGE = {"queued": bi("排队中", "queued"), "started": bi("已开始", "started"), "succeeded": bi("完成", "done"),
          "failed": bi("失败", "failed"), "skipped": bi("已跳过", "skipped")}

#: Prefix of the error of a job that failed for a reason other than its input (the API hides the rest).
INTERNAL_ERROR = "内部错误 (internal error): "
#: Prefix of the error of a job or run whose process stopped before it finished (:func:`interrupted`).
INTERRUPTED = "已中断："
#: The prefixes the two had before they were said in Chinese first; errors stored then still carry them.
_EARLIER = {INTERNAL_ERROR: "internal error: ", INTERRUPTED: "interrupted:"}


def interrupted(chinese: str, english: str) -> str:
    """The error of a job or run whose process stopped: :data:`INTERRUPTED`, then ``chinese``, the English
    in brackets (``已中断：… (interrupted: …)``)."""
    return f"{INTERRUPTED}{chinese} (interrupted: {english})"


def error_is(error: str | None, prefix: str) -> bool:
    """Whether a stored error begins with ``prefix`` (:data:`INTERNAL_ERROR` or :data:`INTERRUPTED`), as
    it is said now or was said before."""
    return bool(error) and str(error).startswith((prefix, _EARLIER[prefix]))


#: How a progress step that names the run a job works on begins (:func:`run_step`); :func:`run_of_step`
#: reads the run id back from the same text, so the step and its reader cannot drift apart.
_RUN_STEP = "运行 {run_id}："
_RUN_ID = re.compile("^" + re.escape(_RUN_STEP).replace(re.escape("{run_id}"), r"(\d+)"))


def run_step(run_id: int, chinese: str, english: str) -> str:
    """The progress step that names the run a job works on: ``运行 N：chinese (run N: english)``.

    :func:`job_progress` links the job to run N when it sees this step (:func:`run_of_step`).
    """
    return bi(_RUN_STEP.format(run_id=run_id) + chinese, f"run {run_id}: {english}")


def run_of_step(message: str) -> int | None:
    """The run a progress step made by :func:`run_step` names; ``None`` for any other step."""
    match = _RUN_ID.match(message)
    return int(match.group(1)) if match else None


class JobBusyError(Village5gError):
    """A job of this name is already running somewhere (HTTP 409)."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def process_alive(pid: int) -> bool:
    """Whether a process with this id runs on this host (one we may not signal counts as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _naive_utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo is not None else value


# -- job records -------------------------------------------------------------------------------


def create_job(store: Store, *, kind: str, parameters: dict[str, Any], owner: str,
               requested_by: str | None = None, trigger: str = "api", scheduled_for: dt.datetime | None = None,
               attempt: int = 1) -> int:
    """Record a new ``queued`` job and return its id (``scheduled_for`` in any zone, stored as naive UTC)."""
    with store.engine.begin() as conn:
        result = conn.execute(jobs.insert().values(
            kind=kind, status="queued", parameters=parameters, requested_by=requested_by, owner=owner,
            created_at=_now(), progress=_STAGE["queued"], trigger=trigger, attempt=attempt,
            scheduled_for=_naive_utc(scheduled_for) if scheduled_for is not None else None,
        ))
        return int(result.inserted_primary_key[0])  # type: ignore[index]


def active_job(store: Store, kind: str) -> int | None:
    """The id of a ``queued`` or ``running`` job of ``kind``, or None."""
    with store.engine.connect() as conn:
        found = conn.execute(select(jobs.c.id).where(jobs.c.kind == kind, jobs.c.status.in_(("queued", "running")))
                             .order_by(jobs.c.id).limit(1)).scalar()
    return None if found is None else int(found)


def start_job(store: Store, job_id: int) -> None:
    """Mark a job ``running``."""
    with store.engine.begin() as conn:
        conn.execute(jobs.update().where(jobs.c.id == job_id).values(status="running", started_at=_now(),
                                                                     progress=_STAGE["started"]))


def set_progress(store: Store, job_id: int, message: str, *, run_id: int | None = None) -> None:
    """Record the current step of a running job (and the run it works on, once known)."""
    values: dict[str, Any] = {"progress": message[:500]}
    if run_id is not None:
        values["run_id"] = run_id
    with store.engine.begin() as conn:
        conn.execute(jobs.update().where(jobs.c.id == job_id).values(**values))


def job_progress(store: Store, job_id: int) -> Callable[[str], None]:
    """A progress callback for :func:`coverage.runs.analysis.run_analysis` that records each step of the job.

    The step naming a run (:func:`run_step`: ``"运行 12：… (run 12: …)"``) links the job to that run, so a
    job whose process dies takes its half-done run down with it (:func:`fail_orphans`).
    """
    def progress(message: str) -> None:
        set_progress(store, job_id, message, run_id=run_of_step(message))

    return progress


def finish_job(store: Store, job_id: int, *, run_id: int | None = None, error: str | None = None,
               result: dict[str, Any] | None = None, status: str | None = None) -> None:
    """Mark a job ``succeeded`` (with the run it produced and what it did) or, with ``error``, ``failed``.

    ``status="skipped"`` records a job that did not run (``error`` then says why).
    """
    final = status or ("failed" if error else "succeeded")
    values: dict[str, Any] = {"finished_at": _now(), "status": final,
                              "progress": _STAGE.get(final, final)}
    if run_id is not None:
        values["run_id"] = run_id
    if error:
        values["error"] = error[:2000]
    if result is not None:
        values["result"] = result
    with store.engine.begin() as conn:
        conn.execute(jobs.update().where(jobs.c.id == job_id).values(**values))


def read_job(store: Store, job_id: int) -> dict[str, Any]:
    """One job's record; :class:`NotFoundError` when there is none."""
    with store.engine.connect() as conn:
        row = conn.execute(select(jobs).where(jobs.c.id == job_id)).mappings().first()
    if row is None:
        raise NotFoundError(f"任务 {job_id} 不存在 (job {job_id} does not exist)")
    return dict(row)


def list_jobs(store: Store, *, limit: int = 50, offset: int = 0, kind: str | None = None) -> list[dict[str, Any]]:
    """Job records (optionally of one ``kind``), newest first."""
    query = select(jobs).order_by(jobs.c.id.desc()).limit(limit).offset(offset)
    if kind is not None:
        query = query.where(jobs.c.kind == kind)
    with store.engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return [dict(r) for r in rows]


def _fail_jobs(conn: Connection, dead: list[tuple[int, int | None]], message: str) -> None:
    """Mark the (job id, run id) pairs of a dead process failed, and the runs they had started."""
    if not dead:
        return
    conn.execute(jobs.update().where(jobs.c.id.in_([j for j, _ in dead])).values(
        status="failed", finished_at=_now(), progress=_STAGE["failed"], error=message))
    started = [r for _, r in dead if r is not None]
    if started:
        stale = [int(r) for r in conn.execute(select(runs.c.id).where(runs.c.id.in_(started),
                                                                     runs.c.status == "running")).scalars()]
        if stale:
            # a partitioned run writes its results before it publishes: a dead one leaves some
            conn.execute(delete(village_results).where(village_results.c.run_id.in_(stale)))
            conn.execute(runs.update().where(runs.c.id.in_(stale))
                         .values(status="failed", finished_at=_now(), error=message))


def fail_orphans(store: Store, *, host: str, alive: Callable[[int], bool]) -> int:
    """Mark failed the unfinished jobs owned by processes of ``host`` that are no longer ``alive``.

    A run such a job had started (still ``running``, its results never published) is marked failed too.
    """
    with store.engine.begin() as conn:
        rows = conn.execute(select(jobs.c.id, jobs.c.owner, jobs.c.run_id)
                            .where(jobs.c.status.in_(("queued", "running")))).all()
        dead = []
        for job_id, owner, run_id in rows:
            owner_host, _, pid = (owner or "").rpartition(":")
            if owner_host == host and pid.isdigit() and not alive(int(pid)):
                dead.append((job_id, run_id))
        _fail_jobs(conn, dead, interrupted("运行它的服务器进程已停止", "the server process running it stopped"))
    return len(dead)


def fail_dead_runs(store: Store, *, host: str, alive: Callable[[int], bool]) -> list[int]:
    """Mark failed the runs still ``running`` whose owner is a process of ``host`` that is gone.

    Their written results are deleted, as a failing run's are; returns their ids. Runs recorded
    before runs named their owner are left alone.
    """
    with store.engine.begin() as conn:
        rows = conn.execute(select(runs.c.id, runs.c.owner).where(runs.c.status == "running")).all()
        dead = []
        for run_id, owner in rows:
            owner_host, _, pid = (owner or "").rpartition(":")
            if owner_host == host and pid.isdigit() and not alive(int(pid)):
                dead.append(int(run_id))
        if dead:
            conn.execute(delete(village_results).where(village_results.c.run_id.in_(dead)))
            stopped = interrupted("计算它的进程已停止", "the process computing it stopped")
            conn.execute(runs.update().where(runs.c.id.in_(dead), runs.c.status == "running").values(
                status="failed", finished_at=_now(), error=stopped))
    return dead


# -- once-only claims and leases ---------------------------------------------------------------


def claim_fire(store: Store, name: str, scheduled_for: dt.datetime, *, owner: str, attempt: int = 1) -> bool:
    """Claim the run of job ``name`` for one fire time (and attempt); True for exactly one caller.

    Every process that schedules the job calls this when the job is due; the first INSERT wins and the
    others get False, so a due job runs once however many workers or processes share the database.
    """
    try:
        with store.engine.begin() as conn:
            conn.execute(job_claims.insert().values(name=name, scheduled_for=_naive_utc(scheduled_for),
                                                    attempt=attempt, owner=owner, claimed_at=_now()))
    except IntegrityError:
        return False
    return True


def lease_holder(store: Store, name: str) -> dict[str, Any] | None:
    """The lease on job ``name`` (owner, job id, expiry) or None when nobody holds one."""
    with store.engine.connect() as conn:
        row = conn.execute(select(job_leases).where(job_leases.c.name == name)).mappings().first()
    return dict(row) if row is not None else None


def live_lease(store: Store, name: str, *, host: str, alive: Callable[[int], bool]) -> dict[str, Any] | None:
    """The lease on ``name`` when a live process holds it (an expired or orphaned lease counts as none)."""
    holder = lease_holder(store, name)
    if holder is None or _holder_gone(holder, host=host, alive=alive, now=_now()):
        return None
    return holder


def _holder_gone(holder: dict[str, Any], *, host: str, alive: Callable[[int], bool], now: dt.datetime) -> bool:
    if holder["expires_at"] < now:
        return True
    owner_host, _, pid = str(holder["owner"]).rpartition(":")
    return owner_host == host and pid.isdigit() and not alive(int(pid))


def acquire_lease(store: Store, name: str, *, owner: str, ttl_s: float, alive: Callable[[int], bool],
                  job_id: int | None = None) -> bool:
    """Take the lease on job ``name`` for ``ttl_s`` seconds; False when a live holder has it.

    A lease that expired, or whose holder was a process of this host that no longer runs, is taken
    over (compare-and-swap on the old holder, so two processes cannot both take it over), and the
    unfinished jobs of that holder for ``name`` are marked failed.
    """
    now = _now()
    expires = now + dt.timedelta(seconds=ttl_s)
    try:
        with store.engine.begin() as conn:
            conn.execute(job_leases.insert().values(name=name, owner=owner, job_id=job_id, expires_at=expires))
        return True
    except IntegrityError:
        pass
    holder = lease_holder(store, name)
    host = owner.rpartition(":")[0]
    if holder is None:  # released between our INSERT and our look: try once more
        return acquire_lease(store, name, owner=owner, ttl_s=ttl_s, alive=alive, job_id=job_id)
    if not _holder_gone(holder, host=host, alive=alive, now=now):
        return False
    with store.engine.begin() as conn:
        taken = conn.execute(job_leases.update().where(
            job_leases.c.name == name, job_leases.c.owner == holder["owner"],
            job_leases.c.expires_at == holder["expires_at"],
        ).values(owner=owner, job_id=job_id, expires_at=expires)).rowcount
        if taken != 1:
            return False
        stale = conn.execute(select(jobs.c.id, jobs.c.run_id).where(
            jobs.c.kind == name, jobs.c.owner == holder["owner"], jobs.c.status.in_(("queued", "running")))).all()
        _fail_jobs(conn, [(j, r) for j, r in stale],
                   interrupted(f"其进程 {holder['owner']} 已停止", f"its process {holder['owner']} stopped"))
    log.warning("took over the lease on %s from %s", name, holder["owner"])
    return True


def renew_lease(store: Store, name: str, *, owner: str, ttl_s: float) -> bool:
    """Push the expiry of ``owner``'s lease on ``name`` ``ttl_s`` seconds ahead; False if it was lost."""
    with store.engine.begin() as conn:
        count = conn.execute(job_leases.update().where(job_leases.c.name == name, job_leases.c.owner == owner)
                             .values(expires_at=_now() + dt.timedelta(seconds=ttl_s))).rowcount
    return bool(count)


def release_lease(store: Store, name: str, *, owner: str) -> None:
    """Give up ``owner``'s lease on ``name`` (nothing happens when someone else holds it)."""
    with store.engine.begin() as conn:
        conn.execute(delete(job_leases).where(job_leases.c.name == name, job_leases.c.owner == owner))


# -- running a job -----------------------------------------------------------------------------


def execute_job(store: Store, job_id: int, work: Callable[[Callable[[str], None]], dict[str, Any]], *,
                owner: str, alive: Callable[[int], bool], lease_ttl_s: float = 120.0) -> dict[str, Any]:
    """Run the recorded job ``job_id`` under the lease of its kind and record how it ended.

    ``work(progress)`` does the job and returns what it did (stored as the job's ``result``; a
    ``run_id`` key links the run it published). While it works, a thread renews the lease every
    third of ``lease_ttl_s``. When another live process holds the lease the job is recorded
    ``skipped``. A :class:`Village5gError` is recorded as the job's error; any other exception as
    ``内部错误 (internal error): Type: message`` and logged with its traceback. Nothing is raised: the caller
    reads the returned record (and may retry a failed job).
    """
    name = read_job(store, job_id)["kind"]
    if not acquire_lease(store, name, owner=owner, ttl_s=lease_ttl_s, alive=alive, job_id=job_id):
        holder = lease_holder(store, name) or {}
        finish_job(store, job_id, status="skipped",
                   error=f"{name} 已在运行（进程 {holder.get('owner')} 的作业 {holder.get('job_id')}） "
                         f"({name} was already running (job {holder.get('job_id')} of {holder.get('owner')}))")
        return read_job(store, job_id)
    stop = threading.Event()

    def heartbeat() -> None:
        while not stop.wait(lease_ttl_s / 3):
            if not renew_lease(store, name, owner=owner, ttl_s=lease_ttl_s):
                log.error("lost the lease on %s while running job %d", name, job_id)
                return

    beat = threading.Thread(target=heartbeat, name=f"village5g-lease-{name}", daemon=True)
    beat.start()
    try:
        start_job(store, job_id)
        result = work(job_progress(store, job_id))
    except Village5gError as exc:
        log.warning("job %d (%s) failed: %s", job_id, name, exc)
        finish_job(store, job_id, error=str(exc))
    except Exception as exc:
        log.exception("job %d (%s) failed", job_id, name)
        finish_job(store, job_id, error=f"{INTERNAL_ERROR}{type(exc).__name__}: {exc}")
    else:
        run_id = result.get("run_id")
        finish_job(store, job_id, result=result, run_id=run_id if isinstance(run_id, int) else None)
    finally:
        stop.set()
        beat.join()
        release_lease(store, name, owner=owner)
    return read_job(store, job_id)
