"""UMAP settings compared on a workspace's embeddings: seconds and how well each map keeps neighbourhoods.

    .venv/bin/python benchmarks/bench_umap.py WORKSPACE [--epochs 200 100 50] [--no-old] [--limit N]

For today's UMAP (greyzone's FAISS kNN handed to umap-learn) at each ``--epochs`` and for greyzone 0.1.0's
(umap-learn's NNDescent, its default epochs), prints the seconds and
:func:`greyzone.projections.neighbour_preservation` (share of each point's 15 nearest neighbours in the
embedding space that stay among its 15 nearest on the map, fixed 5,000-point subsample). numba is warmed up
first on 2,000 points, so no setting pays the compilation. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("workspace")
    ap.add_argument("--epochs", type=int, nargs="+", default=[200, 100, 50])
    ap.add_argument("--no-old", action="store_true", help="skip greyzone 0.1.0's settings (slow)")
    ap.add_argument("--limit", type=int, default=None, help="first N embeddings only")
    args = ap.parse_args()

    from greyzone.projections import UMAP_0_1_0, neighbour_preservation, umap_2d
    from greyzone.store.workspace import Workspace

    emb = Workspace.open(args.workspace).arrays.load("embeddings", mmap=False)[: args.limit]
    umap_2d(emb[:2000], n_epochs=5)
    umap_2d(emb[:2000], **{**UMAP_0_1_0, "n_epochs": 5})
    settings = [(f"FAISS kNN, {e} epochs", {"n_epochs": e}) for e in args.epochs]
    if not args.no_old:
        settings.append(("0.1.0: NNDescent, default epochs", UMAP_0_1_0))
    print(f"UMAP of {emb.shape[0]:,} x {emb.shape[1]}")
    for name, kwargs in settings:
        t = time.perf_counter()
        y = umap_2d(emb, **kwargs)
        seconds = time.perf_counter() - t
        print(f"{name:36s} {seconds:7.1f} s   neighbour preservation {neighbour_preservation(emb, y):.3f}",
              flush=True)


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    main()
