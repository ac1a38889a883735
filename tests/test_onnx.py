"""The ONNX Runtime embedder: exported offline from the bundled model, equal to torch, configurable, cached.

Integration: exports the bundled all-MiniLM-L6-v2 once per session (~15 s) into a temporary folder.
"""

from __future__ import annotations

import json
import logging
import sys
import threading

import numpy as np
import pytest

from embeddings import (
    DEFAULT_BACKEND,
    FakeEmbedder,
    ModelLoadError,
    OnnxEmbedder,
    SentenceTransformerEmbedder,
    load_embedder,
)
from embeddings.base import encode_queries
from embeddings.onnx import (
    FP32_FILE,
    INT8_DOCUMENTS_FILE,
    INT8_FILE,
    META_FILE,
    SESSION_DISABLED,
    TOKENIZER_FILE,
    export_folder,
    int8_suffix,
    int8_weights,
)
from embeddings.onnx.quantise import _document_fp32_nodes
from embeddings.onnx.session import _batches

pytestmark = pytest.mark.integration

TEXTS = [
    "recycling rare earth magnets from electronic waste",
    "x",
    "Lithium brine extraction, direct lithium extraction and geothermal brines in northern Quebec.",
    "Responsible mining: tailings reprocessing, acid mine drainage treatment and community engagement. " * 20,
    "Université Laval étudie la séparation des terres rares.",
]


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def torch_vectors():
    return SentenceTransformerEmbedder().encode(TEXTS, batch_size=2)


@pytest.fixture(scope="module")
def onnx_embedder(export_dir):
    import os

    previous = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"  # the export must not need the network
    try:
        embedder = load_embedder(None, backend="onnx", export_dir=export_dir)
        embedder.load()
    finally:
        if previous is None:
            del os.environ["HF_HUB_OFFLINE"]
        else:
            os.environ["HF_HUB_OFFLINE"] = previous
    return embedder


def test_export_is_written_once_into_the_data_dir(onnx_embedder, export_dir):
    folder = onnx_embedder.folder
    assert folder.parent == export_dir and folder == export_folder(export_dir, onnx_embedder.model_id, int8_weights())
    assert json.loads((folder / META_FILE).read_text())["int8_weights"] == int8_weights()
    assert {FP32_FILE, INT8_FILE, INT8_DOCUMENTS_FILE, TOKENIZER_FILE, META_FILE} <= {p.name for p in folder.iterdir()}
    assert not [p for p in export_dir.iterdir() if p.name.startswith(".")]  # no temporary folder left behind
    stamp = (folder / FP32_FILE).stat().st_mtime_ns
    again = OnnxEmbedder(None, export_dir=export_dir)
    again.encode(["reuse the export"])
    assert (folder / FP32_FILE).stat().st_mtime_ns == stamp  # a second process reuses it


def test_export_keeps_residual_adds_apart_from_layer_norms(onnx_embedder):
    # ONNX Runtime's CPU SkipLayerNormalization is ~6x slower than Add + LayerNormalization: neither the exported
    # graphs nor the sessions' own optimiser may fuse them.
    import onnx

    for file in (FP32_FILE, INT8_FILE, INT8_DOCUMENTS_FILE):
        graph = onnx.load(str(onnx_embedder.folder / file), load_external_data=False).graph
        ops = {node.op_type for node in graph.node}
        assert "LayerNormalization" in ops and not {"SkipLayerNormalization", "SkipSimplifiedLayerNormalization"} & ops
    assert "SkipLayerNormFusion" in SESSION_DISABLED


def test_onnx_vectors_equal_torch_vectors(onnx_embedder, torch_vectors):
    vectors = onnx_embedder.encode(TEXTS, batch_size=2)  # padded batches of different lengths
    assert vectors.shape == torch_vectors.shape and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    cosine = (vectors * torch_vectors).sum(axis=1)
    assert cosine.min() >= 0.9999
    single = np.vstack([onnx_embedder.encode([t]) for t in TEXTS])  # one query at a time, as the service does
    assert (single * torch_vectors).sum(axis=1).min() >= 0.9999


def test_onnx_int8_stays_close_to_torch_and_has_its_own_model_id(onnx_embedder, export_dir, torch_vectors):
    int8 = load_embedder(None, backend="onnx-int8", export_dir=export_dir)
    documents, queries = int8.encode(TEXTS), encode_queries(int8, TEXTS)
    to_torch = {name: (v * torch_vectors).sum(axis=1) for name, v in (("documents", documents), ("queries", queries))}
    # Approximate by design (the bar is SciFact nDCG); documents, which keep the sensitive layers fp32, closer.
    assert to_torch["queries"].min() >= 0.97 and to_torch["queries"].mean() >= 0.98
    assert to_torch["documents"].min() >= 0.99 and to_torch["documents"].mean() > to_torch["queries"].mean()
    single = np.vstack([encode_queries(int8, [t], batch_size=1) for t in TEXTS])  # the request path
    # int8 activation scales are per run, so a batch mate moves a vector a little (here by up to ~0.017)
    assert (single * queries).sum(axis=1).min() >= 0.97
    # fp32 ONNX shares torch's id (same vectors: the saved index and cache stay valid); int8 does not.
    assert onnx_embedder.model_id == SentenceTransformerEmbedder().model_id
    assert int8.model_id == onnx_embedder.model_id + int8_suffix(int8_weights())
    # fp32 has one session for both; int8 opens the documents' session only when documents are encoded.
    np.testing.assert_array_equal(encode_queries(onnx_embedder, TEXTS[:2]), onnx_embedder.encode(TEXTS[:2]))
    fresh = load_embedder(None, backend="onnx-int8", export_dir=export_dir)
    encode_queries(fresh, ["a query"])
    assert [r for r in fresh._runners] == [INT8_FILE]
    builder = load_embedder(None, backend="onnx-int8", export_dir=export_dir)  # a build: documents only
    assert builder.encode(["a profile"]).shape == (1, builder.dim) and list(builder._runners) == [INT8_DOCUMENTS_FILE]


def test_one_text_path_gives_the_batched_vector_bit_for_bit(onnx_embedder, export_dir):
    # A query skips the batching machinery (encode_one); its vector must be exactly the one a batch of one gives,
    # or a saved query vector and a fresh one would disagree.
    for embedder in (onnx_embedder, load_embedder(None, backend="onnx-int8", export_dir=export_dir)):
        runner = embedder.load()
        for text in [*TEXTS, ""]:
            batched = runner._encode_batched([text], batch_size=1, show_progress=False)[0]
            np.testing.assert_array_equal(runner.encode_one(text), batched)
            np.testing.assert_array_equal(embedder.encode_queries([text])[0], batched)


def test_documents_copy_keeps_embeddings_and_feed_forward_down_projections_fp32(onnx_embedder):
    import onnx

    folder = onnx_embedder.folder
    kept = _document_fp32_nodes(folder / FP32_FILE)
    assert len(kept) == 1 + 6  # the embedding layer and one down-projection per layer of MiniLM-L6
    quantised = {file: [n.op_type for n in onnx.load(str(folder / file), load_external_data=False).graph.node]
                 for file in (INT8_FILE, INT8_DOCUMENTS_FILE)}
    assert quantised[INT8_FILE].count("MatMulInteger") == quantised[INT8_DOCUMENTS_FILE].count("MatMulInteger") + 6
    assert "QEmbedLayerNormalization" in quantised[INT8_FILE]
    assert "EmbedLayerNormalization" in quantised[INT8_DOCUMENTS_FILE]


def test_batches_are_short_and_of_similar_lengths():
    lengths = np.array([256, 250, 200, 120, 118, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 3])
    runs = _batches(lengths, 8)
    assert runs == [(0, 3), (3, 5), (5, 13), (13, 15), (15, 16)]  # 120 < 256/2 starts a run; 8 at most; 3 alone
    assert _batches(np.array([], dtype=int), 8) == [] and _batches(np.array([5, 5, 5]), 1) == [(0, 1), (1, 2), (2, 3)]


def test_backend_choice_and_errors(export_dir):
    assert DEFAULT_BACKEND in ("torch", "onnx", "onnx-int8")
    assert isinstance(load_embedder(None, backend="onnx-int8", export_dir=export_dir), OnnxEmbedder)
    assert isinstance(load_embedder(None, backend="torch"), SentenceTransformerEmbedder)
    assert isinstance(load_embedder("fake:16", backend="onnx"), FakeEmbedder)  # the fake has no backends
    with pytest.raises(ModelLoadError, match="PM_BACKEND='tensorflow'.*torch, onnx, onnx-int8"):
        load_embedder(None, backend="tensorflow")


def test_a_missing_model_is_a_clear_error_naming_pm_model(tmp_path):
    broken = OnnxEmbedder(str(tmp_path / "no-model-here"), export_dir=tmp_path / "models")
    with pytest.raises(ModelLoadError, match="PM_MODEL"):
        broken.encode(["x"])


def test_another_sentence_transformers_model_folder_exports_too(tmp_path, onnx_embedder):
    """Any PM_MODEL folder works: here a copy of the bundled model with a dense layer added, saved locally."""
    import torch
    from sentence_transformers import SentenceTransformer, models

    from embeddings.sentence import bundled_model_path

    st = SentenceTransformer(str(bundled_model_path()), device="cpu")
    torch.manual_seed(0)
    dense = models.Dense(in_features=384, out_features=64, activation_function=torch.nn.Tanh())
    custom = SentenceTransformer(modules=[st[0], st[1], dense, models.Normalize()], device="cpu")
    folder = tmp_path / "custom-model"
    custom.save(str(folder))
    embedder = load_embedder(str(folder), backend="onnx", export_dir=tmp_path / "models")
    expected = SentenceTransformerEmbedder(str(folder)).encode(TEXTS[:3])
    got = embedder.encode(TEXTS[:3])
    assert got.shape == (3, 64) and (got * expected).sum(axis=1).min() >= 0.9999
    assert embedder.model_id == f"path:{folder.resolve()}"


def test_int8_weights_follow_what_the_cpu_multiplies_exactly(monkeypatch):
    import embeddings.onnx.cpu as module

    monkeypatch.setattr(module.platform, "machine", lambda: "x86_64")
    for flags, expected in (({"avx2", "avx512_vnni"}, "s8"), ({"avx2", "avx_vnni"}, "s8"), ({"avx2", "fma"}, "u8"),
                            (None, "u8")):  # None: /proc/cpuinfo unreadable; uint8 weights never saturate on x86
        monkeypatch.setattr(module, "_cpu_flags", lambda flags=flags: flags)
        assert int8_weights() == expected
    monkeypatch.setattr(module.platform, "machine", lambda: "aarch64")
    assert int8_weights() == "s8"


def test_each_int8_weight_type_has_its_own_model_id_and_export(tmp_path):
    s8 = OnnxEmbedder(None, quantized=True, export_dir=tmp_path, weights="s8")
    u8 = OnnxEmbedder(None, quantized=True, export_dir=tmp_path, weights="u8")
    fp32 = OnnxEmbedder(None, export_dir=tmp_path, weights="u8")
    assert s8.model_id.endswith("@onnx-int8.4") and u8.model_id == s8.model_id + "-u8"  # s8: the first recipe's id
    assert s8.folder == export_folder(tmp_path, fp32.model_id)  # where exports made before the choice live
    assert u8.folder == fp32.folder != s8.folder  # fp32 and int8 of one machine share one export
    with pytest.raises(ValueError, match="weights must be one of s8, u8"):
        OnnxEmbedder(None, quantized=True, weights="int4")


def test_quieting_a_library_drops_only_its_own_records_in_this_thread(tmp_path, monkeypatch, caplog):
    from embeddings.onnx.logs import quiet_library_logs

    (tmp_path / "noisy_library").mkdir()
    (tmp_path / "noisy_library" / "__init__.py").write_text(
        "import logging\n"
        "logger = logging.getLogger('noisy_library')\n"
        "def talk(tag):\n"
        "    logging.warning('root %s', tag)\n"
        "    logger.warning('named %s', tag)\n"
        "    logger.error('error %s', tag)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import noisy_library

    try:
        caplog.set_level(logging.DEBUG)
        with quiet_library_logs("noisy_library"):
            assert logging.root.manager.disable == logging.NOTSET  # nothing process-wide
            noisy_library.talk("quiet")
            logging.getLogger("partner_matcher.elsewhere").info("another logger")
            logging.info("the root logger, from other code")
            thread = threading.Thread(target=noisy_library.talk, args=("from another thread",))
            thread.start()
            thread.join()
        noisy_library.talk("after")
    finally:
        sys.modules.pop("noisy_library", None)
    assert [r.getMessage() for r in caplog.records] == [
        "error quiet",  # errors always get through
        "another logger",
        "the root logger, from other code",
        "root from another thread", "named from another thread", "error from another thread",
        "root after", "named after", "error after",  # the filters are gone with the block
    ]


def test_export_leaves_other_loggers_and_threads_logging(tmp_path, monkeypatch, caplog):
    """The export quiets ONNX Runtime's optimiser and quantiser in its own thread only: records on other loggers,
    emitted inside the export or by another thread meanwhile, all get through."""
    import onnxruntime.quantization
    from onnxruntime.transformers import optimizer

    other = logging.getLogger("partner_matcher.elsewhere")
    disable_levels = []

    def logging_inside(real, step):
        def wrapper(*args, **kwargs):
            disable_levels.append(logging.root.manager.disable)
            other.info("inside %s", step)
            logging.info("root logger inside %s", step)
            return real(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(optimizer, "optimize_model", logging_inside(optimizer.optimize_model, "optimise"))
    monkeypatch.setattr(onnxruntime.quantization, "quantize_dynamic",
                        logging_inside(onnxruntime.quantization.quantize_dynamic, "quantise"))
    caplog.set_level(logging.INFO)
    stop, sent = threading.Event(), []

    def chatter():
        while not stop.is_set():
            other.info("meanwhile %d", len(sent))
            sent.append(1)
            stop.wait(0.02)

    thread = threading.Thread(target=chatter)
    thread.start()
    try:
        OnnxEmbedder(None, quantized=True, export_dir=tmp_path).load()
    finally:
        stop.set()
        thread.join()
    messages = [r.getMessage() for r in caplog.records]
    assert disable_levels == [logging.NOTSET] * 3  # one optimisation, two quantisations: nothing process-wide
    assert messages.count("inside optimise") == 1 and messages.count("inside quantise") == 2
    assert messages.count("root logger inside optimise") == 1 and messages.count("root logger inside quantise") == 2
    assert sent and len([m for m in messages if m.startswith("meanwhile ")]) == len(sent)
    # ONNX Runtime's own records (fusion reports, the quantiser's advice) are still left out
    assert not [r for r in caplog.records if "onnxruntime" in r.pathname and r.levelno <= logging.WARNING]
    assert not [m for m in messages if "pre-processing before quantization" in m]
