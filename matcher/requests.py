"""Validated request payloads of the core, shared by the HTTP API and the CLI."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WrapValidator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from corpus.normalise import clean_query_text
from corpus.schema import CountryCode, Eligibility, OrgType, challenge_area, control_character_problem

MAX_TEXT_CHARS = 20_000
MAX_K = 100


def no_control_characters(value: str) -> str:
    """Refuse an id holding a control character (no id has one; PostgreSQL cannot even compare a NUL)."""
    problem = control_character_problem("project_id", value)
    if problem:
        raise PydanticCustomError("control_character", problem.removesuffix(" (tabs and line breaks are allowed)"))
    return value


class MatchRequest(BaseModel):
    """Rank partners for a brief (``text``) or a stored project (``project_id``), never both."""

    model_config = ConfigDict(extra="forbid")

    # Cleaned before it is checked: a brief of invisible characters alone is empty, and the echo is what was ranked.
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TEXT_CHARS),
                    BeforeValidator(lambda v: clean_query_text(v) if isinstance(v, str) else v)] | None = (
        Field(None, description="Free-text project brief. Format characters (soft hyphens, zero-width spaces, "
                                "Unicode category Cf) are removed and control characters read as spaces.")
    )
    project_id: Annotated[str, StringConstraints(min_length=1, max_length=128),
                          AfterValidator(no_control_characters)] | None = Field(
        None, description="Id of a stored project to match instead of text."
    )
    countries: list[CountryCode] = Field(
        default_factory=list, max_length=50,
        description="ISO 3166-1 alpha-2 codes; lower case is accepted (gb is GB); anything else is refused, with the "
                    "code meant when it can be told (UK: did you mean GB?). Empty: the programme's countries "
                    "(programme.json), only the other one when 'lead_country' is one of them; every country when "
                    "'eligibility' names 'outside_programme'.")
    org_types: list[OrgType] = Field(default_factory=list, max_length=8)
    eligibility: list[Eligibility] = Field(
        default_factory=list, max_length=4,
        description="Keep only results with these labels (programme.json: a type's default, or the organisation's "
                    "override): 'funded' (the programme funds it in its country), "
                    "'partner' (joins projects as a partner), 'not_eligible' (in a programme country, neither), "
                    "'outside_programme' (a country outside the programme). Empty: no filter.")
    group_units: bool = Field(True, strict=True, description="Give an organisation and its sub-units (parent_id) "
                                                              "one place, the others listed under it as 'units'; "
                                                              "false lists each on its own.")
    challenge: Annotated[Literal[1, 2], WrapValidator(challenge_area)] | None = Field(
        None, description="Boost organisations aligned with this challenge: its alignment (scores.challenge_1 or "
                          "challenge_2) counts in relevance with the weight 'challenge' (0.1), so the organisations "
                          "most aligned with it move up; the reason names it for those aligned at 0.5 or more.")
    challenge_only: bool = Field(False, strict=True, description="With 'challenge': keep only organisations aligned with it "
                                                      "(alignment of at least 0.5) instead of only boosting them.")
    prefer_org_types: list[OrgType] = Field(default_factory=list, max_length=8,
                                            description="Boost these organisation types (they are not a filter).")
    lead_country: CountryCode | None = Field(
        None, description="The project team's country, for value-chain complementarity; inferred from 'countries' "
                          "when they are only GB (the team is then Canadian) or only CA (the team is then British).")
    # Strict: true is not 1, "yes" is not true, 10.0 is not 10 (a typed API contract, not a guess).
    k: int = Field(10, ge=1, le=MAX_K, strict=True)
    explain: bool = Field(True, strict=True)

    def team_country(self) -> str | None:
        """The project team's country: given, or the other side of a UK-Canada search."""
        if self.lead_country:
            return self.lead_country
        if self.countries == ["GB"]:
            return "CA"
        return "GB" if self.countries == ["CA"] else None

    @model_validator(mode="before")
    @classmethod
    def _null_lists_not_given(cls, data: Any) -> Any:
        # A portal's serializer sends null for an optional list it leaves empty: null means "not given", as [].
        if isinstance(data, dict):
            return {k: v for k, v in data.items()
                    if not (v is None and k in ("countries", "org_types", "eligibility", "prefer_org_types"))}
        return data

    @model_validator(mode="after")
    def _one_query(self) -> MatchRequest:
        if (self.text is None) == (self.project_id is None):
            raise ValueError("give exactly one of 'text' (a project brief) or 'project_id'")
        if self.challenge_only and self.challenge is None:
            raise ValueError("'challenge_only' needs 'challenge' (1 or 2)")
        return self


MAX_PER_PAGE = 100


class ProjectSearchRequest(BaseModel):
    """Rank stored projects for a free-text idea (``PartnerMatcher.search_projects``), a page at a time."""

    model_config = ConfigDict(extra="forbid")

    q: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TEXT_CHARS)] = Field(
        description="The idea, in free text (English or French; symbols such as Li, REE, NdFeB are read).")
    countries: list[CountryCode] = Field(default_factory=list, max_length=50,
                                         description="Only projects whose team is in these countries (ISO alpha-2); "
                                                     "a UK team looking for Canadian projects sends CA. Empty: any.")
    challenge: Literal[1, 2] | None = Field(None, description="Only projects in this challenge area.")
    illustrative: bool | None = Field(None, description="true: only illustrative briefs; false: only real, cited "
                                                        "projects; absent: both.")
    page: int = Field(1, ge=1, le=1_000_000)
    per_page: int = Field(20, ge=1, le=MAX_PER_PAGE)
