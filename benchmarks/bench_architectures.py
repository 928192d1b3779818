"""Single-threaded training speed of every architecture at its native size (what ``COST_PER_SAMPLE`` of
``greyzone.model.jobs`` balances workers with).

    .venv/bin/python benchmarks/bench_architectures.py [--n 6000] [--epochs 1] [--mnist DIR]

One epoch of each model's recipe (batch size, schedule, random shifts) on ``--n`` images: MNIST's first train
images (grey, 28 × 28) for the 28-pixel models when ``--mnist`` names an IDX directory, else uniform-noise
images; RGB 32 × 32 uniform noise for ``resnet`` (speed does not depend on the pixels). Also times one
TTA prediction pass. Prints a table; nothing is asserted. Other jobs on the machine slow it down: run it
alone.
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    import numpy as np
    import torch
    from rich.console import Console
    from rich.table import Table

    from greyzone.model.architectures import ARCHITECTURES, Recipe
    from greyzone.model.train import background, channel_stats, fit, predict, to_tensor

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=6000, help="training images")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--mnist", default=None, help="MNIST IDX directory for the grey models")
    args = ap.parse_args()

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (args.n, 28, 28), dtype=np.uint8)
    if args.mnist:
        from pathlib import Path

        from greyzone.sources.idx import MAGIC_IMAGES, load_idx

        grey = load_idx(Path(args.mnist) / "train-images-idx3-ubyte", expect_magic=MAGIC_IMAGES)[: args.n]
    rgb = rng.integers(0, 256, (args.n, 32, 32, 3), dtype=np.uint8)
    inputs = {"lenet5": grey, "cnn": grey, "resnet": rgb}
    labels = rng.integers(0, 10, args.n)
    table = Table(title=f"one thread, {args.n} images, {args.epochs} epoch(s)")
    for col in ("model", "input", "params", "train samples/s", "predict (TTA) samples/s"):
        table.add_column(col, justify="left" if col in ("model", "input") else "right")
    for name, arch in ARCHITECTURES.items():
        images = inputs[name]
        stats = channel_stats(images)
        x = to_tensor(images, arch.native_size, *stats)
        r = arch.recipe
        recipe = Recipe(args.epochs, r.batch_size, r.lr, r.schedule, r.shift, r.tta)
        t0 = time.perf_counter()
        model, _ = fit(x, labels, architecture=name, n_classes=10, recipe=recipe, seed=0,
                       fill=background(stats))
        train_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        predict(model, x, tta=r.tta, fill=background(stats))
        pred_s = time.perf_counter() - t0
        params = sum(p.numel() for p in model.parameters())
        table.add_row(name, f"{tuple(x.shape[1:])}", f"{params:,}", f"{args.n * args.epochs / train_s:,.0f}",
                      f"{args.n / pred_s:,.0f}")
    Console().print(table)


if __name__ == "__main__":
    main()
