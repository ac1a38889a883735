"""The OpenAPI 3.1 document and the /docs page, generated from the pydantic models that validate requests.

Each view declares what it takes and returns with ``@documented``; the schemas come from the same pydantic
models the view validates with (``model_json_schema``), so the document cannot drift from the validation, and
apispec assembles the document (components, security scheme, paths). No part of the document is written by hand
except the one error shape, which the error handlers render in one place (service/errors.py).
Swagger UI is served from the ``swagger-ui-bundle`` package: the docs page works without internet access.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from apispec import APISpec
from flask import Blueprint, Flask, Response, current_app, jsonify, send_from_directory
from flask.typing import ResponseReturnValue
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from werkzeug.routing import Rule

VERSION = "1.0.0"
ERROR = {"$ref": "#/components/schemas/Error"}
ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["code", "message", "details"], "properties": {
        "code": {"type": "string"}, "message": {"type": "string"}, "details": {}}}},
}
STATUS_TEXT = {400: "Invalid request", 401: "No API key", 403: "Wrong API key", 404: "Not found", 409: "Conflict", 412: "Stale If-Match",
               413: "Body too large", 415: "Not JSON", 422: "Constraints cannot be met", 429: "Rate limited",
               503: "Index not ready"}

bp = Blueprint("docs", __name__)


def documented(*, summary: str, body: type[BaseModel] | None = None, query: type[BaseModel] | None = None,
               response: type[BaseModel] | dict | None = None, status: int = 200, errors: tuple[int, ...] = (),
               write: bool = False, tags: tuple[str, ...] = (),
               operation_id: str | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Attach the route's contract to the view function for ``build_spec``.

    ``operation_id`` defaults to the endpoint's name with ``_`` for ``.`` (``v1_match``).
    """

    def attach(view: Callable[..., Any]) -> Callable[..., Any]:
        view.openapi = {  # type: ignore[attr-defined]
            "summary": summary, "body": body, "query": query, "response": response, "status": status,
            "errors": errors, "write": write, "tags": tags, "operation_id": operation_id}
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
    spec = APISpec(
        title="Partner Matcher API",
        version=VERSION,
        openapi_version="3.1.0",
        info={"description": "Ranks UK and Canadian partner organisations for critical-minerals research "
                             "projects. Versioned under /v1/; see docs/api.md for the deprecation policy."},
    )
    models = _models(app)
    refs, schema = models_json_schema([(m, "validation") for m in models],
                                      ref_template="#/components/schemas/{model}")
    for name, component in schema.get("$defs", {}).items():
        spec.components.schema(name, component)
    spec.components.schema("Error", ERROR_SCHEMA)
    spec.components.security_scheme("ApiKey", {"type": "apiKey", "in": "header", "name": "X-API-Key"})
    operations_by_path: dict[str, dict] = {}
    for rule in app.url_map.iter_rules():
        meta = getattr(app.view_functions[rule.endpoint], "openapi", None)
        if meta is None:
            continue
        path = rule.rule.replace("<", "{").replace(">", "}")
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            operations_by_path.setdefault(path, {})[method.lower()] = _operation(rule, meta, refs)
    for path, operations in operations_by_path.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


def _operation(rule: Rule, meta: dict, refs: dict) -> dict[str, Any]:
    """One operation object of the document, from a view's ``@documented`` metadata."""
    operation_id = meta["operation_id"] or rule.endpoint.replace(".", "_")
    op: dict[str, Any] = {"summary": meta["summary"], "operationId": operation_id,
                          "tags": list(meta["tags"])}
    op["parameters"] = [{"name": arg, "in": "path", "required": True, "schema": {"type": "string"}}
                        for arg in rule.arguments]
    if meta["query"] is not None:
        props = meta["query"].model_json_schema()["properties"]
        for name, prop in props.items():
            param = {"name": name, "in": "query", "required": False, "schema": prop}
            if prop.get("type") == "array":
                param.update(style="form", explode=False)
            op["parameters"].append(param)
    if meta["body"] is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": refs[(meta["body"], "validation")]}}}
    ok: dict[str, Any] = {"description": "OK"}
    if isinstance(meta["response"], type):
        ok["content"] = {"application/json": {"schema": refs[(meta["response"], "validation")]}}
    elif isinstance(meta["response"], dict):
        ok["content"] = {"application/json": {"schema": meta["response"]}}
    responses = {str(meta["status"]): ok if meta["status"] != 204 else {"description": "Deleted"}}
    errors = set(meta["errors"]) | ({400, 415, 413} if meta["body"] is not None else set())
    errors |= {400} if meta["query"] is not None else set()
    errors |= {401, 403} if meta["write"] else set()
    for code in sorted(errors):
        responses[str(code)] = {"description": STATUS_TEXT.get(code, "Error"),
                                "content": {"application/json": {"schema": ERROR}}}
    op["responses"] = responses
    if meta["write"]:
        op["security"] = [{"ApiKey": []}]
    return op


@bp.get("/openapi.json")
def openapi_json() -> Response:
    spec = current_app.extensions.get("openapi_spec")
    if spec is None:  # built once per process, on first request: routes are fixed by then
        spec = current_app.extensions["openapi_spec"] = build_spec(current_app)
    return jsonify(spec)


_DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Partner Matcher API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/docs/static/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/static/swagger-ui-bundle.js"></script>
<script>window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui"});</script>
</body></html>"""


@bp.get("/docs")
def docs() -> ResponseReturnValue:
    return _DOCS_PAGE, 200, {"Content-Type": "text/html; charset=utf-8"}


@bp.get("/docs/static/<path:filename>")
def docs_static(filename: str) -> Response:
    from swagger_ui_bundle import swagger_ui_path

    return send_from_directory(swagger_ui_path, filename)
