"""Planted problems: reproducible bytes, exact counts, disjoint kinds, and each kind does what it says."""

from __future__ import annotations

import numpy as np
import pytest

from greyzone.benchmark.inject import KINDS, Injection, blend_pairs, inject_problems, noise_images

N = 1000
PAIRS = ((4, 9), (3, 5), (1, 7))


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Class c images are constant 20·c + 10, so a blend's pixel value tells which classes it mixes."""
    labels = np.arange(N, dtype=np.int64) % 10
    images = np.repeat((20 * labels + 10).astype(np.uint8)[:, None, None], 28, axis=1).repeat(28, axis=2)
    ood_images = np.random.default_rng(99).integers(0, 256, size=(50, 28, 28), dtype=np.uint8)
    return images, labels, ood_images


def _inject(data, seed=0, **overrides) -> Injection:
    images, labels, ood_images = data
    fractions = {"uniform_flip": 0.1, "pair_flip": 0.05, "blend": 0.08, "ood": 0.03} | overrides
    return inject_problems(images, labels, seed=seed, ood_images=ood_images, **fractions)


def test_same_seed_same_bytes_different_seed_differs(data):
    a, b, c = _inject(data, seed=7), _inject(data, seed=7), _inject(data, seed=8)
    for field in ("images", "labels", "kind", "true_labels"):
        assert getattr(a, field).tobytes() == getattr(b, field).tobytes()
    assert a.images.tobytes() != c.images.tobytes()
    assert a.labels.tobytes() != c.labels.tobytes()


def test_input_is_not_modified(data):
    images, labels, _ = data
    before = images.copy(), labels.copy()
    _inject(data)
    assert np.array_equal(images, before[0]) and np.array_equal(labels, before[1])


def test_counts_match_fractions_and_kinds_are_disjoint(data):
    inj = _inject(data)
    assert inj.counts() == {"clean": 740, "flip_uniform": 100, "flip_pair": 50, "blend": 80, "ood": 30}
    assert set(np.unique(inj.kind)) <= set(KINDS)  # one kind per sample: the index sets are disjoint
    assert inj.is_problem.sum() == 260
    assert len(inj) == N and inj.images.shape == (N, 28, 28) and inj.images.dtype == np.uint8


def test_clean_samples_are_untouched(data):
    images, labels, _ = data
    inj = _inject(data)
    clean = inj.kind == "clean"
    assert np.array_equal(inj.images[clean], images[clean])
    assert np.array_equal(inj.labels[clean], labels[clean])
    assert np.array_equal(inj.true_labels[inj.kind != "ood"], labels[inj.kind != "ood"])


def test_uniform_flips_change_the_label_only(data):
    images, labels, _ = data
    inj = _inject(data)
    sel = inj.kind == "flip_uniform"
    assert np.all(inj.labels[sel] != labels[sel])
    assert np.all((inj.labels[sel] >= 0) & (inj.labels[sel] < 10))
    assert np.array_equal(inj.images[sel], images[sel])
    assert len(np.unique((inj.labels[sel] - labels[sel]) % 10)) > 5  # spread over many other classes


def test_pair_flips_swap_within_pairs(data):
    images, labels, _ = data
    inj = _inject(data)
    sel = np.flatnonzero(inj.kind == "flip_pair")
    allowed = {(a, b) for a, b in PAIRS} | {(b, a) for a, b in PAIRS}
    assert {(int(t), int(g)) for t, g in zip(labels[sel], inj.labels[sel], strict=True)} <= allowed
    assert np.array_equal(inj.images[sel], images[sel])
    assert set(labels[sel].tolist()) == {1, 3, 4, 5, 7, 9}  # every paired class gets flips


def test_pair_flip_needs_enough_eligible_samples(data):
    images, labels, _ = data
    with pytest.raises(ValueError, match="only 200 have a label in pairs"):
        inject_problems(images, labels, seed=0, pair_flip=0.3, pairs=((4, 9),))
    with pytest.raises(ValueError, match="pairs must name each class at most once, got class 4 in more"):
        inject_problems(images, labels, seed=0, pair_flip=0.1, pairs=((4, 9), (4, 1)))


def test_blends_mix_two_different_classes_with_alpha_in_range(data):
    images, labels, _ = data
    inj = _inject(data)
    sel = np.flatnonzero(inj.kind == "blend")
    value = {c: 20 * c + 10 for c in range(10)}
    took_partner = 0
    for i in sel:
        img = inj.images[i]
        assert img.min() == img.max()  # constant images blend to a constant image
        v, a = int(img[0, 0]), int(labels[i])
        # some partner class b != a with v = round(α·v_a + (1−α)·v_b), α in [0.4, 0.6]
        partners = [b for b in range(10) if b != a and
                    min(0.4 * value[a] + 0.6 * value[b], 0.6 * value[a] + 0.4 * value[b]) - 0.5 <= v
                    <= max(0.4 * value[a] + 0.6 * value[b], 0.6 * value[a] + 0.4 * value[b]) + 0.5]
        assert partners, f"blend {i}: pixel {v} is not a 40–60% mix of class {a} with another class"
        assert inj.labels[i] == a or inj.labels[i] in partners
        took_partner += int(inj.labels[i] != a)
    assert 0 < took_partner < len(sel)  # the label comes from either side


def test_ood_images_come_from_the_ood_set(data):
    _, _, ood_images = data
    inj = _inject(data)
    sel = np.flatnonzero(inj.kind == "ood")
    flat = {row.tobytes() for row in ood_images}
    assert all(inj.images[i].tobytes() in flat for i in sel)
    assert np.all(inj.true_labels[sel] == -1)
    assert np.all((inj.labels[sel] >= 0) & (inj.labels[sel] < 10))


def test_rejects_bad_requests(data):
    images, labels, _ = data
    with pytest.raises(ValueError, match="ood_images"):
        inject_problems(images, labels, seed=0, ood=0.1)
    with pytest.raises(ValueError, match="fractions must ask for at most the 1000 samples, got .* for 1200"):
        inject_problems(images, labels, seed=0, uniform_flip=0.6, blend=0.6)
    with pytest.raises(ValueError, match=r"blend must be a number in \[0, 1\], got 1.5"):
        inject_problems(images, labels, seed=0, blend=1.5)
    with pytest.raises(TypeError, match=r"images must be an \(N, H, W\) grey or \(N, H, W, 3\) RGB uint8 "
                                        r"array, got dtype float32"):
        inject_problems(images.astype(np.float32), labels, seed=0)
    with pytest.raises(ValueError, match=r"images must be \(N, H, W\) grey .*, got shape \(1000, 784\)"):
        inject_problems(images.reshape(len(images), -1), labels, seed=0)
    with pytest.raises(ValueError, match=r"seed must be an int in \[0, inf\), got -1"):
        inject_problems(images, labels, seed=-1)


def test_no_problems_requested_gives_a_clean_copy(data):
    images, labels, _ = data
    inj = inject_problems(images, labels, seed=3)
    assert inj.counts()["clean"] == N
    assert np.array_equal(inj.images, images) and inj.images is not images


def test_blend_pairs_reproducible_and_different_classes(data):
    images, labels, _ = data
    out, la, lb = blend_pairs(images, labels, 64, seed=1)
    again = blend_pairs(images, labels, 64, seed=1)
    assert out.tobytes() == again[0].tobytes()
    assert np.array_equal(la, again[1]) and np.array_equal(lb, again[2])
    assert out.shape == (64, 28, 28) and out.dtype == np.uint8
    assert np.all(la != lb)
    lo = np.minimum(20 * la + 10, 20 * lb + 10)
    hi = np.maximum(20 * la + 10, 20 * lb + 10)
    assert np.all((out[:, 0, 0] >= lo) & (out[:, 0, 0] <= hi))


def test_noise_images():
    a = noise_images(5, seed=0)
    assert a.shape == (5, 28, 28) and a.dtype == np.uint8
    assert a.tobytes() == noise_images(5, seed=0).tobytes()
    assert a.tobytes() != noise_images(5, seed=1).tobytes()
    assert a.std() > 50  # uniform over 0..255: std ≈ 74
    assert noise_images(2, seed=0, shape=(8, 9)).shape == (2, 8, 9)


def test_default_pairs_ignored_without_pair_flips_on_few_classes():
    images = np.zeros((30, 28, 28), dtype=np.uint8)
    inj = inject_problems(images, np.arange(30) % 3, seed=0, uniform_flip=0.2)
    assert inj.counts()["flip_uniform"] == 6
    assert np.all(inj.labels < 3)


def test_blend_pairs_of_rgb_images(data):
    """RGB images (issue 10, item 2) blend per channel with one alpha per image."""
    images, labels, _ = data
    rgb = np.stack([images, 255 - images, images // 2], axis=-1)
    out, la, lb = blend_pairs(rgb, labels, 16, seed=1)
    grey, _, _ = blend_pairs(images, labels, 16, seed=1)
    assert out.shape == (16, *rgb.shape[1:]) and (la != lb).all()
    np.testing.assert_array_equal(out[..., 0], grey)  # the same draws: channel 0 is the grey blend
