"""Rate limits: ``RATE_LIMIT`` per route, per valid API key or else per client address (empty: no limit)."""

from __future__ import annotations

import hashlib

from flask import Flask, current_app, request
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


def init_app(app: Flask) -> Limiter:
    """Limit every route but the health blueprint's, with limit headers on each response."""
    limits = app.config.get("RATE_LIMIT") or ""
    limiter = Limiter(client_key, app=app, default_limits=[limits] if limits else [], storage_uri="memory://",
                      headers_enabled=True, enabled=bool(limits))
    limiter.exempt(health_bp)
    app.extensions["pm_limiter"] = limiter
    return limiter
