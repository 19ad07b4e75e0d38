"""The entry points: :func:`read_input` and :func:`inspect_input` read one file through the
readers and the validator; :func:`far_from_villages` and :func:`fill_division_names` check and
complete a validated file against the stored villages and divisions.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import cast

import geopandas as gpd
import numpy as np
import pandas as pd

from coverage import crs as crs_mod
from coverage.errors import ConfigError, Problem, ValidationError
from coverage.ingest import opencellid
from coverage.ingest.headers import map_headers
from coverage.ingest.mapping import ColumnMapping
from coverage.ingest.messages import bi
from coverage.ingest.places import PlaceChecks
from coverage.ingest.radio import RadioChecks
from coverage.ingest.readers import SUPPORTED_SUFFIXES, check_encoding, csv_head, file_error, fingerprint, read_table
from coverage.ingest.validation import IngestResult, Inspection
from coverage.limits import DEFAULT_LIMITS, Limits
from coverage.schema import (
    KINDS,
    Kind,
)

__all__ = [
    "NEAR_VILLAGES_KM",
    "Validator",
    "far_from_villages",
    "fill_division_names",
    "inspect_input",
    "read_input",
]



def read_input(
    kind: str,
    path: str | Path,
    *,
    crs: object = None,
    encoding: str | None = None,
    layer: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
    mapping: ColumnMapping | None = None,
) -> IngestResult:
    """Read and validate one input file of ``kind``.

    Parameters
    ----------
    kind : {"villages", "stations", "measurements"}
        What the file holds.
    path : str or Path
        The file. Its suffix selects the reader (see :data:`SUPPORTED_SUFFIXES`).
    crs : optional
        CRS of the coordinates (``"wgs84"``, ``"cgcs2000"``, ``"gcj02"``, ``"EPSG:4549"``, ...;
        anything :func:`coverage.crs.resolve_crs` accepts). Needed for tables whose coordinates
        are not WGS84 and for vector files without a CRS. For a vector file that has a CRS it may
        only confirm it, or declare GCJ-02 where the file says WGS84/CGCS2000 (GeoJSON always
        does); a contradiction is an error. Without any CRS, WGS84 is assumed.
    encoding : str, optional
        Text encoding of a CSV file or of a shapefile's DBF; detected when omitted.
    layer : str, optional
        Layer of a GeoPackage or sheet of a workbook. By default the only one, else the one named
        like ``kind``.
    limits : Limits, optional
        Rows and archive sizes the file may have (:class:`coverage.limits.Limits`), checked before
        the file is parsed.
    mapping : ColumnMapping, optional
        Header renames (``--map``), fixed values (``--set``) and options of a saved profile
        (:mod:`coverage.ingest.mapping`); ``crs``, ``encoding`` and ``layer`` given here win over the
        profile's.

    Returns
    -------
    IngestResult

    Raises
    ------
    ValidationError
        Listing every problem found; nothing of the file is returned. A
        :class:`~coverage.limits.LimitError` when the file breaks one of ``limits``.
    ConfigError
        For an unknown ``kind``, CRS specification or encoding name.
    """
    validator, frame, error = _read(kind, path, crs=crs, encoding=encoding, layer=layer, limits=limits,
                                    mapping=mapping)
    if error is not None:
        raise error
    assert frame is not None
    return validator.result(frame)


def inspect_input(
    kind: str,
    path: str | Path,
    *,
    crs: object = None,
    encoding: str | None = None,
    layer: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
    mapping: ColumnMapping | None = None,
) -> Inspection:
    """Read ``path`` as :func:`read_input` does, but return how each column was understood, with
    the first rows' cells and what they became, and the problems instead of raising them.

    File-level failures that stop the reading (unreadable file, missing file) still raise.
    """
    validator, frame, error = _read(kind, path, crs=crs, encoding=encoding, layer=layer, limits=limits,
                                    mapping=mapping, stop_at_headers=False)
    columns = validator.column_uses(frame)
    if error is not None:
        return Inspection(validator.kind, validator.file, columns, None, list(error.problems))
    assert frame is not None
    result = validator.result(frame)
    return Inspection(validator.kind, validator.file, columns, result, list(result.warnings))


def _read(kind: str, path: str | Path, *, crs: object, encoding: str | None, layer: str | None, limits: Limits,
          mapping: ColumnMapping | None, stop_at_headers: bool = True,
          ) -> tuple[Validator, gpd.GeoDataFrame | None, ValidationError | None]:
    if kind not in KINDS:
        raise ConfigError(bi(f"未知的数据类型 {kind!r}；应为 {'、'.join(KINDS)} 之一",
                             f"unknown kind {kind!r}; use one of {', '.join(KINDS)}"))
    kind = cast(Kind, kind)
    mapping = mapping or ColumnMapping()
    mapping.check(kind)
    crs = crs if crs is not None and crs != "" else mapping.crs
    encoding = encoding or mapping.encoding
    layer = layer or mapping.layer
    path = Path(path)
    file = path.name
    declared = crs_mod.resolve_crs(crs) if crs is not None and crs != "" else None
    check_encoding(encoding)
    if not path.exists():
        raise file_error(file, bi("文件不存在", "file not found"))
    if path.is_dir():
        raise file_error(file, bi("这是目录，不是文件", "is a directory, not a file"))
    suffix = path.suffix.lower()
    if suffix == ".xls":
        raise file_error(file, bi("不支持旧版 Excel .xls 文件；请把工作表另存为 .xlsx 或 CSV",
                                  "old Excel .xls files are not supported; save the sheet as .xlsx or CSV"))
    if suffix not in SUPPORTED_SUFFIXES:
        raise file_error(file, bi(
            f"不支持的文件类型 {suffix or '(no extension)'!r}；应为 " + "、".join(sorted(SUPPORTED_SUFFIXES)) + " 之一",
            f"unsupported file type {suffix or '(no extension)'!r}; use one of "
            + ", ".join(sorted(SUPPORTED_SUFFIXES))))
    if path.stat().st_size == 0:
        raise file_error(file, bi("文件为空", "file is empty"))

    sha = fingerprint(path)
    if suffix == ".csv" and stop_at_headers:
        head = csv_head(path, file, encoding)
        # a missing column is reported before the whole file is parsed
        if head is not None and not opencellid.is_opencellid(head.headers):
            Validator(kind, file, head, declared, mapping).check_headers()
    table = read_table(kind, path, file, encoding=encoding, layer=layer, limits=limits)
    if kind == "stations" and table.geometry is None and opencellid.is_opencellid(table.headers):
        table = opencellid.convert(table, file)
        if not table.n:
            raise ValidationError([*table.notes, Problem(file, None, None, bi(
                "文件中没有中国境内的 NR 或 LTE 小区", "no NR or LTE cell of China in the file"))])
    validator = Validator(kind, file, table, declared, mapping)
    validator.sha = sha
    try:
        return validator, validator.run(), None
    except ValidationError as exc:
        return validator, None, exc


#: A file of points whose median lies farther than this outside the stored villages' extent is
#: rejected: a wrong CRS, e.g. one UTM zone off (about 600 km at 30N), not a shift to take silently.
NEAR_VILLAGES_KM = 50.0


def far_from_villages(result: IngestResult, extent: tuple[float, float, float, float] | None) -> Problem | None:
    """The problem of a station or measurement file whose points lie (median) more than
    :data:`NEAR_VILLAGES_KM` outside ``extent`` (the stored villages' lon/lat box), else None; no
    check without villages."""
    frame = result.frame
    if extent is None or result.kind == "villages" or not len(frame) or not all(map(math.isfinite, extent)):
        return None
    lon, lat = frame["lon"].to_numpy(float), frame["lat"].to_numpy(float)
    min_lon, min_lat, max_lon, max_lat = extent
    dx = np.maximum(np.maximum(min_lon - lon, lon - max_lon), 0.0) * 111.32 * np.cos(np.radians(lat))
    dy = np.maximum(np.maximum(min_lat - lat, lat - max_lat), 0.0) * 110.57
    distance = np.hypot(dx, dy)
    median = float(np.median(distance))
    if median <= NEAR_VILLAGES_KM:
        return None
    far = int((distance > NEAR_VILLAGES_KM).sum())
    return Problem(result.file_name, None, "lon/lat", bi(
        f"{len(frame)} 个点中有 {far} 个位于已存储行政村范围（经度 {min_lon:.2f}-{max_lon:.2f}，纬度 "
        f"{min_lat:.2f}-{max_lat:.2f}）之外 {NEAR_VILLAGES_KM:g} 公里以上（中位数 {median:.0f} 公里），坐标系为 "
        f"{result.crs}：请检查坐标系（UTM 分带错一个会使点偏移约 600 公里）；未存储任何数据",
        f"{far} of {len(frame)} points lie more than {NEAR_VILLAGES_KM:g} km outside the stored villages "
        f"(longitude {min_lon:.2f}-{max_lon:.2f}, latitude {min_lat:.2f}-{max_lat:.2f}; median "
        f"{median:.0f} km) in CRS {result.crs}: check the CRS (one UTM zone off moves points "
        "about 600 km); nothing stored"))


def fill_division_names(result: IngestResult, divisions: pd.DataFrame) -> None:
    """Fill the empty township, county, city and province names of a village file from the stored
    division reference (``code``, ``name``, ``level``), in place, with a warning counting them; the
    names still empty afterwards (codes the reference does not know, e.g. a land-survey scheme's)
    are counted in a warning too, since reports then show codes only."""
    if result.kind != "villages" or divisions is None or not len(divisions):
        return
    frame = result.frame
    names = dict(zip(divisions["code"].astype(str), divisions["name"].astype(str), strict=True))
    filled: list[str] = []
    unknown: list[str] = []
    filled_zh: list[str] = []
    unknown_zh: list[str] = []
    level_zh = {"township": "乡镇", "county": "区县", "city": "地市", "province": "省"}
    for level in ("township", "county", "city", "province"):
        code_col, name_col = f"{level}_code", f"{level}_name"
        empty = frame[name_col].isna().to_numpy()
        if not empty.any():
            continue
        codes = frame[code_col].astype(str).to_numpy()
        found = np.array([names.get(c) or names.get(c.ljust(12, "0")) for c in codes], dtype=object)
        hit = empty & np.array([f is not None for f in found])
        if hit.any():
            values = frame[name_col].astype(object).to_numpy().copy()
            values[hit] = found[hit]
            frame[name_col] = pd.Series(values, index=frame.index, dtype="str")
            filled.append(f"{int(hit.sum())} {level}")
            filled_zh.append(f"{level_zh[level]} {int(hit.sum())} 个")
        if (empty & ~hit).any():
            unknown.append(f"{int((empty & ~hit).sum())} {level}")
            unknown_zh.append(f"{level_zh[level]} {int((empty & ~hit).sum())} 个")
    if filled:
        result.warnings.append(Problem(result.file_name, None, None, bi(
            f"已按已存储的行政区划补全名称：{'，'.join(filled_zh)}",
            f"division names filled from the stored divisions: {', '.join(filled)} name(s)"), severity="warning"))
    if unknown:
        result.warnings.append(Problem(result.file_name, None, None, bi(
            f"区划名称为空，且其代码不在已存储的行政区划中：{'，'.join(unknown_zh)}；报表中这些单位只显示代码"
            "（这些代码是国家统计局的区划代码吗？）",
            f"division names missing and their codes unknown to the stored divisions: {', '.join(unknown)} "
            "name(s); reports show these units by code (are the codes NBS codes?)"), severity="warning"))


class Validator(PlaceChecks, RadioChecks):
    """Interprets a Table as ``kind``; collects every problem, then builds the frame."""

    def run(self) -> gpd.GeoDataFrame:
        """Check every row; raise :class:`ValidationError` listing the errors, else return the frame."""
        self.matches, wkt_index, header_problems = map_headers(self.kind, self.table, self.file, self.mapping)
        self.problems.extend(self.table.notes)
        self.problems.extend(header_problems)
        self.wkt_index = wkt_index
        self.apply_defaults()
        self.check_required()
        self.convert_columns()
        if self.kind == "villages":
            geometry = self.village_geometry()
            self.village_codes()
            self.committee_points(geometry)
        else:
            geometry = self.point_geometry()
            if self.kind == "stations":
                self.station_checks()
            else:
                self.measurement_checks()
        errors = [p for p in self.problems if p.severity == "error"]
        if errors:
            raise ValidationError(sorted(errors, key=self.reading_order))
        frame = self.build_frame(geometry)
        if self.kind == "stations":
            frame = self.sectors(frame)
        return frame

    def result(self, frame: gpd.GeoDataFrame) -> IngestResult:
        """The :class:`IngestResult` of a frame :meth:`run` returned."""
        return IngestResult(kind=self.kind, frame=frame, warnings=self.warnings, file_sha256=self.sha,
                            file_name=self.file, rows=len(frame), crs=self.source.name,
                            crs_source=self.crs_source, encoding=self.table.encoding,
                            columns=self.column_uses(frame))
