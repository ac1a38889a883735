"""What every scoring signal provides, and what it is given: the query's signals and the candidates' data."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import numpy as np

from corpus import vocab
from corpus.schema import Organisation
from matcher.retrieval.hybrid import Candidates
from matcher.retrieval.units import evidence_passages


@dataclass(frozen=True)
class QuerySignals:
    """What a query asks for beyond its words: minerals, stages, side of the value chain, type preferences."""

    minerals: set[str]
    stages: set[str]
    upstream: bool | None  # the project's side of the chain; None when unknown
    prefer_org_types: set[str]
    challenge: int | None
    # Distinct minerals, value-chain stages and field terms the brief names (``AnalysedQuery.domain_evidence``,
    # matcher.query): 0 when nothing of the field was recognised. PartnerIndex.rank sets it; None: not analysed.
    domain_evidence: int | None = None


def query_side(stages: set[str], country: str | None) -> bool | None:
    """Is the project upstream? From the stages it names, else the seed report's national pattern."""
    if stages:
        upstream = vocab.upstream_stages()
        up = sum(1 for s in stages if s in upstream)
        if up != len(stages) - up:
            return up > len(stages) - up
    return {"CA": True, "GB": False}.get(country or "")


@dataclass(frozen=True)
class ScoringData:
    """What signals score from: the retrieved candidates and the index's per-organisation data (all rows)."""

    candidates: Candidates
    columns: Mapping[str, np.ndarray]  # every signal's columns and the index's own (ids, countries, org_types, ...)
    challenge_ids: Sequence[int]
    challenge_alignment: np.ndarray  # (organisations, challenges), in [0, 1]


@dataclass(frozen=True)
class Contribution:
    """A signal's part of one query's scores.

    ``parts`` are reported per candidate in ``Match.scores`` (NaN where the signal does not apply to that one);
    ``value`` (in [0, 1]) is what the signal's weight multiplies in the weighted mean (``None``: reported only);
    ``applies`` limits where it counts (``None``: every candidate).
    """

    parts: dict[str, np.ndarray]
    value: np.ndarray | None = None
    applies: np.ndarray | None = None


@dataclass(frozen=True)
class ShownOrganisation:
    """What an organisation's explanation takes from its record alone: made once while it keeps being shown."""

    passages: list[str]  # evidence sentences, in the order of the index's sentence vectors
    head: str  # "Name (GB, university)"
    minerals: tuple[str, ...]
    stages: tuple[str, ...]
    stage_names: tuple[str, ...]
    active_in: str  # "; active in <its first three stages>", or "" when it names none
    record: Organisation

    @classmethod
    def of(cls, org: Organisation) -> ShownOrganisation:
        stages, types = vocab.value_chain_stages(), vocab.org_types()
        names = tuple(stages[s].name for s in org.value_chain_stages)
        active_in = f"; active in {', '.join(n.lower() for n in names[:3])}" if names else ""
        return cls(evidence_passages(org), f"{org.name} ({org.country}, {types[org.org_type].name.lower()})",
                   tuple(org.minerals), tuple(org.value_chain_stages), names, active_in, org)


# (i-th shown organisation, its components without NaNs) -> (its part of the reason text, its explanation fields)
Explainer = Callable[[ShownOrganisation, dict[str, float]], tuple[str, dict]]


class ChartRow(NamedTuple):
    """A row of the page's score chart: component key, label, weight name (None: no weight of its own), note."""

    key: str
    label: str
    weight: str | None
    note: str


class Signal:
    """A scoring signal. Subclass it in its own module and add an instance to ``SIGNALS`` (matcher/ranking).

    Class attributes: ``name`` (its weight's name in ``ScoreWeights`` and, usually, its component key),
    ``default_weight``, ``weight_order`` (where its weight sits among ``ScoreWeights``' fields, which is the order
    of the explanations' "weights"), ``chart`` (its rows in the page's score chart), ``structural`` (scaled with the
    other structural weights by the tuning grid's "structure"), ``tuning`` (its own values in the tuning grid).
    """

    name: ClassVar[str]
    default_weight: ClassVar[float]
    weight_order: ClassVar[int] = 100
    chart: ClassVar[tuple[ChartRow, ...]] = ()
    structural: ClassVar[bool] = False
    tuning: ClassVar[tuple[float, ...]] = ()

    def columns(self, organisations: Sequence[Organisation]) -> dict[str, np.ndarray]:
        """Per-organisation arrays this signal scores from, kept beside the index's records (none by default)."""
        return {}

    def score(self, data: ScoringData, query: QuerySignals) -> Contribution | None:
        """Its contribution for every candidate at once (vectorised); ``None`` when it does not apply."""
        raise NotImplementedError

    def explainer(self, query: QuerySignals, challenge_ids: Sequence[int]) -> Explainer | None:
        """A function giving each shown organisation's part of the reason text and explanation fields, made once
        per query; ``None``: the signal adds nothing to explanations."""
        return None
