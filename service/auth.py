"""API keys for writes: ``X-API-Key`` checked in constant time against the configured keys (``PM_API_KEYS``,
``name:key,...``). The matching key's name (never the key) is who made a write or a decision: ``caller()``."""

from __future__ import annotations

import functools
import hmac
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from flask import current_app, g, request
from werkzeug.exceptions import Forbidden, Unauthorized


def key_name(given: str, keys: Mapping[str, str]) -> str | None:
    """The name of the key ``given`` is, or None.

    Every key is compared, always: the time taken does not reveal which key, or how much of one, matched.
    """
    found = None
    for name, key in keys.items():
        if hmac.compare_digest(given.encode(), key.encode()):
            found = name
    return found


def valid_key(given: str, keys: Mapping[str, str] | Iterable[str]) -> bool:
    """Whether ``given`` is one of ``keys`` (a name -> key mapping, or plain keys)."""
    named = keys if isinstance(keys, Mapping) else {str(i): k for i, k in enumerate(keys)}
    return key_name(given, named) is not None


def caller() -> str | None:
    """The name of the API key this request was made with (None on routes that need none)."""
    return g.get("api_key_name")


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
        name = key_name(given, keys)
        if name is None:
            raise Forbidden("the X-API-Key is not valid for this service")
        g.api_key_name = name
        return view(*args, **kwargs)

    return wrapper
