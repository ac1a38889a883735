"""FrenchLeftovers: the French words a French brief's English rendering kept, taken out of what the model reads.

``translate_french`` renders lexicon terms and drops stop words; any other word stays as written ('cherchons',
'travaillant', 'échantillons'). Names and symbols should stay, but French verbs and common nouns are noise to an
English model. So, for the dense text only, a lower-case word is dropped when it is French (pyspellchecker's French
list) and neither English (its English list, British spellings too) nor a word of the indexed texts. BM25 keeps
every word: a French word there matches only French names.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING

from corpus.normalise import in_dictionary
from matcher.query.step import QueryStep

if TYPE_CHECKING:
    from matcher.query.analyser import QueryAnalyser
    from matcher.query.query import AnalysedQuery

_WORD = re.compile(r"[^\W\d_]+(?:[-'’][^\W\d_]+)*")


class FrenchLeftovers(QueryStep):
    name = "french_leftovers"

    def apply(self, query: AnalysedQuery, analyser: QueryAnalyser) -> AnalysedQuery:
        if query.translated is None:
            return query
        known = analyser.vocabulary.counts

        def keep(match: re.Match[str]) -> str:
            word = match.group()
            lower = word.lower()
            if word != lower or lower in known or in_dictionary(lower, ("en",)) or not in_dictionary(lower, ("fr",)):
                return word
            return ""

        dense = re.sub(r"\s+", " ", _WORD.sub(keep, query.dense_text))
        dense = re.sub(r"\s+([,.;:])", r"\1", dense).strip()
        return replace(query, dense_text=dense)
