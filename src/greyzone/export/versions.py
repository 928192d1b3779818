"""Export versions on disk: the lock, the atomic swap, the per-version file index, leftovers of killed
exports.

For an export path ``<parent>/<name>`` (``<workspace>/export``)::

    <name>                 symlink → <name>-<n> (relative): the current version; a directory path for readers
    <name>-<n>/            a complete, validated export (version n)
    <name>-<m>/            the previous version (m < n), kept as the base of the next incremental export
    .<name>-<n>.index.npz  per image file of version n: sample id, path, size, mtime_ns, inode, SHA-256
                           (+ format)
    .<name>.lock           fcntl lock: one export at a time per path, across processes
    .<name>-tmp-*/         a version being written; only ever a leftover when found by the next export

A new version is made in a ``.<name>-tmp-*`` directory, validated, renamed to ``<name>-<n>``, indexed, and
made current by renaming a new symlink over ``<name>`` (one atomic ``rename(2)``). A crash at any point
leaves ``<name>`` pointing at a complete version; the next export deletes what was left half-made.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from greyzone.errors import ExportError
from greyzone.store.files import atomic_path, fsync_dir
from greyzone.store.lock import file_lock

#: How long an export waits for another one on the same path before giving up (seconds).
LOCK_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class Index:
    """What a version held when it was validated: one row per image file, plus the format it was made with
    (``meta``: images and source-file digests, encoder, class folder names). A file whose size, mtime and
    inode still match its row is unchanged since then and may be reused (its SHA-256 with it)."""

    sid: np.ndarray  # (F,) int64
    path: np.ndarray  # (F,) str, relative to the version (stored as UTF-8 bytes)
    size: np.ndarray  # (F,) int64
    mtime_ns: np.ndarray  # (F,) int64
    ino: np.ndarray  # (F,) uint64
    sha256: np.ndarray  # (F,) str, hex SHA-256 of the file's bytes (stored as ASCII bytes)
    meta: dict

    def unchanged(self, root: Path, rows: np.ndarray | None = None) -> np.ndarray:
        """Bool per row (all, or ``rows``): the file under ``root`` is still there with the recorded size,
        mtime and inode."""
        rows = np.arange(len(self.sid)) if rows is None else np.asarray(rows, np.int64)
        ok = np.zeros(len(rows), bool)
        prefix, paths = f"{root}/", self.path.tolist()
        for j, i in enumerate(rows.tolist()):
            try:
                st = os.stat(prefix + paths[i], follow_symlinks=False)
            except OSError:
                continue
            ok[j] = (st.st_size, st.st_mtime_ns, st.st_ino) == (self.size[i], self.mtime_ns[i], self.ino[i])
        return ok


class Versions:
    """The versions of one export path (see the module docstring)."""

    def __init__(self, dest: Path):
        self.dest = Path(dest)
        self.parent, self.name = self.dest.parent, self.dest.name

    def version_dir(self, n: int) -> Path:
        return self.parent / f"{self.name}-{n}"

    def index_path(self, n: int) -> Path:
        return self.parent / f".{self.name}-{n}.index.npz"

    def numbers(self) -> list[int]:
        """Existing version numbers, ascending."""
        pat = re.compile(rf"{re.escape(self.name)}-(\d+)")
        return sorted(int(m.group(1)) for p in self.parent.iterdir()
                      if (m := pat.fullmatch(p.name)) and p.is_dir() and not p.is_symlink())

    def current(self) -> int | None:
        """The version ``dest`` points at, or None (no export yet, an old-style directory, a foreign link)."""
        if not self.dest.is_symlink():
            return None
        m = re.fullmatch(rf"{re.escape(self.name)}-(\d+)", os.readlink(self.dest))
        return int(m.group(1)) if m and self.version_dir(int(m.group(1))).is_dir() else None

    def load_index(self, n: int) -> Index | None:
        try:
            with np.load(self.index_path(n), allow_pickle=False) as z:
                return Index(z["sid"], np.char.decode(z["path"], "utf-8"), z["size"], z["mtime_ns"], z["ino"],
                             np.char.decode(z["sha256"], "ascii"), json.loads(str(z["meta"])))
        except (OSError, KeyError, ValueError):
            return None

    def save_index(self, n: int, index: Index) -> None:
        meta = np.array(json.dumps(index.meta, sort_keys=True))
        with atomic_path(self.index_path(n)) as tmp, open(tmp, "wb") as f:
            np.savez(f, sid=index.sid, path=np.char.encode(index.path, "utf-8"), size=index.size,
                     mtime_ns=index.mtime_ns, ino=index.ino, sha256=np.char.encode(index.sha256, "ascii"),
                     meta=meta)

    def lock(self, timeout: float = LOCK_TIMEOUT_S) -> AbstractContextManager[None]:
        """Hold ``.<name>.lock`` (:func:`greyzone.store.lock.file_lock`); waits up to ``timeout`` seconds for
        another export, then raises :class:`ExportError`."""
        self.parent.mkdir(parents=True, exist_ok=True)
        path = self.parent / f".{self.name}.lock"
        return file_lock(path, holder="greyzone export", timeout=timeout, busy=lambda said: ExportError(
            f"another export into {self.dest} is still running (it holds {path}: {said}); try again when it "
            f"has finished"))

    def clean_leftovers(self) -> list[Path]:
        """Delete what killed exports left (temp directories and links, versions that are neither current
        nor the newest previous one with an index, indexes without a version); returns what was deleted.
        Call with the lock held."""
        cur = self.current()
        keep = {cur} if cur is not None else set()
        older = [n for n in self.numbers() if n != cur and self.index_path(n).exists()]
        if older:
            keep.add(older[-1])
        gone = []
        for p in self.parent.iterdir():
            stale = (p.name.startswith((f".{self.name}-tmp-", f".{self.name}-old-"))
                     or (re.fullmatch(rf"{re.escape(self.name)}-(\d+)", p.name) and not p.is_symlink()
                         and int(p.name.rsplit("-", 1)[1]) not in keep)
                     or ((m := re.fullmatch(rf"\.{re.escape(self.name)}-(\d+)\.index\.npz", p.name))
                         and int(m.group(1)) not in keep))
            if stale:
                remove(p)
                gone.append(p)
        if gone:
            fsync_dir(self.parent)
        return gone

    def publish(self, tmp: Path, index: Index) -> int:
        """Rename the validated ``tmp`` to the next version, store its index, and point ``dest`` at it with
        one atomic rename; the previous version stays as the next base, older ones are deleted."""
        previous = self.current()
        n = max(self.numbers(), default=0) + 1
        final = self.version_dir(n)
        os.replace(tmp, final)
        fsync_dir(self.parent)
        self.save_index(n, index)
        link = self.parent / f".{self.name}-tmp-link-{os.getpid()}"
        link.unlink(missing_ok=True)
        os.symlink(final.name, link)
        if self.dest.exists() and not self.dest.is_symlink():  # an export made before versions: move it
            os.replace(self.dest, self.parent / f".{self.name}-old-{os.getpid()}")
        os.replace(link, self.dest)  # the swap
        fsync_dir(self.parent)
        for m in self.numbers():
            if m not in (n, previous):
                remove(self.version_dir(m))
                self.index_path(m).unlink(missing_ok=True)
        for p in self.parent.glob(f".{self.name}-old-*"):
            remove(p)
        return n


def remove(path: Path) -> None:
    """Delete a file, link or directory tree (missing is fine)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
