"""Duplicates and train/test leaks in the review app's API, on a small real-MNIST workspace with planted exact
duplicates (see ``conftest.plant_duplicates``)."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from greyzone.app.columnar import decode
from greyzone.app.server import create_app
from greyzone.errors import WorkspaceError

from .conftest import LEAK, TOKEN, TRAIN_DUP


def client_for(ws) -> TestClient:
    return TestClient(create_app(ws, token=TOKEN, author="tester"), base_url="http://127.0.0.1")


def in_groups(scores) -> set[int]:
    """Sids that name a duplicate or are named by one, read from the score table alone."""
    names = scores.split.astype(str) + ":" + scores["index"].astype(str)
    named = set(scores.duplicate_of[scores.duplicate_of != ""])
    return set(scores.sid[(scores.duplicate_of != "") | names.isin(named)].astype(int))


def test_columns_flag_every_duplicate_and_every_leak(dup_ws):
    scores = dup_ws.scores()
    assert scores.duplicate_of[LEAK[1]] == "train:0" and scores.duplicate_of[TRAIN_DUP[1]] == "train:1"
    leaks = set(scores.sid[scores.cross_split_duplicate].astype(int))
    assert set(LEAK) <= leaks and not set(TRAIN_DUP) & leaks  # the planted pairs, as greyzone run finds them
    with client_for(dup_ws) as client:
        header, cols = decode(client.get("/api/columns").content)
    assert "duplicate" in header["flags"] and "cross_split_duplicate" in header["flags"]
    dup = set(np.flatnonzero(cols["duplicate"]).tolist())
    assert dup == in_groups(scores) and set(LEAK) | set(TRAIN_DUP) <= dup  # the earliest of a group counts
    assert set(np.flatnonzero(cols["cross_split_duplicate"]).tolist()) == leaks
    assert len(dup) < len(scores) // 4  # a filter, not everything


def test_sample_detail_links_the_duplicate(dup_ws):
    with client_for(dup_ws) as client:
        later = client.get(f"/api/samples/{LEAK[1]}").json()
        first = client.get(f"/api/samples/{LEAK[0]}").json()
        unique_sid = next(s for s in range(len(dup_ws.samples())) if s not in in_groups(dup_ws.scores()))
        unique = client.get(f"/api/samples/{unique_sid}").json()
    assert later["duplicate_of"] == {"sid": 0, "split": "train", "index": 0,
                                     "label_name": dup_ws.label_name(int(dup_ws.samples().label[0]))}
    assert later["scores"]["cross_split_duplicate"] is True and "duplicate_of" not in later["scores"]
    assert first["duplicate_of"] is None
    assert {"sid": LEAK[1], "split": "test", "index": 4} in [
        {k: r[k] for k in ("sid", "split", "index")} for r in first["duplicates"]]
    assert unique["duplicate_of"] is None and unique["duplicates"] == []


def test_a_workspace_without_duplicate_columns_still_serves(ws):
    scores = ws.scores().drop(columns=["duplicate_of", "cross_split_duplicate"])
    ws.write_scores(scores)
    with client_for(ws) as client:
        header, cols = decode(client.get("/api/columns").content)
        d = client.get("/api/samples/3").json()
    assert "duplicate" not in cols and "duplicate" not in header["flags"]
    assert d["duplicate_of"] is None and d["duplicates"] == []


def test_duplicate_of_naming_no_sample_is_refused(ws):
    scores = ws.scores()
    scores.loc[5, "duplicate_of"] = "train:99999"
    ws.write_scores(scores)
    with pytest.raises(WorkspaceError, match=r"scores\.parquet: duplicate_of names 1 unknown.*train:99999"):
        create_app(ws, token=TOKEN, author="tester")
