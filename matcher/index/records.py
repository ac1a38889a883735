"""Organisation records held compactly by the index: each one compressed, materialised when a result shows it.

Why: validated pydantic ``Organisation`` objects for a whole large corpus would dominate the index's memory, while
a query needs only its ten results' records. Here each record is its JSON, compressed with zlib against a preset
dictionary taken from the first records (records share field names and much vocabulary, so they compress well).
Reading one back means decompressing it and pydantic's JSON validation; the most recently read are kept as objects,
so a small corpus is served from objects after its first queries.

A table never changes. ``derive`` makes the next one (rows kept, records added) without touching the stored
bytes: storage is a list of append-only *segments* shared between tables, and each table's rows point to slots
in them. A query in flight on the old table is unaffected.
"""

from __future__ import annotations

import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from threading import Lock
from typing import overload

import numpy as np

from corpus.schema import Organisation

_LEVEL = 6  # markedly smaller records than level 1 for a little more compression time
_DICTIONARY_BYTES = 32 * 1024  # zlib's window: a longer preset dictionary is not used
# Records per segment while building: the segment's records are alive as objects until it is compressed, so a
# small one bounds the build's memory.
_SEGMENT = 4096


@dataclass(frozen=True)
class _Segment:
    data: bytes  # the records' compressed bytes, back to back
    offsets: np.ndarray  # int64, len + 1: record i is data[offsets[i]:offsets[i + 1]]


class _Storage:
    """Append-only segments and the zlib dictionary; shared by every table derived from one another."""

    def __init__(self, dictionary: bytes, segments: tuple[_Segment, ...] = ()) -> None:
        self.dictionary = dictionary
        self.segments = segments
        self.starts = np.cumsum([0] + [len(s.offsets) - 1 for s in segments]).astype(np.int64)
        self._compressor = zlib.compressobj(_LEVEL, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, dictionary)

    @property
    def size(self) -> int:
        return int(self.starts[-1])

    def compress(self, records: Iterable[Organisation]) -> _Segment:
        parts, offsets, at = [], [0], 0
        for org in records:
            c = self._compressor.copy()  # the dictionary is loaded once, not per record
            blob = c.compress(org.model_dump_json().encode()) + c.flush()
            parts.append(blob)
            at += len(blob)
            offsets.append(at)
        return _Segment(b"".join(parts), np.asarray(offsets, dtype=np.int64))

    def appended(self, segment: _Segment) -> _Storage:
        """New storage with one more segment (this one is unchanged: older tables keep reading it)."""
        return _Storage(self.dictionary, self.segments + (segment,))

    def read(self, slot: int) -> Organisation:
        at = int(np.searchsorted(self.starts, slot, side="right")) - 1
        segment, i = self.segments[at], slot - int(self.starts[at])
        blob = segment.data[segment.offsets[i] : segment.offsets[i + 1]]
        raw = zlib.decompressobj(-15, self.dictionary).decompress(blob)
        return Organisation.model_validate_json(raw)


def _dictionary(sample: Sequence[Organisation]) -> bytes:
    """zlib's preset dictionary: the JSON of the first records (zlib reads its end, so the sample's last bytes)."""
    return b"".join(org.model_dump_json().encode() for org in sample)[-_DICTIONARY_BYTES:]


class OrganisationTable(Sequence[Organisation]):
    """A read-only sequence of organisations, compressed in memory. ``table[i]`` returns a validated record.

    Build it with ``OrganisationTable.build(records)`` (any iterable, consumed once, in segments); derive updated
    tables with ``derive``. ``cache_size`` records are kept as objects (least recently used out).
    """

    def __init__(self, storage: _Storage, slots: np.ndarray, cache_size: int = 4096) -> None:
        self._storage = storage
        self._slots = slots
        self.cache_size = cache_size
        self._cache: OrderedDict[int, Organisation] = OrderedDict()
        self._lock = Lock()

    @classmethod
    def build(cls, records: Iterable[Organisation], *, cache_size: int = 4096,
              on_segment: Callable[[list[Organisation]], object] | None = None) -> OrganisationTable:
        """A table of ``records`` in order. ``on_segment(list_of_records)`` is called with each segment's records
        before they are compressed, so a caller can derive what else it needs in the same single pass."""
        iterator = iter(records)
        first = _take(iterator, _SEGMENT)
        storage = _Storage(_dictionary(first[:200]))
        segment = first
        while segment:
            if on_segment is not None:
                on_segment(segment)
            storage = storage.appended(storage.compress(segment))
            segment = _take(iterator, _SEGMENT)
        return cls(storage, np.arange(storage.size, dtype=np.int64), cache_size)

    def derive(self, keep: np.ndarray, added: Sequence[Organisation]) -> OrganisationTable:
        """The rows ``keep`` of this table followed by ``added``; stored records are shared, not copied."""
        storage = self._storage
        slots = self._slots[np.asarray(keep, dtype=np.int64)]
        if added:
            storage = storage.appended(storage.compress(added))
            slots = np.concatenate([slots, np.arange(storage.size - len(added), storage.size, dtype=np.int64)])
        table = OrganisationTable(storage, slots, self.cache_size)
        # Records the old table had as objects and the new one keeps: carried over, so a write does not make the
        # next queries re-read their results.
        kept = set(slots.tolist()) if len(self._cache) else set()
        with self._lock:
            for slot, org in self._cache.items():
                if slot in kept:
                    table._cache[slot] = org
        return table

    def __len__(self) -> int:
        return len(self._slots)

    @overload
    def __getitem__(self, row: int) -> Organisation: ...

    @overload
    def __getitem__(self, row: slice) -> list[Organisation]: ...

    def __getitem__(self, row: int | slice) -> Organisation | list[Organisation]:
        if isinstance(row, slice):
            return [self[i] for i in range(*row.indices(len(self)))]
        slot = int(self._slots[row])
        with self._lock:
            org = self._cache.get(slot)
            if org is not None:
                self._cache.move_to_end(slot)
                return org
        org = self._storage.read(slot)
        with self._lock:
            self._cache[slot] = org
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return org

    def __iter__(self) -> Iterator[Organisation]:
        """Every record in order, read without filling the cache (a full pass would only evict useful ones)."""
        return self.rows(range(len(self)))

    def rows(self, rows: Iterable[int]) -> Iterator[Organisation]:
        """The records of ``rows``, in that order, read without filling the cache (for passes over many)."""
        for row in rows:
            slot = int(self._slots[row])
            org = self._cache.get(slot)
            yield org if org is not None else self._storage.read(slot)

    @property
    def nbytes(self) -> int:
        """Memory held by compressed records reachable from this table (shared segments counted once)."""
        return sum(len(s.data) + s.offsets.nbytes for s in self._storage.segments) + self._slots.nbytes


def _take(iterator: Iterator, n: int) -> list:
    out = []
    for item in iterator:
        out.append(item)
        if len(out) == n:
            break
    return out
