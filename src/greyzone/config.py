"""Run configuration: one dataclass with every default in one place; unknown keys are rejected."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TrainConfig:
    """LeNet-5 training. Adam, cross-entropy, inputs scaled to [0, 1] then standardised."""

    epochs: int = 6
    batch_size: int = 128
    lr: float = 3e-3
    threads: int = 0  # torch intra-op threads; 0 = all cores


@dataclass(frozen=True)
class RunConfig:
    """Everything ``greyzone run`` needs. ``limit`` keeps the first N samples of each split."""

    workspace: str = "greyzone-mnist"
    dataset: str = "mnist"
    data_dir: str | None = None
    limit: int | None = None
    folds: int = 5
    seed: int = 0
    workers: int | None = None  # training processes (None = one per core); results do not depend on it
    train: TrainConfig = field(default_factory=TrainConfig)
    umap: bool = True
    umap_neighbors: int = 15
    idk_rate_cap: float = 0.02  # at most this fraction of a split is proposed IDK (see greyzone.scores.idk)
    export: bool = True
    include_proposals: bool = True

    def __post_init__(self) -> None:
        if self.folds < 2:
            raise ValueError(f"folds must be >= 2 for cross-fitting, got {self.folds}")
        if self.limit is not None and self.limit < 20:
            raise ValueError(f"limit must be >= 20 samples per split, got {self.limit}")
        if self.train.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.train.epochs}")
        if not 0.0 <= self.idk_rate_cap <= 1.0:
            raise ValueError(f"idk_rate_cap must be in [0, 1], got {self.idk_rate_cap}")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        d = dict(d)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown config key(s): {', '.join(sorted(unknown))}")
        if isinstance(d.get("train"), dict):
            tnames = {f.name for f in dataclasses.fields(TrainConfig)}
            bad = set(d["train"]) - tnames
            if bad:
                raise ValueError(f"unknown train config key(s): {', '.join(sorted(bad))}")
            d["train"] = TrainConfig(**d["train"])
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def cache_key(*parts: Any) -> str:
    """Stable short hash of JSON-able parts (config slices plus a stage format version)."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
