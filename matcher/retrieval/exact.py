"""Exact dense search: a flat FAISS inner-product index over the units, and the sentence vectors as a matrix."""

from __future__ import annotations

from typing import TYPE_CHECKING

import faiss
import numpy as np

from matcher.retrieval.arrays import gather
from matcher.retrieval.dense import DenseBuilder, DenseChanges, DenseSearch, DenseState, SentenceHits
from matcher.retrieval.layout import SearchLayout

if TYPE_CHECKING:
    from matcher.retrieval.factory import DenseFactory


def flat_vectors(index: faiss.IndexFlat) -> np.ndarray:
    """The vectors a flat FAISS index stores, as a read-only numpy view (no copy)."""
    view = faiss.rev_swig_ptr(index.get_xb(), index.ntotal * index.d).reshape(index.ntotal, index.d)
    view.flags.writeable = False
    return view


class ExactFilter:
    """An ID selector over allowed unit rows, with the search parameters that carry it."""

    def __init__(self, unit_mask: np.ndarray) -> None:
        self.selector = faiss.IDSelectorBatch(np.flatnonzero(unit_mask).astype(np.int64))
        # Kept beside the selector: FAISS holds a raw pointer to it.
        self.params = faiss.SearchParameters(sel=self.selector)  # type: ignore[call-arg]


class ExactSentences(SentenceHits):
    """Every organisation's best sentence from one matrix product over all sentences, masked to the allowed."""

    def __init__(self, passage_vectors: np.ndarray, query: np.ndarray, k: int, organisations: np.ndarray,
                 layout: SearchLayout) -> None:
        # Sentences are grouped by owner and every organisation has one (its name if nothing else).
        best = np.maximum.reduceat(passage_vectors @ query, layout.passage_starts[:-1]).astype(np.float64)
        best[~organisations] = -1.0
        found = np.argpartition(-best, min(k, layout.n) - 1)[:k]
        self._found = found[organisations[found]]
        self._best = best

    def organisations(self) -> np.ndarray:
        return self._found

    def best(self, candidates: np.ndarray) -> np.ndarray:
        return self._best[candidates]


class ExactSearch(DenseSearch):
    """Exact inner product (cosine on unit vectors) over every unit and sentence."""

    mode = "exact"

    def __init__(self, index: faiss.IndexFlat, passage_vectors: np.ndarray) -> None:
        self.index = index
        # Unit vectors are read through a view of the flat index's own storage, so they are held once in memory
        # (the index is never modified after it is built, so the view stays valid).
        self.units = flat_vectors(index)
        # An own copy: a view of a larger matrix would keep that matrix alive.
        self.passages = np.array(passage_vectors, dtype=np.float32, order="C", copy=True)

    @classmethod
    def build(cls, unit_vectors: np.ndarray, passage_vectors: np.ndarray) -> ExactSearch:
        index = faiss.IndexFlatIP(unit_vectors.shape[1])
        index.add(np.ascontiguousarray(unit_vectors))
        return cls(index, passage_vectors)

    @property
    def n_units(self) -> int:
        return int(self.index.ntotal)

    @property
    def n_passages(self) -> int:
        return len(self.passages)

    def filter(self, unit_mask: np.ndarray, organisations: np.ndarray, layout: SearchLayout) -> ExactFilter:
        return ExactFilter(unit_mask)  # sentences are masked per organisation at query time

    def search_units(self, query: np.ndarray, k: int, allowed: object) -> np.ndarray:
        assert isinstance(allowed, ExactFilter)  # nosec B101: made by this search's filter()
        _, hits = self.index.search(query[None, :], k, params=allowed.params)
        return hits[0][hits[0] >= 0]

    def search_sentences(self, query: np.ndarray, k: int, allowed: object, organisations: np.ndarray,
                         layout: SearchLayout) -> ExactSentences:
        return ExactSentences(self.passages, query, k, organisations, layout)

    def unit_vectors(self, rows: np.ndarray) -> np.ndarray:
        return self.units[rows]

    def passage_vectors(self, rows: np.ndarray) -> np.ndarray:
        return self.passages[rows]

    def with_changes(self, changes: DenseChanges, factory: DenseFactory) -> DenseSearch:
        """Every kept and new vector gathered into a new search (exact or not, as the factory decides)."""
        units = gather((self.units, changes.keep_profiles), (changes.new_profiles, None),
                       (self.units, changes.keep_documents), (changes.new_documents, None))
        return factory.build(units, gather((self.passages, changes.keep_passages), (changes.new_passages, None)))

    def state(self) -> DenseState:
        return DenseState(self.mode, {"faiss": self.index}, {"passage_vectors": self.passages})

    @classmethod
    def sizes(cls, state: DenseState) -> tuple[int, int]:
        return int(state.indexes["faiss"].ntotal), len(state.arrays["passage_vectors"])

    @classmethod
    def from_state(cls, state: DenseState, nprobe: int | None = None) -> ExactSearch:
        return cls(state.indexes["faiss"], state.arrays["passage_vectors"])


class ExactBuilder(DenseBuilder):
    """Collects each chunk's vectors; ``finish`` stacks them once into the flat index."""

    def __init__(self) -> None:
        self.profiles: list[np.ndarray] = []
        self.documents: list[np.ndarray] = []
        self.passages: list[np.ndarray] = []

    def add(self, profiles: np.ndarray, documents: np.ndarray, passages: np.ndarray, *, profile_rows: slice,
            document_rows: slice, passage_rows: slice) -> None:
        # Chunks arrive in organisation order, so appending keeps each kind's rows in layout order.
        self.profiles.append(profiles)
        self.documents.append(documents)
        self.passages.append(passages)

    def finish(self) -> ExactSearch:
        unit_vectors = gather(*((part, None) for part in self.profiles + self.documents))
        passages = self.passages
        self.profiles, self.documents, self.passages = [], [], []  # the search holds its own copies from here
        index = faiss.IndexFlatIP(unit_vectors.shape[1])  # exact inner product = cosine on unit vectors
        index.add(unit_vectors)
        del unit_vectors
        return ExactSearch(index, gather(*((part, None) for part in passages)))
