"""The IDK score and the IDK proposal policy, over the per-sample score table of one split.

Three views estimate how well the data supports a sample's *given* label, each in ``[0, 1]``:

* ``p_label``: the out-of-fold probability of the label (cross-fitting: a model that never saw the sample);
* ``cart_confidence``: the mean over training epochs of the probability the scorer's fold models gave the
  label while training on it (dataset cartography; the K − 1 fold models that trained on the sample are
  averaged; train split only, NaN elsewhere). It is in-sample, but averaged over epochs it is dominated by
  the early epochs, before a network memorises a wrong label (the argument behind AUM, Pleiss et al. 2020);
* ``knn_agreement``: the fraction of the 10 nearest neighbours (same split, in the embedding of the model
  trained on the whole train split) that carry the same label.

``support`` is their mean over the views a row has. ``idk_score = 1 − support · (1 − H(p) / log C)``,
with ``H`` the entropy of the out-of-fold softmax (``hardness``): a noisy-OR of "the label is not supported"
and "the held-out model cannot decide between classes" (blends, out-of-distribution images), i.e. one minus
the chance that the label is right *and* the image is clear. It lies in ``[0, 1]`` without clipping (1 = no
support or a uniform prediction, 0 = full support and a one-hot prediction) and keeps the ranking all the
way to the top, where the former ``clip(1 − p + ¼·H/log C)`` tied every confident error at 1.

``idk_proposed`` proposes a sample when **every** view gives its label less than even odds (``< 0.5``): the
held-out model finds the label more likely wrong than right, the model that trained on the label never really
fitted it, and most neighbours carry other labels. Agreement of three views that fail in different ways (a
weak fold model; a memorised label; a wrong neighbourhood) is the evidence. cleanlab's flag is not used: on
the planted-problem benchmark every sample it flagged already had ``p_label < 0.5``, and adding it to this
rule added mostly clean samples (100 of 117 on full MNIST). At most ``rate_cap`` of the split is proposed,
highest ``idk_score`` first, so a badly trained model cannot propose half the data.

The choice of views and weights was measured on planted problems (``greyzone.benchmark.curation``); the
README has the numbers.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from greyzone.validation import as_column, check_fraction, check_int

#: A proposal is a confident correction when the held-out model gives the suggested class at least this and
#: at least this share of the neighbours carry it.
CORRECTION_CONFIDENCE = 0.9
CORRECTION_NEIGHBOURS = 0.5

POLICY = (
    "idk-policy-v4: p_oof[label], the scorer folds' training-dynamics confidence and kNN label agreement all "
    "< 0.5; capped by idk_score = 1 - support * (1 - H/log C); relabel when p_oof[suggested] >= 0.9 and half "
    "the neighbours carry it"
)
#: Columns averaged into the label's support; a row uses those that are not NaN (``p_label`` is required).
SUPPORT_COLUMNS: tuple[str, ...] = ("p_label", "cart_confidence", "knn_agreement")
#: How much a maximally uncertain held-out prediction (uniform softmax) discounts the support: 1 = noisy-OR.
#: Measured on the planted-problem benchmark (seed 0, cnn scorer, 5 epochs): 0.5 / 0.75 / 1 gave OOD AP
#: .807 / .861 / .925 and blends .520 / .543 / .577, pair flips .968 / .961 / .943 (README "IDK policy").
ENTROPY_WEIGHT = 1.0
#: A view votes "doubtful" when it gives the label less than this (even odds).
EVEN_ODDS = 0.5


# --------------------------------------------------------------------------------------------- helpers
def _support_views(scores: pd.DataFrame) -> np.ndarray:
    """``(N, V)`` float64 of the available support columns (NaN where a view is missing)."""
    cols = [as_column(scores, "p_label", low=0, high=1)]
    cols += [as_column(scores, c, low=0, high=1, allow_nan=True) for c in SUPPORT_COLUMNS[1:]
             if c in scores.columns]
    return np.column_stack(cols) if cols[0].size else np.empty((0, len(cols)))


def _default_n_classes(scores: pd.DataFrame) -> int:
    """``scores.attrs["n_classes"]``, else the smallest class count the labels and predictions allow."""
    if scores.attrs.get("n_classes") is not None:
        return scores.attrs["n_classes"]
    cols = [c for c in ("label", "pred", "suggested_label") if c in scores.columns and len(scores)]
    return max([int(scores[c].max()) + 1 for c in cols] + [2])


# --------------------------------------------------------------------------------------------- public
def label_support(scores: pd.DataFrame) -> np.ndarray:
    """Mean of the available views of how well the data supports the given label, float64 ``(N,)``.

    ``support_i = mean over non-NaN v in (p_label, cart_confidence, knn_agreement) of v_i``; missing columns
    and NaN entries are skipped (``cart_confidence`` is NaN outside the train split), ``p_label`` is required.
    In ``[0, 1]``; **lower = more doubtful**.
    """
    return np.nanmean(_support_views(scores), axis=1) if len(scores) else np.empty(0)


def idk_score(
    scores: pd.DataFrame, *, n_classes: int | None = None, entropy_weight: float = ENTROPY_WEIGHT
) -> np.ndarray:
    """``1 − support · (1 − w · hardness / log C)``, float64 ``(N,)`` in [0, 1]; **higher = more doubtful**.

    ``support`` is :func:`label_support`; ``hardness`` is the entropy of the out-of-fold softmax (column
    ``hardness``, natural log), ``w = entropy_weight`` in ``[0, 1]``. ``C = n_classes``, else
    ``scores.attrs["n_classes"]``, else the smallest count the labels and predictions allow (the normalised
    entropy is clipped to ``[0, 1]`` either way).
    """
    w = check_fraction(entropy_weight, "entropy_weight")
    support = label_support(scores)
    h = as_column(scores, "hardness", low=0)
    n_classes = check_int(_default_n_classes(scores) if n_classes is None else n_classes, "n_classes", low=2)
    clarity = 1.0 - w * np.clip(h / math.log(n_classes), 0.0, 1.0)
    return np.clip(1.0 - support * clarity, 0.0, 1.0)  # clip only guards float round-off


def idk_proposed(scores: pd.DataFrame, *, rate_cap: float = 0.02, threshold: float = EVEN_ODDS) -> np.ndarray:
    """Boolean ``(N,)``: every available support view (see :func:`label_support`) is below ``threshold``.

    Then at most ``floor(rate_cap · N)`` proposals are kept, those with the highest ``idk_score`` (column
    ``idk_score``, ties by row order). ``True`` = propose IDK.
    """
    cap = check_fraction(rate_cap, "rate_cap")
    threshold = check_fraction(threshold, "threshold", closed="right")
    views = _support_views(scores)
    doubtful = np.where(np.isnan(views), True, views < threshold).all(axis=1)
    n_max = math.floor(cap * len(doubtful) + 1e-9)  # 0.29 · 100 must give 29, not 28
    if doubtful.sum() > n_max:
        s = as_column(scores, "idk_score", low=0, high=1)
        order = np.argsort(-np.where(doubtful, s, -np.inf), kind="stable")
        doubtful = np.zeros_like(doubtful)
        doubtful[order[:n_max]] = True
    return doubtful


def proposed_action(scores: pd.DataFrame, knn_suggested: np.ndarray) -> np.ndarray:
    """``(N,)`` str: ``"relabel"`` for a proposal whose evidence agrees on one other class, ``"idk"`` for the
    other proposals (ambiguous, not a digit), ``""`` where nothing is proposed.

    A *confident correction*: ``idk_proposed``, ``suggested_label ≠ label``, out-of-fold
    ``p[suggested] ≥ 0.9`` (``confidence`` column, as suggested = argmax) and at least half the neighbours
    labelled ``suggested`` (``knn_suggested``, the share; NaN counts as no support).
    """
    proposed = as_column(scores, "idk_proposed").astype(bool)
    other = scores["suggested_label"].to_numpy() != scores["label"].to_numpy()
    confident = as_column(scores, "confidence", low=0, high=1) >= CORRECTION_CONFIDENCE
    agree = np.nan_to_num(np.asarray(knn_suggested, float), nan=0.0) >= CORRECTION_NEIGHBOURS
    return np.where(proposed, np.where(other & confident & agree, "relabel", "idk"), "").astype(object)
