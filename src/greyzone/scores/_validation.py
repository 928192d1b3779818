"""Boundary checks shared by the score functions: return a clean array or raise an error naming the value.

The public score functions call these once and then hand the arrays to code that trusts them.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

#: Rows of ``probs`` must sum to 1 within this absolute tolerance (float32 softmax is well inside it).
PROB_ATOL = 1e-3


def _as_array(value: Any, name: str) -> np.ndarray:
    try:
        return np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"{name} must be array-like, got {type(value).__name__}: {exc}") from exc


def as_float_matrix(value: Any, name: str, *, dtype: type = np.float64) -> np.ndarray:
    """A finite 2-D real array of ``dtype``, C-contiguous; raises TypeError/ValueError naming ``name``."""
    arr = _as_array(value, name)
    real = np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
    if arr.dtype == bool or not real:
        raise TypeError(f"{name} must be a real-valued (float or int) array, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape})")
    arr = np.ascontiguousarray(arr, dtype=dtype)
    if not np.isfinite(arr).all():
        row = int(np.flatnonzero(~np.isfinite(arr).all(axis=1))[0])
        raise ValueError(f"{name} has non-finite values (NaN or inf), first in row {row}")
    return arr


def as_probs(value: Any, name: str = "probs") -> np.ndarray:
    """Float64 ``(N, C)``, ``C >= 2``, entries in ``[0, 1]``, rows summing to 1 within ``PROB_ATOL``."""
    probs = as_float_matrix(value, name)
    if probs.shape[1] < 2:
        raise ValueError(f"{name} must have at least 2 columns (classes), got shape {probs.shape}")
    bad = (probs < 0).any(axis=1) | (probs > 1).any(axis=1)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name} must lie in [0, 1]; row {row} is {probs[row].tolist()}")
    sums = probs.sum(axis=1)
    off = np.abs(sums - 1.0) > PROB_ATOL
    if off.any():
        row = int(np.flatnonzero(off)[0])
        raise ValueError(f"{name} rows must sum to 1 (within {PROB_ATOL}); row {row} sums to {sums[row]:.6g} "
                         f"({int(off.sum())} rows off in total). Pass softmax probabilities, not logits.")
    return probs


def as_labels(value: Any, n: int, n_classes: int | None = None, name: str = "labels") -> np.ndarray:
    """Int64 ``(n,)`` of class indices in ``[0, n_classes)``."""
    labels = _as_array(value, name)
    if labels.dtype == bool or not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"{name} must be an integer array of class indices, got dtype {labels.dtype}")
    if labels.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {labels.shape}")
    if len(labels) != n:
        raise ValueError(f"{name} has {len(labels)} entries but there are {n} samples")
    labels = labels.astype(np.int64, copy=False)
    if n and labels.min() < 0:
        i = int(np.argmin(labels))
        raise ValueError(f"{name} must be >= 0; {name}[{i}] = {labels[i]}")
    if n_classes is not None and n and labels.max() >= n_classes:
        i = int(np.argmax(labels))
        raise ValueError(f"probs has {n_classes} columns but {name} go up to {labels[i]} (at index {i})")
    return labels


def as_positive_int(value: Any, name: str) -> int:
    """A Python int >= 1 (bools rejected)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return int(value)


def check_k(k: Any, n: int) -> int:
    """``k`` neighbours of each sample among the ``n - 1`` others: ``1 <= k < n``."""
    k = as_positive_int(k, "k")
    if k >= n:
        raise ValueError(f"k={k} neighbours requested but there are only {n} samples (need k < N)")
    return k
