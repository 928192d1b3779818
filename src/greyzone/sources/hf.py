"""Hugging Face datasets on disk: a folder written by ``save_to_disk`` (a ``DatasetDict`` or one ``Dataset``)
or a folder of Parquet files (splits from the file names, as ``load_dataset("parquet", data_dir=...)``
infers them), with an image column and a label column (names configurable). Needs the optional extra
``greyzone[hf]``.

Splits ``train``, ``validation``/``val`` and ``test`` are read (a single ``Dataset`` is ``train``); another
split name is refused. Class names: the label column's ``ClassLabel`` names when it has them, else the
distinct labels (integers ``0..max`` as ``"0"``..., or strings in greyzone's class order). A sample's
``index`` is its row in the split. Images keep their channels (grey or RGB) by the rules of
:mod:`greyzone.sources.convert` and their size, or are resized to one working size when sizes differ
(:mod:`greyzone.sources.shape`); both are listed in ``Dataset.notes``. Images stored in the dataset are not
files: ``Split.files`` and ``Split.file_sha256`` are None.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from greyzone.errors import DataError, extra_hint, require_extra
from greyzone.sources.convert import describe, mode_channels, to_pixels
from greyzone.sources.dataset import SPLITS, Dataset, Split
from greyzone.sources.imagefolder import class_sort_key
from greyzone.sources.shape import plan

HF_HINT = extra_hint("hf")


def require_datasets() -> Any:
    """The ``datasets`` module, or a :class:`MissingExtraError` with the exact pip command."""
    return require_extra("datasets", "hf", "reading or writing Hugging Face datasets")


def _open(path: Path, cache: str) -> dict[str, Any]:
    """``{split: datasets.Dataset}`` of a ``save_to_disk`` folder or a folder of Parquet files (converted
    into ``cache``, a private folder: the shared Hugging Face cache could hand back stale tables)."""
    datasets = require_datasets()
    if not path.is_dir():
        raise DataError(f"{path}: Hugging Face dataset folder does not exist or is not a directory")
    try:
        if any((path / f).is_file() for f in ("dataset_dict.json", "state.json")):
            ds = datasets.load_from_disk(str(path))
        elif any(path.rglob("*.parquet")):
            ds = datasets.load_dataset("parquet", data_dir=str(path), cache_dir=cache)
        else:
            raise DataError(f"{path}: neither a save_to_disk folder (dataset_dict.json or state.json) nor a "
                            f"folder of .parquet files")
    except (OSError, ValueError, datasets.exceptions.DatasetGenerationError) as e:
        raise DataError(f"{path}: cannot read the Hugging Face dataset ({type(e).__name__}: {e})") from e
    return dict(ds) if isinstance(ds, datasets.DatasetDict) else {"train": ds}


def _classes(parts: dict[str, Any], column: str, where: Path) -> tuple[tuple[str, ...], dict[Any, int]]:
    """Class names and the map from stored label value to class id."""
    feature = next(iter(parts.values())).features[column]
    names = getattr(feature, "names", None)
    if names:
        return tuple(str(n) for n in names), {i: i for i in range(len(names))}
    values = sorted({v for p in parts.values() for v in p[column]}, key=str)
    if all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in values):
        if values and min(values) < 0:
            raise DataError(f"{where}: label column {column!r} holds {min(values)} (unlabelled rows?); "
                            f"greyzone needs a class for every image")
        n = int(max(values)) + 1 if values else 0
        return tuple(str(i) for i in range(n)), {i: i for i in range(n)}
    names = sorted((str(v) for v in values), key=class_sort_key)
    return tuple(names), {v: names.index(str(v)) for v in values}


def load_hf(path: str | Path, *, image_column: str = "image", label_column: str = "label",
            size: int | None = None) -> Dataset:
    """Read a Hugging Face dataset folder (see the module doc); ``size``: the working side when images must
    be resized (:func:`greyzone.sources.shape.plan`)."""
    path = Path(path)
    with tempfile.TemporaryDirectory(prefix="greyzone-hf-") as cache:
        return _load(path, _open(path, cache), image_column, label_column, size)


def _load(path: Path, parts: dict[str, Any], image_column: str, label_column: str, size: int | None
          ) -> Dataset:
    unknown = sorted(set(parts) - set(SPLITS))
    if unknown:
        raise DataError(f"{path}: unknown split(s) {', '.join(unknown)} (expected {', '.join(SPLITS)})")
    if "train" not in parts:
        raise DataError(f"{path}: no 'train' split (found {', '.join(parts)})")
    for name, part in parts.items():
        missing = [c for c in (image_column, label_column) if c not in part.column_names]
        if missing:
            raise DataError(f"{path}: split {name!r} has no column(s) {', '.join(map(repr, missing))} "
                            f"(columns: {', '.join(part.column_names)}); pass --image-column or "
                            f"--label-column")
    classes, to_id = _classes(parts, label_column, path)
    columns, headers = {}, {}  # the images (PIL, decoded lazily) and their headers, per non-empty split
    for name in [s for s in SPLITS if s in parts]:
        columns[name] = parts[name][image_column]
        hs = []
        for i, im in enumerate(columns[name]):
            where = f"{path} split {name!r} row {i}"
            if not hasattr(im, "mode"):
                raise DataError(f"{where}: column {image_column!r} holds {type(im).__name__}, not an image")
            hs.append((im.size, mode_channels(im.mode, where)))
        if hs:
            headers[name] = hs
    shape, shape_notes = plan(headers, size=size, files=False)
    splits, notes = {}, []
    for name in headers:
        rules, images = Counter(), np.empty((len(columns[name]), *shape.shape), np.uint8)
        for i, im in enumerate(columns[name]):
            pixels, rule = to_pixels(im, f"{path} split {name!r} row {i}")
            images[i] = shape.fit(pixels)
            rules[rule] += 1
        labels = np.array([to_id[v] for v in parts[name][label_column]], dtype=np.int64)
        splits[name] = Split(name, images, labels, np.arange(len(labels), dtype=np.int64))
        notes += describe(rules, name)
    return Dataset(path.name, classes, splits, source=str(path), notes=tuple(notes + shape_notes))
