"""Bring your own model outputs: out-of-sample probabilities and embeddings from a file or an array.

A file is ``.npy`` (one row per sample in the dataset's sample order: the splits in greyzone's order, train
first, each in original order, *before* ``--limit``) or Parquet (``.parquet`` / ``.pq``) with columns
``split``, ``index`` (the sample's original 0-based position, as greyzone numbers it) and the values: either
one column per class (named by the class names, in any order, or any names, taken in file order) or one
list-valued column (e.g. ``embedding``). Checked before anything is written, each error naming the file:
shape, one row per sample, the number of classes, finite values, and for probabilities entries in [0, 1] and
rows summing to 1 (:data:`greyzone.validation.PROB_ATOL`).

The probabilities must be **out-of-sample** (cross-validated, or from a model that never saw the sample):
in-sample probabilities of a model that memorised its labels rank no label error as doubtful.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from greyzone.errors import DataError, GreyzoneError, ParameterError
from greyzone.sources.dataset import Dataset
from greyzone.validation import as_float_matrix, as_probs

NPY_SUFFIXES = (".npy",)
PARQUET_SUFFIXES = (".parquet", ".pq")
KEY_COLUMNS = ("split", "index")


@dataclass(frozen=True)
class ExternalOutputs:
    """Validated outputs, one row per sample of the dataset they were checked against (sid order).

    ``probs`` (N, C) float32; ``embeddings`` (N, D) float32 or None; ``sources`` maps ``pred_probs`` /
    ``embeddings`` to where they came from (a path, or ``"array"``); ``digests`` to the SHA-256 of the
    validated values (the stage cache key: a changed file retrains nothing stale)."""

    probs: np.ndarray
    embeddings: np.ndarray | None
    sources: dict[str, str]
    digests: dict[str, str]

    def rows(self, keep: np.ndarray) -> ExternalOutputs:
        """The outputs of the rows ``keep`` (e.g. the samples ``--limit`` keeps)."""
        emb = None if self.embeddings is None else self.embeddings[keep]
        return ExternalOutputs(self.probs[keep], emb, self.sources, self.digests)

    def describe(self) -> dict[str, Any]:
        """What the run record stores: source and SHA-256 of each given output."""
        return {k: {"source": self.sources[k], "sha256": self.digests[k]} for k in self.sources}


def _digest(arr: np.ndarray) -> str:
    h = hashlib.sha256(str((arr.shape, arr.dtype.str)).encode())
    h.update(np.ascontiguousarray(arr).data)
    return h.hexdigest()


def sample_keys(dataset: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """``split`` (object) and ``index`` (int64) of every sample, in sid order."""
    splits = list(dataset.splits.values())
    split = np.concatenate([np.full(len(s), s.name, dtype=object) for s in splits]) if splits else \
        np.empty(0, object)
    index = np.concatenate([s.index for s in splits]) if splits else np.empty(0, np.int64)
    return split, index.astype(np.int64)


def _read_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise DataError(f"{path}: not a readable .npy array ({e})") from e


def _read_parquet(path: Path, dataset: Dataset, classes: tuple[str, ...] | None) -> np.ndarray:
    """The value rows of a Parquet file put in sid order by its ``split, index`` columns."""
    import pandas as pd

    try:
        df = pd.read_parquet(path)
    except Exception as e:  # pyarrow raises ArrowInvalid, OSError, ... for a damaged or non-Parquet file
        raise DataError(f"{path}: not a readable Parquet file ({type(e).__name__}: {e})") from e
    missing = [c for c in KEY_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(f"{path}: no column(s) {', '.join(missing)}; a Parquet file of outputs needs 'split' "
                        f"and 'index' (the sample's original 0-based position) and the value columns")
    values = [c for c in df.columns if c not in KEY_COLUMNS]
    if not values:
        raise DataError(f"{path}: no value columns besides split and index")
    split, index = sample_keys(dataset)
    want = pd.MultiIndex.from_arrays([split.astype(str), index])
    try:
        got = pd.MultiIndex.from_arrays([df["split"].astype(str).to_numpy(),
                                         df["index"].to_numpy().astype(np.int64)])
    except (TypeError, ValueError) as e:
        raise DataError(f"{path}: column 'index' must hold integers ({e})") from e
    if got.has_duplicates:
        dup = got[got.duplicated()][0]
        raise DataError(f"{path}: sample {dup[0]}:{dup[1]} has more than one row")
    pos = got.get_indexer(want)
    if (pos < 0).any():
        first = want[int(np.flatnonzero(pos < 0)[0])]
        raise DataError(f"{path}: no row for {int((pos < 0).sum())} of the dataset's {len(want)} samples "
                        f"(first: split {first[0]!r}, index {first[1]})")
    if len(got) > len(want):
        extra = got[want.get_indexer(got) < 0][0]
        raise DataError(f"{path}: {len(got) - len(want)} row(s) name no sample of the dataset (first: split "
                        f"{extra[0]!r}, index {extra[1]})")
    df = df.iloc[pos]
    if len(values) == 1 and df[values[0]].dtype == object:  # one list-valued column
        try:
            return np.stack([np.asarray(v, dtype=np.float64) for v in df[values[0]]])
        except (TypeError, ValueError) as e:
            raise DataError(f"{path}: column {values[0]!r} must hold equal-length numeric lists ({e})") from e
    if classes is not None and sorted(map(str, values)) == sorted(classes):
        values = list(classes)  # columns named by the classes: put them in greyzone's class order
    try:
        return df[values].to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise DataError(f"{path}: value columns must be numeric ({e})") from e


def read_outputs(source: Any, dataset: Dataset, *, what: str) -> tuple[np.ndarray, str]:
    """The rows of ``source`` (a path to ``.npy``/Parquet, or an array) in sid order, and its description.

    ``what`` is ``"pred_probs"`` (class columns are matched by name) or ``"embeddings"``."""
    n = sum(len(s) for s in dataset.splits.values())
    classes = dataset.classes if what == "pred_probs" else None
    if isinstance(source, str | Path):
        path = Path(source)
        if not path.is_file():
            raise DataError(f"{path}: --{what.replace('_', '-')} file does not exist")
        suffix = path.suffix.lower()
        if suffix in NPY_SUFFIXES:
            arr = _read_npy(path)
        elif suffix in PARQUET_SUFFIXES:
            arr = _read_parquet(path, dataset, classes)
        else:
            raise DataError(f"{path}: unknown format {suffix or '(no suffix)'!r}; pass .npy or Parquet "
                            f"({', '.join(PARQUET_SUFFIXES)})")
        where = str(path)
    else:
        arr, where = np.asarray(source), what
    if arr.ndim != 2:
        raise DataError(f"{where}: {what} must be a 2-D array (one row per sample), got shape {arr.shape}")
    if len(arr) != n:
        order = " → ".join(f"{s.name} {len(s):,}" for s in dataset.splits.values())
        raise DataError(f"{where}: {len(arr):,} rows, but the dataset {dataset.name!r} has {n:,} samples; "
                        f"rows must follow the dataset's order ({order}, each in original order)")
    return arr, where


def _source(source: Any) -> str:
    return str(source) if isinstance(source, str | Path) else "array"


def load_outputs(dataset: Dataset, *, pred_probs: Any, embeddings: Any = None) -> ExternalOutputs:
    """Read and check external outputs against ``dataset`` (before any ``--limit``); see the module doc."""
    if pred_probs is None:
        raise ParameterError("--embeddings needs --pred-probs: greyzone trains the scorer's fold models and "
                             "the embedder together, so given embeddings alone would save nothing")
    probs, where = read_outputs(pred_probs, dataset, what="pred_probs")
    if probs.shape[1] != dataset.n_classes:
        raise DataError(f"{where}: {probs.shape[1]} probability columns, but the dataset has "
                        f"{dataset.n_classes} classes {list(dataset.classes)}")
    try:
        probs = as_probs(probs, "pred_probs").astype(np.float32)
    except GreyzoneError as e:
        raise DataError(f"{where}: {e}") from e
    sources, digests = {"pred_probs": _source(pred_probs)}, {"pred_probs": _digest(probs)}
    emb = None
    if embeddings is not None:
        emb, where = read_outputs(embeddings, dataset, what="embeddings")
        try:
            emb = as_float_matrix(emb, "embeddings", dtype=np.float32, min_cols=2)
        except GreyzoneError as e:
            raise DataError(f"{where}: {e}") from e
        sources["embeddings"], digests["embeddings"] = _source(embeddings), _digest(emb)
    return ExternalOutputs(probs, emb, sources, digests)


def check_embedder_choice(embedder: str, outputs: ExternalOutputs | None) -> None:
    """``embedder == "none"`` (``--no-embedder``) needs given probabilities: they then serve as embeddings."""
    if embedder == "none" and outputs is None:
        raise ParameterError("--no-embedder (embedder 'none') needs --pred-probs: without a trained embedder "
                             "the given probabilities are the embeddings")
