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
from corpus.normalise import clean_query_text
from corpus.schema import control_character_problem
from matcher import (MAX_TEXT_CHARS, IndexNotReady, InvalidRequest, MatcherError, NotFound, OrganisationNotFound,
                     ProjectNotFound, ProjectSearchRequest)
from service.deps import current_matcher
from service.errors import HTTP_CODES, error_response, status_of
from service.parsing import MAX_PAGE
from service.presentation import (
    COUNTRY_NAMES,
    ELIGIBILITY_NAMES,
    change_action,
    country_name,
    eligibility_name,
    highlight,
    mineral_name,
    org_type_name,
    percent,
    score_rows,
    source_label,
    source_link,
    stage_name,
    utc_time,
)
from service.search_form import PROGRAMME_SIDES, SearchForm, country_problem

log = logging.getLogger("service")

bp = Blueprint("pages", __name__, template_folder="templates", static_folder="static/pages", static_url_path="/assets")

PROJECTS_PER_PAGE = 20
ORGANISATIONS_PER_PAGE = 20
HISTORY_ROWS = 5  # the newest changes a record's page lists; the API pages through all of them
# Paths of the machine-facing doors: an unknown address under them is a JSON 404, as every API error is.
API_PREFIXES = ("/v1/", "/openapi.json", "/healthz", "/readyz", "/metrics")
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
for _filter in (country_name, eligibility_name, mineral_name, stage_name, org_type_name, utc_time, change_action):
    bp.add_app_template_filter(_filter)


@bp.context_processor
def _helpers() -> dict:
    return {"source_link": source_link, "source_label": source_label, "highlight": highlight,
            "score_rows": score_rows, "percent": percent}


def _choices() -> dict:
    """Options of the form's selectors."""
    return {"countries": COUNTRY_NAMES, "challenges": current_matcher().challenges(), "org_types": vocab.org_types(),
            "sides": PROGRAMME_SIDES}


class BadPage(ValueError):
    """A page number that is not a whole number from 1 to ``MAX_PAGE``."""


def _page_number() -> int:
    """``?page=``, capped as the API caps it: a bigger or malformed number is a 400 page, never a database error."""
    raw = request.args.get("page", "1").strip() or "1"
    if not raw.isdigit() or len(raw) > len(str(MAX_PAGE)) or not 1 <= int(raw) <= MAX_PAGE:
        raise BadPage(raw)
    return int(raw)


def _pages(total: int, per_page: int) -> int:
    return max(1, -(-total // per_page))


# ---------------------------------------------------------------------------------------------- views
@bp.get("/")
def home() -> str:
    return render_template("pages/search.html", form=SearchForm(), errors=[], response=None, **_choices())


@bp.get("/search")
def search() -> ResponseReturnValue:
    refining = "project" in request.args and "q" not in request.args
    if refining:  # "refine this search" on a project page: its brief, side and countries, ready to edit
        if problem := control_character_problem("project", request.args["project"]):
            raise InvalidRequest(problem)  # no id holds one, and PostgreSQL cannot compare a NUL
        brief = current_matcher().get_project(request.args["project"])
        form = SearchForm(q=brief.query_text(), team=brief.country if brief.country in PROGRAMME_SIDES else "",
                          countries=list(brief.seeking_countries))
    elif "q" not in request.args:  # a bare /search is the empty form, at its one address
        return redirect(url_for(".home"))
    else:
        form = SearchForm.from_args(request.args)
    match_request, errors = form.to_request()
    if errors or match_request is None:
        return render_template("pages/search.html", form=form, errors=errors, response=None, **_choices()), 400
    matcher = current_matcher()
    response = matcher.match(match_request)
    return render_template("pages/search.html", form=form, errors=[], response=response, refining=refining,
                           stems=matcher.key_terms(form.q), challenge=match_request.challenge, **_choices())


@bp.get("/organisations")
def organisations() -> ResponseReturnValue:
    """Every organisation, a page at a time, filtered by country, type, mineral, stage and a phrase."""
    filters = {"q": clean_query_text(request.args.get("q", "")).strip(), "country": request.args.get("country", "").strip().upper(),
               "org_type": request.args.get("org_type", "").strip(), "mineral": request.args.get("mineral", "").strip(),
               "stage": request.args.get("stage", "").strip()}
    problems = []
    if filters["country"] and (problem := country_problem(filters["country"])):
        problems.append(problem)
    for key, known, what in (("org_type", vocab.org_types(), "an organisation type"),
                             ("mineral", vocab.minerals(), "a mineral"),
                             ("stage", vocab.value_chain_stages(), "a value-chain stage")):
        if filters[key] and filters[key] not in known:
            problems.append(f"“{filters[key]}” is not {what}: pick one from the list.")
    if len(filters["q"]) > 200:
        problems.append(f"The name or words are {len(filters['q']):,} characters long; use at most 200.")
    context = {"filters": filters, "countries": COUNTRY_NAMES, "org_types": vocab.org_types(),
               "minerals": vocab.minerals(), "stages": vocab.value_chain_stages()}
    if problems:
        return render_template("pages/organisations.html", errors=problems, items=[], total=0, page=1, pages=1,
                               **context), 400
    page = _page_number()
    items, total = current_matcher().list_organisations(
        page=page, per_page=ORGANISATIONS_PER_PAGE, countries=[filters["country"]] if filters["country"] else (),
        org_types=[filters["org_type"]] if filters["org_type"] else (),
        minerals=[filters["mineral"]] if filters["mineral"] else (),
        stages=[filters["stage"]] if filters["stage"] else (), text=filters["q"])
    return render_template("pages/organisations.html", errors=[], items=items, total=total, page=page,
                           pages=_pages(total, ORGANISATIONS_PER_PAGE), **context)


@bp.get("/organisations/<org_id>")
def organisation(org_id: str) -> str:
    org = current_matcher().get_organisation(org_id)
    try:  # the body it is part of, by name; a parent deleted since is left out rather than failing the page
        parent = current_matcher().get_organisation(org.parent_id) if org.parent_id else None
    except OrganisationNotFound:
        parent = None
    history = current_matcher().organisation_history(org_id, per_page=HISTORY_ROWS)
    return render_template("pages/organisation.html", org=org, parent=parent, history=history,
                           history_url=url_for("v1.organisation_history", org_id=org_id))


@bp.get("/projects")
def projects() -> ResponseReturnValue:
    """The project briefs, a page at a time, filtered by the team's country and a challenge area; with words (an
    idea), ranked by relevance to them by the core's project search. While the index is still loading, words
    filter by phrase instead (the store's substring match), and the page says so."""
    matcher = current_matcher()
    challenges = {c.id: c for c in matcher.challenges()}
    filters = {"q": clean_query_text(request.args.get("q", "")).strip(), "country": request.args.get("country", "").strip().upper(),
               "challenge": request.args.get("challenge", "").strip()}
    problems = []
    if filters["country"] and (problem := country_problem(filters["country"])):
        problems.append(problem)
    if filters["challenge"] and filters["challenge"] not in {str(c) for c in challenges}:
        problems.append(f"“{filters['challenge']}” is not a challenge area: choose challenge one, two, or any.")
    if len(filters["q"]) > MAX_TEXT_CHARS:
        problems.append(f"The words are {len(filters['q']):,} characters long; use at most {MAX_TEXT_CHARS:,}.")
    context = {"filters": filters, "countries": COUNTRY_NAMES, "challenges": challenges, "ranked": False,
               "message": None, "phrase_only": False}
    if problems:
        return render_template("pages/projects.html", errors=problems, projects=[], total=0, page=1, pages=1,
                               **context), 400
    page = _page_number()
    countries = [filters["country"]] if filters["country"] else []
    challenge = int(filters["challenge"]) if filters["challenge"] else None
    if filters["q"]:
        try:
            found = matcher.search_projects(ProjectSearchRequest(q=filters["q"], countries=countries,
                                                                 challenge=challenge, page=page,
                                                                 per_page=PROJECTS_PER_PAGE))
            context.update(ranked=True, message=found.message)
            return render_template("pages/projects.html", errors=[], projects=[h.project for h in found.items],
                                   hits=found.items, total=found.total, page=page,
                                   pages=_pages(found.total, PROJECTS_PER_PAGE), **context)
        except IndexNotReady:
            context["phrase_only"] = True
    items, total = matcher.list_projects(page=page, per_page=PROJECTS_PER_PAGE, countries=countries,
                                         challenges=[challenge] if challenge else (), text=filters["q"])
    return render_template("pages/projects.html", errors=[], projects=items, hits=None, total=total, page=page,
                           pages=_pages(total, PROJECTS_PER_PAGE), **context)


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
    # The countries the brief seeks partners in, else the other side of the programme from its team: sent
    # explicitly, as the search page does, so the page does not depend on the API's default.
    side = SearchForm(team=brief.country if brief.country in PROGRAMME_SIDES else "",
                      countries=list(brief.seeking_countries))
    response = matcher.project_matches(project_id, countries=side.partner_countries())
    history = matcher.project_history(project_id, per_page=HISTORY_ROWS)
    return render_template("pages/project.html", project=brief, lead=lead, response=response, history=history,
                           history_url=url_for("v1.project_history", project_id=project_id),
                           stems=matcher.key_terms(brief.query_text()), challenge=None,
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
    """Names for the codes the script shows (countries, organisation types, eligibility), so both doors label
    alike."""
    return {"countries": COUNTRY_NAMES, "org_types": {id_: term.name for id_, term in vocab.org_types().items()},
            "eligibility": ELIGIBILITY_NAMES}


def _officer_page(template: str, **context) -> Response:
    response = current_app.make_response(render_template(template, labels=_labels(), **context))
    response.headers["Content-Security-Policy"] = OFFICER_CONTENT_SECURITY_POLICY
    return response


@bp.get("/shortlists")
def shortlists() -> Response:
    # ?project=<id>: "shortlist this project" on a project page, that project chosen in the form.
    return _officer_page("pages/shortlists.html", projects=_all_projects(), countries=COUNTRY_NAMES,
                         minimum_types=MINIMUM_TYPES, chosen_project=request.args.get("project", ""),
                         organisations=_organisations_by_name())


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


@bp.errorhandler(BadPage)
def _bad_page(e: BadPage) -> Response:
    return _error_page(400, "No such page", f"“{e}” is not a page number: a page is a whole number from 1 "
                                            f"to {MAX_PAGE:,}. Go back to the first page of the list.")


@bp.app_errorhandler(404)
def _not_found(e: HTTPException) -> ResponseReturnValue:
    """An unknown address: an HTML page for a browser, the API's JSON error for the API's paths and for clients
    that do not ask for HTML first."""
    wants_html = request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html"
    if request.path.startswith(API_PREFIXES) or not wants_html:
        return error_response(404, HTTP_CODES[404], e.description or e.name)
    # Outside the blueprint's routes its after_request does not run: the page's headers are set here.
    return _security_headers(_error_page(404, "Page not found", "There is no page at this address. Search for "
                                                                "partners, browse the organisations or the project "
                                                                "briefs instead."))


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
