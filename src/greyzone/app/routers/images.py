"""Images: one thumbnail per sample, and sprite sheets (a page of up to 200 samples in one PNG); grey PNGs
for a grey workspace, RGB PNGs for an RGB one.

Both are encoded from the stored pixels (``images.npy``, memory-mapped); they never change for a workspace,
so responses carry an ETag and may be cached by the browser. Thumbnails are also kept in an in-process LRU.
"""

from __future__ import annotations

import hashlib
import io
from functools import lru_cache
from typing import Annotated

import numpy as np
from fastapi import APIRouter, HTTPException, Query, Request, Response
from PIL import Image

from greyzone.app.state import AppState, State

router = APIRouter(prefix="/api", tags=["images"])
MAX_SPRITE = 200
CACHE = "private, max-age=86400"


def png_bytes(pixels: np.ndarray) -> bytes:
    """``(H, W)`` grey or ``(H, W, 3)`` RGB uint8 as a PNG of the same mode (L or RGB)."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels, dtype=np.uint8)).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def sprite_pixels(images: np.ndarray, sids: list[int], cols: int) -> np.ndarray:
    """Tiles in row-major order, ``cols`` per row; unused tiles are black. ``images`` (N, H, W) grey or
    (N, H, W, 3) RGB → ``(rows·H, cols·W)`` or ``(rows·H, cols·W, 3)``."""
    h, w, *c = images.shape[1:]
    rows = -(-len(sids) // cols)
    tiles = np.zeros((rows * cols, h, w, *c), np.uint8)
    tiles[: len(sids)] = images[np.asarray(sids, dtype=np.int64)]
    return tiles.reshape(rows, cols, h, w, *c).swapaxes(1, 2).reshape(rows * h, cols * w, *c)


def _image_response(request: Request, data_fn, etag: str) -> Response:
    headers = {"ETag": etag, "Cache-Control": CACHE}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(data_fn(), media_type="image/png", headers=headers)


def thumbnail_cache(state: AppState):
    """An LRU of encoded thumbnails bound to this app's images."""

    @lru_cache(maxsize=8192)
    def thumb(sid: int) -> bytes:
        return png_bytes(state.images[sid])

    return thumb


@router.get("/thumb/{sid}", response_class=Response, responses={200: {"content": {"image/png": {}}}})
def thumbnail(sid: int, request: Request, state: State) -> Response:
    """The sample's stored pixels as a PNG (the browser upscales it, pixelated)."""
    state.check_sid(sid)
    thumb = request.app.state.thumb
    return _image_response(request, lambda: thumb(sid), f'"t{sid}-{state.version}"')


def parse_sids(text: str, state: AppState, *, limit: int) -> list[int]:
    """``"3,17,42"`` → ``[3, 17, 42]``; 422 when malformed or too many, 404 for an unknown sid."""
    try:
        sids = [int(t) for t in text.split(",")]
    except ValueError:
        raise HTTPException(422, "sids must be comma-separated integers, e.g. sids=3,17,42") from None
    if not 1 <= len(sids) <= limit:
        raise HTTPException(422, f"between 1 and {limit} sids per request, got {len(sids)}")
    for s in sids:
        state.check_sid(s)
    return sids


@router.get("/sprite", response_class=Response, responses={200: {"content": {"image/png": {}}}})
def sprite(request: Request, state: State, sids: Annotated[str, Query(max_length=MAX_SPRITE * 8)],
           cols: Annotated[int, Query(ge=1, le=MAX_SPRITE)] = 20) -> Response:
    """Up to 200 thumbnails in one PNG: tile ``i`` is at row ``i // cols``, column ``i % cols``."""
    ids = parse_sids(sids, state, limit=MAX_SPRITE)
    cols = min(cols, len(ids))
    key = hashlib.sha1(f"{sids}|{cols}".encode()).hexdigest()[:16]
    resp = _image_response(request, lambda: png_bytes(sprite_pixels(state.images, ids, cols)),
                           f'"s{key}-{state.version}"')
    resp.headers["X-Sprite-Cols"] = str(cols)
    return resp
