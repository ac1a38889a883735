"""The ONNX Runtime embedder: exports the model on first use, then encodes with its sessions."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from embeddings.base import ModelLoadError
from embeddings.onnx.cpu import INT8_WEIGHTS, default_threads, int8_weights
from embeddings.onnx.export import export_model
from embeddings.onnx.layout import FP32_FILE, INT8_DOCUMENTS_FILE, INT8_FILE, export_folder, int8_suffix
from embeddings.onnx.session import OnnxRunner
from embeddings.sentence import resolve_model


class OnnxEmbedder:
    """Encodes with ONNX Runtime; exports the model on first use into ``export_dir`` (kept for later starts).

    ``quantized`` runs the int8 copies: ``encode_queries`` the all-int8 one (the request path), ``encode`` the
    documents' one (index builds and writes; its session opens on first use, so a service that only answers
    queries never holds it). Its vectors differ slightly from fp32, so its ``model_id`` differs too
    (``int8_suffix``) and an index or cache made with one is never mixed with the other. ``weights`` is the int8
    weight type, by default the one this CPU multiplies exactly (``int8_weights``). fp32 ONNX vectors equal torch's
    to float precision, so it keeps the torch model id: switching between ``torch`` and ``onnx`` reuses the saved
    index and the embedding cache.
    """

    def __init__(self, model: str | None = None, *, quantized: bool = False, export_dir: Path | str | None = None,
                 threads: int | None = None, weights: str | None = None) -> None:
        self.model = model
        self.quantized = quantized
        self.threads = threads or default_threads()
        self.weights = weights or int8_weights()
        if self.weights not in INT8_WEIGHTS:
            raise ValueError(f"weights must be one of {', '.join(INT8_WEIGHTS)}, not {self.weights!r}")
        self._source, self._base_id = resolve_model(model)
        self.model_id = self._base_id + (int8_suffix(self.weights) if quantized else "")
        self.export_dir = Path(export_dir) if export_dir is not None else Path("var") / "models"
        # fp32 and int8 embedders of one machine share the export (one fp32 graph, int8 copies of this CPU's type)
        self.folder = export_folder(self.export_dir, self._base_id, self.weights)
        self._runners: dict[str, OnnxRunner] = {}
        self._lock = threading.Lock()

    @property
    def backend(self) -> str:
        return "onnx-int8" if self.quantized else "onnx"

    def load(self, *, documents: bool = False) -> OnnxRunner:
        """Export (first use only) and open the query session, or the documents' one; raises ModelLoadError
        naming PM_MODEL/PM_BACKEND."""
        file = (INT8_DOCUMENTS_FILE if documents else INT8_FILE) if self.quantized else FP32_FILE
        with self._lock:
            if file not in self._runners:
                export_model(self._source, self.folder, model_id=self._base_id, weights=self.weights)
                try:
                    self._runners[file] = OnnxRunner(self.folder, file, threads=self.threads)
                except Exception as e:
                    raise ModelLoadError(
                        f"cannot open the ONNX export in {self.folder}: {type(e).__name__}: {e}. Delete that folder "
                        "to export again, or set PM_BACKEND=torch"
                    ) from e
            return self._runners[file]

    @property
    def dim(self) -> int:
        opened = next(iter(self._runners.values()), None)  # a build needs no query session just for this
        return (opened or self.load()).dim

    def encode(self, texts: list[str], *, batch_size: int = 32, show_progress: bool = False) -> np.ndarray:
        """Documents' vectors (what an index holds)."""
        return self.load(documents=True).encode(list(texts), batch_size=batch_size, show_progress=show_progress)

    def encode_queries(self, texts: list[str], *, batch_size: int = 32) -> np.ndarray:
        """Queries' vectors: the faster all-int8 copy when ``quantized`` (the same session as ``encode`` in fp32)."""
        return self.load().encode(list(texts), batch_size=batch_size)
