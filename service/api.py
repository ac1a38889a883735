"""The v1 HTTP API: a thin door onto ``matcher.PartnerMatcher``. Parsing and shaping only; no ranking here."""

from __future__ import annotations

import hashlib
import json
import sys
from typing import Annotated

from flask import Blueprint, current_app, jsonify, request
from pydantic import BaseModel, ConfigDict, Field, field_validator
from werkzeug.exceptions import UnsupportedMediaType

from corpus.schema import CountryCode, Organisation, OrgType, Project
from matcher import MAX_K, InvalidRequest, MatchRequest, PartnerMatcher
from service.openapi import documented
from service.schemas import ChallengeList, MatchResponse, OrganisationPage, ProjectPage

bp = Blueprint("v1", __name__, url_prefix="/v1")
MAX_PER_PAGE = 100
MAX_JSON_DEPTH = 20


def _matcher() -> PartnerMatcher:
    return current_app.extensions["partner_matcher"]


def _split(values: list[str]) -> list[str]:
    """Query lists may repeat (?countries=GB&countries=CA) or use commas (?countries=GB,CA)."""
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


class _Query(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("countries", mode="before", check_fields=False)
    @classmethod
    def _upper(cls, value):
        return [v.upper() for v in value] if isinstance(value, list) else value


class ListQuery(_Query):
    page: int = Field(1, ge=1, le=1_000_000)
    per_page: int = Field(20, ge=1, le=MAX_PER_PAGE)
    countries: list[CountryCode] = Field(default_factory=list, max_length=50)
    org_types: list[OrgType] = Field(default_factory=list)


class ProjectMatchQuery(_Query):
    k: int = Field(10, ge=1, le=MAX_K)
    countries: list[CountryCode] = Field(default_factory=list, max_length=50)
    org_types: list[OrgType] = Field(default_factory=list)
    challenge: Annotated[int, Field(ge=1, le=2)] | None = None
    explain: bool = True


def _query(model: type[BaseModel]) -> BaseModel:
    """Validate the query string against ``model``; unknown parameters are refused so typos do not pass silently."""
    raw: dict = {}
    for key in request.args:
        values = request.args.getlist(key)
        field = model.model_fields.get(key)
        if field is not None and "list" in str(field.annotation):
            raw[key] = _split(values)
        else:
            raw[key] = values[-1]
    for key, value in list(raw.items()):
        if value == "" or value == []:
            del raw[key]  # ?challenge= means "not given", as a form would send it
    return model.model_validate(raw)


def _json_body() -> dict:
    """The request's JSON object, or a clear 4xx: wrong content type, bad UTF-8, bad JSON, too deep, not an object."""
    if not request.mimetype or request.mimetype != "application/json":
        raise UnsupportedMediaType(f"send JSON with 'Content-Type: application/json' (got {request.mimetype or 'none'!r})")
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise InvalidRequest("the request body is empty; send a JSON object such as {\"text\": \"...\"}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InvalidRequest(f"the request body is not valid UTF-8 (byte {e.start}); encode JSON as UTF-8") from e
    try:
        body = json.loads(text, parse_constant=_reject_constant)
    except RecursionError as e:
        raise InvalidRequest(f"the JSON body is nested too deeply (limit {MAX_JSON_DEPTH} levels)") from e
    except json.JSONDecodeError as e:
        raise InvalidRequest(f"the request body is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from e
    except ValueError as e:  # an integer of more digits than Python converts (sys.get_int_max_str_digits())
        raise InvalidRequest(f"the JSON body holds a number of more than {sys.get_int_max_str_digits()} digits; "
                             "send a shorter number") from e
    if not isinstance(body, dict):
        raise InvalidRequest(f"the JSON body must be an object, not {type(body).__name__}")
    if _depth(body) > MAX_JSON_DEPTH:
        raise InvalidRequest(f"the JSON body is nested too deeply (limit {MAX_JSON_DEPTH} levels)")
    return body


def _reject_constant(name: str):
    raise InvalidRequest(f"{name} is not valid JSON; use a number")


def _depth(value, level: int = 1) -> int:
    if level > MAX_JSON_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level)
    return level


def _page(page, query: ListQuery | BaseModel, key: str = "items"):
    items, total = page
    return jsonify(
        {key: [item.model_dump(mode="json") for item in items], "total": total, "page": query.page, "per_page": query.per_page}
    )


@bp.post("/match")
@documented(summary="Rank partner organisations for a brief or a stored project", body=MatchRequest, response=MatchResponse, errors=(404, 503), tags=("matching",))
def match():
    body = _json_body()
    return jsonify(_matcher().match(MatchRequest.model_validate(body)))


@bp.get("/projects/<project_id>/matches")
@documented(summary="Rank partners for a stored project", query=ProjectMatchQuery, response=MatchResponse, errors=(404, 503), tags=("matching",))
def project_matches(project_id: str):
    q = _query(ProjectMatchQuery)
    return jsonify(
        _matcher().project_matches(
            project_id, k=q.k, countries=q.countries, org_types=q.org_types, challenge=q.challenge, explain=q.explain
        )
    )


@bp.get("/organisations")
@documented(summary="List organisations (paginated)", query=ListQuery, response=OrganisationPage, tags=("organisations",))
def list_organisations():
    q = _query(ListQuery)
    return _page(_matcher().list_organisations(page=q.page, per_page=q.per_page, countries=q.countries, org_types=q.org_types), q)


@bp.get("/organisations/<org_id>")
@documented(summary="One organisation, with sources and documents; ETag and Last-Modified", response=Organisation, errors=(404,), tags=("organisations",))
def get_organisation(org_id: str):
    org, changed = _matcher().get_organisation_stamped(org_id)
    body = org.model_dump(mode="json")
    etag = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:32]
    response = jsonify(body)
    response.set_etag(etag)
    response.last_modified = changed
    # 304 when the caller's copy is current (If-None-Match / If-Modified-Since): the portal re-syncs cheaply.
    return response.make_conditional(request)


class ProjectListQuery(_Query):
    page: int = Field(1, ge=1, le=1_000_000)
    per_page: int = Field(20, ge=1, le=MAX_PER_PAGE)
    countries: list[CountryCode] = Field(default_factory=list, max_length=50)


@bp.get("/projects")
@documented(summary="List project briefs (paginated)", query=ProjectListQuery, response=ProjectPage, tags=("projects",))
def list_projects():
    q = _query(ProjectListQuery)
    return _page(_matcher().list_projects(page=q.page, per_page=q.per_page, countries=q.countries), q)


@bp.get("/projects/<project_id>")
@documented(summary="One project brief", response=Project, errors=(404,), tags=("projects",))
def get_project(project_id: str):
    return jsonify(_matcher().get_project(project_id).model_dump(mode="json"))


@bp.get("/challenges")
@documented(summary="The programme's two challenge areas", response=ChallengeList, tags=("challenges",))
def challenges():
    items = [c.model_dump(mode="json") for c in _matcher().challenges()]
    return jsonify({"items": items, "total": len(items)})
