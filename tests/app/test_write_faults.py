"""Decision writes under faults: a retried POST (same request id) is stored once; a read-only or damaged
database answers 503 JSON saying nothing was saved, never a 500."""

from __future__ import annotations

import sqlite3
import threading

import pytest
from fastapi.testclient import TestClient

from greyzone.errors import ParameterError

from .conftest import TOKEN


def human_rows(ws) -> list[dict]:
    d = ws.decisions.history()
    return d[d.source == "human"].sort_values("id").to_dict("records")


def test_a_retried_decision_is_stored_once(client, ws, auth):
    body = {"sids": [3, 4], "action": "relabel", "label": 7, "request_id": "a1b2c3d4e5f6-retry"}
    first = client.post("/api/decisions", json=body, headers=auth)
    again = client.post("/api/decisions", json=body, headers=auth)  # the answer to the first was "lost"
    assert first.status_code == again.status_code == 200
    assert again.json()["ids"] == first.json()["ids"] and again.json()["state"] == first.json()["state"]
    assert [(r["sid"], r["label"]) for r in human_rows(ws)] == [(3, 7), (4, 7)]
    other = client.post("/api/decisions", json={**body, "label": 8}, headers=auth)  # the id reused
    assert other.status_code == 409 and "already used" in other.json()["detail"]
    fresh = client.post("/api/decisions", json={**body, "request_id": "another-id-123"}, headers=auth)
    assert fresh.status_code == 200 and len(human_rows(ws)) == 4


def test_concurrent_retries_store_one_decision(client, ws, auth):
    body = {"sids": [9], "action": "idk", "request_id": "same-action-42"}
    answers = []
    threads = [threading.Thread(target=lambda: answers.append(client.post("/api/decisions", json=body,
                                                                          headers=auth)))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {r.status_code for r in answers} == {200} and len({tuple(r.json()["ids"]) for r in answers}) == 1
    assert len(human_rows(ws)) == 1


def test_a_retried_undo_undoes_once(client, ws, auth):
    client.post("/api/decisions", json={"sids": [5], "action": "idk"}, headers=auth)
    client.post("/api/decisions", json={"sids": [5], "action": "keep"}, headers=auth)
    body = {"sids": [5], "request_id": "undo-once-0001"}
    first = client.post("/api/undo", json=body, headers=auth).json()
    again = client.post("/api/undo", json=body, headers=auth).json()
    assert again["undone"] == first["undone"] and first["undone"][0] is not None
    assert again["state"]["status"] == [3]  # the keep is undone, the IDK before it is still in force
    assert [r["action"] for r in human_rows(ws)] == ["idk", "keep", "undo"]


@pytest.mark.parametrize("bad", ["short", "has space in it", "x" * 65, "semi;colon;id"])
def test_request_ids_are_checked(client, auth, bad):
    r = client.post("/api/decisions", json={"sids": [1], "action": "idk", "request_id": bad}, headers=auth)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "request_id"]


def test_a_read_only_database_answers_503(client, ws, auth, monkeypatch):
    import greyzone.store.db as db

    connect = db.connect

    def read_only(path):  # what a read-only file gives SQLite (root would ignore chmod)
        con = connect(path)
        con.execute("PRAGMA query_only = ON")
        return con

    monkeypatch.setattr(db, "connect", read_only)
    ws.db.close()  # every thread reconnects through read_only
    r = client.post("/api/decisions", json={"sids": [1], "action": "idk"}, headers=auth)
    assert r.status_code == 503
    detail = r.json()["detail"]
    assert "read-only" in detail and "nothing was saved" in detail and str(ws.layout.db) in detail
    assert client.post("/api/undo", json={"sids": [1]}, headers=auth).status_code == 503
    monkeypatch.setattr(db, "connect", connect)
    ws.db.close()
    assert human_rows(ws) == []


def test_a_damaged_decisions_table_answers_503_not_500(workspace_path, auth):
    """A database damaged while the app runs (opening a damaged one is refused earlier, by quick_check)."""
    from greyzone.app.server import create_app
    from greyzone.errors import WorkspaceError
    from greyzone.store.workspace import Workspace

    with sqlite3.connect(workspace_path / "greyzone.sqlite") as con:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = con.execute("PRAGMA page_size").fetchone()[0]
        root = con.execute("SELECT rootpage FROM sqlite_master WHERE name = 'decisions'").fetchone()[0]
    con.close()
    ws = Workspace.open(workspace_path)
    try:
        with TestClient(create_app(ws, token=TOKEN), base_url="http://127.0.0.1",
                        raise_server_exceptions=False) as c:
            with open(workspace_path / "greyzone.sqlite", "r+b") as f:  # overwrite the table's root page
                f.seek((root - 1) * page_size)
                f.write(b"\xa5" * page_size)
            r = c.post("/api/decisions", json={"sids": [1], "action": "idk"}, headers=auth)
            assert r.status_code == 503, r.text
            assert "cannot be used" in r.json()["detail"] and "nothing was saved" in r.json()["detail"]
            r = c.get("/api/state")
            assert r.status_code == 503 and "cannot be used" in r.json()["detail"]
    finally:
        ws.close()
    with pytest.raises(WorkspaceError, match="damaged"):  # and the next open refuses it
        Workspace.open(workspace_path)


def test_the_decision_log_replays_a_request_id(ws):
    """The store side, without HTTP: same id and content → the first ids and no new rows; undo likewise."""
    log = ws.decisions
    first = log.append([1, 2], "idk", source="human", author="ada", request_id="req-00000001")
    assert log.append([1, 2], "idk", source="human", author="ada", request_id="req-00000001") == first
    with pytest.raises(ParameterError, match="already used"):
        log.append([1, 2], "keep", source="human", author="ada", request_id="req-00000001")
    undone = log.undo([1], author="ada", request_id="req-00000002")
    assert log.undo([1], author="ada", request_id="req-00000002") == undone
    assert [r["action"] for r in human_rows(ws)] == ["idk", "idk", "undo"]
    assert ws.db.con.execute("SELECT COUNT(*) FROM requests").fetchone()[0] == 2
