"""Audit rounds end to end over a :class:`~coverage.store.storage.Store`: draw, upload, report, calibrate.

These are the operations the CLI (``village5g audit ...``) and the HTTP API share; each is a few
calls into the pure modules :mod:`coverage.audit.sampling` (sampling and lists),
:mod:`coverage.audit.results` (field tests and the pass rule), :mod:`coverage.audit.stats`
(estimates) and :mod:`coverage.audit.calibration` (offsets), with :mod:`coverage.audit.store` for
persistence.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable, Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import ColumnElement, func, or_, select

from coverage.audit.calibration import MIN_TESTS, calibration_offsets, measured_vs_predicted
from coverage.audit.outcomes import PassRule, village_outcomes
from coverage.audit.results import FieldTests, read_field_tests
from coverage.audit.sampling import SUPPLEMENT, Sample, SamplingPlan, draw_sample
from coverage.audit.stats import AuditReport, confusion_matrix, stratified_estimate, stratum_estimates
from coverage.audit.store import AuditStore
from coverage.errors import ConfigError, NotFoundError
from coverage.limits import DEFAULT_LIMITS, Limits
from coverage.model.calibration import Calibration, fit_calibration
from coverage.model.link_budget import edge_margin_db
from coverage.model.parameters import DEFAULT_PARAMETERS, ModelParameters
from coverage.model.rules import DEFAULT_RULES, RuleSet
from coverage.model.terrain_inputs import TerrainSource
from coverage.model.verdicts import NO_SERVICE_RSRP_DBM
from coverage.schema import MEASUREMENT_COLUMNS, conform
from coverage.store.regions import resolve_division
from coverage.store.storage import Store
from coverage.store.tables import audit_tests, audit_villages, villages

__all__ = [
    "audit_evidence",
    "draw_round",
    "evidence_frame",
    "field_test_evidence",
    "in_regions",
    "list_title",
    "resolve_cities",
    "round_calibration",
    "round_offsets",
    "round_outcomes",
    "round_report",
    "round_summaries",
    "sampling_plan",
    "upload_results",
]


def sampling_plan(*, strata: str = "city", confidence: float = 0.95, margin: float = 0.05,
                  expected_pass: float | None = None, rate: float | None = None, minimum: int | None = None,
                  reserve_share: float = 0.2, reserve_min: int = 2, exclude_rounds: int = 0, population: str = "all",
                  cities: Sequence[str] = (), seed: int | None = None, uncertain: int = 0,
                  uncertain_from: str = "all") -> SamplingPlan:
    """The plan of a sample request as the CLI and the API take it.

    Cochran's formula (``expected_pass``, default 0.9) or a fixed ``rate`` with a ``minimum``, not
    both; without a ``seed`` one is drawn at random (and stored with the round, so the list can be
    drawn again). ``uncertain``: supplementary villages where ``p_covered`` is closest to 0.5, outside
    the pass-rate estimate, chosen among every village or, with ``uncertain_from="flagged"``, among the
    flagged ones only (:class:`coverage.audit.sampling.SamplingPlan`).

    Raises
    ------
    ConfigError
        Both sizing methods given, ``minimum`` without ``rate``, or a value out of range.
    """
    if rate is not None and expected_pass is not None:
        raise ConfigError("expected_pass（Cochran 公式）与 rate 和 minimum 只能给出一种 "
                          "(give either expected_pass (Cochran's formula) or rate and minimum, not both)")
    if minimum is not None and rate is None:
        raise ConfigError("minimum 须与 rate 一起给出 (minimum goes with rate)")
    return SamplingPlan(
        strata=strata, confidence=confidence, margin=margin,
        expected_pass=0.9 if expected_pass is None else expected_pass, rate=rate, minimum=minimum or 0,
        reserve_share=reserve_share, reserve_min=reserve_min, exclude_rounds=exclude_rounds, population=population,
        cities=tuple(sorted(set(cities))), seed=seed if seed is not None else secrets.randbelow(2**31),
        uncertain=uncertain, uncertain_from=uncertain_from)


def resolve_cities(store: Store, values: Sequence[str] | None) -> tuple[str, ...]:
    """City codes for codes or names (南京市 or 南京) among the stored villages, sorted and without
    repeats (:func:`coverage.store.regions.resolve_division`).

    Raises
    ------
    ConfigError
        Naming the value that matches no stored city, or the cities a name could mean.
    """
    out = []
    for value in values or ():
        try:
            out.append(resolve_division(store, "city", value))
        except NotFoundError as exc:
            raise ConfigError(str(exc)) from None
    return tuple(sorted(set(out)))


def list_title(round_number: int | None, run_id: int | None) -> str:
    """Title of a printed or exported sample list (XLSX page header, KML document name)."""
    head = f"第{round_number}轮 " if round_number is not None else ""
    return f"{head}行政村5G抽查名单 (run {run_id})"


def _within(codes: pd.Series, regions: Sequence[str]) -> np.ndarray:
    text = codes.astype(str)
    keep = np.zeros(len(text), dtype=bool)
    for region in regions:
        keep |= text.str.startswith(region).to_numpy()
    return keep


def in_regions(sample: Sample, regions: Sequence[str]) -> Sample:
    """The part of a round inside division-code prefixes ``regions`` (all of it when empty).

    The list keeps the villages whose code starts with one of the prefixes; the strata table the
    strata that have villages there (with the stratum's whole population N, which its weight and
    finite-population correction describe).
    """
    if not regions:
        return sample
    villages = sample.villages[_within(sample.villages["code"], regions)]
    strata = sample.strata[sample.strata["stratum"].isin(set(villages["stratum"]))].reset_index(drop=True)
    return Sample(villages=villages, strata=strata, plan=sample.plan, run_id=sample.run_id,
                  excluded_rounds=list(sample.excluded_rounds), round=sample.round)


def round_summaries(store: Store, *, regions: Sequence[str] = ()) -> pd.DataFrame:
    """Every round, newest first (:meth:`~coverage.audit.store.AuditStore.rounds`).

    With ``regions`` (division-code prefixes) only the rounds with villages there, and ``villages``,
    ``reserves``, ``tests`` and ``tested_villages`` counted inside them.
    """
    rounds = AuditStore(store).rounds()
    if not regions or rounds.empty:
        return rounds

    def inside(column: ColumnElement[str]) -> ColumnElement[bool]:
        return or_(*(column.like(f"{r}%") for r in regions))

    with store.engine.connect() as conn:
        listed = conn.execute(select(audit_villages.c.round, audit_villages.c.reserve, func.count())
                              .where(inside(audit_villages.c.code))
                              .group_by(audit_villages.c.round, audit_villages.c.reserve)).all()
        distinct_codes = func.count(audit_tests.c.village_code.distinct())
        tests = conn.execute(select(audit_tests.c.round, func.count(), distinct_codes)
                             .where(inside(audit_tests.c.village_code)).group_by(audit_tests.c.round)).all()
    main = {int(r): int(n) for r, reserve, n in listed if not reserve}
    spare = {int(r): int(n) for r, reserve, n in listed if reserve}
    tested = {int(r): (int(n), int(v)) for r, n, v in tests}
    rounds = rounds[rounds["round"].isin(set(main) | set(spare))].reset_index(drop=True)
    rounds["villages"] = [main.get(int(r), 0) for r in rounds["round"]]
    rounds["reserves"] = [spare.get(int(r), 0) for r in rounds["round"]]
    rounds["tests"] = [tested.get(int(r), (0, 0))[0] for r in rounds["round"]]
    rounds["tested_villages"] = [tested.get(int(r), (0, 0))[1] for r in rounds["round"]]
    return rounds


def round_outcomes(store: Store, round_number: int, *, rule: PassRule | None = None,
                   regions: Sequence[str] = ()) -> tuple[Sample, pd.DataFrame]:
    """A round's list (inside ``regions``) and the outcome of each village under ``rule``.

    Returns
    -------
    (Sample, pandas.DataFrame)
        The list and :func:`coverage.audit.outcomes.village_outcomes`, row for row.
    """
    audits = AuditStore(store)
    sample = in_regions(audits.read_sample(round_number), regions)
    outcomes = village_outcomes(sample.villages, audits.read_tests(round_number), rule or PassRule())
    return sample, outcomes


def draw_round(store: Store, plan: SamplingPlan, *, run_id: int | None = None, save: bool = True) -> Sample:
    """Draw a sample from a run's results and (by default) store it as the next round.

    Parameters
    ----------
    store : Store
    plan : SamplingPlan
        Strata, sizes, exclusions, population filter and seed.
    run_id : int, keyword-only, optional
        The run to sample (default: the latest published).
    save : bool, keyword-only
        Store the round; ``False`` previews the list without storing anything.

    Returns
    -------
    Sample
        With ``round`` set when stored.
    """
    results = store.read_results(run_id)
    stations = store.read("stations")
    audits = AuditStore(store)
    excluded, rounds = audits.recent_codes(plan.exclude_rounds)
    sample = draw_sample(results, stations, plan, excluded=excluded, run_id=int(results.attrs["run_id"]),
                         excluded_rounds=rounds)
    if save:
        audits.save_sample(sample)
    return sample


def upload_results(store: Store, round_number: int, path: str | Path, *, crs: object = None,
                   encoding: str | None = None, sheet: str | None = None, replace: bool = False,
                   now: dt.datetime | None = None, accept: Callable[[FieldTests], None] | None = None,
                   limits: Limits = DEFAULT_LIMITS) -> FieldTests:
    """Validate a field-test file against a round and store it whole, or raise and store nothing.

    Parameters
    ----------
    store : Store
    round_number : int
    path : str or Path
        CSV, XLSX or JSON (see :func:`coverage.audit.results.read_field_tests`).
    crs : optional
        CRS of the test points (``"gcj02"`` for points from Chinese map apps; WGS84 by default).
    encoding, sheet : str, optional
        CSV encoding; workbook sheet.
    replace : bool
        Replace the stored tests of the villages in the file instead of adding to them.
    now : datetime, optional
        The present (naive Asia/Shanghai), for the future-time check.
    accept : callable, optional
        Called with the validated file before anything is stored (the API checks a key's region
        limit here); whatever it raises stops the upload with nothing stored.
    limits : Limits, optional
        Rows and archive sizes the file may have, checked before it is parsed.

    Returns
    -------
    FieldTests
        The accepted file (with its warnings).

    Raises
    ------
    ValidationError
        Every problem of the file (file, row, field); nothing was stored.
    NotFoundError
        The round does not exist.
    """
    audits = AuditStore(store)
    sample = audits.read_sample(round_number)
    with store.engine.connect() as conn:
        known = {str(c) for c in conn.execute(select(villages.c.code)).scalars()}
    tests = read_field_tests(path, round_number=round_number, villages=sample.villages, known_codes=known,
                             crs=crs, encoding=encoding, sheet=sheet, now=now, limits=limits)
    if accept is not None:
        accept(tests)
    audits.save_tests(round_number, tests, replace=replace)
    return tests


def round_offsets(store: Store, round_number: int, *, raster_path: str | Path | None = None,
                  min_tests: int = MIN_TESTS, save: bool = True) -> pd.DataFrame:
    """Calibration offsets (measured minus predicted median SS-RSRP per band and city) of a round.

    Parameters
    ----------
    store : Store
    round_number : int
    raster_path : str or Path, optional
        The run's GeoTIFF, when it is not where the run record says (a relative path there is
        relative to the folder ``village5g analyze`` ran in).
    min_tests : int
        Tests a (band, city) row needs to be usable.
    save : bool
        Store the offsets with the round (replacing earlier ones).

    Returns
    -------
    pandas.DataFrame
        See :func:`coverage.audit.calibration.calibration_offsets`; ``attrs`` hold ``round``,
        ``run_id``, ``margin_db``, ``tests`` (compared) and ``unpredicted`` (tests where the
        raster has no value).

    Raises
    ------
    NotFoundError
        No tests with service in the round, or no prediction raster.
    """
    audits = AuditStore(store)
    sample = audits.read_sample(round_number)
    tests = audits.read_tests(round_number)
    if tests["rsrp_dbm"].notna().sum() == 0:
        raise NotFoundError(f"抽查轮次 {round_number} 没有测到 5G 信号的实测结果：请先上传结果 "
                            f"(round {round_number} has no field tests with 5G service: upload results first)")
    if sample.run_id is None:
        raise NotFoundError(f"抽查轮次 {round_number} 没有记录分析运行 (round {round_number} records no analysis run)")
    run = store.read_run(sample.run_id)
    path = raster_path or run.get("raster_path")
    if not path:
        raise NotFoundError(f"分析运行 {sample.run_id} 没有预测栅格（运行时未保存产物） "
                            f"(run {sample.run_id} has no prediction raster (it was analysed without artifacts))")
    rules = run["rules"]
    margin = float(edge_margin_db(float(rules["edge_probability"]), float(rules["shadow_sigma_db"])))
    comparison = measured_vs_predicted(tests, raster_path=path, stations=store.read("stations"), margin_db=margin)
    names = dict(zip(sample.villages["city_code"].astype(str), sample.villages["city_name"].astype(str), strict=True))
    offsets = calibration_offsets(comparison, city_names=names, min_tests=min_tests)
    if save:
        audits.save_offsets(round_number, offsets, run_id=sample.run_id, margin_db=margin)
    offsets.attrs.update(round=round_number, run_id=sample.run_id, margin_db=margin, tests=len(comparison),
                         unpredicted=int(comparison["predicted_rsrp_dbm"].isna().sum()))
    return offsets


def round_report(store: Store, round_number: int, *, rule: PassRule | None = None, method: str = "exact",
                 confidence: float = 0.95, raster_path: str | Path | None = None, calibrate: bool = True,
                 min_tests: int = MIN_TESTS, save_offsets: bool = True, stored_offsets: bool = False,
                 regions: Sequence[str] = ()) -> AuditReport:
    """Pass rates, intervals, the confusion matrix and calibration offsets of a round.

    Parameters
    ----------
    store : Store
    round_number : int
    rule : PassRule, optional
        Test and village bars (default :class:`~coverage.audit.outcomes.PassRule`).
    method : {"exact", "wilson"}
        Interval method (Clopper-Pearson or Wilson).
    confidence : float
        Interval level.
    raster_path : str or Path, optional
        Where the run's GeoTIFF is, if not where the run record says.
    calibrate : bool
        Compute (and store) the calibration offsets too; a missing raster then only leaves
        ``offsets`` None with a note.
    min_tests : int
        Tests a (band, city) offset needs to be usable.
    save_offsets : bool
        Store the offsets computed with the round (``False`` for a report that only reads).
    stored_offsets : bool
        Take the offsets stored with the round when there are any (computing them reads every
        station and samples the run's raster: seconds on a province), else compute them.
    regions : sequence of str
        Division-code prefixes: the report of the round's villages there only (strata keep their
        whole population N; offsets keep the rows of cities or counties inside them). Empty: all.

    Returns
    -------
    AuditReport
    """
    rule = rule or PassRule()
    sample, outcomes = round_outcomes(store, round_number, rule=rule, regions=regions)
    tests = AuditStore(store).read_tests(round_number)
    if regions:
        tests = tests[_within(tests["village_code"], regions)]
    strata = stratum_estimates(outcomes, sample.strata, method=method, confidence=confidence)
    overall = stratified_estimate(strata["population"], strata["tested"], strata["passed"], method=method,
                                  confidence=confidence)
    report = AuditReport(round=round_number, outcomes=outcomes, strata=strata, overall=overall,
                         confusion=confusion_matrix(outcomes), rule=rule.to_dict(),
                         uncertain_from=sample.plan.uncertain_from if sample.plan.uncertain else None)
    report.counts = {
        "villages": int((~outcomes["reserve"].astype(bool)).sum()),
        "reserves": int(outcomes["reserve"].astype(bool).sum()),
        "tests": len(tests),
        "tested_villages": int(outcomes["tested"].sum()),
        "untested_villages": int((~outcomes["tested"].astype(bool) & ~outcomes["reserve"].astype(bool)).sum()),
        "reserves_tested": int((outcomes["tested"].astype(bool) & outcomes["reserve"].astype(bool)).sum()),
        # supplementary villages (where verdicts were most uncertain): evidence, not in the estimate
        "supplementary": int((outcomes["stratum"].astype(str) == SUPPLEMENT).sum()),
        "supplementary_tested": int(((outcomes["stratum"].astype(str) == SUPPLEMENT)
                                     & outcomes["tested"].astype(bool)).sum()),
        "supplementary_passed": int(((outcomes["stratum"].astype(str) == SUPPLEMENT)
                                     & outcomes["passed"].fillna(False).astype(bool)).sum()),
    }
    if calibrate:
        try:
            offsets = AuditStore(store).read_offsets(round_number) if stored_offsets else pd.DataFrame()
            if offsets.empty:
                offsets = round_offsets(store, round_number, raster_path=raster_path, min_tests=min_tests,
                                        save=save_offsets)
            if regions:
                attrs = dict(offsets.attrs)
                offsets = offsets[_within(offsets["city_code"], regions)].reset_index(drop=True)
                offsets.attrs.update(attrs)
            report.offsets = offsets
        except NotFoundError as exc:
            report.offsets_note = str(exc)
    return report


def field_test_evidence(tests: pd.DataFrame, round_number: int) -> pd.DataFrame:
    """Field tests of one round (:data:`~coverage.audit.results.TEST_COLUMNS`) as measurement rows:
    outdoors (``loss_db`` 0), NR, ``source`` ``audit round N``; a test without SS-RSRP had no service."""
    return pd.DataFrame({
        "lon": tests["lon"].to_numpy(float), "lat": tests["lat"].to_numpy(float),
        "measured_at": tests["tested_at"], "operator": tests["operator"], "rat": "NR", "band": tests["band"],
        "rsrp_dbm": tests["rsrp_dbm"].fillna(NO_SERVICE_RSRP_DBM).to_numpy(float),
        "sinr_db": tests["sinr_db"].to_numpy(float), "dl_mbps": tests["dl_mbps"].to_numpy(float),
        "ul_mbps": tests["ul_mbps"].to_numpy(float), "loss_db": 0.0, "source": f"audit round {int(round_number)}"})


def evidence_frame(frames: Sequence[pd.DataFrame]) -> gpd.GeoDataFrame:
    """Measurement rows (:func:`field_test_evidence`) as canonical measurements (an empty frame for none)."""
    data = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        {c.name: pd.Series(dtype=float if c.dtype == "float" else object) for c in MEASUREMENT_COLUMNS})
    return conform("measurements", data, shapely.points(data["lon"].to_numpy(float), data["lat"].to_numpy(float)))


def audit_evidence(store: Store, *, up_to_round: int | None = None) -> gpd.GeoDataFrame:
    """Every stored field test (of rounds up to ``up_to_round``) as canonical measurements
    (:func:`field_test_evidence`)."""
    audit = AuditStore(store)
    rounds = audit.rounds()
    frames = []
    for number in (rounds["round"].tolist() if len(rounds) else []):
        if up_to_round is not None and int(number) > up_to_round:
            continue
        tests = audit.read_tests(int(number))
        if len(tests):
            frames.append(field_test_evidence(tests, int(number)))
    return evidence_frame(frames)


def round_calibration(store: Store, round_number: int, *, rules: RuleSet = DEFAULT_RULES,
                     params: ModelParameters = DEFAULT_PARAMETERS, scope: str = "committees",
                     progress: Callable[[str], None] | None = None,
                     terrain: TerrainSource | None = None) -> Calibration:
    """A calibration (:func:`coverage.model.calibration.fit_calibration`) fitted on the stored measurements
    and the field tests of rounds up to ``round_number``, checked on held-out villages; ``terrain``: the
    stored DEM and land cover the run will use (:func:`coverage.ingest.terrain.stored_terrain_source`).

    Raises
    ------
    NotFoundError
        No such round.
    coverage.model.calibration.CalibrationRefused
        Too little evidence, or the held-out error would grow.
    """
    AuditStore(store).read_round(round_number)  # NotFoundError for an unknown round
    villages = store.read("villages", committees_only=scope == "committees")
    stations = store.read("stations")
    evidence = pd.concat([store.read("measurements"), audit_evidence(store, up_to_round=round_number)],
                         ignore_index=True)
    calibration = fit_calibration(villages, stations, evidence, rules=rules, params=params, progress=progress,
                                  terrain=terrain)
    calibration.sources = {"audit_round": round_number, "evidence_samples": len(evidence)}
    return calibration
