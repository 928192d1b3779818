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


def load_images_labels(images_path: Path, labels_path: Path, *, n_classes: int
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N ≥ 1, rows ≥ 1, cols ≥ 1)`` uint8 and labels ``(N,)`` int64 in ``[0, n_classes)``; the two
    counts must match."""
    images = load_idx(images_path, expect_magic=MAGIC_IMAGES)
    labels = load_idx(labels_path, expect_magic=MAGIC_LABELS)
    check_images_labels(images, labels, n_classes=n_classes, images_path=images_path, labels_path=labels_path)
    return images, labels.astype(np.int64)


def check_images_labels(images: np.ndarray, labels: np.ndarray, *, n_classes: int, images_path: Path,
                        labels_path: Path) -> None:
    """The checks IDX files need beyond their format: samples present, images not empty, labels one per image
    and inside the class list."""
    if images.ndim != 3:
        raise DataError(f"{images_path}: images must have 3 dimensions (N, rows, cols), got {images.shape}")
    if len(images) == 0:
        raise DataError(f"{images_path}: holds no images (header says 0 samples)")
    if images.shape[1] == 0 or images.shape[2] == 0:
        raise DataError(f"{images_path}: images are {images.shape[1]}×{images.shape[2]} pixels (empty)")
    if len(images) != len(labels):
        raise DataError(f"{images_path}: {len(images)} images but {labels_path} has {len(labels)} labels")
    bad = np.flatnonzero(labels >= n_classes)
    if len(bad):
        i = int(bad[0])
        raise DataError(f"{labels_path}: label {int(labels[i])} at position {i} is not a class "
                        f"(expected 0..{n_classes - 1}; {len(bad)} such label(s))")
