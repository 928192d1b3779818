"""The workspace: one directory (see :class:`~greyzone.store.layout.Layout`) holding a SQLite store, large
arrays as ``.npy`` and derived files. :class:`Workspace` opens or creates it and hands out one handle per
resource: ``ws.layout`` (paths), ``ws.arrays``, ``ws.runs``, ``ws.stages``, ``ws.decisions``.

Samples are addressed by ``sid`` (0..N-1; train first, then test, each in original order) and by
``(split, index)``. Curated labels are class indices, with ``IDK = n_classes``.
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from greyzone.errors import WorkspaceError
from greyzone.sources.dataset import Dataset
from greyzone.store.arrays import ArrayStore
from greyzone.store.db import Database
from greyzone.store.decisions import DecisionLog
from greyzone.store.files import atomic_path
from greyzone.store.layout import Layout
from greyzone.store.runs import RunLog, StageCache, utc_now

FORMAT_VERSION = "1"
IDK_NAME = "IDK"


class Workspace:
    """Handle on a workspace directory. Safe to share between threads: each thread gets its own SQLite
    connection, and writes are serialised by SQLite."""

    def __init__(self, layout: Layout, db: Database) -> None:
        self.layout = layout
        self.db = db
        meta = dict(db.con.execute("SELECT key, value FROM meta").fetchall())
        if meta.get("format_version") != FORMAT_VERSION:
            raise WorkspaceError(
                f"{layout.root}: workspace format {meta.get('format_version')!r} is not supported by this "
                f"greyzone (expects {FORMAT_VERSION!r}); re-run 'greyzone run' into a new workspace"
            )
        self.dataset: str = meta["dataset"]
        self.classes: tuple[str, ...] = tuple(json.loads(meta["classes"]))
        self.arrays = ArrayStore(layout)
        self.runs = RunLog(db)
        self.stages = StageCache(db, self.arrays)
        self.decisions = DecisionLog(db, self.samples, len(self.classes))

    @property
    def path(self) -> Path:
        return self.layout.root

    # ------------------------------------------------------------------ opening
    @classmethod
    def create(cls, path: str | Path, dataset: Dataset) -> Workspace:
        """Create (or re-open, if it holds the same samples) the workspace for ``dataset``."""
        layout = Layout(Path(path))
        layout.root.mkdir(parents=True, exist_ok=True)
        db = Database(layout.db)
        splits = list(dataset.splits.values())
        if db.con.execute("SELECT COUNT(*) FROM meta").fetchone()[0]:
            ws = cls(layout, db)
            ws._check_holds(dataset)
            return ws
        with db.transaction() as con:
            con.executemany("INSERT INTO meta VALUES (?, ?)", [
                ("format_version", FORMAT_VERSION), ("dataset", dataset.name),
                ("classes", json.dumps(list(dataset.classes))), ("source", dataset.source),
                ("created_at", utc_now()),
            ])
            sid = 0
            for s in splits:
                con.executemany("INSERT INTO samples VALUES (?, ?, ?, ?)", [
                    (sid + i, s.name, int(ix), int(lb))
                    for i, (ix, lb) in enumerate(zip(s.index, s.labels, strict=True))
                ])
                sid += len(s)
        ws = cls(layout, db)
        ws.arrays.save("images", np.concatenate([s.images for s in splits]))
        return ws

    def _check_holds(self, dataset: Dataset) -> None:
        splits = list(dataset.splits.values())
        n = sum(len(s) for s in splits)
        if self.dataset != dataset.name or self.classes != dataset.classes or len(self.samples()) != n:
            raise WorkspaceError(
                f"{self.path}: holds dataset {self.dataset!r} with {len(self.samples())} samples, "
                f"not {dataset.name!r} with {n}; use another --workspace"
            )
        same = np.array_equal(
            self.samples().label.to_numpy(), np.concatenate([s.labels for s in splits])
        ) and np.array_equal(self.images(), np.concatenate([s.images for s in splits]))
        if not same:
            raise WorkspaceError(
                f"{self.path}: holds other images or labels than {dataset.name!r} ({dataset.source}); "
                f"use another --workspace"
            )

    @classmethod
    def open(cls, path: str | Path) -> Workspace:
        layout = Layout(Path(path))
        if not layout.db.is_file():
            raise WorkspaceError(
                f"{layout.root}: not a greyzone workspace (no {layout.db.name}); run 'greyzone run' first"
            )
        db = Database(layout.db)
        if db.con.execute("SELECT COUNT(*) FROM meta").fetchone()[0] == 0:
            db.close()
            raise WorkspaceError(f"{layout.db}: empty workspace database (an interrupted create?)")
        return cls(layout, db)

    def close(self) -> None:
        self.db.close()

    # ------------------------------------------------------------------ samples
    @property
    def idk_label(self) -> int:
        return len(self.classes)

    def label_name(self, label: int) -> str:
        return IDK_NAME if label == self.idk_label else self.classes[label]

    @cached_property
    def _samples(self) -> pd.DataFrame:
        return pd.read_sql_query("SELECT sid, split, idx AS 'index', label FROM samples ORDER BY sid",
                                 self.db.con)

    def samples(self) -> pd.DataFrame:
        """``sid, split, index, label`` for every sample, ordered by sid (read once; do not modify)."""
        return self._samples

    def split_sids(self, split: str) -> np.ndarray:
        s = self.samples()
        return s.sid.to_numpy()[s.split.to_numpy() == split]

    @property
    def splits(self) -> list[str]:
        return list(dict.fromkeys(self.samples().split))

    def images(self) -> np.ndarray:
        """All images ``(N, H, W)`` uint8, memory-mapped, row ``sid``."""
        return self.arrays.load("images")

    # ------------------------------------------------------------------ the score table
    def write_scores(self, scores: pd.DataFrame) -> None:
        """Store the score table (one row per sid, in sid order) in SQLite and as Parquet."""
        if len(scores) != len(self.samples()):
            raise ValueError(f"scores has {len(scores)} rows, workspace has {len(self.samples())} samples")

        def sql_type(dtype) -> str:
            return "INTEGER" if dtype.kind in "iub" else "REAL" if dtype.kind == "f" else "TEXT"

        cols = ", ".join(f'"{c}" {sql_type(scores[c].dtype)}' for c in scores.columns)
        rows = scores.astype(object).where(scores.notna(), None).itertuples(index=False, name=None)
        with self.db.transaction() as con:  # pandas' to_sql would commit on its own, so insert by hand
            con.execute("DROP TABLE IF EXISTS scores")
            con.execute(f"CREATE TABLE scores ({cols})")
            con.executemany(f"INSERT INTO scores VALUES ({', '.join('?' * len(scores.columns))})", rows)
        with atomic_path(self.layout.scores) as tmp:
            scores.to_parquet(tmp, index=False)

    def scores(self) -> pd.DataFrame:
        if not self.layout.scores.is_file():
            raise WorkspaceError(f"{self.layout.scores}: no scores yet; run 'greyzone run' first")
        return pd.read_parquet(self.layout.scores)
