"""Query analysis (matcher.query): normalised texts for both retrievers, minerals from symbols, the French path,
long briefs read as passages with weighted BM25 terms, domain evidence, and the short path left as it was."""

from __future__ import annotations

import numpy as np
import pytest

from corpus import load_challenges, load_organisations
from corpus.schema import Organisation
from embeddings import FakeEmbedder
from matcher import PartnerIndex
from matcher.query import LONG_BRIEF_WORDS, STEPS, AnalysedQuery, QueryAnalyser, QueryStep, QueryVocabulary
from matcher.query.passages import WORD_BUDGET, best_passages
from matcher.retrieval.hybrid import HybridRetriever
from matcher.retrieval.lexical import LexicalIndex, tokens
from tests.conftest import FIXTURE_CORPUS

NEED = "We are seeking partners who reprocess mine tailings to recover cobalt and nickel and prevent acid mine drainage."
CONTEXT = [
    "Canada has set out a national strategy for the sectors that will matter over the coming decades.",
    "The federal and provincial governments have funded a wide range of programmes across the country.",
    "Our team brings together engineers, economists and social scientists from three institutions.",
    "The project will run for four years and train graduate students and postdoctoral fellows.",
    "In the first year we will review the literature and hold workshops with communities and industry.",
    "Results will be published openly and shared with regulators, companies and the public.",
    "The programme builds on a decade of collaboration between the partners and their regional networks.",
    "Expected impacts include new skills, better decisions and stronger links between the two countries.",
    "A steering committee will meet twice a year to review progress against the milestones.",
    "Knowledge mobilisation activities include policy briefs, webinars and a final conference.",
    "The project also supports early career researchers through mentoring and exchange visits.",
    "Equity, diversity and inclusion are built into recruitment and supervision throughout the programme.",
]


def spy_on_retrieve(monkeypatch) -> dict:
    """What ``rank`` passes to the retriever (its text and keyword arguments), recorded on every call."""
    calls: dict = {}
    original = HybridRetriever.retrieve

    def spy(self, text, query, allowed, k, **kwargs):
        calls.update(text=text, **kwargs)
        return original(self, text, query, allowed, k, **kwargs)

    monkeypatch.setattr(HybridRetriever, "retrieve", spy)
    return calls


def long_brief(need: str = NEED, at: int = 6) -> str:
    return " ".join(CONTEXT[:at] + [need] + CONTEXT[at:])


@pytest.fixture(scope="module")
def index() -> PartnerIndex:
    return PartnerIndex(FakeEmbedder(dim=256)).fit(load_organisations(FIXTURE_CORPUS), load_challenges())


def test_steps_form_one_registry_of_one_class_each():
    assert [s.name for s in STEPS] == ["normalise", "french_leftovers", "domain_terms", "passages", "term_weights"]
    assert all(isinstance(s, QueryStep) for s in STEPS)
    assert len({type(s).__module__ for s in STEPS}) == len(STEPS)  # one module per step


def test_the_analyser_normalises_symbols_for_both_sides_and_reads_their_minerals(index):
    analysed = index.analyse_query("Recovering Li, Co and Ni from LIB black mass")
    assert "lithium" in analysed.dense_text and "cobalt" in analysed.dense_text and "nickel" in analysed.dense_text
    assert analysed.lexical_text == analysed.dense_text  # English: both sides read the same normalised text
    assert {"lithium", "cobalt", "nickel"} <= set(analysed.minerals)
    assert "Li" in analysed.dense_text  # the original stays for exact matches
    # Prose capitals are not elements.
    assert index.analyse_query("In this project we map deposits").minerals == ()


def test_misspellings_are_corrected_against_the_index_vocabulary(index):
    analysed = index.analyse_query("recyling of lithum batteries")
    assert {(c.original, c.corrected) for c in analysed.corrections} == {("recyling", "recycling"),
                                                                         ("lithum", "lithium")}
    assert "recycling" in analysed.dense_text and "lithium" in analysed.dense_text
    assert "lithium" in analysed.minerals


def test_a_misspelt_query_ranks_as_its_correct_form(index):
    misspelt = [m.organisation.id for m in index.rank("recyling of lithum batteries", k=3, explain=False)]
    correct = [m.organisation.id for m in index.rank("recycling of lithium batteries", k=3, explain=False)]
    assert misspelt == correct


def test_minerals_from_symbols_reach_the_query_signals(index, monkeypatch):
    seen = {}
    from matcher.ranking import scoring

    original = scoring.combine

    def spy(signals, weights, data, query):
        seen["query"] = query
        return original(signals, weights, data, query)

    monkeypatch.setattr(scoring, "combine", spy)
    index.rank("NdFeB and Dy recovery", k=3, explain=False)
    assert "rare_earth_elements" in seen["query"].minerals
    assert seen["query"].domain_evidence >= 1


def test_domain_evidence_counts_the_field_and_is_zero_off_topic(index):
    assert index.analyse_query("wedding photography in Ottawa").domain_evidence == 0
    assert index.analyse_query("bioleaching of cobalt from mine tailings").domain_evidence >= 3
    # a symbol or trade term is evidence too
    assert index.analyse_query("REE").domain_evidence >= 1


def test_a_brief_of_field_words_alone_is_field_only_and_other_subjects_are_kept(index):
    """``other_terms``: what else a brief is about (not field, generic or function words, nor two-letter symbols);
    ``field_only``: it names the field and nothing else, which the off-topic gate never overrules."""
    for text in ("cobalt", "tailings", "hydrometallurgical processing", "magnet recycling", "process mineralogy"):
        analysed = index.analyse_query(text)
        assert analysed.field_only and analysed.other_terms == () and analysed.field_words >= 1, text
    trap = index.analyse_query("lithium as a treatment for bipolar disorder")
    assert not trap.field_only and {"bipolar", "disord"} <= set(trap.other_terms) and "lithium" in trap.domain_terms
    assert trap.field_words == sum(1 for t in trap.domain_terms if ":" not in t)
    assert "ni" not in index.analyse_query("Ni and Cu in tailings").other_terms  # a symbol is not another subject
    nothing = index.analyse_query("wedding photography in Ottawa")
    assert not nothing.field_only and nothing.field_words == 0 and nothing.other_terms


def test_a_french_brief_is_translated_before_retrieval(index, monkeypatch):
    french = ("Nous cherchons des partenaires pour le recyclage des aimants permanents au néodyme récupérés dans "
              "les moteurs électriques.")
    analysed = index.analyse_query(french)
    assert analysed.language == "fr" and analysed.translated is not None
    assert "recycling" in analysed.dense_text and "magnets" in analysed.dense_text
    assert "cherchons" not in analysed.dense_text  # French leftovers are not read by the model
    assert french in analysed.lexical_text  # BM25 still reads the original (French names)
    assert analysed.lexical_terms is not None and "des" not in analysed.lexical_terms  # no French stop words
    calls = spy_on_retrieve(monkeypatch)
    index.rank(french, k=3, explain=False)
    assert "recycling" in calls["text"]


def test_a_french_brief_ranks_like_its_english_twin(index):
    french = ("Nous cherchons des partenaires pour le recyclage des aimants permanents au néodyme récupérés dans "
              "les moteurs électriques.")
    english = "We are looking for partners to recycle neodymium permanent magnets recovered from electric motors."
    fr = [m.organisation.id for m in index.rank(french, k=3, explain=False)]
    en = [m.organisation.id for m in index.rank(english, k=3, explain=False)]
    assert fr[0] == en[0] == "fx-magnet-recyclers"


def test_short_briefs_take_the_unchanged_path(index, monkeypatch):
    brief = "cobalt and nickel from mine tailings"
    analysed = index.analyse_query(brief)
    assert not analysed.long and analysed.passages == () and analysed.lexical_terms is None
    assert analysed.dense_texts == (brief,)
    calls = spy_on_retrieve(monkeypatch)
    fake = index.embedder
    before = fake.texts_encoded
    index._query_vectors.cache_clear()
    index.rank(brief, k=3, explain=False)
    assert calls == {"text": brief, "passages": None, "lexical_terms": None, "alpha": 0.6}  # six words: not short
    assert fake.texts_encoded == before + 1  # one text encoded, as before


def test_long_briefs_are_split_into_short_passages_led_by_the_need():
    brief = long_brief()
    assert len(brief.split()) >= LONG_BRIEF_WORDS
    passages = best_passages(brief)
    assert NEED in passages[0]  # with a neighbour when it is short
    assert sum(len(p.split()) for p in passages) <= max(WORD_BUDGET, len(NEED.split()))
    assert all(p in brief for p in passages)


def test_a_long_brief_is_read_as_passages_with_weighted_terms(index):
    analysed = index.analyse_query(long_brief())
    assert analysed.long and NEED in analysed.passages[0]
    terms = analysed.lexical_terms
    assert terms is not None
    # Field words count more than the proposal's generic words.
    assert terms[tokens("tailings")[0]] > terms[tokens("programme")[0]]
    # Each passage gets the vector it gets as a query of its own (through the same cache).
    first, others = index.query_vectors(analysed)
    np.testing.assert_array_equal(first, index.encode_query(analysed.passages[0]))
    if len(analysed.passages) > 1:
        assert others is not None and len(others) == len(analysed.passages) - 1
        np.testing.assert_array_equal(others[0], index.encode_query(analysed.passages[1]))


@pytest.mark.parametrize("at", [0, 6, 12])
def test_a_long_brief_finds_what_its_need_sentence_finds(index, at):
    short = [m.organisation.id for m in index.rank(NEED, k=3, explain=False)]
    long = [m.organisation.id for m in index.rank(long_brief(at=at), k=3, explain=False)]
    assert long[0] == short[0] == "fx-tailings-lab"


def test_weighted_bm25_equals_plain_bm25_with_counts_as_weights():
    texts = ["cobalt tailings cobalt", "magnet recycling", "nickel cobalt smelter", "tailings dam safety"]
    lexical = LexicalIndex().fit(texts)
    query = "cobalt cobalt tailings recycling"
    from collections import Counter

    np.testing.assert_allclose(lexical.weighted_scores(Counter(tokens(query))), lexical.scores(query), rtol=1e-6)
    assert not lexical.weighted_scores({"unknownterm": 1.0}).any()


def test_the_vocabulary_follows_writes_and_loads(index, tmp_path):
    orgs = load_organisations(FIXTURE_CORPUS)
    new = Organisation(id="fx-new", name="New Lab", country="GB", org_type="university",
                       description="Studies zirconolite wasteforms and scandium recovery from bauxite residue.")
    derived = index.with_changes([new], ["fx-magnet-maker"])
    fresh = PartnerIndex(index.embedder).fit([o for o in orgs if o.id != "fx-magnet-maker"] + [new], load_challenges())
    assert derived.analyser_.vocabulary.counts == fresh.analyser_.vocabulary.counts
    assert "zirconolite" in derived.analyser_.vocabulary.counts and "zirconolite" not in index.analyser_.vocabulary.counts
    assert derived.analyser_ is not index.analyser_
    path = index.save(tmp_path / "index.pm")
    loaded = PartnerIndex.load(path, index.embedder, orgs, load_challenges())
    assert loaded.analyser_.vocabulary.counts == index.analyser_.vocabulary.counts


def test_an_analyser_runs_its_steps_in_order():
    class Upper(QueryStep):
        name = "upper"

        def apply(self, query: AnalysedQuery, analyser: QueryAnalyser) -> AnalysedQuery:
            from dataclasses import replace

            return replace(query, dense_text=query.dense_text.upper())

    analyser = QueryAnalyser(QueryVocabulary(), steps=[Upper()])
    assert analyser.analyse("cobalt").dense_text == "COBALT"
    assert analyser.analyse("cobalt") is analyser.analyse("cobalt")  # analyses are cached


def test_symbols_are_spelled_out_but_a_mineral_written_in_words_is_not_renamed(index):
    assert "(rare earth elements)" in index.analyse_query("REE separation").dense_text
    assert "(uranium oxide concentrate)" in index.analyse_query("yellowcake refining").dense_text
    analysed = index.analyse_query("rare earth magnet recycling")
    assert analysed.dense_text == "rare earth magnet recycling"
    assert "rare_earth_elements" in analysed.minerals  # recognised all the same


def test_a_long_brief_searches_an_approximate_index_like_an_exact_one():
    from tests.test_index import synthetic_orgs

    orgs = synthetic_orgs(1500)
    fake = FakeEmbedder(256)
    exact = PartnerIndex(fake, diversity=0).fit(orgs, load_challenges())
    approximate = PartnerIndex(fake, diversity=0, ann_threshold=500, nprobe=64).fit(orgs, load_challenges())
    assert approximate.dense_.mode == "ivf"
    brief = long_brief("We are seeking partners who study lithium cobalt smelter tailings, battery recycling and "
                       "reclamation water sensors with long experience of magnet recycling.")
    assert len(exact.analyse_query(brief).passages) >= 1
    top = [m.organisation.id for m in exact.rank(brief, k=10)]
    found = [m.organisation.id for m in approximate.rank(brief, k=10)]
    assert len(set(top) & set(found)) >= 8


def test_plain_english_skips_language_detection_only_where_detection_would_say_english():
    from corpus.french import detect_language
    from matcher.query.normalise import plainly_english

    english = "Seeking UK partners with hydrogen processing of magnet scrap to recycle magnets from motors"
    assert plainly_english(english) and detect_language(english).language == "en"
    for text in ("lixiviation minerai cuivre",  # too short to skip: detection reads it as French
                 "Recyclage des aimants permanents au néodyme récupérés dans les moteurs",
                 "procédé de lixiviation pour le cuivre et le cobalt des résidus miniers"):
        assert not plainly_english(text)
    assert detect_language("lixiviation minerai cuivre").language == "fr"


def test_key_terms_leave_out_generic_and_function_words():
    analyser = QueryAnalyser(QueryVocabulary())
    short = analyser.analyse("University team will develop methods used for cobalt recovery from mine tailings")
    assert short.key_terms == {"cobalt", "recoveri", "mine", "tail"}
    # A long brief: only its field terms (the ones TermWeights weighs fully), never the proposal's own words.
    long_text = ("The university project will develop new approaches and train students with industry partners. "
                 * 8 + "We need partners in rare earth separation by solvent extraction from mine tailings.")
    long = analyser.analyse(long_text)
    assert long.long and {"rare", "earth", "solvent", "extract", "tail"} <= long.key_terms
    assert {"univers", "develop", "student", "partner", "train", "from"}.isdisjoint(long.key_terms)


def test_everyday_phrases_get_the_field_words_in_short_english_briefs_only():
    analyser = QueryAnalyser(QueryVocabulary())
    short = analyser.analyse("What is the carbon footprint of our lithium refinery?")
    assert "(life cycle assessment greenhouse gas emissions)" in short.dense_text
    assert "life cycle assessment" in short.lexical_text
    # A summary states its need in the field's own words; its everyday phrases are left as written.
    summary = ("Our team studies lithium refining in northern Quebec with industry and community partners. " * 9
               + "We also want to know the carbon footprint of the refinery.")
    long = analyser.analyse(summary)
    assert long.long and "life cycle assessment" not in long.dense_text and "carbon footprint" in long.dense_text
    # French is translated first; the lexicon of everyday phrases is English and is not applied to a translation.
    french = analyser.analyse("Nous voulons connaître l'empreinte carbone de notre raffinerie de lithium")
    assert french.language == "fr" and "carbon footprint" in french.dense_text
    assert "greenhouse gas emissions" not in french.dense_text
