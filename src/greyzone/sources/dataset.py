"""In-memory dataset: images and labels per split, samples identified by ``(split, index)``."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from greyzone.errors import ParameterError

SPLITS: tuple[str, ...] = ("train", "test")


@dataclass(frozen=True)
class Split:
    """One split. ``index[i]`` is the sample's original 0-based position in its source (never a random id)."""

    name: str
    images: np.ndarray  # (N, H, W) uint8, grey
    labels: np.ndarray  # (N,) int64 in [0, n_classes)
    index: np.ndarray  # (N,) int64, strictly increasing
    files: tuple[str, ...] | None = None  # source file per sample (image folders only)

    def __post_init__(self) -> None:
        n = len(self.images)
        if self.images.ndim != 3 or self.images.dtype != np.uint8:
            raise ParameterError(
                f"split {self.name!r}: images must be (N, H, W) uint8, got {self.images.shape} "
                f"{self.images.dtype}"
            )
        if self.labels.shape != (n,) or self.index.shape != (n,):
            raise ParameterError(
                f"split {self.name!r}: {n} images but {len(self.labels)} labels and {len(self.index)} indices"
            )

    def __len__(self) -> int:
        return len(self.labels)

    def head(self, limit: int | None) -> Split:
        """The first ``limit`` samples (all when ``limit`` is None)."""
        if limit is None or limit >= len(self):
            return self
        files = self.files[:limit] if self.files is not None else None
        return Split(self.name, self.images[:limit], self.labels[:limit], self.index[:limit], files)


@dataclass(frozen=True)
class Dataset:
    """A named dataset: class names and its splits (``train`` required, ``test`` usual)."""

    name: str
    classes: tuple[str, ...]
    splits: dict[str, Split] = field(default_factory=dict)
    source: str = ""  # where it was read from, for the dataset card
    notes: tuple[str, ...] = ()  # how the pixels were converted (image folders), logged and stored

    def head(self, limit: int | None) -> Dataset:
        return Dataset(self.name, self.classes, {k: s.head(limit) for k, s in self.splits.items()},
                       self.source, self.notes)

    @property
    def n_classes(self) -> int:
        return len(self.classes)
