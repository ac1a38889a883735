"""The lexical index: BM25 with English stop words and Snowball stemming, over sparse matrices (bm25s).

Scoring a query is one sparse-matrix lookup over the whole corpus, with no Python loop over documents, so it
stays fast as the corpus grows. Filters are a boolean mask applied to the score vector.
"""

from __future__ import annotations

import logging

import bm25s
import numpy as np
import Stemmer

logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs every index build at DEBUG to stderr


class LexicalIndex:
    """BM25 (Lucene variant). Constructor stores parameters; ``fit`` indexes texts; ``scores`` / ``search`` query."""

    def __init__(self, *, k1: float = 1.2, b: float = 0.75, stopwords: str = "en", language: str = "english"):
        self.k1 = k1
        self.b = b
        self.stopwords = stopwords
        self.language = language

    def _tokenise(self, texts: list[str]) -> list[list[str]]:
        return bm25s.tokenize(texts, stopwords=self.stopwords, stemmer=self._stemmer, return_ids=False,
                              show_progress=False)

    def fit(self, texts: list[str]) -> LexicalIndex:
        self._stemmer = Stemmer.Stemmer(self.language)
        tokens = self._tokenise(list(texts))
        self.bm25_ = bm25s.BM25(k1=self.k1, b=self.b)
        # bm25s refuses an empty vocabulary; a corpus of empty texts simply never matches.
        self.bm25_.index([t or ["\x00"] for t in tokens], show_progress=False)
        self.vocab_ = self.bm25_.vocab_dict
        self.n_docs_ = len(tokens)
        return self

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every document for ``query`` (zeros when no query term is in the corpus)."""
        terms = [t for t in self._tokenise([query])[0] if t in self.vocab_]
        if not terms:
            return np.zeros(self.n_docs_, dtype=np.float32)
        return np.asarray(self.bm25_.get_scores(terms), dtype=np.float32)

    def search(self, query: str, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` (indices, scores) by BM25, restricted to ``allowed`` (a boolean mask) when given."""
        scores = self.scores(query)
        if allowed is not None:
            scores = np.where(allowed, scores, -np.inf)
        k = min(k, int(np.isfinite(scores).sum()))
        if k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return top.astype(np.int64), scores[top]
