"""The workspace: one directory holding a SQLite store, large arrays as ``.npy`` and derived files.

Layout::

    <workspace>/greyzone.sqlite     samples, runs, stage cache keys, scores, append-only decisions
    <workspace>/arrays/*.npy        images (N, H, W) uint8, probs (N, C), embeddings (N, 84), dynamics ...
    <workspace>/scores.parquet      one row per sample (see README for the columns)
    <workspace>/export/             the curated dataset (written by greyzone.export)

Samples are addressed by ``sid`` (0..N-1; train first, then test, each in original order) and by
``(split, index)``. Curated labels are class indices, with ``IDK = n_classes``.
"""

from __future__ import annotations

import getpass
import json
import os
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from greyzone.errors import WorkspaceError
from greyzone.sources.dataset import Dataset
from greyzone.store.db import connect, migrate

FORMAT_VERSION = "1"
DB_NAME = "greyzone.sqlite"
ACTIONS = ("idk", "relabel", "keep")
SOURCES = ("auto", "human")
IDK_NAME = "IDK"


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def default_author() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temp file in the same directory, fsync, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; these are ordinary shareable outputs
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Workspace:
    """Handle on a workspace directory. Thread-safe for reads; writes are serialised by SQLite."""

    def __init__(self, path: Path, con: sqlite3.Connection) -> None:
        self.path = Path(path)
        self._con = con
        meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
        if meta.get("format_version") != FORMAT_VERSION:
            raise WorkspaceError(
                f"{self.path}: workspace format {meta.get('format_version')!r} is not "
                f"supported by this greyzone (expects {FORMAT_VERSION!r}); re-run "
                f"'greyzone run' into a new workspace"
            )
        self.dataset: str = meta["dataset"]
        self.classes: tuple[str, ...] = tuple(json.loads(meta["classes"]))
        self._samples: pd.DataFrame | None = None

    # ------------------------------------------------------------------ opening
    @classmethod
    def create(cls, path: str | Path, dataset: Dataset) -> Workspace:
        """Create (or re-open, if it holds the same samples) the workspace for ``dataset``."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        con = cls._connect(path)
        existing = con.execute("SELECT COUNT(*) FROM meta").fetchone()[0]
        splits = list(dataset.splits.values())
        if existing:
            ws = cls(path, con)
            n = sum(len(s) for s in splits)
            if ws.dataset != dataset.name or ws.classes != dataset.classes or len(ws.samples()) != n:
                raise WorkspaceError(
                    f"{path}: holds dataset {ws.dataset!r} with {len(ws.samples())} samples, "
                    f"not {dataset.name!r} with {n}; use another --workspace"
                )
            same = np.array_equal(
                ws.samples().label.to_numpy(), np.concatenate([s.labels for s in splits])
            ) and np.array_equal(ws.images(), np.concatenate([s.images for s in splits]))
            if not same:
                raise WorkspaceError(
                    f"{path}: holds other images or labels than {dataset.name!r} "
                    f"({dataset.source}); use another --workspace"
                )
            return ws
        con.execute("BEGIN IMMEDIATE")
        try:
            con.executemany(
                "INSERT INTO meta VALUES (?, ?)",
                [
                    ("format_version", FORMAT_VERSION),
                    ("dataset", dataset.name),
                    ("classes", json.dumps(list(dataset.classes))),
                    ("source", dataset.source),
                    ("created_at", now()),
                ],
            )
            sid = 0
            for s in splits:
                rows = [
                    (sid + i, s.name, int(ix), int(lb))
                    for i, (ix, lb) in enumerate(zip(s.index, s.labels, strict=True))
                ]
                con.executemany("INSERT INTO samples VALUES (?, ?, ?, ?)", rows)
                sid += len(s)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        ws = cls(path, con)
        ws.save_array("images", np.concatenate([s.images for s in splits]))
        return ws

    @classmethod
    def open(cls, path: str | Path) -> Workspace:
        path = Path(path)
        if not (path / DB_NAME).is_file():
            raise WorkspaceError(f"{path}: not a greyzone workspace (no {DB_NAME}); run 'greyzone run' first")
        con = cls._connect(path)
        if con.execute("SELECT COUNT(*) FROM meta").fetchone()[0] == 0:
            raise WorkspaceError(f"{path / DB_NAME}: empty workspace database (an interrupted create?)")
        return cls(path, con)

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        db = path / DB_NAME
        try:
            con = connect(db)
            migrate(con, db)
        except sqlite3.DatabaseError as e:
            raise WorkspaceError(f"{db}: not a readable greyzone database ({e})") from e
        return con

    def connection(self) -> sqlite3.Connection:
        """A new connection to the store (one per thread or request in the review app)."""
        return connect(self.path / DB_NAME)

    @contextmanager
    def transaction(self, con: sqlite3.Connection | None = None) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT`` on ``con`` (default: the workspace's); rollback on error."""
        con = con or self._con
        con.execute("BEGIN IMMEDIATE")
        try:
            yield con
            con.execute("COMMIT")
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise

    # ------------------------------------------------------------------ samples and arrays
    @property
    def idk_label(self) -> int:
        return len(self.classes)

    def label_name(self, label: int) -> str:
        return IDK_NAME if label == self.idk_label else self.classes[label]

    def samples(self) -> pd.DataFrame:
        """``sid, split, index, label`` for every sample, ordered by sid."""
        if self._samples is None:
            self._samples = pd.read_sql_query(
                "SELECT sid, split, idx AS 'index', label FROM samples ORDER BY sid", self._con
            )
        return self._samples

    def split_sids(self, split: str) -> np.ndarray:
        s = self.samples()
        return s.sid.to_numpy()[s.split.to_numpy() == split]

    @property
    def splits(self) -> list[str]:
        return list(dict.fromkeys(self.samples().split))

    def array_path(self, name: str) -> Path:
        return self.path / "arrays" / f"{name}.npy"

    def has_array(self, name: str) -> bool:
        return self.array_path(name).is_file()

    def save_array(self, name: str, array: np.ndarray) -> None:
        path = self.array_path(name)
        path.parent.mkdir(exist_ok=True)
        tmp = path.with_name(f".{name}.tmp.npy")
        np.save(tmp, np.ascontiguousarray(array))
        os.replace(tmp, path)

    def load_array(self, name: str, *, mmap: bool = True) -> np.ndarray:
        path = self.array_path(name)
        if not path.is_file():
            raise WorkspaceError(f"{path}: array {name!r} missing; run 'greyzone run' on this workspace")
        return np.load(path, mmap_mode="r" if mmap else None)

    def images(self) -> np.ndarray:
        """All images ``(N, H, W)`` uint8, memory-mapped, row ``sid``."""
        return self.load_array("images")

    # ------------------------------------------------------------------ stage cache
    def stage_key(self, name: str) -> str | None:
        row = self._con.execute("SELECT key FROM stages WHERE name = ?", (name,)).fetchone()
        return row[0] if row else None

    def finish_stage(self, name: str, key: str, seconds: float) -> None:
        with self.transaction() as con:
            con.execute("INSERT OR REPLACE INTO stages VALUES (?, ?, ?, ?)", (name, key, seconds, now()))

    # ------------------------------------------------------------------ runs
    def start_run(self, config: dict, versions: dict) -> int:
        with self.transaction() as con:
            cur = con.execute(
                "INSERT INTO runs (started_at, config, versions) VALUES (?, ?, ?)",
                (now(), json.dumps(config, sort_keys=True), json.dumps(versions, sort_keys=True)),
            )
            return int(cur.lastrowid)

    def finish_run(self, run_id: int, *, timings: dict, metrics: dict, status: str = "finished") -> None:
        with self.transaction() as con:
            con.execute(
                "UPDATE runs SET finished_at = ?, status = ?, timings = ?, metrics = ? WHERE id = ?",
                (now(), status, json.dumps(timings), json.dumps(metrics), run_id),
            )

    def runs(self) -> pd.DataFrame:
        return pd.read_sql_query("SELECT * FROM runs ORDER BY id", self._con)

    def last_run(self) -> dict | None:
        row = self._con.execute(
            "SELECT * FROM runs WHERE status = 'finished' ORDER BY id DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        out = dict(row)
        for k in ("config", "versions", "timings", "metrics"):
            out[k] = json.loads(out[k])
        return out

    # ------------------------------------------------------------------ scores
    @property
    def scores_path(self) -> Path:
        return self.path / "scores.parquet"

    def write_scores(self, scores: pd.DataFrame) -> None:
        """Store the per-sample score table (one row per sid, in sid order) in SQLite and as Parquet."""
        if len(scores) != len(self.samples()):
            raise ValueError(f"scores has {len(scores)} rows, workspace has {len(self.samples())} samples")

        def sql_type(dtype) -> str:
            return "INTEGER" if dtype.kind in "iub" else "REAL" if dtype.kind == "f" else "TEXT"

        cols = ", ".join(f'"{c}" {sql_type(scores[c].dtype)}' for c in scores.columns)
        rows = scores.astype(object).where(scores.notna(), None).itertuples(index=False, name=None)
        with self.transaction() as con:  # pandas' to_sql would commit on its own, so insert by hand
            con.execute("DROP TABLE IF EXISTS scores")
            con.execute(f"CREATE TABLE scores ({cols})")
            con.executemany(f"INSERT INTO scores VALUES ({', '.join('?' * len(scores.columns))})", rows)
        fd, tmp = tempfile.mkstemp(dir=self.path, prefix=".scores.", suffix=".parquet")
        os.close(fd)
        scores.to_parquet(tmp, index=False)
        os.chmod(tmp, 0o644)
        os.replace(tmp, self.scores_path)

    def scores(self) -> pd.DataFrame:
        if not self.scores_path.is_file():
            raise WorkspaceError(f"{self.scores_path}: no scores yet; run 'greyzone run' first")
        return pd.read_parquet(self.scores_path)

    # ------------------------------------------------------------------ decisions
    def _check_sids(self, con: sqlite3.Connection, sids: list[int]) -> None:
        n = len(self.samples())
        bad = [s for s in sids if not 0 <= s < n]
        if bad:
            raise KeyError(f"unknown sample id(s) {bad[:5]} (workspace has sids 0..{n - 1})")

    def decide(
        self,
        sids: Iterable[int],
        action: str,
        *,
        label: int | None = None,
        source: str = "human",
        author: str | None = None,
        reason: str | None = None,
        run_id: int | None = None,
        con: sqlite3.Connection | None = None,
    ) -> list[int]:
        """Append one decision row per sample in a single transaction; return the new row ids."""
        sids = [int(s) for s in sids]
        if action not in ACTIONS:
            raise ValueError(f"action must be one of {ACTIONS}, got {action!r}")
        if source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
        if action == "relabel":
            if label is None or not 0 <= int(label) < len(self.classes):
                raise ValueError(f"relabel needs a label in 0..{len(self.classes) - 1}, got {label!r}")
            label = int(label)
        elif label is not None:
            raise ValueError(f"action {action!r} takes no label")
        author = author or default_author()
        stamp = now()
        with self.transaction(con) as con:
            self._check_sids(con, sids)
            ids = []
            for sid in sids:
                cur = con.execute(
                    "INSERT INTO decisions (sid, action, label, source, reason, author, created_at, run_id) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (sid, action, label, source, reason, author, stamp, run_id),
                )
                ids.append(int(cur.lastrowid))
        return ids

    def undo(
        self,
        sid: int,
        *,
        source: str = "human",
        author: str | None = None,
        con: sqlite3.Connection | None = None,
    ) -> int | None:
        """Revert the sample's decision in force (of ``source``) with a new ``undo`` row; None if none."""
        return self.undo_many([sid], source=source, author=author, con=con)[0]

    def undo_many(
        self,
        sids: Iterable[int],
        *,
        source: str = "human",
        author: str | None = None,
        con: sqlite3.Connection | None = None,
    ) -> list[int | None]:
        """:meth:`undo` for many samples in one transaction (one fsync); ids in order, None where nothing."""
        sids = [int(s) for s in sids]
        author = author or default_author()
        stamp = now()
        out: list[int | None] = []
        with self.transaction(con) as con:
            self._check_sids(con, sids)
            for sid in sids:
                row = con.execute(
                    "SELECT id FROM effective_decisions WHERE sid = ? AND source = ?", (sid, source)
                ).fetchone()
                if row is None:
                    out.append(None)
                    continue
                cur = con.execute(
                    "INSERT INTO decisions (sid, action, source, author, created_at, undoes) "
                    "VALUES (?, 'undo', ?, ?, ?, ?)",
                    (sid, source, author, stamp, row[0]),
                )
                out.append(int(cur.lastrowid))
        return out

    def decisions(
        self, *, sid: int | None = None, limit: int | None = None, con: sqlite3.Connection | None = None
    ) -> pd.DataFrame:
        """The decision log, newest first (optionally for one sample)."""
        q = "SELECT * FROM decisions" + (" WHERE sid = ?" if sid is not None else "") + " ORDER BY id DESC"
        params: list = [int(sid)] if sid is not None else []
        if limit is not None:
            q += " LIMIT ?"
            params.append(int(limit))
        return pd.read_sql_query(q, con or self._con, params=params)

    def effective_decisions(
        self, *, source: str | None = None, con: sqlite3.Connection | None = None
    ) -> pd.DataFrame:
        """Decisions in force: one row per (sid, source)."""
        q = "SELECT * FROM effective_decisions" + (" WHERE source = ?" if source else "") + " ORDER BY sid"
        return pd.read_sql_query(q, con or self._con, params=[source] if source else [])

    def curated(
        self, *, include_proposals: bool = True, con: sqlite3.Connection | None = None
    ) -> pd.DataFrame:
        """Per sample: ``sid, split, index, original_label, curated_label, decided_by``.

        Precedence: the human decision in force, then the auto proposal in force (unless
        ``include_proposals`` is False), then the original label. ``curated_label == IDK`` = n_classes.
        """
        out = self.samples().rename(columns={"label": "original_label"}).copy()
        original = out.original_label.to_numpy()
        curated = original.copy()
        decided_by = np.full(len(out), "original", dtype=object)
        eff = self.effective_decisions(con=con)
        for source in ("auto", "human") if include_proposals else ("human",):
            d = eff[eff.source == source]
            sids = d.sid.to_numpy(dtype=np.int64)
            # 'keep' restores the original label, also over an auto IDK proposal
            new = np.where(
                d.action == "idk",
                self.idk_label,
                np.where(d.action == "relabel", d.label.fillna(-1).astype(int), original[sids]),
            )
            curated[sids] = new
            decided_by[sids] = source
        out["curated_label"] = curated
        out["decided_by"] = decided_by
        return out

    def close(self) -> None:
        self._con.close()
