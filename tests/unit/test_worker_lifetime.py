"""Training workers die with a SIGKILLed parent, and the next run removes the killed run's temp folder
(issue 12, item 8)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from greyzone.model.jobs import TEMP_PREFIX, clean_stale_tempdirs

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

PARENT = """
import sys, numpy as np
from greyzone.model.architectures import Recipe
from greyzone.model.jobs import ModelJob, run_jobs
n = 2000
job = ModelJob("long", np.arange(n), np.arange(n) % 10, np.arange(10), seed=0, architecture="lenet5",
               recipe=Recipe(epochs=500, batch_size=128, lr=1e-3))
run_jobs([job], sys.argv[1], n_classes=10, workers=1)
"""


def _workers_of(parent: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                cmd = (d / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"greyzone.model.jobs" in cmd and f"{TEMP_PREFIX}{parent}-".encode() in b" ".join(cmd):
                out.append(int(d.name))
    return out


def _training(pid: int) -> bool:
    """The worker has used 4 s of CPU: past importing torch and its start-up (where it ties itself to the
    parent), into training."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK") >= 4.0


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; only its reaper is missing


def test_worker_dies_with_killed_parent_and_temp_folder_is_cleaned(tmp_path, monkeypatch):
    # a private temp dir, so that another greyzone run on this machine cannot clean the leak before we look
    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    images = tmp_path / "images.npy"
    np.save(images, np.random.default_rng(0).integers(0, 256, (2000, 28, 28), dtype=np.uint8))
    src = str(Path(__file__).parents[2] / "src")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TMPDIR": str(private),
           "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(images)], env=env)
    try:
        deadline = time.monotonic() + 60
        while not (workers := _workers_of(parent.pid)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert workers, "no training worker started"
        while not all(_training(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        # Stopped, a worker cannot notice a broken progress pipe or a closed stdin: only the kernel's
        # parent-death signal can end it, which makes the check deterministic.
        for w in workers:
            os.kill(w, signal.SIGSTOP)
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    time.sleep(2.0)
    alive = [w for w in workers if _running(w)]
    for w in alive:
        os.kill(w, signal.SIGKILL)
    assert not alive, "the training worker outlived its SIGKILLed parent"

    leaked = list(private.glob(f"{TEMP_PREFIX}{parent.pid}-*"))
    assert leaked, "the killed run's temp folder should still be there before the next run"
    removed = clean_stale_tempdirs()
    assert set(leaked) <= set(removed) and not any(p.exists() for p in leaked)


def test_live_runs_temp_folder_is_kept():
    with tempfile.TemporaryDirectory(prefix=f"{TEMP_PREFIX}{os.getpid()}-") as mine:
        clean_stale_tempdirs()
        assert Path(mine).is_dir()
