"""Cross-fitting: K fold models of the *scorer* give every train sample out-of-sample probabilities (and the
test split the mean of the K) and record its training dynamics while the K − 1 others train on it; the
*embedder*, trained once on all train samples, embeds every sample. All K + 1 models train in parallel
(:mod:`.jobs`).

Fold model k has seed ``seed * 1000 + k``; the embedder ``seed * 1000 + K``. The scorer sees the images at
``image_size`` (default: its native size), the embedder at its own native size; each model standardises
every channel with the statistics of its own training images (:func:`greyzone.model.train.channel_stats`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedKFold

from greyzone.config import TrainConfig
from greyzone.errors import ParameterError
from greyzone.model.architectures import recipe_for
from greyzone.model.jobs import ModelJob, run_jobs
from greyzone.model.train import Dynamics, Progress, softmax


@dataclass
class CrossFit:
    """Out-of-sample predictions from K fold models, plus the embedding model trained on all train samples."""

    oof_logits: np.ndarray  # (N_train, C): from the fold model that did not see the sample
    test_probs: np.ndarray  # (N_test, C): mean of the K fold models' probabilities
    fold: np.ndarray  # (N_train,) fold number of each train sample
    fold_accuracy: list[float]  # held-out accuracy of each fold model
    full_logits: np.ndarray  # (N, C) embedding model's logits for every row of the image file
    embeddings: np.ndarray  # (N, D) embedding model's penultimate layer for every row
    dynamics: Dynamics  # scorer's training dynamics, (N_train, epochs): mean over the K − 1 fold models


def fold_assignment(labels: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Stratified fold number per sample (shuffled with ``seed``)."""
    counts = np.bincount(labels)
    smallest = int(counts[counts > 0].min())
    if smallest < folds:
        raise ParameterError(
            f"a class has only {smallest} training samples, fewer than folds={folds}; lower --folds"
        )
    out = np.empty(len(labels), np.int64)
    skf = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for k, (_, held) in enumerate(skf.split(np.zeros(len(labels)), labels)):
        out[held] = k
    return out


def crossfit_jobs(images_path: Path, train_rows: np.ndarray, y_train: np.ndarray, test_rows: np.ndarray,
                  fold: np.ndarray, *, cfg: TrainConfig, seed: int, scorer: str, embedder: str,
                  image_size: int | None = None) -> list[ModelJob]:
    """The K fold jobs (``fold0`` … predicting their held-out fold, then the test rows; inputs at
    ``image_size``, default the scorer's native size) and ``full`` (the embedder, at its native size);
    ``fold`` is :func:`fold_assignment` of the train rows."""
    folds = int(fold.max()) + 1
    n_rows = len(np.load(images_path, mmap_mode="r"))
    scorer_recipe = recipe_for(scorer, cfg)
    jobs = [
        ModelJob(f"fold{k}", train_rows[fold != k], y_train[fold != k],
                 np.concatenate([train_rows[fold == k], test_rows]), seed * 1000 + k, scorer, scorer_recipe,
                 record=True, size=image_size)
        for k in range(folds)
    ]
    jobs.append(ModelJob("full", train_rows, y_train, np.arange(n_rows), seed * 1000 + folds, embedder,
                         recipe_for(embedder, cfg), embed=True))
    return jobs


def crossfit_work(n_train: int, *, folds: int, cfg: TrainConfig, scorer: str, embedder: str) -> int:
    """Samples trained over all jobs, the progress total: ``(K − 1) · N · E_scorer + N · E_embedder`` (the K
    fold models together train on every sample K − 1 times)."""
    return n_train * ((folds - 1) * recipe_for(scorer, cfg).epochs + recipe_for(embedder, cfg).epochs)


def crossfit(
    images_path: Path,
    train_rows: np.ndarray,
    y_train: np.ndarray,
    test_rows: np.ndarray,
    *,
    n_classes: int,
    folds: int,
    cfg: TrainConfig,
    seed: int,
    scorer: str = "cnn",
    embedder: str = "lenet5",
    image_size: int | None = None,
    device: str = "cpu",
    workers: int | None = None,
    progress: Progress | None = None,
    backend: str = "local",
    ray_address: str | None = None,
) -> CrossFit:
    """Train K scorer fold models (each on all folds but one) and the embedder (all train rows) in parallel.

    ``image_size``: the scorer's input size (default: its native size). ``progress`` receives
    trained-sample counts, in total :func:`crossfit_work`. ``backend`` and ``ray_address``:
    :func:`~greyzone.model.jobs.run_jobs` (the same outputs on either backend).
    """
    fold = fold_assignment(y_train, folds, seed)
    jobs = crossfit_jobs(images_path, train_rows, y_train, test_rows, fold, cfg=cfg, seed=seed, scorer=scorer,
                         embedder=embedder, image_size=image_size)
    res = run_jobs(jobs, images_path, n_classes=n_classes, device=device, workers=workers, progress=progress,
                   backend=backend, ray_address=ray_address)
    oof = np.zeros((len(y_train), n_classes), np.float32)
    test_probs = np.zeros((len(test_rows), n_classes), np.float32)
    fold_acc = []
    for k in range(folds):
        held = np.flatnonzero(fold == k)
        logits = res[f"fold{k}"].logits
        oof[held] = logits[: len(held)]
        test_probs += softmax(logits[len(held) :]) / folds
        fold_acc.append(float((oof[held].argmax(1) == y_train[held]).mean()))
    full = res["full"]
    return CrossFit(oof, test_probs, fold, fold_acc, full.logits, full.embeddings,
                    fold_dynamics([res[f"fold{k}"] for k in range(folds)], fold))


def fold_dynamics(fold_results: list, fold: np.ndarray) -> Dynamics:
    """Per train sample and epoch, the mean over the fold models that trained on it (all but the one that
    holds it out) of its p[label] and logit margin: ``d[i, e] = mean_{k ≠ fold[i]} d_k[i, e]``.

    ``fold_results[k]`` holds fold model k's dynamics in the order of its training rows
    (``flatnonzero(fold != k)``)."""
    folds = len(fold_results)
    epochs = fold_results[0].p_label.shape[1]
    p_label = np.zeros((len(fold), epochs), np.float64)
    margin = np.zeros_like(p_label)
    for k, r in enumerate(fold_results):
        rows = np.flatnonzero(fold != k)
        p_label[rows] += r.p_label
        margin[rows] += r.margin
    return Dynamics((p_label / (folds - 1)).astype(np.float32), (margin / (folds - 1)).astype(np.float32))
