"""OpenCelliD-format cell lists read as stations of unknown radio parameters.

OpenCelliD (https://wiki.opencellid.org/wiki/Menu_map_view#database, "Database format") publishes
one row per cell: ``radio, mcc, net, area, cell, unit, lon, lat, range, samples, changeable,
created, updated, averageSignal`` (the per-country downloads carry no header row). It says where a
cell was heard, not how it radiates: no band, height, azimuth, tilt or power. Rows become stations
with

* ``operator`` from MCC 460 and the MNC (00/02/04/07/08 CMCC, 01/06/09 CUCC, 03/05/11 CTCC, 15 CBN);
* ``rat`` from ``radio`` (NR, LTE; GSM, UMTS and CDMA rows are left out and counted);
* ``band`` *assumed*: the operator's main band of that RAT (:data:`ASSUMED_BANDS`), every other
  radio parameter from the band defaults, omnidirectional;
* ``site_id`` ``OCID-<mcc>-<net>-<area>-<cell>`` and ``source`` :data:`SOURCE`, which flags them
  wherever stations are shown or exported; an analysis records how many it used
  (``runs.inputs.stations_unknown_radio``).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Protocol, TypeVar

import numpy as np
from numpy.typing import NDArray

from coverage.errors import Problem
from coverage.ingest.messages import bi


class _Table(Protocol):
    """What is used here of the reader's raw table (``coverage.ingest``), a dataclass: it is copied with
    :func:`dataclasses.replace`. A protocol, so that this module does not import the reader's."""

    headers: list[str]
    columns: list[NDArray[np.object_]]
    rows: NDArray[np.int64]
    notes: list[Problem]


_T = TypeVar("_T", bound=_Table)

__all__ = ["ASSUMED_BANDS", "HEADER", "MNC_OPERATORS", "SOURCE", "convert", "is_opencellid"]

#: The column names of OpenCelliD's database format, in order.
HEADER = ("radio", "mcc", "net", "area", "cell", "unit", "lon", "lat", "range", "samples", "changeable",
          "created", "updated", "averagesignal")
#: What every station read from such a file carries in ``source``.
SOURCE = "opencellid (radio parameters unknown; band assumed)"
#: Chinese MNCs of MCC 460 (ITU-T E.212 assignments).
MNC_OPERATORS: dict[int, str] = {0: "CMCC", 2: "CMCC", 4: "CMCC", 7: "CMCC", 8: "CMCC", 1: "CUCC", 6: "CUCC",
                                 9: "CUCC", 3: "CTCC", 5: "CTCC", 11: "CTCC", 15: "CBN"}
#: The band assumed per operator and RAT: the operator's main 5G band (MIIT 2018/2020 allocations),
#: and a main LTE band (an assumption: LTE is stored and shown, never predicted).
ASSUMED_BANDS: dict[tuple[str, str], str] = {
    ("CMCC", "NR"): "n41", ("CUCC", "NR"): "n78", ("CTCC", "NR"): "n78", ("CBN", "NR"): "n28",
    ("CMCC", "LTE"): "B41", ("CUCC", "LTE"): "B3", ("CTCC", "LTE"): "B3", ("CBN", "LTE"): "B28",
}
_RADIOS = frozenset({"gsm", "umts", "cdma", "lte", "nr"})


def _key(text: str) -> str:
    return re.sub(r"[\s_\-]+", "", text).casefold()


def is_opencellid(headers: list[str]) -> bool:
    """True for the OpenCelliD header, or for a headerless file whose first row looks like one of
    its rows (``LTE,460,0,...``)."""
    keys = [_key(h) for h in headers]
    if keys[:8] == list(HEADER[:8]):
        return True
    return (len(headers) >= 8 and keys[0] in _RADIOS and headers[1].strip().isdigit()
            and headers[4].strip().isdigit())


def convert(table: _T, file: str) -> _T:
    """The OpenCelliD rows of ``table`` as a station table with canonical headers; GSM/UMTS/CDMA
    rows and rows of other countries are left out, each group counted in a warning."""
    keys = [_key(h) for h in table.headers]
    columns = [np.asarray(c, dtype=object) for c in table.columns]
    rows = table.rows
    if keys[:8] != list(HEADER[:8]):  # headerless: the "header" is the first data row
        columns = [np.concatenate([np.array([h], dtype=object), c]) for h, c in zip(table.headers, columns,
                                                                                      strict=True)]
        rows = np.concatenate([[1], rows + 1]).astype(np.int64)
    n = len(rows)
    radio = [str(v).strip().upper() if v is not None else "" for v in columns[0]]
    keep = np.zeros(n, dtype=bool)
    other_radio = other_country = unknown_net = 0
    site, cell, operator, rat, band = (np.full(n, None, dtype=object) for _ in range(5))
    problems: list[Problem] = []
    for i in range(n):
        if radio[i] not in ("NR", "LTE"):
            other_radio += 1
            continue
        try:
            mcc, net = int(float(str(columns[1][i]))), int(float(str(columns[2][i])))
            area, cid = int(float(str(columns[3][i]))), int(float(str(columns[4][i])))
        except (TypeError, ValueError):
            problems.append(Problem(file, int(rows[i]), "mcc/net/area/cell", bi("应为整数", "not whole numbers")))
            continue
        if mcc != 460:
            other_country += 1
            continue
        op = MNC_OPERATORS.get(net)
        if op is None:
            unknown_net += 1
            continue
        keep[i] = True
        site[i] = f"OCID-{mcc}-{net:02d}-{area}-{cid}"
        cell[i] = str(cid)
        operator[i], rat[i] = op, radio[i]
        band[i] = ASSUMED_BANDS[(op, radio[i])]
    # a new table of the same class (no runtime import of the reader module: no import cycle)
    out = dataclasses.replace(  # type: ignore[type-var]  # a dataclass, seen through the protocol
        table, headers=["site_id", "cell_id", "operator", "rat", "band", "lon", "lat", "source"],
        columns=[v[keep] for v in (site, cell, operator, rat, band)]
        + [columns[6][keep], columns[7][keep], np.full(int(keep.sum()), SOURCE, dtype=object)],
        rows=rows[keep], geometry=None, file_crs=None, vector=False, notes=[])
    out.notes.extend(problems)
    out.notes.append(Problem(file, None, None, bi(
        f"OpenCelliD 格式：读入中国境内 {int(keep.sum())} 个 NR/LTE 小区，作为无线参数未知的基站（频段按运营商假定，"
        f"参数取默认值，全向；来源 {SOURCE!r}）",
        f"OpenCelliD format: {int(keep.sum())} NR/LTE cell(s) of China read "
        "as stations of unknown radio parameters (band assumed per operator, defaults, "
        f"omnidirectional; source {SOURCE!r})"), severity="warning"))
    for count, what, what_zh in ((other_radio, "GSM/UMTS/CDMA cell(s) left out", "个 GSM/UMTS/CDMA 小区未读入"),
                                 (other_country, "cell(s) outside MCC 460 left out", "个 MCC 460 以外的小区未读入"),
                                 (unknown_net, "cell(s) of an MNC no operator here uses left out",
                                  "个小区的 MNC 不属于任何本地运营商，未读入")):
        if count:
            out.notes.append(Problem(file, None, None, bi(f"OpenCelliD 格式：{count} {what_zh}",
                                                          f"OpenCelliD format: {count} {what}"), severity="warning"))
    return out
