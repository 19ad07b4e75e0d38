"""The refresh: pick up new exports from a drop folder, ingest them, analyse and publish.

A drop folder receives exports from the province's data platform or the operators. Each refresh
(:func:`refresh`):

1. lists the files directly inside the folder, in name order (:func:`pending_files`); names starting
   with ``.`` and names ending in ``.part``, ``.partial``, ``.tmp`` or ``.crdownload`` are still being
   written and are left alone (copy under such a name, then rename);
2. classifies each by its name (:func:`classify`): it must start with ``villages``, ``stations`` or
   ``measurements`` (any letter case), or ``mr_`` for operators' MR grid statistics (:func:`is_mr_file`,
   appended through :func:`coverage.ingest.mr.ingest_mr`) and have a suffix :func:`coverage.ingest.read_input` reads; a
   token ``gcj02``, ``wgs84``, ``cgcs2000`` or ``epsg<code>`` in the name, separated by ``_``, ``-`` or
   ``.``, declares the coordinates (``stations_gcj02_2026-05.csv``); a shapefile's sidecars
   (``.dbf``, ``.shx``, ``.prj``, ``.cpg``, ...) travel with its ``.shp``;
3. skips a file whose SHA-256 was already ingested as that kind (moved to ``processed/`` as a
   duplicate), otherwise validates and stores it exactly as ``village5g ingest`` does. Villages and
   stations exports are complete lists and **replace** what is stored of their kind; measurements
   are batches and are **appended**;
4. moves each stored file to ``processed/`` and each rejected one (a
   :class:`~coverage.errors.ValidationError` or :class:`~coverage.errors.ConfigError`) to
   ``rejected/`` with ``<file>.error.txt`` and ``<file>.error.json`` naming the file, row, field and
   problem; moved names get a UTC time prefix (``20261127T020000Z_stations.csv``), so a rejected file
   is never read again;
5. runs :func:`coverage.runs.analysis.run_analysis` and publishes when anything was stored, or when the
   stored inputs differ from those of the latest published run (a refresh that died after storing a
   file but before its analysis), or when nothing was published yet.

Crash safety: each file is stored in one transaction and moved afterwards, and a run is published in
one transaction at its end. A refresh killed at any point leaves the previous run published; the next
refresh finds the files not yet moved again, skips those already stored by their checksum, and
analyses what changed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from sqlalchemy import func, select

from coverage.errors import ConfigError, Problem, ValidationError, bi
from coverage.ingest import SUPPORTED_SUFFIXES, far_from_villages, file_sha256, fill_division_names, read_input
from coverage.ingest.messages import KIND_ZH
from coverage.ingest.terrain import terrain_fingerprints
from coverage.limits import DEFAULT_LIMITS, Limits
from coverage.model.parameters import DEFAULT_PARAMETERS, ModelParameters
from coverage.model.rules import RuleSet
from coverage.runs.analysis import run_analysis
from coverage.schema import KINDS, Kind
from coverage.store.results_query import extent
from coverage.store.storage import IngestRecord, Store
from coverage.store.tables import ingests
from coverage.writers import atomic_write

__all__ = ["PROCESSED", "REJECTED", "REPLACING_KINDS", "RefreshResult", "classify", "inputs_changed",
           "pending_files", "refresh", "stored_fingerprints"]

#: Sub-folders of the drop folder for files that were handled.
PROCESSED = "processed"
REJECTED = "rejected"

#: Kinds whose export is the complete list and replaces what is stored (measurements are appended).
REPLACING_KINDS: frozenset[str] = frozenset({"villages", "stations"})

#: Suffixes of files that belong to a ``.shp`` of the same name.
SHAPEFILE_SIDECARS = frozenset({".dbf", ".shx", ".prj", ".cpg", ".qix", ".sbn", ".sbx", ".fix", ".qmd",
                                ".shp.xml", ".xml"})
_UNFINISHED = (".part", ".partial", ".tmp", ".crdownload")
#: Seconds by which the last write must precede a run's reading of its inputs to skip comparing fingerprints.
WRITE_MARGIN_S = 60.0
_CRS_TOKEN = re.compile(r"^(gcj02|wgs84|cgcs2000|epsg\d{4,5})$")


@dataclass
class RefreshResult:
    """What one refresh did; :meth:`to_dict` is what the job history records."""

    ingested: list[dict[str, Any]] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    run_id: int | None = None
    analysis: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (the problems of rejected files are cut to the first 20 each)."""
        return {"ingested": self.ingested, "duplicates": self.duplicates,
                "rejected": [{**r, "problems": r["problems"][:20]} for r in self.rejected],
                "run_id": self.run_id, "analysis": self.analysis}


def pending_files(drop_dir: Path) -> list[Path]:
    """The files waiting in ``drop_dir`` (not its sub-folders), in name order.

    Hidden and unfinished files (see the module docstring) and a shapefile's sidecars are left out.
    """
    if not drop_dir.is_dir():
        return []
    stems_with_shp = {p.stem.lower() for p in drop_dir.iterdir() if p.suffix.lower() == ".shp"}
    found = []
    for path in sorted(drop_dir.iterdir(), key=lambda p: p.name):
        name = path.name.lower()
        if not path.is_file() or name.startswith(".") or name.endswith(_UNFINISHED):
            continue
        if _sidecar_suffix(path) and _shp_stem(path) in stems_with_shp:
            continue
        found.append(path)
    return found


def _sidecar_suffix(path: Path) -> bool:
    name = path.name.lower()
    return any(name.endswith(s) for s in SHAPEFILE_SIDECARS)


def _shp_stem(path: Path) -> str:
    name = path.name.lower()
    return name[:-len(".shp.xml")] if name.endswith(".shp.xml") else path.stem.lower()


def several_crs(tokens: list[str]) -> str:
    """The problem of a dropped file whose name declares more than one coordinate system."""
    return bi(f"文件名声明了多个坐标系：{'、'.join(tokens)}",
              f"the name declares several coordinate systems: {', '.join(tokens)}")


def classify(path: Path) -> tuple[Kind, str | None]:
    """The kind of a dropped file and the CRS its name declares (None: the file's own, else WGS84).

    Raises :class:`ValidationError` naming the file when its name or suffix does not say what it is.
    """
    name = path.name
    lower = name.lower()
    kind = next((k for k in KINDS if lower.startswith(k)), None)
    if kind is None:
        raise ValidationError([Problem(name, None, None, bi(
            "文件名应以 villages、stations 或 measurements 开头，刷新才知道文件内容是什么",
            "the name must start with villages, stations or measurements, so the refresh knows what the file holds"))])
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        suffix = path.suffix or "(none)"
        raise ValidationError([Problem(name, None, None, bi(
            f"不支持的文件类型 {suffix!r}；应为 {'、'.join(sorted(SUPPORTED_SUFFIXES))} 之一",
            f"unsupported file type {suffix!r}; use " + ", ".join(sorted(SUPPORTED_SUFFIXES))))])
    tokens = [t for t in re.split(r"[_\-.]", lower[len(kind):-len(path.suffix)]) if _CRS_TOKEN.match(t)]
    if len(set(tokens)) > 1:
        raise ValidationError([Problem(name, None, None, several_crs(sorted(set(tokens))))])
    crs = None
    if tokens:
        crs = f"EPSG:{tokens[0][4:]}" if tokens[0].startswith("epsg") else tokens[0]
    return cast(Kind, kind), crs


#: Suffixes an MR grid-statistics file may have (coverage.ingest.mr reads them).
MR_SUFFIXES = frozenset({".csv", ".txt", ".tsv", ".parquet", ".xlsx", ".xlsm"})


def is_mr_file(path: Path) -> bool:
    """A dropped file of operators' MR grid statistics: its name starts with ``mr`` then ``_``, ``-`` or
    ``.`` (``mr_cmcc_2026-10.csv``); they are appended (a grid already stored for an overlapping
    period rejects the file)."""
    return re.match(r"^mr[_\-.]", path.name.lower()) is not None


def _refresh_mr(store: Store, path: Path, drop_dir: Path, stamp: str, when: dt.datetime, result: RefreshResult,
                say: Callable[[str], None]) -> None:
    """Ingest one dropped MR file (:func:`coverage.ingest.mr.ingest_mr`), then move it to processed/ or rejected/."""
    from coverage.ingest.mr import ingest_mr

    sha: str | None = None
    try:
        if path.suffix.lower() not in MR_SUFFIXES:
            suffix = path.suffix or "(none)"
            raise ValidationError([Problem(path.name, None, None, bi(
                f"MR 栅格统计不支持文件类型 {suffix!r}：应为 .csv、.parquet 或 .xlsx",
                f"unsupported file type {suffix!r} for MR grid statistics; use .csv, .parquet or .xlsx"))])
        sha = file_sha256(path)
        if _already_ingested(store, "mr", sha):
            _move(path, drop_dir / PROCESSED, stamp)
            result.duplicates.append(path.name)
            say(_duplicate_step(path.name))
            return
        tokens = {t for t in re.split(r"[_\-.]", path.name.lower()[3:-len(path.suffix)]) if _CRS_TOKEN.match(t)}
        if len(tokens) > 1:
            raise ValidationError([Problem(path.name, None, None, several_crs(sorted(tokens)))])
        token = next(iter(tokens), None)
        crs = None if token is None else (f"EPSG:{token[4:]}" if token.startswith("epsg") else token)
        say(bi(f"读取、校验并存储 {path.name}（MR 栅格统计）",
               f"reading, validating and storing {path.name} as MR grid statistics"))
        stored = ingest_mr(store, path, crs=crs)
    except (ValidationError, ConfigError) as exc:
        problems = exc.problems if isinstance(exc, ValidationError) else [Problem(path.name, None, None, str(exc))]
        target = _move(path, drop_dir / REJECTED, stamp)
        _write_report(target, file=path.name, kind="mr", sha256=sha, when=when, problems=problems)
        result.rejected.append({"file": path.name, "kind": "mr", "moved_to": f"{REJECTED}/{target.name}",
                                "problems": [str(p) for p in problems]})
        say(_rejected_step(path.name, len(problems), target.name))
        return
    _move(path, drop_dir / PROCESSED, stamp)
    result.ingested.append({"file": path.name, "kind": "mr", "rows": stored.rows, "sha256": sha, "mode": "append",
                            "warnings": 0})
    say(bi(f"已从 {path.name} 存储 {stored.rows:,} 行 MR 栅格数据",
           f"stored {stored.rows:,} MR grid rows from {path.name}"))


def _duplicate_step(name: str) -> str:
    """The step of a file already ingested (same checksum), moved to ``processed/`` unread."""
    return bi(f"{name}：已入库过（校验和相同）；已移至 {PROCESSED}/",
              f"{name}: already ingested (same checksum); moved to {PROCESSED}/")


def _rejected_step(name: str, problems: int, moved_as: str) -> str:
    """The step of a rejected file, moved to ``rejected/`` as ``moved_as`` beside its report."""
    return bi(f"{name}：已拒收（{problems} 个问题）；报告见 {REJECTED}/{moved_as}.error.txt",
              f"{name}: rejected ({problems} problem(s)); report in {REJECTED}/{moved_as}.error.txt")


def _already_ingested(store: Store, kind: str, sha256: str) -> bool:
    with store.engine.connect() as conn:
        return conn.execute(select(ingests.c.id).where(ingests.c.kind == kind, ingests.c.sha256 == sha256)
                            .limit(1)).first() is not None


def _move(path: Path, folder: Path, stamp: str) -> Path:
    """Move ``path`` (with a shapefile's sidecars) into ``folder`` under a time-stamped name."""
    folder.mkdir(parents=True, exist_ok=True)
    parts = [path]
    if path.suffix.lower() == ".shp":
        parts += [p for p in path.parent.iterdir()
                  if p != path and p.is_file() and _sidecar_suffix(p) and _shp_stem(p) == path.stem.lower()]
    target = folder / f"{stamp}_{path.name}"
    for part in parts:
        os.replace(part, folder / f"{stamp}_{part.name}")
    return target


def _write_report(target: Path, *, file: str, kind: str | None, sha256: str | None, when: dt.datetime,
                  problems: list[Problem]) -> None:
    """``<target>.error.txt`` (one line per problem) and ``<target>.error.json`` beside a rejected file."""
    kind_text = bi(KIND_ZH[kind], kind) if kind in KIND_ZH else bi("未知", "unknown")
    lines = [f"文件 (file): {file}", f"类型 (kind): {kind_text}", f"sha256: {sha256 or ''}",
             f"拒收时间 (rejected at): {when:%Y-%m-%d %H:%M:%S} UTC",
             bi("此文件的内容均未存储，问题如下", "nothing of this file was stored; problems") + ":"]
    lines += [f"  {p}" for p in problems]
    with atomic_write(target.with_name(target.name + ".error.txt")) as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    document = {"file": file, "kind": kind, "sha256": sha256, "rejected_at": when.isoformat() + "Z",
                "problems": [{"file": p.file, "row": p.row, "field": p.field, "message": p.message,
                              "severity": p.severity} for p in problems]}
    with atomic_write(target.with_name(target.name + ".error.json")) as tmp:
        tmp.write_text(json.dumps(document, ensure_ascii=False, indent=2), encoding="utf-8")


def stored_fingerprints(store: Store, *, scope: str = "committees") -> dict[str, str]:
    """Fingerprints of the stored inputs as :func:`coverage.runs.analysis.run_analysis` records them
    (the DEM and land cover only when stored)."""
    return {
        "villages": store.fingerprint("villages", committees_only=(scope == "committees")),
        "stations": store.fingerprint("stations"),
        "measurements": store.fingerprint("measurements"),
        **terrain_fingerprints(store),
    }


def inputs_changed(store: Store, *, scope: str = "committees") -> bool:
    """True when the stored inputs differ from those the latest published run was computed from.

    Also True when nothing was published yet, and when the latest run had another scope or operator
    restriction than a refresh uses (``scope``, every operator). Every write of inputs is logged in
    ``ingests``; when the last one is older than the run's reading of its inputs (with a margin of
    :data:`WRITE_MARGIN_S` for clocks and commits), nothing can have changed and the stored rows are
    not read; otherwise their fingerprints are compared.
    """
    run_id = store.latest_run_id()
    if run_id is None:
        return True
    run = store.read_run(run_id)
    inputs = run["inputs"] or {}
    if inputs.get("scope") != scope or inputs.get("operators") != "all" or "calibration" in inputs:
        return True
    with store.engine.connect() as conn:
        last_write = conn.execute(select(func.max(ingests.c.created_at))).scalar()
    read_s = float((run.get("timings") or {}).get("read_s", 0.0))
    reading_began = run["started_at"] - dt.timedelta(seconds=read_s + WRITE_MARGIN_S)
    if last_write is not None and last_write < reading_began:
        return False
    current = stored_fingerprints(store, scope=scope)
    return any(inputs.get(k) != v for k, v in current.items())


def refresh(store: Store, drop_dir: Path, *, rules: RuleSet, params: ModelParameters = DEFAULT_PARAMETERS,
            scope: str = "committees", artifacts_dir: Path | None = None,
            progress: Callable[[str], None] | None = None,
            now: Callable[[], dt.datetime] | None = None, limits: Limits = DEFAULT_LIMITS) -> RefreshResult:
    """Ingest the new exports in ``drop_dir``, then analyse and publish when the inputs changed.

    Parameters
    ----------
    store
        Where files are stored and the run is published.
    drop_dir
        The drop folder (created when missing); ``processed/`` and ``rejected/`` are made inside it.
    rules, params, scope, artifacts_dir, limits
        Passed to :func:`coverage.runs.analysis.run_analysis` (the files of the drop folder are trusted:
        read without row limits).
    progress
        Called with each step (the analysis's ``"run N: ..."`` step names the run).
    now
        Clock for the time stamps of moved files (naive UTC); the current time by default.

    Returns
    -------
    RefreshResult
        Files ingested (kind, rows, mode, checksum), duplicates, rejected files with their problems,
        and the run published (None when the inputs had not changed or no villages are stored).

    Errors of a file are never raised: the file is moved to ``rejected/``. Anything else (the
    database is unreachable, the analysis fails) is raised, and the files not yet moved stay where
    they are for the next refresh.
    """
    say = progress or (lambda _m: None)
    clock = now or (lambda: dt.datetime.now(dt.UTC).replace(tzinfo=None))
    drop_dir.mkdir(parents=True, exist_ok=True)
    result = RefreshResult()
    for path in pending_files(drop_dir):
        when = clock()
        stamp = f"{when:%Y%m%dT%H%M%S}Z"
        kind: Kind | None = None
        sha: str | None = None
        if is_mr_file(path):
            _refresh_mr(store, path, drop_dir, stamp, when, result, say)
            continue
        try:
            kind, crs = classify(path)
            sha = file_sha256(path)
            if _already_ingested(store, kind, sha):
                _move(path, drop_dir / PROCESSED, stamp)
                result.duplicates.append(path.name)
                say(_duplicate_step(path.name))
                continue
            say(bi(f"读取并校验 {path.name}（{KIND_ZH[kind]}）", f"reading and validating {path.name} as {kind}"))
            read = read_input(kind, path, crs=crs)
            far = far_from_villages(read, extent(store, "villages"))
            if far is not None:  # a wrong CRS or UTM zone: rejected as the CLI and the API reject it
                raise ValidationError([far])
            fill_division_names(read, store.read_divisions())
            replace = kind in REPLACING_KINDS
            rows = store.write(kind, read.frame, replace=replace, record=IngestRecord(
                kind=kind, file_name=read.file_name, sha256=read.file_sha256, crs=read.crs,
                encoding=read.encoding, warnings=len(read.warnings)))
        except (ValidationError, ConfigError) as exc:
            problems = exc.problems if isinstance(exc, ValidationError) else [Problem(path.name, None, None, str(exc))]
            target = _move(path, drop_dir / REJECTED, stamp)
            _write_report(target, file=path.name, kind=kind, sha256=sha, when=when, problems=problems)
            result.rejected.append({"file": path.name, "kind": kind, "moved_to": f"{REJECTED}/{target.name}",
                                    "problems": [str(p) for p in problems]})
            say(_rejected_step(path.name, len(problems), target.name))
            continue
        _move(path, drop_dir / PROCESSED, stamp)
        result.ingested.append({"file": path.name, "kind": kind, "rows": rows, "sha256": sha,
                                "mode": "replace" if replace else "append", "warnings": len(read.warnings)})
        say(bi(f"已从 {path.name} 存储 {rows:,} 行{KIND_ZH[kind]}数据" + ("（替换原有数据）" if replace else ""),
               f"stored {rows:,} {kind} from {path.name}" + (" (replacing the previous set)" if replace else "")))
    if store.counts()["villages"] == 0:
        result.analysis = bi("尚未存储行政村；无需分析", "no villages stored yet; nothing to analyse")
    elif result.ingested or inputs_changed(store, scope=scope):
        run = run_analysis(store, rules=rules, params=params, scope=scope, artifacts_dir=artifacts_dir,
                           progress=say, limits=limits)
        result.run_id = run.run_id
        result.analysis = bi(f"已发布运行 {run.run_id}", f"published run {run.run_id}")
    else:
        result.analysis = bi("输入自最近发布的运行以来未变；不新建运行",
                             "inputs unchanged since the latest published run; no new run")
    say(result.analysis)
    return result
