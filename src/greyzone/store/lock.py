"""The workspace lock: one ``greyzone run`` per workspace at a time, across processes.

``fcntl.flock`` on ``<workspace>/.greyzone-run.lock`` (exclusive, non-blocking). The kernel releases it
when the holder exits, however it exits (``kill -9`` included), so a lock never outlives its run; the file
itself stays and only says who held it last. A second run is refused at once with the holder's pid. Where
``fcntl`` does not exist (Windows) runs are not locked.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from greyzone.errors import WorkspaceError
from greyzone.store.runs import utc_now

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


@contextmanager
def workspace_lock(path: Path, *, command: str = "greyzone run") -> Iterator[None]:
    """Hold ``path`` (the lock file) exclusively for the block, or raise :class:`WorkspaceError`."""
    if fcntl is None:  # pragma: no cover
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            raise WorkspaceError(f"{path.parent}: another greyzone command is using this workspace "
                                 f"({holder}); wait for it to finish, or use another --workspace") from None
        os.ftruncate(fd, 0)
        holder = f"{command}, pid {os.getpid()} on {socket.gethostname()}, since {utc_now()}\n"
        os.pwrite(fd, holder.encode(), 0)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
