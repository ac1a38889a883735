"""The query analyser: fitted with the partner index (its vocabulary), it runs the query steps on a brief."""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache

from corpus.normalise import QueryNormaliser
from matcher.query.query import AnalysedQuery
from matcher.query.step import QueryStep
from matcher.retrieval.lexical import LexicalIndex

_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # BM25's token pattern (``fit`` counts BM25's own words)


class QueryVocabulary:
    """Document frequency of each lower-cased word of the indexed texts: the spelling corrector's vocabulary.

    Counted while BM25 tokenises the same texts (``fit``), so a build or a load reads them once; a write adds
    and removes the changed organisations' texts (``with_texts``), so it costs what the change does.
    """

    def __init__(self, counts: Counter[str] | None = None, n_texts: int = 0) -> None:
        self.counts: Counter[str] = counts if counts is not None else Counter()
        self.n_texts = n_texts

    def _words(self, text: str) -> set[str]:
        return set(_TOKEN.findall(text.lower()))

    def fit(self, texts: Iterable[str], lexical: LexicalIndex) -> LexicalIndex:
        """``lexical`` fitted on ``texts``, these texts' words counted in the same tokenising pass."""
        def counted() -> Iterator[str]:
            for text in texts:
                self.n_texts += 1
                yield text

        return lexical.fit(counted(), words=self.counts)

    def with_texts(self, removed: Iterable[str], added: Iterable[str]) -> QueryVocabulary:
        """A new vocabulary with ``removed`` texts' words taken away and ``added`` texts' words counted."""
        counts, n = self.counts.copy(), self.n_texts
        for text in removed:
            counts.subtract(self._words(text))
            n -= 1
        for text in added:
            counts.update(self._words(text))
            n += 1
        return QueryVocabulary(+counts, n)  # unary plus drops the words no text uses any more

    def frequencies(self) -> dict[str, int]:
        """Words of letters only (what the corrector reads) -> document frequency."""
        return {w: n for w, n in self.counts.items() if w.isalpha()}


class QueryAnalyser:
    """Runs ``steps`` (default ``matcher.query.STEPS``) on a brief. The normaliser (spelling corrector over the
    vocabulary) is made on first use, so a write that derives a new analyser pays nothing until a query comes;
    analyses of recent briefs are kept (``cache_size``), as the query vectors are."""

    def __init__(self, vocabulary: QueryVocabulary, *, steps: Sequence[QueryStep] | None = None,
                 cache_size: int = 1024) -> None:
        if steps is None:
            from matcher.query import STEPS

            steps = STEPS
        self.vocabulary = vocabulary
        self.steps = tuple(steps)
        self.cache_size = cache_size
        self._normaliser: QueryNormaliser | None = None
        self._lock = threading.Lock()
        self.analyse = lru_cache(maxsize=cache_size)(self._analyse)

    @property
    def normaliser(self) -> QueryNormaliser:
        if self._normaliser is None:
            with self._lock:
                if self._normaliser is None:
                    from matcher.query.normalise import expands

                    self._normaliser = QueryNormaliser(self.vocabulary.frequencies(), expands=expands)
        return self._normaliser

    def _analyse(self, brief: str) -> AnalysedQuery:
        query = AnalysedQuery.of(brief)
        for step in self.steps:
            query = step.apply(query, self)
        return query

    def with_changes(self, removed: Iterable[str], added: Iterable[str]) -> QueryAnalyser:
        """An analyser over the vocabulary with ``removed`` texts taken out and ``added`` ones in."""
        return type(self)(self.vocabulary.with_texts(removed, added), steps=self.steps, cache_size=self.cache_size)

    def warm_up(self) -> None:
        """Make the normaliser and load its dictionaries (a few hundred ms, once per process for the latter)."""
        self.analyse("warm up: recovering Li and Co from black mass")
