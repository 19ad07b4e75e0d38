"""Vector tiles of a run for the console's map: villages by verdict, divisions by 通达率, sites.

Tiles are Mapbox Vector Tiles (MVT 2.1) on the Web Mercator ``z/x/y`` scheme (XYZ, ``y`` down) that
MapLibre asks for, encoded by ``mapbox-vector-tile``. What a tile holds depends on its zoom, so that
every tile stays small whatever the size of the world (a province or the nation):

``divisions`` (every zoom)
    County polygons (cities below :data:`COUNTY_MIN_ZOOM`) with their 通达率 in the run: ``code``,
    ``name``, ``level``, ``villages`` (village committees), ``covered``, ``reach`` (0-1). Below
    :data:`VILLAGE_MIN_ZOOM` they are the map; above it, their outlines.
``villages`` (from :data:`VILLAGE_MIN_ZOOM`)
    Village polygons: ``code``, ``name``, ``county``, ``township``, ``verdict``, ``cls`` (the map
    class, :func:`maps.style.village_class`), ``p`` (``p_covered``), ``source`` (verdict source),
    ``no_site``.
``sites`` (from :data:`SITE_MIN_ZOOM`)
    One point per cell: ``site_id``, ``operator``, ``rat``, ``band``, ``azimuth`` (-1 when omni),
    ``status``; the page draws sectors from the azimuth at high zoom.

Geometries are clipped to the tile plus a small buffer, simplified to half a tile unit and
snapped to whole units. With
``gcj02`` every feature is shifted to GCJ-02 for display on a GCJ-02 basemap (AMap), as the folium
maps do; stored geometries never change.

A run's results never change, so a tile is a function of the run, the stored villages, divisions and
stations (their last write ids) and the caller's region limits: :class:`TileSource` keeps each tile it
made under ``cache_dir`` (written atomically) and answers from there the next time.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import mapbox_vector_tile
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import func, select

from coverage.store.point_query import PointQuery, point_rows
from coverage.store.results_query import VillageQuery, data_stamp, region_envelope, result_rows, village_rows
from coverage.store.storage import Store
from coverage.store.tables import ingests
from coverage.summary import summarize
from coverage.writers import atomic_write
from maps.build import run_rules
from maps.geometry import shift_to_gcj02
from maps.raster import RSRP_MIN_ZOOM, rsrp_tile
from maps.style import village_classes

__all__ = ["COUNTY_MIN_ZOOM", "EXTENT", "MAX_ZOOM", "SITE_MIN_ZOOM", "VILLAGE_MIN_ZOOM", "TileSource",
           "encode_tile", "tile_bounds"]

EXTENT = 4096
#: Tile units kept around a tile, so fills and outlines join across tile edges.
BUFFER = 64
COUNTY_MIN_ZOOM = 7
VILLAGE_MIN_ZOOM = 9
SITE_MIN_ZOOM = 12
MAX_ZOOM = 18
_R = 6378137.0
_HALF = math.pi * _R
#: Largest GCJ-02 shift inside China (degrees, with room): the query box of a shifted tile grows by it.
_GCJ_MARGIN_DEG = 0.01


def tile_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """(west, south, east, north) of tile ``z/x/y`` in WGS84 degrees."""
    n = 2 ** z
    west, east = x / n * 360.0 - 180.0, (x + 1) / n * 360.0 - 180.0
    north = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * y / n))))
    south = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * (y + 1) / n))))
    return west, south, east, north


def _mercator_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    size = 2 * _HALF / 2 ** z
    return -_HALF + x * size, _HALF - (y + 1) * size, -_HALF + (x + 1) * size, _HALF - y * size


def _to_mercator(coords: np.ndarray) -> np.ndarray:
    lon, lat = coords[:, 0], np.clip(coords[:, 1], -85.05112878, 85.05112878)
    return np.column_stack([np.radians(lon) * _R, np.log(np.tan(np.pi / 4 + np.radians(lat) / 2)) * _R])


def _prepare(geoms: np.ndarray, z: int, x: int, y: int, *, gcj02: bool) -> np.ndarray:
    """WGS84 geometries in the tile's own units (0-:data:`EXTENT`, y up): shifted to GCJ-02 if asked,
    projected to Web Mercator, clipped to the tile and its buffer, simplified to half a unit and
    snapped to whole units."""
    if len(geoms) == 0:
        return geoms
    if gcj02:
        geoms = shift_to_gcj02(geoms)
    minx, miny, maxx, _ = _mercator_bounds(z, x, y)
    scale = EXTENT / (maxx - minx)

    def to_tile(coords: np.ndarray) -> np.ndarray:
        merc = _to_mercator(coords)
        return np.column_stack([(merc[:, 0] - minx) * scale, (merc[:, 1] - miny) * scale])

    local = shapely.transform(geoms, to_tile)
    clipped = shapely.clip_by_rect(local, -BUFFER, -BUFFER, EXTENT + BUFFER, EXTENT + BUFFER)
    return shapely.set_precision(shapely.simplify(clipped, 0.5, preserve_topology=True), 1.0)


def encode_tile(layers: Sequence[tuple[str, np.ndarray, list[dict[str, Any]]]]) -> bytes:
    """MVT bytes of ``layers`` (name, geometries in tile units, properties); empty geometries are left out."""
    out = []
    for name, geoms, props in layers:
        keep = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms)) if len(geoms) else np.zeros(0, bool)
        features = [{"geometry": g, "properties": p} for g, p, k in zip(geoms, props, keep, strict=True) if k]
        if features:
            out.append({"name": name, "features": features})
    if not out:
        return b""
    return bytes(mapbox_vector_tile.encode(out, default_options={
        "extents": EXTENT, "on_invalid_geometry": mapbox_vector_tile.encoder.on_invalid_geometry_make_valid}))


def _clean(value: Any) -> Any:
    """A property value MVT can hold (no None or NaN: those are left out by the caller)."""
    if isinstance(value, np.generic):
        value = value.item()
    return value


def _props(**columns: Sequence[Any]) -> list[dict[str, Any]]:
    names = list(columns)
    out = []
    for values in zip(*columns.values(), strict=True):
        row = {}
        for name, value in zip(names, values, strict=True):
            value = _clean(value)
            if value is None or (isinstance(value, float) and math.isnan(value)):
                continue
            row[name] = value
        out.append(row)
    return out


class TileSource:
    """The tiles of runs over ``store``, cached under ``cache_dir`` (None: not cached on disk)."""

    def __init__(self, store: Store, cache_dir: Path | None = None) -> None:
        self.store = store
        self.cache_dir = cache_dir
        self._lock = threading.Lock()
        self._divisions: dict[tuple[Any, ...], tuple[np.ndarray, list[dict[str, Any]], np.ndarray]] = {}

    # -- versions and cache ---------------------------------------------------------------------

    def _stamp(self) -> str:
        """The stored data a tile depends on: last write of villages, divisions (seed) and stations."""
        with self.store.engine.connect() as conn:
            parts = [data_stamp(conn, kind) for kind in ("villages", "stations")]
            last = conn.execute(select(func.max(ingests.c.id))).scalar()
        text = repr((parts, last))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @staticmethod
    def _check(z: int, x: int, y: int) -> None:
        if not (0 <= z <= MAX_ZOOM and 0 <= x < 2 ** z and 0 <= y < 2 ** z):
            raise ValueError(f"tile {z}/{x}/{y} does not exist (zoom 0-{MAX_ZOOM})")

    def _cached(self, run_id: int, kind: str, z: int, x: int, y: int, make: Callable[[], bytes]) -> bytes:
        """Tile ``z/x/y`` of ``kind`` (a folder of the run's cache, with the file's extension last) from
        the cache, else made by ``make`` and kept (written atomically)."""
        if self.cache_dir is None:
            return make()
        folder, ext = kind.rsplit(".", 1)
        path = self.cache_dir / f"run-{run_id}" / folder / str(z) / str(x) / f"{y}.{ext}"
        if path.exists():
            return path.read_bytes()
        data = make()
        with atomic_write(path) as tmp:
            tmp.write_bytes(data)
        return data

    def tile(self, run_id: int, z: int, x: int, y: int, *, regions: tuple[str, ...] = (),
             gcj02: bool = False) -> bytes:
        """MVT bytes of tile ``z/x/y`` of run ``run_id`` (empty bytes: nothing there)."""
        self._check(z, x, y)
        stamp = self._stamp()
        kind = f"{stamp}-{'-'.join(regions) or 'all'}{'-gcj02' if gcj02 else ''}.mvt"
        return self._cached(run_id, kind, z, x, y,
                            lambda: self._make(run_id, z, x, y, regions=regions, gcj02=gcj02, stamp=stamp))

    def rsrp(self, run_id: int, z: int, x: int, y: int, *, regions: tuple[str, ...] = (),
             gcj02: bool = False) -> bytes:
        """PNG tile ``z/x/y`` of the run's predicted SS-RSRP (:func:`maps.raster.rsrp_tile`); empty bytes
        where it has no value, below :data:`maps.raster.RSRP_MIN_ZOOM`, for a run without a raster, and
        for a region-limited caller outside the envelope of its region's villages."""
        self._check(z, x, y)
        if z < RSRP_MIN_ZOOM:
            return b""
        west, south, east, north = tile_bounds(z, x, y)
        for region in regions:
            e = region_envelope(self.store, region)
            if e[0] > east or e[2] < west or e[1] > north or e[3] < south:
                return b""

        def make() -> bytes:
            record = self.store.read_run(run_id)
            raster = record.get("raster_path")
            if not raster or not Path(str(raster)).is_file():
                return b""
            return rsrp_tile(Path(str(raster)), z, x, y, rules=run_rules(record), gcj02=gcj02) or b""

        return self._cached(run_id, f"rsrp{'-gcj02' if gcj02 else ''}.png", z, x, y, make)

    # -- layers ---------------------------------------------------------------------------------

    def _make(self, run_id: int, z: int, x: int, y: int, *, regions: tuple[str, ...], gcj02: bool,
              stamp: str) -> bytes:
        west, south, east, north = tile_bounds(z, x, y)
        margin = _GCJ_MARGIN_DEG if gcj02 else 0.0
        pad = (east - west) * BUFFER / EXTENT + margin
        box = (west - pad, south - pad, east + pad, north + pad)
        layers = [self._division_layer(run_id, z, x, y, box, regions=regions, gcj02=gcj02, stamp=stamp)]
        if z >= VILLAGE_MIN_ZOOM:
            layers.append(self._village_layer(run_id, z, x, y, box, regions=regions, gcj02=gcj02))
        if z >= SITE_MIN_ZOOM:
            layers.append(self._site_layer(z, x, y, box, regions=regions, gcj02=gcj02))
        return encode_tile(layers)

    def _division_table(self, run_id: int, level: str, regions: tuple[str, ...], stamp: str
                        ) -> tuple[np.ndarray, list[dict[str, Any]], np.ndarray]:
        """Polygons, properties and envelopes of the ``level`` divisions with villages in the run."""
        key = (run_id, level, regions, stamp)
        with self._lock:
            if key in self._divisions:
                return self._divisions[key]
        rows = result_rows(self.store, run_id, regions=regions)
        committees = rows[rows["is_committee"].astype(bool)] if "is_committee" in rows else rows
        table = summarize(committees, level=level) if len(committees) else pd.DataFrame()
        divisions = self.store.read_divisions(level)
        if len(table):
            divisions = divisions.merge(table[["code", "villages", "covered", "reach_rate"]], on="code", how="inner")
        else:
            divisions = divisions.iloc[:0].assign(villages=[], covered=[], reach_rate=[])
        divisions = divisions[~divisions.geometry.isna()]
        geoms = divisions.geometry.to_numpy()
        props = _props(code=divisions["code"].tolist(), name=divisions["name"].tolist(),
                       level=[level] * len(divisions), villages=divisions["villages"].astype(int).tolist(),
                       covered=divisions["covered"].astype(int).tolist(),
                       reach=np.round(divisions["reach_rate"].astype(float), 4).tolist())
        bounds = shapely.bounds(geoms) if len(geoms) else np.zeros((0, 4))
        entry = (geoms, props, bounds)
        with self._lock:
            self._divisions[key] = entry
        return entry

    def _division_layer(self, run_id: int, z: int, x: int, y: int, box: tuple[float, float, float, float], *,
                        regions: tuple[str, ...], gcj02: bool, stamp: str
                        ) -> tuple[str, np.ndarray, list[dict[str, Any]]]:
        level = "county" if z >= COUNTY_MIN_ZOOM else "city"
        geoms, props, bounds = self._division_table(run_id, level, regions, stamp)
        hit = ((bounds[:, 0] <= box[2]) & (bounds[:, 2] >= box[0]) & (bounds[:, 1] <= box[3])
               & (bounds[:, 3] >= box[1])) if len(bounds) else np.zeros(0, bool)
        idx = np.flatnonzero(hit)
        return "divisions", _prepare(geoms[idx], z, x, y, gcj02=gcj02), [props[i] for i in idx]

    def _village_layer(self, run_id: int, z: int, x: int, y: int, box: tuple[float, float, float, float], *,
                       regions: tuple[str, ...], gcj02: bool) -> tuple[str, np.ndarray, list[dict[str, Any]]]:
        rows, _ = village_rows(self.store, run_id, VillageQuery(regions=regions, bbox=box), count=False)
        v = rows.values
        p = np.asarray([np.nan if value is None else value for value in v["p_covered"]], dtype=float)
        props = _props(code=v["code"], name=v["name"], county=v["county_name"], township=v["township_name"],
                       verdict=v["verdict"], cls=village_classes(np.asarray(v["verdict"], dtype=object),
                                                                 np.asarray(v["no_site"], dtype=bool)).tolist(),
                       p=np.round(p, 3).tolist(), source=v["verdict_source"],
                       no_site=[bool(s) for s in v["no_site"]])
        return "villages", _prepare(rows.geometry, z, x, y, gcj02=gcj02), props

    def _site_layer(self, z: int, x: int, y: int, box: tuple[float, float, float, float], *,
                    regions: tuple[str, ...], gcj02: bool) -> tuple[str, np.ndarray, list[dict[str, Any]]]:
        rows, _ = point_rows(self.store, "stations", PointQuery(bbox=box, regions=regions), count=False)
        v = rows.values
        azimuth = [-1.0 if a is None else round(float(a), 1) for a in v["azimuth_deg"]]
        props = _props(site_id=v["site_id"], operator=v["operator"], rat=v["rat"], band=v["band"],
                       azimuth=azimuth, status=v["status"])
        return "sites", _prepare(rows.geometry, z, x, y, gcj02=gcj02), props
