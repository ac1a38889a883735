"""Where each organisation's search units and evidence sentences sit among the dense search's rows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SearchLayout:
    """Row layout shared by the dense and lexical searches.

    Search units are one profile per organisation (rows ``0..n-1``, so a profile's row is its organisation's
    position), then every document grouped by owner; evidence sentences are grouped by owner. Grouping by owner
    lets a per-organisation maximum be one ``reduceat`` instead of a scatter.
    """

    n: int  # organisations
    unit_owner: np.ndarray  # int64 per unit: its organisation
    doc_starts: np.ndarray  # int64, n + 1: organisation i's documents are units doc_starts[i]:doc_starts[i + 1]
    passage_owner: np.ndarray  # int64 per evidence sentence: its organisation
    passage_starts: np.ndarray  # int64, n + 1: organisation i's sentences are passage_starts[i]:passage_starts[i + 1]

    @classmethod
    def of(cls, n_docs: np.ndarray, n_passages: np.ndarray) -> SearchLayout:
        """The layout of organisations with these document and sentence counts."""
        n = len(n_docs)
        return cls(
            n=n,
            unit_owner=np.concatenate([np.arange(n, dtype=np.int64), np.repeat(np.arange(n), n_docs)]),
            doc_starts=n + np.concatenate([[0], np.cumsum(n_docs)]).astype(np.int64),
            passage_owner=np.repeat(np.arange(n, dtype=np.int64), n_passages),
            passage_starts=np.concatenate([[0], np.cumsum(n_passages)]).astype(np.int64),
        )

    @property
    def n_units(self) -> int:
        return len(self.unit_owner)

    @property
    def n_passages(self) -> int:
        return len(self.passage_owner)
