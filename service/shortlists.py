"""Officers' shortlist endpoints (API key required: shortlists and decisions are officers' working data)."""

from __future__ import annotations

from typing import Any, Literal

from flask import Blueprint, Response, current_app, jsonify, url_for
from pydantic import BaseModel, ConfigDict, Field

from matcher import PartnerMatcher
from matcher.shortlists import (
    DECISION_COLUMNS,
    EXPORT_COLUMNS,
    ShortlistRequest,
    rows_to_csv,
    rows_to_xlsx,
)
from service.api import MAX_PER_PAGE, _json_body, _query
from service.auth import require_api_key
from service.openapi import documented

bp = Blueprint("v1_shortlists", __name__, url_prefix="/v1")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class ShortlistAssignment(BaseModel):
    project_id: str
    organisation_id: str
    organisation_name: str
    country: str
    org_type: str
    rank: int
    score: float
    reason: str
    decision: Literal["accepted", "rejected"] | None
    note: str
    decided_at: str | None


class ShortlistJob(BaseModel):
    id: str
    status: Literal["queued", "running", "done", "failed"]
    progress: float
    request: dict[str, Any]
    summary: dict[str, Any] | None
    error: dict[str, Any] | None
    created_at: str | None
    updated_at: str | None
    assignments: list[ShortlistAssignment] | None = None


class ShortlistPage(BaseModel):
    items: list[ShortlistJob]
    total: int
    page: int
    per_page: int


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


def _matcher() -> PartnerMatcher:
    return current_app.extensions["partner_matcher"]


@bp.post("/shortlists")
@documented(summary="Start a batch shortlist (runs in the background)", body=ShortlistRequest, response=ShortlistJob,
            status=202, errors=(404, 422, 503), write=True, tags=("shortlists",))
@require_api_key
def create_shortlist():
    request = ShortlistRequest.model_validate(_json_body())
    job = _matcher().shortlists.submit(request)
    response = jsonify(job)
    response.headers["Location"] = url_for("v1_shortlists.get_shortlist", shortlist_id=job["id"])
    return response, 202


@bp.get("/shortlists")
@documented(summary="List shortlists, newest first", query=PageQuery, response=ShortlistPage, write=True,
            tags=("shortlists",))
@require_api_key
def list_shortlists():
    query = _query(PageQuery)
    jobs = _matcher().shortlists
    jobs.store.fail_abandoned()
    items, total = jobs.store.list(page=query.page, per_page=query.per_page)
    return jsonify({"items": items, "total": total, "page": query.page, "per_page": query.per_page})


@bp.get("/shortlists/<shortlist_id>")
@documented(summary="A shortlist: status, progress, assignments and summary", response=ShortlistJob, errors=(404,),
            write=True, tags=("shortlists",))
@require_api_key
def get_shortlist(shortlist_id: str):
    return jsonify(_matcher().shortlists.get(shortlist_id))


def _download(body: str | bytes, mimetype: str, filename: str) -> Response:
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@bp.get("/shortlists/<shortlist_id>.csv")
@documented(summary="A shortlist's assignments as CSV (one row per assignment)", response={"type": "string"},
            errors=(404,), write=True, tags=("shortlists",))
@require_api_key
def shortlist_csv(shortlist_id: str):
    job = _matcher().shortlists.get(shortlist_id)
    return _download(rows_to_csv(job["assignments"], EXPORT_COLUMNS), "text/csv", f"shortlist-{shortlist_id}.csv")


@bp.get("/shortlists/<shortlist_id>.xlsx")
@documented(summary="A shortlist as an Excel workbook (assignments, load, decisions)", response={"type": "string"},
            errors=(404,), write=True, tags=("shortlists",))
@require_api_key
def shortlist_xlsx(shortlist_id: str):
    jobs = _matcher().shortlists
    job = jobs.get(shortlist_id)
    load = [{"organisation_id": k, "lists": v} for k, v in ((job["summary"] or {}).get("load") or {}).items()]
    workbook = rows_to_xlsx({
        "assignments": (job["assignments"], EXPORT_COLUMNS),
        "load": (load, ["organisation_id", "lists"]),
        "decisions": (jobs.store.decisions(shortlist_id), DECISION_COLUMNS),
    })
    return _download(workbook, XLSX, f"shortlist-{shortlist_id}.xlsx")


@bp.patch("/shortlists/<shortlist_id>/assignments/<project_id>/<organisation_id>")
@documented(summary="Accept or reject one assignment, with a note", body=Decision, response=ShortlistAssignment,
            errors=(404,), write=True, tags=("shortlists",))
@require_api_key
def decide(shortlist_id: str, project_id: str, organisation_id: str):
    decision = Decision.model_validate(_json_body())
    return jsonify(_matcher().shortlists.store.decide(shortlist_id, project_id, organisation_id,
                                                      decision.decision, decision.note))


@bp.get("/shortlists/<shortlist_id>/decisions")
@documented(summary="The decision history of a shortlist, oldest first", response=DecisionHistory, errors=(404,),
            write=True, tags=("shortlists",))
@require_api_key
def decisions(shortlist_id: str):
    return jsonify({"items": _matcher().shortlists.store.decisions(shortlist_id)})


@bp.get("/shortlists/<shortlist_id>/decisions.csv")
@documented(summary="The decision history of a shortlist as CSV", response={"type": "string"}, errors=(404,),
            write=True, tags=("shortlists",))
@require_api_key
def decisions_csv(shortlist_id: str):
    rows = _matcher().shortlists.store.decisions(shortlist_id)
    return _download(rows_to_csv(rows, DECISION_COLUMNS), "text/csv", f"decisions-{shortlist_id}.csv")
