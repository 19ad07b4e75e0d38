"""Storing terrain inputs: a DEM and a land-cover raster kept with the data, logged and fingerprinted.

``village5g ingest dem|landcover FILE.tif`` checks the raster (georeferenced, one band, readable;
land cover in integer codes), copies it to ``<data dir>/terrain/<kind>.tif`` and logs it in
``ingests`` (kind ``dem``/``landcover``, sha256 of the file, plus the class table's for land cover),
replacing the previous one. A run reads the stored files (:func:`stored_terrain_source`) and records
their fingerprints (:func:`terrain_fingerprints`), so a changed DEM changes the run's inputs and a
refresh analyses again. Rasters are never read whole (:mod:`coverage.model.terrain_inputs`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from coverage.errors import Problem, ValidationError
from coverage.model.terrain_inputs import TerrainSource, check_raster, raster_fingerprint, read_class_table
from coverage.store.storage import Store, ingests

__all__ = ["TERRAIN_KINDS", "TerrainIngest", "clear_terrain", "store_terrain", "stored_terrain_source",
           "terrain_fingerprints"]

TERRAIN_KINDS = ("dem", "landcover")
CLASSES_FILE = "landcover_classes.csv"


@dataclass(frozen=True)
class TerrainIngest:
    """What :func:`store_terrain` stored."""

    kind: str
    file_name: str
    sha256: str
    crs: str
    width: int
    height: int
    resolution: tuple[float, float]
    path: Path


def store_terrain(store: Store, kind: str, path: Path, folder: Path, *, classes: Path | None = None) -> TerrainIngest:
    """Check ``path`` and keep it as the stored ``kind`` raster in ``folder`` (replacing the previous one).

    ``classes``: a land-cover class table (CSV: code, name, clutter_type, height_m, sigma_db) replacing
    the ESA WorldCover default. A rejected file raises :class:`~coverage.errors.ValidationError` naming
    it, and nothing is stored.
    """
    if kind not in TERRAIN_KINDS:
        raise ValidationError([Problem(path.name, None, None,
                                       f"地形数据类型应为 dem（高程）或 landcover（地物），不是 {kind!r} "
                                       f"(terrain kind must be dem or landcover, not {kind!r})")])
    if classes is not None and kind != "landcover":
        raise ValidationError([Problem(classes.name, None, None, "地物分类表只能配地物（landcover）栅格 "
                                                                 "(a class table belongs to a land-cover raster)")])
    info = check_raster(path, kind)
    if classes is not None:
        read_class_table(classes)  # checked before anything is stored
    sha = raster_fingerprint(path)
    if classes is not None:
        sha = hashlib.sha256((sha + raster_fingerprint(classes)).encode()).hexdigest()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{kind}.tif"
    tmp = folder / f".{kind}.tif.part"
    tmp_classes = folder / f".{CLASSES_FILE}.part"
    try:
        shutil.copyfile(path, tmp)
        if classes is not None:
            shutil.copyfile(classes, tmp_classes)
        with store.engine.begin() as conn:
            conn.execute(ingests.insert().values(
                kind=kind, file_name=path.name, sha256=sha, rows=int(info["width"]) * int(info["height"]),  # type: ignore[call-overload]
                mode="replace", crs=str(info["crs"])[:100], encoding=None, warnings=0,
                created_at=dt.datetime.now(dt.UTC).replace(tzinfo=None)))
            # the rename happens inside the transaction: a failed rename rolls the log back
            tmp.replace(target)
            if kind == "landcover":
                if classes is not None:
                    tmp_classes.replace(folder / CLASSES_FILE)
                else:
                    (folder / CLASSES_FILE).unlink(missing_ok=True)
    finally:
        tmp.unlink(missing_ok=True)
        tmp_classes.unlink(missing_ok=True)
    resolution = info["resolution"]
    assert isinstance(resolution, list)
    return TerrainIngest(kind=kind, file_name=path.name, sha256=sha, crs=str(info["crs"]), width=int(info["width"]),  # type: ignore[call-overload]
                         height=int(info["height"]), resolution=(float(resolution[0]), float(resolution[1])),  # type: ignore[call-overload]
                         path=target)


def terrain_fingerprints(store: Store) -> dict[str, str]:
    """The sha256 of the latest stored DEM and land cover (``{"dem": ..., "landcover": ...}``, only the
    kinds stored), from the ingest log."""
    out: dict[str, str] = {}
    with store.engine.connect() as conn:
        for kind in TERRAIN_KINDS:
            sha = conn.execute(select(ingests.c.sha256).where(ingests.c.kind == kind)
                               .order_by(ingests.c.id.desc()).limit(1)).scalar()
            if sha:  # an empty fingerprint logs a removal (clear_terrain)
                out[kind] = str(sha)
    return out


def clear_terrain(store: Store, folder: Path, *, file_name: str = "seed world") -> list[str]:
    """Remove the stored DEM and land cover (a new seed world replaces what is stored): their files go
    and the log records the removal (an empty fingerprint), so runs and refreshes see no terrain."""
    removed = []
    with store.engine.begin() as conn:
        for kind in terrain_fingerprints(store):
            conn.execute(ingests.insert().values(
                kind=kind, file_name=file_name, sha256="", rows=0, mode="seed", crs=None, encoding=None, warnings=0,
                created_at=dt.datetime.now(dt.UTC).replace(tzinfo=None)))
            removed.append(kind)
        for name in ("dem.tif", "landcover.tif", CLASSES_FILE):
            (folder / name).unlink(missing_ok=True)
    return removed


def stored_terrain_source(store: Store, folder: Path) -> tuple[TerrainSource | None, dict[str, str]]:
    """The stored terrain (None when neither a DEM nor a land cover is stored, or their files are gone)
    and its fingerprints."""
    prints = terrain_fingerprints(store)
    dem = folder / "dem.tif"
    landcover = folder / "landcover.tif"
    dem_path = dem if "dem" in prints and dem.exists() else None
    lc_path = landcover if "landcover" in prints and landcover.exists() else None
    if dem_path is None and lc_path is None:
        return None, {}
    classes = folder / CLASSES_FILE
    table = read_class_table(classes) if lc_path is not None and classes.exists() else ()
    used = {k: v for k, v in prints.items() if (k == "dem" and dem_path) or (k == "landcover" and lc_path)}
    return TerrainSource(dem_path=dem_path, landcover_path=lc_path, classes=table), used
