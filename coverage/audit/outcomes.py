"""Field results of an audit round: the pass rule and each village's outcome.

The pass rule (:class:`PassRule`) decides per test and per village. Its default bars are
**assumptions modelled on provincial spot-check practice** (a village committee and its
surroundings must show 5G with usable signal and real speed), not a published national rule:

* a test passes when SS-RSRP >= -105 dBm, SS-SINR >= -3 dB (the "good" bars of the default rule
  set, :mod:`coverage.model.rules`), download >= 100 Mbit/s and upload >= 10 Mbit/s;
* a test point passes when any of its tests passes: a form may record several operators' phones at
  one point (one row each, :func:`coverage.audit.results.field_test_points`), and 5G通达 needs any one
  operator, as the rule set's verdicts do;
* a village passes when at least 80 % of its test points pass (and it has at least one).

A test with no 5G service is recorded with empty SS-RSRP and SS-SINR (throughput empty or 0); it
fails.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from coverage.audit.results import field_test_points
from coverage.errors import ConfigError, bi
from coverage.ingest.validation import RANGES
from coverage.model.rules import DEFAULT_RULES

__all__ = ["PassRule", "load_pass_rule", "passing_tests", "village_outcomes"]

@dataclass(frozen=True)
class PassRule:
    """When a field test and a village pass (assumed bars, see the module docstring).

    Attributes
    ----------
    name, version
        Identify the rule in reports.
    min_rsrp_dbm, min_sinr_db
        Signal bars of a test: SS-RSRP (dBm) and SS-SINR (dB); default the "good" bars of
        :data:`coverage.model.rules.DEFAULT_RULES`.
    min_dl_mbps, min_ul_mbps
        Speed bars of a test (Mbit/s).
    village_pass_share
        Share (0-1) of a village's test points that must pass for the village to pass.
    min_tests
        Test points a village needs to count as audited; villages with fewer are "not tested".
    weak_rsrp_dbm
        A failing village whose median SS-RSRP (over its test points) is at least this is measured
        ``weak``, else ``uncovered`` (for the predicted-versus-measured comparison).
    """

    name: str = "spot-check"
    version: str = "2026.1"
    min_rsrp_dbm: float = DEFAULT_RULES.good_rsrp_dbm
    min_sinr_db: float = DEFAULT_RULES.good_sinr_db
    min_dl_mbps: float = 100.0
    min_ul_mbps: float = 10.0
    village_pass_share: float = 0.8
    min_tests: int = 1
    weak_rsrp_dbm: float = DEFAULT_RULES.weak_rsrp_dbm

    def __post_init__(self) -> None:
        problems = []
        if not 0.0 <= self.village_pass_share <= 1.0:
            problems.append(bi("village_pass_share 应在 0 到 1 之间", "village_pass_share must be between 0 and 1"))
        if self.min_tests < 1:
            problems.append(bi("min_tests 应不小于 1", "min_tests must be at least 1"))
        if self.min_dl_mbps < 0 or self.min_ul_mbps < 0:
            problems.append(bi("速率门限不能为负数", "speed bars must not be negative"))
        if problems:
            raise ConfigError(f"合格规则 {self.name!r} (pass rule {self.name!r})：" + "；".join(problems))

    @property
    def label(self) -> str:
        """``name@version``."""
        return f"{self.name}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        """Plain values, echoed in reports."""
        return asdict(self)


def load_pass_rule(path: Path | str) -> PassRule:
    """A pass rule from a TOML or JSON file; keys not given keep the defaults.

    Raises
    ------
    ConfigError
        Unreadable file, unknown keys or impossible values.
    """
    import tomllib

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (OSError, ValueError) as exc:
        raise ConfigError(bi(f"{path.name}：无法读取合格规则", f"cannot read pass rule: {exc}")) from None
    if not isinstance(data, dict):
        raise ConfigError(bi(f"{path.name}：合格规则应为“键 = 值”的表", "a pass rule is a table of key = value"))
    unknown = sorted(set(data) - {f.name for f in fields(PassRule)})
    if unknown:
        raise ConfigError(bi(f"{path.name}：未知的合格规则参数 {'、'.join(unknown)}",
                             f"unknown pass-rule keys {', '.join(unknown)}"))
    try:
        return replace(PassRule(), **data)
    except TypeError as exc:
        raise ConfigError(bi(f"{path.name}：合格规则参数的类型有误", str(exc))) from None


def passing_tests(tests: pd.DataFrame, rule: PassRule) -> np.ndarray:
    """Boolean per test: every signal and speed bar of ``rule`` met (a missing value fails)."""
    with np.errstate(invalid="ignore"):
        return ((tests["rsrp_dbm"].to_numpy(float) >= rule.min_rsrp_dbm)
                & (tests["sinr_db"].to_numpy(float) >= rule.min_sinr_db)
                & (tests["dl_mbps"].to_numpy(float) >= rule.min_dl_mbps)
                & (tests["ul_mbps"].to_numpy(float) >= rule.min_ul_mbps))


def village_outcomes(villages: pd.DataFrame, tests: pd.DataFrame, rule: PassRule) -> pd.DataFrame:
    """Per sampled village: test points, passing points, pass/fail and the measured class.

    A test point is the rows of one village at one place (:func:`coverage.audit.results.
    field_test_points`); it passes when any of them passes, and stands in the medians with its
    reading: a passing row's, else the strongest SS-RSRP's (one row per point: each row is a point).

    Parameters
    ----------
    villages : pandas.DataFrame
        A round's sample list (``code, stratum, order, reserve, verdict`` and names).
    tests : pandas.DataFrame
        The round's field tests (:data:`TEST_COLUMNS`).
    rule : PassRule

    Returns
    -------
    pandas.DataFrame
        One row per village of the list, in its order: ``code, name, city_code, city_name, stratum,
        order, reserve, verdict`` (the run's), ``n_tests, n_pass`` (test points, and those that pass),
        ``pass_share`` (0-1, NaN without tests), ``tested`` (at least ``rule.min_tests`` points),
        ``passed`` (nullable boolean, NA when not tested), ``measured_class`` (``covered`` when
        passed, else ``weak`` or ``uncovered`` by the median SS-RSRP; None when not tested), and the
        medians over the points ``rsrp_median_dbm, sinr_median_db, dl_median_mbps, ul_median_mbps``.
    """
    base = pd.DataFrame({c: villages[c].to_numpy() for c in
                         ("code", "name", "city_code", "city_name", "stratum", "order", "reserve", "verdict")})
    t = pd.DataFrame({"code": tests["village_code"].astype(str).to_numpy(), "point": field_test_points(tests),
                      "pass": passing_tests(tests, rule) if len(tests) else np.array([], dtype=bool),
                      "rsrp": tests["rsrp_dbm"].to_numpy(float), "sinr": tests["sinr_db"].to_numpy(float),
                      "dl": tests["dl_mbps"].to_numpy(float), "ul": tests["ul_mbps"].to_numpy(float)})
    # no service counts as the floor of the reporting range for the median, not as missing
    t["rsrp"] = t["rsrp"].fillna(RANGES["rsrp_dbm"][0])
    t["dl"] = t["dl"].fillna(0.0)
    t["ul"] = t["ul"].fillna(0.0)
    # one reading per test point: a passing one first (the point passes), then the strongest
    t = t.sort_values(["pass", "rsrp"], ascending=False, kind="stable").drop_duplicates("point").sort_index()
    grouped = t.groupby("code", sort=False)
    stats = pd.DataFrame({
        "n_tests": grouped.size(), "n_pass": grouped["pass"].sum(),
        "rsrp_median_dbm": grouped["rsrp"].median(), "sinr_median_db": grouped["sinr"].median(),
        "dl_median_mbps": grouped["dl"].median(), "ul_median_mbps": grouped["ul"].median(),
    })
    out = base.join(stats, on="code")
    out["n_tests"] = out["n_tests"].fillna(0).astype(np.int64)
    out["n_pass"] = out["n_pass"].fillna(0).astype(np.int64)
    n_tests = out["n_tests"].to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(n_tests > 0, out["n_pass"].to_numpy() / np.maximum(n_tests, 1), np.nan)
    tested = n_tests >= rule.min_tests
    passed = tested & (np.nan_to_num(share, nan=-1.0) >= rule.village_pass_share - 1e-12)
    median = out["rsrp_median_dbm"].to_numpy(float)
    measured = np.where(passed, "covered", np.where(median >= rule.weak_rsrp_dbm, "weak", "uncovered"))
    out["pass_share"] = share
    out["tested"] = tested
    out["passed"] = pd.Series([bool(p) if t_ else pd.NA for p, t_ in zip(passed, tested, strict=True)],
                              dtype="boolean", index=out.index)
    out["measured_class"] = pd.Series([m if t_ else None for m, t_ in zip(measured, tested, strict=True)],
                                      dtype="str", index=out.index)
    columns = [*base.columns, "n_tests", "n_pass", "pass_share", "tested", "passed", "measured_class",
               "rsrp_median_dbm", "sinr_median_db", "dl_median_mbps", "ul_median_mbps"]
    out = out[columns]
    return out
