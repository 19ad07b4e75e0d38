"""Resource limits decided before the work starts (coverage/limits.py, the API settings): grid
pixels of an analysis, rows and archive sizes of uploads, authentication before an upload's body,
and the cheap rejection of repeated invalid keys."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
import threading
import zipfile
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import shapely
from fastapi.testclient import TestClient

import api.security
from api.security import KeyCache
from coverage.errors import ConfigError, ValidationError
from coverage.ingest import read_input
from coverage.limits import LimitError, Limits, check_grid, grid_shape_of_bounds
from coverage.model.rules import DEFAULT_RULES
from coverage.runs.analysis import run_analysis
from coverage.schema import conform
from coverage.store.storage import IngestRecord, Store
from tests.utils.api import app_for, key
from tests.worlds.row import PARAMS, build_row_world

ROOT = Path(__file__).resolve().parents[1]


def _corner_villages() -> Any:
    """Two 1 km villages at opposite corners of Jiangsu (116.4E 34.5N and 121.7E 31.0N): the grid of a
    run over them spans about 500 x 390 km, the extent of the province."""
    boxes = [shapely.box(116.40, 34.50, 116.41, 34.51), shapely.box(121.70, 31.00, 121.71, 31.01)]
    codes = ["320321100201", "320582100201"]
    return conform("villages", {
        "code": codes, "name": ["西北村", "东南村"],
        "township_code": [c[:9] for c in codes], "township_name": ["甲镇", "乙镇"],
        "county_code": [c[:6] for c in codes], "county_name": ["丰县", "昆山市"],
        "city_code": [c[:4] for c in codes], "city_name": ["徐州市", "苏州市"],
        "province_code": ["32", "32"], "province_name": ["江苏省", "江苏省"],
    }, boxes)


@pytest.fixture
def wide(tmp_path: Path) -> Iterator[Store]:
    """A store whose two villages span the province."""
    store = Store(f"sqlite:///{tmp_path / 'wide.db'}")
    store.create_schema()
    store.write("villages", _corner_villages(), record=IngestRecord(kind="villages", file_name="v", sha256="0" * 64))
    yield store
    store.dispose()


# -- grid pixels ---------------------------------------------------------------------------------


def test_grid_shape_of_bounds_matches_the_extent_by_hand() -> None:
    # 0.1 degrees of latitude is 11.1 km; of longitude at 32.4N 0.1 * 111.3 * cos(32.4) = 9.40 km
    width, height = grid_shape_of_bounds((119.40, 32.40, 119.50, 32.50), 100.0)
    assert 94 <= width <= 96 and 111 <= height <= 113
    check_grid(width, height, 100.0, Limits(max_grid_pixels=width * height))
    with pytest.raises(LimitError, match="max_grid_pixels = 10,000"):
        check_grid(width, height, 100.0, Limits(max_grid_pixels=10_000))


def test_a_province_wide_grid_at_18_6_m_is_refused_before_the_run_starts(wide: Store, tmp_path: Path) -> None:
    """The probe's request: {"resolution_m": 18.6, "scope": "all"} planned a 28,063 x 26,031 grid."""
    with TestClient(app_for(wide, tmp_path)) as client:
        response = client.post("/runs", json={"resolution_m": 18.6, "scope": "all"}, headers=key(wide, "admin"))
        assert response.status_code == 422, response.text
        body = response.json()
        assert "max_grid_pixels = 60,000,000" in body["message"] and "pixels" in body["message"]
        assert client.get("/jobs").json()["jobs"] == []  # refused before a job existed
    assert wide.list_runs() == []


def test_the_grid_limit_is_a_setting(store: Store, tmp_path: Path) -> None:
    build_row_world(store, analyze=False)  # eight villages over 15 km x 1 km: 1,500 x 100 px at 10 m
    with TestClient(app_for(store, tmp_path, max_grid_pixels=100_000)) as client:
        admin = key(store, "admin")
        refused = client.post("/runs", json={"resolution_m": 10}, headers=admin)
        assert refused.status_code == 422 and "max_grid_pixels = 100,000" in refused.json()["message"]
        # Chinese first, then the English, which says nothing was done, in brackets
        message = refused.json()["message"]
        assert message.startswith("本次运行的预测栅格在 10 米分辨率下将有 "), message
        assert "超过限制 max_grid_pixels = 100,000；请用更粗的分辨率、分区运行，或提高限制；未做任何处理 (the run's " \
               "prediction grid at 10 m would be " in message and message.endswith("; nothing was done)"), message
        assert client.post("/runs", json={"resolution_m": 100}, headers=admin).status_code == 202


def test_run_analysis_checks_the_grid_before_recording_a_run(wide: Store) -> None:
    with pytest.raises(LimitError, match="max_grid_pixels"):
        run_analysis(wide, rules=DEFAULT_RULES, params=PARAMS, scope="all", limits=Limits(max_grid_pixels=1_000_000))
    assert wide.list_runs() == []


def test_the_cli_refuses_a_huge_grid_in_one_line(wide: Store) -> None:
    env = {**os.environ, "VILLAGE5G_DATABASE_URL": wide.url}
    done = subprocess.run([sys.executable, "-c", "from api.cli import main; main()", "analyze", "--resolution", "18.6",
                           "--scope", "all"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert "max_grid_pixels" in done.stderr and "Traceback" not in done.stderr
    assert wide.list_runs() == []


# -- uploads: archives and rows ------------------------------------------------------------------

MEASUREMENT_HEADER = "lon,lat,operator,rsrp_dbm\n"
MEASUREMENT_ROW = "119.401,32.401,CMCC,-90\n"


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _bomb() -> bytes:
    """A CSV of 64 MiB (one valid row, then the same row over and over) packed into about 200 KB."""
    body = (MEASUREMENT_HEADER + MEASUREMENT_ROW * ((64 << 20) // len(MEASUREMENT_ROW))).encode()
    return _zip({"m.csv": body})


@pytest.fixture
def world(store: Store, tmp_path: Path) -> Iterator[tuple[Store, TestClient]]:
    build_row_world(store)
    with TestClient(app_for(store, tmp_path, max_upload_rows=1000, max_unpacked_mb=4)) as client:
        yield store, client


def test_a_zip_bomb_is_refused_by_its_ratio(world: tuple[Store, TestClient]) -> None:
    store, client = world
    before = store.counts()["measurements"]
    bomb = _bomb()
    assert len(bomb) < 1 << 20
    for url, role in (("/ingest/measurements", "auditor"), ("/whatif", "auditor")):
        response = client.post(url, files={"file": ("m.zip", bomb)}, headers=key(store, role))
        assert response.status_code == 422, (url, response.text)
        assert "max_zip_ratio = 100" in response.json()["message"], url
    assert store.counts()["measurements"] == before


def test_an_archive_that_unpacks_too_far_is_refused(world: tuple[Store, TestClient]) -> None:
    store, client = world
    rng_text = "".join(f"{119.4 + i * 1e-7:.7f},32.401,CMCC,-{80 + i % 40}\n" for i in range(200_000)).encode()
    packed = _zip({"m.csv": MEASUREMENT_HEADER.encode() + rng_text})  # ~5 MB, packs about 4x
    response = client.post("/ingest/measurements", files={"file": ("m.zip", packed)}, headers=key(store, "auditor"))
    assert response.status_code == 422
    assert "max_unpacked_mb = 4 MiB" in response.json()["message"]


def test_rows_are_counted_before_parsing(world: tuple[Store, TestClient], tmp_path: Path) -> None:
    store, client = world
    csv = (MEASUREMENT_HEADER + MEASUREMENT_ROW * 1001).encode()
    auditor = key(store, "auditor")
    response = client.post("/ingest/measurements", files={"file": ("m.csv", csv)}, headers=auditor)
    assert response.status_code == 422
    assert "1,001 lines, more than the limit max_upload_rows = 1,000" in response.json()["message"]
    ok = client.post("/ingest/measurements", files={"file": ("m.csv", csv[: -len(MEASUREMENT_ROW)])}, headers=auditor)
    assert ok.status_code == 201, ok.text
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["lon", "lat", "operator", "rsrp_dbm"])
    for _ in range(1001):
        sheet.append([119.401, 32.401, "CMCC", -90])
    path = tmp_path / "m.xlsx"
    workbook.save(path)
    response = client.post("/ingest/measurements", files={"file": ("m.xlsx", path.read_bytes())}, headers=auditor)
    assert response.status_code == 422 and "max_upload_rows = 1,000" in response.json()["message"]
    response = client.post("/audits/1/results", files={"file": ("t.csv", csv)}, headers=auditor)
    assert response.status_code in (404, 422)  # no round 1 here: the round is looked up first


def test_the_library_default_refuses_a_bomb(tmp_path: Path) -> None:
    path = tmp_path / "m.zip"
    path.write_bytes(_bomb())  # packed about 400x
    with pytest.raises(LimitError, match="max_zip_ratio = 200"):
        read_input("measurements", path)


def test_non_text_encodings_are_a_clear_error(world: tuple[Store, TestClient], tmp_path: Path) -> None:
    store, client = world
    csv = (MEASUREMENT_HEADER + MEASUREMENT_ROW).encode()
    for encoding in ("hex", "rot13", "zlib"):
        response = client.post("/ingest/measurements", files={"file": ("m.csv", csv)}, data={"encoding": encoding},
                               headers=key(store, "auditor"))
        assert response.status_code == 400, response.text
        assert "not a text encoding" in response.json()["message"]
    path = tmp_path / "m.csv"
    path.write_bytes(csv)
    with pytest.raises(ConfigError, match="'hex' is not a text encoding"):
        read_input("measurements", path, encoding="hex")


# -- authentication before the body --------------------------------------------------------------


def _post_upload(app: Any, headers: list[tuple[bytes, bytes]]) -> tuple[int, int]:
    """POST a declared 100 MB body to /ingest/measurements straight through ASGI; the status and how
    often the application asked for body chunks."""
    reads = 0
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": b"x" * 65536, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": "/ingest/measurements", "raw_path": b"/ingest/measurements",
             "query_string": b"", "root_path": "", "client": ("127.0.0.1", 5000), "server": ("test", 80),
             "headers": [(b"host", b"test"), (b"content-type", b"multipart/form-data; boundary=x"),
                         (b"content-length", str(100 << 20).encode()), *headers]}
    asyncio.run(app(scope, receive, send))
    return status, reads


def test_uploads_are_authenticated_before_the_body_is_read(store: Store, tmp_path: Path) -> None:
    build_row_world(store, analyze=False)
    app = app_for(store, tmp_path)
    assert _post_upload(app, []) == (401, 0)
    assert _post_upload(app, [(b"x-api-key", b"v5g_not-a-key")]) == (401, 0)
    viewer = key(store, "viewer")["X-API-Key"].encode()
    assert _post_upload(app, [(b"x-api-key", viewer)]) == (403, 0)


# -- invalid keys --------------------------------------------------------------------------------


def test_repeated_invalid_keys_are_cheap(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    build_row_world(store, analyze=False)
    checks: list[str] = []
    real = api.security.verify_key

    def counting(store_: Store, presented: str) -> Any:
        checks.append(presented)
        return real(store_, presented)

    monkeypatch.setattr(api.security, "verify_key", counting)
    viewer = key(store, "viewer")
    with TestClient(app_for(store, tmp_path, failed_key_limit=5, failed_key_window_s=600)) as client:
        assert client.get("/runs", headers=viewer).status_code == 200  # verified and cached
        for _ in range(3):  # the same wrong key: hashed once
            assert client.get("/runs", headers={"X-API-Key": "wrong-1"}).status_code == 401
        assert checks.count("wrong-1") == 1
        for i in range(2, 6):  # five different invalid keys: the limit
            assert client.get("/runs", headers={"X-API-Key": f"wrong-{i}"}).status_code == 401
        blocked = client.get("/runs", headers={"X-API-Key": "wrong-6"})
        assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
        assert "wrong-6" not in checks  # refused without a hash
        assert client.get("/runs", headers=viewer).status_code == 200  # a verified key still works
        assert client.get("/runs").status_code == 200  # and so do anonymous reads


def test_keys_sent_at_once_get_no_more_checks_than_the_limit(store: Store, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Ten different invalid keys at the same moment, limit five: five checks (each on the key
    cache's own thread, not one of the request handlers'), five 401 and five 429."""
    build_row_world(store, analyze=False)
    threads: list[str] = []
    real = api.security.verify_key

    def counting(store_: Store, presented: str) -> Any:
        threads.append(threading.current_thread().name)
        return real(store_, presented)

    monkeypatch.setattr(api.security, "verify_key", counting)
    monkeypatch.setattr(api.security, "TARPIT_S", 0.0)
    with TestClient(app_for(store, tmp_path, failed_key_limit=5, failed_key_window_s=600)) as client, \
            ThreadPoolExecutor(10) as pool:
        statuses = Counter(pool.map(lambda i: client.get("/runs", headers={"X-API-Key": f"v5g_wrong-{i}"}).status_code,
                                    range(10)))
        assert statuses == {401: 5, 429: 5}
        assert len(threads) == 5 and all(name.startswith("village5g-key-check") for name in threads)
        assert client.get("/runs", headers=key(store, "viewer")).status_code == 429  # the address is blocked


def test_a_valid_key_does_not_count_against_its_address() -> None:
    cache = KeyCache(60.0, failed_limit=2, failed_window_s=600)
    assert cache.admit("10.0.0.1") == 0 and cache.admit("10.0.0.1") == 0  # two checks under way
    assert cache.admit("10.0.0.1") > 0 and cache.blocked("10.0.0.1") > 0  # no third, whatever they find
    cache.passed("10.0.0.1")  # one found a valid key
    assert cache.blocked("10.0.0.1") == 0 and cache.admit("10.0.0.1") == 0
    assert cache.blocked("10.0.0.1") > 0 and cache.blocked("10.0.0.2") == 0  # counted per address


# -- early header checks -------------------------------------------------------------------------


def test_a_missing_column_is_reported_before_the_file_is_parsed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                                 ) -> None:
    import coverage.ingest.inputs as ingest

    path = tmp_path / "m.csv"
    path.write_bytes(b"lon,lat,operator\n" + b"119.401,32.401,CMCC\n" * 10_000)  # 200 KB, no rsrp_dbm

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the whole file was parsed")

    monkeypatch.setattr(ingest, "read_table", never)
    with pytest.raises(ValidationError, match="missing required column 'rsrp_dbm'") as caught:
        read_input("measurements", path)
    assert [p.row for p in caught.value.problems] == [None]


def test_audit_results_check_their_header_first(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                ) -> None:
    import coverage.audit.results as audit_results
    from coverage.audit.rounds import draw_round, upload_results
    from coverage.audit.sampling import SamplingPlan

    build_row_world(store)
    drawn = draw_round(store, SamplingPlan(margin=0.3, seed=1))
    path = tmp_path / "t.csv"
    path.write_bytes(b"lon,lat,rsrp_dbm\n" + b"119.401,32.401,-90\n" * 10_000)  # no village code nor time

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the whole file was parsed")

    monkeypatch.setattr(audit_results, "read_csv_table", never)
    with pytest.raises(ValidationError, match="missing required column"):
        upload_results(store, drawn.round, path)
