"""Hugging Face datasets both ways: an export loads with ``datasets`` and, saved with ``save_to_disk`` or as
Parquet, comes back through ``greyzone run --dataset hf`` with the same samples, labels and pixels. Skipped
(with the reason) when the optional extra ``greyzone[hf]`` is not installed, except the missing-extra test."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from typer.testing import CliRunner

import greyzone
from greyzone.cli import app
from greyzone.errors import DataError, MissingExtraError
from greyzone.sources.imagefolder import load_imagefolder
from tests.unit.test_export_card import CLASSES, given_probs, named_folder

runner = CliRunner()


def test_missing_extra_names_the_pip_command(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)  # import datasets → ModuleNotFoundError
    from greyzone.sources.hf import load_hf

    with pytest.raises(MissingExtraError, match=r"pip install 'greyzone\[hf\]'"):
        load_hf(tmp_path)
    result = runner.invoke(app, ["run", "-w", str(tmp_path / "w"), "--dataset", "hf", "--data-dir",
                                 str(tmp_path)])
    assert result.exit_code == 2 and "pip install 'greyzone[hf]'" in result.output


@pytest.fixture
def exported(tmp_path, rng):
    pytest.importorskip("datasets", reason="the optional extra greyzone[hf] is not installed")
    ds = named_folder(tmp_path / "data", rng)
    ws = greyzone.curate(ds, pred_probs=given_probs(ds, rng), embedder="none", workspace=tmp_path / "ws",
                         umap=False, folds=3, idk_cap=0.1, progress=False)
    return ws.path / "export"


@pytest.mark.parametrize("form", ["save_to_disk", "parquet"])
def test_export_round_trip_through_hugging_face(tmp_path, exported, form):
    import datasets

    hf = datasets.load_dataset(str(exported), cache_dir=str(tmp_path / "hf-cache"))
    out = tmp_path / form
    if form == "save_to_disk":
        hf.save_to_disk(str(out))
    else:
        out.mkdir()
        for split, part in hf.items():
            part.to_parquet(str(out / f"{split}-00000-of-00001.parquet"))
    result = runner.invoke(app, ["run", "-w", str(tmp_path / "again"), "--dataset", "hf", "--data-dir",
                                 str(out), "--no-umap", "--no-report", "--folds", "2", "--epochs", "1",
                                 "--workers", "1"])
    assert result.exit_code == 0, result.output
    again = greyzone.open_workspace(tmp_path / "again")
    assert again.classes == tuple(CLASSES + ["IDK"]) and again.source == str(out)
    original = load_imagefolder(exported)  # the export as greyzone reads it (the IDK folder last)
    for split in ("train", "test"):
        rows = again.split_sids(split)
        got = np.c_[again.samples().label.to_numpy()[rows], again.images()[rows].reshape(len(rows), -1)]
        b = original.splits[split]
        want = np.c_[b.labels, b.images.reshape(len(b), -1)]
        assert sorted(map(tuple, got.tolist())) == sorted(map(tuple, want.tolist()))  # same images, labels


def test_hf_errors_name_the_folder(tmp_path, exported):
    import datasets

    with pytest.raises(DataError, match="neither a save_to_disk folder"):
        greyzone.sources.load_dataset("hf", tmp_path / "data" / "train")
    hf = datasets.load_dataset(str(exported), cache_dir=str(tmp_path / "hf-cache"))
    hf.save_to_disk(str(tmp_path / "saved"))
    with pytest.raises(DataError, match=r"has no column\(s\) 'picture'.*--image-column"):
        greyzone.sources.load_dataset("hf", tmp_path / "saved", image_column="picture")
    datasets.DatasetDict({"train": hf["train"], "extra": hf["test"]}).save_to_disk(str(tmp_path / "odd"))
    with pytest.raises(DataError, match="unknown split.*extra"):
        greyzone.sources.load_dataset("hf", tmp_path / "odd")


def test_rgb_images_of_several_sizes_keep_their_channels(tmp_path, rng):
    """Colour stays RGB, a grey image is replicated, sizes that differ are resized (issue 10, item 2)."""
    datasets = pytest.importorskip("datasets", reason="the optional extra greyzone[hf] is not installed")
    from PIL import Image

    from greyzone.sources.hf import load_hf

    rgb = rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)
    images = [Image.fromarray(rgb), Image.fromarray(rng.integers(0, 256, (12, 10), dtype=np.uint8)),
              Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8))]
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=["a", "b"])})
    hf = datasets.Dataset.from_dict({"image": images, "label": [0, 1, 0]}, features=features)
    hf.save_to_disk(str(tmp_path / "saved"))
    ds = load_hf(tmp_path / "saved")
    tr = ds.splits["train"]
    assert tr.images.shape == (3, 12, 12, 3) and tr.files is None and tr.file_sha256 is None
    assert np.array_equal(tr.images[0], np.asarray(Image.fromarray(rgb).resize((12, 12), Image.BILINEAR)))
    assert ds.notes == (
        "train: 1 grey image(s) replicated to 3 channels (the dataset mixes grey and colour images, so it is "
        "stored as RGB)",
        "train: 3 image(s) of 2 size(s) resized to 12×12 (bilinear) for the models and thumbnails (the "
        "dataset has 2 image sizes; the images are not files: only the resized pixels are kept)")
    assert load_hf(tmp_path / "saved", size=8).splits["train"].images.shape == (3, 8, 8, 3)
