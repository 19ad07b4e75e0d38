"""The schedule: fire times, retries, the HTTP and CLI surfaces, and real processes.

The end-to-end tests (marked slow) start real processes on one database: a uvicorn server
(``tests/utils/api.live_server``) and ``village5g scheduler``, with ``every 2s`` refresh schedules
so a fire time comes round quickly, and the small eight-village world of ``tests/utils/api.py``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import numpy as np
import pydantic
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.scheduler import JobScheduler, due_fire_time, parse_schedule
from api.service_settings import ServiceSettings
from coverage.ingest.export import write_output
from coverage.runs.jobs import (
    INTERNAL_ERROR,
    INTERRUPTED,
    acquire_lease,
    create_job,
    error_is,
    finish_job,
    list_jobs,
    read_job,
)
from coverage.store.storage import Store
from coverage.store.tables import job_claims, jobs, runs
from tests.utils.api import app_for, key, live_server, settings_for, stop_process
from tests.worlds.row import KM_LAT, KM_LON, SITE, SOUTH, WEST, build_row_world, row_stations

FIRST, FIFTH = "321012101201", "320115100201"
SECOND_SITE = (WEST + 8.5 * KM_LON, SOUTH + 0.5 * KM_LAT)
SHANGHAI = ZoneInfo("Asia/Shanghai")
ROOT = Path(__file__).resolve().parents[1]
QUICK = {"refresh_schedule": "every 2s", "snapshot_schedule": "off", "report_schedule": "off"}


def _wait_for(condition: Callable[[], Any], *, timeout: float, what: str, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def _sqlite(tmp_path: Path, name: str = "test.db") -> Store:
    store = Store(f"sqlite:///{tmp_path / name}")
    store.create_schema()
    return store


@contextmanager
def scheduler_process(database_url: str, data_dir: Path, **env: str) -> Iterator[subprocess.Popen[bytes]]:
    """``village5g scheduler`` in a subprocess (not waited for: see :func:`_ready`); stopped on exit."""
    environment = {**os.environ, "VILLAGE5G_DATABASE_URL": database_url, "VILLAGE5G_DATA_DIR": str(data_dir),
                   **{f"VILLAGE5G_{k.upper()}": v for k, v in env.items()}}
    data_dir.mkdir(parents=True, exist_ok=True)
    log = data_dir / "scheduler.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "api.cli", "scheduler"], env=environment, stdout=out,
                                   stderr=subprocess.STDOUT, cwd=ROOT)
        try:
            yield process
        finally:
            stop_process(process, timeout=30)


def _ready(process: subprocess.Popen[bytes], log: Path) -> bool:
    if process.poll() is not None:
        raise AssertionError(f"the scheduler process exited:\n{log.read_text(errors='replace')}")
    return log.exists() and "drop folder:" in log.read_text(errors="replace")


# -- schedules and settings ----------------------------------------------------------------------


def test_cron_and_interval_schedules_give_the_fire_time_every_process_agrees_on() -> None:
    daily = parse_schedule("0 2 * * *", "Asia/Shanghai")
    assert daily is not None
    now = dt.datetime(2026, 11, 27, 3, 0, tzinfo=SHANGHAI)
    assert due_fire_time(daily, now, lookback_s=3601) == dt.datetime(2026, 11, 27, 2, 0, tzinfo=SHANGHAI)
    # 01:59 Shanghai: the last fire time (yesterday 02:00) is outside the hour of grace
    assert due_fire_time(daily, dt.datetime(2026, 11, 27, 1, 59, tzinfo=SHANGHAI), lookback_s=3601) is None
    assert daily.get_next_fire_time(None, now) == dt.datetime(2026, 11, 28, 2, 0, tzinfo=SHANGHAI)
    weekly = parse_schedule("0 6 * * mon", "Asia/Shanghai")
    assert weekly is not None  # 2026-11-27 is a Friday; the next Monday is 2026-11-30
    assert weekly.get_next_fire_time(None, now) == dt.datetime(2026, 11, 30, 6, 0, tzinfo=SHANGHAI)

    every5 = parse_schedule("every 5s", "UTC")
    assert every5 is not None  # multiples of 5 s since 2000-01-01 UTC, whenever the process started
    assert due_fire_time(every5, dt.datetime(2026, 11, 27, 0, 0, 7, tzinfo=dt.UTC), lookback_s=60) == \
        dt.datetime(2026, 11, 27, 0, 0, 5, tzinfo=dt.UTC)
    every2min = parse_schedule("every 2 min", "UTC")
    assert every2min is not None
    assert every2min.get_next_fire_time(None, dt.datetime(2026, 11, 27, 0, 1, 30, tzinfo=dt.UTC)) == \
        dt.datetime(2026, 11, 27, 0, 2, tzinfo=dt.UTC)
    assert parse_schedule(" OFF ", "UTC") is None
    for bad in ("every 0s", "bogus", "61 2 * * *", "0 2 * *"):
        with pytest.raises(ValueError, match="schedule"):
            parse_schedule(bad, "UTC")


@pytest.mark.parametrize(("field", "value", "message"), [
    ("refresh_schedule", "daily", "not a 5-field cron expression"),
    ("schedule_timezone", "Mars/Olympus", "unknown time zone"),
    ("report_regions", "32,3201", "not 32"),
    ("job_lease_s", "1", "greater than or equal to 3"),
])
def test_bad_schedule_settings_fail_at_start_up(field: str, value: str, message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        overrides: dict[str, Any] = {field: value}
        ServiceSettings(_env_file=None, **overrides)  # type: ignore[call-arg]


def test_failed_scheduled_job_is_recorded_and_retried_a_bounded_number_of_times(tmp_path: Path) -> None:
    store = _sqlite(tmp_path)
    not_a_folder = tmp_path / "drop"
    not_a_folder.write_text("a file where the drop folder should be", encoding="utf-8")
    settings = settings_for(store, tmp_path, drop_dir=not_a_folder, refresh_schedule="every 1h",
                            snapshot_schedule="off", report_schedule="off", job_retry_s=0.2, job_max_retries=2)
    scheduler = JobScheduler(store, settings, owner=f"{socket.gethostname()}:{os.getpid()}")
    scheduler.start()
    try:
        scheduler._fire("refresh")  # what APScheduler calls at the fire time
        done = _wait_for(lambda: [r for r in list_jobs(store, kind="refresh") if r["finished_at"]][2:],
                         timeout=30, what="three tries")
        time.sleep(0.8)  # a fourth try would be due by now
        records = sorted(list_jobs(store, kind="refresh"), key=lambda r: r["id"])
        assert scheduler.running  # the failures did not stop the schedule
    finally:
        scheduler.shutdown(wait=True)
    assert done and len(records) == 3
    assert [(r["attempt"], r["trigger"], r["status"]) for r in records] == [
        (1, "schedule", "failed"), (2, "retry", "failed"), (3, "retry", "failed")]
    assert len({r["scheduled_for"] for r in records}) == 1
    assert all(r["error"].startswith(f"{INTERNAL_ERROR}FileExistsError") for r in records)


# -- HTTP ------------------------------------------------------------------------------------------


def test_schedule_listing_and_admin_trigger_over_http(tmp_path: Path) -> None:
    store = _sqlite(tmp_path)
    first_run = build_row_world(store)
    app = app_for(store, tmp_path, snapshot_schedule="off")
    drop = tmp_path / "data" / "drop"
    drop.mkdir(parents=True)
    write_output("stations", row_stations([SITE, SECOND_SITE]), drop / "stations_2026-11.csv")
    with TestClient(app) as client:
        schedule = client.get("/schedule").json()
        assert schedule["timezone"] == "Asia/Shanghai" and schedule["running_here"] is True
        by_name = {j["name"]: j for j in schedule["jobs"]}
        assert list(by_name) == ["refresh", "snapshot", "report"]
        refresh_next = dt.datetime.fromisoformat(by_name["refresh"]["next_run_at"]).astimezone(SHANGHAI)
        assert (refresh_next.hour, refresh_next.minute) == (2, 0)
        report_next = dt.datetime.fromisoformat(by_name["report"]["next_run_at"]).astimezone(SHANGHAI)
        assert (report_next.weekday(), report_next.hour) == (0, 6)
        assert by_name["snapshot"]["enabled"] is False and by_name["snapshot"]["next_run_at"] is None

        assert client.post("/jobs/refresh/run").status_code == 401
        assert client.post("/jobs/refresh/run", headers=key(store, "viewer")).status_code == 403
        assert client.post("/jobs/refresh/run", headers=key(store, "admin", region="3201")).status_code == 403
        admin = key(store, "admin")
        assert client.post("/jobs/nightly/run", headers=admin).status_code == 400

        answer = client.post("/jobs/refresh/run", headers=admin)
        assert answer.status_code == 202, answer.text
        job_id = answer.json()["id"]
        assert answer.headers["Location"].endswith(f"/jobs/{job_id}")
        record = _wait_for(lambda: (r := client.get(f"/jobs/{job_id}").json())["finished_at"] and r,
                           timeout=60, what="the refresh job")
        assert record["status"] == "succeeded" and record["trigger"] == "manual", record
        assert [(f["file"], f["kind"], f["mode"]) for f in record["result"]["ingested"]] == [
            ("stations_2026-11.csv", "stations", "replace")]
        assert record["run_id"] == record["result"]["run_id"] != first_run
        fifth = client.get(f"/collections/villages/items/{FIFTH}").json()["properties"]
        assert fifth["no_site"] is False and fifth["run_id"] == record["run_id"]
        snapshot = _wait_for(lambda: [j for j in client.get("/jobs?kind=snapshot").json()["jobs"] if j["finished_at"]],
                             timeout=30, what="the snapshot after the refresh")[0]
        assert (snapshot["trigger"], snapshot["status"], snapshot["run_id"]) == (
            "after-refresh", "succeeded", record["run_id"])
        assert snapshot["result"]["rows"] == 5  # the province, 2 cities and 2 counties of the eight villages
        listed = client.get("/schedule").json()["jobs"][0]["last_job"]
        assert listed["id"] == job_id

        # a job running in a live process (this one) refuses a second run
        assert acquire_lease(store, "report", owner=f"{socket.gethostname()}:{os.getpid()}", ttl_s=600,
                             alive=lambda _p: True, job_id=41)
        busy = client.post("/jobs/report/run", headers=admin)
        assert busy.status_code == 409 and "job 41" in busy.json()["message"]

        # an internal error is hidden, as it is said now and as it was said before (stored then)
        for prefix in (INTERNAL_ERROR, "internal error: "):
            hidden = create_job(store, kind="report", parameters={}, owner="x:1", trigger="schedule")
            finish_job(store, hidden, error=f"{prefix}OperationalError: /srv/secret/path")
            assert client.get(f"/jobs/{hidden}").json()["error"] == (
                "服务器内部错误，详情见服务器日志 (internal error; the server log has the details)")
        assert INTERNAL_ERROR == "内部错误 (internal error): "


def test_stored_error_prefixes_match_as_said_now_and_as_said_before() -> None:
    assert error_is("已中断：其进程 h:1 已停止 (interrupted: its process h:1 stopped)", INTERRUPTED)
    assert error_is("interrupted: its process h:1 stopped", INTERRUPTED)  # stored before the Chinese
    assert error_is("内部错误 (internal error): KeyError: 'x'", INTERNAL_ERROR)
    assert error_is("internal error: KeyError: 'x'", INTERNAL_ERROR)
    assert not error_is("ConfigError: interrupted: no", INTERRUPTED) and not error_is(None, INTERNAL_ERROR)
    assert not error_is("ValidationError: internal error: no", INTERNAL_ERROR)


# -- real processes ------------------------------------------------------------------------------


@pytest.mark.slow
def test_two_server_processes_publish_a_dropped_export_once_and_reject_a_broken_one(store: Store,
                                                                                    tmp_path: Path) -> None:
    """A uvicorn server and ``village5g scheduler`` share one database and one drop folder."""
    first_run = build_row_world(store)
    drop = tmp_path / "drop"
    drop.mkdir()
    env = {**QUICK, "log_level": "INFO", "drop_dir": str(drop)}
    with scheduler_process(store.url, tmp_path / "b", **env) as other, live_server(store.url, tmp_path / "a", **env) \
            as url, httpx.Client(base_url=url, timeout=30) as client:
        _wait_for(lambda: _ready(other, tmp_path / "b" / "scheduler.log"), timeout=90, what="the scheduler process")
        partial = write_output("stations", row_stations([SITE, SECOND_SITE]), drop / "upload.csv.part", fmt="csv")
        partial.rename(drop / "stations_2026-11.csv")  # arrives complete

        def new_run() -> dict[str, Any] | None:
            latest = client.get("/runs", params={"limit": 1}).json()["runs"][0]
            return latest if latest["status"] == "published" and latest["id"] != first_run else None

        run = _wait_for(new_run, timeout=90, what="a new published run", interval=0.5)
        first = client.get(f"/collections/villages/items/{FIRST}").json()["properties"]
        fifth = client.get(f"/collections/villages/items/{FIFTH}").json()["properties"]
        assert fifth["run_id"] == run["id"]
        assert (fifth["verdict"], fifth["no_site"]) == (first["verdict"], False)

        (drop / "stations_broken.csv").write_text(
            "site_id,operator,band,lon,lat\nA,CMCC,n41,119.41,32.40\nB,CMCC,n99,119.42,32.40\n", encoding="utf-8")

        def rejection() -> dict[str, Any] | None:
            for job in client.get("/jobs", params={"kind": "refresh", "limit": 50}).json()["jobs"]:
                for item in (job.get("result") or {}).get("rejected", []):
                    if item["file"] == "stations_broken.csv":
                        return item
            return None

        item = _wait_for(rejection, timeout=60, what="the rejection of the broken file", interval=0.5)
        assert "第 2 行" in item["problems"][0] and "n99" in item["problems"][0]
        assert (drop / "rejected" / f"{Path(item['moved_to']).name}.error.txt").exists()
        time.sleep(2)  # one more fire time with both processes up
        assert client.get("/runs", params={"limit": 1}).json()["runs"][0]["id"] == run["id"]
        again = client.get(f"/collections/villages/items/{FIFTH}").json()["properties"]
        assert (again["run_id"], again["verdict"]) == (run["id"], fifth["verdict"])

    with store.engine.connect() as conn:
        per_fire = conn.execute(select(jobs.c.scheduled_for, func.count()).where(jobs.c.kind == "refresh")
                                .group_by(jobs.c.scheduled_for)).all()
        claims = conn.execute(select(func.count()).select_from(job_claims).where(job_claims.c.name == "refresh")
                              ).scalar_one()
        statuses = conn.execute(select(jobs.c.status).where(jobs.c.kind == "refresh")).scalars().all()
        published = conn.execute(select(func.count()).select_from(runs).where(runs.c.status == "published")
                                 ).scalar_one()
    assert len(per_fire) >= 3, per_fire
    assert all(count == 1 for _, count in per_fire), per_fire  # each due refresh ran once
    assert claims == len(per_fire)
    assert set(statuses) <= {"succeeded", "skipped"} and "succeeded" in statuses
    assert published == 2  # the seed run and the one of the dropped export: not one per process
    stored = store.last_ingests(50)
    assert (stored["file_name"] == "stations_2026-11.csv").sum() == 1
    fire_times = sorted(t for t, _ in per_fire)
    assert all((b - a).total_seconds() % 2 == 0 for a, b in itertools.pairwise(fire_times))
    logs = [p.read_text(errors="replace") for p in (tmp_path / "a").glob("server-*.log")]
    logs.append((tmp_path / "b" / "scheduler.log").read_text(errors="replace"))
    assert sum(text.count("runs in another process") for text in logs) >= 1  # both fired; one ran


@pytest.mark.slow
def test_killed_refresh_leaves_the_previous_run_and_the_next_refresh_succeeds(tmp_path: Path) -> None:
    store = _sqlite(tmp_path)
    first_run = build_row_world(store)
    data = tmp_path / "data"
    drop = data / "drop"
    drop.mkdir(parents=True)
    rng = np.random.default_rng(7)  # 400 sites at 10 m make the analysis last a few seconds
    sites = [(WEST + rng.uniform(0, 15) * KM_LON, SOUTH + rng.uniform(-1, 2) * KM_LAT) for _ in range(400)]
    write_output("stations", row_stations(sites), drop / "stations_dense.csv")

    def running_run() -> int | None:
        """The run of the refresh job once the job names it (its analysis is under way)."""
        with store.engine.connect() as conn:
            return conn.execute(select(runs.c.id).join(jobs, jobs.c.run_id == runs.c.id).where(
                runs.c.status == "running", jobs.c.kind == "refresh", jobs.c.status == "running")).scalar()

    with scheduler_process(store.url, data, **QUICK, refresh_resolution_m="10") as process:
        killed_run = _wait_for(running_run, timeout=120, what="the refresh's analysis to start", interval=0.02)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    assert store.latest_run_id() == first_run  # the previous run is still the one served
    assert store.read_run(killed_run)["status"] == "running"
    stale = list_jobs(store, kind="refresh")[0]
    assert stale["status"] == "running"

    settings = settings_for(store, tmp_path, **QUICK)
    assert settings.resolved_drop_dir == drop
    job_id = JobScheduler(store, settings, owner=f"{socket.gethostname()}:{os.getpid()}").trigger_now(
        "refresh", wait=True)
    record = read_job(store, job_id)
    assert record["status"] == "succeeded", record
    assert record["result"]["ingested"] == [] and record["result"]["duplicates"] == []  # stored before the kill
    assert store.latest_run_id() == record["run_id"] != first_run
    assert store.read_run(killed_run)["status"] == "failed"
    assert read_job(store, stale["id"])["status"] == "failed"
    assert store.counts()["stations"] == 1200


# -- CLI -------------------------------------------------------------------------------------------


def test_jobs_run_and_jobs_list_on_the_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from api.cli import app

    store = _sqlite(tmp_path)
    first_run = build_row_world(store)
    data = tmp_path / "data"
    drop = data / "drop"
    drop.mkdir(parents=True)
    write_output("stations", row_stations([SITE, SECOND_SITE]), drop / "stations_2026-11.gpkg")
    (drop / "measurements_bad.csv").write_text("lon,lat,operator,rsrp_dbm\n119.41,32.40,CMCC,-20\n", encoding="utf-8")
    monkeypatch.setenv("VILLAGE5G_DATA_DIR", str(data))
    runner = CliRunner()

    ran = runner.invoke(app, ["--db", store.url, "jobs", "run", "refresh"], catch_exceptions=False)
    assert ran.exit_code == 0, ran.output
    new_run = store.latest_run_id()
    assert new_run is not None and new_run != first_run
    assert (f"作业 1 refresh：成功 (job 1 refresh: succeeded)；入库 1 个文件 (1 ingested)；拒收 1 个文件 (1 rejected)；"
            f"已发布运行 {new_run} (published run {new_run})" in ran.output)
    assert "作业 2 snapshot：成功 (job 2 snapshot: succeeded)；已记录 (recorded)；KPI 5 行 (5 KPI rows)" in ran.output
    assert "measurements_bad.csv，第 1 行，字段 'rsrp_dbm'" in ran.output

    listed = runner.invoke(app, ["--db", store.url, "jobs", "--limit", "1"], catch_exceptions=False)
    assert listed.exit_code == 0 and "1 job(s)" in listed.output and "snapshot" in listed.output
    assert "成功 (succeeded)" in listed.output
    unknown = runner.invoke(app, ["--db", store.url, "jobs", "run", "nightly"])
    assert unknown.exit_code == 2
