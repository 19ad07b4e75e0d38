"""Column mapping, fixed values and saved mapping profiles for files with their own headers.

A user who receives the same export every month should not edit it: ``--map 维度=lat,A=site_id``
says which file column is which canonical column (:mod:`coverage.schema`), ``--set
operator=CUCC,rat=LTE`` gives a value to a column the file lacks (and to the empty cells of one it
has), and a *profile* saves both, with the file's CRS, encoding and sheet, under a name.

A profile is a small TOML file; ``--profile NAME`` reads ``<profile folder>/NAME.toml`` (the CLI's
folder is ``<data dir>/profiles``, i.e. ``data/profiles`` by default, or ``VILLAGE5G_PROFILE_DIR``),
and a path ending in ``.toml`` is read as it is::

    # data/profiles/cucc-4g.toml: the CUCC 4G 工参 export
    kind = "stations"            # optional: the kind the profile is for
    crs = "gcj02"                # optional: --crs
    encoding = "gbk"             # optional: --encoding
    layer = "工参"                # optional: --layer (sheet of a workbook)
    three_sectors = false        # optional: --three-sectors

    [map]                        # file header = canonical column (or "ignore")
    "维度" = "lat"
    "A" = "site_id"

    [set]                        # canonical column = value for every row that has none
    operator = "CUCC"

Options given on the command line win over the profile's, key by key.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from coverage.errors import ConfigError
from coverage.ingest.messages import KIND_ZH, bi
from coverage.schema import COLUMNS, KINDS, Kind
from coverage.writers import atomic_write

__all__ = ["EXTRA_TARGETS", "IGNORE", "ColumnMapping", "load_profile", "parse_pairs", "profile_path", "save_profile",
           "split_target"]

#: The target that drops a column on purpose (no "ignored columns" warning for it).
IGNORE = "ignore"

#: Extra targets a mapping may name beyond the contract's columns, per kind: values the reader
#: converts into canonical columns (RS power per resource element, channel numbers).
EXTRA_TARGETS: dict[str, tuple[str, ...]] = {
    "stations": ("rs_power_dbm", "ssb_epre_dbm", "arfcn"),
    "measurements": ("arfcn", "no_service"),
    "villages": (),
}


def split_target(target: str) -> tuple[str, str | None]:
    """``"rs_power_dbm(0.1dBm)"`` -> ``("rs_power_dbm", "0.1dbm")``: a mapping target may carry the
    column's unit in brackets, as a header would."""
    m = re.fullmatch(r"\s*([^()\[\]]+?)\s*[(\[]\s*([^)\]]*?)\s*[)\]]\s*", target)
    if m:
        return m.group(1), m.group(2).casefold() or None
    return target.strip(), None


@dataclass(frozen=True)
class ColumnMapping:
    """How to read one file: header renames, fixed values and reader options.

    Attributes
    ----------
    rename : dict
        File header (as written in the file) -> canonical column name or :data:`IGNORE`.
    defaults : dict
        Canonical column -> text value, used for every row where the column is absent or empty.
    crs, encoding, layer : str or None
        Reader options a profile may carry.
    three_sectors : bool
        Stations: a site row without azimuth becomes three sectors (0, 120, 240 degrees).
    name : str or None
        The profile's name, for messages.
    """

    rename: dict[str, str] = field(default_factory=dict)
    defaults: dict[str, str] = field(default_factory=dict)
    crs: str | None = None
    encoding: str | None = None
    layer: str | None = None
    three_sectors: bool = False
    name: str | None = None

    def check(self, kind: str) -> None:
        """Raise :class:`ConfigError` for a target or default column ``kind`` does not have."""
        if kind not in KINDS:
            raise ConfigError(bi(f"未知的数据类型 {kind!r}", f"unknown kind {kind!r}"))
        known = [c.name for c in COLUMNS[cast(Kind, kind)]]
        targets = [*known, *EXTRA_TARGETS.get(kind, ())]
        where = f" (profile {self.name})" if self.name else ""
        where_zh = f"（配置 {self.name}）" if self.name else ""
        kind_zh = KIND_ZH.get(kind, kind)
        for header, written in self.rename.items():
            target = split_target(written)[0]
            if target != IGNORE and target not in targets:
                raise ConfigError(bi(f"--map {header}={target}{where_zh}：{target!r} 不是{kind_zh}的列；"
                                     f"应为 {'、'.join(targets)} 或 {IGNORE} 之一",
                                     f"--map {header}={target}{where}: {target!r} is not a column of {kind}; "
                                     f"use one of {', '.join(targets)} or {IGNORE}"))
        for column in self.defaults:
            if column not in targets:
                raise ConfigError(bi(f"--set {column}=...{where_zh}：{column!r} 不是{kind_zh}的列；"
                                     f"应为 {'、'.join(targets)} 之一",
                                     f"--set {column}=...{where}: {column!r} is not a column of {kind}; "
                                     f"use one of {', '.join(targets)}"))

    def merged(self, other: ColumnMapping) -> ColumnMapping:
        """This mapping with ``other``'s entries and options taking precedence."""
        return ColumnMapping(
            rename={**self.rename, **other.rename}, defaults={**self.defaults, **other.defaults},
            crs=other.crs or self.crs, encoding=other.encoding or self.encoding,
            layer=other.layer or self.layer, three_sectors=other.three_sectors or self.three_sectors,
            name=other.name or self.name)

    @property
    def empty(self) -> bool:
        return not self.rename and not self.defaults and not self.three_sectors


def parse_pairs(values: list[str] | str | None, option: str) -> dict[str, str]:
    """``["维度=lat,A=site_id", "B=cell_id"]`` -> ``{"维度": "lat", "A": "site_id", "B": "cell_id"}``.

    Pairs are separated by commas (full-width ones too) or given as repeated options; a header that
    itself holds a comma cannot be mapped this way (use a profile). Raises :class:`ConfigError`
    naming ``option`` for a pair without ``=`` or with an empty side.
    """
    if values is None:
        return {}
    items = [values] if isinstance(values, str) else list(values)
    out: dict[str, str] = {}
    for item in items:
        for pair in re.split(r"[,，]", item):
            if not pair.strip():
                continue
            key, sep, value = pair.partition("=")
            if not sep:
                key, sep, value = pair.partition("＝")
            key, value = key.strip(), value.strip()
            if not sep or not key or not value:
                raise ConfigError(bi(f"{option} {pair.strip()!r}：请写成 名称=值，如 {option} 维度=lat",
                                     f"{option} {pair.strip()!r}: write NAME=VALUE, e.g. {option} 维度=lat"))
            out[key] = value
    return out


def profile_path(name: str, folder: Path) -> Path:
    """Where profile ``name`` lives: a path as given when it ends in ``.toml``, else ``folder/name.toml``."""
    if name.endswith(".toml"):
        return Path(name)
    if not re.fullmatch(r"[\w.\-]+", name) or name.startswith("."):
        raise ConfigError(bi(f"配置名 {name!r}：只能用字母、数字、'-'、'_' 或 '.'，或给出 .toml 路径",
                             f"profile name {name!r}: use letters, digits, '-', '_' or '.', or give a .toml path"))
    return folder / f"{name}.toml"


def load_profile(name: str, folder: Path, *, kind: str | None = None) -> ColumnMapping:
    """Read a mapping profile (see the module docstring); :class:`ConfigError` when it is missing or
    malformed, or when it was written for another kind than ``kind``."""
    path = profile_path(name, folder)
    if not path.is_file():
        raise ConfigError(bi(f"没有配置 {name!r}：{path} 不存在", f"no profile {name!r}: {path} does not exist"))
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(bi(f"配置 {path}：无法读取的 TOML 文件（{exc}）",
                             f"profile {path}: not a readable TOML file ({exc})")) from None
    allowed = {"kind", "crs", "encoding", "layer", "three_sectors", "map", "set", "description"}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ConfigError(bi(f"配置 {path}：未知的键 {'、'.join(unknown)}；应为 {'、'.join(sorted(allowed))}",
                             f"profile {path}: unknown key(s) {', '.join(unknown)}; use {', '.join(sorted(allowed))}"))
    for table in ("map", "set"):
        if not isinstance(data.get(table, {}), dict):
            raise ConfigError(bi(f"配置 {path}：[{table}] 应为 名称 = 值 的表",
                                 f"profile {path}: [{table}] must be a table of NAME = VALUE"))
    if kind is not None and data.get("kind") not in (None, kind):
        raise ConfigError(bi(f"配置 {name!r} 用于 {data['kind']}，不是 {kind}",
                             f"profile {name!r} is for {data['kind']}, not {kind}"))
    mapping = ColumnMapping(
        rename={str(k): str(v) for k, v in data.get("map", {}).items()},
        defaults={str(k): str(v) for k, v in data.get("set", {}).items()},
        crs=_text(data.get("crs")), encoding=_text(data.get("encoding")), layer=_text(data.get("layer")),
        three_sectors=bool(data.get("three_sectors", False)), name=path.stem)
    if kind is not None:
        mapping.check(kind)
    return mapping


def save_profile(mapping: ColumnMapping, path: Path, *, kind: str) -> Path:
    """Write ``mapping`` as a profile TOML file at ``path`` (the folder is created)."""
    mapping.check(kind)
    lines = [f"kind = {_toml(kind)}"]
    for key in ("crs", "encoding", "layer"):
        value = getattr(mapping, key)
        if value:
            lines.append(f"{key} = {_toml(value)}")
    if mapping.three_sectors:
        lines.append("three_sectors = true")
    for table, entries in (("map", mapping.rename), ("set", mapping.defaults)):
        if entries:
            lines += ["", f"[{table}]", *(f"{_toml(k)} = {_toml(v)}" for k, v in entries.items())]
    with atomic_write(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _text(value: object) -> str | None:
    return None if value is None or value == "" else str(value)


def _toml(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


