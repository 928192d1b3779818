"""The whole pipeline on a real-MNIST subset: outputs, reproducibility, stage cache, re-curation."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

import greyzone
from greyzone.config import TrainConfig
from greyzone.sources import load_imagefolder

pytestmark = pytest.mark.mnist

SMALL = dict(limit=400, folds=2, train=TrainConfig(epochs=1), umap=False, progress=False)
COLUMNS = [
    "split",
    "index",
    "label",
    "pred",
    "confidence",
    "hardness",
    "mistakenness",
    "uniqueness",
    "representativeness",
    "label_issue",
    "suggested_label",
    "idk_score",
    "idk_proposed",
    "pca_x",
    "pca_y",
    "umap_x",
    "umap_y",
]


def tree_digest(root):
    return hashlib.sha256(
        b"".join(
            p.relative_to(root).as_posix().encode() + p.read_bytes()
            for p in sorted(root.rglob("*"))
            if p.is_file()
        )
    ).hexdigest()


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    return greyzone.run(workspace=str(tmp_path_factory.mktemp("ws")), **SMALL)


def test_outputs(ws):
    scores = pd.read_parquet(ws.path / "scores.parquet")
    assert len(scores) == 800 and set(COLUMNS) <= set(scores.columns)
    assert scores.groupby("split").size().to_dict() == {"train": 400, "test": 400}
    # original order and labels: the first MNIST train labels are 5, 0, 4, 1, 9; test 7, 2, 1, 0, 4
    assert scores[scores.split == "train"].label.head(5).tolist() == [5, 0, 4, 1, 9]
    assert scores[scores.split == "test"].label.head(5).tolist() == [7, 2, 1, 0, 4]
    assert np.allclose(ws.arrays.load("probs").sum(1), 1, atol=1e-4)
    assert ws.arrays.load("embeddings").shape == (800, 84)
    assert ws.arrays.load("dyn_p_label").shape == (400, 1)
    manifest = pd.read_csv(ws.path / "export" / "manifest.csv")
    assert len(manifest) == 800
    ds = load_imagefolder(ws.path / "export")
    assert sum(len(s) for s in ds.splits.values()) == 800
    n_idk = int(scores.idk_proposed.sum())
    assert (manifest.curated_label == "IDK").sum() == n_idk > 0
    run = ws.runs.last()
    assert len(run["metrics"]["crossfit"]["fold_accuracy"]) == 2
    assert {"train", "scores", "export"} <= set(run["timings"])


def test_out_of_fold_probabilities_come_from_the_other_fold(ws):
    fold = ws.arrays.load("fold")
    assert set(np.unique(fold[ws.split_sids("train")])) == {0, 1}
    assert (fold[ws.split_sids("test")] == -1).all()


def test_same_seed_same_scores_and_export_bytes(ws, tmp_path):
    again = greyzone.run(workspace=str(tmp_path / "again"), **SMALL)
    a, b = ws.scores(), again.scores()
    pd.testing.assert_frame_equal(a, b)
    assert tree_digest(ws.path / "export") == tree_digest(again.path / "export")


def test_rerun_reuses_finished_stages(ws):
    before = ws.arrays.load("probs", mmap=False)
    again = greyzone.run(workspace=str(ws.path), **SMALL)
    timings = again.runs.last()["timings"]
    assert "train" not in timings  # cached: not re-run
    assert np.array_equal(again.arrays.load("probs"), before)


def test_export_can_be_curated_again(ws, tmp_path):
    again = greyzone.run(
        workspace=str(tmp_path / "re"),
        dataset="imagefolder",
        data_dir=str(ws.path / "export"),
        folds=2,
        train=TrainConfig(epochs=1),
        umap=False,
        export=False,
        progress=False,
    )
    assert again.classes[-1] == "IDK" and len(again.samples()) == 800
