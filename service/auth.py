"""API keys for writes: ``X-API-Key`` checked in constant time against the configured keys (``PM_API_KEYS``)."""

from __future__ import annotations

import functools
import hmac

from flask import current_app, request
from werkzeug.exceptions import Forbidden, Unauthorized


def _valid(given: str, keys: list[str]) -> bool:
    # Compare against every key, always: the time taken does not reveal which key, or how much of one, matched.
    result = False
    for key in keys:
        result |= hmac.compare_digest(given.encode(), key.encode())
    return result


def require_api_key(view):
    """401 without a key, 403 with a wrong one (or when the service has no keys configured)."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        keys = current_app.config["API_KEYS"]
        given = request.headers.get("X-API-Key", "")
        if not given:
            raise Unauthorized("this endpoint changes data: send an API key in the X-API-Key header")
        if not keys:
            raise Forbidden("writes are disabled: the service has no API keys (set PM_API_KEYS)")
        if not _valid(given, keys):
            raise Forbidden("the X-API-Key is not valid for this service")
        return view(*args, **kwargs)

    return wrapper
