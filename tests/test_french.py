"""French briefs: language detection, the French -> English lexicon and the translation built on it."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from corpus.french import (
    MIN_FRENCH_EVIDENCE,
    detect_language,
    fold,
    french_stopwords,
    lexicon,
    stem_french,
    tokenise,
    translate_french,
)
from corpus.normalise import QueryNormaliser

ENGLISH = [
    "We are looking for a partner with expertise in hydrometallurgical recovery of lithium from spent batteries.",
    "Reprocessing of legacy tailings in Cornwall to recover tin and tungsten.",
    "This project will develop sensors for real-time monitoring of acid mine drainage at closed mines.",
    "Life cycle assessment of rare earth magnet recycling in the UK and Canada.",
    "Machine learning for mineral prospectivity mapping of critical minerals in northern Quebec.",
    "Our team works with Université Laval and the Ministère des Ressources naturelles on graphite in Québec.",
    "Direct lithium extraction from oilfield brines in Alberta, following Smith et al. (2021).",
    "Bioleaching of cobalt from sulphidic mine waste using acidophilic bacteria.",
    "Energy-efficient comminution and ore sorting for a copper-nickel mine.",
    "Circular economy options for Li, Co and Ni in electric vehicle batteries.",
    "Tailings dam monitoring with InSAR",
]
FRENCH = [
    "Nous recherchons un partenaire pour la récupération du lithium à partir de batteries usagées.",
    "Valorisation des résidus miniers et des stériles pour réduire l'empreinte environnementale de la mine.",
    "Ce projet vise à développer des capteurs pour le suivi du drainage minier acide.",
    "Analyse du cycle de vie du recyclage des aimants permanents aux terres rares.",
    "Cartographie de la prospectivité des minéraux critiques dans le nord du Québec par apprentissage automatique.",
    "L'extraction par solvant du cobalt et du nickel à partir de la masse noire.",
    "Hydrométallurgie et biolixiviation des concentrés de cuivre.",
    "Restauration des sites miniers abandonnés en Abitibi-Témiscamingue.",
    "Étude de la flottation du graphite naturel et de son affinage.",
    "Économie circulaire des métaux critiques : réutilisation, recyclage et récupération d'uranium.",
    "lixiviation des terres rares",
]


@pytest.mark.parametrize("text", ENGLISH)
def test_english_briefs_are_english(text):
    assert detect_language(text).language == "en"


@pytest.mark.parametrize("text", FRENCH)
def test_french_briefs_are_french(text):
    guess = detect_language(text)
    assert guess.language == "fr"
    assert guess.french > guess.english


def test_bare_or_empty_text_reads_as_english():
    assert detect_language("").language == "en"
    assert detect_language("lithium").language == "en"
    # One accented name is not French prose.
    assert detect_language("graphite Québec").french < MIN_FRENCH_EVIDENCE


def test_element_symbols_are_not_french_words():
    # 'Ni' is nickel, not the French 'ni'; 'La' and 'Ce' here are lanthanum and cerium in an English brief.
    assert detect_language("Recovery of Ni, La and Ce from the waste of the plant").language == "en"


def test_fold_and_elision():
    assert fold("Résidus MINIÈRES œuvre") == "residus minieres oeuvre"
    tokens = tokenise("l'extraction d’uranium jusqu'à Colombie-Britannique")
    assert [t.key for t in tokens] == ["le", "extraction", "de", "uranium", "jusque", "a", "colombie-britannique"]
    assert [t.text for t in tokens][:4] == ["l", "extraction", "d", "uranium"]
    assert tokens[0].sentence_start and not tokens[1].sentence_start


def test_french_stemmer_groups_inflections():
    assert stem_french("minières") == stem_french("minier") == stem_french("miniers")
    assert stem_french("lixiviation") == stem_french("lixiviations")


def _entries() -> list[dict]:
    text = resources.files("corpus").joinpath("data", "vocab", "lexicon_fr_en.json").read_text(encoding="utf-8")
    return json.loads(text)["entries"]


def test_lexicon_has_several_hundred_well_formed_entries():
    entries = _entries()
    assert len(entries) >= 300
    for e in entries:
        assert e["fr"].strip() == e["fr"] and e["en"].strip() == e["en"] and e["fr"] and e["en"], e
        assert e["topic"], e


def test_lexicon_keys_are_unambiguous_after_folding():
    # Two entries whose French folds to the same words must agree on the English, or matching would be arbitrary.
    english_of: dict[tuple[str, ...], str] = {}
    for e in _entries():
        key = tuple(t.key for t in tokenise(e["fr"]))
        assert english_of.setdefault(key, e["en"].lower()) == e["en"].lower(), (e, english_of[key])


@pytest.mark.parametrize("french, english", [
    ("lithium", "lithium"), ("terres rares", "rare earths"), ("graphite", "graphite"), ("cuivre", "copper"),
    ("nickel", "nickel"), ("cobalt", "cobalt"), ("uranium", "uranium"), ("niobium", "niobium"),
    ("tantale", "tantalum"), ("étain", "tin"), ("tungstène", "tungsten"), ("néodyme", "neodymium"),
    ("hydrométallurgie", "hydrometallurgy"), ("lixiviation", "leaching"), ("extraction par solvant", "solvent extraction"),
    ("flottation", "flotation"), ("grillage", "roasting"), ("affinage", "refining"), ("biolixiviation", "bioleaching"),
    ("exploration", "exploration"), ("extraction minière", "mining"), ("traitement", "processing"),
    ("recyclage", "recycling"), ("résidus miniers", "mine tailings"), ("stériles", "waste rock"),
    ("drainage minier acide", "acid mine drainage"), ("économie circulaire", "circular economy"),
    ("analyse du cycle de vie", "life cycle assessment"), ("chaîne d'approvisionnement", "supply chain"),
    ("masse noire", "black mass"), ("spath fluor", "fluorspar"), ("fermeture de mine", "mine closure"),
])
def test_core_terms_translate(french, english):
    assert translate_french(french) == english


def test_challenge_terms_are_covered():
    """Each challenge's key terms (corpus/data/challenges.json) is the English of some lexicon entry."""
    english = {e["en"].lower() for e in _entries()}
    for term in ["circular economy", "life cycle assessment", "mine reclamation", "tailings", "mine water",
                 "energy-efficient comminution", "supply-chain data", "data-driven decision-making",
                 "environmental impacts", "environmental trade-offs", "co-benefits", "unintended consequences",
                 "primary mineral resources", "electronic waste", "magnet", "battery", "recycling", "recovery",
                 "mineral exploration", "extraction", "processing", "geological modelling", "emissions management",
                 "residual mining waste", "reprocessing", "responsible and efficient mining"]:
        assert term in english, term


def test_longest_phrase_wins_and_case_accents_and_elision_are_folded():
    assert translate_french("DRAINAGE MINIER ACIDE") == "acid mine drainage"
    assert translate_french("drainage minier acide") == "acid mine drainage"
    assert translate_french("l'extraction par solvant") == "solvent extraction"
    assert translate_french("l’extraction d’uranium") == "extraction uranium"
    assert translate_french("residus miniers") == "mine tailings"  # typed without accents
    assert translate_french("le résidu minier") == "mine tailings"  # singular
    assert translate_french("les drainages miniers acides") == "acid mine drainage"  # plural
    assert translate_french("minières") == "mining"  # an inflection reached through the stem
    assert translate_french("mines d'or") == "gold mine"
    assert translate_french("l'or et l'argent") == "gold and silver"


def test_stop_words_dropped_other_words_kept():
    assert "le" in french_stopwords() and "cette" in french_stopwords()
    out = translate_french("Cette étude porte sur le gisement Whabouchi de Nemaska, 2024.")
    assert out == "study porte deposit Whabouchi Nemaska, 2024."


def test_symbols_and_lists_survive_translation():
    out = translate_french("Récupération du Li, Co et Ni, et de l'As dans les rejets.")
    assert out.startswith("recovery Li, Co and Ni, and As")
    # The capitalised 'As' mid-sentence is arsenic, not the verb form 'as' (a French stop word).
    assert QueryNormaliser().normalise("Récupération du Li, Co et Ni.").minerals == ("lithium", "cobalt", "nickel")


@pytest.mark.parametrize("brief, expected", [
    ("Nous cherchons un partenaire pour la récupération du lithium à partir de la masse noire des batteries "
     "lithium-ion usagées.", ["recovery", "lithium", "from", "black mass", "spent lithium-ion batteries", "partner"]),
    ("Valorisation des résidus miniers et traitement du drainage minier acide au Québec.",
     ["valorisation", "mine tailings", "processing", "acid mine drainage", "Québec"]),
    ("Hydrométallurgie : lixiviation, extraction par solvants et électroextraction du cuivre et du cobalt.",
     ["hydrometallurgy", "leaching", "solvent extraction", "electrowinning", "copper", "cobalt"]),
    ("Exploration des terres rares lourdes et modélisation géologique en Colombie-Britannique.",
     ["exploration", "heavy rare earths", "geological modelling", "British Columbia"]),
    ("Restauration minière, revégétalisation des stériles et économie circulaire des métaux critiques.",
     ["mine reclamation", "revegetation", "waste rock", "circular economy", "critical metals"]),
])
def test_french_briefs_translate_to_key_english_terms(brief, expected):
    normalised = QueryNormaliser().normalise(brief)
    assert normalised.language == "fr"
    assert normalised.translated is not None
    for term in expected:
        assert term in normalised.translated, (term, normalised.translated)


def test_lexicon_is_loaded_once():
    assert lexicon() is lexicon()
    assert lexicon().longest >= 5


def test_brackets_and_punctuation_keep_their_place():
    assert translate_french("Récupération du cuivre (Cu) et du cobalt (Co) dans les résidus.") == (
        "recovery copper (Cu) and cobalt (Co) residues.")
