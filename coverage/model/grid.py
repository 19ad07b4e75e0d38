"""The prediction grid: a raster in the run's local metric CRS, snapped to multiples of the
resolution so that partitions and the whole run share pixels, and its tiles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyproj
from affine import Affine

__all__ = ["NODATA", "Grid", "make_grid", "tile_boxes"]

#: Value of RSRP/SINR pixels that no cell reaches.
NODATA = np.float32(-999.0)


@dataclass(frozen=True)
class Grid:
    """A north-up raster in a metric CRS: ``x0, y0`` is the top-left corner in metres."""

    crs: pyproj.CRS
    x0: float
    y0: float
    resolution_m: float
    width: int
    height: int

    @property
    def transform(self) -> Affine:
        """The affine pixel-to-CRS transform (rasterio convention)."""
        return Affine(self.resolution_m, 0.0, self.x0, 0.0, -self.resolution_m, self.y0)

    def pixel_of(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Row and column of metric coordinates (may fall outside the grid)."""
        col = np.floor((np.asarray(x) - self.x0) / self.resolution_m).astype(np.int64)
        row = np.floor((self.y0 - np.asarray(y)) / self.resolution_m).astype(np.int64)
        return row, col


def make_grid(bounds: tuple[float, float, float, float], crs: pyproj.CRS, resolution_m: float, *,
              lattice: tuple[float, float, int] | None = None) -> Grid:
    """The grid covering metric ``bounds`` (minx, miny, maxx, maxy), snapped to the resolution.

    ``lattice`` ``(x0, y0, step_px)``: put the top-left corner on that lattice instead (the corner of
    a run's grid and its tile size), so that the tiles of a grid over part of the area are tiles of
    the run's grid. ``x0`` and ``y0`` must be multiples of the resolution; corners are computed in
    whole pixels, so both grids give every pixel the same coordinates, bit for bit.
    """
    minx, miny, maxx, maxy = bounds
    if lattice is None:
        x0 = math.floor(minx / resolution_m) * resolution_m
        y0 = math.ceil(maxy / resolution_m) * resolution_m
    else:
        kx, ky, step = round(lattice[0] / resolution_m), round(lattice[1] / resolution_m), int(lattice[2])
        x0 = (kx + math.floor((minx / resolution_m - kx) / step) * step) * resolution_m
        y0 = (ky - math.floor((ky - maxy / resolution_m) / step) * step) * resolution_m
    width = math.ceil((maxx - x0) / resolution_m)
    height = math.ceil((y0 - miny) / resolution_m)
    return Grid(crs, x0, y0, resolution_m, max(width, 1), max(height, 1))


def tile_boxes(shape: tuple[int, int], tile_px: int, mask: np.ndarray | None = None
               ) -> list[tuple[int, int, int, int]]:
    """The boxes ``(row0, col0, row1, col1)`` a prediction computes: the grid's tiles of ``tile_px``,
    each cropped to the bounding box of its ``mask`` pixels (tiles without any are skipped).

    Pixels are independent of each other, so the boxes decide only which pixels get values, never
    the values; pixels outside every box stay :data:`NODATA` / :data:`NO_SIGNAL`.
    """
    height, width = shape
    boxes = []
    for r in range(0, height, tile_px):
        for c in range(0, width, tile_px):
            r1, c1 = min(r + tile_px, height), min(c + tile_px, width)
            if mask is None:
                boxes.append((r, c, r1, c1))
                continue
            sub = mask[r:r1, c:c1]
            rows = np.flatnonzero(sub.any(axis=1))
            if not rows.size:
                continue
            cols = np.flatnonzero(sub.any(axis=0))
            boxes.append((r + int(rows[0]), c + int(cols[0]), r + int(rows[-1]) + 1, c + int(cols[-1]) + 1))
    return boxes
