"""5G reach rate (行政村5G通达率) and verdict counts per region.

通达率 = covered villages / villages in scope. The gap to target is the number of further villages
that must become covered for the rate to reach ``rules.target_rate``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from coverage.errors import ConfigError

__all__ = [
    "LEVELS",
    "rate_text",
    "reach_gap",
    "reach_interval",
    "reach_rate",
    "reach_rates",
    "summarize",
    "with_parent_city",
]

#: Levels and the code/name columns of the village results that group them.
LEVELS: dict[str, tuple[str, str]] = {
    "province": ("province_code", "province_name"),
    "city": ("city_code", "city_name"),
    "county": ("county_code", "county_name"),
    "township": ("township_code", "township_name"),
}


def reach_rate(covered: int, villages: int) -> float | None:
    """通达率: covered villages / villages in scope, 0-1; None when there are no villages (a rate of
    nothing is shown as null or "–", never as 0 %). Every interface computes the rate here."""
    return covered / villages if villages else None


def reach_rates(covered: pd.Series, villages: pd.Series) -> pd.Series:
    """:func:`reach_rate` row by row (regions, runs): NaN, the frame's None, where a row has no villages."""
    return covered / villages.where(villages > 0)


def rate_text(rate: float | None) -> str:
    """A 通达率 as people read it: ``12.3%``, or ``–`` without villages."""
    return "–" if rate is None or rate != rate else f"{rate:.1%}"


def reach_gap(villages: int, covered: int, target_rate: float) -> int:
    """Villages still to cover for ``covered / villages`` to reach ``target_rate`` (0 when reached)."""
    needed = math.ceil(round(target_rate * villages, 9))
    return max(0, needed - covered)


def reach_interval(p_covered: np.ndarray, *, z: float = 1.96) -> tuple[float, float, float]:
    """Expected 通达率 and its ~95 % interval from the villages' probabilities of being covered.

    The number of covered villages is a sum of independent Bernoulli(p_i) (Poisson-binomial): mean
    ``sum p``, variance ``sum p (1 - p)``; the interval is mean +- ``z`` sd (normal approximation),
    divided by the villages and clipped to 0-1. NaN for no villages or no probabilities (old runs).
    """
    p = np.asarray(p_covered, dtype=float)
    if p.size == 0 or np.isnan(p).any():
        return math.nan, math.nan, math.nan
    mean = float(p.sum())
    half = z * math.sqrt(float(np.sum(p * (1.0 - p))))
    n = p.size
    return mean / n, max(0.0, (mean - half) / n), min(1.0, (mean + half) / n)


def summarize(results: pd.DataFrame, *, level: str = "city", target_rate: float = 0.9) -> pd.DataFrame:
    """Counts per verdict, no-site villages, 通达率 and gap to target per region of ``level``.

    Parameters
    ----------
    results
        Village results as :meth:`coverage.store.storage.Store.read_results` returns them.
    level
        ``province``, ``city``, ``county`` or ``township``.
    target_rate
        The reach-rate target (0-1).

    Returns
    -------
    pandas.DataFrame
        ``code, name, villages, covered, weak, uncovered, no_site, reach_rate, target_rate,
        gap_villages``, one row per region ordered by code; ``reach_rate`` is 0-1. With a
        ``p_covered`` column also ``expected_rate``, ``rate_low`` and ``rate_high``
        (:func:`reach_interval`).
    """
    if level not in LEVELS:
        raise ConfigError(f"未知的级别 {level!r}；请用 {'、'.join(LEVELS)} 之一 (unknown level {level!r}; use one of "
                          f"{', '.join(LEVELS)})")
    code_col, name_col = LEVELS[level]
    frame = pd.DataFrame({
        "code": results[code_col].astype(str),
        "name": results[name_col].astype(object).where(results[name_col].notna(), None),
        "covered": results["verdict"] == "covered",
        "weak": results["verdict"] == "weak",
        "uncovered": results["verdict"] == "uncovered",
        "no_site": results["no_site"].astype(bool),
    })
    grouped = frame.groupby("code", sort=True)
    out = grouped[["covered", "weak", "uncovered", "no_site"]].sum().astype(int)
    out.insert(0, "villages", grouped.size())
    out.insert(0, "name", grouped["name"].first())
    out = out.reset_index()
    out["reach_rate"] = reach_rates(out["covered"], out["villages"])
    out["target_rate"] = target_rate
    out["gap_villages"] = [reach_gap(n, c, target_rate) for n, c in zip(out["villages"], out["covered"],
                                                                        strict=True)]
    if "p_covered" in results:
        p = pd.Series(results["p_covered"].to_numpy(dtype=float), index=frame["code"].to_numpy())
        bounds = {code: reach_interval(part.to_numpy()) for code, part in p.groupby(level=0, sort=True)}
        out["expected_rate"] = [bounds[c][0] for c in out["code"]]
        out["rate_low"] = [bounds[c][1] for c in out["code"]]
        out["rate_high"] = [bounds[c][2] for c in out["code"]]
    return out


def with_parent_city(frame: pd.DataFrame, results: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (county or township rows of :func:`summarize`) with ``city_code`` and ``city_name``
    first, so a county list says which city each county belongs to. City and province rows are
    returned unchanged."""
    if frame.empty or frame["code"].str.len().max() <= 4:
        return frame
    cities = (pd.DataFrame({"city_code": results["city_code"].astype(str),
                            "city_name": results["city_name"].astype(object)})
              .drop_duplicates("city_code").set_index("city_code")["city_name"])
    out = frame.copy()
    city_codes = out["code"].str[:4]
    out.insert(0, "city_name", city_codes.map(cities).astype(object))
    out.insert(0, "city_code", city_codes)
    return out
