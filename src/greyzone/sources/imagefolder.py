"""Image-folder trees ``root/<split>/<class>/<image>`` (PNG or JPEG), greyzone's export layout.

Splits: ``train`` (required), ``validation`` or ``val``, ``test``. A split folder may hold a Hugging Face
metadata file (``metadata.csv``, as greyzone's export writes) besides its class folders; it is ignored.

Images keep their channels: grey stays ``(H, W)`` grey, colour becomes ``(H, W, 3)`` RGB, each PIL mode by a
stated rule (:mod:`greyzone.sources.convert`; the rules applied are listed in ``Dataset.notes``); a dataset
mixing grey and colour is stored as RGB. Images of one size keep it; images of several sizes (or too many
to hold at their size) are resized to one working size for the models and thumbnails
(:mod:`greyzone.sources.shape`, said in a note): the original files stay the truth, and each sample keeps its
file's path and the SHA-256 of the bytes read (``Split.files``, ``Split.file_sha256``) so that the export can
copy them and check they did not change. Every file is read twice: its header first (size and mode, to plan
the dataset's shape before decoding anything), then its bytes once, hashed and decoded.

Splits are ordered train, then test (so sids put train first, as for MNIST); classes are ordered digit names
numerically (``01`` before ``1`` before ``2``: ties broken by the name), then other names alphabetically,
then ``IDK`` last. A class folder named ``IDK`` holds already-curated IDK samples: it stays greyzone's one IDK
class (a greyzone export re-imported).

A sample's ``index`` is its file stem when every stem in the split is a distinct integer (as in a greyzone
export: ``00042.png`` → 42), otherwise its position in the sorted list of ``class/file`` paths.

Refused with a message naming the path: a file that is not a PNG/JPEG in a class folder, a file directly in a
split folder (only class folders and a metadata file belong there; the root may hold other files, e.g. an
export's ``manifest.csv``), a broken or self-referencing symlink, an unreadable folder or image (a truncated
JPEG included), an image larger than :data:`MAX_PIXELS`, a floating-point image, a file that changed between
its two reads. Names starting with ``.`` are ignored.
"""

from __future__ import annotations

import hashlib
import io
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from greyzone.errors import DataError
from greyzone.sources.convert import describe, mode_channels, to_pixels
from greyzone.sources.dataset import SPLITS, Dataset, Split
from greyzone.sources.shape import Header, Plan, plan

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


@contextmanager
def _image_errors(path: Path) -> Iterator[None]:
    """Turn what PIL and the OS raise on a bad file into a :class:`DataError` naming ``path``."""
    try:
        yield
    except PermissionError as e:
        raise DataError(f"{path}: cannot read image ({e.strerror}); check its permissions") from e
    except Image.DecompressionBombError as e:
        raise DataError(f"{path}: image too large to decode safely ({e}); resize it") from e
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise DataError(f"{path}: not a readable PNG/JPEG image ({e})") from e


def _check_size(im: Image.Image, path: Path) -> None:
    if im.width * im.height > MAX_PIXELS:
        raise DataError(f"{path}: image too large: {im.width}×{im.height} pixels, more than greyzone reads "
                        f"({MAX_PIXELS:,}); resize it")


def image_header(path: Path) -> Header:
    """``((width, height), channels)`` from the file's header, without decoding the pixels."""
    with _image_errors(path), Image.open(path) as im:
        _check_size(im, path)
        return im.size, mode_channels(im.mode, str(path))


def read_image(path: Path, header: Header, shape: Plan) -> tuple[np.ndarray, str, str]:
    """Pixels fitted to ``shape``, the conversion rule and the hex SHA-256 of the bytes decoded."""
    with _image_errors(path):
        data = path.read_bytes()
        with Image.open(io.BytesIO(data)) as im:
            if (im.size, mode_channels(im.mode, str(path))) != header:
                raise DataError(f"{path}: the file changed while it was read (size or mode differs from its "
                                f"first read); read the folder again when it is no longer being written")
            pixels, rule = to_pixels(im, str(path))
    return shape.fit(pixels), rule, hashlib.sha256(data).hexdigest()


def _list_split(split_dir: Path, classes: tuple[str, ...]) -> tuple[list[tuple[str, Path]], np.ndarray]:
    """The split's ``(class, path)`` in sample order and their indices."""
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
    return [files[i] for i in order], index[order]


def _load_split(split_dir: Path, files: list[tuple[str, Path]], index: np.ndarray, headers: list[Header],
                classes: tuple[str, ...], shape: Plan) -> tuple[Split, list[str]]:
    images = np.empty((len(files), *shape.shape), np.uint8)
    rules, sha = Counter(), []
    for i, ((_, path), header) in enumerate(zip(files, headers, strict=True)):
        images[i], rule, digest = read_image(path, header, shape)
        rules[rule] += 1
        sha.append(digest)
    cls_index = {c: i for i, c in enumerate(classes)}
    labels = np.array([cls_index[c] for c, _ in files], dtype=np.int64)
    rel = tuple(str(p.relative_to(split_dir.parent)) for _, p in files)
    split = Split(split_dir.name, images, labels, index, rel, tuple(sha))
    return split, describe(rules, split_dir.name)


def load_imagefolder(root: str | Path, *, size: int | None = None) -> Dataset:
    """Read ``root/{train,validation|val,test}/<class>/<image>``; classes are the union of class folder
    names. ``size``: the working side (pixels) when images must be resized
    (:func:`greyzone.sources.shape.plan`; default the most common size's larger side, at most 64)."""
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
    listed = {s.name: _list_split(s, classes) for s in split_dirs}
    headers = {name: [image_header(p) for _, p in files] for name, (files, _) in listed.items()}
    shape, shape_notes = plan(headers, size=size)
    splits, notes = {}, []
    for s in split_dirs:
        splits[s.name], split_notes = _load_split(s, *listed[s.name], headers[s.name], classes, shape)
        notes += split_notes
    notes += shape_notes
    return Dataset(root.name, classes, splits, source=str(root), notes=tuple(notes))
