"""Dense search behind one interface: what ranking asks of the vectors, whether the search is exact or approximate.

Two implementations: ``ExactSearch`` (a flat FAISS index and the sentence vectors as a matrix) and
``ApproximateSearch`` (IVF with 8-bit vectors plus an exact delta). ``DenseFactory`` is the one place that
chooses between them; every caller works through ``DenseSearch``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from matcher.retrieval.layout import SearchLayout

if TYPE_CHECKING:
    from matcher.retrieval.factory import DenseFactory


@dataclass(frozen=True)
class DenseState:
    """A dense search as plain data, for the index file: its kind, its FAISS indexes and its arrays."""

    mode: str  # "exact" or "ivf"
    indexes: dict[str, Any] = field(default_factory=dict)  # name -> FAISS index (the file serialises them)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    nprobe: int | None = None


@dataclass(frozen=True)
class DenseChanges:
    """An update in the search's row layout: units become kept profiles, new profiles, kept documents, new
    documents; sentences become kept sentences, new sentences (``keep_*`` are rows of the current search)."""

    keep_profiles: np.ndarray
    new_profiles: np.ndarray
    keep_documents: np.ndarray
    new_documents: np.ndarray
    keep_passages: np.ndarray
    new_passages: np.ndarray

    @property
    def n_units(self) -> int:
        return len(self.keep_profiles) + len(self.new_profiles) + len(self.keep_documents) + len(self.new_documents)


class SentenceHits(ABC):
    """One query's evidence-sentence search: the organisations it found, and any organisation's best sentence."""

    @abstractmethod
    def organisations(self) -> np.ndarray:
        """Organisations whose sentences were among the best (allowed ones only)."""

    @abstractmethod
    def best(self, candidates: np.ndarray) -> np.ndarray:
        """Each candidate's best evidence-sentence similarity, float64."""


class DenseSearch(ABC):
    """Unit and sentence vectors by row, searched under a filter. Never modified once built (queries share it)."""

    mode: ClassVar[str]

    @property
    @abstractmethod
    def n_units(self) -> int: ...

    @property
    @abstractmethod
    def n_passages(self) -> int: ...

    @abstractmethod
    def filter(self, unit_mask: np.ndarray, organisations: np.ndarray, layout: SearchLayout) -> object:
        """What the searches below take to stay inside the allowed units (``unit_mask``) and the allowed
        organisations' sentences (opaque). The sentence mask is derived here, by the implementations that use it."""

    @abstractmethod
    def search_units(self, query: np.ndarray, k: int, allowed: object) -> np.ndarray:
        """Rows of (up to) the ``k`` allowed units nearest to ``query``."""

    @abstractmethod
    def search_sentences(self, query: np.ndarray, k: int, allowed: object, organisations: np.ndarray,
                         layout: SearchLayout) -> SentenceHits:
        """Start the sentence search (``organisations``: the allowed organisations' mask); call it before
        ``search_units``, since an implementation may run it concurrently."""

    def parameters(self) -> dict[str, int]:
        """Its tuning parameters, for reports (none by default)."""
        return {}

    @abstractmethod
    def unit_vectors(self, rows: np.ndarray) -> np.ndarray: ...

    @abstractmethod
    def passage_vectors(self, rows: np.ndarray) -> np.ndarray: ...

    @abstractmethod
    def with_changes(self, changes: DenseChanges, factory: DenseFactory) -> DenseSearch:
        """A search over the layout ``changes`` describes; this one is left unchanged."""

    @abstractmethod
    def state(self) -> DenseState: ...

    @classmethod
    @abstractmethod
    def sizes(cls, state: DenseState) -> tuple[int, int]:
        """(units, sentences) a saved state holds, to check it against the index's layout before using it."""

    @classmethod
    @abstractmethod
    def from_state(cls, state: DenseState, nprobe: int | None = None) -> DenseSearch: ...


class DenseBuilder(ABC):
    """Fills a dense search chunk by chunk during a build, so a build holds one chunk's vectors at a time."""

    @abstractmethod
    def add(self, profiles: np.ndarray, documents: np.ndarray, passages: np.ndarray, *, profile_rows: slice,
            document_rows: slice, passage_rows: slice) -> None:
        """Vectors of one chunk of organisations and the rows they take in the final layout."""

    @abstractmethod
    def finish(self) -> DenseSearch: ...
