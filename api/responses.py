"""What several routers answer alike: files sent from a temporary folder, their OpenAPI description,
and stored times written as UTC."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

#: Media types of the files the API sends, by format.
MEDIA_TYPES: dict[str, str] = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "geojson": "application/geo+json",
    "gpkg": "application/geopackage+sqlite3",
    "kml": "application/vnd.google-earth.kml+xml",
}


def file_responses(formats: list[str]) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` of an endpoint that sends a file in one of ``formats``."""
    # a GeoJSON file is a JSON document (a FeatureCollection), the others are files
    content = {MEDIA_TYPES[f].split(";")[0]: {"schema": {"type": "object"} if f == "geojson" else
                                              {"type": "string", "format": "binary"}} for f in formats}
    return {200: {"description": "The file", "content": content}}


def send_file(path: Path, folder: Path, fmt: str, name: str) -> FileResponse:
    """``path`` as a download called ``name``; its temporary ``folder`` is removed once it is sent."""
    return FileResponse(path, media_type=MEDIA_TYPES[fmt], filename=name,
                        background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True))


def utc(value: dt.datetime | None) -> dt.datetime | None:
    """A stored time (naive UTC) as an aware one, so it is written as RFC 3339 with its zone."""
    return value.replace(tzinfo=dt.UTC) if value is not None and value.tzinfo is None else value
