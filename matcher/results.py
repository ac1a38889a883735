"""Typed results of the core: a ranked match with its score components, and the weights that combine them."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from corpus.schema import Organisation


@dataclass(frozen=True)
class ScoreWeights:
    """Relative weights of the score components; only components that apply to a query count.

    ``minerals`` applies when the brief names critical minerals, ``challenge`` when the request names a challenge
    area; the final score is the weighted mean of the components that apply, so it stays in [0, 1].
    ``second_document`` is not a component weight: it sets how much an organisation's second-best matching
    document adds to its best one (semantic = s1 + share * s2 * (1 - s1)).
    """

    # Tuned on the train split of corpus/data/evaluation/dev-briefs.jsonl (`matcher evaluate --briefs ... --tune`):
    # larger structured weights cost recall on those labels, so they refine rather than lead. The challenge
    # boost is kept at 0.1 (tuning preferred 0; a requested boost must do something: it cost 0.016 recall@10).
    semantic: float = 0.75  # weight of relevance: the fused lexical + dense retrieval score
    minerals: float = 0.04  # share of the brief's critical minerals the organisation works on
    challenge: float = 0.1  # alignment with the requested challenge area
    stages: float = 0.025  # share of the brief's value-chain stages the organisation works in
    complementarity: float = 0.025  # partner stages on the other side of the chain (seed report: CA up, UK down)
    org_type: float = 0.1  # the organisation is of a type the request prefers
    lexical: float = 0.6  # BM25's share in the relevance fusion (SciFact train preferred 0.45, the briefs 0.6)
    second_document: float = 0.3  # share of an organisation's second-best document added to its best one

    def as_dict(self) -> dict[str, float]:
        # Every explanation carries the weights: a shallow dict of floats is enough (``asdict`` deep-copies).
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass
class Match:
    rank: int
    score: float
    organisation: Organisation
    scores: dict[str, float]
    explanation: dict | None = field(default=None)
    weak: bool = False  # below the calibrated threshold: shown, but not a match to rely on

    def to_dict(self, *, explain: bool = True) -> dict:
        org = self.organisation
        out = {
            "rank": self.rank,
            "score": self.score,
            "organisation": {
                "id": org.id,
                "name": org.name,
                "country": org.country,
                "org_type": org.org_type,
                "region": org.region,
                "city": org.city,
                "website": org.website,
                "minerals": org.minerals,
                "value_chain_stages": org.value_chain_stages,
            },
            "scores": dict(self.scores),
            "weak": self.weak,
        }
        if explain and self.explanation is not None:
            out["explanation"] = self.explanation
        return out
