"""Argument checks for the whole package: validate once at the public boundary, then trust.

Each check returns the clean value (a Python scalar, or a numpy array of a fixed dtype) or raises with one
message format, ``"{name} must be {expected}, got {found}"``, e.g. ``"k must be an int in [1, inf), got 0"``
or ``"labels must be in [0, 10), got labels[3] = 12"``: :class:`~greyzone.errors.ParameterError` (also a
``ValueError``) for a bad value, :class:`~greyzone.errors.ParameterTypeError` (also a ``TypeError``) for a
bad type or dtype. ``note`` arguments append why the bound holds.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from greyzone.errors import ParameterError, ParameterTypeError

#: Rows of ``probs`` must sum to 1 within this absolute tolerance (float32 softmax is well inside it).
PROB_ATOL = 1e-3
#: Which ends of an interval are closed: sklearn's ``Interval(closed=...)`` values.
CLOSED: tuple[str, ...] = ("both", "left", "right", "neither")


# --------------------------------------------------------------------------------------------- messages
def _message(name: str, expected: str, found: str, note: str = "") -> str:
    """The one message format: ``"{name} must be {expected}, got {found}[; {note}]"``."""
    return f"{name} must be {expected}, got {found}" + (f"; {note}" if note else "")


def _show(value: Any) -> str:
    """``repr`` of a value, numpy scalars shown as the Python scalar they hold."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def _typed(value: Any) -> str:
    """The value and its type, for type errors: ``"'3' (str)"``."""
    return f"{_show(value)} ({type(value).__name__})"


def _entry(name: str, arr: np.ndarray, bad: np.ndarray) -> str:
    """``"name[i] = v"`` (``name[i, j]`` for 2-D) for the first True of ``bad``, plus how many in total."""
    where = tuple(int(v[0]) for v in np.nonzero(bad))
    more = int(np.count_nonzero(bad)) - 1
    tail = f" (and {more} more)" if more > 0 else ""
    return f"{name}[{', '.join(map(str, where))}] = {_show(arr[where])}{tail}"


def interval(low: float | None, high: float | None, closed: str = "both") -> str:
    """The interval as text, ``None`` meaning unbounded: ``interval(1, None) == "[1, inf)"``."""
    if closed not in CLOSED:
        raise ParameterError(_message("closed", f"one of {CLOSED}", repr(closed)))
    left = "[" if low is not None and closed in ("both", "left") else "("
    right = "]" if high is not None and closed in ("both", "right") else ")"
    return f"{left}{'-inf' if low is None else low}, {'inf' if high is None else high}{right}"


def _inside(v: Any, low: float | None, high: float | None, closed: str) -> Any:
    """``low <= v <= high`` with the ``closed`` ends (elementwise for arrays)."""
    ok = np.ones(np.shape(v), dtype=bool)
    if low is not None:
        ok &= (v >= low) if closed in ("both", "left") else (v > low)
    if high is not None:
        ok &= (v <= high) if closed in ("both", "right") else (v < high)
    return ok


# --------------------------------------------------------------------------------------------- scalars
def _number(value: Any, name: str, kind: type, low: float | None, high: float | None, closed: str,
            note: str) -> Any:
    """``value`` when it is a ``kind`` (``numbers.Integral`` or ``numbers.Real``; never a bool, never NaN)
    inside the interval."""
    expected = f"{'an int' if kind is numbers.Integral else 'a number'} in {interval(low, high, closed)}"
    if isinstance(value, bool | np.bool_) or not isinstance(value, kind):
        raise ParameterTypeError(_message(name, expected, _typed(value), note))
    if value != value or not _inside(value, low, high, closed):
        raise ParameterError(_message(name, expected, _show(value), note))
    return value


def check_int(value: Any, name: str, *, low: int | None = None, high: int | None = None,
              closed: str = "both", note: str = "") -> int:
    """A Python int (numpy ints accepted, bools rejected) in the interval from ``low`` to ``high``."""
    return int(_number(value, name, numbers.Integral, low, high, closed, note))


def check_positive_int(value: Any, name: str, *, note: str = "") -> int:
    """An int >= 1 (bools rejected)."""
    return check_int(value, name, low=1, note=note)


def check_non_negative_int(value: Any, name: str, *, note: str = "") -> int:
    """An int >= 0 (bools rejected)."""
    return check_int(value, name, low=0, note=note)


def check_seed(value: Any, name: str = "seed", *, high: int | None = None) -> int:
    """A random seed: an int >= 0 (below ``high`` when given, e.g. ``2**31`` for FAISS)."""
    return check_int(value, name, low=0, high=high, closed="left")


def check_float(value: Any, name: str, *, low: float | None = None, high: float | None = None,
                closed: str = "both", note: str = "") -> float:
    """A real number (int or float, bools and NaN rejected) in the interval from ``low`` to ``high``."""
    return float(_number(value, name, numbers.Real, low, high, closed, note))


def check_fraction(value: Any, name: str, *, closed: str = "both") -> float:
    """A number in ``[0, 1]`` (ends open as ``closed`` says)."""
    return check_float(value, name, low=0, high=1, closed=closed)


def check_option(value: Any, name: str, options: Sequence[Any]) -> Any:
    """One of ``options``, returned unchanged."""
    try:
        ok = value in tuple(options)
    except (TypeError, ValueError):  # an array compared elementwise
        ok = False
    if not ok:
        raise ParameterError(_message(name, f"one of {tuple(options)}", _show(value)))
    return value


def check_bool(value: Any, name: str, *, allow_none: bool = False) -> bool | None:
    """A bool (numpy bools accepted; ints rejected), or None when ``allow_none``."""
    if value is None and allow_none:
        return None
    if not isinstance(value, bool | np.bool_):
        raise ParameterTypeError(_message(name, "True, False or None" if allow_none else "True or False",
                                          _typed(value)))
    return bool(value)


def _a(kind: type) -> str:
    """``"a DataFrame"`` / ``"an EvalConfig"``."""
    return f"{'an' if kind.__name__[:1] in 'AEIOUaeiou' else 'a'} {kind.__name__}"


def check_instance(value: Any, name: str, types: type | tuple[type, ...]) -> Any:
    """``value`` itself when it is an instance of ``types``."""
    if not isinstance(value, types):
        expected = " or ".join(map(_a, types if isinstance(types, tuple) else (types,)))
        raise ParameterTypeError(_message(name, expected, _a(type(value))))
    return value


# --------------------------------------------------------------------------------------------- arrays
def _as_array(value: Any, name: str) -> np.ndarray:
    """``np.asarray(value)``; a ragged list and the like is a type error naming ``name``."""
    try:
        return np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise ParameterTypeError(_message(name, "array-like", f"{type(value).__name__} ({exc})")) from exc


def _is_real(arr: np.ndarray) -> bool:
    """Integer or floating dtype (bool and complex are not)."""
    kind = arr.dtype.kind
    return kind in "iuf"


def _check_len(arr: np.ndarray, name: str, min_len: int) -> None:
    """At least ``min_len`` rows / entries."""
    if len(arr) < min_len:
        unit = "rows" if arr.ndim == 2 else "entries"
        expected = "non-empty" if min_len == 1 else f"at least {min_len} {unit} long"
        raise ParameterError(_message(name, expected, f"shape {arr.shape}"))


def _check_ndim(arr: np.ndarray, name: str, ndim: int) -> None:
    """Exactly ``ndim`` dimensions."""
    if arr.ndim != ndim:
        raise ParameterError(_message(name, f"{ndim}-D", f"shape {arr.shape}"))


def check_shape(arr: Any, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """An array of exactly ``shape``."""
    a = _as_array(arr, name)
    if a.shape != tuple(shape):
        raise ParameterError(_message(name, f"of shape {tuple(shape)}", f"shape {a.shape}"))
    return a


def check_same_length(**arrays: Any) -> int:
    """The common length of the named arrays (one entry per sample each)."""
    lengths = {k: len(v) for k, v in arrays.items()}
    if len(set(lengths.values())) > 1:
        names = ", ".join(lengths)
        found = ", ".join(f"{k} has {n}" for k, n in lengths.items())
        raise ParameterError(_message(names, "of the same length (one entry per sample)", found))
    return next(iter(lengths.values()), 0)


def as_float_matrix(value: Any, name: str, *, dtype: type = np.float64, min_len: int = 1, min_cols: int = 1,
                    low: float | None = None, high: float | None = None) -> np.ndarray:
    """A finite 2-D real array of ``dtype``, C-contiguous, at least ``min_len`` x ``min_cols``, entries in
    ``[low, high]``."""
    arr = _as_array(value, name)
    if not _is_real(arr):
        raise ParameterTypeError(_message(name, "a real-valued (float or int) array", f"dtype {arr.dtype}"))
    _check_ndim(arr, name, 2)
    _check_len(arr, name, min_len)
    if arr.shape[1] < min_cols:
        expected = f"a matrix with at least {min_cols} columns"
        raise ParameterError(_message(name, expected, f"shape {arr.shape}"))
    arr = np.ascontiguousarray(arr, dtype=dtype)
    finite = np.isfinite(arr)
    if not finite.all():
        raise ParameterError(_message(name, "finite", _entry(name, arr, ~finite)))
    bad = ~_inside(arr, low, high, "both")
    if bad.any():
        raise ParameterError(_message(name, f"in {interval(low, high)}", _entry(name, arr, bad)))
    return arr


def as_probs(value: Any, name: str = "probs") -> np.ndarray:
    """Float64 ``(N >= 1, C >= 2)``, entries in ``[0, 1]``, rows summing to 1 within ``PROB_ATOL``."""
    probs = as_float_matrix(value, name, min_cols=2, low=0, high=1)
    sums = probs.sum(axis=1)
    off = np.abs(sums - 1.0) > PROB_ATOL
    if off.any():
        row = int(np.flatnonzero(off)[0])
        raise ParameterError(_message(
            f"each row of {name}", f"a distribution summing to 1 (within {PROB_ATOL})",
            f"row {row} summing to {sums[row]:.6g} ({int(off.sum())} of {len(probs)} rows off)",
            "pass softmax probabilities, not logits"))
    return probs


def as_int_array(value: Any, name: str, *, ndim: int = 1, low: int | None = None,
                 high: int | None = None) -> np.ndarray:
    """Int64 ``ndim``-D array (bools rejected) with every entry in ``[low, high)``."""
    arr = _as_array(value, name)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise ParameterTypeError(_message(name, "an integer array", f"dtype {arr.dtype}"))
    _check_ndim(arr, name, ndim)
    arr = arr.astype(np.int64, copy=False)
    bad = ~_inside(arr, low, high, "left")
    if bad.any():
        raise ParameterError(_message(name, f"in {interval(low, high, 'left')}", _entry(name, arr, bad)))
    return arr


def as_labels(value: Any, name: str = "labels", *, n: int | None = None, n_classes: int | None = None,
              columns_of: str | None = None, min_len: int = 0) -> np.ndarray:
    """Int64 ``(n,)`` class indices in ``[0, n_classes)``; ``columns_of`` names the matrix ``n_classes`` is
    the width of (the message then reads ``"probs has 4 columns but labels go up to 4"``)."""
    labels = as_int_array(value, name, low=0)
    if n is not None and len(labels) != n:
        raise ParameterError(_message(name, f"of length {n} (one entry per sample)",
                                      f"{len(labels)} entries"))
    _check_len(labels, name, min_len)
    if columns_of is not None and n_classes is not None and len(labels) and labels.max() >= n_classes:
        i = int(np.argmax(labels))
        raise ParameterError(f"{columns_of} has {n_classes} columns but {name} go up to {labels[i]} "
                             f"({name}[{i}])")
    return as_int_array(labels, name, low=0, high=n_classes)


def as_probs_labels(probs: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    """:func:`as_probs` and the :func:`as_labels` of the same samples, below the number of columns."""
    p = as_probs(probs)
    return p, as_labels(labels, n=len(p), n_classes=p.shape[1], columns_of="probs")


def as_numeric_1d(value: Any, name: str, *, low: float | None = None, high: float | None = None,
                  closed: str = "both", allow_inf: bool = True, allow_nan: bool = False,
                  min_len: int = 1) -> np.ndarray:
    """Float64 ``(N,)`` from a numeric or bool 1-D array, within ``low``..``high`` where not NaN."""
    arr = _as_array(value, name)
    if arr.dtype == bool:
        arr = arr.astype(np.float64)
    if not _is_real(arr):
        raise ParameterTypeError(_message(name, "a numeric or bool array", f"dtype {arr.dtype}"))
    _check_ndim(arr, name, 1)
    _check_len(arr, name, min_len)
    arr = arr.astype(np.float64)
    nan = np.isnan(arr)
    if nan.any() and not allow_nan:
        raise ParameterError(_message(name, "free of NaN", _entry(name, arr, nan)))
    inf = np.isinf(arr)
    if inf.any() and not allow_inf:
        raise ParameterError(_message(name, "finite", _entry(name, arr, inf)))
    bad = ~nan & ~_inside(arr, low, high, closed)
    if bad.any():
        raise ParameterError(_message(name, f"in {interval(low, high, closed)}", _entry(name, arr, bad)))
    return arr


def as_unit_interval(value: Any, name: str, *, allow_nan: bool = False) -> np.ndarray:
    """Float64 ``(N,)``, ``N >= 1``, every entry in ``[0, 1]``."""
    return as_numeric_1d(value, name, low=0, high=1, allow_inf=False, allow_nan=allow_nan)


def as_binary(value: Any, name: str) -> np.ndarray:
    """Bool ``(N,)``, ``N >= 1``, from a bool or 0/1 array."""
    arr = as_numeric_1d(value, name, allow_inf=False)
    bad = (arr != 0) & (arr != 1)
    if bad.any():
        raise ParameterError(_message(name, "bool or 0/1", _entry(name, arr, bad)))
    return arr.astype(bool)


def as_images(value: Any, name: str = "images") -> np.ndarray:
    """An ``(N, H, W)`` grey or ``(N, H, W, 3)`` RGB uint8 array (no copy)."""
    arr = _as_array(value, name)
    expected = "an (N, H, W) grey or (N, H, W, 3) RGB uint8 array"
    if arr.dtype != np.uint8:
        raise ParameterTypeError(_message(name, expected, f"dtype {arr.dtype}"))
    image_channels(arr, name)
    return arr


def image_channels(images: np.ndarray, name: str = "images") -> int:
    """1 for ``(N, H, W)`` grey images, 3 for ``(N, H, W, 3)`` RGB; any other shape is a ParameterError."""
    shape = np.shape(images)
    if len(shape) == 3:
        return 1
    if len(shape) == 4 and shape[3] == 3:
        return 3
    raise ParameterError(f"{name} must be (N, H, W) grey or (N, H, W, 3) RGB, got shape {shape}")


def as_column(frame: Any, column: str, *, frame_name: str = "scores", low: float | None = None,
              high: float | None = None, allow_nan: bool = False) -> np.ndarray:
    """Float64 values of ``frame[column]`` (a pandas DataFrame), within ``low``..``high`` where not NaN."""
    import pandas as pd

    check_instance(frame, frame_name, pd.DataFrame)
    if column not in frame.columns:
        raise ParameterError(_message(frame_name, f"a table with a column {column!r}",
                                      f"columns {list(frame.columns)}"))
    label = f"{frame_name}[{column!r}]"
    try:
        values = frame[column].to_numpy(dtype=np.float64)
    except (TypeError, ValueError):
        raise ParameterTypeError(_message(label, "numeric", f"dtype {frame[column].dtype}")) from None
    return as_numeric_1d(values, label, low=low, high=high, allow_nan=allow_nan, min_len=0)


def check_k(k: Any, n: int) -> int:
    """``k`` neighbours of each sample among the ``n - 1`` others: ``1 <= k < n``."""
    return check_int(k, "k", low=1, high=n, closed="left",
                     note=f"each of the {n} samples has only {n - 1} others to be neighbours")
