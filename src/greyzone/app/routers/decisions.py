"""Decisions: append (idk / keep / relabel), undo, the log, and the per-sample decision state.

Every write needs the page token, runs in its own SQLite connection and one transaction
(``Workspace.decide``), and is answered only after COMMIT returned (WAL, ``synchronous=FULL``): an
acknowledged decision survives a killed server.
"""

from __future__ import annotations

import sqlite3
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from greyzone.app.columnar import encode
from greyzone.app.state import AppState, Con, State, decision_state, last_decision_id, require_token

router = APIRouter(prefix="/api", tags=["decisions"])
MAX_SIDS = 100_000


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sids: list[StrictInt] = Field(min_length=1, max_length=MAX_SIDS)
    action: Literal["idk", "relabel", "keep"]
    label: StrictInt | None = None
    reason: str | None = Field(default=None, max_length=1000)


class UndoIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sids: list[StrictInt] = Field(min_length=1, max_length=MAX_SIDS)


def _unique_checked(state: AppState, sids: list[int]) -> list[int]:
    for s in sids:
        state.check_sid(s)
    return list(dict.fromkeys(sids))


def _state_of(state: AppState, con: sqlite3.Connection, sids: list[int]) -> dict:
    status, curated = decision_state(con, state.labels, state.ws.idk_label, sids)
    return {"sids": sids, "status": status.tolist(), "curated": curated.tolist()}


@router.post("/decisions", dependencies=[Depends(require_token)])
def decide(body: DecisionIn, state: State, con: Con) -> dict:
    """Record one decision per sample (one transaction); return the new row ids and the samples' new state."""
    n_classes = len(state.classes)
    if body.action == "relabel" and (body.label is None or not 0 <= body.label < n_classes):
        raise HTTPException(422, f"relabel needs a label in 0..{n_classes - 1}, got {body.label!r}")
    if body.action != "relabel" and body.label is not None:
        raise HTTPException(422, f"action {body.action!r} takes no label, got {body.label!r}")
    sids = _unique_checked(state, body.sids)
    try:
        ids = state.ws.decide(sids, body.action, label=body.label, source="human", author=state.author,
                              reason=body.reason or None, con=con)
    except KeyError as e:  # a sid vanished between the check and the write (cannot happen today)
        raise HTTPException(404, str(e)) from e
    except ValueError as e:
        raise HTTPException(422, str(e)) from e
    except sqlite3.OperationalError as e:  # still locked after the 10 s busy timeout: nothing was written
        raise HTTPException(503, f"the decisions database is busy ({e}); nothing was saved, try again") from e
    return {"ids": ids, "last_id": last_decision_id(con), "state": _state_of(state, con, sids)}


@router.post("/undo", dependencies=[Depends(require_token)])
def undo(body: UndoIn, state: State, con: Con) -> dict:
    """Revert each sample's human decision in force with a new ``undo`` row (``null`` where there is none)."""
    sids = _unique_checked(state, body.sids)
    try:  # one transaction for the whole selection: all undone or none
        undone = state.ws.undo_many(sids, source="human", author=state.author, con=con)
    except sqlite3.OperationalError as e:
        raise HTTPException(503, f"the decisions database is busy ({e}); nothing undone, try again") from e
    return {"undone": undone, "last_id": last_decision_id(con), "state": _state_of(state, con, sids)}


def history_rows(state: AppState, con: sqlite3.Connection, *, sid: int | None = None, limit: int = 50,
                 source: str | None = None, before: int | None = None) -> list[dict]:
    where, params = [], []
    if sid is not None:
        where.append("sid = ?")
        params.append(sid)
    if source is not None:
        where.append("source = ?")
        params.append(source)
    if before is not None:
        where.append("id < ?")
        params.append(before)
    q = ("SELECT id, sid, action, label, source, reason, author, created_at, undoes FROM decisions"
         + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id DESC LIMIT ?")
    rows = [dict(r) for r in con.execute(q, [*params, limit]).fetchall()]
    split, index = state.scores.split.to_numpy(), state.scores["index"].to_numpy()
    for r in rows:
        r["split"], r["index"] = str(split[r["sid"]]), int(index[r["sid"]])
        r["label_name"] = state.label_name(r["label"])
        r["original_name"] = state.label_name(state.labels[r["sid"]])
    return rows


@router.get("/decisions")
def decisions(state: State, con: Con, limit: Annotated[int, Query(ge=1, le=1000)] = 50,
              sid: int | None = None, source: Literal["auto", "human"] | None = None,
              before: Annotated[int | None, Query(ge=1)] = None) -> dict:
    """The decision log, newest first (``before`` pages back by row id)."""
    if sid is not None:
        state.check_sid(sid)
    rows = history_rows(state, con, sid=sid, limit=limit, source=source, before=before)
    human = con.execute("SELECT COUNT(*) FROM decisions WHERE source = 'human'").fetchone()[0]
    return {"last_id": last_decision_id(con), "human_rows": int(human), "rows": rows}


@router.get("/decisions/head")
def head(con: Con) -> dict:
    """The newest decision id: the page polls it to pick up decisions made in other tabs."""
    return {"last_id": last_decision_id(con)}


@router.get("/state", response_class=Response, responses={200: {"content": {"application/octet-stream": {}}}})
def state_blob(state: State, con: Con) -> Response:
    """Per sample in sid order: decision ``status`` (uint8, see ``status_names``), ``curated`` (int16)."""
    con.execute("BEGIN")  # one read snapshot for both queries
    try:
        last = last_decision_id(con)
        status, curated = decision_state(con, state.labels, state.ws.idk_label)
    finally:
        con.execute("COMMIT")
    blob = encode({"status": status, "curated": curated}, last_id=last)
    return Response(blob, media_type="application/octet-stream", headers={"Cache-Control": "no-store"})
