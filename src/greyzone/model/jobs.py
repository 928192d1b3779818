"""Train independent models (the K fold models and the embedder) in parallel processes.

On CPU, small convolutions scale poorly over threads (OpenMP overhead dominates a 6-channel 28×28 conv), so
greyzone trains one model per process with ONE intra-op thread each, as many processes as cores. Because every
model always trains single-threaded with its own seed, the numbers do not depend on the worker count: the same
seed gives the same models on a 2-core laptop and a 64-core server. On a GPU (``device`` ``cuda`` or ``mps``)
one worker trains the models one after another on the device, with the images copied there once per model.

Workers read the images from the workspace's memory-mapped ``images.npy``, so nothing large is pickled. A
worker dies with its parent, even a ``kill -9``-ed one (``PR_SET_PDEATHSIG`` on Linux, and a stdin pipe it
watches everywhere), and the temp folder of a killed run is removed by the next one.
"""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from greyzone.config import BACKENDS
from greyzone.model.architectures import ARCHITECTURES, Recipe
from greyzone.system import usable_cpus
from greyzone.validation import check_option


@dataclass(frozen=True)
class ModelJob:
    """Train ``architecture`` with ``recipe`` on ``train_rows`` of the image file, then predict
    ``predict_rows``. Inputs are resized to ``size`` (default: the architecture's native size) and
    standardised per channel with ``stats`` (default: :func:`~greyzone.model.train.channel_stats` of the
    job's train rows)."""

    name: str
    train_rows: np.ndarray  # (n,) int64 rows of images.npy
    labels: np.ndarray  # (n,) int64
    predict_rows: np.ndarray  # (m,) int64
    seed: int
    architecture: str
    recipe: Recipe
    embed: bool = False  # also return the embeddings of predict_rows
    record: bool = False  # also return training dynamics (p_label, margin per epoch)
    n_classes: int | None = None  # outputs of this model (default: the run_jobs argument)
    class_weight: tuple[float, ...] | None = None  # cross-entropy weight per class
    size: int | None = None  # working input size (pixels); None: ARCHITECTURES[architecture].native_size
    stats: tuple[tuple[float, ...], tuple[float, ...]] | None = None  # (mean, std) per channel on [0, 1]


#: Temp folders of run_jobs are ``<tmp>/greyzone-train-<pid>-<random>``; the pid says whose they are.
TEMP_PREFIX = "greyzone-train-"
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

#: Relative single-threaded training cost per sample and epoch at the native size, used only to balance
#: workers. Measured on this project's 2-core machine (6,000 images, one epoch, one thread): LeNet-5 2.7k
#: samples/s and the CNN 3.4k on MNIST; the ResNet 0.68k on 32×32 RGB, 4.0× the CNN's time in the same run
#: (``benchmarks/bench_architectures.py``: lenet5 2,341, cnn 2,722, resnet 677 samples/s).
COST_PER_SAMPLE = {"lenet5": 4, "cnn": 3, "resnet": 12}


@dataclass
class JobResult:
    name: str
    logits: np.ndarray  # (m, C) float32
    embeddings: np.ndarray | None
    p_label: np.ndarray | None  # (n, epochs)
    margin: np.ndarray | None


def run_job(
    job: ModelJob,
    images: str | os.PathLike | np.ndarray,
    n_classes: int,
    device: str = "cpu",
    progress: Callable[[int], None] | None = None,
) -> JobResult:
    """Train and predict one model (single-threaded on CPU) on ``images``: the path of an ``.npy`` file
    (memory-mapped; the local workers) or the array itself (Ray's zero-copy object-store view)."""
    import torch

    from greyzone.model.train import ImageBatches, background, channel_stats, fit, predict, to_tensor
    from greyzone.system import deterministic_torch

    if device == "cpu":
        torch.set_num_threads(1)
    deterministic_torch(device)
    if not isinstance(images, np.ndarray):
        images = np.load(images, mmap_mode="r")
    weight = torch.tensor(job.class_weight, dtype=torch.float32) if job.class_weight is not None else None
    train_images = images[job.train_rows]
    size = job.size or ARCHITECTURES[job.architecture].native_size
    stats = job.stats or channel_stats(train_images)
    fill = background(stats)
    model, dyn = fit(
        to_tensor(train_images, size, *stats).to(device),
        job.labels,
        architecture=job.architecture,
        n_classes=job.n_classes or n_classes,
        class_weight=weight,
        recipe=job.recipe,
        seed=job.seed,
        fill=fill,
        record=job.record,
        progress=progress,
    )
    del train_images
    x = ImageBatches(images, job.predict_rows, size, stats, device)  # one batch in float32 at a time
    logits, emb = predict(model, x, embed=job.embed, tta=job.recipe.tta, fill=fill)
    return JobResult(job.name, logits, emb, dyn.p_label if dyn else None, dyn.margin if dyn else None)


def job_cost(job: ModelJob) -> float:
    """Relative training cost: samples × epochs × :data:`COST_PER_SAMPLE` of the architecture × (size /
    native size)² (convolutions cost in proportion to the pixels)."""
    native = ARCHITECTURES[job.architecture].native_size
    return len(job.train_rows) * job.recipe.epochs * COST_PER_SAMPLE[job.architecture] * ((job.size or native)
                                                                                        / native) ** 2


def _assign(jobs: list[ModelJob], workers: int) -> list[list[ModelJob]]:
    """Longest-processing-time-first: each job goes to the least-loaded worker."""
    buckets: list[list[ModelJob]] = [[] for _ in range(workers)]
    load = [0.0] * workers
    for job in sorted(jobs, key=lambda j: -job_cost(j)):
        w = load.index(min(load))
        buckets[w].append(job)
        load[w] += job_cost(job)
    return [b for b in buckets if b]


def run_jobs(
    jobs: list[ModelJob],
    images_path: Path,
    *,
    n_classes: int,
    device: str = "cpu",
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
    backend: str = "local",
    ray_address: str | None = None,
) -> dict[str, JobResult]:
    """Run every job in ``workers`` fresh interpreters (``python -m greyzone.model.jobs``); results by name.

    ``device`` is a resolved device (:func:`greyzone.system.resolve_device`); on a GPU one worker runs all.
    ``backend="ray"`` runs each job as a Ray task instead (:mod:`greyzone.model.ray_backend`; ``ray_address``
    None starts a local Ray instance with ``workers`` CPUs), with the same results.

    Fresh interpreters rather than multiprocessing: fork after OpenMP has started can deadlock, and spawn
    re-imports the caller's ``__main__``, which breaks scripts without a ``__main__`` guard.
    ``progress`` receives trained-sample counts.
    """
    check_option(backend, "backend", BACKENDS)
    if backend == "ray":
        from greyzone.model.ray_backend import run_ray_jobs

        return run_ray_jobs(sorted(jobs, key=lambda j: -job_cost(j)), run_job,
                            np.load(images_path, mmap_mode="r"), n_classes=n_classes, device=device,
                            address=ray_address, num_cpus=workers or usable_cpus(), progress=progress)
    workers = 1 if device != "cpu" else min(workers or usable_cpus(), len(jobs))
    clean_stale_tempdirs()
    with tempfile.TemporaryDirectory(prefix=f"{TEMP_PREFIX}{os.getpid()}-") as tmp:
        procs = []
        for w, bucket in enumerate(_assign(jobs, workers)):
            spec = Path(tmp) / f"worker{w}.pkl"
            with open(spec, "wb") as f:
                pickle.dump((bucket, str(images_path), n_classes, device), f)
            proc = subprocess.Popen(
                [sys.executable, "-m", "greyzone.model.jobs", str(spec), str(os.getpid())],
                stdin=subprocess.PIPE,  # never written: the worker exits when it closes (the parent died)
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            reader = threading.Thread(target=_relay, args=(proc.stdout, progress), daemon=True)
            reader.start()
            procs.append((proc, spec, reader))
        results: dict[str, JobResult] = {}
        for proc, spec, reader in procs:
            stderr = proc.stderr.read()  # type: ignore[union-attr]
            proc.wait()
            reader.join()
            if proc.returncode != 0:
                for other, _, _ in procs:
                    other.kill()
                raise RuntimeError(f"training worker failed (exit {proc.returncode}):\n{stderr[-4000:]}")
            with open(spec.with_suffix(".out"), "rb") as f:
                for r in pickle.load(f):
                    results[r.name] = r
    return results


def clean_stale_tempdirs() -> list[Path]:
    """Remove ``greyzone-train-<pid>-*`` temp folders whose process is gone (a killed run's); return them."""
    removed = []
    for d in Path(tempfile.gettempdir()).glob(f"{TEMP_PREFIX}*-*"):
        pid = d.name[len(TEMP_PREFIX):].split("-", 1)[0]
        if d.is_dir() and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(d, ignore_errors=True)
            removed.append(d)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _die_with_parent(parent: int) -> None:
    """Tie this worker's life to ``parent``: the kernel kills it when the parent dies (Linux
    ``PR_SET_PDEATHSIG``), and everywhere a thread exits when stdin, a pipe only the parent holds, closes."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent died before we could ask
        os._exit(1)

    def watch() -> None:
        sys.stdin.read()
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _relay(stream, progress: Callable[[int], None] | None) -> None:
    for line in stream:
        if progress is not None and line.startswith("progress "):
            progress(int(line.split()[1]))


def _worker_main(spec_path: str, parent: int) -> None:
    _die_with_parent(parent)
    with open(spec_path, "rb") as f:
        jobs, images_path, n_classes, device = pickle.load(f)
    pending = 0

    def tick(n: int) -> None:  # report in chunks to keep the pipe quiet
        nonlocal pending
        pending += n
        if pending >= 4096:
            print(f"progress {pending}", flush=True)
            pending = 0

    results = [run_job(job, images_path, n_classes, device, progress=tick) for job in jobs]
    print(f"progress {pending}", flush=True)
    out = Path(spec_path).with_suffix(".out")
    with open(out.with_suffix(".tmp"), "wb") as f:
        pickle.dump(results, f)
    os.replace(out.with_suffix(".tmp"), out)


if __name__ == "__main__":
    # Import under the package name so pickled ModelJob/JobResult refer to greyzone.model.jobs, not __main__.
    from greyzone.model.jobs import _worker_main as worker_main

    worker_main(sys.argv[1], int(sys.argv[2]))
