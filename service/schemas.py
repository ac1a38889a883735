"""Response shapes of the v1 API, as pydantic models for the OpenAPI document (requests reuse the core's)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from corpus.schema import Challenge, Eligibility, Organisation, Project
from matcher import SIGNALS, RecordChange
from service.paging import PageLinks

# Every score component a signal can report (matcher.ranking's registry), then the per-challenge alignments.
COMPONENT_KEYS = ", ".join(row.key for signal in SIGNALS for row in signal.chart)


class OrganisationSummary(BaseModel):
    id: str
    name: str
    country: str
    org_type: str
    parent_id: str | None = Field(None, description="the organisation this one is part of, if any")
    region: str = ""
    city: str = ""
    website: str = ""
    minerals: list[str] = Field(default_factory=list)
    value_chain_stages: list[str] = Field(default_factory=list)


ELIGIBILITY_HELP = ("in the programme's scope (programme.json: a type's default, or the organisation's override): funded "
                    "(the programme funds it in its country), "
                    "partner (joins projects there as a partner), not_eligible (in a programme country, neither), "
                    "outside_programme (a country outside the programme: shown only when asked for)")


class UnitSummary(BaseModel):
    id: str
    name: str
    country: str
    org_type: str
    parent_id: str | None = None


class MatchUnit(BaseModel):
    score: float = Field(description="its own calibrated fit, on the same scale as the result's")
    relevance: float | None = Field(None, description="its relative ranking score, as the result's")
    eligibility: Eligibility | None = Field(None, description=ELIGIBILITY_HELP)
    organisation: UnitSummary


class MatchResult(BaseModel):
    rank: int
    score: float = Field(ge=0, le=1, description="the calibrated fit as shown: the probability that the "
                                                  "organisation is a good partner, the same scale for every query, "
                                                  "never rising down the list")
    relevance: float | None = Field(None, description="the relative ranking score the list is ordered by (the "
                                                      "components' weighted mean, relative to the query's "
                                                      "candidates: compare it within one answer only)")
    fit: float | None = Field(None, ge=0, le=1, description="the same value as `score` (kept for clients that read "
                                                            "it)")
    band: str | None = Field(None, pattern="^(strong|good|possible|weak)$",
                             description="the fit in words: strong, good, possible or weak (weak whenever `weak`)")
    weak: bool = Field(description="a weak fit (or an off-topic brief): shown, but not a partner to rely on")
    organisation: OrganisationSummary
    scores: dict[str, float] = Field(description=f"{COMPONENT_KEYS} (when they apply), challenge_1 and challenge_2")
    explanation: dict | None = Field(None, description="reason, evidence, shared minerals and stages, challenge")
    eligibility: Eligibility | None = Field(None, description=ELIGIBILITY_HELP)
    units: list[MatchUnit] = Field(default_factory=list,
                                   description="other members of the same body (its parent or sub-units, parent_id) "
                                               "that also matched, best first; empty when the request sets "
                                               "group_units false")


class MatchResponse(BaseModel):
    results: list[MatchResult]
    query: dict
    index: dict
    message: str | None = Field(None, description="why there are no results, or why every result is flagged weak "
                                                  "and how to improve the brief")


class OrganisationPage(PageLinks):
    items: list[Organisation]


class RankedProject(Project):
    """A project of the list; ranked for an idea (``q``), with its scores."""

    score: float | None = Field(None, description="with q: the same value as `relevance`")
    relevance: float | None = Field(None, description="with q: the score the list is ordered by (BM25 and dense, "
                                                      "each min-max normalised over the projects the filters allow, "
                                                      "fused as the organisation search fuses them): compare it "
                                                      "within one answer only")
    scores: dict[str, float] | None = Field(None, description="with q: semantic (cosine of the idea and the "
                                                              "project's text) and lexical (BM25 over the idea's "
                                                              "idf mass, the same scale for every query)")


class ProjectPage(PageLinks):
    items: list[RankedProject]
    query: dict | None = Field(None, description="with q: the idea and filters as understood")


class HistoryPage(PageLinks):
    items: list[RecordChange] = Field(description="who created, changed or deleted the record and when, newest first")


class ChallengeList(BaseModel):
    items: list[Challenge]
    total: int


class ImportResult(BaseModel):
    imported: dict[str, int]
    dry_run: bool = False  # present and true when ?dry_run=1: validated and counted, nothing written
