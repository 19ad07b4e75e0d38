"""The /audits routes on the tiny audit world (two cities of 40 villages, one published run), on SQLite and
PostGIS: roles and region limits, a round drawn over HTTP equal to the CLI's, list downloads, uploads
that are rejected whole, and a report equal to :func:`coverage.audit.rounds.round_report`."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
import typer
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.cli import app as cli_app
from coverage.audit.rounds import round_report
from coverage.audit.store import AuditStore
from coverage.store.storage import Store
from tests.utils.api import app_for, key
from tests.worlds.two_cities import field_tests, seed_two_cities

#: The request of the CLI tests: Cochran with a 15-point margin gives 24 villages and 6 reserves.
DRAW = {"margin": 0.15, "seed": 8}


@pytest.fixture
def client(store: Store, tmp_path: Path) -> Iterator[TestClient]:
    seed_two_cities(store, tmp_path)
    with TestClient(app_for(store, tmp_path, max_upload_mb=0.05)) as c:
        yield c


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode("utf-8-sig")


def _listed(client: TestClient, round_number: int = 1, headers: dict[str, str] | None = None) -> pd.DataFrame:
    answer = client.get(f"/audits/{round_number}/villages", headers=headers or {})
    assert answer.status_code == 200, answer.text
    return pd.DataFrame(answer.json()["villages"])


def _stored(store: Store, round_number: int = 1) -> tuple[int, int]:
    audits = AuditStore(store)
    return len(audits.read_tests(round_number)), len(audits.uploads(round_number))


def test_viewers_read_and_auditors_draw_and_upload(client: TestClient, store: Store) -> None:
    viewer, auditor = key(store, "viewer"), key(store, "auditor")
    assert client.post("/audits", json=DRAW).status_code == 401
    refused = client.post("/audits", json=DRAW, headers=viewer)
    assert refused.status_code == 403 and "role auditor" in refused.json()["message"]
    assert client.get("/audits").json()["rounds"] == []
    drawn = client.post("/audits", json=DRAW, headers=auditor)
    assert drawn.status_code == 201, drawn.text
    body = drawn.json()
    assert (body["round"], body["villages"], body["reserves"], body["seed"]) == (1, 24, 6, 8)
    assert [s["sample"] for s in body["strata"]] == [12, 12]  # Cochran n for N = 40 at 95% +- 15 points
    assert client.get("/audits/1", headers=viewer).json()["strata"] == body["strata"]
    listed = client.get("/audits", headers=viewer).json()["rounds"]
    assert [(r["round"], r["villages"], r["reserves"], r["tests"]) for r in listed] == [(1, 24, 6, 0)]
    tests = _csv(field_tests(_listed(client).query("~reserve").head(3)))
    assert client.post("/audits/1/results", files={"file": ("t.csv", tests)}, headers=viewer).status_code == 403
    assert _stored(store) == (0, 0)
    stored = client.post("/audits/1/results", files={"file": ("t.csv", tests)}, headers=auditor)
    assert stored.status_code == 201, stored.text
    assert (stored.json()["rows"], stored.json()["villages"]) == (6, 3)
    assert _stored(store) == (6, 1)
    dry = client.post("/audits", json={**DRAW, "dry_run": True}, headers=auditor)
    assert dry.status_code == 200 and dry.json()["round"] is None and AuditStore(store).latest_round() == 1
    assert client.get("/audits/2").status_code == 404


def test_a_round_drawn_over_http_equals_the_clis(client: TestClient, store: Store) -> None:
    body = {"strata": "city-verdict", "rate": 0.2, "minimum": 3, "reserve_share": 0.5, "population": "all",
            "cities": ["南京"], "seed": 31}
    assert client.post("/audits", json=body, headers=key(store, "admin")).status_code == 201
    result = CliRunner().invoke(cli_app, ["--db", store.url, "audit", "sample", "--strata", "city-verdict",
                                          "--rate", "0.2", "--min", "3", "--reserve-share", "0.5", "--city", "3201",
                                          "--seed", "31"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    audits = AuditStore(store)
    http, cli = audits.read_sample(1), audits.read_sample(2)
    assert http.plan == cli.plan and http.run_id == cli.run_id
    pd.testing.assert_frame_equal(http.strata, cli.strata)
    columns = [c for c in http.villages.columns if c not in ("round", "geometry")]
    pd.testing.assert_frame_equal(pd.DataFrame(http.villages[columns]), pd.DataFrame(cli.villages[columns]))
    assert set(http.villages["city_code"]) == {"3201"} and len(http.villages) > 0
    both = client.post("/audits", json={"rate": 0.2, "expected_pass": 0.8}, headers=key(store, "auditor"))
    assert both.status_code == 400 and "not both" in both.json()["message"]


def test_a_supplement_drawn_among_the_flagged_villages_over_http(client: TestClient, store: Store) -> None:
    auditor = key(store, "auditor")
    body = {**DRAW, "uncertain": 10, "uncertain_from": "flagged"}
    drawn = client.post("/audits", json=body, headers=auditor)
    assert drawn.status_code == 201, drawn.text
    detail = drawn.json()
    assert detail["plan"]["uncertain"] == 10 and detail["plan"]["uncertain_from"] == "flagged"
    # the run flags 6 villages (weak); those not on the random list or its reserves are all there is
    results = store.read_results(None)
    listed = _listed(client)
    random_part = set(listed.loc[listed["stratum"] != "uncertain", "code"])
    flagged = results[(results["verdict"] != "covered") & ~results["code"].isin(random_part)]
    expected = flagged.assign(d=(flagged["p_covered"] - 0.5).abs()).sort_values(["d", "code"])["code"].tolist()
    assert 0 < len(expected) < 10 and detail["supplementary"] == len(expected)
    assert listed.loc[listed["stratum"] == "uncertain", "code"].tolist() == expected
    assert detail["villages"] == 24 + len(expected) and detail["reserves"] == 6
    assert client.get("/audits/1", headers=auditor).json()["plan"]["uncertain_from"] == "flagged"
    report = client.get("/audits/1/report", params={"calibrate": False}, headers=auditor).json()
    assert report["uncertain_from"] == "flagged" and report["counts"]["supplementary"] == len(expected)
    # the default draws among every village; a round without a supplement reports none
    plain = client.post("/audits", json={**DRAW, "uncertain": 3, "dry_run": True}, headers=auditor).json()
    assert plain["plan"]["uncertain_from"] == "all" and plain["supplementary"] == 3
    none = client.post("/audits", json=DRAW, headers=auditor).json()
    assert none["plan"]["uncertain_from"] == "all" and none["supplementary"] == 0
    assert client.get("/audits/2/report", params={"calibrate": False}, headers=auditor).json()["uncertain_from"] is None
    # a bad choice: the one 400 shape, Chinese first, nothing stored
    bad = client.post("/audits", json={**DRAW, "uncertain": 3, "uncertain_from": "weak"}, headers=auditor)
    assert bad.status_code == 400
    message = "应为以下之一：'all'、'flagged' (Input should be 'all' or 'flagged')"
    assert bad.json()["code"] == "invalid_parameter"
    assert bad.json()["details"] == [{"location": "body.uncertain_from", "message": message}]
    assert AuditStore(store).latest_round() == 2


#: What the resolver says of 无钖 (钖 for 锡) among the two cities' villages: difflib's ratio of 无钖 to 无锡 is
#: 2 x 1 / 4 = 0.5, the cut-off for names; to 无锡市 0.4, to 南京(市) 0: only 3202 无锡市 is close.
MISSPELT = ("没有代码或名称为“无钖”的地市（已存行政村中）；是否指 3202 无锡市？ "
            "(no city with code or name '无钖' among the stored villages (did you mean 3202 无锡市?))")
#: Nothing is close to 上海.
FAR = "没有代码或名称为“上海”的地市（已存行政村中） (no city with code or name '上海' among the stored villages)"


def test_a_city_of_no_stored_village_is_a_400_naming_the_entry_and_the_closest(client: TestClient,
                                                                                store: Store) -> None:
    """``cities`` answers as every region filter does (400 ``invalid_parameter``, the CLI's message); it
    was ``bad_request`` without details."""
    auditor = key(store, "auditor")
    answer = client.post("/audits", json={**DRAW, "cities": ["南京", "无钖"]}, headers=auditor)
    assert answer.status_code == 400
    assert answer.json() == {"code": "invalid_parameter", "message": MISSPELT, "details": [
        {"location": "body.cities.1", "message": "3202 无锡市", "code": "3202", "name": "无锡市"}]}
    answer = client.post("/audits", json={**DRAW, "cities": ["上海", "3201"], "dry_run": True}, headers=auditor)
    assert answer.status_code == 400
    assert answer.json() == {"code": "invalid_parameter", "message": FAR,
                             "details": [{"location": "body.cities.0", "message": FAR}]}
    assert AuditStore(store).latest_round() is None
    # the CLI's --city says the same
    from api.cli.context import resolve_cities

    with pytest.raises(typer.BadParameter) as refused:
        resolve_cities(store, ["南京", "无钖"])
    assert refused.value.message == MISSPELT
    result = CliRunner().invoke(cli_app, ["--db", store.url, "audit", "sample", "--city", "南京", "--city", "无钖",
                                          "--dry-run"])
    assert result.exit_code == 2
    assert "".join(MISSPELT.split()) in "".join(result.output.replace("│", "").split())


def test_region_limited_keys_see_and_change_only_their_region(client: TestClient, store: Store) -> None:
    client.post("/audits", json=DRAW, headers=key(store, "admin"))
    nanjing = key(store, "auditor", region="3201")
    listed = _listed(client, headers=nanjing)
    assert len(listed) == 15 and set(listed["city_code"]) == {"3201"}
    detail = client.get("/audits/1", headers=nanjing).json()
    assert [s["stratum"] for s in detail["strata"]] == ["3201"] and detail["villages"] == 12
    assert client.get("/audits", headers=nanjing).json()["rounds"][0]["villages"] == 12
    everyone = _listed(client)
    wuxi = everyone[(everyone["city_code"] == "3202") & ~everyone["reserve"]].head(1)
    mixed = pd.concat([field_tests(listed.head(1)), field_tests(wuxi)], ignore_index=True)
    refused = client.post("/audits/1/results", files={"file": ("mixed.csv", _csv(mixed))}, headers=nanjing)
    assert refused.status_code == 403, refused.text
    assert refused.json()["details"][0]["row"] == 3 and wuxi["code"].iloc[0] in refused.json()["details"][0]["message"]
    assert _stored(store) == (0, 0)
    county = key(store, "auditor", region="320101")
    assert client.post("/audits", json=DRAW, headers=county).status_code == 403
    assert client.post("/audits", json={**DRAW, "cities": ["3202"]}, headers=nanjing).status_code == 403
    own = client.post("/audits", json=DRAW, headers=nanjing)
    assert own.status_code == 201 and own.json()["plan"]["cities"] == ["3201"]
    assert client.get("/audits/2/villages", headers=key(store, "viewer", region="3202")).status_code == 404


def test_rejected_uploads_leave_the_round_as_it_was(client: TestClient, store: Store) -> None:
    auditor = key(store, "auditor")
    client.post("/audits", json=DRAW, headers=auditor)
    good = field_tests(_listed(client).query("~reserve").head(4))
    assert client.post("/audits/1/results", files={"file": ("ok.csv", _csv(good.head(2)))},
                       headers=auditor).status_code == 201
    before = AuditStore(store).read_tests(1)
    bad = good.astype(object)
    bad.loc[5, "SS-RSRP(dBm)"] = "weak"
    answer = client.post("/audits/1/results", files={"file": ("bad.csv", _csv(bad))}, headers=auditor)
    assert answer.status_code == 422
    assert {"file": "bad.csv", "row": 6, "field": "SS-RSRP(dBm)"}.items() <= answer.json()["details"][0].items()
    again = client.post("/audits/1/results", files={"file": ("ok.csv", _csv(good.head(2)))}, headers=auditor)
    assert again.status_code == 422 and "already stored" in again.json()["details"][0]["message"]
    big = client.post("/audits/1/results", files={"file": ("big.csv", b"x" * 60_000)}, headers=auditor)
    assert big.status_code == 413
    assert client.post("/audits/9/results", files={"file": ("ok.csv", _csv(good))}, headers=auditor).status_code == 404
    after = AuditStore(store).read_tests(1)
    pd.testing.assert_frame_equal(pd.DataFrame(after.drop(columns="geometry")),
                                  pd.DataFrame(before.drop(columns="geometry")))
    assert _stored(store) == (2, 1)


def test_list_downloads_are_the_clis_files(client: TestClient, store: Store) -> None:
    client.post("/audits", json=DRAW, headers=key(store, "auditor"))
    csv = client.get("/audits/1/villages?format=csv")
    assert csv.status_code == 200 and csv.content.startswith(b"\xef\xbb\xbf")
    table = pd.read_csv(io.BytesIO(csv.content), encoding="utf-8-sig", dtype={"村代码": str})
    assert len(table) == 30 and set(table["村代码"]) == set(_listed(client)["code"])  # Chinese headers by default
    english = client.get("/audits/1/villages?format=csv&lang=en")
    assert set(pd.read_csv(io.BytesIO(english.content), encoding="utf-8-sig", dtype={"code": str})["code"]) == set(
        table["村代码"])
    book = openpyxl.load_workbook(io.BytesIO(client.get("/audits/1/villages?format=xlsx&city=无锡").content))
    assert book.sheetnames == ["3202 无锡市"]
    assert client.get("/audits/1/villages?format=kml").text.count("<Placemark>") == 30
    geojson = client.get("/audits/1/villages?format=geojson").json()
    assert len(geojson["features"]) == 30 and geojson["features"][0]["geometry"]["type"] == "Point"


def test_the_report_equals_the_domain_report(client: TestClient, store: Store) -> None:
    auditor = key(store, "auditor")
    client.post("/audits", json=DRAW, headers=auditor)
    listed = _listed(client).query("~reserve")
    # nine villages pass (RSRP -90 dBm), five fail (-112 dBm: below the -105 dBm bar)
    tests = pd.concat([field_tests(listed.iloc[:9], per_village=3),
                       field_tests(listed.iloc[9:14], per_village=3, rsrp=-112.0, day="2026-11-03")])
    assert client.post("/audits/1/results", files={"file": ("t.csv", _csv(tests))}, headers=auditor).status_code == 201
    for method in ("exact", "wilson"):
        body = client.get(f"/audits/1/report?method={method}&calibrate=false").json()
        expected = round_report(store, 1, method=method, calibrate=False)
        strata = pd.DataFrame(body["strata"])
        for col in ("population", "tested", "passed"):
            assert strata[col].tolist() == expected.strata[col].tolist()
        for col in ("pass_rate", "low", "high", "weight"):
            np.testing.assert_allclose(strata[col].astype(float), expected.strata[col].astype(float), rtol=1e-12)
        for name in ("pass_rate", "low", "high", "effective_n"):
            assert body["overall"][name] == pytest.approx(getattr(expected.overall, name), rel=1e-12)
        assert body["overall"]["tested"] == 14 and body["overall"]["passed"] == 9
        all_row = next(r for r in body["confusion"] if r["predicted"] == "all")
        assert (all_row["tested"], all_row["covered"]) == (14, 9)
    calibrated = client.get("/audits/1/report").json()
    assert calibrated["offsets"] and all(r["n_tests"] > 0 for r in calibrated["offsets"])
    assert AuditStore(store).read_offsets(1).empty  # a GET computes offsets, it does not store them
    stored = round_report(store, 1).offsets  # computed and stored, as `village5g audit report` does
    assert stored is not None
    served = pd.DataFrame(client.get("/audits/1/report").json()["offsets"]).sort_values(["band", "city_code"])
    expected_offsets = stored.sort_values(["band", "city_code"])
    assert served["city_code"].tolist() == expected_offsets["city_code"].tolist()
    np.testing.assert_allclose(served["offset_db"], expected_offsets["offset_db"], rtol=1e-12)
    strict = client.get("/audits/1/report?rsrp_min=-80&calibrate=false").json()
    assert strict["overall"]["passed"] == 0 and strict["rule"]["min_rsrp_dbm"] == -80
    nanjing = client.get("/audits/1/report?calibrate=false", headers=key(store, "viewer", region="3201")).json()
    assert [s["stratum"] for s in nanjing["strata"]] == ["3201"]
    assert {v["code"][:4] for v in nanjing["villages"]} == {"3201"}
