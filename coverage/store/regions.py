"""Region names and codes as people type them: the one resolver of the CLI, the API and the maps.

A city, county or township is given by its code or by its name, with or without the usual suffix of
its level (南京 for 南京市, 江都 for 江都区, 科尔沁右翼前 for 科尔沁右翼前旗, 大桥 for 大桥镇). A miss
names the closest regions ("did you mean 3210 扬州市?"). A name that several regions carry is never
guessed: :class:`AmbiguousRegionError` names every candidate with its code and where it lies, and the
caller chooses by the code or by the region above (``--city 扬州市 --county 江都区``).

:func:`region_code` decides among given regions; :func:`resolve_division` reads the candidates from
the stored villages (of one run, or all), in SQL, and decides with it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import exists, select
from sqlalchemy.sql.expression import ColumnElement

from coverage.errors import ConfigError, NotFoundError
from coverage.store.results_query import code_prefix
from coverage.store.storage import Store
from coverage.store.tables import village_results, villages

__all__ = [
    "LEVELS", "LEVEL_NAMES_ZH", "NAME_SUFFIXES", "AmbiguousRegionError", "Region", "did_you_mean", "name_forms",
    "names_match", "region_code", "resolve_division", "short_name",
]

#: Suffixes a division name may be given without, per level.
NAME_SUFFIXES: dict[str, tuple[str, ...]] = {
    "city": ("市", "地区", "自治州", "盟"),
    "county": ("区", "县", "市", "旗"),
    "township": ("镇", "乡", "街道", "街道办事处"),
}
LEVELS = tuple(NAME_SUFFIXES)
#: What each level is called in Chinese.
LEVEL_NAMES_ZH = {"province": "省", "city": "地市", "county": "县区", "township": "乡镇"}
#: The level above each level (where a candidate lies; the option that tells two candidates apart).
PARENT_LEVEL = {"city": "province", "county": "city", "township": "county"}
#: Every suffix, longest first (街道办事处 before 街道), to shorten a name of any level.
_ALL_SUFFIXES = tuple(sorted({s for suffixes in NAME_SUFFIXES.values() for s in suffixes}, key=len, reverse=True))


@dataclass(frozen=True)
class Region:
    """A city, county or township as the resolver weighs it.

    ``parents`` are the names of the regions it lies in, from the city down to the level above
    (a county: ``("扬州市",)``; a township: ``("扬州市", "江都区")``; a city: its province's);
    ``parent_code`` is the code of the region above.
    """

    code: str
    name: str
    parents: tuple[str, ...] = ()
    parent_code: str = ""

    @property
    def label(self) -> str:
        """``321012 江都区（扬州市）`` as the candidates of an ambiguous name are listed."""
        where = "".join(p for p in self.parents if p)
        return f"{self.code} {self.name}" + (f"（{where}）" if where else "")


class AmbiguousRegionError(ConfigError):
    """A region name that several regions carry (``candidates``, by code): the caller must choose.

    The message names each candidate with its code and where it lies, in Chinese first, and how to
    choose: by the code, or by naming the region above too. :meth:`choose` spells that out in an
    interface's own options.
    """

    def __init__(self, level: str, value: str, candidates: Sequence[Region], *, how: str = "") -> None:
        self.level, self.value, self.candidates = level, value, tuple(candidates)
        parent = PARENT_LEVEL[level]
        zh, parent_zh = LEVEL_NAMES_ZH[level], LEVEL_NAMES_ZH[parent]
        listed = "、".join(c.label for c in self.candidates)
        choose_zh = "请给出代码" + ("" if level == "city" else f"，或同时给出所在{parent_zh}")
        choose_en = "give the code" + ("" if level == "city" else f", or its {parent} too")
        message = (f"{zh}名“{value}”不唯一，有 {len(self.candidates)} 个：{listed}；{choose_zh}"
                   f" ({level} name {value!r} is ambiguous: {choose_en})")
        super().__init__(message + (f": {how}" if how else ""))

    def choose(self, *, code: str, parent: str | None) -> AmbiguousRegionError:
        """The same error, ending with how an interface spells the choice, for the first candidate.

        ``code`` and ``parent`` are format strings with ``{code}``, ``{name}``, ``{parent}`` (the name of
        the region above) and ``{parent_code}``, e.g. ``"--county {code}"`` and ``"--city {parent}
        --county {name}"``; ``parent`` None where the interface has no option for the region above.
        """
        first = self.candidates[0]
        values = {"code": first.code, "name": first.name, "parent": first.parents[-1] if first.parents else "",
                  "parent_code": first.parent_code}
        ways = [code.format(**values)]
        if parent and values["parent"] and values["parent_code"] and self.level != "city":
            ways.append(parent.format(**values))
        return AmbiguousRegionError(self.level, self.value, self.candidates, how="例如 e.g. " + " 或 or ".join(ways))


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


def region_code(regions: Iterable[Region], value: str, level: str, *, where: str = "in these results") -> str:
    """The code of the one region among ``regions`` (of ``level``) that ``value`` names: its code,
    else its name with or without the suffix.

    Raises
    ------
    AmbiguousRegionError
        Several regions carry the name (each is named; nothing is guessed).
    NotFoundError
        None does: the message names the closest regions, ``where`` says where they were looked for.
    """
    regions = list(regions)
    value = value.strip()
    if any(r.code == value for r in regions):
        return value
    names = np.array([r.name for r in regions], dtype=object)
    hits = sorted({r.code: r for r, hit in zip(regions, names_match(names, value, level), strict=True)
                   if hit}.values(), key=lambda r: r.code)
    if len(hits) == 1:
        return hits[0].code
    if hits:
        raise AmbiguousRegionError(level, value, hits)
    shown = list(dict.fromkeys((r.code, r.name) for r in regions))
    raise NotFoundError(f"no {level} with code or name {value!r} {where}{did_you_mean(value, shown)}")


_PARENT_NAMES = {"city": ("province_name",), "county": ("city_name",), "township": ("city_name", "county_name")}
_PARENT_CODE = {"city": "province_code", "county": "city_code", "township": "county_code"}


def resolve_division(store: Store, level: str, value: str, *, run_id: int | None = None,
                     within: Sequence[str] = ()) -> str:
    """The code of the city, county or township ``value`` names (:func:`region_code`), among the
    villages of run ``run_id`` (None: every stored village) whose codes start with each of ``within``
    (the region above already chosen, a caller's region limit).

    Reads in SQL only the regions that carry the code or the name; a miss reads the level's names
    for "did you mean". Raises :class:`AmbiguousRegionError` or :class:`NotFoundError`.
    """
    if level not in _PARENT_NAMES:
        raise ConfigError(f"unknown region level {level!r}; use city, county or township")
    value = value.strip()
    code_col, name_col = villages.c[f"{level}_code"], villages.c[f"{level}_name"]
    conds: list[ColumnElement[bool]] = [code_prefix(villages.c.code, prefix) for prefix in within if prefix]
    if run_id is not None:
        # correlated: the few villages that carry the name are looked up in the run's key
        conds.append(exists().where(village_results.c.run_id == run_id, village_results.c.code == villages.c.code))
    named = code_col == value if value.isdigit() else name_col.in_(name_forms(value, level))
    parents = [villages.c[_PARENT_CODE[level]], *(villages.c[c] for c in _PARENT_NAMES[level])]
    with store.engine.connect() as conn:
        rows: list[Any] = list(conn.execute(select(code_col, name_col, *parents).where(named, *conds).distinct()
                                            .order_by(code_col)))
        if not rows:  # the miss: every region of the level, for the suggestion
            rows = list(conn.execute(select(code_col, name_col).where(*conds).distinct().order_by(code_col)))
    where = ("in these results" if run_id is not None else "among the stored villages") + (
        f" within {', '.join(p for p in within if p)}" if any(within) else "")
    text = [tuple("" if v is None else str(v) for v in r) for r in rows]
    regions = [Region(r[0], r[1], r[3:], r[2] if len(r) > 2 else "") for r in text]
    return region_code(regions, value, level, where=where)
