"""Officers' shortlist endpoints (API key required: shortlists and decisions are officers' working data)."""

from __future__ import annotations

from typing import Any, Literal

from flask import Blueprint, Response, jsonify, url_for
from pydantic import BaseModel, ConfigDict, Field

from matcher import (
    ShortlistAssignment,
    ShortlistJob,
    ShortlistJobs,
    ShortlistRequest,
    decisions_to_csv,
    shortlist_to_csv,
    shortlist_to_xlsx,
)
from service.auth import require_api_key
from service.deps import current_matcher
from service.openapi import documented
from service.paging import PageLinks, page_response
from service.parsing import MAX_PER_PAGE, json_body, parse_query

bp = Blueprint("v1_shortlists", __name__, url_prefix="/v1")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class ShortlistPage(PageLinks):
    items: list[ShortlistJob]


class PageQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    page: int = Field(1, ge=1, le=1_000_000)
    per_page: int = Field(20, ge=1, le=MAX_PER_PAGE)


class Decision(BaseModel):
    """An officer's decision on one assignment. Rejected pairs never reappear in later shortlists of the project."""

    model_config = ConfigDict(extra="forbid")
    decision: Literal["accepted", "rejected"]
    note: str = Field("", max_length=2000)


class DecisionHistory(BaseModel):
    items: list[dict[str, Any]]


def _jobs() -> ShortlistJobs:
    return current_matcher().shortlists


@bp.post("/shortlists")
@documented(summary="Start a batch shortlist (runs in the background)", body=ShortlistRequest, response=ShortlistJob,
            status=202, errors=(404, 422, 503), write=True, tags=("shortlists",))
@require_api_key
def create_shortlist() -> tuple[Response, int]:
    request = ShortlistRequest.model_validate(json_body())
    job = _jobs().submit(request)
    response = jsonify(job.to_dict())
    response.headers["Location"] = url_for("v1_shortlists.get_shortlist", shortlist_id=job.id)
    return response, 202


@bp.get("/shortlists")
@documented(summary="List shortlists, newest first", query=PageQuery, response=ShortlistPage, write=True,
            tags=("shortlists",))
@require_api_key
def list_shortlists() -> Response:
    query = parse_query(PageQuery)
    items, total = _jobs().list(page=query.page, per_page=query.per_page)
    return page_response([job.to_dict() for job in items], total, query.page, query.per_page)


@bp.get("/shortlists/<shortlist_id>")
@documented(summary="A shortlist: status, progress, assignments and summary", response=ShortlistJob, errors=(404,),
            write=True, tags=("shortlists",))
@require_api_key
def get_shortlist(shortlist_id: str) -> Response:
    return jsonify(_jobs().get(shortlist_id).to_dict())


def _download(body: str | bytes, mimetype: str, filename: str) -> Response:
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@bp.get("/shortlists/<shortlist_id>.csv")
@documented(summary="A shortlist's assignments as CSV (one row per assignment)", response={"type": "string"},
            media_type="text/csv", errors=(404,), write=True, tags=("shortlists",))
@require_api_key
def shortlist_csv(shortlist_id: str) -> Response:
    job = _jobs().get(shortlist_id)
    return _download(shortlist_to_csv(job), "text/csv", f"shortlist-{shortlist_id}.csv")


@bp.get("/shortlists/<shortlist_id>.xlsx")
@documented(summary="A shortlist as an Excel workbook (assignments, load, decisions)", media_type=XLSX,
            response={"type": "string", "contentMediaType": XLSX},
            errors=(404,), write=True, tags=("shortlists",))
@require_api_key
def shortlist_xlsx(shortlist_id: str) -> Response:
    jobs = _jobs()
    job = jobs.get(shortlist_id)
    workbook = shortlist_to_xlsx(job, jobs.history(shortlist_id))
    return _download(workbook, XLSX, f"shortlist-{shortlist_id}.xlsx")


@bp.patch("/shortlists/<shortlist_id>/assignments/<project_id>/<organisation_id>")
@documented(summary="Accept or reject one assignment, with a note", body=Decision, response=ShortlistAssignment,
            errors=(404,), write=True, tags=("shortlists",))
@require_api_key
def decide(shortlist_id: str, project_id: str, organisation_id: str) -> Response:
    decision = Decision.model_validate(json_body())
    assignment = _jobs().decide(shortlist_id, project_id, organisation_id, decision.decision,
                                              decision.note)
    return jsonify(assignment.to_dict())


@bp.get("/shortlists/<shortlist_id>/decisions")
@documented(summary="The decision history of a shortlist, oldest first", response=DecisionHistory, errors=(404,),
            write=True, tags=("shortlists",))
@require_api_key
def decisions(shortlist_id: str) -> Response:
    return jsonify({"items": [d.to_dict() for d in _jobs().history(shortlist_id)]})


@bp.get("/shortlists/<shortlist_id>/decisions.csv")
@documented(summary="The decision history of a shortlist as CSV", response={"type": "string"}, errors=(404,),
            media_type="text/csv", write=True, tags=("shortlists",))
@require_api_key
def decisions_csv(shortlist_id: str) -> Response:
    history = _jobs().history(shortlist_id)
    return _download(decisions_to_csv(history), "text/csv", f"decisions-{shortlist_id}.csv")
