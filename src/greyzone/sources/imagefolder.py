"""Image-folder trees ``root/<split>/<class>/<image>`` (PNG or JPEG, grey or RGB), greyzone's export layout.

Images are read as 8-bit grey (RGB is converted with ITU-R 601-2 luma, PIL mode ``L``) and must all have one
size. A sample's ``index`` is its file stem when every stem in the split is a distinct integer (as in a
greyzone export: ``00042.png`` → 42), otherwise its position in the sorted list of ``class/file`` paths.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from greyzone.errors import DataError
from greyzone.sources.dataset import SPLITS, Dataset, Split

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}


def _class_sort_key(name: str) -> tuple[int, int | str]:
    """Digit names numerically, then other names, then ``IDK`` last (as greyzone exports it)."""
    if name == "IDK":
        return (2, "")
    return (0, int(name)) if name.isdigit() else (1, name)


def _read_image(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("L"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise DataError(f"{path}: not a readable PNG/JPEG image ({e})") from e


def _load_split(split_dir: Path, classes: tuple[str, ...]) -> Split:
    files: list[tuple[str, Path]] = []
    for cls in classes:
        cls_dir = split_dir / cls
        if not cls_dir.is_dir():
            continue
        entries = sorted(p for p in cls_dir.iterdir() if not p.name.startswith("."))
        if not entries:
            raise DataError(f"{cls_dir}: empty class folder (no images)")
        for p in entries:
            if p.suffix.lower() not in IMAGE_SUFFIXES or not p.is_file():
                raise DataError(f"{p}: not an image file (expected {', '.join(sorted(IMAGE_SUFFIXES))})")
            files.append((cls, p))
    if not files:
        raise DataError(f"{split_dir}: no images in any class folder")
    stems = [p.stem for _, p in files]
    if all(s.isdigit() for s in stems) and len(set(map(int, stems))) == len(stems):
        index = np.array([int(s) for s in stems], dtype=np.int64)
    else:
        index = np.arange(len(files), dtype=np.int64)
    order = np.argsort(index, kind="stable")
    images = [_read_image(files[i][1]) for i in order]
    shapes = {im.shape for im in images}
    if len(shapes) != 1:
        first = images[0].shape
        odd = next(files[i][1] for i, im in zip(order, images, strict=True) if im.shape != first)
        raise DataError(f"{odd}: image size {_read_image(odd).shape} differs from {first} in {split_dir}")
    cls_index = {c: i for i, c in enumerate(classes)}
    labels = np.array([cls_index[files[i][0]] for i in order], dtype=np.int64)
    rel = tuple(str(files[i][1].relative_to(split_dir.parent)) for i in order)
    return Split(split_dir.name, np.stack(images), labels, index[order], rel)


def load_imagefolder(root: str | Path) -> Dataset:
    """Read ``root/{train,test}/<class>/<image>``; classes are the union of class folder names."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: image folder root does not exist or is not a directory")
    split_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    unknown = [p.name for p in split_dirs if p.name not in SPLITS]
    if unknown:
        raise DataError(
            f"{root}: unknown split folder(s) {', '.join(unknown)} (expected {', '.join(SPLITS)})"
        )
    if not (root / "train").is_dir():
        raise DataError(f"{root}: no 'train' split folder")
    classes = tuple(
        sorted({c.name for s in split_dirs for c in s.iterdir() if c.is_dir()}, key=_class_sort_key)
    )
    if not classes:
        raise DataError(f"{root}: no class folders under {', '.join(p.name for p in split_dirs)}")
    splits = {s.name: _load_split(s, classes) for s in split_dirs}
    return Dataset(root.name, classes, splits, source=str(root))
