"""Query analysis: what a brief asks for, made ready for both retrievers before any search runs.

A ``QueryAnalyser`` is fitted with the partner index (its vocabulary is the word frequencies of the indexed texts)
and turns a brief into an ``AnalysedQuery``: the text BM25 reads, the text or passages the model reads, the
minerals and stages it names, its language, the corrections made, the domain terms recognised and a count of them
(``domain_evidence``, for the weak-result gate).

The analysis is a list of steps (``STEPS`` below), each one class in one module of this package, a subclass of
``QueryStep`` (``matcher.query.step``) with an ``apply(query, analyser) -> AnalysedQuery`` that returns the query
with its own fields filled. Steps run in list order; a step reads what earlier steps wrote. Adding a step: write
its module, then add an instance to ``STEPS``.

- ``Normalise``: French detected and rendered in English, misspellings corrected against the index's vocabulary,
  symbols, formulas and abbreviations spelled out (``corpus.normalise.QueryNormaliser``);
- ``FrenchLeftovers``: French words the English rendering kept are taken out of what the model reads;
- ``DomainTerms``: minerals (the normaliser's, which reads symbols, formulas and trade terms, and the vocabulary's
  names), value-chain stages, and the domain terms that make up ``domain_evidence``;
- ``Passages``: a long brief (``LONG_BRIEF_WORDS`` words or more) is read by the model as its most informative
  short passages rather than as one text the model's 256-token window would cut;
- ``TermWeights``: a long brief's BM25 terms weighted by what they say about minerals, processes and the two
  challenges, so the proposal's generic words do not outvote its need.
"""

from __future__ import annotations

from matcher.query.analyser import QueryAnalyser, QueryVocabulary
from matcher.query.domain import DomainTerms
from matcher.query.french_leftovers import FrenchLeftovers
from matcher.query.normalise import Normalise
from matcher.query.passages import Passages
from matcher.query.query import LONG_BRIEF_WORDS, AnalysedQuery
from matcher.query.step import QueryStep
from matcher.query.term_weights import TermWeights

STEPS: tuple[QueryStep, ...] = (
    Normalise(),
    FrenchLeftovers(),
    DomainTerms(),
    Passages(),
    TermWeights(),
)

__all__ = ["LONG_BRIEF_WORDS", "STEPS", "AnalysedQuery", "QueryAnalyser", "QueryStep", "QueryVocabulary"]
