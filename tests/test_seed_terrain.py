"""The seed world's opt-in terrain (seeds.terrain): the truth's Deygout and clutter on hand-made ground."""

from __future__ import annotations

import math

import numpy as np
import pytest

from seeds.terrain import LC_BUILT, LC_CROP, LC_TREE, SeedTerrain, _deygout, knife_edge_db
from seeds.world import METRIC_CRS

RES = 90.0


def _terrain(ridge_m: float, landcover: int = LC_CROP) -> SeedTerrain:
    n = 200
    z = np.full((n, n), 5.0, np.float32)
    cols = np.arange(n)
    z += (ridge_m * np.exp(-(((cols - 120) / 3.0) ** 2)))[None, :].astype(np.float32)
    return SeedTerrain(x0=0.0, y0=n * RES, res=RES, elevation=z, landcover=np.full((n, n), landcover, np.uint8),
                       crs=METRIC_CRS, clutter_height_factor=np.ones((n, n), np.float32))


def test_deygout_of_one_edge_is_its_knife_edge_and_two_more_edges_add() -> None:
    assert float(knife_edge_db(np.array(0.0))) == pytest.approx(6.03, abs=0.005)
    v = np.array([[1.0, -np.inf, -np.inf]])
    assert float(_deygout(v, np.array([4000.0]))[0]) == pytest.approx(
        float(knife_edge_db(np.array(1.0))) + (1 - math.exp(-13.93 / 6)) * (10.0 + 0.16), abs=0.01)
    more = np.array([[1.0, 0.5, 0.2]])
    assert float(_deygout(more, np.array([4000.0]))[0]) > float(_deygout(v, np.array([4000.0]))[0])


def test_a_ridge_shadows_the_points_behind_it_and_flat_ground_costs_nothing() -> None:
    site_x, site_y, mast = 60 * RES, 100 * RES, 30.0
    for ridge, behind_min in ((0.0, None), (120.0, 15.0)):
        tr = _terrain(ridge)
        table = tr.tabulate_sites(np.array([site_x]), np.array([site_y]), np.array([mast]))
        x = np.array([site_x + 3000.0, site_x + 5500.0])  # before the ridge (at 5.4 km) and behind it
        loss = tr.terrain_loss_db(table[:1], np.array([site_x]), np.array([site_y]), x, np.full(2, site_y),
                                  np.array([2565.0]))
        if behind_min is None:
            assert not tr.site_keys  # flat ground: no hilly site, no table, no loss
            np.testing.assert_array_equal(loss, 0.0)
        else:
            assert loss[0] == pytest.approx(0.0, abs=0.5) and loss[1] > behind_min


def test_clutter_loss_by_class_at_the_receiver() -> None:
    for code, expected_positive in ((LC_CROP, False), (LC_TREE, True), (LC_BUILT, True)):
        loss = _terrain(0.0, code).clutter_loss_db(np.array([1000.0]), np.array([1000.0]), np.array([2565.0]))
        assert bool(loss[0] > 5.0) is expected_positive
