"""Cross-origin access: only the origins in ``CORS_ORIGINS`` may call the API from a browser (none by default)."""

from __future__ import annotations

from flask import Flask, Response, request
from flask_cors import CORS


def init_app(app: Flask) -> None:
    """Allow the configured origins, and let their scripts read the headers the API's clients use. ``OPTIONS``
    answers 204 with ``Allow`` (and, for an allowed origin, the CORS headers) rather than an empty HTML 200."""
    app.after_request(options_without_content)
    origins = app.config.get("CORS_ORIGINS") or []
    if origins:
        CORS(app, origins=origins, expose_headers=["X-Request-ID", "ETag", "Retry-After", "Link"])


def options_without_content(response: Response) -> Response:
    """Flask's automatic answer to ``OPTIONS`` is a 200 with an empty ``text/html`` body: make it a 204 (no content,
    no content type), keeping its ``Allow`` header and any CORS headers."""
    if request.method == "OPTIONS" and response.status_code == 200 and not response.get_data():
        response.status_code = 204
        response.headers.pop("Content-Type", None)
        response.headers.pop("Content-Length", None)
    return response
