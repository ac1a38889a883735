"""Smoke tests of the benchmark code (``make bench``) at tiny sizes, with the fake embedder: fast, no model."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import bench_gemm, bench_perf, harness, synthetic
from corpus.schema import Organisation
from embeddings import FakeEmbedder
from embeddings.base import encode_queries


@pytest.fixture
def fake384():
    return FakeEmbedder(384)


def test_synthetic_organisations_are_valid_deterministic_and_clearly_synthetic():
    first = list(synthetic.organisations(40, seed=3))
    assert [o.model_dump() for o in first] == [o.model_dump() for o in synthetic.organisations(40, seed=3)]
    for org in first:
        again = Organisation.model_validate(org.model_dump())  # the schema accepts every generated record
        assert again.id.startswith("syn-") and again.name.startswith("Synthetic ")
        assert again.minerals and again.value_chain_stages and again.country in synthetic.COUNTRIES
    assert len({o.country for o in synthetic.organisations(500)}) > 2


def test_vocab_embedder_gives_unit_vectors_that_follow_shared_vocabulary(fake384):
    documents = synthetic.vocab_embedder(fake384)
    a, b, c = documents.encode(["lithium recycling", "lithium recycling plant", "cobalt exploration"])
    np.testing.assert_allclose(np.linalg.norm([a, b, c], axis=1), 1.0, rtol=1e-5)
    assert a @ b > a @ c
    np.testing.assert_array_equal(documents.encode(["lithium recycling"])[0], a)  # deterministic
    both = synthetic.SyntheticCorpusEmbedder(documents, fake384)
    np.testing.assert_array_equal(encode_queries(both, ["lithium recycling"], batch_size=1)[0],
                                  fake384.encode(["lithium recycling"])[0])  # queries: the real model
    np.testing.assert_array_equal(both.encode(["lithium recycling"], batch_size=1)[0], a)  # documents: vocabulary
    np.testing.assert_array_equal(both.encode(["lithium recycling", "x"])[0], a)


def test_recall_bench_runs_and_finds_the_exact_neighbours(fake384):
    result = bench_perf.bench_recall(3000, n_queries=20, query_embedder=fake384)
    assert result["organisations"] == 3000 and result["queries"] == 20
    assert set(result["filters"]) == {"none", "country GB"}
    for figures in result["filters"].values():
        assert 0.9 <= figures["recall@10"] <= 1.0 and figures["ann_ms"] >= 0


def test_synthetic_app_serves_matches_through_the_real_service(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("BENCH_REPORT", str(tmp_path / "report.json"))
    from benchmarks.synthetic_app import create

    app = create(300, "fake:384")
    client = app.test_client()
    answer = client.post("/v1/match", json={"text": "lithium recycling", "countries": ["GB"], "k": 5}).get_json()
    assert len(answer["results"]) == 5 and answer["index"]["organisations"] == 300
    assert all(r["organisation"]["country"] == "GB" and r["organisation"]["id"].startswith("syn-")
               for r in answer["results"])
    assert (tmp_path / "report.json").exists()


def test_report_tables_print_every_section(capsys):
    results = {
        "machine": {"cpu": "test cpu", "cores": 2, "memory_gb": 24, "python": "3.11"},
        "encode": {"load": "1.0 1.0 1.0", "backends": {"torch": {"p50_ms": 20.0, "p99_ms": 30.0}},
                   "after_idle": {"gap_s": 0.5, "threads": [2, 1],
                                  **{f"{t}_{k}": {"p50_ms": 7.5, "p99_ms": 9.0} for t in (2, 1)
                                     for k in ("briefs", "titles")}}},
        "bundled_http": {"load": "1", "requests": 3, "naive": {"p50_ms": 30, "p99_ms": 40},
                         "product": {"p50_ms": 10, "p99_ms": 20}, "product_repeated_query": {"p50_ms": 5, "p99_ms": 6},
                         "memory": {"naive": {"peak_rss_mb": 1}, "product": {"peak_rss_mb": 2}},
                         "by_kind": {f"{s}_{k}": {"p50_ms": 1, "p99_ms": 2} for s in ("naive", "product")
                                     for k in ("briefs", "titles")},
                         "p50_speedup": 3.0, "p99_speedup": 2.0,
                         "one_after_the_other": {"naive": {"p50_ms": 20, "p99_ms": 30}, "product": {"p50_ms": 5, "p99_ms": 9},
                                                 "p50_speedup": 4.0, "p99_speedup": 3.33}},
        "synthetic": [{"organisations": 10, "mode": "exact", "index_seconds": 1, "p50_ms": 1, "p99_ms": 2,
                       "peak_rss_mb": 3, "rss_mb": 2, "load": "1"}],
        "shortlist": {"load": "1", "projects": 2, "organisations": 3, "optimal": 0.1},
        "brief_length": {"load": "1", "words_20": {"n": 2, "p50_ms": 10, "p99_ms": 12, "mean_ms": 11},
                         "words_300": {"n": 2, "p50_ms": 25, "p99_ms": 30, "mean_ms": 26},
                         "p50_ratio": 2.5, "mean_ratio": 2.36},
    }
    bench_perf.print_report(results)
    printed = capsys.readouterr().out
    for expected in ("test cpu", "Query encode", "naive", "speed-up (naive / product)", "synthetic corpora",
                     "Batch shortlist", "not interleaved: naive / product", "20 / 5", "after 0.5 s idle",
                     "ratio 300/20 words: p50 2.5x"):
        assert expected in printed


def test_brief_length_texts_are_distinct_and_of_the_asked_lengths(tmp_path):
    rows = ["gtr_project_id,funder,title,abstract"]
    rows += [f"p{i},NERC,t{i},{' '.join(f'w{i}x{j}' for j in range(n))}" for i, n in enumerate((400, 300, 250, 15))]
    (tmp_path / "gtr.csv").write_text("\n".join(rows) + "\n")
    long, short = bench_perf.brief_length_texts(tmp_path / "gtr.csv", long_words=300, short_words=20)
    assert [len(t.split()) for t in long] == [300, 300, 300]  # 400 words: its first and its last 300
    assert len(set(long)) == 3 and long[0] != long[2]
    assert [len(t.split()) for t in short] == [20, 20, 20]  # the 15-word abstract is too short


def test_harness_helpers():
    assert harness.percentiles([0.001, 0.002, 0.003])["p50_ms"] == 2.0
    texts = harness.query_texts(100)
    assert len(set(texts)) == 100  # distinct: no query-cache hits unless a benchmark asks for them
    printed = harness.table("T", ["a", "b"], [["x", 1], ["yy", 22]])
    assert printed.splitlines()[0] == "T" and "yy" in printed
    assert set(harness.peak_rss_mb(__import__("os").getpid())) == {"peak_rss_mb", "rss_mb"}


@pytest.mark.parametrize("weights", ["s8", "u8"])
def test_gemm_bench_measures_both_kernels_and_the_int8_one_computes_the_product(weights, monkeypatch):
    import onnxruntime as ort

    import embeddings.onnx

    monkeypatch.setattr(embeddings.onnx, "int8_weights", lambda: weights)
    report = bench_gemm.run(rows=(4,), threads=(1,), k=64, n=32, seconds=0.01)
    assert report["int8_weights"] == weights
    assert [(r["kernel"], r["threads"], r["rows"]) for r in report["results"]] == [("fp32", 1, 4), ("int8", 1, 4)]
    assert all(r["gmac_per_s"] > 0 and r["us"] > 0 for r in report["results"])
    a = np.random.default_rng(2).standard_normal((4, 64)).astype(np.float32)
    fp32, int8 = (ort.InferenceSession(bench_gemm._model(kind, 64, 32, weights), providers=["CPUExecutionProvider"])
                  .run(None, {"A": a})[0] for kind in ("fp32", "int8"))
    cosine = (fp32 * int8).sum(axis=1) / np.linalg.norm(fp32, axis=1) / np.linalg.norm(int8, axis=1)
    assert cosine.min() > 0.99  # the int8 operator measured is the same product, quantised
