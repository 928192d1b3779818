"""Formatting for the report's templates: numbers, percentages, ``mean ± std`` cells and thumbnails.

Everything here returns plain text (the templates escape it) or small records the templates lay out; no HTML.
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

MISSING = "—"


def num(v: Any, digits: int = 3) -> str:
    """An integer with thousands separators, a float with ``digits`` decimals, a bool as yes/no, "—" for
    None or a non-finite float, anything else as ``str``."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return MISSING
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int | np.integer):
        return f"{int(v):,}"
    if isinstance(v, float | np.floating):
        return f"{float(v):.{digits}f}"
    return str(v)


def commas(v: float, digits: int | None = None) -> str:
    """``v`` with thousands separators, with ``digits`` decimals when given (``1234.5`` → ``1,234.5``)."""
    return f"{v:,}" if digits is None else f"{v:,.{digits}f}"


def pct(v: Any, digits: int = 2) -> str:
    """A fraction as a percentage (``0.1234`` → ``12.34%``); "—" when missing or not finite."""
    if v is None or not isinstance(v, int | float | np.integer | np.floating) or not math.isfinite(v):
        return MISSING
    return f"{100 * float(v):.{digits}f}%"


def ratio(part: int, whole: int, digits: int = 2) -> str:
    """``part / whole`` as a percentage, "—" for an empty whole."""
    return pct(part / whole, digits) if whole else MISSING


@dataclass(frozen=True)
class Value:
    """One table value: ``text``, then ``± pm`` in grey; ``tint`` (0..1) shades it as a heat-map cell and
    ``best`` marks the best value of a column."""

    text: str
    pm: str | None = None
    tint: float | None = None
    best: bool = False


def stat(d: Any) -> tuple[float | None, float | None]:
    """``(mean, std)`` of a ``{"mean", "std"}`` dict or a bare number; None for what is missing."""
    if isinstance(d, dict):
        m, sd = d.get("mean"), d.get("std")
        return _finite(m), _finite(sd)
    return _finite(d), None


def _finite(v: Any) -> float | None:
    ok = isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    return float(v) if ok else None


def stat_value(d: Any, *, scale: float = 100.0, digits: int = 2) -> Value:
    """``mean ± std`` of a ``{"mean", "std"}`` dict (or a bare number), times ``scale``; "—" when missing."""
    m, sd = stat(d)
    if m is None:
        return Value(MISSING)
    return Value(f"{m * scale:.{digits}f}", None if sd is None else f"{sd * scale:.{digits}f}")


def png_uri(img: np.ndarray) -> str:
    """A data URI of ``img`` as PNG: ``(H, W)`` greyscale inverted to dark ink on white, ``(H, W, 3)`` RGB
    as is."""
    from PIL import Image

    a = np.asarray(img)
    if a.dtype != np.uint8:
        a = np.clip(a, 0, 255).astype(np.uint8)
    if a.ndim == 2:
        pil = Image.fromarray(255 - a, mode="L")
    elif a.ndim == 3 and a.shape[2] in (3, 4):
        pil = Image.fromarray(a[..., :3], mode="RGB")
    else:
        pil = Image.fromarray(255 - a.reshape(a.shape[0], -1), mode="L")
    buf = io.BytesIO()
    pil.save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
