"""The review app (``greyzone review``): embedding map beside the images, keyboard decisions, export.

``create_app(workspace, token=...)`` builds the FastAPI app (one router per resource, see ``routers/``);
``serve(path, host=..., port=...)`` opens a workspace and runs it under uvicorn. The front end is plain ES
modules in ``static/`` plus the plotly.js bundle that the ``plotly`` wheel ships; nothing comes from a CDN.
"""

from __future__ import annotations

from greyzone.app.server import create_app, serve

__all__ = ["create_app", "serve"]
