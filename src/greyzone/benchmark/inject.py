"""Plant known problems in a clean dataset, so the curation benchmark can check that greyzone finds them.

Every function takes an explicit integer ``seed`` and draws from one ``numpy.random.Generator`` in a fixed
order: the same inputs and seed give byte-identical outputs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from greyzone.errors import ParameterError
from greyzone.validation import (
    as_images,
    as_labels,
    check_fraction,
    check_int,
    check_non_negative_int,
    check_positive_int,
    check_seed,
    check_shape,
)

KINDS: tuple[str, ...] = ("clean", "flip_uniform", "flip_pair", "blend", "ood")
DEFAULT_PAIRS: tuple[tuple[int, int], ...] = ((4, 9), (3, 5), (1, 7))
BLEND_ALPHA: tuple[float, float] = (0.4, 0.6)


@dataclass(frozen=True, eq=False)
class Injection:
    """A dataset with planted problems; row ``i`` is the (possibly modified) sample ``i`` of the input.

    ``kind[i]`` is one of :data:`KINDS`; each sample carries at most one problem.
    """

    images: np.ndarray  # (N, H, W) or (N, H, W, 3) uint8, a modified copy of the input
    labels: np.ndarray  # (N,) int64, the given (possibly corrupted) labels
    kind: np.ndarray  # (N,) str, one of KINDS
    true_labels: np.ndarray  # (N,) int64, the original labels; -1 where the image was replaced (ood)

    def __post_init__(self) -> None:
        as_images(self.images)
        for name in ("labels", "kind", "true_labels"):
            check_shape(getattr(self, name), name, (len(self.images),))
        unknown = sorted(set(np.unique(self.kind).tolist()) - set(KINDS))
        if unknown:
            raise ParameterError(f"kind must hold only values of {KINDS}, got unknown values {unknown}")

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def is_problem(self) -> np.ndarray:
        """(N,) bool, True where a problem was planted."""
        return self.kind != "clean"

    def counts(self) -> dict[str, int]:
        """Number of samples of each kind, every kind of :data:`KINDS` present (possibly 0)."""
        return {k: int(np.sum(self.kind == k)) for k in KINDS}


# --------------------------------------------------------------------------------------------- helpers
def _partner_table(pairs: Sequence[Sequence[int]], *, n_classes: int) -> np.ndarray:
    """Partner lookup table: ``partner[c]`` is c's pair mate, -1 for unpaired classes."""
    partner = np.full(n_classes, -1, dtype=np.int64)
    for pair in pairs:
        if len(pair) != 2 or pair[0] == pair[1]:
            raise ParameterError(f"each entry of pairs must be (a, b) with a != b, got {pair!r}")
        name = f"each class of pair {tuple(pair)!r}"
        a, b = (check_int(c, name, low=0, high=n_classes, closed="left") for c in pair)
        for c in (a, b):
            if partner[c] != -1:
                raise ParameterError(f"pairs must name each class at most once, got class {c} in more than "
                                     f"one pair of {pairs!r}")
        partner[a], partner[b] = b, a
    return partner


def _round_count(fraction: float, n: int) -> int:
    return math.floor(fraction * n + 0.5)


# --------------------------------------------------------------------------------------------- impl
def _blend_impl(
    rng: np.random.Generator, images: np.ndarray, labels: np.ndarray, idx_a: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Blend ``images[idx_a]`` with random partners of a different class.

    Returns ``(blended (k, H, W) uint8, idx_b)``.
    """
    idx_b = np.empty_like(idx_a)
    la = labels[idx_a]
    for c in np.unique(la):  # sorted: a fixed draw order
        where = np.flatnonzero(la == c)
        idx_b[where] = rng.choice(np.flatnonzero(labels != c), size=len(where), replace=True)
    alpha = rng.uniform(*BLEND_ALPHA, size=len(idx_a)).reshape(-1, *[1] * (images.ndim - 1))  # grey or RGB
    mixed = alpha * images[idx_a].astype(np.float64) + (1.0 - alpha) * images[idx_b].astype(np.float64)
    return np.clip(np.rint(mixed), 0, 255).astype(np.uint8), idx_b


def _need_two_classes(labels: np.ndarray, what: str) -> None:
    if len(np.unique(labels)) < 2:
        raise ParameterError(f"labels must hold at least two classes for {what}, got only "
                             f"{np.unique(labels).tolist()}")


# --------------------------------------------------------------------------------------------- public
def inject_problems(
    images: Any,
    labels: Any,
    *,
    seed: int,
    uniform_flip: float = 0.0,
    pair_flip: float = 0.0,
    pairs: Sequence[Sequence[int]] = DEFAULT_PAIRS,
    blend: float = 0.0,
    ood: float = 0.0,
    ood_images: Any = None,
    n_classes: int | None = None,
) -> Injection:
    """Plant label noise, ambiguous blends and out-of-distribution images in a copy of a clean dataset.

    Each option is a fraction of ``N``; the count is ``round(fraction · N)`` (halves up) and the index sets
    are disjoint (at most one problem per sample). ``n_classes`` defaults to ``labels.max() + 1``.

    * ``uniform_flip`` ("flip_uniform"): the label becomes uniformly one of the ``n_classes − 1`` other
      classes.
    * ``pair_flip`` ("flip_pair"): drawn uniformly among samples whose label is in one of ``pairs`` (so each
      pair gets a share proportional to its number of samples, in expectation), label ``a → b`` and
      ``b → a``.
    * ``blend`` ("blend"): ``image = round(α·x_a + (1−α)·x_b)``, ``α ~ U[0.4, 0.6]``, ``x_a`` the sample's own
      image and ``x_b`` a random *original* image of a different class; the label is ``x_a``'s or ``x_b``'s,
      each with probability 1/2. ``true_labels`` keeps ``x_a``'s label.
    * ``ood`` ("ood"): the image is replaced by a random row of ``ood_images`` (e.g. Fashion-MNIST, same H×W),
      the label is a uniform random class, ``true_labels`` is −1.

    Pair flips are drawn first (they need eligible labels), then the other sets from the remaining samples.
    Raises :class:`~greyzone.errors.ParameterError` (a ``ValueError``) when the fractions ask for more
    samples than exist.
    """
    imgs = as_images(images)
    n = len(imgs)
    if n_classes is not None:
        n_classes = check_positive_int(n_classes, "n_classes")
    labs = as_labels(labels, n=n, n_classes=n_classes)
    seed = check_seed(seed)
    if n_classes is None:
        n_classes = int(labs.max()) + 1 if n else 1
    fractions = {"uniform_flip": uniform_flip, "pair_flip": pair_flip, "blend": blend, "ood": ood}
    fractions = {k: check_fraction(f, k) for k, f in fractions.items()}
    counts = {k: _round_count(f, n) for k, f in fractions.items()}
    if sum(counts.values()) > n:
        raise ParameterError(f"fractions must ask for at most the {n} samples, got {fractions} asking for "
                             f"{sum(counts.values())} problem samples")
    # pairs only matter (and are only checked) when pair flips are asked for: the MNIST default would not fit
    # a dataset with fewer classes
    if counts["pair_flip"]:
        partner = _partner_table(pairs, n_classes=n_classes)
    else:
        partner = np.full(n_classes, -1, dtype=np.int64)
    eligible = np.flatnonzero(partner[labs] != -1)
    if counts["pair_flip"] > len(eligible):
        raise ParameterError(f"pair_flip must ask for at most the samples with a label in pairs, got "
                             f"pair_flip={pair_flip} asking for {counts['pair_flip']} samples but only "
                             f"{len(eligible)} have a label in pairs {tuple(map(tuple, pairs))}")
    if counts["uniform_flip"]:
        check_int(n_classes, "n_classes", low=2, note="uniform_flip needs another class to flip to")
    if counts["blend"]:
        _need_two_classes(labs, "blend")
    oods = None
    if counts["ood"]:
        if ood_images is None:
            raise ParameterError(f"ood_images must be an (M, H, W) uint8 array when ood > 0, got None "
                                 f"(ood={ood})")
        oods = as_images(ood_images, "ood_images")
        if len(oods) == 0 or oods.shape[1:] != imgs.shape[1:]:
            raise ParameterError(f"ood_images must be non-empty with images of shape {imgs.shape[1:]}, got "
                                 f"shape {oods.shape}")

    rng = np.random.default_rng(seed)
    pair_idx = np.sort(rng.choice(eligible, size=counts["pair_flip"], replace=False))
    rest = rng.permutation(np.setdiff1d(np.arange(n), pair_idx))
    bounds = np.cumsum([0, counts["uniform_flip"], counts["blend"], counts["ood"]])
    uni_idx, blend_idx, ood_idx = (np.sort(rest[bounds[i]: bounds[i + 1]]) for i in range(3))

    out_images = imgs.copy()
    out_labels = labs.copy()
    true_labels = labs.copy()
    kind = np.full(n, "clean", dtype=f"<U{max(map(len, KINDS))}")

    out_labels[uni_idx] = (labs[uni_idx] + rng.integers(1, max(n_classes, 2), size=len(uni_idx))) % n_classes
    kind[uni_idx] = "flip_uniform"

    out_labels[pair_idx] = partner[labs[pair_idx]]
    kind[pair_idx] = "flip_pair"

    if len(blend_idx):
        out_images[blend_idx], idx_b = _blend_impl(rng, imgs, labs, blend_idx)
        take_b = rng.random(len(blend_idx)) < 0.5
        out_labels[blend_idx] = np.where(take_b, labs[idx_b], labs[blend_idx])
    kind[blend_idx] = "blend"

    if len(ood_idx) and oods is not None:  # oods is set whenever counts["ood"] > 0
        out_images[ood_idx] = oods[rng.integers(0, len(oods), size=len(ood_idx))]
        out_labels[ood_idx] = rng.integers(0, n_classes, size=len(ood_idx))
        true_labels[ood_idx] = -1
    kind[ood_idx] = "ood"

    return Injection(images=out_images, labels=out_labels, kind=kind, true_labels=true_labels)


def blend_pairs(images: Any, labels: Any, n: int, *, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` ambiguous images, each a blend of two random images of different classes.

    ``image = round(α·x_a + (1−α)·x_b)``, ``α ~ U[0.4, 0.6]``, ``x_a`` uniform over ``images`` (with
    replacement) and ``x_b`` uniform over the images whose label differs from ``x_a``'s.
    Returns ``(blended (n, H, W) uint8, labels_a (n,) int64, labels_b (n,) int64)``.
    """
    imgs = as_images(images)
    labs = as_labels(labels, n=len(imgs))
    n = check_non_negative_int(n, "n")
    seed = check_seed(seed)
    _need_two_classes(labs, "blend_pairs")
    rng = np.random.default_rng(seed)
    idx_a = rng.integers(0, len(imgs), size=n)
    blended, idx_b = _blend_impl(rng, imgs, labs, idx_a)
    return blended, labs[idx_a], labs[idx_b]


def noise_images(n: int, *, seed: int, shape: tuple[int, ...] = (28, 28)) -> np.ndarray:
    """``n`` images of i.i.d. uniform noise over ``0..255``: ``(n, *shape)`` uint8 (an obvious OOD probe);
    ``shape`` ``(H, W)`` grey or ``(H, W, 3)`` RGB."""
    n = check_non_negative_int(n, "n")
    seed = check_seed(seed)
    if not (len(shape) == 2 or (len(shape) == 3 and shape[2] == 3)):
        raise ParameterError(f"shape must be (H, W) or (H, W, 3), got {shape!r}")
    shape = tuple(check_positive_int(s, f"each side of shape {shape!r}") for s in shape)
    return np.random.default_rng(seed).integers(0, 256, size=(n, *shape), dtype=np.uint8)
