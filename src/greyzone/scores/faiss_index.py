"""FAISS indexes for the embedding scores, chosen by size: exact (``IndexFlat``) → IVF-Flat → IVF-PQ.

Rows are L2-normalised (cosine) in chunks of ``CHUNK_ROWS`` into one float32 copy: no float64 copy of the
whole ``(N, D)`` array. :func:`greyzone.scores.neighbours.knn` documents the search and its measured recall.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from greyzone.system import usable_cpus

#: ``greyzone.scores.knn(..., exact=None)`` searches exactly up to this many samples and with an IVF index
#: above it. Exact search costs ``N^2 * D`` multiply-adds: ~1 s for 20,000 x 84 on 2 cores, but ~15-30 s
#: for 70,000 x 84.
EXACT_MAX_N = 20_000
#: Above this many samples the IVF index stores product-quantised codes scanned with FAISS's SIMD
#: "fast-scan" kernels and re-ranks the candidates exactly (IVF-PQ + refine; see
#: :func:`greyzone.scores.neighbours.knn`). Below it, IVF-Flat (MNIST's 70,000 keep their results).
PQ_MIN_N = 200_000
#: IVF-PQ settings: lists scanned per query and candidates re-ranked exactly per neighbour wanted.
PQ_NPROBE = 16
PQ_K_FACTOR = 8
#: Rows normalised at a time (bounds the float64 temporaries to CHUNK_ROWS x D).
CHUNK_ROWS = 65_536
#: Queries per FAISS search call (bounds its per-query temporaries; up to this many in one call, as before).
SEARCH_BLOCK = 250_000

#: Default FAISS threads: one per this many samples, up to the usable CPUs. Small problems run on one
#: thread: OpenMP's per-region overhead dominates them, badly so on a busy machine (k-means on 2,000 points
#: took 1.5 s on 2 contended threads and 0.02 s on one).
SAMPLES_PER_THREAD = 5_000


@contextmanager
def faiss_threads(n_threads: int | None, n_samples: int) -> Iterator[Any]:
    """Import faiss and run with ``n_threads`` OpenMP threads (default: one per ``SAMPLES_PER_THREAD``
    samples, at most the usable CPUs), restoring the previous setting afterwards."""
    import faiss

    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(n_threads or max(1, min(usable_cpus(), n_samples // SAMPLES_PER_THREAD)))
    try:
        yield faiss
    finally:
        faiss.omp_set_num_threads(previous)


def unit_rows(x: np.ndarray) -> np.ndarray:
    """L2-normalised float32 copy, computed in float64 (``CHUNK_ROWS`` rows at a time) with each row
    pre-scaled by its largest entry (so tiny or huge vectors neither underflow nor overflow); all-zero rows
    stay zero."""
    out = np.empty(x.shape, np.float32)
    for start in range(0, len(x), CHUNK_ROWS):
        c = np.asarray(x[start:start + CHUNK_ROWS], dtype=np.float64)
        scale = np.abs(c).max(axis=1, keepdims=True)
        c = c / np.where(scale > 0, scale, 1.0)
        norms = np.linalg.norm(c, axis=1, keepdims=True)
        out[start:start + CHUNK_ROWS] = c / np.where(norms > 0, norms, 1.0)
    return out


INDEX_KINDS = ("exact", "ivf-flat", "ivf-pq")


def index_kind(n: int, d: int, *, exact: bool | None = None, exact_max_n: int = EXACT_MAX_N,
               pq_min_n: int = PQ_MIN_N) -> str:
    """The FAISS index :func:`knn` uses for ``n`` samples of ``d`` dimensions: ``"exact"`` when ``exact``
    is True, or it is None and ``n <= exact_max_n``; else ``"ivf-pq"`` when ``n > pq_min_n`` and ``d`` has a
    product-quantiser split (:func:`pq_subquantizers`), else ``"ivf-flat"``."""
    if exact or (exact is None and n <= exact_max_n):
        return "exact"
    return "ivf-pq" if n > pq_min_n and pq_subquantizers(d) else "ivf-flat"


def pq_subquantizers(d: int) -> int | None:
    """Sub-vectors of the product quantiser for ``d`` dimensions: the largest divisor ``m <= d/2`` (2
    dimensions per 4-bit code, 42 for 84-d), or None when that leaves more than 4 dimensions per code."""
    m = next((m for m in range(max(1, d // 2), 0, -1) if d % m == 0), 1)
    return m if 4 * m >= d else None


def build_index(faiss: Any, x: np.ndarray, kind: str, cosine: bool, nprobe: int | None) -> Any:
    """The trained and filled index of ``kind`` over ``x`` (float32; unit rows for cosine)."""
    n, d = x.shape
    if kind == "exact":
        index = faiss.IndexFlatIP(d) if cosine else faiss.IndexFlatL2(d)
    else:
        nlist = max(1, min(n, round(2 * math.sqrt(n))))
        if kind == "ivf-flat":
            quantizer = faiss.IndexFlatIP(d) if cosine else faiss.IndexFlatL2(d)
            metric = faiss.METRIC_INNER_PRODUCT if cosine else faiss.METRIC_L2
            index = ivf = faiss.IndexIVFFlat(quantizer, d, nlist, metric)
        else:  # L2 on unit vectors ranks like cosine; the refine stage holds the exact vectors
            index = faiss.index_factory(d, f"IVF{nlist},PQ{pq_subquantizers(d)}x4fs,RFlat", faiss.METRIC_L2)
            ivf = faiss.extract_index_ivf(index)
            faiss.downcast_index(index).k_factor = PQ_K_FACTOR
        ivf.cp.seed = 0
        ivf.cp.niter = 10
        ivf.cp.min_points_per_centroid = 1  # silences FAISS's "too few training points" warning
        n_train = min(n, 40 * nlist)
        train = np.sort(np.random.default_rng(0).choice(n, size=n_train, replace=False))
        index.train(x[train])
        ivf.nprobe = min(nprobe or (8 if kind == "ivf-flat" else PQ_NPROBE), nlist)
    index.add(x)
    return index

