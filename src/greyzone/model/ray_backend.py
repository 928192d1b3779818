"""Run the model jobs (:mod:`.jobs`) as Ray tasks, on this machine or a Ray cluster (extra ``greyzone[ray]``).

Each job is one task with ``num_cpus=1`` (and ``num_gpus=1`` on ``cuda``): Ray places as many at once as the
cluster has free CPUs (GPUs). The image array goes into Ray's object store ONCE (``ray.put``); every task
receives the reference and reads it as a zero-copy, read-only numpy array, so workers on other machines need
no shared path and nothing large is pickled per job. A task trains exactly as a local worker does (one
intra-op thread on CPU, the job's own seed), so the same seed gives bit-identical outputs on both backends.

Progress: tasks add their trained-sample counts to a small actor (:class:`_Tally`) that the driver polls
between ``ray.wait`` calls. A task that raises is retried once (``max_retries=1, retry_exceptions=True``);
a second failure fails the run with a :class:`RuntimeError` naming the job, the number of attempts and the
end of the remote traceback.

This module knows the jobs only as objects with a ``name``; :func:`greyzone.model.jobs.run_jobs` passes the
function that trains one (``run_job``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from greyzone.errors import ParameterError, extra_hint, require_extra

RAY_HINT = extra_hint("ray")
#: Object store of a Ray instance greyzone starts itself: ``max(512 MiB, 3 × the images' bytes)``, room for
#: the images plus the returned logits and embeddings (Ray spills to disk beyond it); Ray's default would
#: reserve 30 % of the machine's memory.
MIN_OBJECT_STORE_BYTES = 512 << 20
#: Seconds between progress polls while the driver waits for tasks.
POLL_S = 0.5
#: Lines of the remote traceback kept in the error.
TRACEBACK_LINES = 25


def require_ray() -> Any:
    """The ``ray`` module, or a :class:`MissingExtraError` with the exact pip command."""
    return require_extra("ray", "ray", "--backend ray")


@contextmanager
def ray_session(address: str | None, *, num_cpus: int | None = None,
                object_store_bytes: int = MIN_OBJECT_STORE_BYTES) -> Iterator[Any]:
    """Yield ``ray`` connected to a cluster: the one this process already joined (left running), else
    ``ray.init(address)`` (``None``: a new local instance with ``num_cpus`` CPUs and an object store of
    ``object_store_bytes``; ``"auto"``, ``"host:6379"``
    or ``"ray://host:10001"``: an existing cluster), disconnected again at the end (which stops a local
    instance, never a cluster that was joined). Ray's own logging is quiet and no dashboard starts."""
    ray = require_ray()
    if ray.is_initialized():
        yield ray
        return
    quiet = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.WARNING}
    if address is None:
        # "local": always a new instance (a bare ray.init() would join a cluster found on this machine)
        ray.init("local", num_cpus=num_cpus, object_store_memory=object_store_bytes, **quiet)
    else:
        try:
            ray.init(address=address, **quiet)
        except ConnectionError as e:
            raise ParameterError(f"--ray-address {address}: no Ray cluster answers there ({e}); start one "
                                 f"with 'ray start --head' or leave --ray-address out to start a local "
                                 f"instance") from e
    try:
        yield ray
    finally:
        ray.shutdown()


class _Tally:
    """Ray actor: trained samples not yet reported to the driver, and attempts started per job."""

    def __init__(self) -> None:
        self.samples = 0
        self.attempts: dict[str, int] = {}

    def start(self, name: str) -> None:
        self.attempts[name] = self.attempts.get(name, 0) + 1

    def add(self, n: int) -> None:
        self.samples += n

    def take(self) -> int:
        n, self.samples = self.samples, 0
        return n

    def attempts_of(self, name: str) -> int:
        return self.attempts.get(name, 0)


def _task(run: Callable, job: Any, images: np.ndarray, n_classes: int, device: str, tally: Any) -> Any:
    """One job on a Ray worker: ``run(job, images, n_classes, device, progress)``, reporting progress in
    chunks (one actor call per 4,096 samples)."""
    import ray

    ray.get(tally.start.remote(job.name))  # counted before the job can fail
    pending = 0

    def tick(n: int) -> None:
        nonlocal pending
        pending += n
        if pending >= 4096:
            tally.add.remote(pending)
            pending = 0

    result = run(job, images, n_classes, device, progress=tick)
    ray.get(tally.add.remote(pending))  # counted before the driver sees the result
    return result


def run_ray_jobs(
    jobs: Sequence[Any],
    run: Callable,
    images: np.ndarray,
    *,
    n_classes: int,
    device: str = "cpu",
    address: str | None = None,
    num_cpus: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Run ``run(job, images, n_classes, device, progress=...)`` for every job as one Ray task (submitted in
    the given order); return the results by ``job.name``.

    ``address`` and ``num_cpus``: :func:`ray_session`. ``progress`` receives trained-sample counts.
    """
    store = max(MIN_OBJECT_STORE_BYTES, 3 * images.nbytes)
    with ray_session(address, num_cpus=num_cpus, object_store_bytes=store) as ray:
        remote = ray.remote(num_cpus=1, num_gpus=1 if device == "cuda" else 0, max_retries=1,
                            retry_exceptions=True)(_task)
        tally = ray.remote(num_cpus=0)(_Tally).remote()
        images_ref = ray.put(images)  # once: every task reads the same object-store copy
        by_ref = {remote.remote(run, job, images_ref, n_classes, device, tally): job.name for job in jobs}
        results: dict[str, Any] = {}
        pending = list(by_ref)
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1, timeout=POLL_S)
                if progress is not None:
                    progress(ray.get(tally.take.remote()))
                for ref in done:
                    name = by_ref[ref]
                    try:
                        results[name] = ray.get(ref)
                    except ray.exceptions.RayError as e:  # the task raised, or its worker died
                        attempts = ray.get(tally.attempts_of.remote(name))
                        tail = "\n".join(str(e).splitlines()[-TRACEBACK_LINES:])
                        raise RuntimeError(f"training job {name!r} failed on Ray after {attempts} attempt(s) "
                                           f"(a failed task is retried once):\n{tail}") from None
            if progress is not None:
                progress(ray.get(tally.take.remote()))
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)
            ray.kill(tally)
        return results
