"""The partner index: organisation profiles embedded and searched with FAISS, scored and explained.

Estimator style: the constructor stores parameters, ``fit`` embeds and builds (fitted state ends in ``_``),
``rank`` answers queries, ``save``/``load`` persist atomically with the model id and corpus hash, so an index
built for another model or corpus is refused rather than silently served.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache, partial
from pathlib import Path

import faiss
import numpy as np

from corpus import vocab
from corpus.loaders import combine_digests, record_digest
from corpus.schema import Challenge, Organisation, Project
from embeddings.base import Embedder, encode_queries
from embeddings.cache import CachedEmbedder, EmbeddingCache
from matcher.ann import ApproximateVectors, approximate_filter, gather, reverse_map
from matcher.arrays import ranges as _ranges
from matcher.challenges import ChallengeModel
from matcher.errors import IndexNotReady, InvalidRequest
from matcher.fusion import convex
from matcher.lexical import LexicalIndex
from matcher.records import OrganisationTable
from matcher.results import Match, ScoreWeights

FORMAT_VERSION = 5  # 5: records compressed, corpus hash a sum of record digests, sentences not stored
# Search units at and above which dense search is approximate (IVF, see ``ApproximateVectors``); below it exact.
# Exact search over 50k units costs ~5 ms a query on two cores, about what IVF costs at a million.
ANN_THRESHOLD = 50_000
_SEARCHES = ThreadPoolExecutor(max_workers=2, thread_name_prefix="ivf-search")  # see PartnerIndex._retrieve
BUILD_CHUNK = 20_000  # organisations embedded per step of a build: ~60 MB of vectors at a time, at any size
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


def _document_texts(org: Organisation) -> list[str]:
    return [f"{doc.title}. {doc.text}"[:DOCUMENT_CHARS] for doc in org.documents]


def unit_texts(organisations: Sequence[Organisation]) -> tuple[list[str], list[int]]:
    """Search units: one profile per organisation, then each document; returns texts and document owners."""
    texts = [org.profile_text() for org in organisations]
    doc_owner = []
    for row, org in enumerate(organisations):
        for text in _document_texts(org):
            texts.append(text)
            doc_owner.append(row)
    return texts, doc_owner


def _columns(organisations: Sequence[Organisation]) -> dict[str, np.ndarray]:
    """Per-organisation arrays the index keeps beside the compressed records (filters, scoring, layout, hash).
    Countries, types and ids are object arrays of shared strings: 8 bytes a row, where fixed-width text is 56."""
    minerals, stages = _mineral_bit(), _stage_bit()
    n = len(organisations)
    return {
        "ids": np.array([o.id for o in organisations] or [], dtype=object),
        "countries": np.array([sys.intern(o.country) for o in organisations] or [], dtype=object),
        "org_types": np.array([sys.intern(o.org_type) for o in organisations] or [], dtype=object),
        "mineral_bits": np.fromiter((_bits(o.minerals, minerals) for o in organisations), dtype=np.uint64, count=n),
        "stage_bits": np.fromiter((_bits(o.value_chain_stages, stages) for o in organisations), dtype=np.uint16, count=n),
        "digests": np.fromiter((record_digest(o) for o in organisations), dtype=np.uint64, count=n),
        "n_docs": np.fromiter((len(o.documents) for o in organisations), dtype=np.int64, count=n),
        "n_passages": np.fromiter((len(_evidence_passages(o)) for o in organisations), dtype=np.int64, count=n),
    }


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


@lru_cache(maxsize=1)
def _mineral_bit() -> dict[str, int]:
    # A vocabulary invariant (34 minerals today): mineral bit sets are 64-bit integers.
    assert len(vocab.minerals()) <= 64, "mineral bit sets are 64-bit"  # nosec B101
    return {m: 1 << i for i, m in enumerate(vocab.minerals())}


@lru_cache(maxsize=1)
def _stage_bit() -> dict[str, int]:
    return {s: 1 << i for i, s in enumerate(vocab.value_chain_stages())}


def _bits(items: Iterable[str], bit: dict[str, int]) -> int:
    """A set of vocabulary ids as one integer (ids outside the vocabulary are ignored)."""
    out = 0
    for item in items:
        out |= bit.get(item, 0)
    return out


def _encode_one(embedder: Embedder, text: str) -> np.ndarray:
    vector = encode_queries(embedder, [text], batch_size=1)[0]
    vector.flags.writeable = False  # shared by every caller that asks for the same text
    return vector


def _top_allowed(values: np.ndarray, k: int, mask: np.ndarray, allowed: int) -> np.ndarray:
    """Positions of the ``k`` largest positive ``values`` where ``mask`` holds (fewer if fewer are positive).

    Exact, and at a million rows about a tenth of the cost of masking, ``flatnonzero`` and ``argpartition`` over
    all of them (common query words give most rows a score): a threshold estimated from a strided sample keeps
    ~8k rows in expectation, and the top k of those is the top k of all whenever at least k pass it (every row
    left out scores at most the threshold, every row kept more). Otherwise, the full path."""
    n = len(values)
    if n > 50_000 and allowed > 0:
        sample = values[:: max(1, n // 20_000)]
        share = allowed / n
        threshold = np.quantile(sample, max(0.0, 1.0 - 8 * k / (n * share)))
        if threshold > 0:
            rows = np.flatnonzero(values > threshold)
            rows = rows[mask[rows]]
            if len(rows) >= k:
                return rows[np.argpartition(-values[rows], k - 1)[:k]]
    rows = np.flatnonzero(values)
    rows = rows[mask[rows]]
    if len(rows) > k:
        rows = rows[np.argpartition(-values[rows], k - 1)[:k]]
    return rows


@dataclass
class _Filter:
    """What one filter (countries, types, exclusions) allows, in the forms each search takes; cached per index."""

    mask: np.ndarray  # organisations
    count: int
    unit_mask: np.ndarray
    unit_count: int
    params: object = None  # exact: faiss.SearchParameters with an ID selector over unit rows
    selector: object = None  # kept alive beside params (FAISS holds a raw pointer)
    units: tuple = ()  # approximate: (base bitmap, base share, delta mask) for units
    passages: tuple = ()  # and for evidence sentences


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
        table = OrganisationTable.build(organisations, on_segment=lambda orgs: columns.append(_columns(orgs)))
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
            yield from _document_texts(self.organisations_[row])

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
            docs = [t for org in orgs for t in _document_texts(org)]
            sentences = [p for org in orgs for p in _evidence_passages(org)]
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
            unit_texts_.extend(_document_texts(org))
            passage_texts.extend(_evidence_passages(org))
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
        # Evidence sentences of recently shown organisations (splitting a record's texts again costs ~20 µs).
        self.evidence_ = lru_cache(maxsize=4096)(lambda position: _evidence_passages(self.organisations_[position]))

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
        new_passages = [p for org in upserted for p in _evidence_passages(org)]
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
        fresh_columns = _columns(upserted)
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

    # ------------------------------------------------------------------ query
    def encode_query(self, text: str) -> np.ndarray:
        """The query's vector (read-only), from the LRU cache when this text was asked for recently."""
        return self._query_vectors(text)

    def challenge_alignment_of(self, vector: np.ndarray) -> dict[int, float]:
        """Zero-shot alignment of any vector (a query, a project) with each challenge area, in [0, 1]."""
        self._check_fitted()
        sims = self.challenge_model_.predict(vector[None, :])[0]
        return {cid: round(float(s), 4) for cid, s in zip(self.challenges_, sims)}

    def _allowed_positions(self, countries, org_types, exclude, only=None) -> np.ndarray | None:
        return np.flatnonzero(self._filter(countries, org_types, exclude, only).mask)

    def _filter(self, countries, org_types, exclude=(), only=None) -> _Filter:
        """The filter's masks and selectors; cached when it names no organisations (the common, repeated case)."""
        exclude = frozenset(oid for oid in exclude if oid in self.positions_)
        key = (tuple(sorted(set(countries or ()))), tuple(sorted(set(org_types or ()))))
        if not exclude and only is None:
            return self.filters_(*key)
        return self._make_filter(*key, exclude, only)

    def _make_filter(self, countries, org_types, exclude=frozenset(), only=None) -> _Filter:
        mask = self._organisation_mask(countries, org_types, exclude, only)
        unit_mask = mask[self.unit_owner_]
        out = _Filter(mask, int(mask.sum()), unit_mask, int(unit_mask.sum()))
        if self.mode_ == "exact":
            out.selector = faiss.IDSelectorBatch(np.flatnonzero(unit_mask).astype(np.int64))
            out.params = faiss.SearchParameters(sel=out.selector)
        else:
            out.units = approximate_filter(self.units_ann_, self.unit_src_, unit_mask)
            out.passages = approximate_filter(self.passages_ann_, self.passage_src_, mask[self.passage_owner_])
        return out

    def _organisation_mask(self, countries, org_types, exclude, only) -> np.ndarray:
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
        allowed = self._filter(countries, org_types, exclude, only)
        if k <= 0 or allowed.count == 0:
            return []
        qvec = self.encode_query(text) if query_vector is None else query_vector  # batch callers encode once
        candidates, relevance, dense, lexical = self._retrieve(text, qvec, allowed, k)
        scores, parts = self._score(candidates, relevance, dense, lexical, signals)
        rows = np.arange(len(candidates))
        if challenge_only and challenge is not None:
            rows = rows[parts[f"challenge_{challenge}"] >= CHALLENGE_ALIGNED]
        ids = self.ids_
        keep = min(len(rows), 3 * k)
        if len(rows) > keep:  # only the best 3k (and anything tied with the last) need sorting, by score then id
            cut = np.partition(scores[rows], len(rows) - keep)[len(rows) - keep]
            rows = rows[scores[rows] >= cut]
        order = sorted(rows.tolist(), key=lambda i: (-scores[i], ids[candidates[i]]))
        scored = [(float(scores[i]), int(candidates[i]), i) for i in order]
        chosen = self._diversify(scored[: 3 * k], k) if self.diversity > 0 and diversify else scored[:k]
        if not chosen:
            return []
        chosen_rows = np.array([row for _, _, row in chosen])
        names = list(parts)
        table = np.round(np.stack([parts[name][chosen_rows] for name in names], axis=1), 4).tolist()
        explanations = self._explanations([p for _, p, _ in chosen], qvec, signals) if explain else None
        matches = []
        for rank, ((score, position, _), values) in enumerate(zip(chosen, table), start=1):
            components = {name: value for name, value in zip(names, values) if not math.isnan(value)}  # NaN: n/a
            organisation = self.organisations_[position]
            explanation = explanations(rank - 1, organisation, components) if explain else None
            weak = self.weak_below is not None and components["semantic"] < self.weak_below
            matches.append(Match(rank, round(score, 4), organisation, components, explanation, weak))
        return matches

    def _diversify(self, scored: list, k: int) -> list:
        """Maximal marginal relevance over the best candidates, using profile similarity between organisations."""
        positions = np.array([p for _, p, _ in scored], dtype=np.int64)
        scores = np.array([s for s, _, _ in scored])
        profiles = self._unit_vectors(positions)  # profile rows are organisation positions
        similarity = profiles @ profiles.T
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

    def _retrieve(self, text: str, qvec: np.ndarray, allowed: _Filter, k: int):
        """Candidate organisations from both retrievers, each scored exactly by both, then fused.

        Dense candidates come from FAISS restricted to the allowed organisations' units (ID selector, or bitmap
        for the approximate index) and from each organisation's best evidence sentence: the model reads ~256
        tokens, so a long profile is judged on its beginning, and a capability stated further down is caught by
        its sentence. Lexical candidates come from one sparse BM25 product over all units, masked. Returns
        (positions, relevance, dense, lexical).
        """
        n = len(self.ids_)
        pool = min(allowed.unit_count, max(self.candidates, 3 * k))
        if self.mode_ == "exact":
            _, hits = self.index_.search(qvec[None, :], pool, params=allowed.params)
            dense_orgs = self.unit_owner_[hits[0][hits[0] >= 0]]
        else:
            # The sentence search runs on a second thread meanwhile (FAISS releases the GIL): one query's two IVF
            # searches take the time of one on two cores. (FAISS's own per-list threading would too, but it
            # returns different hits among equal distances from run to run.)
            sentences_found = _SEARCHES.submit(self.passages_ann_.search, qvec, pool, *allowed.passages)
            base_ids, _, delta_rows, _ = self.units_ann_.search(qvec, pool, *allowed.units)
            dense_orgs = self.unit_owner_[np.concatenate([self.unit_base_rows_[base_ids], self.unit_delta_rows_[delta_rows]])]
        unit_lexical = self.lexical_.scores(text)
        org_lexical = unit_lexical[:n]  # profiles; then an organisation's best document
        if len(unit_lexical) > n:
            # Documents are grouped by owner: one maximum per group (ufunc.at is ten times slower).
            has_docs = self.n_docs_ > 0
            best_doc = np.maximum.reduceat(unit_lexical[n:], self.doc_starts_[:-1][has_docs] - n)
            org_lexical[has_docs] = np.maximum(org_lexical[has_docs], best_doc)
        lexical_orgs = _top_allowed(org_lexical, pool, allowed.mask, allowed.count)
        if self.mode_ == "exact":
            # Best sentence per organisation: one matrix product over the evidence sentences, masked to the allowed.
            # Sentences are grouped by owner and every organisation has one (its name if nothing else).
            best_sentence = np.maximum.reduceat(self.passage_vectors_ @ qvec, self.passage_starts_[:-1]).astype(np.float64)
            best_sentence[~allowed.mask] = -1.0
            sentence_orgs = np.argpartition(-best_sentence, min(pool, n) - 1)[:pool]
            sentence_orgs = sentence_orgs[allowed.mask[sentence_orgs]]
        else:
            base_ids, _, delta_rows, _ = sentences_found.result()
            rows = np.concatenate([self.passage_base_rows_[base_ids], self.passage_delta_rows_[delta_rows]])
            sentence_orgs = self.passage_owner_[rows]
        candidates = np.unique(np.concatenate([dense_orgs, lexical_orgs, sentence_orgs]).astype(np.int64))  # sorted
        if candidates.size == 0:  # an approximate search can miss a tiny filter's few vectors altogether
            empty = np.zeros(0)
            return candidates, empty, empty, empty
        sentences = best_sentence[candidates] if self.mode_ == "exact" else self._best_sentences(candidates, qvec)
        dense = np.maximum(self._dense_scores(candidates, qvec), sentences)
        lexical = org_lexical[candidates].astype(np.float64) * allowed.mask[candidates]
        if self.fusion == "dense":
            relevance = dense
        else:
            relevance = convex(lexical, dense, self.weights.lexical)
        top_lexical = lexical.max() if lexical.size and lexical.max() > 0 else 1.0
        return candidates, relevance, dense, lexical / top_lexical

    def _best_sentences(self, candidates: np.ndarray, qvec: np.ndarray) -> np.ndarray:
        """Each candidate's best evidence-sentence similarity (every organisation has at least one sentence)."""
        rows, lengths = _ranges(self.passage_starts_, candidates)
        sims = self._passage_vectors(rows) @ qvec
        return np.maximum.reduceat(sims, np.concatenate([[0], np.cumsum(lengths)[:-1]])).astype(np.float64)

    def _dense_scores(self, candidates: np.ndarray, qvec: np.ndarray) -> np.ndarray:
        """Per organisation: best unit + a share of the second best, so a second strong document counts but one
        strong project is never averaged away by weaker ones. With one unit this is the plain cosine."""
        doc_rows, doc_counts = _ranges(self.doc_starts_ - len(self.ids_), candidates)
        units = np.concatenate([candidates, len(self.ids_) + doc_rows])  # profile row = organisation position
        owners = np.concatenate([candidates, np.repeat(candidates, doc_counts)])
        sims = self._unit_vectors(units) @ qvec
        order = np.lexsort((-sims, owners))
        owners, sims = owners[order], sims[order]
        first = np.r_[True, owners[1:] != owners[:-1]]
        heads = np.flatnonzero(first)
        best, who = sims[heads], owners[heads]
        nxt = np.minimum(heads + 1, len(owners) - 1)
        second = np.where((heads + 1 < len(owners)) & (owners[nxt] == who), sims[nxt], 0.0)
        share = self.weights.second_document
        combined = np.where(best > 0, best + share * np.clip(second, 0, None) * (1 - best), best)
        if np.array_equal(who, candidates):  # candidates come sorted and unique (np.unique): already aligned
            return combined.astype(np.float64)
        return combined[np.searchsorted(who, candidates)].astype(np.float64)

    def _score(self, candidates: np.ndarray, relevance: np.ndarray, dense: np.ndarray, lexical: np.ndarray,
               q: QuerySignals) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Scores of all candidates at once: the weighted mean of the components that apply to this query (every
        component in [0, 1]); and each component per candidate (NaN where it does not apply to that one).

        Vectorised over bitmasks of minerals and stages: scoring hundreds of candidates one by one in Python
        cost more than the rest of a query together."""
        w = self.weights
        parts = {"relevance": relevance, "semantic": dense, "lexical": lexical}
        total = w.semantic * relevance
        weight = np.full(len(candidates), w.semantic)
        stage_bits = self.stage_bits_[candidates]
        if q.minerals:
            shared = np.bitwise_count(self.mineral_bits_[candidates] & np.uint64(_bits(q.minerals, _mineral_bit())))
            parts["minerals"] = shared / len(q.minerals)
            total, weight = total + w.minerals * parts["minerals"], weight + w.minerals
        query_stages = _bits(q.stages, _stage_bit())
        if q.stages:
            parts["stages"] = np.bitwise_count(stage_bits & np.uint16(query_stages)) / len(q.stages)
            total, weight = total + w.stages * parts["stages"], weight + w.stages
        if q.upstream is not None:
            # The seed report's pattern: partners are often complementary, not identical. An upstream project
            # (exploration, extraction, processing, mine waste) gains most from downstream partners, and back.
            upstream = _bits(vocab.upstream_stages(), _stage_bit())
            every = (1 << len(_stage_bit())) - 1
            other = (every & ~upstream if q.upstream else upstream) & ~query_stages & every
            counts = np.bitwise_count(stage_bits)
            has = counts > 0
            value = np.bitwise_count(stage_bits & np.uint16(other)) / np.maximum(counts, 1)
            parts["complementarity"] = np.where(has, value, np.nan)
            total = total + np.where(has, w.complementarity * value, 0.0)
            weight = weight + np.where(has, w.complementarity, 0.0)
        if q.prefer_org_types:
            parts["org_type"] = np.isin(self.org_types_[candidates], list(q.prefer_org_types)).astype(np.float64)
            total, weight = total + w.org_type * parts["org_type"], weight + w.org_type
        for column, cid in enumerate(self.challenges_):
            parts[f"challenge_{cid}"] = self.challenge_alignment_[candidates, column].astype(np.float64)
        if q.challenge is not None:
            total, weight = total + w.challenge * parts[f"challenge_{q.challenge}"], weight + w.challenge
        return total / weight, parts

    def _explanations(self, positions: list[int], qvec: np.ndarray, q: QuerySignals):
        """A function (i, organisation, components) -> the explanation of the i-th chosen organisation.

        What depends only on the query (its minerals and stages by name, the weights) is made once, and the
        evidence sentences of all chosen organisations are scored in one matrix product."""
        rows, lengths = _ranges(self.passage_starts_, np.asarray(positions, dtype=np.int64))
        sims = np.split(self._passage_vectors(rows) @ qvec, np.cumsum(lengths)[:-1])
        minerals, stages, types = vocab.minerals(), vocab.value_chain_stages(), vocab.org_types()
        query_minerals = sorted(minerals[m].name for m in q.minerals)
        query_stages = [stages[s].name for s in sorted(q.stages)]
        weights = self.weights.as_dict()

        def explain(i: int, org: Organisation, components: dict) -> dict:
            best = np.argsort(-sims[i])[:2]
            passages = self.evidence_(positions[i])  # derived from the record: not held for a million organisations
            evidence = [{"text": passages[j], "similarity": round(float(sims[i][j]), 4)} for j in best]
            shared = [minerals[m].name for m in org.minerals if m in q.minerals]
            challenge_scores = {cid: components[f"challenge_{cid}"] for cid in self.challenges_}
            best_challenge = max(challenge_scores, key=challenge_scores.get)
            reason = f"{org.name} ({org.country}, {types[org.org_type].name.lower()})"
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
                "query_minerals": list(query_minerals),
                "value_chain_stages": [stages[s].name for s in org.value_chain_stages],
                "shared_stages": [stages[s].name for s in org.value_chain_stages if s in q.stages],
                "query_stages": list(query_stages),
                "challenge": {"best": best_challenge, "alignment": challenge_scores},
                "weights": dict(weights),
            }

        return explain

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
