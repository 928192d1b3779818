"""Scoring one trained model of ``greyzone evaluate``: abstain score, operating point, per-seed metrics; and
the cross-entropy weight of the IDK class.

Abstain score (higher = more doubtful), one per model
-----------------------------------------------------
* Every model: ``1 − max_{c < n_classes} p_c``, the probability mass *not* on the best digit. For the
  IDK-aware model that is ``p(IDK) + Σ_{other digits} p``: it rises both when the model learned the image is
  grey-zone (IDK mass) and when it hesitates between digits (the implicit doubt the baseline also has), so it
  ranks misclassified digits as well as IDK images. ``p(IDK)`` alone is reported as ``idk_aware_pidk``.

Operating point (when a model abstains)
---------------------------------------
* IDK-aware: natively, when argmax over the 11 outputs is IDK.
* 10-output models: abstain on every image whose abstain score is ``>= τ``, where ``τ`` is the ``k``-th
  largest abstain score on the curated test split and ``k`` = its number of IDK images (``τ = +inf`` when
  ``k = 0``).
  So the baseline abstains on as many test images as the curators marked IDK ("matched budget"); its IDK
  precision then equals its recall. This hands the baseline the true IDK *rate* of the test split, an
  advantage the IDK-aware model does not get. The same ``τ`` decides abstention on the OOD probe sets.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from greyzone.config import WEIGHTINGS
from greyzone.errors import ParameterError
from greyzone.evaluation.metrics import (
    auroc,
    confusion_matrix,
    expected_calibration_error,
    risk_coverage_curve,
    selective_metrics,
)
from greyzone.validation import (
    as_float_matrix,
    as_labels,
    as_numeric_1d,
    check_float,
    check_int,
    check_non_negative_int,
    check_option,
    check_positive_int,
)

ABSTAIN_SCORE = {"max_digit": "1 - max over the digit outputs of the softmax (for 11 outputs: p(IDK) + the "
                              "other digits' mass)",
                 "p_idk": "p(IDK), the softmax output of the IDK class"}
OPERATING_POINT = {"threshold": "abstain when the abstain score >= tau, tau = the k-th largest abstain "
                                "score on the curated test split, k = its number of IDK images "
                                "(tau = inf when k = 0)",
                   "argmax": "abstain when argmax over all outputs is IDK"}


# --------------------------------------------------------------------------------------------- IDK weighting
def idk_class_weight(n_idk: int, digit_counts: Any, *, scheme: str = "sqrt", cap: float = 10.0) -> float:
    """Cross-entropy weight of the IDK class (digits keep weight 1) for the IDK-aware model.

    With ``r = median(digit_counts) / n_idk`` (how much rarer IDK is than a typical digit):

    * ``"sqrt"`` (default): ``w = clip(sqrt(r), 1, cap)``;
    * ``"inverse"``: ``w = clip(r, 1, cap)`` (IDK counts as much as a typical digit);
    * ``"none"``: ``w = 1``.

    ``w = 1`` when there is no IDK image. Range ``[1, cap]``; higher = IDK predicted more readily.

    Why square root. A weight ``w`` on one class acts like seeing that class ``w`` times as often, so the
    fitted posterior odds of IDK are multiplied by about ``w``. Unweighted, IDK (~1–2% of train) is suppressed
    by its prior: the seed notebook's 11-class LeNet-5 never predicted it, which gives zero IDK recall. Full
    inverse frequency (``w ≈ 10`` at 1%) goes the other way: p(IDK) is inflated ten-fold, every borderline
    digit becomes IDK, precision and calibration suffer. The F1-optimal decision threshold on a calibrated
    probability is ``F1*/2`` (Lipton et al. 2014), i.e. below the 0.5 of an argmax by odds of a few ×, which
    is what ``sqrt(r)`` (≈ 3.2 at 1% IDK, ≈ 2.2 at 2%) gives: the geometric middle between the two, the
    usual "smoothed inverse frequency". The cap bounds the gradient of a handful of IDK samples when IDK is
    very rare (5 IDK images in 60,000 would otherwise get ``sqrt(1200) ≈ 35``). Oversampling was not chosen:
    with few IDK images it repeats the same ones many times per epoch (over-fitting them) and changes the
    epoch length, so epochs would not compare across models.
    """
    check_option(scheme, "scheme", WEIGHTINGS)
    n_idk = check_non_negative_int(n_idk, "n_idk")
    cap = check_float(cap, "cap", low=1)
    counts = as_numeric_1d(digit_counts, "digit_counts", low=0, allow_inf=False)
    if scheme == "none" or n_idk == 0:
        return 1.0
    r = float(np.median(counts)) / n_idk
    w = math.sqrt(r) if scheme == "sqrt" else r
    return float(min(cap, max(1.0, w)))


def class_weights(labels: Any, *, idk_label: int, scheme: str = "sqrt", cap: float = 10.0) -> np.ndarray:
    """``(idk_label + 1,)`` float32 cross-entropy weights: 1 for each digit, :func:`idk_class_weight` for IDK.

    ``labels`` are the curated train labels in ``[0, idk_label]``.
    """
    idk_label = check_positive_int(idk_label, "idk_label")
    y = as_labels(labels, n_classes=idk_label + 1)
    counts = np.bincount(y, minlength=idk_label + 1)
    w = np.ones(idk_label + 1, dtype=np.float32)
    w[idk_label] = idk_class_weight(int(counts[idk_label]), counts[:idk_label], scheme=scheme, cap=cap)
    return w


# ------------------------------------------------------------------------------------- per-seed scoring
def softmax64(logits: Any) -> np.ndarray:
    """Row-wise softmax of ``logits`` (N, C) in float64."""
    z = np.asarray(logits, dtype=np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def abstain_score(logits: Any, *, idk_label: int, kind: str = "max_digit") -> np.ndarray:
    """Abstain score ``(N,)`` in ``[0, 1]``, higher = more doubtful, from ``logits`` (N, C).

    ``"max_digit"``: ``1 − max_{c < idk_label} p_c`` (any ``C ≥ idk_label``); ``"p_idk"``: ``p_{idk_label}``
    (needs ``C = idk_label + 1``); ``p = softmax(logits)``. Computed from the logits as
    ``Σ_{j ≠ best digit} e^{z_j − z_best} / Σ_j e^{z_j − z_best}`` in float64, without the cancellation of
    ``1 − p_max``, so confident samples keep distinct scores (few ties at the operating threshold).
    """
    check_option(kind, "kind", tuple(ABSTAIN_SCORE))
    z = as_float_matrix(logits, "logits", min_len=0, min_cols=idk_label)
    if kind == "max_digit":
        best = z[:, :idk_label].argmax(axis=1)
        e = np.exp(z - z[np.arange(len(z)), best][:, None])
        e[np.arange(len(z)), best] = 0.0
        others = e.sum(axis=1)
        return np.clip(others / (1.0 + others), 0.0, 1.0)
    if z.shape[1] != idk_label + 1:
        raise ParameterError(f"logits must have {idk_label + 1} columns (the digits and IDK) for "
                             f"kind='p_idk', got shape {z.shape}")
    return np.clip(softmax64(z)[:, idk_label], 0.0, 1.0)


def matched_threshold(score: Any, n_abstain: int) -> float:
    """The ``n_abstain``-th largest ``score`` (``+inf`` when 0): abstaining on ``score >= τ`` takes about
    ``n_abstain`` samples (more only if scores tie at ``τ``)."""
    s = as_numeric_1d(score, "score", min_len=0)
    n_abstain = check_int(n_abstain, "n_abstain", low=0, high=len(s), note=f"there are {len(s)} scores")
    if n_abstain == 0:
        return math.inf
    return float(np.partition(s, len(s) - n_abstain)[len(s) - n_abstain])


def _predictions(logits: np.ndarray, score: np.ndarray, *, idk_label: int, rule: str,
                 tau: float) -> np.ndarray:
    if rule == "argmax":
        return logits.argmax(axis=1).astype(np.int64)
    pred = logits[:, :idk_label].argmax(axis=1).astype(np.int64)
    pred[score >= tau] = idk_label
    return pred


def _curve_on_grid(errors: np.ndarray, confidence: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Selective risk at each coverage of ``grid``, interpolating the cumulative error inside tie blocks."""
    cov, risk = risk_coverage_curve(errors, confidence)
    cum = np.interp(grid, np.concatenate(([0.0], cov)), np.concatenate(([0.0], risk * cov)))
    return cum / grid


def score_seed(logits_test: np.ndarray, y_curated: np.ndarray, y_original: np.ndarray,
               ood_logits: dict[str, np.ndarray], *, idk_label: int, score_kind: str, rule: str,
               grid: np.ndarray) -> dict[str, Any]:
    """Every metric of one trained model (one seed) from its logits; see the module docstring.

    ``rule``: ``"argmax"`` (abstain when output ``idk_label`` wins) or ``"threshold"`` (the matched-budget
    threshold on the abstain score of kind ``score_kind``). ``grid``: coverages of the stored risk curve.
    """
    logits_test = np.asarray(logits_test, dtype=np.float64)
    score = abstain_score(logits_test, idk_label=idk_label, kind=score_kind)
    is_idk = y_curated == idk_label
    tau = matched_threshold(score, int(is_idk.sum())) if rule == "threshold" else math.nan
    pred = _predictions(logits_test, score, idk_label=idk_label, rule=rule, tau=tau)
    curated = selective_metrics(y_curated, pred, score, idk_label=idk_label)
    probs = softmax64(logits_test)
    curated["ece"] = expected_calibration_error(np.clip(probs.max(axis=1), 0.0, 1.0),
                                                probs.argmax(axis=1) == y_curated)
    digit_pred = logits_test[:, :idk_label].argmax(axis=1)
    wrong = digit_pred != y_original
    original = {"error": float(wrong.mean()),
                "error_non_idk": float(wrong[~is_idk].mean()) if (~is_idk).any() else math.nan}
    abstained = pred == idk_label
    confidence = -np.where(abstained, np.inf, score)  # as selective_metrics ranks
    curve = _curve_on_grid((pred != y_curated).astype(np.float64), confidence, grid)
    robustness = {}
    clean = score[~is_idk]
    for name, z in ood_logits.items():
        z = np.asarray(z, dtype=np.float64)
        s = abstain_score(z, idk_label=idk_label, kind=score_kind)
        ood_pred = _predictions(z, s, idk_label=idk_label, rule=rule, tau=tau)
        separable = len(clean) > 0 and len(s) > 0
        robustness[name] = {
            "abstain_rate": float(np.mean(ood_pred == idk_label)) if len(s) else math.nan,
            "auroc": auroc(np.concatenate([s, clean]), np.r_[np.ones(len(s)), np.zeros(len(clean))])
            if separable else math.nan}
    return {"curated": curated, "original": original, "robustness": robustness, "curve": curve,
            "confusion": confusion_matrix(y_curated, pred, n_classes=idk_label + 1), "threshold": tau}
