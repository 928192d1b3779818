"""Who may talk to the review app: Host names, the per-launch token, the Origin of writes.

Two modes, chosen by the bound interface:

- **Loopback** (127.0.0.1, ::1, localhost; the default): the page is served to any local client and carries
  the token; every write needs it in ``X-Greyzone-Token`` (another website can neither read the page nor set
  the header).
- **Beyond loopback** (``--host 0.0.0.0`` or a LAN address), as Jupyter does it: nothing is served to a client
  that does not present the token. The URL printed at start carries ``?token=…``; a valid one is exchanged for
  an ``HttpOnly; SameSite=Strict`` cookie and a redirect to the same URL without it, so the token is neither
  kept in the address bar nor readable by scripts. Requests without the cookie (or the header) get a 403 page
  that does not contain the token.

In both modes the ``Host`` header must be a loopback name or a name given with ``--allow-host`` (beyond
loopback also any IP address: a DNS-rebinding attack always presents a DNS name), and a write (any non-GET
request) whose ``Origin`` names another host or port than the request's ``Host`` is refused, even with the
right token (the scheme is not compared, so an HTTPS proxy in front of the app works).
"""

from __future__ import annotations

import ipaddress
import secrets
from urllib.parse import parse_qsl, urlencode, urlsplit

from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

LOOPBACK = ("127.0.0.1", "localhost", "::1")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
TOKEN_HEADER = "x-greyzone-token"


def is_loopback(host: str) -> bool:
    return host.strip("[]") in LOOPBACK


def cookie_name(port: int | None) -> str:
    """One cookie per port (cookies are per host, not per port), as Jupyter names its own."""
    return f"greyzone-token-{port or 0}"


def host_name(host_header: str) -> str:
    """``"Example.org:8765"`` → ``"example.org"``; ``"[::1]:80"`` → ``"::1"``."""
    h = host_header.strip().lower()
    if h.startswith("["):
        return h[1:h.index("]")] if "]" in h else h
    return h.rsplit(":", 1)[0] if h.count(":") == 1 else h


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _same_host(origin: str, host_header: str) -> bool:
    """Does ``Origin`` name the host and port the request was sent to (default ports made explicit)?"""
    parts = urlsplit(origin)
    if not parts.hostname:
        return False  # "null" (a sandboxed frame, a file:// page) and malformed origins
    default = {"http": 80, "https": 443}.get(parts.scheme)
    port = parts.port or default
    host = urlsplit(f"//{host_header.strip()}")
    return parts.hostname == host.hostname and port == (host.port or default)


class Guard:
    """ASGI middleware that applies the rules above before any route runs.

    ``token``: the launch's secret; ``login``: True beyond loopback (the token is needed to see anything);
    ``allowed_hosts``: extra Host names accepted besides loopback names and IP literals.
    """

    def __init__(self, app: ASGIApp, *, token: str, login: bool,
                 allowed_hosts: list[str] | None = None) -> None:
        self.app = app
        self.token = token.encode()
        self.login = login
        self.allowed = {*LOOPBACK, *(h.lower() for h in allowed_hosts or [])}

    def _valid(self, given: str | None) -> bool:
        return bool(given) and secrets.compare_digest(given.encode(), self.token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        host_header = headers.get("host", "")
        name = host_name(host_header)
        if name not in self.allowed and not (self.login and _is_ip(name)):
            response = PlainTextResponse(
                f"Host {name!r} is not allowed: open the review app by IP address or a loopback name, or "
                f"restart it with --allow-host {name}", status_code=403)
            await response(scope, receive, send)
            return
        method = scope["method"]
        origin = headers.get("origin")
        if method not in SAFE_METHODS and origin is not None and not _same_host(origin, host_header):
            response = JSONResponse({"detail": f"cross-origin write refused (Origin {origin!r} is not this "
                                               f"server)"}, status_code=403)
            await response(scope, receive, send)
            return
        if self.login:
            response = self._login(scope, headers)
            if response is not None:
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _login(self, scope: Scope, headers: dict[str, str]):
        """None to let the request through; else the redirect (token exchanged for a cookie) or the 403."""
        port = (scope.get("server") or (None, None))[1]
        cookies = {}
        for part in headers.get("cookie", "").split(";"):
            k, _, v = part.strip().partition("=")
            cookies[k] = v
        if self._valid(cookies.get(cookie_name(port))) or self._valid(headers.get(TOKEN_HEADER)):
            return None
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"))
        if scope["method"] == "GET" and self._valid(dict(query).get("token")):
            rest = urlencode([(k, v) for k, v in query if k != "token"])
            response = RedirectResponse(scope["path"] + (f"?{rest}" if rest else ""), status_code=303)
            response.set_cookie(cookie_name(port), self.token.decode(), httponly=True, samesite="strict",
                                path="/")
            response.headers["Cache-Control"] = "no-store"
            return response
        if scope["path"].startswith("/api/"):
            return JSONResponse({"detail": "this review app needs its token: open the URL with ?token= that "
                                           "'greyzone review' printed"}, status_code=403)
        return PlainTextResponse(
            "greyzone review: this server is reachable beyond this machine, so it needs its token.\n"
            "Open the URL with ?token=… that 'greyzone review' printed when it started.\n", status_code=403,
            headers={"Cache-Control": "no-store"})
