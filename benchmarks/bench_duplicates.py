"""Count exact and near duplicates (and train/test leaks) in full MNIST, and time the search.

    .venv/bin/python benchmarks/bench_duplicates.py [--workspace DIR]

Exact duplicates come from the pixels of the IDX files. Near duplicates need an embedding: with
``--workspace`` (a finished full-MNIST run) its stored LeNet-5 embeddings; always also raw pixels (784-d
cosine), labelled as such. Prints the counts; nothing is asserted.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from greyzone.scores.duplicates import find_duplicates
from greyzone.sources import load_mnist


def report(name: str, d, split: np.ndarray, index: np.ndarray, labels: np.ndarray, seconds: float) -> None:
    dup_of, cross = d.columns(split, index)
    has = d.has_duplicate
    print(f"{name}: {d.counts(split)}, near threshold {d.threshold:.4g}, {seconds:.1f} s")
    print(f"  labels of images with a duplicate: {np.bincount(labels[has], minlength=10).tolist()}")
    leaks = [(f"{split[i]}:{index[i]}", dup_of[i]) for i in np.flatnonzero(cross & (dup_of != ""))[:8]]
    print(f"  cross-split examples (image, duplicate of): {leaks}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workspace", help="a finished full-MNIST workspace (its embeddings)")
    args = ap.parse_args()
    ds = load_mnist()
    images = np.concatenate([s.images for s in ds.splits.values()])
    split = np.concatenate([[s.name] * len(s) for s in ds.splits.values()]).astype(object)
    index = np.concatenate([s.index for s in ds.splits.values()])
    labels = np.concatenate([s.labels for s in ds.splits.values()])
    t = time.perf_counter()
    report("exact (pixel hash)", find_duplicates(None, images=images), split, index, labels,
           time.perf_counter() - t)
    t = time.perf_counter()
    report("near, raw pixels (784-d cosine)", find_duplicates(images.reshape(len(images), -1)
                                                              .astype(np.float32)), split, index, labels,
           time.perf_counter() - t)
    if args.workspace:
        from greyzone.store.workspace import Workspace

        ws = Workspace.open(args.workspace)
        t = time.perf_counter()
        d = find_duplicates(ws.arrays.load("embeddings", mmap=False), images=ws.images())
        s = ws.samples()
        report("exact + near, the workspace's embeddings", d, s.split.to_numpy(dtype=object),
               s["index"].to_numpy(), s.label.to_numpy(), time.perf_counter() - t)


if __name__ == "__main__":
    main()
