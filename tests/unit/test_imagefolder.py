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


# ------------------------------------------------------------------ issue 12: modes, order, stray files
def test_16bit_png_keeps_every_grey_level(tmp_path):
    """I;16 PNGs were binarised by convert("L"); now v/257 is kept exactly (issue 12, item 1)."""
    a = (np.arange(28 * 28).reshape(28, 28) % 256).astype(np.uint8)
    (tmp_path / "train" / "3").mkdir(parents=True)
    Image.fromarray(a.astype(np.uint16) * 257).save(tmp_path / "train" / "3" / "0.png")
    assert Image.open(tmp_path / "train" / "3" / "0.png").mode == "I;16"
    ds = load_imagefolder(tmp_path)
    assert np.array_equal(ds.splits["train"].images[0], a)
    assert len(np.unique(ds.splits["train"].images)) == 256
    assert ds.notes == ("train: 1 image(s): 16-bit grey scaled to 8-bit (round(v / 257))",)


def test_rgba_is_composited_on_black_and_said_so(tmp_path):
    rgba = np.zeros((28, 28, 4), np.uint8)
    rgba[..., :3] = 200
    rgba[:14, :, 3] = 255  # top half opaque grey 200, bottom half fully transparent
    rgba[14:20, :, 3] = 128
    (tmp_path / "train" / "0").mkdir(parents=True)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "train" / "0" / "0.png")
    ds = load_imagefolder(tmp_path)
    img = ds.splits["train"].images[0]
    assert (img[:14] == 200).all() and (img[20:] == 0).all()
    assert (img[14:20] == round(200 * 128 / 255)).all()
    assert "alpha composited over grey 0 (black)" in ds.notes[0]


def test_palette_png_goes_through_rgb(tmp_path, rng):
    rgb = rng.integers(0, 256, (28, 28, 3), dtype=np.uint8)
    pal = Image.fromarray(rgb, "RGB").convert("P")
    (tmp_path / "train" / "0").mkdir(parents=True)
    pal.save(tmp_path / "train" / "0" / "0.png")
    ds = load_imagefolder(tmp_path)
    assert np.array_equal(ds.splits["train"].images[0], np.asarray(pal.convert("RGB").convert("L")))
    assert "palette expanded to RGB" in ds.notes[0]


def test_plain_grey_has_no_notes(tmp_path, rng):
    make_tree(tmp_path, {"train": {"0": ["1"]}}, rng)
    assert load_imagefolder(tmp_path).notes == ()


def test_class_order_is_total_when_names_map_to_one_number(tmp_path, rng):
    """'1' and '01' both map to 1; the order used to follow Python's set order (hash seed) (item 6)."""
    import os
    import subprocess
    import sys

    make_tree(tmp_path, {"train": {"01": ["a"], "1": ["b"], "2": ["c"], "x": ["d"], "IDK": ["e"]}}, rng)
    code = f"import greyzone.sources as s; print(s.load_imagefolder({str(tmp_path)!r}).classes)"
    outs = {subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONHASHSEED": str(h)},
                           capture_output=True, text=True, check=True).stdout for h in range(6)}
    assert outs == {"('01', '1', '2', 'x', 'IDK')\n"}


def test_splits_are_train_first(tmp_path, rng):
    """The README says sids put train first; image folders used to put test first (item 13)."""
    make_tree(tmp_path, {"train": {"0": ["1"]}, "test": {"0": ["1"]}}, rng)
    assert list(load_imagefolder(tmp_path).splits) == ["train", "test"]


def test_stray_file_in_split_folder_is_refused(tmp_path, rng):
    make_tree(tmp_path, {"train": {"0": ["1"]}}, rng)
    (tmp_path / "train" / "notes.txt").write_text("hi")
    (tmp_path / "manifest.csv").write_text("root files are fine")
    with pytest.raises(DataError, match=r"train/notes.txt: not a class folder"):
        load_imagefolder(tmp_path)


def test_self_referencing_symlink(tmp_path, rng):
    make_tree(tmp_path, {"train": {"0": ["1"]}}, rng)
    loop = tmp_path / "train" / "0" / "2.png"
    loop.symlink_to(loop)
    with pytest.raises(DataError, match=r"2.png: broken or self-referencing symlink"):
        load_imagefolder(tmp_path)


def test_unreadable_class_folder(tmp_path, rng, monkeypatch):
    """EACCES on a class folder (simulated: the tests may run as root, who can read anything)."""
    from pathlib import Path

    make_tree(tmp_path, {"train": {"0": ["1"], "1": ["2"]}}, rng)
    real = Path.iterdir

    def iterdir(self):
        if self.name == "1":
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "iterdir", iterdir)
    with pytest.raises(DataError, match=r"train/1: cannot list folder \(Permission denied\)"):
        load_imagefolder(tmp_path)


def test_decompression_bomb_is_refused_before_decoding(tmp_path, rng):
    """A 14000×14000 PNG raised PIL's DecompressionBombError as a traceback (item 5)."""
    make_tree(tmp_path, {"train": {"0": ["1"]}}, rng)
    Image.new("L", (14000, 14000)).save(tmp_path / "train" / "0" / "0.png", compress_level=1)
    with pytest.raises(DataError, match=r"0.png: image too large to decode safely"):
        load_imagefolder(tmp_path)
    Image.new("L", (5000, 5000)).save(tmp_path / "train" / "0" / "0.png", compress_level=1)
    with pytest.raises(DataError, match=r"0.png: image too large: 5000×5000 pixels"):
        load_imagefolder(tmp_path)
