"""Thresholds and rule sets: the one place where coverage cut-offs live.

A rule set is named and versioned and is echoed in every result, so a verdict can always be traced
to the numbers that decided it. The defaults are common industry cut-offs for SS-RSRP/SS-SINR, not
a published national rule.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from coverage.errors import ConfigError, bi


@dataclass(frozen=True)
class RuleSet:
    """Parameters that turn predicted and measured signal into village verdicts.

    Attributes
    ----------
    name, version
        Identify the rule set in every result.
    good_rsrp_dbm, good_sinr_db
        A pixel or sample is *good* when SS-RSRP >= ``good_rsrp_dbm`` and SS-SINR >= ``good_sinr_db``.
    weak_rsrp_dbm
        Below ``good`` but SS-RSRP >= this is *weak*; below it there is no usable coverage.
    covered_area_share
        Share (0-1) of a village's area that must be good for ``covered`` (with a good committee point).
    reached_area_share
        Share (0-1) of the area that must be at least weak for ``weak`` rather than ``uncovered``.
    search_radius_m
        An active 5G site farther than this from a village (metres) cannot serve it: flag ``no_site``.
    edge_probability, shadow_sigma_db
        Coverage probability a pixel must reach and the log-normal location variability (dB) it is
        computed with; the margin subtracted from the median prediction is z_p * sigma (0.9 and
        8 dB give 10.25 dB). The monitoring default is 0.5: no margin, the verdict is the best
        estimate (the median). ``shadow_sigma_db`` is also the prior sigma of the village
        probabilities (:func:`coverage.model.verdicts.village_metrics`) where no calibration estimated
        one from measurements. A margin belongs to planning (:data:`PLANNING_RULES`).
    min_measurements
        Samples needed inside a village before its measured verdict decides.
    target_rate
        The 5G reach-rate (通达率) target, 0-1.
    """

    name: str = "default"
    version: str = "2026.2"
    good_rsrp_dbm: float = -105.0
    good_sinr_db: float = -3.0
    weak_rsrp_dbm: float = -115.0
    covered_area_share: float = 0.5
    reached_area_share: float = 0.2
    search_radius_m: float = 3000.0
    edge_probability: float = 0.5
    shadow_sigma_db: float = 8.0
    min_measurements: int = 30
    target_rate: float = 0.9

    def __post_init__(self) -> None:
        problems = []
        if self.weak_rsrp_dbm > self.good_rsrp_dbm:
            problems.append(bi("弱覆盖门限 weak_rsrp_dbm 不应高于良好门限 good_rsrp_dbm",
                               "weak_rsrp_dbm must not exceed good_rsrp_dbm"))
        for share in ("covered_area_share", "reached_area_share", "target_rate"):
            if not 0.0 <= getattr(self, share) <= 1.0:
                problems.append(bi(f"{share} 应在 0 到 1 之间", f"{share} must be between 0 and 1"))
        if not 0.5 <= self.edge_probability < 1.0:
            problems.append(bi("edge_probability 应不小于 0.5 且小于 1", "edge_probability must be in [0.5, 1)"))
        if self.search_radius_m <= 0 or self.shadow_sigma_db < 0 or self.min_measurements < 1:
            problems.append(bi("search_radius_m、shadow_sigma_db 和 min_measurements 应为正数",
                               "search_radius_m, shadow_sigma_db and min_measurements must be positive"))
        if problems:
            raise ConfigError(f"判定规则集 {self.name!r} {self.version} (rule set {self.name!r} {self.version})："
                              + "；".join(problems))

    @property
    def label(self) -> str:
        """``name@version``, as echoed in results."""
        return f"{self.name}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        """Plain values, for JSON results and the run record."""
        return asdict(self)


#: The monitoring rule set: verdicts are best estimates (median prediction, no margin).
DEFAULT_RULES = RuleSet()
#: The planning rule set: a pixel counts as good only with 90 % location probability (the 10.25 dB
#: margin of the FCC's 90 % cell-edge requirement at 8 dB). For designing new sites, never for the
#: finding that a village lacks coverage (on the seed world it made 62 % of the flagged list false).
PLANNING_RULES = RuleSet(name="planning-90", edge_probability=0.9)
#: Rule sets selectable by name (``--rules NAME``).
RULE_SETS = {r.name: r for r in (DEFAULT_RULES, PLANNING_RULES)}


def load_rules(path: Path | str) -> RuleSet:
    """A named rule set (:data:`RULE_SETS`: ``default``, ``planning-90``) or one from a TOML or JSON
    file; keys not given keep the defaults.

    Raises
    ------
    ConfigError
        The file cannot be read, has unknown keys or impossible values.
    """
    if str(path) in RULE_SETS:
        return RULE_SETS[str(path)]
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (OSError, ValueError) as exc:
        raise ConfigError(bi(f"{path.name}：无法读取判定规则集", f"cannot read rule set: {exc}")) from None
    if not isinstance(data, dict):
        raise ConfigError(bi(f"{path.name}：判定规则集应为“键 = 值”的表", "a rule set is a table of key = value"))
    known = {f.name: f.type for f in fields(RuleSet)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(bi(f"{path.name}：未知的规则集参数 {'、'.join(unknown)}",
                             f"unknown rule-set keys {', '.join(unknown)}"))
    try:
        return replace(DEFAULT_RULES, **data)
    except TypeError as exc:
        raise ConfigError(bi(f"{path.name}：规则集参数的类型有误", str(exc))) from None
