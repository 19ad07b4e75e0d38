"""The ``village5g`` command line: an interface over the domain, like the HTTP API.

Every command prints one clear line and exits non-zero on a domain error; no traceback reaches
the user for a problem in their input.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from api.settings import Settings
from coverage.errors import Village5gError
from coverage.storage import IngestRecord, Store

app = typer.Typer(
    name="village5g",
    help="5G rural coverage monitoring: villages x 5G stations, coverage verdicts, 5G reach rate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)


class KindArg(StrEnum):
    villages = "villages"
    stations = "stations"
    measurements = "measurements"


class ExportFormat(StrEnum):
    geojson = "geojson"
    gpkg = "gpkg"
    csv = "csv"
    xlsx = "xlsx"
    parquet = "parquet"


class _State:
    settings: Settings
    url: str


state = _State()


@app.callback()
def _global(
    db: Annotated[str | None, typer.Option(
        "--db", envvar="VILLAGE5G_DATABASE_URL",
        help="Database URL (default: SQLite file data/village5g.db; postgresql+psycopg://... for PostGIS)",
    )] = None,
) -> None:
    settings = Settings(database_url=db) if db else Settings()
    state.settings = settings
    state.url = settings.resolved_database_url()


def _store() -> Store:
    store = Store(state.url)
    store.create_schema()
    return store


@contextmanager
def _steps() -> Iterator[Callable[[str], None]]:
    """A spinner with elapsed time; the yielded callback names the current step."""
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=err_console, transient=True) as progress:
        task = progress.add_task("starting", total=None)

        def step(message: str) -> None:
            progress.update(task, description=message)
            progress.console.log(message)

        yield step


@app.command()
def seed(
    seed: Annotated[int, typer.Option(help="Random seed of the synthetic parts")] = 20261126,
) -> None:
    """Build the Jiangsu seed world (real divisions, synthetic villages/stations/measurements)."""
    from seeds.world import build_world, world_checksums

    started = time.perf_counter()
    store = _store()
    with _steps() as step:
        world = build_world(seed=seed, progress=step)
        step("computing checksums")
        fingerprint = world_checksums(world)["all"]
        step("writing to the database")
        counts = store.seed(
            divisions_frame=world.divisions,
            frames={"villages": world.villages, "stations": world.stations,
                    "measurements": world.measurements},
            fingerprint=fingerprint,
        )
    console.print(
        f"seed world {fingerprint[:12]} stored in {time.perf_counter() - started:.1f} s: "
        + ", ".join(f"{v:,} {k}" for k, v in counts.items())
    )


@app.command()
def ingest(
    kind: Annotated[KindArg, typer.Argument(help="What the file holds")],
    file: Annotated[Path, typer.Argument(help="GeoJSON, GeoPackage, shapefile, CSV, XLSX or GeoParquet")],
    crs: Annotated[str | None, typer.Option(
        help="Coordinates of the file: wgs84, cgcs2000, gcj02 or EPSG:n "
        "(default: the file's own, else WGS84)",
    )] = None,
    encoding: Annotated[str | None, typer.Option(help="Text encoding of CSV/DBF (default: detected)")] = None,
    layer: Annotated[str | None, typer.Option(help="Layer of a multi-layer file (GeoPackage)")] = None,
    replace: Annotated[bool, typer.Option(help="Replace everything stored of this kind")] = False,
) -> None:
    """Validate FILE completely, then store it in one transaction (nothing is stored on rejection)."""
    from coverage.ingest import read_input

    store = _store()
    with _steps() as step:
        step(f"reading and validating {file.name}")
        result = read_input(kind.value, file, crs=crs, encoding=encoding, layer=layer)
        step(f"storing {result.rows:,} {kind.value}")
        written = store.write(
            kind.value, result.frame, replace=replace,
            record=IngestRecord(kind=kind.value, file_name=result.file_name, sha256=result.file_sha256,
                                crs=result.crs, encoding=result.encoding, warnings=len(result.warnings)),
        )
    for warning in result.warnings:
        err_console.print(f"[yellow]warning:[/] {warning}")
    console.print(f"stored {written:,} {kind.value} from {file.name}"
                  + (" (replacing the previous set)" if replace else ""))


@app.command()
def export(
    kind: Annotated[KindArg, typer.Argument(help="What to export")],
    output: Annotated[Path, typer.Option("-o", "--output", help="File to write")],
    fmt: Annotated[ExportFormat | None, typer.Option(
        "--format", help="Format (default: from the file suffix)")] = None,
) -> None:
    """Write what is stored, in a form `ingest` reads back (CSV is UTF-8 with BOM for Excel)."""
    from coverage.export import write_output

    store = _store()
    frame = store.read(kind.value)
    write_output(kind.value, frame, output, fmt=fmt.value if fmt else None)
    console.print(f"wrote {len(frame):,} {kind.value} to {output}")


@app.command()
def status() -> None:
    """What is stored: counts, villages per city, cells per operator and band, last ingests."""
    store = _store()
    counts = store.counts()
    console.print(f"database: {_redact(state.url)}")
    console.print(", ".join(f"{v:,} {k.replace('_', ' ')}" for k, v in counts.items()))

    cities = store.counts_by_city()
    if not cities.empty:
        table = Table(title="villages per city")
        for col in ("city code", "city", "village-level units", "village committees"):
            table.add_column(col, justify="right" if "units" in col or "committees" in col else "left")
        for row in cities.itertuples(index=False):
            table.add_row(row.city_code, row.city_name or "", f"{row.units:,}", f"{row.village_committees:,}")
        console.print(table)

    cells = store.station_counts()
    if not cells.empty:
        pivot = cells.pivot_table(index=["operator", "band"], columns="status", values="cells",
                                  aggfunc="sum", fill_value=0)
        table = Table(title="cells per operator and band")
        table.add_column("operator")
        table.add_column("band")
        for status_name in pivot.columns:
            table.add_column(str(status_name), justify="right")
        for (operator, band), values in pivot.iterrows():
            table.add_row(str(operator), str(band), *(f"{int(v):,}" for v in values))
        console.print(table)

    last = store.last_ingests()
    if not last.empty:
        table = Table(title="last ingests")
        for col in ("when (UTC)", "kind", "file", "rows", "mode", "sha256"):
            table.add_column(col)
        for row in last.itertuples(index=False):
            table.add_row(f"{row.created_at:%Y-%m-%d %H:%M:%S}", row.kind, row.file_name,
                          f"{row.rows:,}", row.mode, row.sha256[:12])
        console.print(table)


def _redact(url: str) -> str:
    """The URL without a password."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}@{host}"
    return url


def main() -> None:
    """Console-script entry point: domain errors become one red line and exit code 1."""
    try:
        app(standalone_mode=True)
    except Village5gError as exc:
        err_console.print(f"[red]error:[/] {exc}")
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
