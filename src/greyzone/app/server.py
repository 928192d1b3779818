"""App factory and server: ``create_app(workspace, token=...)`` and ``serve(path, host=..., port=...)``.

Security model: the server binds 127.0.0.1 by default and only answers requests whose ``Host`` is the bound
host (no DNS rebinding); each launch draws a random token that is embedded in the served page, and every write
endpoint requires it in ``X-Greyzone-Token`` (another website can neither read the page nor set the header).
Static files come from a fixed allowlist read at startup; no path is ever built from a request.
"""

from __future__ import annotations

import html
import mimetypes
import secrets
import socket
import sys
from importlib import resources
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.responses import HTMLResponse
from starlette.middleware.trustedhost import TrustedHostMiddleware

from greyzone._version import __version__
from greyzone.app.routers import decisions, export, images, samples
from greyzone.app.state import load_state
from greyzone.errors import GreyzoneError
from greyzone.store.workspace import Workspace

LOOPBACK = ("127.0.0.1", "localhost", "::1")
CSP = ("default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data: blob:; connect-src 'self'; worker-src 'self' blob:; frame-ancestors 'none'; "
       "base-uri 'none'; form-action 'none'")


def plotly_js_path() -> Path:
    """plotly.min.js as shipped inside the ``plotly`` Python wheel (never copied into this repository)."""
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise GreyzoneError(f"{path} not found: the installed plotly wheel lacks plotly.min.js; "
                            f"reinstall it with 'pip install --force-reinstall plotly'")
    return path


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


def create_app(workspace: Workspace, *, token: str, author: str | None = None,
               allowed_hosts: list[str] | None = None) -> FastAPI:
    """The review app for an open workspace. ``token`` guards every write; ``allowed_hosts`` defaults to the
    loopback names."""
    if len(token) < 16:
        raise ValueError(f"token must be at least 16 characters, got {len(token)}")
    state = load_state(workspace, token=token, author=author)
    app = FastAPI(title="greyzone review", version=__version__, docs_url=None, redoc_url=None,
                  openapi_url="/api/openapi.json")
    app.state.gz = state
    app.state.thumb = images.thumbnail_cache(state)
    for router in (samples.router, images.router, decisions.router, export.router):
        app.include_router(router)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts or [*LOOPBACK, "[::1]"])

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
    etags = {name: f'"{state.version}-{hash(data) & 0xFFFFFFFF:x}"' for name, (data, _) in files.items()}
    plotly_path = plotly_js_path()

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> HTMLResponse:
        return HTMLResponse(page, headers={"Cache-Control": "no-store"})

    @app.get("/static/{name:path}", include_in_schema=False)
    def static(name: str, request: Request) -> Response:
        if name not in files:
            raise HTTPException(404, "no such static file")
        data, kind = files[name]
        headers = {"ETag": etags[name], "Cache-Control": "no-cache"}
        if request.headers.get("if-none-match") == etags[name]:
            return Response(status_code=304, headers=headers)
        return Response(data, media_type=kind, headers=headers)

    plotly_bytes = plotly_path.read_bytes()  # 4.8 MB, sent in one piece (faster than streaming the file)
    plotly_etag = f'"plotly-{hash(plotly_bytes) & 0xFFFFFFFF:x}"'

    @app.get("/vendor/plotly.min.js", include_in_schema=False)
    def plotly_js(request: Request) -> Response:
        headers = {"Cache-Control": "public, max-age=604800", "ETag": plotly_etag}
        if request.headers.get("if-none-match") == plotly_etag:
            return Response(status_code=304, headers=headers)
        return Response(plotly_bytes, media_type="text/javascript", headers=headers)

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


def serve(workspace: Path, *, host: str = "127.0.0.1", port: int = 8765, author: str | None = None) -> None:
    """Open ``workspace``, print the URL and serve the review app until Ctrl+C (opens no browser)."""
    import uvicorn

    ws = Workspace.open(workspace)
    hosts = None if host in LOOPBACK else (["*"] if host in ("0.0.0.0", "::") else [host, *LOOPBACK])
    app = create_app(ws, token=secrets.token_urlsafe(24), author=author, allowed_hosts=hosts)
    sock = _bind(host, port)
    shown = f"[{host}]" if ":" in host else host
    print(f"greyzone review: http://{shown}:{sock.getsockname()[1]}/  (Ctrl+C to stop)", flush=True)
    config = uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=5)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
        ws.close()
        print("greyzone review: stopped", file=sys.stderr, flush=True)
