"""Exact cosine nearest neighbours in embedding space for the detail panel (faiss inner product)."""

from __future__ import annotations

import numpy as np


class NeighbourIndex:
    """Exact cosine kNN over row-normalised embeddings, built once when the app starts.

    Follows the scikit-learn contract: ``fit(embeddings)`` returns ``self``; the fitted index is ``index_``.
    """

    def __init__(self, *, n_neighbors: int = 8) -> None:
        self.n_neighbors = n_neighbors

    def fit(self, embeddings: np.ndarray) -> NeighbourIndex:
        import faiss

        x = np.asarray(embeddings, dtype=np.float32)
        if x.ndim != 2 or len(x) == 0:
            raise ValueError(f"embeddings must be a non-empty (N, D) array, got shape {x.shape}")
        x = np.ascontiguousarray(x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12))
        self.vectors_ = x
        self.index_ = faiss.IndexFlatIP(x.shape[1])
        self.index_.add(x)
        return self

    def kneighbors(self, sid: int, *, k: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest other samples of ``sid``: ``(sids, cosine similarities)``, nearest first."""
        k = k or self.n_neighbors
        k = min(k, len(self.vectors_) - 1)
        if k <= 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        sims, ids = self.index_.search(self.vectors_[sid: sid + 1], k + 1)
        keep = (ids[0] != sid) & (ids[0] >= 0)
        return ids[0][keep][:k].astype(np.int64), sims[0][keep][:k]
