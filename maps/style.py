"""Colours and labels of every map: the one table the builders, the legend and the JavaScript share.

The JavaScript side (``static/village5g/village5g.js``) receives these tables through
:func:`js_config`, so a colour is written in one place only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from coverage.model.rules import RuleSet
from coverage.model.verdicts import REASONS


@dataclass(frozen=True)
class MapClass:
    """One legend class: key, Chinese and English label, fill colour (``#rrggbb``)."""

    key: str
    label_zh: str
    label_en: str
    color: str


#: The four classes a village is drawn in. ``no_site`` wins over ``weak`` and ``uncovered`` (a
#: village with no 5G site near it needs a new site, whatever the prediction says); a ``covered``
#: village stays ``covered`` and its popup shows the flag.
VILLAGE_CLASSES: tuple[MapClass, ...] = (
    MapClass("covered", "5G通达", "covered", "#1a9641"),
    MapClass("weak", "弱覆盖", "weak", "#fdae61"),
    MapClass("uncovered", "无覆盖", "uncovered", "#d7191c"),
    MapClass("no_site", "无站址", "no site", "#5e3c99"),
)
CLASS_COLORS: dict[str, str] = {c.key: c.color for c in VILLAGE_CLASSES}

#: The classes of an audit sample point (:mod:`maps.audit`): the field outcome of a tested village, else
#: not yet tested; reserves not (yet) used are a class of their own, and a tested reserve keeps a dashed ring.
AUDIT_CLASSES: tuple[MapClass, ...] = (
    MapClass("pass", "通过", "passed", "#1a9641"),
    MapClass("fail", "未通过", "failed", "#d7191c"),
    MapClass("untested", "待测", "not yet tested", "#2b83ba"),
    MapClass("reserve", "备选", "reserve", "#bdbdbd"),
)

#: Fill opacity of village polygons (the browser test blends the class colours with it).
VILLAGE_FILL_OPACITY = 0.75

#: Sector wedge colours by band; ``other`` for LTE and unlisted bands.
BAND_COLORS: dict[str, str] = {
    "n28": "#1f3fbf",
    "n41": "#00a9e0",
    "n78": "#c51b7d",
    "n79": "#252525",
    "other": "#878787",
}
#: Drawn wedge radius by band (metres): a symbol size ordering low bands outside, not a coverage range.
BAND_WEDGE_RADIUS_M: dict[str, float] = {"n28": 420.0, "n41": 300.0, "n78": 240.0, "n79": 180.0,
                                          "other": 200.0}

#: Background of the map area outside every polygon when no tile basemap is used.
NO_BASEMAP_BACKGROUND = "#dfe6ec"
#: Fill of the land (our own division polygons) under the villages when no tile basemap is used.
NO_BASEMAP_LAND = "#f4f2ed"


def village_class(verdict: Any, no_site: Any) -> str:
    """The legend class of a village: its verdict, or ``no_site`` for a flagged village not covered."""
    if verdict != "covered" and bool(no_site):
        return "no_site"
    return str(verdict)


def village_classes(verdicts: np.ndarray, no_site: np.ndarray) -> np.ndarray:
    """:func:`village_class` over arrays (object array of class keys)."""
    verdicts = np.asarray(verdicts, dtype=object)
    flagged = np.asarray(no_site, dtype=bool) & (verdicts != "covered")
    return np.where(flagged, "no_site", verdicts).astype(object)


@dataclass(frozen=True)
class Step:
    """One class of a stepped colour scale: values ``>= lower`` (and below the previous step)."""

    lower: float
    color: str
    label: str


#: Colours of the four classes below the target, from the lowest rates up.
_BELOW_TARGET = ("#d7191c", "#f46d43", "#fdae61", "#fee08b")


def reach_rate_steps(target_rate: float, rates: Any = None) -> tuple[Step, ...]:
    """Stepped colours of 通达率 (0-1): green at or above the target, four classes below it.

    Without ``rates`` the classes below the target are 5 points wide (target-5%, -10%, -15%). With
    the ``rates`` being mapped, the classes are spread over their actual range below the target
    (whole percents from the lowest rate to the highest one under the target), so a province whose
    cities all lie between 49% and 79% shows four colours, not one; a class between the highest
    rate and the target is added when there is room. Labels mark the target.
    """
    t = target_rate
    values = np.asarray([] if rates is None else rates, dtype=float)
    values = values[np.isfinite(values) & (values < t)]
    reached = Step(t, "#1a9641", f"≥ {t:.0%} 达标 target reached")
    if values.size == 0:
        edges = [t - 0.15, t - 0.10, t - 0.05]
        top = t
    else:
        top = min(t, float(np.ceil(values.max() * 100 - 1e-9)) / 100)
        low = min(float(np.floor(values.min() * 100 + 1e-9)) / 100, top - 0.04)
        edges = [round(low + (top - low) * k / 4, 2) for k in (1, 2, 3)]
    steps = [reached]
    if top < t:
        steps.append(Step(top, "#ffffbf", f"{top:.0%}–{t:.0%} (below target)"))
    bounds = [*edges, top]
    for k in (2, 1, 0):
        steps.append(Step(edges[k], _BELOW_TARGET[k + 1], f"{edges[k]:.0%}–{bounds[k + 1]:.0%}"))
    steps.append(Step(-np.inf, _BELOW_TARGET[0], f"< {edges[0]:.0%}"))
    return tuple(steps)


def rsrp_steps(rules: RuleSet) -> tuple[Step, ...]:
    """Stepped colours of predicted SS-RSRP (dBm) with the rule set's good and weak cut-offs as edges."""
    good, weak = rules.good_rsrp_dbm, rules.weak_rsrp_dbm
    return (
        Step(good + 20.0, "#006837", f"≥ {good + 20:.0f} dBm"),
        Step(good + 10.0, "#31a354", f"{good + 10:.0f} to {good + 20:.0f}"),
        Step(good, "#addd8e", f"{good:.0f} to {good + 10:.0f} (good)"),
        Step(weak, "#fecc5c", f"{weak:.0f} to {good:.0f} (weak)"),
        Step(-np.inf, "#bd0026", f"< {weak:.0f} (none)"),
    )


def step_index(values: np.ndarray, steps: tuple[Step, ...]) -> np.ndarray:
    """Index into ``steps`` of each value (steps ordered from the highest lower bound down)."""
    lowers = np.array([s.lower for s in steps])[::-1]  # ascending
    idx = np.searchsorted(lowers, np.asarray(values, dtype=float), side="right") - 1
    return (len(steps) - 1 - np.clip(idx, 0, len(steps) - 1)).astype(np.int64)


def hex_rgb(color: str) -> tuple[int, int, int]:
    """``#rrggbb`` as an (r, g, b) tuple of 0-255 ints."""
    value = color.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def js_config(*, target_rate: float | None = None, rates: Any = None) -> dict[str, Any]:
    """The tables the page script needs: class colours and labels, band colours, reason texts, and
    with ``target_rate`` the 通达率 classes (:func:`reach_rate_steps` of ``rates``)."""
    config: dict[str, Any] = {
        "classes": {c.key: {"color": c.color, "zh": c.label_zh, "en": c.label_en} for c in VILLAGE_CLASSES},
        "fillOpacity": VILLAGE_FILL_OPACITY,
        "bands": BAND_COLORS,
        "bandRadius": BAND_WEDGE_RADIUS_M,
        "reasons": REASONS,
    }
    if target_rate is not None:
        config["rateSteps"] = [{"lower": s.lower if np.isfinite(s.lower) else -1.0, "color": s.color}
                               for s in reach_rate_steps(target_rate, rates)]
    return config
