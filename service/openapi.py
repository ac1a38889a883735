"""The OpenAPI 3.1 document and the /docs page, generated from the pydantic models that validate requests.

Each view declares what it takes and returns with ``@documented``; the schemas come from the same pydantic
models the view validates with (``model_json_schema``), so the document cannot drift from the validation, and
apispec assembles the document (components, security scheme, paths). No part of the document is written by hand
except the one error shape, which the error handlers render in one place (service/errors.py), and the words of
the description. Each operation's examples are real answers, recorded on the bundled corpus by
scripts/openapi_examples.py into service/openapi_examples.json. Swagger UI 5 is served from the ``swagger-ui-py`` package: the docs page works without internet access.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from apispec import APISpec
from flask import Blueprint, Flask, Response, abort, current_app, jsonify, send_from_directory
from flask.typing import ResponseReturnValue
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from werkzeug.routing import Rule

from service.paging import PageLinks

VERSION = "1.0.0"
ERROR = {"$ref": "#/components/schemas/Error"}
ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["code", "message", "details"], "properties": {
        "code": {"type": "string"}, "message": {"type": "string"}, "details": {}}}},
}
STATUS_TEXT = {400: "Invalid request", 401: "No API key", 403: "Wrong API key", 404: "Not found", 409: "Conflict",
               412: "Stale If-Match", 413: "Body too large", 415: "Not JSON", 422: "Constraints cannot be met",
               429: "Rate limited: wait the Retry-After seconds",
               503: "Index not ready"}

bp = Blueprint("docs", __name__, static_folder="static/docs", static_url_path="/docs/assets")


def documented(*, summary: str, body: type[BaseModel] | None = None, query: type[BaseModel] | None = None,
               response: type[BaseModel] | dict | None = None, status: int = 200, errors: tuple[int, ...] = (),
               write: bool = False, tags: tuple[str, ...] = (), operation_id: str | None = None,
               media_type: str = "application/json",
               creates: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Attach the route's contract to the view function for ``build_spec``.

    ``operation_id`` defaults to the endpoint's name with ``_`` for ``.`` (``v1_match``); ``media_type`` is the
    success response's (CSV and XLSX exports); ``creates``: the operation may also answer 201 with a
    ``Location`` (a PUT that created its record).
    """

    def attach(view: Callable[..., Any]) -> Callable[..., Any]:
        view.openapi = {  # type: ignore[attr-defined]
            "summary": summary, "body": body, "query": query, "response": response, "status": status,
            "errors": errors, "write": write, "tags": tags, "operation_id": operation_id, "media_type": media_type,
            "creates": creates}
        return view

    return attach


def _models(app: Flask) -> list[type[BaseModel]]:
    seen: list[type[BaseModel]] = []
    for view in app.view_functions.values():
        meta = getattr(view, "openapi", None)
        for key in ("body", "query", "response"):
            model = meta and meta.get(key)
            if isinstance(model, type) and issubclass(model, BaseModel) and model not in seen:
                seen.append(model)
    return seen


def build_spec(app: Flask) -> dict[str, Any]:
    """The OpenAPI document: pydantic models give the schemas, apispec assembles and checks the document."""
    from service.limits import describe, rate_limited  # here: service.limits imports the health views, which use us

    spec = APISpec(
        title="Partner Matcher API",
        version=VERSION,
        openapi_version="3.1.0",
        info={"description": "\n\n".join([DESCRIPTION, describe(app.config.get("RATE_LIMIT") or "")])},
    )
    models = _models(app)
    refs, schema = models_json_schema([(m, "validation") for m in models],
                                      ref_template="#/components/schemas/{model}")
    for name, component in schema.get("$defs", {}).items():
        spec.components.schema(name, component)
    spec.components.schema("Error", ERROR_SCHEMA)
    spec.components.security_scheme("ApiKey", {"type": "apiKey", "in": "header", "name": "X-API-Key"})
    examples = load_examples()
    operations_by_path: dict[str, dict] = {}
    for rule in app.url_map.iter_rules():
        meta = getattr(app.view_functions[rule.endpoint], "openapi", None)
        if meta is None:
            continue
        path = rule.rule.replace("<", "{").replace(">", "}")
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            operations_by_path.setdefault(path, {})[method.lower()] = _operation(
                rule, method, meta, refs, examples, limited=rate_limited(rule.endpoint))
    for path, operations in operations_by_path.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


DESCRIPTION = """Ranks UK and Canadian partner organisations for critical-minerals research projects. Versioned \
under /v1/; see docs/api.md for the deprecation policy. Every error has one JSON shape, `{"error": {"code", \
"message", "details"}}`, and says how to fix the request.

**Country codes** are ISO 3166-1 alpha-2 (`GB`, `CA`). Lower case is accepted and upper-cased; anything else is \
refused with 400, naming the code meant when it can be told (`UK`: "did you mean 'GB'?", also in \
`details[].suggestion`).

**Conditional requests:** every successful GET under /v1/ carries an `ETag` (a hash of the body; match answers \
include the corpus hash, so their tag changes with the corpus). Send it back in `If-None-Match` to get 304 Not \
Modified, with no body, while the answer is unchanged.

**Paged lists** (`page`, `per_page` up to 100) give `total`, `pages`, and `next` and `prev` links (also in a \
`Link` header). A page past the end is a 200 with no items, a `message` saying so and `prev` pointing at the \
last page."""
EXAMPLES_FILE = Path(__file__).with_name("openapi_examples.json")


def load_examples() -> dict[str, Any]:
    """Real requests and responses per operation id, recorded on the bundled corpus by scripts/openapi_examples.py."""
    return json.loads(EXAMPLES_FILE.read_text(encoding="utf-8"))


def _operation(rule: Rule, method: str, meta: dict, refs: dict, examples: dict,
               limited: bool) -> dict[str, Any]:
    """One operation object of the document, from a view's ``@documented`` metadata and its recorded example."""
    operation_id = meta["operation_id"] or rule.endpoint.replace(".", "_")
    example = examples["operations"].get(operation_id, {})
    conditional = method == "GET" and rule.rule.startswith("/v1/")
    op: dict[str, Any] = {"summary": meta["summary"], "operationId": operation_id,
                          "tags": list(meta["tags"])}
    op["parameters"] = [_with_example({"name": arg, "in": "path", "required": True, "schema": {"type": "string"}},
                                      example.get("path", {}), arg) for arg in rule.arguments]
    if meta["query"] is not None:
        props = meta["query"].model_json_schema()["properties"]
        for name, prop in props.items():
            param = {"name": name, "in": "query", "required": False, "schema": prop}
            if prop.get("type") == "array":
                param.update(style="form", explode=False)
            op["parameters"].append(_with_example(param, example.get("query", {}), name))
    if conditional:
        op["parameters"].append({"name": "If-None-Match", "in": "header", "required": False,
                                 "schema": {"type": "string"},
                                 "description": "the ETag of your copy: 304 with no body while it is current"})
    if meta["body"] is not None:
        content = {"schema": refs[(meta["body"], "validation")]}
        if "request" in example:
            content["example"] = example["request"]
        op["requestBody"] = {"required": True, "content": {"application/json": content}}
    ok: dict[str, Any] = {"description": "OK"}
    media: dict[str, Any] = {}
    if isinstance(meta["response"], type):
        media["schema"] = refs[(meta["response"], "validation")]
        paged = issubclass(meta["response"], PageLinks)
    else:
        paged = False
        if isinstance(meta["response"], dict):
            media["schema"] = meta["response"]
    if "response" in example:
        media["example"] = example["response"]
    if media:
        ok["content"] = {meta["media_type"]: media}
    headers = {}
    if conditional:
        headers["ETag"] = {"description": "a tag of this answer: send it in If-None-Match",
                           "schema": {"type": "string"}}
    if paged:
        headers["Link"] = {"description": 'the next and previous pages, as `<url>; rel="next"`',
                           "schema": {"type": "string"}}
    if headers:
        ok["headers"] = headers
    responses: dict[str, Any] = {str(meta["status"]): ok if meta["status"] != 204 else {"description": "Deleted"}}
    if meta["creates"]:
        responses["201"] = {"description": "Created: the record did not exist; `Location` names it",
                            "headers": {"Location": {"description": "the new record's URL",
                                                     "schema": {"type": "string"}}},
                            **({"content": ok["content"]} if "content" in ok else {})}
    if conditional:
        responses["304"] = {"description": "Not modified: the ETag in If-None-Match is current; no body",
                            "headers": {"ETag": headers["ETag"]}}
    errors = set(meta["errors"]) | ({400, 415, 413} if meta["body"] is not None else set())
    errors |= {400} if meta["query"] is not None else set()
    errors |= {401, 403} if meta["write"] else set()
    errors |= {429} if limited else set()
    for code in sorted(errors):
        error_media: dict[str, Any] = {"schema": ERROR}
        if str(code) in examples["errors"]:
            error_media["example"] = examples["errors"][str(code)]
        responses[str(code)] = {"description": STATUS_TEXT.get(code, "Error"),
                                "content": {"application/json": error_media}}
    if limited:
        from service.limits import HEADERS as LIMIT_HEADERS

        responses["429"]["headers"] = {name: {"description": text, "schema": {"type": "integer"}}
                                       for name, text in LIMIT_HEADERS.items()}
    op["responses"] = responses
    if meta["write"]:
        op["security"] = [{"ApiKey": []}]
    return op


def _with_example(param: dict, values: dict, name: str) -> dict:
    if name in values:
        param["example"] = values[name]
    return param


@bp.get("/openapi.json")
def openapi_json() -> Response:
    spec = current_app.extensions.get("openapi_spec")
    if spec is None:  # built once per process, on first request: routes are fixed by then
        spec = current_app.extensions["openapi_spec"] = build_spec(current_app)
    return jsonify(spec)


# The page is ours; Swagger UI (5.x: it renders OpenAPI 3.1) and its stylesheet come from the swagger-ui-py package,
# served from this process, so /docs works offline. Only these two of the package's files are served.
VIEWER_FILES = frozenset({"swagger-ui-bundle.js", "swagger-ui.css"})
# Scripts and styles from this origin only, as on the other pages; Swagger UI's stylesheet draws its icons as data:
# images, and it fetches /openapi.json. No inline script or style and no eval.
DOCS_CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
_DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Partner Matcher API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/docs/static/swagger-ui.css">
<link rel="stylesheet" href="/docs/assets/docs.css">
<link rel="icon" type="image/svg+xml" href="/assets/favicon.svg"></head>
<body><header class="docs-header"><h1>Partner Matcher API reference</h1>
<a href="/">Back to the partner search</a> <a href="/openapi.json">OpenAPI document (JSON)</a></header>
<main id="swagger-ui"></main>
<script src="/docs/static/swagger-ui-bundle.js"></script>
<script src="/docs/assets/docs.js"></script>
</body></html>"""


@bp.get("/docs")
def docs() -> ResponseReturnValue:
    return _DOCS_PAGE, 200, {"Content-Type": "text/html; charset=utf-8", "X-Content-Type-Options": "nosniff",
                             "Referrer-Policy": "same-origin", "Content-Security-Policy": DOCS_CONTENT_SECURITY_POLICY}


@bp.get("/docs/static/<path:filename>")
def docs_static(filename: str) -> Response:
    if filename not in VIEWER_FILES:
        abort(404)
    return send_from_directory(_viewer_dir(), filename)


def _viewer_dir() -> Path:
    import swagger_ui  # imported on first use: the package is only needed by /docs

    return Path(swagger_ui.__file__).parent / "static"
