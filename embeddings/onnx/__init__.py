"""The ONNX Runtime backend: a sentence-transformers model exported locally once, then run without torch, because
the query encode is most of a match request and ONNX Runtime runs it faster.

``cpu``: the int8 weight type this CPU multiplies exactly, and the encode's threads. ``layout``: an export's
folder, file names and int8 model ids. ``export``: tracing the model to ONNX and checking it against torch.
``quantise``: the int8 copies. ``session``: one ONNX Runtime session and its tokenizer. ``runtime``: the
``OnnxEmbedder``. ``logs``: quieting the libraries' log records during an export, in its own thread only.
"""

from embeddings.onnx.cpu import INT8_WEIGHTS, default_threads, int8_weights
from embeddings.onnx.export import MIN_EXPORT_COSINE, export_model
from embeddings.onnx.layout import (
    EXPORT_FORMAT,
    FP32_FILE,
    INT8_DOCUMENTS_FILE,
    INT8_FILE,
    INT8_SUFFIX,
    META_FILE,
    TOKENIZER_FILE,
    TRACED_FILE,
    export_folder,
    int8_suffix,
)
from embeddings.onnx.runtime import OnnxEmbedder
from embeddings.onnx.session import MAX_BATCH, SESSION_DISABLED

__all__ = [
    "EXPORT_FORMAT",
    "FP32_FILE",
    "INT8_DOCUMENTS_FILE",
    "INT8_FILE",
    "INT8_SUFFIX",
    "INT8_WEIGHTS",
    "MAX_BATCH",
    "META_FILE",
    "MIN_EXPORT_COSINE",
    "SESSION_DISABLED",
    "TOKENIZER_FILE",
    "TRACED_FILE",
    "OnnxEmbedder",
    "default_threads",
    "export_folder",
    "export_model",
    "int8_suffix",
    "int8_weights",
]
