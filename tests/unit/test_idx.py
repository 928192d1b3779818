import gzip

import numpy as np
import pytest

from greyzone.errors import DataError
from greyzone.sources.idx import MAGIC_IMAGES, MAGIC_LABELS, load_idx, load_images_labels


def idx_bytes(arr: np.ndarray, magic: int) -> bytes:
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    return header + arr.astype(np.uint8).tobytes()


@pytest.fixture
def pair(tmp_path, rng):
    images = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    labels = np.array([0, 1, 2, 3, 4], np.uint8)
    (tmp_path / "img").write_bytes(idx_bytes(images, MAGIC_IMAGES))
    (tmp_path / "lbl").write_bytes(idx_bytes(labels, MAGIC_LABELS))
    return tmp_path, images, labels


def test_round_trip_raw_and_gz(pair):
    d, images, labels = pair
    x, y = load_images_labels(d / "img", d / "lbl", n_classes=10)
    assert np.array_equal(x, images) and np.array_equal(y, labels) and y.dtype == np.int64
    (d / "img.gz").write_bytes(gzip.compress((d / "img").read_bytes()))
    assert np.array_equal(load_idx(d / "img.gz", expect_magic=MAGIC_IMAGES), images)


def test_truncated(pair):
    d, *_ = pair
    raw = (d / "img").read_bytes()
    (d / "img").write_bytes(raw[:-10])
    with pytest.raises(DataError, match=r"img: IDX file truncated.*\(5, 28, 28\)"):
        load_idx(d / "img", expect_magic=MAGIC_IMAGES)
    (d / "img").write_bytes(raw[:6])
    with pytest.raises(DataError, match="truncated IDX header"):
        load_idx(d / "img", expect_magic=MAGIC_IMAGES)


def test_trailing_bytes(pair):
    d, *_ = pair
    (d / "img").write_bytes((d / "img").read_bytes() + b"\0")
    with pytest.raises(DataError, match="trailing bytes"):
        load_idx(d / "img", expect_magic=MAGIC_IMAGES)


def test_wrong_magic(pair):
    d, *_ = pair
    with pytest.raises(DataError, match=r"lbl: wrong magic number 2049 \(expected 2051"):
        load_idx(d / "lbl", expect_magic=MAGIC_IMAGES)


def test_count_mismatch(pair, tmp_path):
    d, _, labels = pair
    (d / "lbl").write_bytes(idx_bytes(labels[:4], MAGIC_LABELS))
    with pytest.raises(DataError, match="5 images but .*lbl has 4 labels"):
        load_images_labels(d / "img", d / "lbl", n_classes=10)


def test_corrupt_gzip(tmp_path):
    (tmp_path / "x.gz").write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match=r"x.gz: not a valid gzip file"):
        load_idx(tmp_path / "x.gz", expect_magic=MAGIC_LABELS)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="cannot read IDX file"):
        load_idx(tmp_path / "nope", expect_magic=MAGIC_LABELS)
