"""The query side of the index: its exact top-k shortcut, diversity, the query's side of the value chain and the
signal registry (unit), then end-to-end ranking with the real model on the bundled corpus (integration)."""

import numpy as np
import pytest

from matcher import MatchRequest
from matcher.ranking.scoring import diversify
from matcher.ranking.signal import query_side
from matcher.retrieval.arrays import top_allowed

MAGNET_RECYCLERS = {
    "gb-hypromag", "gb-university-of-birmingham", "gb-ionic-technologies-international", "gb-less-common-metals",
}


def test_top_allowed_equals_full_sort_on_large_arrays():
    """The sampled-threshold shortcut must pick exactly the rows a full sort picks (ties aside)."""
    rng = np.random.default_rng(3)
    for n, share, zeros in ((200_000, 1.0, 0.0), (200_000, 0.4, 0.3), (120_000, 0.01, 0.0), (60_000, 0.5, 0.99)):
        values = rng.random(n).astype(np.float32)
        values[rng.random(n) < zeros] = 0
        mask = rng.random(n) < share
        got = top_allowed(values, 200, mask, int(mask.sum()))
        allowed_positive = np.flatnonzero(mask & (values > 0))
        want = allowed_positive[np.argsort(-values[allowed_positive])[:200]]
        assert sorted(got.tolist()) == sorted(want.tolist())


def _mmr_reference(scores, similarity, diversity, k):
    """Maximal marginal relevance written plainly: at each step the candidate with the highest
    (1 - d) * score - d * (its highest similarity to one already chosen); ties to the earlier candidate."""
    chosen, redundancy = [], np.zeros(len(scores))
    available = np.ones(len(scores), dtype=bool)
    while len(chosen) < min(k, len(scores)):
        value = np.where(available, (1 - diversity) * scores - diversity * redundancy, -np.inf)
        best = int(np.argmax(value))
        chosen.append(best)
        available[best] = False
        redundancy = np.maximum(redundancy, similarity[best])
    return chosen


def test_diversify_picks_what_plain_mmr_picks():
    """The incremental form (one minimum per pick) must choose exactly as the plain formula, ties included."""
    rng = np.random.default_rng(7)

    for trial in range(200):
        n = int(rng.integers(1, 31))
        vectors = rng.normal(size=(n, 8)).astype(np.float32)
        vectors[n // 2:] = vectors[: n - n // 2]  # duplicated profiles: equal similarities
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        scores = np.round(rng.random(n), 1 if trial % 2 else 6)  # coarse scores tie often
        diversity = [0.0, 0.3, 0.5, 1.0][trial % 4]
        scored = [(float(s), i, i) for i, s in enumerate(scores)]
        got = diversify(scored, 10, diversity, vectors[[p for _, p, _ in scored]])
        want = _mmr_reference(scores, vectors @ vectors.T, diversity, 10)
        assert [row for _, _, row in got] == want


def test_query_side_comes_from_the_stages_named_else_the_national_pattern():
    assert query_side({"exploration", "extraction"}, "GB") is True  # stages outvote the country
    assert query_side({"recycling"}, "CA") is False
    assert query_side({"exploration", "recycling"}, "GB") is False  # a tie: the country decides
    assert query_side(set(), "CA") is True and query_side(set(), "GB") is False and query_side(set(), None) is None


def ranked_ids(matcher, text, **kw):
    return [r["organisation"]["id"] for r in matcher.match(MatchRequest(text=text, **kw))["results"]]


@pytest.mark.integration
def test_magnet_recycling_brief_ranks_magnet_recyclers_first(real_matcher):
    ids = ranked_ids(real_matcher, "recycling rare earth magnets from electronic waste", countries=["GB"], k=10)
    # Every known UK magnet-recycling organisation is in the top 6, above unrelated organisations.
    assert MAGNET_RECYCLERS <= set(ids[:6])
    everything = ranked_ids(real_matcher, "recycling rare earth magnets from electronic waste", countries=["GB"], k=100)
    position = lambda org: everything.index(org) if org in everything else len(everything)  # noqa: E731
    for unrelated in ("gb-national-oceanography-centre", "gb-cornish-lithium", "gb-weardale-lithium"):
        assert position(unrelated) > max(position(o) for o in MAGNET_RECYCLERS)


@pytest.mark.integration
def test_mine_waste_brief_finds_canadian_reclamation_expertise(real_matcher):
    ids = ranked_ids(real_matcher, "preventing acid mine drainage from sulphide tailings and mine reclamation",
                     countries=["CA"], k=10)
    assert {"ca-mine-environment-neutral-drainage-program", "ca-universite-du-quebec-en-abitibi-temiscamingue"} & set(ids[:5])


@pytest.mark.integration
def test_every_result_has_components_and_explanation(real_matcher):
    out = real_matcher.match(MatchRequest(text="lithium-ion battery black mass hydrometallurgy", k=5, challenge=2))
    for r in out["results"]:
        assert 0 <= r["score"] <= 1 and {"semantic", "minerals", "challenge_1", "challenge_2"} <= set(r["scores"])
        assert r["explanation"]["reason"] and r["explanation"]["evidence"]


@pytest.mark.integration
def test_http_api_and_core_agree_on_the_acceptance_query(real_matcher):
    from service import create_app

    client = create_app({"MATCHER": real_matcher}).test_client()
    body = {"text": "recycling rare earth magnets from electronic waste", "countries": ["GB"], "k": 10}
    api = [r["organisation"]["id"] for r in client.post("/v1/match", json=body).get_json()["results"]]
    assert api == ranked_ids(real_matcher, body["text"], countries=["GB"], k=10)
    assert len(api) == 10


@pytest.mark.integration
def test_hybrid_beats_bm25_and_dense_on_the_held_out_briefs(real_matcher):
    from corpus import default_data_dir
    from matcher.evaluation import evaluate_briefs, load_briefs

    test = [b for b in load_briefs(default_data_dir() / "evaluation" / "dev-briefs.jsonl") if b.split == "test"]
    methods = evaluate_briefs(real_matcher.index_, test)["methods"]
    assert methods["hybrid"]["recall@10"] > max(methods["bm25"]["recall@10"], methods["dense"]["recall@10"])
    assert methods["hybrid"]["ndcg@10"] > max(methods["bm25"]["ndcg@10"], methods["dense"]["ndcg@10"])


# ---------------------------------------------------------------- the signal registry
def test_the_registry_gives_score_weights_the_page_chart_and_the_tuning_grid():
    import dataclasses

    from matcher import SIGNALS, ScoreWeights
    from matcher.evaluation import TUNING_GRID
    from matcher.results import RETRIEVAL_WEIGHTS

    names = [f.name for f in dataclasses.fields(ScoreWeights)]
    assert sorted(names[: len(SIGNALS)]) == sorted(s.name for s in SIGNALS)
    assert names[len(SIGNALS) :] == [name for name, _ in RETRIEVAL_WEIGHTS]
    assert all(getattr(ScoreWeights(), s.name) == s.default_weight for s in SIGNALS)
    # Explanations carry the weights in this order: the API's responses stay byte for byte as they were.
    assert list(ScoreWeights().as_dict()) == ["semantic", "minerals", "challenge", "stages", "complementarity",
                                              "org_type", "lexical", "short_lexical", "second_document"]
    assert list(TUNING_GRID) == ["lexical", "short_lexical", "diversity", "structure", "challenge"]
    assert [row.key for s in SIGNALS for row in s.chart] == ["relevance", "semantic", "lexical", "minerals", "stages",
                                                              "complementarity", "org_type"]


def test_a_new_signal_is_one_class_added_to_the_weighted_mean_components_and_reason():
    from types import SimpleNamespace

    from matcher import SIGNALS, Organisation, ScoreWeights
    from matcher.ranking import Contribution, QuerySignals, ScoringData, Signal
    from matcher.ranking.scoring import combine, explanations
    from matcher.ranking.signal import ShownOrganisation
    from matcher.retrieval.hybrid import Candidates

    class Funded(Signal):  # a toy signal: the organisation has a funding record
        name = "funded"
        default_weight = 0.5

        def columns(self, organisations):
            return {"funded": np.array([bool(o.website) for o in organisations])}

        def score(self, data, query):
            value = data.columns["funded"][data.candidates.positions].astype(np.float64)
            return Contribution({"funded": value}, value)

        def explainer(self, query, challenge_ids):
            return lambda shown, components: ("; funded" if components["funded"] else "", {"funded": True})

    signals = (*SIGNALS, Funded())
    weights = SimpleNamespace(**ScoreWeights().as_dict(), funded=0.5)
    found = Candidates(np.array([0, 1]), np.array([0.8, 0.4]), np.array([0.7, 0.3]), np.array([1.0, 0.0]))
    data = ScoringData(found, {"funded": np.array([True, False]), "org_types": np.array(["company", "rto"])}, [1, 2],
                       np.array([[0.2, 0.9], [0.6, 0.1]], dtype=np.float32))
    query = QuerySignals(set(), set(), None, set(), None)
    scores, parts = combine(signals, weights, data, query)
    np.testing.assert_allclose(scores, [(0.75 * 0.8 + 0.5) / 1.25, 0.75 * 0.4 / 1.25])
    assert list(parts) == ["relevance", "semantic", "lexical", "challenge_1", "challenge_2", "funded"]
    shown = [ShownOrganisation.of(Organisation(id="a", name="A", country="GB", org_type="company",
                                                description="Recycles magnets."))]
    explanation = explanations(signals, query, [1, 2], shown, [0.5], [1], {})(0, {"semantic": 0.7, "funded": 1.0,
                                                                                  "challenge_1": 0.2, "challenge_2": 0.9})
    # The challenge is not named (none was asked for); the reason is one plain sentence, without the name.
    assert explanation["reason"] == "Similar in meaning to your brief; funded." and explanation["funded"] is True
    assert list(explanation)[-2:] == ["funded", "weights"]


def test_a_requested_challenge_moves_its_aligned_organisations_up(matcher):
    """``"challenge": n`` counts the challenge's alignment in relevance with the weight 0.1 (docs/ranking.md,
    the request's OpenAPI description): between two requests that differ only in the challenge, each organisation's
    relevance moves by 0.1 * (its alignment with 2 - with 1) / (total weight), one positive factor for all."""
    from matcher import MatchRequest as Request
    from matcher.results import ScoreWeights

    assert ScoreWeights().challenge == 0.1
    assert "0.1" in Request.model_json_schema()["properties"]["challenge"]["description"]
    text = "critical minerals recycling magnets tailings mining battery"
    runs = {c: matcher.match(Request(text=text, challenge=c, k=20, countries=["GB", "CA"], group_units=False))
            for c in (None, 1, 2)}
    by_id = {c: {r["organisation"]["id"]: r for r in out["results"]} for c, out in runs.items()}
    assert set(by_id[None]) == set(by_id[1]) == set(by_id[2]) and len(by_id[None]) >= 5
    assert {r["explanation"]["weights"]["challenge"] for r in runs[2]["results"]} == {0.1}
    factors = []
    for oid, r2 in by_id[2].items():
        r1 = by_id[1][oid]
        gap = r2["scores"]["challenge_2"] - r1["scores"]["challenge_1"]
        moved = r2["relevance"] - r1["relevance"]
        if abs(gap) > 0.05:
            assert np.sign(moved) == np.sign(gap), oid
            factors.append(moved / gap)
    assert factors and max(factors) - min(factors) < 0.01 and min(factors) > 0.05
    # Against no challenge: relevance moves by the same factor times (alignment with 2 - relevance without), so an
    # organisation more aligned with the challenge than its relevance rises, one less aligned falls.
    against_none = []
    for oid, r2 in by_id[2].items():
        before = by_id[None][oid]["relevance"]
        gap = r2["scores"]["challenge_2"] - before
        if abs(gap) > 0.05:
            against_none.append((r2["relevance"] - before) / gap)
    assert against_none and max(against_none) - min(against_none) < 0.01
    assert abs(np.mean(against_none) - np.mean(factors)) < 0.01
    order = {c: [r["organisation"]["id"] for r in runs[c]["results"]] for c in (None, 1, 2)}
    assert order[1] != order[2]


def test_a_search_box_query_weighs_bm25_more_than_a_brief_does(matcher, monkeypatch):
    """Up to four words BM25's share of the fusion is ``short_lexical`` (0.7), from five it is ``lexical`` (0.6):
    a few exact words say more than the model's reading of them against whole profiles (docs/ranking.md)."""
    from matcher.query.query import SHORT_QUERY_WORDS, AnalysedQuery
    from matcher.results import ScoreWeights
    from matcher.retrieval.hybrid import HybridRetriever

    assert (ScoreWeights().short_lexical, ScoreWeights().lexical, SHORT_QUERY_WORDS) == (0.7, 0.6, 4)
    assert AnalysedQuery.of("acid mine drainage treatment").short
    assert not AnalysedQuery.of("acid mine drainage treatment wetlands").short
    shares: list[float | None] = []
    retrieve = HybridRetriever.retrieve

    def spy(self, *args, **kwargs):
        shares.append(kwargs.get("alpha"))
        return retrieve(self, *args, **kwargs)

    monkeypatch.setattr(HybridRetriever, "retrieve", spy)
    index = matcher.current_index()
    short = index.rank("magnet recycling", k=5)
    longer = index.rank("recycling rare earth magnets from scrap", k=5)
    assert shares == [0.7, 0.6] and short and longer
    # The fusion itself: the override replaces the retriever's own share, nothing else.
    monkeypatch.setattr(HybridRetriever, "retrieve", retrieve)
    retriever, allowed = index.retriever(), index.filter(None, None)
    query = index.encode_query("magnet recycling")
    own = retriever.retrieve("magnet recycling", query, allowed, 5)
    at_07 = retriever.retrieve("magnet recycling", query, allowed, 5, alpha=0.7)
    np.testing.assert_array_equal(own.positions, at_07.positions)
    from matcher.retrieval.fusion import minmax

    np.testing.assert_allclose(at_07.relevance, 0.7 * minmax(at_07.lexical) + 0.3 * minmax(at_07.dense))
    np.testing.assert_allclose(own.relevance, 0.6 * minmax(own.lexical) + 0.4 * minmax(own.dense))
