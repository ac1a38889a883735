"""Health endpoints for orchestrators and monitoring: liveness, readiness and Prometheus metrics.

They are exempt from the rate limit (service/limits.py): a probe must never be refused.
"""

from __future__ import annotations

import os

from flask import Blueprint, Response, current_app, jsonify
from flask.typing import ResponseReturnValue
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from service.deps import current_loader, current_matcher
from service.errors import error_response
from service.openapi import documented

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@documented(summary="Liveness: the process is up", response={"type": "object"}, tags=("health",),
            operation_id="healthz")
def healthz() -> Response:
    return jsonify({"status": "ok"})


@bp.get("/readyz")
@documented(summary="Readiness: 200 once the index is loaded and the model warm", response={"type": "object"},
            errors=(503,), tags=("health",), operation_id="readyz")
def readyz() -> ResponseReturnValue:
    loader = current_loader()
    if loader.ready:
        # The worker's process id: behind gunicorn, tells which worker answered (each loads its own index).
        return jsonify({"status": "ready", "organisations": len(current_matcher().index_ or ()), "worker": os.getpid()})
    if loader.error:
        return error_response(503, "index_failed", f"the partner index could not be loaded: {loader.error}")
    return error_response(503, "index_not_ready", "the partner index is loading; retry in a few seconds")


@bp.get("/metrics")
def metrics() -> Response:
    # content_type, not mimetype: the exposition type already names its charset, which Flask would add again.
    return Response(generate_latest(current_app.extensions["pm_metrics"]["registry"]), content_type=CONTENT_TYPE_LATEST)
