"""Just enough PNG, with the standard library's zlib and numpy (no Pillow).

:func:`encode_indexed` writes the palette PNG of the RSRP overlay; :func:`decode` reads 8-bit
greyscale, RGB, RGBA and palette PNGs (the browser's screenshots) into an RGBA array.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence

import numpy as np

_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def encode_indexed(index: np.ndarray, palette: Sequence[tuple[int, int, int, int]]) -> bytes:
    """A palette PNG of ``index`` (2-D uint8, values < len(palette)); ``palette`` is RGBA 0-255."""
    index = np.ascontiguousarray(index, dtype=np.uint8)
    if index.ndim != 2 or not 0 < len(palette) <= 256:
        raise ValueError("index must be 2-D and the palette hold 1-256 colours")
    if index.size and int(index.max()) >= len(palette):
        raise ValueError("index refers past the end of the palette")
    height, width = index.shape
    header = struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0)
    plte = bytes(c for rgba in palette for c in rgba[:3])
    trns = bytes(rgba[3] for rgba in palette)
    rows = np.zeros((height, width + 1), dtype=np.uint8)  # filter byte 0 (None) on every row
    rows[:, 1:] = index
    return (_SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"PLTE", plte) + _chunk(b"tRNS", trns)
            + _chunk(b"IDAT", zlib.compress(rows.tobytes(), 9)) + _chunk(b"IEND", b""))


def _paeth_row(raw: np.ndarray, prev: np.ndarray, bpp: int) -> np.ndarray:
    out = bytearray(raw.tobytes())
    up = prev.tobytes()
    for i in range(len(out)):
        a = out[i - bpp] if i >= bpp else 0
        b = up[i]
        c = up[i - bpp] if i >= bpp else 0
        p = a + b - c
        pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
        pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
        out[i] = (out[i] + pred) & 0xFF
    return np.frombuffer(bytes(out), dtype=np.uint8)


def _average_row(raw: np.ndarray, prev: np.ndarray, bpp: int) -> np.ndarray:
    out = bytearray(raw.tobytes())
    up = prev.tobytes()
    for i in range(len(out)):
        a = out[i - bpp] if i >= bpp else 0
        out[i] = (out[i] + ((a + up[i]) >> 1)) & 0xFF
    return np.frombuffer(bytes(out), dtype=np.uint8)


def decode(data: bytes) -> np.ndarray:
    """An 8-bit, non-interlaced PNG as an ``(height, width, 4)`` uint8 RGBA array."""
    if not data.startswith(_SIGNATURE):
        raise ValueError("not a PNG file")
    pos = len(_SIGNATURE)
    idat = bytearray()
    palette: np.ndarray | None = None
    alpha = b""
    width = height = depth = color = interlace = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
        elif kind == b"PLTE":
            palette = np.frombuffer(body, dtype=np.uint8).reshape(-1, 3)
        elif kind == b"tRNS":
            alpha = body
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}.get(color)
    if depth != 8 or interlace or channels is None:
        raise ValueError(f"unsupported PNG: bit depth {depth}, colour type {color}, interlace {interlace}")
    stride = width * channels
    raw = np.frombuffer(zlib.decompress(bytes(idat)), dtype=np.uint8).reshape(height, stride + 1)
    pixels = np.zeros((height, stride), dtype=np.uint8)
    prev = np.zeros(stride, dtype=np.uint8)
    for y in range(height):
        kind_byte, line = raw[y, 0], raw[y, 1:]
        if kind_byte == 0:
            row = line.copy()
        elif kind_byte == 1:  # Sub: running sum per channel, modulo 256 by uint8 wrap-around
            row = np.cumsum(line.reshape(width, channels), axis=0, dtype=np.uint8).reshape(-1)
        elif kind_byte == 2:
            row = line + prev
        elif kind_byte == 3:
            row = _average_row(line, prev, channels)
        elif kind_byte == 4:
            row = _paeth_row(line, prev, channels)
        else:
            raise ValueError(f"bad PNG filter type {kind_byte} on row {y}")
        pixels[y] = row
        prev = pixels[y]
    img = pixels.reshape(height, width, channels)
    if color == 6:
        return img.copy()
    out = np.full((height, width, 4), 255, dtype=np.uint8)
    if color == 2:
        out[..., :3] = img
    elif color == 0:
        out[..., :3] = img[..., :1]
    elif color == 4:
        out[..., :3] = img[..., :1]
        out[..., 3] = img[..., 1]
    else:
        if palette is None:
            raise ValueError("palette PNG without a PLTE chunk")
        idx = img[..., 0]
        out[..., :3] = palette[idx]
        alphas = np.full(256, 255, dtype=np.uint8)
        alphas[:len(alpha)] = np.frombuffer(alpha, dtype=np.uint8)
        out[..., 3] = alphas[idx]
    return out
