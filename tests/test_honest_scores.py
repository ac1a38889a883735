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
        on_topic = cal.on_topic(max(x.features["semantic"] for x in full), full.evidence)
        return float(cal.fit({k: np.array([v]) for k, v in m.features.items()}, on_topic)[0])

    raw = {m.organisation.id: raw_fit(m) for m in full}
    assert all(abs(raw_fit(m) - raw[m.organisation.id]) < 1e-3 for m in without if m.organisation.id in raw)
    assert full[0].relevance == 1.0 and full[0].score < 0.9  # relevance 1.0 is only relative; the score is not
    assert all(m.score == m.fit and 0 <= m.score <= 1 for m in full)
    assert all(m.band in calibration.BANDS for m in full)


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
    out = _match_under_a_strict_gate(matcher, monkeypatch, "recovering cobalt from mine tailings")
    assert len(out["results"]) == 3 and all(r["weak"] and r["band"] == "weak" for r in out["results"])
    assert out["message"].startswith("weak fit: the brief reads as off topic")


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
