import numpy as np
import pytest
from PIL import Image

from greyzone.errors import DataError
from greyzone.sources import load_dataset, load_imagefolder


def make_tree(root, spec, rng, *, size=(28, 28), mode="L"):
    """spec: {split: {class: [stem, ...]}} → PNGs with random pixels; returns {(split, stem): pixels}."""
    pixels = {}
    for split, classes in spec.items():
        for cls, stems in classes.items():
            (root / split / cls).mkdir(parents=True, exist_ok=True)
            for stem in stems:
                arr = rng.integers(0, 256, size, dtype=np.uint8)
                img = Image.fromarray(arr, "L").convert(mode)
                img.save(root / split / cls / f"{stem}.png")
                pixels[(split, stem)] = np.asarray(img.convert("L"))
    return pixels


def test_reads_tree_with_numeric_stems_as_index(tmp_path, rng):
    pixels = make_tree(
        tmp_path,
        {"train": {"0": ["00003", "00000"], "1": ["00001"], "IDK": ["00002"]}, "test": {"1": ["00000"]}},
        rng,
    )
    ds = load_imagefolder(tmp_path)
    assert ds.classes == ("0", "1", "IDK")
    tr = ds.splits["train"]
    assert tr.index.tolist() == [0, 1, 2, 3]
    assert tr.labels.tolist() == [0, 1, 2, 0]
    assert np.array_equal(tr.images[3], pixels[("train", "00003")])


def test_rgb_and_jpeg_are_read_as_grey(tmp_path, rng):
    make_tree(tmp_path, {"train": {"a": ["x", "y"], "b": ["z"]}}, rng, mode="RGB")
    Image.fromarray(rng.integers(0, 256, (28, 28, 3), dtype=np.uint8)).save(
        tmp_path / "train" / "b" / "w.jpg"
    )
    ds = load_dataset("imagefolder", tmp_path)
    assert ds.splits["train"].images.shape == (4, 28, 28)
    assert ds.splits["train"].index.tolist() == [0, 1, 2, 3]  # non-numeric stems: sorted position


def test_non_image_file(tmp_path, rng):
    make_tree(tmp_path, {"train": {"0": ["1"]}}, rng)
    (tmp_path / "train" / "0" / "notes.txt").write_text("hi")
    with pytest.raises(DataError, match=r"notes.txt: not an image file"):
        load_imagefolder(tmp_path)


def test_unreadable_image(tmp_path, rng):
    make_tree(tmp_path, {"train": {"0": ["1"]}}, rng)
    (tmp_path / "train" / "0" / "2.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(DataError, match=r"2.png: not a readable PNG/JPEG image"):
        load_imagefolder(tmp_path)


def test_empty_class_folder(tmp_path, rng):
    make_tree(tmp_path, {"train": {"0": ["1"]}}, rng)
    (tmp_path / "train" / "7").mkdir()
    with pytest.raises(DataError, match=r"train/7: empty class folder"):
        load_imagefolder(tmp_path)


def test_unknown_split(tmp_path, rng):
    make_tree(tmp_path, {"train": {"0": ["1"]}, "valid": {"0": ["1"]}}, rng)
    with pytest.raises(DataError, match="unknown split folder.*valid"):
        load_imagefolder(tmp_path)


def test_mixed_sizes(tmp_path, rng):
    make_tree(tmp_path, {"train": {"0": ["1"]}}, rng)
    make_tree(tmp_path, {"train": {"1": ["2"]}}, rng, size=(32, 32))
    with pytest.raises(DataError, match=r"2.png: image size \(32, 32\) differs"):
        load_imagefolder(tmp_path)


def test_missing_root_and_train(tmp_path, rng):
    with pytest.raises(DataError, match="does not exist"):
        load_imagefolder(tmp_path / "nope")
    make_tree(tmp_path, {"test": {"0": ["1"]}}, rng)
    with pytest.raises(DataError, match="no 'train' split"):
        load_imagefolder(tmp_path)
