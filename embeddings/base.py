"""What every embedder provides, and the helpers they share."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from corpus.errors import PartnerMatcherError


class ModelLoadError(PartnerMatcherError, RuntimeError):
    """The configured embedding model could not be loaded. The message says which model and how to fix it."""

    code = "model_unavailable"


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors of a fixed dimension.

    ``model_id`` names the model and its settings: vectors from different ids are not comparable, and every
    cache and index records it. ``encode`` gives documents' vectors. An embedder may also have
    ``encode_queries(texts, *, batch_size)``, a faster encoder for the request path whose vectors are meant to be
    compared with its documents' (int8 ONNX has one); callers go through ``encode_queries`` below.
    """

    model_id: str

    @property
    def dim(self) -> int: ...

    def encode(self, texts: list[str], *, batch_size: int = 32, show_progress: bool = False) -> np.ndarray: ...


def encode_queries(embedder: Embedder, texts: list[str], *, batch_size: int = 32) -> np.ndarray:
    """Queries' vectors: the embedder's own query encoder when it has one, else ``encode``."""
    encode = getattr(embedder, "encode_queries", None)
    if encode is None:
        return embedder.encode(texts, batch_size=batch_size)
    return encode(texts, batch_size=batch_size)


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), as contiguous float32 for FAISS."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim == 1:
        vectors = vectors[None, :]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    np.divide(vectors, norms, out=vectors, where=norms > 0)
    return np.ascontiguousarray(vectors, dtype=np.float32)
