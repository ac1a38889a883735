"""Query normalisation: element symbols read in context, formulas, abbreviations, mineral terms, spelling
correction against an index vocabulary, and the QueryNormaliser that chains them (French is in test_french.py)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corpus import vocab
from corpus.normalise import (
    ABBREVIATION,
    ELEMENT,
    FORMULA,
    TERM,
    PLAIN_LANGUAGE,
    NormalisedBrief,
    QueryNormaliser,
    SpellingCorrector,
    abbreviations,
    elements,
    expand,
    max_distance,
    normalise_query,
    parse_formula,
    protected_words,
    recognise,
    word_frequencies,
)


def minerals_of(text: str) -> tuple[str, ...]:
    return normalise_query(text).minerals


def texts_of(text: str) -> list[str]:
    return [r.text for r in recognise(text)]


# ------------------------------------------------------------------------------------------------ symbols vs prose


def test_in_as_preposition_and_as_indium():
    brief = "In this project we study In and Ga recovery"
    found = recognise(brief)
    assert [(r.text, r.start) for r in found] == [("In", 25), ("Ga", 32)]
    assert [r.minerals for r in found] == [("indium",), ("gallium",)]
    out = normalise_query(brief)
    assert out.minerals == ("indium", "gallium")
    assert out.text == "In this project we study In (indium) and Ga (gallium) recovery"
    assert out.text.count("indium") == 1 and out.text.count("gallium") == 1


@pytest.mark.parametrize("text", [
    "Co-operative research between universities.",
    "A Co-operative of mining communities.",
    "The Co-PI leads the fieldwork.",
    "Co-design of closure plans with communities.",
    "Co recovery is not the aim here.",  # a sentence start is prose
    "Supplied by Smith & Co. Ltd in Leeds.",
    "Supplied by Smith and Co. Ltd in Leeds.",
])
def test_co_in_prose_is_not_cobalt(text):
    assert "cobalt" not in minerals_of(text)


@pytest.mark.parametrize("text", [
    "In 2024 the consortium began.",
    "As a result, the yield rose.",
    "He leads the group; Be ready.",
    "See Appendix C and Table P.",
    "The U of T team and the K-feldspar samples.",
    "Offices in BC, NB and ON.",
    "A MoU signed at COP28 under H2020.",
    "Work by Dr Li and Prof. Li, as in Li et al. and Li's review.",
    "In-situ measurements.",
    "Bi-annual review meetings.",
])
def test_prose_is_not_read_as_elements(text):
    assert minerals_of(text) == ()
    assert [r for r in recognise(text) if r.kind in (ELEMENT, FORMULA)] == []


def test_symbol_lists():
    assert minerals_of("Li, Co and Ni from spent cells") == ("lithium", "cobalt", "nickel")
    out = normalise_query("Li, Co and Ni").text
    assert out == "Li (lithium), Co (cobalt) and Ni (nickel)"
    found = recognise("Nd/Pr/Dy/Tb separation")
    assert [r.expansion for r in found] == ["neodymium", "praseodymium", "dysprosium", "terbium"]
    assert {m for r in found for m in r.minerals} == {"rare_earth_elements"}
    assert minerals_of("U, Th and Pb isotopes") == ("uranium",)  # thorium and lead have no vocabulary id
    assert texts_of("U, Th and Pb isotopes") == ["U", "Th", "Pb"]
    assert texts_of("Nd-Fe-B magnets") == ["Nd-Fe-B"]


def test_ambiguous_symbol_mid_sentence_after_a_lower_case_word():
    assert texts_of("We are recovering Co from black mass.") == ["Co", "black mass"]
    assert minerals_of("We are recovering Co from spent cells.") == ("cobalt",)
    assert texts_of("we remove As from mine water") == ["As"]  # arsenic: recognised, with no vocabulary id
    assert minerals_of("we remove As from mine water") == ()
    assert "In" in texts_of("the In content of zinc concentrates")
    assert "In" not in texts_of("Advances In Zinc Processing")  # title case


def test_unambiguous_symbols_alone_and_hyphenated():
    assert minerals_of("Nb-bearing pyrochlore") == ("niobium",)
    assert minerals_of("Li-ion cells") == ("lithium",)
    assert minerals_of("Ni-rich cathodes") == ("nickel",)
    # Symbols are exact case: lower-case or upper-case words are not symbols.
    assert minerals_of("in the ni and NI documents") == ()


def test_single_letters_only_in_lists_with_a_two_letter_symbol():
    assert minerals_of("W and V") == ()
    assert minerals_of("W, V and Mo alloys") == ("tungsten", "vanadium", "molybdenum")


# ------------------------------------------------------------------------------------------- formulas and terms


@pytest.mark.parametrize("form, words, mineral", [
    ("Li2CO3", "lithium carbonate", "lithium"),
    ("LiOH", "lithium hydroxide", "lithium"),
    ("UO3", "uranium trioxide", "uranium"),
    ("U3O8", "triuranium octoxide", "uranium"),
    ("FeNb", "ferroniobium", "niobium"),
    ("NdFeB", "neodymium iron boron", "rare_earth_elements"),
    ("CaF2", "calcium fluoride", "fluorspar"),
])
def test_formulas(form, words, mineral):
    out = normalise_query(f"Production of {form} at scale")
    assert out.recognised[0].kind == FORMULA and out.recognised[0].text == form
    assert words in out.text and form in out.text
    assert mineral in out.minerals


def test_formulas_not_in_the_data_file_are_spelled_out():
    found = recognise("Leaching with CuSO4 and NiCl2")
    assert [(r.text, r.expansion, r.minerals) for r in found] == [
        ("CuSO4", "copper sulfur oxygen", ("copper",)), ("NiCl2", "nickel chlorine", ("nickel",))]


@pytest.mark.parametrize("token, parts", [
    ("Li2CO3", [("Li", 2), ("C", 1), ("O", 3)]),
    ("H2O", [("H", 2), ("O", 1)]),
    ("CH4", [("C", 1), ("H", 4)]),
    ("Nd2Fe14B", [("Nd", 2), ("Fe", 14), ("B", 1)]),
    ("LiOH", None),  # no digit: read only through abbreviations.json
    ("BC", None), ("CNC", None), ("MoU", None), ("COP28", None), ("H2020", None), ("B2B", None),
    ("Q3", None), ("PhD", None), ("InSAR", None), ("Li", None), ("X2O", None), ("Fe01", None),
    ("ReLiB", None), ("Li4UK", None), ("CV5", None), ("CV13", None),
])
def test_parse_formula(token, parts):
    assert parse_formula(token) == parts


@pytest.mark.parametrize("form, words", [
    ("REE", "rare earth elements"), ("PGM", "platinum group metals"), ("PGMs", "platinum group metals"),
    ("LIB", "lithium-ion battery"), ("LIBs", "lithium-ion battery"), ("AMD", "acid mine drainage"),
    ("DLE", "direct lithium extraction"), ("HREE", "heavy rare earth elements"),
    ("LREE", "light rare earth elements"), ("CRM", "critical raw materials"), ("EV", "electric vehicle"),
    ("LIBS", "laser-induced breakdown spectroscopy"), ("NI 43-101", "National Instrument 43-101"),
])
def test_abbreviations(form, words):
    out = normalise_query(f"Our work on {form} is new.")
    assert out.recognised[0].kind == ABBREVIATION and out.recognised[0].text == form
    assert f"{form} ({words}" in out.text


def test_abbreviations_need_exact_case():
    assert recognise("a dle and lib study of amd") == []
    assert texts_of("they are Amd") == []


@pytest.mark.parametrize("text, mineral", [
    ("black mass from shredded cells", "cobalt"),
    ("iron oxide tailings", "high_purity_iron"),
    ("Ferroniobium production", "niobium"),
    ("yellowcake transport", "uranium"),
    ("spodumene concentrate", "lithium"),  # a minerals.json synonym
    ("rare earths", "rare_earth_elements"),
])
def test_mineral_terms(text, mineral):
    assert mineral in minerals_of(text)


def test_terms_match_any_case_but_whole_words():
    assert [r.kind for r in recognise("BLACK MASS and Black Mass")] == [TERM]  # one written form, first mention
    assert recognise("ironoxide") == []


def test_longest_candidate_wins():
    found = recognise("lithium carbonate and SX-EW copper")
    assert [r.text for r in found] == ["lithium carbonate", "SX-EW", "copper"]


def test_expansion_is_not_repeated_when_already_spelled_out():
    text = "lithium carbonate (Li2CO3) plants"
    assert normalise_query(text).text == text
    assert normalise_query("Li and Li again").text == "Li (lithium) and Li again"


def test_expand_inserts_after_each_span():
    text = "REE and PGM"
    assert expand(text, recognise(text)) == "REE (rare earth elements) and PGM (platinum group metals)"


# ----------------------------------------------------------------------------------------------- data integrity


def test_data_files_refer_to_existing_minerals_and_elements():
    known = set(vocab.minerals())
    for a in abbreviations().values():
        assert a.expansion and a.kind in (ABBREVIATION, FORMULA, TERM), a
        assert set(a.minerals) <= known, a
        assert "(" not in a.expansion, a  # expansions are inserted in brackets
    table = elements()
    assert len(table) == 94
    for element in table.values():
        assert element.mineral is None or element.mineral in known
    for m in vocab.minerals().values():  # every element-shaped symbol of minerals.json has an element
        for alias in (m.symbol, *m.synonyms):
            if re.fullmatch(r"[A-Z][a-z]?", alias):
                assert alias in table and table[alias].mineral == m.id, alias
    assert table["Co"].ambiguous and table["In"].ambiguous and not table["Li"].ambiguous
    assert table["Nd"].mineral == "rare_earth_elements" and table["Pt"].mineral == "platinum_group_metals"
    assert table["Sc"].mineral == "scandium"  # its own vocabulary entry, not the rare earth group


def test_every_formula_in_the_data_file_parses_or_is_named():
    for a in abbreviations().values():
        if a.kind == FORMULA and "·" not in a.form:
            assert all(s in elements() for s in re.findall(r"[A-Z][a-z]?", a.form)), a.form


# ------------------------------------------------------------------------------------------ plain-language phrases


@pytest.mark.parametrize("brief, words", [
    ("We shred old batteries and sell what comes out.", "battery recycling mechanical pre-treatment black mass"),
    ("What is the carbon footprint of our refinery?", "life cycle assessment greenhouse gas emissions"),
    ("How do we stop the pit water being acidic?", "acid mine drainage acid rock drainage"),
    ("We want to get the land back to nature after the mine closes.", "mine reclamation ecological restoration"),
    ("We use too much electricity crushing rock.", "comminution crushing grinding"),
    ("Buyers ask where our metals come from.", "supply chain traceability provenance"),
    ("Getting metals from old phones", "e-waste metal recovery urban mining"),
])
def test_plain_language_briefs_get_the_technical_terms(brief, words):
    out = normalise_query(brief)
    assert f"({words})" in out.text
    assert re.sub(r" \([^)]*\)", "", out.text) == brief  # only inserted: the brief's own words are kept
    assert TERM in {r.kind for r in out.recognised}


@pytest.mark.parametrize("text", [
    "We apply data mining to recycling paper records.",  # 'mining' and 'recycling' of other things
    "The office in Salt Lake City was the first nation-wide hub.",  # no 'salt lake', no 'first nation'
    "Norway was the first nation to ratify the treaty.",
    "The most commonly used catalysts in photoredox chemistry are dyes.",
    "Crushing defeat for the team; they were breaking records all season.",
])
def test_look_alike_phrases_outside_the_field_are_left_alone(text):
    assert normalise_query(text).text == text
    assert recognise(text) == []


def test_the_longest_plain_language_phrase_wins():
    # 'pit water' and 'pit water being acidic' are both forms: the longer one is read, as for abbreviations.
    assert texts_of("the pit water being acidic") == ["pit water being acidic"]
    assert texts_of("old mine waste and an old mine") == ["old mine waste", "old mine"]


def test_a_phrase_that_names_a_mineral_keeps_it():
    out = normalise_query("separating rare earths cheaply")
    assert out.minerals == ("rare_earth_elements",)
    assert "(rare earth separation solvent extraction)" in out.text


def test_plain_language_entries_are_phrases_with_new_forms():
    plain = [a for a in abbreviations().values() if a.note == PLAIN_LANGUAGE]
    assert len(plain) > 150
    mineral_words = {alias.lower() for m in vocab.minerals().values() for alias in (m.name, *m.synonyms)}
    for a in plain:
        assert a.kind == TERM and len(re.findall(r"[\w'’]+", a.form)) >= 2, a.form  # single words are too ambiguous
        assert a.form.lower() not in mineral_words, a.form
        assert a.expansion.lower() != a.form.lower(), a.form
    forms = [a.form.lower() for a in abbreviations().values() if a.kind == TERM]
    assert len(forms) == len(set(forms))  # no form given twice, in any case


# ---------------------------------------------------------------------------------------------------- spelling

VOCABULARY = {
    "lithium": 40, "cobalt": 25, "nickel": 30, "recycling": 50, "tailings": 35, "hydrometallurgy": 12,
    "graphite": 15, "mining": 60, "separation": 20, "magnet": 10, "magnets": 14, "geochemistry": 8,
    "mine": 45, "mind": 4, "mint": 4, "sudbury": 5, "lixiviant": 1, "jarosite": 1, "smelting": 9,
    "leach": 10, "reach": 11, "from": 90, "with": 90, "the": 99, "and": 99, "of": 99, "cathode": 6, "mineral": 20, "minerals": 30,
}


@pytest.fixture(scope="module")
def corrector() -> SpellingCorrector:
    return SpellingCorrector(VOCABULARY, min_frequency=3)


@pytest.mark.parametrize("wrong, right", [
    ("litium", "lithium"), ("cobolt", "cobalt"), ("nickle", "nickel"), ("recyling", "recycling"),
    ("tailngs", "tailings"), ("hydrometalurgy", "hydrometallurgy"), ("graphyte", "graphite"),
    ("minning", "mining"), ("seperation", "separation"), ("geochemestry", "geochemistry"),
])
def test_misspellings_are_corrected(corrector, wrong, right):
    text, corrections = corrector.correct(f"work on {wrong} now")
    assert text == f"work on {right} now"
    assert [(c.original, c.corrected) for c in corrections] == [(wrong, right)]


def test_no_over_correction(corrector):
    for text in [
        "lixiviant and jarosite",  # rare words of the vocabulary (document frequency 1)
        "cathodic smelter",  # inflections of vocabulary words (same English stem)
        "yellowcake ferroniobium",  # words the data files spell
        "Li2CO3 NdFeB LIBs 2024 3D",  # formulas, abbreviations, numbers
        "near Sudburry and Saskatoon",  # capitalised mid-sentence: names
        "ion ore zinc",  # short words
        "we will mapp the site",  # a stop word untouched; 'mapp' has no candidate
    ]:
        assert corrector.correct(text) == (text, []), text


def test_only_frequent_words_are_suggested(corrector):
    # 'jarosite' (1 document) is below min_frequency, so 'jarosyte' has no correction.
    assert corrector.suggest("jarosyte") is None
    assert SpellingCorrector(VOCABULARY, min_frequency=1).suggest("jarosyte") == ("jarosite", 1)


def test_distance_depends_on_length(corrector):
    assert [max_distance(w) for w in ("ore", "mine", "tailngs", "hydrometalurgy")] == [0, 1, 1, 2]
    assert corrector.suggest("meach") is None  # 'leach' and 'reach' tie at one edit: no clear correction
    assert corrector.suggest("minx") == ("mine", 1)  # 'mind' and 'mint' are as close but far rarer
    assert corrector.suggest("grpahtie") == ("graphite", 2)  # two swapped pairs: two edits
    assert corrector.suggest("grphte") is None  # two edits, but six letters allow one
    assert corrector.suggest("lthium") == ("lithium", 1)


def test_ties_between_inflections_pick_the_commoner(corrector):
    assert corrector.suggest("magnett") == ("magnets", 1)


def test_sentence_start_keeps_its_capital(corrector):
    assert corrector.correct("Litium from brines. Cobolt too.")[0] == "Lithium from brines. Cobalt too."


def test_word_frequencies_count_documents():
    assert word_frequencies(["Lithium lithium cobalt", "lithium 2024"]) == {"lithium": 2, "cobalt": 1}


def test_protected_words_include_data_file_words():
    words = protected_words()
    assert {"yellowcake", "ferroniobium", "neodymium", "spodumene", "hydrometallurgy", "the"} <= words


# ------------------------------------------------------------------------------------------------- normaliser


def test_normaliser_corrects_then_expands():
    normaliser = QueryNormaliser(VOCABULARY)
    out = normaliser("litium and cobolt recyling from LIBs")
    assert isinstance(out, NormalisedBrief)
    assert out.language == "en" and out.translated is None
    assert out.text == "lithium and cobalt recycling from LIBs (lithium-ion battery)"
    assert [c.corrected for c in out.corrections] == ["lithium", "cobalt", "recycling"]
    assert out.minerals == ("lithium", "cobalt")


def test_normaliser_without_vocabulary_does_not_correct():
    out = QueryNormaliser()("litium")
    assert out.text == "litium" and out.corrections == ()


def test_normaliser_translates_french_then_expands():
    out = QueryNormaliser(VOCABULARY)("Recyclage du Li, Co et Ni à partir de la masse noire.")
    assert out.language == "fr"
    assert out.translated == "recycling Li, Co and Ni from black mass."
    assert "Li (lithium), Co (cobalt) and Ni (nickel)" in out.text
    assert out.minerals[:3] == ("lithium", "cobalt", "nickel")


def test_normaliser_can_leave_french_untranslated():
    out = QueryNormaliser(translate=False)("Recyclage des terres rares")
    assert out.language == "fr" and out.translated is None
    assert out.text == "Recyclage des terres rares" and out.minerals == ()


def test_empty_brief():
    out = normalise_query("")
    assert out.text == "" and out.recognised == () and out.minerals == ()


def test_minerals_hyphenated_into_longer_words_are_still_read():
    assert minerals_of("lithium-rich brines and tin-bearing veins") == ("lithium", "tin")
    assert texts_of("the content of (In) in zinc") == ["In", "zinc"]


# ------------------------------------------------------------------------------------------------------ property

PIECES = ["In", "Co", "Li", "Ni", "Nd", "U", "C", "As", "REE", "LIB", "U3O8", "CuSO4", "lithium", "black mass",
          "Dr", "'s", "et al", "and", "this", "-", "/", ",", ".", " ", " ", "(", ")", "2", "é", "\n"]


@given(st.lists(st.sampled_from(PIECES), max_size=40).map("".join))
@settings(max_examples=300, deadline=None)
def test_recognition_only_inserts_and_points_at_the_text(text):
    found = recognise(text)
    for r in found:
        assert text[r.start:r.end] == r.text
    assert all(a.end <= b.start for a, b in zip(found, found[1:]))
    out = expand(text, found)
    remaining = iter(out)  # the brief is a subsequence of its expansion: nothing removed or reordered
    assert all(char in remaining for char in text)


def test_place_names_and_project_names_are_not_elements():
    assert minerals_of("the complex at La Corne, near Amos") == ()
    assert minerals_of("a partner in ReLiB and Li4UK; the CV5 and CV13 pegmatites") == ()
    assert minerals_of("Li, Co and Ni Recovery") == ("lithium", "cobalt", "nickel")  # title case keeps a list
    assert texts_of("awaruite (Ni3Fe) and Nd2Fe14B") == ["Ni3Fe", "Nd2Fe14B"]


def test_lexical_text_keeps_a_french_original():
    french = QueryNormaliser()("Université du Québec à Chicoutimi et les terres rares")
    assert french.lexical_text == f"{french.text}\n{french.original}"
    assert "rare earths" in french.text and "Université du Québec" in french.lexical_text
    english = QueryNormaliser()("rare earths in Quebec")
    assert english.lexical_text == english.text


def test_clipped_forms_are_not_typos():
    corrector = SpellingCorrector({"hydrometallurgy": 5, "hydrogen": 20, "mining": 30, "geochemistry": 6})
    assert corrector.suggest("hydromet") == ("hydrogen", 2)  # what a bare edit distance would do...
    assert corrector.known("hydromet") and corrector.known("geoche")  # ...but a clipped form is known
    assert corrector.correct("hydromet leach")[0] == "hydromet leach"
    assert corrector.correct("minin rigs")[0] == "mining rigs"  # one letter short is a typo


def test_inflections_are_corrected_only_within_their_stem():
    corrector = SpellingCorrector({"responsible": 24, "response": 5, "cathode": 6, "catholic": 9, "mine": 40})
    assert corrector.suggest("responsable") == ("responsible", 1)  # same stem, one letter swapped
    assert corrector.suggest("cathodic") is None  # same stem as 'cathode' but two edits: an inflection
    assert corrector.suggest("mines") is None  # an ending added: BM25 already matches it


def test_hyphenated_amounts_are_elements_and_compounds_stay_whole():
    assert minerals_of("Low-Co and Co-free Ni-rich cathodes") == ("cobalt", "nickel")
    assert minerals_of("In-bearing sphalerite")[:1] == ("indium",)
    assert "cobalt" not in minerals_of("a Co-operative of Co-investigators")
    assert normalise_query("neodymium-iron-boron magnets").text == (
        "neodymium-iron-boron (rare earth elements) magnets")


@pytest.mark.parametrize("word", [
    "traction", "trust", "clinical", "patients", "lack", "eight", "done", "ball", "cheap", "youth", "milking",
    "valuation", "droughts", "promising",  # English words a small corpus lacks, each near a corpus word
    "organisation", "colour", "centre", "sulphate", "programme", "modelled", "licence", "analysed", "aluminium",
])
def test_dictionary_words_are_not_corrected(word):
    vocabulary = {"extraction": 9, "crust": 5, "critical": 30, "patent": 4, "black": 8, "light": 6, "one": 50,
                  "all": 60, "heap": 5, "south": 7, "milling": 9, "validation": 4, "brought": 3, "providing": 6,
                  "organization": 3, "color": 3, "center": 3, "sulfate": 3, "program": 3, "modeled": 3,
                  "license": 3, "analyzed": 3, "aluminum": 3}
    assert SpellingCorrector(vocabulary).correct(f"on {word} here") == (f"on {word} here", [])


def test_french_words_are_kept_in_a_french_brief_only():
    corrector = SpellingCorrector({"responsible": 24, "compared": 5, "grade": 9})
    assert corrector.correct("responsable sourcing")[0] == "responsible sourcing"
    assert corrector.correct("responsable sourcing", ("en", "fr"))[0] == "responsable sourcing"
    out = QueryNormaliser({"grade": 9, "compared": 5, "wide": 4})("Nous voulons comparer une grande aide.")
    assert out.language == "fr" and out.corrections == ()


def test_two_edit_corrections_keep_the_first_letters():
    corrector = SpellingCorrector({"treatment": 40, "stability": 12, "hydrometallurgy": 5})
    assert corrector.suggest("retreatment") is None  # two edits from "treatment", but differs at the start
    assert corrector.suggest("hydrometalurgi") == ("hydrometallurgy", 2)


@pytest.mark.parametrize("query, minerals", [("Co recovery", ("cobalt",)), ("Co recovery from laterite", ("cobalt", "nickel")),
                                             ("Ga extraction", ("gallium",))])
def test_a_short_query_that_opens_with_an_ambiguous_symbol_and_a_process_reads_it(query, minerals):
    assert set(minerals) <= set(normalise_query(query).minerals)


@pytest.mark.parametrize("prose", ["As mining grows, we need partners", "In processing plants across Canada we need sensors",
                                   "In this project we study recovery", "Co-PI recovery plan"])
def test_prose_that_opens_with_such_a_word_is_left_alone(prose):
    assert not {r.kind for r in recognise(prose)} & {ELEMENT}
