"""The lexical index: BM25 (Lucene variant) with English stop words and Snowball stemming, over sparse matrices.

The index keeps raw term counts (a CSC matrix, documents × terms) and computes BM25 weights for the query's terms
only, at query time. Two things follow:

- scoring a query is a few column slices of a sparse matrix, with no Python loop over documents;
- a changed document is one changed row: ``recombine`` builds the next index from the current one by taking rows and
  tokenising only new texts. Document frequencies and the average length come from the counts, so scores after an
  update are exactly those of a fresh index over the same texts (a precomputed-weights index such as bm25s' must
  be rebuilt whole, because one new document changes every weight through the average length).

Tokenisation is bm25s' (its token pattern, English stop words, PyStemmer), reimplemented in a few lines because
``bm25s.tokenize`` rebuilds its stop-word set for every text and wraps each call in progress bars: twice the cost
of a query's tokens. The tokens are the same (tested), so scores equal bm25s' Lucene BM25 on the same texts.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
import Stemmer

logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs at DEBUG to stderr
_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # bm25s' (and scikit-learn's) token pattern


def _stopwords(name: str) -> frozenset[str]:
    from bm25s.tokenization import _infer_stopwords

    return frozenset(_infer_stopwords(name))


class LexicalIndex:
    """BM25. Constructor stores parameters; ``fit`` indexes texts; ``scores`` / ``search`` query; ``recombine``
    derives an updated index without re-reading unchanged texts."""

    def __init__(self, *, k1: float = 1.2, b: float = 0.75, stopwords: str = "en", language: str = "english"):
        self.k1 = k1
        self.b = b
        self.stopwords = stopwords
        self.language = language

    def _tokenise(self, texts: Sequence[str]) -> list[list[str]]:
        """bm25s' tokens: lower-cased words of two or more characters, stop words dropped, then stemmed."""
        stop, stem, split = self._stop, self._stemmer.stemWords, _TOKEN.findall
        return [stem([t for t in split(text.lower()) if t not in stop]) for text in texts]

    def _rows(self, texts: Sequence[str], vocab: dict[str, int]) -> sp.csr_matrix:
        """Term counts of ``texts`` as sparse rows; new terms are appended to ``vocab`` (ids never change)."""
        indptr, indices = [0], []
        for tokens in self._tokenise(texts):
            for token in tokens:
                indices.append(vocab.setdefault(token, len(vocab)))
            indptr.append(len(indices))
        data = np.ones(len(indices), dtype=np.float32)
        rows = sp.csr_matrix((data, np.asarray(indices, dtype=np.int64), np.asarray(indptr, dtype=np.int64)),
                             shape=(len(texts), max(len(vocab), 1)))
        rows.sum_duplicates()  # repeated tokens become counts
        return rows

    def fit(self, texts: Sequence[str]) -> LexicalIndex:
        self._stemmer = Stemmer.Stemmer(self.language)
        self._stop = _stopwords(self.stopwords)
        vocab: dict[str, int] = {}
        self._set_counts(self._rows(texts, vocab), vocab)
        return self

    def _set_counts(self, counts: sp.csr_matrix, vocab: dict[str, int]) -> None:
        counts = counts.astype(np.float32)
        self.vocab_ = vocab
        self.counts_ = counts.tocsc()  # column slices (one per query term) are what queries read
        self.n_docs_ = counts.shape[0]
        self.doc_len_ = np.asarray(counts.sum(axis=1), dtype=np.float32).ravel()
        self.avg_len_ = float(self.doc_len_.mean()) if self.n_docs_ and self.doc_len_.sum() > 0 else 1.0
        self.df_ = np.diff(self.counts_.indptr).astype(np.float32)
        # The length normalisation of every document; recomputed per index (it moves with the average length).
        self.norm_ = (self.k1 * ((1 - self.b) + self.b * self.doc_len_ / self.avg_len_)).astype(np.float32)

    def recombine(self, parts: Sequence[np.ndarray | Sequence[str]]) -> LexicalIndex:
        """A new index whose documents are ``parts`` concatenated: an integer array takes those rows of this index
        (no re-tokenising), a list of strings adds new texts. This index is left unchanged (queries in flight
        keep using it)."""
        vocab = dict(self.vocab_)
        rows = self.counts_.tocsr()
        blocks = []
        for part in parts:
            if isinstance(part, np.ndarray):
                blocks.append(rows[part.astype(np.int64)])
            else:
                blocks.append(self._rows(list(part), vocab))
        width = max(len(vocab), 1)
        blocks = [sp.csr_matrix((b.data, b.indices, b.indptr), shape=(b.shape[0], width)) for b in blocks]
        out = LexicalIndex(k1=self.k1, b=self.b, stopwords=self.stopwords, language=self.language)
        out._stemmer, out._stop = self._stemmer, self._stop
        counts = sp.vstack(blocks, format="csr") if blocks else sp.csr_matrix((0, width), dtype=np.float32)
        out._set_counts(counts, vocab)
        return out

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every document for ``query`` (zeros when no query term is in the corpus). A term repeated
        in the query counts as often as it appears, as in bm25s."""
        out = np.zeros(self.n_docs_, dtype=np.float32)
        ids = [self.vocab_[t] for t in self._tokenise([query])[0] if t in self.vocab_]
        if not ids:
            return out
        terms, repeats = np.unique(np.asarray(ids, dtype=np.int64), return_counts=True)
        indptr, indices, data = self.counts_.indptr, self.counts_.indices, self.counts_.data
        n = float(self.n_docs_)
        for term, times in zip(terms, repeats):
            start, end = indptr[term], indptr[term + 1]
            if start == end:  # the term's documents were all removed
                continue
            docs, tf = indices[start:end], data[start:end]
            df = self.df_[term]
            idf = np.log1p((n - df + 0.5) / (df + 0.5))
            out[docs] += np.float32(times * idf) * tf / (tf + self.norm_[docs])
        return out

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
