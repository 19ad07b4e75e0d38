"""The kriging's candidate pixels (coverage.model.fusion._within): the same pixels as the distance transform
of the whole grid, whether the discs round sparse seeds are stamped or the dense grid is transformed."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import distance_transform_edt

from coverage.model.fusion import _within


@pytest.mark.parametrize(("shape", "n", "reach_m"), [((300, 400), 5, 460.0), ((300, 400), 40, 460.0),
                                                     ((60, 50), 900, 460.0), ((200, 150), 30, 360.0),
                                                     ((120, 130), 12, 100.0), ((80, 90), 3, 1_000.0)])
def test_within_reach_equals_the_distance_transform(shape: tuple[int, int], n: int, reach_m: float) -> None:
    rng = np.random.default_rng(n)
    rows, cols = rng.integers(0, shape[0], n), rng.integers(0, shape[1], n)
    rows[0], cols[0] = 0, shape[1] - 1  # a seed at the edge: its disc is clipped
    seeds = np.ones(shape, dtype=bool)
    seeds[rows, cols] = False
    expected = distance_transform_edt(seeds) * 100.0 <= reach_m
    got = _within(rows, cols, shape, 100.0, reach_m)
    assert got.dtype == bool and got.shape == shape
    np.testing.assert_array_equal(got, expected)
