"""DomainTerms: the minerals, value-chain stages and field terms a brief names, and so its domain evidence.

The field's words come from the data files, every one already checked: mineral names and synonyms
(``minerals.json``), abbreviations' meanings (``abbreviations.json``; not those of its plain-language phrases, whose
renderings also hold words any proposal may use: 'rights', 'access', 'market'), value-chain stage terms
(``value_chain_stages.json``), the English side of the French lexicon for minerals, processes, materials,
environment and uses (its policy, place and function-word entries are left out: they say nothing of the field),
and the two challenges' texts. Words of research proposals in general (``GENERIC``) are not field words, even where
a data file uses them.
"""

from __future__ import annotations

import json
from dataclasses import replace
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING

from corpus import vocab
from corpus.french import lexicon
from corpus.normalise import PLAIN_LANGUAGE, abbreviations
from matcher.query.step import QueryStep
from matcher.retrieval.lexical import tokens

if TYPE_CHECKING:
    from matcher.query.analyser import QueryAnalyser
    from matcher.query.query import AnalysedQuery

# Lexicon topics whose English terms are field words.
DOMAIN_TOPICS = frozenset({"minerals", "processes", "environment_and_reclamation", "ores_and_products",
                           "value_chain", "batteries_and_uses"})
# Words any proposal uses, whatever its field: never field words (BM25 stems, as ``tokens`` gives them).
GENERIC = frozenset(tokens(
    "project projects programme research researcher researchers team teams partner partners partnership "
    "collaboration collaborate university universities institute centre company companies group groups "
    "develop development developing approach approaches new novel method methods work working study studies "
    "aim aims objective objectives outcome outcomes impact impacts deliver delivery year years phase phases "
    "training student students doctoral postdoctoral knowledge understanding expertise experience capability "
    "capabilities support industry industrial sector national provincial federal government canada canadian "
    "united kingdom british uk international global domestic local regional community communities data "
    "technology technologies tool tools model models system systems process processes option options "
    "efficient efficiency advance advancing value high low large small key critical mineral minerals "
    "material materials resource resources use used using"))


@cache
def function_stems() -> frozenset[str]:
    """BM25 stems of English function words (bm25s' fuller stop list), which BM25's own list keeps."""
    import Stemmer
    from bm25s.stopwords import STOPWORDS_EN_PLUS

    from matcher.retrieval.spelling import fold

    return frozenset(Stemmer.Stemmer("english").stemWords([fold(w.lower()) for w in STOPWORDS_EN_PLUS]))


@cache
def domain_stems() -> frozenset[str]:
    """BM25 stems of the field's words (see the module docstring)."""
    texts: list[str] = []
    for m in vocab.minerals().values():
        texts += [m.name, m.id.replace("_", " "), *m.synonyms]
    texts += [a.expansion for a in abbreviations().values() if a.note != PLAIN_LANGUAGE]
    stages = json.loads(resources.files("corpus").joinpath("data", "vocab", "value_chain_stages.json")
                        .read_text(encoding="utf-8"))
    for stage in stages:
        texts += stage.get("terms", [])
    texts += [e.english for e in lexicon().entries if e.topic in DOMAIN_TOPICS]
    challenges = json.loads(resources.files("corpus").joinpath("data", "challenges.json").read_text(encoding="utf-8"))
    for challenge in challenges:
        texts += [challenge["short_name"], *challenge.get("examples", [])]
    stems = {t for text in texts for t in tokens(text)}
    return frozenset(t for t in stems - GENERIC if len(t) > 2 and not t.isdigit())


class DomainTerms(QueryStep):
    """Minerals (the normaliser's, read from symbols, formulas and trade terms, and the vocabulary's names in the
    rendered text), stages (the vocabulary's terms in the rendered text), and ``domain_terms``: those minerals and
    stages plus the distinct field stems the brief uses; ``other_terms``: the brief's other content stems (neither
    field words, nor ``GENERIC``, nor function words, nor two-letter symbols), which say what else it is about."""

    name = "domain_terms"

    def apply(self, query: AnalysedQuery, analyser: QueryAnalyser) -> AnalysedQuery:
        text = query.dense_text
        minerals = tuple(dict.fromkeys([*query.minerals, *vocab.detect_minerals(text)]))
        stages = tuple(vocab.detect_stages(text))
        field = domain_stems()
        stems = tokens(text)
        words = tuple(dict.fromkeys(t for t in stems if t in field))
        terms = tuple(dict.fromkeys([*(f"mineral:{m}" for m in minerals), *(f"stage:{s}" for s in stages),
                                     *words]))
        common = GENERIC | function_stems()
        # Two-letter tokens are element symbols and abbreviations the normaliser spelled out: not another subject.
        other = tuple(dict.fromkeys(t for t in stems if t not in field and t not in common and len(t) > 2
                                    and not t.isdigit()))
        return replace(query, minerals=minerals, stages=stages, domain_terms=terms, other_terms=other)
