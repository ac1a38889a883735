"""Server-rendered pages: another thin door onto ``matcher.PartnerMatcher``, beside the v1 API.

The researchers' views parse the query string (service/search_form.py), call the same core methods as
service/api.py, and hand the core's answer to the templates unchanged: there is no ranking here. Bad input gets an
HTML page with a 4xx, never a JSON blob; labels, score rows and highlighting are service/presentation.py's.

The officers' shortlist pages are shells: their data (shortlists, decisions, exports) needs the officer's API key,
which only the browser holds, so one script of ours (static/pages/shortlists.js) calls /v1/shortlists with it. Those
pages alone allow scripts from this origin, and fetches to it; every other page keeps the strict policy.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from corpus import vocab
from matcher import IndexNotReady, MatcherError, NotFound, OrganisationNotFound, ProjectNotFound
from service.deps import current_matcher
from service.errors import status_of
from service.presentation import (
    COUNTRY_NAMES,
    country_name,
    highlight,
    mineral_name,
    org_type_name,
    percent,
    query_stems,
    score_rows,
    source_link,
    stage_name,
)
from service.search_form import SearchForm

log = logging.getLogger("service")

bp = Blueprint("pages", __name__, template_folder="templates", static_folder="static/pages", static_url_path="/assets")

PROJECTS_PER_PAGE = 20
# Defence in depth behind autoescaping: no inline script or style can run even if some text slipped through.
CONTENT_SECURITY_POLICY = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
                           "base-uri 'none'; frame-ancestors 'none'")
# The officers' pages run our own script file and call the API on this origin; still no inline script, no eval
# (neither 'unsafe-inline' nor 'unsafe-eval'), nothing from elsewhere.
OFFICER_CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; "
                                   "img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
# Organisation types offered as per-project minimums on the shortlist form (the programme's usual mix), with
# their plural for the field's label.
MINIMUM_TYPES = {"company": "companies", "university": "universities"}


# Labels for the codes in records, as template filters (``{{ org.country | country_name }}``).
for _filter in (country_name, mineral_name, stage_name, org_type_name):
    bp.add_app_template_filter(_filter)


@bp.context_processor
def _helpers() -> dict:
    return {"source_link": source_link, "highlight": highlight, "score_rows": score_rows, "percent": percent}


def _choices() -> dict:
    """Options of the form's selectors."""
    return {"countries": COUNTRY_NAMES, "challenges": current_matcher().challenges(), "org_types": vocab.org_types()}


# ---------------------------------------------------------------------------------------------- views
@bp.get("/")
def home() -> str:
    return render_template("pages/search.html", form=SearchForm(), errors=[], response=None, **_choices())


@bp.get("/search")
def search() -> ResponseReturnValue:
    if "q" not in request.args:  # a bare /search is the empty form, at its one address
        return redirect(url_for(".home"))
    form = SearchForm.from_args(request.args)
    match_request, errors = form.to_request()
    if errors or match_request is None:
        return render_template("pages/search.html", form=form, errors=errors, response=None, **_choices()), 400
    response = current_matcher().match(match_request)
    return render_template("pages/search.html", form=form, errors=[], response=response, stems=query_stems(form.q),
                           challenge=match_request.challenge, **_choices())


@bp.get("/organisations/<org_id>")
def organisation(org_id: str) -> str:
    return render_template("pages/organisation.html", org=current_matcher().get_organisation(org_id))


@bp.get("/projects")
def projects() -> ResponseReturnValue:
    try:
        page = int(request.args.get("page", "1"))
    except ValueError:
        page = 0
    if page < 1:
        return _error_page(400, "No such page", "The page number must be a whole number from 1; "
                                                 f"the list starts at {url_for('.projects')}.")
    items, total = current_matcher().list_projects(page=page, per_page=PROJECTS_PER_PAGE)
    pages = max(1, -(-total // PROJECTS_PER_PAGE))
    return render_template("pages/projects.html", projects=items, total=total, page=page, pages=pages,
                           challenges={c.id: c for c in current_matcher().challenges()})


@bp.get("/projects/<project_id>")
def project(project_id: str) -> str:
    matcher = current_matcher()
    brief = matcher.get_project(project_id)
    lead = None
    if brief.lead_organisation_id:
        try:
            lead = matcher.get_organisation(brief.lead_organisation_id)
        except OrganisationNotFound:
            lead = None  # the brief names a lead that is no longer stored: show the name it gives, unlinked
    response = matcher.project_matches(project_id)
    return render_template("pages/project.html", project=brief, lead=lead, response=response,
                           stems=query_stems(brief.query_text()), challenge=None,
                           challenges={c.id: c for c in matcher.challenges()})


# ---------------------------------------------------------------------------------------------- officers' shortlists
def _all_projects() -> list:
    """Every stored project brief, read a page at a time (the core's pages, as the API reads them)."""
    return _every(current_matcher().list_projects)


def _organisations_by_name() -> list:
    """Every stored organisation, by name: the choices for a conflict of interest."""
    return sorted(_every(current_matcher().list_organisations), key=lambda o: o.name.casefold())


def _every(pages) -> list:
    records, page = [], 1
    while True:
        items, total = pages(page=page, per_page=100)
        records.extend(items)
        if not items or len(records) >= total:
            return records
        page += 1


def _labels() -> dict:
    """Names for the codes the script shows (countries, organisation types), so both doors label alike."""
    return {"countries": COUNTRY_NAMES, "org_types": {id_: term.name for id_, term in vocab.org_types().items()}}


def _officer_page(template: str, **context) -> Response:
    response = current_app.make_response(render_template(template, labels=_labels(), **context))
    response.headers["Content-Security-Policy"] = OFFICER_CONTENT_SECURITY_POLICY
    return response


@bp.get("/shortlists")
def shortlists() -> Response:
    return _officer_page("pages/shortlists.html", projects=_all_projects(), countries=COUNTRY_NAMES,
                         minimum_types=MINIMUM_TYPES, organisations=_organisations_by_name())


@bp.get("/shortlists/<shortlist_id>")
def shortlist(shortlist_id: str) -> Response:
    # Whether the shortlist exists is the API's answer, given only with the key: the script shows its 404.
    titles = {p.id: p.title for p in _all_projects()}
    return _officer_page("pages/shortlist.html", shortlist_id=shortlist_id, project_titles=titles,
                         organisations=_organisations_by_name())


@bp.get("/shortlists/<shortlist_id>/print")
def shortlist_print(shortlist_id: str) -> Response:
    titles = {p.id: p.title for p in _all_projects()}
    return _officer_page("pages/shortlist_print.html", shortlist_id=shortlist_id, project_titles=titles)


# ---------------------------------------------------------------------------------------------- errors and headers
def _error_page(status: int, title: str, message: str) -> Response:
    response = current_app.make_response((render_template("pages/error.html", status=status, title=title,
                                                          message=message), status))
    if status == 503:
        response.headers["Retry-After"] = "5"
    return response


@bp.errorhandler(MatcherError)
def _core_error(e: MatcherError) -> Response:
    # Only the core's errors get a page of their own; a model or corpus failure is the generic 500 page below.
    if isinstance(e, OrganisationNotFound):
        return _error_page(404, "Organisation not found", "There is no organisation at this address; it may have "
                                                          "been removed or renamed. Search for partners instead.")
    if isinstance(e, ProjectNotFound):
        return _error_page(404, "Project not found", "There is no project brief at this address; it may have been "
                                                     "removed. The list of project briefs has the current ones.")
    if isinstance(e, IndexNotReady):
        return _error_page(503, "Starting up", "The partner index is still loading. Try again in a few seconds.")
    status = status_of(e)  # the one mapping, in service/errors.py
    title = "Not found" if isinstance(e, NotFound) else "Something is wrong with this request"
    return _error_page(status, title, e.message)


@bp.errorhandler(HTTPException)
def _http_error(e: HTTPException) -> Response:
    # Werkzeug's descriptions say what went wrong (the rate limiter's 429 adds Retry-After itself).
    return _error_page(e.code or 500, e.name, e.description or e.name)


@bp.errorhandler(Exception)
def _unexpected(e: Exception) -> Response:
    log.exception("unhandled error on a page")
    return _error_page(500, "Something went wrong", "An unexpected error occurred on our side; it has been logged. "
                                                    "Try again, or go back to the search.")


@bp.after_request
def _security_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response
