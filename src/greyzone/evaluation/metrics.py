"""Selective-classification, calibration and detection metrics: pure functions over numpy arrays.

Conventions shared by every function here:

* ``errors`` are per-sample losses in ``[0, 1]``, usually 0/1 (``pred != true``); ``correct`` is 0/1 or bool.
* ``confidence`` is "higher = accept first"; an abstain/doubt score is its negation. NaN is rejected.
* **Ties.** Samples with equal confidence form one block that enters the accepted set together. The
  risk–coverage curve is reported only at block ends, and every quantity evaluated *inside* a block (AURC,
  risk at a coverage, recall at k) is the expectation over all orderings of the block, i.e. the cumulative
  error is linearly interpolated across the block. Results therefore never depend on the input order, and
  equal the plain definitions when there are no ties.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from greyzone.errors import ParameterError
from greyzone.validation import (
    as_binary,
    as_labels,
    as_numeric_1d,
    as_unit_interval,
    check_fraction,
    check_int,
    check_positive_int,
    check_same_length,
)

# scikit-learn (~seconds to import) is imported inside the few functions that wrap it.

# Coverage·N is rounded up, but float noise such as 0.07 * 100 = 7.000000000000001 must not add a sample.
_COVERAGE_EPS = 1e-9


# --------------------------------------------------------------------------------------------- impl
def _block_cumsum(values: np.ndarray, confidence: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort by confidence descending; return (block-end prefix sizes m, Σ values over the m first)."""
    order = np.argsort(-confidence, kind="stable")
    conf = confidence[order]
    cum = np.cumsum(values[order])
    is_end = np.append(conf[1:] != conf[:-1], True)
    ends = np.flatnonzero(is_end)
    return ends + 1, cum[ends]


def _expected_cumsum(values: np.ndarray, confidence: np.ndarray) -> np.ndarray:
    """E[Σ values over the m most confident] for m = 1..N, ties broken uniformly at random (exact)."""
    m_ends, cum_ends = _block_cumsum(values, confidence)
    m = np.arange(1, len(values) + 1, dtype=np.float64)
    return np.interp(m, np.concatenate(([0.0], m_ends)), np.concatenate(([0.0], cum_ends)))


def _aurc_impl(errors: np.ndarray, confidence: np.ndarray) -> float:
    n = len(errors)
    return float(np.mean(_expected_cumsum(errors, confidence) / np.arange(1, n + 1)))


def _oracle_aurc_impl(errors: np.ndarray) -> float:
    n = len(errors)
    return float(np.mean(np.cumsum(np.sort(errors)) / np.arange(1, n + 1)))


def _n_at_coverage(coverage: float, n: int) -> int:
    return min(n, max(1, math.ceil(coverage * n - _COVERAGE_EPS)))


def _risk_at_coverage_impl(errors: np.ndarray, confidence: np.ndarray, coverage: float) -> float:
    m = _n_at_coverage(coverage, len(errors))
    return float(_expected_cumsum(errors, confidence)[m - 1] / m)


def _errors_confidence(errors: Any, confidence: Any) -> tuple[np.ndarray, np.ndarray]:
    e = as_unit_interval(errors, "errors")
    c = as_numeric_1d(confidence, "confidence")
    check_same_length(errors=e, confidence=c)
    return e, c


# --------------------------------------------------------------------------------------------- risk–coverage
def risk_coverage_curve(errors: Any, confidence: Any) -> tuple[np.ndarray, np.ndarray]:
    """The selective risk as samples are accepted from most to least confident.

    Sort by ``confidence`` descending; for the prefix of the ``m`` most confident samples,
    ``coverage = m / N`` and ``risk = (1/m) Σ_{i ≤ m} errors_i``. Tied confidences enter together, so the
    curve is reported only at the end of each tie block (``len(coverage) = number of distinct confidences``)
    and does not depend on input order.

    Returns ``(coverage, risk)``: float64 arrays, coverage strictly increasing in ``(0, 1]`` ending at 1, risk
    in ``[0, 1]`` (lower is better).
    """
    e, c = _errors_confidence(errors, confidence)
    m_ends, cum_ends = _block_cumsum(e, c)
    return m_ends / len(e), cum_ends / m_ends


def aurc(errors: Any, confidence: Any) -> float:
    """Area under the risk–coverage curve (Geifman et al. 2019): ``AURC = (1/N) Σ_{m=1..N} risk(m)``.

    ``risk(m)`` is the mean error of the ``m`` most confident samples; inside a tie block it is the
    expectation over the block's orderings (see the module docstring). Range ``[0, 1]``, lower is better; a
    random ranking gives the error rate in expectation, the oracle ranking gives :func:`oracle_aurc`.
    """
    e, c = _errors_confidence(errors, confidence)
    return _aurc_impl(e, c)


def oracle_aurc(errors: Any) -> float:
    """AURC of the optimal ranking (smallest errors accepted first), computed exactly by sorting ``errors``.

    For ``k`` errors (0/1) among ``N``: ``(1/N) Σ_{m=N-k+1..N} (m-N+k)/m``. Range ``[0, 1]``.
    """
    return _oracle_aurc_impl(as_unit_interval(errors, "errors"))


def eaurc(errors: Any, confidence: Any) -> float:
    """Excess AURC: ``aurc(errors, confidence) − oracle_aurc(errors)``.

    Range ``[0, 1)``, lower is better, exactly 0 for the oracle ranking (float round-off below 0 is clipped).
    Removes the dependence of AURC on the base error rate, so models with different accuracies compare on
    ranking quality alone.
    """
    e, c = _errors_confidence(errors, confidence)
    return max(0.0, _aurc_impl(e, c) - _oracle_aurc_impl(e))


def risk_at_coverage(errors: Any, confidence: Any, coverage: float) -> float:
    """Mean error of the ``m = ceil(coverage · N)`` most confident samples (at least 1).

    ``coverage`` in ``(0, 1]``, e.g. 0.95 or 0.99. When ``m`` cuts a tie block, the expectation over the
    block's orderings is used. Range ``[0, 1]``, lower is better.
    """
    e, c = _errors_confidence(errors, confidence)
    return _risk_at_coverage_impl(e, c, check_fraction(coverage, "coverage", closed="right"))


# --------------------------------------------------------------------------------------------- calibration
def expected_calibration_error(confidence: Any, correct: Any, *, n_bins: int = 15) -> float:
    """Expected calibration error with equal-width bins: ``ECE = Σ_b (|B_b|/N) · |acc(B_b) − conf(B_b)|``.

    Bins split ``[0, 1]`` into ``n_bins`` right-closed intervals ``(b/n, (b+1)/n]`` (confidence 0 goes to the
    first bin), as in Guo et al. 2017. ``acc`` is the mean of ``correct``, ``conf`` the mean confidence; empty
    bins contribute 0. ``confidence`` in ``[0, 1]``. Range ``[0, 1]``, lower is better calibrated.
    """
    conf = as_unit_interval(confidence, "confidence")
    corr = as_binary(correct, "correct").astype(np.float64)
    check_same_length(confidence=conf, correct=corr)
    n_bins = check_positive_int(n_bins, "n_bins")
    inner_edges = np.linspace(0.0, 1.0, n_bins + 1)[1:-1]
    bins = np.searchsorted(inner_edges, conf, side="left")  # bin b holds (edge_b, edge_{b+1}]
    count = np.bincount(bins, minlength=n_bins)
    gap = np.abs(np.bincount(bins, weights=corr, minlength=n_bins) - np.bincount(bins, weights=conf,
                                                                                  minlength=n_bins))
    # Σ_b (|B|/N)·|acc − conf| = (1/N) Σ_b |Σ_B correct − Σ_B conf|
    return float(gap[count > 0].sum() / len(conf))


# --------------------------------------------------------------------------------------------- classification
def idk_precision_recall_f1(is_idk_true: Any, is_idk_pred: Any) -> dict[str, float]:
    """Precision, recall and F1 of the IDK decision, IDK being the positive class.

    ``precision = TP/(TP+FP)``, ``recall = TP/(TP+FN)``, ``f1 = 2PR/(P+R)``; any 0/0 is defined as 0.0 (no IDK
    predicted → precision 0; no IDK image → recall 0; P = R = 0 → F1 0), as scikit-learn's
    ``zero_division=0``. All in ``[0, 1]``, higher is better.
    """
    t = as_binary(is_idk_true, "is_idk_true")
    p = as_binary(is_idk_pred, "is_idk_pred")
    check_same_length(is_idk_true=t, is_idk_pred=p)
    return _prf_impl(t, p)


def _prf_impl(t: np.ndarray, p: np.ndarray) -> dict[str, float]:
    tp = int(np.sum(t & p))
    fp = int(np.sum(~t & p))
    fn = int(np.sum(t & ~p))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def _true_pred(y_true: Any, y_pred: Any, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    t = as_labels(y_true, "y_true", n_classes=n_classes, min_len=1)
    p = as_labels(y_pred, "y_pred", n_classes=n_classes, min_len=1)
    check_same_length(y_true=t, y_pred=p)
    return t, p


def confusion_matrix(y_true: Any, y_pred: Any, *, n_classes: int) -> np.ndarray:
    """``(n_classes, n_classes)`` int64 counts, rows = true label, columns = predicted label.

    Every class in ``range(n_classes)`` has a row and a column even when absent (11×11 for MNIST + IDK).
    """
    n_classes = check_positive_int(n_classes, "n_classes")
    t, p = _true_pred(y_true, y_pred, n_classes)
    from sklearn.metrics import confusion_matrix as sk_confusion_matrix

    return sk_confusion_matrix(t, p, labels=np.arange(n_classes)).astype(np.int64)


def selective_metrics(y_true: Any, y_pred: Any, abstain_score: Any, *, idk_label: int) -> dict[str, float]:
    """Headline metrics of a classifier that may answer IDK, on a test set that may contain IDK images.

    Labels are ints in ``[0, idk_label]``; ``idk_label`` (= n_classes, 10 for MNIST) marks IDK images in
    ``y_true`` and abstentions in ``y_pred``. ``abstain_score`` (N,) is "higher = more doubtful" (e.g.
    ``1 − max prob``), finite.

    Conventions:

    * A sample is *correct* iff ``y_pred == y_true``: a digit prediction on an IDK image is an error,
      abstaining on an IDK image is right, abstaining on a digit image is an error.
    * Ranking: ``confidence = −abstain_score``, and samples predicted IDK get ``abstain_score = +inf`` so they
      are accepted last (as one tie block). ``error = (y_pred != y_true)`` for every sample (for non-abstained
      ones that is the usual 0/1 loss; for abstained ones it is 1 exactly when the image was a digit).

    Returns floats:

    * ``accuracy_non_idk``: mean of ``y_pred == y_true`` over samples with ``y_true != idk_label`` (IDK
      predictions count as wrong); NaN when there are none. Higher is better.
    * ``idk_precision``, ``idk_recall``, ``idk_f1``: :func:`idk_precision_recall_f1` of
      ``y_true == idk_label`` vs ``y_pred == idk_label``. Higher is better.
    * ``aurc``, ``eaurc``, ``risk@95``, ``risk@99``: :func:`aurc`, :func:`eaurc` and :func:`risk_at_coverage`
      at 0.95 / 0.99 over the errors and ranking above. Lower is better.
    * ``coverage``: fraction of samples not predicted IDK, in ``[0, 1]``.
    """
    idk = check_positive_int(idk_label, "idk_label", note="it is the number of real classes")
    t, p = _true_pred(y_true, y_pred, idk + 1)
    score = as_numeric_1d(abstain_score, "abstain_score", allow_inf=False)
    check_same_length(y_true=t, y_pred=p, abstain_score=score)

    abstained = p == idk
    is_idk = t == idk
    errors = (p != t).astype(np.float64)
    confidence = -np.where(abstained, np.inf, score)
    digit = ~is_idk
    prf = _prf_impl(is_idk, abstained)
    area = _aurc_impl(errors, confidence)
    return {
        "accuracy_non_idk": float(np.mean(p[digit] == t[digit])) if digit.any() else float("nan"),
        "idk_precision": prf["precision"],
        "idk_recall": prf["recall"],
        "idk_f1": prf["f1"],
        "aurc": area,
        "eaurc": max(0.0, area - _oracle_aurc_impl(errors)),
        "risk@95": _risk_at_coverage_impl(errors, confidence, 0.95),
        "risk@99": _risk_at_coverage_impl(errors, confidence, 0.99),
        "coverage": float(np.mean(~abstained)),
    }


# --------------------------------------------------------------------------------------------- detection
def _scores_labels(scores: Any, is_positive: Any) -> tuple[np.ndarray, np.ndarray]:
    s = as_numeric_1d(scores, "scores", allow_inf=False)
    y = as_binary(is_positive, "is_positive")
    check_same_length(scores=s, is_positive=y)
    return s, y


def _scores_positive(scores: Any, is_positive: Any, *, what: str) -> tuple[np.ndarray, np.ndarray]:
    s, y = _scores_labels(scores, is_positive)
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == len(y):
        kind = "positives" if n_pos == 0 else "negatives"
        raise ParameterError(f"is_positive must hold positives and negatives ({what} needs both), got no "
                             f"{kind} ({n_pos} of {len(y)} samples positive)")
    return s, y


def auroc(scores: Any, is_positive: Any) -> float:
    """Area under the ROC curve of ``scores`` (higher = more likely positive) for the 0/1 ``is_positive``.

    = P(score of a random positive > score of a random negative), ties counting 1/2. Range ``[0, 1]``, 0.5 is
    chance, higher is better. Both classes must be present.
    """
    s, y = _scores_positive(scores, is_positive, what="AUROC")
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, s))


def average_precision(scores: Any, is_positive: Any) -> float:
    """Average precision ``Σ_k (R_k − R_{k−1}) P_k`` over score thresholds (scikit-learn's definition).

    ``scores``: higher = more likely positive. Range ``(0, 1]``; chance level is the positive rate; higher is
    better. Both classes must be present.
    """
    s, y = _scores_positive(scores, is_positive, what="average precision")
    from sklearn.metrics import average_precision_score

    return float(average_precision_score(y, s))


def recall_at_k(scores: Any, is_positive: Any, k: int) -> float:
    """Fraction of all positives among the ``k`` highest ``scores``: ``|top_k ∩ positives| / |positives|``.

    ``k`` in ``[1, N]``. When the k-th place falls inside a block of tied scores, the expectation over the
    block's orderings is used, so the result does not depend on input order. Range ``[0, 1]``, higher is
    better. At least one positive is required.
    """
    s, y = _scores_labels(scores, is_positive)
    k = check_int(k, "k", low=1, high=len(s), note=f"there are {len(s)} samples")
    n_pos = int(y.sum())
    if n_pos == 0:
        raise ParameterError(f"is_positive must hold a positive (recall is undefined without), got no "
                             f"positives (0 of {len(y)} samples)")
    return float(_expected_cumsum(y.astype(np.float64), s)[k - 1] / n_pos)
