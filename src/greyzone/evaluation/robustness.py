"""Out-of-distribution probe sets for the robustness part of ``greyzone evaluate``.

Three sets, each an ``(n, *image shape)`` uint8 array the evaluated models never saw in training:

* ``fashion_mnist``: the 10,000 Fashion-MNIST test images (Debian package ``dataset-fashion-mnist``);
  skipped, with a note saying why, when the files are absent, the workspace itself is Fashion-MNIST or its
  images are not 28×28 grey.
* ``blend``: pixel blends ``round(α·x_a + (1−α)·x_b)``, ``α ~ U[0.4, 0.6]``, of two clean *test* digits of
  different classes (:func:`greyzone.benchmark.inject.blend_pairs`): ambiguous by construction.
* ``noise``: i.i.d. uniform noise over ``0..255`` (:func:`greyzone.benchmark.inject.noise_images`).

Every set is drawn from a fixed seed, so the same inputs give byte-identical sets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from greyzone.benchmark.inject import blend_pairs, noise_images
from greyzone.errors import DataError
from greyzone.validation import as_images, check_non_negative_int, check_seed

OOD_SETS: tuple[str, ...] = ("fashion_mnist", "blend", "noise")


@dataclass(frozen=True)
class OODSets:
    """The probe sets that could be built (``images``) and, for those skipped, why (``skipped``)."""

    images: dict[str, np.ndarray] = field(default_factory=dict)  # name -> (n, H, W) uint8
    skipped: dict[str, str] = field(default_factory=dict)  # name -> reason
    sources: dict[str, str] = field(default_factory=dict)  # name -> one-line description

    def describe(self) -> dict[str, dict[str, Any]]:
        """JSON-able ``{name: {"n", "source"}}`` or ``{name: {"skipped": reason}}``, in OOD_SETS order."""
        out: dict[str, dict[str, Any]] = {}
        for name in OOD_SETS:
            if name in self.images:
                out[name] = {"n": int(len(self.images[name])), "source": self.sources[name]}
            elif name in self.skipped:
                out[name] = {"skipped": self.skipped[name]}
        return out


def build_ood_sets(digit_images: Any, digit_labels: Any, *, n_blend: int = 2000, n_noise: int = 2000,
                   n_fashion: int = 10_000, seed: int = 0, fashion: bool = True,
                   fashion_dir: str | Path | None = None) -> OODSets:
    """Build the OOD probe sets from clean test digits.

    ``digit_images`` (N, H, W) or (N, H, W, 3) uint8 and ``digit_labels`` (N,) int are the clean test digits
    the blends are made of (at least two classes). ``n_blend`` / ``n_noise``: set sizes (0 skips the set);
    ``n_fashion``: the first ``n_fashion`` Fashion-MNIST test images (all 10,000 by default; 0 skips; skipped
    too when the digits are not 28×28 grey). ``seed``: blends use
    ``seed``, noise ``seed + 1``. ``fashion=False`` skips Fashion-MNIST (e.g. when it *is* the dataset);
    ``fashion_dir`` defaults to the Debian location.
    """
    images = as_images(digit_images, "digit_images")
    n_blend = check_non_negative_int(n_blend, "n_blend")
    n_noise = check_non_negative_int(n_noise, "n_noise")
    n_fashion = check_non_negative_int(n_fashion, "n_fashion")
    seed = check_seed(seed)

    sets: dict[str, np.ndarray] = {}
    skipped: dict[str, str] = {}
    sources: dict[str, str] = {}
    if not fashion:
        skipped["fashion_mnist"] = "disabled (the evaluated dataset is Fashion-MNIST itself)"
    elif not n_fashion:
        skipped["fashion_mnist"] = "n_fashion is 0"
    elif images.shape[1:] != (28, 28):
        skipped["fashion_mnist"] = (f"the dataset's images are {'×'.join(map(str, images.shape[1:]))}, not "
                                    f"Fashion-MNIST's 28×28 grey")
    else:
        from greyzone.sources import load_fashion_mnist

        try:
            ds = load_fashion_mnist(fashion_dir)
        except DataError as e:
            skipped["fashion_mnist"] = f"Fashion-MNIST not available: {e}"
        else:
            test = ds.splits["test"].head(n_fashion)
            sets["fashion_mnist"] = np.array(test.images)  # a writable copy (the IDX reader's is not)
            sources["fashion_mnist"] = f"Fashion-MNIST test split, first {len(test)} images ({ds.source})"

    if n_blend:
        blended, _, _ = blend_pairs(images, digit_labels, n_blend, seed=seed)
        sets["blend"] = blended
        sources["blend"] = (f"blend_pairs of two clean test digits of different classes, alpha in "
                                f"[0.4, 0.6], seed {seed}")
    else:
        skipped["blend"] = "n_blend is 0"
    if n_noise:
        sets["noise"] = noise_images(n_noise, seed=seed + 1, shape=tuple(images.shape[1:]))
        sources["noise"] = f"i.i.d. uniform noise over 0..255, seed {seed + 1}"
    else:
        skipped["noise"] = "n_noise is 0"
    return OODSets(sets, skipped, sources)
