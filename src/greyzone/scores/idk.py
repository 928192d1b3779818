"""The IDK score and the IDK proposal policy.

``idk_score`` (higher = more doubtful, in [0, 1]) is the out-of-sample probability that the given label is
wrong, ``1 − p_oof[label]``. Ambiguity that the probabilities alone understate is added with weight 0.25
times the normalised entropy ``H(p) / log C``, and clipped to [0, 1]; see the README for the measurements that
chose it.

``idk_proposed`` proposes a sample when the evidence says the label is doubtful, not as a blind top-x%:
  - the out-of-fold model gives the given label less than ``p_max`` (default 0.5) probability, or
  - confident learning (cleanlab) flags it as a label issue;
and then at most ``rate_cap`` of the split (highest ``idk_score`` first), so a badly trained model cannot
propose half the data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

POLICY = "idk-policy-v1: p_oof[label] < 0.5 or cleanlab label issue; capped by idk_score"
ENTROPY_WEIGHT = 0.25


def idk_score(scores: pd.DataFrame) -> np.ndarray:
    """``clip(1 − p_label + 0.25 · hardness / log C, 0, 1)``; ``scores`` has ``p_label`` and ``hardness``."""
    n_classes = int(scores.attrs.get("n_classes", 10))
    s = 1.0 - scores["p_label"].to_numpy() + ENTROPY_WEIGHT * scores["hardness"].to_numpy() / np.log(n_classes)
    return np.clip(s, 0.0, 1.0)


def idk_proposed(scores: pd.DataFrame, *, p_max: float = 0.5, rate_cap: float = 0.02) -> np.ndarray:
    """Boolean proposals (see module docstring); ``scores`` has ``p_label``, ``label_issue``, ``idk_score``."""
    doubtful = (scores["p_label"].to_numpy() < p_max) | scores["label_issue"].to_numpy(dtype=bool)
    cap = int(np.floor(rate_cap * len(scores)))
    if doubtful.sum() > cap:
        order = np.argsort(-np.where(doubtful, scores["idk_score"].to_numpy(), -np.inf), kind="stable")
        keep = np.zeros_like(doubtful)
        keep[order[:cap]] = True
        doubtful = keep
    return doubtful
