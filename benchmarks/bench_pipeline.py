"""Time every stage of ``greyzone run`` on full MNIST, each score over 70,000 samples, and LeNet-5 training.

    .venv/bin/python benchmarks/bench_pipeline.py [--folds 5] [--epochs 6] [--workspace DIR]

Targets on a 2-core machine: whole run (K=5) < 180 s; each score over 70,000 samples < 2 s; LeNet-5
training > 15,000 samples/s. Uses a fresh temporary workspace unless --workspace is given (then cached
stages are reused and reported as such). Prints a table; nothing is asserted.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table


def time_call(fn, *args, repeat: int = 3, **kwargs) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn(*args, **kwargs)
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--workspace", type=Path, default=None)
    args = ap.parse_args()

    import greyzone
    from greyzone import scores as S
    from greyzone.config import TrainConfig

    console = Console()
    with tempfile.TemporaryDirectory() as tmp:
        ws_path = args.workspace or Path(tmp) / "ws"
        t0 = time.perf_counter()
        ws = greyzone.run(workspace=str(ws_path), folds=args.folds, train=TrainConfig(epochs=args.epochs))
        total = time.perf_counter() - t0
        run = ws.runs.last()
        t = Table(title=f"greyzone run on full MNIST (K={args.folds}, {args.epochs} epochs)")
        t.add_column("stage")
        t.add_column("seconds", justify="right")
        for stage, sec in run["timings"].items():
            t.add_row(stage, f"{sec:.1f}")
        t.add_row("[bold]total (wall)", f"[bold]{total:.1f}")
        console.print(t)
        cf = run["metrics"].get("crossfit", {})
        if "train_samples_per_s" in cf:
            console.print(
                f"LeNet-5 training throughput (cross-fitting): {cf['train_samples_per_s']:,} samples/s"
            )

        probs = ws.arrays.load("probs", mmap=False)
        emb = ws.arrays.load("embeddings", mmap=False)
        y = ws.samples().label.to_numpy()
        dyn_p, dyn_m = ws.arrays.load("dyn_p_label", mmap=False), ws.arrays.load("dyn_margin", mmap=False)
        neigh = S.knn(emb, k=10)
        rows = [
            ("hardness", lambda: S.hardness(probs)),
            ("mistakenness", lambda: S.mistakenness(probs, y)),
            ("margin", lambda: S.margin(probs, y)),
            ("knn (k=10, FAISS)", lambda: S.knn(emb, k=10)),
            ("uniqueness (incl. kNN)", lambda: S.uniqueness(emb)),
            ("representativeness", lambda: S.representativeness(emb)),
            ("knn_agreement", lambda: S.knn_label_agreement(y, neigh[1])),
            ("label_issues (cleanlab)", lambda: S.label_issues(probs, y)),
            ("aum (train)", lambda: S.aum(dyn_m)),
            ("cartography (train)", lambda: S.cartography(dyn_p)),
        ]
        st = Table(title=f"scores over {len(y):,} samples (best of 3)")
        st.add_column("score")
        st.add_column("seconds", justify="right")
        for name, fn in rows:
            st.add_row(name, f"{time_call(fn):.3f}")
        console.print(st)
        ws.close()


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    main()
