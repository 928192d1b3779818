"""Doubt scores: pure functions over numpy arrays, one float ``(N,)`` score (or a small tuple) per call.

Each docstring states the formula, the range and which direction is "more doubtful":

* from out-of-fold softmax ``probs`` — :func:`hardness`, :func:`mistakenness`, :func:`self_confidence`,
  :func:`margin` and cleanlab's :func:`label_issues`;
* from embeddings — :func:`knn`, :func:`uniqueness`, :func:`representativeness`, :func:`knn_label_agreement`;
* from training dynamics ``(N, epochs)`` — :func:`logit_margin`, :func:`aum`, :func:`cartography`.
"""

from greyzone.scores.confidence import hardness, margin, mistakenness, self_confidence
from greyzone.scores.dynamics import Cartography, aum, cartography, logit_margin
from greyzone.scores.label_issues import LabelIssues, label_issues
from greyzone.scores.neighbours import (
    default_n_clusters,
    knn,
    knn_label_agreement,
    representativeness,
    uniqueness,
)

__all__ = [
    "Cartography",
    "LabelIssues",
    "aum",
    "cartography",
    "default_n_clusters",
    "hardness",
    "knn",
    "knn_label_agreement",
    "label_issues",
    "logit_margin",
    "margin",
    "mistakenness",
    "representativeness",
    "self_confidence",
    "uniqueness",
]
