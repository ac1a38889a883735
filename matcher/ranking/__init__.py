"""Ranking: a registry of scoring signals, combined into one score per candidate and explained.

A signal is one class in one module (``matcher/ranking/<signal>.py``), a subclass of ``Signal``
(``matcher.ranking.signal``) with:

- ``name`` and ``default_weight``: its weight in ``ScoreWeights`` (which is generated from this registry), and
  ``weight_order``, where that weight sits among ``ScoreWeights``' fields and the explanations' "weights";
- ``columns(organisations)``: the per-organisation arrays it scores from, kept beside the index's records
  (optional; filled at build and on every write);
- ``score(data, query)``: its ``Contribution`` for all candidates at once, vectorised: the components reported in
  ``Match.scores``, the value its weight multiplies, and where it applies; ``None`` when the query does not call
  for it. The final score is the weighted mean of the contributions that apply, so it stays in [0, 1];
- ``explainer(query, challenge_ids)``: per shown organisation, its part of the reason text and its fields of the
  explanation (optional);
- ``chart``: its rows in the page's score chart; ``structural`` / ``tuning``: its place in the tuning grid.

Adding a signal: write the module, then add an instance to ``SIGNALS`` below. The position in ``SIGNALS`` is the
order in which contributions are summed, components reported and reason parts written: append, so the scores
and texts of the existing signals stay exactly as they were. Nothing else changes: ``ScoreWeights``, the index's
columns, the page's chart and the tuning grid all read this list. A signal that needs something new from the
request (beyond ``QuerySignals``) also needs that field added where the request is read.
"""

from __future__ import annotations

from matcher.ranking.challenge import ChallengeAlignment
from matcher.ranking.complementarity import Complementarity
from matcher.ranking.minerals import Minerals
from matcher.ranking.org_type import OrgTypePreference
from matcher.ranking.relevance import Relevance
from matcher.ranking.signal import ChartRow, Contribution, QuerySignals, ScoringData, Signal
from matcher.ranking.stages import Stages

# Relevance first: it applies to every candidate and starts the weighted mean.
SIGNALS: tuple[Signal, ...] = (
    Relevance(),
    Minerals(),
    Stages(),
    Complementarity(),
    OrgTypePreference(),
    ChallengeAlignment(),
)

__all__ = ["SIGNALS", "ChartRow", "Contribution", "QuerySignals", "ScoringData", "Signal"]
