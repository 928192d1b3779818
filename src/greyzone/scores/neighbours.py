"""Embedding-space scores: k nearest neighbours, uniqueness, representativeness, neighbour label agreement.

``embeddings`` is ``(N, D)`` real (the LeNet-5 84-d penultimate layer). Cosine geometry unless stated: rows
are L2-normalised first; an all-zero row stays zero, so its cosine similarity to everything is 0 (distance 1).
Neighbour search and k-means use FAISS (``faiss-cpu``) and never build an ``N x N`` matrix, nor a float64
copy of the whole ``(N, D)`` array; the index is chosen by size (:mod:`greyzone.scores.faiss_index`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from greyzone.errors import ParameterError, ParameterTypeError
from greyzone.scores.faiss_index import (
    CHUNK_ROWS,
    EXACT_MAX_N,
    PQ_MIN_N,
    SEARCH_BLOCK,
    build_index,
    faiss_threads,
    index_kind,
    unit_rows,
)
from greyzone.validation import (
    as_float_matrix,
    as_int_array,
    as_labels,
    as_numeric_1d,
    check_bool,
    check_int,
    check_k,
    check_option,
    check_positive_int,
    check_seed,
    check_shape,
)

METRICS = ("cosine", "euclidean")

#: Cosine distances below this are float32 rounding (unit-vector dot products over ~100 dims) and become 0.
COSINE_EPS = 1e-6

#: FiftyOne Brain's uniqueness weights for the 3 nearest neighbours.
DEFAULT_WEIGHTS = (0.6, 0.3, 0.1)


def _as_embeddings(embeddings: Any) -> np.ndarray:
    """Finite ``(N, D)``: float32 input stays float32 (no float64 copy of a large array), anything else
    becomes float64; cast to float32 (FAISS's type) only after normalising."""
    dtype = np.float32 if getattr(embeddings, "dtype", None) == np.float32 else np.float64
    return as_float_matrix(embeddings, "embeddings", dtype=dtype)


def _optional_threads(n_threads: Any) -> int | None:
    return None if n_threads is None else check_positive_int(n_threads, "n_threads")


# ------------------------------------------------------------------------------------------------------ knn


def knn(
    embeddings: np.ndarray,
    *,
    k: int,
    metric: str = "cosine",
    exact: bool | None = None,
    nprobe: int | None = None,
    n_threads: int | None = None,
    exact_max_n: int = EXACT_MAX_N,
    pq_min_n: int = PQ_MIN_N,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest *other* samples of every sample.

    Returns ``(distances, indices)``, both ``(N, k)``, each row sorted by increasing distance.
    ``distances`` is float64: for ``metric="cosine"`` the cosine distance ``1 - cos(x_i, x_j)`` clipped to
    ``[0, 2]`` (values below ``COSINE_EPS`` set to 0), for ``metric="euclidean"`` ``||x_i - x_j||`` (float32
    arithmetic: exact duplicates may come out at ~1e-3 times the vectors' norm). ``indices`` is int64 row
    numbers into ``embeddings``. A sample is never its own neighbour, even among exact duplicates: ``k + 1``
    neighbours are searched and the sample's own index is dropped (not "the first column"); if the sample is
    not among them (more than ``k`` duplicates tie at distance 0) the last one is dropped instead.

    The index is chosen by :func:`index_kind` (thresholds ``exact_max_n``, default ``EXACT_MAX_N`` = 20,000,
    and ``pq_min_n``, default ``PQ_MIN_N`` = 200,000):

    * ``"exact"``: ``faiss.IndexFlatIP`` on unit vectors / ``IndexFlatL2``; ``N^2 D`` multiply-adds (70,000
      x 84: 4e11, ~15-30 s on 2 cores).
    * ``"ivf-flat"``: ``IndexIVFFlat`` with ``nlist = round(2 sqrt N)`` lists trained by seeded k-means on at
      most 40 points per list, ``nprobe`` (default 8) lists scanned per query. Measured recall of the 11
      nearest: 0.95 on 70,000 MNIST LeNet-5 embeddings (mean error of the 3 nearest cosine distances 7e-4),
      ~1 on clustered low-dimensional data, poor (~0.4) on structureless random vectors; ~1.5 s at 70,000.
    * ``"ivf-pq"``: FAISS factory ``IVF{nlist},PQ{m}x4fs,RFlat`` (Euclidean on unit vectors for cosine,
      same ranking): the same lists, each vector stored as ``m`` 4-bit codes (:func:`pq_subquantizers`)
      scanned with SIMD fast-scan, ``nprobe`` (default ``PQ_NPROBE`` = 16) lists per query, and the
      ``PQ_K_FACTOR * (k + 1)`` best candidates re-ranked with exact distances, so every returned distance is
      exact. Recall of the 10 nearest other samples against exact search (1,000 seeded queries of the train
      split, ``benchmarks/bench_scale.py``'s synthetic 84-d embeddings, 6/7 train): 0.980 with IVF-Flat at
      100,000 samples, 0.976 with IVF-PQ at 300,000 and 0.955 at 1,000,000 (stage time 34 s and 122 s on
      2 busy cores, within-split plus all-splits search).

    Results are deterministic. The approximations can only miss neighbours, so distances are >= the exact
    ones. Queries run in blocks of at most ``SEARCH_BLOCK`` (bounded temporaries).

    ``n_threads`` (default: one per ``SAMPLES_PER_THREAD`` samples, at most the CPUs this process may use)
    is set for FAISS during the call and restored.
    Requires ``1 <= k < N``.
    """
    x = _as_embeddings(embeddings)
    n = len(x)
    k = check_k(k, n)
    check_option(metric, "metric", METRICS)
    if metric == "euclidean" and np.abs(x).max() > np.finfo(np.float32).max:
        raise ParameterError(f"embeddings must be within the float32 range for Euclidean search, got a "
                             f"largest |value| of {np.abs(x).max():.3g}; rescale them")
    exact = check_bool(exact, "exact", allow_none=True)
    nprobe = None if nprobe is None else check_positive_int(nprobe, "nprobe")
    n_threads = _optional_threads(n_threads)
    kind = index_kind(n, x.shape[1], exact=exact, exact_max_n=check_int(exact_max_n, "exact_max_n", low=0),
                      pq_min_n=check_int(pq_min_n, "pq_min_n", low=0))
    return _knn_impl(x, k, metric, kind, nprobe, n_threads)


def _knn_impl(
    x: np.ndarray, k: int, metric: str, kind: str, nprobe: int | None, n_threads: int | None
) -> tuple[np.ndarray, np.ndarray]:
    cosine = metric == "cosine"
    x = unit_rows(x) if cosine else np.ascontiguousarray(x, dtype=np.float32)
    n, d = x.shape
    with faiss_threads(n_threads, n) as faiss:
        index = build_index(faiss, x, kind, cosine, nprobe)
        scores = np.empty((n, k + 1), np.float32)  # similarities (IP) or squared distances (L2)
        idx = np.empty((n, k + 1), np.int64)
        # equal blocks (none tiny: FAISS's flat search switches kernels below 20 queries); exact: one block
        n_blocks = 1 if kind == "exact" else math.ceil(n / SEARCH_BLOCK)
        for block in np.array_split(np.arange(n), n_blocks):
            lo, hi = block[0], block[-1] + 1
            scores[lo:hi], idx[lo:hi] = index.search(x[lo:hi], k + 1)
        missing = np.flatnonzero((idx < 0).any(axis=1))  # IVF: fewer than k+1 candidates in the lists
        if len(missing):
            exact_index = build_index(faiss, x, "exact", cosine, None)
            scores[missing], idx[missing] = exact_index.search(x[missing], k + 1)
            if kind == "ivf-pq" and cosine:  # the exact fallback gave similarities, not squared distances
                scores[missing] = 2.0 - 2.0 * scores[missing]
        if kind == "ivf-pq" and cosine:
            scores = 1.0 - scores / 2.0  # ||a - b||^2 = 2 - 2 cos(a, b) for unit vectors

    is_self = idx == np.arange(n)[:, None]
    is_self[~is_self.any(axis=1), -1] = True  # self not found (k+ duplicates tie): drop the farthest
    keep = ~is_self
    idx = idx[keep].reshape(n, k).astype(np.int64)
    scores = scores[keep].reshape(n, k).astype(np.float64)
    dist = _cosine_distance(scores) if cosine else np.sqrt(np.maximum(scores, 0.0))
    return dist, idx


def knn_to(base: np.ndarray, queries: np.ndarray, *, k: int, n_threads: int | None = None
           ) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest rows of ``base`` to each row of ``queries`` (cosine), as :func:`knn`'s
    ``(distances, indices)`` (``(Q, k)``, indices into ``base``), with the index :func:`index_kind` picks
    for ``len(base)``; queries run in blocks of ``CHUNK_ROWS``. Requires ``1 <= k <= len(base)``."""
    b, q = _as_embeddings(base), _as_embeddings(queries)
    if b.shape[1] != q.shape[1]:
        raise ParameterError(f"queries must have the {b.shape[1]} columns of base, got {q.shape[1]}")
    k = check_int(k, "k", low=1, high=len(b), note=f"base has {len(b)} rows")
    kind = index_kind(len(b), b.shape[1])
    b = unit_rows(b)
    with faiss_threads(_optional_threads(n_threads), len(q)) as faiss:
        index = build_index(faiss, b, kind, True, None)
        sim = np.empty((len(q), k), np.float32)
        idx = np.empty((len(q), k), np.int64)
        for lo in range(0, len(q), CHUNK_ROWS):
            hi = lo + CHUNK_ROWS
            sim[lo:hi], idx[lo:hi] = index.search(unit_rows(q[lo:hi]), k)
        missing = np.flatnonzero((idx < 0).any(axis=1))
        if len(missing):
            sim[missing], idx[missing] = build_index(faiss, b, "exact", True, None).search(
                unit_rows(q[missing]), k)
            if kind == "ivf-pq":
                sim[missing] = 2.0 - 2.0 * sim[missing]
    if kind == "ivf-pq":
        sim = 1.0 - sim / 2.0
    return _cosine_distance(sim), idx


def _cosine_distance(similarity: np.ndarray) -> np.ndarray:
    dist = np.clip(1.0 - similarity.astype(np.float64), 0.0, 2.0)
    dist[dist < COSINE_EPS] = 0.0
    return dist


# ----------------------------------------------------------------------------------------------- uniqueness


def uniqueness(
    embeddings: np.ndarray,
    *,
    k: int = 3,
    weights: Sequence[float] | None = None,
    neighbours: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """FiftyOne-style uniqueness: how far a sample is from its nearest neighbours.

    ``u_i = sum_r w_r d_i(r) / max_j sum_r w_r d_j(r)`` where ``d_i(r)`` is the cosine distance to the
    ``r``-th nearest *other* sample (``r = 1..k``) and ``w = weights`` (``len(weights) == k``, >= 0, not
    all 0; default: FiftyOne's ``(0.6, 0.3, 0.1)`` for ``k = 3``, equal weights ``1/k`` for other ``k``).

    In ``[0, 1]``: 1 for the most isolated sample of the array, 0 for exact duplicates (all 0 if every
    sample has ``k`` duplicates). **Higher = more unique / isolated** (outliers, rare styles; not necessarily
    wrong). Scores are relative to the array's maximum, so they are not comparable across arrays.

    Unlike FiftyOne Brain's ``_compute_uniqueness``, which queries ``K + 1`` neighbours from an index that
    already excludes the sample and then drops column 0 (``dists[:, 1:]``), this uses the true nearest
    neighbours ``1..k``: FiftyOne skips the first real neighbour, so a sample with one near-duplicate still
    scores as unique there.

    ``neighbours``: a precomputed ``knn(embeddings, k=k2, metric="cosine")`` result with ``k2 >= k`` (its
    first ``k`` columns are used); ``embeddings`` is then only used to check ``N``.
    """
    x = _as_embeddings(embeddings)
    n = len(x)
    k = check_k(k, n)
    if weights is None:
        weights = DEFAULT_WEIGHTS if k == len(DEFAULT_WEIGHTS) else (1.0 / k,) * k
    w = as_numeric_1d(weights, "weights", low=0, allow_inf=False)
    if len(w) != k or w.sum() <= 0:
        raise ParameterError(f"weights must be {k} numbers >= 0 (one per neighbour, k={k}), not all 0, got "
                             f"{list(weights)!r}")
    if neighbours is None:
        dist, _ = knn(x, k=k, metric="cosine")
    else:
        dist = _neighbour_distances(neighbours, n, k)
    raw = dist[:, :k] @ w
    top = raw.max()
    return raw / top if top > 0 else np.zeros(n)


def _neighbour_distances(neighbours: Any, n: int, k: int) -> np.ndarray:
    """The distances of a precomputed ``knn()`` result, checked against ``n`` samples and ``k``."""
    if not isinstance(neighbours, tuple | list) or len(neighbours) != 2:
        raise ParameterTypeError(f"neighbours must be the (distances, indices) pair returned by knn(), got "
                                 f"a {type(neighbours).__name__}")
    dist = as_float_matrix(neighbours[0], "neighbours distances", min_cols=k, low=0, high=2 + 1e-6)
    if len(dist) != n:
        raise ParameterError(f"neighbours distances must have one row per sample ({n}), got shape "
                             f"{dist.shape}")
    check_shape(neighbours[1], "neighbours indices", dist.shape)
    unsorted = (np.diff(dist, axis=1) < -1e-6).any(axis=1)
    if unsorted.any():
        raise ParameterError(f"neighbours distances must be sorted ascending in each row, got row "
                             f"{int(np.flatnonzero(unsorted)[0])} unsorted")
    return dist


# --------------------------------------------------------------------------------------- representativeness


def default_n_clusters(n: int) -> int:
    """``max(2, min(50, round(sqrt(N/10))))`` capped at ``N``: 2 at N=30, 26 at N=7,000, 50 at N>=24,503."""
    return max(1, min(n, max(2, min(50, round(math.sqrt(n / 10))))))


def representativeness(
    embeddings: np.ndarray,
    *,
    n_clusters: int | None = None,
    normalize: str = "global",
    random_state: int = 0,
    n_iter: int = 25,
    n_threads: int | None = None,
) -> np.ndarray:
    """Closeness to the nearest k-means centre: typical samples score high.

    Rows are L2-normalised and clustered by spherical k-means (``faiss.Kmeans``, ``n_iter`` iterations,
    seed ``random_state``, at most 256 training points per centre; deterministic). With ``d_i`` the cosine
    distance from sample ``i`` to its nearest (unit-norm) centre:

    * ``normalize="global"`` (default): ``r_i = 1 - d_i / max_j d_j``;
    * ``normalize="cluster"``: ``r_i = 1 - d_i / max_{j in cluster(i)} d_j`` (each cluster's farthest member
      gets 0, so every mode of the data has its own scale).

    In ``[0, 1]`` (1 where the max distance is 0). **Higher = more typical; low = atypical / more doubtful.**
    ``n_clusters`` defaults to :func:`default_n_clusters`; ``n_threads`` (default 1, the fastest in
    measurements) is set for FAISS during the call. A tight group of outliers can win its own centre and
    score high; use it alongside :func:`uniqueness`.

    FiftyOne Brain's ``_cluster_ranker`` (``cluster-center`` method) returns the per-cluster normalised
    *distance* instead, so its outliers score highest (voxel51/fiftyone#8351, open at the time of writing);
    this function keeps the documented orientation.
    """
    x = _as_embeddings(embeddings)
    n = len(x)
    if n_clusters is None:
        n_clusters = default_n_clusters(n)
    n_clusters = check_int(n_clusters, "n_clusters", low=1, high=n, note=f"there are only {n} samples")
    check_option(normalize, "normalize", ("global", "cluster"))
    random_state = check_seed(random_state, "random_state", high=2**31)
    n_iter = check_positive_int(n_iter, "n_iter")
    n_threads = _optional_threads(n_threads)
    return _representativeness_impl(x, n_clusters, normalize, random_state, n_iter, n_threads)


def _representativeness_impl(
    x: np.ndarray, n_clusters: int, normalize: str, seed: int, n_iter: int, n_threads: int | None
) -> np.ndarray:
    x = unit_rows(x)
    n, d = x.shape
    # one thread by default: the k-means trains on <= 256 points per centre, and its many short parallel
    # loops ran 4-6x slower on 2 threads than on one whenever the machine had other load
    with faiss_threads(n_threads or 1, n) as faiss:
        km = faiss.Kmeans(d, n_clusters, niter=n_iter, seed=seed, spherical=True, min_points_per_centroid=1)
        km.train(x)
        centres = unit_rows(km.centroids)
        index = faiss.IndexFlatIP(d)
        index.add(centres)
        sim, nearest = index.search(x, 1)  # (N, 1)
    dist = _cosine_distance(sim[:, 0])
    if normalize == "global":
        scale = np.full(n, dist.max())
    else:
        cluster_max = np.zeros(n_clusters)
        np.maximum.at(cluster_max, nearest[:, 0], dist)
        scale = cluster_max[nearest[:, 0]]
    safe = np.where(scale > 0, scale, 1.0)
    return np.where(scale > 0, 1.0 - dist / safe, 1.0)


# -------------------------------------------------------------------------------------- knn_label_agreement


def knn_label_agreement(labels: np.ndarray, neighbour_idx: np.ndarray) -> np.ndarray:
    """Fraction of a sample's neighbours that carry its label: ``(1/k) sum_r [label_{nn_r(i)} == label_i]``.

    ``neighbour_idx`` is ``(N, k)`` int, e.g. the indices from :func:`knn`; a row may not contain the sample
    itself. In ``[0, 1]`` in steps of ``1/k``. **Lower = more doubtful** (it sits among another class).
    """
    n = len(np.asarray(neighbour_idx))
    idx = as_int_array(neighbour_idx, "neighbour_idx", ndim=2, low=0, high=n)
    if idx.shape[1] < 1:
        raise ParameterError(f"neighbour_idx must be (N, k) with k >= 1, got shape {idx.shape}")
    y = as_labels(labels, n=n)
    own = idx == np.arange(n)[:, None]
    if own.any():
        row = int(np.flatnonzero(own.any(axis=1))[0])
        raise ParameterError(f"neighbour_idx must not hold the sample itself (pass the indices from knn()), "
                             f"got row {row} containing its own index")
    return (y[idx] == y[:, None]).mean(axis=1)
