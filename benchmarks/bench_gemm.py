"""int8 against fp32 matrix products in ONNX Runtime, at the embedding model's shapes: does int8 pay on this CPU?

The query encode is mostly matrix products of (tokens x 384) activations with the model's weights, and the int8
backend is faster only as far as the CPU multiplies int8 faster than fp32. With VNNI (AVX-512 VNNI, AVX-VNNI) it
does; on x86 with AVX2 only (AMD Zen 2, older Intel) int8 goes through VPMADDUBSW and VPMADDWD and runs at about
fp32's rate. This section measures both kernels alone (one operator, random weights), so the figures of
``make bench`` can be read against the machine they ran on.

    .venv/bin/python benchmarks/bench_perf.py --only gemm
"""

from __future__ import annotations

import time

import numpy as np

HIDDEN, FEED_FORWARD = 384, 1536  # all-MiniLM-L6-v2: the up-projection, the widest product of a layer


def _model(kind: str, k: int, n: int, int8_weights: str = "s8", seed: int = 0) -> bytes:
    """A one-operator ONNX model: fp32 ``MatMul``, or the ``DynamicQuantizeMatMul`` the int8 export runs, with
    per-channel weights of the type ``int8_weights`` ("s8" or "u8", see ``embeddings.onnx.INT8_WEIGHTS``)."""
    from onnx import TensorProto, helper, numpy_helper

    weights = np.random.default_rng(seed).standard_normal((k, n)).astype(np.float32) * 0.05
    if kind == "fp32":
        node = helper.make_node("MatMul", ["A", "B"], ["Y"])
        initialisers = [numpy_helper.from_array(weights, "B")]
    else:
        signed = int8_weights == "s8"
        scale = np.abs(weights).max(axis=0) / (127 if signed else 255) * (1 if signed else 2)
        zero = np.zeros(n, np.int8) if signed else np.full(n, 128, np.uint8)
        quantised = np.round(weights / scale) + (0 if signed else 128)
        quantised = quantised.clip(-127, 127).astype(np.int8) if signed else quantised.clip(0, 255).astype(np.uint8)
        node = helper.make_node("DynamicQuantizeMatMul", ["A", "B", "s", "z"], ["Y"], domain="com.microsoft")
        initialisers = [numpy_helper.from_array(quantised, "B"), numpy_helper.from_array(scale.astype(np.float32), "s"),
                        numpy_helper.from_array(zero, "z")]
    graph = helper.make_graph([node], "gemm", [helper.make_tensor_value_info("A", TensorProto.FLOAT, ["M", k])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["M", n])], initialisers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
    model.ir_version = 8
    return model.SerializeToString()


def run(rows=(19, 73, 512), threads=(1, 2), k: int = HIDDEN, n: int = FEED_FORWARD, seconds: float = 0.5) -> dict:
    """Billions of multiply-adds per second (GMAC/s) of each kernel, for ``rows`` activation rows (19 and 73: a
    title's and a brief's tokens; 512: a build batch) on each number of ``threads``."""
    import onnxruntime as ort

    from embeddings.onnx import int8_weights

    out = {"k": k, "n": n, "int8_weights": int8_weights(), "results": []}  # the type this machine's export uses
    for kind in ("fp32", "int8"):
        model = _model(kind, k, n, out["int8_weights"])
        for count in threads:
            options = ort.SessionOptions()
            options.intra_op_num_threads = count
            session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
            for m in rows:
                a = np.random.default_rng(1).standard_normal((m, k)).astype(np.float32)
                for _ in range(5):
                    session.run(None, {"A": a})  # warm up (weights packed on the first run)
                runs, started = 0, time.perf_counter()
                while (elapsed := time.perf_counter() - started) < seconds or runs < 5:
                    session.run(None, {"A": a})
                    runs += 1
                out["results"].append({"kernel": kind, "threads": count, "rows": m,
                                       "gmac_per_s": round(m * k * n * runs / elapsed / 1e9, 1),
                                       "us": round(elapsed / runs * 1e6, 1)})
    return out
