"""A region is its villages' polygons, not their bounding box: what a region-limited key reads,
writes and asks /whatif about.

The world: the small test world (扬州 3210's four villages in the west, 南京 3201's four in the east,
1 km gaps between) plus 插花村, a 南京 village lying in the gap between 扬州's first two villages,
i.e. inside 扬州's bounding box. It holds one station and one measurement.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import shapely
from fastapi.testclient import TestClient

from coverage.model.rules import DEFAULT_RULES
from coverage.runs.analysis import run_analysis
from coverage.schema import conform
from coverage.store.storage import IngestRecord, Store
from tests.utils.api import app_for, key
from tests.worlds.row import KM_LAT, KM_LON, PARAMS, SITE, SOUTH, WEST, row_measurements, row_stations, row_villages

ENCLAVE = "320115100209"
ENCLAVE_POINT = (WEST + 1.5 * KM_LON, SOUTH + 0.5 * KM_LAT)  # in 扬州's box, in 南京's 插花村
GAP_POINT = (WEST + 5.5 * KM_LON, SOUTH + 0.5 * KM_LAT)  # in 扬州's box, in no village


def _world(store: Store) -> None:
    villages = row_villages()
    enclave = conform("villages", {
        "code": [ENCLAVE], "name": ["插花村村委会"], "township_code": [ENCLAVE[:9]], "township_name": ["秣陵街道"],
        "county_code": [ENCLAVE[:6]], "county_name": ["江宁区"], "city_code": [ENCLAVE[:4]], "city_name": ["南京市"],
        "province_code": ["32"], "province_name": ["江苏省"], "source": ["test"],
    }, [shapely.box(WEST + 1.1 * KM_LON, SOUTH, WEST + 1.9 * KM_LON, SOUTH + KM_LAT)])
    villages = pd.concat([villages, enclave], ignore_index=True)
    stations = row_stations([SITE, ENCLAVE_POINT, GAP_POINT])
    measurements = row_measurements()
    extra = conform("measurements", {
        "lon": [ENCLAVE_POINT[0], GAP_POINT[0]], "lat": [ENCLAVE_POINT[1], GAP_POINT[1]],
        "operator": ["CMCC", "CMCC"], "rat": ["NR", "NR"], "rsrp_dbm": [-99.0, -98.0], "source": ["enclave", "gap"],
    }, shapely.points([ENCLAVE_POINT, GAP_POINT]))
    measurements = pd.concat([measurements, extra], ignore_index=True)
    for kind, frame in (("villages", villages), ("stations", stations), ("measurements", measurements)):
        store.write(kind, frame, record=IngestRecord(kind=kind, file_name=f"{kind}.test", sha256="0" * 64))
    run_analysis(store, rules=DEFAULT_RULES, params=PARAMS)


@pytest.fixture
def client(store: Store, tmp_path: Path) -> Iterator[TestClient]:
    _world(store)
    with TestClient(app_for(store, tmp_path)) as c:
        yield c


def _items(client: TestClient, url: str, headers: dict[str, str] | None = None) -> dict:
    response = client.get(url, headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_a_region_key_reads_points_inside_its_villages_only(client: TestClient, store: Store) -> None:
    yangzhou = key(store, "viewer", "3210")
    stations = _items(client, "/collections/stations/items?limit=100", yangzhou)
    sites = {f["properties"]["site_id"] for f in stations["features"]}
    assert sites == {"S0"}  # not S1 (南京's 插花村) nor S2 (in no village), both inside 扬州's box
    assert stations["numberMatched"] == 3 == stations["numberReturned"]
    measured = _items(client, "/collections/measurements/items?limit=100", yangzhou)
    assert {f["properties"]["source"] for f in measured["features"]} == {"drive_test"}
    assert measured["numberMatched"] == 5
    hidden = [f["id"] for f in _items(client, "/collections/stations/items?limit=100")["features"]
              if f["properties"]["site_id"] == "S1"]
    assert client.get(f"/collections/stations/items/{hidden[0]}", headers=yangzhou).status_code == 404
    # the region filter for anyone means the same
    anyone = _items(client, "/collections/stations/items?region=3210&limit=100")
    assert {f["properties"]["site_id"] for f in anyone["features"]} == {"S0"}
    nanjing = _items(client, "/collections/stations/items?region=3201&limit=100")
    assert {f["properties"]["site_id"] for f in nanjing["features"]} == {"S1"}


def test_paging_inside_a_region_counts_and_pages_the_region(client: TestClient, store: Store) -> None:
    yangzhou = key(store, "viewer", "3210")
    first = _items(client, "/collections/measurements/items?limit=2", yangzhou)
    second = _items(client, "/collections/measurements/items?limit=2&offset=2", yangzhou)
    third = _items(client, "/collections/measurements/items?limit=2&offset=4", yangzhou)
    rsrp = [f["properties"]["rsrp_dbm"] for page in (first, second, third) for f in page["features"]]
    assert rsrp == [-80.0, -85.0, -90.0, -95.0, -100.0]
    assert first["numberMatched"] == 5 and third["numberReturned"] == 1


def _csv(points: list[tuple[float, float]]) -> bytes:
    rows = "".join(f"{lon!r},{lat!r},CMCC,-90\n" for lon, lat in points)
    return ("lon,lat,operator,rsrp_dbm\n" + rows).encode()


def test_a_region_key_cannot_write_into_another_citys_village(client: TestClient, store: Store) -> None:
    auditor = key(store, "auditor", "3210")
    before = store.counts()["measurements"]
    for point in (ENCLAVE_POINT, GAP_POINT):
        response = client.post("/ingest/measurements", files={"file": ("m.csv", _csv([SITE, point]))}, headers=auditor)
        assert response.status_code == 403, response.text
        assert [d["row"] for d in response.json()["details"]] == [2]
    assert store.counts()["measurements"] == before
    ok = client.post("/ingest/measurements", files={"file": ("m.csv", _csv([SITE]))}, headers=auditor)
    assert ok.status_code == 201, ok.text


def _stations_csv(points: list[tuple[float, float]]) -> bytes:
    frame = row_stations(points)
    buffer = io.StringIO()
    pd.DataFrame(frame.drop(columns="geometry")).to_csv(buffer, index=False)
    return buffer.getvalue().encode()


def test_whatif_of_a_region_key_stays_in_its_region(client: TestClient, store: Store) -> None:
    auditor = key(store, "auditor", "3210")
    nanjing_site = (WEST + 10.5 * KM_LON, SOUTH + 0.5 * KM_LAT)  # the centre of 南京's 李庄
    refused = client.post("/whatif", files={"file": ("s.csv", _stations_csv([nanjing_site]))}, headers=auditor)
    assert refused.status_code == 403, refused.text
    yangzhou_site = (WEST + 4.5 * KM_LON, SOUTH + 0.5 * KM_LAT)  # the centre of 扬州's 丙村
    answer = client.post("/whatif", files={"file": ("s.csv", _stations_csv([yangzhou_site]))}, headers=auditor)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["villages"] == 4  # 扬州's four villages, not the nine of the run
    assert all(v["code"].startswith("3210") for v in body["villages_changed"])
    assert body["covered_before"] <= body["covered_after"] <= 4


def test_one_plan_or_whatif_at_a_time_per_process(client: TestClient, store: Store) -> None:
    auditor = key(store, "auditor")
    slot = client.app.state.heavy  # type: ignore[attr-defined]
    assert slot.acquire(blocking=False)  # as a plan being computed holds it
    try:
        busy = client.post("/plan", json={"sites": 1}, headers=auditor)
        assert busy.status_code == 409 and "another plan or what-if" in busy.json()["message"]
        site = (WEST + 4.5 * KM_LON, SOUTH + 0.5 * KM_LAT)
        busy = client.post("/whatif", files={"file": ("s.csv", _stations_csv([site]))}, headers=auditor)
        assert busy.status_code == 409
    finally:
        slot.release()
    assert client.post("/plan", json={"sites": 1}, headers=auditor).status_code == 200
