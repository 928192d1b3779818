"""The review app (``greyzone review``): embedding map beside the images, keyboard decisions, export.

``create_app(workspace, token=...)`` builds the FastAPI app (one router per resource, see ``routers/``);
``serve(path, host=..., port=...)`` opens a workspace and runs it under uvicorn. The front end is plain ES
modules in ``static/`` (the map is drawn by its own small canvas scatter, ``static/js/scatter.js``); nothing
comes from a CDN and there is no build step. Who may use it: :mod:`greyzone.app.security`.
"""

from __future__ import annotations

from greyzone.app.server import create_app, serve

__all__ = ["create_app", "serve"]
