"""``greyzone evaluate``: does a model trained on the curated export classify and abstain better?

Three LeNet-5 models are trained on the curated export (``<workspace>/export``, re-read from disk), each with
``seeds`` seeds, and scored on the curated test split; results are mean ± std over seeds.

Models (rows of the result)
---------------------------
* ``baseline``: 10 outputs, trained on the *original* labels of every train image (what one gets without
  curation). Abstains by thresholding its max softmax.
* ``idk_aware``: ``n_classes + 1`` outputs (11 for MNIST), trained on the *curated* train labels, IDK
  included, with a deliberate class weight on IDK (:func:`idk_class_weight`). Prediction = argmax over all
  11 outputs, so it abstains exactly when IDK wins.
* ``idk_aware_pidk``: the *same* trained networks as ``idk_aware`` (same predictions, no extra training),
  ranked by ``p(IDK)`` alone instead of the default abstain score; reported so the two scores compare.
* ``no_idk``: 10 outputs, trained on the curated train set with the IDK images *removed* (the remaining
  images keep their curated labels, which equal the original ones unless a human relabelled them).
  Abstains like ``baseline``.

Abstain score (higher = more doubtful), one per model
-----------------------------------------------------
* Every model: ``1 − max_{c < n_classes} p_c``, the probability mass *not* on the best digit. For the
  IDK-aware model that is ``p(IDK) + Σ_{other digits} p``: it rises both when the model learned the image is
  grey-zone (IDK mass) and when it hesitates between digits (the implicit doubt the baseline also has), so it
  ranks misclassified digits as well as IDK images. ``p(IDK)`` alone is reported as ``idk_aware_pidk``.

Operating point (when a model abstains)
---------------------------------------
* IDK-aware: natively, when argmax over the 11 outputs is IDK.
* 10-output models: abstain on every image whose abstain score is ``>= τ``, where ``τ`` is the ``k``-th
  largest abstain score on the curated test split and ``k`` = its number of IDK images (``τ = +inf`` when
  ``k = 0``).
  So the baseline abstains on as many test images as the curators marked IDK ("matched budget"); its IDK
  precision then equals its recall. This hands the baseline the true IDK *rate* of the test split, an
  advantage the IDK-aware model does not get. The same ``τ`` decides abstention on the OOD probe sets.

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
     "config": {EvalConfig fields..., "idk_class_weight", "abstain_score", "operating_point"},
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

from greyzone.errors import WorkspaceError
from greyzone.evaluation.metrics import (
    auroc,
    confusion_matrix,
    expected_calibration_error,
    risk_coverage_curve,
    selective_metrics,
)

if TYPE_CHECKING:
    from rich.console import Console

    from greyzone.store.workspace import Workspace

FORMAT_VERSION = "1"
RESULT_DIR = "evaluation"
RESULT_FILE = "evaluation.json"
WEIGHTINGS: tuple[str, ...] = ("sqrt", "inverse", "none")
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
ABSTAIN_SCORE = {"max_digit": "1 - max over the digit outputs of the softmax (for 11 outputs: p(IDK) + the "
                              "other digits' mass)",
                 "p_idk": "p(IDK), the softmax output of the IDK class"}
OPERATING_POINT = {"threshold": "abstain when the abstain score >= tau, tau = the k-th largest abstain "
                                "score on the curated test split, k = its number of IDK images "
                                "(tau = inf when k = 0)",
                   "argmax": "abstain when argmax over all outputs is IDK"}


# --------------------------------------------------------------------------------------------- config
@dataclass(frozen=True)
class EvalConfig:
    """Options of :func:`evaluate_workspace`; saved in the result file.

    Seeds used are ``seed, seed + 1, ..., seed + seeds − 1``; all models of one seed share it (the 10- and
    11-output nets then start from the same feature-extractor weights). ``idk_weighting`` and
    ``idk_weight_cap``: see :func:`idk_class_weight`. ``n_blend``, ``n_noise``, ``n_fashion``, ``ood_seed``,
    ``fashion_dir``: the OOD probe sets (:func:`greyzone.evaluation.robustness.build_ood_sets`).
    ``curve_points``: risk–coverage curve resolution stored in the result.
    """

    seeds: int = 3
    epochs: int = 6
    seed: int = 0
    batch_size: int = 128
    lr: float = 3e-3
    workers: int = 0  # training processes, one thread each (0 = one per core); results do not depend on it
    idk_weighting: str = "sqrt"
    idk_weight_cap: float = 10.0
    n_blend: int = 2000
    n_noise: int = 2000
    n_fashion: int = 10_000
    ood_seed: int = 0
    fashion_dir: str | None = None
    curve_points: int = 200

    def __post_init__(self) -> None:
        for name in ("seeds", "epochs", "batch_size", "curve_points"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be an int >= 1, got {v!r}")
        for name in ("seed", "workers", "n_blend", "n_noise", "n_fashion", "ood_seed"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"{name} must be an int >= 0, got {v!r}")
        if self.idk_weighting not in WEIGHTINGS:
            raise ValueError(f"idk_weighting must be one of {WEIGHTINGS}, got {self.idk_weighting!r}")
        if not (isinstance(self.idk_weight_cap, int | float) and self.idk_weight_cap >= 1.0):
            raise ValueError(f"idk_weight_cap must be a number >= 1, got {self.idk_weight_cap!r}")
        if not (isinstance(self.lr, int | float) and self.lr > 0):
            raise ValueError(f"lr must be a positive number, got {self.lr!r}")

    def train_config(self):
        from greyzone.config import TrainConfig

        return TrainConfig(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr)


# --------------------------------------------------------------------------------------------- IDK weighting
def idk_class_weight(n_idk: int, digit_counts: Any, *, scheme: str = "sqrt", cap: float = 10.0) -> float:
    """Cross-entropy weight of the IDK class (digits keep weight 1) for the IDK-aware model.

    With ``r = median(digit_counts) / n_idk`` (how much rarer IDK is than a typical digit):

    * ``"sqrt"`` (default): ``w = clip(sqrt(r), 1, cap)``;
    * ``"inverse"``: ``w = clip(r, 1, cap)`` (IDK counts as much as a typical digit);
    * ``"none"``: ``w = 1``.

    ``w = 1`` when there is no IDK image. Range ``[1, cap]``; higher = IDK predicted more readily.

    Why square root. A weight ``w`` on one class acts like seeing that class ``w`` times as often, so the
    fitted posterior odds of IDK are multiplied by about ``w``. Unweighted, IDK (~1–2% of train) is suppressed
    by its prior: the seed notebook's 11-class LeNet-5 never predicted it, which gives zero IDK recall. Full
    inverse frequency (``w ≈ 10`` at 1%) goes the other way: p(IDK) is inflated ten-fold, every borderline
    digit becomes IDK, precision and calibration suffer. The F1-optimal decision threshold on a calibrated
    probability is ``F1*/2`` (Lipton et al. 2014), i.e. below the 0.5 of an argmax by odds of a few ×, which
    is what ``sqrt(r)`` (≈ 3.2 at 1% IDK, ≈ 2.2 at 2%) gives: the geometric middle between the two, the
    usual "smoothed inverse frequency". The cap bounds the gradient of a handful of IDK samples when IDK is
    very rare (5 IDK images in 60,000 would otherwise get ``sqrt(1200) ≈ 35``). Oversampling was not chosen:
    with few IDK images it repeats the same ones many times per epoch (over-fitting them) and changes the
    epoch length, so epochs would not compare across models.
    """
    if scheme not in WEIGHTINGS:
        raise ValueError(f"scheme must be one of {WEIGHTINGS}, got {scheme!r}")
    if isinstance(n_idk, bool) or not isinstance(n_idk, int | np.integer) or n_idk < 0:
        raise ValueError(f"n_idk must be a non-negative int, got {n_idk!r}")
    if not cap >= 1.0:
        raise ValueError(f"cap must be >= 1, got {cap!r}")
    counts = np.asarray(digit_counts, dtype=np.float64)
    if counts.ndim != 1 or counts.size == 0 or (counts < 0).any():
        raise ValueError(f"digit_counts must be a non-empty 1-D array of counts >= 0, got {digit_counts!r}")
    if scheme == "none" or n_idk == 0:
        return 1.0
    r = float(np.median(counts)) / n_idk
    w = math.sqrt(r) if scheme == "sqrt" else r
    return float(min(cap, max(1.0, w)))


def class_weights(labels: Any, *, idk_label: int, scheme: str = "sqrt", cap: float = 10.0) -> np.ndarray:
    """``(idk_label + 1,)`` float32 cross-entropy weights: 1 for each digit, :func:`idk_class_weight` for IDK.

    ``labels`` are the curated train labels in ``[0, idk_label]``.
    """
    y = np.asarray(labels)
    if not np.issubdtype(y.dtype, np.integer) or y.ndim != 1:
        raise TypeError(f"labels must be a 1-D integer array, got {y.dtype} with shape {y.shape}")
    if y.size and (y.min() < 0 or y.max() > idk_label):
        raise ValueError(f"labels must lie in [0, {idk_label}], got values {int(y.min())}..{int(y.max())}")
    counts = np.bincount(y, minlength=idk_label + 1)
    w = np.ones(idk_label + 1, dtype=np.float32)
    w[idk_label] = idk_class_weight(int(counts[idk_label]), counts[:idk_label], scheme=scheme, cap=cap)
    return w


# ------------------------------------------------------------------------------------- per-seed scoring
def softmax64(logits: Any) -> np.ndarray:
    """Row-wise softmax of ``logits`` (N, C) in float64."""
    z = np.asarray(logits, dtype=np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def abstain_score(logits: Any, *, idk_label: int, kind: str = "max_digit") -> np.ndarray:
    """Abstain score ``(N,)`` in ``[0, 1]``, higher = more doubtful, from ``logits`` (N, C).

    ``"max_digit"``: ``1 − max_{c < idk_label} p_c`` (any ``C ≥ idk_label``); ``"p_idk"``: ``p_{idk_label}``
    (needs ``C = idk_label + 1``); ``p = softmax(logits)``. Computed from the logits as
    ``Σ_{j ≠ best digit} e^{z_j − z_best} / Σ_j e^{z_j − z_best}`` in float64, without the cancellation of
    ``1 − p_max``, so confident samples keep distinct scores (few ties at the operating threshold).
    """
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim != 2 or z.shape[1] < idk_label or not np.isfinite(z).all():
        raise ValueError(f"logits must be a finite (N, C) array with C >= {idk_label}, got shape {z.shape}")
    if kind == "max_digit":
        best = z[:, :idk_label].argmax(axis=1)
        e = np.exp(z - z[np.arange(len(z)), best][:, None])
        e[np.arange(len(z)), best] = 0.0
        others = e.sum(axis=1)
        return np.clip(others / (1.0 + others), 0.0, 1.0)
    if kind == "p_idk":
        if z.shape[1] != idk_label + 1:
            raise ValueError(f"p_idk needs {idk_label + 1} outputs, logits has {z.shape[1]}")
        return np.clip(softmax64(z)[:, idk_label], 0.0, 1.0)
    raise ValueError(f"kind must be 'max_digit' or 'p_idk', got {kind!r}")


def matched_threshold(score: Any, n_abstain: int) -> float:
    """The ``n_abstain``-th largest ``score`` (``+inf`` when 0): abstaining on ``score >= τ`` takes about
    ``n_abstain`` samples (more only if scores tie at ``τ``)."""
    s = np.asarray(score, dtype=np.float64)
    if not 0 <= n_abstain <= len(s):
        raise ValueError(f"n_abstain must be in [0, {len(s)}], got {n_abstain}")
    if n_abstain == 0:
        return math.inf
    return float(np.partition(s, len(s) - n_abstain)[len(s) - n_abstain])


def _predictions(logits: np.ndarray, score: np.ndarray, *, idk_label: int, rule: str,
                 tau: float) -> np.ndarray:
    if rule == "argmax":
        return logits.argmax(axis=1).astype(np.int64)
    pred = logits[:, :idk_label].argmax(axis=1).astype(np.int64)
    pred[score >= tau] = idk_label
    return pred


def _curve_on_grid(errors: np.ndarray, confidence: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Selective risk at each coverage of ``grid``, interpolating the cumulative error inside tie blocks."""
    cov, risk = risk_coverage_curve(errors, confidence)
    cum = np.interp(grid, np.concatenate(([0.0], cov)), np.concatenate(([0.0], risk * cov)))
    return cum / grid


def score_seed(logits_test: np.ndarray, y_curated: np.ndarray, y_original: np.ndarray,
               ood_logits: dict[str, np.ndarray], *, idk_label: int, score_kind: str, rule: str,
               grid: np.ndarray) -> dict[str, Any]:
    """Every metric of one trained model (one seed) from its logits; see the module docstring.

    ``rule``: ``"argmax"`` (abstain when output ``idk_label`` wins) or ``"threshold"`` (the matched-budget
    threshold on the abstain score of kind ``score_kind``). ``grid``: coverages of the stored risk curve.
    """
    logits_test = np.asarray(logits_test, dtype=np.float64)
    score = abstain_score(logits_test, idk_label=idk_label, kind=score_kind)
    is_idk = y_curated == idk_label
    tau = matched_threshold(score, int(is_idk.sum())) if rule == "threshold" else math.nan
    pred = _predictions(logits_test, score, idk_label=idk_label, rule=rule, tau=tau)
    curated = selective_metrics(y_curated, pred, score, idk_label=idk_label)
    probs = softmax64(logits_test)
    curated["ece"] = expected_calibration_error(np.clip(probs.max(axis=1), 0.0, 1.0),
                                                probs.argmax(axis=1) == y_curated)
    digit_pred = logits_test[:, :idk_label].argmax(axis=1)
    wrong = digit_pred != y_original
    original = {"error": float(wrong.mean()),
                "error_non_idk": float(wrong[~is_idk].mean()) if (~is_idk).any() else math.nan}
    abstained = pred == idk_label
    confidence = -np.where(abstained, np.inf, score)  # as selective_metrics ranks
    curve = _curve_on_grid((pred != y_curated).astype(np.float64), confidence, grid)
    robustness = {}
    clean = score[~is_idk]
    for name, z in ood_logits.items():
        z = np.asarray(z, dtype=np.float64)
        s = abstain_score(z, idk_label=idk_label, kind=score_kind)
        ood_pred = _predictions(z, s, idk_label=idk_label, rule=rule, tau=tau)
        separable = len(clean) > 0 and len(s) > 0
        robustness[name] = {
            "abstain_rate": float(np.mean(ood_pred == idk_label)) if len(s) else math.nan,
            "auroc": auroc(np.concatenate([s, clean]), np.r_[np.ones(len(s)), np.zeros(len(clean))])
            if separable else math.nan}
    return {"curated": curated, "original": original, "robustness": robustness, "curve": curve,
            "confusion": confusion_matrix(y_curated, pred, n_classes=idk_label + 1), "threshold": tau}


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

    root = ws.path / "export"
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
    curated_now = {p: ws.curated(include_proposals=p) for p in (True, False)}
    out: dict[str, np.ndarray] = {}
    n_differ = {True: 0, False: 0}
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
def evaluate_workspace(ws: Workspace, *, seeds: int = 3, epochs: int = 6, progress: bool = True,
                       **options: Any) -> dict[str, Any]:
    """Train and score the baseline, IDK-aware and no-IDK LeNet-5 on the curated export of ``ws``.

    ``options`` are further :class:`EvalConfig` fields (``seed``, ``idk_weighting``, ``n_blend``, ...); an
    unknown one raises ``TypeError``. ``progress`` shows rich progress bars on stderr. Writes and returns the
    result (layout in the module docstring) at ``<workspace>/evaluation/evaluation.json``. Raises
    :class:`~greyzone.errors.WorkspaceError` when the export is missing or stale in shape.
    """
    cfg = EvalConfig(seeds=seeds, epochs=epochs, **options)
    from greyzone.pipeline import Reporter

    rep = Reporter(enabled=progress)
    start = time.perf_counter()
    with rep.stage("load"):
        data = load_export(ws)
    result = _evaluate(ws, data, cfg, rep)
    result["timings"] = {"load_seconds": rep.timings["load"],
                         "total_seconds": round(time.perf_counter() - start, 2)}
    result = _clean(result)
    from greyzone.store.workspace import atomic_write_bytes

    atomic_write_bytes(result_path(ws), json.dumps(result, indent=1, allow_nan=False).encode())
    if data.n_differ:
        rep.log(f"[yellow]warning:[/] the export differs from the current decisions on {data.n_differ} "
                f"samples; run 'greyzone export' to evaluate the latest curation")
    return result


def result_path(ws: Workspace):
    """``<workspace>/evaluation/evaluation.json``."""
    return ws.path / RESULT_DIR / RESULT_FILE


def load_evaluation(ws: Workspace) -> dict[str, Any] | None:
    """The saved evaluation result of ``ws``, or None when ``greyzone evaluate`` has not run."""
    path = result_path(ws)
    if not path.is_file():
        return None
    return json.loads(path.read_text())


def _evaluate(ws: Workspace, data: _EvalData, cfg: EvalConfig, rep) -> dict[str, Any]:
    from greyzone.evaluation.robustness import build_ood_sets
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
    tcfg = cfg.train_config()
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
    jobs = [ModelJob(f"{seed}/{name}", rows, np.asarray(y, dtype=np.int64)[rows], predict_rows, seed,
                     n_classes=n_out, class_weight=w)
            for seed in seed_list for name, (rows, y, n_out, w, _) in trainings.items()]
    total = sum(len(j.train_rows) for j in jobs) * cfg.epochs
    with tempfile.TemporaryDirectory(prefix="greyzone-eval-") as tmp:
        images_path = Path(tmp) / "images.npy"
        np.save(images_path, np.concatenate(pieces))
        t0 = time.perf_counter()
        with rep.stage(f"train {len(jobs)} models", total=total) as tick:
            results = run_jobs(jobs, images_path, n_classes=idk, cfg=tcfg,
                               workers=cfg.workers or None, progress=tick)
        wall = time.perf_counter() - t0
    runs: dict[str, list[dict[str, Any]]] = {}
    seconds: dict[str, list[float]] = {}
    for seed in seed_list:
        for train_name, (rows, _y, _n, _w, views) in trainings.items():
            # wall time shared out by training size (the models train concurrently)
            seconds.setdefault(train_name, []).append(round(wall * len(rows) * cfg.epochs / total, 2))
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
    from greyzone.store.workspace import now

    config = dataclasses.asdict(cfg)
    config.update(idk_class_weight=float(weights[idk]), abstain_score=ABSTAIN_SCORE,
                  operating_point=OPERATING_POINT)
    return {
        "format_version": FORMAT_VERSION,
        "created_at": now(),
        "workspace": str(ws.path),
        "dataset": ws.dataset,
        "classes": labels,
        "config": config,
        "data": {"n_train": int(len(data.y_train_curated)), "n_test": int(len(data.y_test_curated)),
                 "n_train_idk": int(is_idk_train.sum()), "n_test_idk": int((~clean_test).sum()),
                 "n_export_differs_from_store": data.n_differ, "export": str(ws.path / "export")},
        "ood": ood.describe(),
        "models": models,
    }


# --------------------------------------------------------------------------------------------- printing
def _fmt(stat: dict[str, Any] | None, *, percent: bool = True, digits: int = 2) -> str:
    if not stat or stat.get("mean") is None:
        return "—"
    scale = 100.0 if percent else 1.0
    s = f"{stat['mean'] * scale:.{digits}f}"
    if stat.get("std") is not None:
        s += f" ± {stat['std'] * scale:.{digits}f}"
    return s


def print_evaluation(result: dict[str, Any], console: Console) -> None:
    """Rich tables of an :func:`evaluate_workspace` result: one row per model, mean ± std over seeds."""
    from rich.table import Table

    cfg, data, models = result["config"], result["data"], result["models"]
    n_seeds = len(next(iter(models.values()))["seeds"]) if models else 0
    console.print(f"[bold]greyzone evaluate[/] {result['workspace']}: {n_seeds} seed(s) × {cfg['epochs']} "
                  f"epochs, {data['n_train']} train ({data['n_train_idk']} IDK), {data['n_test']} test "
                  f"({data['n_test_idk']} IDK); IDK class weight {cfg['idk_class_weight']:.2f} "
                  f"({cfg['idk_weighting']}, cap {cfg['idk_weight_cap']:g})")

    t = Table(title="Curated test split (%, mean ± std over seeds; ↑ higher / ↓ lower is better)")
    t.add_column("model", style="bold")
    heads = {"accuracy_non_idk": "acc non-IDK ↑", "idk_precision": "IDK P ↑", "idk_recall": "IDK R ↑",
             "idk_f1": "IDK F1 ↑", "coverage": "coverage", "aurc": "AURC ↓", "eaurc": "E-AURC ↓",
             "risk@95": "risk@95 ↓", "risk@99": "risk@99 ↓", "ece": "ECE ↓"}
    for m in CURATED_METRICS:
        t.add_column(heads[m], justify="right")
    for name, r in models.items():
        t.add_row(name, *(_fmt(r["curated"][m]) for m in CURATED_METRICS))
    console.print(t)

    t = Table(title="Original test labels, argmax over digits (%; LeNet-5 0.95% error, LeCun et al. 1998)")
    t.add_column("model", style="bold")
    for head in ("error ↓", "error on non-IDK ↓", "train s / seed"):
        t.add_column(head, justify="right")
    for name, r in models.items():
        t.add_row(name, _fmt(r["original"]["error"]), _fmt(r["original"]["error_non_idk"]),
                  _fmt(r["train_seconds"], percent=False, digits=1) if r["train_seconds"] else "(shared)")
    console.print(t)

    sets = [s for s, d in result["ood"].items() if "skipped" not in d]
    if sets:
        t = Table(title="Robustness: abstain rate at the operating point ↑ / AUROC vs clean test digits ↑ "
                        "(%)")
        t.add_column("model", style="bold")
        for s in sets:
            t.add_column(f"{s} (n={result['ood'][s]['n']})", justify="right")
        for name, r in models.items():
            t.add_row(name, *(f"{_fmt(r['robustness'][s]['abstain_rate'], digits=1)} / "
                              f"{_fmt(r['robustness'][s]['auroc'], digits=1)}" for s in sets))
        console.print(t)
    for s, d in result["ood"].items():
        if "skipped" in d:
            console.print(f"[yellow]OOD set {s} skipped:[/] {d['skipped']}")
    console.print("Abstain score: 1 − max digit probability (idk_aware_pidk: p(IDK)). Operating point: "
                  "idk_aware abstains when IDK wins the argmax; 10-output models abstain on the k most "
                  "doubtful test images, k = number of curated IDK test images.")
    console.print(f"Saved to {result['workspace']}/{RESULT_DIR}/{RESULT_FILE} "
                  f"({result['timings']['total_seconds']:.0f} s).")
