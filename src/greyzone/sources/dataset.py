"""In-memory dataset: images and labels per split, samples identified by ``(split, index)``.

Images are uint8, ``(N, H, W)`` grey or ``(N, H, W, 3)`` RGB; one dataset has one shape."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from greyzone.errors import DataError, ParameterError
from greyzone.validation import as_images, as_labels, image_channels  # image_channels re-exported

__all__ = ["SPLITS", "VALIDATION_SPLITS", "Dataset", "Split", "image_channels"]

#: Accepted splits, in sample order. ``validation`` (or ``val``; not both) is treated like ``test``: not
#: trained on, scored by the mean of the K fold models, ranked among its own samples.
SPLITS: tuple[str, ...] = ("train", "validation", "val", "test")
VALIDATION_SPLITS: tuple[str, ...] = ("validation", "val")


@dataclass(frozen=True)
class Split:
    """One split. ``index[i]`` is the sample's original 0-based position in its source (never a random id)."""

    name: str
    images: np.ndarray  # (N, H, W) uint8 grey or (N, H, W, 3) uint8 RGB
    labels: np.ndarray  # (N,) int64 in [0, n_classes)
    index: np.ndarray  # (N,) int64, strictly increasing
    files: tuple[str, ...] | None = None  # source file per sample (files read: image folders, FiftyOne)
    file_sha256: tuple[str, ...] | None = None  # hex SHA-256 of each source file's bytes as read

    def __post_init__(self) -> None:
        n = len(self.images)
        image_channels(self.images, f"split {self.name!r}: images")
        if self.images.dtype != np.uint8:
            raise ParameterError(f"split {self.name!r}: images must be uint8, got {self.images.dtype}")
        if self.labels.shape != (n,) or self.index.shape != (n,):
            raise ParameterError(
                f"split {self.name!r}: {n} images but {len(self.labels)} labels and {len(self.index)} indices"
            )
        for what, v in (("files", self.files), ("file_sha256", self.file_sha256)):
            if v is not None and len(v) != n:
                raise ParameterError(f"split {self.name!r}: {n} images but {len(v)} {what}")

    def __len__(self) -> int:
        return len(self.labels)

    def head(self, limit: int | None) -> Split:
        """The first ``limit`` samples (all when ``limit`` is None)."""
        if limit is None or limit >= len(self):
            return self
        files = self.files[:limit] if self.files is not None else None
        sha = self.file_sha256[:limit] if self.file_sha256 is not None else None
        return Split(self.name, self.images[:limit], self.labels[:limit], self.index[:limit], files, sha)


@dataclass(frozen=True)
class Dataset:
    """A named dataset: class names and its splits (``train`` required, ``test`` usual, ``validation``
    optional; in :data:`SPLITS` order)."""

    name: str
    classes: tuple[str, ...]
    splits: dict[str, Split] = field(default_factory=dict)
    source: str = ""  # where it was read from, for the dataset card
    notes: tuple[str, ...] = ()  # how the pixels were converted (image folders), logged and stored

    def head(self, limit: int | None) -> Dataset:
        return Dataset(self.name, self.classes, {k: s.head(limit) for k, s in self.splits.items()},
                       self.source, self.notes)

    def __post_init__(self) -> None:
        if all(v in self.splits for v in VALIDATION_SPLITS):
            raise ParameterError(f"dataset {self.name!r} has both a 'validation' and a 'val' split; rename "
                                 f"one (both would be the validation split)")
        for s in self.splits.values():
            if len(s) and (s.labels.min() < 0 or s.labels.max() >= len(self.classes)):
                raise ParameterError(f"split {s.name!r}: labels must be in [0, {len(self.classes)}) (one per "
                                     f"class of {self.classes}), got {s.labels.min()}..{s.labels.max()}")
        shapes = {s.name: s.images.shape[1:] for s in self.splits.values()}
        if len(set(shapes.values())) > 1:
            raise ParameterError(f"dataset {self.name!r}: one dataset has one image shape, got "
                                 + ", ".join(f"{k} {v}" for k, v in shapes.items()))

    @classmethod
    def from_arrays(cls, images: np.ndarray, labels: np.ndarray, *, split: np.ndarray | None = None,
                    classes: tuple[str, ...] | None = None, name: str = "arrays") -> Dataset:
        """A dataset from in-memory arrays: ``images`` (N, H, W) uint8 grey or (N, H, W, 3) RGB, ``labels``
        (N,) ints in ``[0, C)``, ``split`` (N,) split names (default all ``"train"``), ``classes`` (default
        ``"0".."C-1"``).
        A sample's ``index`` is its position within its split; samples are ordered by split (train first,
        then :data:`SPLITS` order), so give outputs in that order."""
        images = as_images(images)
        labels = as_labels(labels, n=len(images))
        split = np.full(len(images), "train", object) if split is None else np.asarray(split, dtype=object)
        if split.shape != (len(images),):
            raise ParameterError(f"split must be of length {len(images)} (one entry per image), got shape "
                                 f"{split.shape}")
        unknown = sorted(set(split.tolist()) - set(SPLITS))
        if unknown:
            raise ParameterError(f"split must hold only {SPLITS}, got {unknown}")
        classes = tuple(classes) if classes is not None else tuple(str(c) for c in range(labels.max() + 1))
        splits = {}
        for s in SPLITS:
            rows = np.flatnonzero(split == s)
            if len(rows):
                splits[s] = Split(s, images[rows], labels[rows], np.arange(len(rows), dtype=np.int64))
        return cls(name, classes, splits, source="in-memory arrays")

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def channels(self) -> int:
        """1 (grey) or 3 (RGB), from the images' shape (1 for a dataset without splits)."""
        return next((image_channels(s.images) for s in self.splits.values()), 1)

    def check_trainable(self, folds: int) -> None:
        """Refuse, before anything is written, data the pipeline cannot train on: no train split, fewer than
        two classes in train, or a class with fewer train samples than ``folds`` (stratified cross-fitting
        puts one in every fold). Images of any size train: they are resized to each model's working size
        for the models only (:func:`greyzone.model.train.to_tensor`)."""
        train = self.splits.get("train")
        where = self.source or self.name
        if train is None or len(train) == 0:
            raise DataError(f"{where}: no train samples")
        counts = np.bincount(train.labels, minlength=len(self.classes))
        present = np.flatnonzero(counts)
        if len(present) < 2:
            only = ", ".join(repr(self.classes[c]) for c in present)
            raise DataError(f"{where}: the train split holds one class only ({only}); greyzone needs at "
                            f"least two classes to train a classifier")
        few = [c for c in present if counts[c] < folds]
        if few:
            c = few[0]
            raise DataError(f"{where}: class {self.classes[c]!r} has {counts[c]} train sample(s), fewer than "
                            f"--folds {folds} (each fold needs one); lower --folds or add images"
                            + (f" ({len(few) - 1} more such class(es))" if len(few) > 1 else ""))
