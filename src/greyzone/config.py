"""Run configuration: the one place where every default and its help text live.

Each field is declared with :func:`setting` (default, help, whether it changes results). The CLI reads its
defaults and help from here (:mod:`greyzone.cli.options`), ``from_dict`` rejects unknown keys and wrong types,
and the stage cache keys are :func:`cache_slice` of the config: every field that changes results, so a new
field can never silently reuse stale models.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from dataclasses import dataclass, field
from typing import Any, TypeVar

from greyzone.errors import ParameterError, ParameterTypeError
from greyzone.validation import (
    check_float,
    check_fraction,
    check_instance,
    check_int,
    check_non_negative_int,
    check_option,
    check_positive_int,
    check_seed,
)

T = TypeVar("T")
#: How the IDK-aware evaluation model weights the IDK class (see greyzone.evaluation.scoring).
WEIGHTINGS: tuple[str, ...] = ("sqrt", "inverse", "none")
#: Model families (keys of greyzone.model.architectures.ARCHITECTURES; a test keeps them equal).
ARCHITECTURE_NAMES: tuple[str, ...] = ("cnn", "lenet5", "resnet")
#: The scorer ``"auto"`` resolves to, by the images' channels (1 grey, 3 RGB), at the start of a run.
AUTO_SCORERS: dict[int, str] = {1: "cnn", 3: "resnet"}
#: Scorers: an architecture, or "auto" (:data:`AUTO_SCORERS`).
SCORERS: tuple[str, ...] = ("auto", *ARCHITECTURE_NAMES)
#: Bounds of --image-size (pixels).
IMAGE_SIZE_RANGE: tuple[int, int] = (8, 256)
#: Scorers the curation benchmark compares by default: greyzone 0.1.0's LeNet-5 and the current default.
BENCH_SCORERS: tuple[str, ...] = ("lenet5", "cnn")
#: Embedders: an architecture, or "none" (with given probabilities, which then serve as embeddings).
EMBEDDERS: tuple[str, ...] = (*ARCHITECTURE_NAMES, "none")
#: Training devices; "auto" resolves in greyzone.system.resolve_device.
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda", "mps")
#: Where the model jobs run: local worker processes, or Ray tasks (greyzone.model.ray_backend).
BACKENDS: tuple[str, ...] = ("local", "ray")


def setting(default: Any, help: str, *, affects_results: bool = True, factory: Any = None) -> Any:
    """A config field with its help text; ``affects_results=False`` keeps it out of cache keys."""
    meta = {"help": help, "affects_results": affects_results}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def help_of(cls: type, name: str) -> str:
    return next(f for f in dataclasses.fields(cls) if f.name == name).metadata["help"]


@dataclass(frozen=True)
class TrainConfig:
    """Overrides of the training recipe of every model (Adam, cross-entropy, standardised inputs); ``None``
    keeps each architecture's own value (:mod:`greyzone.model.architectures`)."""

    epochs: int | None = setting(None, "Training epochs per model (default: the architecture's recipe).")
    batch_size: int | None = setting(None, "Mini-batch size (default: the architecture's recipe).")
    lr: float | None = setting(None, "Adam (peak) learning rate (default: the architecture's recipe).")

    def __post_init__(self) -> None:
        if self.epochs is not None:
            check_int(self.epochs, "epochs", low=1)
        if self.batch_size is not None:
            check_int(self.batch_size, "batch_size", low=1)
        if self.lr is not None:
            check_float(self.lr, "lr", low=0, closed="neither")


@dataclass(frozen=True)
class RunConfig:
    """Everything ``greyzone run`` needs."""

    workspace: str = setting("greyzone-mnist", "Workspace directory.", affects_results=False)
    dataset: str = setting("mnist", "mnist, fashion-mnist, imagefolder or hf (a Hugging Face save_to_disk "
                                    "or Parquet folder; needs greyzone[hf]).")
    data_dir: str | None = setting(
        None, "Directory of IDX files (.gz or raw) or image-folder root "
        "(default: $GREYZONE_DATA_DIR, then the cache, then fetch).")
    image_column: str = setting("image", "Image column of --dataset hf.")
    label_column: str = setting("label", "Label column of --dataset hf.")
    limit: int | None = setting(None, "Quick run on the first N samples of each split.")
    folds: int = setting(5, "Cross-fitting folds K.")
    scorer: str = setting("auto", f"Model family trained K times for out-of-sample probabilities, one of "
                                  f"{SCORERS} (auto: cnn for grey images, resnet for RGB; the run records "
                                  f"the one used).")
    image_size: int | None = setting(
        None, f"Working size (pixels, square) the scorer's inputs are resized to, {IMAGE_SIZE_RANGE[0]} to "
        f"{IMAGE_SIZE_RANGE[1]} (default: the scorer's native size, 28 for cnn and lenet5, 32 for resnet); "
        f"the images themselves are kept as they are, except that an image folder or Hugging Face dataset of "
        f"several image sizes is stored at this size (default there: its most common size, at most 64), for "
        f"the models and thumbnails only: the export copies the original files. The embedder uses its own "
        f"native size.")
    embedder: str = setting("lenet5", f"Model trained once on all train images whose penultimate layer feeds "
                                      f"maps and neighbours, one of {EMBEDDERS} ('none' needs --pred-probs: "
                                      f"the probabilities are then the embeddings).")
    pred_probs: str | None = setting(
        None, "Your own OUT-OF-SAMPLE probabilities (.npy in sample order, or Parquet with split, index and "
        "one column per class): the scorer is not trained.")
    embeddings: str | None = setting(
        None, "Your own embeddings (.npy or Parquet, as --pred-probs; needs --pred-probs): the embedder is "
        "not trained.")
    device: str = setting("auto", f"Training device, one of {DEVICES} (auto: CUDA when available, else "
                                  f"CPU).", affects_results=False)
    seed: int = setting(0, "Random seed (same seed, same scores and export bytes).")
    workers: int | None = setting(
        None, "Training processes (default: one per usable core); results do not depend on it.",
        affects_results=False)
    backend: str = setting("local", f"Where the models train, one of {BACKENDS}: local processes, or one Ray "
                                    f"task per model (needs greyzone[ray]); results do not depend on it.",
                           affects_results=False)
    ray_address: str | None = setting(
        None, "Ray cluster of --backend ray: 'auto' or 'HEAD:6379' joins the cluster this machine is a node "
        "of ('ray start'), 'ray://HEAD:10001' one elsewhere through the Ray Client (default: start a local "
        "Ray instance for the run).",
        affects_results=False)
    train: TrainConfig = setting(None, "Training of every model.", factory=TrainConfig)
    umap: bool = setting(True, "Compute the UMAP map.")
    umap_neighbors: int = setting(15, "UMAP's n_neighbors.")
    idk_cap: float = setting(0.02, "At most this fraction of a split is proposed IDK (highest idk_score "
                                   "first).")
    entropy_weight: float = setting(
        1.0, "How much an undecided held-out prediction raises idk_score: 1 = noisy-OR of 'label not "
             "supported' and 'prediction undecided' (finds blends and non-digits), 0.5 favours label flips.")
    export: bool = setting(True, "Write the curated export.", affects_results=False)
    include_proposals: bool = setting(True, "Include auto IDK proposals in the export (human decisions "
                                            "always win).")
    apply_corrections: bool = setting(False, "Export an auto 'confident correction' proposal with its "
                                             "suggested label instead of IDK.", affects_results=False)

    def __post_init__(self) -> None:
        check_seed(self.seed, "seed", high=2**31)  # before anything is written; FAISS and torch take < 2**31
        check_int(self.folds, "folds", low=2, note="cross-fitting needs at least 2 folds")
        if self.limit is not None:
            check_int(self.limit, "limit", low=20, note="samples per split")
        if self.workers is not None:
            check_int(self.workers, "workers", low=1)
        check_int(self.umap_neighbors, "umap_neighbors", low=2)
        check_fraction(self.idk_cap, "idk_cap")
        check_fraction(self.entropy_weight, "entropy_weight")
        check_option(self.scorer, "scorer", SCORERS)
        if self.image_size is not None:
            check_int(self.image_size, "image_size", low=IMAGE_SIZE_RANGE[0], high=IMAGE_SIZE_RANGE[1])
        check_option(self.embedder, "embedder", EMBEDDERS)
        for name in ("pred_probs", "embeddings"):
            if getattr(self, name) is not None:
                check_instance(getattr(self, name), name, str)
        check_option(self.device, "device", DEVICES)
        check_option(self.backend, "backend", BACKENDS)
        if self.ray_address is not None:
            check_instance(self.ray_address, "ray_address", str)
            if self.backend != "ray":
                raise ParameterError(f"ray_address={self.ray_address!r} needs backend='ray' (--backend ray)")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        """Build from a plain dict (``train`` may be a dict); unknown keys and wrong types are errors."""
        return from_dict(cls, d)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def resolved(self, channels: int) -> RunConfig:
        """This config with ``scorer="auto"`` replaced by :data:`AUTO_SCORERS` for images of ``channels``
        channels (1 or 3); other scorers are kept."""
        if self.scorer != "auto":
            return self
        if channels not in AUTO_SCORERS:
            raise ParameterError(f"scorer 'auto' knows images of {sorted(AUTO_SCORERS)} channels, got "
                                 f"{channels}; name a scorer, one of {ARCHITECTURE_NAMES}")
        return dataclasses.replace(self, scorer=AUTO_SCORERS[channels])


@dataclass(frozen=True)
class EvalConfig:
    """Options of :func:`greyzone.evaluation.evaluate.evaluate_workspace`; saved in the result file.

    Seeds used are ``seed, seed + 1, ..., seed + seeds − 1``; all models of one seed share it (the 10- and
    11-output nets then start from the same feature-extractor weights). ``idk_weighting`` and
    ``idk_weight_cap``: see :func:`~greyzone.evaluation.scoring.idk_class_weight`. ``n_blend``, ``n_noise``,
    ``n_fashion``, ``ood_seed``, ``fashion_dir``: the OOD probe sets
    (:func:`greyzone.evaluation.robustness.build_ood_sets`).
    """

    seeds: int = setting(3, "Training seeds per model (mean ± std).")
    seed: int = setting(0, "First seed; seeds used are seed, seed + 1, ...")
    train: TrainConfig = setting(None, "Training of every model.", factory=TrainConfig)
    workers: int = setting(0, "Training processes, one thread each (0 = one per usable core); results do "
                              "not depend on it.", affects_results=False)
    idk_weighting: str = setting("sqrt", f"Cross-entropy weight of the IDK class, one of {WEIGHTINGS}.")
    idk_weight_cap: float = setting(10.0, "Upper bound of the IDK class weight (>= 1).")
    n_blend: int = setting(2000, "Two-digit blends in the OOD probe sets (0 skips them).")
    n_noise: int = setting(2000, "Uniform-noise images in the OOD probe sets (0 skips them).")
    n_fashion: int = setting(10_000, "First N Fashion-MNIST test images in the OOD probe sets (0 skips).")
    ood_seed: int = setting(0, "Seed of the blend and noise probe sets.")
    fashion_dir: str | None = setting(None, "Fashion-MNIST IDX directory (default: the Debian package's).")
    curve_points: int = setting(200, "Points of the stored risk–coverage curve.")

    def __post_init__(self) -> None:
        for name in ("seeds", "curve_points"):
            check_positive_int(getattr(self, name), name)
        for name in ("seed", "ood_seed"):
            check_seed(getattr(self, name), name)
        for name in ("workers", "n_blend", "n_noise", "n_fashion"):
            check_non_negative_int(getattr(self, name), name)
        check_option(self.idk_weighting, "idk_weighting", WEIGHTINGS)
        check_float(self.idk_weight_cap, "idk_weight_cap", low=1)
        if self.fashion_dir is not None:
            check_instance(self.fashion_dir, "fashion_dir", str)
        check_instance(self.train, "train", TrainConfig)  # which checks its own fields

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EvalConfig:
        """Build from a plain dict (``train`` may be a dict of :class:`~greyzone.config.TrainConfig` fields);
        unknown keys, also inside ``train``, raise :class:`~greyzone.errors.ParameterError` naming them."""
        return from_dict(cls, d)


def from_dict(cls: type[T], d: dict[str, Any]) -> T:
    """``cls(**d)`` after rejecting unknown keys and values whose type is not the field's; nested config
    dataclasses may be given as dicts."""
    if not isinstance(d, dict):
        raise ParameterTypeError(f"{cls.__name__} needs a dict, got {type(d).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - set(fields))
    if unknown:
        raise ParameterError(f"unknown {cls.__name__} key(s): {', '.join(unknown)}; "
                             f"known: {', '.join(fields)}")
    hints = typing.get_type_hints(cls)
    out = {}
    for name, value in d.items():
        kind = hints[name]
        if dataclasses.is_dataclass(kind) and isinstance(value, dict):
            value = from_dict(kind, value)
        _check_type(cls, name, value, kind)
        out[name] = value
    return cls(**out)


def _check_type(cls: type, name: str, value: Any, kind: Any) -> None:
    allowed = typing.get_args(kind) if isinstance(kind, types.UnionType) else (kind,)
    for t in allowed:
        if t is type(None) and value is None:
            return
        if t is float and isinstance(value, int | float) and not isinstance(value, bool):
            return
        if t is int and isinstance(value, int) and not isinstance(value, bool):
            return
        if t not in (int, float, type(None)) and isinstance(value, t):
            return
    names = " or ".join("None" if t is type(None) else t.__name__ for t in allowed)
    raise ParameterTypeError(f"{cls.__name__}.{name} must be {names}, got {type(value).__name__} {value!r}")


def cache_slice(cfg: Any, *names: str) -> dict[str, Any]:
    """The fields ``names`` of ``cfg`` (nested configs expanded) without those marked
    ``affects_results=False``: what a stage's cache key is made of."""
    out = {}
    by_name = {f.name: f for f in dataclasses.fields(cfg)}
    for name in names:
        f = by_name[name]
        if not f.metadata.get("affects_results", True):
            raise ParameterError(f"{name} does not affect results and cannot be part of a cache key")
        value = getattr(cfg, name)
        if dataclasses.is_dataclass(value):
            value = cache_slice(value, *(g.name for g in dataclasses.fields(value)
                                         if g.metadata.get("affects_results", True)))
        out[name] = value
    return out


def cache_key(*parts: Any) -> str:
    """Stable short hash of JSON-able parts (config slices plus a stage format version)."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
