"""The score table: every per-sample score (see :mod:`greyzone.scores.catalog`) from plain arrays.

A library function, no workspace needed::

    table = score_table(probs, labels, embeddings, split=split)

Scores are computed per split: a test sample is ranked among test samples and its neighbours are test
samples. The kNN graph behind ``uniqueness`` and ``knn_agreement`` is :func:`split_neighbours`; the pipeline
stores it, and the review app shows the same neighbours.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from greyzone.scores.catalog import COLUMNS

#: Neighbours per sample in the stored graph (``knn_agreement`` uses all of them, ``uniqueness`` the first 3).
N_NEIGHBOURS = 10


@dataclass(frozen=True)
class Neighbours:
    """The kNN graph within each split: row ``i`` holds sample ``i``'s nearest other samples of its split,
    nearest first, as row numbers of the full arrays (``indices``, int64, -1 where the split has too few
    samples) and cosine distances (``distances``, float64, NaN there)."""

    indices: np.ndarray  # (N, k)
    distances: np.ndarray  # (N, k)


def split_neighbours(embeddings: np.ndarray, split: np.ndarray, *, k: int = N_NEIGHBOURS) -> Neighbours:
    """:func:`greyzone.scores.knn` (cosine) run separately on the rows of each split."""
    from greyzone.scores import knn

    split = np.asarray(split)
    indices = np.full((len(split), k), -1, np.int64)
    distances = np.full((len(split), k), np.nan)
    for name in dict.fromkeys(split.tolist()):
        rows = np.flatnonzero(split == name)
        kk = min(k, len(rows) - 1)
        if kk < 1:
            continue
        dist, idx = knn(embeddings[rows], k=kk)
        indices[rows, :kk], distances[rows, :kk] = rows[idx], dist
    return Neighbours(indices, distances)


def score_table(
    probs: np.ndarray,
    labels: np.ndarray,
    embeddings: np.ndarray,
    *,
    split: np.ndarray | None = None,
    index: np.ndarray | None = None,
    neighbours: Neighbours | None = None,
    near: tuple[np.ndarray, np.ndarray] | None = None,
    dyn_p_label: np.ndarray | None = None,
    dyn_margin: np.ndarray | None = None,
    projections: dict[str, np.ndarray] | None = None,
    images: np.ndarray | None = None,
    idk_cap: float = 0.02,
    entropy_weight: float = 1.0,
    random_state: int = 0,
    log: Callable[[str], None] = lambda _m: None,
) -> pd.DataFrame:
    """One row per sample (row order kept), the columns of :data:`greyzone.scores.catalog.COLUMNS`.

    ``probs`` (N, C) out-of-sample softmax, ``labels`` (N,), ``embeddings`` (N, D). ``split`` (default: all
    ``"train"``) and ``index`` (default: position within the split) identify samples. ``dyn_p_label`` /
    ``dyn_margin`` (N_train, epochs) are the scorer's training dynamics of the train split, in train-row
    order; without them ``aum`` and the cartography columns are NaN. ``projections`` maps ``"pca"`` /
    ``"umap"`` to (N, 2) coordinates (NaN when absent). ``idk_cap``: see
    :func:`greyzone.scores.idk.idk_proposed`; ``entropy_weight``: see :func:`greyzone.scores.idk.idk_score`.
    ``duplicate_of`` and ``cross_split_duplicate`` come from
    :func:`greyzone.scores.duplicates.find_duplicates` over all splits (exact ones only when ``images``
    (N, H, W) or (N, H, W, 3) are given; ``near``: their all-splits kNN graph, default
    :func:`greyzone.scores.duplicates.near_neighbours`); ``table.attrs["duplicates"]`` holds the
    near-duplicate threshold and the counts.
    """
    from greyzone import scores as S
    from greyzone.scores.duplicates import find_duplicates, near_neighbours
    from greyzone.scores.idk import idk_proposed, idk_score, proposed_action

    n = len(labels)
    labels = np.asarray(labels)
    split = np.full(n, "train", dtype=object) if split is None else np.asarray(split, dtype=object)
    if index is None:
        index = np.zeros(n, np.int64)
        for name in dict.fromkeys(split.tolist()):
            index[split == name] = np.arange(int((split == name).sum()))
    if neighbours is None:
        neighbours = split_neighbours(embeddings, split)
    parts = []
    for name in dict.fromkeys(split.tolist()):
        rows = np.flatnonzero(split == name)
        p, y, e = probs[rows], labels[rows], embeddings[rows]
        k = min(neighbours.indices.shape[1], len(rows) - 1)
        nb_idx = np.searchsorted(rows, neighbours.indices[rows, :k])  # full rows → rows of this split
        nb_dist = neighbours.distances[rows, :k]
        issues = S.label_issues(p, y)
        df = pd.DataFrame({
            "sid": rows, "split": name, "index": np.asarray(index)[rows], "label": y, "pred": p.argmax(1),
            "confidence": p.max(1), "p_label": S.self_confidence(p, y), "margin": S.margin(p, y),
            "hardness": S.hardness(p), "mistakenness": S.mistakenness(p, y),
            "uniqueness": S.uniqueness(e, k=min(3, k), neighbours=(nb_dist[:, :3], nb_idx[:, :3])),
            "representativeness": S.representativeness(e, random_state=random_state),
            "knn_agreement": S.knn_label_agreement(y, nb_idx),
            "label_issue": issues.is_issue, "label_quality": issues.label_quality,
            "suggested_label": issues.suggested_label,
        })
        if name == "train" and dyn_margin is not None and dyn_p_label is not None:
            df["aum"] = S.aum(dyn_margin)
            df["cart_confidence"], df["cart_variability"] = S.cartography(dyn_p_label)
        else:
            df["aum"] = df["cart_confidence"] = df["cart_variability"] = np.nan
        df["idk_score"] = idk_score(df, n_classes=probs.shape[1], entropy_weight=entropy_weight)
        df["idk_proposed"] = idk_proposed(df, rate_cap=idk_cap)
        share = ((y[nb_idx] == issues.suggested_label[:, None]).mean(1) if k > 0
                 else np.full(len(y), np.nan))  # neighbours carrying the suggested label
        df["proposed_action"] = proposed_action(df, share)
        wanted = int(idk_proposed(df, rate_cap=1.0).sum())
        if wanted > df["idk_proposed"].sum():
            log(f"[yellow]note:[/] the IDK rule wants {wanted} {name} samples; the cap "
                f"(--idk-cap {idk_cap}) keeps the {int(df['idk_proposed'].sum())} most doubtful")
        parts.append(df)
    table = pd.concat(parts, ignore_index=True).sort_values("sid", ignore_index=True)
    if near is None:
        near = near_neighbours(embeddings, split, (neighbours.distances, neighbours.indices))
    dups = find_duplicates(embeddings, images=images, neighbours=near)
    table["duplicate_of"], table["cross_split_duplicate"] = dups.columns(split, np.asarray(index))
    found = {"near_threshold": round(dups.threshold, 6), **dups.counts(split)}
    if found["samples_with_duplicates"]:
        log(f"duplicates: {found['samples_with_duplicates']} samples have one ({found['exact']} exact), "
            f"{found['cross_split_samples']} in another split; near = cosine distance ≤ {dups.threshold:.4g}")
    for proj in ("pca", "umap"):
        xy = (projections or {}).get(proj)
        xy = np.full((n, 2), np.nan, np.float32) if xy is None else np.asarray(xy)
        table[f"{proj}_x"], table[f"{proj}_y"] = xy[:, 0], xy[:, 1]
    table = table[[c.name for c in COLUMNS]]
    table.attrs["duplicates"] = found
    return table
