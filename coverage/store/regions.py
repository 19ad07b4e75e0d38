"""Region names and codes as people type them: the one resolver of the CLI, the API and the maps
(:func:`region_codes` for a run's regions, in SQL or over a loaded run; :func:`name_forms` for the API's
lookup among the stored villages).

A city, county or township is given by its code or by its name, with or without the usual suffix of
its level (南京 for 南京市, 江都 for 江都区, 科尔沁右翼前 for 科尔沁右翼前旗, 大桥 for 大桥镇); a miss
names the closest regions ("did you mean 3210 扬州市?").
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

import numpy as np
import pandas as pd

from coverage.errors import NotFoundError

__all__ = ["LEVELS", "NAME_SUFFIXES", "did_you_mean", "name_forms", "names_match", "region_codes", "short_name"]

#: Suffixes a division name may be given without, per level.
NAME_SUFFIXES: dict[str, tuple[str, ...]] = {
    "city": ("市", "地区", "自治州", "盟"),
    "county": ("区", "县", "市", "旗"),
    "township": ("镇", "乡", "街道", "街道办事处"),
}
LEVELS = tuple(NAME_SUFFIXES)
#: Every suffix, longest first (街道办事处 before 街道), to shorten a name of any level.
_ALL_SUFFIXES = tuple(sorted({s for suffixes in NAME_SUFFIXES.values() for s in suffixes}, key=len, reverse=True))


def name_forms(value: str, level: str) -> tuple[str, ...]:
    """The stored names ``value`` may stand for at ``level``: itself and itself with each suffix."""
    value = value.strip()
    return (value, *(value + s for s in NAME_SUFFIXES[level]))


def names_match(names: pd.Series | np.ndarray, value: str, level: str) -> np.ndarray:
    """Which of ``names`` (of regions of ``level``) ``value`` names (:func:`name_forms`)."""
    return pd.Series(names).astype(str).isin(name_forms(value, level)).to_numpy()


def short_name(name: str) -> str:
    """A division name without its suffix (连云港市 -> 连云港, 科尔沁右翼前旗 -> 科尔沁右翼前)."""
    for suffix in _ALL_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def did_you_mean(value: str, regions: Iterable[tuple[str, str]]) -> str:
    """`` (did you mean 3207 连云港市?)`` for the regions (code, name) closest to a missed ``value``:
    names compared with and without their suffix (连云岗 -> 连云港市, 杨州 -> 扬州市), codes
    with codes (320151 -> 320115); empty when nothing is close."""
    value = value.strip()
    digits = value.isdigit()
    by_key: dict[str, tuple[str, str]] = {}
    for code, name in regions:
        for key in ((code,) if digits else (name, short_name(name))):
            if key:
                by_key.setdefault(key, (code, name))
    # one wrong character of a two-character name (杨州 for 扬州) is a ratio of 0.5; codes must be closer
    close = difflib.get_close_matches(value, list(by_key), n=3, cutoff=0.7 if digits else 0.5)
    hits = list(dict.fromkeys(by_key[k] for k in close))
    if not hits:
        return ""
    return " (did you mean " + " or ".join(f"{code} {name}".strip() for code, name in hits) + "?)"


def region_codes(regions: Iterable[tuple[object, object]], value: str, level: str) -> tuple[str, ...]:
    """The codes among ``regions`` (``(code, name)`` pairs of ``level``, e.g. a run's counties) that
    ``value`` names: its code, else its name with or without the suffix, every region that carries
    the name. Raises :class:`NotFoundError` naming the closest regions on a miss."""
    pairs = [(str(code), str(name)) for code, name in regions]
    value = value.strip()
    if any(code == value for code, _ in pairs):
        return (value,)
    hits = names_match(np.array([name for _, name in pairs], dtype=object), value, level)
    if hits.any():
        return tuple(sorted({code for (code, _), hit in zip(pairs, hits, strict=True) if hit}))
    shown = list(dict.fromkeys(pairs))
    raise NotFoundError(f"no {level} with code or name {value!r} in these results{did_you_mean(value, shown)}")
