"""The decision log: the one home of "which decision wins", used by the pipeline, the export, the CLI and the
review app alike.

The ``decisions`` table is append-only (see :mod:`greyzone.store.db`). Two rules, each written once:

1. **In force per (sample, source)**: the newest non-undo row that no undo row reverts. This is the SQL view
   ``effective_decisions``; nothing else re-derives it.
2. **Precedence across sources** (:func:`resolve`): the human decision in force wins, else the auto proposal
   in force (unless proposals are excluded), else the original label. A human ``idk`` → the IDK class,
   ``relabel`` → its label, ``keep`` → the original label (a human keep also overrides an auto proposal).
   An auto proposal is three-way: ``idk`` (ambiguous / not a digit) → IDK; ``relabel`` (a confident
   correction) → IDK too by default, its label only with ``apply_corrections=True``; ``keep`` withdraws a
   proposal (the original label).

Each write is one ``BEGIN IMMEDIATE`` transaction on the calling thread's connection, committed (WAL,
``synchronous=FULL``) before the method returns.
"""

from __future__ import annotations

import getpass
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import pandas as pd

from greyzone.errors import ParameterError, UnknownSampleError
from greyzone.store.db import Database
from greyzone.store.runs import utc_now

ACTIONS = ("idk", "relabel", "keep")
SOURCES = ("auto", "human")
INSERT = ("INSERT INTO decisions (sid, action, label, source, reason, author, created_at, run_id) "
          "VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
#: Beyond this many sids a state query reads every sample once instead of a long ``sid IN (...)``.
IN_LIMIT = 500


class Status(IntEnum):
    """A sample's decision status as the review app colours it (sent to the browser as uint8)."""

    UNDECIDED = 0
    PROPOSED = 1  # an auto proposal in force, no human decision
    KEPT = 2  # a human kept the label
    IDK = 3  # a human said IDK
    RELABELLED = 4  # a human relabelled
    PROPOSED_RELABEL = 5  # an auto relabel proposal (confident correction) in force, no human decision


STATUS_NAMES = ["undecided", "proposed IDK", "kept", "IDK", "relabelled", "proposed relabel"]


@dataclass(frozen=True)
class DecisionState:
    """Per requested sample: ``status`` (uint8 :class:`Status`), ``curated`` label (int64, IDK = number of
    classes), ``decided_by`` (``"human"``, ``"auto"`` or ``"original"``) and ``suggested`` (int64: the class
    the auto proposal in force suggests, IDK for an ``idk`` proposal, -1 for none; whatever the flags)."""

    status: np.ndarray
    curated: np.ndarray
    decided_by: np.ndarray
    suggested: np.ndarray

    def take(self, ix: np.ndarray) -> DecisionState:
        """The state of the samples at positions ``ix``."""
        return DecisionState(self.status[ix], self.curated[ix], self.decided_by[ix], self.suggested[ix])


def resolve(original: np.ndarray, in_force: pd.DataFrame, *, idk: int, include_proposals: bool = True,
            apply_corrections: bool = False) -> DecisionState:
    """Apply the precedence rule. ``original``: the labels of the samples asked about; ``in_force``: rows of
    ``effective_decisions`` with ``pos`` (row into ``original``), ``source``, ``action``, ``label``.
    ``apply_corrections``: an auto ``relabel`` gives its label instead of IDK."""
    original = np.asarray(original, dtype=np.int64)
    curated = original.copy()
    status = np.zeros(len(curated), np.uint8)
    decided_by = np.full(len(curated), "original", dtype=object)
    suggested = np.full(len(curated), -1, np.int64)
    for source in ("auto", "human"):
        d = in_force[in_force.source == source]
        pos = d.pos.to_numpy(dtype=np.int64)
        action = d.action.to_numpy()
        label = np.nan_to_num(d.label.to_numpy(dtype=np.float64), nan=-1).astype(np.int64)
        is_idk, is_relabel = action == "idk", action == "relabel"
        if source == "auto":
            suggested[pos] = np.select([is_idk, is_relabel], [idk, label], -1)
            if not include_proposals:
                continue
            correction = label if apply_corrections else idk
            curated[pos] = np.select([is_idk, is_relabel], [idk, correction], original[pos])
            status[pos] = np.select([is_idk, is_relabel], [Status.PROPOSED, Status.PROPOSED_RELABEL],
                                    Status.UNDECIDED)
        else:
            curated[pos] = np.select([is_idk, is_relabel], [idk, label], original[pos])
            status[pos] = np.select([is_idk, is_relabel], [Status.IDK, Status.RELABELLED], Status.KEPT)
        decided_by[pos] = source
    return DecisionState(status, curated, decided_by, suggested)


def default_author() -> str:
    """The OS user name, recorded with decisions when no author is given."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


class DecisionLog:
    """Append, undo and read decisions; compute the effective state of samples.

    ``samples`` returns the workspace's ``sid, split, index, label`` table (in sid order); ``n_classes``
    excludes IDK.
    """

    def __init__(self, db: Database, samples: Callable[[], pd.DataFrame], n_classes: int) -> None:
        self.db = db
        self._samples = samples
        self.n_classes = n_classes

    def _labels(self) -> np.ndarray:
        return self._samples().label.to_numpy()

    @property
    def idk(self) -> int:
        return self.n_classes

    # ---------------------------------------------------------------------------------------------- writes
    def append(self, sids: Iterable[int], action: str, *, label: int | None = None, source: str = "human",
               author: str | None = None, reason: str | None = None, run_id: int | None = None,
               request_id: str | None = None) -> list[int]:
        """One row per distinct sample, all in one transaction; returns the new row ids in order.

        ``request_id`` (a client's id for one user action): a second call with the same id and the same
        content writes nothing and returns the first call's row ids; with other content it raises
        :class:`~greyzone.errors.ParameterError`.

        Raises :class:`~greyzone.errors.ParameterError` for a bad action, source or label and
        :class:`~greyzone.errors.UnknownSampleError` for a sid the workspace does not hold; nothing is
        written then.
        """
        if action not in ACTIONS:
            raise ParameterError(f"action must be one of {ACTIONS}, got {action!r}")
        if source not in SOURCES:
            raise ParameterError(f"source must be one of {SOURCES}, got {source!r}")
        if action == "relabel":
            if isinstance(label, bool) or not isinstance(label, int | np.integer) \
                    or not 0 <= label < self.n_classes:
                raise ParameterError(f"relabel needs a label in 0..{self.n_classes - 1}, got {label!r}")
            label = int(label)
        elif label is not None:
            raise ParameterError(f"action {action!r} takes no label, got {label!r}")
        sids = self._checked(sids)
        author, stamp = author or default_author(), utc_now()
        with self.db.transaction() as con:
            content = [sids, action, label, source, reason, author]
            if (done := _replayed(con, request_id, "append", content)) is not None:
                return done
            rows = [(sid, action, label, source, reason, author, stamp, run_id) for sid in sids]
            ids = [int(con.execute(INSERT, row).lastrowid) for row in rows]
            _remember(con, request_id, "append", content, ids, stamp)
            return ids

    def undo(self, sids: Iterable[int], *, source: str = "human", author: str | None = None,
             request_id: str | None = None) -> list[int | None]:
        """Revert each sample's decision in force (of ``source``) with an ``undo`` row, all in one
        transaction; the new row ids in order, None where there was nothing to undo. ``request_id``: as in
        :meth:`append` (a retried undo does not undo a second decision)."""
        sids = self._checked(sids)
        author, stamp = author or default_author(), utc_now()
        out: list[int | None] = []
        with self.db.transaction() as con:
            content = [sids, source, author]
            if (done := _replayed(con, request_id, "undo", content)) is not None:
                return done
            for sid in sids:
                row = con.execute("SELECT id FROM effective_decisions WHERE sid = ? AND source = ?",
                                  (sid, source)).fetchone()
                out.append(None if row is None else int(con.execute(
                    "INSERT INTO decisions (sid, action, source, author, created_at, undoes) "
                    "VALUES (?, 'undo', ?, ?, ?, ?)", (sid, source, author, stamp, row[0])).lastrowid))
            _remember(con, request_id, "undo", content, out, stamp)
        return out

    def _checked(self, sids: Iterable[int]) -> list[int]:
        out = list(dict.fromkeys(int(s) for s in sids))
        n = len(self._labels())
        bad = [s for s in out if not 0 <= s < n]
        if bad:
            raise UnknownSampleError(f"unknown sample id(s) {bad[:5]} (workspace has sids 0..{n - 1})")
        return out

    # ---------------------------------------------------------------------------------------------- reads
    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads inside see one state of the log (e.g. :meth:`head` and :meth:`state` together)."""
        with self.db.snapshot():
            yield

    def head(self) -> int:
        """The newest row id (0 for an empty log); the app polls it to see other tabs' decisions."""
        return int(self.db.con.execute("SELECT COALESCE(MAX(id), 0) FROM decisions").fetchone()[0])

    def count(self, *, source: str | None = None) -> int:
        q = "SELECT COUNT(*) FROM decisions" + (" WHERE source = ?" if source else "")
        return int(self.db.con.execute(q, [source] if source else []).fetchone()[0])

    def rows(self, *, sid: int | None = None, source: str | None = None, before: int | None = None,
             limit: int | None = None) -> list[dict]:
        """Log rows as dicts, newest first; ``before`` pages back by row id."""
        where, params = _where(sid=sid, source=source, before=before)
        q = f"SELECT * FROM decisions{where} ORDER BY id DESC" + (" LIMIT ?" if limit is not None else "")
        return [dict(r) for r in self.db.con.execute(q, [*params, *([limit] if limit is not None else [])])]

    def history(self, **filters) -> pd.DataFrame:
        """:meth:`rows` as a DataFrame (same filters)."""
        rows = self.rows(**filters)
        cols = [c[1] for c in self.db.con.execute("PRAGMA table_info(decisions)")]
        return pd.DataFrame(rows, columns=cols)

    def in_force(self, *, source: str | None = None, sids: list[int] | None = None) -> pd.DataFrame:
        """Rows of ``effective_decisions``: the decision in force per (sid, source), ordered by sid."""
        where, params = _where(source=source, sids=sids)
        return pd.read_sql_query(f"SELECT * FROM effective_decisions{where} ORDER BY sid", self.db.con,
                                 params=params)

    def state(self, sids: list[int] | None = None, *, include_proposals: bool = True,
              apply_corrections: bool = False) -> DecisionState:
        """The effective state of ``sids`` (default: every sample, in sid order); flags: :func:`resolve`."""
        flags = {"include_proposals": include_proposals, "apply_corrections": apply_corrections}
        labels = np.asarray(self._labels())
        if sids is not None and len(sids) > IN_LIMIT:
            return self.state(**flags).take(np.asarray(sids, dtype=np.int64))
        rows = self.in_force(sids=sids)
        if sids is None:
            rows["pos"], original = rows.sid, labels
        else:
            rows["pos"] = rows.sid.map({s: i for i, s in enumerate(sids)})
            original = labels[np.asarray(sids, dtype=np.int64)]
        return resolve(original, rows, idk=self.idk, **flags)

    def curated(self, *, include_proposals: bool = True, apply_corrections: bool = False) -> pd.DataFrame:
        """Per sample in sid order: ``sid, split, index, original_label, curated_label, decided_by,
        suggested_label`` (the auto proposal's class, IDK for an ``idk`` proposal, -1 for none)."""
        st = self.state(include_proposals=include_proposals, apply_corrections=apply_corrections)
        out = self._samples().rename(columns={"label": "original_label"})
        return out.assign(curated_label=st.curated, decided_by=st.decided_by, suggested_label=st.suggested)


def _digest(kind: str, content: list) -> str:
    return hashlib.sha256(json.dumps([kind, content], separators=(",", ":")).encode()).hexdigest()


def _replayed(con, request_id: str | None, kind: str, content: list) -> list | None:
    """The row ids an earlier request with this id returned (None when it is new); inside the writer's
    transaction, so two concurrent retries cannot both miss it."""
    if request_id is None:
        return None
    row = con.execute("SELECT kind, digest, result FROM requests WHERE request_id = ?",
                      (request_id,)).fetchone()
    if row is None:
        return None
    if row["kind"] != kind or row["digest"] != _digest(kind, content):
        raise ParameterError(f"request id {request_id!r} was already used for a different request; send a "
                             f"new id for each action")
    return json.loads(row["result"])


def _remember(con, request_id: str | None, kind: str, content: list, result: list, stamp: str) -> None:
    if request_id is not None:
        con.execute("INSERT INTO requests VALUES (?, ?, ?, ?, ?)",
                    (request_id, kind, _digest(kind, content), json.dumps(result), stamp))


def _where(*, sid: int | None = None, source: str | None = None, before: int | None = None,
           sids: list[int] | None = None) -> tuple[str, list]:
    clauses, params = [], []
    for clause, value in (("sid = ?", sid), ("source = ?", source), ("id < ?", before)):
        if value is not None:
            clauses.append(clause)
            params.append(value)
    if sids is not None:
        clauses.append(f"sid IN ({','.join('?' * len(sids))})")
        params += [int(s) for s in sids]
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params
