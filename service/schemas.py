"""Response shapes of the v1 API, as pydantic models for the OpenAPI document (requests reuse the core's)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from corpus.schema import Challenge, Organisation, Project
from matcher import SIGNALS
from service.paging import PageLinks

# Every score component a signal can report (matcher.ranking's registry), then the per-challenge alignments.
COMPONENT_KEYS = ", ".join(row.key for signal in SIGNALS for row in signal.chart)


class OrganisationSummary(BaseModel):
    id: str
    name: str
    country: str
    org_type: str
    region: str = ""
    city: str = ""
    website: str = ""
    minerals: list[str] = Field(default_factory=list)
    value_chain_stages: list[str] = Field(default_factory=list)


class MatchResult(BaseModel):
    rank: int
    score: float = Field(description="the score the list is sorted by (never rises down the list); relative to the "
                                     "query's candidates, so compare it within one answer only")
    fit: float | None = Field(None, ge=0, le=1, description="calibrated probability that the organisation is a good "
                                                            "partner for the brief: the same scale for every query")
    band: str | None = Field(None, pattern="^(strong|good|possible|weak)$",
                             description="the fit in words: strong, good, possible or weak (weak whenever `weak`)")
    weak: bool = Field(description="a weak fit (or an off-topic brief): shown, but not a partner to rely on")
    organisation: OrganisationSummary
    scores: dict[str, float] = Field(description=f"{COMPONENT_KEYS} (when they apply), challenge_1 and challenge_2")
    explanation: dict | None = Field(None, description="reason, evidence, shared minerals and stages, challenge")


class MatchResponse(BaseModel):
    results: list[MatchResult]
    query: dict
    index: dict
    message: str | None = Field(None, description="why there are no results, or why every result is flagged weak "
                                                  "and how to improve the brief")


class OrganisationPage(PageLinks):
    items: list[Organisation]


class ProjectPage(PageLinks):
    items: list[Project]


class ChallengeList(BaseModel):
    items: list[Challenge]
    total: int


class ImportResult(BaseModel):
    imported: dict[str, int]
