"""The workspace: one directory (see :class:`~greyzone.store.layout.Layout`) holding a SQLite store, large
arrays as ``.npy`` and derived files. :class:`Workspace` opens or creates it and hands out one handle per
resource: ``ws.layout`` (paths), ``ws.arrays``, ``ws.runs``, ``ws.stages``, ``ws.decisions``.

Samples are addressed by ``sid`` (0..N-1; train first, then test, each in original order) and by
``(split, index)``. Curated labels are class indices, with ``IDK = n_classes``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from greyzone.errors import CorruptFileError, ParameterError, WorkspaceError
from greyzone.sources.dataset import Dataset
from greyzone.store.arrays import ArrayStore
from greyzone.store.db import Database
from greyzone.store.decisions import DecisionLog
from greyzone.store.files import atomic_path
from greyzone.store.layout import Layout
from greyzone.store.runs import RunLog, StageCache, utc_now

FORMAT_VERSION = "1"
#: Rows per Parquet row group and per block of SQLite inserts of the score table.
ROW_GROUP = 100_000
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
        self.decisions = DecisionLog(db, self.samples, self.idk_label)  # relabels target the classes < IDK

    @property
    def path(self) -> Path:
        return self.layout.root

    # ------------------------------------------------------------------ opening
    @classmethod
    def create(cls, path: str | Path, dataset: Dataset, *, log: Callable[[str], None] = lambda _m: None
               ) -> Workspace:
        """Create (or re-open, if it holds the same samples) the workspace for ``dataset``.

        Creation cannot be left half-made: ``images.npy`` is saved before the transaction that commits the
        metadata and samples, so a store that has samples always had its images. A workspace whose images
        array was lost or damaged anyway is repaired from ``dataset`` when the samples and labels match.
        """
        layout = Layout(Path(path))
        make_root(layout.root)
        if IDK_NAME in dataset.classes and dataset.classes[-1] != IDK_NAME:
            raise ParameterError(f"dataset {dataset.name!r}: class {IDK_NAME!r} must be the last class, got "
                                 f"{dataset.classes}")
        db = Database(layout.db)
        try:
            if db.con.execute("SELECT COUNT(*) FROM meta").fetchone()[0]:
                ws = cls(layout, db)
                ws._check_holds(dataset, log)
                return ws
            ArrayStore(layout).save("images", np.concatenate([s.images for s in dataset.splits.values()]))
            with db.transaction() as con:
                con.executemany("INSERT INTO meta VALUES (?, ?)", [
                    ("format_version", FORMAT_VERSION), ("dataset", dataset.name),
                    ("classes", json.dumps(list(dataset.classes))), ("source", dataset.source),
                    ("created_at", utc_now()), ("conversions", json.dumps(list(dataset.notes))),
                ])
                sid = 0
                for s in dataset.splits.values():
                    files = s.files if s.files is not None else [None] * len(s)
                    sha = s.file_sha256 if s.file_sha256 is not None else [None] * len(s)
                    rows = [(sid + i, s.name, int(ix), int(lb), f, h) for i, (ix, lb, f, h)
                            in enumerate(zip(s.index, s.labels, files, sha, strict=True))]
                    con.executemany("INSERT INTO samples (sid, split, idx, label, file, file_sha256) "
                                    "VALUES (?, ?, ?, ?, ?, ?)", rows)
                    sid += len(s)
            return cls(layout, db)
        except BaseException:
            db.close()
            raise

    def _check_holds(self, dataset: Dataset, log: Callable[[str], None]) -> None:
        splits = list(dataset.splits.values())
        n = sum(len(s) for s in splits)
        if self.dataset != dataset.name or self.classes != dataset.classes or len(self.samples()) != n:
            raise WorkspaceError(
                f"{self.path}: holds dataset {self.dataset!r} with {len(self.samples())} samples and classes "
                f"{list(self.classes)}, not {dataset.name!r} with {n} and {list(dataset.classes)}; use "
                f"another --workspace"
            )
        theirs = pd.DataFrame({"split": np.concatenate([[s.name] * len(s) for s in splits]),
                               "index": np.concatenate([s.index for s in splits]),
                               "label": np.concatenate([s.labels for s in splits])})
        images = np.concatenate([s.images for s in splits])
        if not self.samples()[["split", "index", "label"]].equals(theirs):
            raise WorkspaceError(
                f"{self.path}: holds other samples or labels than {dataset.name!r} ({dataset.source}); "
                f"use another --workspace"
            )
        try:
            stored = self.images()
        except WorkspaceError as e:  # lost or damaged: the samples match, so the dataset's pixels are its own
            log(f"repairing the workspace: {e}; rebuilt from {dataset.source or dataset.name}")
            self.arrays.save("images", images)
        else:
            if not np.array_equal(stored, images):
                raise WorkspaceError(
                    f"{self.path}: holds other images than {dataset.name!r} ({dataset.source}); "
                    f"use another --workspace"
                )
        self._update_sha256(splits, log)

    def _update_sha256(self, splits: list, log: Callable[[str], None]) -> None:
        """Record the files' SHA-256 as read now where the store has none (a workspace made before they were
        kept) or another one (the bytes changed, the pixels did not: they were just compared)."""
        if all(s.file_sha256 is None for s in splits):
            return
        theirs = np.concatenate([s.file_sha256 if s.file_sha256 is not None else [None] * len(s)
                                 for s in splits]).astype(object)
        stored = self.source_sha256()
        changed = [i for i, h in enumerate(theirs) if h is not None and h != stored[i]]
        if not changed:
            return
        with self.db.transaction() as con:
            con.executemany("UPDATE samples SET file_sha256 = ? WHERE sid = ?",
                            [(theirs[i], i) for i in changed])
        log(f"recorded the SHA-256 of {len(changed)} source file(s) as read now (none stored, or the bytes "
            f"changed but not the pixels)")

    @classmethod
    def open(cls, path: str | Path) -> Workspace:
        """Open an existing workspace; refuse one whose stored outputs are missing or damaged (see
        :meth:`check_outputs`)."""
        layout = Layout(Path(path))
        if not layout.db.is_file():
            raise WorkspaceError(
                f"{layout.root}: not a greyzone workspace (no {layout.db.name}); run 'greyzone run' first"
            )
        db = Database(layout.db)
        try:
            if db.con.execute("SELECT COUNT(*) FROM meta").fetchone()[0] == 0:
                raise WorkspaceError(f"{layout.db}: empty workspace database (an interrupted create?); run "
                                     f"'greyzone run' on it again")
            ws = cls(layout, db)
            ws.check_outputs()
        except BaseException:
            db.close()
            raise
        return ws

    def check_outputs(self) -> None:
        """The images, and after a finished run its stored outputs (``probs``, ``embeddings``,
        ``scores.parquet``), are present and readable; else a :class:`WorkspaceError` naming the file."""
        names = ["images"] + (["probs", "embeddings"] if self.runs.last() is not None else [])
        for name in names:
            self.arrays.load(name)
        if self.runs.last() is not None:
            self.scores()

    def close(self) -> None:
        self.db.close()

    # ------------------------------------------------------------------ samples
    @property
    def idk_label(self) -> int:
        """The IDK label: ``len(classes)``, or the input class named ``IDK`` (last) when the data has one,
        e.g. a greyzone export curated again: its IDK samples are already curated IDK; there is one IDK."""
        return len(self.classes) - 1 if self.classes[-1:] == (IDK_NAME,) else len(self.classes)

    def label_name(self, label: int) -> str:
        return IDK_NAME if label == self.idk_label else self.classes[label]

    @cached_property
    def _samples(self) -> pd.DataFrame:
        return pd.read_sql_query("SELECT sid, split, idx AS 'index', label FROM samples ORDER BY sid",
                                 self.db.con)

    def samples(self) -> pd.DataFrame:
        """``sid, split, index, label`` for every sample, ordered by sid (read once; do not modify)."""
        return self._samples

    def source_files(self) -> np.ndarray:
        """Each sample's source file (object array in sid order): its path relative to :attr:`source` for
        image folders, None for array sources (IDX, in-memory arrays)."""
        rows = self.db.con.execute("SELECT file FROM samples ORDER BY sid").fetchall()
        return np.array([r[0] for r in rows], dtype=object)

    def source_sha256(self) -> np.ndarray:
        """Each sample's source file SHA-256 (hex; object array in sid order) as read when the workspace was
        made, None for array sources (and for workspaces made before greyzone kept it)."""
        rows = self.db.con.execute("SELECT file_sha256 FROM samples ORDER BY sid").fetchall()
        return np.array([r[0] for r in rows], dtype=object)

    @property
    def source(self) -> str:
        """Where the dataset was read from (a directory, ``in-memory arrays``, ...)."""
        row = self.db.con.execute("SELECT value FROM meta WHERE key = 'source'").fetchone()
        return row[0] if row else ""

    def split_sids(self, split: str) -> np.ndarray:
        s = self.samples()
        return s.sid.to_numpy()[s.split.to_numpy() == split]

    @property
    def splits(self) -> list[str]:
        return list(dict.fromkeys(self.samples().split))

    def images(self) -> np.ndarray:
        """All images, ``(N, H, W)`` grey or ``(N, H, W, 3)`` RGB uint8, memory-mapped, row ``sid``."""
        return self.arrays.load("images")

    # ------------------------------------------------------------------ the score table
    def write_scores(self, scores: pd.DataFrame) -> None:
        """Store the score table (one row per sid, in sid order) in SQLite and as Parquet."""
        if len(scores) != len(self.samples()):
            raise ValueError(f"scores has {len(scores)} rows, workspace has {len(self.samples())} samples")

        def sql_type(dtype) -> str:
            return "INTEGER" if dtype.kind in "iub" else "REAL" if dtype.kind == "f" else "TEXT"

        cols = ", ".join(f'"{c}" {sql_type(scores[c].dtype)}' for c in scores.columns)
        insert = f"INSERT INTO scores VALUES ({', '.join('?' * len(scores.columns))})"
        with self.db.transaction() as con:  # pandas' to_sql would commit on its own, so insert by hand
            con.execute("DROP TABLE IF EXISTS scores")
            con.execute(f"CREATE TABLE scores ({cols})")
            for lo in range(0, len(scores), ROW_GROUP):  # Python rows for one block at a time
                block = scores.iloc[lo:lo + ROW_GROUP]
                # NaN binds as NULL in SQLite; tolist() gives plain Python values
                con.executemany(insert, zip(*(block[c].to_numpy().tolist() for c in block.columns),
                                            strict=True))
        with atomic_path(self.layout.scores) as tmp:
            scores.to_parquet(tmp, index=False, row_group_size=ROW_GROUP)

    def scores(self) -> pd.DataFrame:
        if not self.layout.scores.is_file():
            raise WorkspaceError(f"{self.layout.scores}: no scores yet; run 'greyzone run' first")
        try:
            return pd.read_parquet(self.layout.scores)
        except Exception as e:  # pyarrow raises ArrowInvalid, OSError, ... for a damaged file
            raise CorruptFileError(f"{self.layout.scores}: damaged score table ({type(e).__name__}: {e}); "
                                   f"re-run 'greyzone run' on this workspace to rewrite it") from e


def make_root(root: Path) -> None:
    """Create the workspace directory, or say clearly why it cannot be one."""
    if root.exists() and not root.is_dir():
        raise WorkspaceError(f"{root}: is a file, not a workspace directory; pass another --workspace")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise WorkspaceError(f"{root}: cannot create the workspace directory ({e.strerror or e}); pass a "
                             f"--workspace in a writable place") from e
