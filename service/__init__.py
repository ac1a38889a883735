"""The HTTP service: Flask app factory over the matcher core. Importing this module does no work."""

from __future__ import annotations

import logging
import os
import threading
import time

from flask import Flask, jsonify

from matcher import PartnerMatcher, Settings
from service.json_provider import OrjsonProvider

__all__ = ["create_app"]

log = logging.getLogger("service")

DEFAULTS = {
    "MAX_CONTENT_LENGTH": 1024 * 1024,  # 1 MiB: far above any brief; larger bodies get a 413
    "LOAD_IN_BACKGROUND": True,  # serve /healthz at once; /readyz says 503 until the index is loaded
}


def create_app(config: dict | None = None) -> Flask:
    """Build the app. ``config`` may hold Flask settings plus:

    - ``SETTINGS``: a ``matcher.Settings`` (default: read from ``PM_*`` environment variables, here and only here);
    - ``MATCHER``: a ready ``PartnerMatcher`` (tests pass one built with a fake embedder);
    - ``LOAD_IN_BACKGROUND``: load or build the index in a thread (default) or before returning.
    """
    app = Flask(__name__)
    app.json = OrjsonProvider(app)
    app.config.update(DEFAULTS)
    app.config.update(config or {})
    app.json.sort_keys = False

    from service.api import bp
    from service.errors import error_response, register_error_handlers
    from service.openapi import bp as docs_bp
    from service.openapi import documented
    from service.pages import bp as pages_bp
    from service.shortlists import bp as shortlists_bp
    from service.writes import bp as writes_bp

    register_error_handlers(app)
    app.register_blueprint(bp)
    app.register_blueprint(writes_bp)
    app.register_blueprint(shortlists_bp)
    app.register_blueprint(docs_bp)
    app.register_blueprint(pages_bp)


    matcher: PartnerMatcher | None = app.config.get("MATCHER")
    if matcher is None:
        settings = app.config.get("SETTINGS") or Settings.from_env()
        matcher = PartnerMatcher(settings).open()
    app.extensions["partner_matcher"] = matcher
    app.config.setdefault("API_KEYS", list(matcher.settings.api_keys))
    # Operations settings, read from the environment here at the door when the caller did not pass them.
    app.config.setdefault("RATE_LIMIT", os.environ.get("PM_RATE_LIMIT", "300 per minute"))
    app.config.setdefault("CORS_ORIGINS", [o.strip() for o in os.environ.get("PM_CORS_ORIGINS", "").split(",") if o.strip()])
    if os.environ.get("PM_LOG_JSON") == "1":
        from service.observability import configure_json_logging

        configure_json_logging(os.environ.get("PM_LOG_LEVEL", "INFO").upper())
    # Ready means able to answer quickly: the index is loaded and the model has encoded one query.
    state = app.extensions["partner_matcher_state"] = {"error": None, "ready": matcher.ready}

    @app.get("/healthz")
    @documented(summary="Liveness: the process is up", response={"type": "object"}, tags=("health",))
    def healthz():
        return jsonify({"status": "ok"})

    @app.get("/readyz")
    @documented(summary="Readiness: 200 once the index is loaded and the model warm", response={"type": "object"},
                errors=(503,), tags=("health",))
    def readyz():
        if state["ready"] and matcher.ready:
            # The worker's process id: behind gunicorn, tells which worker answered (each loads its own index).
            return jsonify({"status": "ready", "organisations": len(matcher.index_), "worker": os.getpid()})
        if state["error"]:
            return error_response(503, "index_failed", f"the partner index could not be loaded: {state['error']}")
        return error_response(503, "index_not_ready", "the partner index is loading; retry in a few seconds")

    from service.observability import register as register_observability

    register_observability(app, matcher)

    if not matcher.ready:
        def load() -> None:
            try:
                started = time.perf_counter()
                matcher.ensure_index()
                matcher.warm_up()
                matcher.shortlists.resume()  # jobs a restart cut off: fail the abandoned, run the queued
                app.extensions["pm_metrics"]["load_seconds"].set(time.perf_counter() - started)
                state["ready"] = True
            except Exception as e:  # kept for /readyz, so an operator sees why the service is not ready
                log.exception("the partner index could not be loaded")
                state["error"] = f"{type(e).__name__}: {e}"

        if app.config["LOAD_IN_BACKGROUND"]:
            threading.Thread(target=load, name="index-loader", daemon=True).start()
        else:
            load()
    return app

