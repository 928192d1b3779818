"""Plant 2% label flips and 1% two-digit blends into a real-MNIST subset; idk_score must find them.

The whole pipeline runs (cross-fitting, full-model embeddings and training dynamics, scores; no UMAP, no
export) on the first 6,000 train digits with K=3 folds and 3 epochs, and the first 1,000 test digits.
"""

from __future__ import annotations

import numpy as np
import pytest

from greyzone.benchmark.inject import inject_problems
from greyzone.config import RunConfig, TrainConfig
from greyzone.evaluation.metrics import auroc, recall_at_k
from greyzone.pipeline import run_pipeline
from greyzone.sources.dataset import Dataset, Split

pytestmark = pytest.mark.mnist

N_TRAIN, N_TEST, SEED = 6000, 1000, 0


@pytest.fixture(scope="module")
def planted(mnist, tmp_path_factory):
    train = mnist.splits["train"].head(N_TRAIN)
    inj = inject_problems(train.images, train.labels, seed=SEED, uniform_flip=0.02, blend=0.01, n_classes=10)
    data = Dataset(
        mnist.name,
        mnist.classes,
        {
            "train": Split("train", inj.images, inj.labels, train.index),
            "test": mnist.splits["test"].head(N_TEST),
        },
        mnist.source,
    )
    cfg = RunConfig(
        workspace=str(tmp_path_factory.mktemp("planted") / "ws"),
        folds=3,
        seed=SEED,
        umap=False,
        export=False,
        train=TrainConfig(epochs=3),
    )
    ws = run_pipeline(cfg, dataset=data, progress=False)
    table = ws.scores()
    ws.close()
    t = table[table.split == "train"].sort_values("index", ignore_index=True)
    return t, inj.kind[t["index"].to_numpy()]


def test_planted_counts(planted):
    _, kind = planted
    assert (kind == "flip_uniform").sum() == 120 and (kind == "blend").sum() == 60


# Measured on this subset (K=3, 3 epochs), seed 0 [seeds 1-3 for spread]: idk_score AUROC flips 0.996
# [0.996-0.998], blends 0.91 [0.87-0.91]; recall of all 180 planted samples in the top 180: 0.72 [0.72-0.74];
# recall of the 120 flips in the top 240: 0.98 [0.98-1.0]. The thresholds sit ~0.01-0.07 below the worst
# seed, for BLAS/platform differences, and far above chance (AUROC 0.5, recall@180 0.03).
def test_idk_score_finds_flips_and_blends(planted):
    t, kind = planted
    s = t["idk_score"].to_numpy()
    flips, blends, clean = kind == "flip_uniform", kind == "blend", kind == "clean"
    assert auroc(s[flips | clean], flips[flips | clean]) >= 0.99
    assert auroc(s[blends | clean], blends[blends | clean]) >= 0.85
    planted_any = ~clean
    assert recall_at_k(s, planted_any, int(planted_any.sum())) >= 0.65
    assert recall_at_k(s[flips | clean], flips[flips | clean], 2 * int(flips.sum())) >= 0.95


# idk_score must rank real label errors at least as well as the single best out-of-fold signal, 1 − p[label]
# (a naive average of score ranks does worse). Measured AUROC 0.9958 vs 0.9948 (seed 0); over seeds 0-3 the
# difference was always positive, +0.0007 to +0.0011. Both come from the same probabilities, so platform
# noise moves them together; the tolerance 0.001 absorbs rounding and still fails if idk_score is worse.
def test_idk_score_ranks_flips_at_least_as_well_as_one_minus_p(planted):
    t, kind = planted
    m = (kind == "flip_uniform") | (kind == "clean")
    pos = kind[m] == "flip_uniform"
    ours = auroc(t["idk_score"].to_numpy()[m], pos)
    baseline = auroc(1.0 - t["p_label"].to_numpy()[m], pos)
    assert ours >= baseline - 0.001, (ours, baseline)


def test_scores_stay_in_range_and_proposals_are_capped(planted):
    t, kind = planted
    s = t["idk_score"].to_numpy()
    assert ((s >= 0) & (s <= 1)).all()
    assert np.unique(s[kind == "flip_uniform"]).size == (kind == "flip_uniform").sum()  # no saturation ties
    assert t["idk_proposed"].sum() <= RunConfig().idk_cap * len(t)
    # the proposals are mostly planted problems (real MNIST also has a few genuinely bad digits): measured
    # 0.87 [0.87-0.88] of the 120 proposals (the 2% cap binds: 3% is planted)
    assert (kind[t["idk_proposed"].to_numpy()] != "clean").mean() >= 0.75
