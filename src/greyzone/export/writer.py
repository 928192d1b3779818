"""Write the export's image files, verified, in worker processes: each file is either the sample's
original source file copied byte for byte (image folders: a JPEG stays the same JPEG) or a lossless PNG of
its stored pixels (array sources: IDX, Hugging Face arrays, in-memory arrays; :mod:`greyzone.export.png`).

Every file is created new (``O_EXCL``), read back through the same descriptor and checked: a PNG's bytes and
decoded pixels, a copy's bytes against the source as read; a copy's source is also checked against the
SHA-256 the store recorded when the dataset was loaded, so an export never carries a file that changed
since it was scored. The SHA-256 of every written file is returned for the manifest.

Long lists run in ``python -m greyzone.export.writer`` worker processes: fresh interpreters rather than
``multiprocessing``, as for training (:mod:`greyzone.model.jobs`), so that no caller's ``__main__`` is
re-imported and no thread state is forked.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from greyzone.errors import ExportError
from greyzone.export.png import decode_png, encode_png

#: Below this many files the caller's process writes them itself (a worker costs ~0.3 s to start).
MIN_PER_WORKER = 4_000


class Task(NamedTuple):
    """One file to write: ``sid`` (row of the images array), ``rel`` (path relative to the export root),
    ``source`` (absolute path of the original file to copy; None: encode a PNG of the pixels) and
    ``sha256`` (hex digest the source must have; None: not recorded, not checked)."""

    sid: int
    rel: str
    source: str | None = None
    sha256: str | None = None


class FileStat(NamedTuple):
    """A written file: path relative to the export root, size (bytes), mtime_ns, inode, SHA-256 (hex)."""

    rel: str
    size: int
    mtime_ns: int
    ino: int
    sha256: str


def _content(images: np.ndarray, task: Task) -> tuple[bytes, str]:
    """The bytes of ``task``'s file, the source's (checked against its recorded SHA-256) or a PNG, and their
    SHA-256 (hex)."""
    if task.source is None:
        data = encode_png(images[task.sid])
        return data, hashlib.sha256(data).hexdigest()
    try:
        with open(task.source, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ExportError(f"{task.source}: cannot read the source file of {task.rel} ({e.strerror or e}); "
                          f"the export copies original files: restore it, or re-run 'greyzone run' on the "
                          f"data as it is now") from e
    got = hashlib.sha256(data).hexdigest()
    if task.sha256 is not None and got != task.sha256:
        raise ExportError(f"{task.source}: the file changed since it was loaded (SHA-256 {got[:12]}…, was "
                          f"{task.sha256[:12]}…); re-run 'greyzone run' so that its scores match it")
    return data, got


def _write_and_verify(images: np.ndarray, root: Path, tasks: Sequence[Task],
                      tick: Callable[[int], None]) -> list[FileStat]:
    """Write every task's file as a new file (the caller removed stale ones), read it back through the same
    descriptor and check it; returns the files' stats."""
    out, prefix = [], f"{root}/"  # plain strings: pathlib costs more than the system calls here
    for i, task in enumerate(tasks):
        data, sha256 = _content(images, task)
        fd = os.open(prefix + task.rel, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, data)
            back = os.pread(fd, len(data) + 1, 0)
            st = os.fstat(fd)
        finally:
            os.close(fd)
        if back != data or (task.source is None and not np.array_equal(decode_png(back), images[task.sid])):
            raise OSError(f"{prefix + task.rel}: the file read back differs from what was written "
                          f"(sample {task.sid})")
        out.append(FileStat(task.rel, st.st_size, st.st_mtime_ns, st.st_ino, sha256))
        if i % 1000 == 999:
            tick(1000)
    tick(len(tasks) % 1000)
    return out


def write_files(images_path: Path, root: Path, tasks: Sequence[Task], *, workers: int,
                progress: Callable[[int], None] | None = None) -> list[FileStat]:
    """Write and verify ``tasks`` under ``root`` (directories must exist) with up to ``workers`` processes
    (at least :data:`MIN_PER_WORKER` files each); the files' stats, in task order. A worker's
    :class:`ExportError` (a changed or missing source file) is raised as such."""
    tick = progress or (lambda _n: None)
    workers = max(1, min(workers, len(tasks) // MIN_PER_WORKER))
    if workers == 1:
        return _write_and_verify(np.load(images_path, mmap_mode="r"), root, tasks, tick)
    parts = np.array_split(np.arange(len(tasks)), workers)
    with tempfile.TemporaryDirectory(prefix="greyzone-export-") as tmp:
        procs = []
        for w, part in enumerate(parts):
            spec = Path(tmp) / f"worker{w}.pkl"
            spec.write_bytes(pickle.dumps((str(images_path), str(root), [tuple(tasks[i]) for i in part])))
            proc = subprocess.Popen([sys.executable, "-m", "greyzone.export.writer", str(spec)],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            reader = threading.Thread(target=_relay, args=(proc.stdout, tick), daemon=True)
            reader.start()
            procs.append((proc, spec, reader))
        out: list[FileStat] = []
        try:
            for proc, spec, reader in procs:
                stderr = proc.stderr.read()  # type: ignore[union-attr]
                proc.wait()
                reader.join()
                if proc.returncode != 0:
                    failed = spec.with_suffix(".err")
                    if failed.is_file():  # the worker's ExportError: a user-facing problem, said as such
                        raise ExportError(failed.read_text())
                    raise OSError(f"export worker failed (exit {proc.returncode}):\n{stderr[-4000:]}")
                out += [FileStat(*s) for s in pickle.loads(spec.with_suffix(".out").read_bytes())]
        finally:
            for proc, _, _ in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
    return out


def _relay(stream, tick: Callable[[int], None]) -> None:
    for line in stream:
        if line.startswith("progress "):
            tick(int(line.split()[1]))


def _worker_main(spec_path: str) -> None:
    images_path, root, tasks = pickle.loads(Path(spec_path).read_bytes())
    try:
        stats = _write_and_verify(np.load(images_path, mmap_mode="r"), Path(root), [Task(*t) for t in tasks],
                                  lambda n: print(f"progress {n}", flush=True))
    except ExportError as e:
        Path(spec_path).with_suffix(".err").write_text(str(e))
        sys.exit(3)
    out = Path(spec_path).with_suffix(".out")
    out.with_suffix(".tmp").write_bytes(pickle.dumps([tuple(s) for s in stats]))
    os.replace(out.with_suffix(".tmp"), out)


if __name__ == "__main__":
    from greyzone.export.writer import _worker_main as worker_main  # under the package name, as in model.jobs

    worker_main(sys.argv[1])
