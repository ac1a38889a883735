"""Value-chain stages: the share of the brief's stages an organisation works in."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from corpus import vocab
from matcher.ranking.bitsets import SharedItems, stage_bit
from matcher.ranking.signal import ChartRow, Explainer, QuerySignals, ShownOrganisation


class Stages(SharedItems):
    name = "stages"
    # Off by default: a boost stays on only if it raises nDCG@10 on the train split of the development
    # sets by 0.005 or more (each one's measured effect: docs/ranking.md).
    # (scripts/fit_calibration.py --ablation; figures per family in docs/ranking.md). Still reported and tunable.
    default_weight = 0.0
    weight_order = 3
    chart = (ChartRow("stages", "Value-chain stages", "stages", "share of the brief's stages covered"),)
    column, organisation_field, query_field, dtype = "stage_bits", "value_chain_stages", "stages", np.uint16
    bit = staticmethod(stage_bit)
    structural = True

    def explainer(self, query: QuerySignals, challenge_ids: Sequence[int]) -> Explainer:
        stages = vocab.value_chain_stages()
        asked = [stages[s].name for s in sorted(query.stages)]

        def explain(shown: ShownOrganisation, components: dict[str, float]) -> tuple[str, dict]:
            # Named in the reason only when the brief names stages, and then only the ones it shares.
            shared = [name for s, name in zip(shown.stages, shown.stage_names) if s in query.stages]
            text = f"; works at the stages you name ({', '.join(n.lower() for n in shared)})" if shared else ""
            return text, {
                "value_chain_stages": list(shown.stage_names),
                "shared_stages": shared,
                "query_stages": list(asked),
            }

        return explain
