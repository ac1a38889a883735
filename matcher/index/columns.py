"""The per-organisation columns an index keeps beside its compressed records: its own (ids, filters, layout,
digests) and every registered signal's (``matcher.ranking.SIGNALS``)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import numpy as np

from corpus.loaders import record_digest
from corpus.schema import Organisation
from matcher.ranking import SIGNALS
from matcher.retrieval.units import evidence_passages


def organisation_columns(organisations: Sequence[Organisation]) -> dict[str, np.ndarray]:
    """Per-organisation arrays kept beside the compressed records (filters, scoring, layout, hash).

    Countries, types and ids are object arrays of shared (interned) strings, a pointer a row, rather than
    fixed-width text."""
    n = len(organisations)
    columns = {
        "ids": np.array([o.id for o in organisations] or [], dtype=object),
        "countries": np.array([sys.intern(o.country) for o in organisations] or [], dtype=object),
        "org_types": np.array([sys.intern(o.org_type) for o in organisations] or [], dtype=object),
        "parent_ids": np.array([o.parent_id for o in organisations] or [], dtype=object),
        "digests": np.fromiter((record_digest(o) for o in organisations), dtype=np.uint64, count=n),
        "n_docs": np.fromiter((len(o.documents) for o in organisations), dtype=np.int64, count=n),
        "n_passages": np.fromiter((len(evidence_passages(o)) for o in organisations), dtype=np.int64, count=n),
    }
    for signal in SIGNALS:
        columns.update(signal.columns(organisations))
    return columns
