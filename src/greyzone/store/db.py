"""SQLite schema with named, transactional migrations, and :class:`Database`, the one handle on the file.

``PRAGMA user_version`` is the schema version. The ``decisions`` table is append-only: triggers reject UPDATE
and DELETE, and undo is a new row whose ``undoes`` points at the row it reverts. Connections use WAL and
``synchronous=FULL`` so that a decision whose INSERT has committed survives the process being killed. Every
open runs ``PRAGMA quick_check``: a damaged file is refused (nothing more is written to it) with a message
saying how to recover it.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from greyzone.errors import WorkspaceError

MIGRATIONS: list[tuple[str, str]] = [
    (
        "0001_initial",
        """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE samples (
        sid   INTEGER PRIMARY KEY,          -- 0..N-1, train samples first, then test
        split TEXT    NOT NULL,
        idx   INTEGER NOT NULL,             -- original 0-based position in the source
        label INTEGER NOT NULL,
        UNIQUE (split, idx)
    );
    CREATE TABLE runs (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        started_at  TEXT NOT NULL,
        finished_at TEXT,
        status      TEXT NOT NULL DEFAULT 'running',
        config      TEXT NOT NULL,          -- JSON of the resolved RunConfig
        versions    TEXT NOT NULL,          -- JSON {package: version}
        timings     TEXT NOT NULL DEFAULT '{}',  -- JSON {stage: seconds}
        metrics     TEXT NOT NULL DEFAULT '{}'   -- JSON (fold / test accuracies, IDK counts)
    );
    CREATE TABLE stages (
        name        TEXT PRIMARY KEY,
        key         TEXT NOT NULL,          -- hash of the config slice + format version the stage used
        seconds     REAL NOT NULL,
        finished_at TEXT NOT NULL
    );
    CREATE TABLE decisions (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        sid        INTEGER NOT NULL REFERENCES samples(sid),
        action     TEXT    NOT NULL CHECK (action IN ('idk', 'relabel', 'keep', 'undo')),
        label      INTEGER,                 -- new label for 'relabel', else NULL
        source     TEXT    NOT NULL CHECK (source IN ('auto', 'human')),
        reason     TEXT,
        author     TEXT    NOT NULL,
        created_at TEXT    NOT NULL,        -- UTC ISO-8601 with microseconds
        undoes     INTEGER REFERENCES decisions(id),
        run_id     INTEGER REFERENCES runs(id),
        CHECK ((action = 'relabel') = (label IS NOT NULL)),
        CHECK ((action = 'undo') = (undoes IS NOT NULL))
    );
    CREATE INDEX decisions_sid ON decisions (sid, id);
    CREATE TRIGGER decisions_no_update BEFORE UPDATE ON decisions
        BEGIN SELECT RAISE(ABORT, 'decisions is append-only: add an undo row instead'); END;
    CREATE TRIGGER decisions_no_delete BEFORE DELETE ON decisions
        BEGIN SELECT RAISE(ABORT, 'decisions is append-only: add an undo row instead'); END;
    -- The decision in force per (sample, source): the newest non-undo row that no undo row reverts.
    CREATE VIEW effective_decisions AS
        SELECT d.* FROM decisions d
        WHERE d.action != 'undo'
          AND NOT EXISTS (SELECT 1 FROM decisions u WHERE u.undoes = d.id)
          AND d.id = (SELECT MAX(d2.id) FROM decisions d2
                      WHERE d2.sid = d.sid AND d2.source = d.source AND d2.action != 'undo'
                        AND NOT EXISTS (SELECT 1 FROM decisions u2 WHERE u2.undoes = d2.id));
    """,
    ),
    # The effective_decisions view looks up "is this row undone?" per row; without this index it is
    # quadratic in the log length (0.66 s at 1,700 rows, 7.5 ms with it).
    (
        "0002_index_undoes",
        """
    CREATE INDEX decisions_undoes ON decisions (undoes);
    """,
    ),
    # A client request id per user action (the review app sends one with each decision or undo POST): a retry
    # of a POST whose answer was lost finds its id here and gets the first answer back instead of a second
    # set of rows. Written in the same transaction as the rows it produced.
    (
        "0003_requests",
        """
    CREATE TABLE requests (
        request_id TEXT PRIMARY KEY,
        kind       TEXT NOT NULL,           -- 'append' or 'undo'
        digest     TEXT NOT NULL,           -- sha256 of the content (same id, other content: refused)
        result     TEXT NOT NULL,           -- JSON list of the row ids the request returned
        created_at TEXT NOT NULL
    );
    """,
    ),
    # The source file of each sample (image folders: its path relative to the dataset root; NULL for arrays
    # such as IDX), kept for the manifest.
    (
        "0004_sample_file",
        """
    ALTER TABLE samples ADD COLUMN file TEXT;
    """,
    ),
    # The hex SHA-256 of each sample's source file as read when the workspace was made (NULL for arrays), so
    # that the export can copy the original bytes and check they did not change.
    (
        "0005_sample_file_sha256",
        """
    ALTER TABLE samples ADD COLUMN file_sha256 TEXT;
    """,
    ),
]
SCHEMA_VERSION = len(MIGRATIONS)


def connect(path: Path) -> sqlite3.Connection:
    """A connection with WAL, full sync, foreign keys and a 10 s busy timeout; rows as ``sqlite3.Row``."""
    con = sqlite3.connect(path, timeout=10.0, isolation_level=None, check_same_thread=False)
    con.row_factory = sqlite3.Row
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    con.execute("PRAGMA foreign_keys=ON")
    return con


class Database:
    """The workspace's SQLite file: one connection per thread (``sqlite3`` connections must not be shared
    between threads that write), migrated on open, all closed by :meth:`close`."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        _check_writable(self.path)
        try:
            migrate(self.con, self.path)
            problems = [r[0] for r in self.con.execute("PRAGMA quick_check(5)").fetchall()]
        except sqlite3.DatabaseError as e:
            problems = [str(e)]
        except BaseException:
            self.close()
            raise
        if problems != ["ok"]:
            self.close()
            raise WorkspaceError(
                f"{self.path}: database is damaged or not a greyzone database ({'; '.join(problems)}); "
                f"greyzone will not write to it. Restore a backup, or recover what is readable with "
                f"'sqlite3 {self.path.name} .recover | sqlite3 recovered.sqlite'")

    @property
    def con(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use)."""
        con = getattr(self._local, "con", None)
        if con is None:
            con = connect(self.path)
            self._local.con = con
            with self._lock:
                self._opened.append(con)
        return con

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT`` on this thread's connection; rollback on any error. Nested
        transactions join the outer one (a read-then-write sequence commits as one)."""
        con = self.con
        if getattr(self._local, "writing", False):  # nested: part of the enclosing write transaction
            yield con
            return
        if con.in_transaction:
            raise RuntimeError("a write transaction cannot start inside a read snapshot")
        con.execute("BEGIN IMMEDIATE")
        self._local.writing = True
        try:
            yield con
            con.execute("COMMIT")
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise
        finally:
            self._local.writing = False

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: every query inside sees the same state of the database."""
        con = self.con
        if con.in_transaction:  # already inside a transaction or snapshot: it is the snapshot
            yield con
            return
        con.execute("BEGIN")
        try:
            yield con
        finally:
            con.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            for con in self._opened:
                con.close()
            self._opened.clear()
        self._local = threading.local()


def _check_writable(path: Path) -> None:
    """greyzone writes to every workspace it opens (WAL, migrations, runs): say so when it cannot."""
    for p in (path, path.parent):
        if p.exists() and not os.access(p, os.W_OK):
            raise WorkspaceError(f"{p}: workspace is read-only (no write permission); greyzone needs to "
                                 f"write to it: fix the permissions or copy the workspace somewhere writable")


def migrate(con: sqlite3.Connection, path: Path) -> None:
    """Apply pending migrations, each in its own transaction; refuse a database from a newer greyzone."""
    version = con.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise WorkspaceError(
            f"{path}: schema version {version} is newer than this greyzone supports "
            f"({SCHEMA_VERSION}); upgrade greyzone or use another workspace"
        )
    for number, (_name, sql) in enumerate(MIGRATIONS[version:], start=version + 1):
        con.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(sql):
                con.execute(statement)
            con.execute(f"PRAGMA user_version = {number}")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise


def _statements(sql: str) -> list[str]:
    """Split a migration script into statements (``executescript`` would commit implicitly)."""
    out, buf = [], ""
    for line in sql.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    if buf.strip():
        out.append(buf.strip())
    return out
