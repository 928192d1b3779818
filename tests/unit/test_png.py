import hashlib
import io

import numpy as np
import pytest
from PIL import Image

from greyzone.errors import ExportError
from greyzone.export.png import decode_png, encode_png
from greyzone.export.writer import Task, write_files


@pytest.mark.parametrize("shape", [(28, 28), (1, 1), (3, 17), (64, 5), (32, 32, 3), (1, 1, 3), (5, 9, 3)])
def test_pil_reads_what_encode_png_writes(rng, shape):
    a = rng.integers(0, 256, size=shape, dtype=np.uint8)
    data = encode_png(a)
    with Image.open(io.BytesIO(data)) as im:
        assert im.mode == ("L" if len(shape) == 2 else "RGB") and np.array_equal(np.asarray(im), a)
    assert np.array_equal(decode_png(data), a) and encode_png(a) == data  # same pixels, same bytes


def test_decode_png_is_strict(rng):
    data = encode_png(rng.integers(0, 256, size=(4, 4), dtype=np.uint8))
    with pytest.raises(ValueError, match="signature"):
        decode_png(b"GIF89a" + data[6:])
    flipped = bytearray(data)
    flipped[40] ^= 1  # inside IDAT: the CRC no longer matches
    with pytest.raises(ValueError, match="bad CRC"):
        decode_png(bytes(flipped))
    with pytest.raises(ValueError, match="truncated"):
        decode_png(data[:-5])
    buf = io.BytesIO()
    Image.fromarray(np.zeros((4, 4, 4), np.uint8)).save(buf, format="PNG")  # RGBA: not greyzone's format
    with pytest.raises(ValueError, match="8-bit grey or RGB"):
        decode_png(buf.getvalue())
    with pytest.raises(ValueError, match="uint8"):
        encode_png(np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        encode_png(np.zeros((4, 4, 4), np.uint8))


def _sources(tmp_path, n):
    """``n`` small files of arbitrary bytes (the writer copies bytes; it never decodes a source)."""
    (tmp_path / "src").mkdir()
    paths = []
    for i in range(n):
        paths.append(tmp_path / "src" / f"{i}.jpg")
        paths[-1].write_bytes(b"\xff\xd8 not really a jpeg %d" % i)
    return paths


def test_write_files_in_workers_matches_in_process(rng, tmp_path, monkeypatch):
    images = rng.integers(0, 256, size=(50, 6, 5, 3), dtype=np.uint8)
    np.save(tmp_path / "images.npy", images)
    sources = _sources(tmp_path, 50)
    digest = [hashlib.sha256(p.read_bytes()).hexdigest() for p in sources]
    tasks = [Task(i, f"{i % 3}/{i:05d}.png") if i % 2 else
             Task(i, f"{i % 3}/{i:05d}.jpg", str(sources[i]), digest[i]) for i in range(50)]
    for root in ("one", "two"):
        for d in range(3):
            (tmp_path / root / str(d)).mkdir(parents=True)
    one = write_files(tmp_path / "images.npy", tmp_path / "one", tasks, workers=1)
    monkeypatch.setattr("greyzone.export.writer.MIN_PER_WORKER", 10)
    ticks = []
    two = write_files(tmp_path / "images.npy", tmp_path / "two", tasks, workers=2, progress=ticks.append)
    assert [r.rel for r in one] == [r.rel for r in two] == [t.rel for t in tasks] and sum(ticks) == 50
    for t, stat in zip(tasks, two, strict=True):
        data = (tmp_path / "two" / t.rel).read_bytes()
        assert data == (tmp_path / "one" / t.rel).read_bytes()
        assert stat.sha256 == hashlib.sha256(data).hexdigest() and stat.size == len(data)
        if t.source is None:
            assert np.array_equal(decode_png(data), images[t.sid])
        else:
            assert data == sources[t.sid].read_bytes()  # the original bytes, not a re-encoding


@pytest.mark.parametrize("workers", [1, 2])
def test_a_changed_or_missing_source_is_refused_by_name(tmp_path, monkeypatch, workers):
    np.save(tmp_path / "images.npy", np.zeros((20, 2, 2), np.uint8))
    sources = _sources(tmp_path, 20)
    tasks = [Task(i, f"{i:05d}.jpg", str(sources[i]), hashlib.sha256(sources[i].read_bytes()).hexdigest())
             for i in range(20)]
    monkeypatch.setattr("greyzone.export.writer.MIN_PER_WORKER", 10)
    sources[13].write_bytes(b"edited after loading")
    (tmp_path / "out").mkdir()
    with pytest.raises(ExportError, match=rf"{sources[13]}: the file changed since it was loaded"):
        write_files(tmp_path / "images.npy", tmp_path / "out", tasks, workers=workers)
    sources[13].unlink()
    (tmp_path / "out2").mkdir()
    with pytest.raises(ExportError, match=rf"{sources[13]}: cannot read the source file of 00013.jpg"):
        write_files(tmp_path / "images.npy", tmp_path / "out2", tasks, workers=workers)
