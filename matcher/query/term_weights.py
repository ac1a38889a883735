"""TermWeights: BM25 query terms weighted by what they say, for long briefs and French ones.

A query term's BM25 weight is its repeats times its idf. Two kinds of brief need more than that:

- a long brief (``AnalysedQuery.long``): in a 300-word summary the proposal's own words ('project', 'students',
  'province') repeat and outvote the few words of the need. Each term counts ``1 + log(repeats)`` times, a field
  term (``domain_stems``: minerals, processes, materials, environment, the two challenges) fully, any other term
  ``OTHER_WEIGHT``, and the terms of the passages the model reads (the need, usually) ``PASSAGE_BOOST`` times more;
- a French brief: BM25 reads its English rendering and its original words (French names in the corpus match only
  those), but the original's French function words ('des', 'les', 'en') are not English stop words and would match
  every French record in the corpus. So the original's words count only where the rendering lacks them, without
  French stop words, at ``FRENCH_ORIGINAL_WEIGHT``.

Any other brief keeps plain BM25 (no weights: the short path).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import replace
from types import MappingProxyType
from typing import TYPE_CHECKING

from corpus.french import fold, french_stopwords
from matcher.query.domain import domain_stems
from matcher.query.step import QueryStep
from matcher.retrieval.lexical import tokens

if TYPE_CHECKING:
    from matcher.query.analyser import QueryAnalyser
    from matcher.query.query import AnalysedQuery

OTHER_WEIGHT = 0.3
PASSAGE_BOOST = 2.0
FRENCH_ORIGINAL_WEIGHT = 0.3


class TermWeights(QueryStep):
    name = "term_weights"

    def apply(self, query: AnalysedQuery, analyser: QueryAnalyser) -> AnalysedQuery:
        french = query.translated is not None
        if not (query.long or french):
            return query
        counts: dict[str, float] = dict(Counter(tokens(query.dense_text if french else query.lexical_text)))
        if french:
            stop = french_stopwords()
            original = " ".join(w for w in query.original.split() if fold(w.strip(".,;:!?()«»\"'")) not in stop)
            for term, n in Counter(tokens(original)).items():
                if term not in counts:
                    counts[term] = n * FRENCH_ORIGINAL_WEIGHT
        if not query.long:
            return replace(query, lexical_terms=MappingProxyType(counts))
        field = domain_stems()
        in_passages = {t for p in query.passages for t in tokens(p)}
        weights = {t: (1.0 + math.log(max(n, 1.0))) * (1.0 if t in field else OTHER_WEIGHT)
                   * (PASSAGE_BOOST if t in in_passages else 1.0) for t, n in counts.items()}
        return replace(query, lexical_terms=MappingProxyType(weights))
