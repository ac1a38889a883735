"""The partner index: organisation profiles embedded and searched, scored by the registered signals and explained.

Estimator style: the constructor stores parameters, ``fit`` embeds and builds (fitted state ends in ``_``),
``with_changes`` derives an updated index, ``rank`` answers queries, ``state``/``from_state`` give and take the
fitted state as plain data (the file format, ``matcher.index.file``, writes and reads it). Dense search is a
``matcher.retrieval.DenseSearch`` (exact or approximate, chosen by ``DenseFactory``); scoring signals are
``matcher.ranking.SIGNALS``.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from corpus.loaders import combine_digests
from corpus.schema import Challenge, Organisation, Project
from embeddings.base import Embedder, encode_queries
from embeddings.cache import CachedEmbedder, VectorCache
from matcher.errors import IndexNotReady, InvalidRequest
from matcher.index.challenges import ChallengeModel
from matcher.index.columns import organisation_columns
from matcher.index.records import OrganisationTable
from matcher.query import AnalysedQuery, QueryAnalyser, QueryVocabulary
from matcher.query.domain import function_stems
from matcher.ranking import SIGNALS, QuerySignals, ScoringData, calibration, grouping, scoring
from matcher.ranking.challenge import CHALLENGE_ALIGNED
from matcher.ranking.eligibility import Scope
from matcher.ranking.signal import ShownOrganisation, query_side
from matcher.results import Match, Matches, ScoreWeights, Unit
from matcher.retrieval.arrays import ranges
from matcher.retrieval.dense import DenseChanges, DenseState
from matcher.retrieval.factory import ANN_THRESHOLD, DenseFactory
from matcher.retrieval.hybrid import Candidates, Filter, HybridRetriever
from matcher.retrieval.layout import SearchLayout
from matcher.retrieval.lexical import LexicalIndex, tokens
from matcher.retrieval.units import document_texts, evidence_passages, unit_texts

if TYPE_CHECKING:
    from matcher.index.file import IndexMeta

FORMAT_VERSION = 5  # 5: records compressed, corpus hash a sum of record digests, sentences not stored
# Organisations embedded per step of a build: a build holds one step's vectors, not every vector.
BUILD_CHUNK = 20_000


def labels_hash(labelled: Iterable[Project]) -> str:
    """Fingerprint of the challenge labels the classifier learns from."""
    rows = sorted([p.id, p.query_text(), sorted(p.challenge_areas)] for p in labelled)
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()[:16]


def challenges_hash(challenges: Iterable[Challenge]) -> str:
    """Fingerprint of the challenge areas (ids and texts) an index was built for."""
    return hashlib.sha256(json.dumps([[c.id, c.text()] for c in challenges]).encode()).hexdigest()[:16]


def _encode_one(embedder: Embedder, text: str) -> np.ndarray:
    vector = encode_queries(embedder, [text], batch_size=1)[0]
    vector.flags.writeable = False  # shared by every caller that asks for the same text
    return vector


class StateMismatch(ValueError):
    """A saved state does not fit the organisations it is loaded with."""


@dataclass(frozen=True)
class IndexState:
    """A fitted index as plain data: what the index file holds. Records, columns and BM25 are not part of it:
    they are rebuilt from the organisations, so the state stays small and never out of step with the database."""

    model_id: str
    corpus_hash: str
    ids: list[str]
    challenge_ids: list[int]
    challenges_hash: str
    labels_hash: str
    unit_owner: np.ndarray
    passage_owner: np.ndarray
    challenge_vectors: np.ndarray
    challenge_alignment: np.ndarray
    challenge_model: dict[str, np.ndarray]
    dense: DenseState

    def consistent(self) -> bool:
        """Do its parts agree in size with one another (a truncated or mixed-up file does not)?"""
        units, passages = DenseFactory.sizes(self.dense)
        return (units == len(self.unit_owner) and passages == len(self.passage_owner)
                and len(self.challenge_alignment) == len(self.ids))


class PartnerIndex:
    """Ranks organisations for a free-text brief or a project.

    Parameters
    ----------
    embedder: anything with ``model_id``, ``dim`` and ``encode`` (see ``embeddings.Embedder``).
    cache: a vector cache (``EmbeddingCache`` in a file, the engine's ``DatabaseEmbeddingCache`` in the database)
        used while building, so unchanged profiles are not embedded again; queries bypass it (a per-request write
        would cost more than it saves).
    weights: how the score components combine (see ``ScoreWeights``).
    candidates: how many candidates each retriever (dense, BM25) contributes before fusion and re-scoring.
    fusion: ``"hybrid"`` (BM25 + dense, convex combination with weight ``weights.lexical``) or ``"dense"``.
    diversity: maximal marginal relevance trade-off (0 = rank by score alone): each next result maximises
        ``(1 - diversity) * score - diversity * (highest profile similarity to a result already chosen)``, so
        near-identical organisations do not fill the list. Scores are reported unchanged, and the chosen
        organisations are listed in score order, so the score shown never rises down the list.
    weak_below: calibrated fit (``Match.fit``, see ``matcher.ranking.calibration``) under which a result is flagged
        weak (``None``: never); the engine passes the calibration's own line for the bundled model.
    ann_threshold: search units from which dense search is approximate (IVF with 8-bit vectors, checked against
        exact by ``make bench``); below it, exact.
    nprobe: IVF lists scanned per query (default ``default_nprobe``); more is slower and closer to exact.
    query_cache_size: query texts whose embeddings are kept (least recently used out): a repeated query, such as
        the portal's stored briefs, skips the model.
    """

    def __init__(
        self,
        embedder: Embedder,
        *,
        cache: VectorCache | None = None,
        weights: ScoreWeights | None = None,
        candidates: int = 200,
        fusion: str = "hybrid",
        diversity: float = 0.0,
        weak_below: float | None = None,
        batch_size: int = 32,
        show_progress: bool = False,
        ann_threshold: int = ANN_THRESHOLD,
        nprobe: int | None = None,
        query_cache_size: int = 1024,
    ) -> None:
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
        self.ann_threshold = ann_threshold
        self.nprobe = nprobe
        self.query_cache_size = query_cache_size
        # Depends only on the embedder, so every index derived by with_changes shares it.
        self._query_vectors = lru_cache(maxsize=query_cache_size)(partial(_encode_one, embedder))

    def get_params(self) -> dict[str, Any]:
        """The constructor's parameters as they are now (scikit-learn's convention), embedder aside."""
        return {"cache": self.cache, "weights": self.weights, "candidates": self.candidates, "fusion": self.fusion,
                "diversity": self.diversity, "weak_below": self.weak_below, "batch_size": self.batch_size,
                "show_progress": self.show_progress, "ann_threshold": self.ann_threshold, "nprobe": self.nprobe,
                "query_cache_size": self.query_cache_size}

    def _unfitted_copy(self) -> PartnerIndex:
        """A new, unfitted index with these parameters, sharing this one's query-vector cache."""
        new = type(self)(self.embedder, **self.get_params())
        new._query_vectors = self._query_vectors
        return new

    @property
    def dense_factory(self) -> DenseFactory:
        return DenseFactory(self.ann_threshold, self.nprobe)

    # ------------------------------------------------------------------ build
    def fit(self, organisations: Iterable[Organisation], challenges: Sequence[Challenge],
            labelled: Sequence[Project] = ()) -> PartnerIndex:
        """Embed and index ``organisations``; ``labelled`` projects (with challenge areas) train the challenge model.

        ``organisations`` may be any iterable (a generator too): it is read once, into a compressed record table
        (``OrganisationTable``) and per-organisation columns. Texts are then embedded ``BUILD_CHUNK`` organisations
        at a time and added to the search structures, so a build holds one chunk's vectors, not every vector.
        """
        labelled = [p for p in labelled if p.challenge_areas]
        started = time.perf_counter()
        if not self._read_records(organisations):
            raise IndexNotReady("there are no organisations to index; import some or seed the default corpus")
        encoder = self._encoder()
        extra = encoder.encode([p.query_text() for p in labelled] + [c.text() for c in challenges],
                               batch_size=self.batch_size)
        # A copy: a view would keep the labelled projects' vectors alive for the index's lifetime.
        labelled_vectors, challenge_vectors = extra[: len(labelled)], extra[len(labelled) :].copy()
        self.challenge_model_ = ChallengeModel().fit(challenge_vectors, labelled_vectors,
                                                     [set(x.challenge_areas) for x in labelled], [c.id for c in challenges])
        self.challenges_ = {c.id: c for c in challenges}
        self.challenge_vectors_ = np.ascontiguousarray(challenge_vectors, dtype=np.float32)
        self._fit_lexical()
        self._embed(encoder)
        self.labels_hash_ = labels_hash(labelled)
        self.build_seconds_ = time.perf_counter() - started
        return self

    def _fit_lexical(self) -> None:
        """BM25 over the unit texts and, read in the same pass, the query analyser's vocabulary (its words)."""
        vocabulary = QueryVocabulary()
        self.lexical_ = vocabulary.fit(self._unit_text_stream(), LexicalIndex())
        self.analyser_ = QueryAnalyser(vocabulary, cache_size=self.query_cache_size)

    def _read_records(self, organisations: Iterable[Organisation]) -> int:
        """Read the records once, into the compressed table and the per-organisation columns; returns how many."""
        columns: list[dict[str, np.ndarray]] = []
        table = OrganisationTable.build(organisations, on_segment=lambda orgs: columns.append(organisation_columns(orgs)))
        if columns:
            self._set_records(table, {k: np.concatenate([c[k] for c in columns]) for k in columns[0]})
        return len(table)

    def _encoder(self) -> Embedder:
        return CachedEmbedder(self.embedder, self.cache) if self.cache is not None else self.embedder

    def _unit_text_stream(self) -> Iterator[str]:
        """Search-unit texts in unit order (every profile, then every document), read from the record table."""
        for org in self.organisations_:
            yield org.profile_text()
        for row in np.flatnonzero(self.n_docs_ > 0).tolist():
            yield from document_texts(self.organisations_[row])

    def _embed(self, encoder: Embedder) -> None:
        """Embed every unit and evidence sentence, chunk by chunk, into the dense search, and each profile's
        challenge alignment."""
        n, layout = len(self.ids_), self.layout_
        alignment = np.zeros((n, len(self.challenges_)), dtype=np.float32)
        builder = self.dense_factory.builder(layout.n_units, layout.n_passages, partial(self._sample_vectors, encoder))
        chunks = range(0, n, BUILD_CHUNK)
        progress = None
        if self.show_progress and len(chunks) > 1:
            from tqdm import tqdm

            progress = tqdm(total=n, desc="Embedding organisations", unit="org")
        for start in chunks:
            end = min(n, start + BUILD_CHUNK)
            orgs = list(self.organisations_.rows(range(start, end)))
            docs = [t for org in orgs for t in document_texts(org)]
            sentences = [p for org in orgs for p in evidence_passages(org)]
            vectors = encoder.encode([org.profile_text() for org in orgs] + docs + sentences,
                                     batch_size=self.batch_size, show_progress=self.show_progress and progress is None)
            vectors = np.asarray(vectors, dtype=np.float32).reshape(-1, self.challenge_vectors_.shape[1])
            profiles, doc_vectors = vectors[: len(orgs)], vectors[len(orgs) : len(orgs) + len(docs)]
            sentence_vectors = vectors[len(orgs) + len(docs) :]
            alignment[start:end] = self.challenge_model_.predict(profiles)
            builder.add(profiles, doc_vectors, sentence_vectors, profile_rows=slice(start, end),
                        document_rows=slice(int(layout.doc_starts[start]), int(layout.doc_starts[end])),
                        passage_rows=slice(int(layout.passage_starts[start]), int(layout.passage_starts[end])))
            del vectors, profiles, doc_vectors, sentence_vectors
            if progress is not None:
                progress.update(end - start)
        if progress is not None:
            progress.close()
        self.challenge_alignment_ = alignment
        self.dense_ = builder.finish()

    def _sample_vectors(self, encoder: Embedder, wanted: int) -> tuple[np.ndarray, np.ndarray]:
        """Unit and sentence vectors of a random sample of organisations (the same sample every build: seeded),
        to train an approximate search. Sampled texts are embedded again in the build (a cache hit with one)."""
        n = len(self.ids_)
        rows = np.sort(np.random.default_rng(0).choice(n, size=min(n, wanted), replace=False))
        unit_texts_, passage_texts = [], []
        for org in self.organisations_.rows(rows.tolist()):
            unit_texts_.append(org.profile_text())
            unit_texts_.extend(document_texts(org))
            passage_texts.extend(evidence_passages(org))
        vectors = np.asarray(encoder.encode(unit_texts_ + passage_texts, batch_size=self.batch_size), dtype=np.float32)
        return vectors[: len(unit_texts_)], vectors[len(unit_texts_) :]

    def _set_records(self, table: OrganisationTable, columns: dict[str, np.ndarray]) -> None:
        """The records and every per-organisation array that filters, scoring and layout read."""
        self.organisations_ = table
        self.ids_ = columns["ids"].tolist()
        self._positions: dict[str, int] | None = None  # made on first use (see positions_)
        self._corpus_hash: str | None = None  # made on first use (see corpus_hash_)
        self.countries_ = columns["countries"]
        self.org_types_ = columns["org_types"]
        self.parent_ids_ = columns["parent_ids"]
        self.columns_ = columns  # signals read theirs here; with_changes takes kept rows of each
        self.digests_ = columns["digests"]
        self.n_docs_ = columns["n_docs"]
        self.n_passages_ = columns["n_passages"]
        self.layout_ = SearchLayout.of(self.n_docs_, self.n_passages_)
        self.model_id_ = self.embedder.model_id
        # Filters repeat (GB, CA, a type or two): their masks, selectors and bitmaps are made once per index.
        self.filters_ = lru_cache(maxsize=64)(self._make_filter)
        # The whole index (every organisation but funders), which the off-topic gate reads whatever the filters.
        self.whole_ = lru_cache(maxsize=1)(lambda: self._make_filter((), ()))
        # What the explanations of recently shown organisations take from their records (splitting a record's
        # texts into evidence sentences again would be repeated for every response that shows it).
        self.shown_ = lru_cache(maxsize=4096)(lambda position: ShownOrganisation.of(self.organisations_[position]))
        # Each shown organisation's evidence sentences as BM25 terms, for the keyword side of the evidence choice.
        self.passage_terms_ = lru_cache(maxsize=4096)(self._sentence_terms)

    @property
    def positions_(self) -> dict[str, int]:
        """Row of each organisation id. Made on first use: it is large for a large corpus, and free-text queries
        without exclusions never need it."""
        if self._positions is None:
            self._positions = {oid: i for i, oid in enumerate(self.ids_)}
        return self._positions

    @property
    def corpus_hash_(self) -> str:
        """Fingerprint of the indexed organisations (``corpus.corpus_hash``: the sum of the records' digests).
        Every response carries it, so it is summed once per index."""
        if self._corpus_hash is None:
            self._corpus_hash = combine_digests(int(self.digests_.sum(dtype=np.uint64)))
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

        # Embed the new organisations' profiles, documents and evidence sentences (the cache skips known texts).
        units, _ = unit_texts(upserted)
        new_profiles, new_docs = units[: len(upserted)], units[len(upserted) :]
        new_passages = [p for org in upserted for p in evidence_passages(org)]
        labelled = [p for p in labelled if p.challenge_areas] if labelled is not None else None
        labels_changed = labelled is not None and labels_hash(labelled) != self.labels_hash_
        labelled = labelled or []
        extra = [p.query_text() for p in labelled] if labels_changed else []
        encoder = self._encoder()
        dim = self.challenge_vectors_.shape[1]
        texts = units + new_passages + extra
        vectors = encoder.encode(texts, batch_size=self.batch_size) if texts else np.zeros((0, dim), np.float32)
        vectors = np.asarray(vectors, dtype=np.float32).reshape(-1, dim)
        n_up, n_docs, n_pass = len(upserted), len(new_docs), len(new_passages)
        profile_vectors, doc_vectors = vectors[:n_up], vectors[n_up : n_up + n_docs]
        passage_vectors, labelled_vectors = vectors[n_up + n_docs : n_up + n_docs + n_pass], vectors[n_up + n_docs + n_pass :]

        # Search units in the fitted layout: profiles (kept, then new), then documents (kept, then new).
        layout = self.layout_
        old_doc_units = np.arange(n_old, layout.n_units)
        kept_doc_units = old_doc_units[keep_mask[layout.unit_owner[n_old:]]]
        kept_passage_rows = np.flatnonzero(keep_mask[layout.passage_owner])

        new = self._unfitted_copy()
        # Records and columns: kept rows, then the new ones (unit and sentence layouts follow from the columns).
        fresh_columns = organisation_columns(upserted)
        new._set_records(self.organisations_.derive(keep, upserted),
                         {k: np.concatenate([v[keep], fresh_columns[k]]) for k, v in self.columns_.items()})
        new.dense_ = self.dense_.with_changes(
            DenseChanges(keep, profile_vectors, kept_doc_units, doc_vectors, kept_passage_rows, passage_vectors),
            new.dense_factory)
        new.lexical_ = self.lexical_.recombine([keep, new_profiles, kept_doc_units, new_docs])
        removed = self.organisations_.rows(np.flatnonzero(~keep_mask).tolist())
        new.analyser_ = self.analyser_.with_changes(
            (t for org in removed for t in (org.profile_text(), *document_texts(org))), units)
        new.challenges_ = self.challenges_
        new.challenge_vectors_ = self.challenge_vectors_
        if labels_changed:
            new.challenge_model_ = ChallengeModel().fit(self.challenge_vectors_, labelled_vectors,
                                                        [set(p.challenge_areas) for p in labelled], list(self.challenges_))
            new.challenge_alignment_ = new.challenge_model_.predict(new.dense_.unit_vectors(np.arange(n_keep + n_up)))
            new.labels_hash_ = labels_hash(labelled)
        else:
            new.challenge_model_ = self.challenge_model_
            fresh = self.challenge_model_.predict(profile_vectors) if n_up else np.zeros((0, len(self.challenges_)))
            new.challenge_alignment_ = np.vstack([self.challenge_alignment_[keep], fresh])
            new.labels_hash_ = self.labels_hash_
        new.build_seconds_ = 0.0
        return new

    def embed_ahead(self, organisations: Sequence[Organisation]) -> None:
        """Embed these organisations' texts into the cache now (no-op without one), so that a later
        ``with_changes`` with them, in this process or another sharing the cache, only reads the vectors back."""
        if self.cache is None:
            return
        units, _ = unit_texts(list(organisations))
        passages = [p for org in organisations for p in evidence_passages(org)]
        self._encoder().encode(units + passages, batch_size=self.batch_size)

    def _check_fitted(self) -> None:
        if not hasattr(self, "dense_"):
            raise IndexNotReady("the partner index is not built yet; run `matcher build` or wait for start-up")

    def __len__(self) -> int:
        return len(getattr(self, "ids_", ()))

    # ------------------------------------------------------------------ queries
    def encode_query(self, text: str) -> np.ndarray:
        """The query's vector (read-only), from the LRU cache when this text was asked for recently."""
        return self._query_vectors(text)

    def allowed_positions(self, countries: Sequence[str] | None, org_types: Sequence[str] | None,
                          exclude: Iterable[str], only: Iterable[str] | None = None) -> np.ndarray:
        """Positions of the organisations a filter allows (funders only when ``org_types`` names them)."""
        return np.flatnonzero(self._organisation_mask(tuple(countries or ()), tuple(org_types or ()),
                                                      frozenset(exclude), only))

    def filter(self, countries: Sequence[str] | None, org_types: Sequence[str] | None, exclude: Iterable[str] = (),
               only: Iterable[str] | None = None, scope: Scope | None = None, eligibility: Sequence[str] = ()) -> Filter:
        """The filter's masks and selectors; cached when it names no organisations (the common, repeated case).
        ``eligibility`` keeps only organisations with one of these labels in ``scope``'s programme."""
        exclude = frozenset(oid for oid in exclude if oid in self.positions_)
        wanted = tuple(sorted(set(eligibility))) if scope is not None else ()
        key = (tuple(sorted(set(countries or ()))), tuple(sorted(set(org_types or ()))))
        if not exclude and only is None:
            return self.filters_(*key, scope=scope if wanted else None, eligibility=wanted)
        return self._make_filter(*key, exclude, only, scope=scope if wanted else None, eligibility=wanted)

    def _make_filter(self, countries: tuple[str, ...], org_types: tuple[str, ...], exclude: frozenset[str] = frozenset(),
                     only: Iterable[str] | None = None, *, scope: Scope | None = None,
                     eligibility: tuple[str, ...] = ()) -> Filter:
        mask = self._organisation_mask(countries, org_types, exclude, only)
        if scope is not None and eligibility:
            mask &= scope.mask(self.countries_, self.org_types_, eligibility, self.ids_)
        return Filter.of(mask, self.layout_, self.dense_)

    def _organisation_mask(self, countries: tuple[str, ...], org_types: tuple[str, ...], exclude: frozenset[str],
                           only: Iterable[str] | None) -> np.ndarray:
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
        return mask

    def retriever(self) -> HybridRetriever:
        """The hybrid retriever over this index's searches, with the parameters as they are now."""
        return HybridRetriever(self.dense_, self.lexical_, self.layout_, self.n_docs_, self.candidates, self.fusion,
                               self.weights.lexical, self.weights.second_document)

    def retrieve(self, text: str, query_vector: np.ndarray, allowed: Filter, k: int) -> Candidates:
        """Candidates for a query under a filter, with their fused, dense and lexical scores (before signals); the
        text and vector are used as given (``rank`` analyses the brief first)."""
        return self.retriever().retrieve(text, query_vector, allowed, k)

    def analyse_query(self, text: str) -> AnalysedQuery:
        """The brief as the query steps make it (``matcher.query``): normalised texts, minerals, stages, passages,
        term weights and domain evidence; recent briefs' analyses are kept."""
        return self.analyser_.analyse(text)

    def _gate_evidence(self, analysed: AnalysedQuery, qvec: np.ndarray,
                       others: np.ndarray | None) -> tuple[float, int, float]:
        """The gate's evidence beyond the brief's own: the best dense similarity of any organisation in the index
        (no filters), how many of the brief's words are foreign to the index, and how much of its content words
        one indexed text holds (``calibration.coverage``)."""
        best = self.retriever().best_dense(np.stack([qvec, *(others if others is not None else ())]), self.whole_())
        content = [*(t for t in analysed.domain_terms if ":" not in t), *analysed.other_terms]
        if not content:  # generic words only ("mineral resource governance"): they are what it is about
            content = [t for t in tokens(analysed.dense_text) if t not in function_stems()]
        return (best, calibration.foreign_terms(self.lexical_, analysed.other_terms),
                calibration.coverage(self.lexical_, content))

    def off_topic(self, analysed: AnalysedQuery, qvec: np.ndarray, others: np.ndarray | None = None) -> bool:
        """Whether the gate judges the brief off topic for the field, as ``rank`` does (from the query and the
        whole index): other searches (projects) ask the same question of the same brief. Never off topic without a
        weak line (``weak_below``: the calibration was fitted for the bundled model only), as in ``rank``."""
        self._check_fitted()
        if self.weak_below is None:
            return False
        best, foreign, coverage = self._gate_evidence(analysed, qvec, others)
        return calibration.load().gated(best, analysed.domain_evidence, field_only=analysed.field_only,
                                        foreign=foreign, field_words=analysed.field_words, coverage=coverage)

    def query_vectors(self, analysed: AnalysedQuery) -> tuple[np.ndarray, np.ndarray | None]:
        """The vector the dense search starts from and, for a long brief, its other passages' vectors (rows).
        Each text is encoded on its own, through the query cache: a passage gets exactly the vector it gets as a
        query, and two texts one at a time cost less than one padded batch of two with the int8 ONNX model."""
        first, *others = (self.encode_query(t) for t in analysed.dense_texts)
        return first, (np.stack(others) if others else None)

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
        scope: Scope | None = None,
        eligibility: Sequence[str] = (),
        group_units: bool = False,
    ) -> list[Match]:
        """Best ``k`` organisations for a brief (free text) or a project, filtered inside the search.

        ``query_country`` is the project team's country (a project's own country by default); with it, partners
        whose value-chain stages complement the project's side of the chain score higher. ``only`` restricts the
        search to these organisation ids (to explain chosen pairs; scores are relative to the candidates searched);
        ``diversify=False`` ranks by score alone (for callers that take every candidate, such as shortlists).
        ``scope`` (the programme, ``matcher.ranking.eligibility``) labels each result's ``eligibility``, and with
        ``eligibility`` keeps only those labels; ``group_units`` gives one place to each family of an organisation
        and its sub-units (``matcher.ranking.grouping``), the others listed under it as ``units``.
        """
        self._check_fitted()
        if isinstance(query, Project):
            analysed = self.analyse_query(query.query_text())
            query_minerals = set(query.minerals) | set(analysed.minerals)
            exclude = {*exclude, *([query.lead_organisation_id] if query.lead_organisation_id else [])}
            query_country = query_country or query.country
        else:
            analysed = self.analyse_query(query)
            query_minerals = set(analysed.minerals)
        text = analysed.lexical_text  # normalised (a French brief: its English rendering and its original words)
        query_stages = set(analysed.stages)
        signals = QuerySignals(
            minerals=query_minerals,
            stages=query_stages,
            upstream=query_side(query_stages, query_country),
            prefer_org_types=set(prefer_org_types),
            challenge=challenge,
            domain_evidence=analysed.domain_evidence,
        )
        if challenge is not None and challenge not in self.challenges_:
            raise InvalidRequest(f"challenge must be one of {sorted(self.challenges_)} or null, not {challenge!r}")
        allowed = self.filter(countries, org_types, exclude, only, scope, eligibility)
        if k <= 0 or allowed.count == 0:
            return []
        if query_vector is not None:  # batch callers encode once (one vector: the brief's short path)
            qvec, others = query_vector, None
        else:
            qvec, others = self.query_vectors(analysed)
        alpha = self.weights.short_lexical if analysed.short else self.weights.lexical
        found = self.retriever().retrieve(text, qvec, allowed, k, passages=others, lexical_terms=analysed.lexical_terms,
                                          alpha=alpha)
        candidates = found.positions
        data = ScoringData(found, self.columns_, list(self.challenges_), self.challenge_alignment_)
        scores, parts = scoring.combine(SIGNALS, self.weights, data, signals)
        rows = np.arange(len(candidates))
        if challenge_only and challenge is not None:
            rows = rows[parts[f"challenge_{challenge}"] >= CHALLENGE_ALIGNED]
        ids = self.ids_
        keep = min(len(rows), max(3 * k, calibration.pool_depth(k, len(rows))))
        if len(rows) > keep:  # only the best 3k (and anything tied with the last) need sorting, by score then id
            cut = np.partition(scores[rows], len(rows) - keep)[len(rows) - keep]
            rows = rows[scores[rows] >= cut]
        order = sorted(rows.tolist(), key=lambda i: (-scores[i], ids[candidates[i]]))
        scored = [(float(scores[i]), int(candidates[i]), i) for i in order]
        units_of: dict[int, list[tuple[float, int, int]]] = {}
        if group_units:
            scored, units_of = grouping.collapse(scored, self._family)
        if self.diversity > 0 and diversify:
            best = scored[: 3 * k]
            profiles = self.dense_.unit_vectors(np.array([p for _, p, _ in best], dtype=np.int64))  # profile row = position
            chosen = scoring.diversify(best, k, self.diversity, profiles)
            # Diversity picks which organisations are shown; they are listed in the order of the score shown.
            chosen.sort(key=lambda c: (-c[0], ids[c[1]]))
            pooled = chosen  # diversity picks the organisations for this k: the fit is pooled over them
        else:
            # Fits are pooled over whole blocks of ranks (calibration.POOL_DEPTH), then cut: a result's score does
            # not depend on k.
            pooled = scored[: calibration.pool_depth(k, len(scored))]
            chosen = pooled[:k]
        if not chosen:
            return []
        pooled_rows = np.array([row for _, _, row in pooled])
        chosen_rows = pooled_rows[: len(chosen)]
        pooled_positions = np.array([p for _, p, _ in pooled], dtype=np.int64)
        positions = pooled_positions[: len(chosen)]
        names = list(parts)
        table = np.round(np.stack([parts[name][chosen_rows] for name in names], axis=1), 4).tolist()
        organisations = [self.organisations_[p] for p in positions.tolist()]
        # The absolute fit (see matcher.ranking.calibration): the same scale for every query, unlike ``score``.
        fitted = calibration.load()
        evidence = calibration.domain_evidence(signals)
        plain = found.plain_lexical[pooled_rows] if found.plain_lexical is not None else None
        lexical_abs = calibration.absolute_lexical(self.lexical_, self.layout_, text, pooled_positions, plain)
        held = organisations + [self.organisations_[p] for p in pooled_positions[len(chosen):].tolist()]
        features = calibration.features(found.dense[pooled_rows], lexical_abs,
                                        calibration.minerals_shared(signals, [o.minerals for o in held]), evidence)
        best_lexical = float(lexical_abs[: len(chosen)].max())
        # Whether the query is on topic comes from the query and the whole index, never from the filters.
        gate_semantic, foreign, coverage = self._gate_evidence(analysed, qvec, others)
        on_topic = fitted.on_topic(gate_semantic, evidence, coverage)
        raw = fitted.fit(features, on_topic)
        # The score shown is the fit, made non-increasing down the list: absolute, and in the order of the list.
        pooled_fits = calibration.shown(raw, calibration.POOL_DEPTH)[: len(chosen)]
        # Off topic as a whole: every result's fit is shown under the weak line, so each is weak and says so.
        gated = self.weak_below is not None and fitted.gated(
            gate_semantic, evidence, field_only=analysed.field_only, foreign=foreign,
            field_words=analysed.field_words, coverage=coverage)
        scale = fitted.off_topic_scale(float(pooled_fits[0]), self.weak_below) if gated else 1.0
        fits = np.round(pooled_fits * scale, 4).tolist()
        unit_fits = self._unit_fits(units_of, positions, found, signals, text, evidence, on_topic * scale)
        explanations_ = self._explanations(positions.tolist(), qvec, signals, text, alpha) if explain else None
        matches = Matches()
        for rank, ((score, _, _), values, organisation, fit) in enumerate(zip(chosen, table, organisations, fits),
                                                                          start=1):
            components = {name: value for name, value in zip(names, values) if not math.isnan(value)}  # NaN: n/a
            # The reason reads the absolute keyword evidence ("keywords"), not BM25 relative to the best candidate.
            explanation = (explanations_(rank - 1, {**components, "keywords": float(lexical_abs[rank - 1])})
                           if explanations_ is not None else None)
            # One rule: weak exactly when the fit shown is under the weak line (an off-topic query's all are).
            weak = self.weak_below is not None and fit < self.weak_below
            band = "weak" if weak else fitted.band(fit)  # the band never contradicts the flag
            units = [self._unit(unit_fits[p], unit_score, p, scope)
                     for unit_score, p, _ in units_of.get(int(positions[rank - 1]), ())]
            matches.append(Match(rank, fit, organisation, components, explanation, weak, fit, band,
                                 {name: round(float(v[rank - 1]), 4) for name, v in features.items()},
                                 relevance=round(score, 4),
                                 eligibility=scope.label(organisation.country, organisation.org_type, organisation.id)
                                 if scope else None,
                                 units=units))
        matches.evidence, matches.best_lexical = evidence, best_lexical
        matches.best_semantic = float(found.dense[chosen_rows].max())
        matches.gate_semantic, matches.field_only, matches.foreign = gate_semantic, analysed.field_only, foreign
        matches.gate_coverage = coverage
        matches.field_words = analysed.field_words
        matches.gated = gated
        matches.nothing_found = matches.all_weak and fitted.nothing_found(evidence, gate_semantic, best_lexical)
        return matches

    def _unit(self, fit: float, relevance: float, position: int, scope: Scope | None) -> Unit:
        """A family member listed under a result (grouping), with its own fit, relevance and eligibility."""
        org = self.organisations_[position]
        return Unit(round(fit, 4), org, scope.label(org.country, org.org_type, org.id) if scope else None,
                    round(relevance, 4))

    def _unit_fits(self, units_of: dict[int, list[tuple[float, int, int]]], shown: np.ndarray, found: Candidates,
                   signals: QuerySignals, text: str, evidence: int, on_topic: float) -> dict[int, float]:
        """The calibrated fit of each family member listed under a shown result (position -> fit), from the same
        evidence as the results' own."""
        listed = [(p, row) for leader in shown.tolist() for _, p, row in units_of.get(int(leader), ())]
        if not listed:
            return {}
        positions = np.array([p for p, _ in listed], dtype=np.int64)
        rows = np.array([row for _, row in listed], dtype=np.int64)
        plain = found.plain_lexical[rows] if found.plain_lexical is not None else None
        lexical_abs = calibration.absolute_lexical(self.lexical_, self.layout_, text, positions, plain)
        features = calibration.features(found.dense[rows], lexical_abs, calibration.minerals_shared(
            signals, [self.organisations_[p].minerals for p in positions.tolist()]), evidence)
        fits = calibration.load().fit(features, on_topic)
        return dict(zip(positions.tolist(), fits.tolist()))

    def _family(self, position: int) -> str:
        """The family an organisation belongs to, for grouping: the id of its top-most ancestor in the index."""
        return grouping.family_root(position, self.ids_, self.parent_ids_, lambda oid: self.positions_.get(oid))

    def _sentence_terms(self, position: int) -> tuple[frozenset[str], ...]:
        """Each evidence sentence's terms (tokenised as BM25 does); read through ``passage_terms_``, which keeps them
        while the organisation keeps being shown: tokenising them on every query would cost more than scoring them."""
        return tuple(scoring.sentence_terms(self.lexical_, s) for s in self.shown_(position).passages)

    def _explanations(self, positions: list[int], qvec: np.ndarray, query: QuerySignals,
                      text: str = "", lexical_share: float | None = None) -> Callable[[int, dict[str, float]], dict]:
        """A function (i, components) -> the explanation of the i-th chosen organisation. Records come from
        ``shown_`` (cached while an organisation keeps being shown); the evidence sentences of all chosen
        organisations are scored in one matrix product (dense) and against the brief's weighted terms (lexical)."""
        rows, lengths = ranges(self.layout_.passage_starts, np.asarray(positions, dtype=np.int64))
        sims = (self.dense_.passage_vectors(rows) @ qvec).tolist()  # Python floats: each is read once or twice
        shown = [self.shown_(p) for p in positions]
        terms = scoring.SentenceTerms.of(self.lexical_, text)
        keywords = [terms.score_terms(words) for p in positions for words in self.passage_terms_(p)]
        return scoring.explanations(SIGNALS, query, list(self.challenges_), shown, sims, lengths.tolist(),
                                    self.weights.as_dict(), keywords,
                                    self.weights.lexical if lexical_share is None else lexical_share)

    # ------------------------------------------------------------------ state and persistence
    def state(self) -> IndexState:
        """The fitted index as plain data (see ``IndexState``)."""
        self._check_fitted()
        return IndexState(
            model_id=self.model_id_,
            corpus_hash=self.corpus_hash_,
            ids=self.ids_,
            challenge_ids=list(self.challenges_),
            challenges_hash=challenges_hash(self.challenges_.values()),
            labels_hash=self.labels_hash_,
            unit_owner=self.layout_.unit_owner,
            passage_owner=self.layout_.passage_owner,
            challenge_vectors=self.challenge_vectors_,
            challenge_alignment=self.challenge_alignment_,
            challenge_model=self.challenge_model_.state(),
            dense=self.dense_.state(),
        )

    @classmethod
    def from_state(cls, state: IndexState, embedder: Embedder, organisations: Iterable[Organisation],
                   challenges: Sequence[Challenge], **params: Any) -> PartnerIndex:
        """An index from its state and its organisations (in the state's order); raises ``StateMismatch`` when
        the organisations' units and sentences are not laid out as the state's."""
        index = cls(embedder, **params)
        index._read_records(organisations)
        if not (np.array_equal(index.layout_.unit_owner, state.unit_owner)
                and np.array_equal(index.layout_.passage_owner, state.passage_owner)):
            raise StateMismatch("the saved units and sentences do not fit these organisations")
        index.dense_ = index.dense_factory.from_state(state.dense)
        index.challenges_ = {c.id: c for c in challenges}
        index.challenge_vectors_ = np.ascontiguousarray(state.challenge_vectors, dtype=np.float32)
        index.challenge_model_ = ChallengeModel.from_state(state.challenge_vectors, [c.id for c in challenges],
                                                           state.challenge_model)
        index.challenge_alignment_ = state.challenge_alignment
        index._fit_lexical()
        index.labels_hash_ = state.labels_hash
        return index

    def save(self, path: Path | str) -> Path:
        """Write the index to one file atomically (temp file + rename): readers never see half a file."""
        from matcher.index import file

        return file.save(self.state(), path)

    @staticmethod
    def read_meta(path: Path | str) -> IndexMeta:
        """The saved index's model id, corpus hash and ids, without loading vectors; raises IndexFileError."""
        from matcher.index import file

        return file.read_meta(path)

    @classmethod
    def load(
        cls,
        path: Path | str,
        embedder: Embedder,
        organisations: Iterable[Organisation],
        challenges: Sequence[Challenge],
        labelled: Sequence[Project] = (),
        **params: Any,
    ) -> PartnerIndex:
        """Load a saved index for these organisations; refuse it (IndexFileError) if model or corpus differ."""
        from matcher.index import file

        return file.load(cls, path, embedder, organisations, challenges, labelled, **params)

