"""Train independent LeNet-5 models (the K fold models and the embedding model) in parallel processes.

Small convolutions scale poorly over threads (OpenMP overhead dominates a 6-channel 28×28 conv), so greyzone
trains one model per process with ONE intra-op thread each, as many processes as cores. Because every model
always trains single-threaded with its own seed, the numbers do not depend on the worker count: the same seed
gives the same models on a 2-core laptop and a 64-core server.

Workers read the images from the workspace's memory-mapped ``images.npy``, so nothing large is pickled.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from greyzone.config import TrainConfig


@dataclass(frozen=True)
class ModelJob:
    """Train on ``train_rows`` of the image file, then predict ``predict_rows``."""

    name: str
    train_rows: np.ndarray  # (n,) int64 rows of images.npy
    labels: np.ndarray  # (n,) int64
    predict_rows: np.ndarray  # (m,) int64
    seed: int
    embed: bool = False  # also return the 84-d embeddings of predict_rows
    record: bool = False  # also return training dynamics (p_label, margin per epoch)


@dataclass
class JobResult:
    name: str
    logits: np.ndarray  # (m, C) float32
    embeddings: np.ndarray | None
    p_label: np.ndarray | None  # (n, epochs)
    margin: np.ndarray | None


_progress_queue: mp.Queue | None = None


def _init_worker(q: mp.Queue | None) -> None:
    global _progress_queue
    _progress_queue = q


def run_job(job: ModelJob, images_path: str, n_classes: int, cfg: TrainConfig) -> JobResult:
    """Train and predict one model, single-threaded (also used in-process when there is one worker)."""
    import torch

    from greyzone.model.train import fit, predict, to_tensor

    torch.set_num_threads(1)
    images = np.load(images_path, mmap_mode="r")
    pending = 0

    def tick(n: int) -> None:  # batch progress, sent to the parent in chunks to keep the queue quiet
        nonlocal pending
        pending += n
        if _progress_queue is not None and pending >= 4096:
            _progress_queue.put(pending)
            pending = 0

    model, dyn = fit(to_tensor(images[job.train_rows]), job.labels, n_classes=n_classes,
                     cfg=replace(cfg, threads=1), seed=job.seed, record=job.record,
                     progress=tick if _progress_queue is not None else None)
    if _progress_queue is not None and pending:
        _progress_queue.put(pending)
    logits, emb = predict(model, to_tensor(images[job.predict_rows]), embed=job.embed)
    return JobResult(job.name, logits, emb, dyn.p_label if dyn else None, dyn.margin if dyn else None)


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def run_jobs(jobs: list[ModelJob], images_path: Path, *, n_classes: int, cfg: TrainConfig,
             workers: int | None = None, progress: Callable[[int], None] | None = None) -> dict[str, JobResult]:
    """Run every job; results by job name. ``progress`` receives trained-sample counts."""
    workers = min(workers or default_workers(), len(jobs))
    if workers <= 1:
        _init_worker(None)
        out = {}
        for job in jobs:
            out[job.name] = run_job(job, str(images_path), n_classes, cfg)
            if progress:
                progress(len(job.train_rows) * cfg.epochs)
        return out
    ctx = mp.get_context("spawn")  # fork after torch/OpenMP initialisation can deadlock
    q = ctx.Queue() if progress else None
    # Longest jobs first so the pool finishes together.
    ordered = sorted(jobs, key=lambda j: -len(j.train_rows))
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=(q,)) as pool:
        futures: set[Future] = {pool.submit(run_job, j, str(images_path), n_classes, cfg) for j in ordered}
        results: dict[str, JobResult] = {}
        while futures:
            done, futures = wait(futures, timeout=0.2, return_when=FIRST_COMPLETED)
            for f in done:
                r = f.result()
                results[r.name] = r
            _drain(q, progress)
        _drain(q, progress)
    return results


def _drain(q: mp.Queue | None, progress: Callable[[int], None] | None) -> None:
    while q is not None and progress is not None:
        try:
            progress(q.get_nowait())
        except queue.Empty:
            return
