"""The partner index: organisation profiles embedded and searched with FAISS, scored and explained.

Estimator style: the constructor stores parameters, ``fit`` embeds and builds (fitted state ends in ``_``),
``rank`` answers queries, ``save``/``load`` persist atomically with the model id and corpus hash, so an index
built for another model or corpus is refused rather than silently served.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tempfile
import time
from dataclasses import dataclass
from collections.abc import Iterable, Sequence
from pathlib import Path

import faiss
import numpy as np

from corpus import vocab
from corpus.loaders import corpus_hash
from corpus.schema import Challenge, Organisation, Project
from embeddings.base import Embedder
from embeddings.cache import CachedEmbedder, EmbeddingCache
from matcher.challenges import ChallengeModel
from matcher.errors import IndexFileError, IndexNotReady, InvalidRequest
from matcher.fusion import convex
from matcher.lexical import LexicalIndex
from matcher.results import Match, ScoreWeights

FORMAT_VERSION = 3
CHALLENGE_ALIGNED = 0.5  # alignment from which an organisation counts as working on a challenge
DOCUMENT_CHARS = 2000  # the model reads ~256 tokens; longer document text only costs time
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
_CHALLENGE_NAMES = {1: "challenge one (responsible and efficient mining)", 2: "challenge two (circular economy)"}


def split_sentences(text: str) -> list[str]:
    """Sentences of a description, for evidence; very short fragments are folded into their neighbour."""
    out: list[str] = []
    for part in _SENTENCE.split(text.strip()):
        part = part.strip()
        if not part:
            continue
        if out and len(part.split()) < 5:
            out[-1] = f"{out[-1]} {part}"
        else:
            out.append(part)
    return out


def _evidence_passages(org: Organisation) -> list[str]:
    passages = split_sentences(org.description)
    for doc in org.documents:
        passages.extend(f"{doc.title}: {s}" for s in split_sentences(doc.text)[:20])
    return passages or [org.name]


@dataclass(frozen=True)
class QuerySignals:
    """What a query asks for beyond its words: minerals, stages, side of the value chain, type preferences."""

    minerals: set[str]
    stages: set[str]
    upstream: bool | None  # the project's side of the chain; None when unknown
    prefer_org_types: set[str]
    challenge: int | None


def _query_side(stages: set[str], country: str | None) -> bool | None:
    """Is the project upstream? From the stages it names, else the seed report's national pattern."""
    if stages:
        upstream = vocab.upstream_stages()
        up = sum(1 for s in stages if s in upstream)
        if up != len(stages) - up:
            return up > len(stages) - up
    return {"CA": True, "GB": False}.get(country or "")


def unit_texts(organisations: Sequence[Organisation]) -> tuple[list[str], list[int]]:
    """Search units: one profile per organisation, then each document; returns texts and document owners."""
    texts = [org.profile_text() for org in organisations]
    doc_owner = []
    for row, org in enumerate(organisations):
        for doc in org.documents:
            texts.append(f"{doc.title}. {doc.text}"[:DOCUMENT_CHARS])
            doc_owner.append(row)
    return texts, doc_owner


def _gather(*parts: tuple[np.ndarray, np.ndarray | None]) -> np.ndarray:
    """Rows of several float32 matrices stacked into one new array, copying each row once: ``(matrix, rows)``
    takes those rows (``None``: all). Cheaper than ``np.vstack([a[rows], ...])``, which copies twice."""
    sizes = [len(m) if rows is None else len(rows) for m, rows in parts]
    out = np.empty((sum(sizes), parts[0][0].shape[1]), dtype=np.float32)
    at = 0
    for (m, rows), size in zip(parts, sizes):
        if rows is None:
            out[at : at + size] = m
        else:
            np.take(m, rows, axis=0, out=out[at : at + size])
        at += size
    return out


def _flat_vectors(index: faiss.IndexFlat) -> np.ndarray:
    """The vectors a flat FAISS index stores, as a read-only numpy view (no copy)."""
    view = faiss.rev_swig_ptr(index.get_xb(), index.ntotal * index.d).reshape(index.ntotal, index.d)
    view.flags.writeable = False
    return view


def labels_hash(labelled: Iterable[Project]) -> str:
    """Fingerprint of the challenge labels the classifier learns from."""
    rows = sorted([p.id, p.query_text(), sorted(p.challenge_areas)] for p in labelled)
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()[:16]


def _challenges_hash(challenges: Iterable[Challenge]) -> str:
    return hashlib.sha256(json.dumps([[c.id, c.text()] for c in challenges]).encode()).hexdigest()[:16]


class PartnerIndex:
    """Ranks organisations for a free-text brief or a project.

    Parameters
    ----------
    embedder: anything with ``model_id``, ``dim`` and ``encode`` (see ``embeddings.Embedder``).
    cache: an ``EmbeddingCache`` used while building, so unchanged profiles are not embedded again; queries
        bypass it (a per-request disk write would cost more than it saves).
    weights: how the score components combine (see ``ScoreWeights``).
    candidates: how many candidates each retriever (FAISS, BM25) contributes before fusion and re-scoring.
    fusion: ``"hybrid"`` (BM25 + dense, convex combination with weight ``weights.lexical``) or ``"dense"``.
    diversity: maximal marginal relevance trade-off (0 = rank by score alone): each next result maximises
        ``(1 - diversity) * score - diversity * (highest profile similarity to a result already chosen)``, so
        near-identical organisations do not fill the list. Scores are reported unchanged.
    weak_below: semantic similarity under which a result is flagged weak (``None``: never); calibrate it per model
        with ``matcher evaluate --briefs``.
    """

    def __init__(
        self,
        embedder: Embedder,
        *,
        cache: EmbeddingCache | None = None,
        weights: ScoreWeights | None = None,
        candidates: int = 200,
        fusion: str = "hybrid",
        diversity: float = 0.1,
        weak_below: float | None = None,
        batch_size: int = 32,
        show_progress: bool = False,
    ):
        self.embedder = embedder
        self.cache = cache
        self.weights = weights or ScoreWeights()
        self.candidates = candidates
        if fusion not in {"hybrid", "dense"}:
            raise ValueError(f"fusion must be 'hybrid' or 'dense', not {fusion!r}")
        self.fusion = fusion
        if not 0.0 <= diversity <= 1.0:
            raise ValueError(f"diversity must be between 0 (off) and 1, not {diversity!r}")
        self.diversity = diversity
        self.weak_below = weak_below
        self.batch_size = batch_size
        self.show_progress = show_progress

    # ------------------------------------------------------------------ build
    def fit(self, organisations: Iterable[Organisation], challenges: Sequence[Challenge],
            labelled: Sequence[Project] = ()) -> PartnerIndex:
        """Embed and index ``organisations``; ``labelled`` projects (with challenge areas) train the challenge model."""
        organisations = list(organisations)
        labelled = [p for p in labelled if p.challenge_areas]
        if not organisations:
            raise IndexNotReady("there are no organisations to index; import some or seed the default corpus")
        passages: list[str] = []
        owner: list[int] = []
        for row, org in enumerate(organisations):
            for passage in _evidence_passages(org):
                passages.append(passage)
                owner.append(row)
        # Every document is a search unit of its own, owned by its organisation (multi-document profiles).
        units, doc_owner = unit_texts(organisations)
        texts, doc_texts = units[: len(organisations)], units[len(organisations) :]
        started = time.perf_counter()
        encoder = CachedEmbedder(self.embedder, self.cache) if self.cache is not None else self.embedder
        # Profiles, evidence passages and challenge texts go to the model in one call: one progress bar.
        everything = texts + doc_texts + passages + [p.query_text() for p in labelled] + [c.text() for c in challenges]
        all_vectors = encoder.encode(everything, batch_size=self.batch_size, show_progress=self.show_progress)
        n, d, p, lab = len(texts), len(doc_texts), len(passages), len(labelled)
        vectors, doc_vectors = all_vectors[:n], all_vectors[n : n + d]
        passage_vectors = all_vectors[n + d : n + d + p]
        labelled_vectors, challenge_vectors = all_vectors[n + d + p : n + d + p + lab], all_vectors[n + d + p + lab :]
        challenge_model = ChallengeModel().fit(challenge_vectors, labelled_vectors,
                                               [set(x.challenge_areas) for x in labelled], [c.id for c in challenges])
        self._set_state(
            organisations=organisations,
            vectors=vectors,
            doc_vectors=doc_vectors,
            doc_owner=np.asarray(doc_owner, dtype=np.int64),
            passages=passages,
            passage_owner=np.asarray(owner, dtype=np.int64),
            passage_vectors=passage_vectors,
            challenges=list(challenges),
            challenge_vectors=challenge_vectors,
            challenge_model=challenge_model,
        )
        self.labels_hash_ = labels_hash(labelled)
        self.build_seconds_ = time.perf_counter() - started
        return self

    def _set_state(self, *, organisations, vectors, doc_vectors, doc_owner, passages, passage_owner, passage_vectors,
                   challenges, challenge_vectors, challenge_model, index=None) -> None:
        self.organisations_ = list(organisations)
        self.ids_ = [o.id for o in self.organisations_]
        self.vectors_ = np.ascontiguousarray(vectors, dtype=np.float32)
        # Search units: one profile per organisation (rows 0..n-1), then every document; unit_owner_ maps back.
        self.unit_owner_ = np.concatenate([np.arange(len(self.ids_), dtype=np.int64), np.asarray(doc_owner, dtype=np.int64)])
        if index is None:
            units = np.vstack([self.vectors_, np.asarray(doc_vectors, dtype=np.float32).reshape(-1, self.vectors_.shape[1])])
            index = faiss.IndexFlatIP(units.shape[1])  # exact inner product = cosine on unit vectors
            index.add(np.ascontiguousarray(units))
        self.index_ = index
        # Exact unit vectors re-score the fused candidate pool: a view of the flat index's own storage, so they
        # are held once in memory (the index is never modified after it is built, so the view stays valid).
        self.unit_vectors_ = _flat_vectors(index)
        self.vectors_ = self.unit_vectors_[: len(self.ids_)]
        # The lexical index is rebuilt from the records (fast, and identical for identical records).
        self.lexical_ = LexicalIndex().fit(unit_texts(self.organisations_)[0])
        self.passages_ = list(passages)
        self.passage_owner_ = passage_owner
        self.passage_vectors_ = np.ascontiguousarray(passage_vectors, dtype=np.float32)
        self.passage_starts_ = np.searchsorted(passage_owner, np.arange(len(self.ids_) + 1))
        self.challenges_ = {c.id: c for c in challenges}
        self.challenge_vectors_ = np.ascontiguousarray(challenge_vectors, dtype=np.float32)
        # Alignment of each profile with each challenge: zero-shot similarity blended with the trained classifier.
        self.challenge_model_ = challenge_model
        self.challenge_alignment_ = challenge_model.predict(self.vectors_)
        self._set_organisation_arrays()

    def _set_organisation_arrays(self) -> None:
        """Per-organisation lookups that filters and scoring read, derived from ``organisations_``."""
        self.ids_ = [o.id for o in self.organisations_]
        self.positions_ = {oid: i for i, oid in enumerate(self.ids_)}
        self.countries_ = np.array([o.country for o in self.organisations_])
        self.org_types_ = np.array([o.org_type for o in self.organisations_])
        self.mineral_sets_ = [frozenset(o.minerals) for o in self.organisations_]
        self.model_id_ = self.embedder.model_id
        self._corpus_hash = None

    @property
    def corpus_hash_(self) -> str:
        """Fingerprint of the indexed organisations; computed on first use (a write does not pay for it)."""
        if self._corpus_hash is None:
            self._corpus_hash = corpus_hash(self.organisations_)
        return self._corpus_hash

    # ------------------------------------------------------------------ incremental update
    def with_changes(self, upserted: Iterable[Organisation] = (), deleted: Iterable[str] = (), *,
                     labelled: Sequence[Project] | None = None) -> PartnerIndex:
        """A new index with ``upserted`` organisations added or replaced and ``deleted`` ids removed.

        Only the changed organisations' texts are embedded (and tokenised); every other vector, sentence and term
        count is taken from this index. ``labelled`` (the current labelled projects) retrains the challenge model
        when the labels changed. This index is left untouched, so the caller swaps the result in with one
        assignment and a query in flight finishes on the index it started with.
        """
        self._check_fitted()
        upserted = list({o.id: o for o in upserted}.values())  # the last version of each wins
        deleted = [oid for oid in deleted if oid in self.positions_]
        if not upserted and not deleted and (labelled is None or labels_hash(
                [p for p in labelled if p.challenge_areas]) == self.labels_hash_):
            return self  # nothing the index depends on changed
        keep_mask = np.ones(len(self.ids_), dtype=bool)
        for oid in {*deleted, *(o.id for o in upserted)}:
            if oid in self.positions_:
                keep_mask[self.positions_[oid]] = False
        keep = np.flatnonzero(keep_mask)
        n_old, n_keep = len(self.ids_), len(keep)
        if n_keep + len(upserted) == 0:
            raise IndexNotReady("there are no organisations left to index; import some or seed the default corpus")
        remap = np.full(n_old, -1, dtype=np.int64)
        remap[keep] = np.arange(n_keep)

        # Embed the new organisations' profiles, documents and evidence sentences (the cache skips known texts).
        units, new_doc_owner = unit_texts(upserted)
        new_profiles, new_docs = units[: len(upserted)], units[len(upserted) :]
        new_passages, new_passage_owner = [], []
        for row, org in enumerate(upserted):
            for passage in _evidence_passages(org):
                new_passages.append(passage)
                new_passage_owner.append(n_keep + row)
        labelled = [p for p in labelled if p.challenge_areas] if labelled is not None else None
        labels_changed = labelled is not None and labels_hash(labelled) != self.labels_hash_
        labelled = labelled or []
        extra = [p.query_text() for p in labelled] if labels_changed else []
        encoder = CachedEmbedder(self.embedder, self.cache) if self.cache is not None else self.embedder
        dim = self.vectors_.shape[1]
        texts = units + new_passages + extra
        vectors = encoder.encode(texts, batch_size=self.batch_size) if texts else np.zeros((0, dim), np.float32)
        vectors = np.asarray(vectors, dtype=np.float32).reshape(-1, dim)
        n_up, n_docs, n_pass = len(upserted), len(new_docs), len(new_passages)
        profile_vectors, doc_vectors = vectors[:n_up], vectors[n_up : n_up + n_docs]
        passage_vectors, labelled_vectors = vectors[n_up + n_docs : n_up + n_docs + n_pass], vectors[n_up + n_docs + n_pass :]

        # Search units in the fitted layout: profiles (kept, then new), then documents (kept, then new).
        old_doc_units = np.arange(n_old, len(self.unit_owner_))
        kept_doc_units = old_doc_units[keep_mask[self.unit_owner_[n_old:]]]
        unit_vectors = _gather((self.unit_vectors_, keep), (profile_vectors, None),
                               (self.unit_vectors_, kept_doc_units), (doc_vectors, None))
        index = faiss.IndexFlatIP(dim)
        index.add(unit_vectors)
        del unit_vectors  # FAISS holds its own copy; read it through a view from here on

        new = object.__new__(PartnerIndex)
        new.__dict__.update({k: v for k, v in self.__dict__.items() if not k.endswith("_") and k != "_corpus_hash"})
        new.organisations_ = [self.organisations_[i] for i in keep] + upserted
        new.unit_vectors_ = _flat_vectors(index)
        new.vectors_ = new.unit_vectors_[: n_keep + n_up]  # the profile rows, shared with the unit matrix
        new.unit_owner_ = np.concatenate([np.arange(n_keep + n_up, dtype=np.int64),
                                          remap[self.unit_owner_[kept_doc_units]],
                                          n_keep + np.asarray(new_doc_owner, dtype=np.int64)])
        new.index_ = index
        new.lexical_ = self.lexical_.recombine([keep, new_profiles, kept_doc_units, new_docs])
        kept_passages = keep_mask[self.passage_owner_]
        new.passages_ = [p for p, k in zip(self.passages_, kept_passages.tolist()) if k] + new_passages
        new.passage_owner_ = np.concatenate([remap[self.passage_owner_[kept_passages]],
                                             np.asarray(new_passage_owner, dtype=np.int64)])
        new.passage_vectors_ = _gather((self.passage_vectors_, np.flatnonzero(kept_passages)), (passage_vectors, None))
        new.passage_starts_ = np.searchsorted(new.passage_owner_, np.arange(n_keep + n_up + 1))
        new.challenges_ = self.challenges_
        new.challenge_vectors_ = self.challenge_vectors_
        if labels_changed:
            new.challenge_model_ = ChallengeModel().fit(self.challenge_vectors_, labelled_vectors,
                                                        [set(p.challenge_areas) for p in labelled], list(self.challenges_))
            new.challenge_alignment_ = new.challenge_model_.predict(new.vectors_)
            new.labels_hash_ = labels_hash(labelled)
        else:
            new.challenge_model_ = self.challenge_model_
            fresh = self.challenge_model_.predict(profile_vectors) if n_up else np.zeros((0, len(self.challenges_)))
            new.challenge_alignment_ = np.vstack([self.challenge_alignment_[keep], fresh])
            new.labels_hash_ = self.labels_hash_
        new._set_organisation_arrays()
        new.build_seconds_ = 0.0
        return new

    def _check_fitted(self) -> None:
        if not hasattr(self, "index_"):
            raise IndexNotReady("the partner index is not built yet; run `matcher build` or wait for start-up")

    def __len__(self) -> int:
        return len(getattr(self, "ids_", ()))

    # ------------------------------------------------------------------ query
    def encode_query(self, text: str) -> np.ndarray:
        return self.embedder.encode([text], batch_size=1)[0]

    def challenge_alignment_of(self, vector: np.ndarray) -> dict[int, float]:
        """Zero-shot alignment of any vector (a query, a project) with each challenge area, in [0, 1]."""
        self._check_fitted()
        sims = self.challenge_model_.predict(vector[None, :])[0]
        return {cid: round(float(s), 4) for cid, s in zip(self.challenges_, sims)}

    def _allowed_positions(self, countries, org_types, exclude, only=None) -> np.ndarray | None:
        if only is not None:
            mask = np.zeros(len(self.ids_), dtype=bool)
            mask[[self.positions_[oid] for oid in only if oid in self.positions_]] = True
        else:
            mask = np.ones(len(self.ids_), dtype=bool)
        if countries:
            mask &= np.isin(self.countries_, list(countries))
        if org_types:
            mask &= np.isin(self.org_types_, list(org_types))
        else:
            mask &= self.org_types_ != "funder"  # funders pay for partnerships; they are not partners
        for oid in exclude:
            if oid in self.positions_:
                mask[self.positions_[oid]] = False
        return np.flatnonzero(mask)

    def rank(
        self,
        query: str | Project,
        *,
        k: int = 10,
        countries: Sequence[str] | None = None,
        org_types: Sequence[str] | None = None,
        challenge: int | None = None,
        exclude: Iterable[str] = (),
        prefer_org_types: Sequence[str] = (),
        query_country: str | None = None,
        challenge_only: bool = False,
        explain: bool = True,
        only: Iterable[str] | None = None,
        diversify: bool = True,
        query_vector: np.ndarray | None = None,
    ) -> list[Match]:
        """Best ``k`` organisations for a brief (free text) or a project, filtered inside the search.

        ``query_country`` is the project team's country (a project's own country by default); with it, partners
        whose value-chain stages complement the project's side of the chain score higher. ``only`` restricts the
        search to these organisation ids (to explain chosen pairs; scores are relative to the candidates searched);
        ``diversify=False`` ranks by score alone (for callers that take every candidate, such as shortlists).
        """
        self._check_fitted()
        if isinstance(query, Project):
            text = query.query_text()
            query_minerals = set(query.minerals) | set(vocab.detect_minerals(text))
            exclude = {*exclude, *([query.lead_organisation_id] if query.lead_organisation_id else [])}
            query_country = query_country or query.country
        else:
            text = query
            query_minerals = set(vocab.detect_minerals(text))
        query_stages = set(vocab.detect_stages(text))
        signals = QuerySignals(
            minerals=query_minerals,
            stages=query_stages,
            upstream=_query_side(query_stages, query_country),
            prefer_org_types=set(prefer_org_types),
            challenge=challenge,
        )
        if challenge is not None and challenge not in self.challenges_:
            raise InvalidRequest(f"challenge must be one of {sorted(self.challenges_)} or null, not {challenge!r}")
        allowed = self._allowed_positions(countries, org_types, exclude, only)
        if k <= 0 or allowed.size == 0:
            return []
        qvec = self.encode_query(text) if query_vector is None else query_vector  # batch callers encode once
        candidates, relevance, dense, lexical = self._retrieve(text, qvec, allowed, k)
        scored = [
            self._score(int(p), float(r), float(d), float(x), signals)
            for p, r, d, x in zip(candidates, relevance, dense, lexical)
        ]
        if challenge_only and challenge is not None:
            scored = [item for item in scored if item[2][f"challenge_{challenge}"] >= CHALLENGE_ALIGNED]
        scored.sort(key=lambda item: (-item[0], self.ids_[item[1]]))
        chosen = self._diversify(scored[: 3 * k], k) if self.diversity > 0 and diversify else scored[:k]
        matches = []
        for rank, (score, position, components) in enumerate(chosen, start=1):
            explanation = self._explain(position, qvec, signals, components) if explain else None
            weak = self.weak_below is not None and components["semantic"] < self.weak_below
            matches.append(Match(rank, round(score, 4), self.organisations_[position], components, explanation, weak))
        return matches

    def _diversify(self, scored: list, k: int) -> list:
        """Maximal marginal relevance over the best candidates, using profile similarity between organisations."""
        positions = np.array([p for _, p, _ in scored], dtype=np.int64)
        scores = np.array([s for s, _, _ in scored])
        similarity = self.vectors_[positions] @ self.vectors_[positions].T
        chosen: list[int] = []
        redundancy = np.zeros(len(scored))
        available = np.ones(len(scored), dtype=bool)
        while len(chosen) < min(k, len(scored)):
            value = np.where(available, (1 - self.diversity) * scores - self.diversity * redundancy, -np.inf)
            best = int(np.argmax(value))
            chosen.append(best)
            available[best] = False
            redundancy = np.maximum(redundancy, similarity[best])
        return [scored[i] for i in chosen]

    def _retrieve(self, text: str, qvec: np.ndarray, allowed: np.ndarray, k: int):
        """Candidate organisations from both retrievers, each scored exactly by both, then fused.

        Dense candidates come from FAISS restricted to the allowed organisations' units (ID selector) and from
        each organisation's best evidence sentence: the model reads ~256 tokens, so a long profile is judged on its
        beginning, and a capability stated further down is caught by its sentence. Lexical candidates come from
        one sparse BM25 product over all units, masked. Returns (positions, relevance, dense, lexical).
        """
        mask = np.zeros(len(self.ids_), dtype=bool)
        mask[allowed] = True
        unit_allowed = mask[self.unit_owner_]
        pool = min(int(unit_allowed.sum()), max(self.candidates, 3 * k))
        params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(np.flatnonzero(unit_allowed).astype(np.int64)))
        _, hits = self.index_.search(qvec[None, :], pool, params=params)
        dense_orgs = self.unit_owner_[hits[0][hits[0] >= 0]]
        unit_lexical = np.where(unit_allowed, self.lexical_.scores(text), 0.0)
        org_lexical = np.zeros(len(self.ids_), dtype=np.float64)
        np.maximum.at(org_lexical, self.unit_owner_, unit_lexical)  # an organisation's best unit, vectorised
        lexical_orgs = np.flatnonzero(org_lexical > 0)
        if lexical_orgs.size > pool:
            lexical_orgs = lexical_orgs[np.argpartition(-org_lexical[lexical_orgs], pool - 1)[:pool]]
        # Best sentence per organisation: one matrix product over the evidence sentences, masked to the allowed.
        best_sentence = np.full(len(self.ids_), -1.0)
        np.maximum.at(best_sentence, self.passage_owner_, self.passage_vectors_ @ qvec)
        best_sentence[~mask] = -1.0
        sentence_orgs = np.argpartition(-best_sentence, min(pool, len(best_sentence)) - 1)[:pool]
        sentence_orgs = sentence_orgs[mask[sentence_orgs]]
        candidates = np.union1d(np.union1d(dense_orgs, lexical_orgs), sentence_orgs).astype(np.int64)
        dense = np.maximum(self._dense_scores(candidates, qvec), best_sentence[candidates])
        lexical = org_lexical[candidates]
        if self.fusion == "dense":
            relevance = dense
        else:
            relevance = convex(lexical, dense, self.weights.lexical)
        top_lexical = lexical.max() if lexical.size and lexical.max() > 0 else 1.0
        return candidates, relevance, dense, lexical / top_lexical

    def _dense_scores(self, candidates: np.ndarray, qvec: np.ndarray) -> np.ndarray:
        """Per organisation: best unit + a share of the second best, so a second strong document counts but one
        strong project is never averaged away by weaker ones. With one unit this is the plain cosine."""
        units = np.flatnonzero(np.isin(self.unit_owner_, candidates))
        owners, sims = self.unit_owner_[units], self.unit_vectors_[units] @ qvec
        order = np.lexsort((-sims, owners))
        owners, sims = owners[order], sims[order]
        first = np.r_[True, owners[1:] != owners[:-1]]
        heads = np.flatnonzero(first)
        best, who = sims[heads], owners[heads]
        nxt = np.minimum(heads + 1, len(owners) - 1)
        second = np.where((heads + 1 < len(owners)) & (owners[nxt] == who), sims[nxt], 0.0)
        share = self.weights.second_document
        combined = np.where(best > 0, best + share * np.clip(second, 0, None) * (1 - best), best)
        by_owner = dict(zip(who.tolist(), combined.tolist()))
        return np.array([by_owner[c] for c in candidates.tolist()], dtype=np.float64)

    def _score(self, position: int, relevance: float, dense: float, lexical: float, q: QuerySignals):
        """Weighted mean of the components that apply to this query; every component is in [0, 1]."""
        w = self.weights
        org = self.organisations_[position]
        components = {"relevance": round(relevance, 4), "semantic": round(dense, 4), "lexical": round(lexical, 4)}
        weighted = [(w.semantic, relevance)]
        if q.minerals:
            components["minerals"] = len(q.minerals & self.mineral_sets_[position]) / len(q.minerals)
            weighted.append((w.minerals, components["minerals"]))
        if q.stages:
            components["stages"] = len(q.stages & set(org.value_chain_stages)) / len(q.stages)
            weighted.append((w.stages, components["stages"]))
        if q.upstream is not None and org.value_chain_stages:
            # The seed report's pattern: partners are often complementary, not identical. An upstream project
            # (exploration, extraction, processing, mine waste) gains most from downstream partners, and back.
            upstream = vocab.upstream_stages()
            other_side = [s for s in org.value_chain_stages if (s in upstream) != q.upstream and s not in q.stages]
            components["complementarity"] = len(other_side) / len(org.value_chain_stages)
            weighted.append((w.complementarity, components["complementarity"]))
        if q.prefer_org_types:
            components["org_type"] = 1.0 if org.org_type in q.prefer_org_types else 0.0
            weighted.append((w.org_type, components["org_type"]))
        for cid, value in zip(self.challenges_, self.challenge_alignment_[position]):
            components[f"challenge_{cid}"] = float(value)
        if q.challenge is not None:
            weighted.append((w.challenge, components[f"challenge_{q.challenge}"]))
        total_weight = sum(weight for weight, _ in weighted)
        score = sum(weight * value for weight, value in weighted) / total_weight
        return score, position, {k: round(v, 4) for k, v in components.items()}

    def _explain(self, position: int, qvec: np.ndarray, q: QuerySignals, components: dict) -> dict:
        org = self.organisations_[position]
        start, end = self.passage_starts_[position], self.passage_starts_[position + 1]
        sims = self.passage_vectors_[start:end] @ qvec
        best = np.argsort(-sims)[:2]
        evidence = [{"text": self.passages_[start + i], "similarity": round(float(sims[i]), 4)} for i in best]
        minerals = vocab.minerals()
        shared = [minerals[m].name for m in org.minerals if m in q.minerals]
        challenge_scores = {cid: components[f"challenge_{cid}"] for cid in self.challenges_}
        best_challenge = max(challenge_scores, key=challenge_scores.get)
        stages = vocab.value_chain_stages()
        reason = f"{org.name} ({org.country}, {vocab.org_types()[org.org_type].name.lower()})"
        reason += f": profile similarity {components['semantic']:.2f}"
        if shared:
            reason += f"; works on {', '.join(shared)}"
        if org.value_chain_stages:
            reason += f"; active in {', '.join(stages[s].name.lower() for s in org.value_chain_stages[:3])}"
        if components.get("complementarity", 0) >= 0.5:
            reason += "; complements the project's side of the value chain"
        reason += f"; closest to {_CHALLENGE_NAMES.get(best_challenge, f'challenge {best_challenge}')}."
        return {
            "reason": reason,
            "evidence": evidence,
            "shared_minerals": shared,
            "query_minerals": sorted(minerals[m].name for m in q.minerals),
            "value_chain_stages": [stages[s].name for s in org.value_chain_stages],
            "shared_stages": [stages[s].name for s in org.value_chain_stages if s in q.stages],
            "query_stages": [stages[s].name for s in sorted(q.stages)],
            "challenge": {"best": best_challenge, "alignment": challenge_scores},
            "weights": self.weights.as_dict(),
        }

    # ------------------------------------------------------------------ persistence
    def save(self, path: Path | str) -> Path:
        """Write the index to one file atomically (temp file + rename): readers never see half a file."""
        self._check_fitted()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {
            "format": FORMAT_VERSION,
            "model_id": self.model_id_,
            "corpus_hash": self.corpus_hash_,
            "ids": self.ids_,
            "passages": self.passages_,
            "challenge_ids": list(self.challenges_),
            "challenges_hash": _challenges_hash(self.challenges_.values()),
            "labels_hash": self.labels_hash_,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        buffer = io.BytesIO()
        np.savez(
            buffer,
            meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
            faiss=faiss.serialize_index(self.index_),
            vectors=self.vectors_,
            unit_owner=self.unit_owner_,
            passage_owner=self.passage_owner_,
            passage_vectors=self.passage_vectors_,
            challenge_vectors=self.challenge_vectors_,
            **self.challenge_model_.state(),
        )
        fd, tmp = tempfile.mkstemp(prefix=".partner-index-", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(buffer.getvalue())
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    @staticmethod
    def read_meta(path: Path | str) -> dict:
        """The saved index's model id, corpus hash and ids, without loading vectors; raises IndexFileError."""
        try:
            with np.load(Path(path), allow_pickle=False) as data:
                return json.loads(bytes(data["meta"]).decode())
        except FileNotFoundError:
            raise
        except Exception as e:
            raise IndexFileError(f"the index file {path} is unreadable ({type(e).__name__}); rebuild it with `matcher build`") from e

    @classmethod
    def load(
        cls,
        path: Path | str,
        embedder: Embedder,
        organisations: Iterable[Organisation],
        challenges: Sequence[Challenge],
        labelled: Sequence[Project] = (),
        **params,
    ) -> PartnerIndex:
        """Load a saved index for these organisations; refuse it (IndexFileError) if model or corpus differ."""
        organisations = list(organisations)
        meta = cls.read_meta(path)
        if meta.get("format") != FORMAT_VERSION:
            raise IndexFileError(f"{path} has index format {meta.get('format')}, expected {FORMAT_VERSION}; rebuild it")
        if meta["model_id"] != embedder.model_id:
            raise IndexFileError(
                f"{path} was built with model {meta['model_id']!r}, not {embedder.model_id!r}; rebuild it",
                {"reason": "model_changed"},
            )
        if meta["corpus_hash"] != corpus_hash(organisations):
            raise IndexFileError(f"{path} was built for another corpus; rebuild it", {"reason": "corpus_changed"})
        by_id = {o.id: o for o in organisations}
        try:
            with np.load(Path(path), allow_pickle=False) as data:
                index = faiss.deserialize_index(data["faiss"])
                arrays = {k: data[k] for k in data.files if k not in ("meta", "faiss")}
        except Exception as e:
            raise IndexFileError(f"the index file {path} is unreadable ({type(e).__name__}); rebuild it") from e
        if index.ntotal != len(arrays["unit_owner"]) or arrays["vectors"].shape[0] != len(meta["ids"]):
            raise IndexFileError(f"the index file {path} is inconsistent; rebuild it with `matcher build`")
        if meta.get("labels_hash") != labels_hash([p for p in labelled if p.challenge_areas]):
            raise IndexFileError(f"{path} was trained on other challenge labels; rebuild it", {"reason": "labels_changed"})
        if meta.get("challenges_hash") != _challenges_hash(challenges):
            raise IndexFileError(f"{path} was built for other challenge areas; rebuild it")
        self = cls(embedder, **params)
        self._set_state(
            organisations=[by_id[i] for i in meta["ids"]],
            vectors=arrays["vectors"],
            doc_vectors=np.zeros((0, arrays["vectors"].shape[1]), dtype=np.float32),
            doc_owner=arrays["unit_owner"][len(meta["ids"]) :],
            passages=meta["passages"],
            passage_owner=arrays["passage_owner"],
            passage_vectors=arrays["passage_vectors"],
            challenges=challenges,
            challenge_vectors=arrays["challenge_vectors"],
            challenge_model=ChallengeModel.from_state(arrays["challenge_vectors"], [c.id for c in challenges], arrays),
            index=index,
        )
        self.labels_hash_ = meta["labels_hash"]
        return self
