"""Every PIL image mode turned into 8-bit grey deliberately, and said so.

greyzone's models read ``(H, W)`` uint8 grey (MNIST's convention: white ink on a black background). Each mode
is converted by one stated rule, :func:`to_grey` returns which rule it applied, and the image-folder loader
counts the rules per split and reports them (``Dataset.notes``, logged by ``greyzone run`` and stored in the
workspace):

* ``L``: as is.  ``1`` (bilevel): 0 → 0, 1 → 255.
* ``I;16*`` / ``I`` (16-bit grey PNG): ``round(v / 257)``, i.e. 0..65535 → 0..255, keeping every grey level
  (PIL's own ``convert("L")`` clips at 255 and binarises such images). ``I`` values outside 0..65535 are
  refused.
* With an alpha channel (``LA``, ``RGBA``, ``PA``, ``P`` with transparency): composited over a black
  background (:data:`BACKGROUND`, MNIST's), ``out = α·v + (1 − α)·0``, then as below.
* ``P`` (palette): expanded to RGB(A) through its palette, then luma.
* ``RGB`` and every other colour mode: via RGB to ITU-R 601-2 luma ``L = 0.299 R + 0.587 G + 0.114 B``
  (PIL ``convert("L")``).
* ``F`` (float) and anything PIL cannot expand to RGB: refused with the file and mode named.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from greyzone.errors import DataError

#: Grey level that transparent pixels are composited over (0 = black, MNIST's background).
BACKGROUND = 0
SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N", "I")
RULES = {
    "L": "8-bit grey, read as is",
    "1": "bilevel, 1 → 255",
    "16-bit": "16-bit grey scaled to 8-bit (round(v / 257))",
    "alpha": f"alpha composited over grey {BACKGROUND} (black), then luma",
    "palette": "palette expanded to RGB, then luma (0.299 R + 0.587 G + 0.114 B)",
    "colour": "colour converted to luma (0.299 R + 0.587 G + 0.114 B)",
}


def to_grey(im: Image.Image, source: str) -> tuple[np.ndarray, str]:
    """``(H, W)`` uint8 grey of ``im`` and the key of :data:`RULES` applied; ``source`` names the file."""
    mode = im.mode
    if mode == "L":
        return np.asarray(im, dtype=np.uint8), "L"
    if mode == "1":
        return np.asarray(im.convert("L"), dtype=np.uint8), "1"
    if mode in SIXTEEN_BIT:
        v = np.asarray(im).astype(np.int64)
        if v.size and (v.min() < 0 or v.max() > 65535):
            raise DataError(f"{source}: {mode} pixel values {v.min()}..{v.max()} are outside 0..65535; "
                            f"save the image as 8- or 16-bit grey")
        return ((v * 255 + 32767) // 65535).astype(np.uint8), "16-bit"
    if mode == "F":
        raise DataError(f"{source}: floating-point image (mode F) is not supported; save it as 8- or 16-bit "
                        f"grey PNG")
    rule = "palette" if mode == "P" else "colour"
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    if im.mode in ("LA", "PA", "RGBA", "La", "RGBa"):
        rgba = np.asarray(im.convert("RGBA"), dtype=np.float64)
        alpha = rgba[..., 3:4] / 255.0
        rgb = rgba[..., :3] * alpha + BACKGROUND * (1.0 - alpha)
        luma = rgb @ np.array([0.299, 0.587, 0.114])
        return np.clip(np.rint(luma), 0, 255).astype(np.uint8), "alpha"
    try:
        return np.asarray(im.convert("RGB").convert("L"), dtype=np.uint8), rule
    except (ValueError, OSError) as e:
        raise DataError(f"{source}: image mode {mode} cannot be converted to grey ({e})") from e


def describe(counts: dict[str, int], split: str) -> list[str]:
    """One line per rule other than plain 8-bit grey: ``"train: 12 images: 16-bit grey scaled …"``."""
    return [f"{split}: {n} image(s): {RULES[rule]}" for rule, n in sorted(counts.items()) if rule != "L"]
