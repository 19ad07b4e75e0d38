"""Keys, roles and region limits; uploads (accepted, rejected, too large); analysis jobs; the 500 shape.
On SQLite and on PostGIS (the `store` fixture)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import shapely
import typer
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from api.cli.service import keys_app, serve
from coverage.errors import ConfigError
from coverage.ingest.export import write_output
from coverage.store.keys import create_key, list_keys, revoke_key, verify_key
from coverage.store.storage import Store
from coverage.store.tables import api_keys, ingests
from tests.utils.api import app_for, key
from tests.worlds.row import KM_LAT, KM_LON, SOUTH, WEST, build_row_world, row_measurements, row_stations, row_villages


@pytest.fixture
def client(store: Store, tmp_path: Path) -> Iterator[TestClient]:
    """A client of an app over the small world (one published run)."""
    build_row_world(store)
    with TestClient(app_for(store, tmp_path)) as c:
        yield c


def _file(tmp_path: Path, kind: str, frame: object, name: str) -> tuple[str, bytes]:
    path = write_output(kind, frame, tmp_path / name)  # type: ignore[arg-type]
    return path.name, path.read_bytes()


def _upload(client: TestClient, kind: str, file: tuple[str, bytes], headers: dict[str, str] | None = None,
            **form: str) -> object:
    return client.post(f"/ingest/{kind}", files={"file": file}, data=form, headers=headers or {})


def _snapshot(store: Store) -> tuple[dict[str, int], int]:
    with store.engine.connect() as conn:
        logged = len(conn.execute(select(ingests.c.id)).all())
    return store.counts(), logged


def _new_villages(codes: list[str], column: int = 0) -> object:
    frame = row_villages().iloc[: len(codes)].copy()
    frame["code"] = codes
    for level, digits in (("township_code", 9), ("county_code", 6), ("city_code", 4)):
        frame[level] = [c[:digits] for c in codes]
    frame["committee_lon"] = float("nan")
    frame["committee_lat"] = float("nan")
    north = SOUTH + 3 * KM_LAT  # a new row of villages north of the world
    boxes = [shapely.box(WEST + 2 * (i + column) * KM_LON, north, WEST + (2 * (i + column) + 1) * KM_LON,
                         north + KM_LAT) for i in range(len(codes))]
    return frame.set_geometry(boxes, crs="EPSG:4326")


# -- keys --------------------------------------------------------------------------------------


def test_keys_are_hashed_at_rest_and_checked_strictly(store: Store) -> None:
    record, plain = create_key(store, role="auditor", region_code="3201", label="inspection team")
    assert plain.startswith(f"v5g_{record.id}_")
    secret = plain.split("_", 2)[2]
    with store.engine.connect() as conn:
        row = conn.execute(select(api_keys)).mappings().one()
    assert secret.encode() not in bytes(row["secret_hash"]) and secret not in str(dict(row))
    assert verify_key(store, plain) == record
    assert verify_key(store, plain[:-1] + ("A" if plain[-1] != "A" else "B")) is None
    assert verify_key(store, "v5g_000000000000_" + secret) is None
    assert verify_key(store, "not a key") is None
    revoke_key(store, record.id)
    assert verify_key(store, plain) is None
    assert list_keys(store)[0].revoked_at is not None
    with pytest.raises(ConfigError):
        create_key(store, role="root")
    with pytest.raises(ConfigError):
        create_key(store, role="viewer", region_code="32011")


def test_keys_cli_prints_the_key_once_and_lists_and_revokes(store: Store) -> None:
    from api import cli

    app = typer.Typer()

    @app.callback()
    def _db(db: str = typer.Option(...)) -> None:
        cli.state.url = db

    app.command()(serve)
    app.add_typer(keys_app, name="keys")
    runner = CliRunner()
    created = runner.invoke(app, ["--db", store.url, "keys", "create", "--role", "admin", "--region", "3201"],
                            catch_exceptions=False)
    assert created.exit_code == 0, created.output
    plain = created.stdout.strip().splitlines()[-1]
    key_record = verify_key(store, plain)
    assert key_record is not None and key_record.role == "admin" and key_record.region_code == "3201"
    listed = runner.invoke(app, ["--db", store.url, "keys", "list"], catch_exceptions=False)
    assert key_record.id in listed.stdout and plain not in listed.stdout
    assert runner.invoke(app, ["--db", store.url, "keys", "revoke", key_record.id]).exit_code == 0
    assert verify_key(store, plain) is None
    assert runner.invoke(app, ["--db", store.url, "keys", "create", "--role", "root"]).exit_code == 2


# -- roles and regions ---------------------------------------------------------------------------


def test_writes_need_a_key_with_the_right_role(client: TestClient, store: Store, tmp_path: Path) -> None:
    file = _file(tmp_path, "measurements", row_measurements(), "more.csv")
    before = _snapshot(store)
    response = _upload(client, "measurements", file)
    assert response.status_code == 401 and response.json()["code"] == "unauthorized"  # type: ignore[attr-defined]
    assert response.json()["message"] == (  # type: ignore[attr-defined]
        "上传需要审核员（auditor）或更高角色的 API 密钥 (uploads need an API key with role auditor or above)")
    wrong = {"X-API-Key": "v5g_0123456789ab_not-the-secret"}
    assert _upload(client, "measurements", file, wrong).status_code == 401  # type: ignore[attr-defined]
    assert client.get("/summary", headers=wrong).status_code == 401  # a wrong key is wrong on reads too
    viewer = key(store, "viewer")
    response = _upload(client, "measurements", file, viewer)
    assert response.status_code == 403 and response.json()["code"] == "forbidden"  # type: ignore[attr-defined]
    assert response.json()["message"] == (  # type: ignore[attr-defined]
        "上传需要审核员（auditor）或更高角色，此密钥的角色是查看者（viewer） "
        "(uploads need role auditor or above; the key has role viewer)")
    auditor = key(store, "auditor")
    new_site = row_stations([(WEST + 0.1, SOUTH)])
    new_site["site_id"] = "S9"
    new_site["cell_id"] = ["S9-0", "S9-1", "S9-2"]
    stations = _file(tmp_path, "stations", new_site, "more_stations.csv")
    assert _upload(client, "stations", stations, auditor).status_code == 403  # type: ignore[attr-defined]
    assert client.post("/runs", json={}, headers=auditor).status_code == 403
    assert client.post("/runs", json={}).status_code == 401
    assert _snapshot(store) == before
    response = _upload(client, "measurements", file, {"Authorization": "Bearer " + auditor["X-API-Key"]})
    assert response.status_code == 201, response.text  # type: ignore[attr-defined]
    assert response.json()["rows"] == 7  # type: ignore[attr-defined]
    assert store.counts()["measurements"] == before[0]["measurements"] + 7
    admin = key(store, "admin")
    assert _upload(client, "stations", stations, admin).status_code == 201  # type: ignore[attr-defined]


def test_a_region_limited_key_sees_and_changes_only_its_region(client: TestClient, store: Store,
                                                               tmp_path: Path) -> None:
    nanjing = key(store, "admin", region="3201")
    body = client.get("/collections/villages/items", headers=nanjing).json()
    assert body["numberMatched"] == 4 and all(f["id"].startswith("3201") for f in body["features"])
    # another city is no region this key can filter by: the error names the key's own
    outside = client.get("/collections/villages/items?city=3210", headers=nanjing)
    assert outside.status_code == 400 and "（已存区划中，限 3201）；是否指 3201 南京市？" in outside.json()["message"]
    assert client.get("/collections/villages/items/321012101201", headers=nanjing).status_code == 404
    assert client.get("/collections/villages/items/320115100201", headers=nanjing).status_code == 200
    assert client.get("/summary?level=county", headers=nanjing).json()["totals"]["villages"] == 4
    # the only site stands in 扬州 (3210); two measurements were taken in 南京's villages
    assert client.get("/collections/stations/items", headers=nanjing).json()["numberMatched"] == 0
    assert client.get("/collections/measurements/items", headers=nanjing).json()["numberMatched"] == 2
    run = client.get("/runs", headers=nanjing).json()["runs"][0]
    assert run["counts"]["villages"] == 4
    csv = client.get("/exports/villages?format=csv", headers=nanjing)
    assert csv.text.count("\n") == 1 + 4

    before = _snapshot(store)
    outside = _file(tmp_path, "villages", _new_villages(["320115100205", "321012101205"]), "mixed.geojson")
    response = _upload(client, "villages", outside, nanjing)
    assert response.status_code == 403  # type: ignore[attr-defined]
    details = response.json()["details"]  # type: ignore[attr-defined]
    assert [d["row"] for d in details] == [2] and "321012101205" in details[0]["message"]
    far = row_measurements().iloc[:1]
    far_file = _file(tmp_path, "measurements", far, "far.csv")  # in 扬州's first village
    assert _upload(client, "measurements", far_file, nanjing).status_code == 403  # type: ignore[attr-defined]
    inside = _file(tmp_path, "villages", _new_villages(["320115100205"], column=4), "nanjing.geojson")
    assert _upload(client, "villages", inside, nanjing, replace="true").status_code == 403  # type: ignore[attr-defined]
    assert client.post("/runs", json={}, headers=nanjing).status_code == 403
    assert _snapshot(store) == before
    response = _upload(client, "villages", inside, nanjing)
    assert response.status_code == 201, response.text  # type: ignore[attr-defined]
    assert store.counts()["villages"] == before[0]["villages"] + 1


# -- uploads -----------------------------------------------------------------------------------


def test_rejected_uploads_leave_everything_as_it_was(store: Store, tmp_path: Path) -> None:
    build_row_world(store)
    admin = key(store, "admin")
    with TestClient(app_for(store, tmp_path, max_upload_mb=0.05)) as client:
        before = _snapshot(store)
        bad = row_stations([(WEST, SOUTH)])
        bad.loc[1, "operator"] = "Vodafone"
        name, data = _file(tmp_path, "stations", bad, "broken.csv")
        response = _upload(client, "stations", (name, data), admin)
        assert response.status_code == 422  # type: ignore[attr-defined]
        body = response.json()  # type: ignore[attr-defined]
        assert body["code"] == "invalid_input" and "nothing was stored" in body["message"]
        assert any(d["row"] == 2 and d["file"] == "broken.csv" for d in body["details"])
        assert str(tmp_path) not in response.text and "/tmp" not in response.text  # type: ignore[attr-defined]
        again = _file(tmp_path, "villages", row_villages(), "villages.geojson")
        response = _upload(client, "villages", again, admin)  # every code is stored already
        assert response.status_code == 422 and "already stored" in response.text  # type: ignore[attr-defined]
        odd = _upload(client, "villages", ("villages.doc", b"not a table"), admin)
        assert odd.status_code == 422 and "unsupported" in odd.text  # type: ignore[attr-defined]
        assert _upload(client, "villages", again, admin, crs="bd09").status_code == 400  # type: ignore[attr-defined]
        huge = _upload(client, "measurements", ("big.csv", b"lon,lat\n" + b"119.4,32.4\n" * 8000), admin)
        assert huge.status_code == 413 and huge.json()["code"] == "payload_too_large"  # type: ignore[attr-defined]

        def chunks() -> Iterator[bytes]:  # no Content-Length: the limit applies as the body streams in
            yield b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.csv\"\r\n\r\n"
            for _ in range(100):
                yield b"119.4,32.4,-90\n" * 100

        streamed = client.post("/ingest/measurements", content=chunks(),
                               headers={**admin, "Content-Type": "multipart/form-data; boundary=b"})
        assert streamed.status_code == 413 and streamed.json()["code"] == "payload_too_large"
        assert _snapshot(store) == before
        replaced = _upload(client, "villages", again, admin, replace="true")
        assert replaced.status_code == 201 and replaced.json()["replaced"] is True  # type: ignore[attr-defined]


# -- analysis jobs -----------------------------------------------------------------------------


def test_an_analysis_started_over_http_publishes_a_new_run(client: TestClient, store: Store) -> None:
    admin = key(store, "admin")
    assert client.post("/runs", json={"rules": {"good_rsrp_dbm": "loud"}}, headers=admin).status_code == 400
    assert client.post("/runs", json={"rules": {"weak_rsrp_dbm": -90.0}}, headers=admin).status_code == 400
    assert client.post("/runs", json={"resolution_m": 1}, headers=admin).status_code == 400
    response = client.post("/runs", json={"resolution_m": 200, "rules": {"good_rsrp_dbm": -100}}, headers=admin)
    assert response.status_code == 202, response.text
    job = response.json()
    assert response.headers["location"].endswith(f"/jobs/{job['id']}")
    deadline = time.monotonic() + 60
    while job["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, job
        time.sleep(0.1)
        job = client.get(f"/jobs/{job['id']}").json()
    assert job["status"] == "succeeded", job
    run = client.get(f"/runs/{job['run_id']}").json()
    assert run["status"] == "published" and run["parameters"]["resolution_m"] == 200
    assert run["rules"]["good_rsrp_dbm"] == -100
    assert client.get("/collections/villages/items?limit=1").json()["run_id"] == job["run_id"]
    assert client.get("/jobs").json()["jobs"][0]["id"] == job["id"]
    # an analysis job queued by another worker (alive: this process) refuses a second one, naming it
    from coverage.processes import owner_id
    from coverage.runs.jobs import create_job

    queued = create_job(store, kind="analysis", parameters={}, owner=owner_id())
    busy = client.post("/runs", json={}, headers=admin)
    assert busy.status_code == 409 and busy.json()["message"] == (
        f"分析任务 {queued} 仍在运行，请等待它完成（GET /jobs/{queued}） "
        f"(analysis job {queued} is still running; wait for it (GET /jobs/{queued}))")


# -- the catch-all -----------------------------------------------------------------------------


def test_an_unexpected_error_is_a_generic_500_and_is_logged(client: TestClient, monkeypatch: pytest.MonkeyPatch,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    import api.routers.runs as runs

    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("SELECT secret FROM /etc/passwd")

    monkeypatch.setattr(runs, "list_jobs", explode)
    with caplog.at_level(logging.ERROR, logger="village5g.error"):
        response = client.get("/jobs", headers={"X-Request-ID": "req-42"})
    assert response.status_code == 500
    body = response.json()
    assert body["code"] == "internal_error" and "req-42" in body["message"]
    assert "SELECT" not in response.text and "passwd" not in response.text and "Traceback" not in response.text
    assert response.headers["x-request-id"] == "req-42"
    assert any("SELECT secret" in (r.exc_text or "") or r.exc_info for r in caplog.records)


def test_jobs_of_a_dead_worker_are_marked_failed_with_their_run(store: Store) -> None:
    from api.jobs import JobRunner, owner_id
    from coverage.runs.jobs import create_job, read_job, set_progress, start_job

    host = owner_id().rpartition(":")[0]
    run_id = store.start_run(rules={}, parameters={}, inputs={}, code_version="test")
    # a partitioned run writes its results before publishing: one row written when the worker died
    store.write_results(run_id, pd.DataFrame({
        "code": ["321012101201"], "verdict": ["covered"], "predicted_verdict": ["covered"],
        "measured_verdict": [None], "verdict_source": ["predicted"], "no_site": [False], "reasons": ["x"],
        "sites_inside": [1], "nearest_site_m": [0.0], "nearest_site_id": ["S1"], "good_share": [1.0],
        "weak_share": [0.0], "none_share": [0.0], "committee_rsrp_dbm": [-80.0], "committee_sinr_db": [10.0],
        "committee_class": ["good"], "n_measurements": [0], "measured_rsrp_median_dbm": [None],
        "measured_good_share": [None], "measured_reached_share": [None]}))
    assert len(store.read_run_results(run_id)) == 1
    orphan = create_job(store, kind="analysis", parameters={}, owner=f"{host}:999999999")
    start_job(store, orphan)
    set_progress(store, orphan, "predicting", run_id=run_id)
    alive = create_job(store, kind="analysis", parameters={}, owner=owner_id())
    elsewhere = create_job(store, kind="analysis", parameters={}, owner="another-host:1")
    runner = JobRunner(store, artifacts_dir=Path("unused"))
    try:
        runner.recover()
    finally:
        runner.shutdown()
    assert read_job(store, orphan)["status"] == "failed"
    assert store.read_run(run_id)["status"] == "failed"
    assert store.read_run_results(run_id).empty
    assert read_job(store, alive)["status"] == "queued" and read_job(store, elsewhere)["status"] == "queued"
