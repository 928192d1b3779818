"""Lossless 8-bit PNGs of stored pixels, for exports of array sources (IDX, in-memory arrays).

:func:`encode_png` is a minimal PNG encoder (bit depth 8, colour type 0 for ``(H, W)`` grey or 2 for
``(H, W, 3)`` RGB, no interlace, filter type 0 on every row, zlib level 6): about 2× faster than PIL's
``Image.save`` into a buffer on 28×28 MNIST digits (32 µs vs 65–72 µs per image, 3,000 images, one core) and
its files are ~9% smaller (251 vs 275 bytes); any PNG reader decodes them (the tests check PIL). Same pixels
and same zlib → same bytes. :func:`decode_png` is the matching strict reader used to verify what was written.
Writing them (and copying original files) is :mod:`greyzone.export.writer`'s.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"
ZLIB_LEVEL = 6
#: Names the byte format; stored with every export so that reused files only meet files of the same format.
ENCODER = f"greyzone-png-1 zlib-{zlib.ZLIB_RUNTIME_VERSION} level-{ZLIB_LEVEL}"
#: PNG colour type by channel count: 0 = grey, 2 = RGB.
COLOUR_TYPE = {1: 0, 3: 2}


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of an ``(H, W)`` grey or ``(H, W, 3)`` RGB uint8 image (lossless)."""
    a = np.asarray(image)
    channels = 1 if a.ndim == 2 else a.shape[2] if a.ndim == 3 else 0
    if channels not in COLOUR_TYPE or a.dtype != np.uint8 or 0 in a.shape:
        raise ValueError(f"image must be a non-empty (H, W) or (H, W, 3) uint8 array, got {a.dtype} "
                         f"{a.shape}")
    h, w = a.shape[:2]
    rows = np.zeros((h, w * channels + 1), np.uint8)  # each row: filter byte 0 (None), then the pixels
    rows[:, 1:] = a.reshape(h, w * channels)
    header = struct.pack(">IIBBBBB", w, h, 8, COLOUR_TYPE[channels], 0, 0, 0)
    return (SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows.tobytes(), ZLIB_LEVEL))
            + _chunk(b"IEND", b""))


def decode_png(data: bytes) -> np.ndarray:
    """The ``(H, W)`` or ``(H, W, 3)`` uint8 image of a PNG that :func:`encode_png` wrote; ``ValueError`` for
    anything else (bad signature or CRC, another colour type, bit depth or filter, truncated data)."""
    if data[:8] != SIGNATURE:
        raise ValueError("not a PNG (bad signature)")
    pos, chunks = 8, {}
    while pos < len(data):
        if pos + 12 > len(data):
            raise ValueError("truncated PNG chunk")
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length].rjust(4, b"\0"))
        if len(body) != length or zlib.crc32(kind + body) != crc:
            raise ValueError(f"PNG chunk {kind!r}: truncated or bad CRC")
        chunks[kind] = chunks.get(kind, b"") + body
        pos += 12 + length
    if set(chunks) != {b"IHDR", b"IDAT", b"IEND"}:
        raise ValueError(f"unexpected PNG chunks {sorted(chunks)}")
    w, h, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    channels = {v: k for k, v in COLOUR_TYPE.items()}.get(colour)
    if depth != 8 or channels is None or interlace:
        raise ValueError(f"not an 8-bit grey or RGB non-interlaced PNG (depth {depth}, colour {colour})")
    row = w * channels + 1
    rows = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), np.uint8)
    if rows.size != h * row or rows.reshape(h, row)[:, 0].any():
        raise ValueError("PNG pixel data has the wrong size or a row filter other than 0")
    pixels = rows.reshape(h, row)[:, 1:]
    return (pixels if channels == 1 else pixels.reshape(h, w, channels)).copy()
