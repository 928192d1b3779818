"""Seeded training of one model (:mod:`greyzone.model.architectures`), prediction, and training dynamics.

Determinism: each model is trained from its own seed (weight init, batch order, shifts, dropout); on CPU the
jobs that call this train single-threaded (see :mod:`greyzone.model.jobs`), so the same seed gives the same
numbers whatever the number of cores. Batch order and shifts are drawn on the CPU generator on every device,
and the data lives on the training device (one host→device copy per model, none per step).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from greyzone.model.architectures import ARCHITECTURES, Recipe
from greyzone.validation import image_channels

TTA_SHIFTS = ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1))  # (dy, dx) pixels
Progress = Callable[[int], None]
Stats = tuple[tuple[float, ...], tuple[float, ...]]  # (mean, std) per channel, of pixels on [0, 1]
_STATS_CHUNK = 4096  # images per chunk of channel_stats (bounded float64 memory)


def channel_stats(images: np.ndarray) -> Stats:
    """Per-channel mean and (population) standard deviation of the pixels of ``images`` (N, H, W) or
    (N, H, W, 3) uint8, on [0, 1]: ``μ_c = Σ x / n``, ``σ_c = sqrt(Σ (x − μ_c)² / n)`` over every pixel of
    channel c. Computed exactly from the 256-bin histogram of each channel (integer counts, then float64):
    deterministic, and fast. MNIST's train split gives 0.1307 and 0.3081."""
    c = image_channels(images)
    if images.size == 0:
        raise ValueError("channel_stats needs at least one image")
    counts = np.zeros((c, 256), np.int64)
    for start in range(0, len(images), _STATS_CHUNK):  # bounded memory: bincount works on intp copies
        chunk = np.asarray(images[start : start + _STATS_CHUNK]).reshape(-1, c)
        for k in range(c):
            counts[k] += np.bincount(chunk[:, k], minlength=256)
    values = np.arange(256, dtype=np.float64) / 255.0
    n = counts.sum(axis=1)
    mean = (counts * values).sum(axis=1) / n  # (C,)
    std = np.sqrt((counts * (values - mean[:, None]) ** 2).sum(axis=1) / n)
    std = np.maximum(std, 1e-6)  # a constant channel divides by 1e-6, not 0
    return tuple(map(float, mean)), tuple(map(float, std))


def background(stats: Stats) -> tuple[float, ...]:
    """A black pixel after standardisation, per channel: ``(0 − μ_c) / σ_c``; what shifted-in borders hold."""
    mean, std = stats
    return tuple(-m / s for m, s in zip(mean, std, strict=True))


def to_tensor(images: np.ndarray, size: int, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """(N, H, W) grey or (N, H, W, 3) RGB uint8 → (N, C, size, size) float32 ``(x / 255 − μ_c) / σ_c``;
    resized (bilinear, antialiased) only when ``(H, W) != (size, size)``."""
    x = torch.from_numpy(np.asarray(images, dtype=np.float32)).div_(255.0)  # a writable copy
    x = x.unsqueeze(1) if image_channels(images) == 1 else x.permute(0, 3, 1, 2)  # (N, C, H, W), no copy
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    m = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
    return x.sub_(m).div_(s)


def shift_batch(x: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor, pad: int,
                fill: Sequence[float] | torch.Tensor) -> torch.Tensor:
    """Translate each image of ``x`` (B, C, H, W) by integer ``(dy[b], dx[b])`` in ``[−pad, pad]`` pixels,
    filling channel c with ``fill[c]`` (:func:`background`; exact: no interpolation)."""
    b, c, h, w = x.shape
    fill = torch.as_tensor(fill, dtype=x.dtype, device=x.device)  # no copy when already there
    padded = fill.view(1, 1, 1, c).repeat(b, h + 2 * pad, w + 2 * pad, 1)
    padded[:, pad : pad + h, pad : pad + w] = x.permute(0, 2, 3, 1)  # (B, H + 2p, W + 2p, C)
    rows = (torch.arange(h, device=x.device)[None, :] + pad - dy[:, None])[:, :, None]  # (B, H, 1)
    cols = (torch.arange(w, device=x.device)[None, :] + pad - dx[:, None])[:, None, :]  # (B, 1, W)
    out = padded[torch.arange(b, device=x.device)[:, None, None], rows, cols]  # (B, H, W, C)
    return out.permute(0, 3, 1, 2)  # (B, C, H, W), channels-last in memory


@dataclass
class Dynamics:
    """Per training sample and epoch, from the training forward pass: p[label] and logit margin."""

    p_label: np.ndarray  # (N, E) float32
    margin: np.ndarray  # (N, E) float32: z_label − max_{j≠label} z_j


def fit(
    x: torch.Tensor,
    labels: np.ndarray,
    *,
    architecture: str,
    n_classes: int,
    recipe: Recipe,
    seed: int,
    fill: Sequence[float],
    class_weight: torch.Tensor | None = None,
    progress: Progress | None = None,
    record: bool = False,
) -> tuple[nn.Module, Dynamics | None]:
    """Train ``architecture`` with Adam on standardised inputs ``x`` (N, C, S, S) on ``x.device``; ``fill``:
    the standardised black per channel (:func:`background`) that random shifts pad with."""
    device = x.device
    fill = torch.tensor(fill, dtype=x.dtype, device=device)  # once, not per batch
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    # channels-last activations: 1.22x faster single-threaded LeNet-5 steps on this CPU (same numbers to 5e-6)
    model = ARCHITECTURES[architecture].build(n_classes, x.shape[1])
    model = model.to(device, memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=recipe.lr)
    y = torch.from_numpy(np.asarray(labels, dtype=np.int64)).to(device)
    n = len(y)
    steps = -(-n // recipe.batch_size) * recipe.epochs
    sched = (torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=recipe.lr, total_steps=steps)
             if recipe.schedule == "onecycle" else None)
    weight = class_weight.to(device) if class_weight is not None else None
    dyn = (Dynamics(np.zeros((n, recipe.epochs), np.float32), np.zeros((n, recipe.epochs), np.float32))
           if record else None)
    model.train()
    for epoch in range(recipe.epochs):
        order = torch.randperm(n, generator=gen)
        shifts = (torch.randint(-recipe.shift, recipe.shift + 1, (2, n), generator=gen)
                  if recipe.shift else None)
        for start in range(0, n, recipe.batch_size):
            idx = order[start : start + recipe.batch_size]
            idx_d = idx.to(device)
            xb, yb = x[idx_d], y[idx_d]
            if shifts is not None:
                s = shifts[:, start : start + recipe.batch_size].to(device)
                xb = shift_batch(xb, s[0], s[1], recipe.shift, fill)
            logits = model(xb.contiguous(memory_format=torch.channels_last))  # (B, C)
            loss = F.cross_entropy(logits, yb, weight=weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            if dyn is not None:
                _record(dyn, logits.detach(), yb, idx.numpy(), epoch)
            if progress is not None:
                progress(len(idx))
    model.eval()
    return model, dyn


def _record(dyn: Dynamics, z: torch.Tensor, yb: torch.Tensor, idx: np.ndarray, epoch: int) -> None:
    z_label = z.gather(1, yb[:, None]).squeeze(1)
    other = z.scatter(1, yb[:, None], float("-inf")).amax(1)
    dyn.p_label[idx, epoch] = torch.softmax(z, 1).gather(1, yb[:, None]).squeeze(1).cpu().numpy()
    dyn.margin[idx, epoch] = (z_label - other).cpu().numpy()


class ImageBatches:
    """``to_tensor(images[rows], size, *stats)`` on ``device``, made one slice at a time: ``len(b)`` rows,
    ``b[i:j]`` → the (j − i, C, size, size) float32 tensor of rows i..j. Prediction over it holds one batch
    in float32 while the uint8 images stay memory-mapped (1,000,000 MNIST-sized images would be 3.1 GB as
    one float32 tensor); the values are those of the whole tensor, bit for bit (every step is per pixel or
    per image)."""

    def __init__(self, images: np.ndarray, rows: np.ndarray, size: int, stats: Stats,
                 device: str | torch.device = "cpu") -> None:
        self.images, self.rows = images, np.asarray(rows)
        self.size, self.stats, self.device = size, stats, device

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, part: slice) -> torch.Tensor:
        return to_tensor(self.images[self.rows[part]], self.size, *self.stats).to(self.device)


@torch.no_grad()
def predict(
    model: nn.Module, x: torch.Tensor | ImageBatches, *, batch_size: int = 512, embed: bool = False,
    tta: bool = False, fill: Sequence[float] = (),
) -> tuple[np.ndarray, np.ndarray | None]:
    """Logits (N, C) float32 and, with ``embed``, the embeddings (N, D) float32 of the unshifted images
    ``x`` (a tensor, or :class:`ImageBatches`), one batch at a time into arrays allocated once.

    With ``tta`` the logits are ``log mean_s softmax(z(shift_s(x)))`` over :data:`TTA_SHIFTS`, the shifts
    padding channel c with ``fill[c]`` (:func:`background`).
    """
    model.eval()
    n = len(x)
    logits = embs = fill_t = None
    for start in range(0, n, batch_size):
        xb = x[start : start + batch_size].contiguous(memory_format=torch.channels_last)
        if fill_t is None:
            if tta and len(fill) != xb.shape[1]:
                raise ValueError(f"tta needs one fill value per channel ({xb.shape[1]}), got {len(fill)}")
            fill_t = torch.tensor(fill, dtype=xb.dtype, device=xb.device)
        z, e = model.forward_embed(xb)
        if tta:
            p = torch.softmax(z, 1)
            ones = torch.ones(len(xb), dtype=torch.long, device=xb.device)
            for dy, dx in TTA_SHIFTS[1:]:
                shifted = shift_batch(xb, ones * dy, ones * dx, 1, fill_t)
                p += torch.softmax(model(shifted.contiguous(memory_format=torch.channels_last)), 1)
            z = torch.log((p / len(TTA_SHIFTS)).clamp_min(1e-12))
        if logits is None:
            logits = np.empty((n, z.shape[1]), np.float32)
            embs = np.empty((n, e.shape[1]), np.float32) if embed else None
        logits[start : start + len(xb)] = z.float().cpu().numpy()
        if embs is not None:
            embs[start : start + len(xb)] = e.float().cpu().numpy()
    if logits is None:  # no rows
        return np.empty((0, 0), np.float32), (np.empty((0, 0), np.float32) if embed else None)
    return logits, embs


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
