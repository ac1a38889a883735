"""What a partner index is built from, per organisation: its search-unit texts (profile, documents), its evidence
sentences, and the columns kept beside its compressed record (filters, bit sets of minerals and stages, digests).

Pure functions of the records: the index builds, writes and explanations all go through them, so a build and a
later write split an organisation the same way.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Sequence
from functools import lru_cache

import numpy as np

from corpus import vocab
from corpus.loaders import record_digest
from corpus.schema import Organisation

DOCUMENT_CHARS = 2000  # the model reads ~256 tokens; longer document text only costs time
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")


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


def evidence_passages(org: Organisation) -> list[str]:
    """Evidence sentences: the description's, then up to 20 of each document's (prefixed by its title)."""
    passages = split_sentences(org.description)
    for doc in org.documents:
        passages.extend(f"{doc.title}: {s}" for s in split_sentences(doc.text)[:20])
    return passages or [org.name]


def document_texts(org: Organisation) -> list[str]:
    """Each attached document as one search unit, cut where the model stops reading."""
    return [f"{doc.title}. {doc.text}"[:DOCUMENT_CHARS] for doc in org.documents]


def unit_texts(organisations: Sequence[Organisation]) -> tuple[list[str], list[int]]:
    """Search units: one profile per organisation, then each document; returns texts and document owners."""
    texts = [org.profile_text() for org in organisations]
    doc_owner = []
    for row, org in enumerate(organisations):
        for text in document_texts(org):
            texts.append(text)
            doc_owner.append(row)
    return texts, doc_owner


def organisation_columns(organisations: Sequence[Organisation]) -> dict[str, np.ndarray]:
    """Per-organisation arrays the index keeps beside the compressed records (filters, scoring, layout, hash).
    Countries, types and ids are object arrays of shared strings: 8 bytes a row, where fixed-width text is 56."""
    minerals, stages = mineral_bit(), stage_bit()
    n = len(organisations)
    return {
        "ids": np.array([o.id for o in organisations] or [], dtype=object),
        "countries": np.array([sys.intern(o.country) for o in organisations] or [], dtype=object),
        "org_types": np.array([sys.intern(o.org_type) for o in organisations] or [], dtype=object),
        "mineral_bits": np.fromiter((bits(o.minerals, minerals) for o in organisations), dtype=np.uint64, count=n),
        "stage_bits": np.fromiter((bits(o.value_chain_stages, stages) for o in organisations), dtype=np.uint16, count=n),
        "digests": np.fromiter((record_digest(o) for o in organisations), dtype=np.uint64, count=n),
        "n_docs": np.fromiter((len(o.documents) for o in organisations), dtype=np.int64, count=n),
        "n_passages": np.fromiter((len(evidence_passages(o)) for o in organisations), dtype=np.int64, count=n),
    }


@lru_cache(maxsize=1)
def mineral_bit() -> dict[str, int]:
    """Each vocabulary mineral's bit in a mineral bit set."""
    # A vocabulary invariant (34 minerals today): mineral bit sets are 64-bit integers.
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
