"""The national synthetic world (seeds/national.py): every province's divisions build, and the
county-level units without a boundary get the polygon the module docstring promises."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
import sqlalchemy as sa
from typer.testing import CliRunner

from api.cli import app
from coverage.crs import local_metric_crs
from coverage.schema import Kind
from coverage.store.storage import Store
from coverage.store.tables import ingests
from seeds import world
from seeds.national import build_national_world, load_province_data, province_codes, seed_national_world
from seeds.world import SeedWorld, world_checksums
from tests.utils.frames import assert_frames_equal
from tests.worlds.contract import contract_measurements, contract_stations, contract_villages

PROVINCES = province_codes()["code"].tolist()


def test_the_list_has_the_31_provinces_and_the_nations_village_committees() -> None:
    """NBS 2023 list: 31 provincial-level units of the mainland, 487,144 village committees."""
    codes = province_codes()
    assert len(codes) == 31
    assert int(codes["village_committees"].sum()) == 487_144


@pytest.mark.parametrize("code", PROVINCES)
def test_every_province_builds_its_divisions(code: str) -> None:
    """The townships of every province tile their county (or its host) polygon: one valid, non-empty
    township per listed code, and each polygon's townships add up to its area."""
    real = load_province_data(code)
    crs = local_metric_crs(tuple(float(b) for b in real.province.total_bounds))
    towns = world._build_townships(real, np.random.default_rng(0), crs)
    divisions = world._divisions(real, towns, crs, province_code=code)

    assert list(towns.codes) == sorted(real.townships["code"])
    level = divisions["level"].to_numpy()
    assert (level == "province").sum() == 1
    assert set(divisions.loc[level == "county", "code"]) == set(real.counties["code"])
    township = divisions[level == "township"]
    assert township["code"].is_unique and len(township) == len(real.townships)
    assert shapely.is_valid(township.geometry.to_numpy()).all()
    assert not township.geometry.is_empty.any()

    # every county without a polygon names a host that has one
    counties = real.counties.set_index("code")
    without = counties.index[counties.geometry.isna()]
    assert set(without) == set(real.hosts)
    assert all(counties.geometry[real.hosts[c]] is not None for c in without)

    # the townships of a polygon tile it (metric areas, the generator's own CRS)
    parent = np.array([real.hosts.get(c, c) for c in real.townships.sort_values("code")["county_code"]])
    town_area = shapely.area(towns.cells)
    for host in np.unique(parent):
        polygon = world._geoms_to_metric(np.array([counties.geometry[host]], dtype=object), crs)[0]
        assert town_area[parent == host].sum() == pytest.approx(shapely.area(polygon), rel=1e-3), host


def test_a_city_without_districts_gives_its_polygon_to_its_county() -> None:
    """嘉峪关市 (6202) has no districts: its one county-level unit 620201 takes the city's polygon
    (the boundary file's 620200 is no county of the list), and 兰州新区 (620171, no boundary) is drawn
    inside 城关区 (620102), the lowest-coded district of 兰州市."""
    real = load_province_data("62")
    counties = real.counties.set_index("code")
    cities = real.cities.set_index("code")
    assert "620201" not in real.hosts
    assert shapely.equals(counties.geometry["620201"], cities.geometry["6202"])
    assert real.hosts == {"620171": "620102"}
    assert "620200" not in counties.index


def _stored(store: Store) -> dict[str, Any]:
    """What a seed leaves in the store: every kind's rows (in read order) and fingerprint, the
    divisions, and the latest seed's log lines (kind, checksum, rows)."""
    with store.engine.connect() as conn:
        log = sorted(conn.execute(sa.select(ingests.c.kind, ingests.c.sha256, ingests.c.rows)
                                  .order_by(ingests.c.id.desc()).limit(3)).all())  # the latest seed's
    out: dict[str, Any] = {kind: store.read(kind) for kind in ("villages", "stations", "measurements")}
    out.update({f"{kind} fingerprint": store.fingerprint(kind) for kind in ("villages", "stations", "measurements")})
    out["divisions"] = store.read_divisions()
    out["log"] = log
    return out


@pytest.fixture(scope="module")
def two_provinces() -> tuple[SeedWorld, str]:
    """宁夏 and 海南 built in memory in one piece, with the checksum of the whole (once for both stores)."""
    whole = build_national_world(["46", "64"])
    return whole, world_checksums(whole)["all"]


def test_seeding_province_by_province_stores_what_the_whole_world_stores(
        store: Store, two_provinces: tuple[SeedWorld, str]) -> None:
    """Two small provinces (宁夏 without and 海南 with a hosted county): built and stored one at a
    time, the store holds the same rows in the same order, fingerprints and checksum as the world
    built in memory and stored in one piece."""
    codes = ["46", "64"]
    whole, checksum = two_provinces
    store.seed(divisions_frame=whole.divisions, frames={"villages": whole.villages, "stations": whole.stations,
                                                        "measurements": whole.measurements}, fingerprint=checksum)
    before = _stored(store)
    assert [row[1] for row in before["log"]] == [checksum] * 3

    messages: list[str] = []
    streamed, counts = seed_national_world(store, codes, progress=messages.append)
    after = _stored(store)

    assert streamed == checksum
    assert counts == {"divisions": len(whole.divisions), "villages": len(whole.villages),
                      "stations": len(whole.stations), "measurements": 0, "mr_grids": 0}
    assert [m.split("：")[0] for m in messages] == ["46 海南省", "64 宁夏回族自治区"]
    villages = whole.villages["code"].str[:2].value_counts()
    assert all(f"行政村 {villages[m[:2]]:,}，" in m and f"{villages[m[:2]]:,} villages, " in m for m in messages)
    for key in ("villages", "stations", "measurements"):
        assert_frames_equal(after[key], before[key])
    # divisions: a hosted county has no geometry (None), which equals_exact does not call equal
    pd.testing.assert_frame_equal(after["divisions"].drop(columns="geometry"),
                                  before["divisions"].drop(columns="geometry"))
    assert list(shapely.to_wkb(after["divisions"].geometry.to_numpy())) == \
        list(shapely.to_wkb(before["divisions"].geometry.to_numpy()))
    assert after["divisions"].geometry.isna().sum() == 1  # 460323 中沙群岛, hosted by 460321 西沙群岛
    assert {k: v for k, v in after.items() if isinstance(v, str | list)} == \
        {k: v for k, v in before.items() if isinstance(v, str | list)}


def test_a_seed_whose_part_fails_stores_nothing(store: Store) -> None:
    """The parts go in one transaction: a part that fails to build leaves the stored world as it was."""
    villages, stations, measurements = contract_villages(), contract_stations(), contract_measurements()
    divisions = gpd.GeoDataFrame({"code": ["32"], "name": ["江苏省"], "level": ["province"], "parent_code": [None],
                                  "host_code": [None], "synthetic": [False]}, geometry=[None], crs="EPSG:4326")
    store.seed(divisions_frame=divisions, frames={"villages": villages, "stations": stations,
                                                  "measurements": measurements}, fingerprint="first")

    def parts() -> Iterator[tuple[gpd.GeoDataFrame, dict[Kind, gpd.GeoDataFrame]]]:
        yield divisions.iloc[:0], {"villages": villages.iloc[:1], "stations": stations}
        raise RuntimeError("the second province failed to build")

    with pytest.raises(RuntimeError, match="second province"):
        store.seed_parts(parts(), kinds=("villages", "stations", "measurements"), fingerprint=lambda: "second")
    assert_frames_equal(store.read("villages"), villages)
    assert_frames_equal(store.read("stations"), stations)
    assert_frames_equal(store.read("measurements"), measurements)
    assert store.read_divisions()["code"].tolist() == ["32"]


def test_the_seed_command_stores_the_provinces(tmp_path: Path) -> None:
    """`village5g seed --provinces 64`: 宁夏's 2,912 village-level units of the NBS list are stored,
    and the printed checksum is the one logged with them."""
    db = f"sqlite:///{tmp_path / 'nation.db'}"
    result = CliRunner().invoke(app, ["--db", db, "seed", "--provinces", "64"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "2,912 villages" in result.output
    store = Store(db)
    with store.engine.connect() as conn:
        logged = conn.execute(sa.select(ingests.c.sha256).where(ingests.c.kind == "villages")).scalar_one()
    assert f"seed world {logged[:12]} stored" in result.output
    assert store.read("villages")["province_code"].unique().tolist() == ["64"]
    store.dispose()
