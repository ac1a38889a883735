"""Write endpoints of v1 (API key required): organisations, projects and bulk import."""

from __future__ import annotations

from collections import Counter

from flask import Blueprint, Response, jsonify, request, url_for
from flask.typing import ResponseReturnValue
from pydantic import BaseModel, ConfigDict, Field, field_validator

from corpus.errors import clip
from corpus.schema import Organisation, Project
from matcher import InvalidRequest, record_etag
from service.auth import caller, require_api_key
from service.deps import current_matcher
from service.openapi import documented
from service.parsing import json_body, parse_query
from service.schemas import ImportResult

bp = Blueprint("v1_writes", __name__, url_prefix="/v1")
MAX_BULK = 5000


class BulkImport(BaseModel):
    """Records validated whole before anything is written; re-sending updates, never duplicates."""

    model_config = ConfigDict(extra="forbid")
    organisations: list[Organisation] = Field(default_factory=list, max_length=MAX_BULK)
    projects: list[Project] = Field(default_factory=list, max_length=MAX_BULK)

    @field_validator("organisations", "projects")
    @classmethod
    def _unique_ids(cls, records: list) -> list:
        # Two records with one id would both be counted as imported while the last silently replaced the first;
        # a corpus file with the same ids is refused by the loader, so the API refuses it too.
        twice = sorted(rid for rid, n in Counter(r.id for r in records).items() if n > 1)
        if twice:
            raise ValueError(f"id(s) {', '.join(twice[:10])} appear more than once; send each record once")
        return records


class ImportQuery(BaseModel):
    """``?dry_run=1`` (or true): validate and count, write nothing. Other parameters are refused."""

    model_config = ConfigDict(extra="forbid")
    dry_run: bool = False


class OrganisationPatch(BaseModel):
    """Any subset of an organisation's fields; the merged record is validated whole."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"additionalProperties": True})


class ProjectPatch(OrganisationPatch):
    """Any subset of a project's fields; the merged record is validated whole."""


def _if_match() -> list[str] | None:
    """The entity tags of an ``If-Match`` header (``["*"]`` for any), or None without one."""
    if "If-Match" not in request.headers:
        return None
    tags = request.if_match
    return ["*"] if tags.star_tag else list(tags)


def _same_id(body: dict, record_id: str) -> dict:
    # The URL names the record: a body naming another would silently write to the wrong one.
    if body.get("id", record_id) != record_id:
        raise InvalidRequest(f"the body's id {clip(body.get('id'))!r} differs from the URL's {clip(record_id)!r}")
    return {**body, "id": record_id}


def _created_or_replaced(response: Response, created: set[str], location: str) -> ResponseReturnValue:
    # A PUT that created the record answers 201 with its Location, as a POST does; one that replaced it, 200.
    if not created:
        return response
    response.headers["Location"] = location
    return response, 201


@bp.post("/organisations")
@documented(summary="Create an organisation", body=Organisation, response=Organisation, status=201, errors=(409,), write=True, tags=("organisations",))
@require_api_key
def create_organisation() -> ResponseReturnValue:
    org = current_matcher().save_organisation(Organisation.model_validate(json_body()), create_only=True,
                                              by=caller())
    response = jsonify(org.model_dump(mode="json"))
    response.headers["Location"] = url_for("v1.get_organisation", org_id=org.id)
    return response, 201


@bp.put("/organisations/<org_id>")
@documented(summary="Create (201) or replace (200) an organisation (conditional with If-Match)", body=Organisation, response=Organisation, errors=(412,), write=True, tags=("organisations",), creates=True)
@require_api_key
def replace_organisation(org_id: str) -> ResponseReturnValue:
    created: set[str] = set()
    org = current_matcher().save_organisation(Organisation.model_validate(_same_id(json_body(), org_id)),
                                              if_match=_if_match(), by=caller(), created=created)
    response = jsonify(org.model_dump(mode="json"))
    response.set_etag(record_etag(org))
    return _created_or_replaced(response, created, url_for("v1.get_organisation", org_id=org.id))


@bp.patch("/organisations/<org_id>")
@documented(summary="Change some fields of an organisation (conditional with If-Match: 412 when stale)", body=OrganisationPatch, response=Organisation, errors=(404, 412), write=True, tags=("organisations",))
@require_api_key
def patch_organisation(org_id: str) -> Response:
    org = current_matcher().patch_organisation(org_id, json_body(), if_match=_if_match(), by=caller())
    response = jsonify(org.model_dump(mode="json"))
    response.set_etag(record_etag(org))
    return response


@bp.delete("/organisations/<org_id>")
@documented(summary="Delete an organisation (conditional with If-Match)", status=204, errors=(404, 412), write=True, tags=("organisations",))
@require_api_key
def delete_organisation(org_id: str) -> ResponseReturnValue:
    current_matcher().delete_organisation(org_id, if_match=_if_match(), by=caller())
    return "", 204


@bp.post("/projects")
@documented(summary="Create a project brief", body=Project, response=Project, status=201, errors=(409,), write=True, tags=("projects",))
@require_api_key
def create_project() -> ResponseReturnValue:
    project = current_matcher().save_project(Project.model_validate(json_body()), create_only=True,
                                             by=caller())
    response = jsonify(project.model_dump(mode="json"))
    response.headers["Location"] = url_for("v1.get_project", project_id=project.id)
    return response, 201


@bp.put("/projects/<project_id>")
@documented(summary="Create (201) or replace (200) a project brief (conditional with If-Match)", body=Project, response=Project, errors=(412,), write=True, tags=("projects",), creates=True)
@require_api_key
def replace_project(project_id: str) -> ResponseReturnValue:
    created: set[str] = set()
    project = current_matcher().save_project(Project.model_validate(_same_id(json_body(), project_id)),
                                             if_match=_if_match(), by=caller(), created=created)
    response = jsonify(project.model_dump(mode="json"))
    response.set_etag(record_etag(project))
    return _created_or_replaced(response, created, url_for("v1.get_project", project_id=project.id))


@bp.patch("/projects/<project_id>")
@documented(summary="Change some fields of a project brief (conditional with If-Match: 412 when stale)", body=ProjectPatch, response=Project, errors=(404, 412), write=True, tags=("projects",))
@require_api_key
def patch_project(project_id: str) -> Response:
    project = current_matcher().patch_project(project_id, json_body(), if_match=_if_match(), by=caller())
    response = jsonify(project.model_dump(mode="json"))
    response.set_etag(record_etag(project))
    return response


@bp.delete("/projects/<project_id>")
@documented(summary="Delete a project brief (conditional with If-Match)", status=204, errors=(404, 412), write=True, tags=("projects",))
@require_api_key
def delete_project(project_id: str) -> ResponseReturnValue:
    current_matcher().delete_project(project_id, if_match=_if_match(), by=caller())
    return "", 204


@bp.post("/import")
@documented(summary="Bulk import organisations and projects (validated whole, one transaction)", body=BulkImport, query=ImportQuery, response=ImportResult, write=True, tags=("import",))
@require_api_key
def bulk_import() -> Response:
    # A bare ``?dry_run`` (or ``?dry_run=``) is a flag that is set: never a real import.
    dry_run = parse_query(ImportQuery).dry_run or request.args.get("dry_run") == ""
    payload = BulkImport.model_validate(json_body())
    if not payload.organisations and not payload.projects:
        raise InvalidRequest("nothing to import: send {\"organisations\": [...], \"projects\": [...]}")
    if dry_run:  # the write's own checks, and nothing written
        return jsonify({"imported": current_matcher().check_records(payload.organisations, payload.projects),
                        "dry_run": True})
    return jsonify({"imported": current_matcher().import_records(payload.organisations, payload.projects,
                                                                      by=caller())})

