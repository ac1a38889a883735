"""Cross-origin access: only the origins in ``CORS_ORIGINS`` may call the API from a browser (none by default)."""

from __future__ import annotations

from flask import Flask
from flask_cors import CORS


def init_app(app: Flask) -> None:
    """Allow the configured origins, and let their scripts read the headers the API's clients use."""
    origins = app.config.get("CORS_ORIGINS") or []
    if origins:
        CORS(app, origins=origins, expose_headers=["X-Request-ID", "ETag", "Retry-After", "Link"])
