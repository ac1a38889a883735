"""One ONNX Runtime session of an export and its tokenizer: texts in, unit vectors out."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from embeddings.base import l2_normalise
from embeddings.onnx.layout import META_FILE, TOKENIZER_FILE

# Texts per ONNX Runtime run, at most, whatever batch the caller asks for: small runs encode more texts per second,
# and int8 ones stay closer to fp32 (activation scales are computed per run, over every text in it).
MAX_BATCH = 8
# Residual adds stay apart from their layer norms (export._optimise leaves them so too): ONNX Runtime's CPU
# SkipLayerNormalization kernel is slower than Add + LayerNormalization.
SESSION_DISABLED = ["SkipLayerNormFusion"]


def _batches(sorted_lengths: np.ndarray, batch_size: int) -> list[tuple[int, int]]:
    """(start, stop) runs over token counts sorted longest first: at most ``batch_size`` texts, and a new run
    wherever a text is under half the run's longest. Mixed lengths waste padding, and in int8 they share one
    activation scale, which moves a short text's vector away from torch's."""
    out, start = [], 0
    for i, n in enumerate(sorted_lengths.tolist()):
        if i > start and (i - start == batch_size or 2 * n < sorted_lengths[start]):
            out.append((start, i))
            start = i
    if len(sorted_lengths):
        out.append((start, len(sorted_lengths)))
    return out


class OnnxRunner:
    """One ONNX Runtime session and its tokenizer; encodes length-sorted batches, padded per batch."""

    def __init__(self, folder: Path, file: str, *, threads: int) -> None:
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
        # Worker threads spin between operators (ONNX Runtime's default: waking them for each small operator costs
        # more) but stop when the run returns, so they leave the cores to the search and scoring after the encode.
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
        the same float32 norm), without the batching machinery, which a query of one text does not need."""
        encoding = self.tokenizer.encode(text)
        feeds = {"input_ids": np.array([encoding.ids], dtype=np.int64)}
        if "attention_mask" in self.inputs:
            feeds["attention_mask"] = np.array([encoding.attention_mask], dtype=np.int64)
        if "token_type_ids" in self.inputs:
            feeds["token_type_ids"] = np.array([encoding.type_ids], dtype=np.int64)
        vector = self.session.run(None, feeds)[0][0]
        norm = np.sqrt(np.add.reduce(vector * vector))  # np.linalg.norm's own arithmetic, so the same bits
        return vector / norm if norm > 0 else vector
