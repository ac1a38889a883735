"""The saved index: one ``.npz`` file holding an index's state (``PartnerIndex.state()``).

Records, columns and BM25 are not stored: they are rebuilt from the organisations on load (the corpus is checked
against the file's fingerprint first), which keeps the file small and never out of step with the database.
``PartnerIndex.save`` / ``read_meta`` / ``load`` are the public doors; this module is their implementation.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from corpus.loaders import corpus_hash
from corpus.schema import Challenge, Organisation, Project
from embeddings.base import Embedder
from matcher.errors import IndexFileError
from matcher.index.partner_index import (
    FORMAT_VERSION,
    IndexState,
    PartnerIndex,
    StateMismatch,
    challenges_hash,
    labels_hash,
)
from matcher.retrieval.dense import DenseState

# Arrays of the index's own; every other array in the file belongs to the dense search, and the names starting
# with "faiss" are its serialised FAISS indexes.
_INDEX_ARRAYS = ("unit_owner", "passage_owner", "challenge_vectors", "challenge_alignment")
_FAISS_PREFIX = "faiss"


@dataclass(frozen=True)
class IndexMeta:
    """What a saved index says about itself, read without loading its vectors."""

    format: int | None = None
    model_id: str | None = None
    corpus_hash: str | None = None
    ids: list[str] = field(default_factory=list)
    challenge_ids: list[int] = field(default_factory=list)
    challenges_hash: str | None = None
    labels_hash: str | None = None
    mode: str | None = None  # "exact" or "ivf"
    created: str | None = None
    nprobe: int | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> IndexMeta:
        """From the file's JSON (fields it lacks are None; fields this version does not know are ignored)."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def save(state: IndexState, path: Path | str) -> Path:
    """Write an index's state to one file atomically (temp file + rename): readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "model_id": state.model_id,
        "corpus_hash": state.corpus_hash,
        "ids": state.ids,
        "challenge_ids": state.challenge_ids,
        "challenges_hash": state.challenges_hash,
        "labels_hash": state.labels_hash,
        "mode": state.dense.mode,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if state.dense.nprobe is not None:
        meta["nprobe"] = state.dense.nprobe
    search = {name: faiss.serialize_index(index) for name, index in state.dense.indexes.items()}
    arrays: dict[str, np.ndarray] = {
        "meta": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
        "unit_owner": state.unit_owner,
        "passage_owner": state.passage_owner,
        "challenge_vectors": state.challenge_vectors,
        "challenge_alignment": state.challenge_alignment,
        **search,
        **state.dense.arrays,
        **state.challenge_model,
    }
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    fd, tmp = tempfile.mkstemp(prefix=".partner-index-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(buffer.getvalue())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_meta(path: Path | str) -> IndexMeta:
    """The saved index's model id, corpus hash and ids, without loading vectors; raises IndexFileError."""
    try:
        with np.load(Path(path), allow_pickle=False) as data:
            return IndexMeta.from_json(json.loads(bytes(data["meta"]).decode()))
    except FileNotFoundError:
        raise
    except Exception as e:
        raise _unreadable(path, e) from e


def _unreadable(path: Path | str, error: Exception) -> IndexFileError:
    """The error for an index file that cannot be read: an operating-system refusal (permissions, a directory in
    its place) says so, since rebuilding would not help while it lasts; anything else means a damaged file."""
    if isinstance(error, OSError):
        return IndexFileError(f"the index file {path} cannot be read ({error.strerror or type(error).__name__}); "
                              f"give this user read access to it and write access to {Path(path).parent}, or set "
                              "PM_DATA_DIR to a folder this user owns")
    return IndexFileError(f"the index file {path} is unreadable ({type(error).__name__}: damaged, or not an index "
                          "file); rebuild it with `matcher build`")


def _read_state(path: Path | str, meta: IndexMeta) -> IndexState:
    """The state the file holds (FAISS indexes deserialised); raises IndexFileError when it cannot be read."""
    try:
        with np.load(Path(path), allow_pickle=False) as data:
            indexes = {k: faiss.deserialize_index(data[k]) for k in data.files if k.startswith(_FAISS_PREFIX)}
            arrays = {k: data[k] for k in data.files if k != "meta" and not k.startswith(_FAISS_PREFIX)}
    except Exception as e:
        raise _unreadable(path, e) from e
    model = {k: arrays.pop(k) for k in list(arrays) if k.startswith("challenge_") and k not in _INDEX_ARRAYS}
    own = {k: arrays.pop(k) for k in _INDEX_ARRAYS if k in arrays}
    if len(own) < len(_INDEX_ARRAYS) or meta.mode is None:
        raise IndexFileError(f"the index file {path} is inconsistent; rebuild it with `matcher build`")
    return IndexState(
        model_id=meta.model_id or "",
        corpus_hash=meta.corpus_hash or "",
        ids=list(meta.ids),
        challenge_ids=list(meta.challenge_ids),
        challenges_hash=meta.challenges_hash or "",
        labels_hash=meta.labels_hash or "",
        unit_owner=own["unit_owner"],
        passage_owner=own["passage_owner"],
        challenge_vectors=own["challenge_vectors"],
        challenge_alignment=own["challenge_alignment"],
        challenge_model=model,
        dense=DenseState(meta.mode, indexes, arrays, meta.nprobe),
    )


def load(cls: type[PartnerIndex], path: Path | str, embedder: Embedder, organisations: Iterable[Organisation],
         challenges: Sequence[Challenge], labelled: Sequence[Project] = (), **params: Any) -> PartnerIndex:
    """An index of class ``cls`` (with ``embedder`` and ``params``) from the file at ``path``, for these
    organisations; refuse the file (IndexFileError) if its format, model, corpus, labels or challenges differ."""
    organisations = list(organisations)
    meta = read_meta(path)
    if meta.format != FORMAT_VERSION:
        raise IndexFileError(f"{path} has index format {meta.format}, expected {FORMAT_VERSION}; rebuild it")
    if meta.model_id != embedder.model_id:
        raise IndexFileError(
            f"{path} was built with model {meta.model_id!r}, not {embedder.model_id!r}; rebuild it",
            {"reason": "model_changed"},
        )
    if meta.corpus_hash != corpus_hash(organisations):
        raise IndexFileError(f"{path} was built for another corpus; rebuild it", {"reason": "corpus_changed"})
    by_id = {o.id: o for o in organisations}
    state = _read_state(path, meta)
    try:
        consistent = state.consistent()
    except (KeyError, AttributeError):  # a search's arrays missing from the file
        consistent = False
    if not consistent:
        raise IndexFileError(f"the index file {path} is inconsistent; rebuild it with `matcher build`")
    if meta.labels_hash != labels_hash([p for p in labelled if p.challenge_areas]):
        raise IndexFileError(f"{path} was trained on other challenge labels; rebuild it", {"reason": "labels_changed"})
    if meta.challenges_hash != challenges_hash(challenges):
        raise IndexFileError(f"{path} was built for other challenge areas; rebuild it")
    try:
        return cls.from_state(state, embedder, (by_id[i] for i in meta.ids), challenges, **params)
    except StateMismatch as e:
        raise IndexFileError(f"the index file {path} does not fit its organisations; rebuild it with "
                             "`matcher build`") from e
