"""Fill-in site planning and what-if on tiny hand-made worlds whose optimum is known, and on the seed world."""

from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from coverage.errors import ConfigError, ValidationError
from coverage.model.rules import PLANNING_RULES as RULES  # planning asks for 90 % location probability
from coverage.planning.sites import plan_sites, plan_stations, read_candidates, site_stations, what_if_store
from coverage.runs.analysis import analyze_frames, run_analysis
from coverage.schema import is_village_committee
from coverage.store.storage import IngestRecord, Store
from tests.worlds.boxes import KM_LAT, PARAMS, box_villages, sector_stations

if TYPE_CHECKING:
    from seeds import SeedWorld

KM_LON = 1 / 94.0  # at 32.4 N
# An n41 site with the standard 3 sectors covers 0.3 km villages out to about 1.1 km east
# (measured with the model): A, B, C are 0.8 km apart on a line, D and E 20 km further east.
CENTRES_KM = {"A": 0.0, "B": 0.8, "C": 1.6, "D": 20.0, "E": 20.8}


def _world() -> gpd.GeoDataFrame:
    boxes = [(119.40 + (d - 0.15) * KM_LON, 32.40 - 0.15 * KM_LAT, 119.40 + (d + 0.15) * KM_LON,
              32.40 + 0.15 * KM_LAT) for d in CENTRES_KM.values()]
    return box_villages(*boxes)


def _point(km: float) -> tuple[float, float]:
    return 119.40 + km * KM_LON, 32.40


# P2 at A reaches A and B (C at 1.6 km is only weak); P1 at B reaches A, B, C; P3 at D reaches D, E;
# P4, 10 km from everything, reaches nothing. Listed with P2 first so that order cannot explain a win.
CANDIDATES = pd.DataFrame({"candidate_id": ["P2", "P1", "P3", "P4"],
                           "lon": [_point(k)[0] for k in (0.0, 0.8, 20.0, 10.0)],
                           "lat": [_point(k)[1] for k in (0.0, 0.8, 20.0, 10.0)]})
NO_STATIONS = sector_stations([])


def _covered(v: gpd.GeoDataFrame, s: gpd.GeoDataFrame) -> set[str]:
    results, _, _ = analyze_frames(v, s, None, rules=RULES, params=PARAMS)
    return set(results.loc[results["verdict"] == "covered", "code"])


def _with(s: gpd.GeoDataFrame, added: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(pd.concat([s, added], ignore_index=True), crs="EPSG:4326")


def test_greedy_finds_the_known_optimum_for_one_and_two_sites() -> None:
    v = _world()
    code = dict(zip(CENTRES_KM, v["code"].astype(str).tolist(), strict=True))
    one = plan_sites(v, NO_STATIONS, None, n_sites=1, rules=RULES, params=PARAMS, candidates=CANDIDATES)
    assert one.sites["candidate_id"].tolist() == ["P1"]
    assert one.sites["villages_gained"].iloc[0].split(";") == [code["A"], code["B"], code["C"]]
    two = plan_sites(v, NO_STATIONS, None, n_sites=2, rules=RULES, params=PARAMS, candidates=CANDIDATES)
    assert two.sites["candidate_id"].tolist() == ["P1", "P3"]
    assert two.sites["gained"].tolist() == [3, 2]
    assert two.sites["covered"].tolist() == [3, 5]
    assert two.sites["reach_rate"].tolist() == [0.6, 1.0]
    # the exhaustive search over every pair agrees that 5 is the optimum and P1 + P3 reaches it
    singles = {name: site_stations(np.array([lon]), np.array([lat]), [name], band="n41", operator="CMCC")
               for name, lon, lat in zip(CANDIDATES["candidate_id"].astype(str).tolist(), CANDIDATES["lon"],
                                         CANDIDATES["lat"], strict=True)}
    best = max(len(_covered(v, _with(singles[a], singles[b]))) for a, b in itertools.combinations(singles, 2))
    assert best == 5
    assert _covered(v, plan_stations(two)) == set(v["code"])
    # a region that holds every village changes nothing but adds its own columns
    regional = plan_sites(v, NO_STATIONS, None, n_sites=2, rules=RULES, params=PARAMS, candidates=CANDIDATES,
                          region="321012")
    assert regional.sites["candidate_id"].tolist() == ["P1", "P3"]
    assert regional.sites["region_reach_rate"].tolist() == [0.6, 1.0]


def test_plan_stops_when_no_candidate_gains_and_rejects_bad_options() -> None:
    v = _world()
    plan = plan_sites(v, NO_STATIONS, None, n_sites=4, rules=RULES, params=PARAMS, candidates=CANDIDATES)
    assert plan.sites["candidate_id"].tolist() == ["P1", "P3"]  # P2 and P4 add nothing after P1
    with pytest.raises(ConfigError, match="NR band"):
        plan_sites(v, NO_STATIONS, None, n_sites=1, rules=RULES, params=PARAMS, band="B3")
    with pytest.raises(ConfigError, match="operator"):
        plan_sites(v, NO_STATIONS, None, n_sites=1, rules=RULES, params=PARAMS, operator="ATT")
    with pytest.raises(ConfigError, match=r"^区域 3299：范围内没有代码以它开头的行政村 \(region '3299'"):
        plan_sites(v, NO_STATIONS, None, n_sites=1, rules=RULES, params=PARAMS, region="3299")


def test_a_small_plan_in_a_server_starts_no_fork_server_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    # in a server (another thread running) a pool's workers come from the fork server and took 7-8 s
    # to start; the 21 km x 0.3 km world (a few thousand pixels) is planned in this process, with the same sites
    import threading

    import coverage.planning.sites as sites

    def no_pool(*args: object, **kwargs: object) -> None:
        raise AssertionError("a pool was started for a few thousand pixels")

    v = _world()
    all_cores = dataclasses.replace(PARAMS, workers=0)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        monkeypatch.setattr(sites, "forked_pool", no_pool)
        plan = plan_sites(v, NO_STATIONS, None, n_sites=2, rules=RULES, params=all_cores, candidates=CANDIDATES[:2])
    finally:
        stop.set()
        other.join()
    assert plan.sites["candidate_id"].tolist() == ["P1"]  # P2 adds nothing after P1; P3 and P4 not offered


def test_plan_with_an_existing_network_equals_a_rerun_of_the_analysis() -> None:
    # an existing site 1.2 km west of A, another operator's site at E: interference from the new
    # sites on the existing ones is part of the state, and the default candidates are used
    v = _world()
    existing = sector_stations([_point(-1.2)])
    other = sector_stations([_point(20.8)])
    other["operator"] = "CTCC"
    other["band"] = "n78"
    s = _with(existing, other)
    before = _covered(v, s)
    plan = plan_sites(v, s, None, n_sites=3, rules=RULES, params=PARAMS)
    assert plan.covered_before == len(before)
    assert len(plan.sites) >= 1
    after = _covered(v, _with(s, plan_stations(plan)))
    assert len(after) == plan.sites["covered"].iloc[-1]
    gained = {c for text in plan.sites["villages_gained"] for c in text.split(";") if c}
    assert after - before == gained


def test_candidate_file_errors_name_the_row(tmp_path: Path) -> None:
    good = tmp_path / "towers.csv"
    good.write_text("站址编号,经度,纬度\nT1,119.4,32.4\n", encoding="gbk")
    assert read_candidates(good).to_dict("list") == {"candidate_id": ["T1"], "lon": [119.4], "lat": [32.4]}
    bad = tmp_path / "bad.csv"
    bad.write_text("id,lon,lat\nT1,119.4,32.4\nT2,32.4,119.4\nT3,abc,32.4\n", encoding="utf-8")
    with pytest.raises(ValidationError) as info:
        read_candidates(bad)
    text = str(info.value)
    assert "bad.csv" in text and "第 2 行" in text and "not in China" in text and "第 3 行" in text


def _record(kind: str) -> IngestRecord:
    return IngestRecord(kind=kind, file_name=f"{kind}.test", sha256="0" * 64)  # type: ignore[arg-type]


def test_what_if_lists_changed_villages_and_stores_nothing(store: Store) -> None:
    v = _world()
    store.write("villages", v, record=_record("villages"))
    store.write("stations", sector_stations([_point(20.0)]), record=_record("stations"))
    run = run_analysis(store, rules=RULES, params=PARAMS)
    stored_before = store.read("stations")
    proposed = site_stations(np.array([_point(0.8)[0]]), np.array([_point(0.8)[1]]), ["NEW"], band="n41",
                             operator="CMCC")
    run_id, changed, counts = what_if_store(store, proposed)
    code = dict(zip(CENTRES_KM, v["code"].astype(str).tolist(), strict=True))
    assert run_id == run.run_id
    assert changed["code"].tolist() == [code["A"], code["B"], code["C"]]
    assert set(changed["verdict_after"]) == {"covered"}
    assert counts == {"villages": 5, "before": 2, "after": 5}
    assert store.latest_run_id() == run.run_id
    pd.testing.assert_frame_equal(store.read("stations"), stored_before)


@pytest.mark.slow
def test_seed_world_city_plan_raises_the_rate_exactly_as_reported(seed_world: SeedWorld) -> None:
    # the village committees of one city (Xuzhou, 1,985) with every station of the province keep the
    # test near 40 s; the whole province gives the same equality (benchmarks/bench_plan.py --check)
    world = seed_world
    v = world.villages
    committees = v[v["code"].map(is_village_committee) & v["code"].str.startswith("3203")].reset_index(drop=True)
    plan = plan_sites(committees, world.stations, world.measurements, n_sites=5, rules=RULES, params=PARAMS)
    assert len(plan.sites) == 5
    assert (plan.sites["gained"] > 0).all()
    results, _, _ = analyze_frames(committees, _with(world.stations, plan_stations(plan)), world.measurements,
                                   rules=RULES, params=PARAMS)
    covered = int((results["verdict"] == "covered").sum())
    assert covered == plan.sites["covered"].iloc[-1]
    assert covered / len(results) == plan.sites["reach_rate"].iloc[-1]


def test_api_plan_and_whatif_need_an_auditor_key_and_store_nothing(store: Store, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from coverage.ingest.export import write_output
    from tests.utils.api import app_for, key

    v = _world()
    code = dict(zip(CENTRES_KM, v["code"].astype(str).tolist(), strict=True))
    store.write("villages", v, record=_record("villages"))
    store.write("stations", sector_stations([_point(20.0)]), record=_record("stations"))
    run = run_analysis(store, rules=RULES, params=PARAMS)
    stored = store.read("stations")
    proposed = write_output("stations", site_stations(np.array([_point(0.8)[0]]), np.array([_point(0.8)[1]]),
                                                      ["NEW"], band="n41", operator="CMCC"), tmp_path / "new.csv")
    with TestClient(app_for(store, tmp_path)) as client:
        assert client.post("/plan", json={"sites": 2}).status_code == 401
        assert client.post("/plan", json={"sites": 2}, headers=key(store, "viewer")).status_code == 403
        auditor = key(store, "auditor")
        assert client.post("/plan", json={"sites": 0}, headers=auditor).status_code == 400
        bad = client.post("/plan", json={"sites": 1, "band": "B3"}, headers=auditor)
        assert bad.status_code == 400 and bad.json()["message"] == (
            "频段 'B3'：请在 NR 频段上规划（n28、n41、n78、n79、n1） "
            "(band 'B3': plan on an NR band (n28, n41, n78, n79, n1))")
        response = client.post("/plan", json={"sites": 2}, headers=auditor)
        assert response.status_code == 200, response.text
        body = response.json()
        # default candidates: the committee points of A, B, C; B's reaches all three, then nothing gains
        assert (body["run_id"], body["covered_before"], body["candidates"]) == (run.run_id, 2, 3)
        assert [(s["candidate_id"], s["gained"], s["covered"], s["reach_rate"]) for s in body["sites"]] == [
            (code["B"], 3, 5, 1.0)]
        assert body["sites"][0]["villages_gained"] == [code["A"], code["B"], code["C"]]
        response = client.post("/whatif", files={"file": ("new.csv", proposed.read_bytes())}, headers=auditor)
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["covered_before"], body["covered_after"], body["changed"]) == (2, 5, 3)
        assert [c["code"] for c in body["villages_changed"]] == [code["A"], code["B"], code["C"]]
        bad_file = client.post("/whatif", files={"file": ("bad.csv", b"site_id,lon\nX,119\n")}, headers=auditor)
        assert bad_file.status_code == 422 and "bad.csv" in bad_file.text
    assert store.latest_run_id() == run.run_id
    pd.testing.assert_frame_equal(store.read("stations"), stored)


def test_plan_map_shows_the_planned_sites_offline(tmp_path: Path) -> None:
    from maps.plan import plan_map

    v = _world()
    plan = plan_sites(v, NO_STATIONS, None, n_sites=2, rules=RULES, params=PARAMS, candidates=CANDIDATES)
    text = plan_map(plan.sites, v, tmp_path / "plan.html").read_text(encoding="utf-8")
    assert text.count("PLAN-001") >= 1 and text.count("PLAN-002") >= 1
    # B's outline is drawn with its name (folium writes the GeoJSON with ASCII escapes)
    assert "villages gained" in text and json.dumps("村1") in text
    assert 'src="http' not in text and "<link" not in text.replace('<link rel="icon"', "")
