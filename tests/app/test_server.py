"""``greyzone review`` as a real process: prints the URL, serves the page, and a SIGKILL loses no decision
that was acknowledged."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import httpx
import pytest

from greyzone.store.workspace import Workspace


@pytest.fixture
def review_process(workspace_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "greyzone.cli", "review", "--workspace", str(workspace_path), "--port", "0",
           "--author", "ada"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def test_review_prints_the_url_and_a_kill_loses_no_acknowledged_decision(review_process, workspace_path):
    line = review_process.stdout.readline()
    m = re.search(r"(http://127\.0\.0\.1:(\d+)/)", line)
    assert m, f"no URL in {line!r}; stderr: {review_process.stderr.read() if review_process.poll() else ''}"
    url = m.group(1)
    with httpx.Client(base_url=url, timeout=30) as http:
        page = http.get("/").text
        token = re.search(r'name="greyzone-token" content="([^"]+)"', page).group(1)
        assert http.post("/api/decisions", json={"sids": [1], "action": "idk"}).status_code == 403
        acked = []
        for sid in range(40):
            r = http.post("/api/decisions", json={"sids": [sid], "action": "idk" if sid % 2 else "keep"},
                          headers={"X-Greyzone-Token": token})
            assert r.status_code == 200
            acked += r.json()["ids"]
    review_process.send_signal(signal.SIGKILL)  # no shutdown, no checkpoint
    review_process.wait(10)
    ws = Workspace.open(workspace_path)
    try:
        d = ws.decisions.history()
        human = d[d.source == "human"]
        assert sorted(human.id) == sorted(acked)
        assert set(human.author) == {"ada"}
    finally:
        ws.close()


def test_a_second_launch_gets_another_token(workspace_path):
    from greyzone.app.server import create_app

    ws = Workspace.open(workspace_path)
    try:
        from fastapi.testclient import TestClient

        a = TestClient(create_app(ws, token="a" * 20), base_url="http://127.0.0.1")
        assert a.post("/api/decisions", json={"sids": [1], "action": "idk"},
                      headers={"X-Greyzone-Token": "b" * 20}).status_code == 403
    finally:
        ws.close()


def test_serve_refuses_a_busy_port(workspace_path):
    import socket

    from greyzone.app.server import _bind
    from greyzone.errors import GreyzoneError

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        with pytest.raises(GreyzoneError, match="--port 0"):
            _bind("127.0.0.1", s.getsockname()[1])
