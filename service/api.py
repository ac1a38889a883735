"""The v1 HTTP API: a thin door onto ``matcher.PartnerMatcher``. Parsing and shaping only; no ranking here."""

from __future__ import annotations


from flask import Blueprint, Response, jsonify, request
from flask.typing import ResponseReturnValue
from pydantic import BaseModel, ConfigDict, Field

from corpus.schema import ChallengeId, CountryCode, Eligibility, Organisation, OrgType, Project
from matcher import MAX_K, MAX_TEXT_CHARS, MatchRequest, ProjectSearchRequest, record_etag
from service.deps import current_matcher
from service.openapi import documented
from service.paging import page_response
from service.parsing import MAX_PAGE, MAX_PER_PAGE, json_body, parse_query
from service.schemas import ChallengeList, HistoryPage, MatchResponse, OrganisationPage, ProjectPage

bp = Blueprint("v1", __name__, url_prefix="/v1")


class _Query(BaseModel):
    # Country codes are checked and upper-cased by CountryCode itself: ?countries=gb means GB, ?countries=UK is a 400.
    model_config = ConfigDict(extra="forbid")


class ListQuery(_Query):
    page: int = Field(1, ge=1, le=MAX_PAGE)
    per_page: int = Field(20, ge=1, le=MAX_PER_PAGE)
    countries: list[CountryCode] = Field(default_factory=list, max_length=50)
    org_types: list[OrgType] = Field(default_factory=list)


class ProjectMatchQuery(_Query):
    k: int = Field(10, ge=1, le=MAX_K)
    countries: list[CountryCode] = Field(default_factory=list, max_length=50)
    org_types: list[OrgType] = Field(default_factory=list)
    challenge: ChallengeId | None = Field(
        None, description="Boost organisations aligned with this challenge (weight 0.1 in relevance), as in "
                          "POST /v1/match.")
    eligibility: list[Eligibility] = Field(default_factory=list, max_length=4)
    explain: bool = True


class ProjectListQuery(_Query):
    page: int = Field(1, ge=1, le=MAX_PAGE)
    per_page: int = Field(20, ge=1, le=MAX_PER_PAGE)
    countries: list[CountryCode] = Field(default_factory=list, max_length=50,
                                         description="the project team's country (a UK team looking for Canadian "
                                                     "projects: CA)")
    q: str | None = Field(None, max_length=MAX_TEXT_CHARS,
                          description="an idea in free text: the list is then ranked by relevance to it, each item "
                                      "with its score, and holds only the projects related to it")
    challenge: ChallengeId | None = None
    illustrative: bool | None = Field(None, description="true: illustrative briefs only; false: real, cited "
                                                        "projects only")


class HistoryQuery(_Query):
    page: int = Field(1, ge=1, le=MAX_PAGE)
    per_page: int = Field(20, ge=1, le=MAX_PER_PAGE)


def _page(page: tuple[list, int], query: ListQuery | ProjectListQuery | HistoryQuery) -> Response:
    items, total = page
    return page_response([item.model_dump(mode="json") for item in items], total, query.page, query.per_page)


@bp.post("/match")
@documented(summary="Rank partner organisations for a brief or a stored project", body=MatchRequest, response=MatchResponse, errors=(404, 503), tags=("matching",))
def match() -> Response:
    body = json_body()
    return jsonify(current_matcher().match(MatchRequest.model_validate(body)))


@bp.get("/projects/<project_id>/matches")
@documented(summary="Rank partners for a stored project", query=ProjectMatchQuery, response=MatchResponse, errors=(404, 503), tags=("matching",))
def project_matches(project_id: str) -> Response:
    q = parse_query(ProjectMatchQuery)
    return jsonify(
        current_matcher().project_matches(
            project_id, k=q.k, countries=q.countries, org_types=q.org_types, challenge=q.challenge,
            eligibility=q.eligibility, explain=q.explain,
        )
    )


@bp.get("/organisations")
@documented(summary="List organisations (paginated)", query=ListQuery, response=OrganisationPage, tags=("organisations",))
def list_organisations() -> Response:
    q = parse_query(ListQuery)
    return _page(current_matcher().list_organisations(page=q.page, per_page=q.per_page, countries=q.countries,
                                                      org_types=q.org_types), q)


@bp.get("/organisations/<org_id>")
@documented(summary="One organisation, with sources and documents; Last-Modified", response=Organisation, errors=(404,), tags=("organisations",))
def get_organisation(org_id: str) -> ResponseReturnValue:
    org, changed = current_matcher().get_organisation_stamped(org_id)
    response = jsonify(org.model_dump(mode="json"))
    # The record's own tag (what If-Match compares on PATCH, PUT and DELETE); 304 when the caller's copy is current.
    response.set_etag(record_etag(org))
    response.last_modified = changed
    return response.make_conditional(request)


@bp.get("/organisations/<org_id>/history")
@documented(summary="Who created, changed or deleted an organisation, and when (newest first; kept after a delete)", query=HistoryQuery, response=HistoryPage, errors=(404,), tags=("organisations",))
def organisation_history(org_id: str) -> Response:
    q = parse_query(HistoryQuery)
    return _page(current_matcher().organisation_history(org_id, page=q.page, per_page=q.per_page), q)


@bp.get("/projects")
@documented(summary="List project briefs (paginated), or with q rank them for an idea", query=ProjectListQuery, response=ProjectPage, errors=(503,), tags=("projects",))
def list_projects() -> Response:
    q = parse_query(ProjectListQuery)
    if q.q is None:
        return _page(current_matcher().list_projects(page=q.page, per_page=q.per_page, countries=q.countries,
                                                     challenges=[q.challenge] if q.challenge else (),
                                                     illustrative=q.illustrative), q)
    found = current_matcher().search_projects(ProjectSearchRequest.model_validate(q.model_dump()))
    return page_response([hit.to_dict() for hit in found.items], found.total, q.page, q.per_page,
                         query=found.query, message=found.message)


@bp.get("/projects/<project_id>")
@documented(summary="One project brief; ETag (for If-Match on writes)", response=Project, errors=(404,), tags=("projects",))
def get_project(project_id: str) -> ResponseReturnValue:
    project = current_matcher().get_project(project_id)
    response = jsonify(project.model_dump(mode="json"))
    response.set_etag(record_etag(project))
    return response.make_conditional(request)


@bp.get("/projects/<project_id>/history")
@documented(summary="Who created, changed or deleted a project brief, and when (newest first; kept after a delete)", query=HistoryQuery, response=HistoryPage, errors=(404,), tags=("projects",))
def project_history(project_id: str) -> Response:
    q = parse_query(HistoryQuery)
    return _page(current_matcher().project_history(project_id, page=q.page, per_page=q.per_page), q)


@bp.get("/challenges")
@documented(summary="The programme's two challenge areas", response=ChallengeList, tags=("challenges",))
def challenges() -> Response:
    items = [c.model_dump(mode="json") for c in current_matcher().challenges()]
    return jsonify({"items": items, "total": len(items)})
