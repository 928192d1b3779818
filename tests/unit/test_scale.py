"""The paths that only large data takes, forced on small arrays by lowering their thresholds: the kNN index
chosen by size (exact → IVF-Flat → IVF-PQ), k-means on a sample, UMAP fitted on a sample, the score table in
Parquet row groups."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from greyzone.projections import umap_2d
from greyzone.scores import knn, representativeness
from greyzone.scores.duplicates import find_duplicates, near_neighbours
from greyzone.scores.faiss_index import index_kind, pq_subquantizers
from greyzone.scores.neighbours import knn_to
from greyzone.scores.table import split_neighbours


def embeddings(n: int = 5000, d: int = 84, seed: int = 0) -> np.ndarray:
    """Clusters of low intrinsic dimension (8) in ``d`` dims, like a network's embeddings."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 3, (10, 8))
    lift = rng.normal(0, 1, (8, d)) / np.sqrt(8)
    z = centres[rng.integers(0, 10, n)] + rng.standard_normal((n, 8))
    return (np.maximum(z @ lift, 0) + 0.05 * rng.standard_normal((n, d))).astype(np.float32)


def recall(found: np.ndarray, exact: np.ndarray) -> float:
    return float(np.mean([len(np.intersect1d(a, b)) / exact.shape[1] for a, b in zip(found, exact,
                                                                                         strict=True)]))


def test_index_kind_follows_the_thresholds():
    assert index_kind(20_000, 84) == "exact"
    assert index_kind(20_001, 84) == "ivf-flat"
    assert index_kind(200_001, 84) == "ivf-pq"
    assert index_kind(10, 84, exact=False, pq_min_n=5) == "ivf-pq"
    assert index_kind(10**6, 84, exact=True) == "exact"
    assert index_kind(300_000, 83) == "ivf-flat"  # a prime dimension has no product-quantiser split
    assert pq_subquantizers(84) == 42 and pq_subquantizers(83) is None and pq_subquantizers(10) == 5


@pytest.mark.parametrize("pq_min_n", [10**9, 0], ids=["ivf-flat", "ivf-pq"])
def test_approximate_knn_recall_against_exact(pq_min_n):
    x = embeddings()
    d_exact, i_exact = knn(x, k=10, exact=True)
    d, i = knn(x, k=10, exact_max_n=0, pq_min_n=pq_min_n)
    assert recall(i, i_exact) >= 0.9
    # the approximation only misses neighbours; IVF-PQ re-ranks exactly, so distances are exact ones
    assert (d >= d_exact - 1e-5).all() and (np.diff(d, axis=1) >= -1e-7).all()
    assert not (i == np.arange(len(x))[:, None]).any()
    d2, i2 = knn(x, k=10, exact_max_n=0, pq_min_n=pq_min_n)
    np.testing.assert_array_equal(i2, i)  # deterministic
    np.testing.assert_array_equal(d2, d)


def test_ivf_pq_distances_are_the_exact_cosine_distances_of_the_pairs_found():
    x = embeddings(3000)
    d, i = knn(x, k=5, exact_max_n=0, pq_min_n=0)
    u = x / np.linalg.norm(x, axis=1, keepdims=True)
    cos = np.einsum("nd,nkd->nk", u, u[i])
    np.testing.assert_allclose(d, np.clip(1 - cos, 0, 2), atol=2e-5)


def test_ivf_pq_euclidean():
    x = embeddings(3000)
    d_exact, i_exact = knn(x, k=5, metric="euclidean", exact=True)
    d, i = knn(x, k=5, metric="euclidean", exact_max_n=0, pq_min_n=0)
    assert recall(i, i_exact) >= 0.9 and (d >= d_exact - 1e-3).all()


def test_knn_to_matches_exact_search_of_queries_against_a_base():
    x = embeddings(4000)
    base, queries = x[:3000], x[3000:]
    d, i = knn_to(base, queries, k=5)
    u = lambda a: a / np.linalg.norm(a, axis=1, keepdims=True)  # noqa: E731
    exact = np.argsort(-(u(queries) @ u(base).T), axis=1)[:, :5]
    assert recall(i, exact) >= 0.99 and d.shape == (1000, 5) and (np.diff(d, axis=1) >= 0).all()


def test_kmeans_trains_on_a_seeded_sample_and_is_deterministic():
    # 4 clusters x 256 points per centre (faiss's cap) = 1,024 training points out of 5,000
    x = embeddings()
    a = representativeness(x, n_clusters=4, random_state=3)
    np.testing.assert_array_equal(a, representativeness(x, n_clusters=4, random_state=3))
    assert not np.array_equal(a, representativeness(x, n_clusters=4, random_state=4))
    # float32 input (no float64 copy) scores like the same values given as float64
    np.testing.assert_allclose(a, representativeness(x.astype(np.float64), n_clusters=4, random_state=3),
                               atol=1e-6)


def test_umap_sampled_above_max_fit_is_deterministic_and_unchanged_below():
    x = embeddings(700, d=16)
    full = umap_2d(x, n_epochs=30, random_state=0)
    np.testing.assert_array_equal(umap_2d(x, n_epochs=30, random_state=0, max_fit=700), full)  # at the limit
    a = umap_2d(x, n_epochs=30, random_state=0, max_fit=300)
    np.testing.assert_array_equal(a, umap_2d(x, n_epochs=30, random_state=0, max_fit=300))
    assert a.shape == (700, 2) and a.dtype == np.float32 and np.isfinite(a).all()
    # the fitted rows are the map of the sample itself; placed rows land near their nearest fitted rows
    fit = np.sort(np.random.default_rng(0).choice(700, size=300, replace=False))
    np.testing.assert_array_equal(a[fit], umap_2d(x[fit], n_epochs=30, random_state=0))
    rest = np.setdiff1d(np.arange(700), fit)
    _, nn = knn_to(x[fit], x[rest], k=1)
    gap = np.linalg.norm(a[rest] - a[fit][nn[:, 0]], axis=1)
    assert np.median(gap) < 0.1 * np.ptp(a, axis=0).max()


def test_near_neighbours_reuse_a_single_split_graph_and_search_across_splits():
    x = embeddings(2000)
    within = knn(x, k=10)
    d, i = near_neighbours(x, np.array(["train"] * 2000), within)
    np.testing.assert_array_equal(i, within[1][:, :3])
    split = np.array(["train"] * 1500 + ["test"] * 500)
    nb = split_neighbours(x, split)
    d2, i2 = near_neighbours(x, split, (nb.distances, nb.indices))  # two splits: searched over all rows
    d_all, i_all = knn(x, k=3)
    np.testing.assert_array_equal(i2, i_all)
    np.testing.assert_allclose(d2, d_all, atol=1e-6)
    assert (split[i2] != split[:, None]).any()  # some nearest neighbours do lie in the other split
    dups = find_duplicates(x, neighbours=(d2, i2))
    assert dups.threshold == pytest.approx(find_duplicates(x).threshold, rel=1e-4)


def test_score_table_parquet_in_row_groups_round_trips(tmp_path, monkeypatch):
    from greyzone.sources.dataset import Dataset
    from greyzone.store.workspace import Workspace

    n = 2500
    rng = np.random.default_rng(0)
    table = pd.DataFrame({
        "sid": np.arange(n), "split": np.where(np.arange(n) < 2000, "train", "test").astype(object),
        "score": np.where(rng.random(n) < 0.1, np.nan, rng.random(n)), "flag": rng.random(n) < 0.5,
        "duplicate_of": np.array([""] * n, dtype=object),
    })
    data = Dataset.from_arrays(np.zeros((n, 2, 2), np.uint8), np.arange(n) % 2)
    ws = Workspace.create(tmp_path / "ws", data)
    monkeypatch.setattr("greyzone.store.workspace.ROW_GROUP", 1000)
    ws.write_scores(table)
    path = ws.layout.scores
    assert pq.ParquetFile(path).metadata.num_row_groups == 3
    back = pd.read_parquet(path)
    assert list(back.columns) == list(table.columns)
    for c in table.columns:
        np.testing.assert_array_equal(back[c].to_numpy(), table[c].to_numpy())
