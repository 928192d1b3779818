"""Locks across processes: ``fcntl.flock`` on a lock file, released by the kernel when the holder exits,
however it exits (``kill -9`` included), so a lock never outlives its holder; the file itself stays and only
says who held it last. Where ``fcntl`` does not exist (Windows) nothing is locked.

* :func:`workspace_lock`: one ``greyzone run`` per workspace (``.greyzone-run.lock``); a second is refused at
  once with the holder's pid.
* :func:`file_lock`: the mechanism, with a wait (the export waits for another export,
  :meth:`greyzone.export.versions.Versions.lock`).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from greyzone.errors import WorkspaceError
from greyzone.store.runs import utc_now

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


@contextmanager
def file_lock(path: Path, *, holder: str, busy: Callable[[str], Exception], timeout: float = 0.0
              ) -> Iterator[None]:
    """Hold ``path`` exclusively for the block, writing ``holder`` (who, pid, host, since when) into it.

    If another process holds it after ``timeout`` seconds (0: at once), raise ``busy(what the file says)``."""
    if fcntl is None:  # pragma: no cover
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    said = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
                    raise busy(said) from None
                time.sleep(0.05)
        os.ftruncate(fd, 0)
        said = f"{holder}, pid {os.getpid()} on {socket.gethostname()}, since {utc_now()}\n"
        os.pwrite(fd, said.encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def workspace_lock(path: Path, *, command: str = "greyzone run") -> AbstractContextManager[None]:
    """Hold ``path`` (the workspace's run lock file) for the block, or raise :class:`WorkspaceError`."""
    return file_lock(path, holder=command, busy=lambda said: WorkspaceError(
        f"{path.parent}: another greyzone command is using this workspace ({said}); wait for it to finish, "
        f"or use another --workspace"))
