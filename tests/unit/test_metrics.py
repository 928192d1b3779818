"""Selective-classification metrics: hand-computed cases, oracle/random baselines, tie invariance."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greyzone.evaluation.metrics import (
    aurc,
    auroc,
    average_precision,
    confusion_matrix,
    eaurc,
    expected_calibration_error,
    idk_precision_recall_f1,
    oracle_aurc,
    recall_at_k,
    risk_at_coverage,
    risk_coverage_curve,
    selective_metrics,
)

# ------------------------------------------------------------------------------------------- risk–coverage


def test_aurc_hand_computed_four_samples():
    errors = np.array([0, 1, 0, 1])
    confidence = np.array([0.9, 0.8, 0.7, 0.6])
    # risks at m = 1..4: 0, 1/2, 1/3, 2/4
    assert aurc(errors, confidence) == pytest.approx((0 + 1 / 2 + 1 / 3 + 1 / 2) / 4)
    # oracle order 0, 0, 1, 1: risks 0, 0, 1/3, 1/2
    assert oracle_aurc(errors) == pytest.approx((1 / 3 + 1 / 2) / 4)
    assert eaurc(errors, confidence) == pytest.approx((1 / 2 + 1 / 3 + 1 / 2) / 4 - (1 / 3 + 1 / 2) / 4)
    coverage, risk = risk_coverage_curve(errors, confidence)
    np.testing.assert_allclose(coverage, [0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(risk, [0, 1 / 2, 1 / 3, 1 / 2])


def test_perfect_ranking_equals_oracle_and_eaurc_zero():
    rng = np.random.default_rng(0)
    errors = (rng.random(300) < 0.2).astype(int)
    confidence = np.where(errors == 1, rng.uniform(0, 0.5, 300), rng.uniform(0.5, 1, 300))
    assert aurc(errors, confidence) == pytest.approx(oracle_aurc(errors))
    assert eaurc(errors, confidence) == 0.0
    # the worst ranking (errors first) is strictly worse
    assert eaurc(errors, -confidence) > 0.3


def test_oracle_closed_form():
    n, k = 50, 7
    errors = np.r_[np.ones(k), np.zeros(n - k)]
    expected = sum((m - (n - k)) / m for m in range(n - k + 1, n + 1)) / n
    assert oracle_aurc(errors) == pytest.approx(expected)


def test_random_ranking_aurc_is_error_rate_on_average():
    errors = np.r_[np.ones(60), np.zeros(140)]  # error rate 0.3
    values = [aurc(errors, np.random.default_rng(s).random(200)) for s in range(200)]
    assert np.mean(values) == pytest.approx(0.3, abs=0.01)


def test_constant_confidence_gives_error_rate_exactly():
    errors = np.array([1, 0, 0, 1, 0])
    assert aurc(errors, np.full(5, 0.7)) == pytest.approx(0.4)
    coverage, risk = risk_coverage_curve(errors, np.full(5, 0.7))
    np.testing.assert_allclose(coverage, [1.0])
    np.testing.assert_allclose(risk, [0.4])


def test_ties_are_one_block_and_expected_over_orderings():
    errors = np.array([0, 1, 0, 1])
    confidence = np.array([0.9, 0.5, 0.5, 0.1])
    coverage, risk = risk_coverage_curve(errors, confidence)
    np.testing.assert_allclose(coverage, [0.25, 0.75, 1.0])
    np.testing.assert_allclose(risk, [0, 1 / 3, 1 / 2])
    # mean of the two tie-breaks: order 0,1,0,1 and 0,0,1,1
    both = (aurc(errors, [4, 3, 2, 1]) + aurc(errors, [4, 2, 3, 1])) / 2
    assert aurc(errors, confidence) == pytest.approx(both)
    assert aurc(errors, confidence) == pytest.approx((0 + 1 / 4 + 1 / 3 + 1 / 2) / 4)
    # risk at coverage 0.5 cuts the tie block: expected errors 0.5 among 2
    assert risk_at_coverage(errors, confidence, 0.5) == pytest.approx(0.25)


@settings(max_examples=60, deadline=None)
@given(
    data=st.lists(st.tuples(st.integers(0, 1), st.integers(0, 4)), min_size=1, max_size=30),
    seed=st.integers(0, 2**16),
)
def test_tied_results_do_not_depend_on_input_order(data, seed):
    errors = np.array([e for e, _ in data])
    confidence = np.array([c for _, c in data], dtype=float) / 4  # few distinct values → many ties
    perm = np.random.default_rng(seed).permutation(len(errors))
    assert aurc(errors[perm], confidence[perm]) == pytest.approx(aurc(errors, confidence))
    assert risk_at_coverage(errors[perm], confidence[perm], 0.6) == pytest.approx(
        risk_at_coverage(errors, confidence, 0.6))
    cov_a, risk_a = risk_coverage_curve(errors, confidence)
    cov_b, risk_b = risk_coverage_curve(errors[perm], confidence[perm])
    np.testing.assert_allclose(cov_a, cov_b)
    np.testing.assert_allclose(risk_a, risk_b)
    assert eaurc(errors, confidence) >= 0.0
    assert aurc(errors, confidence) >= oracle_aurc(errors) - 1e-12


def test_risk_at_coverage_counts_ceil_of_coverage_times_n():
    errors = np.r_[np.zeros(95), np.ones(5)]
    confidence = np.linspace(1, 0, 100)  # errors are the 5 least confident
    assert risk_at_coverage(errors, confidence, 0.95) == 0.0
    assert risk_at_coverage(errors, confidence, 0.99) == pytest.approx(4 / 99)
    assert risk_at_coverage(errors, confidence, 0.951) == pytest.approx(1 / 96)
    assert risk_at_coverage(errors, confidence, 1.0) == pytest.approx(0.05)
    first_seven = np.r_[np.zeros(7), np.ones(93)]
    assert risk_at_coverage(first_seven, confidence, 0.07) == 0.0  # 0.07·100 = 7.000000000000001 → 7, not 8


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"errors": [0, 1], "confidence": [0.5]}, "errors, confidence must be of the same length.*got errors "
                                                   "has 2, confidence has 1"),
        ({"errors": [0, 2], "confidence": [0.5, 0.4]}, r"errors must be in \[0, 1\], got errors\[1\] = 2.0"),
        ({"errors": [0, 1], "confidence": [0.5, np.nan]},
         r"confidence must be free of NaN, got confidence\[1\] = nan"),
        ({"errors": [], "confidence": []}, r"errors must be non-empty, got shape \(0,\)"),
    ],
)
def test_aurc_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        aurc(**kwargs)


def test_risk_at_coverage_rejects_bad_coverage():
    with pytest.raises(ValueError, match=r"coverage must be a number in \(0, 1\], got 0.0"):
        risk_at_coverage([0, 1], [0.2, 0.1], 0.0)


# ------------------------------------------------------------------------------------------- calibration


def test_ece_hand_computed():
    confidence = np.array([0.2, 0.4, 0.8, 0.9])
    correct = np.array([0, 1, 1, 1])
    # bin (0, .5]: acc .5, conf .3 → .2 · 2/4; bin (.5, 1]: acc 1, conf .85 → .15 · 2/4
    assert expected_calibration_error(confidence, correct, n_bins=2) == pytest.approx(0.175)


def test_ece_bins_are_right_closed():
    # 0.5 falls in the first of two bins: (0, .5] holds both → |acc .5 − conf .3| = .2 (split: .3)
    assert expected_calibration_error([0.5, 0.1], [1, 0], n_bins=2) == pytest.approx(0.2)
    assert expected_calibration_error([1.0, 1.0, 0.0], [1, 1, 0]) == 0.0


def test_ece_perfectly_calibrated_large_sample_is_small():
    rng = np.random.default_rng(1)
    conf = rng.random(20000)
    correct = rng.random(20000) < conf
    assert expected_calibration_error(conf, correct) < 0.02
    assert expected_calibration_error(conf, ~correct) > 0.3


def test_ece_rejects_out_of_range_confidence():
    with pytest.raises(ValueError, match=r"confidence must be in \[0, 1\], got confidence\[0\] = 1.2"):
        expected_calibration_error([1.2], [1])
    with pytest.raises(ValueError, match=r"n_bins must be an int in \[1, inf\), got 0"):
        expected_calibration_error([0.2], [1], n_bins=0)


# ------------------------------------------------------------------------------------------- classification


def test_idk_precision_recall_f1_and_zero_division():
    out = idk_precision_recall_f1([1, 1, 0, 0], [1, 0, 1, 0])
    assert out == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5})
    assert idk_precision_recall_f1([0, 0], [0, 0]) == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    assert idk_precision_recall_f1([1, 1, 0], [1, 0, 0]) == pytest.approx(
        {"precision": 1.0, "recall": 0.5, "f1": 2 / 3})


def test_confusion_matrix_has_all_classes_including_idk():
    cm = confusion_matrix([0, 10, 10, 3], [0, 10, 4, 3], n_classes=11)
    assert cm.shape == (11, 11)
    assert cm[0, 0] == 1 and cm[10, 10] == 1 and cm[10, 4] == 1 and cm[3, 3] == 1
    assert cm.sum() == 4
    with pytest.raises(ValueError, match=r"y_pred must be in \[0, 11\), got y_pred\[1\] = 11"):
        confusion_matrix([0, 1], [0, 11], n_classes=11)


def test_selective_metrics_hand_example_with_idk():
    y_true = np.array([0, 1, 2, 10, 10, 3])
    y_pred = np.array([0, 1, 5, 10, 4, 10])
    abstain = np.array([0.1, 0.2, 0.3, 0.0, 0.5, 0.4])  # rows 3 and 5 abstain → +inf
    out = selective_metrics(y_true, y_pred, abstain, idk_label=10)
    # errors = pred != true = [0, 0, 1, 0, 1, 1]; accept order 0, 1, 2, 4, then {3, 5} as one block
    # expected cumulative errors 0, 0, 1, 2, 2.5, 3 → risks 0, 0, 1/3, 1/2, 1/2, 1/2
    expected_aurc = (1 / 3 + 1 / 2 + 1 / 2 + 1 / 2) / 6
    oracle = (1 / 4 + 2 / 5 + 3 / 6) / 6
    assert out["accuracy_non_idk"] == pytest.approx(0.5)  # rows 0, 1 right; 2 wrong; 5 abstained on a digit
    assert out["idk_precision"] == pytest.approx(0.5)
    assert out["idk_recall"] == pytest.approx(0.5)
    assert out["idk_f1"] == pytest.approx(0.5)
    assert out["coverage"] == pytest.approx(4 / 6)
    assert out["aurc"] == pytest.approx(expected_aurc)
    assert out["eaurc"] == pytest.approx(expected_aurc - oracle)
    assert out["risk@95"] == pytest.approx(0.5)  # ceil(5.7) = 6 samples
    assert out["risk@99"] == pytest.approx(0.5)
    # the abstain score of an IDK prediction is ignored
    again = selective_metrics(y_true, y_pred, np.array([0.1, 0.2, 0.3, 9.0, 0.5, -9.0]), idk_label=10)
    assert again == pytest.approx(out)


def test_selective_metrics_without_idk_everywhere():
    out = selective_metrics([0, 1, 1], [0, 1, 0], [0.1, 0.2, 0.9], idk_label=2)
    assert out["coverage"] == 1.0
    assert out["accuracy_non_idk"] == pytest.approx(2 / 3)
    assert out["eaurc"] == 0.0  # the error has the highest abstain score
    assert out["idk_precision"] == out["idk_recall"] == out["idk_f1"] == 0.0


def test_selective_metrics_rejects_bad_labels():
    with pytest.raises(ValueError, match=r"y_true must be in \[0, 11\), got y_true\[0\] = 12"):
        selective_metrics([12], [0], [0.1], idk_label=10)
    with pytest.raises(ValueError, match=r"abstain_score must be finite, got abstain_score\[0\] = inf"):
        selective_metrics([1], [0], [np.inf], idk_label=10)
    with pytest.raises(ValueError, match=r"idk_label must be an int in \[1, inf\), got 0"):
        selective_metrics([1], [0], [0.1], idk_label=0)


# ------------------------------------------------------------------------------------------- detection


def test_auroc_and_average_precision():
    scores = np.array([0.9, 0.8, 0.3, 0.1])
    assert auroc(scores, [1, 1, 0, 0]) == 1.0
    assert auroc(scores, [0, 0, 1, 1]) == 0.0
    assert average_precision(scores, [1, 0, 1, 0]) == pytest.approx((1 + 2 / 3) / 2)
    with pytest.raises(ValueError, match="is_positive must hold positives and negatives.*got no positives"):
        auroc(scores, [0, 0, 0, 0])
    with pytest.raises(ValueError, match="is_positive must hold positives and negatives.*got no negatives"):
        average_precision(scores, [1, 1, 1, 1])


def test_recall_at_k_with_and_without_ties():
    scores = np.array([0.9, 0.8, 0.7, 0.1])
    positive = np.array([1, 0, 1, 0])
    assert recall_at_k(scores, positive, 1) == 0.5
    assert recall_at_k(scores, positive, 3) == 1.0
    # a tie at the k-th place: expected value over the block's orderings
    assert recall_at_k([0.9, 0.5, 0.5, 0.1], [0, 1, 0, 1], 2) == pytest.approx(0.25)
    with pytest.raises(ValueError, match=r"k must be an int in \[1, 4\], got 5; there are 4 samples"):
        recall_at_k(scores, positive, 5)


def test_nan_free_float_results_are_python_floats():
    out = selective_metrics([0, 1], [0, 1], [0.1, 0.2], idk_label=2)
    assert all(isinstance(v, float) and not math.isnan(v) for v in out.values())
