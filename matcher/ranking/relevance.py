"""Relevance: the fused lexical and dense retrieval score. It leads every score and every reason text."""

from __future__ import annotations

from collections.abc import Sequence

from matcher.ranking.signal import (
    ChartRow,
    Contribution,
    Explainer,
    QuerySignals,
    ScoringData,
    ShownOrganisation,
    Signal,
)


class Relevance(Signal):
    name = "semantic"  # the weight's historic name (the weight of relevance)
    default_weight = 0.75
    weight_order = 0
    chart = (
        ChartRow("relevance", "Relevance", "semantic", "lexical and semantic retrieval, fused"),
        ChartRow("semantic", "Semantic", None, "meaning, from the sentence embedding"),
        ChartRow("lexical", "Keywords", None, "BM25 over shared words"),
    )

    def score(self, data: ScoringData, query: QuerySignals) -> Contribution:
        found = data.candidates
        return Contribution({"relevance": found.relevance, "semantic": found.dense, "lexical": found.lexical},
                            found.relevance)

    def explainer(self, query: QuerySignals, challenge_ids: Sequence[int]) -> Explainer:
        # Plain words, no name, country or type (the page shows them beside the reason).
        def explain(shown: ShownOrganisation, components: dict[str, float]) -> tuple[str, dict]:
            # "keywords": BM25 over the brief's own idf mass (absolute), when the index gives it; else relative BM25.
            if "keywords" in components:
                many, some = components["keywords"] >= 0.35, components["keywords"] >= 0.1
            else:
                many, some = components.get("lexical", 0.0) >= 0.5, components.get("lexical", 0.0) > 0
            words = " and shares many of its key words" if many else " and shares some of its key words" if some else ""
            # The similarity itself is in the score details; a bare cosine in a sentence means nothing to a reader.
            return f"similar in meaning to your brief{words}", {}

        return explain
