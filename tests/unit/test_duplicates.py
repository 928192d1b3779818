"""Exact and near duplicates, within and across splits: planted copies are found, nothing else is."""

from __future__ import annotations

import numpy as np

from greyzone.scores.duplicates import NEAR_FACTOR, find_duplicates, near_threshold
from greyzone.scores.table import score_table


def planted(rng, n_train=80, n_test=40):
    n = n_train + n_test
    images = rng.integers(0, 256, (n, 8, 8), dtype=np.uint8)
    emb = rng.normal(size=(n, 16))
    split = np.array(["train"] * n_train + ["test"] * n_test, dtype=object)
    index = np.r_[np.arange(n_train), np.arange(n_test)]
    images[n_train + 2] = images[5]  # exact copy of train 5 in test (a leak)
    emb[n_train + 2] = emb[5]
    emb[30] = emb[10] + rng.normal(scale=1e-3, size=16)  # near copy within train (other pixels)
    emb[31] = emb[10] + rng.normal(scale=1e-3, size=16)  # and a third member of that group
    images[60] = images[61]  # identical pixels whose embeddings (made independently) differ
    return images, emb, split, index


def test_planted_duplicates_are_found_and_nothing_else(rng):
    images, emb, split, index = planted(rng)
    d = find_duplicates(emb, images=images)
    dup_of, cross = d.columns(split, index)
    expected = {82: "train:5", 30: "train:10", 31: "train:10", 61: "train:60"}
    assert {i: v for i, v in enumerate(dup_of) if v} == expected
    assert set(np.flatnonzero(cross)) == {5, 82}  # both sides of the leak
    assert set(np.flatnonzero(d.exact)) == {5, 82, 60, 61}
    assert set(np.flatnonzero(d.has_duplicate)) == {5, 82, 10, 30, 31, 60, 61}
    assert d.counts(split) == {"samples_with_duplicates": 7, "exact": 4, "near_only": 3, "pairs": 5,
                               "cross_split_samples": 2, "cross_split_pairs": 1}


def test_links_are_not_chained_but_identical_pixels_are_one_group(rng):
    from greyzone.scores import knn

    angles = np.array([0.0, 0.1, 0.2, 2.0, 3.5, 5.0])  # 0 — 1 — 2 a chain: 0 and 2 are not close
    emb = np.stack([np.cos(angles), np.sin(angles)], 1)
    median = np.median(knn(emb.astype(np.float32), k=1)[0][:, 0])
    d = find_duplicates(emb, factor=0.01 / median)  # threshold 0.01: 1 − cos 0.1 = 0.005, 1 − cos 0.2 = 0.02
    assert np.isclose(d.threshold, 0.01)
    dup_of, _ = d.columns(np.array(["train"] * 6), np.arange(6))
    assert list(dup_of) == ["", "train:0", "train:1", "", "", ""]  # 2 → 1, not chained on to 0
    images = np.zeros((4, 2, 2), np.uint8)
    images[1] = 9
    split = np.array(["test", "train", "test", "train"], dtype=object)  # rows 0, 2, 3 identical
    d = find_duplicates(None, images=images)
    dup_of, cross = d.columns(split, np.arange(4))
    assert list(dup_of) == ["", "", "test:0", "test:0"] and list(cross) == [True, False, True, True]


def test_threshold_is_calibrated_on_the_data(rng):
    images, emb, split, index = planted(rng)
    from greyzone.scores import knn

    d = find_duplicates(emb * 5.0)  # cosine: scale-free, same groups
    dist, _ = knn(emb.astype(np.float32), k=1)
    assert np.isclose(d.threshold, NEAR_FACTOR * np.median(dist[:, 0]), rtol=1e-4)
    assert near_threshold(np.array([1.0, 2.0, np.nan, 3.0]), factor=0.5) == 1.0
    assert set(np.flatnonzero(d.has_duplicate)) == {5, 82, 10, 30, 31}  # no pixels: copies by embedding


def test_no_duplicates_in_distinct_data(rng):
    d = find_duplicates(rng.normal(size=(200, 8)), images=rng.integers(0, 256, (200, 6, 6), dtype=np.uint8))
    assert not d.has_duplicate.any() and d.counts(np.array(["train"] * 200))["pairs"] == 0


def test_score_table_has_the_duplicate_columns(rng):
    images, emb, split, index = planted(rng)
    labels = np.arange(len(split)) % 3
    probs = rng.dirichlet(np.ones(3), size=len(split))
    t = score_table(probs, labels, emb, split=split, index=index, images=images)
    assert t.duplicate_of[82] == "train:5" and t.cross_split_duplicate[82] and not t.cross_split_duplicate[30]
    assert t.attrs["duplicates"]["cross_split_pairs"] == 1
    without_pixels = score_table(probs, labels, emb, split=split, index=index)
    assert without_pixels.duplicate_of[61] == ""  # identical pixels are found only from the pixels


def test_report_section_shows_the_cross_split_pairs(tmp_path, rng):
    import greyzone
    from greyzone.report import render_report
    from greyzone.sources.dataset import Dataset

    images, emb, split, index = planted(rng)
    labels = np.arange(len(split)) % 3
    probs = rng.dirichlet(np.ones(3), size=len(split))
    ds = Dataset.from_arrays(images, labels, split=split)
    ws = greyzone.curate(ds, pred_probs=probs, embeddings=emb, workspace=tmp_path / "w", umap=False, folds=3,
                         progress=False, export=False)
    assert ws.runs.last()["metrics"]["duplicates"]["cross_split_pairs"] == 1
    html = render_report(ws)
    assert 'id="duplicates"' in html and "Duplicates and leaks" in html
    assert "<td>test:2</td><td>1</td><td>train:5</td><td>2</td>" in html  # the planted leak and labels
    assert html.count('<img class="thumb"') == 2


def test_exact_duplicates_of_rgb_images(rng):
    """(N, H, W, 3) pixels (issue 10, item 2): a copy is found; a change in one channel of one pixel is not
    a copy."""
    images = rng.integers(0, 256, (6, 8, 8, 3), dtype=np.uint8)
    images[4] = images[1]
    images[5] = images[2]
    images[5, 3, 3, 2] ^= 1
    split = np.array(["train"] * 3 + ["test"] * 3, dtype=object)
    dup_of, cross = find_duplicates(None, images=images).columns(split, np.r_[np.arange(3), np.arange(3)])
    assert dup_of.tolist() == ["", "", "", "", "train:1", ""] and cross.tolist() == [0, 1, 0, 0, 1, 0]
