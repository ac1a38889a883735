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


def test_evaluate_briefs_reports_methods_and_bands(matcher):
    from matcher.evaluation import evaluate_briefs, load_briefs

    result = evaluate_briefs(matcher.index_, load_briefs(TESTS / "data" / "dev-briefs.jsonl"))
    assert set(result["methods"]) == {"bm25", "dense", "hybrid"} and result["briefs"] == 2
    assert result["methods"]["hybrid"]["recall@10"] == 1.0
    assert set(result["bands"]) == {"strong", "good", "possible", "weak"}
    shown = sum(len(matcher.index_.rank(b.text, k=10, countries=b.countries, explain=False))
                for b in load_briefs(TESTS / "data" / "dev-briefs.jsonl") if b.good)
    assert sum(v["pairs"] for v in result["bands"].values()) == shown > 0
    assert all(v["labelled_share"] is None or 0 <= v["labelled_share"] <= 1 for v in result["bands"].values())


def test_bad_brief_file_names_the_line(tmp_path):
    from matcher.evaluation import load_briefs

    path = tmp_path / "b.jsonl"
    path.write_text('{"id": "x", "text": "t", "relevant": {"a": "high"}}\n')
    with pytest.raises(CorpusError, match="b.jsonl line 1"):
        load_briefs(path)


# ---------------------------------------------------------------------- families of labelled briefs
def _write(path, rows):
    import json

    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


MAGNETS = {"fx-magnet-recyclers": 2, "fx-magnet-maker": 1}
TAILINGS = {"fx-tailings-lab": 2}


def _families(folder):
    """A small folder of families: plain briefs, French with translations, paraphrases, off-topic."""
    folder.mkdir()
    _write(folder / "dev-briefs.jsonl", [
        {"id": "d1", "text": "recycling neodymium magnets with hydrogen", "countries": ["GB"], "challenge": 2,
         "relevant": MAGNETS},
        {"id": "d2", "text": "cobalt from mine tailings", "countries": ["CA"], "relevant": TAILINGS, "split": "train"},
    ])
    _write(folder / "french.jsonl", [
        {"id": "fr1", "family": "french", "need": "magnets", "text": "recyclage des aimants au néodyme",
         "english": "recycling neodymium magnets", "countries": ["GB"], "challenge": 2, "relevant": MAGNETS},
        {"id": "fr2", "family": "french", "need": "tailings", "text": "cobalt des résidus miniers",
         "english": "cobalt from mine tailings", "countries": ["CA"], "relevant": TAILINGS},
    ])
    _write(folder / "paraphrases.jsonl", [
        {"id": "p1a", "family": "paraphrases", "need": "magnets", "text": "get the rare earths back out of old magnets",
         "countries": ["GB"], "relevant": MAGNETS},
        {"id": "p1b", "family": "paraphrases", "need": "magnets", "text": "NdFeB magnet recycling by hydrogen",
         "countries": ["GB"], "relevant": MAGNETS},
        {"id": "p2a", "family": "paraphrases", "need": "tailings", "text": "cobalt from mine tailings",
         "countries": ["CA"], "relevant": TAILINGS},
    ])
    _write(folder / "offtopic.jsonl", [
        {"id": "o1", "family": "offtopic", "need": None, "text": "wedding photography", "countries": ["CA"],
         "relevant": {}},
        {"id": "o2", "family": "offtopic", "need": None, "text": "credit card fraud detection", "countries": ["GB"],
         "relevant": {}},
    ])
    (folder / "README.md").write_text("not briefs")
    return folder


def test_briefs_accept_the_family_fields_and_take_their_file_as_family(tmp_path):
    from matcher.evaluation import load_briefs

    briefs = {b.id: b for b in load_briefs(_families(tmp_path / "eval"))}
    assert len(briefs) == 9  # every *.jsonl in the folder, README.md left alone
    assert briefs["d1"].family == "dev" and briefs["d1"].twin() is None  # dev-briefs.jsonl is the "dev" family
    assert briefs["fr1"].family == "french" and briefs["fr1"].need == "magnets"
    assert briefs["fr1"].twin() == ("english", "recycling neodymium magnets")
    assert briefs["o1"].need is None and not briefs["o1"].good and briefs["d1"].good
    single = _write(tmp_path / "short.jsonl", [{"id": "s1", "text": "magnet recycling", "relevant": MAGNETS,
                                                "spelled_out": "magnet recycling"}])
    (only,) = load_briefs(single)
    assert only.family == "short" and only.twin() == ("spelled_out", "magnet recycling")


def test_brief_folders_are_checked(tmp_path):
    from matcher.evaluation import load_briefs

    folder = _families(tmp_path / "eval")
    _write(folder / "zz.jsonl", [{"id": "d1", "text": "again", "relevant": {}}])
    with pytest.raises(CorpusError, match="zz.jsonl: brief id 'd1' is already defined in dev-briefs.jsonl"):
        load_briefs(folder)
    (tmp_path / "none").mkdir()
    with pytest.raises(CorpusError, match="no \\*.jsonl files"):
        load_briefs(tmp_path / "none")
    _write(tmp_path / "bad.jsonl", [{"id": "x", "text": "t", "relevant": {}, "langue": "fr"}])
    with pytest.raises(CorpusError, match="bad.jsonl line 1"):
        load_briefs(tmp_path / "bad.jsonl")  # fields outside the model are still refused


def test_evaluate_briefs_reports_each_family_with_the_three_methods(matcher):
    from matcher.evaluation import evaluate_briefs, load_briefs

    briefs = [b for b in load_briefs(_families(matcher.settings.data_dir / "eval")) if b.split == "test"]
    result = evaluate_briefs(matcher.current_index(), briefs, answer=matcher.match)
    families = result["families"]
    assert set(families) == {"dev", "french", "paraphrases", "offtopic"}
    assert [families[f]["briefs"] for f in ("dev", "french", "paraphrases", "offtopic")] == [1, 2, 3, 2]
    for name in ("dev", "french", "paraphrases"):
        f = families[name]
        assert set(f["methods"]) == {"bm25", "dense", "product"} and f["good"] == f["briefs"]
        assert all(0 <= m["ndcg@10"] <= 1 and 0 <= m["recall@10"] <= 1 for m in f["methods"].values())
        assert f["empty"]["of"] == f["good"] and 0 <= f["empty"]["share"] <= 1
        assert f["product_ms"]["median"] >= 0
    assert families["dev"]["methods"]["product"]["recall@10"] == 1.0
    # The off-topic family has no nDCG: the share answered with nothing or only weak results instead.
    assert "methods" not in families["offtopic"] and families["offtopic"]["offtopic_rejected"]["of"] == 2
    # Together, as before: the product is still called "hybrid" there, over every good brief.
    assert set(result["methods"]) == {"bm25", "dense", "hybrid"}
    assert result["targets"]["reference"]["family"] == "dev"
    assert set(result["targets"]["product_beats_both"]) == {"dev", "french", "paraphrases"}
    assert result["targets"]["good_answered_empty"] == sum(families[f]["empty"]["count"] for f in ("dev", "french",
                                                                                                 "paraphrases"))


def test_twin_gap_and_paraphrase_spread(matcher):
    from matcher.evaluation import LabelledBrief, evaluate_briefs, ndcg_at

    index = matcher.current_index()
    same = LabelledBrief(id="s1", family="symbols", text="NdFeB magnet recycling", spelled_out="NdFeB magnet recycling",
                         countries=["GB"], relevant=MAGNETS)
    french = LabelledBrief(id="f1", family="french", text="zzz qqq", english="recycling neodymium magnets",
                           countries=["GB"], relevant=MAGNETS)
    wordings = [LabelledBrief(id=f"p{i}", family="paraphrases", need="magnets", text=t, countries=["GB"],
                              relevant=MAGNETS) for i, t in enumerate(["recycling neodymium magnets", "zzz qqq"])]
    result = evaluate_briefs(index, [same, french, *wordings])
    families = result["families"]
    assert families["symbols"]["twin"]["field"] == "spelled_out" and families["symbols"]["twin"]["gap"] == 0.0
    twin = families["french"]["twin"]
    own = families["french"]["methods"]["product"]["ndcg@10"]
    assert twin["field"] == "english" and twin["gap"] == pytest.approx(own - twin["methods"]["product"]["ndcg@10"],
                                                                       abs=1e-4)
    assert twin["methods"]["product"]["ndcg@10"] > 0.5 and twin["empty"] is None  # no service asked: not measured
    per_wording = [ndcg_at([m.organisation.id for m in index.rank(w.text, countries=["GB"], query_country="CA",
                                                                  explain=False)], MAGNETS) for w in wordings]
    spread = families["paraphrases"]["paraphrase_spread"]
    assert spread["needs"] == 1 and spread["mean"] == pytest.approx(max(per_wording) - min(per_wording), abs=1e-4)
    assert "twin" not in families["paraphrases"] and "paraphrase_spread" not in families["french"]


def test_offtopic_counts_empty_or_all_weak_answers_from_the_service(matcher):
    """What the service answers decides: nothing, or every result flagged weak, is the right off-topic answer."""
    from matcher.evaluation import LabelledBrief, evaluate_briefs

    briefs = [LabelledBrief(id=f"o{i}", family="offtopic", text=t, countries=["GB"], relevant={})
              for i, t in enumerate(["wedding photography", "fraud detection", "copper cookware"])]
    good = LabelledBrief(id="g", family="dev", text="recycling neodymium magnets", countries=["GB"], relevant=MAGNETS)
    def shown(oid, **flags):
        return {"organisation": {"id": oid}, **flags}

    answers = {"wedding photography": [],
               "fraud detection": [shown("fx-lca-consultancy", weak=True), shown("fx-magnet-maker", band="weak")],
               "copper cookware": [shown("fx-magnet-maker", weak=True), shown("fx-lca-consultancy", weak=False)],
               "recycling neodymium magnets": []}
    asked = []

    def answer(request):
        asked.append(request)
        return {"results": answers[request.text]}

    result = evaluate_briefs(matcher.current_index(), [*briefs, good], answer=answer)
    rejected = result["families"]["offtopic"]["offtopic_rejected"]
    assert (rejected["count"], rejected["of"], rejected["share"]) == (2, 3, pytest.approx(0.6667, abs=1e-4))
    assert result["families"]["dev"]["empty"] == {"count": 1, "of": 1, "share": 1.0}
    assert (result["targets"]["good_answered_empty"], result["targets"]["offtopic_not_rejected"]) == (1, 1)
    # An empty answer leaves the product's ranking to the index; a shown one is the product's ranking.
    assert result["families"]["dev"]["methods"]["product"]["recall@10"] == 1.0
    # Asked as the service is: the brief's countries, k = 10, no explanations.
    assert {(r.k, r.explain, tuple(r.countries), r.team_country()) for r in asked} == {(10, False, ("GB",), "CA")}


def test_family_table_prints_every_family(matcher):
    from matcher.evaluation import evaluate_briefs, format_family_table, load_briefs

    briefs = [b for b in load_briefs(_families(matcher.settings.data_dir / "eval")) if b.split == "test"]
    lines = format_family_table(evaluate_briefs(matcher.current_index(), briefs, answer=matcher.match))
    assert lines[0].split()[:8] == ["family", "n", "bm25", "dense", "product", "R@10", "empty", "ms"]
    rows = {line.split()[0]: line for line in lines[1:5]}
    assert set(rows) == {"dev", "french", "paraphrases", "offtopic"}
    assert "vs english" in rows["french"] and "spread across wordings" in rows["paraphrases"]
    assert "off-topic answered empty or all weak: " in rows["offtopic"]
    assert any(line.startswith("product ahead of both bm25 and dense") for line in lines)


def test_cli_reports_families_of_a_folder(tmp_path):
    import json

    from click.testing import CliRunner

    from matcher.cli import main

    folder = _families(tmp_path / "eval")
    runner = CliRunner(env={"PM_MODEL": "fake", "PM_CORPUS_DIR": str(TESTS / "data" / "corpus")})
    result = runner.invoke(main, ["--data-dir", str(tmp_path / "var"), "evaluate", "--briefs", str(folder), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["split"] == "test" and set(out["families"]) == {"dev", "french", "paraphrases", "offtopic"}
    assert out["families"]["french"]["twin"]["field"] == "english" and "bands" in out
    train = runner.invoke(main, ["--data-dir", str(tmp_path / "var"), "evaluate", "--briefs", str(folder),
                                 "--split", "train"])
    assert train.exit_code == 0, train.output
    assert "1 labelled briefs (train split)" in train.output and "\ndev " in train.output


def test_cli_families_reads_the_corpus_evaluation_folder(tmp_path):
    import shutil

    from click.testing import CliRunner

    from matcher.cli import main

    corpus = tmp_path / "corpus"
    shutil.copytree(TESTS / "data" / "corpus", corpus)
    _families(corpus / "evaluation")
    runner = CliRunner(env={"PM_MODEL": "fake", "PM_CORPUS_DIR": str(corpus)})
    result = runner.invoke(main, ["--data-dir", str(tmp_path / "var"), "evaluate", "--families"])
    assert result.exit_code == 0, result.output
    assert "per family" in result.output and "off-topic answered empty or all weak" in result.output
    assert runner.invoke(main, ["--data-dir", str(tmp_path / "var"), "evaluate"]).exit_code == 2


@pytest.mark.integration
def test_bundled_families_with_the_real_model(real_matcher):
    """The bundled evaluation families, test split, through the service (about half a minute once the index is built)."""
    from corpus.loaders import default_data_dir
    from matcher.evaluation import evaluate_briefs, load_briefs

    briefs = [b for b in load_briefs(default_data_dir() / "evaluation") if b.split == "test"]
    result = evaluate_briefs(real_matcher.current_index(), briefs, answer=real_matcher.match)
    families = result["families"]
    assert {"dev", "long", "french", "symbols", "short", "misspelt", "paraphrases", "offtopic"} <= set(families)
    for name, f in families.items():
        if name == "offtopic":
            assert f["offtopic_rejected"]["of"] == 10
        else:
            assert f["methods"]["product"]["ndcg@10"] > 0.3 and f["empty"] is not None
    assert {families[f]["twin"]["field"] for f in ("french", "symbols", "misspelt")} == {"english", "spelled_out",
                                                                                          "correct"}


def test_tuning_searches_the_grid_on_train_briefs_and_restores_the_index(matcher):
    from matcher.evaluation import TUNING_GRID, load_briefs, tune_on_briefs

    index = matcher.current_index()
    before = (index.weights, index.diversity)
    train = [b for b in load_briefs(_families(matcher.settings.data_dir / "eval")) if b.split == "train"]
    params, best = tune_on_briefs(index, train)
    assert set(params) == set(TUNING_GRID) and best["recall@10"] == 1.0
    assert (index.weights, index.diversity) == before


def test_the_product_ranking_is_what_the_service_shows(matcher):
    from matcher.evaluation import LabelledBrief, evaluate_briefs

    brief = LabelledBrief(id="g", text="recycling neodymium magnets", countries=["GB"], relevant={"fx-lca-consultancy": 2})
    shown = {"results": [{"organisation": {"id": "fx-lca-consultancy"}, "weak": False}]}
    result = evaluate_briefs(matcher.current_index(), [brief], answer=lambda request: shown)
    assert result["families"]["dev"]["methods"]["product"]["ndcg@10"] == 1.0
