"""The search page's form: what the user typed, checked field by field, and pydantic's errors in the form's words."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from pydantic_core import PydanticCustomError

from corpus import vocab
from corpus.normalise import clean_query_text
from corpus.schema import country_code
from matcher import MAX_K, MAX_TEXT_CHARS, MatchRequest
from service.parsing import split_values

# The programme's two sides: a team on one looks for partners on the other (docs/api.md, "Web pages").
PROGRAMME_SIDES = {"GB": "CA", "CA": "GB"}


@dataclass
class SearchForm:
    """The search form as the user filled it in: strings, so a bad value is shown back exactly as typed."""

    q: str = ""
    team: str = ""  # the team's side of the programme, GB or CA; empty when not said
    countries: list[str] = field(default_factory=list)
    challenge: str = ""
    org_types: list[str] = field(default_factory=list)
    k: str = "10"

    @classmethod
    def from_args(cls, args: Any) -> SearchForm:
        def listed(name: str) -> list[str]:  # repeats or commas, as in the API: ?countries=GB,CA
            return split_values(args.getlist(name))

        # The brief as the core will read it (no invisible or control characters), so the page shows what was ranked.
        return cls(q=clean_query_text(args.get("q", "")), team=args.get("team", "").strip().upper(),
                   countries=[c.upper() for c in listed("countries")],
                   challenge=args.get("challenge", "").strip(), org_types=listed("org_types"),
                   k=args.get("k", "").strip() or "10")

    def partner_countries(self) -> list[str]:
        """The countries searched: those ticked, else the other side of the programme from the team, else both
        sides. The page always sends them, so what it searches does not hang on the API's default."""
        if self.countries:
            return self.countries
        if self.team in PROGRAMME_SIDES:
            return [PROGRAMME_SIDES[self.team]]
        return list(PROGRAMME_SIDES)

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
        if self.team and self.team not in PROGRAMME_SIDES:
            problems.append(f"“{self.team}” is not a side of the programme: your team is in the UK (GB) or in "
                            "Canada (CA), or leave it unset.")
        try:
            request = MatchRequest(text=self.q, countries=self.partner_countries(), org_types=self.org_types,
                                   challenge=challenge, k=k,
                                   lead_country=self.team if self.team in PROGRAMME_SIDES else None)
        except ValidationError as e:
            return None, problems + [problem_in_words(dict(error)) for error in e.errors(include_url=False)]
        return (None, problems) if problems else (request, [])


def country_problem(value: str) -> str | None:
    """Why ``value`` is not a country code, in the pages' words, with the code meant when it can be told (as the
    API says it: ``UK`` -> "did you mean GB?"); None for a valid code, in either case."""
    try:
        country_code(value)
    except PydanticCustomError as e:
        guess = (e.context or {}).get("suggestion")
        hint = (f"did you mean {guess}? Pick a country from the list." if guess else
                "pick a country from the list, or use a two-letter code such as GB or CA.")
        return f"“{value[:40]}” is not a country code: {hint}"
    return None


def problem_in_words(error: dict) -> str:
    """One pydantic error of ``MatchRequest`` in the form's words."""
    where, value = error["loc"][0] if error["loc"] else "", error.get("input")
    if where == "text":
        if error["type"] == "string_too_long" and isinstance(value, str):
            return (f"The description is {len(value):,} characters long; the limit is {MAX_TEXT_CHARS:,}. "
                    "Shorten it to the project's aims and the expertise it needs.")
        return ("The project description is empty: describe your project in a sentence or two, for example "
                "“recovering cobalt from mine tailings”.")
    if where == "countries":
        return country_problem(str(value)) or f"“{value}” is not a country code: pick a country from the list."
    if where == "org_types":
        return f"“{value}” is not an organisation type: choose one from the list ({', '.join(vocab.org_types())})."
    if where == "k":
        return f"The number of results must be from 1 to {MAX_K}; you asked for {value}."
    return f"{where or 'The search'}: {error['msg']}."
