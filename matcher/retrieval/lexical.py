"""The lexical index: BM25 (Lucene variant) with English stop words and Snowball stemming, over sparse matrices.

The index keeps raw term counts (a CSC matrix, documents × terms) and, beside them, each posting's length-normalised
term weight ``tf / (tf + norm[doc])`` (same sparsity, so the two share one index array). Two things follow:

- scoring a query is one sparse matrix-vector product over the query terms' columns (the vector holds each term's
  idf times its repeats), with no Python loop over documents or terms;
- a changed document is one changed row: ``recombine`` builds the next index from the current one by taking rows of
  the counts and tokenising only new texts, then recomputes the weights. Document frequencies and the average length
  come from the counts, so scores after an update are exactly those of a fresh index over the same texts (bm25s'
  index keeps only weights, so it must be rebuilt whole: one new document changes every weight through the average
  length).

``fit`` reads any iterable of texts once, tokenising a chunk at a time into a CSR block of numpy arrays (int32
indices), so only one chunk's Python token lists are alive at once, not the whole corpus's.

Tokenisation is bm25s' (its token pattern, English stop words, PyStemmer), reimplemented in a few lines because
``bm25s.tokenize`` rebuilds its stop-word set for every text and wraps each call in progress bars, which cost more
than the tokens themselves. By default each word is first folded to its North American spelling
(``matcher.retrieval.spelling``: "sulphide" and "sulfide" are one term, "e-waste" is "ewaste" and "waste"); with
``fold_spelling=False`` the tokens are bm25s' own (tested), so scores equal bm25s' Lucene BM25 on the same texts
(the evaluation's plain baseline).
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from itertools import islice

import numpy as np
import scipy.sparse as sp
import Stemmer

from matcher.retrieval.arrays import ranges
from matcher.retrieval.spelling import fold, join_letter_prefixes

logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs at DEBUG to stderr
_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # bm25s' (and scikit-learn's) token pattern
# Texts tokenised at once by fit and recombine: their Python token lists are the transient memory, and the chunk
# size barely changes the time, so it is kept moderate.
CHUNK_SIZE = 20_000
SMALL_POSTINGS = 60_000  # documents + a query's postings up to which its scores are a bincount (see scores)


def _stopwords(name: str) -> frozenset[str]:
    from bm25s.tokenization import _infer_stopwords

    return frozenset(_infer_stopwords(name))


@cache
def _tokeniser(language: str, stopwords: str) -> tuple[frozenset[str], Stemmer.Stemmer]:
    return _stopwords(stopwords), Stemmer.Stemmer(language)


def _words(text: str, fold_spelling: bool) -> list[str]:
    """The lower-cased words of ``text`` BM25 reads (one-letter prefixes joined when spellings are folded)."""
    lower = text.lower()
    return _TOKEN.findall(join_letter_prefixes(lower) if fold_spelling else lower)


def _kept(words: list[str], stop: frozenset[str], fold_spelling: bool) -> list[str]:
    """``words`` less the stop words, each folded to its North American spelling when asked, ready to stem."""
    return [fold(t) for t in words if t not in stop] if fold_spelling else [t for t in words if t not in stop]


def tokens(text: str, *, language: str = "english", stopwords: str = "en", fold_spelling: bool = True) -> list[str]:
    """The BM25 terms of ``text`` as an index with these settings reads them (stop words dropped, spellings folded,
    stemmed): what query steps weight (``LexicalIndex.weighted_scores``) before any index is at hand."""
    stop, stemmer = _tokeniser(language, stopwords)
    return stemmer.stemWords(_kept(_words(text, fold_spelling), stop, fold_spelling))


class LexicalIndex:
    """BM25. Constructor stores parameters; ``fit`` indexes texts; ``scores`` / ``search`` query; ``recombine``
    derives an updated index without re-reading unchanged texts."""

    def __init__(self, *, k1: float = 1.2, b: float = 0.75, stopwords: str = "en", language: str = "english",
                 fold_spelling: bool = True) -> None:
        self.k1 = k1
        self.b = b
        self.stopwords = stopwords
        self.language = language
        self.fold_spelling = fold_spelling

    def _tokenise(self, texts: Iterable[str], words: Counter[str] | None = None) -> list[list[str]]:
        """bm25s' tokens: lower-cased words of two or more characters, stop words dropped, then stemmed. ``words``,
        when given, counts each text's distinct words before stemming (a document frequency of words, read in the
        same pass: the query analyser's spelling vocabulary)."""
        stop, stem, folded = self._stop, self._stemmer.stemWords, self.fold_spelling
        if words is None:
            return [stem(_kept(_words(text, folded), stop, folded)) for text in texts]
        out = []
        for text in texts:
            raw = _words(text, folded)
            words.update(set(raw))
            out.append(stem(_kept(raw, stop, folded)))
        return out

    def _rows(self, texts: Sequence[str], vocab: dict[str, int], words: Counter[str] | None = None) -> sp.csr_matrix:
        """Term counts of ``texts`` (one chunk) as sparse rows; new terms are appended to ``vocab`` (ids never
        change). Token lists become int32 arrays here, so only one chunk's Python objects are alive at a time."""
        tokens = self._tokenise(texts, words)
        lengths = np.fromiter(map(len, tokens), dtype=np.int64, count=len(tokens))
        indptr = np.zeros(len(tokens) + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        # len(vocab) is read before setdefault inserts, so a new term gets the next id.
        ids = np.fromiter((vocab.setdefault(t, len(vocab)) for doc in tokens for t in doc), dtype=np.int64,
                          count=int(indptr[-1]))
        del tokens
        index_dtype = np.int32 if max(len(vocab), int(indptr[-1])) < np.iinfo(np.int32).max else np.int64
        rows = sp.csr_matrix((np.ones(len(ids), dtype=np.float32), ids.astype(index_dtype), indptr.astype(index_dtype)),
                             shape=(len(lengths), max(len(vocab), 1)))
        rows.sum_duplicates()  # repeated tokens become counts
        return rows

    def _count_rows(self, texts: Iterable[str], vocab: dict[str, int], chunk_size: int,
                    words: Counter[str] | None = None) -> list[sp.csr_matrix]:
        """``_rows`` of ``texts`` read once, ``chunk_size`` at a time (a generator is never materialised)."""
        if isinstance(texts, str):  # iterating it would index each character as a document
            raise TypeError("texts must be an iterable of strings (a list or generator), not one string; "
                            "wrap a single text in a list")
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be a positive number of texts (default {CHUNK_SIZE}), got {chunk_size}")
        texts = iter(texts)
        blocks = []
        while chunk := list(islice(texts, chunk_size)):
            blocks.append(self._rows(chunk, vocab, words))
        return blocks

    @staticmethod
    def _stack(blocks: list[sp.csr_matrix], width: int) -> sp.csr_matrix:
        """Blocks built while the vocabulary grew, widened to its final size (same arrays) and stacked. Empties
        ``blocks``, so their memory is free before the caller's next copy (the CSC)."""
        if not blocks:
            return sp.csr_matrix((0, width), dtype=np.float32)
        stacked = sp.vstack([sp.csr_matrix((b.data, b.indices, b.indptr), shape=(b.shape[0], width)) for b in blocks],
                            format="csr", dtype=np.float32)
        blocks.clear()
        return stacked

    def fit(self, texts: Iterable[str], *, chunk_size: int = CHUNK_SIZE, words: Counter[str] | None = None) -> LexicalIndex:
        """Index ``texts`` (any iterable of strings, e.g. a generator; read once, ``chunk_size`` at a time);
        ``words`` (optional) counts the documents each word is in, in the same pass."""
        self._stemmer = Stemmer.Stemmer(self.language)
        self._stop = _stopwords(self.stopwords)
        vocab: dict[str, int] = {}
        blocks = self._count_rows(texts, vocab, chunk_size, words)
        self._set_counts(self._stack(blocks, max(len(vocab), 1)), vocab)
        return self

    def _set_counts(self, counts: sp.csr_matrix, vocab: dict[str, int]) -> None:
        self.vocab_ = vocab
        # Column slices (one per query term) are what queries read. ``del``: the CSR is freed before the weights.
        self.counts_ = counts.tocsc().astype(np.float32, copy=False)
        del counts
        self.n_docs_ = self.counts_.shape[0]
        self.doc_len_ = np.asarray(self.counts_.sum(axis=1), dtype=np.float32).ravel()
        self.avg_len_ = float(self.doc_len_.mean()) if self.n_docs_ and self.doc_len_.sum() > 0 else 1.0
        self.df_ = np.diff(self.counts_.indptr).astype(np.float32)
        n = float(self.n_docs_)
        self.idf_ = np.log1p((n - self.df_ + 0.5) / (self.df_ + 0.5)).astype(np.float32)  # Lucene's idf
        # The length normalisation of every document; recomputed per index (it moves with the average length).
        self.norm_ = (self.k1 * ((1 - self.b) + self.b * self.doc_len_ / self.avg_len_)).astype(np.float32)
        # Each posting's tf / (tf + norm[doc]), computed in place (one nnz-sized float32 array, no float64 temporaries).
        # It shares the counts' index arrays; a query multiplies it by its terms' idf only.
        tf, weight = self.counts_.data, self.norm_[self.counts_.indices]
        weight += tf
        np.divide(tf, weight, out=weight)
        self.weights_ = sp.csc_matrix((weight, self.counts_.indices, self.counts_.indptr), shape=self.counts_.shape,
                                      copy=False)

    def recombine(self, parts: Sequence[np.ndarray | Iterable[str]], *, chunk_size: int = CHUNK_SIZE) -> LexicalIndex:
        """A new index whose documents are ``parts`` concatenated: an integer array takes those rows of this index
        (no re-tokenising), an iterable of strings adds new texts. This index is left unchanged (queries in flight
        keep using it)."""
        vocab = dict(self.vocab_)
        rows = self.counts_.tocsr()
        blocks = []
        for part in parts:
            if isinstance(part, np.ndarray):
                blocks.append(rows[part.astype(np.int64)])
            else:
                blocks.extend(self._count_rows(part, vocab, chunk_size))
        del rows
        out = LexicalIndex(k1=self.k1, b=self.b, stopwords=self.stopwords, language=self.language,
                           fold_spelling=self.fold_spelling)
        out._stemmer, out._stop = self._stemmer, self._stop
        out._set_counts(self._stack(blocks, max(len(vocab), 1)), vocab)
        return out

    def terms(self, text: str) -> list[str]:
        """The BM25 terms of one text as this index reads it (stop words dropped, stemmed, repeats kept)."""
        return self._tokenise([text])[0]

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every document for ``query`` (zeros when no query term is in the corpus). A term repeated
        in the query counts as often as it appears, as in bm25s."""
        counted = Counter(self.vocab_[t] for t in self.terms(query) if t in self.vocab_)
        if not counted:
            return np.zeros(self.n_docs_, dtype=np.float32)
        # A query's few term ids, in id order: from a Counter, since np.unique's checks cost more than the sort.
        terms = np.array(sorted(counted), dtype=np.int64)
        repeats = np.array([counted[t] for t in terms.tolist()], dtype=np.int64)
        return self._term_scores(terms, (repeats * self.idf_[terms]).astype(np.float32))

    def weighted_scores(self, terms: Mapping[str, float]) -> np.ndarray:
        """BM25 score of every document for weighted terms (term as ``tokens`` gives it -> its weight in place of
        its repeats in the query): ``scores`` with each term's count replaced by a weight."""
        ids = {self.vocab_[t]: float(w) for t, w in terms.items() if t in self.vocab_ and w > 0}
        if not ids:
            return np.zeros(self.n_docs_, dtype=np.float32)
        order = np.array(sorted(ids), dtype=np.int64)
        weights = np.array([ids[t] for t in order.tolist()], dtype=np.float32) * self.idf_[order]
        return self._term_scores(order, weights.astype(np.float32))

    def _term_scores(self, terms: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Scores for term ids (sorted) with their query weights (idf included)."""
        lengths = self.weights_.indptr[terms + 1] - self.weights_.indptr[terms]
        if self.n_docs_ + lengths.sum() <= SMALL_POSTINGS:
            # A small corpus: one weighted bincount over the postings, since scipy's column slice has a fixed cost
            # of checks and copies whatever its size. The bincount's float64 output grows with the corpus, so past
            # SMALL_POSTINGS scipy's product is cheaper.
            rows, _ = ranges(self.weights_.indptr, terms)
            out = np.bincount(self.weights_.indices[rows], weights=self.weights_.data[rows] * np.repeat(weights, lengths),
                              minlength=self.n_docs_)
            return out.astype(np.float32)
        # One sparse product over the query terms' columns: scipy copies those postings and scatters them in C,
        # cheaper on a large corpus than a numpy ``out[docs] += weight`` per term or the bincount above.
        return self.weights_[:, terms] @ weights

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
