"""Write village, station and measurement frames for GIS users, spreadsheets and other systems.

Every export is readable back by :func:`coverage.ingest.read_input` and gives the identical frame
(same columns, dtypes, values and geometries, bit for bit):

``geojson``
    RFC 7946 FeatureCollection in WGS84, UTF-8, written with Python's shortest round-trip float
    representation (GDAL's writer would round coordinates). Dates and timestamps are ISO strings.
``gpkg``
    GeoPackage, one layer named after the kind. Polygon and MultiPolygon stay as they are (no
    promotion to multi). Dates are ISO text; timestamps are GeoPackage DateTime (millisecond
    resolution, which is why ingest rounds ``measured_at`` to the millisecond).
``csv``
    UTF-8 with BOM, so Excel in China opens it without mojibake. Points as the ``lon``/``lat``
    columns (no geometry column); villages with a full-precision WKT column ``geometry``. Text
    that a spreadsheet would take for a formula gets a leading apostrophe (:mod:`coverage.writers`;
    ingest removes it again).
``xlsx``
    One sheet named after the kind, canonical headers, dates as Excel dates, numbers written with
    17 significant digits (openpyxl alone keeps 16); text is never a formula. Villages carry a WKT
    column; Excel cells hold at most 32,767 characters, so a village whose WKT is longer makes the
    export fail with a :class:`~coverage.errors.ValidationError` naming the rows (use GeoPackage, GeoJSON, CSV or
    Parquet for such boundaries; silently simplifying them would change the data).
``parquet``
    GeoParquet (WKB geometry, CRS in the metadata).

Files are written to a temporary name next to the target and renamed into place, so a reader
(e.g. the scheduled refresh job) never sees half a file.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pyproj
import shapely
from openpyxl.cell import WriteOnlyCell
from openpyxl.utils.exceptions import IllegalCharacterError

from coverage import crs as crs_mod
from coverage.errors import ConfigError, Problem, ValidationError
from coverage.ingest.messages import bi
from coverage.schema import COLUMNS, GEOMETRY, KINDS, Kind, column_names, conform
from coverage.writers import atomic_write, write_csv, write_xlsx, xlsx_cell

__all__ = ["EXCEL_CELL_LIMIT", "FORMATS", "TABLE_FORMATS", "write_output", "write_table"]

#: Export formats and the file suffixes that select them.
FORMATS: dict[str, tuple[str, ...]] = {
    "geojson": (".geojson", ".json"),
    "gpkg": (".gpkg",),
    "csv": (".csv",),
    "xlsx": (".xlsx",),
    "parquet": (".parquet", ".geoparquet"),
}

#: Maximum number of characters in one Excel cell.
EXCEL_CELL_LIMIT = 32_767


def write_output(kind: str, frame: gpd.GeoDataFrame, path: str | Path, *, fmt: str | None = None) -> Path:
    """Write ``frame`` of ``kind`` to ``path``.

    Parameters
    ----------
    kind : {"villages", "stations", "measurements"}
        What the frame holds.
    frame : geopandas.GeoDataFrame
        A frame with the canonical columns of ``kind`` (as :func:`coverage.ingest.read_input` or
        the store return it). Extra columns are not exported. Geometries in any CRS are written in
        WGS84 (EPSG:4326); a frame without CRS is taken to be WGS84.
    path : str or Path
        Target file; replaced if it exists.
    fmt : {"geojson", "gpkg", "csv", "xlsx", "parquet"}, optional
        Format; by default inferred from the suffix of ``path``.

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    ConfigError
        Unknown kind or format, or a suffix that names no format.
    ValueError
        When canonical columns are missing from ``frame``.
    ValidationError
        XLSX only: a cell would exceed Excel's 32,767-character limit or hold characters Excel
        cannot store; names the rows.
    """
    if kind not in KINDS:
        raise ConfigError(bi(f"无法识别的数据类型 {kind!r}；应为以下之一：{'、'.join(KINDS)}",
                             f"unknown kind {kind!r}; use one of {', '.join(KINDS)}"))
    kind = cast(Kind, kind)
    path = Path(path)
    fmt = _resolve_format(path, fmt)
    data = _canonical(kind, frame)
    writer = _WRITERS[fmt]
    # the temporary file carries the format's own suffix: GDAL drivers look at it
    with atomic_write(path, suffix=FORMATS[fmt][0]) as tmp:
        writer(kind, data, tmp, path.name)
    return path


def _resolve_format(path: Path, fmt: str | None) -> str:
    if fmt is not None:
        key = fmt.lower().lstrip(".")
        key = {"json": "geojson", "geopackage": "gpkg", "geoparquet": "parquet"}.get(key, key)
        if key not in FORMATS:
            raise ConfigError(bi(f"无法识别的导出格式 {fmt!r}；应为以下之一：{'、'.join(FORMATS)}",
                                 f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}"))
        return key
    suffix = path.suffix.lower()
    for key, suffixes in FORMATS.items():
        if suffix in suffixes:
            return key
    known = [s for ss in FORMATS.values() for s in ss]
    raise ConfigError(bi(
        f"无法从文件名 {path.name!r} 判断导出格式：请使用后缀（{'、'.join(known)}）或指定格式",
        f"cannot tell the export format from {path.name!r}; use a suffix ({', '.join(known)}) or pass fmt"))


def _canonical(kind: Kind, frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The frame's canonical columns with canonical dtypes, in WGS84."""
    missing = [c for c in column_names(kind) if c not in frame.columns]
    if missing:
        raise ValueError(f"the {kind} frame lacks canonical columns: {', '.join(missing)}")
    if not isinstance(frame, gpd.GeoDataFrame):
        raise ValueError(f"the {kind} frame must be a GeoDataFrame")
    if frame.crs is not None and not pyproj.CRS(frame.crs).equals(crs_mod.WGS84, ignore_axis_order=True):
        frame = crs_mod.to_wgs84(frame)
    geometry = np.asarray(frame.geometry.array, dtype=object)
    return conform(kind, frame.reset_index(drop=True), geometry)


# ============================================================================================
# Writers
# ============================================================================================


def _json_value(value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, pd.Timestamp):
        return _iso_datetime(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _iso_datetime(value: pd.Timestamp) -> str:
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond or value.nanosecond:
        text += f".{value.microsecond:06d}".rstrip("0")
    return text


def _records(data: gpd.GeoDataFrame, kind: Kind) -> Iterator[dict[str, Any]]:
    names = column_names(kind)
    columns = [data[name].astype(object).tolist() for name in names]
    for values in zip(*columns, strict=True):
        yield {name: _json_value(_missing_to_none(v)) for name, v in zip(names, values, strict=True)}


def _missing_to_none(value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _write_geojson(kind: Kind, data: gpd.GeoDataFrame, path: Path, name: str) -> None:
    geometries = data.geometry.array
    features = []
    for properties, geom in zip(_records(data, kind), geometries, strict=True):
        features.append({
            "type": "Feature",
            "properties": properties,
            "geometry": None if geom is None else geom.__geo_interface__,
        })
    collection = {"type": "FeatureCollection", "name": kind, "features": features}
    with path.open("w", encoding="utf-8") as fh:
        json.dump(collection, fh, ensure_ascii=False, allow_nan=False)


def _write_gpkg(kind: Kind, data: gpd.GeoDataFrame, path: Path, name: str) -> None:
    out = data.copy()
    for column in COLUMNS[kind]:
        if column.dtype == "date":
            out[column.name] = pd.Series(
                [None if v is None else v.isoformat() for v in out[column.name]], dtype=object)
    geometry_type = "Point" if GEOMETRY[kind] == "point" else None
    out.to_file(path, driver="GPKG", layer=kind, engine="pyogrio", promote_to_multi=False,
                geometry_type=geometry_type)


def _tabular(kind: Kind, data: gpd.GeoDataFrame) -> pd.DataFrame:
    """The canonical columns as a plain table; villages get a full-precision WKT column."""
    table = pd.DataFrame(data[column_names(kind)])
    if GEOMETRY[kind] != "point":
        table["geometry"] = shapely.to_wkt(np.asarray(data.geometry.array, dtype=object),
                                           rounding_precision=-1, trim=True)
    return table


def _write_csv(kind: Kind, data: gpd.GeoDataFrame, path: Path, name: str) -> None:
    table = _tabular(kind, data)
    for column in COLUMNS[kind]:
        if column.dtype == "date":
            table[column.name] = [None if v is None else v.isoformat() for v in table[column.name]]
        elif column.dtype == "datetime":
            table[column.name] = [None if pd.isna(v) else _iso_datetime(v).replace("T", " ")
                                  for v in table[column.name]]
    # Python's repr of a float is the shortest string that reads back to the same double.
    write_csv(table, path)


def _write_xlsx(kind: Kind, data: gpd.GeoDataFrame, path: Path, name: str) -> None:
    table = _tabular(kind, data)
    headers = list(table.columns)
    dtypes = {c.name: c.dtype for c in COLUMNS[kind]}
    problems: list[Problem] = []
    for header in headers:
        if dtypes.get(header, "str") != "str":
            continue
        for i, value in enumerate(table[header].tolist()):
            if isinstance(value, str) and len(value) > EXCEL_CELL_LIMIT:
                what = "WKT geometry" if header == "geometry" else "text"
                problems.append(Problem(
                    name, i + 1, header,
                    f"{what} of {len(value):,} characters exceeds Excel's {EXCEL_CELL_LIMIT:,}-character "
                    "cell limit; export to GeoPackage, GeoJSON, CSV or Parquet instead"))
    if problems:
        raise ValidationError(problems)
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet(kind)
    sheet.freeze_panes = "A2"
    sheet.append(headers)
    columns = [table[h].astype(object).tolist() for h in headers]
    makers = [_xlsx_cell_maker(dtypes.get(h, "str")) for h in headers]
    try:
        for i, values in enumerate(zip(*columns, strict=True)):
            try:
                cells = zip(makers, values, strict=True)
                sheet.append([make(sheet, _missing_to_none(v)) for make, v in cells])
            except IllegalCharacterError as exc:
                message = f"text holds characters Excel cannot store ({exc})"
                raise ValidationError([Problem(name, i + 1, None, message)]) from None
        workbook.save(path)
    finally:
        workbook.close()


def _xlsx_cell_maker(dtype: str) -> Callable[[Any, Any], Any]:
    def text(sheet: Any, value: Any) -> Any:
        return None if value is None else xlsx_cell(sheet, str(value))  # never a formula

    def number(sheet: Any, value: Any) -> Any:
        if value is None:
            return None
        if dtype == "int":
            return int(value)
        # openpyxl writes floats with 16 significant digits; a numeric cell holding Python's repr
        # keeps all 17, so the double reads back unchanged.
        cell = WriteOnlyCell(sheet, value=repr(float(value)))
        cell.data_type = "n"
        return cell

    def date(sheet: Any, value: Any) -> Any:
        if value is None:
            return None
        cell = WriteOnlyCell(sheet, value=value)
        cell.number_format = "yyyy-mm-dd"
        return cell

    def timestamp(sheet: Any, value: Any) -> Any:
        if value is None:
            return None
        cell = WriteOnlyCell(sheet, value=pd.Timestamp(value).to_pydatetime())
        cell.number_format = "yyyy-mm-dd hh:mm:ss.000"
        return cell

    return {"float": number, "int": number, "date": date, "datetime": timestamp}.get(dtype, text)


def _write_parquet(kind: Kind, data: gpd.GeoDataFrame, path: Path, name: str) -> None:
    data.to_parquet(path, index=False)


_WRITERS: dict[str, Callable[[Kind, gpd.GeoDataFrame, Path, str], None]] = {
    "geojson": _write_geojson,
    "gpkg": _write_gpkg,
    "csv": _write_csv,
    "xlsx": _write_xlsx,
    "parquet": _write_parquet,
}


#: Formats of result tables (village lists, summaries): spreadsheets and GIS files.
TABLE_FORMATS: dict[str, str] = {".csv": "csv", ".xlsx": "xlsx", ".geojson": "geojson", ".json": "geojson",
                                 ".gpkg": "gpkg", ".kml": "kml"}


def write_table(frame: pd.DataFrame, path: str | Path, *, fmt: str | None = None, layer: str = "results",
                lang: str = "zh") -> Path:
    """Write a result table (a village list or a summary) for people and GIS tools.

    ``csv`` (UTF-8 with BOM, Excel in China opens it) and ``xlsx`` (one sheet: column widths,
    frozen and filtered header row, number formats, codes as text) are for people: headers in
    ``lang`` (Chinese by default, ``en``: the column keys), rates as percentages, values rounded,
    flags 是/否 (:func:`coverage.labels.people_sheet`); both drop the geometry. ``geojson``,
    ``gpkg`` and ``kml`` (for field teams' phones and Google Earth) keep the column keys, need a
    GeoDataFrame and are written in WGS84. The file appears complete or not at all.
    """
    from coverage.labels import SHEET_NAMES, people_sheet

    path = Path(path)
    key = (fmt or TABLE_FORMATS.get(path.suffix.lower(), "")).lower()
    if key not in set(TABLE_FORMATS.values()):
        formats = sorted(set(TABLE_FORMATS.values()))
        raise ConfigError(bi(f"无法写出 {path.name!r}：格式应为以下之一：{'、'.join(formats)}",
                             f"cannot write {path.name!r}: use one of {', '.join(formats)}"))
    geographic = isinstance(frame, gpd.GeoDataFrame)
    if key in ("geojson", "gpkg", "kml") and not geographic:
        raise ConfigError(bi(f"{key} 格式需要几何（边界或点位），此表没有",
                             f"{key} needs geometries; this table has none"))
    sheet = people_sheet(frame, lang=lang, excel=key == "xlsx") if key in ("csv", "xlsx") else None
    with atomic_write(path, suffix=path.suffix or "." + key) as tmp:
        if sheet is not None and key == "csv":
            write_csv(sheet.frame, tmp)
        elif sheet is not None:
            write_xlsx({SHEET_NAMES.get(layer, layer) if lang == "zh" else layer: sheet}, tmp)
        else:
            data = cast(gpd.GeoDataFrame, frame).to_crs("EPSG:4326")
            driver = {"geojson": "GeoJSON", "gpkg": "GPKG", "kml": "KML"}[key]
            options = {"layer": layer}  # GeoJSON too: its "name" is the layer, not the temporary file
            data.to_file(tmp, driver=driver, engine="pyogrio", **options)
    return path
