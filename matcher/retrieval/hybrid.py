"""Hybrid retrieval: candidate organisations from dense search (units and evidence sentences) and BM25, each
candidate then scored exactly by both and the two fused."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from matcher.retrieval.arrays import ranges, top_allowed
from matcher.retrieval.dense import DenseSearch
from matcher.retrieval.fusion import convex
from matcher.retrieval.layout import SearchLayout
from matcher.retrieval.lexical import LexicalIndex


@dataclass
class Filter:
    """What one filter (countries, types, exclusions) allows, in the forms each search takes; cached per index."""

    mask: np.ndarray  # organisations
    count: int
    unit_mask: np.ndarray
    unit_count: int
    dense: object  # the dense search's own form of it (``DenseSearch.filter``)

    @classmethod
    def of(cls, mask: np.ndarray, layout: SearchLayout, dense: DenseSearch) -> Filter:
        unit_mask = mask[layout.unit_owner]
        return cls(mask, int(mask.sum()), unit_mask, int(unit_mask.sum()), dense.filter(unit_mask, mask, layout))


@dataclass(frozen=True)
class Candidates:
    """One query's candidate organisations (sorted positions) and their retrieval scores, aligned."""

    positions: np.ndarray
    relevance: np.ndarray  # the fused score (or the dense one when fusion is "dense")
    dense: np.ndarray  # semantic similarity: best unit (plus a share of the second), or best sentence
    lexical: np.ndarray  # BM25, divided by the pool's best
    # Plain BM25 of each candidate's best unit, when the brief's terms were not weighted (else None): the
    # calibrated fit reads it instead of scoring the brief a second time.
    plain_lexical: np.ndarray | None = None


@dataclass(frozen=True)
class HybridRetriever:
    """The searches of one index and how their results combine."""

    dense: DenseSearch
    lexical: LexicalIndex
    layout: SearchLayout
    n_docs: np.ndarray  # documents per organisation
    candidates: int  # candidates each retriever contributes
    fusion: str  # "hybrid" or "dense"
    alpha: float  # BM25's share in the fusion
    second_document: float  # share of an organisation's second-best unit added to its best

    def retrieve(self, text: str, query: np.ndarray, allowed: Filter, k: int, *, passages: np.ndarray | None = None,
                 lexical_terms: Mapping[str, float] | None = None, alpha: float | None = None) -> Candidates:
        """Candidate organisations from both retrievers, each scored exactly by both, then fused.

        Dense candidates come from the units of the allowed organisations and from each organisation's best
        evidence sentence: the model reads only a profile's beginning, so a capability stated further down is
        caught by its sentence. Lexical candidates come from one sparse BM25 product over all units, masked.

        A long brief is read as passages: ``query`` is its best passage's vector and ``passages`` (rows) the
        others'; each one searches, and an organisation's dense score is its best over them, so the passage that
        states the need finds what it would find on its own. ``lexical_terms`` (BM25 term -> weight) replace the
        terms of ``text`` when given; ``alpha`` replaces BM25's share in the fusion (a short query's).
        """
        layout, n = self.layout, self.layout.n
        pool = min(allowed.unit_count, max(self.candidates, 3 * k))
        queries = [query] if passages is None else [query, *passages]
        searches = [self.dense.search_sentences(q, pool, allowed.dense, allowed.mask, layout) for q in queries]
        dense_orgs = [layout.unit_owner[self.dense.search_units(q, pool, allowed.dense)] for q in queries]
        unit_lexical = self.lexical.scores(text) if lexical_terms is None else self.lexical.weighted_scores(lexical_terms)
        org_lexical = unit_lexical[:n]  # profiles; then an organisation's best document
        if len(unit_lexical) > n:
            # Documents are grouped by owner: one maximum per group (ufunc.at is much slower).
            has_docs = self.n_docs > 0
            best_doc = np.maximum.reduceat(unit_lexical[n:], layout.doc_starts[:-1][has_docs] - n)
            org_lexical[has_docs] = np.maximum(org_lexical[has_docs], best_doc)
        lexical_orgs = top_allowed(org_lexical, pool, allowed.mask, allowed.count)
        candidates = np.sort(np.concatenate([*dense_orgs, lexical_orgs, *(s.organisations() for s in searches)])
                             .astype(np.int64))
        first = np.ones(len(candidates), dtype=bool)
        np.not_equal(candidates[1:], candidates[:-1], out=first[1:])
        candidates = candidates[first]  # unique and sorted: np.unique's result, without its checks
        if candidates.size == 0:  # an approximate search can miss a tiny filter's few vectors altogether
            empty = np.zeros(0)
            return Candidates(candidates, empty, empty, empty)
        dense = np.maximum(self.dense_scores(candidates, query), searches[0].best(candidates))
        for q, sentences in zip(queries[1:], searches[1:]):
            dense = np.maximum(dense, np.maximum(self.dense_scores(candidates, q), sentences.best(candidates)))
        lexical = org_lexical[candidates].astype(np.float64) * allowed.mask[candidates]
        if self.fusion == "dense":
            relevance = dense
        else:
            relevance = convex(lexical, dense, self.alpha if alpha is None else alpha)
        top_lexical = lexical.max() if lexical.size and lexical.max() > 0 else 1.0
        plain = org_lexical[candidates].astype(np.float64) if lexical_terms is None else None
        return Candidates(candidates, relevance, dense, lexical / top_lexical, plain)

    def best_dense(self, queries: np.ndarray, allowed: Filter, depth: int = 10) -> float:
        """The best dense similarity (as ``retrieve`` scores it) of any allowed organisation to any of the query's
        vectors (rows): read from each vector's nearest ``depth`` units and sentences."""
        best = -1.0
        for q in queries:
            sentences = self.dense.search_sentences(q, depth, allowed.dense, allowed.mask, self.layout)
            units = self.layout.unit_owner[self.dense.search_units(q, depth, allowed.dense)]
            near = np.unique(np.concatenate([units, sentences.organisations()]).astype(np.int64))
            if near.size:
                best = max(best, float(np.maximum(self.dense_scores(near, q), sentences.best(near)).max()))
        return best

    def dense_scores(self, candidates: np.ndarray, query: np.ndarray) -> np.ndarray:
        """Per organisation: best unit + a share of the second best, so a second strong document counts but one
        strong project is never averaged away by weaker ones. With one unit this is the plain cosine."""
        n = self.layout.n
        if not self.n_docs[candidates].any():  # profiles only (no documents attached): the plain cosines
            return (self.dense.unit_vectors(candidates) @ query).astype(np.float64)
        doc_rows, doc_counts = ranges(self.layout.doc_starts - n, candidates)
        units = np.concatenate([candidates, n + doc_rows])  # profile row = organisation position
        owners = np.concatenate([candidates, np.repeat(candidates, doc_counts)])
        sims = self.dense.unit_vectors(units) @ query
        order = np.lexsort((-sims, owners))
        owners, sims = owners[order], sims[order]
        first = np.r_[True, owners[1:] != owners[:-1]]
        heads = np.flatnonzero(first)
        best, who = sims[heads], owners[heads]
        nxt = np.minimum(heads + 1, len(owners) - 1)
        second = np.where((heads + 1 < len(owners)) & (owners[nxt] == who), sims[nxt], 0.0)
        share = self.second_document
        combined = np.where(best > 0, best + share * np.clip(second, 0, None) * (1 - best), best)
        if np.array_equal(who, candidates):  # candidates come sorted and unique: already aligned
            return combined.astype(np.float64)
        return combined[np.searchsorted(who, candidates)].astype(np.float64)
