"""One pixel shape per dataset: its channels (grey or RGB) and its stored size, decided before decoding.

A dataset's images are one uint8 array, ``(N, H, W)`` grey or ``(N, H, W, 3)`` RGB. The loaders of files
(image folders, Hugging Face, FiftyOne) first read every image's size and mode (headers only), then
:func:`plan` decides, for the whole dataset:

* **channels**: RGB when any image is colour (:func:`greyzone.sources.convert.mode_channels`), its grey images
  then replicated to three channels (said in a note); else grey.
* **size**: kept when every image has one size and the array stays within :data:`MAX_BYTES` (4 GiB). Else
  every image of another size is resized to ``size × size`` (default: the most common size's larger side,
  capped at :data:`MAX_SIDE`), bilinear with antialiasing (PIL ``resize(..., BILINEAR)``, which widens the
  filter when shrinking), aspect ratio not kept. The resized pixels are for the models and thumbnails only:
  the export copies the original files, so a note says so (images that are not files, e.g. inside a Hugging
  Face dataset, keep only the resized pixels, and the note says that instead).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
from PIL import Image

from greyzone.validation import check_positive_int

#: Largest images array kept at the images' own size (bytes); larger ones are resized to the working size.
MAX_BYTES = 4 * 2**30
#: Cap on the default working side (pixels) when images must be resized.
MAX_SIDE = 64
RESAMPLE = Image.Resampling.BILINEAR

#: One image before decoding: ``((width, height), channels)``.
Header = tuple[tuple[int, int], int]


@dataclass(frozen=True)
class Plan:
    """The stored shape of every image: ``(height, width)`` and 1 (grey) or 3 (RGB) channels."""

    height: int
    width: int
    channels: int

    @property
    def shape(self) -> tuple[int, ...]:
        """One image's array shape: ``(H, W)`` or ``(H, W, 3)``."""
        return (self.height, self.width) + ((3,) if self.channels == 3 else ())

    def fit(self, pixels: np.ndarray) -> np.ndarray:
        """``(H', W')`` or ``(H', W', 3)`` uint8 → :attr:`shape`: resized if its size differs, grey
        replicated to RGB if the plan is RGB."""
        if pixels.shape[:2] != (self.height, self.width):
            pixels = np.asarray(Image.fromarray(pixels).resize((self.width, self.height), RESAMPLE))
        if self.channels == 3 and pixels.ndim == 2:
            pixels = np.repeat(pixels[:, :, None], 3, axis=2)
        return pixels


def plan(headers: dict[str, list[Header]], *, size: int | None = None, files: bool = True
         ) -> tuple[Plan, list[str]]:
    """The dataset's :class:`Plan` from ``{split: [header, ...]}`` and the notes saying what changes.

    ``size``: the working side used when images must be resized (see the module doc); ignored when every
    image has one size that fits in :data:`MAX_BYTES`. ``files``: whether the images are files (the export
    then keeps the originals) or not (e.g. images inside a Hugging Face dataset: only the resized pixels are
    kept)."""
    if size is not None:
        size = check_positive_int(size, "size")
    all_headers = [h for hs in headers.values() for h in hs]
    if not all_headers:
        return Plan(0, 0, 1), []
    channels = 3 if any(c == 3 for _, c in all_headers) else 1
    sizes = Counter(wh for wh, _ in all_headers)
    (w, h), _ = sizes.most_common(1)[0]
    nbytes = len(all_headers) * w * h * channels
    notes = []
    if channels == 3 and any(c == 1 for _, c in all_headers):
        for split, hs in headers.items():
            n = sum(c == 1 for _, c in hs)
            if n:
                notes.append(f"{split}: {n} grey image(s) replicated to 3 channels (the dataset mixes grey "
                             f"and colour images, so it is stored as RGB)")
    if len(sizes) == 1 and nbytes <= MAX_BYTES:
        return Plan(h, w, channels), notes
    side = size or min(max(w, h), MAX_SIDE)
    why = (f"the dataset has {len(sizes)} image sizes" if len(sizes) > 1 else
           f"{h}×{w} images would take {nbytes:,} bytes as one array, more than the {MAX_BYTES:,} allowed")
    kept = "the export keeps the original files" if files else "the images are not files: only the resized " \
        "pixels are kept"
    for split, hs in headers.items():
        other = [wh for wh, _ in hs if wh != (side, side)]
        if other:
            notes.append(f"{split}: {len(other)} image(s) of {len(set(other))} size(s) resized to "
                         f"{side}×{side} (bilinear) for the models and thumbnails ({why}; {kept})")
    return Plan(side, side, channels), notes
