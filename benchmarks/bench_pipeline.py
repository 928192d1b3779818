"""Time every stage of ``greyzone run`` for today's defaults and for greyzone 0.1.0's settings, back to back.

    .venv/bin/python benchmarks/bench_pipeline.py [--preset both|default|0.1.0] [--limit N] [--folds 5]
                                                  [--epochs E] [--no-scores]

Presets (each in a fresh temporary workspace, on the same machine, one after the other):

- ``default``: ``greyzone run``'s defaults (scorer ``cnn``, UMAP on greyzone's FAISS kNN, 100 epochs).
- ``0.1.0``: greyzone 0.1.0's settings: scorer ``lenet5`` with 6 epochs, UMAP with umap-learn's own NNDescent
  kNN and its default 200 epochs (:data:`greyzone.projections.UMAP_0_1_0`), and every export written in full
  as 0.1.0 did (with today's PNG writer).

Each preset also times ``greyzone export`` (the CLI, a fresh process) after 10 new human decisions, twice
(see :data:`REEXPORT`). Prints a
table per preset, then both side by side with their ratio (0.1.0 / default: how many times faster today's
defaults are), then each score over all samples (best of 3). Targets on a 2-core machine: whole run ≤ 180 s;
UMAP of 70,000 × 84 ≤ 30 s; full export ≤ 10 s; re-export after 10 decisions ≤ 3 s; each score ≤ 2 s.
Nothing is asserted. ``--limit`` runs on the first N samples of each split, for a quick check.
"""

from __future__ import annotations

import argparse
import functools
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

PRESETS = {
    "default": {"run": {}, "umap": {}, "full_export": False},
    "0.1.0": {"run": {"scorer": "lenet5", "train": {"epochs": 6}}, "umap": "0.1.0", "full_export": True},
}
#: Rows after the pipeline's stages: ``greyzone export`` after 10 new decisions, twice (the first re-export
#: after a run hard-links every unchanged image; later ones rename only the changed ones in the previous
#: version's folder).
REEXPORT = ("greyzone export after 10 decisions", "again after 10 more")


def time_call(fn, *args, repeat: int = 3, **kwargs) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn(*args, **kwargs)
        best = min(best, time.perf_counter() - t)
    return best


def run_preset(name: str, root: Path, args: argparse.Namespace) -> tuple[dict[str, float], object]:
    """Run one preset in a fresh workspace under ``root``; its stage timings (seconds) and the workspace."""
    import greyzone
    import greyzone.projections as projections

    preset = PRESETS[name]
    config = {**preset["run"], "folds": args.folds, "limit": args.limit}
    if args.epochs is not None:
        config["train"] = {"epochs": args.epochs}
    original = projections.umap_2d
    if preset["umap"] == "0.1.0":  # the pipeline calls projections.umap_2d: swap in 0.1.0's arguments
        projections.umap_2d = functools.partial(original, **projections.UMAP_0_1_0)
    try:
        ws_path = root / name
        t0 = time.perf_counter()
        ws = greyzone.run(workspace=str(ws_path), **config)
        total = time.perf_counter() - t0
    finally:
        projections.umap_2d = original
    timings = dict(ws.runs.last()["timings"])
    timings["total (wall)"] = total
    train = ws.split_sids("train")
    for round_, row in enumerate(REEXPORT):
        ws.decisions.append([int(s) for s in train[round_::max(1, len(train) // 10)][:10]], "idk",
                            author="bench")
        if preset["full_export"]:  # 0.1.0 wrote every export in full: no previous version to reuse
            for p in ws_path.iterdir():
                if p.name == "export" or p.name.startswith(("export-", ".export-")):
                    shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "greyzone.cli", "export", "-w", str(ws_path)], check=True,
                       capture_output=True)
        timings[row] = time.perf_counter() - t0
    return timings, ws


def stage_table(title: str, timings: dict[str, float]) -> Table:
    t = Table(title=title)
    t.add_column("stage")
    t.add_column("seconds", justify="right")
    for stage, sec in timings.items():
        t.add_row(stage, f"{sec:.1f}")
    return t


def compare_table(results: dict[str, dict[str, float]]) -> Table:
    old, new = results["0.1.0"], results["default"]
    stages = [s for s in new if s in old] + [s for s in old if s not in new]
    stages = [s for s in stages if s not in ("total (wall)", *REEXPORT)] + [*REEXPORT, "total (wall)"]
    t = Table(title="0.1.0 settings vs today's defaults (same machine, same session)")
    for col in ("stage", "0.1.0 (s)", "default (s)", "0.1.0 / default"):
        t.add_column(col, justify="left" if col == "stage" else "right")
    for s in stages:
        a, b = old.get(s), new.get(s)
        ratio = f"{a / b:.1f}×" if a is not None and b else "–"
        t.add_row(s, "–" if a is None else f"{a:.1f}", "–" if b is None else f"{b:.1f}", ratio)
    return t


def score_table(ws) -> Table:
    from greyzone import scores as S

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
    return st


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", choices=["both", *PRESETS], default="both")
    ap.add_argument("--limit", type=int, default=None, help="first N samples of each split (quick check)")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=None, help="override every preset's training epochs")
    ap.add_argument("--no-scores", action="store_true", help="skip the per-score timings")
    args = ap.parse_args()

    console = Console()
    names = list(PRESETS) if args.preset == "both" else [args.preset]
    size = "full MNIST" if args.limit is None else f"first {args.limit} of each split"
    results, spaces = {}, {}
    with tempfile.TemporaryDirectory(prefix="greyzone-bench-") as tmp:
        for name in names:
            results[name], spaces[name] = run_preset(name, Path(tmp), args)
            console.print(stage_table(f"{name}: greyzone run on {size} (K={args.folds})", results[name]))
        if len(results) == 2:
            console.print(compare_table(results))
        if not args.no_scores:
            console.print(score_table(spaces[names[0]]))
        for ws in spaces.values():
            ws.close()

if __name__ == "__main__":
    np.set_printoptions(precision=4)
    main()
