"""A compact binary columnar layout for sending typed arrays to the browser.

Layout (all little-endian)::

    b"GZC1"  uint32 H  JSON header (H bytes, space-padded to a multiple of 8)  column buffers ...

The header is ``{"n": N, "columns": [{"name", "dtype", "offset"}, ...], ...extra}``; ``offset`` counts from
the first byte after the header and is a multiple of 8, so the browser can view each column in place as a
``Float32Array`` / ``Int32Array`` / ``Int16Array`` / ``Uint8Array`` without copying.
"""

from __future__ import annotations

import json
import struct

import numpy as np

MAGIC = b"GZC1"
DTYPES = {"float32": np.float32, "int32": np.int32, "int16": np.int16, "uint8": np.uint8}


def encode(columns: dict[str, np.ndarray], **extra) -> bytes:
    """Pack equal-length 1-D arrays (dtypes in ``DTYPES``) and a JSON-able header into one buffer."""
    lengths = {len(a) for a in columns.values()}
    if len(lengths) > 1:
        raise ValueError(f"columns have different lengths: { {k: len(a) for k, a in columns.items()} }")
    n = lengths.pop() if lengths else 0
    specs, chunks, offset = [], [], 0
    for name, arr in columns.items():
        dtype = np.dtype(arr.dtype).name
        if dtype not in DTYPES:
            raise TypeError(f"column {name!r} has dtype {dtype}; expected one of {sorted(DTYPES)}")
        data = np.ascontiguousarray(arr, dtype=np.dtype(dtype).newbyteorder("<")).tobytes()
        specs.append({"name": name, "dtype": dtype, "offset": offset})
        pad = (-len(data)) % 8
        chunks.append(data + b"\0" * pad)
        offset += len(data) + pad
    header = json.dumps({"n": n, "columns": specs, **extra}, separators=(",", ":"), allow_nan=False).encode()
    header += b" " * ((-len(header)) % 8)
    return MAGIC + struct.pack("<I", len(header)) + header + b"".join(chunks)


def decode(blob: bytes) -> tuple[dict, dict[str, np.ndarray]]:
    """Inverse of :func:`encode` (used by the tests)."""
    if blob[:4] != MAGIC:
        raise ValueError(f"not a greyzone columnar buffer (magic {blob[:4]!r})")
    (h,) = struct.unpack("<I", blob[4:8])
    header = json.loads(blob[8:8 + h])
    base = 8 + h
    cols = {}
    for spec in header["columns"]:
        dt = np.dtype(spec["dtype"]).newbyteorder("<")
        cols[spec["name"]] = np.frombuffer(blob, dtype=dt, count=header["n"], offset=base + spec["offset"])
    return header, cols
