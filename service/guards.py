"""Request guards that run before any view, in one place: bodies without a length, query parameters no endpoint
declared, paths with control characters, and paths Werkzeug would redirect. Each refusal is the API's one JSON error shape (service/errors.py).

- A body sent without ``Content-Length`` (chunked) is read here up to the limit: one byte more is a 413, never a
  body silently cut at the limit.
- An API endpoint takes the query parameters its ``@documented(query=...)`` model declares (plus ``EXTRA_PARAMS``);
  any other is a 400 naming it and the allowed ones, so a typo (or an option the endpoint lacks) never passes
  silently.
- ``//`` or a trailing slash never earns Werkzeug's HTML 308 redirect on an API path (nor on a write anywhere):
  a JSON 404 names the path to use instead.
"""

from __future__ import annotations

import io
import re

from flask import Flask, Response, current_app, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.routing import RequestRedirect

from corpus.errors import clip
from corpus.schema import CONTROL_CHARACTERS
from matcher import InvalidRequest
from service.errors import error_response

# Query parameters an endpoint reads itself rather than through a documented query model.
EXTRA_PARAMS: dict[str, frozenset[str]] = {"v1_writes.bulk_import": frozenset({"dry_run"})}
# Paths answered in JSON whatever goes wrong (the pages answer browsers).
API_PREFIXES = ("/v1/", "/healthz", "/readyz", "/metrics", "/openapi.json")
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def init_app(app: Flask) -> None:
    """Run the guards before every other hook of the app (rate limits, logging), in this order."""
    app.before_request_funcs.setdefault(None, [])[0:0] = [_slashes_as_json, _control_characters_in_path,
                                                          _read_unsized_body, _known_params]


def _is_api(path: str) -> bool:
    return ("/" + path.lstrip("/")).startswith(API_PREFIXES)


def _slashes_as_json() -> tuple[Response, int] | None:
    """An API path with doubled or trailing slashes, or a write Werkzeug would redirect: a JSON 404, naming the
    path to use when that one exists, instead of Werkzeug's HTML 308 or a request served under a second name."""
    path = request.path
    if _is_api(path) and ("//" in path or (path.endswith("/") and path != "/")):
        target = "/" + "/".join(part for part in path.split("/") if part)
    elif isinstance(request.routing_exception, RequestRedirect) and request.method not in ("GET", "HEAD"):
        target = "/" + request.routing_exception.new_url.split("://", 1)[-1].partition("/")[2].split("?", 1)[0]
    else:
        return None  # a browser on a page follows Werkzeug's redirect
    try:
        current_app.url_map.bind("localhost").match(target, method=request.method)
    except HTTPException:
        return error_response(404, "not_found", f"no such path {clip(path)!r}: paths have no doubled or trailing "
                                                "slashes, and the API does not redirect")
    return error_response(404, "not_found", f"no such path {clip(path)!r}; use {target} (no doubled or trailing "
                                            "slashes): the API does not redirect", {"path": target})


def _control_characters_in_path() -> None:
    """A control character in the path (``/v1/organisations/a%00b``) is a 400 naming it: no id holds one, and
    PostgreSQL refuses a NUL in any text it is asked to compare, which would otherwise be a 5xx."""
    found = CONTROL_CHARACTERS.search(request.path) or re.search(r"[\t\n\r]", request.path)
    if found is not None:
        raise InvalidRequest(f"the path contains the control character U+{ord(found.group()):04X} at position "
                             f"{found.start() + 1}; remove it (no id holds one)")


def _read_unsized_body() -> None:
    """Read a body sent without ``Content-Length`` here, up to the limit, and serve it sized to the views."""
    environ = request.environ
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if request.method not in BODY_METHODS or environ.get("CONTENT_LENGTH") or limit is None:
        return
    if "wsgi.input_terminated" not in environ:  # a server that does not end the stream: no body is read
        return
    stream, parts, size = environ["wsgi.input"], [], 0
    while size <= limit:
        part = stream.read(min(64 * 1024, limit + 1 - size))
        if not part:
            break
        parts.append(part)
        size += len(part)
    if size > limit:
        raise RequestEntityTooLarge()
    body = b"".join(parts)
    environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(body), str(len(body))


def _known_params() -> None:
    """An API endpoint's query string holds only the parameters it declares."""
    if request.endpoint is None or request.method == "OPTIONS" or not request.args:
        return
    meta = getattr(current_app.view_functions[request.endpoint], "openapi", None)
    if meta is None:
        return  # not an API endpoint (pages read their own forms)
    query = meta.get("query")
    allowed = set(query.model_fields if query is not None else ()) | EXTRA_PARAMS.get(request.endpoint, set())
    unknown = sorted(set(request.args) - allowed)
    if not unknown:
        return
    takes = f"it takes {', '.join(sorted(allowed))}" if allowed else "it takes no query parameters"
    names = ", ".join(repr(name) for name in unknown)
    raise InvalidRequest(f"unknown query parameter{'s' if len(unknown) > 1 else ''} {names} for {request.method} "
                         f"{request.path}; {takes}", {"unknown": unknown, "allowed": sorted(allowed)})


__all__ = ["API_PREFIXES", "EXTRA_PARAMS", "init_app"]
