"""Cross-fitting: fold assignment, the scorer folds' training dynamics, and a tiny end-to-end cross-fit on RGB
images."""

import numpy as np
import pytest

from greyzone.errors import ParameterError
from greyzone.model.crossfit import fold_assignment, fold_dynamics
from greyzone.model.jobs import JobResult


def test_fold_assignment_is_stratified_and_seeded():
    labels = np.repeat(np.arange(3), 10)
    fold = fold_assignment(labels, 5, seed=0)
    assert np.array_equal(fold, fold_assignment(labels, 5, seed=0))
    for k in range(5):  # every fold holds two of each class
        assert np.array_equal(np.bincount(labels[fold == k], minlength=3), [2, 2, 2])
    with pytest.raises(ParameterError, match="fewer than folds=11"):
        fold_assignment(labels, 11, seed=0)


def test_fold_dynamics_average_the_models_that_trained_on_each_sample():
    fold = np.array([0, 1, 2, 0, 1, 2])
    results = []
    for k in range(3):
        rows = np.flatnonzero(fold != k)  # fold model k's training rows, in this order
        p = np.stack([rows * 10.0 + k, rows * 10.0 + k + 0.5], axis=1)  # (n_k, 2 epochs)
        results.append(JobResult(f"fold{k}", np.zeros((0, 2)), None, p, -p))
    dyn = fold_dynamics(results, fold)
    assert dyn.p_label.shape == (6, 2)
    for i in range(6):  # sample i was trained on by the two fold models k ≠ fold[i]
        ks = [k for k in range(3) if k != fold[i]]
        expected = [np.mean([i * 10.0 + k for k in ks]), np.mean([i * 10.0 + k + 0.5 for k in ks])]
        np.testing.assert_allclose(dyn.p_label[i], expected)
        np.testing.assert_allclose(dyn.margin[i], -np.asarray(expected))


@pytest.fixture(scope="module")
def coloured(tmp_path_factory):
    """150 RGB 32 × 32 noise images of 3 classes, each class lit in its own channel (red, green, blue), saved
    as an image file; train rows 0..119, test rows 120..149."""
    rng = np.random.default_rng(0)
    labels = np.arange(150) % 3
    images = rng.integers(0, 80, (150, 32, 32, 3), dtype=np.uint8)
    for c in range(3):
        images[labels == c, :, :, c] += 150
    path = tmp_path_factory.mktemp("coloured") / "images.npy"
    np.save(path, images)
    return path, labels


def _crossfit_coloured(coloured, **kw):
    from greyzone.config import TrainConfig
    from greyzone.model.crossfit import crossfit

    path, labels = coloured
    train, test = np.arange(120), np.arange(120, 150)
    return crossfit(path, train, labels[train], test, n_classes=3, folds=2, cfg=TrainConfig(epochs=1), seed=0,
                    scorer="resnet", embedder="lenet5", **kw)


@pytest.fixture(scope="module")
def coloured_fit(coloured):
    return _crossfit_coloured(coloured)


def test_crossfit_trains_on_rgb_images_end_to_end_and_is_deterministic(coloured, coloured_fit):
    first, again = coloured_fit, _crossfit_coloured(coloured, workers=1)
    assert first.oof_logits.shape == (120, 3) and first.test_probs.shape == (30, 3)
    assert first.embeddings.shape == (150, 84)  # the LeNet-5 embedder on 3 channels
    np.testing.assert_allclose(first.test_probs.sum(1), 1, rtol=1e-5)
    assert np.isfinite(first.oof_logits).all() and np.isfinite(first.embeddings).all()
    for name in ("oof_logits", "test_probs", "embeddings", "full_logits"):  # same seed, same numbers
        assert np.array_equal(getattr(first, name), getattr(again, name)), name
    assert np.array_equal(first.dynamics.p_label, again.dynamics.p_label)
    # the colour decides the class: even one epoch of the embedder on 120 images learns it
    _, labels = coloured
    assert (first.full_logits.argmax(1) == labels).mean() > 0.9


def test_crossfit_image_size_resizes_the_scorer_inputs_only(coloured, coloured_fit):
    from greyzone.config import TrainConfig
    from greyzone.model.crossfit import crossfit_jobs, fold_assignment

    path, labels = coloured
    fold = fold_assignment(labels[:120], 2, seed=0)
    jobs = crossfit_jobs(path, np.arange(120), labels[:120], np.arange(120, 150), fold, cfg=TrainConfig(),
                         seed=0, scorer="resnet", embedder="lenet5", image_size=16)
    assert [(j.name, j.architecture, j.size) for j in jobs] == [
        ("fold0", "resnet", 16), ("fold1", "resnet", 16), ("full", "lenet5", None)]
    small = _crossfit_coloured(coloured, image_size=16)
    assert small.test_probs.shape == (30, 3) and np.isfinite(small.oof_logits).all()
    assert not np.array_equal(small.oof_logits, coloured_fit.oof_logits)
    assert np.array_equal(small.embeddings, coloured_fit.embeddings)  # the embedder keeps its own size
