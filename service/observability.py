"""Operations around every request: request ids, JSON logs and Prometheus metrics.

Metrics live in a registry per app, so several apps in one process (tests) do not collide; service/health.py
serves them at /metrics.
"""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid

from flask import Flask, Response, g, request
from prometheus_client import CollectorRegistry, Gauge, Histogram
from pythonjsonlogger.json import JsonFormatter

from matcher import PartnerMatcher

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


def init_app(app: Flask, matcher: PartnerMatcher) -> None:
    """Tag each request with an id (the caller's when well-formed), time it, and log one access line for it."""
    registry = CollectorRegistry()
    latency = Histogram("pm_request_seconds", "Request latency by endpoint", ["endpoint", "method", "status"],
                        registry=registry, buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
    Gauge("pm_index_organisations", "Organisations in the serving index", registry=registry).set_function(
        lambda: len(matcher.index_) if matcher.index_ is not None else 0)
    load_seconds = Gauge("pm_model_load_seconds", "Seconds the index load and model warm-up took", registry=registry)
    app.extensions["pm_metrics"] = {"registry": registry, "load_seconds": load_seconds}

    @app.before_request
    def _start() -> None:
        given = request.headers.get("X-Request-ID", "")
        g.request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        g.started = time.perf_counter()

    @app.after_request
    def _finish(response: Response) -> Response:
        response.headers["X-Request-ID"] = getattr(g, "request_id", "")
        elapsed = time.perf_counter() - getattr(g, "started", time.perf_counter())
        endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
        latency.labels(endpoint, request.method, str(response.status_code)).observe(elapsed)
        access_log.info("request", extra={"method": request.method, "path": request.path,
                                          "status": response.status_code, "ms": round(elapsed * 1000, 1)})
        return response
