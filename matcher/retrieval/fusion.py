"""Fusing lexical and dense rankings: reciprocal rank fusion and a convex combination of normalised scores.

Both work on a candidate pool (the union of each retriever's top hits) scored by both retrievers, so a document
found by only one of them still gets its true score from the other instead of a guessed zero.
"""

from __future__ import annotations

import numpy as np

RRF_K = 60  # the constant of Cormack et al. (2009); rankings beyond the first dozens barely count


def minmax(scores: np.ndarray) -> np.ndarray:
    """Scale to [0, 1] over the pool; a constant vector becomes all zeros (it carries no preference)."""
    scores = np.asarray(scores, dtype=np.float64)
    finite = np.isfinite(scores)
    if not finite.any():
        return np.zeros_like(scores)
    low, high = scores[finite].min(), scores[finite].max()
    if high - low <= 1e-12:
        return np.zeros_like(scores)
    return np.where(finite, (scores - low) / (high - low), 0.0)


def convex(lexical: np.ndarray, dense: np.ndarray, alpha: float) -> np.ndarray:
    """``alpha * minmax(lexical) + (1 - alpha) * minmax(dense)`` over one query's candidate pool."""
    return alpha * minmax(lexical) + (1.0 - alpha) * minmax(dense)


def rrf(*rankings: np.ndarray, k: int = RRF_K) -> dict[int, float]:
    """Reciprocal rank fusion of ranked candidate lists (best first): sum of 1 / (k + rank)."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            fused[int(item)] = fused.get(int(item), 0.0) + 1.0 / (k + rank)
    return fused
