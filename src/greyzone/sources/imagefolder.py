"""Image-folder trees ``root/<split>/<class>/<image>`` (PNG or JPEG), greyzone's export layout.

Splits: ``train`` (required), ``validation`` or ``val``, ``test``. A split folder may hold a Hugging Face
metadata file (``metadata.csv``, as greyzone's export writes) besides its class folders; it is ignored.

Images are read as 8-bit grey, each PIL mode by a stated rule (:mod:`greyzone.sources.convert`; the rules
applied are listed in ``Dataset.notes``), and must all have one size. Splits are ordered train, then test (so
sids put train first, as for MNIST); classes are ordered digit names numerically (``01`` before ``1`` before
``2``: ties broken by the name), then other names alphabetically, then ``IDK`` last. A class folder named
``IDK`` holds already-curated IDK samples: it stays greyzone's one IDK class (a greyzone export re-imported).

A sample's ``index`` is its file stem when every stem in the split is a distinct integer (as in a greyzone
export: ``00042.png`` → 42), otherwise its position in the sorted list of ``class/file`` paths.

Refused with a message naming the path: a file that is not a PNG/JPEG in a class folder, a file directly in a
split folder (only class folders and a metadata file belong there; the root may hold other files, e.g. an
export's ``manifest.csv``), a broken or self-referencing symlink, an unreadable folder or image, images
larger than :data:`MAX_PIXELS` or of another size than the split's first image. Names starting with ``.``
are ignored.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from greyzone.errors import DataError
from greyzone.sources.convert import describe, to_grey
from greyzone.sources.dataset import SPLITS, Dataset, Split

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}
#: Hugging Face ``imagefolder`` metadata files, allowed (and ignored) directly in a split folder.
METADATA_FILES = {"metadata.csv", "metadata.jsonl", "metadata.parquet"}
IDK_FOLDER = "IDK"
#: Largest image greyzone decodes (width × height); larger files are refused before decoding.
MAX_PIXELS = 4096 * 4096


def class_sort_key(name: str) -> tuple[int, int, str]:
    """A total order: digit names numerically (ties by name), then other names, then ``IDK`` last."""
    if name == IDK_FOLDER:
        return (2, 0, "")
    return (0, int(name), name) if name.isdigit() else (1, 0, name)


def _listdir(folder: Path) -> list[Path]:
    """The folder's entries not starting with ``.``, sorted; an unreadable folder is a :class:`DataError`."""
    try:
        return sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    except OSError as e:
        raise DataError(f"{folder}: cannot list folder ({e.strerror or e}); check its permissions") from e


def _not_a_file(p: Path) -> str:
    if p.is_symlink() and not p.exists():
        return f"{p}: broken or self-referencing symlink (-> {p.readlink()})"
    return f"{p}: not an image file (expected {', '.join(sorted(IMAGE_SUFFIXES))})"


def _read_image(path: Path, size: tuple[int, int] | None) -> tuple[np.ndarray, str]:
    """Grey pixels and the conversion rule; ``size`` (W, H) is checked before decoding."""
    try:
        with Image.open(path) as im:
            if im.width * im.height > MAX_PIXELS:
                raise DataError(f"{path}: image too large: {im.width}×{im.height} pixels, more than "
                                f"greyzone reads ({MAX_PIXELS:,}); resize it")
            if size is not None and im.size != size:
                raise DataError(f"{path}: image size {im.size[::-1]} differs from {size[::-1]} (H, W) of "
                                f"the split's first image")
            return to_grey(im, str(path))
    except PermissionError as e:
        raise DataError(f"{path}: cannot read image ({e.strerror}); check its permissions") from e
    except Image.DecompressionBombError as e:
        raise DataError(f"{path}: image too large to decode safely ({e}); resize it") from e
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise DataError(f"{path}: not a readable PNG/JPEG image ({e})") from e


def _load_split(split_dir: Path, classes: tuple[str, ...]) -> tuple[Split, list[str]]:
    files: list[tuple[str, Path]] = []
    for cls in classes:
        cls_dir = split_dir / cls
        if not cls_dir.is_dir():
            continue
        entries = _listdir(cls_dir)
        if not entries:
            raise DataError(f"{cls_dir}: empty class folder (no images)")
        for p in entries:
            if p.suffix.lower() not in IMAGE_SUFFIXES or not p.is_file():
                raise DataError(_not_a_file(p))
            files.append((cls, p))
    if not files:
        raise DataError(f"{split_dir}: no images in any class folder")
    stems = [p.stem for _, p in files]
    if all(s.isdigit() for s in stems) and len(set(map(int, stems))) == len(stems):
        index = np.array([int(s) for s in stems], dtype=np.int64)
    else:
        index = np.arange(len(files), dtype=np.int64)
    order = np.argsort(index, kind="stable")
    images, rules, size = [], Counter(), None
    for i in order:
        pixels, rule = _read_image(files[i][1], size)
        size = size or (pixels.shape[1], pixels.shape[0])
        images.append(pixels)
        rules[rule] += 1
    cls_index = {c: i for i, c in enumerate(classes)}
    labels = np.array([cls_index[files[i][0]] for i in order], dtype=np.int64)
    rel = tuple(str(files[i][1].relative_to(split_dir.parent)) for i in order)
    return Split(split_dir.name, np.stack(images), labels, index[order], rel), describe(rules, split_dir.name)


def load_imagefolder(root: str | Path) -> Dataset:
    """Read ``root/{train,validation|val,test}/<class>/<image>``; classes are the union of class folder
    names."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: image folder root does not exist or is not a directory")
    entries = _listdir(root)
    unknown = [p.name for p in entries if p.is_dir() and p.name not in SPLITS]
    if unknown:
        raise DataError(
            f"{root}: unknown split folder(s) {', '.join(unknown)} (expected {', '.join(SPLITS)})"
        )
    if not (root / "train").is_dir():
        raise DataError(f"{root}: no 'train' split folder")
    split_dirs = [root / s for s in SPLITS if (root / s).is_dir()]  # train first, validation, then test
    names = set()
    for s in split_dirs:
        for c in _listdir(s):
            if c.name in METADATA_FILES and c.is_file():
                continue
            if not c.is_dir():
                raise DataError(f"{c}: not a class folder (a split folder holds only <class>/ folders of "
                                f"images); move or remove it")
            names.add(c.name)
    classes = tuple(sorted(names, key=class_sort_key))
    if not classes:
        raise DataError(f"{root}: no class folders under {', '.join(p.name for p in split_dirs)}")
    splits, notes = {}, []
    for s in split_dirs:
        splits[s.name], split_notes = _load_split(s, classes)
        notes += split_notes
    return Dataset(root.name, classes, splits, source=str(root), notes=tuple(notes))
