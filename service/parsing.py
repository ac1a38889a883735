"""Request parsing shared by the JSON blueprints: query strings against pydantic models, and JSON bodies.

Each problem becomes a clear 4xx in the API's error shape (``InvalidRequest``, pydantic's ``ValidationError`` or
werkzeug's ``UnsupportedMediaType``), rendered by service/errors.py.
"""

from __future__ import annotations

import json
import sys
from typing import Any, TypeVar

from flask import request
from pydantic import BaseModel
from werkzeug.exceptions import UnsupportedMediaType

from matcher import InvalidRequest

MAX_PER_PAGE = 100
MAX_PAGE = 1_000_000  # lists (API and pages) stop here: a page number past it is a 400, never a database error
MAX_JSON_DEPTH = 20

M = TypeVar("M", bound=BaseModel)


def split_values(values: list[str]) -> list[str]:
    """Query lists may repeat (?countries=GB&countries=CA) or use commas (?countries=GB,CA)."""
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def parse_query(model: type[M]) -> M:
    """Validate the query string against ``model``; unknown parameters are refused so typos do not pass silently."""
    raw: dict = {}
    for key in request.args:
        values = request.args.getlist(key)
        field = model.model_fields.get(key)
        if field is not None and "list" in str(field.annotation):
            raw[key] = split_values(values)
        else:
            raw[key] = values[-1]
    for key, value in list(raw.items()):
        if value == "" or value == []:
            del raw[key]  # ?challenge= means "not given", as a form would send it
    return model.model_validate(raw)


def json_body() -> dict:
    """The request's JSON object, or a clear 4xx: wrong content type, bad UTF-8, bad JSON, too deep, not an object."""
    if not request.mimetype or request.mimetype != "application/json":
        raise UnsupportedMediaType(f"send JSON with 'Content-Type: application/json' (got {request.mimetype or 'none'!r})")
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise InvalidRequest("the request body is empty; send a JSON object such as {\"text\": \"...\"}")
    try:
        # A UTF-8 byte-order mark (Windows tools write one) is accepted and dropped: RFC 8259 lets a parser ignore it.
        text = raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as e:
        raise InvalidRequest(f"the request body is not valid UTF-8 (byte {e.start}); encode JSON as UTF-8") from e
    try:
        body = json.loads(text, parse_constant=_reject_constant)
    except RecursionError as e:
        raise InvalidRequest(f"the JSON body is nested too deeply (limit {MAX_JSON_DEPTH} levels)") from e
    except json.JSONDecodeError as e:
        # json's messages for control characters end in "at", before the position it gives separately.
        raise InvalidRequest(f"the request body is not valid JSON: {e.msg.removesuffix(' at')} at line {e.lineno} "
                             f"column {e.colno}") from e
    except ValueError as e:  # an integer of more digits than Python converts (sys.get_int_max_str_digits())
        raise InvalidRequest(f"the JSON body holds a number of more than {sys.get_int_max_str_digits()} digits; "
                             "send a shorter number") from e
    if not isinstance(body, dict):
        raise InvalidRequest(f"the JSON body must be an object ({{...}}), not {json_kind(body)}")
    if _depth(body) > MAX_JSON_DEPTH:
        raise InvalidRequest(f"the JSON body is nested too deeply (limit {MAX_JSON_DEPTH} levels)")
    return body


def json_kind(value: Any) -> str:
    """What a parsed JSON value is, in JSON's words ("null", "an array"), for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


def _reject_constant(name: str) -> Any:
    # NaN and Infinity are not JSON: refuse them rather than let them reach a score.
    raise InvalidRequest(f"{name} is not valid JSON; use a number")


def _depth(value: Any, level: int = 1) -> int:
    # Stops counting past the limit, so a hostile body costs no more than the limit's depth to check.
    if level > MAX_JSON_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level)
    return level
