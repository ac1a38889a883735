"""What the searches index, per organisation: its search-unit texts (profile, then each document) and its evidence
sentences.

Pure functions of the records: builds, writes and explanations all go through them, so a build and a later write
split an organisation the same way.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from corpus.schema import TITLE_ONLY_NOTE, Organisation

DOCUMENT_CHARS = 2000  # about where the model stops reading; longer document text only costs time
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
        sentences = split_sentences(doc.text)[:20]
        # A project imported without an abstract is evidence by its title alone, and says so where it is shown.
        if sentences:
            passages.extend(f"{doc.title}: {s}" for s in sentences)
        else:
            passages.append(f"{doc.title} ({TITLE_ONLY_NOTE})")
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
