"""Curation-quality benchmark on full MNIST: plant problems, run the pipeline, print what each score finds.

    .venv/bin/python benchmarks/bench_curation.py [--seed 0] [--limit N] [--folds 5] [--epochs E]
                                                  [--workspace greyzone-curation] [--scenario NAME ...]
                                                  [--scorer lenet5 --scorer cnn]

Scenarios (see ``greyzone.benchmark.curation.SCENARIOS``): uniform label flips of 1% and of 5% of train, each
with 2% class-pair flips (4↔9, 3↔5, 1↔7), 1% two-digit blends and 0.5% Fashion-MNIST images. Results go to
``<workspace>/curation.json``; one workspace per scenario below it, so a re-run after changing the IDK score
only recomputes the scores. Every scorer (default: 0.1.0's LeNet-5 and the new default) runs on the same data
in the same process, so the side-by-side table compares them on one machine. Prints the tables and the wall
time; nothing is asserted.
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    from greyzone.benchmark.curation import SCENARIOS, bench_curation
    from greyzone.cli.tables import print_curation
    from greyzone.config import ARCHITECTURE_NAMES, BENCH_SCORERS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=None, help="first N samples of each split (default: all)")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=None, help="override every recipe's epochs")
    ap.add_argument("--workspace", default="greyzone-curation", help="root of the per-scenario workspaces")
    ap.add_argument("--scenario", action="append", choices=list(SCENARIOS), help="repeatable; default: all")
    ap.add_argument("--scorer", action="append", choices=list(ARCHITECTURE_NAMES),
                    help=f"repeatable; default: {' and '.join(BENCH_SCORERS)}")
    args = ap.parse_args()

    from rich.console import Console

    console = Console()
    if not console.is_terminal:  # a log file: do not squeeze the tables into 80 columns
        console = Console(width=150)
    t0 = time.perf_counter()
    result = bench_curation(
        seed=args.seed,
        limit=args.limit,
        folds=args.folds,
        epochs=args.epochs,
        workspace_root=args.workspace,
        scenarios=args.scenario or tuple(SCENARIOS),
        scorers=args.scorer or BENCH_SCORERS,
    )
    print_curation(result, console)
    for name, sc in result["scenarios"].items():
        console.print(
            f"{name}: pipeline {sc['wall_s']:.0f} s, fold accuracy "
            f"{', '.join(f'{a:.4f}' for a in sc['fold_accuracy'] or [])}, test accuracy "
            f"{sc['test_accuracy']}"
        )
    console.print(f"wall time {time.perf_counter() - t0:.0f} s; results in {args.workspace}/curation.json")


if __name__ == "__main__":  # the training workers are spawned processes: keep the guard
    main()
