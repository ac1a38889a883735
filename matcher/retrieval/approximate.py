"""Approximate dense search for large indexes: an IVF base with 8-bit vectors plus an exact delta.

``DenseFactory`` chooses it from ``ann_threshold`` search units; below that, exact search is as fast.
Filters reach inside the search as bitmaps over base ids.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

import faiss
import numpy as np

from matcher.retrieval.arrays import gather, ranges
from matcher.retrieval.dense import DenseBuilder, DenseChanges, DenseSearch, DenseState, SentenceHits
from matcher.retrieval.layout import SearchLayout

if TYPE_CHECKING:
    from collections.abc import Callable

    from matcher.retrieval.factory import DenseFactory

# The sentence search runs here while the caller searches units (FAISS releases the GIL), so one query's two IVF
# searches take the time of one on two cores. Not FAISS's own per-list threading: it returns different hits among
# equal distances from run to run.
_SEARCHES = ThreadPoolExecutor(max_workers=2, thread_name_prefix="ivf-search")


class ApproximateVectors:
    """Approximate nearest-neighbour search for one set of vectors (search units, or evidence sentences).

    A **base** FAISS IVF index with 8-bit scalar-quantised vectors, never modified once built, plus an exact
    **delta**: vectors added since, searched by one matrix product. Rows of the owning index point into either
    (``src`` arrays: ``>= 0`` a base id, ``< 0`` delta row ``-src - 1``).

    Why IVF rather than HNSW: IVF trains and fills in a fraction of HNSW's build time (docs/performance.md);
    8-bit codes hold a vector in a quarter of float32's memory; and a filtered search tests the ID selector (a
    bitmap) before computing a distance, so widening ``nprobe`` for a selective filter keeps the number of
    distances, and the time, about constant.

    Why a delta: a base shared by every index derived from it (``PartnerIndex.with_changes``) must not change
    under a query in flight. A removed or replaced row is simply no longer referenced: its base id is left out of
    every search's selector. When the delta outgrows ``max(DELTA_REBUILD_MIN, DELTA_REBUILD_SHARE * base)``
    the owner rebuilds the base from all current vectors (``needs_rebuild``).
    """

    DELTA_REBUILD_MIN = 20_000
    DELTA_REBUILD_SHARE = 0.1

    def __init__(self, base: faiss.IndexIVF, delta: np.ndarray, nprobe: int) -> None:
        self.base = base
        self.delta = delta
        self.nprobe = nprobe

    @classmethod
    def trained(cls, sample: np.ndarray, expected: int, *, nprobe: int | None = None,
                reserve: bool = True) -> ApproximateVectors:
        """An empty store for about ``expected`` vectors, its lists trained on ``sample`` (a random sample of them):
        ``nlist`` ~ sqrt(expected), k-means on at most 64 points per list. Vectors are then ``add``-ed in chunks,
        so a build never holds every float32 vector at once."""
        d = sample.shape[1]
        nlist = int(np.clip(round(np.sqrt(expected)), 1, 4096))
        quantizer = faiss.IndexFlatIP(d)
        base = faiss.IndexIVFScalarQuantizer(quantizer, d, nlist, faiss.ScalarQuantizer.QT_8bit,
                                             faiss.METRIC_INNER_PRODUCT)
        base.own_fields = True
        quantizer.this.disown()  # type: ignore[attr-defined]  # the IVF index frees its quantizer
        base.cp.max_points_per_centroid = 64  # a bounded sample per list keeps training short at any size
        base.cp.niter = 12
        sample = np.ascontiguousarray(sample, dtype=np.float32)
        base.train(sample)
        base.make_direct_map()  # reconstruct by id (re-scoring, explanations, rebuilds); kept up to date by add
        store = cls(base, np.zeros((0, d), dtype=np.float32), nprobe or default_nprobe(nlist))
        if reserve and expected > len(sample):
            store.reserve(store.spread(sample), expected)
        return store

    @classmethod
    def build(cls, vectors: np.ndarray, *, nprobe: int | None = None) -> ApproximateVectors:
        """IVF-SQ8 over ``vectors`` (base ids = rows), trained on them."""
        store = cls.trained(vectors, len(vectors), nprobe=nprobe)
        store.add(vectors)
        return store

    def spread(self, sample: np.ndarray) -> np.ndarray:
        """How many of ``sample``'s vectors fall in each list (for ``reserve``)."""
        _, lists = self.base.quantizer.search(np.ascontiguousarray(sample, dtype=np.float32), 1)
        return np.bincount(lists.ravel(), minlength=self.base.nlist)

    def reserve(self, counts: np.ndarray, expected: int) -> None:
        """Give each inverted list its expected capacity before the adds, from a sample's ``spread`` (``counts``).

        Lists are vectors that double when full, so adding codes in chunks leaves them much larger than their
        contents. A list is reserved its expected size plus two standard deviations of the sample's estimate (resized up,
        then down: the capacity stays)."""
        invlists = faiss.downcast_InvertedLists(self.base.invlists)  # type: ignore[arg-type]
        if not hasattr(invlists, "resize") or counts.sum() == 0:  # another list type: FAISS grows it as it likes
            return
        counts = counts.astype(np.float64)
        reserve = np.ceil((counts + 2 * np.sqrt(counts) + 1) * expected / counts.sum()).astype(np.int64)
        for number, size in enumerate(reserve.tolist()):
            invlists.resize(number, size)
            invlists.resize(number, 0)

    def add(self, vectors: np.ndarray) -> np.ndarray:
        """Add vectors to the base while it is being built (never once it is shared); returns their base ids."""
        first = self.base.ntotal
        if len(vectors):
            self.base.add(np.ascontiguousarray(vectors, dtype=np.float32))
        return np.arange(first, self.base.ntotal, dtype=np.int64)

    @staticmethod
    def sample_size(expected: int) -> int:
        """Vectors ``trained`` uses for a store of ``expected`` vectors (64 per list)."""
        return int(min(expected, 64 * np.clip(round(np.sqrt(expected)), 1, 4096)))

    def derive(self, src: np.ndarray, new_vectors: np.ndarray) -> tuple[ApproximateVectors, np.ndarray]:
        """A store sharing this base, whose delta keeps the delta rows ``src`` still uses plus ``new_vectors``;
        returns it and ``src`` rewritten for it followed by the new rows."""
        used = np.unique(-src[src < 0] - 1)
        remap = np.full(len(self.delta), -1, dtype=np.int64)
        remap[used] = np.arange(len(used))
        kept = src.copy()
        kept[src < 0] = -remap[-src[src < 0] - 1] - 1
        delta = gather((self.delta, used), (np.asarray(new_vectors, dtype=np.float32), None))
        added = -(len(used) + np.arange(len(new_vectors), dtype=np.int64)) - 1
        return ApproximateVectors(self.base, delta, self.nprobe), np.concatenate([kept, added])

    @property
    def needs_rebuild(self) -> bool:
        return len(self.delta) > max(self.DELTA_REBUILD_MIN, self.DELTA_REBUILD_SHARE * self.base.ntotal)

    def vectors(self, src: np.ndarray) -> np.ndarray:
        """The vectors of rows ``src`` (base ones decoded from 8 bits, so slightly off the originals)."""
        src = np.asarray(src, dtype=np.int64)
        out = np.empty((len(src), self.delta.shape[1]), dtype=np.float32)
        in_base = src >= 0
        if in_base.any():
            out[in_base] = self.base.reconstruct_batch(src[in_base])
        if not in_base.all():
            out[~in_base] = self.delta[-src[~in_base] - 1]
        return out

    def search(self, query: np.ndarray, k: int, base_allowed: np.ndarray, base_share: float,
               delta_allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Best ``k`` among allowed vectors: (base ids, base sims, delta rows, delta sims).

        ``base_allowed`` is a packed little-endian bitmap over base ids (``np.packbits(mask, bitorder="little")``),
        ``base_share`` the allowed fraction of the base: ``nprobe`` grows as it shrinks, so a selective filter
        still finds its ``k`` nearest among the lists it scans.
        """
        nlist = self.base.nlist
        nprobe = int(min(nlist, np.ceil(self.nprobe / max(base_share, 1e-9))))
        selector = faiss.IDSelectorBitmap(self.base.ntotal, faiss.swig_ptr(base_allowed))
        params = faiss.SearchParametersIVF(sel=selector, nprobe=nprobe)  # type: ignore[call-arg]
        sims, ids = self.base.search(query[None, :], k, params=params)
        found = ids[0] >= 0
        delta_rows = np.flatnonzero(delta_allowed)
        delta_sims = self.delta[delta_rows] @ query if delta_rows.size else np.zeros(0, dtype=np.float32)
        if delta_rows.size > k:
            top = np.argpartition(-delta_sims, k - 1)[:k]
            delta_rows, delta_sims = delta_rows[top], delta_sims[top]
        return ids[0][found], sims[0][found], delta_rows, delta_sims


def default_nprobe(nlist: int) -> int:
    """Lists scanned per query: 64, or a tenth of them past 640 lists. Why: the smallest numbers that keep
    recall@10 against exact search at the target ``make bench`` checks (docs/performance.md)."""
    return int(min(nlist, max(64, nlist // 10)))


def approximate_filter(store: ApproximateVectors, src: np.ndarray, row_mask: np.ndarray) -> tuple:
    """(packed bitmap over base ids, allowed share of the base, mask over delta rows) for ``search``."""
    base = np.zeros(store.base.ntotal, dtype=bool)
    base[src[row_mask & (src >= 0)]] = True
    delta = np.zeros(len(store.delta), dtype=bool)
    delta[-src[row_mask & (src < 0)] - 1] = True
    share = float(base.sum()) / max(1, store.base.ntotal)
    return np.packbits(base, bitorder="little"), share, delta


def reverse_map(src: np.ndarray, size: int) -> np.ndarray:
    """For each base id, the row of ``src`` that uses it, or -1 (removed, replaced)."""
    rows = np.full(size, -1, dtype=np.int64)
    used = src >= 0
    rows[src[used]] = np.flatnonzero(used)
    return rows


class ApproximateFilter:
    """(base bitmap, base share, delta mask) for the units and for the sentences, as ``search`` takes them."""

    def __init__(self, units: tuple, passages: tuple) -> None:
        self.units = units
        self.passages = passages


class ApproximateSentences(SentenceHits):
    """An IVF search over the sentences, running on a worker thread until its organisations are asked for."""

    def __init__(self, search: ApproximateSearch, query: np.ndarray, k: int, allowed: ApproximateFilter,
                 layout: SearchLayout) -> None:
        self._search, self._query, self._layout = search, query, layout
        self._found: Future = _SEARCHES.submit(search.passages.search, query, k, *allowed.passages)

    def organisations(self) -> np.ndarray:
        base_ids, _, delta_rows, _ = self._found.result()
        rows = np.concatenate([self._search.passage_base_rows[base_ids], self._search.passage_delta_rows[delta_rows]])
        return self._layout.passage_owner[rows]

    def best(self, candidates: np.ndarray) -> np.ndarray:
        rows, lengths = ranges(self._layout.passage_starts, candidates)
        sims = self._search.passage_vectors(rows) @ self._query
        return np.maximum.reduceat(sims, np.concatenate([[0], np.cumsum(lengths)[:-1]])).astype(np.float64)


class ApproximateSearch(DenseSearch):
    """Units and sentences each in an ``ApproximateVectors``; ``*_src`` maps a row to its base id or delta row."""

    mode = "ivf"

    def __init__(self, units: ApproximateVectors, unit_src: np.ndarray, passages: ApproximateVectors,
                 passage_src: np.ndarray) -> None:
        self.units, self.unit_src = units, unit_src
        self.passages, self.passage_src = passages, passage_src
        # Base id / delta row -> current row (-1: no longer used), for mapping search hits back.
        self.unit_base_rows = reverse_map(unit_src, units.base.ntotal)
        self.passage_base_rows = reverse_map(passage_src, passages.base.ntotal)
        self.unit_delta_rows = reverse_map(-unit_src - 1, len(units.delta))
        self.passage_delta_rows = reverse_map(-passage_src - 1, len(passages.delta))

    @classmethod
    def build(cls, unit_vectors: np.ndarray, passage_vectors: np.ndarray, *, nprobe: int | None) -> ApproximateSearch:
        return cls(ApproximateVectors.build(unit_vectors, nprobe=nprobe), np.arange(len(unit_vectors), dtype=np.int64),
                   ApproximateVectors.build(passage_vectors, nprobe=nprobe),
                   np.arange(len(passage_vectors), dtype=np.int64))

    @property
    def n_units(self) -> int:
        return len(self.unit_src)

    @property
    def n_passages(self) -> int:
        return len(self.passage_src)

    def filter(self, unit_mask: np.ndarray, organisations: np.ndarray, layout: SearchLayout) -> ApproximateFilter:
        return ApproximateFilter(approximate_filter(self.units, self.unit_src, unit_mask),
                                 approximate_filter(self.passages, self.passage_src, organisations[layout.passage_owner]))

    def search_units(self, query: np.ndarray, k: int, allowed: object) -> np.ndarray:
        assert isinstance(allowed, ApproximateFilter)  # nosec B101: made by this search's filter()
        base_ids, _, delta_rows, _ = self.units.search(query, k, *allowed.units)
        return np.concatenate([self.unit_base_rows[base_ids], self.unit_delta_rows[delta_rows]])

    def search_sentences(self, query: np.ndarray, k: int, allowed: object, organisations: np.ndarray,
                         layout: SearchLayout) -> ApproximateSentences:
        assert isinstance(allowed, ApproximateFilter)  # nosec B101: made by this search's filter()
        return ApproximateSentences(self, query, k, allowed, layout)

    def parameters(self) -> dict[str, int]:
        return {"nlist": int(self.units.base.nlist), "nprobe": int(self.units.nprobe)}

    def unit_vectors(self, rows: np.ndarray) -> np.ndarray:
        return self.units.vectors(self.unit_src[rows])

    def passage_vectors(self, rows: np.ndarray) -> np.ndarray:
        return self.passages.vectors(self.passage_src[rows])

    def with_changes(self, changes: DenseChanges, factory: DenseFactory) -> DenseSearch:
        """Above half the threshold the base stays shared and changed rows go to the delta (rebuilt when it grows
        too big); below it, the kept rows are decoded and the factory builds anew. Half, so an index near the
        threshold does not flip between the two on every write."""
        keep, keep_docs = changes.keep_profiles, changes.keep_documents
        n_keep, n_up = len(keep), len(changes.new_profiles)
        if changes.n_units >= factory.ann_threshold // 2:
            units, src = self.units.derive(np.concatenate([self.unit_src[keep], self.unit_src[keep_docs]]),
                                           np.concatenate([changes.new_profiles, changes.new_documents]))
            n_docs = len(keep_docs)
            unit_src = np.concatenate([src[:n_keep], src[n_keep + n_docs : n_keep + n_docs + n_up],
                                       src[n_keep : n_keep + n_docs], src[n_keep + n_docs + n_up :]])
            passages, passage_src = self.passages.derive(self.passage_src[changes.keep_passages], changes.new_passages)
            if units.needs_rebuild or passages.needs_rebuild:
                return factory.build(units.vectors(unit_src), passages.vectors(passage_src))
            return ApproximateSearch(units, unit_src, passages, passage_src)
        old_units = self.unit_vectors(np.concatenate([keep, keep_docs]))  # decode only the rows kept
        unit_vectors = gather((old_units, np.arange(n_keep)), (changes.new_profiles, None),
                              (old_units, n_keep + np.arange(len(keep_docs))), (changes.new_documents, None))
        return factory.build(unit_vectors, gather((self.passage_vectors(changes.keep_passages), None),
                                                  (changes.new_passages, None)))

    def state(self) -> DenseState:
        return DenseState(self.mode, {"faiss": self.units.base, "faiss_passages": self.passages.base},
                          {"unit_src": self.unit_src, "unit_delta": self.units.delta,
                           "passage_src": self.passage_src, "passage_delta": self.passages.delta},
                          nprobe=self.units.nprobe)

    @classmethod
    def sizes(cls, state: DenseState) -> tuple[int, int]:
        return len(state.arrays["unit_src"]), len(state.arrays["passage_src"])

    @classmethod
    def from_state(cls, state: DenseState, nprobe: int | None = None) -> ApproximateSearch:
        """``nprobe`` overrides the saved one (a state without one scans ``default_nprobe`` lists)."""
        probe = nprobe or state.nprobe or default_nprobe(state.indexes["faiss"].nlist)
        return cls(ApproximateVectors(state.indexes["faiss"], state.arrays["unit_delta"], probe),
                   state.arrays["unit_src"],
                   ApproximateVectors(state.indexes["faiss_passages"], state.arrays["passage_delta"], probe),
                   state.arrays["passage_src"])


class ApproximateBuilder(DenseBuilder):
    """Empty IVF stores trained on a sample, filled chunk by chunk (base ids in the order chunks are added)."""

    def __init__(self, samples: Callable[[int], tuple[np.ndarray, np.ndarray]], n_units: int, n_passages: int,
                 nprobe: int | None) -> None:
        """``samples(wanted)`` returns (unit vectors, sentence vectors) of a sample of about ``wanted``
        organisations; both stores are trained on it."""
        unit_sample, passage_sample = samples(max(ApproximateVectors.sample_size(n_units),
                                                  ApproximateVectors.sample_size(n_passages)))
        self.units = ApproximateVectors.trained(unit_sample, n_units, nprobe=nprobe, reserve=False)
        self.passages = ApproximateVectors.trained(passage_sample, n_passages, nprobe=nprobe, reserve=False)
        spreads = self.units.spread(unit_sample), self.passages.spread(passage_sample)
        del unit_sample, passage_sample  # freed before the lists take their memory
        self.units.reserve(spreads[0], n_units)
        self.passages.reserve(spreads[1], n_passages)
        self.unit_src = np.empty(n_units, dtype=np.int64)
        self.passage_src = np.empty(n_passages, dtype=np.int64)

    def add(self, profiles: np.ndarray, documents: np.ndarray, passages: np.ndarray, *, profile_rows: slice,
            document_rows: slice, passage_rows: slice) -> None:
        self.unit_src[profile_rows] = self.units.add(profiles)
        self.unit_src[document_rows] = self.units.add(documents)
        self.passage_src[passage_rows] = self.passages.add(passages)

    def finish(self) -> ApproximateSearch:
        return ApproximateSearch(self.units, self.unit_src, self.passages, self.passage_src)
