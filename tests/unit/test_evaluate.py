"""``greyzone evaluate`` on a tiny synthetic workspace, and its pure helpers on planted logits."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from rich.console import Console

from greyzone.cli.tables import print_evaluation
from greyzone.config import TrainConfig
from greyzone.errors import ParameterError, ParameterTypeError, WorkspaceError
from greyzone.evaluation import evaluate as E
from greyzone.evaluation import scoring as S
from greyzone.evaluation.robustness import build_ood_sets
from greyzone.export.tree import write_export
from greyzone.sources.dataset import Dataset, Split
from greyzone.store.workspace import Workspace

CLASSES = ("a", "b", "c")
IDK = len(CLASSES)


def fast(*, seeds: int = 1, epochs: int = 1, **options) -> E.EvalConfig:
    """A small evaluation: batch 16, 50-image OOD sets, one training process."""
    return E.EvalConfig(seeds=seeds, train=TrainConfig(epochs=epochs, batch_size=16), n_blend=50, n_noise=50,
                        workers=1, **options)


# --------------------------------------------------------------------------------------------- synthetic data
def bars(n: int, rng: np.random.Generator, name: str) -> tuple[Split, np.ndarray]:
    """Class c = a bright bar in band c. Every 8th image has the bars of two classes (a planted grey zone,
    labelled as one of them); returns the split and the mask of those two-bar images."""
    labels = (np.arange(n) % 3).astype(np.int64)
    images = rng.integers(0, 40, (n, 28, 28)).astype(np.uint8)
    two = np.arange(n) % 8 == 7
    for i, c in enumerate(labels):
        images[i, 3 + 8 * c: 8 + 8 * c, 4:24] = 255
        if two[i]:
            other = (c + 1 + i % 2) % 3
            images[i, 3 + 8 * other: 8 + 8 * other, 4:24] = 255
    return Split(name, images, labels, np.arange(n, dtype=np.int64)), two


def make_workspace(path, *, n_train=240, n_test=96, export=True) -> tuple[Workspace, np.ndarray]:
    rng = np.random.default_rng(0)
    train, two_train = bars(n_train, rng, "train")
    test, two_test = bars(n_test, rng, "test")
    ws = Workspace.create(path, Dataset("bars", CLASSES, {"train": train, "test": test}))
    two = np.concatenate([two_train, two_test])
    ws.decisions.append(np.flatnonzero(two), "idk")
    if export:
        write_export(ws)
    return ws, two


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """One evaluation (2 seeds × 3 epochs) shared by the tests below; records every training job."""
    from greyzone.model import jobs

    ws, two = make_workspace(tmp_path_factory.mktemp("eval") / "ws")
    calls = []
    real_run_jobs = jobs.run_jobs

    def spy(job_list, *args, **kw):
        for j in job_list:
            calls.append({"n": len(j.labels), "n_classes": j.n_classes, "labels": np.asarray(j.labels).copy(),
                          "class_weight": None if j.class_weight is None else np.asarray(j.class_weight)})
        return real_run_jobs(job_list, *args, **kw)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(jobs, "run_jobs", spy)
        cfg = fast(seeds=2, epochs=3, fashion_dir=str(ws.path / "no-fashion-here"))
        result = E.evaluate_workspace(ws, cfg, progress=False)
    return ws, two, result, calls


# --------------------------------------------------------------------------------------------- end to end
def test_result_file_has_every_model_and_metric(evaluated):
    ws, two, result, _ = evaluated
    on_disk = json.loads((ws.path / "evaluation" / "evaluation.json").read_text())
    assert on_disk == result == E.load_evaluation(ws)
    assert list(result["models"]) == ["baseline", "no_idk", "idk_aware", "idk_aware_pidk"]
    assert result["classes"] == ["a", "b", "c", "IDK"]
    assert result["data"]["n_train_idk"] == int(two[:240].sum()) == 30
    assert result["data"]["n_test_idk"] == int(two[240:].sum()) == 12
    assert result["data"]["n_export_differs_from_store"] == 0
    assert result["config"]["seeds"] == 2 and result["config"]["train"]["epochs"] == 3
    assert E.EvalConfig.from_dict({k: result["config"][k] for k in E.EvalConfig.__dataclass_fields__}) == \
        fast(seeds=2, epochs=3, fashion_dir=str(ws.path / "no-fashion-here"))
    assert result["config"]["idk_weighting"] == "sqrt"
    for name, r in result["models"].items():
        assert r["seeds"] == [0, 1]
        for m in E.CURATED_METRICS:
            stat = r["curated"][m]
            assert len(stat["values"]) == 2 and 0.0 <= stat["mean"] <= 1.0 and stat["std"] >= 0.0, (name, m)
        for m in E.ORIGINAL_METRICS:
            assert 0.0 <= r["original"][m]["mean"] <= 1.0
        counts = np.array(r["confusion_matrix"]["counts"])
        assert counts.shape == (4, 4) and counts.sum() == 2 * 96
        assert counts[:3].sum(axis=1).tolist() == [2 * 28] * 3  # 28 one-bar test images per class, per seed
        rc = r["risk_coverage"]
        assert len(rc["coverage"]) == len(rc["risk_mean"]) == len(rc["risk_std"]) == 200
        assert rc["coverage"][-1] == 1.0
        assert set(r["robustness"]) == {"blend", "noise"}
    assert result["ood"]["fashion_mnist"]["skipped"].startswith("Fashion-MNIST not available")
    assert result["models"]["idk_aware_pidk"]["train_seconds"] is None
    assert result["models"]["baseline"]["train_seconds"]["mean"] > 0


def test_idk_aware_model_has_one_more_output_and_the_idk_weight(evaluated):
    ws, two, result, calls = evaluated
    assert len(calls) == 2 * 3  # seeds × trained models (idk_aware_pidk reuses idk_aware)
    by_classes = {}
    for c in calls:
        by_classes.setdefault(c["n_classes"], []).append(c)
    assert sorted(len(v) for v in by_classes.values()) == [2, 4]
    idk_calls = by_classes[IDK + 1]
    assert result["models"]["idk_aware"]["n_outputs"] == IDK + 1 == 4
    assert result["models"]["baseline"]["n_outputs"] == IDK
    for c in idk_calls:
        assert c["n"] == 240 and int((c["labels"] == IDK).sum()) == 30
        w = c["class_weight"]
        # 70 images per digit class remain, 30 IDK: sqrt(70 / 30)
        assert w[:IDK].tolist() == [1.0] * IDK and w[IDK] == pytest.approx(math.sqrt(70 / 30))
    assert result["config"]["idk_class_weight"] == pytest.approx(math.sqrt(70 / 30))
    tens = by_classes[IDK]
    assert sorted(c["n"] for c in tens) == [210, 210, 240, 240]  # no_idk drops the 30 IDK images
    assert all(c["labels"].max() < IDK for c in tens)


def test_planted_grey_zone_is_found(evaluated):
    """The two-bar images are learnable as IDK: the IDK-aware model must recall them and keep the digits."""
    _, _, result, _ = evaluated
    aware = result["models"]["idk_aware"]["curated"]
    assert aware["idk_recall"]["mean"] >= 0.5
    assert aware["idk_f1"]["mean"] >= 0.5
    assert aware["accuracy_non_idk"]["mean"] >= 0.9
    # the baseline, abstaining on as many test images as there are IDK ones, has precision == recall
    base = result["models"]["baseline"]["curated"]
    assert base["idk_precision"]["values"] == base["idk_recall"]["values"]
    assert base["coverage"]["mean"] == pytest.approx(1 - 12 / 96)
    # uniform noise looks nothing like a bar: every model ranks it as more doubtful than clean digits
    for r in result["models"].values():
        assert r["robustness"]["noise"]["auroc"]["mean"] >= 0.5


def test_print_evaluation_renders_every_model(evaluated):
    _, _, result, _ = evaluated
    console = Console(record=True, width=250)
    print_evaluation(result, console)
    text = console.export_text()
    for name in result["models"]:
        assert name in text
    assert "fashion_mnist skipped" in text and "±" in text
    assert "2 seed(s) × 3 epochs" in text and "evaluation/evaluation.json" in text


def test_missing_export_says_to_run_export(tmp_path):
    ws, _ = make_workspace(tmp_path / "ws", n_train=24, n_test=12, export=False)
    with pytest.raises(WorkspaceError, match="greyzone export"):
        E.evaluate_workspace(ws, fast(), progress=False)
    assert E.load_evaluation(ws) is None


def test_stale_export_is_flagged_and_single_seed_has_no_std(tmp_path):
    ws, _ = make_workspace(tmp_path / "ws", n_train=48, n_test=24)
    ws.decisions.append([0, 1], "idk")  # after the export
    result = E.evaluate_workspace(ws, fast(fashion_dir=str(tmp_path)), progress=False)
    assert result["data"]["n_export_differs_from_store"] == 2
    assert result["models"]["baseline"]["curated"]["aurc"]["std"] is None
    assert result["models"]["baseline"]["risk_coverage"]["risk_std"] is None


def test_bad_options_are_rejected(tmp_path):
    with pytest.raises(ParameterError, match=r"idk_weighting must be one of \('sqrt', 'inverse', 'none'\), "
                                             r"got 'balanced'"):
        E.EvalConfig(idk_weighting="balanced")
    with pytest.raises(ParameterError, match=r"seeds must be an int in \[1, inf\), got 0"):
        E.EvalConfig(seeds=0)
    with pytest.raises(ParameterError, match=r"idk_weight_cap must be a number in \[1, inf\), got 0.5"):
        E.EvalConfig(idk_weight_cap=0.5)
    with pytest.raises(ParameterTypeError, match="train must be a TrainConfig, got a dict"):
        E.EvalConfig(train={"epochs": 1})
    with pytest.raises(TypeError):
        E.EvalConfig(epochs=1)  # training options live in train
    ws, _ = make_workspace(tmp_path / "ws", n_train=24, n_test=12, export=False)
    with pytest.raises(ParameterTypeError, match="cfg must be an EvalConfig, got a dict"):
        E.evaluate_workspace(ws, {"seeds": 1}, progress=False)


def test_eval_config_from_dict_takes_train_as_a_dict_and_names_unknown_keys():
    cfg = E.EvalConfig.from_dict({"seeds": 2, "train": {"epochs": 1, "batch_size": 16}, "n_blend": 0})
    assert cfg == E.EvalConfig(seeds=2, train=TrainConfig(epochs=1, batch_size=16), n_blend=0)
    assert E.EvalConfig.from_dict({}) == E.EvalConfig()
    with pytest.raises(ParameterError, match="unknown EvalConfig key.*: epochs, limit"):
        E.EvalConfig.from_dict({"seeds": 1, "epochs": 3, "limit": 10})
    with pytest.raises(ParameterError, match="unknown TrainConfig key.*: epoch;"):
        E.EvalConfig.from_dict({"train": {"epoch": 3}})


# --------------------------------------------------------------------------------------------- IDK weighting
def test_idk_class_weight_schemes():
    digits = [100, 120, 80]  # median 100
    assert S.idk_class_weight(4, digits, scheme="sqrt") == pytest.approx(5.0)
    assert S.idk_class_weight(25, digits, scheme="inverse") == pytest.approx(4.0)
    assert S.idk_class_weight(4, digits, scheme="inverse") == 10.0  # capped
    assert S.idk_class_weight(4, digits, scheme="inverse", cap=30.0) == pytest.approx(25.0)
    assert S.idk_class_weight(1, digits, scheme="sqrt") == 10.0  # sqrt(100) = 10 = cap
    assert S.idk_class_weight(4, digits, scheme="none") == 1.0
    assert S.idk_class_weight(0, digits) == 1.0  # no IDK image: nothing to weight
    assert S.idk_class_weight(400, digits) == 1.0  # never down-weighted below a digit
    with pytest.raises(ValueError, match=r"scheme must be one of .*, got 'balanced'"):
        S.idk_class_weight(4, digits, scheme="balanced")
    with pytest.raises(ValueError, match=r"cap must be a number in \[1, inf\), got 0.5"):
        S.idk_class_weight(4, digits, cap=0.5)


def test_class_weights_vector():
    labels = np.array([0] * 50 + [1] * 50 + [2] * 50 + [3] * 2)
    w = S.class_weights(labels, idk_label=3)
    assert w.dtype == np.float32 and w.tolist()[:3] == [1.0, 1.0, 1.0]
    assert w[3] == pytest.approx(5.0)
    with pytest.raises(ValueError, match=r"labels must be in \[0, 4\), got labels\[1\] = 4"):
        S.class_weights(np.array([0, 4]), idk_label=3)


# --------------------------------------------------------------------------------------------- scoring
def test_abstain_score_matches_softmax_and_keeps_confident_samples_apart():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(50, 4)) * 3
    p = S.softmax64(z)
    np.testing.assert_allclose(S.abstain_score(z, idk_label=3), 1 - p[:, :3].max(1), atol=1e-12)
    np.testing.assert_allclose(S.abstain_score(z, idk_label=3, kind="p_idk"), p[:, 3], atol=1e-12)
    assert (S.abstain_score(z, idk_label=3) >= S.abstain_score(z, idk_label=3, kind="p_idk") - 1e-12).all()
    confident = np.array([[60.0, 0, 0], [50.0, 0, 0]])  # 1 − p_max rounds to 0 for both in float64
    s = S.abstain_score(confident, idk_label=3)
    assert 0 < s[0] < s[1]
    with pytest.raises(ValueError, match=r"logits must have 4 columns .* kind='p_idk', got shape \(50, 3\)"):
        S.abstain_score(z[:, :3], idk_label=3, kind="p_idk")


def test_matched_threshold_takes_exactly_k_distinct_scores():
    s = np.array([0.1, 0.9, 0.5, 0.7, 0.3])
    assert S.matched_threshold(s, 0) == math.inf
    assert S.matched_threshold(s, 2) == 0.7 and (s >= 0.7).sum() == 2
    assert S.matched_threshold(s, 5) == 0.1
    with pytest.raises(ValueError, match=r"n_abstain must be an int in \[0, 5\], got 6"):
        S.matched_threshold(s, 6)


def planted_logits(y, *, idk_label, n_outputs, doubt):
    """Confident on the true digit; on IDK images either the IDK output wins (11 outputs) or logits are
    flat (10 outputs); ``doubt`` adds a per-sample spread so rankings are strict."""
    z = np.zeros((len(y), n_outputs))
    for i, t in enumerate(y):
        if t == idk_label:
            if n_outputs > idk_label:
                z[i, idk_label] = 8.0
        else:
            z[i, t] = 8.0 - doubt[i]
    return z


def test_score_seed_on_an_oracle_model():
    y = np.array([0, 1, 2, 3, 0, 1, 2, 3, 0, 1])  # 3 = IDK
    doubt = np.linspace(0, 1, len(y))
    grid = np.arange(1, 11) / 10
    flat = {"noise": np.zeros((20, 3))}
    for n_out, rule in ((4, "argmax"), (3, "threshold")):
        z = planted_logits(y, idk_label=3, n_outputs=n_out, doubt=doubt)
        ood = {"noise": np.zeros((20, n_out))} if n_out == 4 else flat
        r = S.score_seed(z, y, np.where(y == 3, 1, y), ood, idk_label=3, score_kind="max_digit", rule=rule,
                         grid=grid)
        c = r["curated"]
        assert c["accuracy_non_idk"] == 1.0 and c["idk_f1"] == 1.0, rule
        assert c["aurc"] == 0.0 and c["eaurc"] == 0.0 and c["risk@95"] == 0.0
        assert c["coverage"] == pytest.approx(0.8)
        assert r["confusion"].trace() == 10
        np.testing.assert_array_equal(r["curve"], np.zeros(10))
        assert r["robustness"]["noise"]["auroc"] == 1.0
        assert r["robustness"]["noise"]["abstain_rate"] == (1.0 if rule == "threshold" else 0.0)
        if rule == "threshold":
            assert r["threshold"] == pytest.approx(2 / 3)  # the flat IDK logits: 1 − 1/3
        else:
            assert math.isnan(r["threshold"])
    # original labels: every IDK image was a "1"; flat logits argmax to 0, wrong on the IDK images only
    assert r["original"]["error"] == pytest.approx(0.2) and r["original"]["error_non_idk"] == 0.0


def test_score_seed_curve_ends_at_the_error_rate():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, 300)
    z = rng.normal(size=(300, 4))
    grid = np.arange(1, 201) / 200
    r = S.score_seed(z, y, np.minimum(y, 2), {}, idk_label=3, score_kind="max_digit", rule="argmax",
                     grid=grid)
    pred = z.argmax(1)
    assert r["curve"][-1] == pytest.approx(np.mean(pred != y))
    assert r["curated"]["aurc"] == pytest.approx(np.mean(r["curve"]), abs=0.02)


# --------------------------------------------------------------------------------------------- OOD sets
def test_ood_sets_are_reproducible_and_skip_fashion_with_a_reason(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (40, 28, 28), dtype=np.uint8)
    labels = np.arange(40) % 4
    a = build_ood_sets(images, labels, n_blend=30, n_noise=20, seed=3, fashion_dir=tmp_path)
    b = build_ood_sets(images, labels, n_blend=30, n_noise=20, seed=3, fashion_dir=tmp_path)
    assert set(a.images) == {"blend", "noise"}
    for k in a.images:
        assert a.images[k].tobytes() == b.images[k].tobytes()
    assert a.images["blend"].shape == (30, 28, 28) and a.images["noise"].dtype == np.uint8
    assert "dataset-fashion-mnist" in a.skipped["fashion_mnist"]
    d = a.describe()
    assert list(d) == ["fashion_mnist", "blend", "noise"] and d["blend"]["n"] == 30
    off = build_ood_sets(images, labels, n_blend=0, n_noise=5, fashion=False)
    assert "Fashion-MNIST itself" in off.skipped["fashion_mnist"] and "blend" in off.skipped


def test_ood_sets_of_rgb_images_skip_fashion_mnist(tmp_path):
    """RGB digits (issue 10, item 2): blends and noise are RGB; Fashion-MNIST (28×28 grey) is skipped."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (40, 12, 12, 3), dtype=np.uint8)
    sets = build_ood_sets(images, np.arange(40) % 4, n_blend=10, n_noise=5, seed=3, fashion_dir=tmp_path)
    assert sets.images["blend"].shape == (10, 12, 12, 3) and sets.images["noise"].shape == (5, 12, 12, 3)
    assert sets.skipped["fashion_mnist"] == "the dataset's images are 12×12×3, not Fashion-MNIST's 28×28 grey"
