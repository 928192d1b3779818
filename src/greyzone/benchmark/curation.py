"""Curation-quality benchmark: plant known problems in MNIST, run the pipeline, measure what the scores find.

Each scenario plants, with a fixed seed, into the MNIST *train* split (the test split stays clean):

* ``flip_uniform``: label flips to a uniformly random other class (1% in one scenario, 5% in the other);
* ``flip_pair``: class-pair flips 4↔9, 3↔5, 1↔7 (2%);
* ``blend``: pixel blends of two digits of different classes, α ~ U[0.4, 0.6], label = one of the two (1%);
* ``ood``: Fashion-MNIST images with a random digit label (0.5%);

runs the full pipeline (cross-fitting, embeddings, scores; no UMAP, no export) once per scorer (default: the
0.1.0 LeNet-5 and the new default, side by side on the same machine) and reports, **per kind**, on the train
split:

* rankings (higher = more doubtful): AUROC, average precision and recall in the top ``n`` (``n`` = number of
  planted samples of that kind) of ``idk_score`` and of the baselines ``1 − p_label`` (out-of-fold),
  FiftyOne-style ``mistakenness``, ``hardness`` (entropy) and ``−AUM``;
* flags: precision, recall and F1 of ``idk_proposed`` (default cap), of the same rule without the cap, of
  ``label_issue`` (cleanlab ``find_label_issues`` with its default filter, which is exactly the pipeline's
  flag), of ``mistakenness > 0.5`` (prediction ≠ label), of "top 2% hardness" and of ``p_label < 0.5``.

Per kind, positives are the samples of that kind and negatives the clean samples (other planted kinds are left
out, so each row measures one kind); the ``all`` row counts every planted sample as positive. "Clean" means
*not planted*: real MNIST has a few genuinely ambiguous or mislabelled digits, which count against precision.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from greyzone.benchmark.inject import inject_problems
from greyzone.config import BENCH_SCORERS
from greyzone.errors import ParameterError
from greyzone.evaluation.metrics import auroc, average_precision, idk_precision_recall_f1, recall_at_k
from greyzone.store.files import atomic_write
from greyzone.store.layout import Layout
from greyzone.validation import check_option, check_shape

BENCH_VERSION = 2  # 2: one entry per (scenario, scorer), keyed "scenario · scorer"
#: Planted fractions of the train split, per scenario.
SCENARIOS: dict[str, dict[str, float]] = {
    "uniform-1pct": {"uniform_flip": 0.01, "pair_flip": 0.02, "blend": 0.01, "ood": 0.005},
    "uniform-5pct": {"uniform_flip": 0.05, "pair_flip": 0.02, "blend": 0.01, "ood": 0.005},
}
PROBLEM_KINDS: tuple[str, ...] = ("flip_uniform", "flip_pair", "blend", "ood")
ROW_KINDS: tuple[str, ...] = (*PROBLEM_KINDS, "all")
HARDNESS_TOP = 0.02  # the "top 2% hardness" baseline


def _top_fraction(score: np.ndarray, fraction: float) -> np.ndarray:
    """The ``floor(fraction · N)`` highest scores (ties by row order)."""
    flag = np.zeros(len(score), bool)
    flag[np.argsort(-score, kind="stable")[: math.floor(fraction * len(score) + 1e-9)]] = True
    return flag


def _uncapped(t: pd.DataFrame) -> np.ndarray:
    from greyzone.scores.idk import idk_proposed

    return idk_proposed(t, rate_cap=1.0)


#: name → (higher = more doubtful) ranking of a train score table.
RANKINGS: dict[str, Callable[[pd.DataFrame], np.ndarray]] = {
    "idk_score": lambda t: t["idk_score"].to_numpy(float),
    "1 − p_label": lambda t: 1.0 - t["p_label"].to_numpy(float),
    "mistakenness": lambda t: t["mistakenness"].to_numpy(float),
    "hardness": lambda t: t["hardness"].to_numpy(float),
    "−AUM": lambda t: -t["aum"].to_numpy(float),
}
#: name → boolean flag of a train score table.
FLAGS: dict[str, Callable[[pd.DataFrame], np.ndarray]] = {
    "idk_proposed": lambda t: t["idk_proposed"].to_numpy(bool),
    "idk rule, no cap": _uncapped,
    "label_issue (cleanlab)": lambda t: t["label_issue"].to_numpy(bool),
    "mistakenness > 0.5": lambda t: t["mistakenness"].to_numpy(float) > 0.5,
    "top 2% hardness": lambda t: _top_fraction(t["hardness"].to_numpy(float), HARDNESS_TOP),
    "p_label < 0.5": lambda t: t["p_label"].to_numpy(float) < 0.5,
}


def _r(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 4)


def evaluate_planted(table: pd.DataFrame, kind: Any) -> dict[str, list[dict[str, Any]]]:
    """Rankings and flags of one split's score table against the planted ``kind`` per row.

    ``kind`` ``(N,)`` holds ``"clean"`` or one of :data:`PROBLEM_KINDS` for each row of ``table``. Returns
    ``{"ranking": [{method, kind, n, auroc, ap, recall_at_n}], "flags": [{method, kind, n, n_flagged,
    precision, recall, f1}]}``; metrics are ``None`` for a kind with no planted sample.
    """
    kind = check_shape(np.asarray(kind).astype(str), "kind", (len(table),))
    unknown = sorted(set(kind.tolist()) - {"clean", *PROBLEM_KINDS})
    if unknown:
        raise ParameterError(f"kind must hold 'clean' or one of {PROBLEM_KINDS}, got unknown values "
                             f"{unknown}")
    clean = kind == "clean"
    subsets = {k: (kind == k, clean | (kind == k)) for k in PROBLEM_KINDS}
    subsets["all"] = (~clean, np.ones(len(kind), bool))
    out: dict[str, list[dict[str, Any]]] = {"ranking": [], "flags": []}
    for method, fn in RANKINGS.items():
        s = fn(table)
        for k, (pos, m) in subsets.items():
            n = int(pos.sum())
            row: dict[str, Any] = {
                "method": method,
                "kind": k,
                "n": n,
                "auroc": None,
                "ap": None,
                "recall_at_n": None,
            }
            if n and n < m.sum() and np.isfinite(s[m]).all():
                row.update(
                    auroc=_r(auroc(s[m], pos[m])),
                    ap=_r(average_precision(s[m], pos[m])),
                    recall_at_n=_r(recall_at_k(s[m], pos[m], n)),
                )
            out["ranking"].append(row)
    for method, fn in FLAGS.items():
        f = fn(table)
        for k, (pos, m) in subsets.items():
            n = int(pos.sum())
            row = {
                "method": method,
                "kind": k,
                "n": n,
                "n_flagged": int(f[m].sum()),
                "precision": None,
                "recall": None,
                "f1": None,
            }
            if n:
                row.update({key: _r(v) for key, v in idk_precision_recall_f1(pos[m], f[m]).items()})
            out["flags"].append(row)
    return out


def correction_accuracy(table: pd.DataFrame, kind: Any, true_labels: Any) -> dict[str, Any]:
    """How right the confident corrections are: of the proposals with ``proposed_action == "relabel"``, how
    many fall on planted label flips (``kind`` ``flip_uniform`` / ``flip_pair``), and the share of those whose
    ``suggested_label`` is the flipped sample's true label. ``kind`` and ``true_labels`` are per row of
    ``table``; the share is ``None`` when no correction falls on a flip."""
    kind = check_shape(np.asarray(kind).astype(str), "kind", (len(table),))
    true_labels = check_shape(np.asarray(true_labels), "true_labels", (len(table),))
    relabel = table["proposed_action"].fillna("").to_numpy(str) == "relabel"
    on_flip = relabel & np.isin(kind, ("flip_uniform", "flip_pair"))
    right = int((table["suggested_label"].to_numpy()[on_flip] == true_labels[on_flip]).sum())
    n_flip = int(on_flip.sum())
    return {"n_relabel": int(relabel.sum()), "n_on_flips": n_flip, "n_true_label": right,
            "true_label_share": _r(right / n_flip) if n_flip else None}


def _planted_dataset(mnist, ood_images: np.ndarray, rates: dict[str, float], seed: int):
    from greyzone.sources.dataset import Dataset, Split

    train = mnist.splits["train"]
    inj = inject_problems(
        train.images, train.labels, seed=seed, ood_images=ood_images, n_classes=mnist.n_classes, **rates
    )
    splits = dict(mnist.splits)
    splits["train"] = Split("train", inj.images, inj.labels, train.index)
    return Dataset(mnist.name, mnist.classes, splits, f"{mnist.source} + planted problems (seed {seed})"), inj


def bench_curation(
    *,
    seed: int = 0,
    limit: int | None = None,
    folds: int = 5,
    epochs: int | None = None,
    scorers: Sequence[str] = BENCH_SCORERS,
    workspace_root: str | Path | None = None,
    progress: bool = True,
    scenarios: Sequence[str] = tuple(SCENARIOS),
    workers: int | None = None,
    data_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Run every scenario of :data:`SCENARIOS` with every scorer of ``scorers``; return the results (also
    written to ``curation.json``), one entry per ``"scenario · scorer"``.

    ``epochs`` overrides every model's recipe (None keeps them). ``limit`` keeps the first N samples of each
    MNIST split before planting. One workspace per scenario under
    ``workspace_root`` (default ``./greyzone-curation``); re-running with the same arguments reuses the
    trained stages, so a changed ``idk_score`` is re-measured in seconds. ``workers`` is the number of
    training processes (None = one per core; the numbers do not depend on it). The JSON is written
    atomically to ``<workspace_root>/curation.json``.
    """
    from rich.console import Console

    from greyzone.config import ARCHITECTURE_NAMES, RunConfig, TrainConfig
    from greyzone.sources import load_fashion_mnist, load_mnist

    if not scenarios:
        raise ParameterError(f"scenarios must name some of {tuple(SCENARIOS)}, got none")
    for i, name in enumerate(scenarios):
        check_option(name, f"scenarios[{i}]", tuple(SCENARIOS))
    if not scorers:
        raise ParameterError(f"scorers must name some of {ARCHITECTURE_NAMES}, got none")
    for i, name in enumerate(scorers):
        check_option(name, f"scorers[{i}]", ARCHITECTURE_NAMES)
    root = Layout(Path(workspace_root or "greyzone-curation"))
    console = Console(stderr=True, quiet=not progress)
    t_all = time.perf_counter()
    mnist = load_mnist(data_dir).head(limit)
    ood_images = load_fashion_mnist().splits["train"].images
    result: dict[str, Any] = {
        "benchmark": "curation",
        "version": BENCH_VERSION,
        "config": {"seed": seed, "limit": limit, "folds": folds, "epochs": epochs, "scorers": list(scorers)},
        "scenarios": {},  # by name, so generic JSON readers (the HTML report) keep the scenario in the path
    }
    from greyzone.scores.idk import POLICY

    result["policy"] = POLICY
    for name in scenarios:
        rates = SCENARIOS[name]
        dataset, inj = _planted_dataset(mnist, ood_images, rates, seed)
        for scorer in scorers:
            console.rule(f"curation benchmark: {name} {rates}, scorer {scorer}")
            cfg = RunConfig(workspace=str(root.root / f"{name}-{scorer}"), limit=limit, folds=folds,
                            seed=seed, scorer=scorer, umap=False, export=False, workers=workers,
                            train=TrainConfig(epochs=epochs))
            result["scenarios"][f"{name} · {scorer}"] = _run_scenario(cfg, dataset, inj, rates, progress)
    result["wall_s"] = round(time.perf_counter() - t_all, 1)
    atomic_write(root.curation, json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    return result


def _run_scenario(cfg, dataset, inj, rates: dict[str, float], progress: bool) -> dict[str, Any]:
    from greyzone.pipeline import run_pipeline

    t0 = time.perf_counter()
    ws = run_pipeline(cfg, dataset=dataset, progress=progress)
    wall = time.perf_counter() - t0
    try:
        table = ws.scores()
        run = ws.runs.last() or {}
    finally:
        ws.close()
    train = table[table.split == "train"].sort_values("index", ignore_index=True)
    kind = inj.kind[train["index"].to_numpy()]
    metrics = run.get("metrics", {})
    return {
        "scorer": cfg.scorer,
        "embedder": cfg.embedder,
        "rates": rates,
        "counts": inj.counts(),
        "n_train": len(train),
        "wall_s": round(wall, 1),
        "timings": run.get("timings", {}),
        "fold_accuracy": metrics.get("crossfit", {}).get("fold_accuracy"),
        "test_accuracy": metrics.get("crossfit", {}).get("test_accuracy_fold_mean"),
        "idk_proposed_train": int(train["idk_proposed"].sum()),
        "corrections": correction_accuracy(train, kind, inj.true_labels[train["index"].to_numpy()]),
        **evaluate_planted(train, kind),
    }


def curation_frames(result: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(ranking, flags)`` long tables with a ``scenario`` column, from :func:`bench_curation`'s result."""
    frames = []
    for part in ("ranking", "flags"):
        rows = [{"scenario": name, **r} for name, s in result["scenarios"].items() for r in s[part]]
        frames.append(pd.DataFrame(rows))
    return frames[0], frames[1]
