"""Officers' shortlist endpoints (API key required: shortlists and decisions are officers' working data)."""

from __future__ import annotations

import json
from typing import Any, Literal

from flask import Blueprint, Response, current_app, jsonify, request, url_for
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from matcher import (
    ShortlistAssignment,
    ShortlistJob,
    ShortlistJobs,
    ShortlistRequest,
    decisions_to_csv,
    shortlist_to_csv,
    shortlist_to_xlsx,
)
from corpus.schema import Id
from service.auth import caller, require_api_key
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
    """A change to one assignment: its decision ("accepted", "rejected", or null to clear it), its note, or both;
    a field left out stays as it is. Rejected pairs never reappear in later shortlists of the project."""

    model_config = ConfigDict(extra="forbid")
    decision: Literal["accepted", "rejected"] | None = None
    note: str | None = Field(None, max_length=2000)

    @field_validator("decision", mode="before")
    @classmethod
    def _known(cls, value: object) -> object:
        # pydantic's own message names only the two words; null (clear the decision) is a valid answer too.
        if value is not None and value not in ("accepted", "rejected"):
            raise ValueError(f'decision must be "accepted", "rejected" or null (to clear it), not {json.dumps(value)[:40]}')
        return value

    @model_validator(mode="after")
    def _something(self) -> Decision:
        if not self.model_fields_set:
            raise ValueError('send "decision" (accepted, rejected or null to clear it), "note", or both')
        if "note" in self.model_fields_set and self.note is None:
            raise ValueError('"note" must be text; send "" to empty it')
        return self


class Rename(BaseModel):
    """A shortlist's new name."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=200)


class Replacement(BaseModel):
    """What replacing the rejected partners may add: new conflicts of interest (project id -> organisation ids
    never shortlisted for it) and the new shortlist's name (default: the old name, "(rejected replaced)")."""

    model_config = ConfigDict(extra="forbid")
    exclude: dict[Id, list[Id]] = Field(default_factory=dict)
    name: str | None = Field(None, max_length=200)


class Caller(BaseModel):
    """The name of the API key sent (recorded with writes and decisions); the key itself is never shown."""

    key_name: str


class DecisionHistory(BaseModel):
    items: list[dict[str, Any]]


def _jobs() -> ShortlistJobs:
    return current_matcher().shortlists


@bp.post("/shortlists")
@documented(summary="Start a batch shortlist (runs in the background)", body=ShortlistRequest, response=ShortlistJob,
            status=202, errors=(404, 422, 503), write=True, tags=("shortlists",))
@require_api_key
def create_shortlist() -> tuple[Response, int]:
    body = ShortlistRequest.model_validate(json_body())
    job = _jobs().submit(body, by=caller())
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


@bp.patch("/shortlists/<shortlist_id>")
@documented(summary="Rename a shortlist", body=Rename, response=ShortlistJob, errors=(404,), write=True,
            tags=("shortlists",))
@require_api_key
def rename_shortlist(shortlist_id: str) -> Response:
    body = Rename.model_validate(json_body())
    return jsonify(_jobs().rename(shortlist_id, body.name.strip()).to_dict())


@bp.post("/shortlists/<shortlist_id>/replace-rejected")
@documented(summary="Start a new shortlist that keeps the accepted partners and replaces the rejected ones",
            body=Replacement, response=ShortlistJob, status=202, errors=(404, 409, 422, 503), write=True,
            tags=("shortlists",))
@require_api_key
def replace_rejected(shortlist_id: str) -> tuple[Response, int]:
    body = Replacement.model_validate(json_body())
    job = _jobs().replace_rejected(shortlist_id, exclude=body.exclude, name=body.name, by=caller())
    response = jsonify(job.to_dict())
    response.headers["Location"] = url_for("v1_shortlists.get_shortlist", shortlist_id=job.id)
    return response, 202


@bp.get("/whoami")
@documented(summary="The name of the API key sent: check a key before using it", response=Caller, write=True,
            tags=("shortlists",))
@require_api_key
def whoami() -> Response:
    return jsonify({"key_name": caller()})


def _base_url() -> str:
    """The address export links are built on: ``PM_PUBLIC_URL`` when set, so a forged Host header is never
    reflected into a file an officer hands on; else the request's own (X-Forwarded-Host is never believed)."""
    return current_app.config.get("PUBLIC_URL") or request.host_url


def _download(body: str | bytes, mimetype: str, filename: str) -> Response:
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@bp.get("/shortlists/<shortlist_id>.csv")
@documented(summary="A shortlist's assignments as CSV (one row per assignment)", response={"type": "string"},
            media_type="text/csv", errors=(404,), write=True, tags=("shortlists",))
@require_api_key
def shortlist_csv(shortlist_id: str) -> Response:
    jobs = _jobs()
    job = jobs.get(shortlist_id)
    return _download(shortlist_to_csv(job, jobs.export_context(job, _base_url())), "text/csv",
                     f"shortlist-{shortlist_id}.csv")


@bp.get("/shortlists/<shortlist_id>.xlsx")
@documented(summary="A shortlist as an Excel workbook (assignments, load, decisions, settings)", media_type=XLSX,
            response={"type": "string", "contentMediaType": XLSX},
            errors=(404,), write=True, tags=("shortlists",))
@require_api_key
def shortlist_xlsx(shortlist_id: str) -> Response:
    jobs = _jobs()
    job = jobs.get(shortlist_id)
    workbook = shortlist_to_xlsx(job, jobs.history(shortlist_id), jobs.export_context(job, _base_url()))
    return _download(workbook, XLSX, f"shortlist-{shortlist_id}.xlsx")


@bp.patch("/shortlists/<shortlist_id>/assignments/<project_id>/<organisation_id>")
@documented(summary="Accept, reject or clear one assignment's decision, or change its note alone",
            body=Decision, response=ShortlistAssignment, errors=(404,), write=True, tags=("shortlists",))
@require_api_key
def decide(shortlist_id: str, project_id: str, organisation_id: str) -> Response:
    change = Decision.model_validate(json_body())
    decision = change.decision if "decision" in change.model_fields_set else ...
    assignment = _jobs().decide(shortlist_id, project_id, organisation_id, decision, change.note, by=caller())
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
    jobs = _jobs()
    job = jobs.get(shortlist_id)
    text = decisions_to_csv(jobs.history(shortlist_id), job, jobs.export_context(job, _base_url()))
    return _download(text, "text/csv", f"decisions-{shortlist_id}.csv")
