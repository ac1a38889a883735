"""Where an ONNX export lives and what it holds: its folder, its file names, and the int8 model ids."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

EXPORT_FORMAT = 4  # bump when the exported files change, so old exports are redone rather than misread
FP32_FILE, INT8_FILE, TOKENIZER_FILE, META_FILE = "model.onnx", "model-int8.onnx", "tokenizer.json", "export.json"
INT8_DOCUMENTS_FILE = "model-int8-documents.onnx"  # the documents' int8 copy: see quantise._document_fp32_nodes
TRACED_FILE = "traced.onnx"  # the exporter's graph, before ONNX Runtime's transformer fusions
# The int8 model id's suffix names its recipe: int8 vectors change with the graph they are quantised from, so an
# index or embedding cache made by another recipe is rebuilt rather than searched with new query vectors. fp32
# exports equal torch and need none.
INT8_SUFFIX = "@onnx-int8.4"


def int8_suffix(weights: str) -> str:
    """The int8 model id's suffix for a weight type ("s8" keeps the suffix indexes were first built with). The
    weight types give different vectors, so "u8" has its own: an index made on one kind of machine is rebuilt on
    the other rather than mixed."""
    return INT8_SUFFIX if weights == "s8" else f"{INT8_SUFFIX}-{weights}"


def export_folder(export_dir: Path, model_id: str, weights: str = "s8") -> Path:
    """Where the export of ``model_id`` lives: a readable slug plus a hash of the id, the export format and the
    int8 weight type (all but "s8", so exports made before the weight type was chosen are still found)."""
    key = f"{EXPORT_FORMAT}\x00{model_id}" + ("" if weights == "s8" else f"\x00{weights}")
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", model_id.split("@")[0].rsplit("/", 1)[-1])[:60].strip("-") or "model"
    return Path(export_dir) / f"{slug}-{digest}"
