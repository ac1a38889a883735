"""The int8 copies of an fp32 export, made with ONNX Runtime's dynamic quantisation.

One for queries (every weight int8: the fastest encode, on the request path) and one for documents (the embedding
table and the feed-forward down-projections stay fp32: closer to the model, for the index, whose build is not
latency-bound). Their weights are signed or unsigned 8-bit, whichever the CPU multiplies without saturating
(``cpu.int8_weights``).
"""

from __future__ import annotations

from pathlib import Path

from embeddings.onnx.layout import FP32_FILE, INT8_DOCUMENTS_FILE, INT8_FILE
from embeddings.onnx.logs import quiet_library_logs

# The GELU forms ONNX Runtime's fusions leave: the MatMul each one feeds is a feed-forward down-projection.
_GELU_OPS = {"Gelu", "BiasGelu", "FastGelu", "QuickGelu"}


def write_int8_copies(folder: Path, weights: str) -> None:
    """Quantise ``folder``'s fp32 graph into its queries' (``INT8_FILE``) and documents' (``INT8_DOCUMENTS_FILE``)
    int8 copies, with ``weights`` ("s8" or "u8") int8 weights."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # The quantiser logs advice about static quantisation to the root logger on every call: dropped, in this
    # thread only.
    with quiet_library_logs("onnxruntime.quantization"):
        # Per-channel int8 weights: per-tensor scales (the default) lose far more of the model's cosine to fp32.
        # The fused attention's weights are quantised too (its output types are not inferred, hence the default
        # tensor type).
        weight_type = {"s8": QuantType.QInt8, "u8": QuantType.QUInt8}[weights]
        for file, keep_fp32 in ((INT8_FILE, []), (INT8_DOCUMENTS_FILE, _document_fp32_nodes(folder / FP32_FILE))):
            quantize_dynamic(str(folder / FP32_FILE), str(folder / file), weight_type=weight_type, per_channel=True,
                             nodes_to_exclude=keep_fp32, extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})


def _document_fp32_nodes(fp32: Path) -> list[str]:
    """The nodes the documents' int8 copy keeps in fp32: the embedding layer and every feed-forward down-projection
    (the MatMul a GELU feeds).

    Why these: the down-projections cost the most quality when quantised (their input, the GELU output, has
    outliers that one int8 scale per tensor rounds away), and the embedding table costs memory only to keep.
    A graph without fused GELUs (an architecture the optimiser does not know) gets the all-int8 recipe.
    """
    import onnx

    graph = onnx.load(str(fp32), load_external_data=False).graph
    producer = {out: node for node in graph.node for out in node.output}
    keep = [n.name for n in graph.node if n.op_type == "EmbedLayerNormalization"]
    keep += [n.name for n in graph.node
             if n.op_type == "MatMul" and n.input and getattr(producer.get(n.input[0]), "op_type", None) in _GELU_OPS]
    return [name for name in keep if name]
