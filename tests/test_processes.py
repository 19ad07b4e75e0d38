"""Killed processes leave nothing behind: forked prediction workers die with their parent, and a run
or job whose process is gone is marked failed (its GeoTIFF deleted) as soon as anything looks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from fastapi.testclient import TestClient

from coverage.runs.jobs import create_job, read_job
from coverage.store.storage import Store
from tests.utils.api import app_for
from tests.worlds.row import build_row_world

ROOT = Path(__file__).resolve().parents[1]


def _children(pid: int) -> list[int]:
    """Pids whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_until(condition: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return bool(condition())  # type: ignore[operator]


PREDICT_SLOWLY = textwrap.dedent("""
    import sys, time
    import coverage.model.predict as predict
    from coverage.model.rules import DEFAULT_RULES
    from tests.worlds.row import PARAMS, row_stations, row_villages
    from coverage.crs import local_metric_crs
    from coverage.model.verdicts import village_raster
    from dataclasses import replace

    def slow_tile(bounds):
        time.sleep(300)
        raise SystemExit("never")

    predict._tile_task = slow_tile
    villages = row_villages()
    raster = village_raster(villages, local_metric_crs(villages), 100.0)
    print("predicting", flush=True)
    predict.predict(row_stations(), raster.grid, rules=DEFAULT_RULES,
                    params=replace(PARAMS, workers=2, tile_px=16), mask=raster.mask)
""")


def test_prediction_workers_die_with_their_parent() -> None:
    parent = subprocess.Popen([sys.executable, "-c", PREDICT_SLOWLY], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None and parent.stdout.readline().strip() == "predicting"
        assert _wait_until(lambda: len(_children(parent.pid)) >= 2, 60)
        workers = [p for p in _children(parent.pid) if _alive(p)]
        assert workers
        parent.send_signal(signal.SIGKILL)  # as the kernel's OOM killer does
        parent.wait()
        assert _wait_until(lambda: not any(_alive(p) for p in workers), 30), "orphaned prediction workers"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        for p in _children(parent.pid):
            os.kill(p, signal.SIGKILL)
        if parent.stdout is not None:
            parent.stdout.close()


KILLED_BEFORE_PUBLISH = textwrap.dedent("""
    import os, signal, sys
    import coverage.runs.analysis as analysis
    from api.cli import main

    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)  # after the GeoTIFF was written, before publishing

    analysis._publish = die
    sys.argv = ["village5g", "analyze"]
    main()
""")


def test_a_killed_cli_run_is_failed_and_its_geotiff_removed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'killed.db'}"
    store = Store(url)
    store.create_schema()
    build_row_world(store, analyze=False)
    env = {**os.environ, "VILLAGE5G_DATABASE_URL": url, "VILLAGE5G_DATA_DIR": str(tmp_path / "data")}
    killed = subprocess.run([sys.executable, "-c", KILLED_BEFORE_PUBLISH], cwd=ROOT, env=env, capture_output=True,
                            timeout=300)
    assert killed.returncode == -signal.SIGKILL
    (run,) = store.list_runs()
    assert run["status"] == "running"  # nobody has looked yet
    raster = tmp_path / "data" / "runs" / f"run-{run['id']}" / "prediction.tif"
    assert raster.exists()
    with TestClient(app_for(store, tmp_path)) as client:  # anything that looks at runs settles it
        seen = client.get(f"/runs/{run['id']}").json()
    assert seen["status"] == "failed"
    assert seen["error"] == "已中断：计算它的进程已停止 (interrupted: the process computing it stopped)"
    assert not raster.parent.exists()
    store.dispose()


def test_a_terminated_cli_run_is_failed_at_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'term.db'}"
    store = Store(url)
    store.create_schema()
    build_row_world(store, analyze=False)
    script = KILLED_BEFORE_PUBLISH.replace("signal.SIGKILL)", "signal.SIGTERM)")
    env = {**os.environ, "VILLAGE5G_DATABASE_URL": url, "VILLAGE5G_DATA_DIR": str(tmp_path / "data")}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, timeout=300)
    assert done.returncode == 128 + signal.SIGTERM, done.stderr
    (run,) = store.list_runs()
    assert run["status"] == "failed"
    assert not (tmp_path / "data" / "runs" / f"run-{run['id']}").exists()
    store.dispose()


def test_a_job_whose_process_is_gone_is_failed_when_read(store: Store, tmp_path: Path) -> None:
    build_row_world(store, analyze=False)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    host = os.uname().nodename
    job_id = create_job(store, kind="analysis", parameters={}, owner=f"{host}:{gone.pid}")
    with TestClient(app_for(store, tmp_path)) as client:
        # the app's start-up recovery would settle it: make the job after start-up, as a kill would
        job_id = create_job(store, kind="analysis", parameters={}, owner=f"{host}:{gone.pid}")
        assert client.get(f"/jobs/{job_id}").json()["status"] == "failed"
        assert client.post("/runs", json={}, headers=_admin(store)).status_code == 202  # no 409 from the dead job
    assert read_job(store, job_id)["status"] == "failed"


def _admin(store: Store) -> dict[str, str]:
    from tests.utils.api import key

    return key(store, "admin")


def _hang_in_first_worker(flag: str) -> None:
    """Pool initializer: the first worker to start hangs for good (as on a lock inherited at fork)."""
    try:
        os.close(os.open(flag, os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        return
    while True:
        time.sleep(60)


def _square(x: int) -> int:
    return x * x


def test_a_worker_hung_at_start_does_not_hang_the_pool_close(tmp_path: Path, monkeypatch: object) -> None:
    from coverage import processes

    monkeypatch.setattr(processes, "EXIT_GRACE_S", 1.0)  # type: ignore[attr-defined]
    start = time.monotonic()
    with processes.forked_pool(2, _hang_in_first_worker, (str(tmp_path / "flag"),)) as pool:
        assert list(pool.map(_square, range(6))) == [0, 1, 4, 9, 16, 25]  # the other worker does it all
        workers = list(pool._processes.values())  # type: ignore[attr-defined]
    # a hang is for good; 120 s is only a bound on a busy machine (under pytest-xdist the workers come
    # from the fork server, with their imports: 20 s at a load of 7)
    assert time.monotonic() - start < 120
    assert len(workers) == 2 and not any(_alive(w.pid) for w in workers)
    assert sorted(w.exitcode for w in workers) == [-signal.SIGKILL, 0]


def test_with_other_threads_running_the_workers_come_from_the_fork_server_and_agree() -> None:
    import threading
    from dataclasses import replace

    import numpy as np

    import coverage.model.predict as predict
    from coverage import processes
    from coverage.crs import local_metric_crs
    from coverage.model.rules import DEFAULT_RULES
    from coverage.model.verdicts import village_raster
    from tests.worlds.row import PARAMS, row_stations, row_villages

    villages = row_villages()
    raster = village_raster(villages, local_metric_crs(villages), 100.0)
    alone = predict.predict(row_stations(), raster.grid, rules=DEFAULT_RULES,
                            params=replace(PARAMS, workers=1, tile_px=16), mask=raster.mask)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait, daemon=True)
    other.start()
    try:
        with processes.forked_pool(2) as pool:
            assert pool._mp_context.get_start_method() == "forkserver"  # type: ignore[attr-defined]
        shared = predict.predict(row_stations(), raster.grid, rules=DEFAULT_RULES,
                                 params=replace(PARAMS, workers=2, tile_px=16), mask=raster.mask)
        with processes.forked_pool(2, require_fork=True) as pool:
            assert pool._mp_context.get_start_method() == "fork"  # type: ignore[attr-defined]
    finally:
        stop.set()
        other.join()
    for a, b in ((alone.rsrp_dbm, shared.rsrp_dbm), (alone.sinr_db, shared.sinr_db),
                 (alone.coverage_class, shared.coverage_class), (alone.cell, shared.cell)):
        np.testing.assert_array_equal(a, b)
