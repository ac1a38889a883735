"""The one JSON error shape of the API, rendered in one place: {"error": {"code", "message", "details"}}.

Every error the project raises on purpose is a ``PartnerMatcherError`` with a stable ``code`` and ``details``; one
handler maps it to a status through ``STATUS_OF``, the one table (the pages use it too).
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from matcher import (
    Conflict,
    CorpusError,
    IndexFileError,
    IndexNotReady,
    Infeasible,
    InvalidRequest,
    ModelLoadError,
    NotFound,
    PartnerMatcherError,
    PreconditionFailed,
    StorageError,
)

log = logging.getLogger("service")

# Errors -> HTTP status; the first matching class wins, and any other PartnerMatcherError is a 500.
STATUS_OF: list[tuple[type[PartnerMatcherError], int]] = [
    (NotFound, 404),
    (PreconditionFailed, 412),
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
    412: "precondition_failed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "unprocessable_entity",
    429: "too_many_requests",
    500: "internal_error",
    503: "service_unavailable",
}


def status_of(error: PartnerMatcherError) -> int:
    """The HTTP status of one of the project's errors, from ``STATUS_OF``."""
    return next((status for cls, status in STATUS_OF if isinstance(error, cls)), 500)


def error_response(status: int, code: str, message: str, details: Any = None) -> tuple[Response, int]:
    """The error shape every JSON error of the service has."""
    body = {"error": {"code": code, "message": message, "details": details}}
    return jsonify(body), status


def validation_details(error: ValidationError) -> list[dict]:
    """Each problem as {field, message, input type}: enough to fix the request without reading the schema."""
    out = []
    for e in error.errors(include_url=False):
        item = {"field": ".".join(str(p) for p in e["loc"]) or "(body)", "message": e["msg"], "type": e["type"]}
        suggestion = (e.get("ctx") or {}).get("suggestion")
        if suggestion:  # the value meant, when the validator could tell (a country's code for its name, say)
            item["suggestion"] = suggestion
        out.append(item)
    return out


def register_error_handlers(app: Flask) -> None:
    """Render werkzeug's HTTP errors, request validation errors, the project's errors and anything else as JSON."""

    @app.errorhandler(HTTPException)
    def _http(e: HTTPException) -> tuple[Response, int]:
        status = e.code or 500
        details = None
        message = e.description or e.name
        if status == 413:
            limit = app.config.get("MAX_CONTENT_LENGTH")
            message = f"the request body is larger than the {limit:,}-byte limit; send a shorter brief"
            details = {"max_bytes": limit}
        if status == 429:  # Flask-Limiter's description is the limit alone ("300 per 1 minute")
            message = (f"rate limit exceeded: {e.description} for this route and caller; wait the Retry-After "
                       "seconds, or send your API key (each key has a quota of its own)")
            details = {"limit": e.description}
        allowed = sorted(getattr(e, "valid_methods", None) or ())  # only MethodNotAllowed carries them
        if status == 405 and allowed:
            details = {"allowed_methods": allowed}
        response, status = error_response(status, HTTP_CODES.get(status, f"http_{status}"), message, details)
        if status == 405 and allowed:
            response.headers["Allow"] = ", ".join(allowed)
        return response, status

    @app.errorhandler(ValidationError)
    def _validation(e: ValidationError) -> tuple[Response, int]:
        details = validation_details(e)
        summary = "; ".join(f"{d['field']}: {d['message']}" for d in details[:3])
        message = f"invalid request: {summary}"
        if len(details) > MAX_DETAILS:  # a large bad bulk import must not earn a response many times its size
            message += f" (the first {MAX_DETAILS} of {len(details)} problems are in details)"
            details = details[:MAX_DETAILS]
        return error_response(400, "invalid_request", message, details)

    @app.errorhandler(PartnerMatcherError)
    def _project_error(e: PartnerMatcherError) -> tuple[Response, int]:
        # Empty details (a CorpusError without problems, say) are sent as null, as every other error's are.
        return error_response(status_of(e), e.code, str(e), e.details or None)

    @app.errorhandler(Exception)
    def _unexpected(e: Exception) -> tuple[Response, int]:
        log.exception("unhandled error")
        return error_response(500, "internal_error", "an unexpected error occurred; it has been logged")
