"""Per-sample doubt scores from (out-of-fold) softmax probabilities.

``probs`` is ``(N, C)`` with rows summing to 1 (within ``PROB_ATOL``); ``labels`` is ``(N,)`` int in
``[0, C)``. Every function returns a float64 ``(N,)`` array.
"""

from __future__ import annotations

import numpy as np

from greyzone.validation import as_probs, as_probs_labels


def hardness(probs: np.ndarray) -> np.ndarray:
    """Entropy of each softmax row (FiftyOne Brain's *hardness*).

    ``H_i = -sum_j p_ij log p_ij`` (natural log, ``0 log 0 = 0``), in ``[0, log C]``: 0 for a one-hot row,
    ``log C`` for a uniform one. **Higher = more doubtful** (the model cannot decide). Label-free.
    """
    p = as_probs(probs)
    return _entropy(p)


def _entropy(p: np.ndarray) -> np.ndarray:
    safe = np.where(p > 0, p, 1.0)  # log(1) = 0 makes 0 * log 0 contribute 0
    h = -(p * np.log(safe)).sum(axis=1)
    return np.clip(h, 0.0, np.log(p.shape[1]))


def mistakenness(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """FiftyOne Brain's classification *mistakenness* from the prediction's confidence.

    ``(m * c + 1) / 2`` with ``c = max_j p_ij`` and ``m = +1`` if ``argmax_j p_ij != label_i`` else ``-1``;
    in ``[0, 1]``. A confident wrong prediction gives ~1, a confident right one ~0, an unsure one ~0.5.
    **Higher = more likely mislabelled.** Ties in the argmax go to the lowest class index.
    """
    p, y = as_probs_labels(probs, labels)
    pred = p.argmax(axis=1)
    c = p[np.arange(len(p)), pred]
    m = np.where(pred != y, 1.0, -1.0)
    return np.clip((m * c + 1.0) / 2.0, 0.0, 1.0)


def self_confidence(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Probability the model gives to the given label: ``p_i[label_i]``, in ``[0, 1]``.

    **Lower = more doubtful.** Same as cleanlab's ``self_confidence`` label-quality score.
    """
    p, y = as_probs_labels(probs, labels)
    return p[np.arange(len(p)), y].copy()


def margin(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Margin of the given label over the best other class: ``p_i[label_i] - max_{j != label_i} p_ij``.

    In ``[-1, 1]``: positive when the label is the (unique) top class, negative when another class beats it.
    **Lower = more doubtful.**
    """
    p, y = as_probs_labels(probs, labels)
    rows = np.arange(len(p))
    given = p[rows, y]
    others = p.copy()
    others[rows, y] = -np.inf
    return np.clip(given - others.max(axis=1), -1.0, 1.0)
