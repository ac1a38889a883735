"""Preferred organisation type: whether an organisation is of a type the request prefers (a company, say)."""

from __future__ import annotations

import numpy as np

from matcher.ranking.signal import ChartRow, Contribution, QuerySignals, ScoringData, Signal


class OrgTypePreference(Signal):
    name = "org_type"
    # Kept: it applies only when a request prefers types (an explicit choice, like a filter). The development sets
    # never do, so its effect there is nil and cannot be measured (scripts/fit_calibration.py --ablation).
    default_weight = 0.1
    weight_order = 5
    chart = (ChartRow("org_type", "Preferred type", "org_type", "of a type the search prefers"),)

    def score(self, data: ScoringData, query: QuerySignals) -> Contribution | None:
        if not query.prefer_org_types:
            return None
        # "org_types" is the index's own column (filters read it too).
        preferred = np.isin(data.columns["org_types"][data.candidates.positions], list(query.prefer_org_types))
        value = preferred.astype(np.float64)
        return Contribution({"org_type": value}, value)
