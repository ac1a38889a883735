"""Retrieval: finding candidate organisations for a query, before any scoring signal.

- ``dense``: the ``DenseSearch`` interface, with two implementations, ``exact`` (flat FAISS) and ``approximate``
  (IVF with 8-bit vectors and an exact delta); ``factory.DenseFactory`` is the one place choosing between them;
- ``lexical``: BM25 over sparse matrices (``LexicalIndex``);
- ``fusion``: combining lexical and dense scores;
- ``hybrid``: the two together, per query (``HybridRetriever``, ``Filter``, ``Candidates``);
- ``layout`` and ``units``: which texts are searched (profiles, documents, evidence sentences) and where their
  rows sit; ``arrays``: numpy helpers.
"""

from matcher.retrieval.dense import DenseSearch, DenseState
from matcher.retrieval.factory import ANN_THRESHOLD, DenseFactory
from matcher.retrieval.hybrid import Candidates, Filter, HybridRetriever
from matcher.retrieval.layout import SearchLayout
from matcher.retrieval.lexical import LexicalIndex

__all__ = ["ANN_THRESHOLD", "Candidates", "DenseFactory", "DenseSearch", "DenseState", "Filter", "HybridRetriever",
           "LexicalIndex", "SearchLayout"]
