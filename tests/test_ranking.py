"""The query side of the index: its exact top-k shortcut and the query's side of the value chain (unit), then
end-to-end ranking with the real model on the bundled corpus (integration)."""

import numpy as np
import pytest

from matcher import MatchRequest
from matcher.ranking import Ranking, _query_side, _top_allowed


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
        got = _top_allowed(values, 200, mask, int(mask.sum()))
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

    class Candidates:
        def __init__(self, vectors, diversity):
            self.vectors, self.diversity = vectors, diversity

        def _unit_vectors(self, rows):
            return self.vectors[rows]

    for trial in range(200):
        n = int(rng.integers(1, 31))
        vectors = rng.normal(size=(n, 8)).astype(np.float32)
        vectors[n // 2:] = vectors[: n - n // 2]  # duplicated profiles: equal similarities
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        scores = np.round(rng.random(n), 1 if trial % 2 else 6)  # coarse scores tie often
        diversity = [0.0, 0.3, 0.5, 1.0][trial % 4]
        scored = [(float(s), i, i) for i, s in enumerate(scores)]
        got = Ranking._diversify(Candidates(vectors, diversity), scored, 10)
        want = _mmr_reference(scores, vectors @ vectors.T, diversity, 10)
        assert [row for _, _, row in got] == want


def test_query_side_comes_from_the_stages_named_else_the_national_pattern():
    assert _query_side({"exploration", "extraction"}, "GB") is True  # stages outvote the country
    assert _query_side({"recycling"}, "CA") is False
    assert _query_side({"exploration", "recycling"}, "GB") is False  # a tie: the country decides
    assert _query_side(set(), "CA") is True and _query_side(set(), "GB") is False and _query_side(set(), None) is None


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
