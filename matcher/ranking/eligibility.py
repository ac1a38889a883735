"""The programme's scope as the ranking uses it: each result's ``eligibility``, the eligibility filter and the
default countries, all read from the programme file (``corpus/data/programme.json``, ``corpus.schema.Programme``).

Labels (``corpus.schema.Eligibility``):

- ``funded``: in a programme country, of a type the programme funds there (UK universities, say);
- ``partner``: in a programme country, of a type that joins projects there as a partner (companies, say);
- ``not_eligible``: in a programme country, neither (funders, say);
- ``outside_programme``: in a country outside the programme (shown only when a request asks for it).

An organisation the file names in its side's ``overrides`` takes the label given there instead of its type's.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from corpus.schema import Eligibility, Programme

ELIGIBILITY: tuple[Eligibility, ...] = ("funded", "partner", "not_eligible", "outside_programme")


@dataclass(frozen=True)
class Scope:
    """A programme's rules as hashable data (filters are cached by it): per country, the funded and partner types
    and the organisations whose label differs from their type's."""

    countries: tuple[str, ...]
    funded: tuple[frozenset[str], ...]  # aligned with ``countries``
    partner: tuple[frozenset[str], ...]
    overrides: tuple[tuple[tuple[str, Eligibility], ...], ...] = ()  # per country: (organisation id, label)

    @classmethod
    def of(cls, programme: Programme) -> Scope:
        return cls(tuple(s.country for s in programme.sides),
                   tuple(frozenset(s.funded_org_types) for s in programme.sides),
                   tuple(frozenset(s.partner_org_types) for s in programme.sides),
                   tuple(tuple((o.organisation_id, o.eligibility) for o in s.overrides) for s in programme.sides))

    def _override(self, side: int) -> dict[str, Eligibility]:
        return dict(self.overrides[side]) if side < len(self.overrides) else {}

    def label(self, country: str, org_type: str, organisation_id: str | None = None) -> Eligibility:
        """An organisation's eligibility in this programme (see the module's docstring)."""
        if country not in self.countries:
            return "outside_programme"
        side = self.countries.index(country)
        named = self._override(side).get(organisation_id) if organisation_id is not None else None
        if named is not None:
            return named
        if org_type in self.funded[side]:
            return "funded"
        return "partner" if org_type in self.partner[side] else "not_eligible"

    def labels(self, countries: np.ndarray, org_types: np.ndarray, ids: Sequence[str] | None = None) -> np.ndarray:
        """Every organisation's label, given as country, type and (for the overrides) id columns."""
        out = np.full(len(countries), "outside_programme", dtype=object)
        id_column = np.asarray(ids, dtype=object) if ids is not None else None
        for side, (country, funded, partner) in enumerate(zip(self.countries, self.funded, self.partner)):
            here = countries == country
            is_funded, is_partner = np.isin(org_types, list(funded)), np.isin(org_types, list(partner))
            out[here] = "not_eligible"
            out[here & is_partner] = "partner"
            out[here & is_funded] = "funded"
            if id_column is not None:
                for organisation_id, label in self._override(side).items():
                    out[here & (id_column == organisation_id)] = label
        return out

    def mask(self, countries: np.ndarray, org_types: np.ndarray, wanted: Iterable[str],
             ids: Sequence[str] | None = None) -> np.ndarray:
        """Which organisations (given as country, type and id columns) have one of the ``wanted`` labels."""
        return np.isin(self.labels(countries, org_types, ids), list(set(wanted)))

    def default_countries(self, team_country: str | None, eligibility: Sequence[str] = ()) -> list[str]:
        """Where partners are sought when a request names no countries: every country when it asks for
        ``outside_programme``; else the programme's other countries when the team is in one of them; else all of
        the programme's countries."""
        if "outside_programme" in eligibility:
            return []
        if team_country in self.countries and len(self.countries) > 1:
            return [c for c in self.countries if c != team_country]
        return list(self.countries)

    def project_countries(self, seeking: Sequence[str], team_country: str | None,
                          eligibility: Sequence[str] = ()) -> list[str]:
        """Where a project's partners are sought when a request names no countries: the countries it seeks
        partners from, unless the request asks for ``outside_programme``; else ``default_countries``."""
        if seeking and "outside_programme" not in eligibility:
            return list(seeking)
        return self.default_countries(team_country, eligibility)
