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
