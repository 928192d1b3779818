"""2-D projections of the embeddings: PCA (scikit-learn) and UMAP (umap-learn), both seeded.

Both are fitted on all samples at once, so train and test share one map. UMAP with a ``random_state`` runs
single-threaded and is reproducible. Its kNN graph (``n_neighbors`` over all samples, cosine) comes from
greyzone's FAISS search (:func:`greyzone.scores.knn`) and is handed to umap-learn as ``precomputed_knn``
instead of letting it run NNDescent. numba's compiled code is cached on disk (``NUMBA_CACHE_DIR``, default
``~/.cache/greyzone/numba``, set before umap-learn is first imported) so only the first run on a machine pays
the compilation. :func:`neighbour_preservation` measures how well a map keeps the neighbourhoods.

Above ``UMAP_MAX_FIT`` samples (100,000) UMAP is fitted on a seeded sample of that many rows and every other
row is placed at the weighted mean of the map positions of its ``n_neighbors`` nearest sampled rows (see
:func:`umap_2d`); at or below it the map is unchanged. PCA is fitted on all rows (a covariance of ``D x D``).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from greyzone.validation import as_float_matrix, check_int, check_option, check_positive_int

#: Optimisation epochs of the default map. umap-learn's own default is 200 above 10,000 samples (500 below);
#: measured on 70,000 LeNet-5 embeddings, 100 epochs keep the same share of 84-d neighbours as 200 (see
#: the README's performance section) at half the layout time.
N_EPOCHS = 100

KNN_SOURCES = ("faiss", "nndescent")

#: UMAP is fitted on at most this many samples (a seeded sample above it; the rest are placed). umap-learn's
#: layout runs single-threaded when seeded: ~90 s for 70,000 samples on 2 cores, so all of 1,000,000 would
#: take ~25 min.
UMAP_MAX_FIT = 100_000

#: greyzone 0.1.0's UMAP: umap-learn's own NNDescent kNN and its default epoch count (PCA init as today).
UMAP_0_1_0 = {"knn": "nndescent", "n_epochs": None}


def pca_2d(embeddings: np.ndarray, *, random_state: int = 0) -> np.ndarray:
    """(N, 2) float32: the first two principal components; each axis's sign fixed so its largest |loading|
    is positive (PCA signs are otherwise arbitrary across library versions)."""
    from sklearn.decomposition import PCA

    x = as_float_matrix(embeddings, "embeddings", dtype=np.float32, min_len=3)
    pca = PCA(n_components=2, random_state=random_state).fit(x)
    signs = np.sign(pca.components_[np.arange(2), np.abs(pca.components_).argmax(1)])
    return (pca.transform(x) * signs).astype(np.float32)


def umap_knn(embeddings: np.ndarray, *, n_neighbors: int = 15) -> tuple[np.ndarray, np.ndarray]:
    """The all-samples cosine kNN graph in umap-learn's ``precomputed_knn`` form: ``(indices, distances)``,
    both ``(N, n_neighbors)``, each row starting with the sample itself at distance 0, then its
    ``n_neighbors - 1`` nearest other samples (:func:`greyzone.scores.knn`, FAISS)."""
    from greyzone.scores import knn

    x = as_float_matrix(embeddings, "embeddings", dtype=np.float32, min_len=3)
    n_neighbors = check_positive_int(n_neighbors, "n_neighbors")
    k = min(n_neighbors, len(x)) - 1
    dist, idx = knn(x, k=k)
    own = np.arange(len(x))[:, None]
    return np.hstack([own, idx]), np.hstack([np.zeros((len(x), 1)), dist]).astype(np.float32)


def umap_2d(
    embeddings: np.ndarray,
    *,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    n_epochs: int | None = N_EPOCHS,
    knn: str = "faiss",
    random_state: int = 0,
    max_fit: int | None = UMAP_MAX_FIT,
) -> np.ndarray:
    """(N, 2) float32 UMAP layout with cosine metric; reproducible for a given ``random_state``.

    ``max_fit`` (None: no limit): above this many rows, the map is fitted on ``max_fit`` rows drawn without
    replacement by ``numpy.random.default_rng(random_state)`` (then sorted), and each other row ``i`` is
    placed at ``sum_j w_ij y_j / sum_j w_ij`` over its ``n_neighbors`` nearest sampled rows ``j`` (cosine,
    :func:`greyzone.scores.neighbours.knn_to`), with UMAP-style membership weights ``w_ij = exp(-(d_ij -
    d_i1) / s_i)``, ``d_i1`` the nearest distance and ``s_i`` the row's mean of ``d_ij - d_i1`` (umap-learn's
    ``transform`` starts from the same kind of weighted mean; it then runs more epochs, and it is not
    available with a precomputed kNN graph). At or below ``max_fit`` rows nothing changes.

    ``knn``: ``"faiss"`` hands umap-learn :func:`umap_knn`'s graph; ``"nndescent"`` lets umap-learn search
    (greyzone 0.1.0). ``n_epochs``: ``None`` is umap-learn's default (200 above 10,000 samples, else 500).
    Initialised from PCA rather than umap-learn's default spectral embedding: measured 15 s vs 51 s on 20,000
    LeNet embeddings (a loaded machine), 90.5 s vs 102.4 s on all 70,000 (idle).
    """
    x = as_float_matrix(embeddings, "embeddings", dtype=np.float32, min_len=3)
    check_option(knn, "knn", KNN_SOURCES)
    if n_epochs is not None:
        n_epochs = check_positive_int(n_epochs, "n_epochs")
    n_neighbors = min(check_positive_int(n_neighbors, "n_neighbors"), len(x) - 1)
    if max_fit is not None and len(x) > check_int(max_fit, "max_fit", low=n_neighbors + 2):
        return _umap_sampled(x, max_fit, n_neighbors=n_neighbors, min_dist=min_dist, n_epochs=n_epochs,
                             knn=knn, random_state=random_state)
    umap = _import_umap()
    precomputed = umap_knn(x, n_neighbors=n_neighbors) if knn == "faiss" else (None, None, None)
    reducer = umap.UMAP(
        n_components=2,
        n_neighbors=n_neighbors,
        min_dist=min_dist,
        metric="cosine",
        n_epochs=n_epochs,
        random_state=random_state,
        n_jobs=1,
        init="pca",
        precomputed_knn=precomputed,
        force_approximation_algorithm=knn == "faiss",  # below 4,096 samples it would ignore the graph's width
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*knn_search_index.*")  # no transform() needed
        return reducer.fit_transform(x).astype(np.float32)


def _umap_sampled(x: np.ndarray, max_fit: int, *, n_neighbors: int, random_state: int, **kwargs
                  ) -> np.ndarray:
    """:func:`umap_2d` above ``max_fit`` rows: fit on a seeded sample, place the rest (see there)."""
    from greyzone.scores.neighbours import CHUNK_ROWS, knn_to

    fit = np.sort(np.random.default_rng(random_state).choice(len(x), size=max_fit, replace=False))
    rest = np.setdiff1d(np.arange(len(x)), fit)
    out = np.empty((len(x), 2), np.float32)
    y_fit = umap_2d(x[fit], n_neighbors=n_neighbors, random_state=random_state, max_fit=None, **kwargs)
    out[fit] = y_fit
    dist, idx = knn_to(x[fit], x[rest], k=n_neighbors)
    for lo in range(0, len(rest), CHUNK_ROWS):
        d, i = dist[lo:lo + CHUNK_ROWS], idx[lo:lo + CHUNK_ROWS]
        gap = d - d[:, :1]
        w = np.exp(-gap / np.maximum(gap.mean(axis=1, keepdims=True), 1e-12))  # (B, k), 1 for the nearest
        out[rest[lo:lo + CHUNK_ROWS]] = (np.einsum("bk,bkc->bc", w, y_fit[i]) / w.sum(1, keepdims=True))
    return out


def _import_umap():
    """umap-learn, with numba's on-disk cache in the user cache directory (read when numba is imported).

    umap-learn compiles some of its kernels without ``cache=True`` (``smooth_knn_dist``,
    ``compute_membership_strengths``, the layout epoch: ≈9 s in every new process, measured); their caching
    is switched on here, before their first call, so they too are compiled once per machine.
    """
    os.environ.setdefault("NUMBA_CACHE_DIR", str(Path.home() / ".cache" / "greyzone" / "numba"))
    import umap
    import umap.layouts
    import umap.utils
    from numba.core.caching import NullCache
    from numba.core.registry import CPUDispatcher

    for module in (umap.umap_, umap.layouts, umap.utils):
        for fn in vars(module).values():
            # numba internals: where they change, the kernels are simply compiled per process as before
            if (isinstance(fn, CPUDispatcher) and isinstance(getattr(fn, "_cache", None), NullCache)
                    and not fn.overloads and hasattr(fn, "enable_caching")):
                fn.enable_caching()
    return umap


def neighbour_preservation(
    high: np.ndarray, low: np.ndarray, *, k: int = 15, n_sample: int = 5000, random_state: int = 0
) -> float:
    """Share of each point's ``k`` nearest neighbours in ``high`` (cosine) that are also among its ``k``
    nearest in ``low`` (Euclidean), averaged over a fixed random subsample of ``n_sample`` rows; neighbours
    are searched exactly within the subsample. In ``[0, 1]``, higher = the map keeps more neighbourhoods
    (``k / n_sample`` is chance level)."""
    h = as_float_matrix(high, "high", dtype=np.float64, min_len=3)
    lo = as_float_matrix(low, "low", dtype=np.float64, min_len=3)
    if len(h) != len(lo):
        raise ValueError(f"high and low must have the same rows, got {len(h)} and {len(lo)}")
    n_sample = check_positive_int(n_sample, "n_sample")
    rows = np.sort(np.random.default_rng(random_state).permutation(len(h))[:n_sample])
    k = min(check_positive_int(k, "k"), len(rows) - 1)
    h, lo = h[rows], lo[rows]
    h = h / np.maximum(np.linalg.norm(h, axis=1, keepdims=True), 1e-300)
    d_high = -(h @ h.T)  # cosine distance - 1
    d_low = (lo**2).sum(1)[:, None] - 2 * lo @ lo.T + (lo**2).sum(1)[None, :]
    for d in (d_high, d_low):
        np.fill_diagonal(d, np.inf)
    nn_high = np.argpartition(d_high, k, axis=1)[:, :k]
    nn_low = np.argpartition(d_low, k, axis=1)[:, :k]
    hits = [len(np.intersect1d(a, b, assume_unique=True)) for a, b in zip(nn_high, nn_low, strict=True)]
    return float(np.mean(hits) / k)
