"""KPI history: 通达率 and verdict counts per region, run after run.

A snapshot (:func:`record_snapshot`) stores, for one published run, the KPIs of the province, every
city and every county as :func:`coverage.summary.summarize` computes them (the one definition of
通达率 = covered / villages in scope), with the run's target and finish time, in the table
:data:`kpi_snapshots`. Snapshots keep the figures a run reported even when the villages stored
later change (results are joined with the *current* villages when read).

:func:`kpi_history` returns the series. Published runs without a snapshot (older runs, or a run
whose snapshot job has not run yet) are computed from their stored village results, which are kept
for every published run, so the series has no gaps; ``source`` says which rows came from where.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from coverage.errors import ConfigError
from coverage.store.results_query import resolve_run, result_rows, stored_version
from coverage.store.storage import Store
from coverage.store.tables import kpi_snapshots, runs
from coverage.summary import summarize

__all__ = ["CODE_WIDTH", "HISTORY_COLUMNS", "HISTORY_LEVELS", "history_version", "kpi_history",
           "record_snapshot", "run_kpis"]

#: Levels a snapshot records (townships are many and change names; they are left to ``/summary``).
HISTORY_LEVELS = ("province", "city", "county")

#: Columns of :func:`kpi_history`, in order.
HISTORY_COLUMNS = ("run_id", "finished_at", "level", "code", "name", "villages", "covered", "weak", "uncovered",
                   "no_site", "reach_rate", "target_rate", "source")


#: Digits of a division code at each level.
CODE_WIDTH = {"province": 2, "city": 4, "county": 6}

_COUNTS = ("villages", "covered", "weak", "uncovered", "no_site")


def _check_level(level: str) -> None:
    if level not in HISTORY_LEVELS:
        raise ConfigError(f"未知的历史级别 {level!r}；请用 {'、'.join(HISTORY_LEVELS)} 之一 "
                          f"(unknown history level {level!r}; use one of {', '.join(HISTORY_LEVELS)})")


def run_kpis(store: Store, run_id: int, *, levels: Sequence[str] = HISTORY_LEVELS, regions: Sequence[str] = (),
             record: dict[str, Any] | None = None) -> pd.DataFrame:
    """KPIs of one published run per region of each of ``levels``, from its stored village results.

    ``regions`` are code prefixes the villages must match (a region-limited caller). The rows have
    the columns of :data:`HISTORY_COLUMNS` with ``source = "computed"``, ordered by level then code.
    """
    for level in levels:
        _check_level(level)
    record = record if record is not None else store.read_run(run_id)
    target_rate = float(record["rules"]["target_rate"])
    rows = result_rows(store, run_id, regions=regions)
    parts = []
    for level in levels:
        frame = summarize(rows, level=level, target_rate=target_rate) if len(rows) else pd.DataFrame(
            columns=["code", "name", *_COUNTS, "reach_rate", "target_rate"])
        frame = frame.assign(run_id=run_id, finished_at=record["finished_at"], level=level, source="computed")
        parts.append(frame[list(HISTORY_COLUMNS)])
    return _typed(pd.concat(parts, ignore_index=True) if parts else _empty())


def record_snapshot(store: Store, run_id: int | None = None) -> int:
    """Store the KPIs of a published run (default: the latest) per province, city and county.

    Idempotent per run: a run already snapshotted is left as it is and 0 is returned; otherwise the
    number of rows written. Two processes racing on the same run write it once (the primary key
    decides; the loser returns 0). Raises :class:`NotFoundError` when there is no such published run.
    """
    run_id = resolve_run(store, run_id)
    if _snapshotted(store, run_id):
        return 0
    frame = run_kpis(store, run_id)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    rows = [{
        "run_id": run_id, "level": r["level"], "code": str(r["code"]),
        "name": None if pd.isna(r["name"]) else str(r["name"]),
        **{c: int(r[c]) for c in _COUNTS}, "reach_rate": float(r["reach_rate"]),
        "target_rate": float(r["target_rate"]), "run_finished_at": _naive(r["finished_at"]), "recorded_at": now,
    } for r in frame.to_dict("records")]
    try:
        with store.engine.begin() as conn:
            if rows:
                conn.execute(kpi_snapshots.insert(), rows)
    except IntegrityError:
        if _snapshotted(store, run_id):
            return 0  # another process recorded it first
        raise
    return len(rows)


def kpi_history(store: Store, *, level: str = "province", code: str | None = None,
                since: dt.datetime | dt.date | None = None, regions: Sequence[str] = ()) -> pd.DataFrame:
    """通达率 and verdict counts per published run and region of ``level``, oldest run first.

    Parameters
    ----------
    level
        ``province``, ``city`` or ``county``.
    code
        Only regions whose code starts with this (``3203`` with ``level="county"``: the counties of
        徐州市; with ``level="city"``: 徐州市 alone).
    since
        Only runs finished at or after this time (naive times are UTC, like the stored ones; a date
        means its midnight UTC).
    regions
        Region limits (code prefixes) of the caller: the KPIs count only villages inside them, as
        ``/summary`` does for a region-limited key. A limit narrower than ``level`` (a city key
        asking for the province) is answered from the stored results of its villages.

    Returns
    -------
    pandas.DataFrame
        :data:`HISTORY_COLUMNS`: ``finished_at`` naive UTC, ``reach_rate`` and ``target_rate`` 0-1,
        ``source`` ``snapshot`` or ``computed``; ordered by finish time, run and code.
    """
    _check_level(level)
    published = _published_runs(store, since)
    if not published:
        return _empty()
    # a region limit narrower than the level cannot use the snapshots: they count the whole region
    narrower = any(len(r) > CODE_WIDTH[level] for r in regions)
    snap = pd.DataFrame() if narrower else _read_snapshots(store, level, [r["id"] for r in published])
    done = set(snap["run_id"].tolist()) if len(snap) else set()
    parts = [snap] if len(snap) else []
    for record in published:
        if record["id"] not in done:
            parts.append(run_kpis(store, record["id"], levels=(level,), regions=regions, record=record))
    out = pd.concat(parts, ignore_index=True) if parts else _empty()
    # computed rows count only villages inside the limits already; snapshot rows are whole regions,
    # kept when they lie inside every limit
    prefixes = [*(() if narrower else regions), *((code,) if code else ())]
    for prefix in prefixes:
        out = out[out["code"].astype(str).str.startswith(prefix)]
    out = out.sort_values(["finished_at", "run_id", "code"], kind="stable").reset_index(drop=True)
    return _typed(out)


def history_version(store: Store) -> tuple[Any, ...]:
    """A key that changes whenever :func:`kpi_history` could answer differently: the published runs,
    the snapshots stored, and the version of the stored villages (computed rows join them). Three
    small queries, so an answer can be cached under it (a province's computed history reads every
    village result of every unsnapshotted run: 0.4 s a run for 46,000 villages)."""
    with store.engine.connect() as conn:
        published = tuple(conn.execute(select(runs.c.id).where(runs.c.status == "published")
                                       .order_by(runs.c.id)).scalars().all())
        snapshots = tuple(conn.execute(select(kpi_snapshots.c.run_id).distinct()
                                       .order_by(kpi_snapshots.c.run_id)).scalars().all())
    return published, snapshots, stored_version(store, "villages")


def _published_runs(store: Store, since: dt.datetime | dt.date | None) -> list[dict[str, Any]]:
    query = (select(runs.c.id, runs.c.finished_at, runs.c.rules).where(runs.c.status == "published")
             .order_by(runs.c.finished_at, runs.c.id))
    if since is not None:
        query = query.where(runs.c.finished_at >= _naive(since))
    with store.engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings().all()]


def _read_snapshots(store: Store, level: str, run_ids: list[int]) -> pd.DataFrame:
    s = kpi_snapshots
    query = (select(s.c.run_id, s.c.run_finished_at.label("finished_at"), s.c.level, s.c.code, s.c.name,
                    *(s.c[c] for c in _COUNTS), s.c.reach_rate, s.c.target_rate)
             .where(s.c.level == level, s.c.run_id.in_(run_ids)))
    with store.engine.connect() as conn:
        result = conn.execute(query)
        frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    frame["source"] = "snapshot"
    return frame


def _snapshotted(store: Store, run_id: int) -> bool:
    with store.engine.connect() as conn:
        n = conn.execute(select(func.count()).select_from(kpi_snapshots)
                         .where(kpi_snapshots.c.run_id == run_id)).scalar_one()
    return bool(n)


def _naive(value: Any) -> dt.datetime | None:
    """A time as naive UTC (how runs store it); a date is its midnight."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return dt.datetime(value.year, value.month, value.day)
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        try:
            return value.astimezone(dt.UTC).replace(tzinfo=None)
        except OverflowError:  # within a day of year 1 or 9999: as good as unbounded
            return dt.datetime.min if value.year < 5000 else dt.datetime.max
    return value


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in HISTORY_COLUMNS})


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame[list(HISTORY_COLUMNS)].copy()
    for c in ("run_id", *_COUNTS):
        out[c] = out[c].astype("int64")
    for c in ("reach_rate", "target_rate"):
        out[c] = out[c].astype(float)
    out["code"] = out["code"].astype(str)
    out["finished_at"] = pd.to_datetime(out["finished_at"])
    return out

