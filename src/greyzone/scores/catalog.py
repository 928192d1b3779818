"""The catalogue of the score table's columns: the one place that says what each column means.

Every column of :func:`greyzone.scores.table.score_table` is declared here once with its range, its
direction of doubt and a one-line help. The review app (tooltips, "most doubtful first" sorting), the report
(histograms, galleries), the README's score table and the docs all read this catalogue; a test checks the
README against it and the score table's columns against it.

``doubtful`` is ``"high"`` when a larger value means more doubtful, ``"low"`` when a smaller one does, and
``None`` for columns that are not scores (identifiers, classes, map coordinates).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["id", "class", "score", "flag", "action", "projection"]
Direction = Literal["high", "low"] | None


@dataclass(frozen=True)
class Column:
    """One column of the score table."""

    name: str
    kind: Kind
    title: str  # short human name (axis titles, legends)
    range: str  # value range as shown in the README, e.g. "[0, 1]"
    doubtful: Direction  # "high" / "low": which end is more doubtful; None for non-scores
    help: str  # one line for tooltips
    formula: str = ""  # the README's formula cell (Markdown); empty for non-scores
    train_only: bool = False  # NaN outside the train split
    note: str = ""  # what a doubtful value means, when not obvious ("isolated", "atypical")

    @property
    def direction(self) -> int:
        """+1 when higher is more doubtful, -1 when lower is, 0 for non-scores (the app sorts by it)."""
        return {"high": 1, "low": -1}.get(self.doubtful or "", 0)


COLUMNS: tuple[Column, ...] = (
    Column("sid", "id", "sample id", "0..N−1", None, "row in the workspace: train samples first, then test"),
    Column("split", "id", "split", "train / test", None, "the split the sample belongs to"),
    Column("index", "id", "index", "0..", None, "0-based position in the original split"),
    Column("label", "class", "label", "0..C−1", None, "the given label"),
    Column("pred", "class", "prediction", "0..C−1", None, "argmax of the out-of-sample probabilities"),
    Column("confidence", "score", "confidence", "[0, 1]", "low",
           "largest out-of-sample probability", "`max_j p_j`"),
    Column("p_label", "score", "p(label)", "[0, 1]", "low",
           "out-of-sample probability of the given label", "`p_y`"),
    Column("margin", "score", "margin", "[−1, 1]", "low",
           "p(label) − the largest other probability", "`p_y − max_{j≠y} p_j`"),
    Column("hardness", "score", "hardness", "[0, ln C]", "high",
           "entropy of the out-of-sample probabilities (FiftyOne Brain)",
           "entropy `−Σ p_j ln p_j` (FiftyOne Brain)"),
    Column("mistakenness", "score", "mistakenness", "[0, 1]", "high",
           "confidence in a class other than the label (FiftyOne Brain)",
           "`(m·max_j p_j + 1)/2`, m = +1 if argmax ≠ y else −1 (FiftyOne Brain)"),
    Column("uniqueness", "score", "uniqueness", "[0, 1]", "high",
           "distance to the 3 nearest neighbours in embedding space (isolated = high)",
           "`0.6 d₁ + 0.3 d₂ + 0.1 d₃` over cosine distances to the 3 true nearest neighbours, ÷ max",
           note="isolated"),
    Column("representativeness", "score", "representativeness", "[0, 1]", "low",
           "closeness to the nearest k-means centre (atypical = low)",
           "`1 − d/max d`, d = cosine distance to the nearest k-means centre", note="atypical"),
    Column("knn_agreement", "score", "kNN agreement", "[0, 1]", "low",
           "share of the 10 nearest neighbours with the same label", "share of the 10 nearest neighbours "
           "with the same label"),
    Column("label_issue", "flag", "cleanlab label issue", "bool", "high",
           "flagged by cleanlab's find_label_issues", "cleanlab `find_label_issues`"),
    Column("label_quality", "score", "label quality", "[0, 1]", "low",
           "cleanlab label quality (self-confidence)", "cleanlab label quality"),
    Column("suggested_label", "class", "suggested label", "0..C−1", None,
           "cleanlab's suggested label (argmax of the out-of-sample probabilities)", "`argmax p`"),
    Column("aum", "score", "AUM", "ℝ", "low",
           "area under the margin over training epochs of the scorer's fold models that trained on the "
           "sample (Pleiss et al. 2020)",
           "mean over epochs and the K − 1 scorer fold models that trained on the sample of "
           "`z_y − max_{j≠y} z_j` (logits; Pleiss et al. 2020)", train_only=True),
    Column("cart_confidence", "score", "cartography confidence", "[0, 1]", "low",
           "mean p(label) over training epochs of the scorer's fold models that trained on the sample "
           "(Swayamdipta et al. 2020)",
           "mean over epochs and the K − 1 scorer fold models that trained on the sample of `p_y` "
           "(Swayamdipta et al. 2020)",
           train_only=True),
    Column("cart_variability", "score", "cartography variability", "[0, 1]", "high",
           "spread of p(label) over training epochs (Swayamdipta et al. 2020)",
           "std over epochs of `p_y` (mean over the K − 1 scorer fold models; Swayamdipta et al. 2020)",
           train_only=True),
    Column("idk_score", "score", "IDK score", "[0, 1]", "high",
           "1 − support·(1 − ½·H/ln C); support = mean of out-of-fold p(label), cartography confidence and "
           "kNN label agreement", "see below"),
    Column("idk_proposed", "flag", "proposed IDK", "bool", "high",
           "the IDK proposal policy proposes the sample", "see below"),
    Column("proposed_action", "action", "proposed action", "idk / relabel / empty", None,
           "the auto proposal: relabel to suggested_label (confident correction), IDK, or none"),
    Column("duplicate_of", "id", "duplicate of", "split:index / empty", None,
           "the earliest sample of this one's exact or near duplicate group (empty: no duplicate, or this is "
           "the earliest)"),
    Column("cross_split_duplicate", "flag", "cross-split duplicate", "bool", "high",
           "an exact or near duplicate lies in another split (a train/test leak)",
           "its group of exact (pixel hash) or near (cosine distance ≤ 0.13 × median nearest-neighbour "
           "distance, all splits) duplicates spans splits"),
    Column("pca_x", "projection", "PCA 1", "ℝ", None, "first principal component of the embedding"),
    Column("pca_y", "projection", "PCA 2", "ℝ", None, "second principal component of the embedding"),
    Column("umap_x", "projection", "UMAP 1", "ℝ", None, "UMAP x (cosine metric, PCA init)"),
    Column("umap_y", "projection", "UMAP 2", "ℝ", None, "UMAP y (cosine metric, PCA init)"),
)

CATALOG: dict[str, Column] = {c.name: c for c in COLUMNS}
#: Columns ranked by a direction of doubt, as the report lists them: the IDK score first, then table order.
SCORES: tuple[Column, ...] = (CATALOG["idk_score"],) + tuple(
    c for c in COLUMNS if c.kind == "score" and c.name != "idk_score")
CLASS_COLUMNS: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.kind == "class")
PROJECTION_COLUMNS: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.kind == "projection")


def readme_table() -> str:
    """The README's score table (Markdown), generated from the catalogue: one row per score or flag."""
    rows = ["| column | formula | range | doubtful when |", "|---|---|---|---|"]
    for c in COLUMNS:
        if c.kind not in ("score", "flag"):
            continue
        when = c.doubtful if c.kind == "score" else "True"
        when += f" ({c.note})" if c.note else ""
        suffix = ", train only" if c.train_only else ""
        rows.append(f"| `{c.name}` | {c.formula}{suffix} | {c.range} | {when} |")
    return "\n".join(rows)
