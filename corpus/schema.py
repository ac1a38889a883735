"""Pydantic schemas for the corpus: organisations, their documents, project briefs and challenge areas.

One schema per record drives validation everywhere (loaders, importers, the API), so a record that is valid in
a JSONL file is valid over HTTP and the other way round.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from corpus import vocab

Id = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,127}$")]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=20_000)]
CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
ChallengeId = Annotated[int, Field(ge=1, le=2)]  # the programme's two challenge areas

OrgType = Literal["university", "government_lab", "rto", "company", "non_profit", "funder"]
Stage = Literal[
    "exploration", "extraction", "processing", "manufacturing", "use", "recycling", "reclamation", "policy_data"
]


# Control characters refused in names and notes when written (an XLSX cell cannot hold them, and they only ever
# arrive by mistake or attack); tab, LF and CR are text.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def control_character_problem(field: str, text: str) -> str | None:
    """Why ``text`` may not be stored in ``field`` (a control character, named with its position), or None."""
    found = CONTROL_CHARACTERS.search(text)
    if found is None:
        return None
    return (f"{field} contains the control character U+{ord(found.group()):04X} at position {found.start() + 1}; "
            "remove it (tabs and line breaks are allowed)")


def slugify(text: str) -> str:
    """A stable id fragment from a name: 'Camborne School of Mines' -> 'camborne-school-of-mines'."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()  # Université -> Universite
    slug = re.sub(r"[^a-z0-9]+", "-", folded.lower()).strip("-")
    if not slug:  # a name with no Latin letters or digits: a stable id from the name itself, so two never collide
        return "x-" + hashlib.sha1(text.strip().encode(), usedforsecurity=False).hexdigest()[:12]
    return slug[:100]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Source(_Record):
    """Where a fact came from: a URL, or a seed document and section (``seed:<file>#<section>``)."""

    ref: Annotated[str, StringConstraints(min_length=3, max_length=500)]
    note: Annotated[str, StringConstraints(max_length=500)] = ""


def _normalise_minerals(values: list[str]) -> list[str]:
    out: list[str] = []
    unknown: list[str] = []
    for value in values:
        mineral = vocab.normalise_mineral(value)
        if mineral is None:
            unknown.append(value)
        elif mineral not in out:
            out.append(mineral)
    if unknown:
        known = ", ".join(sorted(vocab.minerals()))
        raise ValueError(f"unknown mineral(s) {unknown}; use ids or synonyms from the vocabulary: {known}")
    return out


def _dedupe(values: list[str]) -> list[str]:
    seen: list[str] = []
    for value in values:
        if value and value not in seen:
            seen.append(value)
    return seen


class _PlacedRecord(_Record):
    """Shared rules of records that have a country and minerals (organisations and projects)."""

    @field_validator("minerals", check_fields=False)
    @classmethod
    def _known_minerals(cls, values: list[str]) -> list[str]:
        return _normalise_minerals(values)

    @field_validator("country", mode="before", check_fields=False)
    @classmethod
    def _upper_country(cls, value):
        return value.strip().upper() if isinstance(value, str) else value


class Document(_Record):
    """One piece of evidence about an organisation (a project, a capability statement); indexed on its own."""

    id: Id
    title: ShortText
    text: LongText
    source: Source | None = None


class Organisation(_PlacedRecord):
    id: Id
    name: ShortText
    aliases: list[ShortText] = Field(default_factory=list, max_length=50)
    country: CountryCode
    org_type: OrgType
    region: Annotated[str, StringConstraints(max_length=200)] = ""
    city: Annotated[str, StringConstraints(max_length=200)] = ""
    website: Annotated[str, StringConstraints(max_length=500)] = ""
    description: LongText
    keywords: list[ShortText] = Field(default_factory=list, max_length=100)
    minerals: list[str] = Field(default_factory=list, max_length=60)
    value_chain_stages: list[Stage] = Field(default_factory=list)
    sources: list[Source] = Field(default_factory=list, max_length=50)
    documents: list[Document] = Field(default_factory=list, max_length=1000)

    @field_validator("aliases", "keywords", "value_chain_stages")
    @classmethod
    def _unique(cls, values: list[str]) -> list[str]:
        return _dedupe(values)

    @field_validator("website")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and not re.match(r"^https?://[^\s/]+\.[^\s]+$", value):
            raise ValueError("website must be an http(s) URL such as https://www.example.org")
        return value

    def profile_text(self) -> str:
        """The text embedded for this organisation: what a reader needs to judge fit, in one passage."""
        parts = [self.name + "."]
        if self.description:
            parts.append(self.description)
        if self.keywords:
            parts.append("Expertise: " + ", ".join(self.keywords) + ".")
        if self.minerals:
            parts.append("Minerals: " + ", ".join(vocab.minerals()[m].name for m in self.minerals) + ".")
        if self.value_chain_stages:
            stages = vocab.value_chain_stages()
            parts.append("Value chain: " + ", ".join(stages[s].name for s in self.value_chain_stages) + ".")
        return " ".join(parts)


class Project(_PlacedRecord):
    """A project brief: an NSERC Alliance Missions project or any partner search, in either direction."""

    id: Id
    title: ShortText
    summary: LongText
    lead_organisation: Annotated[str, StringConstraints(max_length=300)] = ""
    lead_organisation_id: Id | None = None
    country: CountryCode
    challenge_areas: list[ChallengeId] = Field(default_factory=list)
    minerals: list[str] = Field(default_factory=list, max_length=60)
    keywords: list[ShortText] = Field(default_factory=list, max_length=100)
    sought_expertise: LongText = ""
    seeking_countries: list[CountryCode] = Field(default_factory=list)
    illustrative: bool = True
    sources: list[Source] = Field(default_factory=list, max_length=50)

    @field_validator("challenge_areas", "keywords", "seeking_countries")
    @classmethod
    def _unique(cls, values: list) -> list:
        return _dedupe(values)

    @model_validator(mode="after")
    def _real_projects_cite(self) -> Project:
        if not self.illustrative and not self.sources:
            raise ValueError("a project that is not illustrative must cite at least one source")
        return self

    def query_text(self) -> str:
        """The text a project is matched with: what it does and what it is looking for."""
        parts = [self.title + ".", self.summary]
        if self.sought_expertise:
            parts.append("Seeking: " + self.sought_expertise)
        if self.keywords:
            parts.append("Keywords: " + ", ".join(self.keywords) + ".")
        if self.minerals:
            parts.append("Minerals: " + ", ".join(vocab.minerals()[m].name for m in self.minerals) + ".")
        return " ".join(parts)


class Challenge(_Record):
    id: Literal[1, 2]
    name: ShortText
    short_name: ShortText
    description: LongText
    aims: list[ShortText] = Field(default_factory=list)
    examples: list[ShortText] = Field(default_factory=list)
    sources: list[Source] = Field(default_factory=list)

    def text(self) -> str:
        """The passage a profile is compared with for zero-shot challenge alignment."""
        return " ".join([self.name + ".", self.description, *self.aims, *self.examples])
