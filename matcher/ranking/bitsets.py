"""Minerals and value-chain stages as bit sets (one integer per organisation), so scoring them is a few vector
operations over the candidates instead of a Python loop."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import ClassVar

import numpy as np

from corpus import vocab
from corpus.schema import Organisation
from matcher.ranking.signal import Contribution, QuerySignals, ScoringData, Signal


@lru_cache(maxsize=1)
def mineral_bit() -> dict[str, int]:
    """Each vocabulary mineral's bit in a mineral bit set."""
    # A vocabulary invariant: mineral bit sets are 64-bit integers.
    assert len(vocab.minerals()) <= 64, "mineral bit sets are 64-bit"  # nosec B101
    return {m: 1 << i for i, m in enumerate(vocab.minerals())}


@lru_cache(maxsize=1)
def stage_bit() -> dict[str, int]:
    """Each value-chain stage's bit in a stage bit set."""
    return {s: 1 << i for i, s in enumerate(vocab.value_chain_stages())}


def bits(items: Iterable[str], bit: dict[str, int]) -> int:
    """A set of vocabulary ids as one integer (ids outside the vocabulary are ignored)."""
    out = 0
    for item in items:
        out |= bit.get(item, 0)
    return out


def bit_column(sets: Sequence[Iterable[str]], bit: dict[str, int], dtype: type[np.unsignedinteger]) -> np.ndarray:
    """One bit set per organisation (``sets``: each one's vocabulary ids), as an array of ``dtype``."""
    return np.fromiter((bits(items, bit) for items in sets), dtype=dtype, count=len(sets))


def share_held(held: np.ndarray, wanted: set[str], bit: dict[str, int]) -> np.ndarray:
    """Per bit set in ``held``, the share of the ``wanted`` ids it holds (``wanted`` non-empty)."""
    return np.bitwise_count(held & held.dtype.type(bits(wanted, bit))) / len(wanted)


class SharedItems(Signal):
    """A signal that scores the share of the brief's vocabulary ids (minerals, stages) an organisation holds,
    from a bit-set column of the organisation's own ids. Subclasses name the column, the fields and the bits."""

    column: ClassVar[str]  # the bit-set column's name among the index's columns
    organisation_field: ClassVar[str]  # the Organisation field listing its ids
    query_field: ClassVar[str]  # the QuerySignals field listing the brief's ids
    dtype: ClassVar[type[np.unsignedinteger]]

    @staticmethod
    def bit() -> dict[str, int]:
        raise NotImplementedError

    def columns(self, organisations: Sequence[Organisation]) -> dict[str, np.ndarray]:
        sets = [getattr(o, self.organisation_field) for o in organisations]
        return {self.column: bit_column(sets, self.bit(), self.dtype)}

    def score(self, data: ScoringData, query: QuerySignals) -> Contribution | None:
        wanted = getattr(query, self.query_field)
        if not wanted:
            return None
        share = share_held(data.columns[self.column][data.candidates.positions], wanted, self.bit())
        return Contribution({self.name: share}, share)
