"""Challenge alignment: how well an organisation fits each challenge area, boosting the requested one.

Every challenge's alignment is reported for every result; only a requested challenge counts in the score. The
alignment itself is the index's ``ChallengeModel`` applied to each profile.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from matcher.ranking.signal import Contribution, Explainer, QuerySignals, ScoringData, ShownOrganisation, Signal

CHALLENGE_ALIGNED = 0.5  # alignment from which an organisation counts as working on a challenge
CHALLENGE_NAMES = {1: "challenge one (responsible and efficient mining)", 2: "challenge two (circular economy)"}


class ChallengeAlignment(Signal):
    name = "challenge"
    # Tuning on the briefs preferred no boost; kept above 0 because a requested boost must do something.
    default_weight = 0.1
    weight_order = 2
    tuning = (0.0, 0.1, 0.25)  # searched on its own, not scaled with the structural weights

    def score(self, data: ScoringData, query: QuerySignals) -> Contribution:
        positions = data.candidates.positions
        parts = {f"challenge_{cid}": data.challenge_alignment[positions, column].astype(np.float64)
                 for column, cid in enumerate(data.challenge_ids)}
        return Contribution(parts, None if query.challenge is None else parts[f"challenge_{query.challenge}"])

    def explainer(self, query: QuerySignals, challenge_ids: Sequence[int]) -> Explainer:
        keys = [(cid, f"challenge_{cid}") for cid in challenge_ids]

        def explain(shown: ShownOrganisation, components: dict[str, float]) -> tuple[str, dict]:
            scores = {cid: components[key] for cid, key in keys}
            best = max(scores, key=scores.__getitem__)
            return (f"; closest to {CHALLENGE_NAMES.get(best, f'challenge {best}')}.",
                    {"challenge": {"best": best, "alignment": scores}})

        return explain
