"""A compact binary columnar layout for sending typed arrays to the browser.

Layout (all little-endian)::

    b"GZC1"  uint32 H  JSON header (H bytes, space-padded to a multiple of 8)  column buffers ...

The header is ``{"n": N, "columns": [{"name", "dtype", "offset"}, ...], ...extra}``; ``offset`` counts from
the first byte after the header and is a multiple of 8, so the browser can view each column in place as a
``Float32Array`` / ``Int32Array`` / ``Int16Array`` / ``Uint8Array`` / ``Uint16Array`` without copying.

A float column may travel quantised (:func:`quantise`): uint16 codes ``q`` with the header entry
``"quantised": {name: [lo, step]}``; the value is ``lo + q * step`` and the code 65535 means NaN (half the
bytes of float32, error ≤ step / 2 = range / 131,068).
"""

from __future__ import annotations

import json
import struct

import numpy as np

MAGIC = b"GZC1"
DTYPES = {"float32": np.float32, "int32": np.int32, "int16": np.int16, "uint16": np.uint16, "uint8": np.uint8}
NAN_CODE = 65535


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


def quantise(values: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Float values → (uint16 codes, lo, step) with ``lo + code * step`` within ``step / 2`` of the value;
    NaN and ±inf → :data:`NAN_CODE`. All-missing or constant columns get step 1."""
    v = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(v)
    lo = float(v[finite].min()) if finite.any() else 0.0
    hi = float(v[finite].max()) if finite.any() else 0.0
    step = (hi - lo) / (NAN_CODE - 1) if hi > lo else 1.0
    codes = np.full(len(v), NAN_CODE, np.uint16)
    codes[finite] = np.rint((v[finite] - lo) / step).astype(np.uint16)
    return codes, lo, step


def dequantise(codes: np.ndarray, lo: float, step: float) -> np.ndarray:
    """Inverse of :func:`quantise` as float32 (NaN for :data:`NAN_CODE`)."""
    out = (lo + codes.astype(np.float64) * step).astype(np.float32)
    out[codes == NAN_CODE] = np.nan
    return out


def decode(blob: bytes) -> tuple[dict, dict[str, np.ndarray]]:
    """Inverse of :func:`encode` (for tests); quantised columns stay codes (see :func:`dequantise`)."""
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
