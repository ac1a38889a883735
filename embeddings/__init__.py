"""Embeddings: text -> L2-normalised float32 vectors (sentence-transformers, an on-disk cache, a fake for tests)."""

from embeddings.base import Embedder, ModelLoadError, l2_normalise
from embeddings.cache import CachedEmbedder, EmbeddingCache
from embeddings.fake import FakeEmbedder
from embeddings.sentence import DEFAULT_MODEL, SentenceTransformerEmbedder

__all__ = [
    "DEFAULT_MODEL",
    "CachedEmbedder",
    "Embedder",
    "EmbeddingCache",
    "FakeEmbedder",
    "ModelLoadError",
    "SentenceTransformerEmbedder",
    "l2_normalise",
]


def load_embedder(model: str | None = None) -> Embedder:
    """The embedder a model setting names: ``None``/``all-MiniLM-L6-v2`` (bundled), a folder, a hub name, or
    ``fake`` / ``fake:DIM`` for the deterministic hashing embedder (tests and demos without a model)."""
    if model and (model == "fake" or model.startswith("fake:")):
        dim = model.partition(":")[2]
        if dim and not dim.isdigit():
            raise ModelLoadError(f"PM_MODEL={model!r}: use 'fake' or 'fake:DIM' with DIM a whole number, e.g. fake:256")
        return FakeEmbedder(int(dim) if dim else 256)
    return SentenceTransformerEmbedder(model)


__all__ += ["load_embedder"]
