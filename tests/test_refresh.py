"""The refresh (drop folder -> ingest -> analyse -> publish), job locks and the job runner, on SQLite and PostGIS.

The world is the eight-village row of ``tests/utils/api.py``: one site at the centre of the first
village, so the fifth village (320115100201, 8-9 km east) has no site and is uncovered. A station
export adding a second site at the fifth village's centre must make that village what the first one
is (same square, same site, same distance to the committee/representative point).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from coverage.errors import ValidationError, Village5gError
from coverage.ingest import file_sha256, read_input
from coverage.ingest.export import write_output
from coverage.model.rules import DEFAULT_RULES
from coverage.runs.analysis import run_analysis
from coverage.runs.jobs import (
    INTERNAL_ERROR,
    acquire_lease,
    claim_fire,
    create_job,
    execute_job,
    job_progress,
    lease_holder,
    read_job,
    release_lease,
    run_of_step,
    run_step,
    set_progress,
    start_job,
)
from coverage.runs.refresh import RefreshResult, classify, inputs_changed, pending_files, refresh
from coverage.store.storage import IngestRecord, Store
from coverage.store.tables import ingests, job_leases, runs, stations
from tests.worlds.row import KM_LAT, KM_LON, PARAMS, SITE, SOUTH, WEST, build_row_world, row_stations

FIFTH = "320115100201"
FIRST = "321012101201"
SECOND_SITE = (WEST + 8.5 * KM_LON, SOUTH + 0.5 * KM_LAT)
HOST = socket.gethostname()
NOW = dt.datetime(2026, 11, 27, 2, 0, 0)


def _verdicts(store: Store, run_id: int | None = None) -> dict[str, tuple[str, bool]]:
    results = store.read_results(run_id)
    return {c: (v, bool(n)) for c, v, n in zip(results["code"], results["verdict"], results["no_site"], strict=True)}


def _refresh(store: Store, drop: Path) -> RefreshResult:
    return refresh(store, drop, rules=DEFAULT_RULES, params=PARAMS, now=lambda: NOW)


def test_new_station_export_is_ingested_analysed_and_published(store: Store, tmp_path: Path) -> None:
    first_run = build_row_world(store)
    before = _verdicts(store)
    assert before[FIFTH] == ("uncovered", True)
    drop = tmp_path / "drop"
    drop.mkdir()
    export = write_output("stations", row_stations([SITE, SECOND_SITE]), drop / "stations_2026-11.csv")

    result = _refresh(store, drop)

    assert result.run_id is not None and result.run_id > (first_run or 0)
    assert store.latest_run_id() == result.run_id
    after = _verdicts(store)
    assert after[FIFTH] == before[FIRST]  # the same square with the same site at its centre
    assert after[FIFTH][1] is False
    assert result.ingested == [{"file": "stations_2026-11.csv", "kind": "stations", "rows": 6,
                                "sha256": result.ingested[0]["sha256"], "mode": "replace", "warnings": 0}]
    assert store.counts()["stations"] == 6  # replaced, not appended to the 3 stored cells
    assert not export.exists()
    assert [p.name for p in (drop / "processed").iterdir()] == ["20261127T020000Z_stations_2026-11.csv"]
    assert pending_files(drop) == []

    # the same bytes again: skipped by checksum, nothing new to analyse
    write_output("stations", row_stations([SITE, SECOND_SITE]), drop / "stations_again.csv")
    again = _refresh(store, drop)
    assert again.duplicates == ["stations_again.csv"] and again.ingested == [] and again.run_id is None
    assert store.latest_run_id() == result.run_id


def test_broken_file_is_moved_aside_with_a_report_and_the_previous_run_stays(store: Store, tmp_path: Path) -> None:
    run_id = build_row_world(store)
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "stations_broken.csv").write_text(
        "site_id,operator,band,lon,lat\nA,CMCC,n41,119.41,32.40\nB,XYZ,n41,119.42,32.40\n", encoding="utf-8")
    (drop / "readme.txt").write_text("not an export", encoding="utf-8")
    (drop / "measurements_upload.csv.part").write_text("still being copied", encoding="utf-8")

    result = _refresh(store, drop)

    assert result.run_id is None and result.ingested == []
    assert store.latest_run_id() == run_id and store.counts()["stations"] == 3
    assert [r["file"] for r in result.rejected] == ["readme.txt", "stations_broken.csv"]
    rejected = drop / "rejected"
    report = (rejected / "20261127T020000Z_stations_broken.csv.error.txt").read_text(encoding="utf-8")
    assert "stations_broken.csv，第 2 行，字段 'operator'" in report and "XYZ" in report
    assert report.startswith("文件 (file): stations_broken.csv\n类型 (kind): 基站 (stations)\n")
    assert "此文件的内容均未存储，问题如下 (nothing of this file was stored; problems):\n" in report
    document = json.loads((rejected / "20261127T020000Z_stations_broken.csv.error.json").read_text(encoding="utf-8"))
    assert document["kind"] == "stations"
    assert [(p["row"], p["field"]) for p in document["problems"]] == [(2, "operator")]
    assert (rejected / "20261127T020000Z_stations_broken.csv").exists()
    assert "must start with villages, stations or measurements" in (
        rejected / "20261127T020000Z_readme.txt.error.txt").read_text(encoding="utf-8")
    # the unfinished upload is left alone; the rejected files are never read again
    assert pending_files(drop) == []
    assert (drop / "measurements_upload.csv.part").exists()
    assert _refresh(store, drop).rejected == []


def test_a_file_stored_before_a_crash_is_not_stored_twice_and_its_analysis_runs(store: Store, tmp_path: Path) -> None:
    run_id = build_row_world(store)
    drop = tmp_path / "drop"
    drop.mkdir()
    export = write_output("stations", row_stations([SITE, SECOND_SITE]), drop / "stations.geojson")
    # the crashed refresh had stored the file (one transaction) but neither moved it nor analysed
    read = read_input("stations", export)
    store.write("stations", read.frame, replace=True, record=IngestRecord(
        kind="stations", file_name=read.file_name, sha256=file_sha256(export)))
    assert inputs_changed(store)

    result = _refresh(store, drop)

    assert result.duplicates == ["stations.geojson"] and result.ingested == []
    assert result.run_id is not None and result.run_id != run_id
    assert _verdicts(store)[FIFTH][1] is False
    assert not inputs_changed(store)


def test_classify_reads_kind_and_declared_crs_from_the_name() -> None:
    assert classify(Path("Stations_GCJ02_2026-05.csv")) == ("stations", "gcj02")
    assert classify(Path("villages.epsg4549.gpkg")) == ("villages", "EPSG:4549")
    assert classify(Path("measurements-drive-2026.xlsx")) == ("measurements", None)
    with pytest.raises(ValidationError, match="several coordinate systems"):
        classify(Path("stations_gcj02_wgs84.csv"))
    with pytest.raises(ValidationError, match=r"unsupported file type '\.xls'"):
        classify(Path("stations.xls"))


def test_shapefile_sidecars_are_not_listed_on_their_own(tmp_path: Path) -> None:
    for name in ("villages.shp", "villages.dbf", "villages.shx", "villages.prj", "stations.dbf", ".hidden.csv"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in pending_files(tmp_path)] == ["stations.dbf", "villages.shp"]


def test_first_claim_of_a_fire_time_wins_and_dead_or_expired_leases_are_taken_over(store: Store) -> None:
    fire = dt.datetime(2026, 11, 26, 18, 0, tzinfo=dt.UTC)  # 02:00 in Shanghai
    assert claim_fire(store, "refresh", fire, owner="a:1") is True
    assert claim_fire(store, "refresh", fire, owner="b:2") is False
    assert claim_fire(store, "refresh", fire.replace(tzinfo=None), owner="b:2") is False  # same instant, naive UTC
    assert claim_fire(store, "refresh", fire, owner="b:2", attempt=2) is True
    assert claim_fire(store, "snapshot", fire, owner="b:2") is True

    dead_pid = 2**22 + 12345  # above the kernel's pid_max default: no such process
    dead = f"{HOST}:{dead_pid}"
    alive = lambda pid: pid != dead_pid  # noqa: E731
    job_id = create_job(store, kind="refresh", parameters={}, owner=dead, trigger="schedule")
    start_job(store, job_id)
    run_id = store.start_run(rules={}, parameters={}, inputs={}, code_version="t")
    set_progress(store, job_id, f"run {run_id}: analysing", run_id=run_id)
    assert acquire_lease(store, "refresh", owner=dead, ttl_s=600, alive=alive, job_id=job_id)

    assert not acquire_lease(store, "refresh", owner="elsewhere:1", ttl_s=600, alive=alive)  # other host, not expired
    me = f"{HOST}:{os.getpid()}"
    assert acquire_lease(store, "refresh", owner=me, ttl_s=600, alive=alive)
    assert (lease_holder(store, "refresh") or {})["owner"] == me
    assert read_job(store, job_id)["status"] == "failed" and "stopped" in read_job(store, job_id)["error"]
    assert store.read_run(run_id)["status"] == "failed"
    release_lease(store, "refresh", owner="someone else")
    assert lease_holder(store, "refresh") is not None
    release_lease(store, "refresh", owner=me)
    assert lease_holder(store, "refresh") is None

    # a lease of another host is taken over only once it expired
    assert acquire_lease(store, "report", owner="other-host:7", ttl_s=600, alive=alive)
    assert not acquire_lease(store, "report", owner=me, ttl_s=600, alive=alive)
    with store.engine.begin() as conn:
        conn.execute(job_leases.update().values(expires_at=dt.datetime(2000, 1, 1)))
    assert acquire_lease(store, "report", owner=me, ttl_s=600, alive=alive)


def test_the_step_naming_the_run_links_the_job_to_it(store: Store) -> None:
    """run_analysis says which run it records in the step job_progress reads the run id from (one
    definition, run_step/run_of_step), Chinese first, in one process and partitioned; other steps link
    nothing. The row world: 8 villages, 3 cells, 7 measurements."""
    assert run_step(12, "行政村 3", "3 villages") == "运行 12：行政村 3 (run 12: 3 villages)"
    assert run_of_step(run_step(12, "行政村 3", "3 villages")) == 12
    assert run_of_step("run 12: 3 villages") is None and run_of_step("栅格 运行 12：") is None
    build_row_world(store, analyze=False)
    me = f"{HOST}:{os.getpid()}"
    for partition_villages in (None, 1):
        job_id = create_job(store, kind="analysis", parameters={}, owner=me)
        start_job(store, job_id)
        record, steps, linked = job_progress(store, job_id), [], []

        def progress(message: str, record: Callable[[str], None] = record, steps: list[str] = steps,
                     linked: list[str] = linked, job_id: int = job_id) -> None:
            steps.append(message)
            record(message)
            run_id = read_job(store, job_id)["run_id"]
            if run_id is not None:  # linked while the run is still running (fail_orphans can fail both)
                assert store.read_run(run_id)["status"] == "running"
                linked.append(message)

        run = run_analysis(store, rules=DEFAULT_RULES, params=PARAMS, progress=progress,
                           partition_villages=partition_villages)
        assert read_job(store, job_id)["run_id"] == run.run_id
        assert read_job(store, job_id)["progress"] == steps[-1]
        named = [m for m in steps if run_of_step(m) is not None]
        assert named == [f"运行 {run.run_id}：行政村 8，小区 3，测量 7 (run {run.run_id}: 8 villages, 3 cells, "
                         "7 measurements)"]
        assert linked[0] == named[0]  # linked from that step on, not before


def test_execute_job_records_success_failure_and_skip(store: Store) -> None:
    me = f"{HOST}:{os.getpid()}"

    def ok(progress: Callable[[str], None]) -> dict[str, Any]:
        progress("working")
        return {"rows": 3}

    def bad_input(_progress: Callable[[str], None]) -> dict[str, Any]:
        raise Village5gError("no villages stored")

    def broken(_progress: Callable[[str], None]) -> dict[str, Any]:
        raise KeyError("boom")

    records = []
    for work in (ok, bad_input, broken):
        job_id = create_job(store, kind="snapshot", parameters={}, owner=me, trigger="manual")
        records.append(execute_job(store, job_id, work, owner=me, alive=lambda _p: True, lease_ttl_s=30))
    assert [(r["status"], r["result"], r["error"]) for r in records] == [
        ("succeeded", {"rows": 3}, None), ("failed", None, "no villages stored"),
        ("failed", None, f"{INTERNAL_ERROR}KeyError: 'boom'")]
    assert lease_holder(store, "snapshot") is None  # released after each

    assert acquire_lease(store, "snapshot", owner="other-host:9", ttl_s=600, alive=lambda _p: True, job_id=77)
    job_id = create_job(store, kind="snapshot", parameters={}, owner=me, trigger="manual")
    skipped = execute_job(store, job_id, ok, owner=me, alive=lambda _p: True)
    assert skipped["status"] == "skipped" and "job 77 of other-host:9" in skipped["error"]
    assert skipped["started_at"] is None


def test_older_jobs_table_gets_the_new_columns(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = Store(url)
    with old.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE jobs (id INTEGER PRIMARY KEY, kind VARCHAR(32) NOT NULL, status VARCHAR(16) "
                             "NOT NULL, parameters JSON NOT NULL, requested_by VARCHAR(40), owner VARCHAR(200), "
                             "created_at DATETIME NOT NULL, started_at DATETIME, finished_at DATETIME, "
                             "progress VARCHAR(500), run_id INTEGER, error VARCHAR(2000))")
        conn.exec_driver_sql("INSERT INTO jobs (kind, status, parameters, created_at) "
                             "VALUES ('analysis', 'succeeded', '{}', '2026-01-01 00:00:00')")
    old.create_schema()
    record = read_job(old, 1)
    assert record["kind"] == "analysis" and record["trigger"] is None and record["result"] is None
    with old.engine.connect() as conn:
        assert conn.execute(select(runs.c.id)).all() == []
    old.dispose()


def test_inputs_are_compared_only_when_a_write_was_logged_since_the_run_read_them(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'log.db'}")
    store.create_schema()
    build_row_world(store)
    with store.engine.begin() as conn:  # a change the ingest log does not show, and a log from long ago
        conn.execute(stations.update().values(power_dbm=40.0))
        conn.execute(ingests.update().values(created_at=dt.datetime(2000, 1, 1)))
    assert not inputs_changed(store)  # the log says nothing was written since the run: rows are not read
    with store.engine.begin() as conn:
        conn.execute(ingests.update().where(ingests.c.kind == "stations").values(created_at=dt.datetime.now(dt.UTC)
                                                                                 .replace(tzinfo=None)))
    assert inputs_changed(store)  # a logged write: the fingerprints are compared and differ
    store.dispose()


def test_dropped_mr_files_are_appended_or_rejected_and_the_run_uses_them(store: Store, tmp_path: Path) -> None:
    build_row_world(store)
    drop = tmp_path / "drop"
    drop.mkdir()
    lon, lat = WEST + 0.5 * KM_LON, SOUTH + 0.5 * KM_LAT  # inside the first village of the row
    header = "中心经度,中心纬度,栅格大小,开始日期,结束日期,运营商,制式,频段,采样点数,平均RSRP,RSRP>=-105dBm占比\n"
    (drop / "mr_cmcc_2026-10.csv").write_text(
        header + f"{lon},{lat},100,2026-10-01,2026-10-31,移动,LTE,B39,800,-90,0.9\n"
                 f"{lon},{lat},100,2026-10-01,2026-10-31,移动,NR,n41,700,-99,0.7\n", encoding="utf-8")
    (drop / "mr_bad.csv").write_text(header + f"{lon},{lat},75,2026-10-01,2026-10-31,移动,NR,n41,10,-99,0.7\n",
                                     encoding="utf-8")

    result = _refresh(store, drop)

    assert [(r["file"], r["kind"], r["rows"], r["mode"]) for r in result.ingested] == [
        ("mr_cmcc_2026-10.csv", "mr", 2, "append")]
    assert [(r["file"], r["kind"]) for r in result.rejected] == [("mr_bad.csv", "mr")]
    assert "wrong grid size 75" in result.rejected[0]["problems"][0]
    assert result.run_id is not None
    first = store.read_results(result.run_id).set_index("code").loc[FIRST]
    assert first["mr_samples"] == 1500 and first["mr_period"] == "2026-10-01/2026-10-31"
    assert "mr_fused" in first["reasons"]
