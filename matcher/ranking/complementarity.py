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
    # Off by default: a boost stays on only if it raises nDCG@10 on the train split of the development
    # sets by 0.005 or more (each one's measured effect: docs/ranking.md).
    # (scripts/fit_calibration.py --ablation; figures per family in docs/ranking.md). Still reported and tunable.
    default_weight = 0.0
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
            # Named only when the brief itself names stages (a side guessed from the team's country is not the
            # brief saying anything), the organisation works at none of them (else it is on the project's own
            # side, and the reason says so) and at least half its stages are on the other side.
            if (query.stages and not query.stages & set(shown.stages)
                    and components.get("complementarity", 0) >= 0.5):
                return "; works on the other side of the value chain from your project", {}
            return "", {}

        return explain
