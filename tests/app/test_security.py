"""Who may use the review app: loopback vs beyond loopback (token → HttpOnly cookie), Host names, the Origin
of writes, and 422 answers that do not echo the request back."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import httpx
import pytest
from fastapi.testclient import TestClient

from .conftest import TOKEN

LAN = "http://192.0.2.7:8765"  # an address beyond loopback (TEST-NET-1; the TestClient sends no traffic)
COOKIE = "greyzone-token-8765"


@pytest.fixture
def exposed(ws):
    """The app as ``greyzone review --host 0.0.0.0 --allow-host review.example`` builds it."""
    from greyzone.app.server import create_app

    app = create_app(ws, token=TOKEN, author="tester", login=True, allowed_hosts=["review.example"])
    with TestClient(app, base_url=LAN, follow_redirects=False) as c:
        yield c


def test_beyond_loopback_nothing_is_served_without_the_token(exposed):
    for path in ("/", "/api/meta", "/api/columns", "/api/thumb/1", "/static/js/main.js", "/api/decisions"):
        r = exposed.get(path)
        assert r.status_code == 403, path
        assert TOKEN not in r.text and "?token=" in r.text, path
    assert exposed.get("/?token=wrong-token-0123456789").status_code == 403
    r = exposed.post("/api/decisions", json={"sids": [1], "action": "idk"})
    assert r.status_code == 403


def test_the_token_url_sets_an_httponly_strict_cookie_and_drops_the_token(exposed):
    r = exposed.get(f"/?token={TOKEN}")
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}={TOKEN};")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    page = exposed.get("/")  # the client now holds the cookie
    assert page.status_code == 200 and f'content="{TOKEN}"' in page.text
    assert exposed.get("/api/meta").status_code == 200
    r = exposed.post("/api/decisions", json={"sids": [1], "action": "idk"})
    assert r.status_code == 403  # the cookie alone does not write: the page's header is needed too
    r = exposed.post("/api/decisions", json={"sids": [1], "action": "idk"},
                     headers={"X-Greyzone-Token": TOKEN})
    assert r.status_code == 200


def test_the_header_alone_also_authenticates_a_script(exposed):
    assert exposed.get("/api/meta", headers={"X-Greyzone-Token": TOKEN}).status_code == 200


def test_beyond_loopback_host_names_must_be_allowed(exposed):
    def get(host):
        exposed.cookies.clear()
        return exposed.get(f"/?token={TOKEN}", headers={"Host": host})

    r = get("evil.example:8765")  # DNS rebinding: refused even with the token
    assert r.status_code == 403 and "--allow-host evil.example" in r.text and TOKEN not in r.text
    assert get("review.example:8765").status_code == 303  # --allow-host
    assert get("REVIEW.example").status_code == 303  # names are case-insensitive
    assert get("192.0.2.7:8765").status_code == 303  # an IP address cannot be rebound
    assert get("[2001:db8::1]:8765").status_code == 303
    assert get("localhost:8765").status_code == 303


def test_writes_from_another_origin_are_refused(exposed, client, auth):
    exposed.get(f"/?token={TOKEN}")
    body = {"sids": [1], "action": "idk"}
    for c, origin in ((exposed, LAN), (client, "http://127.0.0.1")):
        hdr = {"X-Greyzone-Token": TOKEN}
        r = c.post("/api/decisions", json=body, headers={**hdr, "Origin": "http://evil.example"})
        assert r.status_code == 403 and "cross-origin" in r.json()["detail"]
        r = c.post("/api/decisions", json=body, headers={**hdr, "Origin": "null"})
        assert r.status_code == 403
        assert c.post("/api/decisions", json=body, headers={**hdr, "Origin": origin}).status_code == 200


def test_on_loopback_the_page_is_served_as_before(client):
    r = client.get("/")
    assert r.status_code == 200 and f'content="{TOKEN}"' in r.text and "set-cookie" not in r.headers
    assert client.get("/", headers={"Host": "192.0.2.7:8765"}).status_code == 403  # loopback names only


def test_an_https_proxy_origin_for_the_same_host_may_write(exposed):
    hdr = {"X-Greyzone-Token": TOKEN, "Host": "review.example", "Origin": "https://review.example"}
    body = {"sids": [2], "action": "keep"}
    assert exposed.post("/api/decisions", json=body, headers=hdr).status_code == 200
    for other in ("https://review.example:8443", "https://evil.example", "http://review.example.evil.example"):
        hdr["Origin"] = other
        assert exposed.post("/api/decisions", json=body, headers=hdr).status_code == 403, other


def test_validation_errors_do_not_echo_the_request(client, auth):
    big = "x" * 2_000_000
    r = client.post("/api/decisions", json={"sids": [1], "action": "idk", "reason": big}, headers=auth)
    assert r.status_code == 422
    assert len(r.content) < 2000 and "xxxxxxxxxx" not in r.text
    assert r.json()["detail"][0]["loc"] == ["body", "reason"]
    r = client.post("/api/decisions", json={"sids": ["a"] * 5000, "action": "idk"}, headers=auth)
    assert r.status_code == 422 and len(r.json()["detail"]) == 20 and r.json()["more_errors"] == 4980
    assert "input" not in r.json()["detail"][0]


def test_review_beyond_loopback_prints_a_token_url(workspace_path):
    """``greyzone review --host 0.0.0.0`` as a process: the printed URL logs a browser in."""
    cmd = [sys.executable, "-m", "greyzone.cli", "review", "-w", str(workspace_path), "--host", "0.0.0.0",
           "--port", "0", "--allow-host", "review.example"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        line = proc.stdout.readline()
        m = re.search(r"http://\S+:(\d+)/\?token=(\S+)", line)
        assert m, line
        port, token = m.groups()
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=30) as http:
            assert http.get("/").status_code == 403
            assert http.get("/", headers={"Host": "evil.example"}).status_code == 403
            r = http.get(f"/?token={token}", follow_redirects=True)
            assert r.status_code == 200 and 'name="greyzone-token"' in r.text
            assert http.get("/api/meta").status_code == 200
    finally:
        proc.kill()
        proc.wait(10)
    assert "reachable beyond this machine" in proc.stderr.read()
