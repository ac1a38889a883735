"""The partner index: organisation profiles embedded and searched with FAISS, scored and explained.

Estimator style: the constructor stores parameters, ``fit`` embeds and builds (fitted state ends in ``_``),
``rank`` answers queries, ``save``/``load`` persist atomically with the model id and corpus hash, so an index
built for another model or corpus is refused rather than silently served.

This module builds, updates (``with_changes``) and persists the index. Its query side (filters, retrieval, scoring,
explanations) is ``matcher.ranking.Ranking``, which ``PartnerIndex`` inherits; the texts and columns it is built
from, per organisation, are ``matcher.units``; its file format is ``matcher.index_file``.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache, partial
from pathlib import Path

import faiss
import numpy as np

from corpus.loaders import combine_digests
from corpus.schema import Challenge, Organisation, Project
from embeddings.base import Embedder, encode_queries
from embeddings.cache import CachedEmbedder, EmbeddingCache
from matcher.ann import ApproximateVectors, gather, reverse_map
from matcher.challenges import ChallengeModel
from matcher.errors import IndexNotReady
from matcher.lexical import LexicalIndex
from matcher.ranking import Ranking, ShownOrganisation
from matcher.records import OrganisationTable
from matcher.results import ScoreWeights
from matcher.units import (
    document_texts,
    evidence_passages,
    organisation_columns,
    unit_texts,
)

FORMAT_VERSION = 5  # 5: records compressed, corpus hash a sum of record digests, sentences not stored
# Search units at and above which dense search is approximate (IVF, see ``ApproximateVectors``); below it exact.
# Exact search over 50k units costs ~5 ms a query on two cores, about what IVF costs at a million.
ANN_THRESHOLD = 50_000
BUILD_CHUNK = 20_000  # organisations embedded per step of a build: ~60 MB of vectors at a time, at any size


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


def _encode_one(embedder: Embedder, text: str) -> np.ndarray:
    vector = encode_queries(embedder, [text], batch_size=1)[0]
    vector.flags.writeable = False  # shared by every caller that asks for the same text
    return vector


class PartnerIndex(Ranking):
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
    ann_threshold: search units from which dense search is approximate (``ApproximateVectors``: IVF with 8-bit
        vectors, recall@10 >= 0.95 against exact in ``make bench``); below it, exact (a flat FAISS index).
    nprobe: IVF lists scanned per query (default ``default_nprobe``); more is slower and closer to exact.
    query_cache_size: query texts whose embeddings are kept (least recently used out): a repeated query, such as
        the portal's stored briefs, skips the model.
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
        ann_threshold: int = ANN_THRESHOLD,
        nprobe: int | None = None,
        query_cache_size: int = 1024,
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
        self.ann_threshold = ann_threshold
        self.nprobe = nprobe
        self.query_cache_size = query_cache_size
        # Shared with every index derived by with_changes: it depends only on the embedder (and holds no index).
        self._query_vectors = lru_cache(maxsize=query_cache_size)(partial(_encode_one, embedder))

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
        self.lexical_ = LexicalIndex().fit(self._unit_text_stream())
        self._embed(encoder)
        self.labels_hash_ = labels_hash(labelled)
        self.build_seconds_ = time.perf_counter() - started
        return self

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
        """Embed every unit and evidence sentence, chunk by chunk, into an exact or an approximate search, and
        each profile's challenge alignment. Exact below ``ann_threshold`` search units, IVF from it."""
        n, n_units, n_passages = len(self.ids_), len(self.unit_owner_), len(self.passage_owner_)
        approximate = n_units >= self.ann_threshold
        alignment = np.zeros((n, len(self.challenges_)), dtype=np.float32)
        if approximate:
            units, passages = self._trained_stores(encoder, n_units, n_passages)
            unit_src, passage_src = np.empty(n_units, dtype=np.int64), np.empty(n_passages, dtype=np.int64)
        else:
            profile_parts, doc_parts, passage_parts = [], [], []
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
            d0, d1 = self.doc_starts_[start] - n, self.doc_starts_[end] - n
            p0, p1 = self.passage_starts_[start], self.passage_starts_[end]
            if approximate:
                unit_src[start:end] = units.add(profiles)
                unit_src[n + d0 : n + d1] = units.add(doc_vectors)
                passage_src[p0:p1] = passages.add(sentence_vectors)
            else:
                profile_parts.append(profiles)
                doc_parts.append(doc_vectors)
                passage_parts.append(sentence_vectors)
            del vectors, profiles, doc_vectors, sentence_vectors
            if progress is not None:
                progress.update(end - start)
        if progress is not None:
            progress.close()
        self.challenge_alignment_ = alignment
        if approximate:
            self._set_approximate(units, unit_src, passages, passage_src)
        else:
            unit_vectors = gather(*((part, None) for part in profile_parts + doc_parts))
            index = faiss.IndexFlatIP(unit_vectors.shape[1])  # exact inner product = cosine on unit vectors
            index.add(unit_vectors)
            del unit_vectors
            self._set_exact(index, gather(*((part, None) for part in passage_parts)))

    def _trained_stores(self, encoder: Embedder, n_units: int, n_passages: int):
        """Empty IVF stores for units and sentences, trained on a random sample of organisations' vectors (the
        same sample every build: seeded). Sampled texts are embedded again in the pass (a cache hit with one)."""
        wanted = max(ApproximateVectors.sample_size(n_units), ApproximateVectors.sample_size(n_passages))
        n = len(self.ids_)
        rows = np.sort(np.random.default_rng(0).choice(n, size=min(n, wanted), replace=False))
        unit_texts_, passage_texts = [], []
        for org in self.organisations_.rows(rows.tolist()):
            unit_texts_.append(org.profile_text())
            unit_texts_.extend(document_texts(org))
            passage_texts.extend(evidence_passages(org))
        vectors = np.asarray(encoder.encode(unit_texts_ + passage_texts, batch_size=self.batch_size), dtype=np.float32)
        unit_sample, passage_sample = vectors[: len(unit_texts_)], vectors[len(unit_texts_) :]
        units = ApproximateVectors.trained(unit_sample, n_units, nprobe=self.nprobe, reserve=False)
        passages = ApproximateVectors.trained(passage_sample, n_passages, nprobe=self.nprobe, reserve=False)
        spreads = units.spread(unit_sample), passages.spread(passage_sample)
        del vectors, unit_sample, passage_sample  # freed before the lists take their memory
        units.reserve(spreads[0], n_units)
        passages.reserve(spreads[1], n_passages)
        return units, passages

    def _set_records(self, table: OrganisationTable, columns: dict[str, np.ndarray]) -> None:
        """The records and every per-organisation array that filters, scoring and layout read."""
        self.organisations_ = table
        self.ids_ = columns["ids"].tolist()
        self._positions = self._corpus_hash = None  # made on first use (see positions_, corpus_hash_)
        self.countries_ = columns["countries"]
        self.org_types_ = columns["org_types"]
        # Minerals and stages as bit sets (one integer per organisation): scoring is then a few vector operations.
        self.mineral_bits_ = columns["mineral_bits"]
        self.stage_bits_ = columns["stage_bits"]
        self.columns_ = columns  # with_changes takes kept rows of each
        self.digests_ = columns["digests"]
        self.n_docs_ = columns["n_docs"]
        self.n_passages_ = columns["n_passages"]
        n = len(self.ids_)
        # Search units: one profile per organisation (rows 0..n-1), then every document grouped by owner.
        self.unit_owner_ = np.concatenate([np.arange(n, dtype=np.int64), np.repeat(np.arange(n), self.n_docs_)])
        self.doc_starts_ = n + np.concatenate([[0], np.cumsum(self.n_docs_)]).astype(np.int64)
        self.passage_owner_ = np.repeat(np.arange(n, dtype=np.int64), self.n_passages_)
        self.passage_starts_ = np.concatenate([[0], np.cumsum(self.n_passages_)]).astype(np.int64)
        self.model_id_ = self.embedder.model_id
        # Filters repeat (GB, CA, a type or two): their masks, selectors and bitmaps are made once per index.
        self.filters_ = lru_cache(maxsize=64)(self._make_filter)
        # What the explanations of recently shown organisations take from their records (splitting a record's
        # texts into evidence sentences again costs ~20 us).
        self.shown_ = lru_cache(maxsize=4096)(lambda position: ShownOrganisation.of(self.organisations_[position]))

    # ------------------------------------------------------------------ vector search (exact or approximate)
    def _set_search(self, unit_vectors: np.ndarray, passage_vectors: np.ndarray) -> None:
        """Index these unit and sentence vectors: exactly below ``ann_threshold`` units, approximately above."""
        if len(unit_vectors) < self.ann_threshold:
            index = faiss.IndexFlatIP(unit_vectors.shape[1])  # exact inner product = cosine on unit vectors
            index.add(np.ascontiguousarray(unit_vectors))
            self._set_exact(index, passage_vectors)
        else:
            self._set_approximate(ApproximateVectors.build(unit_vectors, nprobe=self.nprobe),
                                  np.arange(len(unit_vectors), dtype=np.int64),
                                  ApproximateVectors.build(passage_vectors, nprobe=self.nprobe),
                                  np.arange(len(passage_vectors), dtype=np.int64))

    def _set_exact(self, index: faiss.IndexFlat, passage_vectors: np.ndarray) -> None:
        self.mode_ = "exact"
        self.index_ = index
        # Exact unit vectors re-score the fused candidate pool: a view of the flat index's own storage, so they
        # are held once in memory (the index is never modified after it is built, so the view stays valid).
        self.unit_vectors_ = _flat_vectors(index)
        self.vectors_ = self.unit_vectors_[: len(self.ids_)]
        # Own copy (not a view of a larger matrix, which could then not be freed).
        self.passage_vectors_ = np.array(passage_vectors, dtype=np.float32, order="C", copy=True)
        self.units_ann_ = self.passages_ann_ = None

    def _set_approximate(self, units: ApproximateVectors, unit_src: np.ndarray, passages: ApproximateVectors,
                         passage_src: np.ndarray) -> None:
        self.mode_ = "ivf"
        self.units_ann_, self.unit_src_ = units, unit_src
        self.passages_ann_, self.passage_src_ = passages, passage_src
        self.index_ = units.base
        self.unit_vectors_ = self.vectors_ = self.passage_vectors_ = None  # decoded on demand from the stores
        # Base id / delta row -> current row (-1: no longer used), for mapping search hits back.
        self.unit_base_rows_ = reverse_map(unit_src, units.base.ntotal)
        self.passage_base_rows_ = reverse_map(passage_src, passages.base.ntotal)
        self.unit_delta_rows_ = reverse_map(-unit_src - 1, len(units.delta))
        self.passage_delta_rows_ = reverse_map(-passage_src - 1, len(passages.delta))

    def _unit_vectors(self, rows: np.ndarray) -> np.ndarray:
        if self.mode_ == "exact":
            return self.unit_vectors_[rows]
        return self.units_ann_.vectors(self.unit_src_[rows])

    def _passage_vectors(self, rows: np.ndarray) -> np.ndarray:
        if self.mode_ == "exact":
            return self.passage_vectors_[rows]
        return self.passages_ann_.vectors(self.passage_src_[rows])

    @property
    def positions_(self) -> dict[str, int]:
        """Row of each organisation id. Made on first use: at a million organisations the dict is ~100 MB, and
        free-text queries without exclusions never need it."""
        if self._positions is None:
            self._positions = {oid: i for i, oid in enumerate(self.ids_)}
        return self._positions

    @property
    def corpus_hash_(self) -> str:
        """Fingerprint of the indexed organisations (``corpus.corpus_hash``: the sum of the records' digests).
        Every response carries it; summed once per index (0.5 ms at a million organisations)."""
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
        old_doc_units = np.arange(n_old, len(self.unit_owner_))
        kept_doc_units = old_doc_units[keep_mask[self.unit_owner_[n_old:]]]
        kept_passages = keep_mask[self.passage_owner_]
        kept_passage_rows = np.flatnonzero(kept_passages)

        new = object.__new__(PartnerIndex)
        new.__dict__.update({k: v for k, v in self.__dict__.items() if not k.endswith("_")})
        # Records and columns: kept rows, then the new ones (unit and sentence layouts follow from the columns).
        fresh_columns = organisation_columns(upserted)
        new._set_records(self.organisations_.derive(keep, upserted),
                         {k: np.concatenate([v[keep], fresh_columns[k]]) for k, v in self.columns_.items()})
        n_units = len(new.unit_owner_)
        if self.mode_ == "ivf" and n_units >= self.ann_threshold // 2:
            # Approximate: the base stays shared; changed rows go to the delta (rebuilt when it grows too big).
            units, src = self.units_ann_.derive(
                np.concatenate([self.unit_src_[keep], self.unit_src_[kept_doc_units]]),
                np.concatenate([profile_vectors, doc_vectors]))
            unit_src = np.concatenate([src[:n_keep], src[n_keep + len(kept_doc_units) : n_keep + len(kept_doc_units) + n_up],
                                       src[n_keep : n_keep + len(kept_doc_units)], src[n_keep + len(kept_doc_units) + n_up :]])
            passages, passage_src = self.passages_ann_.derive(self.passage_src_[kept_passage_rows], passage_vectors)
            if units.needs_rebuild or passages.needs_rebuild:
                new._set_search(units.vectors(unit_src), passages.vectors(passage_src))
            else:
                new._set_approximate(units, unit_src, passages, passage_src)
        else:  # exact (or shrunk below half the threshold): gather every vector into a new index
            if self.mode_ == "exact":
                old_units, unit_rows = self.unit_vectors_, (keep, kept_doc_units)
                old_passages, passage_rows = self.passage_vectors_, kept_passage_rows
            else:  # decode only the rows kept
                old_units = self._unit_vectors(np.concatenate([keep, kept_doc_units]))
                unit_rows = (np.arange(n_keep), n_keep + np.arange(len(kept_doc_units)))
                old_passages, passage_rows = self._passage_vectors(kept_passage_rows), None
            unit_vectors = gather((old_units, unit_rows[0]), (profile_vectors, None),
                                   (old_units, unit_rows[1]), (doc_vectors, None))
            new._set_search(unit_vectors, gather((old_passages, passage_rows), (passage_vectors, None)))
            del unit_vectors  # FAISS holds its own copy; read it through a view from here on
        new.lexical_ = self.lexical_.recombine([keep, new_profiles, kept_doc_units, new_docs])
        new.challenges_ = self.challenges_
        new.challenge_vectors_ = self.challenge_vectors_
        if labels_changed:
            new.challenge_model_ = ChallengeModel().fit(self.challenge_vectors_, labelled_vectors,
                                                        [set(p.challenge_areas) for p in labelled], list(self.challenges_))
            new.challenge_alignment_ = new.challenge_model_.predict(new._unit_vectors(np.arange(n_keep + n_up)))
            new.labels_hash_ = labels_hash(labelled)
        else:
            new.challenge_model_ = self.challenge_model_
            fresh = self.challenge_model_.predict(profile_vectors) if n_up else np.zeros((0, len(self.challenges_)))
            new.challenge_alignment_ = np.vstack([self.challenge_alignment_[keep], fresh])
            new.labels_hash_ = self.labels_hash_
        new.build_seconds_ = 0.0
        return new

    def _check_fitted(self) -> None:
        if not hasattr(self, "index_"):
            raise IndexNotReady("the partner index is not built yet; run `matcher build` or wait for start-up")

    def __len__(self) -> int:
        return len(getattr(self, "ids_", ()))

    # ------------------------------------------------------------------ persistence (matcher/index_file.py)
    def save(self, path: Path | str) -> Path:
        """Write the index to one file atomically (temp file + rename): readers never see half a file."""
        from matcher import index_file

        return index_file.save(self, path)

    @staticmethod
    def read_meta(path: Path | str) -> dict:
        """The saved index's model id, corpus hash and ids, without loading vectors; raises IndexFileError."""
        from matcher import index_file

        return index_file.read_meta(path)

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
        from matcher import index_file

        return index_file.load(cls(embedder, **params), path, organisations, challenges, labelled)
