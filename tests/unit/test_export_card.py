"""The export describes the dataset it was made from: the card (Hugging Face YAML, the run's own config, no
MNIST citation for other data), per-split ``metadata.csv`` with greyzone's label ids, the source file of
every sample, and validation splits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import greyzone
from greyzone.export.card import _how_scored
from greyzone.sources import load_imagefolder
from tests.unit.test_imagefolder import make_tree

CLASSES = ["cat", "dog", "ship"]


def named_folder(root, rng, *, splits=("train", "test"), per_class=(12, 4)):
    """``root/<split>/{cat,dog,ship}/<name>.png`` with non-numeric stems (index = sorted position)."""
    spec = {s: {c: [f"{c}-{i}" for i in range(n)] for c in CLASSES} for s, n in zip(splits, per_class,
                                                                                        strict=True)}
    make_tree(root, spec, rng, size=(12, 12))
    return load_imagefolder(root)


def given_probs(ds, rng):
    labels = np.concatenate([s.labels for s in ds.splits.values()])
    p = rng.dirichlet(np.ones(len(ds.classes)), size=len(labels)) * 0.3
    p[np.arange(len(labels)), labels] += 0.7
    p[:3] = np.roll(p[:3], 1, axis=1)  # three train samples the "model" disagrees with
    return p


@pytest.fixture
def curated(tmp_path, rng):
    ds = named_folder(tmp_path / "data", rng)
    ws = greyzone.curate(ds, pred_probs=given_probs(ds, rng), embedder="none", workspace=tmp_path / "ws",
                         umap=False, folds=3, idk_cap=0.1, progress=False)
    return ws


def test_card_yaml_pins_the_class_order_and_describes_the_source(curated):
    yaml = pytest.importorskip("yaml", reason="PyYAML comes with the optional extra greyzone[hf]")
    card = (curated.path / "export" / "README.md").read_text()
    meta = yaml.safe_load(card.split("---")[1])
    assert meta["license"] == "unknown" and meta["task_categories"] == ["image-classification"]
    label = next(f for f in meta["dataset_info"]["features"] if f["name"] == "label")
    names = label["dtype"]["class_label"]["names"]
    assert [names[i] for i in sorted(names, key=int)] == CLASSES + ["IDK"]  # IDK last, not sorted first
    assert meta["configs"][0]["features"] == meta["dataset_info"]["features"]
    assert [d["split"] for d in meta["configs"][0]["data_files"]] == ["train", "test"]
    assert card.index("| train | ") < card.index("| test | ")
    assert "LeCun" not in card and "?" not in card.split("## How it was curated")[1].split("\n")[2]
    assert "Images of `data` (3 classes" in card and str(curated.source) not in card  # no local path
    assert "**given**" in card


def test_card_states_the_trained_run_config():
    text = _how_scored({"scorer": "cnn", "embedder": "lenet5", "folds": 4, "seed": 3, "train": {"epochs": 2}})
    assert "4-fold cross-fitting (2 epochs, seed 3)" in text and "?" not in text


def test_metadata_csv_per_split_and_source_files(curated):
    root = curated.path / "export"
    manifest = pd.read_csv(root / "manifest.csv", keep_default_na=False)
    curated_ids = {n: i for i, n in enumerate(CLASSES + ["IDK"])}
    for split in ("train", "test"):
        meta = pd.read_csv(root / split / "metadata.csv")
        assert list(meta.columns) == ["file_name", "label", "original_label", "idk_score", "suggested_label"]
        assert all((root / split / f).is_file() for f in meta.file_name)
        m = manifest[manifest.split == split]
        by_file = dict(zip(meta.file_name, meta.label, strict=True))
        for _, row in m.iterrows():
            assert by_file[f"{row.curated_label}/{row['index']:05d}.png"] == curated_ids[row.curated_label]
        assert m.source_file.str.match(rf"{split}/(cat|dog|ship)/\1-\d+\.png").all()
    stored = curated.source_files()
    assert stored[0] == manifest.source_file[0] and (curated.path.parent / "data" / stored[0]).is_file()


def test_export_loads_in_hugging_face_with_greyzone_label_ids(curated):
    datasets = pytest.importorskip("datasets", reason="the optional extra greyzone[hf] is not installed")
    root = curated.path / "export"
    ds = datasets.load_dataset(str(root), cache_dir=str(root.parent / "hf-cache"))  # no shared cache
    assert ds["train"].features["label"].names == CLASSES + ["IDK"]
    plain = datasets.load_dataset("imagefolder", data_dir=str(root),  # no card read: the same label ids
                                  cache_dir=str(root.parent / "hf-cache"))
    assert plain["train"]["label"] == ds["train"]["label"]
    manifest = pd.read_csv(root / "manifest.csv", keep_default_na=False)
    for split in ("train", "test"):
        meta = pd.read_csv(root / split / "metadata.csv")
        assert len(ds[split]) == len(meta) == int((manifest.split == split).sum())
        names = ds[split].features["label"].int2str(ds[split]["label"])
        assert sorted(names) == sorted(manifest.curated_label[manifest.split == split])
        assert np.allclose(sorted(ds[split]["idk_score"]), sorted(meta.idk_score))


def test_validation_split_is_scored_like_test(tmp_path, rng):
    ds = named_folder(tmp_path / "data", rng, splits=("train", "val", "test"), per_class=(12, 4, 4))
    assert list(ds.splits) == ["train", "val", "test"]
    ws = greyzone.curate(ds, workspace=tmp_path / "ws", umap=False, folds=2, train={"epochs": 1}, workers=1,
                         progress=False)
    s = ws.scores()
    assert list(ws.splits) == ["train", "val", "test"]
    val = s[s.split == "val"]
    probs = ws.arrays.load("probs")[val.sid]
    assert np.allclose(probs.sum(1), 1, atol=1e-4)  # the mean of the fold models, as for test
    assert (ws.arrays.load("fold")[val.sid] == -1).all() and val.aum.isna().all()
    assert sorted(val["index"]) == list(range(12))
    assert (tmp_path / "ws" / "export" / "val" / "metadata.csv").is_file()
    assert load_imagefolder(tmp_path / "ws" / "export").splits["val"].images.shape == (12, 12, 12)
    assert ws.runs.last()["config"]["scorer"] == "cnn"  # "auto" for grey images, recorded as resolved


def test_validation_and_val_together_are_refused(tmp_path, rng):
    make_tree(tmp_path, {"train": {"a": ["x"], "b": ["y"]}, "val": {"a": ["z"]}, "validation": {"a": ["w"]}},
              rng)
    with pytest.raises(ValueError, match="both a 'validation' and a 'val' split"):
        load_imagefolder(tmp_path)
