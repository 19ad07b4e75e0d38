"""The kriging's candidate pixels (coverage.model.fusion._within): the same pixels as the distance transform
of the whole grid, whether the discs round sparse seeds are stamped or the dense grid is transformed."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import distance_transform_edt

from coverage.model.fusion import _within, near_mask


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


@pytest.mark.parametrize(("shape", "reach_px", "cell_px"), [((40, 50), 0, 1), ((40, 50), 3, 1), ((30, 20), 6, 1),
                                                          ((12, 15), 20, 1), ((40, 50), 3, 4), ((41, 53), 6, 4),
                                                          ((30, 20), 0, 3), ((12, 15), 20, 5)])
def test_near_mask_keeps_every_pixel_within_reach_of_the_mask(shape: tuple[int, int], reach_px: int,
                                                              cell_px: int) -> None:
    rng = np.random.default_rng(reach_px * 10 + cell_px)
    mask = np.zeros(shape, dtype=bool)
    mask[rng.integers(0, shape[0], 6), rng.integers(0, shape[1], 6)] = True
    mask[0, 0] = mask[-1, -1] = True  # corner pixels: their squares are clipped
    # pixels on the grid and off it (up to reach + 3 pixels beyond every edge)
    rows = rng.integers(-reach_px - 3, shape[0] + reach_px + 3, 600)
    cols = rng.integers(-reach_px - 3, shape[1] + reach_px + 3, 600)
    mr, mc = np.nonzero(mask)

    def within(r: int, c: int, px: int) -> bool:  # a mask pixel in the square of half-side px round (r, c)
        return bool(np.any((np.abs(mr - r) <= px) & (np.abs(mc - c) <= px)))

    inner = [within(r, c, reach_px) for r, c in zip(rows, cols, strict=True)]
    outer = [within(r, c, reach_px + cell_px - 1) for r, c in zip(rows, cols, strict=True)]
    got = near_mask(rows, cols, mask, reach_px, cell_px=cell_px).tolist()
    assert all(g or not i for g, i in zip(got, inner, strict=True))  # every pixel within reach is kept
    assert all(o or not g for g, o in zip(got, outer, strict=True))  # and none a cell farther
    if cell_px == 1:
        assert got == inner
    assert any(got) and not all(got)
