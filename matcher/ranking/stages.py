"""Value-chain stages: the share of the brief's stages an organisation works in."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from corpus import vocab
from matcher.ranking.bitsets import SharedItems, stage_bit
from matcher.ranking.signal import ChartRow, Explainer, QuerySignals, ShownOrganisation


class Stages(SharedItems):
    name = "stages"
    default_weight = 0.025
    weight_order = 3
    chart = (ChartRow("stages", "Value-chain stages", "stages", "share of the brief's stages covered"),)
    column, organisation_field, query_field, dtype = "stage_bits", "value_chain_stages", "stages", np.uint16
    bit = staticmethod(stage_bit)
    structural = True

    def explainer(self, query: QuerySignals, challenge_ids: Sequence[int]) -> Explainer:
        stages = vocab.value_chain_stages()
        asked = [stages[s].name for s in sorted(query.stages)]

        def explain(shown: ShownOrganisation, components: dict[str, float]) -> tuple[str, dict]:
            # The organisation's own stages are named whether or not the brief names any.
            return shown.active_in, {
                "value_chain_stages": list(shown.stage_names),
                "shared_stages": [name for s, name in zip(shown.stages, shown.stage_names) if s in query.stages],
                "query_stages": list(asked),
            }

        return explain
