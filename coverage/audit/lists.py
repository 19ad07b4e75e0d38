"""The printable sample lists of an audit round: CSV (UTF-8 with BOM), XLSX (one sheet per city,
Chinese headers), KML for field teams and GeoJSON, written atomically.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import geopandas as gpd
import numpy as np
import pandas as pd

from coverage.audit.sampling import SAMPLE_COLUMNS, text_or_none
from coverage.errors import ConfigError, bi
from coverage.labels import show_value
from coverage.writers import atomic_write, write_csv, xlsx_cell

__all__ = ["SAMPLE_FORMATS", "XLSX_HEADERS", "write_sample"]

#: Chinese headers of the printable XLSX list (same order as :data:`SAMPLE_COLUMNS`, plus notes).
XLSX_HEADERS: dict[str, str] = {
    "round": "轮次", "stratum": "层", "order": "序号", "reserve": "备选", "code": "村代码",
    "name": "村名称", "township_code": "乡镇代码", "township_name": "乡镇", "county_code": "区县代码",
    "county_name": "区县", "city_code": "地市代码", "city_name": "地市",
    "point_lon": "村委会经度(WGS84)", "point_lat": "村委会纬度(WGS84)", "point_source": "点位来源",
    "gcj02_lon": "导航经度(GCJ-02)", "gcj02_lat": "导航纬度(GCJ-02)", "verdict": "预测结论",
    "p_covered": "通达概率",
    "nearest_site_id": "最近站址", "nearest_site_m": "最近站址距离(m)",
    "predicted_rsrp_dbm": "预测RSRP(dBm)", "predicted_sinr_db": "预测SINR(dB)", "notes": "备注",
}


_XLSX_WIDTHS: dict[str, float] = {
    "round": 5, "stratum": 14, "order": 5, "reserve": 5, "code": 14, "name": 16, "township_code": 11,
    "township_name": 12, "county_code": 8, "county_name": 10, "city_code": 6, "city_name": 8,
    "point_lon": 11, "point_lat": 10, "point_source": 8, "gcj02_lon": 11, "gcj02_lat": 10,
    "verdict": 9, "p_covered": 8, "nearest_site_id": 12, "nearest_site_m": 9, "predicted_rsrp_dbm": 9,
    "predicted_sinr_db": 8, "notes": 24,
}


#: How the list's values are shown to people (:func:`coverage.labels.show_value` kinds).
_KINDS = {"reserve": "yesno", "verdict": "verdict", "p_covered": "rate", "code": "code", "township_code": "code",
          "county_code": "code", "city_code": "code", "nearest_site_id": "code", "nearest_site_m": "m",
          "predicted_rsrp_dbm": "db", "predicted_sinr_db": "db", "point_lon": "deg", "point_lat": "deg",
          "gcj02_lon": "deg", "gcj02_lat": "deg"}


def _show(column: str, value: Any, *, lang: str = "zh") -> Any:
    """A list value as people read it: 5G通达/弱覆盖/无覆盖, 村委会/代表点, rounded numbers."""
    if column == "point_source" and isinstance(value, str):
        return ("村委会" if value == "committee" else "代表点") if lang == "zh" else value
    return show_value(_KINDS.get(column, "text"), value, lang=lang)


#: Sample-list formats and the suffixes that select them.
SAMPLE_FORMATS: dict[str, tuple[str, ...]] = {
    "csv": (".csv",), "xlsx": (".xlsx",), "kml": (".kml",), "geojson": (".geojson", ".json"),
}


def _format(path: Path, fmt: str | None) -> str:
    if fmt is not None:
        key = fmt.lower().lstrip(".")
        key = {"json": "geojson"}.get(key, key)
        if key not in SAMPLE_FORMATS:
            raise ConfigError(bi(f"无法识别的抽样清单格式 {fmt!r}；应为 {'、'.join(SAMPLE_FORMATS)} 之一",
                                 f"unknown sample-list format {fmt!r}; use one of {', '.join(SAMPLE_FORMATS)}"))
        return key
    for key, suffixes in SAMPLE_FORMATS.items():
        if path.suffix.lower() in suffixes:
            return key
    raise ConfigError(bi(f"无法从文件名 {path.name!r} 判断格式：请使用 .csv、.xlsx、.kml 或 .geojson",
                         f"cannot tell the format from {path.name!r}; use .csv, .xlsx, .kml or .geojson"))


def write_sample(villages: gpd.GeoDataFrame, path: str | Path, *, fmt: str | None = None,
                 title: str | None = None, lang: str = "zh") -> Path:
    """Write a sample list for field teams.

    Parameters
    ----------
    villages : geopandas.GeoDataFrame
        A sample list (:attr:`Sample.villages` or a stored round's list), columns
        :data:`SAMPLE_COLUMNS`, geometry the committee point in EPSG:4326.
    path : str or Path
        Target file; replaced if it exists. The file appears complete or not at all.
    fmt : {"csv", "xlsx", "kml", "geojson"}, optional
        Format; by default from the suffix.
    title : str, optional
        Document title (XLSX page header, KML document name).

    Returns
    -------
    Path
        The written file.

    Notes
    -----
    ``csv``: UTF-8 with BOM (Excel in China opens it), the columns of :data:`SAMPLE_COLUMNS` under
    their Chinese headers (:data:`XLSX_HEADERS`; the field-test reader takes 村代码 back), verdicts as
    5G通达/弱覆盖/无覆盖, reserves 是/否, numbers rounded; ``lang="en"``: the column keys and raw values.
    ``xlsx``: one sheet per city, Chinese headers in row 1, set column widths, frozen header row and
    code columns, the header row repeated on every printed page, A4 landscape fitted to the page
    width, reserve villages in grey italics, an empty 备注 (notes) column for the team.
    ``kml``: one folder per stratum, a placemark per village at the WGS84 committee point (KML is
    WGS84 by definition), named ``order name``, reserves in a grey style.
    ``geojson``: RFC 7946 points with every column as properties.
    """
    path = Path(path)
    key = _format(path, fmt)
    missing = [c for c in SAMPLE_COLUMNS if c not in villages.columns]
    if missing:
        raise ValueError(f"the sample list lacks columns: {', '.join(missing)}")
    data = villages.sort_values(["city_code", "stratum", "reserve", "order"], kind="stable").reset_index(drop=True)
    with atomic_write(path, suffix=path.suffix or "." + key) as tmp:
        if key == "csv" and lang == "zh":
            write_csv(pd.DataFrame({XLSX_HEADERS[c]: pd.Series([_show(c, v) for v in data[c].astype(object)],
                                                               dtype=object) for c in SAMPLE_COLUMNS}), tmp)
        elif key == "csv":
            write_csv(pd.DataFrame(data[list(SAMPLE_COLUMNS)]), tmp)
        elif key == "xlsx":
            _write_xlsx(data, tmp, title)
        elif key == "kml":
            _write_kml(data, tmp, title)
        else:
            _write_geojson(data, tmp, title)
    return path


def _cell_value(value: Any) -> Any:
    if value is None or value is pd.NA:
        return None
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else float(value)
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def _sheet_name(city_code: str, city_name: str | None, used: set[str]) -> str:
    name = f"{city_code} {city_name}" if city_name else city_code
    for bad in "[]:*?/\\":
        name = name.replace(bad, " ")
    name = name[:31]
    base, k = name, 2
    while name in used:
        name = f"{base[:28]}~{k}"
        k += 1
    used.add(name)
    return name


def _write_xlsx(data: gpd.GeoDataFrame, path: Path, title: str | None) -> None:
    import openpyxl
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.page import PageMargins

    columns = [*SAMPLE_COLUMNS, "notes"]
    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    thin = Side(style="thin", color="999999")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    header_font = Font(bold=True)
    header_fill = PatternFill("solid", fgColor="DDEBF7")
    reserve_font = Font(italic=True, color="7F7F7F")
    used: set[str] = set()
    groups = data.groupby("city_code", sort=True) if len(data) else []
    for city_code, part in groups:
        city_name = text_or_none(part["city_name"].iloc[0])
        sheet = workbook.create_sheet(_sheet_name(str(city_code), city_name, used))
        sheet.append([XLSX_HEADERS[c] for c in columns])
        for cell in sheet[1]:
            cell.font = header_font
            cell.fill = header_fill
            cell.border = border
            cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        for rec in part.to_dict("records"):
            row = []
            for c in columns:
                value = _cell_value(rec.get(c))
                if c == "reserve":
                    value = "是" if value else ""
                elif c in ("verdict", "point_source"):
                    value = _show(c, value)
                row.append(xlsx_cell(sheet, value))
            sheet.append(row)
            cells = sheet[sheet.max_row]
            for cell in cells:
                cell.border = border
                if rec.get("reserve"):
                    cell.font = reserve_font
        for j, c in enumerate(columns, start=1):
            letter = get_column_letter(j)
            sheet.column_dimensions[letter].width = _XLSX_WIDTHS[c]
            if c in ("code", "township_code", "county_code", "city_code", "nearest_site_id"):
                for (cell,) in sheet.iter_rows(min_row=2, min_col=j, max_col=j):
                    cell.number_format = "@"  # text: keep the 12 digits, no scientific notation
            elif c in ("point_lon", "point_lat", "gcj02_lon", "gcj02_lat"):
                for (cell,) in sheet.iter_rows(min_row=2, min_col=j, max_col=j):
                    cell.number_format = "0.000000"
            elif c in ("nearest_site_m", "predicted_rsrp_dbm", "predicted_sinr_db"):
                for (cell,) in sheet.iter_rows(min_row=2, min_col=j, max_col=j):
                    cell.number_format = "0.0"
        sheet.row_dimensions[1].height = 30
        sheet.freeze_panes = "G2"  # header row and round/stratum/order/reserve/code/name stay in view
        sheet.print_title_rows = "1:1"
        sheet.print_options.gridLines = False
        sheet.page_setup.orientation = "landscape"
        sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
        sheet.page_setup.fitToWidth = 1
        sheet.page_setup.fitToHeight = 0
        sheet.sheet_properties.pageSetUpPr.fitToPage = True
        sheet.page_margins = PageMargins(left=0.4, right=0.4, top=0.6, bottom=0.6)
        heading = f"{title} {city_name or city_code}" if title else f"{city_name or city_code} 抽查名单"
        sheet.oddHeader.center.text = heading.replace("&", "&&")
        sheet.oddFooter.center.text = "第 &P 页 / 共 &N 页"
        sheet.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{sheet.max_row}"
    if not workbook.sheetnames:
        sheet = workbook.create_sheet("sample")
        sheet.append([XLSX_HEADERS[c] for c in columns])
    workbook.save(path)
    workbook.close()


def _kml_text(value: Any) -> str:
    value = _cell_value(value)
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6f}".rstrip("0").rstrip(".")
    return str(value)


def _write_kml(data: gpd.GeoDataFrame, path: Path, title: str | None) -> None:
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<kml xmlns="http://www.opengis.net/kml/2.2">',
        "<Document>",
        f"<name>{escape(title or 'audit sample')}</name>",
        '<Style id="sample"><IconStyle><color>ff0000ff</color><scale>1.1</scale></IconStyle></Style>',
        '<Style id="reserve"><IconStyle><color>ff9e9e9e</color><scale>0.8</scale></IconStyle></Style>',
    ]
    for stratum, part in (data.groupby("stratum", sort=True) if len(data) else []):
        city = text_or_none(part["city_name"].iloc[0]) or ""
        lines.append(f"<Folder><name>{escape(f'{stratum} {city}'.strip())}</name>")
        for rec in part.to_dict("records"):
            label = f"{'备选' if rec['reserve'] else ''}{rec['order']} {rec['name']}"
            desc = (f"{rec['code']} {rec.get('township_name') or ''} {rec.get('county_name') or ''}; "
                    f"verdict {rec['verdict']}; GCJ-02 {_kml_text(rec['gcj02_lon'])},{_kml_text(rec['gcj02_lat'])}")
            lines.append("<Placemark>")
            lines.append(f"<name>{escape(label)}</name>")
            lines.append(f"<description>{escape(desc)}</description>")
            lines.append(f"<styleUrl>#{'reserve' if rec['reserve'] else 'sample'}</styleUrl>")
            lines.append("<ExtendedData>")
            for c in SAMPLE_COLUMNS:
                lines.append(f'<Data name="{c}"><value>{escape(_kml_text(rec[c]))}</value></Data>')
            lines.append("</ExtendedData>")
            lines.append(f"<Point><coordinates>{_kml_text(rec['point_lon'])},{_kml_text(rec['point_lat'])}"
                         "</coordinates></Point>")
            lines.append("</Placemark>")
        lines.append("</Folder>")
    lines += ["</Document>", "</kml>", ""]
    path.write_text("\n".join(lines), encoding="utf-8")


def _write_geojson(data: gpd.GeoDataFrame, path: Path, title: str | None) -> None:
    import json

    features = []
    for rec in data.to_dict("records"):
        props = {c: _cell_value(rec[c]) for c in SAMPLE_COLUMNS}
        lon, lat = props["point_lon"], props["point_lat"]
        features.append({"type": "Feature", "properties": props,
                         "geometry": {"type": "Point", "coordinates": [lon, lat]}})
    collection = {"type": "FeatureCollection", "name": title or "audit sample", "features": features}
    with path.open("w", encoding="utf-8") as fh:
        json.dump(collection, fh, ensure_ascii=False, allow_nan=False)
