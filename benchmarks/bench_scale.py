"""Every stage after training at 100,000 to 1,000,000 samples: seconds, peak memory, kNN recall, growth.

    .venv/bin/python benchmarks/bench_scale.py [--sizes 100000,300000,1000000] [--no-umap] [--no-export]
                                               [--workdir DIR] [--keep]

Per size, synthetic user-style data goes through greyzone's bring-your-own-outputs path (no training):
10 classes; images are MNIST digits shifted by up to 2 pixels (random 28 x 28 noise when MNIST is not in
``~/.cache/greyzone/mnist``); ``pred_probs`` are peaked Dirichlet rows (``alpha = 0.2`` plus 6 on the true
class), with 3 % of the given labels flipped to another class; embeddings are ``(N, 84)`` float32 from
class-conditional Gaussians in an 8-d latent space mapped to 84-d (ReLU of a random linear map plus noise, so
that, like a network's embeddings, they have a low intrinsic dimension); 6/7 of the rows are ``train``, 1/7
``test``, like MNIST. The workspace is created and the outputs stored by the pipeline's own external-outputs
train stage (``load`` below; not a post-training stage).

Each stage then runs in a **fresh subprocess** (``python bench_scale.py --stage NAME``) that opens the
workspace, loads what it needs and runs the pipeline's function for the stage: ``neighbours``
(:func:`greyzone.pipeline.save_neighbours`), ``pca``, ``umap`` (:mod:`greyzone.projections`), ``scores``
(:func:`greyzone.pipeline.workspace_score_table`), ``propose`` (``_record_proposals``: the decisions in
SQLite), ``write scores`` (``Workspace.write_scores``: SQLite table and ``scores.parquet`` in row groups),
``export`` (:func:`greyzone.export.tree.write_export`) and ``store`` (``Workspace.open`` plus
``ws.decisions.curated()``, the query behind the export and the app). The seconds are the stage's function
alone (imports and loading the workspace excluded); the peak memory is the child's maximum resident set
(``resource.getrusage(RUSAGE_SELF).ru_maxrss`` reported by the child as it ends), so it includes the
interpreter, the imports and the inputs the stage loads. ``recall@10`` is the stored within-split kNN graph
against exact cosine search for 1,000 seeded random query rows. The last column block is the growth ratio
from 300,000 to 1,000,000 samples (the issue's target: every stage <= 3.5x; all scores at 1M <= 60 s;
scoring peak <= 4 GB). Nothing is asserted.

The review app's first paint and selection latency at 1,000,000 points are measured by
``benchmarks/bench_review.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

STAGES = ("neighbours", "pca", "umap", "scores", "propose", "write scores", "export", "store")
N_CLASSES, DIM, LATENT, FLIP = 10, 84, 8, 0.03


# ------------------------------------------------------------------------------------------------ data
def synthetic(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Images, given labels, split, pred_probs and embeddings of ``n`` samples (see the module doc)."""
    rng = np.random.default_rng(seed)
    true = rng.integers(0, N_CLASSES, n)
    images = _images(true, rng)
    flip = rng.random(n) < FLIP
    given = np.where(flip, (true + rng.integers(1, N_CLASSES, n)) % N_CLASSES, true)
    alpha = np.full((n, N_CLASSES), 0.2, np.float32)
    alpha[np.arange(n), true] += 6.0
    probs = rng.standard_gamma(alpha).astype(np.float64)
    probs = (probs / probs.sum(1, keepdims=True)).astype(np.float32)
    centres = rng.normal(0, 3, (N_CLASSES, LATENT)).astype(np.float32)
    lift = (rng.normal(0, 1, (LATENT, DIM)) / np.sqrt(LATENT)).astype(np.float32)
    emb = np.empty((n, DIM), np.float32)
    for lo in range(0, n, 100_000):
        t = true[lo:lo + 100_000]
        z = centres[t] + rng.standard_normal((len(t), LATENT), dtype=np.float32)
        emb[lo:lo + len(t)] = np.maximum(z @ lift, 0) + 0.05 * rng.standard_normal((len(t), DIM), np.float32)
    split = np.where(np.arange(n) < n * 6 // 7, "train", "test")
    return {"images": images, "labels": given, "split": split, "probs": probs, "embeddings": emb}


def _images(true: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """MNIST training digits of each class, shifted by -2..2 pixels per axis; noise without MNIST."""
    try:
        from greyzone.sources.mnist import load_mnist

        mnist = load_mnist(Path.home() / ".cache" / "greyzone" / "mnist").splits["train"]
    except Exception:  # noqa: BLE001 - MNIST absent or unreadable: noise images instead
        return rng.integers(0, 256, (len(true), 28, 28), dtype=np.uint8)
    by_class = [np.flatnonzero(mnist.labels == c) for c in range(N_CLASSES)]
    pick = np.array([by_class[c][j % len(by_class[c])] for c, j in
                     zip(true, rng.integers(0, 10**9, len(true)), strict=True)])
    padded = np.pad(mnist.images, ((0, 0), (2, 2), (2, 2)))
    out = np.empty((len(true), 28, 28), np.uint8)
    dy, dx = rng.integers(0, 5, len(true)), rng.integers(0, 5, len(true))
    for y in range(5):
        for x in range(5):
            rows = np.flatnonzero((dy == y) & (dx == x))
            out[rows] = padded[pick[rows], y:y + 28, x:x + 28]
    return out


# ------------------------------------------------------------------------------------------------ stages
def setup(root: Path, n: int, seed: int) -> None:
    """Create the workspace and store the given outputs with the pipeline's external train stage."""
    import greyzone.pipeline as P
    from greyzone.config import RunConfig
    from greyzone.progress import Reporter
    from greyzone.sources.dataset import Dataset
    from greyzone.sources.outputs import load_outputs
    from greyzone.store.workspace import Workspace

    d = synthetic(n, seed)
    dataset = Dataset.from_arrays(d["images"], d["labels"], split=d["split"])
    cfg = RunConfig.from_dict({"workspace": str(root), "dataset": dataset.name, "embedder": "none"})
    ws = Workspace.create(root, dataset)
    outputs = load_outputs(dataset, pred_probs=d["probs"], embeddings=d["embeddings"])
    run_id = ws.runs.start(cfg.to_dict(), P.package_versions())
    rep = Reporter(enabled=False)
    P._external_train_stage(ws, cfg, rep, [dataset.name, n], outputs, "cpu")
    ws.runs.finish(run_id, timings=rep.timings, metrics={})
    (root / "bench-run.json").write_text(json.dumps({"run_id": run_id, "seed": seed}))


def run_stage(root: Path, stage: str, umap: bool) -> float:
    """Run one stage on the workspace at ``root``; return its seconds (the stage's function only)."""
    import pandas as pd

    import greyzone.pipeline as P
    from greyzone.projections import pca_2d, umap_2d
    from greyzone.store.workspace import Workspace

    meta = json.loads((root / "bench-run.json").read_text())
    table_path = root / "bench-table.pkl"
    if stage == "store":
        t = time.perf_counter()
        ws = Workspace.open(root)
        ws.decisions.curated()
        return time.perf_counter() - t
    ws = Workspace.open(root) if stage == "export" else _open(root)
    emb = ws.arrays.load("embeddings", mmap=False) if stage in ("pca", "umap") else None
    table = pd.read_pickle(table_path) if stage in ("propose", "write scores") else None
    t = time.perf_counter()
    if stage == "neighbours":
        P.save_neighbours(ws)
    elif stage == "pca":
        ws.arrays.save("pca", pca_2d(emb, random_state=meta["seed"]))
    elif stage == "umap":
        ws.arrays.save("umap", umap_2d(emb, random_state=meta["seed"]) if umap
                       else np.full((len(emb), 2), np.nan, np.float32))
    elif stage == "scores":
        table = P.workspace_score_table(ws, idk_cap=0.02, random_state=meta["seed"])
    elif stage == "propose":
        from greyzone.scores.idk import POLICY

        P._record_proposals(ws, table, meta["run_id"], POLICY)
    elif stage == "write scores":
        ws.write_scores(table)
    elif stage == "export":
        from greyzone.export.tree import write_export

        write_export(ws)
    seconds = time.perf_counter() - t
    if stage == "scores":  # handed to the next stages (outside the timing)
        table.to_pickle(table_path)
    return seconds


def _open(root: Path):
    """The workspace without :meth:`Workspace.open`'s output check (scores do not exist yet)."""
    from greyzone.store.db import Database
    from greyzone.store.layout import Layout
    from greyzone.store.workspace import Workspace

    layout = Layout(root)
    return Workspace(layout, Database(layout.db))


def recall(root: Path, *, n_queries: int = 1000, k: int = 10, seed: int = 0) -> float:
    """Share of the exact 10 nearest (cosine, same split) found in the stored graph, over seeded queries."""
    ws = _open(root)
    emb = ws.arrays.load("embeddings")
    split = ws.samples().split.to_numpy()
    stored = ws.arrays.load("knn_indices")
    rows = np.flatnonzero(split == "train")
    q = np.sort(np.random.default_rng(seed).choice(rows, size=min(n_queries, len(rows)), replace=False))

    def unit(a: np.ndarray) -> np.ndarray:
        a = np.asarray(a, np.float32)
        return a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-30)

    qv = unit(emb[q])
    best_s = np.full((len(q), k), -np.inf, np.float32)
    best_i = np.zeros((len(q), k), np.int64)
    for lo in range(0, len(rows), 100_000):
        block = rows[lo:lo + 100_000]
        s = qv @ unit(emb[block]).T  # (Q, B)
        s[block[None, :] == q[:, None]] = -np.inf  # not itself
        s_all = np.hstack([best_s, s])
        i_all = np.hstack([best_i, np.broadcast_to(block, s.shape)])
        top = np.argpartition(-s_all, k - 1, axis=1)[:, :k]
        best_s, best_i = np.take_along_axis(s_all, top, 1), np.take_along_axis(i_all, top, 1)
    hits = [len(np.intersect1d(a, b)) for a, b in zip(best_i, stored[q, :k], strict=True)]
    return float(np.mean(hits) / k)


# ------------------------------------------------------------------------------------------------ driver
def _child(args: list[str]) -> tuple[dict, float]:
    """Run this file with ``args`` in a fresh interpreter; its JSON result and its peak RSS in GiB."""
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"bench_scale: {' '.join(args)} failed:\n{out.stderr}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return result, result.pop("peak_kib") / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="100000,300000,1000000")
    ap.add_argument("--no-umap", action="store_true", help="skip UMAP (store NaN coordinates)")
    ap.add_argument("--no-export", action="store_true", help="skip the export (a PNG per sample)")
    ap.add_argument("--workdir", default=None, help="where the workspaces go (default: a temporary dir)")
    ap.add_argument("--keep", action="store_true", help="keep the workspaces")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--stage", help=argparse.SUPPRESS)
    ap.add_argument("--root", help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.stage:  # child process
        root = Path(args.root)
        if args.stage == "setup":
            setup(root, args.n, args.seed)
            result = {}
        elif args.stage == "recall":
            result = {"recall": recall(root)}
        else:
            result = {"seconds": run_stage(root, args.stage, umap=not args.no_umap)}
        # this process's own peak resident set (Linux: KiB); the parent's RUSAGE_CHILDREN would give the
        # largest of all children so far
        print(json.dumps(result | {"peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    stages = [s for s in STAGES if not (args.no_export and s == "export")]
    work = Path(args.workdir or tempfile.mkdtemp(prefix="greyzone-bench-scale-"))
    rows: dict[int, dict] = {}
    for n in sizes:
        root = work / f"ws-{n}"
        shutil.rmtree(root, ignore_errors=True)
        flags = ["--root", str(root), "--seed", str(args.seed)] + (["--no-umap"] if args.no_umap else [])
        _child(["--stage", "setup", "--n", str(n), *flags])
        rows[n] = {}
        for stage in stages:
            result, peak = _child(["--stage", stage, *flags])
            rows[n][stage] = (result["seconds"], peak)
            print(f"  {n:>9,} {stage:13s} {result['seconds']:8.1f} s  peak {peak:5.2f} GB", flush=True)
        rows[n]["recall"] = _child(["--stage", "recall", *flags])[0]["recall"]
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    _print_table(rows, stages, args)
    if not args.keep and args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)


def _print_table(rows: dict[int, dict], stages: list[str], args: argparse.Namespace) -> None:
    sizes = list(rows)
    print(f"\nbench_scale: {os.cpu_count()} CPUs, seed {args.seed}"
          + (", UMAP skipped" if args.no_umap else "") + (", export skipped" if args.no_export else ""))
    head = f"{'stage':13s}" + "".join(f" | {n:>9,}: s   peak GB" for n in sizes)
    growth = 300_000 in rows and 1_000_000 in rows
    print(head + (" | 300k→1M: s" if growth else ""))
    for stage in stages:
        line = f"{stage:13s}" + "".join(f" | {rows[n][stage][0]:12.1f} {rows[n][stage][1]:8.2f}"
                                        for n in sizes)
        if growth:
            line += f" | {rows[1_000_000][stage][0] / max(rows[300_000][stage][0], 1e-9):9.2f}x"
        print(line)
    print(f"{'recall@10':13s}" + "".join(f" | {rows[n]['recall']:12.3f} {'':8s}" for n in sizes))


if __name__ == "__main__":
    main()
