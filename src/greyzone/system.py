"""Facts about the machine that several stages need."""

from __future__ import annotations

import os


def usable_cpus() -> int:
    """CPUs this process may run on: honours ``taskset`` and cgroup CPU pinning (``sched_getaffinity``),
    unlike ``os.cpu_count()``; falls back to the latter where affinity is not available (macOS, Windows)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def resolve_device(name: str) -> str:
    """``auto`` → ``cuda`` when PyTorch sees a CUDA device, else ``cpu``; an explicit ``cuda`` or ``mps``
    that PyTorch cannot use is a :class:`~greyzone.errors.ParameterError`."""
    import torch

    from greyzone.errors import ParameterError

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ParameterError("--device cuda: PyTorch sees no CUDA device (torch "
                             f"{torch.__version__}, built for CUDA {torch.version.cuda}); use --device cpu")
    if name == "mps" and not torch.backends.mps.is_available():
        raise ParameterError("--device mps: PyTorch's MPS backend is not available on this machine; "
                             "use --device cpu")
    return name


def deterministic_torch(device: str) -> None:
    """The deterministic settings PyTorch offers: on CUDA, cuDNN's deterministic algorithms without
    benchmarking and ``CUBLAS_WORKSPACE_CONFIG`` for deterministic cuBLAS (set before the first CUDA call).
    Ops without a deterministic CUDA kernel then warn rather than fail (``warn_only``); the CPU path is
    deterministic anyway (single-threaded jobs)."""
    import torch

    if device == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        torch.use_deterministic_algorithms(True, warn_only=True)
