"""Read, validate and normalise village, station and measurement files.

:func:`read_input` turns one file into a GeoDataFrame with exactly the canonical columns of
:mod:`coverage.schema`, in WGS84 (EPSG:4326), or raises :class:`~coverage.errors.ValidationError`
listing every problem found (file, 1-based data row, field, message). It never returns a partial
result: a caller stores the frame only when the whole file is valid, so a rejected input changes
nothing.

Formats (by extension): ``.csv``/``.tsv``/``.txt`` (UTF-8, UTF-8 with BOM, UTF-16 with BOM, GBK or
GB18030, detected or declared), ``.xlsx``, ``.geojson``/``.json``, ``.gpkg``, ``.shp`` (with or without
``.cpg``; without one the DBF's encoding is detected), ``.zip`` (holding one data file, e.g. a
shapefile), ``.parquet`` (GeoParquet, or a plain table with lon/lat or a WKT column).

Row numbers are data-row numbers as a user sees them in a spreadsheet with the header excluded:
row 1 is the first line after the header (blank lines count), or the first feature of a vector file.
Field names in problems are the file's own header text.

Conventions of the normalised frame:

* dtypes are those of :func:`coverage.schema.conform` (text ``str`` with NaN when missing, floats
  ``float64``, integers nullable ``Int64``, ``activated_on`` ``datetime.date`` or ``None``);
  ``measured_at`` is ``datetime64[ns]``, naive Asia/Shanghai time, rounded to the millisecond (the
  finest resolution GeoPackage and XLSX keep, so every export format round-trips exactly);
* villages carry Polygon/MultiPolygon geometry; stations and measurements carry points built from
  their ``lon``/``lat`` columns, which always equal the point geometry;
* codes are strings of digits; township/county/city/province codes are derived from the village
  code when missing.

The package, one job per module: :mod:`~coverage.ingest.readers` (every format to a table of raw
cells), :mod:`~coverage.ingest.headers` (header aliases and units), :mod:`~coverage.ingest.values`
(cell parsing), :mod:`~coverage.ingest.validation` (the validator's state and generic checks),
:mod:`~coverage.ingest.places` (coordinates, polygons, codes), :mod:`~coverage.ingest.radio` (RAT,
band and radio parameters) and :mod:`~coverage.ingest.inputs` (the entry points); beside them
:mod:`~coverage.ingest.mapping` (column mappings and saved profiles), :mod:`~coverage.ingest.opencellid`
(OpenCelliD exports), :mod:`~coverage.ingest.committees` (committee points of stored villages),
:mod:`~coverage.ingest.mr` (MR grid statistics stored and read; the file read by
:mod:`~coverage.ingest.mr_file`), :mod:`~coverage.ingest.templates` (fill-in
workbooks) and :mod:`~coverage.ingest.export` (the files that read back identically).
"""

from coverage.ingest.headers import GEOMETRY_HEADERS
from coverage.ingest.inputs import NEAR_VILLAGES_KM, far_from_villages, fill_division_names, inspect_input, read_input
from coverage.ingest.readers import SUPPORTED_SUFFIXES, check_encoding, file_sha256
from coverage.ingest.validation import RANGES, ColumnUse, IngestResult, Inspection

__all__ = [
    "GEOMETRY_HEADERS",
    "NEAR_VILLAGES_KM",
    "RANGES",
    "SUPPORTED_SUFFIXES",
    "ColumnUse",
    "IngestResult",
    "Inspection",
    "check_encoding",
    "far_from_villages",
    "file_sha256",
    "fill_division_names",
    "inspect_input",
    "read_input",
]
