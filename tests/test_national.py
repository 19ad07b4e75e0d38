"""The national synthetic world (seeds/national.py): every province's divisions build, and the
county-level units without a boundary get the polygon the module docstring promises."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from coverage.crs import local_metric_crs
from seeds import world
from seeds.national import load_province_data, province_codes

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
