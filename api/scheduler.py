"""Scheduled jobs: ``refresh``, ``snapshot`` and ``report`` on APScheduler 3.x.

* ``refresh`` (default daily 02:00 Asia/Shanghai): :func:`coverage.runs.refresh.refresh` ingests new
  exports from the drop folder, analyses and publishes; when it published a run, a ``snapshot`` of
  that run follows at once (job trigger ``after-refresh``).
* ``snapshot`` (default daily 03:00): :func:`coverage.runs.history.record_snapshot` of the latest
  published run (idempotent per run).
* ``report`` (default Mondays 06:00): the XLSX and HTML reports of the latest run, the province's and
  those of ``VILLAGE5G_REPORT_REGIONS``, under ``<data dir>/reports/<YYYY-MM-DD>/``.

Each process that runs a :class:`JobScheduler` (every API worker with ``VILLAGE5G_SCHEDULER=1``, or
``village5g scheduler``) fires the same jobs at the same times; the first to claim a fire time in the
database runs it and the others skip it (:func:`coverage.runs.jobs.claim_fire`), and a lease per job name
keeps a manual trigger from running beside it. Missed fire times coalesce into one run (within
``misfire_grace_s``). A failed job is recorded with its error and tried again after ``job_retry_s``,
at most ``job_max_retries`` times; no exception leaves a job thread, so a job never takes the
service down.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from apscheduler.executors.pool import ThreadPoolExecutor as PoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from api.schedules import due_fire_time, parse_schedule
from coverage.errors import NO_PUBLISHED_RUN, NotFoundError, bi
from coverage.runs.jobs import (
    JobBusyError,
    claim_fire,
    create_job,
    execute_job,
    fail_orphans,
    list_jobs,
    live_lease,
    process_alive,
    read_job,
)
from coverage.store.storage import Store

if TYPE_CHECKING:
    from api.service_settings import ServiceSettings

log = logging.getLogger("village5g.scheduler")

#: The scheduled jobs, in the order they are listed.
JOB_NAMES = ("refresh", "snapshot", "report")

class JobScheduler:
    """The scheduled jobs of one process over ``store``, configured by ``settings``.

    :meth:`start` begins firing them (in background threads); :meth:`trigger_now` runs one at once
    (admins, ``village5g jobs run``) whether or not the schedule is running.
    """

    def __init__(self, store: Store, settings: ServiceSettings, *, owner: str) -> None:
        self.store = store
        self.settings = settings
        self.owner = owner
        self.host = owner.rpartition(":")[0]
        self.timezone = ZoneInfo(settings.schedule_timezone)
        self.schedules = {name: str(getattr(settings, f"{name}_schedule")) for name in JOB_NAMES}
        self.triggers = {name: parse_schedule(text, settings.schedule_timezone)
                         for name, text in self.schedules.items()}
        self._scheduler = BackgroundScheduler(
            timezone=self.timezone, executors={"default": PoolExecutor(max_workers=len(JOB_NAMES) + 1)},
            job_defaults={"coalesce": True, "misfire_grace_time": settings.misfire_grace_s, "max_instances": 1},
        )
        self._manual = ThreadPoolExecutor(max_workers=1, thread_name_prefix="village5g-manual-job")
        self._users = 0

    @property
    def running(self) -> bool:
        """Whether the schedule is firing in this process."""
        return bool(self._scheduler.running)

    def start(self) -> None:
        """Fail the jobs of dead processes of this host, then start firing the enabled jobs.

        Starting a running scheduler only counts another user (an app's lifespan entered twice);
        it stops when the last one calls :meth:`shutdown`.
        """
        self._users += 1
        if self._users > 1:
            return
        failed = fail_orphans(self.store, host=self.host, alive=process_alive)
        if failed:
            log.warning("marked %d interrupted job(s) failed", failed)
        for name, trigger in self.triggers.items():
            if trigger is not None:
                self._scheduler.add_job(self._fire, trigger, args=[name], id=name, name=name, replace_existing=True)
        self._scheduler.start()
        log.info("scheduler started: %s", ", ".join(f"{n} {s}" for n, s in self.schedules.items()))

    def shutdown(self, *, wait: bool = False) -> None:
        """Stop firing (a job that is running finishes; pending retries are dropped); :meth:`start` may follow."""
        self._users = max(self._users - 1, 0)
        if self._users:
            return
        if self._scheduler.running:
            self._scheduler.shutdown(wait=wait)
            self._scheduler.remove_all_jobs()
        self._manual.shutdown(wait=wait, cancel_futures=True)
        self._manual = ThreadPoolExecutor(max_workers=1, thread_name_prefix="village5g-manual-job")

    # -- what is scheduled -------------------------------------------------------------------

    def next_fire_time(self, name: str) -> dt.datetime | None:
        """When ``name`` fires next (None when it is off)."""
        job = self._scheduler.get_job(name) if self._scheduler.running else None
        if job is not None:
            return job.next_run_time
        trigger = self.triggers[name]
        return trigger.get_next_fire_time(None, dt.datetime.now(self.timezone)) if trigger is not None else None

    def schedule(self) -> list[dict[str, Any]]:
        """Each job: its schedule, next fire time, whether a process runs it now, and its latest record."""
        out = []
        for name in JOB_NAMES:
            latest = list_jobs(self.store, limit=1, kind=name)
            holder = live_lease(self.store, name, host=self.host, alive=process_alive)
            out.append({"name": name, "schedule": self.schedules[name], "enabled": self.triggers[name] is not None,
                        "next_run_at": self.next_fire_time(name), "running_job": holder["job_id"] if holder else None,
                        "last_job": latest[0] if latest else None})
        return out

    # -- running jobs ------------------------------------------------------------------------

    def trigger_now(self, name: str, *, requested_by: str | None = None, wait: bool = False) -> int:
        """Record a manual run of job ``name`` and run it (in the background unless ``wait``); its job id.

        Raises :class:`NotFoundError` for an unknown job and :class:`JobBusyError` while it runs.
        """
        if name not in JOB_NAMES:
            raise NotFoundError(f"没有定时任务 {name!r}；定时任务有 {'、'.join(JOB_NAMES)} "
                                f"(no scheduled job {name!r}; the jobs are {', '.join(JOB_NAMES)})")
        holder = live_lease(self.store, name, host=self.host, alive=process_alive)
        if holder is not None:
            raise JobBusyError(f"定时任务 {name} 正作为任务 {holder['job_id']} 运行，请等待它完成（GET /jobs/"
                               f"{holder['job_id']}） ({name} is running as job {holder['job_id']}; wait for it "
                               f"(GET /jobs/{holder['job_id']}))")
        job_id = create_job(self.store, kind=name, parameters={}, owner=self.owner, requested_by=requested_by,
                            trigger="manual")
        if wait:
            self._execute(job_id, name, scheduled_for=None, attempt=1)
        else:
            self._manual.submit(self._guarded, self._execute, job_id, name, None, 1)
        return job_id

    def _guarded(self, action: Callable[..., None], *args: Any) -> None:
        """Run ``action``; log whatever it raises (a database outage), never let it out of the thread."""
        try:
            action(*args)
        except Exception:
            log.exception("scheduled job step %s%r failed", getattr(action, "__name__", action), args)

    def _fire(self, name: str) -> None:
        """APScheduler's entry point: claim this fire time and run the job if the claim is ours."""
        self._guarded(self._fire_claimed, name)

    def _fire_claimed(self, name: str) -> None:
        trigger = self.triggers[name]
        now = dt.datetime.now(dt.UTC)
        fire = (due_fire_time(trigger, now, lookback_s=self.settings.misfire_grace_s + 1) if trigger else None) \
            or now.replace(microsecond=0)
        if not claim_fire(self.store, name, fire, owner=self.owner):
            log.info("%s for %s runs in another process", name, fire.isoformat())
            return
        job_id = create_job(self.store, kind=name, parameters={}, owner=self.owner, trigger="schedule",
                            scheduled_for=fire)
        self._execute(job_id, name, scheduled_for=fire, attempt=1)

    def _retry(self, name: str, scheduled_for: dt.datetime, attempt: int) -> None:
        self._guarded(self._retry_claimed, name, scheduled_for, attempt)

    def _retry_claimed(self, name: str, scheduled_for: dt.datetime, attempt: int) -> None:
        if not claim_fire(self.store, name, scheduled_for, owner=self.owner, attempt=attempt):
            return
        job_id = create_job(self.store, kind=name, parameters={}, owner=self.owner, trigger="retry",
                            scheduled_for=scheduled_for, attempt=attempt)
        self._execute(job_id, name, scheduled_for=scheduled_for, attempt=attempt)

    def _execute(self, job_id: int, name: str, scheduled_for: dt.datetime | None, attempt: int) -> None:
        record = execute_job(self.store, job_id, self._work(name, job_id), owner=self.owner, alive=process_alive,
                             lease_ttl_s=self.settings.job_lease_s)
        if record["status"] == "failed" and scheduled_for is not None:
            self._schedule_retry(name, scheduled_for, attempt)
        run_id = (record.get("result") or {}).get("run_id")
        if name == "refresh" and record["status"] == "succeeded" and run_id:
            snapshot = create_job(self.store, kind="snapshot", parameters={"run_id": run_id}, owner=self.owner,
                                  trigger="after-refresh")
            self._execute(snapshot, "snapshot", scheduled_for=None, attempt=1)

    def _schedule_retry(self, name: str, scheduled_for: dt.datetime, attempt: int) -> None:
        if attempt > self.settings.job_max_retries:
            log.error("%s for %s failed %d time(s); next try at its next fire time", name,
                      scheduled_for.isoformat(), attempt)
            return
        if not self._scheduler.running:
            return
        when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self.settings.job_retry_s)
        self._scheduler.add_job(self._retry, "date", run_date=when, args=[name, scheduled_for, attempt + 1],
                                id=f"{name}-retry-{scheduled_for.timestamp():.0f}-{attempt + 1}",
                                name=f"{name} retry {attempt + 1}", replace_existing=True)
        log.warning("%s for %s failed; try %d at %s", name, scheduled_for.isoformat(), attempt + 1, when.isoformat())

    def _work(self, name: str, job_id: int) -> Callable[[Callable[[str], None]], dict[str, Any]]:
        """What job ``name`` does, as :func:`coverage.runs.jobs.execute_job` runs it."""
        if name == "refresh":
            return self._refresh
        if name == "snapshot":
            run_id = read_job(self.store, job_id)["parameters"].get("run_id")
            return lambda progress: self._snapshot(progress, run_id)
        return self._report

    def _refresh(self, progress: Callable[[str], None]) -> dict[str, Any]:
        from coverage.limits import Limits
        from coverage.model.parameters import ModelParameters
        from coverage.model.rules import DEFAULT_RULES
        from coverage.runs.refresh import refresh

        result = refresh(self.store, self.settings.resolved_drop_dir, rules=DEFAULT_RULES,
                         params=ModelParameters(resolution_m=self.settings.refresh_resolution_m),
                         artifacts_dir=self.settings.data_dir.resolve() / "runs", progress=progress,
                         limits=Limits(max_grid_pixels=self.settings.max_grid_pixels))
        return result.to_dict()

    def _snapshot(self, progress: Callable[[str], None], run_id: int | None) -> dict[str, Any]:
        from coverage.runs.history import record_snapshot

        run_id = run_id if run_id is not None else self.store.latest_run_id()
        if run_id is None:
            return {"rows": 0, "note": NO_PUBLISHED_RUN}
        progress(bi(f"记录运行 {run_id} 的 KPI", f"recording the KPIs of run {run_id}"))
        rows = record_snapshot(self.store, run_id)
        return {"run_id": run_id, "rows": rows,
                "note": bi("已记录", "recorded") if rows else bi("该运行的 KPI 此前已记录",
                                                                  "this run's KPIs were recorded before")}

    def _report(self, progress: Callable[[str], None]) -> dict[str, Any]:
        from coverage.reports.workbook import write_report_xlsx
        from maps.report import write_report_html

        run_id = self.store.latest_run_id()
        if run_id is None:
            return {"files": [], "note": NO_PUBLISHED_RUN}
        folder = self.settings.data_dir.resolve() / "reports" / dt.datetime.now(self.timezone).date().isoformat()
        files = []
        for region in (None, *self.settings.report_region_codes):
            stem = region or "province"
            progress(bi(f"写出运行 {run_id} 的报告：{'全省' if region is None else region}",
                        f"writing the {stem} report of run {run_id}"))
            files.append(write_report_xlsx(self.store, folder / f"{stem}.xlsx", region=region, run_id=run_id))
            files.append(write_report_html(self.store, folder / f"{stem}.html", region=region, run_id=run_id))
        return {"run_id": run_id, "files": [str(p) for p in files]}
