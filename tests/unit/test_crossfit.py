"""Cross-fitting bookkeeping on small arrays: fold assignment and the scorer folds' training dynamics."""

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
