"""Beyond 28×28 grey (issue 10 item 2), end to end from the command line on small real data: a coloured MNIST
built here, a folder of mixed-size JPEG and PNG images, and Fashion-MNIST (Debian's files)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from greyzone.cli import app
from greyzone.sources import load_imagefolder, load_mnist
from greyzone.store.workspace import Workspace

pytestmark = pytest.mark.mnist

#: Foreground colours of the coloured MNIST: the colour says nothing about the digit (drawn per image).
PALETTE = np.array([[255, 64, 64], [64, 255, 64], [64, 128, 255], [255, 255, 64], [255, 64, 255]], np.uint8)
#: Small and quick, but enough steps for the ResNet to learn (it needs more than the CNN: batch 32).
FAST = ["--folds", "2", "--epochs", "8", "--batch-size", "32", "--no-umap", "--seed", "0", "--json",
        "--quiet"]


@pytest.fixture(scope="module")
def digits():
    """The first 600 train and 100 test MNIST digits."""
    ds = load_mnist()
    tr, te = ds.splits["train"], ds.splits["test"]
    return (tr.images[:600], tr.labels[:600]), (te.images[:100], te.labels[:100])


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _run(tmp_path: Path, data: Path, *extra: str) -> tuple[Workspace, dict]:
    ws_dir = tmp_path / "ws"
    res = CliRunner().invoke(app, ["run", "--dataset", "imagefolder", "--data-dir", str(data),
                                   "--workspace", str(ws_dir), *FAST, *extra])
    assert res.exit_code == 0, res.output
    return Workspace.open(ws_dir), json.loads(res.stdout)


def _check_export_copies_sources(ws: Workspace, data: Path) -> pd.DataFrame:
    """Every exported file is its source file byte for byte (same suffix); the manifest's sha256 says so."""
    root = ws.path / "export"
    m = pd.read_csv(root / "manifest.csv", keep_default_na=False)
    assert len(m) == len(ws.samples())
    for f, src, sha in zip(m.file, m.source_file, m.sha256, strict=True):
        assert Path(f).suffix == Path(src).suffix.lower()
        assert (root / f).read_bytes() == (data / src).read_bytes()
        assert sha == _sha(root / f)
    return m


def test_coloured_mnist_keeps_its_colours_and_trains_the_colour_scorer(digits, tmp_path):
    rng = np.random.default_rng(0)
    data = tmp_path / "coloured"
    originals = {}
    for split, (images, labels) in zip(("train", "test"), digits, strict=True):
        for i, (img, y) in enumerate(zip(images, labels, strict=True)):
            ink = PALETTE[rng.integers(len(PALETTE))].astype(np.float64)
            rgb = (img[..., None] / 255.0 * ink).round().astype(np.uint8)  # (28, 28, 3), black background
            path = data / split / str(y) / f"{i:05d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rgb, "RGB").save(path)
            originals[(split, i)] = rgb
    ws, out = _run(tmp_path, data)
    images = ws.images()
    assert images.shape == (700, 28, 28, 3) and images.dtype == np.uint8
    assert np.array_equal(images[5], originals[("train", 5)])  # channels kept, pixels exact
    last = ws.runs.last()
    assert last["config"]["scorer"] == "resnet"  # the default scorer adapts to colour
    assert last["metrics"]["crossfit"]["test_accuracy_fold_mean"] > 0.3  # 300 digits per fold; chance .1
    _check_export_copies_sources(ws, data)
    again = load_imagefolder(ws.path / "export")  # the export reads back in colour
    assert again.splits["train"].images.shape[1:] == (28, 28, 3)


def test_mixed_size_jpeg_and_png_folder(digits, tmp_path):
    rng = np.random.default_rng(1)
    data = tmp_path / "mixed"
    for split, (images, labels) in zip(("train", "test"), digits, strict=True):
        for i, (img, y) in enumerate(zip(images, labels, strict=True)):
            side = int(rng.integers(20, 49))
            im = Image.fromarray(img).resize((side, side), Image.BILINEAR)
            if i % 3 == 0:
                im = Image.merge("RGB", (im, im, im.point(lambda v: v // 2)))
            path = data / split / str(y) / (f"{i:05d}.jpg" if i % 2 else f"{i:05d}.png")
            path.parent.mkdir(parents=True, exist_ok=True)
            im.save(path, quality=90) if i % 2 else im.save(path)
    ws, out = _run(tmp_path, data, "--image-size", "28")
    images = ws.images()
    assert images.ndim == 4 and images.shape[3] == 3  # grey and colour mixed: all RGB, said in a note
    assert len({images.shape[1], images.shape[2]}) == 1  # one working size for the models
    assert ws.runs.last()["metrics"]["crossfit"]["test_accuracy_fold_mean"] > 0.3
    m = _check_export_copies_sources(ws, data)
    assert set(m.file.str[-4:]) == {".jpg", ".png"}  # a JPEG stays the same JPEG
    stored = ws.source_sha256()
    assert all(s == _sha(data / f) for s, f in zip(stored, ws.source_files(), strict=True))
    # a source edited after the run: the next export keeps the checked file it already holds (the bytes
    # that were scored); an export that must copy it again refuses it by name
    victim = data / ws.source_files()[3]
    exported = ws.path / "export" / m.file[3]
    before = exported.read_bytes()
    victim.write_bytes(victim.read_bytes()[:-10] + b"0123456789")
    res = CliRunner().invoke(app, ["export", "--workspace", str(ws.path)])
    assert res.exit_code == 0 and (ws.path / "export" / m.file[3]).read_bytes() == before
    for p in ws.path.glob("*export*"):  # as if it had never been exported
        shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
    res = CliRunner().invoke(app, ["export", "--workspace", str(ws.path)])
    assert res.exit_code != 0 and str(victim) in res.output and "changed since it was loaded" in res.output
    assert not (ws.path / "export").exists()  # nothing half-made is left as the export


def test_fashion_mnist_from_debian(tmp_path):
    fashion = Path("/usr/share/datasets/fashion-mnist")
    if not fashion.is_dir():
        pytest.skip("Debian's dataset-fashion-mnist is not installed (make system-deps installs it)")
    res = CliRunner().invoke(app, ["run", "--dataset", "fashion-mnist", "--limit", "600",
                                   "--workspace", str(tmp_path / "ws"), *FAST])
    assert res.exit_code == 0, res.output
    ws = Workspace.open(tmp_path / "ws")
    assert ws.images().shape == (1200, 28, 28) and ws.runs.last()["config"]["scorer"] == "cnn"
    assert ws.runs.last()["metrics"]["crossfit"]["test_accuracy_fold_mean"] > 0.4
    m = pd.read_csv(ws.path / "export" / "manifest.csv", keep_default_na=False)
    assert (m.file.str.endswith(".png")).all() and (m.source_file == "").all()  # arrays: lossless PNG
    first = m.iloc[0]
    with Image.open(ws.path / "export" / first.file) as im:
        assert np.array_equal(np.asarray(im), ws.images()[0])
