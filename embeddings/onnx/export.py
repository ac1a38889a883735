"""Export of a sentence-transformers model to ONNX, once, from the model already on disk.

The export needs nothing from the internet: it traces the model on disk (the bundled all-MiniLM-L6-v2, or any
``PM_MODEL`` folder) with torch's own exporter, so it does not need the optimum packages (whose releases pin an
older transformers than this project's).

What is exported: the whole sentence-transformers pipeline (transformer, pooling, any dense layers, normalisation)
as one graph with dynamic batch and sequence axes, plus the model's fast tokenizer (``tokenizer.json``, read by the
``tokenizers`` library), and its two int8 copies (``quantise``). The export is checked against torch on probe
sentences (``MIN_EXPORT_COSINE``) before it is kept, and is written to a temporary folder and renamed, so two
processes exporting at once never see half an export.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path

from embeddings.base import ModelLoadError
from embeddings.onnx.cpu import default_threads
from embeddings.onnx.layout import (
    EXPORT_FORMAT,
    FP32_FILE,
    INT8_DOCUMENTS_FILE,
    INT8_FILE,
    META_FILE,
    TOKENIZER_FILE,
    TRACED_FILE,
)
from embeddings.onnx.logs import quiet_library_logs
from embeddings.onnx.quantise import write_int8_copies
from embeddings.onnx.session import OnnxRunner
from embeddings.sentence import DEFAULT_MODEL

# Checked on probe sentences before an export is kept: fp32 must equal torch; int8 is approximate by design (its
# quality bar is retrieval quality, see docs/ranking.md, "Quality by embedding backend"), this only catches a broken quantisation.
MIN_EXPORT_COSINE = {"model.onnx": 0.999, "model-int8.onnx": 0.95, "model-int8-documents.onnx": 0.95}
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_PROBES = [
    "Recovering rare earth elements from end-of-life NdFeB magnets.",
    "Lithium brine extraction in northern Quebec",
    "x",
    "Responsible mining: tailings reprocessing, water treatment and community engagement across the value chain. " * 12,
]


def export_model(source: str, folder: Path, *, model_id: str, weights: str = "s8") -> Path:
    """Export the sentence-transformers model at ``source`` to ONNX (fp32 and int8, with ``weights`` int8 weights:
    see ``cpu.INT8_WEIGHTS``) in ``folder``.

    Loads the model with torch once, traces it, quantises the copy, and checks both against torch on probe
    sentences. Raises ModelLoadError (naming PM_BACKEND) when the model cannot be exported faithfully.
    """
    folder = Path(folder)
    if (folder / META_FILE).exists():
        return folder
    try:
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        # Eager attention traces to plain MatMul/Softmax nodes, which ONNX Runtime's optimiser fuses into its own
        # attention kernel (the fused SDPA call would be traced as an opaque pattern it leaves alone).
        model = SentenceTransformer(source, device="cpu", model_kwargs={"attn_implementation": "eager"})
    except Exception as e:
        raise ModelLoadError(
            f"cannot load the embedding model from {source!r} to export it to ONNX: {type(e).__name__}: {e}. "
            f"Set PM_MODEL to a local sentence-transformers model folder (or unset it for the bundled {DEFAULT_MODEL})"
        ) from e
    model.eval()
    tokenizer = getattr(model, "tokenizer", None)
    backend = getattr(tokenizer, "backend_tokenizer", None)
    features = model.preprocess(["probe one", "a second, longer probe"])
    names = [n for n in _INPUTS if n in features]
    unsupported = sorted(k for k, v in features.items() if k not in names and hasattr(v, "shape"))
    if backend is None or "input_ids" not in names or unsupported:
        raise ModelLoadError(
            f"the model at {source!r} cannot be run with ONNX Runtime by this project (it needs a fast tokenizer and "
            f"text inputs only{'; extra inputs: ' + ', '.join(unsupported) if unsupported else ''}); "
            "set PM_BACKEND=torch to use it"
        )

    class _Pipeline(torch.nn.Module):
        """The sentence-transformers forward pass with positional tensor inputs, as the exporter traces it."""

        def __init__(self, st: SentenceTransformer) -> None:
            super().__init__()
            self.st = st

        def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
            return self.st({**dict(zip(names, tensors)), "modality": "text"})["sentence_embedding"]

    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        with warnings.catch_warnings(), torch.no_grad():
            # The tracer warns about Python branches on shapes (padding checks); the probe check below is what
            # proves the graph right for other batch and sequence sizes.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _Pipeline(model).eval(), tuple(features[n] for n in names), str(tmp / TRACED_FILE),
                input_names=names, output_names=["sentence_embedding"],
                dynamic_axes={**{n: {0: "batch", 1: "sequence"} for n in names}, "sentence_embedding": {0: "batch"}},
                opset_version=17, do_constant_folding=True, dynamo=False,
            )
        config = getattr(getattr(model[0], "auto_model", None), "config", None)
        _optimise(tmp / TRACED_FILE, tmp / FP32_FILE, heads=getattr(config, "num_attention_heads", 0) or 0,
                  hidden=getattr(config, "hidden_size", 0) or 0)
        write_int8_copies(tmp, weights)
        (tmp / TRACED_FILE).unlink()
        backend.save(str(tmp / TOKENIZER_FILE))
        expected = model.encode(_PROBES, convert_to_numpy=True, normalize_embeddings=True)
        meta = {
            "format": EXPORT_FORMAT,
            "model_id": model_id,
            "inputs": names,
            "max_seq_length": int(model.max_seq_length or 512),
            "pad_id": int(getattr(tokenizer, "pad_token_id", None) or 0),
            "dim": int(expected.shape[1]),
            "int8_weights": weights,
            "torch": torch.__version__,
        }
        (tmp / META_FILE).write_text(json.dumps(meta, indent=1))
        for file in (FP32_FILE, INT8_FILE, INT8_DOCUMENTS_FILE):
            got = OnnxRunner(tmp, file, threads=default_threads()).encode(_PROBES, batch_size=2)
            cosine = float((got * expected).sum(axis=1).min())
            if cosine < MIN_EXPORT_COSINE[file]:
                raise ModelLoadError(
                    f"the ONNX export ({file}) of {source!r} differs from the torch model (cosine {cosine:.3f} < "
                    f"{MIN_EXPORT_COSINE[file]}); set PM_BACKEND=torch for this model"
                )
        tmp.chmod(0o755)  # mkdtemp makes it private; the export is no secret and other users may serve it
        try:
            os.replace(tmp, folder)  # atomic: another process either sees the whole export or none
        except OSError:
            if not (folder / META_FILE).exists():  # not "someone else finished first"
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def _optimise(traced: Path, out: Path, *, heads: int, hidden: int) -> None:
    """ONNX Runtime's transformer optimiser: fuses attention, GELU and layer norms (BERT-family graphs), which makes
    the encode faster. A graph it cannot handle is kept as traced (still correct: the probe check decides)."""
    try:
        from onnxruntime.transformers import optimizer
        from onnxruntime.transformers.fusion_options import FusionOptions

        # The optimiser's modules log every fusion they try: dropped, in this thread only.
        with quiet_library_logs("onnxruntime.transformers"):
            fusions = FusionOptions("bert")
            # Residual adds stay apart from their layer norms: ONNX Runtime's CPU SkipLayerNormalization kernel is
            # slower than Add + LayerNormalization. The session keeps them unfused too (session.SESSION_DISABLED).
            fusions.enable_skip_layer_norm = False
            fusions.enable_bias_skip_layer_norm = False
            optimised = optimizer.optimize_model(str(traced), model_type="bert", num_heads=heads, hidden_size=hidden,
                                                 optimization_options=fusions)
            optimised.save_model_to_file(str(out))
    except Exception:  # an architecture the BERT fusions do not know: the traced graph is used unfused
        shutil.copyfile(traced, out)
