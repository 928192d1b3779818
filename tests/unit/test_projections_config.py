import numpy as np
import pytest

from greyzone.config import cache_key
from greyzone.projections import neighbour_preservation, pca_2d, umap_2d, umap_knn


def blobs(rng, n=150):
    centres = rng.normal(size=(3, 12)) * 5
    return (centres[np.arange(n) % 3] + rng.normal(size=(n, 12))).astype(np.float32)


def test_pca_separates_blobs_and_has_fixed_signs(rng):
    x = blobs(rng)
    a = pca_2d(x)
    assert a.shape == (150, 2) and a.dtype == np.float32
    assert np.array_equal(a, pca_2d(x))
    # signs are pinned by the loadings, not by the solver: negated data gives exactly the negated map
    assert np.allclose(pca_2d(-x), -a, atol=1e-3)
    centroids = np.stack([a[np.arange(150) % 3 == k].mean(0) for k in range(3)])
    spread = np.linalg.norm(centroids[:, None] - centroids[None], axis=-1).max()
    assert spread > 3 * a[np.arange(150) % 3 == 0].std()


def test_umap_is_seeded(rng):
    x = blobs(rng, 120)
    a, b = umap_2d(x, random_state=3), umap_2d(x, random_state=3)
    assert a.shape == (120, 2) and np.array_equal(a, b)


def test_projection_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"embeddings must be 2-D, got shape \(5,\)"):
        pca_2d(np.zeros(5))
    with pytest.raises(ValueError, match=r"embeddings must be at least 3 rows long, got shape \(2, 4\)"):
        umap_2d(np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"embeddings must be finite, got embeddings\[1, 0\] = nan"):
        pca_2d(np.array([[0.0, 1.0], [np.nan, 0.0], [1.0, 1.0]]))


def test_cache_key_is_stable_and_sensitive():
    assert cache_key([1, "a"], {"b": 2}) == cache_key([1, "a"], {"b": 2})
    assert cache_key([1, "a"]) != cache_key([1, "b"])


def test_umap_knn_is_umaps_precomputed_form(rng):
    x = blobs(rng, 60)
    idx, dist = umap_knn(x, n_neighbors=5)
    assert idx.shape == dist.shape == (60, 5)
    assert np.array_equal(idx[:, 0], np.arange(60)) and np.all(dist[:, 0] == 0)
    assert np.all(np.diff(dist, axis=1) >= 0)  # nearest first
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    exact = np.argsort(-(unit @ unit.T), axis=1, kind="stable")[:, :5]
    assert np.mean([len(set(a) & set(b)) for a, b in zip(idx, exact, strict=True)]) >= 4.8


@pytest.mark.parametrize("knn", ["faiss", "nndescent"])
def test_umap_keeps_blobs_apart_with_either_knn(rng, knn):
    x = blobs(rng, 150)
    y = umap_2d(x, knn=knn, n_epochs=50, random_state=1)
    assert y.shape == (150, 2) and np.isfinite(y).all()
    blob = np.arange(150) % 3
    d = ((y[:, None] - y[None]) ** 2).sum(-1) + np.diag(np.full(150, np.inf))
    assert (blob[d.argmin(1)] == blob).all()  # every point's nearest on the map is from its own blob
    assert neighbour_preservation(x, y, k=10) > 0.3  # chance within a blob: 10/49


def test_umap_rejects_bad_options(rng):
    with pytest.raises(ValueError, match="knn"):
        umap_2d(blobs(rng, 30), knn="brute")
    with pytest.raises(ValueError, match="n_epochs"):
        umap_2d(blobs(rng, 30), n_epochs=0)


def test_neighbour_preservation_planted(rng):
    line = rng.normal(size=(400, 2))
    high = np.hstack([line, np.zeros((400, 6))]) + 10  # cosine neighbours on a shifted copy of the plane
    assert neighbour_preservation(high, high[:, :2], k=5) > 0.9  # the map keeps the geometry
    shuffled = high[:, :2][rng.permutation(400)]
    assert neighbour_preservation(high, shuffled, k=5) < 0.1  # a scrambled map keeps ~chance (5/400)
    # the subsample is fixed by random_state: same value twice, and only n_sample rows are used
    big = rng.normal(size=(3000, 8))
    a = neighbour_preservation(big, big[:, :2], n_sample=500, random_state=4)
    assert a == neighbour_preservation(big, big[:, :2], n_sample=500, random_state=4)
    with pytest.raises(ValueError, match="same rows"):
        neighbour_preservation(high, shuffled[:10])
