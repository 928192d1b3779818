"""Every PIL image mode turned into 8-bit grey or 8-bit RGB deliberately, and said so.

greyzone stores ``(H, W)`` uint8 grey or ``(H, W, 3)`` uint8 RGB pixels. Each mode is converted by one stated
rule, :func:`to_pixels` returns which rule it applied, and the loaders count the rules per split and report
them (``Dataset.notes``, logged by ``greyzone run`` and stored in the workspace). Grey stays grey, colour
stays colour (:func:`mode_channels` tells which from the mode alone, before decoding):

* Grey, ``(H, W)``: ``L`` as is. ``1`` (bilevel): 0 → 0, 1 → 255. ``I;16*`` / ``I`` (16-bit grey PNG):
  ``round(v / 257)``, i.e. 0..65535 → 0..255, keeping every grey level (PIL's own ``convert("L")`` clips at
  255 and binarises such images); ``I`` values outside 0..65535 are refused. ``LA`` (grey + alpha): composited
  over a black background (:data:`BACKGROUND`, MNIST's), ``out = round(α·v + (1 − α)·0)``, α = A / 255.
* RGB, ``(H, W, 3)``: ``RGB`` as is. With an alpha channel (``RGBA``, ``PA``, ``P`` with transparency):
  composited over black as above, per channel. ``P`` (palette): expanded to RGB through its palette (even a
  grey palette). ``CMYK``, ``YCbCr`` and every other colour mode: PIL ``convert("RGB")``.
* ``F`` (float) and anything PIL cannot expand to RGB: refused with the file and mode named.

A dataset that mixes grey and colour images is stored as RGB, its grey images replicated to three channels
(:mod:`greyzone.sources.shape`).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from greyzone.errors import DataError

#: Value that transparent pixels are composited over (0 = black, MNIST's background).
BACKGROUND = 0
SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N", "I")
GREY_MODES = ("L", "1", "LA", "La", *SIXTEEN_BIT)
ALPHA_MODES = ("RGBA", "RGBa", "PA")
RULES = {
    "L": "8-bit grey, read as is",
    "1": "bilevel, 1 → 255",
    "16-bit": "16-bit grey scaled to 8-bit (round(v / 257))",
    "grey-alpha": f"grey with alpha composited over {BACKGROUND} (black), kept grey",
    "RGB": "8-bit RGB, read as is",
    "alpha": f"alpha composited over {BACKGROUND} (black), kept RGB",
    "palette": "palette expanded to RGB",
    "colour": "colour mode converted to RGB (PIL convert)",
}
#: Rules that change nothing and so go unmentioned in the notes.
PLAIN = ("L", "RGB")


def mode_channels(mode: str, source: str) -> int:
    """1 when :func:`to_pixels` makes an image of PIL ``mode`` grey, 3 when RGB; ``F`` is refused."""
    if mode == "F":
        raise DataError(f"{source}: floating-point image (mode F) is not supported; save it as 8- or 16-bit "
                        f"grey PNG")
    return 1 if mode in GREY_MODES else 3


def _over_black(a: np.ndarray) -> np.ndarray:
    """``(H, W, C + 1)`` uint8 with alpha last → ``(H, W, C)`` composited over :data:`BACKGROUND`."""
    alpha = a[..., -1:].astype(np.float64) / 255.0
    out = a[..., :-1] * alpha + BACKGROUND * (1.0 - alpha)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def to_pixels(im: Image.Image, source: str) -> tuple[np.ndarray, str]:
    """``(H, W)`` or ``(H, W, 3)`` uint8 pixels of ``im`` (as :func:`mode_channels` says) and the key of
    :data:`RULES` applied; ``source`` names the file."""
    mode = im.mode
    mode_channels(mode, source)
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
    if mode in ("LA", "La"):
        return _over_black(np.asarray(im.convert("LA"), dtype=np.uint8))[..., 0], "grey-alpha"
    if mode == "RGB":
        return np.asarray(im, dtype=np.uint8), "RGB"
    rule = "palette" if mode == "P" else "alpha" if mode in ALPHA_MODES else "colour"
    try:
        if mode == "P":
            im = im.convert("RGBA" if "transparency" in im.info else "RGB")
            rule = "alpha" if im.mode == "RGBA" else rule
        if im.mode in ALPHA_MODES:
            return _over_black(np.asarray(im.convert("RGBA"), dtype=np.uint8)), rule
        return np.asarray(im.convert("RGB"), dtype=np.uint8), rule
    except (ValueError, OSError) as e:
        raise DataError(f"{source}: image mode {mode} cannot be converted to RGB ({e})") from e


def describe(counts: dict[str, int], split: str) -> list[str]:
    """One line per rule other than plain grey or RGB: ``"train: 12 image(s): 16-bit grey scaled …"``."""
    return [f"{split}: {n} image(s): {RULES[rule]}"
            for rule, n in sorted(counts.items()) if rule not in PLAIN]
