"""Challenge alignment: how well an organisation fits each challenge area, boosting the requested one.

Every challenge's alignment is reported for every result; only a requested challenge counts in the score (with the
weight ``challenge``, 0.1 by default: the organisations most aligned with it move up). The alignment itself is the
index's ``ChallengeModel`` applied to each profile.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from matcher.ranking.signal import Contribution, Explainer, QuerySignals, ScoringData, ShownOrganisation, Signal

CHALLENGE_ALIGNED = 0.5  # alignment from which an organisation counts as working on a challenge
CHALLENGE_NAMES = {1: "challenge one (responsible and efficient mining)", 2: "challenge two (circular economy)"}


class ChallengeAlignment(Signal):
    name = "challenge"
    # Applies only when a request names a challenge (an explicit choice, like org_type), so a request without one
    # ranks as if it were 0. 0.1 was the best of 0.05 / 0.1 / 0.2 on the train split (docs/ranking.md).
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
            # Named in the reason only when the request asks for a challenge, and the organisation works on it.
            asked = query.challenge
            text = ""
            if asked is not None and scores.get(asked, 0.0) >= CHALLENGE_ALIGNED:
                text = f"; works on {CHALLENGE_NAMES.get(asked, f'challenge {asked}')}"
            return text, {"challenge": {"best": best, "alignment": scores}}

        return explain
