"""Audit statistics: pass rates with confidence intervals, stratified estimates, predicted vs measured.

Intervals for a proportion k/n:

* **exact** (Clopper-Pearson 1934): ``[B(a/2; k, n-k+1), B(1-a/2; k+1, n-k)]`` with B the beta
  quantile (``scipy.stats.beta``); at least the nominal coverage for every p, hence conservative;
* **wilson** (Wilson 1927, score interval without continuity correction): centre
  ``(k + z^2/2) / (n + z^2)``, half-width ``z sqrt(k(n-k)/n + z^2/4) / (n + z^2)``; coverage close to
  the nominal level on average.

Both equal ``scipy.stats.binomtest(k, n).proportion_ci(method='exact' | 'wilson')``.

The overall pass rate is the stratified estimate ``p_st = sum_h W_h p_h`` with ``W_h = N_h / N``
over the strata that have tested villages (weights renormalised over them; the report says how
much of the population that leaves out). Its interval uses the effective sample size of Korn and
Graubard (1998): ``n* = p_st (1 - p_st) / v``, ``v = sum_h W_h^2 p_h (1 - p_h) / n_h``, capped at the
number of tested villages, and ``k* = p_st n*`` in the exact or Wilson formula (which then accept
non-integer counts). With one stratum this is exactly the simple interval of k/n. The variance
leaves out the finite-population correction, so the intervals are slightly conservative when a
stratum is sampled heavily.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy.stats import beta, norm

from coverage.errors import ConfigError, bi
from coverage.model.verdicts import VERDICTS
from coverage.writers import atomic_write, write_xlsx

__all__ = [
    "INTERVAL_METHODS",
    "clopper_pearson",
    "confusion_matrix",
    "proportion_interval",
    "report_tables",
    "stratified_estimate",
    "stratum_estimates",
    "wilson",
    "write_report",
]

#: Interval methods by name.
INTERVAL_METHODS = ("exact", "wilson")
_MEASURED = ("covered", "weak", "uncovered")


def _alpha(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise ConfigError(bi(f"置信度应在 0 与 1 之间（不含端点），实为 {confidence}",
                             f"confidence must be between 0 and 1 (exclusive), got {confidence}"))
    return 1.0 - confidence


def clopper_pearson(k: ArrayLike, n: ArrayLike, confidence: float = 0.95
                    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Clopper-Pearson ("exact") interval of the proportion ``k / n``.

    Parameters
    ----------
    k, n : array_like
        Successes and trials (n > 0); non-integer values are allowed (effective counts).
    confidence : float
        Two-sided confidence level, e.g. 0.95.

    Returns
    -------
    (low, high) : float64 arrays
        Bounds in [0, 1]; NaN where n <= 0.
    """
    a = _alpha(confidence)
    k_arr = np.asarray(k, dtype=float)
    n_arr = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        low = np.where(k_arr <= 0, 0.0, beta.ppf(a / 2.0, np.maximum(k_arr, 1e-300),
                                                 np.maximum(n_arr - k_arr + 1.0, 1e-300)))
        high = np.where(k_arr >= n_arr, 1.0, beta.ppf(1.0 - a / 2.0, k_arr + 1.0,
                                                      np.maximum(n_arr - k_arr, 1e-300)))
    bad = ~(n_arr > 0)
    return np.where(bad, np.nan, low).astype(float), np.where(bad, np.nan, high).astype(float)


def wilson(k: ArrayLike, n: ArrayLike, confidence: float = 0.95
           ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Wilson score interval of ``k / n`` (no continuity correction).

    Parameters
    ----------
    k, n : array_like
        Successes and trials (n > 0); non-integer values are allowed.
    confidence : float
        Two-sided confidence level.

    Returns
    -------
    (low, high) : float64 arrays
        Bounds in [0, 1]; NaN where n <= 0.
    """
    z = float(norm.ppf(1.0 - _alpha(confidence) / 2.0))
    k_arr = np.asarray(k, dtype=float)
    n_arr = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k_arr / n_arr
        denom = n_arr + z * z
        centre = (k_arr + z * z / 2.0) / denom
        half = z * np.sqrt(np.maximum(n_arr * p * (1.0 - p), 0.0) + z * z / 4.0) / denom
        low = np.clip(centre - half, 0.0, 1.0)
        high = np.clip(centre + half, 0.0, 1.0)
    bad = ~(n_arr > 0)
    return np.where(bad, np.nan, low), np.where(bad, np.nan, high)


def proportion_interval(k: ArrayLike, n: ArrayLike, *, method: str = "exact", confidence: float = 0.95
                        ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The ``method`` (``"exact"`` or ``"wilson"``) interval of ``k / n``; see the module docstring."""
    if method == "exact":
        return clopper_pearson(k, n, confidence)
    if method == "wilson":
        return wilson(k, n, confidence)
    raise ConfigError(bi(f"无法识别的区间方法 {method!r}；应为 {'、'.join(INTERVAL_METHODS)} 之一",
                         f"unknown interval method {method!r}; use one of {', '.join(INTERVAL_METHODS)}"))


@dataclass(frozen=True)
class StratifiedEstimate:
    """The overall pass rate from stratum counts.

    Attributes
    ----------
    pass_rate : float
        ``sum_h W_h k_h / n_h`` over strata with tested villages (0-1; NaN when none).
    low, high : float
        Interval bounds (0-1).
    std_error : float
        ``sqrt(sum_h W_h^2 p_h (1 - p_h) / n_h)``.
    effective_n, effective_k : float
        The Korn-Graubard effective sample size and successes used in the interval.
    tested, passed : int
        Villages tested and passed, over all strata.
    population : int
        N of the strata with tested villages; ``population_share`` is its share of all strata's N.
    """

    pass_rate: float
    low: float
    high: float
    std_error: float
    effective_n: float
    effective_k: float
    tested: int
    passed: int
    population: int
    population_share: float
    method: str
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        """Plain values."""
        return {k: (float(v) if isinstance(v, float | np.floating) else v) for k, v in self.__dict__.items()}


def stratified_estimate(population: ArrayLike, tested: ArrayLike, passed: ArrayLike, *,
                        method: str = "exact", confidence: float = 0.95) -> StratifiedEstimate:
    """Stratified pass rate with weights ``N_h / N`` and its interval (Korn-Graubard).

    Parameters
    ----------
    population, tested, passed : array_like of int
        Per stratum: N_h (villages in the stratum), n_h (tested) and k_h (passed).
    method : {"exact", "wilson"}, keyword-only
    confidence : float, keyword-only

    Returns
    -------
    StratifiedEstimate
    """
    big_n = np.asarray(population, dtype=float)
    n = np.asarray(tested, dtype=float)
    k = np.asarray(passed, dtype=float)
    use = n > 0
    total_n = float(big_n.sum())
    if not use.any():
        return StratifiedEstimate(float("nan"), float("nan"), float("nan"), float("nan"), 0.0, 0.0, 0, 0, 0,
                                  0.0, method, confidence)
    weights = big_n[use] / big_n[use].sum()
    p_h = k[use] / n[use]
    p = float(np.sum(weights * p_h))
    var = float(np.sum(weights**2 * p_h * (1.0 - p_h) / n[use]))
    n_tested = float(n[use].sum())
    n_eff = min(p * (1.0 - p) / var, n_tested) if var > 0 else n_tested
    k_eff = p * n_eff
    low, high = proportion_interval(k_eff, n_eff, method=method, confidence=confidence)
    return StratifiedEstimate(
        pass_rate=p, low=float(low), high=float(high), std_error=float(np.sqrt(var)), effective_n=n_eff,
        effective_k=k_eff, tested=int(n[use].sum()), passed=int(k[use].sum()),
        population=int(big_n[use].sum()), population_share=float(big_n[use].sum() / total_n) if total_n else 0.0,
        method=method, confidence=confidence)


def stratum_estimates(outcomes: pd.DataFrame, strata: pd.DataFrame, *, method: str = "exact",
                      confidence: float = 0.95) -> pd.DataFrame:
    """Pass rate and interval per stratum.

    Parameters
    ----------
    outcomes : pandas.DataFrame
        :func:`coverage.audit.outcomes.village_outcomes` of a round.
    strata : pandas.DataFrame
        The round's strata table (``stratum, city_code, city_name, verdict, population, sample,
        reserve``).
    method, confidence
        Interval method and level.

    Returns
    -------
    pandas.DataFrame
        Per stratum: ``stratum, city_code, city_name, verdict, population, weight`` (N_h / N),
        ``sample, reserve, tested, reserves_tested, passed, pass_rate, low, high`` (0-1; NaN
        without tested villages).
    """
    tested = outcomes[outcomes["tested"].astype(bool)]
    counts = tested.groupby("stratum").agg(tested=("code", "size"), passed=("passed", "sum"),
                                           reserves_tested=("reserve", "sum"))
    out = strata[["stratum", "city_code", "city_name", "verdict", "population", "sample", "reserve"]].copy()
    out = out.join(counts, on="stratum")
    for col in ("tested", "passed", "reserves_tested"):
        out[col] = out[col].fillna(0).astype(np.int64)
    total = float(out["population"].sum())
    out["weight"] = out["population"] / total if total else np.nan
    with np.errstate(invalid="ignore", divide="ignore"):
        out["pass_rate"] = np.where(out["tested"] > 0, out["passed"] / out["tested"].where(out["tested"] > 0, 1),
                                    np.nan)
    low, high = proportion_interval(out["passed"].to_numpy(float), out["tested"].to_numpy(float),
                                    method=method, confidence=confidence)
    out["low"], out["high"] = low, high
    columns = ["stratum", "city_code", "city_name", "verdict", "population", "weight", "sample", "reserve", "tested",
               "reserves_tested", "passed", "pass_rate", "low", "high"]
    return out[columns].reset_index(drop=True)


def confusion_matrix(outcomes: pd.DataFrame) -> pd.DataFrame:
    """Predicted (the run's verdict) against measured class, over the tested villages.

    Returns
    -------
    pandas.DataFrame
        Index ``covered, weak, uncovered`` (predicted), columns ``covered, weak, uncovered``
        (measured: ``covered`` = the village passed), ``tested`` and ``pass_rate`` (0-1) per row;
        a final row ``all``. Counts are of tested villages, unweighted: the ``all`` pass rate is
        the sample's, not the stratified estimate.
    """
    tested = outcomes[outcomes["tested"].astype(bool)]
    table = pd.crosstab(pd.Categorical(tested["verdict"], categories=list(VERDICTS)),
                        pd.Categorical(tested["measured_class"], categories=list(_MEASURED)), dropna=False)
    table = table.reindex(index=list(VERDICTS), columns=list(_MEASURED), fill_value=0).astype(np.int64)
    table.index.name = "predicted"
    table.columns.name = "measured"
    table.loc["all"] = table.sum(axis=0)
    table["tested"] = table[list(_MEASURED)].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        table["pass_rate"] = np.where(table["tested"] > 0, table["covered"] / table["tested"].where(
            table["tested"] > 0, 1), np.nan)
    return table


@dataclass
class AuditReport:
    """Everything a round's report shows.

    Attributes
    ----------
    round : int
    outcomes : pandas.DataFrame
        Per village (see :func:`coverage.audit.outcomes.village_outcomes`).
    strata : pandas.DataFrame
        Per stratum (see :func:`stratum_estimates`).
    overall : StratifiedEstimate
    confusion : pandas.DataFrame
        See :func:`confusion_matrix`.
    offsets : pandas.DataFrame or None
        Calibration offsets (see :func:`coverage.audit.calibration.calibration_offsets`); None when
        they could not be computed (``offsets_note`` says why).
    rule : dict
        The pass rule applied.
    counts : dict
        Villages listed, reserves, tests, and the supplementary villages listed, tested and passed.
    uncertain_from : {"all", "flagged"} or None
        Where the round's supplementary villages were chosen (the plan's ``uncertain_from``); None
        when the round asked for none.
    """

    round: int
    outcomes: pd.DataFrame
    strata: pd.DataFrame
    overall: StratifiedEstimate
    confusion: pd.DataFrame
    rule: dict[str, Any]
    offsets: pd.DataFrame | None = None
    offsets_note: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    uncertain_from: str | None = None


def report_tables(report: AuditReport) -> dict[str, pd.DataFrame]:
    """The report as named tables: ``overall, strata, confusion, villages, offsets, rule``."""
    overall = pd.DataFrame([{"round": report.round, **report.overall.to_dict(), **report.counts,
                             "uncertain_from": report.uncertain_from}])
    confusion = report.confusion.reset_index()
    tables = {"overall": overall, "strata": report.strata, "confusion": confusion, "villages": report.outcomes}
    if report.offsets is not None:
        tables["offsets"] = pd.DataFrame(report.offsets)
    tables["rule"] = pd.DataFrame([report.rule])
    return tables


def write_report(report: AuditReport, path: str | Path) -> Path:
    """Write a round's report: ``.xlsx`` (one sheet per table of :func:`report_tables`) or ``.json``.

    The file appears complete or not at all.
    """
    import json

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".xlsx", ".json"):
        raise ConfigError(bi(f"无法写出报告 {path.name!r}：文件名应以 .xlsx 或 .json 结尾",
                             f"cannot write a report to {path.name!r}: use .xlsx or .json"))
    tables = report_tables(report)
    with atomic_write(path, suffix=suffix) as tmp:
        if suffix == ".xlsx":
            write_xlsx(tables, tmp)
        else:
            out = {name: json.loads(table.to_json(orient="records", force_ascii=False, date_format="iso"))
                   for name, table in tables.items()}
            out["overall"] = out["overall"][0]
            out["rule"] = out["rule"][0]
            tmp.write_text(json.dumps(out, ensure_ascii=False, indent=1), encoding="utf-8")
    return path
