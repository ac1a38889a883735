"""Rate limits: ``RATE_LIMIT`` per route, per valid API key or else per client address (empty: no limit)."""

from __future__ import annotations

import hashlib

from flask import Flask, Response, current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from service.auth import valid_key
from service.health import bp as health_bp


def client_key() -> str:
    """The bucket of this request: the hashed API key when it is valid, else the address.

    A made-up key per request must not buy a fresh bucket each time, and the key itself is never stored.
    """
    key = request.headers.get("X-API-Key")
    if key and valid_key(key, current_app.config.get("API_KEYS") or []):
        return "key:" + hashlib.sha256(key.encode()).hexdigest()[:16]
    return "addr:" + (get_remote_address() or "unknown")


# Probes and metrics are never refused.
EXEMPT = (health_bp,)
HEADERS = {
    "Retry-After": "seconds to wait before the next request is allowed (on 429)",
    "X-RateLimit-Limit": "requests allowed in the current window, for this route and caller (on every limited "
                         "response)",
    "X-RateLimit-Remaining": "requests left in the current window",
    "X-RateLimit-Reset": "when the window resets, in seconds since the Unix epoch",
}


def rate_limited(endpoint: str) -> bool:
    """Whether requests to ``endpoint`` (a Flask endpoint name) count against the rate limit."""
    return endpoint.partition(".")[0] not in {bp.name for bp in EXEMPT}


def describe(limit: str) -> str:
    """The rate-limit rule in words, for the OpenAPI document."""
    if not limit:
        return "This server has no rate limit (`PM_RATE_LIMIT` is empty)."
    return (f"**Rate limit:** {limit} for each route and caller (`PM_RATE_LIMIT`). A caller that sends a valid "
            "`X-API-Key` is counted by its key: each key has its own quota, whatever address it calls from. Callers "
            "without a key (or with a wrong one) are counted by client address, so everyone behind one address "
            "shares that quota: a portal backend should send a key. Over the limit the answer is 429 in the error "
            "shape, with `Retry-After`; every limited response carries `X-RateLimit-Limit`, `-Remaining` and "
            "`-Reset`. `/healthz`, `/readyz` and `/metrics` are not limited.")


# Seconds a 503 asks the client to wait (the index loading, the database away): a load takes seconds.
UNAVAILABLE_RETRY_SECONDS = 5


def retry_after_when_refused(response: Response) -> Response:
    """``Retry-After`` on 429 (the limiter's wait) and 503 (``UNAVAILABLE_RETRY_SECONDS``) only. Flask-Limiter's
    headers option writes it on every limited response, where it tells a client that was served nothing useful."""
    if response.status_code == 503:
        response.headers["Retry-After"] = str(UNAVAILABLE_RETRY_SECONDS)
    elif response.status_code != 429:
        response.headers.pop("Retry-After", None)
    return response


def init_app(app: Flask) -> Limiter:
    """Limit every route but the exempt blueprints', with the X-RateLimit headers on each limited response."""
    # Registered before the limiter's own hook, so it runs after it (Flask runs after_request hooks in reverse).
    app.after_request(retry_after_when_refused)
    limits = app.config.get("RATE_LIMIT") or ""
    limiter = Limiter(client_key, app=app, default_limits=[limits] if limits else [], storage_uri="memory://",
                      headers_enabled=True, enabled=bool(limits))
    for blueprint in EXEMPT:
        limiter.exempt(blueprint)
    app.extensions["pm_limiter"] = limiter
    return limiter
