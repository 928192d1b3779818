"""The ``runs`` table (one row per ``greyzone run``: config, versions, timings, metrics) and the stage cache
(``stages``: which config slice each expensive stage's stored outputs were computed with)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from greyzone.store.arrays import ArrayStore
from greyzone.store.db import Database

JSON_COLUMNS = ("config", "versions", "timings", "metrics")


def utc_now() -> str:
    """UTC ISO-8601 with microseconds, the timestamp format of every table."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


class RunLog:
    """Start, finish and read runs."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def start(self, config: dict[str, Any], versions: dict[str, str]) -> int:
        with self.db.transaction() as con:
            cur = con.execute(
                "INSERT INTO runs (started_at, config, versions) VALUES (?, ?, ?)",
                (utc_now(), json.dumps(config, sort_keys=True), json.dumps(versions, sort_keys=True)),
            )
            return int(cur.lastrowid)

    def finish(self, run_id: int, *, timings: dict, metrics: dict, status: str = "finished") -> None:
        with self.db.transaction() as con:
            con.execute(
                "UPDATE runs SET finished_at = ?, status = ?, timings = ?, metrics = ? WHERE id = ?",
                (utc_now(), status, json.dumps(timings), json.dumps(metrics), run_id),
            )

    def mark_interrupted(self) -> int:
        """Mark runs still ``running`` as ``interrupted`` (their process was killed); call it while holding
        the workspace lock, so no live run is among them. Returns how many were marked."""
        with self.db.transaction() as con:
            return con.execute("UPDATE runs SET status = 'interrupted', finished_at = ? "
                               "WHERE status = 'running'", (utc_now(),)).rowcount

    def statuses(self) -> list[str]:
        """The status of every run, oldest first."""
        return [r[0] for r in self.db.con.execute("SELECT status FROM runs ORDER BY id")]

    def last(self) -> dict[str, Any] | None:
        """The newest finished run with its JSON columns decoded, or None."""
        row = self.db.con.execute(
            "SELECT * FROM runs WHERE status = 'finished' ORDER BY id DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        out = dict(row)
        for k in JSON_COLUMNS:
            out[k] = json.loads(out[k])
        return out


class StageCache:
    """A stage's outputs are reused when its stored key equals the key of the current config slice."""

    def __init__(self, db: Database, arrays: ArrayStore) -> None:
        self.db = db
        self.arrays = arrays

    def key(self, name: str) -> str | None:
        row = self.db.con.execute("SELECT key FROM stages WHERE name = ?", (name,)).fetchone()
        return row[0] if row else None

    def is_fresh(self, name: str, key: str, arrays: list[str]) -> bool:
        """The stage ran with ``key`` and every array it writes is present and readable. When it is not, the
        stored key is dropped, so outputs half-rewritten by a recomputation that gets interrupted are never
        taken for the old key's."""
        if self.key(name) == key and all(self.arrays.readable(a) for a in arrays):
            return True
        with self.db.transaction() as con:
            con.execute("DELETE FROM stages WHERE name = ?", (name,))
        return False

    def finish(self, name: str, key: str, seconds: float) -> None:
        with self.db.transaction() as con:
            con.execute("INSERT OR REPLACE INTO stages VALUES (?, ?, ?, ?)", (name, key, seconds, utc_now()))
