"""IDX file parsing (LeCun's MNIST format) with numpy.

Format: big-endian magic ``0x0000 <dtype> <ndim>``; for unsigned bytes the magic is 2049 (1-d, labels) or
2051 (3-d, images); then one big-endian int32 per dimension; then the uint8 payload whose length must be the
product of the dimensions exactly. ``.gz`` files are decompressed transparently.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from greyzone.errors import DataError

MAGIC_LABELS = 2049
MAGIC_IMAGES = 2051


def read_idx_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when the name ends in ``.gz``."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read IDX file ({e.strerror or e})") from e
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise DataError(f"{path}: not a valid gzip file ({e})") from e
    return raw


def parse_idx(raw: bytes, *, expect_magic: int, source: str) -> np.ndarray:
    """Parse IDX bytes into a uint8 array; ``source`` names the file in errors."""
    if len(raw) < 4:
        raise DataError(f"{source}: truncated IDX file ({len(raw)} bytes, no header)")
    magic = int.from_bytes(raw[:4], "big")
    if magic != expect_magic:
        kind = {MAGIC_LABELS: "labels", MAGIC_IMAGES: "images"}.get(expect_magic, "?")
        raise DataError(
            f"{source}: wrong magic number {magic} (expected {expect_magic} for an IDX {kind} file)"
        )
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{source}: truncated IDX header ({len(raw)} bytes, need {header})")
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(dims, dtype=np.int64))
    if len(raw) != expected:
        what = "truncated" if len(raw) < expected else "has trailing bytes"
        raise DataError(
            f"{source}: IDX file {what}: header says dimensions {dims} = {expected} bytes, "
            f"file has {len(raw)}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims).copy()


def load_idx(path: Path, *, expect_magic: int) -> np.ndarray:
    return parse_idx(read_idx_bytes(path), expect_magic=expect_magic, source=str(path))


def load_images_labels(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, rows, cols)`` uint8 and labels ``(N,)`` int64; the two counts must match."""
    images = load_idx(images_path, expect_magic=MAGIC_IMAGES)
    labels = load_idx(labels_path, expect_magic=MAGIC_LABELS)
    if len(images) != len(labels):
        raise DataError(f"{images_path}: {len(images)} images but {labels_path} has {len(labels)} labels")
    return images, labels.astype(np.int64)
