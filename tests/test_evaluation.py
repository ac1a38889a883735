import pytest

from corpus import CorpusError
from embeddings import FakeEmbedder
from matcher.evaluation import evaluate_beir, load_beir, metrics, ndcg_at, recall_at
from tests.conftest import SHARED_DATA, TESTS

BEIR = TESTS / "data" / "beir"


def test_metric_definitions():
    assert ndcg_at(["a", "b"], {"a": 1}) == 1.0
    assert ndcg_at(["b", "a"], {"a": 1}) == pytest.approx(1 / 1.5849625)
    assert ndcg_at(["x"], {"a": 1}) == 0.0
    assert recall_at(["a", "x", "b"], {"a": 1, "b": 1}, 2) == 0.5
    assert metrics({"q": ["a"]}, {"q": {"a": 1}}) == {"ndcg@10": 1.0, "recall@10": 1.0, "recall@100": 1.0}


def test_evaluate_reports_every_method_and_tunes_on_train_only():
    result = evaluate_beir(BEIR, FakeEmbedder(64), split="test", tune_split="train")
    assert set(result["methods"]) == {"bm25", "dense", "rrf", "hybrid"}
    for m in result["methods"].values():
        assert set(m) == {"ndcg@10", "recall@10", "recall@100"} and 0 <= m["ndcg@10"] <= 1
    assert result["hybrid"]["tuned_on"] == "train" and 0 <= result["hybrid"]["alpha"] <= 1
    assert result["queries"] == 3 and result["methods"]["bm25"]["ndcg@10"] > 0.5
    with pytest.raises(CorpusError, match="another split"):
        evaluate_beir(BEIR, FakeEmbedder(64), split="test", tune_split="test")
    assert evaluate_beir(BEIR, FakeEmbedder(64), split="test", alpha=0.3)["hybrid"]["alpha"] == 0.3


def test_bad_beir_folders_are_clear(tmp_path):
    with pytest.raises(CorpusError, match="not a BEIR folder"):
        load_beir(tmp_path)
    with pytest.raises(CorpusError, match="no 'dev' split"):
        evaluate_beir(BEIR, FakeEmbedder(16), split="dev")


def test_cli_json_shape(tmp_path):
    import json

    from click.testing import CliRunner

    from matcher.cli import main

    result = CliRunner(env={"PM_MODEL": "fake"}).invoke(main, ["--data-dir", str(tmp_path),
                                                               "evaluate", "--beir", str(BEIR), "--json"])
    assert result.exit_code == 0, result.output
    assert set(json.loads(result.stdout)["methods"]) == {"bm25", "dense", "rrf", "hybrid"}


@pytest.mark.integration
@pytest.mark.skipif(not (SHARED_DATA / "scifact_beir").exists(), reason="../shared/data/scifact_beir is not present")
def test_scifact_hybrid_beats_both_and_reaches_target(tmp_path):
    from embeddings import EmbeddingCache, SentenceTransformerEmbedder

    result = evaluate_beir(SHARED_DATA / "scifact_beir", SentenceTransformerEmbedder(),
                           cache=EmbeddingCache(tmp_path / "c.sqlite"))
    m = result["methods"]
    assert m["hybrid"]["ndcg@10"] >= 0.70
    assert m["hybrid"]["ndcg@10"] > max(m["bm25"]["ndcg@10"], m["dense"]["ndcg@10"])


def test_evaluate_briefs_reports_methods_and_a_threshold(matcher):
    from matcher.evaluation import evaluate_briefs, load_briefs

    result = evaluate_briefs(matcher.index_, load_briefs(TESTS / "data" / "dev-briefs.jsonl"))
    assert set(result["methods"]) == {"bm25", "dense", "hybrid"} and result["briefs"] == 2
    assert result["methods"]["hybrid"]["recall@10"] == 1.0
    assert result["weak_threshold"]["suggested_weak_below"] is not None


def test_bad_brief_file_names_the_line(tmp_path):
    from matcher.evaluation import load_briefs

    path = tmp_path / "b.jsonl"
    path.write_text('{"id": "x", "text": "t", "relevant": {"a": "high"}}\n')
    with pytest.raises(CorpusError, match="b.jsonl line 1"):
        load_briefs(path)
