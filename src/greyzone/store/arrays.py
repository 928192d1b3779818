"""Large per-sample arrays as ``.npy`` files in ``<workspace>/arrays``, row ``i`` = sample ``sid == i``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from greyzone.errors import WorkspaceError
from greyzone.store.files import atomic_path
from greyzone.store.layout import Layout


class ArrayStore:
    """Save (atomically) and load (memory-mapped by default) named arrays of a workspace."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout

    def path(self, name: str) -> Path:
        return self.layout.array(name)

    def has(self, name: str) -> bool:
        return self.path(name).is_file()

    def save(self, name: str, array: np.ndarray) -> None:
        with atomic_path(self.path(name)) as tmp:
            np.save(tmp, np.ascontiguousarray(array))

    def remove(self, name: str) -> None:
        """Delete the array when it exists (an output the current run does not make)."""
        self.path(name).unlink(missing_ok=True)

    def readable(self, name: str) -> bool:
        """Present, with a valid header and as many bytes as the header promises (cheap: memory-mapped)."""
        try:
            self.load(name)
        except WorkspaceError:
            return False
        return True

    def load(self, name: str, *, mmap: bool = True) -> np.ndarray:
        path = self.path(name)
        if not path.is_file():
            raise WorkspaceError(f"{path}: array {name!r} missing; run 'greyzone run' on this workspace")
        try:
            return np.load(path, mmap_mode="r" if mmap else None)
        except (ValueError, OSError, EOFError) as e:  # truncated ("mmap length ...") or not an .npy file
            raise WorkspaceError(f"{path}: array {name!r} is truncated or damaged ({e}); re-run "
                                 f"'greyzone run' on this workspace to rebuild it") from e
