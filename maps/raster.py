"""The predicted SS-RSRP raster as a map overlay: resampled to the map's Web Mercator grid, coloured in
steps at the rule set's cut-offs, embedded as a palette PNG.

The run's GeoTIFF is in a local transverse Mercator CRS; Leaflet stretches an image overlay linearly
in Web Mercator, so each overlay pixel is sampled (nearest neighbour) at its own centre: Web Mercator
-> display longitude/latitude -> (inverse GCJ-02 shift on a GCJ-02 basemap) -> WGS84 -> raster CRS.
The overlay is therefore exact on every basemap, not shifted as one block.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyproj
import rasterio
import shapely
from affine import Affine
from rasterio import features
from rasterio.windows import Window

from coverage.crs import gcj02_to_wgs84, project_xy
from coverage.errors import NotFoundError
from coverage.model.rules import RuleSet
from maps import png
from maps.style import hex_rgb, rsrp_steps, step_index

_R = 6378137.0  # Web Mercator sphere radius (m)
#: Opacity (0-255) of the overlay's coloured pixels.
OVERLAY_ALPHA = 190


@dataclass(frozen=True)
class Overlay:
    """An image overlay: a ``data:`` URL and its Leaflet bounds ``[[south, west], [north, east]]``."""

    url: str
    bounds: list[list[float]]
    width: int
    height: int


def _mercator(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.radians(lon) * _R
    y = np.log(np.tan(np.pi / 4 + np.radians(lat) / 2)) * _R
    return x, y


def _inverse_mercator(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lon = np.degrees(x / _R)
    lat = np.degrees(2 * np.arctan(np.exp(y / _R)) - np.pi / 2)
    return lon, lat


def _sample(path: Path, box: tuple[float, float, float, float], width: int, height: int, *, gcj02: bool
            ) -> np.ndarray:
    """Band 1 of the raster at the centres of a ``height`` x ``width`` grid over the Web Mercator ``box``
    (nearest neighbour; NaN outside the raster and at nodata). With ``gcj02`` the grid is in GCJ-02."""
    x0, y0, x1, y1 = box
    xs = x0 + (np.arange(width) + 0.5) * (x1 - x0) / width
    ys = y1 - (np.arange(height) + 0.5) * (y1 - y0) / height
    gx, gy = np.meshgrid(xs, ys)
    lon, lat = _inverse_mercator(gx.ravel(), gy.ravel())
    if gcj02:
        lon, lat = gcj02_to_wgs84(lon, lat)
    with rasterio.open(path) as src:
        crs = pyproj.CRS.from_user_input(src.crs.to_wkt())
        nodata = src.nodata
        px, py = project_xy(lon, lat, crs)
        inv = ~src.transform
        cols = np.floor(inv.a * px + inv.b * py + inv.c).astype(np.int64)
        rows = np.floor(inv.d * px + inv.e * py + inv.f).astype(np.int64)
        inside = (cols >= 0) & (cols < src.width) & (rows >= 0) & (rows < src.height)
        values = np.full(cols.shape, np.nan, dtype=np.float64)
        if inside.any():
            c0, c1 = int(cols[inside].min()), int(cols[inside].max()) + 1
            r0, r1 = int(rows[inside].min()), int(rows[inside].max()) + 1
            block = src.read(1, window=Window(c0, r0, c1 - c0, r1 - r0))
            values[inside] = block[rows[inside] - r0, cols[inside] - c0]
    if nodata is not None:
        values[values == nodata] = np.nan
    return values.reshape(height, width)


def _colour(values: np.ndarray, rules: RuleSet) -> bytes:
    """RSRP values (NaN: transparent) as a palette PNG in the stepped colours of the rule set."""
    steps = rsrp_steps(rules)
    index = np.zeros(values.shape, dtype=np.uint8)
    known = ~np.isnan(values)
    index[known] = step_index(values[known], steps) + 1
    palette = [(0, 0, 0, 0)] + [(*hex_rgb(s.color), OVERLAY_ALPHA) for s in steps]
    return png.encode_indexed(index, palette)


#: Side of a raster tile (px) and the lowest tile zoom served: below it a tile would read a window of
#: the run's raster larger than a few thousand pixels a side.
TILE_PX = 256
RSRP_MIN_ZOOM = 9


def rsrp_tile(raster_path: Path | str, z: int, x: int, y: int, *, rules: RuleSet, gcj02: bool = False
              ) -> bytes | None:
    """The Web Mercator tile ``z/x/y`` of the run's predicted SS-RSRP as a 256 px palette PNG, in the
    colours of :func:`rsrp_overlay`; None where the raster has no value in the tile (or below
    :data:`RSRP_MIN_ZOOM`)."""
    path = Path(raster_path)
    if not path.is_file():
        raise NotFoundError(f"prediction raster {path} does not exist")
    if z < RSRP_MIN_ZOOM:
        return None
    size = 2 * math.pi * _R / 2 ** z
    box = (-math.pi * _R + x * size, math.pi * _R - (y + 1) * size, -math.pi * _R + (x + 1) * size,
           math.pi * _R - y * size)
    values = _sample(path, box, TILE_PX, TILE_PX, gcj02=gcj02)
    if np.isnan(values).all():
        return None
    return _colour(values, rules)


def rsrp_overlay(raster_path: Path | str, bounds: tuple[float, float, float, float], *, rules: RuleSet,
                 gcj02: bool = False, clip: np.ndarray | None = None, max_px: int = 2048) -> Overlay:
    """Band 1 (SS-RSRP, dBm) of a run's GeoTIFF over ``bounds`` as a stepped-colour overlay.

    Parameters
    ----------
    raster_path
        The run's ``prediction.tif`` (band 1 RSRP dBm, nodata -999, any projected CRS).
    bounds
        ``(west, south, east, north)`` of the area to cover, in display degrees (GCJ-02 when ``gcj02``).
    rules
        The run's rule set: its good and weak cut-offs are colour edges (:func:`maps.style.rsrp_steps`).
    gcj02
        The map shows GCJ-02 coordinates.
    clip
        Polygons in display degrees (the map's villages): pixels outside them stay transparent, so the
        overlay does not spill into the neighbouring region.
    max_px
        Longest side of the overlay in pixels; below that the raster's own resolution is kept.

    Raises
    ------
    NotFoundError
        The raster file does not exist.
    """
    path = Path(raster_path)
    if not path.is_file():
        raise NotFoundError(f"prediction raster {path} does not exist")
    west, south, east, north = bounds
    with rasterio.open(path) as src:
        res_m = abs(src.transform.a)
    (x0, x1), (y0, y1) = _mercator(np.array([west, east]), np.array([south, north]))
    # a ground metre is 1/cos(lat) Web Mercator units
    cell = res_m / math.cos(math.radians((south + north) / 2))
    cell = max(cell, max(x1 - x0, y1 - y0) / max_px)
    width = max(1, math.ceil((x1 - x0) / cell))
    height = max(1, math.ceil((y1 - y0) / cell))
    values = _sample(path, (float(x0), float(y0), float(x1), float(y1)), width, height, gcj02=gcj02)
    if clip is not None and len(clip):
        polygons = shapely.transform(np.asarray(clip, dtype=object),
                                     lambda c: np.column_stack(_mercator(c[:, 0], c[:, 1])))
        grid = Affine((x1 - x0) / width, 0.0, x0, 0.0, -(y1 - y0) / height, y1)
        outside = features.geometry_mask([g for g in polygons if g is not None and not g.is_empty],
                                         out_shape=(height, width), transform=grid)
        values[outside] = np.nan
    data = _colour(values, rules)
    url = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    return Overlay(url, [[south, west], [north, east]], width, height)
