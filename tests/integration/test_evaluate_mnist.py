"""`greyzone evaluate` end to end on a 1,000-image real-MNIST workspace: pipeline, export, evaluation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from greyzone.config import TrainConfig
from greyzone.sources.mnist import FASHION_DIR

pytestmark = pytest.mark.mnist

N = 1000


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    import greyzone
    from greyzone.evaluation.evaluate import EvalConfig, evaluate_workspace

    ws = greyzone.run(workspace=str(tmp_path_factory.mktemp("mnist") / "ws"), limit=N, folds=2,
                      train=TrainConfig(epochs=1), umap=False)
    cfg = EvalConfig(seeds=1, train=TrainConfig(epochs=1, batch_size=32), workers=1, n_fashion=1000,
                     n_blend=500, n_noise=500)
    result = evaluate_workspace(ws, cfg, progress=False)
    return ws, result


def test_sizes_labels_and_file(evaluated):
    ws, result = evaluated
    assert json.loads(ws.layout.evaluation.read_text()) == result
    assert result["config"]["train"] == {"epochs": 1, "batch_size": 32, "lr": None}  # None: the recipe's
    data = result["data"]
    assert data["n_train"] == data["n_test"] == N
    assert 0 < data["n_train_idk"] <= 0.05 * N and 0 < data["n_test_idk"] <= 0.05 * N  # the proposals
    assert data["n_export_differs_from_store"] == 0
    assert result["classes"] == [str(d) for d in range(10)] + ["IDK"]
    models = result["models"]
    assert models["idk_aware"]["n_outputs"] == 11 and models["baseline"]["n_outputs"] == 10
    for r in models.values():
        counts = np.array(r["confusion_matrix"]["counts"])
        assert counts.shape == (11, 11) and counts.sum() == N
        assert counts[10].sum() == data["n_test_idk"]


def test_metrics_are_in_sane_ranges(evaluated):
    _, result = evaluated
    n_idk = result["data"]["n_test_idk"]
    for name, r in result["models"].items():
        cur = {k: v["mean"] for k, v in r["curated"].items()}
        assert 0.6 <= cur["accuracy_non_idk"] <= 1.0, name
        assert 0.0 < r["original"]["error"]["mean"] < 0.4, name
        assert 0.9 <= cur["coverage"] <= 1.0, name
        assert 0.0 <= cur["eaurc"] <= cur["aurc"] <= 1.0, name
        assert cur["risk@95"] <= cur["risk@99"] + 1e-9 <= 1.0, name
        assert 0.0 <= cur["ece"] <= 0.5, name
        # the abstain score ranks better than chance: AURC below the error rate at full coverage
        assert cur["aurc"] < r["risk_coverage"]["risk_mean"][-1], name
    base = result["models"]["baseline"]["curated"]
    assert base["coverage"]["mean"] == pytest.approx(1 - n_idk / N)
    assert base["idk_precision"]["mean"] == pytest.approx(base["idk_recall"]["mean"])


def test_robustness_sets(evaluated):
    _, result = evaluated
    ood = result["ood"]
    assert ood["blend"]["n"] == 500 and ood["noise"]["n"] == 500
    if FASHION_DIR.is_dir():
        assert ood["fashion_mnist"]["n"] == 1000
    else:
        assert "dataset-fashion-mnist" in ood["fashion_mnist"]["skipped"]
    sets = [s for s in ood if "n" in ood[s]]
    for r in result["models"].values():
        assert set(r["robustness"]) == set(sets)
        for s in sets:
            assert 0.0 <= r["robustness"][s]["abstain_rate"]["mean"] <= 1.0
            assert 0.0 <= r["robustness"][s]["auroc"]["mean"] <= 1.0
    # a blend of two digits is more doubtful than a clean digit, even for a one-epoch baseline
    assert result["models"]["baseline"]["robustness"]["blend"]["auroc"]["mean"] > 0.55
