"""Pydantic schemas for the corpus: organisations, their documents, project briefs and challenge areas.

One schema per record drives validation everywhere (loaders, importers, the API), so a record that is valid in
a JSONL file is valid over HTTP and the other way round.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import date
from typing import Annotated, Literal

import iso3166
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from corpus import vocab

Id = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,127}$")]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=20_000)]
# Names people write for a country instead of its code. ISO 3166 reserves UK for the United Kingdom, whose code is GB.
COUNTRY_ALIASES = {"UK": "GB", "UNITED KINGDOM": "GB", "GREAT BRITAIN": "GB", "BRITAIN": "GB", "ENGLAND": "GB",
                   "SCOTLAND": "GB", "WALES": "GB", "NORTHERN IRELAND": "GB"}


def country_code(value: object) -> object:
    """An ISO 3166-1 alpha-2 code, upper-cased (``gb`` is GB); anything else refused, with the code meant when it
    can be told (``UK``, ``GBR``, ``Canada``: "did you mean GB / CA?")."""
    if not isinstance(value, str):
        return value  # the str schema refuses it with its own message
    code = value.strip().upper()
    if len(code) == 2 and code.isascii() and code.isalpha() and code in iso3166.countries_by_alpha2:
        return code
    guess = COUNTRY_ALIASES.get(code) or _iso_country(value.strip())
    hint = f"did you mean '{guess}'?" if guess else "use a two-letter code such as 'GB' or 'CA'"
    raise PydanticCustomError("country_code", "'{value}' is not an ISO 3166-1 alpha-2 country code; {hint}",
                              {"value": value[:40], "hint": hint, "suggestion": guess})


def _iso_country(text: str) -> str | None:
    # iso3166 looks up alpha-3 codes, numeric codes and English names (GBR, 826, Canada).
    try:
        return iso3166.countries.get(text).alpha2 if 0 < len(text) <= 80 else None
    except KeyError:
        return None


# Documents per organisation: bounds one record's size at every write door (docs/SECURITY.md); imports keep an
# organisation's most recent projects as documents up to it (docs/corpus.md).
MAX_DOCUMENTS = 1000

CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$"), BeforeValidator(country_code)]

# ROR ids: "0", six characters of Crockford's base 32 (no i, l, o or u), two check digits (ISO 7064 mod 97-10 of
# the first seven as a number); stored as ROR writes them, https://ror.org/0xxxxxxxx.
ROR_URL = "https://ror.org/"
_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"
ROR_PREFIX = re.compile(r"^(?:(?:https?://)?(?:www\.)?ror\.org/|ror:)", re.I)


def ror_problem(value: str) -> str | None:
    """What is wrong with a ROR id (URL or bare), or None when it is one."""
    bare = ROR_PREFIX.sub("", value.strip()).strip("/").lower()
    if len(bare) != 9:
        return f"it has {len(bare)} characters after https://ror.org/, a ROR id has 9"
    if bare[0] != "0":
        return "a ROR id starts with 0"
    wrong = sorted({c for c in bare[1:7] if c not in _CROCKFORD})
    if wrong:
        return (f"{', '.join(repr(c) for c in wrong)} cannot appear in a ROR id (digits and letters other than "
                "i, l, o and u)")
    if not bare[7:].isdigit():
        return "a ROR id ends with two check digits"
    number = 0
    for c in bare[:7]:
        number = number * 32 + _CROCKFORD.index(c)
    expected = 98 - (number * 100) % 97
    if int(bare[7:]) != expected:
        return f"its check digits are {bare[7:]}, the other characters give {expected:02d}: a character is mistyped"
    return None


def ror_id(value: str) -> str:
    """A ROR id in its one stored form, https://ror.org/0xxxxxxxx, from that URL, ror.org/…, ror:… or the bare
    9-character id (any case); anything else refused, saying what is wrong and how to write it."""
    problem = ror_problem(value)
    if problem:
        raise ValueError(f"{value[:60]!r} is not a ROR id: {problem}; copy it from the organisation's page on ror.org, "
                         f"as {ROR_URL}0xxxxxxxx or the 9 characters after {ROR_URL}")
    return ROR_URL + ROR_PREFIX.sub("", value.strip()).strip("/").lower()


def challenge_area(value: object, handler: ValidatorFunctionWrapHandler) -> object:
    """One message for a challenge area that is not 1 or 2, wherever it is checked (a record, a JSON body, a query
    string), instead of each validator's own ("less than or equal to 2", "Input should be 1 or 2")."""
    try:
        return handler(value)
    except ValidationError:
        raise PydanticCustomError("challenge_area", "a challenge area is 1 or 2 (the programme's two; GET "
                                  "/v1/challenges lists them), not {value}", {"value": str(value)[:40]}) from None


ChallengeId = Annotated[int, Field(ge=1, le=2), WrapValidator(challenge_area)]  # the programme's two challenge areas

# "unknown": an organisation an importer created whose type its name does not make clear, until someone says.
OrgType = Literal["university", "college", "government_lab", "rto", "company", "non_profit", "funder", "unknown"]
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
    parent_id: Id | None = Field(None, description="The organisation this one is part of (a university's institute: "
                                                   "its university); results list a sub-unit under its parent.")
    region: Annotated[str, StringConstraints(max_length=200)] = ""
    city: Annotated[str, StringConstraints(max_length=200)] = ""
    website: Annotated[str, StringConstraints(max_length=500)] = ""
    description: LongText
    keywords: list[ShortText] = Field(default_factory=list, max_length=100)
    minerals: list[str] = Field(default_factory=list, max_length=60)
    value_chain_stages: list[Stage] = Field(default_factory=list)
    sources: list[Source] = Field(default_factory=list, max_length=50)
    documents: list[Document] = Field(default_factory=list, max_length=MAX_DOCUMENTS)
    # The source registries' own ids for this body ({"gtr": ..., "nserc": ..., "ror": ...}): importers match on them.
    identifiers: dict[Annotated[str, StringConstraints(pattern=r"^[a-z]{2,10}$")],
                      Annotated[str, StringConstraints(min_length=1, max_length=200)]] = Field(default_factory=dict,
                                                                                                max_length=10)

    @field_validator("aliases", "keywords", "value_chain_stages")
    @classmethod
    def _unique(cls, values: list[str]) -> list[str]:
        return _dedupe(values)

    @field_validator("identifiers")
    @classmethod
    def _ror(cls, values: dict[str, str]) -> dict[str, str]:
        # One form, so the resolver's identifier match finds https://ror.org/04x62fc64 given as 04X62FC64.
        return {**values, "ror": ror_id(values["ror"])} if "ror" in values else values

    @field_validator("website")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and not re.match(r"^https?://[^\s/]+\.[^\s]+$", value):
            raise ValueError("website must be an http(s) URL such as https://www.example.org")
        return value

    @model_validator(mode="after")
    def _not_own_parent(self) -> Organisation:
        if self.parent_id == self.id:
            raise ValueError("parent_id names the organisation itself; give the id of the body it is part of")
        return self

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


# What results say of a project (or a document) the source gave no abstract for.
TITLE_ONLY_NOTE = "no abstract; matched on title only"


class Award(_Record):
    """What a funder's record says about a funded project: who funded it, when, how much, in what state."""

    funder: Annotated[str, StringConstraints(max_length=300)] = ""
    programme: Annotated[str, StringConstraints(max_length=300)] = ""
    reference: Annotated[str, StringConstraints(max_length=200)] = ""
    status: Annotated[str, StringConstraints(max_length=100)] = ""
    start_date: date | None = None
    end_date: date | None = None
    amount: float | None = Field(default=None, ge=0)
    currency: Annotated[str, StringConstraints(pattern=r"^([A-Z]{3})?$")] = ""
    fiscal_years: list[Annotated[str, StringConstraints(max_length=20)]] = Field(default_factory=list, max_length=50)
    # NSERC pays by fiscal year: a later year's file adds its year; the same file again changes nothing.
    amounts_by_year: dict[Annotated[str, StringConstraints(max_length=20)], Annotated[float, Field(ge=0)]] = Field(
        default_factory=dict, max_length=50)


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
    award: Award | None = None
    # The source gave no abstract: the project is indexed on its title only, and results say so.
    title_only: bool = False
    off_topic: bool = False  # outside critical minerals and the two challenges (importers flag it; --all keeps it)
    partner_organisation_ids: list[Id] = Field(default_factory=list, max_length=200)

    @field_validator("challenge_areas", "keywords", "seeking_countries", "partner_organisation_ids")
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


Eligibility = Literal["funded", "partner", "not_eligible", "outside_programme"]


class EligibilityOverride(_Record):
    """One organisation whose eligibility differs from its type's default on a side (a research centre typed rto
    that the funder recognises, a regulator typed government_lab that it does not), with why and where it says so."""

    organisation_id: Id
    eligibility: Literal["funded", "partner", "not_eligible"]
    reason: ShortText
    sources: list[Source] = Field(min_length=1, max_length=20)


class ProgrammeSide(_Record):
    """One country's side of the programme: which organisation types its funder funds, which join as partners,
    and the organisations whose eligibility differs from their type's (``overrides``)."""

    country: CountryCode
    funder: ShortText
    funded_org_types: list[OrgType] = Field(default_factory=list)
    partner_org_types: list[OrgType] = Field(default_factory=list)
    overrides: list[EligibilityOverride] = Field(default_factory=list, max_length=10_000)
    note: LongText = ""
    sources: list[Source] = Field(min_length=1, max_length=50)

    @model_validator(mode="after")
    def _disjoint(self) -> ProgrammeSide:
        both = sorted(set(self.funded_org_types) & set(self.partner_org_types))
        if both:
            raise ValueError(f"{self.country}: org type(s) {both} are listed as both funded and partner; keep each "
                             "in one list")
        ids = [o.organisation_id for o in self.overrides]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"{self.country}: organisation(s) {twice} have more than one override; keep one each")
        return self


class Programme(_Record):
    """The programme's scope: the countries partners are sought in and, per country, who is funded and who joins
    as a project partner (``corpus/data/programme.json``). Results carry the ``eligibility`` this gives them."""

    id: Id
    name: ShortText
    sides: list[ProgrammeSide] = Field(min_length=1, max_length=20)
    sources: list[Source] = Field(min_length=1, max_length=50)

    @model_validator(mode="after")
    def _one_side_per_country(self) -> Programme:
        countries = [s.country for s in self.sides]
        twice = sorted({c for c in countries if countries.count(c) > 1})
        if twice:
            raise ValueError(f"country(ies) {twice} have more than one side; give each country one entry in 'sides'")
        return self

    @property
    def countries(self) -> list[str]:
        return [s.country for s in self.sides]
