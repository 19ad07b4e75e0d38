"""PostgreSQL's binary ``COPY`` of stored-form MR rows, built with numpy instead of row by row.

Formatting Python objects per row (psycopg's ``write_row``) cost about 7 s per million rows. Here a
chunk's rows are grouped by what makes a binary row's layout vary: the few distinct texts of the
text columns (operator, RAT, band, source) and which nullable numbers are missing. Within a group
every row has the same byte layout, so one big-endian numpy structured array per group holds its rows
and ``tobytes()`` is the wire format (PostgreSQL's binary COPY: a 16-bit field count, then per field a
32-bit length, -1 for NULL, and the value: ``float8`` and ``int4`` big-endian, ``date`` as days since
2000-01-01, ``varchar`` as its UTF-8 bytes). Rows are written group after group, each with its ``id``
given explicitly (the file's order), so the table reads back in file order.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["COPY_COLUMNS", "CopyBuffer", "binary_copy", "fits_int4"]

#: Column -> (binary kind, nullable), in ``COPY`` order; ``id`` first.
COPY_COLUMNS: dict[str, tuple[str, bool]] = {
    "id": ("int4", False), "lon": ("float8", False), "lat": ("float8", False), "grid_m": ("float8", False),
    "period_start": ("date", False), "period_end": ("date", False), "operator": ("text", False),
    "rat": ("text", False), "band": ("text", False), "arfcn": ("int4", True), "samples": ("int4", False),
    "rsrp_mean_dbm": ("float8", True), "share_good": ("float8", True), "threshold_dbm": ("float8", True),
    "sinr_mean_db": ("float8", True), "users": ("int4", True), "dl_mbps": ("float8", True),
    "source": ("text", True),
}

_HEADER = b"PGCOPY\n\xff\r\n\x00" + np.array([0, 0], dtype=">i4").tobytes()
_TRAILER = np.array([-1], dtype=">i2").tobytes()
_PG_EPOCH = np.datetime64("2000-01-01", "D")
_INT4 = (-(2 ** 31), 2 ** 31 - 1)


def fits_int4(values: np.ndarray) -> bool:
    """True when every given (non-NaN) value fits PostgreSQL's ``integer``."""
    given = values[~np.isnan(values)] if values.dtype.kind == "f" else values
    return not len(given) or bool(given.min() >= _INT4[0] and given.max() <= _INT4[1])


def _texts(column: pd.Series) -> tuple[np.ndarray, list[bytes | None]]:
    """Codes and the UTF-8 bytes of each distinct text (None for missing) of a text column."""
    codes, uniques = pd.factorize(column, use_na_sentinel=True)
    values: list[bytes | None] = [str(u).encode("utf-8") for u in uniques]
    if (codes < 0).any():
        codes = np.where(codes < 0, len(values), codes)
        values.append(None)
    return codes.astype(np.int64), values


class CopyBuffer:
    """One buffer the chunks of an ingest are encoded into in turn (a fresh 80 MB per chunk costs its
    page faults every time)."""

    def __init__(self) -> None:
        self.data = bytearray()

    def take(self, size: int) -> bytearray:
        if len(self.data) < size:
            self.data = bytearray(size + size // 8)
        return self.data


def binary_copy(frame: pd.DataFrame, first_id: int, into: CopyBuffer | None = None) -> memoryview:
    """The rows of ``frame`` (stored form) as one binary ``COPY`` stream, ids ``first_id`` onwards in
    the frame's order (a view of ``into``'s buffer when given: valid until its next use)."""
    n = len(frame)
    numbers: dict[str, np.ndarray] = {}
    missing: dict[str, np.ndarray] = {}
    texts: dict[str, list[bytes | None]] = {}
    text_codes: dict[str, np.ndarray] = {}
    layout = np.zeros(n, dtype=np.int64)
    radix = 1
    for name, (kind, nullable) in COPY_COLUMNS.items():
        if name == "id":
            numbers[name] = np.arange(first_id, first_id + n, dtype=np.int64)
        elif kind == "text":
            codes, values = _texts(frame[name])
            texts[name], text_codes[name] = values, codes
            layout += codes * radix
            radix *= len(values) + 1
        elif kind == "date":
            numbers[name] = (frame[name].to_numpy("datetime64[D]") - _PG_EPOCH).astype(np.int64)
        else:
            floats = frame[name].to_numpy(dtype=float, na_value=np.nan)
            if nullable:
                gone = np.isnan(floats)
                if gone.any():
                    missing[name] = gone
                    layout += gone * radix
                    radix *= 2
            numbers[name] = np.nan_to_num(floats) if kind == "int4" else floats
    # a value the same in every row (the period, the grid size, the threshold) goes into the row template
    constant = {name: bool(len(v) and v.min() == v.max()) for name, v in numbers.items() if name not in missing}
    groups, uniques = pd.factorize(layout)
    order = np.argsort(groups, kind="stable")
    bounds = np.r_[0, np.cumsum(np.bincount(groups, minlength=len(uniques)))]
    plans = [_plan(int(order[bounds[g]]), numbers, missing, texts, text_codes, constant) for g in range(len(uniques))]
    size = (len(_HEADER) + sum(int(bounds[g + 1] - bounds[g]) * len(p[0]) for g, p in enumerate(plans))
            + len(_TRAILER))
    out = (into or CopyBuffer()).take(size)
    out[:len(_HEADER)] = _HEADER
    out[size - len(_TRAILER):size] = _TRAILER
    pos = len(_HEADER)
    for g, (template, varying) in enumerate(plans):
        count = int(bounds[g + 1] - bounds[g])
        rows = order[bounds[g]:bounds[g + 1]] if len(uniques) > 1 else slice(None)
        block = np.frombuffer(out, dtype=np.uint8, count=count * len(template), offset=pos).reshape(count, -1)
        block[:] = template
        if varying:
            fields = np.dtype({"names": [v[0] for v in varying], "formats": [v[1] for v in varying],
                               "offsets": [v[2] for v in varying], "itemsize": len(template)})
            records = block.view(fields)[:, 0]
            for name, _wire, _offset in varying:
                records[name] = numbers[name][rows]
        pos += count * len(template)
    return memoryview(out)[:size]


def _plan(first: int, numbers: dict[str, np.ndarray], missing: dict[str, np.ndarray],
          texts: dict[str, list[bytes | None]], text_codes: dict[str, np.ndarray], constant: dict[str, bool]
          ) -> tuple[np.ndarray, list[tuple[str, str, int]]]:
    """The byte template of a group's rows (``first`` is one of them) and its varying fields
    (name, big-endian format, offset)."""
    template = bytearray(np.array([len(COPY_COLUMNS)], dtype=">i2").tobytes())
    varying: list[tuple[str, str, int]] = []
    for name, (kind, _nullable) in COPY_COLUMNS.items():
        if kind == "text":
            text = texts[name][int(text_codes[name][first])]
            template += np.array([-1 if text is None else len(text)], dtype=">i4").tobytes() + (text or b"")
        elif name in missing and missing[name][first]:
            template += np.array([-1], dtype=">i4").tobytes()
        else:
            wire = ">f8" if kind == "float8" else ">i4"
            template += np.array([np.dtype(wire).itemsize], dtype=">i4").tobytes()
            if constant.get(name):
                template += np.array([numbers[name][first]], dtype=wire).tobytes()
            else:
                varying.append((name, wire, len(template)))
                template += bytes(np.dtype(wire).itemsize)
    return np.frombuffer(bytes(template), dtype=np.uint8), varying
