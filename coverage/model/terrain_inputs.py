"""Terrain inputs: a DEM and a land-cover raster, checked, fingerprinted and read onto a prediction grid.

Both come as GeoTIFFs (any CRS rasterio and PROJ know; SRTM, ASTER, Copernicus GLO-30, ESA WorldCover,
GlobeLand30 or a user's own) and are never read whole: :func:`read_layers` warps them onto the
prediction grid (plus a halo of the model's largest range, so that a site beyond the grid's edge still
sees its own ground) block by block through a rasterio ``WarpedVRT`` window, averaging the DEM
(``Resampling.average``) and taking the most common class of the land cover (``Resampling.mode``).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import rasterio
from affine import Affine
from rasterio.enums import Resampling
from rasterio.errors import RasterioError
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from coverage.errors import ConfigError, Problem, ValidationError
from coverage.model.terrain import ClutterClass, class_table

__all__ = [
    "HALO_M",
    "TerrainLayers",
    "TerrainSource",
    "check_raster",
    "raster_fingerprint",
    "read_class_table",
    "read_layers",
]

#: The halo read around a prediction grid: twice the model's largest stamp range (RMa validity,
#: 10 km), so that a site that reaches the grid has all its own radials in the layers (runs over parts of
#: an area then see the same terrain as a whole run).
HALO_M = 20_000.0
#: Rows x columns of one block read from a warped raster.
BLOCK_PX = 1024
#: A site whose surroundings vary less than this (m) on the DEM is on flat ground: no terrain loss.
FLAT_RELIEF_M = 3.0


class GridLike(Protocol):
    """What :func:`read_layers` needs of a :class:`coverage.model.predict.Grid`."""

    @property
    def crs(self) -> object: ...
    @property
    def x0(self) -> float: ...
    @property
    def y0(self) -> float: ...
    @property
    def resolution_m(self) -> float: ...
    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...


def _reject(path: Path, message: str, row: int | None = None, column: str | None = None) -> ValidationError:
    return ValidationError([Problem(path.name, row, column, message)])


@dataclass(frozen=True)
class TerrainSource:
    """Where a run's terrain comes from: the stored DEM and land-cover files (either may be None)
    and the land-cover class table (empty: ESA WorldCover codes, :data:`coverage.model.terrain.WORLDCOVER_CLASSES`)."""

    dem_path: Path | None = None
    landcover_path: Path | None = None
    classes: tuple[tuple[int, ClutterClass], ...] = ()

    def table(self) -> dict[int, ClutterClass]:
        """The checked class table."""
        return class_table(dict(self.classes) if self.classes else None)


@dataclass
class TerrainLayers:
    """Elevation (float32 m, NaN unknown) and land-cover codes (uint8, 0 unknown) on a prediction grid
    widened by ``pad`` pixels on every side (pixel ``(r, c)`` of the grid is ``(r + pad, c + pad)``)."""

    pad: int
    elevation_m: np.ndarray | None
    landcover: np.ndarray | None
    classes: dict[int, ClutterClass] = field(default_factory=dict)
    flat_relief_m: float = FLAT_RELIEF_M

    def grid_landcover(self, height: int, width: int) -> np.ndarray | None:
        """The land-cover codes of the grid (without the halo), None without land cover."""
        if self.landcover is None:
            return None
        return self.landcover[self.pad:self.pad + height, self.pad:self.pad + width]

    def class_sigma_db(self, height: int, width: int) -> np.ndarray | None:
        """The land-cover classes' own location variability (dB, float32) on the grid (without the
        halo), None without land cover; codes outside the table get 0."""
        if self.landcover is None:
            return None
        sigma = np.zeros(256, dtype=np.float32)
        for code, cls in self.classes.items():
            sigma[code] = cls.sigma_db
        return sigma[self.landcover[self.pad:self.pad + height, self.pad:self.pad + width]]


def check_raster(path: Path, kind: str) -> dict[str, object]:
    """Open ``path`` as a single-band georeferenced raster of ``kind`` (``dem``/``landcover``) and
    describe it; a :class:`~coverage.errors.ValidationError` naming the file and the problem
    otherwise (only a 16 x 16 window is read)."""
    try:
        with rasterio.open(path) as src:
            if src.crs is None:
                raise _reject(path, "栅格没有坐标系；请为其指定坐标系（如 gdal_edit.py -a_srs EPSG:4326） "
                                    "(the raster has no CRS; give it one (e.g. gdal_edit.py -a_srs EPSG:4326))")
            if src.count < 1:
                raise _reject(path, "栅格没有波段 (the raster has no band)")
            if kind == "landcover" and np.dtype(src.dtypes[0]).kind not in "ui":
                raise _reject(path, f"地物栅格应为整数分类代码，不是 {src.dtypes[0]} "
                                    f"(land cover must hold integer class codes, not {src.dtypes[0]})")
            # one small window proves the data is readable
            window = Window(0, 0, min(src.width, 16), min(src.height, 16))
            sample = src.read(1, window=window, masked=True)
            if kind == "dem" and sample.count() and (float(sample.max()) > 9000 or float(sample.min()) < -500):
                heights = f"{float(sample.min()):g}-{float(sample.max()):g}"
                raise _reject(path, f"高程 {heights} 米不是地面高度（应在 -500 到 9000 米之间） "
                                    f"(elevations {heights} m are not ground heights (expected -500 to 9000 m))")
            return {"crs": src.crs.to_string(), "width": src.width, "height": src.height,
                    "resolution": [abs(src.transform.a), abs(src.transform.e)],
                    "bounds": [float(b) for b in src.bounds], "dtype": src.dtypes[0], "nodata": src.nodata}
    except RasterioError as exc:
        raise _reject(path, f"无法读取的栅格文件（{exc}） (not a raster rasterio can read ({exc}))") from exc


def raster_fingerprint(path: Path) -> str:
    """sha256 of the file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_class_table(path: Path) -> tuple[tuple[int, ClutterClass], ...]:
    """A user's land-cover class table: CSV with columns ``code``, ``name``, ``clutter_type`` (none,
    water_sea, open_rural, suburban, urban_trees_forest, dense_urban), ``height_m`` and ``sigma_db``."""
    import csv

    rows: list[tuple[int, ClutterClass]] = []
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        need = {"code", "name", "clutter_type", "height_m", "sigma_db"}
        if not need <= set(reader.fieldnames or []):
            raise _reject(path, f"地物分类表需要以下列：{'、'.join(sorted(need))} "
                                f"(a class table needs the columns {', '.join(sorted(need))})")
        for line, row in enumerate(reader, start=2):
            try:
                rows.append((int(row["code"]), ClutterClass(row["name"], row["clutter_type"].strip(),
                                                            float(row["height_m"]), float(row["sigma_db"]))))
            except ValueError as exc:
                raise _reject(path, str(exc), line) from exc
    try:
        class_table(dict(rows))
    except ConfigError as exc:
        raise _reject(path, str(exc)) from exc
    return tuple(rows)


def _read_warped(path: Path, crs: object, transform: object, width: int, height: int, *,
                 resampling: Resampling, dtype: str, fill: float) -> np.ndarray:
    out = np.full((height, width), fill, dtype=dtype)
    with rasterio.open(path) as src:
        options = {"crs": crs, "transform": transform, "width": width, "height": height,
                   "resampling": resampling, "dtype": dtype}
        if dtype == "float32":
            options["nodata"] = np.nan
        else:
            options["nodata"] = 0
        with WarpedVRT(src, **options) as vrt:
            for r0 in range(0, height, BLOCK_PX):
                for c0 in range(0, width, BLOCK_PX):
                    window = Window(c0, r0, min(BLOCK_PX, width - c0), min(BLOCK_PX, height - r0))
                    out[r0:r0 + window.height, c0:c0 + window.width] = vrt.read(1, window=window)
    return out


def read_layers(source: TerrainSource, grid: GridLike, *, halo_m: float = HALO_M) -> TerrainLayers:
    """The terrain of ``grid`` (a :class:`coverage.model.predict.Grid`) and a halo of ``halo_m`` around it."""
    res = float(grid.resolution_m)
    pad = math.ceil(halo_m / res) + 1
    width = int(grid.width) + 2 * pad
    height = int(grid.height) + 2 * pad
    transform = Affine(res, 0.0, float(grid.x0) - pad * res, 0.0, -res, float(grid.y0) + pad * res)
    crs = grid.crs
    elevation = landcover = None
    if source.dem_path is not None:
        elevation = _read_warped(source.dem_path, crs, transform, width, height,
                                 resampling=Resampling.average, dtype="float32", fill=np.nan)
    if source.landcover_path is not None:
        landcover = _read_warped(source.landcover_path, crs, transform, width, height,
                                 resampling=Resampling.mode, dtype="uint8", fill=0)
    return TerrainLayers(pad=pad, elevation_m=elevation, landcover=landcover, classes=source.table())
