"""Embeddings: text -> L2-normalised float32 vectors (sentence-transformers on torch or ONNX Runtime, an on-disk
cache, a fake for tests)."""

from pathlib import Path

from embeddings.base import Embedder, ModelLoadError, encode_queries, l2_normalise
from embeddings.cache import CachedEmbedder, EmbeddingCache
from embeddings.fake import FakeEmbedder
from embeddings.onnx import OnnxEmbedder
from embeddings.sentence import DEFAULT_MODEL, SentenceTransformerEmbedder

# The default is the fastest backend that meets the quality bar (docs/ranking.md, "Quality by embedding backend"): int8 ONNX Runtime, whose
# retrieval quality stays within the bar of fp32's. PM_BACKEND=torch or onnx (fp32) select the others.
DEFAULT_BACKEND = "onnx-int8"
BACKENDS = ("torch", "onnx", "onnx-int8")

__all__ = [
    "BACKENDS",
    "DEFAULT_BACKEND",
    "DEFAULT_MODEL",
    "CachedEmbedder",
    "Embedder",
    "EmbeddingCache",
    "FakeEmbedder",
    "ModelLoadError",
    "OnnxEmbedder",
    "SentenceTransformerEmbedder",
    "encode_queries",
    "l2_normalise",
    "load_embedder",
]


def load_embedder(model: str | None = None, *, backend: str | None = None, export_dir: Path | str | None = None,
                  threads: int | None = None) -> Embedder:
    """The embedder a model setting names: ``None``/``all-MiniLM-L6-v2`` (bundled), a folder, a hub name, or
    ``fake`` / ``fake:DIM`` for the deterministic hashing embedder (tests and demos without a model).

    ``backend`` (``PM_BACKEND``): ``torch`` (sentence-transformers as is), ``onnx`` (ONNX Runtime, fp32) or
    ``onnx-int8``; default ``DEFAULT_BACKEND``. The ONNX backends export the model into ``export_dir`` on first
    use (``PM_DATA_DIR/models``). ``threads``: ONNX Runtime intra-op threads (default: the usable cores).
    """
    if model and (model == "fake" or model.startswith("fake:")):
        dim = model.partition(":")[2]
        if dim and not dim.isdigit():
            raise ModelLoadError(f"PM_MODEL={model!r}: use 'fake' or 'fake:DIM' with DIM a whole number, e.g. fake:256")
        return FakeEmbedder(int(dim) if dim else 256)
    backend = backend or DEFAULT_BACKEND
    if backend == "torch":
        return SentenceTransformerEmbedder(model)
    if backend in ("onnx", "onnx-int8"):
        return OnnxEmbedder(model, quantized=backend == "onnx-int8", export_dir=export_dir, threads=threads)
    raise ModelLoadError(f"PM_BACKEND={backend!r} is not a backend; use one of {', '.join(BACKENDS)}")
