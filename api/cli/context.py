"""What every command of the ``village5g`` CLI shares: the settings of the global ``--db`` option,
the store, the consoles and the progress line.

The command modules import from here and never from each other or from :mod:`api.cli.root`, which
registers them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from pydantic import ValidationError as SettingsError
from rich.cells import cell_len
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from api.service_settings import ServiceSettings
from api.settings import Settings
from coverage.errors import bi
from coverage.labels import VERDICT_LABELS
from coverage.store.storage import Store

console = Console()
err_console = Console(stderr=True)


#: The Chinese of the tags before a printed problem line, by the English tag (kept in brackets after it).
TAGS_ZH = {"error": "错误", "warning": "警告", "rejected": "已拒收", "ambiguous": "不唯一", "unmatched": "未匹配",
           "far": "位置过远"}


def tag(severity: str) -> str:
    """The coloured tag before a problem line, Chinese first: ``错误 (error):`` in red, ``警告 (warning):``
    and the other tags in yellow; every command prints its tags through this."""
    colour = "red" if severity == "error" else "yellow"
    return f"[{colour}]{escape(bi(TAGS_ZH.get(severity, severity), severity))}:[/]"


class _State:
    settings: Settings
    url: str


#: Set by the main app's callback from ``--db`` (or ``VILLAGE5G_DATABASE_URL``) before any command runs.
state = _State()


def configure(db: str | None) -> None:
    """Take the global options: the database URL (default: the settings')."""
    settings = Settings(database_url=db) if db else Settings()
    state.settings = settings
    state.url = settings.resolved_database_url()


@contextmanager
def open_store() -> Iterator[Store]:
    """The configured store with its schema in place; its connections are closed on exit."""
    store = Store(state.url)
    try:
        store.create_schema()
        yield store
    finally:
        store.dispose()


@contextmanager
def steps() -> Iterator[Callable[[str], None]]:
    """A spinner with elapsed time; the yielded callback names the current step and prints it once,
    after the seconds since the start (no log time or source location)."""
    started = time.perf_counter()
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=err_console, transient=True) as progress:
        task = progress.add_task("starting", total=None)

        def step(message: str) -> None:
            progress.update(task, description=message)
            progress.console.print(f"[dim]{time.perf_counter() - started:6.1f} s[/]  {escape(message)}",
                                   soft_wrap=True, highlight=False)

        yield step


def artifacts_dir() -> Path:
    """Run artifacts (GeoTIFFs) under the data folder, as an absolute path recorded with each run."""
    return state.settings.data_dir.resolve() / "runs"


def database_url() -> str | None:
    """The URL of the CLI's global ``--db`` option, when the main app has parsed one."""
    return getattr(state, "url", None)


def service_settings() -> ServiceSettings:
    """Service settings (``serve``, ``keys``, ``jobs``), validated now: a bad value ends the command with
    one clear line."""
    url = database_url()
    try:
        return ServiceSettings(database_url=url) if url else ServiceSettings()
    except SettingsError as exc:
        problems = "; ".join(f"VILLAGE5G_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())
        err_console.print(f"{tag('error')} 设置无效 (invalid settings)：{escape(problems)}", soft_wrap=True)
        raise typer.Exit(1) from None


@contextmanager
def open_service_store(settings: ServiceSettings) -> Iterator[Store]:
    """The store of the service settings, with its schema (API keys included) in place."""
    store = Store(settings.resolved_database_url())
    try:
        store.create_schema()
        yield store
    finally:
        store.dispose()


@contextmanager
def region_options() -> Iterator[None]:
    """Regions named by ``--city``/``--county`` inside: a name two regions carry ends the command
    naming both and how to choose with these options (``--county 321012`` or ``--city 扬州市 --county 江都区``)."""
    from coverage.store.regions import AmbiguousRegionError

    try:
        yield
    except AmbiguousRegionError as exc:
        parent = "--city {parent} --county {name}" if exc.level == "county" else None
        raise exc.choose(code=f"--{exc.level} {{code}}", parent=parent) from None


def resolve_cities(store: Store, values: list[str] | None) -> tuple[str, ...]:
    """City codes for codes or names (南京市 or 南京); a miss is a bad ``--city``."""
    from coverage.audit.rounds import resolve_cities as resolve
    from coverage.errors import ConfigError

    try:
        return resolve(store, values)
    except ConfigError as exc:
        raise typer.BadParameter(str(exc), param_hint="--city") from None


#: The Chinese of what the CLI counts (stored rows, a run's verdicts), by the English key.
COUNTS_ZH = {"divisions": "行政区划", "villages": "行政村", "village_committees": "村委会", "stations": "小区",
             "measurements": "测量", "mr_grids": "MR 栅格", **VERDICT_LABELS, "no_site": "无站址",
             "measured": "实测定论", "tests": "测试"}


def counts_text(counts: dict[str, int]) -> str:
    """Counts Chinese first, the English list unchanged in brackets:
    ``行政村 21,958，村委会 13,263 (21,958 villages, 13,263 village committees)``."""
    return bi("，".join(f"{COUNTS_ZH.get(k, k)} {v:,}" for k, v in counts.items()),
              ", ".join(f"{v:,} {k.replace('_', ' ')}" for k, v in counts.items()))


def wrote(path: object, chinese: str = "", english: str = "") -> None:
    """The line after a file is written, Chinese first: ``已写出 out.csv (wrote out.csv)``, what it holds
    after the path when said (``chinese`` and ``english`` start with their own separator)."""
    console.print(bi(f"已写出 {path}{chinese}", f"wrote {path}{english}"), soft_wrap=True, highlight=False)


def heading(chinese: str, english: str) -> str:
    """A column header of a printed table: the Chinese, the English on a second line under it (a column
    is as wide as the wider of the two, not both side by side)."""
    return f"{chinese}\n{english}"


def print_rows(title: str, headers: list[str], rows: list[list[str]], *, totals: list[list[str]] | None = None,
               left: int, also_left: tuple[int, ...] = (), shrink: int | None = None,
               fold: int | None = None) -> None:
    """A compact table (no outer or vertical rules) whose columns are as wide as their widest cell
    (in terminal cells: a Chinese character takes two): nothing is cut or wrapped. A header may have
    several lines (:func:`heading`). The first ``left`` columns and those of ``also_left`` are
    left-aligned (codes, names, text), the rest right-aligned; column ``shrink`` alone may be cut with
    an ellipsis on a narrow terminal, and column ``fold`` (long free text) wrapped within itself. When
    the table is still wider than the terminal it is printed whole (the terminal wraps its lines)
    rather than cutting a code or a name. ``totals`` rows follow a rule, in bold. A title wider than
    the table is printed on its own line above it."""
    from rich import box

    totals = totals or []
    table = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
    widths = [max(cell_len(line) for v in (h, *(r[j] for r in [*rows, *totals])) for line in str(v).split("\n"))
              for j, h in enumerate(headers)]
    for j, (name, width) in enumerate(zip(headers, widths, strict=True)):
        if j == shrink:
            table.add_column(name, no_wrap=True, overflow="ellipsis", min_width=min(width, 4), max_width=width)
        elif j == fold:
            table.add_column(name, overflow="fold", min_width=min(width, 24), max_width=width)
        else:
            table.add_column(name, no_wrap=True, min_width=width,
                             justify="left" if j < left or j in also_left else "right")
    for i, row in enumerate(rows):
        table.add_row(*row, end_section=bool(totals) and i == len(rows) - 1)
    for row in totals:
        table.add_row(*row, style="bold")
    needed = sum(min(w, 4) if j == shrink else min(w, 24) if j == fold else w for j, w in enumerate(widths))
    needed += 2 * (len(headers) - 1)
    if cell_len(title) > needed:  # a title wider than the table: a line of its own, not wrapped over two
        table.title = None
        console.print(title, soft_wrap=True, highlight=False)
    console.print(table, width=max(console.width, needed), crop=False)
