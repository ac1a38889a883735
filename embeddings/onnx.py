"""The ONNX Runtime embedder: a sentence-transformers model exported locally once, then run without torch.

Why: on this project's 2-core machines one query encodes in ~20 ms with torch and a few ms with ONNX Runtime, and
the query encode is most of a match request. The export needs nothing from the internet: it traces the model
already on disk (the bundled all-MiniLM-L6-v2, or any ``PM_MODEL`` folder) with torch's own exporter, so it does
not need the optimum packages (whose releases pin an older transformers than this project's).

What is exported: the whole sentence-transformers pipeline (transformer, pooling, any dense layers, normalisation)
as one graph with dynamic batch and sequence axes, plus the model's fast tokenizer (``tokenizer.json``, read by the
``tokenizers`` library), and two int8 copies made with ONNX Runtime's dynamic quantisation: one for queries (every
weight int8: the fastest encode, on the request path) and one for documents (the embedding table and the
feed-forward down-projections stay fp32: closer to the model, for the index, whose build is not latency-bound).
Their weights are signed or unsigned 8-bit, whichever this CPU multiplies without saturating (``int8_weights``).
The export is checked
against torch on probe sentences (``MIN_EXPORT_COSINE``) before it is kept, and is written to a
temporary folder and renamed, so two processes exporting at once never see half an export.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import re
import shutil
import tempfile
import threading
import warnings
from pathlib import Path

import numpy as np

from embeddings.base import ModelLoadError, l2_normalise
from embeddings.sentence import DEFAULT_MODEL, resolve_model

EXPORT_FORMAT = 4  # bump when the exported files change, so old exports are redone rather than misread
# Checked on probe sentences before an export is kept: fp32 must equal torch; int8 is approximate by design (its
# quality bar is retrieval quality, see README "Performance"), this only catches a broken quantisation.
MIN_EXPORT_COSINE = {"model.onnx": 0.999, "model-int8.onnx": 0.95, "model-int8-documents.onnx": 0.95}
FP32_FILE, INT8_FILE, TOKENIZER_FILE, META_FILE = "model.onnx", "model-int8.onnx", "tokenizer.json", "export.json"
INT8_DOCUMENTS_FILE = "model-int8-documents.onnx"  # the documents' int8 copy: see _document_fp32_nodes
TRACED_FILE = "traced.onnx"  # the exporter's graph, before ONNX Runtime's transformer fusions
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# The int8 model's id suffix names its recipe: int8 vectors change with the graph they are quantised from (the
# unfused layer norms of EXPORT_FORMAT 3 moved them by up to 0.006 of cosine; format 4 embeds documents with their
# own copy), so an index or embedding cache made by an older recipe is rebuilt rather than searched with new query
# vectors. fp32 exports equal torch and need none.
INT8_SUFFIX = "@onnx-int8.4"
# int8 weights as the CPU multiplies them exactly. ONNX Runtime multiplies uint8 activations by int8 weights with
# VNNI's dot product where the CPU has it (exact int32 sums), but on x86 without VNNI (AVX2 only: AMD Zen 2, older
# Intel) with VPMADDUBSW, whose pairwise sums saturate at int16. On such a machine (AMD EPYC, 2026-12-04; 1,521 texts
# of the bundled corpus against torch) the documents' copy fell to a worst cosine of 0.989 (0.994 on a VNNI Xeon)
# and the queries' to 0.981; with uint8 weights, which it multiplies in int16 without saturation, 0.994 and 0.985,
# at the same speed (query encode 11.9 / 3.9 ms for briefs / titles against 12.0 / 3.9). VNNI has no uint8 x uint8
# product, so int8 weights stay where it exists. The two recipes give different vectors, so "u8" has its own suffix
# and export folder: an index made on one kind of machine is rebuilt on the other rather than mixed.
INT8_WEIGHTS = ("s8", "u8")
# Texts per ONNX Runtime run, at most, whatever batch the caller asks for. On the bundled corpus's 1,521 texts, 8
# encoded 10-20% more documents/s than 32 (sentence-transformers' default) for fp32, int8 and the documents' copy,
# and int8 is closer to fp32 in smaller batches: its activation scales are computed per run, over every text in it.
MAX_BATCH = 8
# The GELU forms ONNX Runtime's fusions leave: the MatMul each one feeds is a feed-forward down-projection.
_GELU_OPS = {"Gelu", "BiasGelu", "FastGelu", "QuickGelu"}
SESSION_DISABLED = ["SkipLayerNormFusion"]  # see _optimise: the unfused add + layer norm is faster on CPU
_PROBES = [
    "Recovering rare earth elements from end-of-life NdFeB magnets.",
    "Lithium brine extraction in northern Quebec",
    "x",
    "Responsible mining: tailings reprocessing, water treatment and community engagement across the value chain. " * 12,
]


def default_threads() -> int:
    """Intra-op threads for one query: every core this process may use (ONNX Runtime's default also counts
    hyper-threads, which slow a single small query down on shared machines)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def int8_weights() -> str:
    """The int8 weight type this machine multiplies exactly (see ``INT8_WEIGHTS``): "u8" on x86 without VNNI, else
    "s8". Where the CPU's features cannot be read (x86 outside Linux), "u8", which no x86 CPU saturates."""
    if platform.machine().lower() not in {"x86_64", "amd64", "i386", "i686", "x86"}:
        return "s8"  # ARM and others multiply int8 in widening dot products, without saturation
    flags = _cpu_flags()
    return "s8" if flags is not None and {"avx512_vnni", "avx_vnni"} & flags else "u8"


def _cpu_flags() -> set[str] | None:
    """The CPU's feature flags as Linux lists them, or None where /proc/cpuinfo cannot be read."""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    return set(next((line.split(":", 1)[1].split() for line in cpuinfo.splitlines() if line.startswith("flags")), []))


def int8_suffix(weights: str) -> str:
    """The int8 model id's suffix for a weight type ("s8" keeps the suffix indexes were first built with)."""
    return INT8_SUFFIX if weights == "s8" else f"{INT8_SUFFIX}-{weights}"


def export_folder(export_dir: Path, model_id: str, weights: str = "s8") -> Path:
    """Where the export of ``model_id`` lives: a readable slug plus a hash of the id, the export format and the
    int8 weight type (all but "s8", so exports made before the weight type was chosen are still found)."""
    key = f"{EXPORT_FORMAT}\x00{model_id}" + ("" if weights == "s8" else f"\x00{weights}")
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", model_id.split("@")[0].rsplit("/", 1)[-1])[:60].strip("-") or "model"
    return Path(export_dir) / f"{slug}-{digest}"


def export_model(source: str, folder: Path, *, model_id: str, weights: str = "s8") -> Path:
    """Export the sentence-transformers model at ``source`` to ONNX (fp32 and int8, with ``weights`` int8 weights:
    see ``INT8_WEIGHTS``) in ``folder``.

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

        def __init__(self, st):
            super().__init__()
            self.st = st

        def forward(self, *tensors):
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
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic

        logging.disable(logging.WARNING)  # the quantiser logs advice about static quantisation to the root logger
        try:
            # Per-channel int8 weights: per-tensor scales (the default) cost this model up to 0.17 of cosine on
            # some sentences; per-channel keeps it within ~0.02 of fp32. The fused attention's weights are
            # quantised too (its output types are not inferred, hence the default tensor type).
            weight_type = {"s8": QuantType.QInt8, "u8": QuantType.QUInt8}[weights]
            for file, keep_fp32 in ((INT8_FILE, []), (INT8_DOCUMENTS_FILE, _document_fp32_nodes(tmp / FP32_FILE))):
                quantize_dynamic(str(tmp / FP32_FILE), str(tmp / file), weight_type=weight_type, per_channel=True,
                                 nodes_to_exclude=keep_fp32, extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
        finally:
            logging.disable(logging.NOTSET)
        (tmp / TRACED_FILE).unlink()
        backend.save(str(tmp / TOKENIZER_FILE))
        expected = model.encode(_PROBES, convert_to_numpy=True, normalize_embeddings=True)
        meta = {
            "format": EXPORT_FORMAT,
            "model_id": model_id,
            "inputs": names,
            "max_seq_length": int(model.max_seq_length or 512),
            "pad_id": int(tokenizer.pad_token_id or 0),
            "dim": int(expected.shape[1]),
            "int8_weights": weights,
            "torch": torch.__version__,
        }
        (tmp / META_FILE).write_text(json.dumps(meta, indent=1))
        for file in (FP32_FILE, INT8_FILE, INT8_DOCUMENTS_FILE):
            got = _OnnxRunner(tmp, file, threads=default_threads()).encode(_PROBES, batch_size=2)
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
    """ONNX Runtime's transformer optimiser: fuses attention, GELU and layer norms (BERT-family graphs; measured
    1.6x the documents/s of torch in int8 here). A graph it cannot handle is kept as traced (still correct:
    the probe check decides)."""
    try:
        from onnxruntime.transformers import optimizer
        from onnxruntime.transformers.fusion_options import FusionOptions

        logging.disable(logging.WARNING)
        fusions = FusionOptions("bert")
        # Residual adds stay apart from their layer norms: ONNX Runtime's CPU SkipLayerNormalization kernel takes
        # 148 us where Add + LayerNormalization take 25 (one 61-token query, 384 wide; measured with ORT 1.32),
        # which was a fifth of an int8 query's encode. The session keeps it unfused too (SESSION_DISABLED).
        fusions.enable_skip_layer_norm = False
        fusions.enable_bias_skip_layer_norm = False
        optimised = optimizer.optimize_model(str(traced), model_type="bert", num_heads=heads, hidden_size=hidden,
                                             optimization_options=fusions)
        optimised.save_model_to_file(str(out))
    except Exception:  # an architecture the BERT fusions do not know: the traced graph is used unfused
        shutil.copyfile(traced, out)
    finally:
        logging.disable(logging.NOTSET)


def _document_fp32_nodes(fp32: Path) -> list[str]:
    """The nodes the documents' int8 copy keeps in fp32: the embedding layer and every feed-forward down-projection
    (the MatMul a GELU feeds).

    Why these: quantising each node alone and measuring the bundled corpus's 1,521 texts against torch, the
    down-projections cost the most (their input, the GELU output, has outliers that one int8 scale per tensor
    rounds away) and the embedding table costs memory only to keep. Keeping them fp32 raised the worst cosine to
    torch from 0.983 to 0.992 (mean 0.993 -> 0.997) at 157 documents/s against 184 for all-int8 and 97 for fp32
    (32 texts per run; SciFact nDCG@10 with all-int8 queries stayed at fp32's, see README "Performance").
    A graph without fused GELUs (an architecture the optimiser does not know) gets the all-int8 recipe.
    """
    import onnx

    graph = onnx.load(str(fp32), load_external_data=False).graph
    producer = {out: node for node in graph.node for out in node.output}
    keep = [n.name for n in graph.node if n.op_type == "EmbedLayerNormalization"]
    keep += [n.name for n in graph.node
             if n.op_type == "MatMul" and n.input and getattr(producer.get(n.input[0]), "op_type", None) in _GELU_OPS]
    return [name for name in keep if name]


def _batches(sorted_lengths: np.ndarray, batch_size: int) -> list[tuple[int, int]]:
    """(start, stop) runs over token counts sorted longest first: at most ``batch_size`` texts, and a new run
    wherever a text is under half the run's longest. Mixed lengths waste padding, and in int8 they share one
    activation scale: a one-word text run with a 256-token one lost 0.016 of cosine to torch (0.009 alone)."""
    out, start = [], 0
    for i, n in enumerate(sorted_lengths.tolist()):
        if i > start and (i - start == batch_size or 2 * n < sorted_lengths[start]):
            out.append((start, i))
            start = i
    if len(sorted_lengths):
        out.append((start, len(sorted_lengths)))
    return out


class _OnnxRunner:
    """One ONNX Runtime session and its tokenizer; encodes length-sorted batches, padded per batch."""

    def __init__(self, folder: Path, file: str, *, threads: int):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        meta = json.loads((folder / META_FILE).read_text())
        self.inputs = meta["inputs"]
        self.pad_id = meta["pad_id"]
        self.dim = meta["dim"]
        self.tokenizer = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
        self.tokenizer.enable_truncation(max_length=meta["max_seq_length"])
        self.tokenizer.no_padding()  # padding is per batch, after sorting by length
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1  # one small graph: parallelism inside operators, not between them
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # Worker threads spin briefly between operators (ONNX Runtime's default): waking sleeping threads for
        # each of a small graph's ~50 operators cost 1.4 ms of an 8 ms query here.
        # ...but they stop when the run returns. Left spinning, they take the second core from the search and
        # scoring that follow the encode: measured over HTTP on the 10k synthetic corpus, p50 24 -> 14 ms.
        # (Left to ONNX Runtime, a worker spins ~35 ms after every run, a whole core of a 2-core machine; it does
        # keep the query after an idle gap fast, but a shorter spin, spin_duration_us=3000, did not, and neither
        # did one thread: measured interleaved with the naive service, p50 9.0 and 11.0 ms against 9.5 ms here.)
        options.add_session_config_entry("session.force_spinning_stop", "1")
        self.session = ort.InferenceSession(str(folder / file), options, providers=["CPUExecutionProvider"],
                                            disabled_optimizers=SESSION_DISABLED)

    def encode(self, texts: list[str], *, batch_size: int = 32, show_progress: bool = False) -> np.ndarray:
        if len(texts) == 1 and not show_progress:
            return self.encode_one(texts[0])[None, :]
        return self._encode_batched(texts, batch_size=batch_size, show_progress=show_progress)

    def _encode_batched(self, texts: list[str], *, batch_size: int, show_progress: bool) -> np.ndarray:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        encodings = self.tokenizer.encode_batch(list(texts))
        lengths = np.array([len(e.ids) for e in encodings])
        order = np.argsort(-lengths, kind="stable")  # similar lengths together: little padding per batch
        batches = _batches(lengths[order], max(1, min(batch_size, MAX_BATCH)))
        if show_progress:
            from tqdm import tqdm

            batches = tqdm(batches, desc="Embedding (ONNX)", unit="batch")
        for start, stop in batches:
            rows = order[start:stop]
            width = int(lengths[rows].max())
            feeds = {name: np.full((len(rows), width), self.pad_id if name == "input_ids" else 0, dtype=np.int64)
                     for name in self.inputs}
            for i, row in enumerate(rows):
                e = encodings[row]
                n = len(e.ids)
                feeds["input_ids"][i, :n] = e.ids
                if "attention_mask" in feeds:
                    feeds["attention_mask"][i, :n] = e.attention_mask
                if "token_type_ids" in feeds:
                    feeds["token_type_ids"][i, :n] = e.type_ids
            out[rows] = self.session.run(None, feeds)[0]
        return l2_normalise(out)


    def encode_one(self, text: str) -> np.ndarray:
        """One text's unit vector: what ``encode([text])[0]`` gives, bit for bit (the same inputs, no padding,
        the same float32 norm), without the batching machinery. A query is one text, and after a cold cache the
        sorting, batching and padding cost ~0.17 ms of its ~0.6 ms outside the model run."""
        encoding = self.tokenizer.encode(text)
        feeds = {"input_ids": np.array([encoding.ids], dtype=np.int64)}
        if "attention_mask" in self.inputs:
            feeds["attention_mask"] = np.array([encoding.attention_mask], dtype=np.int64)
        if "token_type_ids" in self.inputs:
            feeds["token_type_ids"] = np.array([encoding.type_ids], dtype=np.int64)
        vector = self.session.run(None, feeds)[0][0]
        norm = np.sqrt(np.add.reduce(vector * vector))  # np.linalg.norm's own arithmetic, so the same bits
        return vector / norm if norm > 0 else vector


class OnnxEmbedder:
    """Encodes with ONNX Runtime; exports the model on first use into ``export_dir`` (kept for later starts).

    ``quantized`` runs the int8 copies: ``encode_queries`` the all-int8 one (the request path), ``encode`` the
    documents' one (index builds and writes; its session opens on first use, ~0.15 s, so a service that only
    answers queries never holds it). Its vectors differ slightly from fp32 (cosine >= 0.99 for documents, ~0.98
    for queries), so its ``model_id`` differs too (``int8_suffix``) and an index or cache made with one is never
    mixed with the other. ``weights`` is the int8 weight type, by default the one this CPU multiplies exactly
    (``int8_weights``). fp32 ONNX vectors equal torch's to float precision (cosine >= 0.9999, tested), so it
    keeps the torch model id: switching between ``torch`` and ``onnx`` reuses the saved index and the embedding
    cache.
    """

    def __init__(self, model: str | None = None, *, quantized: bool = False, export_dir: Path | str | None = None,
                 threads: int | None = None, weights: str | None = None):
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
        self._runners: dict[str, _OnnxRunner] = {}
        self._lock = threading.Lock()

    @property
    def backend(self) -> str:
        return "onnx-int8" if self.quantized else "onnx"

    def load(self, *, documents: bool = False) -> _OnnxRunner:
        """Export (first use only) and open the query session, or the documents' one; raises ModelLoadError
        naming PM_MODEL/PM_BACKEND."""
        file = (INT8_DOCUMENTS_FILE if documents else INT8_FILE) if self.quantized else FP32_FILE
        with self._lock:
            if file not in self._runners:
                export_model(self._source, self.folder, model_id=self._base_id, weights=self.weights)
                try:
                    self._runners[file] = _OnnxRunner(self.folder, file, threads=self.threads)
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
