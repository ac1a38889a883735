"""The one place that chooses exact or approximate dense search: by the number of search units."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from matcher.retrieval.approximate import ApproximateBuilder, ApproximateSearch
from matcher.retrieval.dense import DenseBuilder, DenseSearch, DenseState
from matcher.retrieval.exact import ExactBuilder, ExactSearch

# Search units at and above which dense search is approximate (IVF); below it exact. Why: exact search is as fast
# as IVF up to about this size, and exact (docs/performance.md).
ANN_THRESHOLD = 50_000

_KINDS: dict[str, type[DenseSearch]] = {ExactSearch.mode: ExactSearch, ApproximateSearch.mode: ApproximateSearch}


@dataclass(frozen=True)
class DenseFactory:
    """Makes dense searches: exact below ``ann_threshold`` search units, approximate (IVF) from it."""

    ann_threshold: int = ANN_THRESHOLD
    nprobe: int | None = None  # IVF lists scanned per query (None: ``default_nprobe``)

    def approximate(self, n_units: int) -> bool:
        return n_units >= self.ann_threshold

    def build(self, unit_vectors: np.ndarray, passage_vectors: np.ndarray) -> DenseSearch:
        """A search over these unit and sentence vectors."""
        if not self.approximate(len(unit_vectors)):
            return ExactSearch.build(unit_vectors, passage_vectors)
        return ApproximateSearch.build(unit_vectors, passage_vectors, nprobe=self.nprobe)

    def builder(self, n_units: int, n_passages: int,
                samples: Callable[[int], tuple[np.ndarray, np.ndarray]]) -> DenseBuilder:
        """A builder for a search of this size, filled chunk by chunk; ``samples(wanted)`` is called only for an
        approximate one (to train it) and returns sample unit and sentence vectors."""
        if self.approximate(n_units):
            return ApproximateBuilder(samples, n_units, n_passages, self.nprobe)
        return ExactBuilder()

    @staticmethod
    def sizes(state: DenseState) -> tuple[int, int]:
        """(units, sentences) of a saved search."""
        return _KINDS[state.mode].sizes(state)

    def from_state(self, state: DenseState) -> DenseSearch:
        """The saved search as it was saved (exact or not); this factory's ``nprobe``, if set, overrides."""
        return _KINDS[state.mode].from_state(state, self.nprobe)
