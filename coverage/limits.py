"""Resource limits, decided before the work starts: one table of what a request or a run may cost.

Each limit is checked from what is known cheaply (a grid's extent, a file's size, an archive's
directory, a line count) before memory is spent on the real work, and breaking it raises
:class:`LimitError`, which names the limit, the setting that raises it and the value found. The
HTTP service sets them from ``VILLAGE5G_*`` settings (``api.settings``); the library's defaults
(:data:`DEFAULT_LIMITS`) are for trusted local files and only guard against archives and grids no
machine could hold.
"""

from __future__ import annotations

import math
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from coverage.errors import Problem, ValidationError, Village5gError

__all__ = ["DEFAULT_LIMITS", "LimitError", "Limits", "check_archive", "check_grid", "check_rows",
           "grid_shape_of_bounds"]


class LimitError(ValidationError):
    """A request or file would cost more than a configured limit allows (nothing was done).

    ``setting`` names the setting (e.g. ``max_grid_pixels``), ``limit`` its value and ``found`` the
    amount asked for. A rejected input like any other: ``problems`` holds one problem of ``file``
    (empty when no file is concerned) whose message is the error's: ``zh``, the Chinese of the English
    ``message``, first, the English in brackets.
    """

    def __init__(self, message: str, *, setting: str, limit: float, found: float, file: str = "",
                 zh: str = "") -> None:
        self.setting = setting
        self.limit = limit
        self.found = found
        self.english = f"{file}: {message}" if file else message
        self.chinese = (f"{file}：{zh}" if file else zh) if zh else ""
        self.problems = [Problem(file, None, None, f"{zh} ({message})" if zh else message)]
        Village5gError.__init__(self, f"{self.chinese} ({self.english})" if zh else self.english)

    def message_done(self) -> str:
        """The message, saying that nothing was done (the API's)."""
        if not self.chinese:
            return f"{self.english}; nothing was done"
        return f"{self.chinese}；未做任何处理 ({self.english}; nothing was done)"


@dataclass(frozen=True)
class Limits:
    """What one analysis or one input file may cost.

    Attributes
    ----------
    max_grid_pixels
        Pixels of one prediction grid (a single-process run's, or one partition's). About 100-110
        bytes per pixel at peak (Jiangsu at 100 m: 25.3 million pixels, 2.7 GB; Shanghai, Jiangsu
        and Anhui: 42.5 million, 4.3 GB): the default 60 million is about 6.5 GB. At 50 m,
        partition a province's run.
    max_rows
        Data rows of one input file, counted before it is parsed (CSV: lines; other formats: the
        count their header or metadata states); None for no limit.
    max_unpacked_bytes
        Bytes an archive (.zip upload, .xlsx workbook) unpacks to, from its directory.
    max_zip_ratio
        Largest ratio of unpacked to packed size of one archive member larger than 1 MiB (a zip
        bomb packs a gigabyte of repeated rows into a few megabytes, ratio 400-1,000; real tables
        pack 3-20x).
    """

    max_grid_pixels: int = 60_000_000
    max_rows: int | None = None
    max_unpacked_bytes: int = 4 * 1024**3
    max_zip_ratio: float = 200.0


#: Limits of library calls and the CLI: generous, for trusted files.
DEFAULT_LIMITS = Limits()


def grid_shape_of_bounds(bounds_lonlat: tuple[float, float, float, float], resolution_m: float
                         ) -> tuple[int, int]:
    """``(width, height)`` in pixels of the metric grid covering WGS84 ``bounds_lonlat``.

    The box's edges are projected into the local metric CRS (:func:`coverage.crs.local_metric_crs`)
    at 33 points each, so the estimate is within a pixel or two of the run's own grid.
    """
    from coverage.crs import local_metric_crs, project_xy

    lon_min, lat_min, lon_max, lat_max = bounds_lonlat
    crs = local_metric_crs(bounds_lonlat)
    t = np.linspace(0.0, 1.0, 33)
    lon = np.concatenate([lon_min + t * (lon_max - lon_min), lon_min + t * (lon_max - lon_min),
                          np.full_like(t, lon_min), np.full_like(t, lon_max)])
    lat = np.concatenate([np.full_like(t, lat_min), np.full_like(t, lat_max),
                          lat_min + t * (lat_max - lat_min), lat_min + t * (lat_max - lat_min)])
    x, y = project_xy(lon, lat, crs)
    width = math.ceil((float(np.max(x)) - float(np.min(x))) / resolution_m) + 1
    height = math.ceil((float(np.max(y)) - float(np.min(y))) / resolution_m) + 1
    return max(width, 1), max(height, 1)


def _grid_zh(what: str) -> str:
    """The Chinese of a grid :func:`check_grid` is told of (``what``); ``what`` itself when unknown."""
    partition = "the prediction grid of partition "
    if what.startswith(partition):
        return f"分区 {what[len(partition):]} 的预测栅格"
    return {"the prediction grid": "预测栅格", "the run's prediction grid": "本次运行的预测栅格"}.get(what, what)


def check_grid(width: int, height: int, resolution_m: float, limits: Limits = DEFAULT_LIMITS, *,
               what: str = "the prediction grid") -> None:
    """Raise :class:`LimitError` when a ``width`` x ``height`` grid exceeds ``limits.max_grid_pixels``."""
    pixels = int(width) * int(height)
    if pixels > limits.max_grid_pixels:
        raise LimitError(
            f"{what} at {resolution_m:g} m would be {width:,} x {height:,} = {pixels:,} pixels, more than "
            f"the limit max_grid_pixels = {limits.max_grid_pixels:,}; use a coarser resolution, a partitioned "
            "run, or raise the limit", setting="max_grid_pixels", limit=limits.max_grid_pixels, found=pixels,
            zh=f"{_grid_zh(what)}在 {resolution_m:g} 米分辨率下将有 {width:,} x {height:,} = {pixels:,} "
               f"个像素，超过限制 max_grid_pixels = {limits.max_grid_pixels:,}；请用更粗的分辨率、分区运行，或提高限制")


def check_rows(rows: int, file: str, limits: Limits, *, unit: str = "rows") -> None:
    """Raise :class:`LimitError` when ``rows`` exceeds ``limits.max_rows``."""
    if limits.max_rows is not None and rows > limits.max_rows:
        raise LimitError(
            f"the file has {'more than ' if unit == 'lines' else ''}{rows:,} {unit}, more than the "
            f"limit max_upload_rows = {limits.max_rows:,}; split it into smaller files",
            setting="max_upload_rows", limit=limits.max_rows, found=rows, file=file,
            zh=f"文件有{'超过' if unit == 'lines' else ''} {rows:,} 行，"
               f"超过限制 max_upload_rows = {limits.max_rows:,}；请拆分成较小的文件")


def count_lines(path: Path, stop_after: int) -> int:
    """Line breaks in ``path`` (plus one for a last line without one), read in 1 MiB blocks;
    counting stops once it passes ``stop_after``."""
    lines = 0
    last = b"\n"
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            lines += block.count(b"\n")
            last = block[-1:]
            if lines > stop_after:
                return lines
    return lines + (last != b"\n")


def check_archive(archive: zipfile.ZipFile, file: str, limits: Limits) -> None:
    """Refuse an archive whose directory declares more than ``limits.max_unpacked_bytes`` in all,
    or a member packed more tightly than ``limits.max_zip_ratio`` (a zip bomb).

    Python's zipfile never unpacks more than a member's declared size, so the directory is a
    bound on what extraction can write.
    """
    total = 0
    for member in archive.infolist():
        total += member.file_size
        if member.file_size > 1024 * 1024 and member.file_size > limits.max_zip_ratio * max(member.compress_size, 1):
            ratio = member.file_size / max(member.compress_size, 1)
            raise LimitError(
                f"archive member {member.filename!r} unpacks {member.compress_size:,} bytes to "
                f"{member.file_size:,} (ratio {ratio:,.0f}), more than the limit max_zip_ratio = "
                f"{limits.max_zip_ratio:g}; this looks like a zip bomb",
                setting="max_zip_ratio", limit=limits.max_zip_ratio, found=ratio, file=file,
                zh=f"压缩包成员 {member.filename!r} 从 {member.compress_size:,} 字节解压为 {member.file_size:,} 字节"
                   f"（压缩比 {ratio:,.0f}），超过限制 max_zip_ratio = {limits.max_zip_ratio:g}；疑似压缩炸弹")
    if total > limits.max_unpacked_bytes:
        raise LimitError(
            f"the archive unpacks to {total:,} bytes, more than the limit max_unpacked_mb = "
            f"{limits.max_unpacked_bytes / 1024**2:g} MiB",
            setting="max_unpacked_mb", limit=limits.max_unpacked_bytes, found=total, file=file,
            zh=f"压缩包解压后有 {total:,} 字节，超过限制 max_unpacked_mb = {limits.max_unpacked_bytes / 1024**2:g} MiB")
