"""Relevance: the fused lexical and dense retrieval score. It leads every score and every reason text."""

from __future__ import annotations

from collections.abc import Sequence

from matcher.ranking.signal import ChartRow, Contribution, Explainer, QuerySignals, ScoringData, Signal


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
        return lambda shown, components: (f"{shown.head}: profile similarity {components['semantic']:.2f}", {})
