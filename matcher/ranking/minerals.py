"""Shared minerals: the share of the brief's critical minerals an organisation works on."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from corpus import vocab
from matcher.ranking.bitsets import SharedItems, mineral_bit
from matcher.ranking.signal import ChartRow, Explainer, QuerySignals, ShownOrganisation


class Minerals(SharedItems):
    name = "minerals"
    # Off by default: a boost stays on only if it raises nDCG@10 on the train split of the development
    # sets by 0.005 or more (each one's measured effect: docs/ranking.md).
    # (scripts/fit_calibration.py --ablation; figures per family in docs/ranking.md). Still reported and tunable.
    default_weight = 0.0
    weight_order = 1
    chart = (ChartRow("minerals", "Shared minerals", "minerals", "share of the brief's critical minerals"),)
    structural = True
    column, organisation_field, query_field, dtype = "mineral_bits", "minerals", "minerals", np.uint64
    bit = staticmethod(mineral_bit)

    def explainer(self, query: QuerySignals, challenge_ids: Sequence[int]) -> Explainer:
        minerals = vocab.minerals()
        asked = sorted(minerals[m].name for m in query.minerals)

        def explain(shown: ShownOrganisation, components: dict[str, float]) -> tuple[str, dict]:
            shared = [minerals[m].name for m in shown.minerals if m in query.minerals]
            # Names read as words mid-sentence ("rare earth elements"), symbols and acronyms as written.
            words = [n[0].lower() + n[1:] if n[1:2].islower() else n for n in shared]
            return (f"; works on {', '.join(words)}" if shared else "",
                    {"shared_minerals": shared, "query_minerals": list(asked)})

        return explain
