"""Complementarity: an organisation's stages on the other side of the value chain from the project's.

The seed report's pattern: partners are often complementary, not identical. An upstream project (exploration,
extraction, processing, mine waste) gains most from downstream partners, and back.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from corpus import vocab
from matcher.ranking.bitsets import bits, stage_bit
from matcher.ranking.signal import ChartRow, Contribution, Explainer, QuerySignals, ScoringData, ShownOrganisation, Signal


class Complementarity(Signal):
    name = "complementarity"
    default_weight = 0.025
    weight_order = 4
    chart = (ChartRow("complementarity", "Complementarity", "complementarity", "stages on the other side of the chain"),)
    structural = True

    def score(self, data: ScoringData, query: QuerySignals) -> Contribution | None:
        if query.upstream is None:
            return None
        held = data.columns["stage_bits"][data.candidates.positions]  # the Stages signal's column
        upstream = bits(vocab.upstream_stages(), stage_bit())
        every = (1 << len(stage_bit())) - 1
        other = (every & ~upstream if query.upstream else upstream) & ~bits(query.stages, stage_bit()) & every
        counts = np.bitwise_count(held)
        has = counts > 0  # an organisation naming no stage has no side: the signal does not apply to it
        value = np.bitwise_count(held & np.uint16(other)) / np.maximum(counts, 1)
        return Contribution({"complementarity": np.where(has, value, np.nan)}, value, has)

    def explainer(self, query: QuerySignals, challenge_ids: Sequence[int]) -> Explainer:
        def explain(shown: ShownOrganisation, components: dict[str, float]) -> tuple[str, dict]:
            # Named only when at least half the organisation's stages are on the other side.
            if components.get("complementarity", 0) >= 0.5:
                return "; complements the project's side of the value chain", {}
            return "", {}

        return explain
