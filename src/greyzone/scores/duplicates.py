"""Exact and near duplicates, within and across splits (train/test leaks).

* **Exact**: identical pixels (a BLAKE2b hash of each image's bytes and shape).
* **Near**: cosine distance between embeddings at most ``threshold = factor · median nearest-neighbour
  distance`` (cleanlab Datalab's ``near_duplicate`` rule, ``factor = 0.13``), calibrated on the data itself:
  a pair counts as a near duplicate when it is far closer than a typical sample is to its nearest neighbour.
  Each sample is linked to those of its ``k`` nearest neighbours (over *all* splits) within the threshold.

Per sample: ``duplicate_of`` is ``"split:index"`` of the earliest sample (lowest sid) among its duplicates
(identical pixels, or a link within the threshold), empty for a sample without one and for that earliest
sample itself; ``cross_split_duplicate`` is True when one of its duplicates lies in another split (e.g. a test
image that is a near copy of a training image: a leak that inflates test accuracy). Links are not chained:
on full MNIST a transitive closure joined 658 similar "1"s into one group (measured in a pixel-PCA space).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from greyzone.validation import as_float_matrix, check_float, check_int

#: cleanlab's near-duplicate threshold, as a fraction of the median nearest-neighbour distance.
NEAR_FACTOR = 0.13
#: Neighbours each sample is compared with.
NEAR_K = 3


@dataclass(frozen=True)
class Duplicates:
    """Duplicate links between rows: ``a[j]`` — ``b[j]`` (undirected, ``a < b``, each pair once; identical
    images link to the first of their pixel group); ``pixel_group[i]``: the first row with row ``i``'s
    pixels (``i`` itself when unique or unknown); ``threshold``: the cosine distance used for near duplicates
    (NaN without embeddings)."""

    a: np.ndarray  # (P,) int64
    b: np.ndarray  # (P,) int64
    pixel_group: np.ndarray  # (N,) int64
    threshold: float

    @property
    def exact(self) -> np.ndarray:
        """(N,) bool: another row has identical pixels."""
        return np.bincount(self.pixel_group, minlength=len(self.pixel_group))[self.pixel_group] > 1

    @property
    def earliest(self) -> np.ndarray:
        """(N,) int64: the lowest row among each row and its duplicates (the row itself when it has none)."""
        out = np.arange(len(self.pixel_group))
        np.minimum.at(out, self.b, self.a)
        return out

    @property
    def has_duplicate(self) -> np.ndarray:
        """(N,) bool: the row has at least one duplicate."""
        out = np.zeros(len(self.pixel_group), bool)
        out[self.a] = out[self.b] = True
        return out

    def cross_split(self, split: np.ndarray) -> np.ndarray:
        """(N,) bool: one of the row's duplicates lies in another split (any member of an identical-pixel
        group spanning splits counts)."""
        split = np.asarray(split, dtype=object)
        across = split[self.a] != split[self.b]
        out = np.zeros(len(self.pixel_group), bool)
        out[self.a[across]] = out[self.b[across]] = True
        codes = np.unique(split, return_inverse=True)[1] if len(split) else np.empty(0, np.int64)
        lo, hi = codes.copy(), codes.copy()
        np.minimum.at(lo, self.pixel_group, codes)
        np.maximum.at(hi, self.pixel_group, codes)
        return out | (lo[self.pixel_group] != hi[self.pixel_group])

    def columns(self, split: np.ndarray, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``duplicate_of`` (object, ``"split:index"`` or ``""``) and ``cross_split_duplicate`` (bool)."""
        split = np.asarray(split, dtype=object)
        first = self.earliest
        dup_of = np.full(len(first), "", dtype=object)
        later = np.flatnonzero(first != np.arange(len(first)))
        dup_of[later] = [f"{split[r]}:{int(index[r])}" for r in first[later]]
        return dup_of, self.cross_split(split)

    def counts(self, split: np.ndarray) -> dict[str, int]:
        """Samples with a duplicate (with an ``exact`` one / ``near`` only), duplicate pairs, and across
        splits."""
        has, cross = self.has_duplicate, self.cross_split(split)
        split = np.asarray(split, dtype=object)
        return {"samples_with_duplicates": int(has.sum()), "exact": int(self.exact.sum()),
                "near_only": int((has & ~self.exact).sum()), "pairs": len(self.a),
                "cross_split_samples": int(cross.sum()),
                "cross_split_pairs": int((split[self.a] != split[self.b]).sum())}


def pixel_hashes(images: np.ndarray) -> np.ndarray:
    """(N,) object array of 16-byte BLAKE2b digests of each image's shape and bytes."""
    arr = np.asarray(images)
    return np.array([hashlib.blake2b(np.ascontiguousarray(im).tobytes() + str(im.shape).encode(),
                                     digest_size=16).digest() for im in arr], dtype=object)


def near_threshold(nn_distances: np.ndarray, *, factor: float = NEAR_FACTOR) -> float:
    """``factor · median`` of the nearest-neighbour distances (NaN ignored)."""
    factor = check_float(factor, "factor", low=0)
    d = np.asarray(nn_distances, np.float64)
    d = d[np.isfinite(d)]
    return float(factor * np.median(d)) if len(d) else float("nan")


def near_neighbours(embeddings: np.ndarray, split: np.ndarray | None = None,
                    within: tuple[np.ndarray, np.ndarray] | None = None, *, k: int = NEAR_K
                    ) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest other rows over *all* splits, as :func:`greyzone.scores.knn` ``(distances,
    indices)``. With a single split, ``within`` (a within-split graph, e.g.
    :func:`greyzone.scores.table.split_neighbours`'s, at least ``k`` columns) already is that graph and its
    first columns are returned instead of a second search (at 1,000,000 samples a search costs about a
    minute). With several splits, one search over all rows: searching each split only against the others
    and merging with ``within`` was measured slower at 1,000,000 (139 s vs 122 s for the neighbours stage,
    ``benchmarks/bench_scale.py``), as the small split's base gets an IVF-Flat index that the large split's
    queries scan slowly."""
    from greyzone.scores import knn

    n = len(embeddings)
    k = min(check_int(k, "k", low=1), n - 1)
    one_split = split is None or len(np.unique(np.asarray(split, dtype=object))) <= 1
    if within is not None and one_split and np.asarray(within[1]).shape[1] >= k:
        return np.asarray(within[0])[:, :k], np.asarray(within[1])[:, :k]
    return knn(as_float_matrix(embeddings, "embeddings", dtype=np.float32), k=k)


def find_duplicates(embeddings: np.ndarray | None, *, images: np.ndarray | None = None, k: int = NEAR_K,
                    factor: float = NEAR_FACTOR, neighbours: tuple[np.ndarray, np.ndarray] | None = None
                    ) -> Duplicates:
    """Exact (``images``) and near (``embeddings``, cosine) duplicate pairs over all rows; see the module
    doc. Either input may be None (then that kind is not searched). ``neighbours``: the rows' nearest
    neighbours over all rows, precomputed (:func:`near_neighbours`, at least ``min(k, N - 1)`` columns)."""

    n = len(embeddings) if embeddings is not None else len(images) if images is not None else 0
    a, b = [np.empty(0, np.int64)], [np.empty(0, np.int64)]
    group = np.arange(n)
    if images is not None and n:
        _, first, inverse = np.unique(pixel_hashes(images), return_index=True, return_inverse=True)
        group = first[inverse.ravel()].astype(np.int64)
        same = group != np.arange(n)
        a.append(np.flatnonzero(same))
        b.append(group[same])
    threshold = float("nan")
    if embeddings is not None and n > 1:
        k = min(check_int(k, "k", low=1), n - 1)
        dist, idx = near_neighbours(embeddings, k=k) if neighbours is None else neighbours
        dist, idx = np.asarray(dist)[:, :k], np.asarray(idx)[:, :k]
        threshold = near_threshold(dist[:, 0], factor=factor)
        close = dist <= threshold
        a.append(np.repeat(np.arange(n), close.sum(1)))
        b.append(idx[close])
    a_all, b_all = np.concatenate(a), np.concatenate(b)
    lo, hi = np.minimum(a_all, b_all), np.maximum(a_all, b_all)
    pairs = np.unique(np.stack([lo, hi], 1), axis=0) if len(lo) else np.empty((0, 2), np.int64)
    return Duplicates(pairs[:, 0].astype(np.int64), pairs[:, 1].astype(np.int64), group, threshold)
