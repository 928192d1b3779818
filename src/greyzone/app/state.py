"""What the app loads once at startup and the request dependencies (state, token). Decisions are read and
written only through the workspace's :class:`~greyzone.store.decisions.DecisionLog`; the app has no SQL."""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
from dataclasses import dataclass, field
from typing import Annotated

import numpy as np
import pandas as pd
from fastapi import Depends, Header, HTTPException, Request

from greyzone.app.columnar import encode, quantise
from greyzone.errors import WorkspaceError
from greyzone.scores.catalog import CATALOG, CLASS_COLUMNS, PROJECTION_COLUMNS
from greyzone.scores.table import Neighbours
from greyzone.store.decisions import default_author
from greyzone.store.workspace import Workspace


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
    neighbours: Neighbours  # the kNN graph behind knn_agreement and uniqueness (same split)
    duplicate_of: np.ndarray  # (N,) int64: the sid named by the score table's duplicate_of, -1 for none
    columns_blob: bytes
    points_blob: bytes
    version: str
    export_lock: threading.Lock = field(default_factory=threading.Lock)
    state_cache: tuple[int, bytes] | None = None  # (newest decision id, encoded decision state)
    meta: dict = field(default_factory=dict)  # /api/meta, made once

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
        raise WorkspaceError(f"{ws.layout.scores}: {len(scores)} score rows do not match the {len(samples)} "
                             f"samples in sid order; re-run 'greyzone run' on this workspace")
    if not all(ws.arrays.has(a) for a in ("knn_indices", "knn_distances")):
        from greyzone.pipeline import save_neighbours

        save_neighbours(ws)  # a workspace made by greyzone 0.1.0 did not store the graph
    stamp = "|".join(f"{p.name}:{p.stat().st_mtime_ns}:{p.stat().st_size}"
                     for p in (ws.layout.scores, ws.arrays.path("images"), ws.arrays.path("probs")))
    version = hashlib.sha256(stamp.encode()).hexdigest()[:12]
    neighbours = Neighbours(ws.arrays.load("knn_indices"), ws.arrays.load("knn_distances"))
    dup_of = duplicate_sids(scores, where=str(ws.layout.scores))
    return AppState(ws=ws, token=token, author=author or default_author(), scores=scores,
                    labels=samples.label.to_numpy(), probs=ws.arrays.load("probs"), images=ws.images(),
                    neighbours=neighbours, duplicate_of=dup_of, columns_blob=columns_blob(scores, dup_of),
                    points_blob=points_blob(scores), version=version)


def duplicate_sids(scores: pd.DataFrame, *, where: str = "the score table") -> np.ndarray:
    """(N,) int64: the sid of each row's ``duplicate_of`` (``"split:index"``), -1 where it is empty or the
    table has no such column (a workspace from before duplicates); a name of no sample is a
    :class:`WorkspaceError`."""
    out = np.full(len(scores), -1, np.int64)
    if "duplicate_of" not in scores.columns:
        return out
    given = scores.duplicate_of.notna().to_numpy()
    names = scores.duplicate_of.to_numpy()[given].astype(str)
    has = np.flatnonzero(given)[names != ""]
    names = names[names != ""]
    if not len(has):
        return out
    # look the named (split, index) up per split in that split's sorted indices, not in a dict of N names
    split_codes, split_names = pd.factorize(scores.split, sort=False)
    index, sids = scores["index"].to_numpy(np.int64), scores.sid.to_numpy(np.int64)
    parts = np.char.partition(names.astype("U"), ":")
    wanted_split, wanted_index = parts[:, 0], parts[:, 2]
    found = np.full(len(names), -1, np.int64)
    for code, split in enumerate(split_names):
        rows = np.flatnonzero(split_codes == code)
        order = np.argsort(index[rows], kind="stable")
        keys, row_sids = index[rows][order], sids[rows][order]
        mine = np.flatnonzero(wanted_split == str(split))
        digits = np.char.isdigit(wanted_index[mine])
        mine, k = mine[digits], wanted_index[mine][digits].astype(np.int64)
        at = np.minimum(np.searchsorted(keys, k), len(keys) - 1)
        hit = keys[at] == k
        found[mine[hit]] = row_sids[at[hit]]
    unknown = names[found < 0]
    if len(unknown):
        raise WorkspaceError(f"{where}: duplicate_of names {len(unknown)} unknown sample(s), e.g. "
                             f"{str(unknown[0])!r}; re-run 'greyzone run' on this workspace")
    out[has] = found
    return out


def in_duplicate_group(dup_of: np.ndarray) -> np.ndarray:
    """(N,) bool: the row names a duplicate, or another row names it (the earliest of its group)."""
    out = dup_of >= 0
    out[dup_of[out]] = True
    return out


def columns_blob(scores: pd.DataFrame, dup_of: np.ndarray | None = None) -> bytes:
    """Every column of the score table as typed arrays (see :mod:`greyzone.app.columnar`), plus the flag
    ``duplicate`` (:func:`in_duplicate_group`) when the table has ``duplicate_of``."""
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
    if "duplicate_of" in scores.columns:
        dup_of = duplicate_sids(scores) if dup_of is None else dup_of
        cols["duplicate"] = in_duplicate_group(dup_of).astype(np.uint8)
        flags.append("duplicate")
    has = {p: bool(f"{p}_x" in cols and np.isfinite(cols[f"{p}_x"]).any()) for p in ("pca", "umap")}
    help_ = {k: {"direction": CATALOG[k].direction, "help": CATALOG[k].help} for k in floats if k in CATALOG}
    return encode(cols, categories=categories, scores=floats, flags=flags, projections=has, score_help=help_)


def points_blob(scores: pd.DataFrame) -> bytes:
    """What the map's first paint needs, nothing more: the map coordinates of each projection that has
    values, quantised to uint16 (:func:`~greyzone.app.columnar.quantise`), and the split as uint8 codes
    (names in ``categories.split``); 5 bytes a point with PCA only. The other columns come from
    :func:`columns_blob` after the map is on screen."""
    cols: dict[str, np.ndarray] = {}
    quantised: dict[str, list[float]] = {}
    has = {}
    for p in ("pca", "umap"):
        xy = [scores[f"{p}_{a}"].to_numpy(np.float32) if f"{p}_{a}" in scores else None for a in "xy"]
        has[p] = xy[0] is not None and xy[1] is not None and bool(np.isfinite(xy[0]).any())
        if has[p]:
            for a, v in zip("xy", xy, strict=True):
                cols[f"{p}_{a}"], lo, step = quantise(v)
                quantised[f"{p}_{a}"] = [lo, step]
    codes, uniques = pd.factorize(scores.split, sort=False)
    cols["split"] = codes.astype(np.uint8 if len(uniques) < 256 else np.int32)
    return encode(cols, quantised=quantised, projections=has,
                  categories={"split": [str(u) for u in uniques]})


def database_problem(ws: Workspace, e: sqlite3.Error, *, outcome: str = "the request failed") -> str:
    """What a failed SQLite call means for the person at the page; ``outcome`` says what was (not) saved."""
    text = str(e)
    if "readonly" in text or "read-only" in text:
        return (f"{ws.layout.db}: the workspace database is read-only ({text}); {outcome}. Make the "
                f"workspace writable and restart 'greyzone review'")
    if "locked" in text or "busy" in text:
        return f"{ws.layout.db}: the database is busy ({text}); {outcome}, try again"
    return (f"{ws.layout.db}: the workspace database cannot be used ({text}); {outcome}. Stop the review app "
            f"and check the workspace (a damaged file needs a backup or a re-run)")


# ---------------------------------------------------------------------------------------------- dependencies
def get_state(request: Request) -> AppState:
    return request.app.state.gz


State = Annotated[AppState, Depends(get_state)]


def require_token(state: State, x_greyzone_token: Annotated[str | None, Header()] = None) -> None:
    """Every write needs the per-launch token that the served page carries (another site cannot read it)."""
    given = (x_greyzone_token or "").encode()
    if not given or not secrets.compare_digest(given, state.token.encode()):
        raise HTTPException(403, "missing or wrong X-Greyzone-Token header (reload the review page)")
