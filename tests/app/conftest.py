"""Fixtures for the review app: a small real-MNIST workspace (session-scoped), per-test copies, a live server.

The workspace comes from the real pipeline (``greyzone.run`` on the first 300 samples of each split, 2 folds,
1 epoch, no UMAP). ``build_synthetic_workspace`` makes a workspace with real MNIST pixels and cheap stand-in
scores (nearest-centroid probabilities, random-projection embeddings); the benchmark can use it at full size
when no real full workspace exists (``python tests/app/conftest.py DIR``).
"""

from __future__ import annotations

import shutil
import socket
import sqlite3
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
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


def build_synthetic_workspace(path: Path, *, limit: int | None = LIMIT, seed: int = 0) -> None:
    """Real MNIST pixels, stand-in scores with the columns of ``ws.scores()`` and auto IDK proposals."""
    from greyzone.sources import load_mnist

    rng = np.random.default_rng(seed)
    ws = Workspace.create(path, load_mnist().head(limit))
    s = ws.samples()
    n, c = len(s), len(ws.classes)
    labels = s.label.to_numpy()
    x = ws.images().reshape(n, -1).astype(np.float32) / 255.0
    centroids = np.stack([x[labels == k].mean(0) for k in range(c)])
    d2 = (x ** 2).sum(1, keepdims=True) - 2 * x @ centroids.T + (centroids ** 2).sum(1)
    logits = -d2 / 4.0
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs = (probs / probs.sum(1, keepdims=True)).astype(np.float32)
    emb = np.tanh(x @ rng.normal(0, 0.1, (x.shape[1], 84)).astype(np.float32)).astype(np.float32)
    centred = emb - emb.mean(0)
    _, _, vt = np.linalg.svd(centred[:5000], full_matrices=False)
    pca = (centred @ vt[:2].T).astype(np.float32)
    umap = np.stack([np.sin(pca[:, 0]) * 3 + pca[:, 1], np.cos(pca[:, 1]) * 3 + pca[:, 0]], 1).astype(np.float32)
    for name, arr in (("probs", probs), ("embeddings", emb), ("pca", pca), ("umap", umap)):
        ws.save_array(name, arr)
    p_label = probs[np.arange(n), labels]
    srt = np.sort(probs, 1)
    hardness = -(probs * np.log(np.clip(probs, 1e-12, 1))).sum(1)
    df = pd.DataFrame({
        "sid": s.sid, "split": s.split, "index": s["index"], "label": labels, "pred": probs.argmax(1),
        "confidence": probs.max(1), "p_label": p_label, "margin": p_label - np.where(
            probs.argmax(1) == labels, srt[:, -2], srt[:, -1]),
        "hardness": hardness, "mistakenness": 1 - p_label, "uniqueness": rng.random(n),
        "representativeness": rng.random(n), "knn_agreement": rng.random(n),
        "label_issue": (probs.argmax(1) != labels) & (p_label < 0.2), "label_quality": p_label,
        "suggested_label": probs.argmax(1), "aum": np.where(s.split == "train", rng.normal(0, 1, n), np.nan),
        "cart_confidence": np.where(s.split == "train", p_label, np.nan),
        "cart_variability": np.where(s.split == "train", rng.random(n) * 0.3, np.nan),
        "idk_score": np.clip(1 - p_label + 0.25 * hardness / np.log(c), 0, 1),
        "pca_x": pca[:, 0], "pca_y": pca[:, 1], "umap_x": umap[:, 0], "umap_y": umap[:, 1],
    })
    proposed = np.zeros(n, bool)
    for split in ws.splits:
        ix = np.flatnonzero(s.split == split)
        top = ix[np.argsort(-df.idk_score.to_numpy()[ix])[: max(1, int(0.02 * len(ix)))]]
        proposed[top] = True
    df.insert(df.columns.get_loc("pca_x"), "idk_proposed", proposed)
    ws.write_scores(df)
    ws.decide(np.flatnonzero(proposed), "idk", source="auto", author="greyzone", reason="synthetic proposals")
    ws.close()


def copy_workspace(src: Path, dest: Path) -> Path:
    """Copy a closed workspace; the database goes through SQLite's backup API (safe with WAL)."""
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("greyzone.sqlite*", "export"))
    with sqlite3.connect(src / "greyzone.sqlite") as a, sqlite3.connect(dest / "greyzone.sqlite") as b:
        a.backup(b)
    a.close()
    b.close()
    return dest


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
    """uvicorn in a background thread on 127.0.0.1 (the same app ``greyzone review`` serves)."""

    def __init__(self, ws: Workspace, token: str) -> None:
        import uvicorn

        from greyzone.app.server import create_app

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.token = token
        config = uvicorn.Config(create_app(ws, token=token, author="tester"), host="127.0.0.1", port=self.port,
                                log_level="warning", lifespan="on")
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


if __name__ == "__main__":  # build a full-size synthetic workspace for benchmarking the app
    out = Path(sys.argv[1])
    build_synthetic_workspace(out, limit=None)
    print(f"synthetic workspace with real MNIST pixels in {out}")
