"""Confident-learning label issues (cleanlab) from out-of-fold softmax probabilities."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from greyzone.validation import as_probs_labels, check_option, check_positive_int

FILTERS = (
    "prune_by_noise_rate",
    "prune_by_class",
    "both",
    "confident_learning",
    "predicted_neq_given",
    "low_normalized_margin",
    "low_self_confidence",
)

#: The rule used when cleanlab cannot run: flag samples whose predicted class differs from the label.
FALLBACK_FILTER = "predicted_neq_given"


class LabelIssues(NamedTuple):
    """Result of :func:`label_issues`; every array has one entry per sample."""

    is_issue: np.ndarray  # (N,) bool: flagged as a likely label error
    label_quality: np.ndarray  # (N,) float64 in [0, 1], p[label]; lower = more doubtful
    suggested_label: np.ndarray  # (N,) int64: argmax of probs
    method: str  # the filter actually used: `filter_by`, or "predicted_neq_given (fallback: <why>)"


def label_issues(
    probs: np.ndarray,
    labels: np.ndarray,
    *,
    filter_by: str = "prune_by_noise_rate",
    n_jobs: int = 1,
) -> LabelIssues:
    """Flag likely label errors with confident learning (``cleanlab.filter.find_label_issues``).

    ``probs`` must be out-of-sample (e.g. cross-fitted) softmax rows ``(N, C)``; ``labels`` ``(N,)`` int in
    ``[0, C)``. Returns :class:`LabelIssues`:

    * ``is_issue`` — cleanlab's flag with ``filter_by`` (one of ``FILTERS``). **True = more doubtful.** It
      estimates the joint of given and true labels and flags roughly as many samples as it estimates are
      mislabelled; with very accurate probabilities it fires on few samples. It is one signal, not a policy.
    * ``label_quality`` — ``cleanlab.rank.get_label_quality_scores(method="self_confidence")`` = ``p[label]``,
      in ``[0, 1]``; **lower = more doubtful**.
    * ``suggested_label`` — ``argmax_j p_ij`` (lowest index on ties).
    * ``method`` — the filter actually applied.

    Fallback: when fewer than 2 classes occur in ``labels`` (e.g. ``N = 1``, or a one-class subset) or
    cleanlab raises ``ValueError`` on a degenerate input, ``is_issue`` is ``argmax != label``
    (``"predicted_neq_given"``) and ``method`` says why. Classes absent from ``labels`` but present as columns
    are fine (cleanlab warns that it may miss issues in classes with too few examples, e.g. at ``N = 30``).
    ``n_jobs`` is cleanlab's process count; the default 1 avoids forking a process that holds torch/OpenMP
    threads (cleanlab's results do not depend on it).

    Not chunked: confident learning's per-class thresholds and its estimate of the noise matrix come from
    all rows together, so ``find_label_issues`` needs the whole ``probs``; that is only ``N x C`` floats
    (80 MB as float64 for 1,000,000 x 10), and its time grows linearly in ``N``
    (``benchmarks/bench_scale.py``'s ``scores`` stage includes it).
    """
    p, y = as_probs_labels(probs, labels)
    check_option(filter_by, "filter_by", FILTERS)
    n_jobs = check_positive_int(n_jobs, "n_jobs")

    suggested = p.argmax(axis=1).astype(np.int64)
    quality = _label_quality(p, y)
    method = filter_by
    n_present = len(np.unique(y))
    if n_present < 2:
        is_issue, method = suggested != y, f"{FALLBACK_FILTER} (fallback: only {n_present} class in labels)"
    else:
        from cleanlab.filter import find_label_issues

        try:
            is_issue = find_label_issues(y, p, filter_by=filter_by, n_jobs=n_jobs)
        except ValueError as exc:
            is_issue, method = suggested != y, f"{FALLBACK_FILTER} (fallback: cleanlab failed: {exc})"
    return LabelIssues(
        is_issue=np.asarray(is_issue, dtype=bool),
        label_quality=quality,
        suggested_label=suggested,
        method=method,
    )


def _label_quality(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    from cleanlab.rank import get_label_quality_scores

    q = get_label_quality_scores(y, p, method="self_confidence")
    return np.clip(np.asarray(q, dtype=np.float64), 0.0, 1.0)
