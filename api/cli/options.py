"""The choices and shared options of the ``village5g`` commands (kinds, formats, levels, languages)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from coverage.errors import bi


class KindArg(StrEnum):
    villages = "villages"
    stations = "stations"
    measurements = "measurements"
    mr = "mr"


class IngestKind(StrEnum):
    villages = "villages"
    stations = "stations"
    measurements = "measurements"
    committees = "committees"  # 村委会 points joined to the stored villages
    mr = "mr"  # operators' MR grid statistics (coverage.ingest.mr)
    dem = "dem"  # a DEM GeoTIFF (coverage.ingest.terrain)
    landcover = "landcover"  # a land-cover GeoTIFF, ESA WorldCover codes or --classes


class ExportFormat(StrEnum):
    geojson = "geojson"
    gpkg = "gpkg"
    csv = "csv"
    xlsx = "xlsx"
    parquet = "parquet"


class Scope(StrEnum):
    committees = "committees"
    all = "all"


class Lang(StrEnum):
    zh = "zh"
    en = "en"


LangOption = Annotated[Lang, typer.Option(
    "--lang", help=bi("CSV/XLSX 的表头和标签语言",
                      "Headers and labels of CSV/XLSX files: zh (Chinese, 是/否, 5G通达/弱覆盖/无覆盖) "
                      "or en (column keys)"))]


class Level(StrEnum):
    province = "province"
    city = "city"
    county = "county"
    township = "township"


class TableFormat(StrEnum):
    table = "table"
    csv = "csv"
    geojson = "geojson"
    gpkg = "gpkg"
    xlsx = "xlsx"
    kml = "kml"
