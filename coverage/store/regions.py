"""Region names and codes as people type them: the one resolver of the CLI, the API and the maps.

A city, county or township is given by its code or by its name, with or without the usual suffix of
its level (南京 for 南京市, 江都 for 江都区, 科尔沁右翼前 for 科尔沁右翼前旗, 大桥 for 大桥镇). A miss
names the closest regions ("did you mean 3210 扬州市?"). A name that several regions carry is never
guessed: :class:`AmbiguousRegionError` names every candidate with its code and where it lies, and the
caller chooses by the code or by the region above (``--city 扬州市 --county 江都区``). A code or name
of no region is :class:`UnknownRegionError`, in Chinese first, with the closest regions.

:func:`region_code` decides among given regions; :func:`resolve_division` reads the candidates from
the stored villages (of one run, or all), in SQL, and decides with it; :func:`check_region` tells
whether a division code prefix names a region the store knows.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import exists, func, select
from sqlalchemy.sql.expression import ColumnElement

from coverage.errors import ConfigError, NotFoundError
from coverage.store.results_query import code_prefix
from coverage.store.storage import Store
from coverage.store.tables import divisions, village_results, villages

__all__ = [
    "LEVELS", "LEVEL_NAMES_ZH", "NAME_SUFFIXES", "AmbiguousRegionError", "Region", "UnknownRegionError", "check_region",
    "close_regions", "did_you_mean", "name_forms", "names_match", "region_code", "resolve_division", "short_name",
]

#: Suffixes a division name may be given without, per level.
NAME_SUFFIXES: dict[str, tuple[str, ...]] = {
    "city": ("市", "地区", "自治州", "盟"),
    "county": ("区", "县", "市", "旗"),
    "township": ("镇", "乡", "街道", "街道办事处"),
}
LEVELS = tuple(NAME_SUFFIXES)
#: What each level is called in Chinese.
LEVEL_NAMES_ZH = {"province": "省", "city": "地市", "county": "县区", "township": "乡镇", "village": "行政村"}
#: The level of a division code by its length.
CODE_LEVELS = {2: "province", 4: "city", 6: "county", 9: "township", 12: "village"}
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


class UnknownRegionError(NotFoundError):
    """A code or name that no region of ``level`` carries where it was looked for; ``suggestions``
    are the closest regions (code, name), possibly none.

    The message is Chinese first, then English: ``没有代码或名称为“杨州”的地市（本次结果中）；是否指
    3210 扬州市？ (no city with code or name '杨州' in these results (did you mean 3210 扬州市?))``.
    """

    def __init__(self, level: str, value: str, suggestions: Sequence[tuple[str, str]], *, where: str,
                 where_zh: str, codes_only: bool = False) -> None:
        self.level, self.value, self.suggestions = level, value, tuple(suggestions)
        listed = [f"{code} {name}".strip() for code, name in self.suggestions]
        asked = "代码" if codes_only else "代码或名称"
        message = f"没有{asked}为“{value}”的{LEVEL_NAMES_ZH.get(level, '区划')}（{where_zh}）"
        if listed:
            message += "；是否指 " + " 或 ".join(listed) + "？"
        english = f"no {level} with code{'' if codes_only else ' or name'} {value!r} {where}"
        if listed:
            english += " (did you mean " + " or ".join(listed) + "?)"
        super().__init__(f"{message} ({english})")


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
    """`` (did you mean 3207 连云港市?)`` for the regions (code, name) closest to a missed ``value``
    (:func:`close_regions`); empty when nothing is close."""
    hits = close_regions(value, regions)
    if not hits:
        return ""
    return " (did you mean " + " or ".join(f"{code} {name}".strip() for code, name in hits) + "?)"


def close_regions(value: str, regions: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The regions (code, name), at most three, closest to a missed ``value``: names compared with and
    without their suffix (连云岗 -> 连云港市, 杨州 -> 扬州市), codes with codes (320151 -> 320115)."""
    value = value.strip()
    digits = value.isdigit()
    by_key: dict[str, tuple[str, str]] = {}
    for code, name in regions:
        for key in ((code,) if digits else (name, short_name(name))):
            if key:
                by_key.setdefault(key, (code, name))
    # one wrong character of a two-character name (杨州 for 扬州) is a ratio of 0.5; codes must be closer
    close = difflib.get_close_matches(value, list(by_key), n=3, cutoff=0.7 if digits else 0.5)
    return list(dict.fromkeys(by_key[k] for k in close))


def region_code(regions: Iterable[Region], value: str, level: str, *, where: str = "in these results",
                where_zh: str = "本次结果中") -> str:
    """The code of the one region among ``regions`` (of ``level``) that ``value`` names: its code,
    else its name with or without the suffix.

    Raises
    ------
    AmbiguousRegionError
        Several regions carry the name (each is named; nothing is guessed).
    UnknownRegionError
        None does: the message names the closest regions, ``where`` (``where_zh``) says where they
        were looked for.
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
    raise UnknownRegionError(level, value, close_regions(value, shown), where=where, where_zh=where_zh)


_PARENT_NAMES = {"city": ("province_name",), "county": ("city_name",), "township": ("city_name", "county_name")}
_PARENT_CODE = {"city": "province_code", "county": "city_code", "township": "county_code"}
_WIDTHS = {"province": 2, "city": 4, "county": 6, "township": 9, "village": 12}


def _within_divisions(prefixes: Sequence[str], level: str) -> list[ColumnElement[bool]]:
    """Divisions of ``level`` inside every prefix: a prefix longer than the level's codes (a county
    key asking for its city) holds the division its first digits name."""
    width = _WIDTHS[level]
    return [code_prefix(divisions.c.code, p) if len(p) <= width else divisions.c.code == p[:width] for p in prefixes]


def _where(run_id: int | None, known: bool, prefixes: Sequence[str]) -> tuple[str, str]:
    """Where a miss was looked for, in English and Chinese."""
    if known:
        where, where_zh = "among the stored regions", "已存区划中"
    elif run_id is not None:
        where, where_zh = "in these results", "本次结果中"
    else:
        where, where_zh = "among the stored villages", "已存行政村中"
    if prefixes:
        where, where_zh = f"{where} within {', '.join(prefixes)}", f"{where_zh}，限 {'、'.join(prefixes)}"
    return where, where_zh


def resolve_division(store: Store, level: str, value: str, *, run_id: int | None = None,
                     within: Sequence[str] = (), known: bool = False) -> str:
    """The code of the city, county or township ``value`` names (:func:`region_code`), among the
    villages of run ``run_id`` (None: every stored village) whose codes start with each of ``within``
    (the region above already chosen, a caller's region limit).

    ``known``: a region the store knows that has no village in the run resolves too (a filter by it
    is then empty, not an error): one of the stored villages of any run, or of the division
    reference (``divisions``), inside ``within`` still.

    Reads in SQL only the regions that carry the code or the name; a miss reads the level's names
    for "did you mean". Raises :class:`AmbiguousRegionError` or :class:`UnknownRegionError`.
    """
    if level not in _PARENT_NAMES:
        raise ConfigError(f"未知的区划级别 {level!r}；请用 city（地市）、county（县区）或 township（乡镇） "
                          f"(unknown region level {level!r}; use city, county or township)")
    value = value.strip()
    prefixes = [p for p in within if p]
    code_col, name_col = villages.c[f"{level}_code"], villages.c[f"{level}_name"]
    conds: list[ColumnElement[bool]] = [code_prefix(villages.c.code, prefix) for prefix in prefixes]
    in_run = [] if run_id is None else [
        # correlated: the few villages that carry the name are looked up in the run's key
        exists().where(village_results.c.run_id == run_id, village_results.c.code == villages.c.code)]
    named = code_col == value if value.isdigit() else name_col.in_(name_forms(value, level))
    parents = [villages.c[_PARENT_CODE[level]], *(villages.c[c] for c in _PARENT_NAMES[level])]
    div_conds = [divisions.c.level == level, *_within_divisions(prefixes, level)]
    div_named = divisions.c.code == value if value.isdigit() else divisions.c.name.in_(name_forms(value, level))

    def carrying(*where: ColumnElement[bool]) -> Any:
        query = select(code_col, name_col, *parents).where(named, *where)
        # a code is never ambiguous: the first village that carries it is enough (an index probe, not a scan)
        return query.limit(1) if value.isdigit() else query.distinct().order_by(code_col)

    with store.engine.connect() as conn:
        rows: list[Any] = list(conn.execute(carrying(*conds, *in_run)))
        if not rows and known:  # a region of the store without villages in the run
            if in_run:
                rows = list(conn.execute(carrying(*conds)))
            if not rows:
                rows = list(conn.execute(select(divisions.c.code, divisions.c.name, divisions.c.parent_code)
                                         .where(div_named, *div_conds).order_by(divisions.c.code)))
        if not rows:  # the miss: every region of the level, for the suggestion
            rows = list(conn.execute(select(code_col, name_col).where(*conds, *([] if known else in_run))
                                     .distinct().order_by(code_col)))
            if known:
                rows += list(conn.execute(select(divisions.c.code, divisions.c.name).where(*div_conds)))
    where, where_zh = _where(run_id, known, prefixes)
    text = [tuple("" if v is None else str(v) for v in r) for r in rows]
    regions = [Region(r[0], r[1], r[3:], r[2] if len(r) > 2 else "") for r in text]
    return region_code(regions, value, level, where=where, where_zh=where_zh)


_LEVEL_COLUMNS = {"province": ("province_code", "province_name"), "city": ("city_code", "city_name"),
                  "county": ("county_code", "county_name"), "township": ("township_code", "township_name"),
                  "village": ("code", "name")}


def check_region(store: Store, code: str, *, within: Sequence[str] = ()) -> str:
    """``code``, a division code prefix (2, 4, 6, 9 or 12 digits: a province, city, county, township
    or village), when the store knows the region: a stored village lies in it (of any run), or the
    division reference has it; inside each of ``within`` (a caller's region limit) in both cases.

    A known region without villages is no error (a filter by it is empty). Raises
    :class:`UnknownRegionError` naming the closest regions of the same level otherwise.
    """
    code = code.strip()
    level = CODE_LEVELS.get(len(code))
    if level is None or not code.isdigit():
        raise ConfigError(f"区域 {code!r}：区划代码应为 2、4、6、9 或 12 位数字 "
                          f"(region {code!r}: a division code has 2, 4, 6, 9 or 12 digits)")
    prefixes = [p for p in within if p]
    conds = [code_prefix(villages.c.code, p) for p in prefixes]
    div_conds = [divisions.c.level == level, *_within_divisions(prefixes, level)]
    with store.engine.connect() as conn:
        found = conn.execute(select(villages.c.code).where(code_prefix(villages.c.code, code), *conds).limit(1)).first()
        if found is None:
            found = conn.execute(select(divisions.c.code).where(divisions.c.code == code, *div_conds)).first()
        if found is not None:
            return code
        code_col, name_col = (villages.c[c] for c in _LEVEL_COLUMNS[level])
        # a village is looked for among its county's: a typo in its last digits is the likely one
        near = [code_prefix(villages.c.code, code[:6])] if level == "village" else []
        shown = [(str(c), "" if n is None else str(n)) for c, n in conn.execute(
            select(code_col, func.max(name_col)).where(*conds, *near).group_by(code_col).order_by(code_col))]
        shown += [(str(c), str(n)) for c, n in conn.execute(select(divisions.c.code, divisions.c.name)
                                                            .where(*div_conds))]
    where, where_zh = _where(None, True, prefixes)
    raise UnknownRegionError(level, code, close_regions(code, shown), where=where, where_zh=where_zh,
                             codes_only=True)
