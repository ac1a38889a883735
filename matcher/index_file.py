"""The saved index: one ``.npz`` file holding the search structures, per-unit owners and the challenge model.

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
from pathlib import Path

import faiss
import numpy as np

from corpus.loaders import corpus_hash
from corpus.schema import Challenge, Organisation, Project
from matcher.ann import ApproximateVectors
from matcher.challenges import ChallengeModel
from matcher.errors import IndexFileError
from matcher.index import FORMAT_VERSION, PartnerIndex, _challenges_hash, labels_hash
from matcher.lexical import LexicalIndex


def save(index: PartnerIndex, path: Path | str) -> Path:
    """Write the index to one file atomically (temp file + rename): readers never see half a file."""
    index._check_fitted()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "format": FORMAT_VERSION,
        "model_id": index.model_id_,
        "corpus_hash": index.corpus_hash_,
        "ids": index.ids_,
        "challenge_ids": list(index.challenges_),
        "challenges_hash": _challenges_hash(index.challenges_.values()),
        "labels_hash": index.labels_hash_,
        "mode": index.mode_,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if index.mode_ == "exact":
        search = {"faiss": faiss.serialize_index(index.index_), "passage_vectors": index.passage_vectors_}
    else:
        meta["nprobe"] = index.units_ann_.nprobe
        search = {"faiss": faiss.serialize_index(index.units_ann_.base), "unit_src": index.unit_src_,
                  "unit_delta": index.units_ann_.delta,
                  "faiss_passages": faiss.serialize_index(index.passages_ann_.base),
                  "passage_src": index.passage_src_, "passage_delta": index.passages_ann_.delta}
    buffer = io.BytesIO()
    np.savez(
        buffer,
        meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
        unit_owner=index.unit_owner_,
        passage_owner=index.passage_owner_,
        challenge_vectors=index.challenge_vectors_,
        challenge_alignment=index.challenge_alignment_,
        **search,
        **index.challenge_model_.state(),
    )
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


def read_meta(path: Path | str) -> dict:
    """The saved index's model id, corpus hash and ids, without loading vectors; raises IndexFileError."""
    try:
        with np.load(Path(path), allow_pickle=False) as data:
            return json.loads(bytes(data["meta"]).decode())
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


def load(index: PartnerIndex, path: Path | str, organisations: Iterable[Organisation],
         challenges: Sequence[Challenge], labelled: Sequence[Project] = ()) -> PartnerIndex:
    """Fill the unfitted ``index`` (its embedder and parameters set) from the file at ``path``, for these
    organisations; refuse the file (IndexFileError) if its format, model, corpus, labels or challenges differ."""
    organisations = list(organisations)
    meta = read_meta(path)
    if meta.get("format") != FORMAT_VERSION:
        raise IndexFileError(f"{path} has index format {meta.get('format')}, expected {FORMAT_VERSION}; rebuild it")
    if meta["model_id"] != index.embedder.model_id:
        raise IndexFileError(
            f"{path} was built with model {meta['model_id']!r}, not {index.embedder.model_id!r}; rebuild it",
            {"reason": "model_changed"},
        )
    if meta["corpus_hash"] != corpus_hash(organisations):
        raise IndexFileError(f"{path} was built for another corpus; rebuild it", {"reason": "corpus_changed"})
    by_id = {o.id: o for o in organisations}
    approximate = meta.get("mode") == "ivf"
    try:
        with np.load(Path(path), allow_pickle=False) as data:
            units_index = faiss.deserialize_index(data["faiss"])
            passages_index = faiss.deserialize_index(data["faiss_passages"]) if approximate else None
            arrays = {k: data[k] for k in data.files if k not in ("meta", "faiss", "faiss_passages")}
    except Exception as e:
        raise _unreadable(path, e) from e
    if approximate:
        consistent = (len(arrays["unit_src"]) == len(arrays["unit_owner"])
                      and len(arrays["passage_src"]) == len(arrays["passage_owner"]))
    else:
        consistent = (units_index.ntotal == len(arrays["unit_owner"])
                      and len(arrays["passage_vectors"]) == len(arrays["passage_owner"]))
    consistent = consistent and len(arrays["challenge_alignment"]) == len(meta["ids"])
    if not consistent:
        raise IndexFileError(f"the index file {path} is inconsistent; rebuild it with `matcher build`")
    if meta.get("labels_hash") != labels_hash([p for p in labelled if p.challenge_areas]):
        raise IndexFileError(f"{path} was trained on other challenge labels; rebuild it", {"reason": "labels_changed"})
    if meta.get("challenges_hash") != _challenges_hash(challenges):
        raise IndexFileError(f"{path} was built for other challenge areas; rebuild it")
    index._read_records(by_id[i] for i in meta["ids"])
    if not (np.array_equal(index.unit_owner_, arrays["unit_owner"])
            and np.array_equal(index.passage_owner_, arrays["passage_owner"])):
        raise IndexFileError(f"the index file {path} does not fit its organisations; rebuild it with `matcher build`")
    if approximate:
        nprobe = index.nprobe or meta["nprobe"]
        index._set_approximate(ApproximateVectors(units_index, arrays["unit_delta"], nprobe), arrays["unit_src"],
                               ApproximateVectors(passages_index, arrays["passage_delta"], nprobe),
                               arrays["passage_src"])
    else:
        index._set_exact(units_index, arrays["passage_vectors"])
    index.challenges_ = {c.id: c for c in challenges}
    index.challenge_vectors_ = np.ascontiguousarray(arrays["challenge_vectors"], dtype=np.float32)
    index.challenge_model_ = ChallengeModel.from_state(arrays["challenge_vectors"], [c.id for c in challenges], arrays)
    index.challenge_alignment_ = arrays["challenge_alignment"]
    index.lexical_ = LexicalIndex().fit(index._unit_text_stream())
    index.labels_hash_ = meta["labels_hash"]
    return index
