"""App factory and server: ``create_app(workspace, token=...)`` and ``serve(path, host=..., port=...)``.

Security model: see :mod:`greyzone.app.security` (loopback: the page carries the token that every write
needs; beyond loopback: nothing is served without the token, exchanged for an HttpOnly cookie). Static files
come from a fixed allowlist read (and gzip-compressed) once at startup; no path is ever built from a request.
Errors: a validation error (422) names the field and the problem but never echoes the request back; a
damaged, read-only or locked database answers 503 with what happened, never a bare 500.
"""

from __future__ import annotations

import gzip
import hashlib
import html
import mimetypes
import secrets
import socket
import sqlite3
import sys
import threading
from importlib import resources
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse

from greyzone._version import __version__
from greyzone.app.routers import decisions, export, images, samples
from greyzone.app.security import Guard, is_loopback
from greyzone.app.state import database_problem, load_state
from greyzone.errors import GreyzoneError
from greyzone.store.workspace import Workspace

CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; "
       "base-uri 'none'; form-action 'none'")
MAX_ERRORS = 20  # validation errors listed in one 422 answer


def static_files() -> dict[str, tuple[bytes, str]]:
    """The allowlist: every file under ``greyzone/app/static`` by relative POSIX path, read once."""
    root = resources.files("greyzone.app") / "static"
    out: dict[str, tuple[bytes, str]] = {}

    def walk(node, prefix: str) -> None:
        for child in node.iterdir():
            name = f"{prefix}{child.name}"
            if child.is_dir():
                walk(child, name + "/")
            elif not child.name.startswith("."):
                kind = mimetypes.guess_type(child.name)[0] or "application/octet-stream"
                if child.name.endswith(".js"):
                    kind = "text/javascript"
                out[name] = (child.read_bytes(), kind)

    walk(root, "")
    return out


class Asset:
    """A response body that never changes while the server runs: its ETag and its gzip form, both made once
    (level 1 for the 5.7 MB columns of 70,000 samples: 86 ms, 29 % of the size; level 6 took 3× as long for
    28 %). A body over 8 MB (the columns of a million samples: 1.3 s) is compressed on a background thread
    so that the server starts without waiting for it; a gzip request that comes first waits for it."""

    BACKGROUND = 8 << 20

    def __init__(self, data: bytes, kind: str, *, cache: str = "no-cache", level: int = 9) -> None:
        self.data, self.kind, self.cache, self.level = data, kind, cache, level
        self.etag = f'"{hashlib.sha256(data).hexdigest()[:16]}"'
        self._gz: bytes | None = None
        self._done = threading.Event()
        if len(data) > self.BACKGROUND:
            threading.Thread(target=self._compress, name="gzip-asset", daemon=True).start()
        else:
            self._compress()

    def _compress(self) -> None:
        data = self.data
        self._gz = gzip.compress(data, compresslevel=self.level, mtime=0) if len(data) > 1024 else data
        self._done.set()

    @property
    def gz(self) -> bytes:
        self._done.wait()
        return self._gz

    def response(self, request: Request) -> Response:
        headers = {"ETag": self.etag, "Cache-Control": self.cache, "Vary": "Accept-Encoding"}
        if request.headers.get("if-none-match") == self.etag:
            return Response(status_code=304, headers=headers)
        if "gzip" in request.headers.get("accept-encoding", "") and len(self.data) > 1024:
            return Response(self.gz, media_type=self.kind, headers={**headers, "Content-Encoding": "gzip"})
        return Response(self.data, media_type=self.kind, headers=headers)


def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 with each error's location, type and message, without the offending input (it may be 16 MB)."""
    errors = exc.errors()
    detail = [{"loc": list(e.get("loc", ())), "type": e.get("type"), "msg": str(e.get("msg"))[:300]}
              for e in errors[:MAX_ERRORS]]
    body: dict = {"detail": detail}
    if len(errors) > MAX_ERRORS:
        body["more_errors"] = len(errors) - MAX_ERRORS
    return JSONResponse(body, status_code=422)


def create_app(workspace: Workspace, *, token: str, author: str | None = None, login: bool = False,
               allowed_hosts: list[str] | None = None) -> FastAPI:
    """The review app for an open workspace. ``token`` guards every write; ``login`` (for an app bound beyond
    loopback) makes every request need it (see :mod:`greyzone.app.security`); ``allowed_hosts``: Host names
    accepted besides loopback names and IP addresses."""
    if len(token) < 16:
        raise ValueError(f"token must be at least 16 characters, got {len(token)}")
    state = load_state(workspace, token=token, author=author)
    app = FastAPI(title="greyzone review", version=__version__, docs_url=None, redoc_url=None,
                  openapi_url="/api/openapi.json")
    app.state.gz = state
    app.state.thumb = images.thumbnail_cache(state)
    app.state.columns = Asset(state.columns_blob, "application/octet-stream", level=1)
    app.state.points = Asset(state.points_blob, "application/octet-stream", level=1)
    state.meta = samples.workspace_meta(state)
    try:
        decisions.state_blob_now(state)  # the first page load finds it ready
    except sqlite3.Error:
        pass  # a damaged log: /api/state and every write answer 503 saying so
    for router in (samples.router, images.router, decisions.router, export.router):
        app.include_router(router)
    app.add_exception_handler(RequestValidationError, _validation_error)

    @app.exception_handler(sqlite3.Error)
    def _database_error(_request: Request, e: sqlite3.Error) -> JSONResponse:
        return JSONResponse({"detail": database_problem(workspace, e)}, status_code=503)

    app.add_middleware(Guard, token=token, login=login, allowed_hosts=allowed_hosts)

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response

    files = static_files()
    page = files.pop("index.html")[0].decode()
    page = (page.replace("{{TOKEN}}", html.escape(token)).replace("{{VERSION}}", state.version)
            .replace("{{TITLE}}", html.escape(f"greyzone · {workspace.dataset} · {workspace.path.name}")))
    assets = {name: Asset(data, kind) for name, (data, kind) in files.items()}

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> HTMLResponse:
        return HTMLResponse(page, headers={"Cache-Control": "no-store"})

    @app.get("/static/{name:path}", include_in_schema=False)
    def static(name: str, request: Request) -> Response:
        if name not in assets:
            raise HTTPException(404, "no such static file")
        return assets[name].response(request)

    return app


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise GreyzoneError(f"cannot listen on {host}:{port} ({e.strerror}); pass --port 0 to pick a free "
                            f"port") from e
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def serve(workspace: Path, *, host: str = "127.0.0.1", port: int = 8765, author: str | None = None,
          allow_hosts: list[str] | None = None) -> None:
    """Open ``workspace``, print the URL and serve the review app until Ctrl+C (opens no browser).

    Beyond loopback the printed URL carries the token (the only way in) and ``allow_hosts`` names the Host
    names accepted besides IP addresses and loopback names (the machine's own name is added)."""
    import uvicorn

    login = not is_loopback(host)
    shown = host
    hosts = list(allow_hosts or [])
    if login and host in ("0.0.0.0", "::"):
        shown = socket.gethostname()
        hosts.append(shown)
    elif login:
        hosts.append(host)
    ws = Workspace.open(workspace)
    token = secrets.token_urlsafe(24)
    app = create_app(ws, token=token, author=author, login=login, allowed_hosts=hosts)
    sock = _bind(host, port)
    shown = f"[{shown}]" if ":" in shown else shown
    url = f"http://{shown}:{sock.getsockname()[1]}/" + (f"?token={token}" if login else "")
    print(f"greyzone review: {url}  (Ctrl+C to stop)", flush=True)
    config = uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=5)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
        ws.close()
        print("greyzone review: stopped", file=sys.stderr, flush=True)
