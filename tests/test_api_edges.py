"""Requests that used to end in a 500 or a traceback, and small protocol slips (issue 21, items 7-8):
datetime extremes, a vanishing margin, non-text encodings, since=0.5, OPTIONS, GeoJSON names."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from coverage.store.storage import Store
from tests.utils.api import app_for, key
from tests.worlds.row import build_row_world

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, TestClient]]:
    tmp = tmp_path_factory.mktemp("edges")
    store = Store(f"sqlite:///{tmp / 'edges.db'}")
    store.create_schema()
    build_row_world(store)
    with TestClient(app_for(store, tmp), raise_server_exceptions=False) as client:
        yield store, client
    store.dispose()


@pytest.mark.parametrize(("interval", "matched"), [
    ("9999-12-31T23:59:59Z/..", 0),  # after every sample (was an OverflowError, 500)
    ("0001-01-01T00:00:00+14:00", 0),  # before every sample (the same)
    ("../9999-12-31T23:59:59Z", 7),
    ("0001-01-01T00:00:00+14:00/..", 7),
])
def test_datetime_extremes_are_answered(world: tuple[Store, TestClient], interval: str, matched: int) -> None:
    _, client = world
    response = client.get("/collections/measurements/items", params={"datetime": interval})
    assert response.status_code == 200, response.text
    assert response.json()["numberMatched"] == matched


def test_a_vanishing_margin_is_a_400(world: tuple[Store, TestClient]) -> None:
    store, client = world
    response = client.post("/audits", json={"margin": 1e-200, "dry_run": True}, headers=key(store, "admin"))
    assert response.status_code == 400, response.text
    assert response.json()["details"][0]["location"] == "body.margin"


def test_audit_results_refuse_a_non_text_encoding(world: tuple[Store, TestClient]) -> None:
    store, client = world
    drawn = client.post("/audits", json={"margin": 0.3, "seed": 1}, headers=key(store, "admin"))
    assert drawn.status_code == 201, drawn.text
    round_number = drawn.json()["round"]
    response = client.post(f"/audits/{round_number}/results", files={"file": ("t.csv", b"village_code\n1\n")},
                           data={"encoding": "hex"}, headers=key(store, "auditor"))
    assert response.status_code == 400, response.text
    assert "not a text encoding" in response.json()["message"]


@pytest.mark.parametrize("since", ["0.5", "1", "1e9", "yesterday"])
def test_since_takes_rfc3339_only(world: tuple[Store, TestClient], since: str) -> None:
    _, client = world
    response = client.get("/summary/history", params={"since": since})
    assert response.status_code == 400, response.text
    assert response.json()["details"][0]["location"] == "query.since"


def test_since_in_rfc3339_filters_runs(world: tuple[Store, TestClient]) -> None:
    _, client = world
    assert len(client.get("/summary/history", params={"since": "2000-01-01T00:00:00Z"}).json()["series"]) == 1
    assert client.get("/summary/history", params={"since": "2999-01-01T00:00:00+08:00"}).json()["series"] == []


@pytest.mark.parametrize(("path", "allowed"), [
    ("/audits", "GET, HEAD, POST"), ("/runs", "GET, HEAD, POST"), ("/ingest/villages", "POST"),
    ("/runs/1", "GET, HEAD"),
])
def test_options_names_every_method_of_the_path(world: tuple[Store, TestClient], path: str, allowed: str) -> None:
    _, client = world
    response = client.options(path)
    assert response.status_code == 405
    assert response.headers["allow"] == allowed


def test_geojson_exports_are_named_after_their_content(world: tuple[Store, TestClient]) -> None:
    _, client = world
    villages = json.loads(client.get("/exports/villages?format=geojson").content)
    assert villages["name"] == "villages"


def test_cli_ingest_with_a_non_text_encoding_is_one_line(tmp_path: Path) -> None:
    csv = tmp_path / "m.csv"
    csv.write_text("lon,lat,operator,rsrp_dbm\n119.401,32.401,CMCC,-90\n")
    env = {**os.environ, "VILLAGE5G_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    done = subprocess.run([sys.executable, "-c", "from api.cli import main; main()", "ingest", "measurements",
                           str(csv), "--encoding", "hex"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1, done.stderr
    assert "'hex' is not a text encoding" in done.stderr and "Traceback" not in done.stderr
