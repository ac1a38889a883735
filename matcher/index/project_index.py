"""The project index: stored projects (briefs, funded projects, imported or written ones) ranked for an idea.

The other direction of the programme's search: a UK team's idea against Canadian projects, or any team's against
the projects of either side. Estimator style, as ``PartnerIndex``: the constructor stores parameters, ``fit`` embeds
and indexes the projects, ``with_changes`` derives an updated index (only the changed projects' texts are
tokenised and embedded; the embedding cache skips any text seen before), ``search`` answers.

Projects are few (tens to a few thousand), so the dense side is exact: one product over their vectors, no FAISS.
The query arrives analysed and encoded by the partner index (``matcher.query``: French, symbols, misspellings;
its query-vector cache), so an idea searched for both organisations and projects is analysed and encoded once.
Retrieval is the organisation search's: BM25 (``LexicalIndex``) and the dense cosine, fused by the same convex
combination (``matcher.retrieval.fusion.convex``) with the same weight; no-evidence queries get the same
calibrated "nothing found" answer (``matcher.ranking.calibration``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from corpus.schema import Project
from embeddings.base import Embedder
from embeddings.cache import CachedEmbedder, VectorCache
from matcher.query import AnalysedQuery
from matcher.ranking import calibration
from matcher.results import ProjectHit, ScoreWeights
from matcher.retrieval.fusion import convex
from matcher.retrieval.lexical import LexicalIndex


@dataclass
class ProjectRanking:
    """What ``ProjectIndex.search`` found: the kept projects, best first, and what the query as a whole says."""

    hits: list[ProjectHit] = field(default_factory=list)
    nothing_found: bool = False  # no domain evidence and nothing near any project: the honest answer is none
    weak: bool = False  # a query about the field that no project comes near: every allowed project, ranked
    off_topic: bool = False  # nothing of the field recognised in the idea: the projects kept only share words


class ProjectIndex:
    """Ranks stored projects for a free-text idea, filtered by the project's country, challenge area and kind.

    Parameters
    ----------
    embedder: the model that embeds the projects' texts (as documents, like the organisations' profiles).
    cache: the shared vector cache (the engine's ``DatabaseEmbeddingCache``): a project whose text was embedded
        before (by any replica, or as a labelled project by the partner index) is read back, not embedded again.
    lexical_weight: BM25's share in the fusion; by default the organisation search's (``ScoreWeights.lexical``).
    """

    def __init__(self, embedder: Embedder, *, cache: VectorCache | None = None, lexical_weight: float | None = None,
                 batch_size: int = 32) -> None:
        self.embedder = embedder
        self.cache = cache
        self.lexical_weight = ScoreWeights().lexical if lexical_weight is None else lexical_weight
        self.batch_size = batch_size

    def get_params(self) -> dict[str, Any]:
        return {"cache": self.cache, "lexical_weight": self.lexical_weight, "batch_size": self.batch_size}

    def _encoder(self) -> Embedder:
        return CachedEmbedder(self.embedder, self.cache) if self.cache is not None else self.embedder

    def _encode(self, projects: Sequence[Project]) -> np.ndarray:
        if not projects:
            return np.zeros((0, self.embedder.dim), dtype=np.float32)
        vectors = self._encoder().encode([p.query_text() for p in projects], batch_size=self.batch_size)
        return np.asarray(vectors, dtype=np.float32).reshape(len(projects), self.embedder.dim)

    # ------------------------------------------------------------------ build and update
    def fit(self, projects: Iterable[Project]) -> ProjectIndex:
        """Embed and index ``projects`` (their ``query_text``: title, summary, sought expertise, keywords)."""
        projects = list({p.id: p for p in projects}.values())
        lexical = LexicalIndex().fit([p.query_text() for p in projects])
        self._set(projects, self._encode(projects), lexical)
        return self

    def _set(self, projects: list[Project], vectors: np.ndarray, lexical: LexicalIndex) -> None:
        self.projects_ = projects
        self.ids_ = [p.id for p in projects]
        self.vectors_ = np.ascontiguousarray(vectors, dtype=np.float32)
        self.lexical_ = lexical
        self.countries_ = np.array([p.country for p in projects], dtype=object)
        # Challenge areas as bits (challenge c: bit c), so a challenge filter is one vectorised test.
        self.challenge_bits_ = np.array([sum(1 << c for c in p.challenge_areas) for p in projects], dtype=np.int64)
        self.illustrative_ = np.array([p.illustrative for p in projects], dtype=bool)

    def with_changes(self, upserted: Iterable[Project] = (), deleted: Iterable[str] = ()) -> ProjectIndex:
        """A new index with ``upserted`` projects added or replaced and ``deleted`` ids removed; only the changed
        projects' texts are tokenised and embedded. This index is left as it is (a search in flight keeps it)."""
        self._check_fitted()
        upserted = list({p.id: p for p in upserted}.values())
        gone = {*deleted, *(p.id for p in upserted)}
        if not gone:
            return self
        keep = np.array([i for i, pid in enumerate(self.ids_) if pid not in gone], dtype=np.int64)
        new = type(self)(self.embedder, **self.get_params())
        lexical = self.lexical_.recombine([keep, [p.query_text() for p in upserted]])
        new._set([self.projects_[i] for i in keep.tolist()] + upserted,
                 np.vstack([self.vectors_[keep], self._encode(upserted)]), lexical)
        return new

    def embed_ahead(self, projects: Sequence[Project]) -> None:
        """Embed these projects' texts into the cache now (no-op without one), so the index update that follows a
        bulk write only reads their vectors back."""
        if self.cache is not None and projects:
            self._encode(projects)

    def _check_fitted(self) -> None:
        if not hasattr(self, "vectors_"):
            raise ValueError("the project index is not fitted; call fit(projects) first")

    def __len__(self) -> int:
        return len(getattr(self, "ids_", ()))

    # ------------------------------------------------------------------ queries
    def mask(self, countries: Sequence[str] = (), challenge: int | None = None,
             illustrative: bool | None = None) -> np.ndarray:
        """The projects the filters allow: the project's own country in ``countries`` (any when empty), in
        challenge area ``challenge``, illustrative briefs or real projects only."""
        mask = np.ones(len(self.ids_), dtype=bool)
        if countries:
            mask &= np.isin(self.countries_, list(countries))
        if challenge is not None:
            mask &= (self.challenge_bits_ & (1 << challenge)) != 0
        if illustrative is not None:
            mask &= self.illustrative_ == illustrative
        return mask

    def search(self, analysed: AnalysedQuery, query: np.ndarray, passages: np.ndarray | None = None, *,
               countries: Sequence[str] = (), challenge: int | None = None,
               illustrative: bool | None = None) -> ProjectRanking:
        """The allowed projects related to the idea, best first.

        ``query`` is the idea's vector (a long idea's best passage) and ``passages`` the others' (rows): a
        project's semantic score is its best cosine over them. A project is kept when it comes near the idea in
        meaning or in words: cosine or absolute BM25 at or over the calibrated empty-answer line (the one under
        which the organisation search answers nothing). An idea with no domain evidence and nothing near any
        project gets nothing (``nothing_found``); an idea about the field that no project comes near gets every
        allowed project, ranked, flagged ``weak``; an idea with no domain evidence that some project comes near
        is answered, flagged ``off_topic``."""
        self._check_fitted()
        rows = np.flatnonzero(self.mask(countries, challenge, illustrative))
        if rows.size == 0:
            return ProjectRanking()
        vectors = self.vectors_[rows]
        semantic = vectors @ query
        if passages is not None and len(passages):
            semantic = np.maximum(semantic, (vectors @ np.asarray(passages, dtype=np.float32).T).max(axis=1))
        plain = self.lexical_.scores(analysed.lexical_text)
        weighted = plain if analysed.lexical_terms is None else self.lexical_.weighted_scores(analysed.lexical_terms)
        mass = calibration.query_mass(self.lexical_, analysed.lexical_text)
        absolute = plain[rows].astype(np.float64) / mass if mass > 0 else np.zeros(len(rows))
        relevance = convex(weighted[rows], semantic, self.lexical_weight)
        fitted = calibration.load()
        best_semantic, best_lexical = float(semantic.max()), float(absolute.max())
        if fitted.nothing_found(analysed.domain_evidence, best_semantic, best_lexical):
            return ProjectRanking(nothing_found=True)
        near = (semantic >= fitted.empty.get("semantic", 0.0)) | (absolute >= fitted.empty.get("lexical", 0.0))
        weak = not near.any()
        kept = np.arange(len(rows)) if weak else np.flatnonzero(near)
        ids = self.ids_
        order = sorted(kept.tolist(), key=lambda i: (-relevance[i], ids[rows[i]]))
        hits = [ProjectHit(self.projects_[int(rows[i])], round(float(relevance[i]), 4), round(float(semantic[i]), 4),
                           round(float(absolute[i]), 4)) for i in order]
        return ProjectRanking(hits, weak=weak, off_topic=analysed.domain_evidence == 0)
