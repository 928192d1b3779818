"""Plant 2% label flips and 1% two-digit blends into a real-MNIST subset; idk_score must find them.

The whole pipeline runs (cross-fitting, full-model embeddings and training dynamics, scores; no UMAP, no
export) on the first 6,000 train digits with K=3 folds and 3 epochs, and the first 1,000 test digits.
"""

from __future__ import annotations

import numpy as np
import pytest

from greyzone.benchmark.inject import inject_problems
from greyzone.config import RunConfig, TrainConfig
from greyzone.evaluation.metrics import auroc, average_precision, recall_at_k
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


# The entropy term of idk_score is there for ambiguous images: on blends idk_score must beat the single best
# out-of-fold signal, 1 − p[label]; on flips, where 1 − p[label] is nearly perfect, it may only trail it
# slightly. Measured on this subset (K=3, 3 epochs, seed 0): blend AP 0.217 vs 0.172, flip AUROC 0.9968 vs
# 0.9987; with 5 epochs, seeds 0 / 1: blend AP 0.273 / 0.311 vs 0.253 / 0.228, flip AUROC 0.9981 / 0.9993 vs
# 0.9996 / 0.9997. (On full MNIST the benchmark in the README has idk_score ahead on all kinds together.)
def test_idk_score_beats_one_minus_p_on_blends_and_nearly_matches_it_on_flips(planted):
    t, kind = planted
    s, base = t["idk_score"].to_numpy(), 1.0 - t["p_label"].to_numpy()
    b = (kind == "blend") | (kind == "clean")
    assert average_precision(s[b], kind[b] == "blend") > average_precision(base[b], kind[b] == "blend")
    f = (kind == "flip_uniform") | (kind == "clean")
    ours, baseline = auroc(s[f], kind[f] == "flip_uniform"), auroc(base[f], kind[f] == "flip_uniform")
    assert ours >= baseline - 0.004, (ours, baseline)


def test_scores_stay_in_range_and_proposals_are_capped(planted):
    t, kind = planted
    s = t["idk_score"].to_numpy()
    assert ((s >= 0) & (s <= 1)).all()
    assert np.unique(s[kind == "flip_uniform"]).size == (kind == "flip_uniform").sum()  # no saturation ties
    assert t["idk_proposed"].sum() <= RunConfig().idk_cap * len(t)
    # the proposals are mostly planted problems (real MNIST also has a few genuinely bad digits): measured
    # 0.87 [0.87-0.88] of the 120 proposals (the 2% cap binds: 3% is planted)
    assert (kind[t["idk_proposed"].to_numpy()] != "clean").mean() >= 0.75
