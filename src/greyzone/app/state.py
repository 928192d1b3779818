"""What the app loads once at startup, the request dependencies (state, connection, token) and the
per-sample decision state (status code and curated label) that the map and grid colour by."""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Annotated

import numpy as np
import pandas as pd
from fastapi import Depends, Header, HTTPException, Request

from greyzone.app.columnar import encode
from greyzone.app.neighbours import NeighbourIndex
from greyzone.errors import WorkspaceError
from greyzone.store.workspace import Workspace, default_author

# Decision status per sample, as sent to the browser (uint8).
NONE, PROPOSED, KEPT, IDK, RELABELLED = 0, 1, 2, 3, 4
STATUS_NAMES = ["undecided", "proposed IDK", "kept", "IDK", "relabelled"]

CLASS_COLUMNS = ("label", "pred", "suggested_label")
PROJECTION_COLUMNS = ("pca_x", "pca_y", "umap_x", "umap_y")
# direction: +1 = higher is more doubtful, -1 = lower is more doubtful (the grid sorts most doubtful first)
SCORE_HELP: dict[str, tuple[int, str]] = {
    "idk_score": (1, "1 − support·(1 − ½·H/log C); support = mean of out-of-fold p(label), "
                        "cartography confidence, kNN label agreement"),
    "p_label": (-1, "out-of-sample probability of the given label"),
    "confidence": (-1, "out-of-sample probability of the predicted class"),
    "margin": (-1, "p(label) − largest other probability"),
    "hardness": (1, "entropy of the out-of-sample probabilities"),
    "mistakenness": (1, "how likely the given label is a mistake"),
    "uniqueness": (1, "distance to the nearest neighbours in embedding space"),
    "representativeness": (-1, "how typical the sample is of its region"),
    "knn_agreement": (-1, "share of nearest neighbours with the same label"),
    "label_quality": (-1, "cleanlab label quality"),
    "aum": (-1, "area under the margin during training (train only)"),
    "cart_confidence": (-1, "mean p(label) over training epochs (train only)"),
    "cart_variability": (1, "spread of p(label) over training epochs (train only)"),
}

_IN_LIMIT = 500  # beyond this many sids, read the whole state once instead of a long "sid IN (...)"
_EFFECTIVE_SQL = """
SELECT sid, source, action, label, MAX(id) AS id FROM decisions
WHERE action != 'undo' AND id NOT IN (SELECT undoes FROM decisions WHERE undoes IS NOT NULL) {where}
GROUP BY sid, source
"""


@dataclass
class AppState:
    """Everything read once from the workspace; request handlers only read it (and write decisions)."""

    ws: Workspace
    token: str
    author: str
    scores: pd.DataFrame
    labels: np.ndarray
    probs: np.ndarray
    images: np.ndarray
    neighbours: NeighbourIndex
    columns_blob: bytes
    version: str
    export_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def n(self) -> int:
        return len(self.labels)

    @property
    def classes(self) -> tuple[str, ...]:
        return self.ws.classes

    def check_sid(self, sid: int) -> int:
        if not 0 <= sid < self.n:
            raise HTTPException(404, f"unknown sample id {sid} (this workspace has sids 0..{self.n - 1})")
        return sid

    def label_name(self, label) -> str | None:
        if label is None or (isinstance(label, float) and np.isnan(label)):
            return None
        return self.ws.label_name(int(label))


def load_state(ws: Workspace, *, token: str, author: str | None) -> AppState:
    scores = ws.scores()
    samples = ws.samples()
    if len(scores) != len(samples) or not np.array_equal(scores.sid.to_numpy(), samples.sid.to_numpy()):
        raise WorkspaceError(f"{ws.scores_path}: {len(scores)} score rows do not match the {len(samples)} "
                             f"samples in sid order; re-run 'greyzone run' on this workspace")
    images = ws.images()
    emb = ws.load_array("embeddings", mmap=False)
    stamp = "|".join(f"{p.name}:{p.stat().st_mtime_ns}:{p.stat().st_size}"
                     for p in (ws.scores_path, ws.array_path("images"), ws.array_path("probs")))
    version = hashlib.sha256(stamp.encode()).hexdigest()[:12]
    return AppState(ws=ws, token=token, author=author or default_author(), scores=scores,
                    labels=samples.label.to_numpy(), probs=ws.load_array("probs"), images=images,
                    neighbours=NeighbourIndex().fit(emb), columns_blob=columns_blob(ws, scores),
                    version=version)


def columns_blob(ws: Workspace, scores: pd.DataFrame) -> bytes:
    """Every column of the score table as typed arrays (see :mod:`greyzone.app.columnar`)."""
    cols: dict[str, np.ndarray] = {}
    categories: dict[str, list[str]] = {}
    floats, flags = [], []
    for name in scores.columns:
        s = scores[name]
        if name == "sid":
            continue
        if name in CLASS_COLUMNS:
            cols[name] = s.fillna(-1).to_numpy().astype(np.int16)
        elif name == "index":
            cols[name] = s.to_numpy().astype(np.int32)
        elif pd.api.types.is_bool_dtype(s):
            cols[name] = s.to_numpy().astype(np.uint8)
            flags.append(name)
        elif pd.api.types.is_numeric_dtype(s):
            cols[name] = s.to_numpy().astype(np.float32)
            if name not in PROJECTION_COLUMNS:
                floats.append(name)
        else:
            codes, uniques = pd.factorize(s.astype(str), sort=False)
            cols[name] = codes.astype(np.uint8 if len(uniques) < 256 else np.int32)
            categories[name] = [str(u) for u in uniques]
    has = {p: bool(f"{p}_x" in cols and np.isfinite(cols[f"{p}_x"]).any()) for p in ("pca", "umap")}
    help_ = {k: {"direction": d, "help": h} for k, (d, h) in SCORE_HELP.items() if k in floats}
    return encode(cols, categories=categories, scores=floats, flags=flags, projections=has, score_help=help_)


def decision_state(con: sqlite3.Connection, labels: np.ndarray, idk: int,
                   sids: list[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(status uint8, curated int16)`` for ``sids`` (default all): the human decision in force, else the
    auto proposal in force, else the original label (the precedence of ``Workspace.curated``)."""
    if sids is not None and len(sids) > _IN_LIMIT:
        status, curated = decision_state(con, labels, idk)
        ix = np.asarray(sids, dtype=np.int64)
        return status[ix], curated[ix]
    if sids is None:
        rows = con.execute(_EFFECTIVE_SQL.format(where="")).fetchall()
        pos = np.arange(len(labels))
        base = labels
    else:
        marks = ",".join("?" * len(sids))
        rows = con.execute(_EFFECTIVE_SQL.format(where=f"AND sid IN ({marks})"), sids).fetchall()
        pos = {s: i for i, s in enumerate(sids)}
        base = labels[np.asarray(sids, dtype=np.int64)] if sids else labels[:0]
    status = np.zeros(len(base), np.uint8)
    curated = np.asarray(base, dtype=np.int16).copy()
    for source in ("auto", "human"):
        for sid, src, action, label, _id in rows:
            if src != source:
                continue
            i = pos[sid]
            if action == "idk":
                curated[i], status[i] = idk, (PROPOSED if source == "auto" else IDK)
            elif action == "relabel":
                curated[i], status[i] = label, (PROPOSED if source == "auto" else RELABELLED)
            else:  # keep: an auto keep withdraws a proposal, a human keep confirms the label
                curated[i], status[i] = base[i], (NONE if source == "auto" else KEPT)
    return status, curated


def last_decision_id(con: sqlite3.Connection) -> int:
    return int(con.execute("SELECT COALESCE(MAX(id), 0) FROM decisions").fetchone()[0])


# ---------------------------------------------------------------------------------------------- dependencies
def get_state(request: Request) -> AppState:
    return request.app.state.gz


State = Annotated[AppState, Depends(get_state)]


def get_con(state: State) -> Iterator[sqlite3.Connection]:
    """One SQLite connection per request (connections are not shared between threads)."""
    con = state.ws.connection()
    try:
        yield con
    finally:
        con.close()


Con = Annotated[sqlite3.Connection, Depends(get_con)]


def require_token(state: State, x_greyzone_token: Annotated[str | None, Header()] = None) -> None:
    """Every write needs the per-launch token that the served page carries (another site cannot read it)."""
    given = (x_greyzone_token or "").encode()
    if not given or not secrets.compare_digest(given, state.token.encode()):
        raise HTTPException(403, "missing or wrong X-Greyzone-Token header (reload the review page)")
