"""Shared minerals: the share of the brief's critical minerals an organisation works on."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from corpus import vocab
from matcher.ranking.bitsets import SharedItems, mineral_bit
from matcher.ranking.signal import ChartRow, Explainer, QuerySignals, ShownOrganisation


class Minerals(SharedItems):
    name = "minerals"
    default_weight = 0.04
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
            return (f"; works on {', '.join(shared)}" if shared else "",
                    {"shared_minerals": shared, "query_minerals": list(asked)})

        return explain
