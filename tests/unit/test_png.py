import io

import numpy as np
import pytest
from PIL import Image

from greyzone.export.png import decode_png, encode_png, write_pngs


@pytest.mark.parametrize("shape", [(28, 28), (1, 1), (3, 17), (64, 5)])
def test_pil_reads_what_encode_png_writes(rng, shape):
    a = rng.integers(0, 256, size=shape, dtype=np.uint8)
    data = encode_png(a)
    with Image.open(io.BytesIO(data)) as im:
        assert im.mode == "L" and np.array_equal(np.asarray(im), a)
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
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(buf, format="PNG")  # RGB: not greyzone's format
    with pytest.raises(ValueError, match="8-bit grey"):
        decode_png(buf.getvalue())
    with pytest.raises(ValueError, match="uint8"):
        encode_png(np.zeros((4, 4), np.float32))


def test_write_pngs_in_workers_matches_in_process(rng, tmp_path, monkeypatch):
    images = rng.integers(0, 256, size=(50, 6, 5), dtype=np.uint8)
    np.save(tmp_path / "images.npy", images)
    tasks = [(i, f"{i % 3}/{i:05d}.png") for i in range(50)]
    for root in ("one", "two"):
        for d in range(3):
            (tmp_path / root / str(d)).mkdir(parents=True)
    one = write_pngs(tmp_path / "images.npy", tmp_path / "one", tasks, workers=1)
    monkeypatch.setattr("greyzone.export.png.MIN_PER_WORKER", 10)
    ticks = []
    two = write_pngs(tmp_path / "images.npy", tmp_path / "two", tasks, workers=2, progress=ticks.append)
    assert [r[0] for r in one] == [r[0] for r in two] == [p for _, p in tasks] and sum(ticks) == 50
    for sid, rel in tasks:
        assert (tmp_path / "one" / rel).read_bytes() == (tmp_path / "two" / rel).read_bytes()
        assert np.array_equal(decode_png((tmp_path / "two" / rel).read_bytes()), images[sid])
