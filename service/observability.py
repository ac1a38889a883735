"""Operations around every request: request ids, JSON logs, Prometheus metrics, rate limits and CORS.

Everything here is configured from ``app.config`` (filled at the door) and registered once by ``create_app``.
Metrics live in a registry per app, so several apps in one process (tests) do not collide.
"""

from __future__ import annotations

import hashlib
import logging
import re
import sys
import time
import uuid

from flask import Flask, Response, current_app, g, request
from flask_cors import CORS
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from prometheus_client import CollectorRegistry, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from service.auth import _valid as valid_key
from pythonjsonlogger.json import JsonFormatter

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
access_log = logging.getLogger("service.access")


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            record.request_id = getattr(g, "request_id", None)
        except RuntimeError:  # outside a request
            record.request_id = None
        return True


def configure_json_logging(level: str = "INFO") -> None:
    """One JSON object per log line on stderr, with the request id; API keys are never logged."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
                                       rename_fields={"asctime": "time", "levelname": "level", "name": "logger"}))
    handler.addFilter(_RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def _client_key() -> str:
    """Rate-limit per valid API key (hashed: the key itself is never stored), otherwise per address: a made-up
    key per request must not buy a fresh bucket each time."""
    key = request.headers.get("X-API-Key")
    if key and valid_key(key, current_app.config.get("API_KEYS") or []):
        return "key:" + hashlib.sha256(key.encode()).hexdigest()[:16]
    return "addr:" + (get_remote_address() or "unknown")


def register(app: Flask, matcher) -> None:
    registry = CollectorRegistry()
    latency = Histogram("pm_request_seconds", "Request latency by endpoint", ["endpoint", "method", "status"],
                        registry=registry, buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
    Gauge("pm_index_organisations", "Organisations in the serving index", registry=registry).set_function(
        lambda: len(matcher.index_) if matcher.index_ is not None else 0)
    load_seconds = Gauge("pm_model_load_seconds", "Seconds the index load and model warm-up took", registry=registry)
    app.extensions["pm_metrics"] = {"registry": registry, "load_seconds": load_seconds}

    @app.before_request
    def _start():
        given = request.headers.get("X-Request-ID", "")
        g.request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        g.started = time.perf_counter()

    @app.after_request
    def _finish(response: Response):
        response.headers["X-Request-ID"] = getattr(g, "request_id", "")
        elapsed = time.perf_counter() - getattr(g, "started", time.perf_counter())
        endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
        latency.labels(endpoint, request.method, str(response.status_code)).observe(elapsed)
        access_log.info("request", extra={"method": request.method, "path": request.path,
                                          "status": response.status_code, "ms": round(elapsed * 1000, 1)})
        return response

    @app.get("/metrics")
    def metrics():
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)

    limits = app.config.get("RATE_LIMIT") or ""
    limiter = Limiter(_client_key, app=app, default_limits=[limits] if limits else [], storage_uri="memory://",
                      headers_enabled=True, enabled=bool(limits))
    limiter.exempt(metrics)
    for name in ("healthz", "readyz"):
        limiter.exempt(app.view_functions[name])
    app.extensions["pm_limiter"] = limiter

    origins = app.config.get("CORS_ORIGINS") or []
    if origins:
        CORS(app, origins=origins, expose_headers=["X-Request-ID", "ETag", "Retry-After"])
