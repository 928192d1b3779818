"""The IDK score and the IDK proposal policy, over the per-sample score table of one split.

Three views estimate how well the data supports a sample's *given* label, each in ``[0, 1]``:

* ``p_label``: the out-of-fold probability of the label (cross-fitting: a model that never saw the sample);
* ``cart_confidence``: the mean over training epochs of the probability the full model gave the label while
  training on it (dataset cartography; train split only, NaN elsewhere). It is in-sample, but averaged over
  epochs it is dominated by the early epochs, before a network memorises a wrong label (the argument behind
  AUM, Pleiss et al. 2020);
* ``knn_agreement``: the fraction of the 10 nearest neighbours (same split, in the embedding of the model
  trained on the whole train split) that carry the same label.

``support`` is their mean over the views a row has. ``idk_score = 1 − support · (1 − ½ · H(p) / log C)``,
with ``H`` the entropy of the out-of-fold softmax (``hardness``): the label's support, discounted by up to a
half when the held-out model cannot decide between classes (blends, out-of-distribution images). It lies in
``[0, 1]`` without clipping (1 = no support at all, 0 = full support and a one-hot prediction) and keeps the
ranking all the way to the top, where the former ``clip(1 − p + ¼·H/log C)`` tied every confident error at 1.

``idk_proposed`` proposes a sample when **every** view gives its label less than even odds (``< 0.5``): the
held-out model finds the label more likely wrong than right, the model that trained on the label never really
fitted it, and most neighbours carry other labels. Agreement of three views that fail in different ways (a
weak fold model; a memorised label; a wrong neighbourhood) is the evidence. cleanlab's flag is not used: on
the planted-problem benchmark every sample it flagged already had ``p_label < 0.5``, and adding it to this
rule added mostly clean samples (100 of 117 on full MNIST). At most ``rate_cap`` of the split is proposed,
highest ``idk_score`` first, so a badly trained model cannot propose half the data.

The choice of views and weights was measured on planted problems (``greyzone.evaluation.curation``); the
README has the numbers.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

POLICY = (
    "idk-policy-v2: p_oof[label], training-dynamics confidence and kNN label agreement all < 0.5; "
    "capped by idk_score"
)
#: Columns averaged into the label's support; a row uses those that are not NaN (``p_label`` is required).
SUPPORT_COLUMNS: tuple[str, ...] = ("p_label", "cart_confidence", "knn_agreement")
#: How much a maximally uncertain held-out prediction (uniform softmax) discounts the support.
ENTROPY_WEIGHT = 0.5
#: A view votes "doubtful" when it gives the label less than this (even odds).
EVEN_ODDS = 0.5


# --------------------------------------------------------------------------------------------- validation
def _column(scores: pd.DataFrame, name: str, *, allow_nan: bool) -> np.ndarray:
    if name not in scores.columns:
        raise ValueError(f"scores has no column {name!r}; columns are {list(scores.columns)}")
    try:
        v = scores[name].to_numpy(dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"scores[{name!r}] must be numeric, got dtype {scores[name].dtype}") from None
    nan = np.isnan(v)
    if nan.any() and not allow_nan:
        raise ValueError(f"scores[{name!r}] has NaN at row {int(np.flatnonzero(nan)[0])}")
    bad = np.flatnonzero(~nan & ((v < 0) | (v > 1)))
    if bad.size:
        raise ValueError(f"scores[{name!r}] must lie in [0, 1], got {v[bad[0]]!r} at row {int(bad[0])}")
    return v


def _support_views(scores: pd.DataFrame) -> np.ndarray:
    """``(N, V)`` float64 of the available support columns (NaN where a view is missing)."""
    if not isinstance(scores, pd.DataFrame):
        raise TypeError(f"scores must be a pandas DataFrame, got {type(scores).__name__}")
    cols = [_column(scores, "p_label", allow_nan=False)]
    cols += [_column(scores, c, allow_nan=True) for c in SUPPORT_COLUMNS[1:] if c in scores.columns]
    return np.column_stack(cols) if cols[0].size else np.empty((0, len(cols)))


def _n_classes(scores: pd.DataFrame, n_classes: Any) -> int:
    if n_classes is None:
        n_classes = scores.attrs.get("n_classes")
    if n_classes is None:  # smallest class count consistent with the table; entropy is clipped below
        cols = [c for c in ("label", "pred", "suggested_label") if c in scores.columns and len(scores)]
        seen = [int(scores[c].max()) for c in cols]
        n_classes = max([s + 1 for s in seen] + [2])
    if isinstance(n_classes, bool) or not isinstance(n_classes, int | np.integer) or n_classes < 2:
        raise ValueError(f"n_classes must be an int >= 2, got {n_classes!r}")
    return int(n_classes)


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
    w = float(entropy_weight)
    if not 0.0 <= w <= 1.0:
        raise ValueError(f"entropy_weight must be in [0, 1], got {entropy_weight!r}")
    support = label_support(scores)
    if "hardness" not in scores.columns:
        raise ValueError(f"scores has no column 'hardness'; columns are {list(scores.columns)}")
    h = scores["hardness"].to_numpy(dtype=np.float64)
    if np.isnan(h).any() or (h < 0).any():
        raise ValueError("scores['hardness'] must be a non-negative entropy without NaN")
    clarity = 1.0 - w * np.clip(h / math.log(_n_classes(scores, n_classes)), 0.0, 1.0)
    return np.clip(1.0 - support * clarity, 0.0, 1.0)  # clip only guards float round-off


def idk_proposed(scores: pd.DataFrame, *, rate_cap: float = 0.02, threshold: float = EVEN_ODDS) -> np.ndarray:
    """Boolean ``(N,)``: every available support view (see :func:`label_support`) is below ``threshold``.

    Then at most ``floor(rate_cap · N)`` proposals are kept, those with the highest ``idk_score`` (column
    ``idk_score``, ties by row order). ``True`` = propose IDK.
    """
    cap = float(rate_cap)
    if not 0.0 <= cap <= 1.0:
        raise ValueError(f"rate_cap must be in [0, 1], got {rate_cap!r}")
    if not 0.0 < float(threshold) <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold!r}")
    views = _support_views(scores)
    doubtful = np.where(np.isnan(views), True, views < threshold).all(axis=1)
    n_max = math.floor(cap * len(doubtful) + 1e-9)  # 0.29 · 100 must give 29, not 28
    if doubtful.sum() > n_max:
        s = _column(scores, "idk_score", allow_nan=False)
        order = np.argsort(-np.where(doubtful, s, -np.inf), kind="stable")
        doubtful = np.zeros_like(doubtful)
        doubtful[order[:n_max]] = True
    return doubtful
