"""Decisions: append (idk / keep / relabel), undo, the log, and the per-sample decision state.

Every write needs the page token and goes through the workspace's decision log (one transaction on the
request thread's own connection), and is answered only after COMMIT returned (WAL, ``synchronous=FULL``):
an acknowledged decision survives a killed server. A write may carry ``request_id``, the client's id for one
user action: a retry after a lost answer (or a 503) with the same id stores nothing twice and gets the first
answer's row ids back. A database that refuses the write (read-only, damaged, locked) answers 503 with what
happened; nothing was saved then.
"""

from __future__ import annotations

import sqlite3
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from greyzone.app.columnar import encode
from greyzone.app.state import AppState, State, database_problem, require_token
from greyzone.errors import GreyzoneError, ParameterError, UnknownSampleError

router = APIRouter(prefix="/api", tags=["decisions"])
MAX_SIDS = 100_000
RequestId = Annotated[str | None, Field(default=None, pattern=r"^[A-Za-z0-9_-]{8,64}$",
                                        description="the client's id for one user action (same on retry)")]


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sids: list[StrictInt] = Field(min_length=1, max_length=MAX_SIDS)
    action: Literal["idk", "relabel", "keep"]
    label: StrictInt | None = None
    reason: str | None = Field(default=None, max_length=1000)
    request_id: RequestId = None


class UndoIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sids: list[StrictInt] = Field(min_length=1, max_length=MAX_SIDS)
    request_id: RequestId = None


def _state_of(state: AppState, sids: list[int]) -> dict:
    st = state.ws.decisions.state(sids)
    return {"sids": sids, "status": st.status.tolist(), "curated": st.curated.tolist()}


def _write(state: AppState, fn):
    """Run one decision-log write; its refusals as HTTP errors (nothing was written in any of them)."""
    try:
        return fn()
    except UnknownSampleError as e:
        raise HTTPException(404, str(e)) from e
    except ParameterError as e:
        raise HTTPException(409 if "request id" in str(e) else 422, str(e)) from e
    except sqlite3.Error as e:
        raise HTTPException(503, database_problem(state.ws, e, outcome="nothing was saved")) from e
    except GreyzoneError as e:  # e.g. the store refuses writes to a workspace that failed its check
        raise HTTPException(503, f"{e}; nothing was saved") from e


def _answer(state: AppState, sids: list[int], body: dict) -> dict:
    """The committed write's answer with the samples' new state (a failure to read it says what was saved)."""
    try:
        log = state.ws.decisions
        return {**body, "last_id": log.head(), "state": _state_of(state, sids)}
    except sqlite3.Error as e:
        raise HTTPException(503, database_problem(
            state.ws, e, outcome=f"the write WAS saved ({body}) but its new state could not be read; "
                                 f"reload the page")) from e


@router.post("/decisions", dependencies=[Depends(require_token)])
def decide(body: DecisionIn, state: State) -> dict:
    """Record one decision per sample (one transaction); return the new row ids and the samples' new state."""
    sids = list(dict.fromkeys(body.sids))
    ids = _write(state, lambda: state.ws.decisions.append(
        sids, body.action, label=body.label, source="human", author=state.author, reason=body.reason or None,
        request_id=body.request_id))
    return _answer(state, sids, {"ids": ids})


@router.post("/undo", dependencies=[Depends(require_token)])
def undo(body: UndoIn, state: State) -> dict:
    """Revert each sample's human decision in force with a new ``undo`` row (``null`` where there is none)."""
    sids = list(dict.fromkeys(body.sids))
    undone = _write(state, lambda: state.ws.decisions.undo(  # one transaction: all undone or none
        sids, source="human", author=state.author, request_id=body.request_id))
    return _answer(state, sids, {"undone": undone})


def history_rows(state: AppState, *, sid: int | None = None, limit: int = 50, source: str | None = None,
                 before: int | None = None) -> list[dict]:
    """Log rows, newest first, with the sample's split/index and label names added."""
    rows = state.ws.decisions.rows(sid=sid, source=source, before=before, limit=limit)
    split, index = state.scores.split.to_numpy(), state.scores["index"].to_numpy()
    keep = ("id", "sid", "action", "label", "source", "reason", "author", "created_at", "undoes")
    out = []
    for r in rows:
        r = {k: r[k] for k in keep}
        r["split"], r["index"] = str(split[r["sid"]]), int(index[r["sid"]])
        r["label_name"] = state.label_name(r["label"])
        r["original_name"] = state.label_name(state.labels[r["sid"]])
        out.append(r)
    return out


@router.get("/decisions")
def decisions(state: State, limit: Annotated[int, Query(ge=1, le=1000)] = 50,
              sid: int | None = None, source: Literal["auto", "human"] | None = None,
              before: Annotated[int | None, Query(ge=1)] = None) -> dict:
    """The decision log, newest first (``before`` pages back by row id)."""
    if sid is not None:
        state.check_sid(sid)
    log = state.ws.decisions
    with log.snapshot():
        rows = history_rows(state, sid=sid, limit=limit, source=source, before=before)
        return {"last_id": log.head(), "human_rows": log.count(source="human"), "rows": rows}


@router.get("/decisions/head")
def head(state: State) -> dict:
    """The newest decision id: the page polls it to pick up decisions made in other tabs."""
    return {"last_id": state.ws.decisions.head()}


@router.get("/state", response_class=Response, responses={200: {"content": {"application/octet-stream": {}}}})
def state_blob(state: State) -> Response:
    """Per sample in sid order: decision ``status`` (uint8, see ``status_names``), ``curated`` (int16) and
    ``suggested`` (int16: the auto proposal's class, IDK for an IDK proposal, -1 for none)."""
    return Response(state_blob_now(state), media_type="application/octet-stream",
                    headers={"Cache-Control": "no-store"})


def state_blob_now(state: AppState) -> bytes:
    """The encoded decision state, recomputed only when the log has grown: the log is append-only, so its
    newest row id identifies its content (0.4 s for 70,000 samples, a few ms when unchanged)."""
    log = state.ws.decisions
    with log.snapshot():  # one read snapshot for both queries
        last = log.head()
        cached = state.state_cache
        if cached is not None and cached[0] == last:
            return cached[1]
        st = log.state()
    blob = encode({"status": st.status, "curated": st.curated.astype("int16"),
                   "suggested": st.suggested.astype("int16")}, last_id=last)
    state.state_cache = (last, blob)
    return blob
