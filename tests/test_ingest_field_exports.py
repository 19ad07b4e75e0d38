"""Measurements as field teams export them: whitespace text, UTM metres, mixed row lengths, units
after an underscore or written 'db', no-service samples, and a wrong UTM zone caught.

Every file is hand-made here. The points lie in village A of :mod:`tests.worlds.boxes` (around lon
119.40-119.41, lat 32.40-32.41, UTM zone 50N).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyproj
import pytest
import shapely
from typer.testing import CliRunner

from api.cli import app as cli_app
from coverage.errors import ValidationError
from coverage.ingest import NEAR_VILLAGES_KM, far_from_villages, read_input
from coverage.ingest.mapping import ColumnMapping
from coverage.ingest.messages import english
from coverage.model.parameters import ModelParameters
from coverage.model.verdicts import NO_SERVICE_RSRP_DBM
from coverage.runs.analysis import analyze_frames
from coverage.schema import conform
from coverage.store.storage import Store
from tests.worlds.boxes import KM_LAT, RULES, A
from tests.worlds.boxes import box_villages as villages
from tests.worlds.boxes import sector_stations as stations
from tests.worlds.row import build_row_world

HEADER = "Time X Y Operator Tech PCI NR-ARFCN Speed_kmh Event Cell SS-RSRP(db) SS-SINR_dB DL_Mbps"
UTM50 = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:32650", always_xy=True)


def _drive_test(path: Path, points: list[tuple[float, float]], *, outage_every: int = 0,
                tech: str = "NR") -> Path:
    """A whitespace-separated NR drive-test log in UTM 50N metres: 13 fields per row, 10 on outage
    rows (no RSRP, SINR or throughput)."""
    lines = [HEADER]
    for i, (lon, lat) in enumerate(points):
        x, y = UTM50.transform(lon, lat)
        head = f"2026-06-0{1 + i % 9}T10:{i % 60:02d}:00 {x:.1f} {y:.1f} CMCC {tech} 101 504990 35 - C{i}"
        if outage_every and i % outage_every == outage_every - 1:
            lines.append(head)
        else:
            lines.append(f"{head} {-88.5 - i % 7} {12.0 - i % 5} {310.5 + i}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _points_in_a(k: int) -> list[tuple[float, float]]:
    lon, lat = np.meshgrid(np.linspace(A[0] + 0.001, A[2] - 0.001, k), np.linspace(A[1] + 0.001, A[3] - 0.001, k))
    return list(zip(lon.ravel().tolist(), lat.ravel().tolist(), strict=True))


def test_whitespace_utm_log_with_outage_rows_goes_in_with_one_flag(tmp_path: Path) -> None:
    points = _points_in_a(3)
    path = _drive_test(tmp_path / "NR路测.txt", points, outage_every=3)
    result = read_input("measurements", path, crs="EPSG:32650")
    frame = result.frame
    assert len(frame) == 9
    assert np.allclose(frame["lon"], [p[0] for p in points], atol=1e-7)
    assert np.allclose(frame["lat"], [p[1] for p in points], atol=1e-7)
    assert list(frame["band"].iloc[:2]) == ["n41", "n41"]  # NR-ARFCN 504990
    rsrp = frame["rsrp_dbm"].to_numpy()
    assert rsrp[0] == -88.5 and rsrp[2] == NO_SERVICE_RSRP_DBM  # outage rows kept, no service
    assert np.isnan(frame["sinr_db"].iloc[2]) and frame["dl_mbps"].iloc[0] == 310.5
    messages = [w.message for w in result.warnings]
    assert any("3 row(s) have fewer fields than the 13 of the header (3 with 10)" in m for m in messages)
    assert any(english(m).startswith("3 sample(s) without service (3 have an empty SS-RSRP)") for m in messages)
    assert any(english(m).startswith("unit 'dB' read as dBm") for m in messages)


def test_no_service_written_in_the_rsrp_column_or_a_flag_column(tmp_path: Path) -> None:
    header = ["经度", "纬度", "运营商", "RSRP_dBm", "服务状态"]
    rows = ["119.401,32.401,移动,-95,否", "119.402,32.401,移动,无服务,", "119.403,32.401,移动,,是",
            "119.404,32.401,移动,-97,是"]
    path = tmp_path / "m.csv"
    path.write_text(",".join(header) + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    with pytest.raises(ValidationError) as err:
        read_input("measurements", path)
    assert [(p.row, p.message) for p in err.value.problems] == [
        (4, "标记为无服务，却有 SS-RSRP -97 dBm (marked as no service but has SS-RSRP -97 dBm)")]
    path.write_text(",".join(header) + "\n" + "\n".join(rows[:3]) + "\n", encoding="utf-8")
    result = read_input("measurements", path)
    assert list(result.frame["rsrp_dbm"]) == [-95.0, NO_SERVICE_RSRP_DBM, NO_SERVICE_RSRP_DBM]
    assert any("2 sample(s) without service (1 say so in 'RSRP_dBm'; 1 flagged in '服务状态')" in w.message
               for w in result.warnings)


def test_no_service_samples_count_as_no_coverage() -> None:
    v, s = villages(A), stations([(119.405, 32.4045 - 1.5 * KM_LAT)])
    params = ModelParameters(resolution_m=100.0, workers=1, correlation_m=500.0)
    model = analyze_frames(v, s, None, rules=RULES, params=params)[0].iloc[0]
    assert model["verdict"] == "covered"
    lon, lat = np.array(_points_in_a(7)).T

    n = len(lon)
    outage = conform("measurements", {"lon": lon, "lat": lat, "operator": ["CMCC"] * n, "rat": ["NR"] * n,
                                      "rsrp_dbm": np.full(n, NO_SERVICE_RSRP_DBM)}, shapely.points(lon, lat))
    row = analyze_frames(v, s, outage, rules=RULES, params=params)[0].iloc[0]
    assert row["n_measurements"] == 49 and row["verdict"] != "covered"


def test_lte_tagged_samples_are_stored_as_lte(tmp_path: Path) -> None:
    path = _drive_test(tmp_path / "LTE.txt", _points_in_a(2), tech="L1800")
    path.write_text(path.read_text(encoding="utf-8").replace(" 504990 ", " 1650 "), encoding="utf-8")
    frame = read_input("measurements", path, crs="EPSG:32650").frame
    assert set(frame["rat"]) == {"LTE"} and set(frame["band"]) == {"B3"}
    # fusion and verdicts take NR samples only: tests/test_fusion.py::test_lte_samples_never_change_a_5g_verdict


def test_a_wrong_utm_zone_is_an_error_not_a_shift(tmp_path: Path) -> None:
    path = _drive_test(tmp_path / "NR路测.txt", _points_in_a(3))
    wrong = read_input("measurements", path, crs="EPSG:32651")  # zone 51: 6 degrees east, still China
    assert wrong.frame["lon"].min() > 125.0
    extent = (A[0], A[1], A[2], A[3])
    problem = far_from_villages(wrong, extent)
    assert problem is not None and "check the CRS" in problem.message and "9 of 9 points" in problem.message
    assert far_from_villages(read_input("measurements", path, crs="EPSG:32650"), extent) is None
    assert far_from_villages(wrong, None) is None
    # points 40 km east of the villages pass (a neighbouring county's drive test); 60 km do not
    shifted = wrong.frame.copy()
    for km, far in ((40.0, False), (60.0, True)):
        shifted["lon"] = A[2] + km / 94.0
        moved = type(wrong)(**{**wrong.__dict__, "frame": shifted})
        assert (far_from_villages(moved, extent) is not None) is far
        assert km < NEAR_VILLAGES_KM or far


def test_cli_rejects_a_wrong_zone_and_stores_nothing(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'v.db'}"
    store = Store(db)
    store.create_schema()
    build_row_world(store, analyze=False)
    before = store.counts()["measurements"]
    path = _drive_test(tmp_path / "NR路测.txt", _points_in_a(3))
    runner = CliRunner()
    out = runner.invoke(cli_app, ["--db", db, "ingest", "measurements", str(path), "--crs", "EPSG:32651"])
    assert out.exit_code == 1 and "check the CRS" in str(out.exception)
    assert store.counts()["measurements"] == before
    out = runner.invoke(cli_app, ["--db", db, "ingest", "measurements", str(path), "--crs", "EPSG:32650"])
    assert out.exit_code == 0, out.output
    assert store.counts()["measurements"] == before + 9
    store.dispose()


def test_a_profile_can_carry_the_crs(tmp_path: Path) -> None:
    path = _drive_test(tmp_path / "NR路测.txt", _points_in_a(2))
    frame = read_input("measurements", path, mapping=ColumnMapping(crs="EPSG:32650")).frame
    assert frame["lon"].between(119.39, 119.42).all()


def test_operators_written_as_plmn_codes(tmp_path: Path) -> None:
    path = tmp_path / "plmn.csv"
    path.write_text("lon,lat,operator,rsrp\n119.401,32.401,46000,-90\n119.402,32.401,460-01,-91\n"
                    "119.403,32.401,46011,-92\n119.404,32.401,46015,-93\n", encoding="utf-8")
    assert list(read_input("measurements", path).frame["operator"]) == ["CMCC", "CUCC", "CTCC", "CBN"]


def test_a_timestamp_with_a_space_is_one_field_of_whitespace_text(tmp_path: Path) -> None:
    path = tmp_path / "log.txt"
    path.write_text("Time Lon Lat Operator RSRP\n2026-06-01 10:00:00 119.401 32.401 CMCC -90\n"
                    "2026/6/1 10:00:05.5 119.402 32.401 CMCC -91\n", encoding="utf-8")
    frame = read_input("measurements", path).frame
    assert [str(t) for t in frame["measured_at"]] == ["2026-06-01 10:00:00", "2026-06-01 10:00:05.500000"]
    assert list(frame["rsrp_dbm"]) == [-90.0, -91.0]
