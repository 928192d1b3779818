"""Training-dynamics scores from per-epoch records of each training sample.

Arrays are ``(N, E)``: one column per epoch, recorded on the training samples while the model trains on them
(in-sample, unlike the out-of-fold probabilities used elsewhere).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from greyzone.validation import as_float_matrix, as_labels


class Cartography(NamedTuple):
    """Dataset-cartography coordinates, each float64 ``(N,)``."""

    confidence: np.ndarray
    variability: np.ndarray


def logit_margin(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """One epoch's logit margin per sample, the quantity :func:`aum` averages.

    ``z_i[label_i] - max_{j != label_i} z_ij`` for logits ``(N, C)``, ``C >= 2``; unbounded real,
    float64 ``(N,)``.
    Stack one call per epoch as columns to build the ``(N, E)`` input of :func:`aum`.
    """
    z = as_float_matrix(logits, "logits", min_cols=2)
    y = as_labels(labels, n=len(z), n_classes=z.shape[1], columns_of="logits")
    rows = np.arange(len(z))
    given = z[rows, y]
    others = z.copy()
    others[rows, y] = -np.inf
    return given - others.max(axis=1)


def aum(logit_margins: np.ndarray) -> np.ndarray:
    """Area Under the Margin (Pleiss et al., 2020, "Identifying Mislabeled Data using the AUM Ranking").

    ``AUM_i = (1/E) sum_e (z_ie[label_i] - max_{j != label_i} z_iej)``: the mean over epochs of the per-epoch
    logit margins ``(N, E)`` (see :func:`logit_margin`). Unbounded real, float64 ``(N,)``.
    **Lower (negative) = more likely mislabelled**: the network keeps preferring another class.
    """
    m = as_float_matrix(logit_margins, "logit_margins")
    return m.mean(axis=1)


def cartography(p_label: np.ndarray) -> Cartography:
    """Dataset cartography (Swayamdipta et al., 2020, "Dataset Cartography").

    From ``p_label`` ``(N, E)`` = the probability of the given label at each epoch, in ``[0, 1]``:

    * ``confidence = mean_e p_label[i, e]`` in ``[0, 1]``; **low = hard-to-learn / likely mislabelled**;
    * ``variability = std_e p_label[i, e]`` (population std, ``ddof=0``) in ``[0, 0.5]``;
      **high = ambiguous** (the model keeps changing its mind).
    """
    p = as_float_matrix(p_label, "p_label", low=0, high=1)
    return Cartography(confidence=p.mean(axis=1), variability=p.std(axis=1, ddof=0))
