"""Honest scores (the order shown, an absolute calibrated fit and its bands), the off-topic gate (weak, never
nothing for a query about the field) and explanations that hold (evidence by words and meaning; complementarity
and challenges named only when asked)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from corpus.loaders import load_challenges, load_organisations
from corpus.schema import Organisation
from matcher import MatchRequest, PartnerIndex
from matcher.ranking import SIGNALS, QuerySignals, calibration
from matcher.ranking.scoring import SentenceTerms, explanations
from matcher.ranking.signal import ShownOrganisation
from matcher.results import Matches, ScoreWeights
from tests.conftest import FIXTURE_CORPUS

QUERIES = ("recovering cobalt from mine tailings", "magnet recycling", "lithium brine", "acid mine drainage",
           "battery recycling black mass", "rare earth separation")


# ------------------------------------------------------------------------------------------- the order shown
@pytest.mark.parametrize("diversity", [0.0, 0.3, 0.9])
def test_the_score_shown_never_rises_down_the_list(fake_embedder, diversity):
    index = PartnerIndex(fake_embedder, diversity=diversity).fit(load_organisations(FIXTURE_CORPUS), load_challenges())
    for query in QUERIES:
        matches = index.rank(query, k=8)
        scores = [m.score for m in matches]
        assert scores == sorted(scores, reverse=True), (query, scores)
        bands = [calibration.BANDS.index(m.band) for m in matches]
        assert bands == sorted(bands), (query, bands)  # strong before good before possible before weak
        if diversity == 0.0:  # without diversity the list is in the order of the relative ranking score too
            relevance = [m.relevance for m in matches]
            assert relevance == sorted(relevance, reverse=True), (query, relevance)
        assert [m.rank for m in index.rank(query, k=8)] == list(range(1, len(scores) + 1))


def test_diversity_is_off_by_default():
    from matcher import Settings

    assert Settings().diversity == 0.0


# ------------------------------------------------------------------------------------------- the calibrated fit
def test_the_packaged_calibration_is_consistent():
    cal = calibration.load()
    assert set(cal.coef) == set(calibration.FEATURES)
    assert 0 < cal.bands["possible"] < cal.bands["good"] < cal.bands["strong"] < 1
    assert cal.weak_below == cal.bands["possible"]
    assert cal.model.startswith("sentence-transformers/all-MiniLM-L6-v2@") and "train" in cal.fitted_on
    # More evidence of every kind never lowers the fit.
    low = calibration.features(np.array([0.3]), np.array([0.1]), np.array([0.0]), 1)
    high = calibration.features(np.array([0.6]), np.array([0.4]), np.array([1.0]), 1)
    assert cal.fit(high)[0] > cal.fit(low)[0]
    assert cal.coef["semantic"] > 0 and cal.coef["lexical"] > 0 and cal.gate["coef"]["semantic"] > 0


def test_band_thresholds():
    cal = calibration.Calibration(coef=dict.fromkeys(calibration.FEATURES, 0.0), intercept=0.0,
                                  bands={"strong": 0.6, "good": 0.4, "possible": 0.2})
    assert [cal.band(f) for f in (0.99, 0.6, 0.5999, 0.4, 0.3, 0.2, 0.1999, 0.0)] == [
        "strong", "strong", "good", "good", "possible", "possible", "weak", "weak"]
    assert cal.weak_below == 0.2
    assert calibration.Calibration.from_dict(cal.to_dict()) == cal


def test_fit_is_absolute_not_relative_to_the_best_candidate(fake_embedder):
    """Remove a candidate from the search: the others' evidence and calibrated fit stay (they depend on the pair
    and on the query's best similarity, not on the pool's min and max); the first result is not shown near 1 just
    for being first, while its relative ranking score is 1."""
    index = PartnerIndex(fake_embedder).fit(load_organisations(FIXTURE_CORPUS), load_challenges())
    full = index.rank("recovering cobalt from mine tailings", k=6)
    removed = min(full[1:], key=lambda m: m.scores["semantic"]).organisation.id  # not the query's best similarity
    without = index.rank("recovering cobalt from mine tailings", k=6, exclude=[removed])
    cal = calibration.load()

    def raw_fit(m):
        on_topic = cal.on_topic(full.gate_semantic, full.evidence)
        return float(cal.fit({k: np.array([v]) for k, v in m.features.items()}, on_topic)[0])

    raw = {m.organisation.id: raw_fit(m) for m in full}
    assert all(abs(raw_fit(m) - raw[m.organisation.id]) < 1e-3 for m in without if m.organisation.id in raw)
    assert full[0].relevance == 1.0 and full[0].score < 0.9  # relevance 1.0 is only relative; the score is not
    assert all(m.score == m.fit and 0 <= m.score <= 1 for m in full)
    assert all(m.band in calibration.BANDS for m in full)


def test_pooling_in_blocks_keeps_each_rank_whatever_follows():
    """Pooled in blocks of 3, the first k values of a list are the same as those of any longer list."""
    fits = np.array([0.5, 0.6, 0.4, 0.45, 0.7, 0.1, 0.3])
    full = calibration.shown(fits, 3)
    assert full.round(4).tolist() == [0.55, 0.55, 0.4, 0.4, 0.4, 0.1, 0.1]  # each block held under the one above
    for n in (3, 6):
        assert calibration.shown(fits[:n], 3).tolist() == full[:n].tolist()
    assert list(np.diff(full) <= 1e-12) == [True] * 6
    assert [calibration.pool_depth(k, 25) for k in (1, 10, 11, 20, 30)] == [10, 10, 20, 20, 25]


@pytest.mark.parametrize("group_units", [False, True])
def test_a_results_score_does_not_depend_on_k(fake_embedder, group_units):
    index = PartnerIndex(fake_embedder, weak_below=0.2).fit(load_organisations(FIXTURE_CORPUS), load_challenges())
    for query in QUERIES:
        longest = [(m.organisation.id, m.score, m.band, m.weak)
                   for m in index.rank(query, k=25, group_units=group_units)]
        for k in (1, 2, 3, 5, 10, 11, 20):
            shown = [(m.organisation.id, m.score, m.band, m.weak)
                     for m in index.rank(query, k=k, group_units=group_units)]
            assert shown == longest[:k], (query, k)


def test_the_shown_fit_is_the_closest_non_increasing_sequence():
    """Fits that rise down the list are pooled to their mean (isotonic regression): the score never rises, the
    bands never climb back, and a list already in order is shown as it is."""
    assert calibration.shown(np.array([0.8, 0.5, 0.7, 0.2])).round(4).tolist() == [0.8, 0.6, 0.6, 0.2]
    assert calibration.shown(np.array([0.9, 0.4, 0.1])).tolist() == [0.9, 0.4, 0.1]
    assert calibration.shown(np.array([0.3])).tolist() == [0.3]
    assert calibration.shown(np.array([])).tolist() == []


def test_fit_and_band_are_in_every_result(matcher):
    out = matcher.match(MatchRequest(text="magnet recycling", k=3))
    for result in out["results"]:
        assert {"score", "scores", "fit", "band", "weak"} <= set(result)
        assert result["fit"] == round(result["fit"], 4)


# ------------------------------------------------------------------------------------------- the gate
PACKAGED = calibration.load()


def _calibration(**changes) -> calibration.Calibration:
    return dataclasses.replace(PACKAGED, **changes)


def test_gate_and_nothing_found_rules():
    cal = _calibration(gate={"coef": {"semantic": 1.0, "evidence": 2.7}, "intercept": -0.7, "line": 0.85},
                       empty={"semantic": 0.2, "lexical": 0.05})
    assert cal.gated(0.3, 0) and not cal.gated(0.5, 3)
    assert cal.on_topic(0.5, 3) > cal.on_topic(0.5, 1) > cal.on_topic(0.5, 0)
    assert cal.nothing_found(0, 0.1, 0.01)
    assert not cal.nothing_found(1, 0.1, 0.01)  # any domain evidence: never nothing
    assert not cal.nothing_found(0, 0.3, 0.01) and not cal.nothing_found(0, 0.1, 0.5)


def _match_under_a_strict_gate(matcher, monkeypatch, text: str) -> dict:
    """The engine's answer to ``text`` with a gate that judges every query off topic and a fit line of 0.2."""
    monkeypatch.setattr(calibration, "load", lambda: _calibration(
        gate={"coef": {"semantic": 0.0, "evidence": 0.0}, "intercept": 0.0, "line": 1.0},
        empty={"semantic": 2.0, "lexical": 2.0}))
    matcher.index_.weak_below = 0.2
    try:
        return matcher.match(MatchRequest(text=text, k=3))
    finally:
        matcher.index_.weak_below = None


def test_off_topic_without_evidence_is_answered_with_nothing(matcher, monkeypatch):
    out = _match_under_a_strict_gate(matcher, monkeypatch, "wedding photography in Ottawa")
    assert out["results"] == [] and out["message"].startswith("no good match")
    assert "weak_results_hidden" not in out


def test_a_good_query_with_weak_similarity_is_flagged_not_emptied(matcher, monkeypatch):
    """The same strict gate, a query naming a mineral and a process: every result shown, each flagged weak."""
    out = _match_under_a_strict_gate(matcher, monkeypatch, "recovering cobalt from old mine tailings")
    assert len(out["results"]) == 3 and all(r["weak"] and r["band"] == "weak" for r in out["results"])
    assert out["message"].startswith("weak fit: the brief reads as off topic")
    # The score shown agrees with the flag: every one is under the weak line, the best at most just under it.
    assert all(r["score"] == r["fit"] <= 0.2 - calibration.OFF_TOPIC_MARGIN for r in out["results"])


@pytest.mark.parametrize("text", ["cobalt", "tailings", "hydrometallurgical processing", "process mineralogy"])
def test_a_brief_naming_only_the_field_is_never_off_topic(matcher, monkeypatch, text):
    """Under a gate that judges every other query off topic, a brief of field words alone is on topic: its results
    are weak only where their own fit is, and the message never calls the brief off topic."""
    out = _match_under_a_strict_gate(matcher, monkeypatch, text)
    assert out["results"] and "off topic" not in out.get("message", "")
    assert all(r["weak"] == (r["fit"] < 0.2) for r in out["results"])


def test_gate_rules_field_words_foreign_words_then_the_model():
    cal = _calibration(gate={"coef": {"semantic": 0.0, "evidence": 0.0}, "intercept": 0.0, "line": 0.4,
                             "foreign_line": 0.56})
    assert not cal.gated(0.3, 1)  # the model: 0.5, over its line
    assert cal.gated(0.5, 3, foreign=2, field_words=2)  # as many foreign words as field words, nothing close
    assert not cal.gated(0.6, 3, foreign=2, field_words=2)  # ... but an organisation as close as the line
    assert not cal.gated(0.5, 3, foreign=1, field_words=2)  # fewer foreign words than field words
    strict = _calibration(gate={"coef": {"semantic": 0.0, "evidence": 0.0}, "intercept": 0.0, "line": 1.0,
                                "foreign_line": 1.0})
    assert strict.gated(0.9, 5) and strict.gated(0.9, 5, foreign=3, field_words=1)
    assert not strict.gated(0.1, 1, field_only=True, foreign=0, field_words=1)  # names the field and nothing else


def test_an_off_topic_query_is_shown_just_under_the_weak_line():
    cal = _calibration(bands={"strong": 0.6, "good": 0.4, "possible": 0.2})
    assert 0.65 * cal.off_topic_scale(0.65) == pytest.approx(0.19)
    assert cal.off_topic_scale(0.1) == 1.0 and cal.off_topic_scale(0.0) == 1.0
    assert 0.5 * cal.off_topic_scale(0.5, weak_below=0.3) == pytest.approx(0.29)


def test_the_gate_reads_the_whole_index_not_the_filters(fake_embedder):
    """The same brief under different countries and types: the same gate evidence (the best similarity of any
    organisation in the index, at least that of the best result) and the same decision."""
    index = PartnerIndex(fake_embedder, weak_below=0.2).fit(load_organisations(FIXTURE_CORPUS), load_challenges())
    for query in QUERIES + ("copper cookware for home chefs", "cobalt"):
        answers = [index.rank(query, k=3, countries=c, org_types=t)
                   for c, t in ((None, None), (["GB"], None), (["CA"], None), (None, ["university"]))]
        answers = [a for a in answers if a]
        assert len({round(a.gate_semantic, 6) for a in answers}) == 1, query
        assert len({a.gated for a in answers}) == 1, query
        assert all(a.gate_semantic >= a.best_semantic - 1e-6 for a in answers), query


def test_weak_exactly_when_the_score_is_under_the_weak_line(fake_embedder):
    index = PartnerIndex(fake_embedder, weak_below=calibration.load().weak_below).fit(
        load_organisations(FIXTURE_CORPUS), load_challenges())
    cal = calibration.load()
    for query in QUERIES + ("copper cookware for home chefs", "wedding photography in Ottawa"):
        for m in index.rank(query, k=8):
            assert m.score == m.fit and m.weak == (m.fit < cal.weak_below), (query, m.fit, m.weak)
            assert m.band == cal.band(m.fit), (query, m.fit, m.band)


def test_rank_reports_the_query_evidence(fake_embedder):
    index = PartnerIndex(fake_embedder, weak_below=0.2).fit(load_organisations(FIXTURE_CORPUS), load_challenges())
    matches = index.rank("recovering cobalt from mine tailings", k=3)
    assert isinstance(matches, Matches) and matches.evidence >= 1
    assert matches.best_semantic == pytest.approx(max(m.scores["semantic"] for m in matches), abs=1e-4)
    assert not matches.nothing_found


# ------------------------------------------------------------------------------------------- explanations
def _shown(description: str, stages=("recycling",)) -> ShownOrganisation:
    return ShownOrganisation.of(Organisation(id="a", name="Acme Lab", country="GB", org_type="company",
                                             description=description, value_chain_stages=list(stages)))


def _reason(query: QuerySignals, components: dict) -> str:
    shown = [_shown("Recovers cobalt from tailings at pilot scale.")]
    explain = explanations(SIGNALS, query, [1, 2], shown, [0.5], [1], ScoreWeights().as_dict())
    return explain(0, {"semantic": 0.61, "lexical": 0.7, "challenge_1": 0.9, "challenge_2": 0.8, **components})[
        "reason"]


def test_complementarity_and_challenge_are_named_only_when_asked():
    # The team's country gives a side of the chain, but the brief names no stage and no challenge is asked.
    silent = _reason(QuerySignals(set(), set(), True, set(), None), {"complementarity": 1.0})
    assert "value chain" not in silent and "challenge" not in silent
    assert "Acme" not in silent and "GB" not in silent and "company" not in silent  # the page shows them
    assert silent == "Similar in meaning to your brief and shares many of its key words."
    stages = _reason(QuerySignals(set(), {"extraction"}, True, set(), None), {"complementarity": 1.0})
    assert "other side of the value chain" in stages
    challenge = _reason(QuerySignals(set(), set(), None, set(), 2), {})
    assert "challenge two (circular economy)" in challenge and "challenge one" not in challenge
    unaligned = _reason(QuerySignals(set(), set(), None, set(), 2), {"challenge_2": 0.1})
    assert "challenge" not in unaligned


def test_complementarity_is_not_said_of_an_organisation_at_the_briefs_own_stages():
    """An organisation working at a stage the brief names is on the project's side: the reason says it works at the
    stages you name, never also that it is on the other side of the chain."""
    query = QuerySignals(set(), {"recycling"}, False, set(), None)
    own = explanations(SIGNALS, query, [1, 2], [_shown("Recycles magnets.", ("exploration", "extraction",
                                                                             "recycling"))],
                       [0.5], [1], ScoreWeights().as_dict())(0, {"semantic": 0.6, "challenge_1": 0.1, "challenge_2": 0.1, "complementarity": 0.67})["reason"]
    assert "works at the stages you name (recycling and recovery)" in own and "other side" not in own
    other = explanations(SIGNALS, query, [1, 2], [_shown("Explores for rare earths.", ("exploration", "extraction"))],
                         [0.5], [1], ScoreWeights().as_dict())(0, {"semantic": 0.6, "challenge_1": 0.1, "challenge_2": 0.1, "complementarity": 1.0})["reason"]
    assert "other side of the value chain" in other and "stages you name" not in other


def test_shared_stages_are_named_only_when_the_brief_names_stages():
    assert "stages" not in _reason(QuerySignals(set(), set(), None, set(), None), {})
    assert "works at the stages you name (recycling and recovery)" in _reason(
        QuerySignals(set(), {"recycling"}, None, set(), None), {}).lower()


def test_the_evidence_sentence_is_the_best_by_words_and_meaning():
    shown = [_shown("Our group works on many topics in materials science. "
                    "We recover cobalt and nickel from mine tailings by bioleaching.")]
    # By meaning alone the first sentence would lead; the second holds the brief's words.
    explain = explanations(SIGNALS, QuerySignals(set(), set(), None, set(), None), [1, 2], shown, [0.52, 0.48], [2],
                           {}, sentence_keywords=[0.0, 0.9], lexical_share=0.6)
    evidence = explain(0, {"semantic": 0.5, "challenge_1": 0.1, "challenge_2": 0.1})["evidence"]
    assert evidence[0]["text"].startswith("We recover cobalt") and evidence[0]["keywords"] == 0.9
    assert evidence[0]["similarity"] == 0.48
    # With no lexical share, meaning alone decides (the old behaviour).
    dense_only = explanations(SIGNALS, QuerySignals(set(), set(), None, set(), None), [1, 2], shown, [0.52, 0.48],
                              [2], {}, sentence_keywords=[0.0, 0.9], lexical_share=0.0)
    assert dense_only(0, {"semantic": 0.5, "challenge_1": 0.1, "challenge_2": 0.1})["evidence"][0]["text"].startswith(
        "Our group")


def test_sentence_terms_weigh_the_brief_words_by_idf(fake_embedder):
    index = PartnerIndex(fake_embedder).fit(load_organisations(FIXTURE_CORPUS), load_challenges())
    terms = SentenceTerms.of(index.lexical_, "cobalt tailings")
    assert terms.score("Cobalt from old tailings.") == pytest.approx(1.0)
    assert 0 < terms.score("Cobalt only.") < 1
    assert terms.score("Nothing relevant here.") == 0.0
    assert SentenceTerms.of(index.lexical_, "").score("cobalt") == 0.0


# ------------------------------------------------------------------------------------------- with the real model
@pytest.mark.integration
def test_off_topic_is_empty_or_weak_and_a_misspelt_query_is_answered(real_matcher):
    for text in ("wedding photography in Ottawa", "sourdough bread fermentation"):
        out = real_matcher.match(MatchRequest(text=text, countries=["CA"], k=5))
        assert out["results"] == [] or all(r["weak"] for r in out["results"]), text
        assert out["message"]
    out = real_matcher.match(MatchRequest(text="magnet recyclng", countries=["GB"], k=5))
    assert out["results"], out.get("message")
    scores = [r["score"] for r in out["results"]]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.integration
@pytest.mark.parametrize(("text", "countries"), [
    ("tailings", ["CA"]), ("cobalt", ["CA"]), ("cobalt", None), ("nickel", ["GB"]), ("graphite", ["GB"]),
    ("tin", ["GB"]), ("tellurium", None), ("indium", None), ("hydrometallurgy", None),
    ("hydrometallurgical processing", None), ("lithium", ["US"]), ("lithium", ["US", "GB"])])
def test_one_and_two_word_briefs_of_the_field_are_on_topic_whatever_the_filter(real_matcher, text, countries):
    out = real_matcher.match(MatchRequest(text=text, countries=countries or [], k=3))
    assert out["results"] and "message" not in out, out.get("message")
    assert not out["results"][0]["weak"] and out["results"][0]["band"] != "weak"
    for r in out["results"]:
        assert r["weak"] == (r["score"] < 0.2) and r["score"] == r["fit"]


@pytest.mark.integration
@pytest.mark.parametrize("text", ["data mining for retail analytics", "lithium as a treatment for bipolar disorder",
                                  "bitcoin mining rigs", "copper cookware", "sourdough bakery", "football coaching"])
def test_off_topic_traps_are_still_rejected(real_matcher, text):
    for countries in (None, ["GB"], ["CA"]):
        out = real_matcher.match(MatchRequest(text=text, countries=countries or [], k=5))
        assert all(r["weak"] and r["band"] == "weak" and r["score"] < 0.2 for r in out["results"]), (text, countries)
        assert out["message"]


@pytest.mark.integration
def test_magnet_recycling_scores_the_same_for_every_k_and_reasons_do_not_contradict(real_matcher):
    lists = {k: real_matcher.match(MatchRequest(text="magnet recycling", k=k))["results"] for k in (1, 2, 5, 10)}
    for k, results in lists.items():
        assert [(r["organisation"]["id"], r["score"]) for r in results] == [
            (r["organisation"]["id"], r["score"]) for r in lists[10][:k]], k
    for r in lists[5]:
        reason = r["explanation"]["reason"]
        assert not ("stages you name" in reason and "other side of the value chain" in reason), reason


def test_coverage_is_the_share_of_the_briefs_words_one_text_holds():
    """The gate's coverage: idf mass of the brief's stems held by the one text holding most, over the whole mass
    (a stem no text holds at the highest idf), so specialist words the corpus uses read as the field's own."""
    from matcher.retrieval.lexical import LexicalIndex, tokens

    lexical = LexicalIndex().fit(["fluid inclusion studies of tin veins", "fluid dynamics of tailings",
                                  "copper flotation", "gold assays"])
    assert calibration.coverage(lexical, tokens("fluid inclusion studies")) == pytest.approx(1.0)
    partly = calibration.coverage(lexical, tokens("fluid inclusion cookware"))  # "cookware": no text holds it
    assert 0 < partly < 2 / 3
    assert calibration.coverage(lexical, tokens("sourdough bread")) == 0.0
    assert calibration.coverage(lexical, []) == 0.0
    # The gate reads it: the same similarity and evidence, more coverage, a higher probability of being on topic.
    cal = calibration.load()
    assert cal.gate["coef"]["coverage"] > 0
    assert cal.on_topic(0.4, 0, 1.0) > cal.on_topic(0.4, 0, 0.2)


def test_a_brief_of_generic_words_only_is_covered_by_all_its_words(matcher):
    """"mineral resource governance" names no field term and no other content word (all three are generic): the
    gate's coverage then reads all its words, not none of them."""
    index = matcher.current_index()
    analysed = index.analyse_query("mineral resource governance")
    assert analysed.domain_evidence == 0 and analysed.other_terms == ()
    found = index.rank("mineral resource governance", k=3, explain=False)
    assert found.gate_coverage > 0
