"""The one JSON error shape of the API, rendered in one place: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

import logging

from flask import Flask, jsonify
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from matcher import (
    Conflict,
    CorpusError,
    IndexFileError,
    IndexNotReady,
    Infeasible,
    InvalidRequest,
    MatcherError,
    ModelLoadError,
    NotFound,
    StorageError,
)

log = logging.getLogger("service")

# Core errors -> HTTP status. Order matters: the first matching class wins.
STATUS_OF = [
    (NotFound, 404),
    (Conflict, 409),
    (Infeasible, 422),
    (InvalidRequest, 400),
    (IndexNotReady, 503),
    (IndexFileError, 503),
    (StorageError, 503),
    (ModelLoadError, 503),
    (CorpusError, 400),
]

MAX_DETAILS = 100  # problems listed in one error response

# Werkzeug's names for HTTP errors, in the API's snake_case vocabulary.
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "unprocessable_entity",
    429: "too_many_requests",
    500: "internal_error",
    503: "service_unavailable",
}


def error_response(status: int, code: str, message: str, details=None):
    body = {"error": {"code": code, "message": message, "details": details}}
    return jsonify(body), status


def validation_details(error: ValidationError) -> list[dict]:
    """Each problem as {field, message, input type}: enough to fix the request without reading the schema."""
    out = []
    for e in error.errors(include_url=False):
        out.append({"field": ".".join(str(p) for p in e["loc"]) or "(body)", "message": e["msg"], "type": e["type"]})
    return out


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _http(e: HTTPException):
        status = e.code or 500
        details = None
        message = e.description or e.name
        if status == 413:
            limit = app.config.get("MAX_CONTENT_LENGTH")
            message = f"the request body is larger than the {limit:,}-byte limit; send a shorter brief"
            details = {"max_bytes": limit}
        if status == 405 and e.valid_methods:
            details = {"allowed_methods": sorted(e.valid_methods)}
        response, status = error_response(status, HTTP_CODES.get(status, f"http_{status}"), message, details)
        if status == 405 and e.valid_methods:
            response.headers["Allow"] = ", ".join(sorted(e.valid_methods))
        return response, status

    @app.errorhandler(ValidationError)
    def _validation(e: ValidationError):
        details = validation_details(e)
        summary = "; ".join(f"{d['field']}: {d['message']}" for d in details[:3])
        message = f"invalid request: {summary}"
        if len(details) > MAX_DETAILS:  # a large bad bulk import must not earn a response many times its size
            message += f" (the first {MAX_DETAILS} of {len(details)} problems are in details)"
            details = details[:MAX_DETAILS]
        return error_response(400, "invalid_request", message, details)

    @app.errorhandler(MatcherError)
    @app.errorhandler(CorpusError)
    @app.errorhandler(ModelLoadError)
    def _core(e: Exception):
        status = next((s for cls, s in STATUS_OF if isinstance(e, cls)), 500)
        code = getattr(e, "code", None) or type(e).__name__
        if isinstance(e, CorpusError):
            code = "invalid_records"
        elif isinstance(e, ModelLoadError):
            code = "model_unavailable"
        details = getattr(e, "details", None) or getattr(e, "problems", None) or None
        return error_response(status, code, str(e), details)

    @app.errorhandler(Exception)
    def _unexpected(e: Exception):
        log.exception("unhandled error")
        return error_response(500, "internal_error", "an unexpected error occurred; it has been logged")
