"""What an officer asks a shortlist for: the request model, validated before anything runs."""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from corpus.schema import CountryCode, Eligibility, Id, OrgType

MAX_PROJECTS = 5000
PROJECT_IDS_REQUIRED = ('project_ids is required: list the projects, e.g. ["brief-001", "brief-002"], or send "all" '
                        'to shortlist every project')


class ShortlistRequest(BaseModel):
    """What an officer asks for. ``project_ids`` is required: the projects' ids, or "all" for every project; every
    other field has a default. Countries default as search's do: each project's ``seeking_countries``, else the
    programme's other country (GB for a Canadian project, CA for a UK one; ``matcher.ranking.eligibility``).
    Conflicts (``exclude``, ``exclude_organisations``) must name stored ids: an unknown one is refused (400)."""

    model_config = ConfigDict(extra="forbid")

    # Required: a job over every project is a big one, and an empty body must not start it by accident.
    project_ids: list[Id] | Literal["all"] = Field(description='required: project ids, or "all" for every project')
    per_project: int = Field(5, ge=1, le=50, description="partners on each project's list")
    max_per_organisation: int = Field(2, ge=1, le=10_000, description="lists any one organisation may appear on")
    countries: list[CountryCode] = Field(default_factory=list, max_length=50,
                                         description="partner countries; empty: each project's seeking_countries, "
                                                     "else the programme's other country (GB for a Canadian "
                                                     "project, CA for a UK one); outside the programme only when "
                                                     "named here or asked for in eligibility")
    eligibility: list[Eligibility] = Field(default_factory=list, description=(
        "keep only partners with these labels in the programme (funded, partner, not_eligible, outside_programme); "
        "outside_programme with no countries searches every country; empty: any label"))
    org_types: list[OrgType] = Field(default_factory=list, description="eligible organisation types; empty: all "
                                                                        "but funders")
    min_per_type: dict[OrgType, Annotated[int, Field(ge=0, le=50)]] = Field(
        default_factory=dict, description='per project, at least this many of each type, e.g. {"company": 1}')
    exclude: dict[Id, list[Id]] = Field(default_factory=dict, description="conflicts: project id -> organisation "
                                                                          "ids never shortlisted for it")
    exclude_organisations: list[Id] = Field(default_factory=list, max_length=10_000,
                                            description="organisations on no list")
    method: Literal["optimal", "greedy"] = "optimal"
    name: str = Field("", max_length=200, description="the officer's name for the shortlist (editable later)")
    keep: dict[Id, list[Id]] = Field(default_factory=dict, description="partners kept: project id -> organisation "
                                                                       "ids placed on its list before solving")
    based_on: str | None = Field(None, max_length=32, pattern="^[0-9a-f]+$",
                                 description="the shortlist whose accepted partners this one keeps (its decisions "
                                             "are carried over)")

    @model_validator(mode="before")
    @classmethod
    def _projects_named(cls, data: Any) -> Any:
        if isinstance(data, dict) and "project_ids" not in data:  # pydantic would say only "Field required"
            raise ValidationError.from_exception_data(cls.__name__, [InitErrorDetails(
                type=PydanticCustomError("missing", PROJECT_IDS_REQUIRED), loc=("project_ids",), input=data)])
        return data

    @model_validator(mode="after")
    def _coherent(self) -> ShortlistRequest:
        if isinstance(self.project_ids, list):
            if not self.project_ids:
                raise ValueError('project_ids is empty; list some project ids or send "all"')
            if len(self.project_ids) > MAX_PROJECTS:
                raise ValueError(f"at most {MAX_PROJECTS} projects per shortlist")
            # A project listed twice is a pasting slip, not a wish for twice the partners: say which.
            twice = sorted(p for p, n in Counter(self.project_ids).items() if n > 1)
            if twice:
                shown = ", ".join(twice[:5]) + (f" and {len(twice) - 5} more" if len(twice) > 5 else "")
                raise ValueError(f"project_ids lists {shown} more than once; list each project once")
        needed = sum(self.min_per_type.values())
        if needed > self.per_project:
            raise ValueError(f"min_per_type asks for {needed} partners per project but per_project is "
                             f"{self.per_project}; raise per_project or lower the minimums")
        if self.org_types and (missing := set(self.min_per_type) - set(self.org_types)):
            raise ValueError(f"min_per_type names {sorted(missing)}, which org_types leaves out")
        for project_id, kept in self.keep.items():
            if len(set(kept)) > self.per_project:
                raise ValueError(f"keep lists {len(set(kept))} partners for project {project_id!r} but per_project "
                                 f"is {self.per_project}; keep fewer or raise per_project")
            excluded = (set(self.exclude.get(project_id, ())) | set(self.exclude_organisations)) & set(kept)
            if excluded:
                raise ValueError(f"project {project_id!r} both keeps and excludes {sorted(excluded)}; a conflict "
                                 "of interest cannot stay on the list: remove it from keep")
        return self


__all__ = ["MAX_PROJECTS", "ShortlistRequest"]
