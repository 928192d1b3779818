"""Samples: workspace metadata, the columnar map/score data, and one sample's detail."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from fastapi import APIRouter, Request, Response

from greyzone.app.routers.decisions import history_rows
from greyzone.app.state import AppState, State
from greyzone.scores.catalog import PROJECTION_COLUMNS
from greyzone.store.decisions import STATUS_NAMES

router = APIRouter(prefix="/api", tags=["samples"])
MAX_DUPLICATES = 50


@router.get("/meta")
def meta(state: State) -> dict:
    """Dataset, classes, splits, status names, the author and the data version (fixed while serving)."""
    return state.meta


def workspace_meta(state: AppState) -> dict:
    ws = state.ws
    splits = state.scores.split.value_counts(sort=False)  # not ws.splits: 1.6 s over 1M arrow strings
    return {
        "dataset": ws.dataset, "workspace": str(ws.path), "classes": list(ws.classes),
        "idk_label": ws.idk_label, "idk_name": ws.label_name(ws.idk_label), "n": state.n,
        "author": state.author,
        "splits": {str(s): int(splits[s]) for s in pd.unique(state.scores.split)},
        "status_names": STATUS_NAMES,
        "image_shape": list(state.images.shape[1:]), "version": state.version,
    }


@router.get("/columns", response_class=Response,
            responses={200: {"content": {"application/octet-stream": {}}}})
def columns(request: Request) -> Response:
    """All score columns and map coordinates as typed arrays (binary, see ``greyzone.app.columnar``); gzip
    when the client takes it, revalidated by ETag."""
    return request.app.state.columns.response(request)


@router.get("/points", response_class=Response,
            responses={200: {"content": {"application/octet-stream": {}}}})
def points(request: Request) -> Response:
    """The map's first paint: quantised coordinates and the split (binary, see
    :func:`greyzone.app.state.points_blob`); gzip and ETag as ``/api/columns``."""
    return request.app.state.points.response(request)


def _clean(value):
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@router.get("/samples/{sid}")
def sample(sid: int, state: State) -> dict:
    """One sample: labels, top-3 probabilities, every score, nearest neighbours, the auto proposal in force
    (``proposal``: ``{"action": "idk" | "relabel", "label", "label_name"}`` or null), its duplicates
    (``duplicate_of``: the earliest of its group as ``{"sid", "split", "index", "label_name"}`` or null;
    ``duplicates``: the samples that name this one, up to 50) and its decision history."""
    state.check_sid(sid)
    row = state.scores.iloc[sid]
    probs = np.asarray(state.probs[sid], dtype=np.float64)
    top = np.argsort(-probs, kind="stable")[:3]
    nb = state.neighbours
    nb_sids, nb_dist = nb.indices[sid], nb.distances[sid]
    nb_sids, nb_sims = nb_sids[nb_sids >= 0], 1.0 - nb_dist[nb_sids >= 0]
    st = state.ws.decisions.state([sid])
    status, curated, suggested = st.status, st.curated, int(st.suggested[0])
    proposal = None if suggested < 0 else {
        "action": "idk" if suggested == state.ws.idk_label else "relabel",
        "label": None if suggested == state.ws.idk_label else suggested,
        "label_name": state.label_name(suggested)}
    skip = {"sid", "split", "index", "label", "pred", "suggested_label", "proposed_action",  # in "proposal"
            "duplicate_of", *PROJECTION_COLUMNS}
    return {
        "sid": sid, "split": row["split"], "index": int(row["index"]),
        "label": int(row["label"]), "label_name": state.label_name(row["label"]),
        "pred": int(row["pred"]), "pred_name": state.label_name(row["pred"]),
        "suggested_label": _clean(row.get("suggested_label")),
        "top": [{"label": int(c), "name": state.label_name(c), "p": float(probs[c])} for c in top],
        "scores": {k: _clean(row[k]) for k in state.scores.columns if k not in skip},
        "status": STATUS_NAMES[int(status[0])], "curated": int(curated[0]),
        "curated_name": state.label_name(int(curated[0])), "proposal": proposal,
        "neighbours": [{"sid": int(s), "similarity": round(float(v), 4), "label": int(state.labels[s]),
                        "label_name": state.label_name(state.labels[s])} for s, v in zip(nb_sids, nb_sims,
                                                                                           strict=True)],
        "duplicate_of": _ref(state, int(state.duplicate_of[sid])),
        "duplicates": [_ref(state, int(s))
                       for s in np.flatnonzero(state.duplicate_of == sid)[:MAX_DUPLICATES]],
        "history": history_rows(state, sid=sid, limit=50),
    }


def _ref(state: AppState, sid: int) -> dict | None:
    """A link to another sample (None for -1)."""
    if sid < 0:
        return None
    row = state.scores.iloc[sid]
    return {"sid": sid, "split": str(row["split"]), "index": int(row["index"]),
            "label_name": state.label_name(state.labels[sid])}
