"""Audit rounds end to end over a :class:`~coverage.storage.Store`: draw, upload, report, calibrate.

These are the operations the CLI (``village5g audit ...``) and the HTTP API share; each is a few
calls into the pure modules :mod:`coverage.audit` (sampling and lists),
:mod:`coverage.audit_results` (field tests and the pass rule), :mod:`coverage.audit_stats`
(estimates) and :mod:`coverage.audit_calibration` (offsets), with :mod:`coverage.audit_store` for
persistence.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
from sqlalchemy import select

from coverage.audit import Sample, SamplingPlan, draw_sample
from coverage.audit_calibration import MIN_TESTS, calibration_offsets, measured_vs_predicted
from coverage.audit_results import FieldTests, PassRule, read_field_tests, village_outcomes
from coverage.audit_stats import AuditReport, confusion_matrix, stratified_estimate, stratum_estimates
from coverage.audit_store import AuditStore
from coverage.errors import NotFoundError
from coverage.propagation import edge_margin_db
from coverage.storage import Store, villages

__all__ = ["draw_round", "load_calibration", "round_offsets", "round_report", "upload_results"]


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
                   now: dt.datetime | None = None) -> FieldTests:
    """Validate a field-test file against a round and store it whole, or raise and store nothing.

    Parameters
    ----------
    store : Store
    round_number : int
    path : str or Path
        CSV, XLSX or JSON (see :func:`coverage.audit_results.read_field_tests`).
    crs : optional
        CRS of the test points (``"gcj02"`` for points from Chinese map apps; WGS84 by default).
    encoding, sheet : str, optional
        CSV encoding; workbook sheet.
    replace : bool
        Replace the stored tests of the villages in the file instead of adding to them.
    now : datetime, optional
        The present (naive Asia/Shanghai), for the future-time check.

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
                             crs=crs, encoding=encoding, sheet=sheet, now=now)
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
        See :func:`coverage.audit_calibration.calibration_offsets`; ``attrs`` hold ``round``,
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
        raise NotFoundError(f"round {round_number} has no field tests with 5G service: upload results first")
    if sample.run_id is None:
        raise NotFoundError(f"round {round_number} records no analysis run")
    run = store.read_run(sample.run_id)
    path = raster_path or run.get("raster_path")
    if not path:
        raise NotFoundError(f"run {sample.run_id} has no prediction raster (it was analysed without artifacts)")
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
                 min_tests: int = MIN_TESTS) -> AuditReport:
    """Pass rates, intervals, the confusion matrix and calibration offsets of a round.

    Parameters
    ----------
    store : Store
    round_number : int
    rule : PassRule, optional
        Test and village bars (default :class:`~coverage.audit_results.PassRule`).
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

    Returns
    -------
    AuditReport
    """
    rule = rule or PassRule()
    audits = AuditStore(store)
    sample = audits.read_sample(round_number)
    tests = audits.read_tests(round_number)
    outcomes = village_outcomes(sample.villages, tests, rule)
    strata = stratum_estimates(outcomes, sample.strata, method=method, confidence=confidence)
    overall = stratified_estimate(strata["population"], strata["tested"], strata["passed"], method=method,
                                  confidence=confidence)
    report = AuditReport(round=round_number, outcomes=outcomes, strata=strata, overall=overall,
                         confusion=confusion_matrix(outcomes), rule=rule.to_dict())
    report.counts = {
        "villages": int((~outcomes["reserve"].astype(bool)).sum()),
        "reserves": int(outcomes["reserve"].astype(bool).sum()),
        "tests": len(tests),
        "tested_villages": int(outcomes["tested"].sum()),
        "untested_villages": int((~outcomes["tested"].astype(bool) & ~outcomes["reserve"].astype(bool)).sum()),
        "reserves_tested": int((outcomes["tested"].astype(bool) & outcomes["reserve"].astype(bool)).sum()),
    }
    if calibrate:
        try:
            report.offsets = round_offsets(store, round_number, raster_path=raster_path, min_tests=min_tests)
        except NotFoundError as exc:
            report.offsets_note = str(exc)
    return report


def load_calibration(store: Store, round_number: int, *, raster_path: str | Path | None = None) -> pd.DataFrame:
    """The calibration offsets of a round for :func:`coverage.audit_calibration.apply_calibration`.

    The stored offsets when ``village5g audit report`` computed them, else computed (and stored)
    now. ``attrs["round"]`` names the round, for the run record.
    """
    offsets = AuditStore(store).read_offsets(round_number)
    if offsets.empty:
        offsets = round_offsets(store, round_number, raster_path=raster_path)
    offsets.attrs["round"] = round_number
    return offsets
