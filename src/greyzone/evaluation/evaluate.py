"""``greyzone evaluate``: does a model trained on the curated export classify and abstain better?

Three LeNet-5 models are trained on the curated export (``<workspace>/export``, re-read from disk), each with
``seeds`` seeds, and scored on the curated test split; results are mean ± std over seeds.

Models (rows of the result)
---------------------------
* ``baseline``: 10 outputs, trained on the *original* labels of every train image (what one gets without
  curation). Abstains by thresholding its max softmax.
* ``idk_aware``: ``n_classes + 1`` outputs (11 for MNIST), trained on the *curated* train labels, IDK
  included, with a deliberate class weight on IDK (:func:`~greyzone.evaluation.scoring.idk_class_weight`).
  Prediction = argmax over all 11 outputs, so it abstains exactly when IDK wins.
* ``idk_aware_pidk``: the *same* trained networks as ``idk_aware`` (same predictions, no extra training),
  ranked by ``p(IDK)`` alone instead of the default abstain score; reported so the two scores compare.
* ``no_idk``: 10 outputs, trained on the curated train set with the IDK images *removed* (the remaining
  images keep their curated labels, which equal the original ones unless a human relabelled them).
  Abstains like ``baseline``.

Abstain scores, operating points and the IDK class weight: :mod:`greyzone.evaluation.scoring`.

Metrics (see :mod:`greyzone.evaluation.metrics`)
------------------------------------------------
``curated`` (curated test split; a digit prediction on an IDK image is an error, abstaining on it is right):
``accuracy_non_idk``, ``idk_precision``, ``idk_recall``, ``idk_f1``, ``aurc``, ``eaurc``, ``risk@95``,
``risk@99``, ``coverage`` (:func:`~greyzone.evaluation.metrics.selective_metrics`), and ``ece``: expected
calibration error (15 bins) of the network's top probability over all its outputs against ``argmax == curated
label``, before any threshold. ``original`` (original test labels, every test image, argmax over the digit
outputs only): ``error`` (compare with LeNet-5's 0.95%, LeCun et al. 1998) and ``error_non_idk`` (the test
images not curated IDK). ``robustness[set]``: ``abstain_rate`` at the operating point and ``auroc`` of the
abstain score separating the set from the clean (non-IDK) curated test digits.

Result file ``<workspace>/evaluation/evaluation.json`` (NaN and undefined std written as ``null``)::

    {"format_version", "created_at", "workspace", "dataset", "classes" (incl. "IDK"),
     "config": {EvalConfig fields ("train": {TrainConfig fields}), "idk_class_weight", "abstain_score",
                "operating_point"},
     "data": {"n_train", "n_test", "n_train_idk", "n_test_idk", "n_export_differs_from_store", "export"},
     "ood": {set: {"n", "source"} | {"skipped": reason}},
     "models": {name: {
         "description", "n_outputs", "abstain_score", "operating_point", "shares_training_with",
         "seeds": [...],
         "curated": {metric: {"mean", "std", "values"}}, "original": {...}, "train_seconds": {...} | null,
         "robustness": {set: {"abstain_rate": {...}, "auroc": {...}}},
         "threshold": {...} | null,
         "confusion_matrix": {"labels", "summed_over_seeds", "counts" (rows true, cols predicted, summed)},
         "risk_coverage": {"coverage", "risk_mean", "risk_std"} (~200 points)}},
     "timings": {"load_seconds", "total_seconds"}}

``std`` is the sample standard deviation (ddof 1) over seeds, ``null`` for a single seed.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from greyzone.config import EvalConfig
from greyzone.errors import WorkspaceError
from greyzone.evaluation.scoring import ABSTAIN_SCORE, OPERATING_POINT, class_weights, score_seed
from greyzone.validation import (
    check_instance,
)

if TYPE_CHECKING:
    from greyzone.store.workspace import Workspace

#: The evaluation's models: the LeNet-5 of the original curation (its recipe; TrainConfig overrides).
EVAL_ARCHITECTURE = "lenet5"
FORMAT_VERSION = "2"  # 2: the config holds the training options as "train": {TrainConfig fields}
MODELS: dict[str, str] = {
    "baseline": "LeNet-5, 10 outputs, original labels of all train images; abstains by thresholding "
                "max softmax",
    "no_idk": "LeNet-5, 10 outputs, curated train set with the IDK images removed; abstains like baseline",
    "idk_aware": "LeNet-5, n_classes+1 outputs, curated labels incl. IDK (class-weighted); abstains when "
                 "IDK wins",
    "idk_aware_pidk": "the idk_aware networks, ranked by p(IDK) alone instead of 1 - max digit probability",
}
CURATED_METRICS: tuple[str, ...] = ("accuracy_non_idk", "idk_precision", "idk_recall", "idk_f1", "coverage",
                                    "aurc", "eaurc", "risk@95", "risk@99", "ece")
ORIGINAL_METRICS: tuple[str, ...] = ("error", "error_non_idk")


# --------------------------------------------------------------------------------------------- data
@dataclass(frozen=True)
class _EvalData:
    x_train: np.ndarray  # (N, H, W) uint8
    y_train_curated: np.ndarray  # (N,) in [0, idk]
    y_train_original: np.ndarray  # (N,) in [0, idk)
    x_test: np.ndarray
    y_test_curated: np.ndarray
    y_test_original: np.ndarray
    n_differ: int  # export samples whose curated label differs from the store's current decisions


def load_export(ws: Workspace) -> _EvalData:
    """Re-read ``<workspace>/export`` and map each image to its curated and original label."""
    from greyzone.errors import DataError
    from greyzone.export.tree import folder_name
    from greyzone.sources import load_imagefolder

    root = ws.layout.export
    if not (root / "train").is_dir():
        raise WorkspaceError(f"{root}: no curated export (expected {root}/train/<class>/); run "
                             f"'greyzone export' (or 'greyzone run') on this workspace first")
    try:
        ds = load_imagefolder(root)
    except DataError as e:
        raise WorkspaceError(f"{root}: the export cannot be read ({e}); re-run 'greyzone export'") from e
    names = {folder_name(ws.label_name(i)): i for i in range(ws.idk_label + 1)}
    unknown = [c for c in ds.classes if c not in names]
    if unknown:
        raise WorkspaceError(f"{root}: class folder(s) {unknown} are not classes of this workspace "
                             f"({list(names)}); re-run 'greyzone export'")
    remap = np.array([names[c] for c in ds.classes], dtype=np.int64)
    samples = ws.samples()
    flag_sets = ((True, False), (True, True), (False, False))  # (include_proposals, apply_corrections)
    curated_now = {f: ws.decisions.curated(include_proposals=f[0], apply_corrections=f[1]) for f in flag_sets}
    out: dict[str, np.ndarray] = {}
    n_differ = dict.fromkeys(flag_sets, 0)
    for split in ("train", "test"):
        if split not in ds.splits:
            raise WorkspaceError(f"{root}: the export has no '{split}' split; re-run 'greyzone export'")
        sp = ds.splits[split]
        store = samples[samples.split == split].set_index("index")
        missing = np.setdiff1d(sp.index, store.index.to_numpy())
        if missing.size:
            raise WorkspaceError(f"{root}/{split}: image index {int(missing[0])} is not a {split} sample of "
                                 f"this workspace; re-run 'greyzone export'")
        if len(sp) != len(store):
            raise WorkspaceError(f"{root}/{split}: {len(sp)} images but the workspace has {len(store)} "
                                 f"{split} samples; re-run 'greyzone export'")
        y_cur = remap[sp.labels]
        out[f"x_{split}"] = sp.images
        out[f"y_{split}_curated"] = y_cur
        out[f"y_{split}_original"] = store.label.reindex(sp.index).to_numpy(np.int64)
        for p, cur in curated_now.items():
            c = cur[cur.split == split].set_index("index").curated_label.reindex(sp.index).to_numpy()
            n_differ[p] += int(np.sum(c != y_cur))
    return _EvalData(**out, n_differ=min(n_differ.values()))


# --------------------------------------------------------------------------------------------- aggregation
def _clean(v: Any) -> Any:
    """JSON-safe: NaN/inf → None, numpy scalars → Python."""
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_clean(x) for x in v]
    if isinstance(v, np.ndarray):
        return _clean(v.tolist())
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, float | np.floating):
        return float(v) if math.isfinite(v) else None
    return v


def _agg(values: list[float]) -> dict[str, Any]:
    arr = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    finite = arr[np.isfinite(arr)]
    mean = float(finite.mean()) if len(finite) == len(arr) and len(arr) else math.nan
    std = float(finite.std(ddof=1)) if len(finite) == len(arr) and len(arr) > 1 else math.nan
    return {"mean": mean, "std": std, "values": arr.tolist()}


def _aggregate(name: str, runs: list[dict[str, Any]], seconds: list[float] | None, *, n_outputs: int,
               score_kind: str, rule: str, seeds: list[int], labels: list[str],
               grid: np.ndarray) -> dict[str, Any]:
    curves = np.stack([r["curve"] for r in runs])
    robust_sets = runs[0]["robustness"].keys()
    return {
        "description": MODELS[name],
        "n_outputs": n_outputs,
        "abstain_score": score_kind,
        "operating_point": rule,
        "shares_training_with": "idk_aware" if name == "idk_aware_pidk" else None,
        "seeds": seeds,
        "curated": {m: _agg([r["curated"][m] for r in runs]) for m in CURATED_METRICS},
        "original": {m: _agg([r["original"][m] for r in runs]) for m in ORIGINAL_METRICS},
        "train_seconds": _agg(seconds) if seconds is not None else None,
        "robustness": {s: {k: _agg([r["robustness"][s][k] for r in runs]) for k in ("abstain_rate", "auroc")}
                       for s in robust_sets},
        "threshold": _agg([r["threshold"] for r in runs]) if rule == "threshold" else None,
        "confusion_matrix": {"labels": labels, "summed_over_seeds": len(runs),
                             "counts": np.sum([r["confusion"] for r in runs], axis=0).tolist()},
        "risk_coverage": {"coverage": np.round(grid, 6).tolist(),
                          "risk_mean": np.round(curves.mean(axis=0), 6).tolist(),
                          "risk_std": np.round(curves.std(axis=0, ddof=1), 6).tolist() if len(runs) > 1
                          else None},
    }


# --------------------------------------------------------------------------------------------- public
def evaluate_workspace(ws: Workspace, cfg: EvalConfig | None = None, *,
                       progress: bool = True) -> dict[str, Any]:
    """Train and score the baseline, IDK-aware and no-IDK LeNet-5 on the curated export of ``ws``.

    ``cfg`` defaults to ``EvalConfig()``; ``progress`` shows rich progress bars on stderr. Writes the result
    (layout in the module docstring) atomically to ``ws.layout.evaluation``
    (``<workspace>/evaluation/evaluation.json``) and returns it. Raises
    :class:`~greyzone.errors.WorkspaceError` when the export is missing or stale in shape.
    """
    from greyzone.progress import Reporter
    from greyzone.store.files import atomic_write

    cfg = EvalConfig() if cfg is None else check_instance(cfg, "cfg", EvalConfig)
    rep = Reporter(enabled=progress)
    start = time.perf_counter()
    with rep.stage("load"):
        data = load_export(ws)
    result = _evaluate(ws, data, cfg, rep)
    result["timings"] = {"load_seconds": rep.timings["load"],
                         "total_seconds": round(time.perf_counter() - start, 2)}
    result = _clean(result)
    atomic_write(ws.layout.evaluation, json.dumps(result, indent=1, allow_nan=False))
    if data.n_differ:
        rep.log(f"[yellow]warning:[/] the export differs from the current decisions on {data.n_differ} "
                f"samples; run 'greyzone export' to evaluate the latest curation")
    return result


def load_evaluation(ws: Workspace) -> dict[str, Any] | None:
    """The saved evaluation result of ``ws`` (``ws.layout.evaluation``), or None when ``greyzone evaluate``
    has not run."""
    path = ws.layout.evaluation
    if not path.is_file():
        return None
    return json.loads(path.read_text())


def _evaluate(ws: Workspace, data: _EvalData, cfg: EvalConfig, rep) -> dict[str, Any]:
    from greyzone.evaluation.robustness import build_ood_sets
    from greyzone.model.architectures import recipe_for
    from greyzone.model.jobs import ModelJob, run_jobs

    idk = ws.idk_label
    is_idk_train = data.y_train_curated == idk
    clean_test = data.y_test_curated != idk
    ood = build_ood_sets(data.x_test[clean_test], data.y_test_original[clean_test], n_blend=cfg.n_blend,
                         n_noise=cfg.n_noise, n_fashion=cfg.n_fashion, seed=cfg.ood_seed,
                         fashion=ws.dataset != "fashion-mnist", fashion_dir=cfg.fashion_dir)
    for name, reason in ood.skipped.items():
        rep.log(f"[yellow]note:[/] OOD set {name} skipped: {reason}")
    weights = class_weights(data.y_train_curated, idk_label=idk, scheme=cfg.idk_weighting,
                            cap=cfg.idk_weight_cap)
    grid = np.arange(1, cfg.curve_points + 1) / cfg.curve_points
    labels = [ws.label_name(i) for i in range(idk + 1)]
    n_train, n_test = len(data.x_train), len(data.x_test)
    all_rows = np.arange(n_train)
    trainings = {  # name -> (train rows, train labels, outputs, class weight, [(row name, score, rule)])
        "baseline": (all_rows, data.y_train_original, idk, None, [("baseline", "max_digit", "threshold")]),
        "idk_aware": (all_rows, data.y_train_curated, idk + 1, tuple(map(float, weights)),
                      [("idk_aware", "max_digit", "argmax"), ("idk_aware_pidk", "p_idk", "argmax")]),
        "no_idk": (np.flatnonzero(~is_idk_train), data.y_train_curated, idk, None,
                   [("no_idk", "max_digit", "threshold")]),
    }  # labels are per train image; a training uses labels[rows]
    seed_list = [cfg.seed + i for i in range(cfg.seeds)]
    # Every (seed, model) is an independent training: run them in parallel worker processes (one thread
    # each, as the pipeline does) over one temporary image file holding train, test and the OOD sets.
    pieces = [data.x_train, data.x_test, *ood.images.values()]
    offsets = np.cumsum([0] + [len(p) for p in pieces])
    predict_rows = np.arange(offsets[1], offsets[-1])
    recipe = recipe_for(EVAL_ARCHITECTURE, cfg.train)
    jobs = [ModelJob(f"{seed}/{name}", rows, np.asarray(y, dtype=np.int64)[rows], predict_rows, seed,
                     EVAL_ARCHITECTURE, recipe, n_classes=n_out, class_weight=w)
            for seed in seed_list for name, (rows, y, n_out, w, _) in trainings.items()]
    total = sum(len(j.train_rows) for j in jobs) * recipe.epochs
    with tempfile.TemporaryDirectory(prefix="greyzone-eval-") as tmp:
        images_path = Path(tmp) / "images.npy"
        np.save(images_path, np.concatenate(pieces))
        t0 = time.perf_counter()
        with rep.stage(f"train {len(jobs)} models", total=total) as tick:
            results = run_jobs(jobs, images_path, n_classes=idk, workers=cfg.workers or None,
                               progress=tick)
        wall = time.perf_counter() - t0
    runs: dict[str, list[dict[str, Any]]] = {}
    seconds: dict[str, list[float]] = {}
    for seed in seed_list:
        for train_name, (rows, _y, _n, _w, views) in trainings.items():
            # wall time shared out by training size (the models train concurrently)
            seconds.setdefault(train_name, []).append(round(wall * len(rows) * recipe.epochs / total, 2))
            logits = results[f"{seed}/{train_name}"].logits
            logits_test = logits[:n_test]
            logits_ood = {k: logits[offsets[2 + i] - n_train:offsets[3 + i] - n_train]
                          for i, k in enumerate(ood.images)}
            for row, score_kind, rule in views:
                runs.setdefault(row, []).append(score_seed(
                    logits_test, data.y_test_curated, data.y_test_original, logits_ood, idk_label=idk,
                    score_kind=score_kind, rule=rule, grid=grid))
    models = {}
    for row in MODELS:
        train_name = "idk_aware" if row == "idk_aware_pidk" else row
        _, _, n_out, _, views = trainings[train_name]
        _, score_kind, rule = next(v for v in views if v[0] == row)
        models[row] = _aggregate(row, runs[row], seconds[train_name] if row == train_name else None,
                                 n_outputs=n_out, score_kind=score_kind, rule=rule, seeds=seed_list,
                                 labels=labels, grid=grid)
    from greyzone.store.runs import utc_now

    config = dataclasses.asdict(cfg)
    config.update(idk_class_weight=float(weights[idk]), abstain_score=ABSTAIN_SCORE,
                  operating_point=OPERATING_POINT)
    return {
        "format_version": FORMAT_VERSION,
        "created_at": utc_now(),
        "workspace": str(ws.path),
        "dataset": ws.dataset,
        "classes": labels,
        "config": config,
        "data": {"n_train": int(len(data.y_train_curated)), "n_test": int(len(data.y_test_curated)),
                 "n_train_idk": int(is_idk_train.sum()), "n_test_idk": int((~clean_test).sum()),
                 "n_export_differs_from_store": data.n_differ, "export": str(ws.layout.export)},
        "ood": ood.describe(),
        "models": models,
    }
