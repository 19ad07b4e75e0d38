"""CLI commands of the schedule: ``village5g scheduler``, ``village5g jobs`` and ``village5g jobs run NAME``.

Registered on the main typer app in :mod:`api.cli.root`; settings as for ``serve`` (``VILLAGE5G_*``).
"""

from __future__ import annotations

import datetime as dt
import signal
import threading
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.markup import escape

from api.cli.context import console, err_console, heading, print_rows, tag
from api.cli.context import open_service_store as _store
from api.cli.context import service_settings as _settings
from api.jobs import owner_id
from api.scheduler import JobScheduler
from coverage.errors import bi

jobs_app = typer.Typer(name="jobs", help="作业历史（分析、刷新、快照、报告）；立即运行定时作业。\n\n"
                                        "Job history (analyses, refresh, snapshot, report); run a scheduled job now.",
                       invoke_without_command=True)


class JobName(StrEnum):
    refresh = "refresh"
    snapshot = "snapshot"
    report = "report"


#: The Chinese of a job's status, in the line ``jobs run`` prints.
STATUS_ZH = {"queued": "排队中", "running": "运行中", "succeeded": "成功", "failed": "失败", "skipped": "已跳过"}


def _when(value: dt.datetime | None) -> str:
    return f"{value:%m-%d %H:%M:%S}" if value is not None else ""


#: How the file lists of a refresh's result are counted: ``入库 2 个文件 (2 ingested)``.
_FILES_ZH = {"ingested": "入库", "duplicates": "重复", "rejected": "拒收"}


def _outcome(record: dict[str, Any]) -> str:
    """One line of what a job did: its error, or a digest of its result, each part Chinese first
    (``入库 1 个文件 (1 ingested)；已发布运行 5 (published run 5)``; an analysis or note a job stored
    before these were said in Chinese is shown as stored)."""
    if record.get("error"):
        return str(record["error"])
    result = record.get("result") or {}
    parts = []
    for key, zh in _FILES_ZH.items():
        if result.get(key):
            n = len(result[key])
            parts.append(bi(f"{zh} {n} 个文件", f"{n} {key}"))
    for key in ("analysis", "note"):
        if result.get(key):
            parts.append(str(result[key]))
    if "rows" in result:
        parts.append(bi(f"KPI {result['rows']} 行", f"{result['rows']} KPI rows"))
    if result.get("files"):
        parts.append(bi(f"写出文件 {len(result['files'])} 个", f"{len(result['files'])} files"))
    return "；".join(parts) or str(record.get("progress") or "")


@jobs_app.callback()
def jobs_list(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help=bi("显示的作业数", "Jobs shown, newest first"), min=1)] = 20,
    kind: Annotated[str | None, typer.Option(help=bi("只列该类作业",
                                                     "Only analysis, refresh, snapshot or report jobs"))] = None,
) -> None:
    """作业历史，最新的在前（不带子命令时）。

    The job history, newest first (without a sub-command)."""
    if ctx.invoked_subcommand is not None:
        return
    from coverage.runs.jobs import list_jobs

    with _store(_settings()) as store:
        records = list_jobs(store, limit=limit, kind=kind)
    rows = [[str(r["id"]), r["kind"], bi(STATUS_ZH.get(r["status"], r["status"]), r["status"]), r.get("trigger") or "",
             _when(r.get("scheduled_for") or r["started_at"] or r["created_at"]), str(r.get("attempt") or ""),
             str(r["run_id"] or ""), escape(_outcome(r))] for r in records]
    print_rows(bi(f"{len(records)} 个作业，最新的在前（UTC 时间）", f"{len(records)} job(s), newest first (times UTC)"),
               [heading("编号", "id"), heading("类型", "kind"), heading("状态", "status"), heading("触发", "trigger"),
                heading("触发/开始", "fire/start"), heading("次数", "try"), heading("运行", "run"),
                heading("结果", "outcome")], rows, left=5, fold=7)


@jobs_app.command("run")
def jobs_run(name: Annotated[JobName, typer.Argument(help=bi("要立即运行的作业", "The job to run now"))]) -> None:
    """立即在本进程中运行一个定时作业并等待。

    Run a scheduled job now in this process and wait for it (it is recorded like a scheduled run)."""
    from coverage.runs.jobs import read_job

    settings = _settings()
    with _store(settings) as store:
        scheduler = JobScheduler(store, settings, owner=owner_id())
        job_id = scheduler.trigger_now(name.value, wait=True)
        record = read_job(store, job_id)
        follow = _followers(store, record)
    for r in (record, *follow):
        head = bi(f"作业 {r['id']} {r['kind']}：{STATUS_ZH.get(r['status'], r['status'])}",
                  f"job {r['id']} {r['kind']}: {r['status']}")
        console.print(f"{head}；{escape(_outcome(r))}", soft_wrap=True)
        for rejected in (r.get("result") or {}).get("rejected", []):
            err_console.print(f"{tag('rejected')} {rejected['file']} -> {rejected['moved_to']}: "
                              + "; ".join(rejected["problems"][:3]), soft_wrap=True)
    if record["status"] != "succeeded":
        raise typer.Exit(1)


def _followers(store: Any, record: dict[str, Any]) -> list[dict[str, Any]]:
    """The snapshot a refresh started after it published a run."""
    from coverage.runs.jobs import list_jobs

    run_id = (record.get("result") or {}).get("run_id")
    if record["kind"] != "refresh" or not run_id:
        return []
    return [r for r in list_jobs(store, limit=20, kind="snapshot")
            if r.get("trigger") == "after-refresh" and r["parameters"].get("run_id") == run_id][:1]


def scheduler() -> None:
    """在本进程中运行定时作业（刷新、快照、报告），直到 Ctrl-C 或 SIGTERM。

    Run the scheduled jobs (refresh, snapshot, report) in this process until Ctrl-C or SIGTERM.

    For deployments whose API runs with VILLAGE5G_SCHEDULER=0, or without an API. Several scheduler
    processes (and API workers) may run against one database: each due job runs once.
    """
    from api.logs import configure_logging

    settings = _settings()
    configure_logging(settings.log_level)
    stop = threading.Event()
    with _store(settings) as store:
        jobs = JobScheduler(store, settings, owner=owner_id())
        jobs.start()
        for name in jobs.schedules:
            when, upcoming = f"{jobs.schedules[name]} ({settings.schedule_timezone})", jobs.next_fire_time(name)
            err_console.print(bi(f"{name}：{when}；下次 {upcoming or '不再运行'}",
                                 f"{name}: {when}; next {upcoming or 'never'}"), soft_wrap=True)
        drop = settings.resolved_drop_dir  # 'drop folder: ' is the line that says the process is ready
        err_console.print(bi(f"投放文件夹：{drop}", f"drop folder: {drop}"), soft_wrap=True)
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        stop.wait()
        err_console.print(bi("正在停止：运行中的作业先完成", "stopping: a job that is running finishes first"))
        jobs.shutdown(wait=True)
