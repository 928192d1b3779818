import hashlib

import numpy as np
import pytest
from PIL import Image

from greyzone.errors import DataError, ParameterError
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


def test_rgb_and_jpeg_keep_their_channels(tmp_path, rng):
    make_tree(tmp_path, {"train": {"a": ["x", "y"], "b": ["z"]}}, rng, mode="RGB")
    Image.fromarray(rng.integers(0, 256, (28, 28, 3), dtype=np.uint8)).save(
        tmp_path / "train" / "b" / "w.jpg"
    )
    ds = load_dataset("imagefolder", tmp_path)
    assert ds.splits["train"].images.shape == (4, 28, 28, 3)
    assert ds.channels == 3
    assert ds.splits["train"].index.tolist() == [0, 1, 2, 3]  # non-numeric stems: sorted position
    jpeg = np.asarray(Image.open(tmp_path / "train" / "b" / "w.jpg").convert("RGB"))
    assert np.array_equal(ds.splits["train"].images[2], jpeg)  # b/w.jpg sorts before b/z.png
    assert ds.notes == ()


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


def test_rgba_is_composited_on_black_and_kept_rgb(tmp_path):
    rgba = np.zeros((28, 28, 4), np.uint8)
    rgba[..., :3] = (200, 100, 50)
    rgba[:14, :, 3] = 255  # top half opaque, bottom half fully transparent
    rgba[14:20, :, 3] = 128
    (tmp_path / "train" / "0").mkdir(parents=True)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "train" / "0" / "0.png")
    ds = load_imagefolder(tmp_path)
    img = ds.splits["train"].images[0]
    assert img.shape == (28, 28, 3)
    assert (img[:14] == (200, 100, 50)).all() and (img[20:] == 0).all()
    assert (img[14:20] == [round(v * 128 / 255) for v in (200, 100, 50)]).all()
    assert ds.notes == ("train: 1 image(s): alpha composited over 0 (black), kept RGB",)


def test_grey_with_alpha_stays_grey(tmp_path):
    la = np.zeros((28, 28, 2), np.uint8)
    la[..., 0] = 200
    la[:14, :, 1] = 255
    la[14:, :, 1] = 64
    (tmp_path / "train" / "0").mkdir(parents=True)
    Image.fromarray(la, "LA").save(tmp_path / "train" / "0" / "0.png")
    ds = load_imagefolder(tmp_path)
    img = ds.splits["train"].images[0]
    assert img.shape == (28, 28)
    assert (img[:14] == 200).all() and (img[14:] == round(200 * 64 / 255)).all()
    assert ds.notes == ("train: 1 image(s): grey with alpha composited over 0 (black), kept grey",)


def test_palette_png_becomes_rgb(tmp_path, rng):
    rgb = rng.integers(0, 256, (28, 28, 3), dtype=np.uint8)
    pal = Image.fromarray(rgb, "RGB").convert("P")
    (tmp_path / "train" / "0").mkdir(parents=True)
    pal.save(tmp_path / "train" / "0" / "0.png")
    ds = load_imagefolder(tmp_path)
    assert np.array_equal(ds.splits["train"].images[0], np.asarray(pal.convert("RGB")))
    assert ds.notes == ("train: 1 image(s): palette expanded to RGB",)


def test_palette_with_transparency_is_composited(tmp_path):
    pal = Image.new("P", (4, 4), 1)
    pal.putpalette([0, 0, 0, 10, 20, 30, 200, 100, 50] + [0] * (256 * 3 - 9))
    pal.putpixel((0, 0), 2)
    pal.info["transparency"] = 1  # index 1 fully transparent → black
    (tmp_path / "train" / "0").mkdir(parents=True)
    pal.save(tmp_path / "train" / "0" / "0.png", transparency=1)
    ds = load_imagefolder(tmp_path)
    img = ds.splits["train"].images[0]
    assert img[0, 0].tolist() == [200, 100, 50] and (img.reshape(-1, 3)[1:] == 0).all()
    assert ds.notes == ("train: 1 image(s): alpha composited over 0 (black), kept RGB",)


def test_cmyk_jpeg_becomes_rgb(tmp_path, rng):
    cmyk = Image.fromarray(rng.integers(0, 256, (8, 8, 4), dtype=np.uint8), "CMYK")
    (tmp_path / "train" / "0").mkdir(parents=True)
    cmyk.save(tmp_path / "train" / "0" / "0.jpg")
    ds = load_imagefolder(tmp_path)
    expected = np.asarray(Image.open(tmp_path / "train" / "0" / "0.jpg").convert("RGB"))
    assert np.array_equal(ds.splits["train"].images[0], expected)
    assert ds.notes == ("train: 1 image(s): colour mode converted to RGB (PIL convert)",)


def test_float_image_is_refused(tmp_path):
    (tmp_path / "train" / "0").mkdir(parents=True)
    Image.new("F", (4, 4), 0.5).save(tmp_path / "train" / "0" / "0.tiff", format="TIFF")
    (tmp_path / "train" / "0" / "0.tiff").rename(tmp_path / "train" / "0" / "0.png")  # TIFF bytes, .png name
    with pytest.raises(DataError, match=r"0.png: floating-point image \(mode F\) is not supported"):
        load_imagefolder(tmp_path)


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


# ------------------------------------------------------------------ issue 10 item 2: colour, any size
def coloured_digit(rng, size=28):
    """A white-ink-on-black stroke tinted with a random colour: ``(size, size, 3)`` uint8."""
    ink = np.zeros((size, size), np.float64)
    r, c = rng.integers(4, size - 8, 2)
    ink[r:r + 6, c:c + 3] = 1.0
    colour = rng.integers(64, 256, 3)
    return np.rint(ink[..., None] * colour).astype(np.uint8)


def test_coloured_mnist_folder_keeps_channels_and_hashes(tmp_path, rng):
    digits = {}
    for split, n in (("train", 6), ("test", 2)):
        for i in range(n):
            cls = str(i % 3)
            (tmp_path / split / cls).mkdir(parents=True, exist_ok=True)
            digits[(split, i)] = coloured_digit(rng)
            Image.fromarray(digits[(split, i)], "RGB").save(tmp_path / split / cls / f"{i:05d}.png")
    ds = load_imagefolder(tmp_path)
    assert ds.channels == 3 and ds.notes == ()
    tr = ds.splits["train"]
    assert tr.images.shape == (6, 28, 28, 3) and tr.index.tolist() == list(range(6))
    assert np.array_equal(tr.images[4], digits[("train", 4)])  # exact pixels of a known file
    assert np.array_equal(ds.splits["test"].images[1], digits[("test", 1)])
    assert tr.files[4] == "train/1/00004.png"
    assert tr.file_sha256[4] == hashlib.sha256((tmp_path / tr.files[4]).read_bytes()).hexdigest()


def mixed_folder(root, rng):
    """PNG and JPEG, grey and RGB, of three sizes (most common 40×30, W×H)."""
    spec = [("train", "cat", "a.png", (30, 40), "L"), ("train", "cat", "b.jpg", (30, 40), "RGB"),
            ("train", "dog", "c.png", (30, 40), "RGB"), ("train", "dog", "d.jpg", (17, 23), "L"),
            ("test", "cat", "e.png", (12, 12), "L"), ("test", "dog", "f.jpg", (30, 40), "RGB")]
    for split, cls, name, (h, w), mode in spec:
        (root / split / cls).mkdir(parents=True, exist_ok=True)
        shape = (h, w) if mode == "L" else (h, w, 3)
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(root / split / cls / name)
    return spec


def test_mixed_sizes_and_modes_are_resized_for_the_models(tmp_path, rng):
    mixed_folder(tmp_path, rng)
    ds = load_imagefolder(tmp_path)
    assert ds.splits["train"].images.shape == (4, 40, 40, 3)  # most common 40×30: larger side 40
    assert ds.splits["test"].images.shape == (2, 40, 40, 3)
    assert ds.notes == (
        "train: 2 grey image(s) replicated to 3 channels (the dataset mixes grey and colour images, so it is "
        "stored as RGB)",
        "test: 1 grey image(s) replicated to 3 channels (the dataset mixes grey and colour images, so it is "
        "stored as RGB)",
        "train: 4 image(s) of 2 size(s) resized to 40×40 (bilinear) for the models and thumbnails (the "
        "dataset has 3 image sizes; the export keeps the original files)",
        "test: 2 image(s) of 2 size(s) resized to 40×40 (bilinear) for the models and thumbnails (the "
        "dataset has 3 image sizes; the export keeps the original files)",
    )
    for s in ds.splits.values():
        for f, sha in zip(s.files, s.file_sha256, strict=True):
            assert sha == hashlib.sha256((tmp_path / f).read_bytes()).hexdigest()
    a = ds.splits["train"].images[0]  # cat/a.png, grey: replicated, resized bilinear
    expected = np.asarray(Image.open(tmp_path / "train/cat/a.png").resize((40, 40), Image.BILINEAR))
    assert np.array_equal(a, np.repeat(expected[..., None], 3, axis=2))
    small = load_imagefolder(tmp_path, size=16)
    assert small.splits["train"].images.shape == (4, 16, 16, 3)
    assert "resized to 16×16" in small.notes[-1]
    with pytest.raises(ParameterError, match="size"):
        load_imagefolder(tmp_path, size=0)


def test_truncated_jpeg_in_a_mixed_folder_is_named(tmp_path, rng):
    mixed_folder(tmp_path, rng)
    jpg = tmp_path / "train" / "cat" / "b.jpg"
    jpg.write_bytes(jpg.read_bytes()[: len(jpg.read_bytes()) // 2])
    with pytest.raises(DataError, match=r"train/cat/b.jpg: not a readable PNG/JPEG image"):
        load_imagefolder(tmp_path)


def test_one_grey_split_and_one_rgb_split_make_an_rgb_dataset(tmp_path, rng):
    pixels = make_tree(tmp_path, {"train": {"0": ["0"], "1": ["1"]}}, rng)
    make_tree(tmp_path, {"test": {"0": ["0"]}}, rng, mode="RGB")
    ds = load_imagefolder(tmp_path)
    tr, te = ds.splits["train"], ds.splits["test"]
    assert tr.images.shape == (2, 28, 28, 3) and te.images.shape == (1, 28, 28, 3)
    assert np.array_equal(tr.images[1], np.repeat(pixels[("train", "1")][..., None], 3, axis=2))
    assert ds.notes == ("train: 2 grey image(s) replicated to 3 channels (the dataset mixes grey and colour "
                        "images, so it is stored as RGB)",)


def test_grey_folder_stays_grey_and_byte_identical(tmp_path, rng):
    pixels = make_tree(tmp_path, {"train": {"0": ["00000", "00002"], "1": ["00001"]}}, rng)
    ds = load_imagefolder(tmp_path)
    tr = ds.splits["train"]
    assert tr.images.shape == (3, 28, 28) and ds.channels == 1 and ds.notes == ()
    assert np.array_equal(tr.images, np.stack([pixels[("train", f"{i:05d}")] for i in range(3)]))


def test_memory_guard_resizes_a_uniform_folder(tmp_path, rng, monkeypatch):
    import greyzone.sources.shape as shape

    make_tree(tmp_path, {"train": {"0": ["0", "1"], "1": ["2"]}}, rng, size=(80, 80))
    monkeypatch.setattr(shape, "MAX_BYTES", 3 * 80 * 80 - 1)
    ds = load_imagefolder(tmp_path)
    assert ds.splits["train"].images.shape == (3, 64, 64)  # larger side 80, capped at 64
    assert ds.notes == ("train: 3 image(s) of 1 size(s) resized to 64×64 (bilinear) for the models and "
                        "thumbnails (80×80 images would take 19,200 bytes as one array, more than the 19,199 "
                        "allowed; the export keeps the original files)",)


def test_load_dataset_passes_the_working_size(tmp_path, rng):
    mixed_folder(tmp_path, rng)
    assert load_dataset("imagefolder", tmp_path, size=20).splits["test"].images.shape == (2, 20, 20, 3)
