"""Fixtures for the review app: a small real-MNIST workspace (session-scoped), per-test copies, a live server.

The workspace comes from the real pipeline on the first 300 samples of each split (2 folds, 1 epoch, no UMAP,
no export); tests that write decisions get their own copy.
"""

from __future__ import annotations

import shutil
import socket
import sqlite3
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from greyzone.store.workspace import Workspace

LIMIT = 300
TOKEN = "test-token-0123456789"


# ---------------------------------------------------------------------------------------------- builders
def build_real_workspace(path: Path, *, limit: int = LIMIT) -> None:
    from greyzone.config import RunConfig, TrainConfig
    from greyzone.pipeline import run_pipeline

    cfg = RunConfig(workspace=str(path), limit=limit, folds=2, train=TrainConfig(epochs=1), umap=False,
                    export=False)
    run_pipeline(cfg, progress=False).close()


def copy_workspace(src: Path, dest: Path) -> Path:
    """Copy a closed workspace; the database goes through SQLite's backup API (safe with WAL)."""
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("greyzone.sqlite*", "export"))
    with sqlite3.connect(src / "greyzone.sqlite") as a, sqlite3.connect(dest / "greyzone.sqlite") as b:
        a.backup(b)
    a.close()
    b.close()
    return dest


#: Planted duplicates (sid pairs; the fixture has 300 train then 300 test samples): an exact copy of train
#: sample 0 in test (a train/test leak) and of train sample 1 further on in train (a duplicate, no leak).
LEAK = (0, LIMIT + 4)
TRAIN_DUP = (1, 7)


def plant_duplicates(ws: Workspace) -> None:
    """Copy the pixels of each pair's first sample onto its second and recompute ``duplicate_of`` and
    ``cross_split_duplicate`` with greyzone's own search (pixels and the run's embeddings), as
    ``greyzone run`` does."""
    from greyzone.scores.duplicates import find_duplicates

    images = np.array(ws.images())
    for src, dest in (LEAK, TRAIN_DUP):
        images[dest] = images[src]
    ws.arrays.save("images", images)
    scores = ws.scores()
    dups = find_duplicates(ws.arrays.load("embeddings", mmap=False), images=images)
    scores["duplicate_of"], scores["cross_split_duplicate"] = dups.columns(scores.split.to_numpy(),
                                                                           scores["index"].to_numpy())
    ws.write_scores(scores)


# ---------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def base_workspace(tmp_path_factory) -> Path:
    """A read-only template workspace; tests that write decisions use ``workspace_path`` (a copy)."""
    path = tmp_path_factory.mktemp("gz-base") / "ws"
    build_real_workspace(path)
    return path


@pytest.fixture
def workspace_path(base_workspace, tmp_path) -> Path:
    return copy_workspace(base_workspace, tmp_path / "ws")


@pytest.fixture
def dup_ws(workspace_path):
    """A workspace copy with planted duplicates (:func:`plant_duplicates`)."""
    w = Workspace.open(workspace_path)
    plant_duplicates(w)
    yield w
    w.close()


@pytest.fixture
def ws(workspace_path):
    w = Workspace.open(workspace_path)
    yield w
    w.close()


@pytest.fixture
def app(ws):
    from greyzone.app.server import create_app

    return create_app(ws, token=TOKEN, author="tester")


@pytest.fixture
def client(app):
    from fastapi.testclient import TestClient

    with TestClient(app, base_url="http://127.0.0.1") as c:
        yield c


@pytest.fixture
def auth() -> dict[str, str]:
    return {"X-Greyzone-Token": TOKEN}


# ---------------------------------------------------------------------------------------------- live server
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """uvicorn in a background thread on 127.0.0.1 (the same app ``greyzone review`` serves; ``login``: as it
    serves beyond loopback, token needed)."""

    def __init__(self, ws: Workspace, token: str, *, login: bool = False) -> None:
        import uvicorn

        from greyzone.app.server import create_app

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.token = token
        app = create_app(ws, token=token, author="tester", login=login)
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def live_server(ws):
    with LiveServer(ws, TOKEN) as server:
        yield server
