"""Decisions: append (idk / keep / relabel), undo, the log, and the per-sample decision state.

Every write needs the page token and goes through the workspace's decision log (one transaction on the
request thread's own connection), and is answered only after COMMIT returned (WAL, ``synchronous=FULL``):
an acknowledged decision survives a killed server.
"""

from __future__ import annotations

import sqlite3
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from greyzone.app.columnar import encode
from greyzone.app.state import AppState, State, require_token
from greyzone.errors import ParameterError, UnknownSampleError

router = APIRouter(prefix="/api", tags=["decisions"])
MAX_SIDS = 100_000
BUSY = "the decisions database is busy ({e}); nothing was saved, try again"


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sids: list[StrictInt] = Field(min_length=1, max_length=MAX_SIDS)
    action: Literal["idk", "relabel", "keep"]
    label: StrictInt | None = None
    reason: str | None = Field(default=None, max_length=1000)


class UndoIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sids: list[StrictInt] = Field(min_length=1, max_length=MAX_SIDS)


def _state_of(state: AppState, sids: list[int]) -> dict:
    st = state.ws.decisions.state(sids)
    return {"sids": sids, "status": st.status.tolist(), "curated": st.curated.tolist()}


@router.post("/decisions", dependencies=[Depends(require_token)])
def decide(body: DecisionIn, state: State) -> dict:
    """Record one decision per sample (one transaction); return the new row ids and the samples' new state."""
    log = state.ws.decisions
    sids = list(dict.fromkeys(body.sids))
    try:
        ids = log.append(sids, body.action, label=body.label, source="human", author=state.author,
                         reason=body.reason or None)
    except UnknownSampleError as e:
        raise HTTPException(404, str(e)) from e
    except ParameterError as e:
        raise HTTPException(422, str(e)) from e
    except sqlite3.OperationalError as e:  # still locked after the 10 s busy timeout: nothing was written
        raise HTTPException(503, BUSY.format(e=e)) from e
    return {"ids": ids, "last_id": log.head(), "state": _state_of(state, sids)}


@router.post("/undo", dependencies=[Depends(require_token)])
def undo(body: UndoIn, state: State) -> dict:
    """Revert each sample's human decision in force with a new ``undo`` row (``null`` where there is none)."""
    log = state.ws.decisions
    sids = list(dict.fromkeys(body.sids))
    try:  # one transaction for the whole selection: all undone or none
        undone = log.undo(sids, source="human", author=state.author)
    except UnknownSampleError as e:
        raise HTTPException(404, str(e)) from e
    except sqlite3.OperationalError as e:
        raise HTTPException(503, BUSY.format(e=e)) from e
    return {"undone": undone, "last_id": log.head(), "state": _state_of(state, sids)}


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
    log = state.ws.decisions
    with log.snapshot():  # one read snapshot for both queries
        last = log.head()
        st = log.state()
    blob = encode({"status": st.status, "curated": st.curated.astype("int16"),
                   "suggested": st.suggested.astype("int16")}, last_id=last)
    return Response(blob, media_type="application/octet-stream", headers={"Cache-Control": "no-store"})
