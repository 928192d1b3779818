"""Doubt scores: hand-computed toy cases, invariants, planted outliers/label flips, and bad-input errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.metrics import roc_auc_score

from greyzone.scores import (
    aum,
    cartography,
    default_n_clusters,
    hardness,
    knn,
    knn_label_agreement,
    label_issues,
    logit_margin,
    margin,
    mistakenness,
    representativeness,
    self_confidence,
    uniqueness,
)

CLEANLAB_FEW_EXAMPLES = "ignore:May not flag all label issues:UserWarning"


def _unit(angle_deg: float) -> list[float]:
    a = math.radians(angle_deg)
    return [math.cos(a), math.sin(a)]


def _blobs(rng: np.random.Generator, n_per: int, n_blobs: int, dim: int, scale: float = 10.0) -> np.ndarray:
    """``n_blobs`` tight Gaussian blobs centred on ``scale * e_b`` (well apart in angle)."""
    centres = scale * np.eye(dim)[:n_blobs]
    return np.concatenate([c + rng.standard_normal((n_per, dim)) for c in centres]).astype(np.float32)


# ----------------------------------------------------------------------------------------------- confidence


def test_hardness_hand_computed():
    probs = np.array([[0.25, 0.25, 0.25, 0.25], [1.0, 0.0, 0.0, 0.0], [0.5, 0.5, 0.0, 0.0]])
    h = hardness(probs)
    assert h.dtype == np.float64 and h.shape == (3,)
    np.testing.assert_allclose(h, [math.log(4), 0.0, math.log(2)], atol=1e-12)


def test_mistakenness_hand_computed():
    probs = np.array([[0.9, 0.05, 0.05], [0.9, 0.05, 0.05], [0.4, 0.35, 0.25]])
    labels = np.array([1, 0, 2])
    # wrong & confident: (0.9 + 1)/2; right & confident: (-0.9 + 1)/2; wrong & unsure: (0.4 + 1)/2
    np.testing.assert_allclose(mistakenness(probs, labels), [0.95, 0.05, 0.7])


def test_self_confidence_and_margin_hand_computed():
    probs = np.array([[0.6, 0.3, 0.1], [0.6, 0.3, 0.1], [0.5, 0.5, 0.0]])
    labels = np.array([0, 2, 1])
    np.testing.assert_allclose(self_confidence(probs, labels), [0.6, 0.1, 0.5])
    np.testing.assert_allclose(margin(probs, labels), [0.3, 0.1 - 0.6, 0.0], atol=1e-12)


def test_float32_probs_within_tolerance_are_accepted():
    logits = np.random.default_rng(0).standard_normal((50, 10)).astype(np.float32)
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert hardness(probs).dtype == np.float64


@st.composite
def probs_and_labels(draw):
    n = draw(st.integers(1, 12))
    c = draw(st.integers(2, 8))
    raw = draw(arrays(np.float64, (n, c), elements=st.floats(0.0, 1.0)))
    raw[np.arange(n), draw(arrays(np.int64, n, elements=st.integers(0, c - 1)))] += 1e-3  # no all-zero row
    labels = draw(arrays(np.int64, n, elements=st.integers(0, c - 1)))
    return raw / raw.sum(axis=1, keepdims=True), labels


@settings(max_examples=40, deadline=None)
@given(probs_and_labels())
def test_confidence_scores_stay_in_range(data):
    probs, labels = data
    c = probs.shape[1]
    h = hardness(probs)
    assert ((h >= 0) & (h <= math.log(c))).all()
    m = mistakenness(probs, labels)
    assert ((m >= 0) & (m <= 1)).all()
    assert ((m > 0.5) == (probs.argmax(axis=1) != labels)).all()  # max prob >= 1/C > 0, so never exactly 0.5
    mg = margin(probs, labels)
    assert ((mg >= -1) & (mg <= 1)).all()
    assert ((mg > 0) <= (probs.argmax(axis=1) == labels)).all()  # a positive margin means the label wins


@pytest.mark.parametrize(
    ("probs", "error", "match"),
    [
        (np.array([0.5, 0.5]), ValueError, "2-D"),
        (np.array([[0.5, 0.4]]), ValueError, "each row of probs must be a .*row 0 summing to 0.9"),
        (np.array([[1.2, -0.2]]), ValueError, r"probs must be in \[0, 1\], got probs\[0, 0\] = 1.2"),
        (np.array([[np.nan, 1.0]]), ValueError, r"probs must be finite, got probs\[0, 0\] = nan"),
        (np.array([[1.0], [1.0]]), ValueError, "at least 2 columns"),
        (np.array([["a", "b"]]), TypeError, "dtype"),
        (np.zeros((0, 3)), ValueError, r"probs must be non-empty, got shape \(0, 3\)"),
    ],
)
def test_bad_probs_are_rejected(probs, error, match):
    with pytest.raises(error, match=match):
        hardness(probs)


def test_bad_labels_are_rejected():
    probs = np.full((3, 4), 0.25)
    with pytest.raises(ValueError, match="probs has 4 columns but labels go up to 4"):
        mistakenness(probs, np.array([0, 4, 1]))
    with pytest.raises(ValueError, match=r"labels\[2\] = -1"):
        margin(probs, np.array([0, 1, -1]))
    with pytest.raises(TypeError, match="integer"):
        self_confidence(probs, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match=r"labels must be of length 3 \(one entry per sample\), got 2"):
        mistakenness(probs, np.array([0, 1]))


# ----------------------------------------------------------------------------------------------- neighbours


def test_knn_euclidean_hand_computed():
    x = np.array([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0], [7.0, 0.0]])
    dist, idx = knn(x, k=2, metric="euclidean")
    assert dist.dtype == np.float64 and idx.dtype == np.int64 and dist.shape == idx.shape == (4, 2)
    np.testing.assert_array_equal(idx, [[1, 2], [0, 2], [1, 0], [2, 1]])
    np.testing.assert_allclose(dist, [[1, 3], [1, 2], [2, 3], [4, 6]], atol=1e-5)


def test_knn_cosine_hand_computed_and_zero_vector():
    x = np.array([_unit(0), _unit(90), _unit(180), [0.0, 0.0]]) * np.array([[1.0], [3.0], [0.5], [1.0]])
    dist, idx = knn(x, k=1)
    np.testing.assert_allclose(dist[:3, 0], [1.0, 1.0, 1.0], atol=1e-6)  # 0°->90° (1), 90°->0°/180°, ...
    assert idx[0, 0] in (1, 3) and idx[2, 0] in (1, 3)
    np.testing.assert_allclose(dist[3], [1.0], atol=1e-6)  # the zero vector is at distance 1 from everything
    dist, _ = knn(x[:3], k=2)
    np.testing.assert_allclose(dist[0], [1.0, 2.0], atol=1e-6)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
@pytest.mark.parametrize("k", [2, 4, 6])
def test_knn_never_returns_the_sample_itself_among_duplicates(metric, k):
    rng = np.random.default_rng(1)
    x = np.concatenate([np.tile([[1.0, 2.0, 3.0]], (5, 1)), rng.standard_normal((5, 3)) + 10])
    dist, idx = knn(x, k=k, metric=metric)
    assert not (idx == np.arange(len(x))[:, None]).any()
    assert (np.diff(dist, axis=1) >= -1e-9).all()
    for i in range(5):  # the copies' nearest neighbours are the other copies, at distance 0
        n_copies = min(k, 4)
        assert set(idx[i, :n_copies]) <= set(range(5)) - {i}
        np.testing.assert_allclose(dist[i, :n_copies], 0.0, atol=1e-3)


def _round3(v: float) -> float:
    return round(v, 3)


@settings(max_examples=30, deadline=None)
@given(
    x=arrays(  # 3 decimals: exact ties and zero rows are likely, float underflow in the reference is not
        np.float64, st.tuples(st.integers(3, 15), st.integers(1, 5)), elements=st.floats(-10, 10).map(_round3)
    ),
    metric=st.sampled_from(["cosine", "euclidean"]),
)
def test_knn_matches_brute_force(x, metric):
    n = len(x)
    k = n - 1 if n < 5 else 3
    dist, idx = knn(x, k=k, metric=metric)
    if metric == "cosine":
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        u = x / np.where(norms > 0, norms, 1)
        full = np.clip(1 - u @ u.T, 0, 2)
    else:
        full = np.linalg.norm(x[:, None] - x[None], axis=2)
    np.fill_diagonal(full, np.inf)
    np.testing.assert_allclose(dist, np.sort(full, axis=1)[:, :k], atol=2e-3 * (1 + np.abs(x).max()))
    assert not (idx == np.arange(n)[:, None]).any()
    assert all(len(set(row)) == k for row in idx)


def test_knn_many_tied_duplicates_still_excludes_self():
    x = np.ones((12, 4))
    dist, idx = knn(x, k=2)
    assert not (idx == np.arange(12)[:, None]).any()
    np.testing.assert_allclose(dist, 0.0, atol=1e-6)


def test_knn_approximate_matches_exact_on_clustered_data():
    # like real embeddings: clusters of low intrinsic dimension (3) inside a 16-d space
    rng = np.random.default_rng(2)
    x = np.concatenate([
        10 * rng.standard_normal(16) + rng.standard_normal((400, 3)) @ rng.standard_normal((3, 16))
        + 0.05 * rng.standard_normal((400, 16))
        for _ in range(5)
    ]).astype(np.float32)
    d_exact, i_exact = knn(x, k=5, exact=True)
    d_ivf, i_ivf = knn(x, k=5, exact=False)
    recall = np.mean([len(set(a) & set(b)) / 5 for a, b in zip(i_exact, i_ivf, strict=True)])
    assert recall >= 0.95
    assert (d_ivf >= d_exact - 1e-5).all()  # IVF can only miss neighbours, never find closer ones
    d_again, i_again = knn(x, k=5, exact=False)
    np.testing.assert_array_equal(i_again, i_ivf)  # deterministic
    assert not (i_ivf == np.arange(len(x))[:, None]).any()


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_knn_ivf_falls_back_to_exact_when_scanned_lists_are_short(metric):
    # 1 of ~9 lists scanned cannot supply k + 1 = 20 candidates: those rows are searched exactly
    x = np.random.default_rng(8).standard_normal((20, 5))
    dist, idx = knn(x, k=19, metric=metric, exact=False, nprobe=1)
    for i, row in enumerate(idx):
        assert sorted(row) == [j for j in range(20) if j != i]
    d_exact, _ = knn(x, k=19, metric=metric, exact=True)
    np.testing.assert_allclose(dist, d_exact, atol=1e-5)


def test_knn_restores_the_faiss_thread_setting():
    import faiss

    before = faiss.omp_get_max_threads()
    knn(np.random.default_rng(9).standard_normal((50, 4)), k=3, n_threads=1 if before > 1 else 2)
    assert faiss.omp_get_max_threads() == before


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"k": 4}, ValueError, r"k must be an int in \[1, 4\), got 4; each of the 4 samples has only 3"),
        ({"k": 0}, ValueError, r"k must be an int in \[1, 4\), got 0"),
        ({"k": True}, TypeError, "k must be an int"),
        ({"k": 1.5}, TypeError, "k must be an int"),
        ({"k": 1, "metric": "manhattan"}, ValueError, "metric must be one of"),
        ({"k": 1, "exact": "yes"}, TypeError, "exact"),
        ({"k": 1, "n_threads": 0}, ValueError, "n_threads"),
    ],
)
def test_knn_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        knn(np.eye(4), **kwargs)


def test_knn_bad_embeddings():
    with pytest.raises(ValueError, match="2-D"):
        knn(np.ones(5), k=1)
    with pytest.raises(ValueError, match=r"embeddings must be finite, got embeddings\[0, 1\] = inf"):
        knn(np.array([[1.0, np.inf], [0.0, 1.0]]), k=1)


# Unit vectors at 0°, 60°, 90°, 180°. Cosine distances 1 - cos(angle between):
#   0-60: 0.5   0-90: 1   0-180: 2   60-90: 1 - cos 30° = 1 - sqrt(3)/2   60-180: 1.5   90-180: 1
_C30 = 1 - math.sqrt(3) / 2
_ANGLES = np.array([_unit(a) for a in (0, 60, 90, 180)])


def test_uniqueness_hand_computed_k2():
    # sorted neighbour distances: 0°: (0.5, 1); 60°: (c30, 0.5); 90°: (c30, 1); 180°: (1, 1.5)
    raw = np.array([
        0.75 * 0.5 + 0.25 * 1,
        0.75 * _C30 + 0.25 * 0.5,
        0.75 * _C30 + 0.25 * 1,
        0.75 * 1 + 0.25 * 1.5,
    ])
    u = uniqueness(_ANGLES, k=2, weights=(0.75, 0.25))
    np.testing.assert_allclose(u, raw / raw.max(), atol=1e-6)
    assert u[3] == pytest.approx(1.0)


def test_uniqueness_hand_computed_default_weights_uses_true_first_neighbour():
    # k=3 with (0.6, 0.3, 0.1): 0°: (0.5, 1, 2); 60°: (c30, 0.5, 1.5); 90°: (c30, 1, 1); 180°: (1, 1.5, 2)
    raw = np.array([
        0.6 * 0.5 + 0.3 * 1 + 0.1 * 2,
        0.6 * _C30 + 0.3 * 0.5 + 0.1 * 1.5,
        0.6 * _C30 + 0.3 * 1 + 0.1 * 1,
        0.6 * 1 + 0.3 * 1.5 + 0.1 * 2,
    ])
    np.testing.assert_allclose(uniqueness(_ANGLES), raw / raw.max(), atol=1e-6)
    # FiftyOne's dists[:, 1:] would score 60° with (0.5, 1.5) only, ignoring its close 90° neighbour
    assert uniqueness(_ANGLES)[1] < uniqueness(_ANGLES)[0]


def test_uniqueness_duplicates_score_zero_and_precomputed_neighbours_agree():
    x = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    u = uniqueness(x, k=3)
    np.testing.assert_allclose(u[:4], 0.0, atol=1e-6)
    assert u[4] == pytest.approx(1.0)
    neighbours = knn(x, k=4)
    np.testing.assert_allclose(uniqueness(x, k=3, neighbours=neighbours), u)
    assert (uniqueness(np.ones((5, 3)), k=2) == 0).all()  # all duplicates: no division by zero
    np.testing.assert_allclose(uniqueness(x, k=2), uniqueness(x, k=2, weights=(0.5, 0.5)))  # 1/k default


def test_uniqueness_ranks_planted_outliers_on_top():
    rng = np.random.default_rng(3)
    inliers = _blobs(rng, 200, 3, 16)
    outliers = 10 * rng.standard_normal((10, 16)).astype(np.float32)  # random directions
    x = np.concatenate([inliers, outliers])
    is_outlier = np.r_[np.zeros(len(inliers)), np.ones(len(outliers))]
    u = uniqueness(x)
    assert ((u >= 0) & (u <= 1)).all() and u.max() == pytest.approx(1.0)
    assert roc_auc_score(is_outlier, u) >= 0.98


def test_uniqueness_bad_arguments():
    with pytest.raises(ValueError, match=r"weights must be 2 numbers >= 0.*got \[0.6, 0.3, 0.1\]"):
        uniqueness(_ANGLES, k=2, weights=(0.6, 0.3, 0.1))
    with pytest.raises(ValueError, match="not all 0"):
        uniqueness(_ANGLES, k=2, weights=(0.0, 0.0))
    dist, idx = knn(_ANGLES, k=2)
    with pytest.raises(ValueError, match=r"neighbours distances must be a matrix with at least 3 "
                                         r"columns, got shape \(4, 2\)"):
        uniqueness(_ANGLES, k=3, neighbours=(dist, idx))
    with pytest.raises(ValueError, match="sorted ascending"):
        uniqueness(_ANGLES, k=2, weights=(0.5, 0.5), neighbours=(dist[:, ::-1], idx[:, ::-1]))
    with pytest.raises(TypeError, match="distances, indices"):
        uniqueness(_ANGLES, k=2, weights=(0.5, 0.5), neighbours=dist)


def test_representativeness_centre_beats_outlier_and_is_deterministic():
    rng = np.random.default_rng(4)
    blobs = _blobs(rng, 150, 2, 8)
    centre = 10 * np.eye(8)[:1]  # exactly on blob 0's centre direction
    outlier = np.array([[0, 0, 5, 5, 5, 0, 0, 0]], dtype=np.float32)  # far from both blob directions
    x = np.concatenate([blobs, centre, outlier])
    r = representativeness(x, n_clusters=2)
    assert r.dtype == np.float64 and r.shape == (len(x),)
    assert ((r >= 0) & (r <= 1)).all()
    assert r[-2] > 0.95 and r[-1] == pytest.approx(0.0)  # centre ~1; the outlier is the farthest point
    assert r[-2] > np.median(r) > r[-1]
    np.testing.assert_array_equal(r, representativeness(x, n_clusters=2))
    per_cluster = representativeness(x, n_clusters=2, normalize="cluster")
    assert ((per_cluster >= 0) & (per_cluster <= 1)).all() and (per_cluster == 0).sum() >= 2
    assert per_cluster[-2] > 0.95


def test_representativeness_defaults_and_errors():
    assert [default_n_clusters(n) for n in (1, 3, 30, 7_000, 70_000)] == [1, 2, 2, 26, 50]
    x = np.random.default_rng(5).standard_normal((30, 4))
    assert representativeness(x).shape == (30,)
    with pytest.raises(ValueError, match=r"n_clusters must be an int in \[1, 30\], got 31"):
        representativeness(x, n_clusters=31)
    with pytest.raises(ValueError, match="normalize"):
        representativeness(x, normalize="local")
    with pytest.raises(TypeError, match="random_state"):
        representativeness(x, random_state=0.5)


def test_knn_label_agreement_hand_computed():
    labels = np.array([0, 0, 0, 1])
    idx = np.array([[1, 2], [0, 3], [0, 1], [0, 1]])
    np.testing.assert_allclose(knn_label_agreement(labels, idx), [1.0, 0.5, 1.0, 0.0])


def test_knn_label_agreement_errors():
    labels = np.array([0, 0, 1])
    with pytest.raises(ValueError, match="neighbour_idx must not hold the sample itself.*got row 1"):
        knn_label_agreement(labels, np.array([[1], [1], [0]]))
    with pytest.raises(ValueError, match=r"neighbour_idx must be in \[0, 3\), got neighbour_idx\[1, 0\] = 3"):
        knn_label_agreement(labels, np.array([[1], [3], [0]]))
    with pytest.raises(ValueError, match="labels must be of length 3 .*got 2 entries"):
        knn_label_agreement(labels[:2], np.array([[1], [2], [0]]))
    with pytest.raises(TypeError, match="integer"):
        knn_label_agreement(labels, np.array([[1.0], [2.0], [0.0]]))


# --------------------------------------------------------------------------------------------- label_issues


def _noisy_probs(rng: np.random.Generator, n: int, c: int, n_flips: int):
    """A decent classifier's probabilities for true labels; given labels with ``n_flips`` planted flips."""
    true = rng.integers(0, c, n)
    logits = 3.0 * np.eye(c)[true] + rng.standard_normal((n, c))
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    flipped = rng.choice(n, n_flips, replace=False)
    given = true.copy()
    given[flipped] = (true[flipped] + rng.integers(1, c, n_flips)) % c
    return probs, given, flipped


def test_label_issues_finds_planted_flips():
    rng = np.random.default_rng(6)
    probs, labels, flipped = _noisy_probs(rng, 1500, 5, 75)
    res = label_issues(probs, labels)
    assert res.method == "prune_by_noise_rate"
    assert res.is_issue.dtype == bool and res.is_issue.shape == (1500,)
    recall = res.is_issue[flipped].mean()
    precision = np.isin(np.flatnonzero(res.is_issue), flipped).mean()
    assert recall >= 0.8 and precision >= 0.7, (recall, precision)
    np.testing.assert_allclose(res.label_quality, self_confidence(probs, labels))
    np.testing.assert_array_equal(res.suggested_label, probs.argmax(axis=1))
    is_flip = np.isin(np.arange(1500), flipped)
    assert roc_auc_score(is_flip, 1 - res.label_quality) >= 0.95


@pytest.mark.filterwarnings(CLEANLAB_FEW_EXAMPLES)
def test_label_issues_absent_class_and_tiny_n_do_not_crash():
    rng = np.random.default_rng(7)
    probs, labels, _ = _noisy_probs(rng, 200, 10, 10)
    labels[labels == 9] = 0  # class 9 never appears as a label
    res = label_issues(probs, labels)
    assert res.method == "prune_by_noise_rate" and res.is_issue.shape == (200,)
    probs, labels, _ = _noisy_probs(rng, 30, 10, 3)
    res = label_issues(probs, labels)
    assert res.is_issue.shape == (30,) and ((res.label_quality >= 0) & (res.label_quality <= 1)).all()


def test_label_issues_falls_back_with_a_single_class():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    res = label_issues(probs, np.array([0, 0, 0]))
    assert res.method.startswith("predicted_neq_given (fallback")
    np.testing.assert_array_equal(res.is_issue, [False, True, False])
    res = label_issues(probs[:1], np.array([1]))
    np.testing.assert_array_equal(res.is_issue, [True])
    np.testing.assert_allclose(res.label_quality, [0.1])


def test_label_issues_bad_arguments():
    probs = np.full((4, 2), 0.5)
    with pytest.raises(ValueError, match="filter_by"):
        label_issues(probs, np.array([0, 1, 0, 1]), filter_by="magic")
    with pytest.raises(ValueError, match=r"probs has 2 columns but labels go up to 2 \(labels\[2\]\)"):
        label_issues(probs, np.array([0, 1, 2, 1]))


# ------------------------------------------------------------------------------------------------- dynamics


def test_aum_and_logit_margin_hand_computed():
    np.testing.assert_allclose(aum(np.array([[1.0, 2.0, 3.0], [-1.0, -2.0, 0.0]])), [2.0, -1.0])
    logits = np.array([[2.0, 1.0, 0.0], [2.0, 1.0, 0.0]])
    np.testing.assert_allclose(logit_margin(logits, np.array([0, 2])), [1.0, -2.0])
    epochs = np.stack([logit_margin(logits, np.array([0, 2])), logit_margin(logits + 1, np.array([0, 2]))], 1)
    np.testing.assert_allclose(aum(epochs), [1.0, -2.0])


def test_cartography_hand_computed():
    conf, var = cartography(np.array([[0.2, 0.4, 0.6], [1.0, 1.0, 1.0]]))
    np.testing.assert_allclose(conf, [0.4, 1.0])
    np.testing.assert_allclose(var, [math.sqrt(0.08 / 3), 0.0])  # population std: sum of squares / E
    res = cartography(np.array([[0.0, 1.0]]))
    assert res.confidence[0] == 0.5 and res.variability[0] == 0.5


def test_dynamics_bad_inputs():
    with pytest.raises(ValueError, match="2-D"):
        aum(np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match=r"p_label must be in \[0, 1\], got p_label\[0, 1\] = 1.5"):
        cartography(np.array([[0.5, 1.5]]))
    with pytest.raises(ValueError, match=r"p_label must be finite, got p_label\[0, 1\] = nan"):
        cartography(np.array([[0.5, np.nan]]))
    with pytest.raises(ValueError, match=r"logits must be a matrix with at least 2 columns, got shape \(3"):
        logit_margin(np.ones((3, 1)), np.zeros(3, dtype=int))
