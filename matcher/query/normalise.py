"""Normalise: French rendered in English, misspellings corrected, symbols and abbreviations spelled out."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING

from corpus.french import detect_language
from corpus.normalise import MINERAL, Recognised
from matcher.query.step import QueryStep

if TYPE_CHECKING:
    from matcher.query.analyser import QueryAnalyser
    from matcher.query.query import AnalysedQuery

# Words of a brief read to tell its language: a summary's first sentences say it as well as the whole, at a fraction
# of the cost (detection matches the French lexicon at every word).
LANGUAGE_SAMPLE_WORDS = 40
# From this many words, a brief with no sign of French at all (no French function word, accent or elided article)
# is English without running detection: French prose of six words or more always has one (see ``plainly_english``).
PLAIN_ENGLISH_WORDS = 6
_WORD = re.compile(r"[^\W\d_]+")
_FRENCH_SIGNS = re.compile(r"[éèêëàâçîïôûùüÿœæ]|(?<!\w)(?:[ldnscjmt]|qu|jusqu|lorsqu|puisqu|quoiqu)['’]\w",
                           re.IGNORECASE)


@cache
def _french_function_words() -> frozenset[str]:
    doc = json.loads(resources.files("corpus").joinpath("data", "vocab", "language_words.json")
                     .read_text(encoding="utf-8"))
    return frozenset(doc["fr"])


def plainly_english(text: str) -> bool:
    """Whether ``text`` is English with no need to ask ``detect_language`` (a tenth of a short brief's ranking
    time): at least ``PLAIN_ENGLISH_WORDS`` words and not one French function word, accented letter or elided
    article. Detection would find French there only from lexicon terms alone, which French prose never is; a
    shorter query ('lixiviation minerai cuivre') always goes through detection."""
    words = _WORD.findall(text)
    if len(words) < PLAIN_ENGLISH_WORDS or _FRENCH_SIGNS.search(text):
        return False
    french = _french_function_words()
    return not any(w.lower() in french for w in words)


def expands(recognised: Recognised) -> bool:
    """Which recognised spans the normaliser spells out: symbols, formulas, abbreviations, trade terms and mineral
    words named otherwise ('Li (lithium)', 'REE (rare earth elements)', 'yellowcake (uranium)'), but not a mineral
    written in words its name repeats: 'rare earth (rare earth elements)', 'platinum (platinum group metals)' only
    repeat words (BM25 counts them twice) and add a generic one; on the train split it ranks as well or better in
    every family (docs/ranking.md)."""
    if recognised.kind != MINERAL:
        return True
    return not set(recognised.text.lower().split()) & set(recognised.expansion.lower().split())


class Normalise(QueryStep):
    """``corpus.normalise.QueryNormaliser`` with the index's vocabulary: both retrievers read its text, and BM25
    also reads a French brief's original words (names in the corpus are written in French). A long brief's language
    is told from its first ``LANGUAGE_SAMPLE_WORDS`` words."""

    name = "normalise"

    def apply(self, query: AnalysedQuery, analyser: QueryAnalyser) -> AnalysedQuery:
        words = query.original.split()
        sample = " ".join(words[:LANGUAGE_SAMPLE_WORDS])
        language = "en" if plainly_english(sample) else detect_language(sample).language
        # Everyday phrases get the field's words in short English briefs only: a summary states its need in the
        # field's own words, which term weights and passages already find, and the lexicon is English.
        plain = not query.long and language == "en"
        brief = analyser.normaliser.normalise(query.original, language, plain_language=plain)
        return replace(query, language=brief.language, translated=brief.translated, dense_text=brief.text,
                       lexical_text=brief.lexical_text, corrections=brief.corrections, recognised=brief.recognised,
                       minerals=brief.minerals)
