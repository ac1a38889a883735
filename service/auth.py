"""API keys for writes: ``X-API-Key`` checked in constant time against the configured keys (``PM_API_KEYS``)."""

from __future__ import annotations

import functools
import hmac
from collections.abc import Callable
from typing import Any

from flask import current_app, request
from werkzeug.exceptions import Forbidden, Unauthorized


def valid_key(given: str, keys: list[str]) -> bool:
    """Whether ``given`` is one of ``keys``.

    Every key is compared, always: the time taken does not reveal which key, or how much of one, matched.
    """
    result = False
    for key in keys:
        result |= hmac.compare_digest(given.encode(), key.encode())
    return result


def require_api_key(view: Callable[..., Any]) -> Callable[..., Any]:
    """401 without a key, 403 with a wrong one (or when the service has no keys configured)."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        keys = current_app.config["API_KEYS"]
        given = request.headers.get("X-API-Key", "")
        if not given:
            raise Unauthorized("this endpoint changes data: send an API key in the X-API-Key header")
        if not keys:
            raise Forbidden("writes are disabled: the service has no API keys (set PM_API_KEYS)")
        if not valid_key(given, keys):
            raise Forbidden("the X-API-Key is not valid for this service")
        return view(*args, **kwargs)

    return wrapper
