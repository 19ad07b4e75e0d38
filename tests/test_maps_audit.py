"""The audit map on the tiny audit world: points classed by field outcome, reserves apart, through the
builder, `village5g map --audit`, GET /maps/audits/{round} and (marked slow) headless Chromium."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.cli import app as cli_app
from coverage.audit.rounds import draw_round, round_outcomes, upload_results
from coverage.audit.sampling import SamplingPlan
from coverage.store.storage import Store
from maps import MapOptions, render_html, write_html
from maps.audit import audit_points, build_audit_map
from tests.utils.api import app_for, key
from tests.utils.browser import assert_offline, open_page, require_browser
from tests.worlds.two_cities import field_tests, seed_two_cities


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, Path, dict[str, list[str]]]]:
    """Round 1 (24 villages, 6 reserves) with results: 5 villages pass, 3 fail, the first reserve of
    stratum 3201 passes; the codes of each expected class."""
    folder = tmp_path_factory.mktemp("audit-map")
    store = Store(f"sqlite:///{folder / 'audit.db'}")
    store.create_schema()
    seed_two_cities(store, folder)
    sample = draw_round(store, SamplingPlan(margin=0.15, seed=8))
    main, spare = sample.main, sample.villages[sample.villages["reserve"]]
    used = spare[spare["stratum"] == "3201"].head(1)
    tests = pd.concat([field_tests(main.iloc[:5]), field_tests(main.iloc[5:8], rsrp=-112.0, day="2026-11-03"),
                       field_tests(used, day="2026-11-04")])
    tests.to_csv(folder / "tests.csv", index=False)
    upload_results(store, 1, folder / "tests.csv")
    unused = [c for c in spare["code"] if c not in set(used["code"])]
    codes = {"pass": [*main["code"].iloc[:5], *used["code"]], "fail": list(main["code"].iloc[5:8]),
             "untested": list(main["code"].iloc[8:]), "reserve": unused}
    yield store, folder, codes
    store.dispose()


def _classes(points: dict[str, object]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for feature in points["features"]:  # type: ignore[attr-defined]
        out.setdefault(feature["properties"]["class"], []).append(feature["properties"]["code"])
    return {k: sorted(v) for k, v in out.items()}


def test_points_carry_their_outcome_class_order_and_evidence(world: tuple[Store, Path, dict[str, list[str]]]) -> None:
    store, _, codes = world
    sample, outcomes = round_outcomes(store, 1)
    points = audit_points(sample, outcomes)
    assert _classes(points) == {k: sorted(v) for k, v in codes.items()}
    by_code = {f["properties"]["code"]: f for f in points["features"]}
    reserve = by_code[codes["pass"][-1]]["properties"]
    assert reserve["reserve"] is True and reserve["label"] == "R1" and reserve["stratum"] == "3201"
    passed = by_code[codes["pass"][0]]["properties"]
    assert (passed["n_tests"], passed["n_pass"], passed["rsrp_median_dbm"]) == (2, 2, -90.0)
    assert by_code[codes["fail"][0]]["properties"]["rsrp_median_dbm"] == -112.0
    row = sample.villages.set_index("code").loc[codes["untested"][0]]
    assert by_code[codes["untested"][0]]["geometry"]["coordinates"] == [row["point_lon"], row["point_lat"]]
    assert by_code[codes["untested"][0]]["properties"]["nearest_site_m"] == round(row["nearest_site_m"])


def test_the_page_draws_the_points_offline_with_legend_and_outlines(world: tuple[Store, Path, dict[str, list[str]]]
                                                                    ) -> None:
    store, _, codes = world
    page = render_html(build_audit_map(store, 1), offline=True)
    data = json.loads(re.search(r"village5g\.auditLayer\((\{.*?\})\);", page, re.S).group(1))  # type: ignore[union-attr]
    assert _classes(data) == {k: sorted(v) for k, v in codes.items()}
    for label in ("通过 passed", "未通过 failed", "待测 not yet tested", "备选 reserve"):
        assert label in page
    assert "village outlines (30)" in page and "sampled villages (30)" in page
    assert not re.search(r"<script[^>]+src=\"https?://", page)
    wuxi = render_html(build_audit_map(store, 1, city="3202"), offline=True)
    assert "sampled villages (15)" in wuxi and codes["pass"][-1] not in wuxi


def test_cli_and_api_serve_the_audit_map(world: tuple[Store, Path, dict[str, list[str]]]) -> None:
    store, folder, codes = world
    out = folder / "audit.html"
    result = CliRunner().invoke(cli_app, ["--db", store.url, "map", "--audit", "1", "--city", "南京", "--offline",
                                          "-o", str(out)], catch_exceptions=False)
    assert result.exit_code == 0 and "audit round 1" in result.output, result.output
    assert "sampled villages (15)" in out.read_text(encoding="utf-8")
    with TestClient(app_for(store, folder / "api")) as client:
        page = client.get("/maps/audits/1")
        assert page.status_code == 200 and all(c in page.text for c in codes["fail"])
        assert '<script src="/maps/static/' in page.text
        limited = client.get("/maps/audits/1", headers=key(store, "viewer", region="3202")).text
        assert "sampled villages (15)" in limited and codes["pass"][-1] not in limited
        assert client.get("/maps/audits/7").status_code == 404


@pytest.mark.slow
def test_the_audit_map_in_a_browser(world: tuple[Store, Path, dict[str, list[str]]], tmp_path: Path) -> None:
    require_browser()
    store, _, codes = world
    m = build_audit_map(store, 1, options=MapOptions(basemap="none"))
    page = write_html(m, tmp_path / "audit.html", offline=True)
    result, proxy_requests = open_page(page, prepare=f"""(() => {{
        const counts = {{}};
        let popup = null;
        village5gMap.eachLayer(l => {{
            if (l.feature && l.feature.geometry.type === 'Point') {{
                const c = l.feature.properties['class'];
                counts[c] = (counts[c] || 0) + 1;
                if (l.feature.properties.code === '{codes["fail"][0]}') {{
                    l.openPopup();
                    popup = document.querySelector('.leaflet-popup-content').innerText;
                }}
            }}
        }});
        return JSON.stringify({{counts: counts, popup: popup}});
    }})()""")
    assert_offline(result, proxy_requests)
    seen = json.loads(result.prepared)
    assert seen["counts"] == {k: len(v) for k, v in codes.items()}
    assert "未通过" in seen["popup"] and "0 / 2 个测试点通过 (test points pass)" in seen["popup"]
    assert "-112.0 dBm" in seen["popup"]
