"""Typed results of the core: a ranked match with its score components, and the weights that combine them."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, make_dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from corpus.schema import Organisation, Project
from matcher.ranking import SIGNALS

# Parameters of retrieval that ScoreWeights also carries (they are tuned with the signals' weights).
RETRIEVAL_WEIGHTS = (
    ("lexical", 0.6),  # BM25's share in the relevance fusion
    ("short_lexical", 0.7),  # BM25's share for a query of at most SHORT_QUERY_WORDS words (matcher.query.query)
    ("second_document", 0.3),  # share of an organisation's second-best document added to its best one
)


def _as_dict(self: Any) -> dict[str, float]:
    # Every explanation carries the weights: a shallow dict of floats is enough (``asdict`` deep-copies).
    return {f.name: getattr(self, f.name) for f in fields(self)}


# One field per registered signal (``matcher.ranking.SIGNALS``, ordered by ``weight_order``), then the retrieval
# parameters: a new signal's weight appears here, in the API's explanations and in the tuning grid by itself.
# Defaults were tuned on the train split of corpus/data/evaluation/dev-briefs.jsonl (`matcher evaluate --briefs
# ... --tune`): larger structured weights cost recall on those labels, so they refine rather than lead.
if TYPE_CHECKING:

    class ScoreWeights:  # what type checkers see: the fields are known only once the registry is read
        __dataclass_fields__: ClassVar[dict[str, Any]]
        lexical: float
        second_document: float

        def __init__(self, **weights: float) -> None: ...
        def __getattr__(self, name: str) -> float: ...
        def as_dict(self) -> dict[str, float]: ...

else:
    ScoreWeights = make_dataclass(
        "ScoreWeights",
        [(s.name, float, field(default=s.default_weight)) for s in sorted(SIGNALS, key=lambda s: s.weight_order)]
        + [(name, float, field(default=default)) for name, default in RETRIEVAL_WEIGHTS],
        frozen=True,
        namespace={"as_dict": _as_dict},
    )
    ScoreWeights.__module__ = __name__
ScoreWeights.__doc__ = """Relative weights of the score components; only components that apply to a query count.

    ``minerals`` applies when the brief names critical minerals, ``challenge`` when the request names a challenge
    area; the final score is the weighted mean of the components that apply, so it stays in [0, 1]. ``semantic``
    weighs relevance (the fused lexical and dense score). ``lexical``, ``short_lexical`` and ``second_document`` are
    not component weights: BM25's share in the relevance fusion (``short_lexical`` for a query of at most four
    words), and how much an organisation's second-best matching document adds to its best one (semantic = s1 +
    share * s2 * (1 - s1)).
    """


@dataclass
class Unit:
    """Another member of a result's family (its parent or a sub-unit, see ``matcher.ranking.grouping``) that also
    matched: listed under the result instead of taking a place of its own."""

    score: float  # its own calibrated fit (as a result's ``score``, but not pooled down a list: it has no place)
    organisation: Organisation
    eligibility: str | None = None
    relevance: float | None = None  # its relative ranking score, as a result's

    def to_dict(self) -> dict:
        org = self.organisation
        return {"score": self.score, "relevance": self.relevance, "eligibility": self.eligibility,
                "organisation": {"id": org.id, "name": org.name, "country": org.country, "org_type": org.org_type,
                                 "parent_id": org.parent_id}}


@dataclass
class Match:
    """One ranked organisation: its score, each score component and, if asked for, the explanation.

    ``score`` is the calibrated fit as shown (absolute, non-increasing down the list: see
    ``matcher.ranking.calibration``); ``relevance`` is the relative ranking score the list is ordered by (the
    weighted components, min-max normalised over the query's candidates), which a shortlist optimises."""

    rank: int
    score: float
    organisation: Organisation
    scores: dict[str, float]
    explanation: dict | None = field(default=None)
    weak: bool = False  # fit under the calibrated line: shown (collapsed on the page), not a match to rely on
    fit: float | None = None  # calibrated probability of being a good partner (absolute: see ranking.calibration)
    band: str | None = None  # strong / good / possible / weak, from ``fit``
    features: dict[str, float] = field(default_factory=dict, repr=False)  # what ``fit`` was computed from
    relevance: float | None = None  # the relative ranking score; None where only ``score`` was computed
    eligibility: str | None = None  # in the programme's scope (matcher.ranking.eligibility); None: no programme given
    units: list[Unit] = field(default_factory=list)  # other members of its family that matched (grouping)

    def to_dict(self, *, explain: bool = True) -> dict:
        """The HTTP contract's shape of this match (the explanation left out unless ``explain``)."""
        org = self.organisation
        out = {
            "rank": self.rank,
            "score": self.score,
            "organisation": {
                "id": org.id,
                "name": org.name,
                "country": org.country,
                "org_type": org.org_type,
                "parent_id": org.parent_id,
                "region": org.region,
                "city": org.city,
                "website": org.website,
                "minerals": org.minerals,
                "value_chain_stages": org.value_chain_stages,
            },
            "scores": dict(self.scores),
            "relevance": self.relevance,
            "fit": self.fit,
            "band": self.band,
            "weak": self.weak,
            "eligibility": self.eligibility,
            "units": [u.to_dict() for u in self.units],
        }
        if explain and self.explanation is not None:
            out["explanation"] = self.explanation
        return out


class Matches(list[Match]):
    """A ranking (best first) and what it says about the query as a whole.

    ``evidence``: the brief's domain evidence (terms of the field recognised); ``best_semantic`` / ``best_lexical``:
    the strongest dense and absolute lexical evidence among the results; ``gate_semantic``: the best dense
    similarity of any organisation in the index (unfiltered), which the gate reads with ``field_only`` (the brief
    names the field and nothing else), ``foreign`` (its other words at most one indexed text uses), ``field_words``
    and ``gate_coverage`` (how much of its content words one indexed text holds);
    ``nothing_found``: no domain evidence and nothing near any organisation, so the honest answer is an empty list."""

    evidence: int = 0
    best_semantic: float = 0.0
    best_lexical: float = 0.0
    gate_semantic: float = 0.0
    gate_coverage: float = 0.0
    field_only: bool = False
    foreign: int = 0
    field_words: int = 0
    gated: bool = False  # the calibrated gate judged the query off topic: every result is flagged weak
    nothing_found: bool = False

    @property
    def all_weak(self) -> bool:
        return bool(self) and all(m.weak for m in self)


@dataclass(frozen=True)
class ProjectHit:
    """One stored project ranked for a free-text idea (``PartnerMatcher.search_projects``).

    ``relevance`` is the fused score the list is ordered by (BM25 and dense, each min-max normalised over the
    projects the filters allow, as the organisation search fuses them): relative, compare it within one answer.
    ``semantic`` is the cosine of the idea and the project's text; ``lexical`` its BM25 over the idea's idf mass
    (``matcher.ranking.calibration.query_mass``), in [0, 1), the same scale for every query."""

    project: Project
    relevance: float
    semantic: float
    lexical: float

    def to_dict(self) -> dict:
        """The project's record with its scores added (the list's item shape, extended)."""
        return {**self.project.model_dump(mode="json"), "score": self.relevance, "relevance": self.relevance,
                "scores": {"semantic": self.semantic, "lexical": self.lexical}}


@dataclass(frozen=True)
class ProjectSearch:
    """A page of stored projects ranked for an idea: ``items`` (this page), ``total`` (every project kept), and
    ``message`` when the answer is empty on purpose or every project is only weakly related."""

    items: list[ProjectHit]
    total: int
    query: dict
    message: str | None = None
