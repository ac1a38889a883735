"""Server-rendered pages: another thin door onto ``matcher.PartnerMatcher``, beside the v1 API.

The researchers' views parse the query string, call the same core methods as service/api.py, and hand the core's
answer to the templates unchanged: there is no ranking here. What this module adds is presentation only: friendly
messages for bad input (an HTML page with a 4xx, never a JSON blob), labels for codes, the score breakdown rows,
and query-word highlighting that escapes every piece of corpus text before wrapping matches in <mark>.

The officers' shortlist pages are shells: their data (shortlists, decisions, exports) needs the officer's API key,
which only the browser holds, so one script of ours (static/pages/shortlists.js) calls /v1/shortlists with it. Those
pages alone allow scripts from this origin, and fetches to it; every other page keeps the strict policy.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

import Stemmer
from bm25s.stopwords import STOPWORDS_EN_PLUS
from flask import Blueprint, current_app, redirect, render_template, request, url_for
from markupsafe import Markup, escape
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from corpus import vocab
from matcher import (
    MAX_K,
    MAX_TEXT_CHARS,
    IndexNotReady,
    MatcherError,
    MatchRequest,
    NotFound,
    OrganisationNotFound,
    PartnerMatcher,
    ProjectNotFound,
)
from service.errors import STATUS_OF

log = logging.getLogger("service")

bp = Blueprint("pages", __name__, template_folder="templates", static_folder="static/pages", static_url_path="/assets")

# Names for the country codes the corpus holds (README, "The corpus"); any other valid code is shown as itself.
COUNTRY_NAMES = {
    "GB": "United Kingdom", "CA": "Canada", "US": "United States", "AU": "Australia", "BE": "Belgium",
    "DE": "Germany", "FI": "Finland", "FR": "France", "JP": "Japan", "KR": "South Korea", "SE": "Sweden",
}
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
# Human labels for the components of ``Match.scores``; the order is the chart's. ``weight`` names the key of
# ``explanation.weights`` that weighs the component in the overall score (None: part of relevance, not weighed).
COMPONENTS = [
    ("relevance", "Relevance", "semantic", "lexical and semantic retrieval, fused"),
    ("semantic", "Semantic", None, "meaning, from the sentence embedding"),
    ("lexical", "Keywords", None, "BM25 over shared words"),
    ("minerals", "Shared minerals", "minerals", "share of the brief's critical minerals"),
    ("stages", "Value-chain stages", "stages", "share of the brief's stages covered"),
    ("complementarity", "Complementarity", "complementarity", "stages on the other side of the chain"),
    ("org_type", "Preferred type", "org_type", "of a type the search prefers"),
]
_WORD = re.compile(r"\w+")


def _matcher() -> PartnerMatcher:
    return current_app.extensions["partner_matcher"]


# ---------------------------------------------------------------------------------------------- search form
@dataclass
class SearchForm:
    """The search form as the user filled it in: strings, so a bad value is shown back exactly as typed."""

    q: str = ""
    countries: list[str] = field(default_factory=list)
    challenge: str = ""
    org_types: list[str] = field(default_factory=list)
    k: str = "10"

    @classmethod
    def from_args(cls, args) -> SearchForm:
        def listed(name: str) -> list[str]:  # repeats or commas, as in the API: ?countries=GB,CA
            return [part.strip() for value in args.getlist(name) for part in value.split(",") if part.strip()]

        return cls(q=args.get("q", ""), countries=[c.upper() for c in listed("countries")],
                   challenge=args.get("challenge", "").strip(), org_types=listed("org_types"),
                   k=args.get("k", "").strip() or "10")

    def to_request(self) -> tuple[MatchRequest | None, list[str]]:
        """The core's request, or the problems to show, each saying what was wrong and how to fix it.

        Every field is checked even when one is wrong, so the user fixes them all in one go.
        """
        problems: list[str] = []
        challenge = int(self.challenge) if self.challenge in ("1", "2") else None
        if self.challenge and challenge is None:
            problems.append(f"“{self.challenge}” is not a challenge area: choose challenge one, two, or any.")
        try:
            k = int(self.k)
        except ValueError:
            k = 10  # stands in while the other fields are checked
            problems.append(f"“{self.k}” is not a number of results: enter a whole number from 1 to {MAX_K}.")
        try:
            request = MatchRequest(text=self.q, countries=self.countries, org_types=self.org_types,
                                   challenge=challenge, k=k)
        except ValidationError as e:
            return None, problems + [_problem(error) for error in e.errors(include_url=False)]
        return (None, problems) if problems else (request, [])


def _problem(error: dict) -> str:
    """One pydantic error of ``MatchRequest`` in the form's words."""
    where, value = error["loc"][0] if error["loc"] else "", error.get("input")
    if where == "text":
        if error["type"] == "string_too_long":
            return (f"The description is {len(value):,} characters long; the limit is {MAX_TEXT_CHARS:,}. "
                    "Shorten it to the project's aims and the expertise it needs.")
        return ("The project description is empty: describe your project in a sentence or two, for example "
                "“recovering cobalt from mine tailings”.")
    if where == "countries":
        return (f"“{value}” is not a country code: pick a country from the list, or use a two-letter code "
                "such as GB or CA.")
    if where == "org_types":
        return f"“{value}” is not an organisation type: choose one from the list ({', '.join(vocab.org_types())})."
    if where == "k":
        return f"The number of results must be from 1 to {MAX_K}; you asked for {value}."
    return f"{where or 'The search'}: {error['msg']}."


# ---------------------------------------------------------------------------------------------- highlighting
def query_stems(text: str) -> frozenset[str]:
    """The query's words to mark: lower-cased, Snowball-stemmed like the lexical index's, less English stop words.

    The stop list is bm25s' fuller one, so words such as "from" or "with" are not marked in every sentence.
    """
    words = [w.lower() for w in _WORD.findall(text) if len(w) > 1 and w.lower() not in STOPWORDS_EN_PLUS]
    return frozenset(Stemmer.Stemmer("english").stemWords(words))  # a stemmer per call: they are not thread-safe


def highlight(text: str, stems: frozenset[str]) -> Markup:
    """``text`` escaped, with the words whose stem is in ``stems`` wrapped in <mark>.

    Each piece is escaped before it is wrapped, so corpus text never reaches the page as markup. Matching words in
    the raw text (not in already-escaped text) means an entity such as ``&amp;`` can never be split by a <mark>.
    """
    words = list(_WORD.finditer(text))
    stemmed = Stemmer.Stemmer("english").stemWords([m.group().lower() for m in words]) if stems else []
    pieces, last = [], 0
    for match, stem in zip(words, stemmed):
        pieces.append(escape(text[last:match.start()]))
        word = escape(match.group())
        pieces.append(Markup("<mark>%s</mark>") % word if stem in stems else word)
        last = match.end()
    pieces.append(escape(text[last:]))
    return Markup("").join(pieces)


# ---------------------------------------------------------------------------------------------- presentation
def score_rows(result: dict, challenge: int | None) -> list[dict]:
    """The rows of a result's score-breakdown chart: every component the core returned, with its weight."""
    scores = result["scores"]
    weights = (result.get("explanation") or {}).get("weights", {})
    rows = [{"key": key, "label": label, "value": scores[key], "weight": weights.get(weight) if weight else None,
             "note": note} for key, label, weight, note in COMPONENTS if key in scores]
    if challenge is not None and f"challenge_{challenge}" in scores:
        rows.append({"key": "challenge", "label": f"Challenge {challenge} (requested)", "note": "requested boost",
                     "value": scores[f"challenge_{challenge}"], "weight": weights.get("challenge")})
    return rows


# Labels for the codes in records, as template filters (``{{ org.country | country_name }}``); unknown codes show as
# themselves, so a record added later with a new code still renders.
@bp.app_template_filter("country_name")
def country_name(code: str) -> str:
    return COUNTRY_NAMES.get(code, code)


@bp.app_template_filter("mineral_name")
def mineral_name(mineral_id: str) -> str:
    mineral = vocab.minerals().get(mineral_id)
    return mineral.name if mineral else mineral_id


@bp.app_template_filter("stage_name")
def stage_name(stage_id: str) -> str:
    stage = vocab.value_chain_stages().get(stage_id)
    return stage.name if stage else stage_id


@bp.app_template_filter("org_type_name")
def org_type_name(type_id: str) -> str:
    term = vocab.org_types().get(type_id)
    return term.name if term else type_id


def source_link(ref: str) -> str | None:
    """A source's URL when it is one (only http and https become links); seed references stay text."""
    return ref if re.match(r"^https?://", ref, re.IGNORECASE) else None


def percent(value: float) -> float:
    """A score in [0, 1] as a bar width in [0, 100]."""
    return max(0.0, min(100.0, round(float(value) * 100, 1)))


@bp.context_processor
def _helpers() -> dict:
    return {"source_link": source_link, "highlight": highlight, "score_rows": score_rows, "percent": percent}


def _choices() -> dict:
    """Options of the form's selectors."""
    return {"countries": COUNTRY_NAMES, "challenges": _matcher().challenges(), "org_types": vocab.org_types()}


# ---------------------------------------------------------------------------------------------- views
@bp.get("/")
def home():
    return render_template("pages/search.html", form=SearchForm(), errors=[], response=None, **_choices())


@bp.get("/search")
def search():
    if "q" not in request.args:  # a bare /search is the empty form, at its one address
        return redirect(url_for(".home"))
    form = SearchForm.from_args(request.args)
    match_request, errors = form.to_request()
    if errors:
        return render_template("pages/search.html", form=form, errors=errors, response=None, **_choices()), 400
    response = _matcher().match(match_request)
    return render_template("pages/search.html", form=form, errors=[], response=response, stems=query_stems(form.q),
                           challenge=match_request.challenge, **_choices())


@bp.get("/organisations/<org_id>")
def organisation(org_id: str):
    return render_template("pages/organisation.html", org=_matcher().get_organisation(org_id))


@bp.get("/projects")
def projects():
    try:
        page = int(request.args.get("page", "1"))
    except ValueError:
        page = 0
    if page < 1:
        return _error_page(400, "No such page", "The page number must be a whole number from 1; "
                                                 f"the list starts at {url_for('.projects')}.")
    items, total = _matcher().list_projects(page=page, per_page=PROJECTS_PER_PAGE)
    pages = max(1, -(-total // PROJECTS_PER_PAGE))
    return render_template("pages/projects.html", projects=items, total=total, page=page, pages=pages,
                           challenges={c.id: c for c in _matcher().challenges()})


@bp.get("/projects/<project_id>")
def project(project_id: str):
    matcher = _matcher()
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
    matcher, projects, page = _matcher(), [], 1
    while True:
        items, total = matcher.list_projects(page=page, per_page=100)
        projects.extend(items)
        if not items or len(projects) >= total:
            return projects
        page += 1


def _labels() -> dict:
    """Names for the codes the script shows (countries, organisation types), so both doors label alike."""
    return {"countries": COUNTRY_NAMES, "org_types": {id_: term.name for id_, term in vocab.org_types().items()}}


def _officer_page(template: str, **context):
    response = current_app.make_response(render_template(template, labels=_labels(), **context))
    response.headers["Content-Security-Policy"] = OFFICER_CONTENT_SECURITY_POLICY
    return response


@bp.get("/shortlists")
def shortlists():
    return _officer_page("pages/shortlists.html", projects=_all_projects(), countries=COUNTRY_NAMES,
                         minimum_types=MINIMUM_TYPES)


@bp.get("/shortlists/<shortlist_id>")
def shortlist(shortlist_id: str):
    # Whether the shortlist exists is the API's answer, given only with the key: the script shows its 404.
    titles = {p.id: p.title for p in _all_projects()}
    return _officer_page("pages/shortlist.html", shortlist_id=shortlist_id, project_titles=titles)


# ---------------------------------------------------------------------------------------------- errors and headers
def _error_page(status: int, title: str, message: str):
    response = current_app.make_response((render_template("pages/error.html", status=status, title=title,
                                                          message=message), status))
    if status == 503:
        response.headers["Retry-After"] = "5"
    return response


@bp.errorhandler(MatcherError)
def _core_error(e: MatcherError):
    if isinstance(e, OrganisationNotFound):
        return _error_page(404, "Organisation not found", "There is no organisation at this address; it may have "
                                                          "been removed or renamed. Search for partners instead.")
    if isinstance(e, ProjectNotFound):
        return _error_page(404, "Project not found", "There is no project brief at this address; it may have been "
                                                     "removed. The list of project briefs has the current ones.")
    if isinstance(e, IndexNotReady):
        return _error_page(503, "Starting up", "The partner index is still loading. Try again in a few seconds.")
    status = next((s for cls, s in STATUS_OF if isinstance(e, cls)), 500)  # the one mapping, in service/errors.py
    title = "Not found" if isinstance(e, NotFound) else "Something is wrong with this request"
    return _error_page(status, title, e.message)


@bp.errorhandler(HTTPException)
def _http_error(e: HTTPException):
    # Werkzeug's descriptions say what went wrong (the rate limiter's 429 adds Retry-After itself).
    return _error_page(e.code or 500, e.name, e.description or e.name)


@bp.errorhandler(Exception)
def _unexpected(e: Exception):
    log.exception("unhandled error on a page")
    return _error_page(500, "Something went wrong", "An unexpected error occurred on our side; it has been logged. "
                                                    "Try again, or go back to the search.")


@bp.after_request
def _security_headers(response):
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response
