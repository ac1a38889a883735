"""Passages: a long brief is read by the model as its most informative short passages.

A 150–600-word project summary says what it needs in one or two sentences among background, methods, team and
impact. Encoded whole, the model would read only its first 256 tokens (cutting the rest silently) and average the
need with the context; encoded sentence by sentence, a 300-word brief costs ten times a query. So the sentences
are scored by what they say about the field (distinct field terms, ``domain_stems``) and whether they say what
is sought (``CUES``: 'seeking partners with expertise in ...'), and the model reads the best sentence, with its
better neighbour when it is short, and the next best while the passages stay within ``WORD_BUDGET`` words: about
the cost of one short query per passage (each is encoded as a query of its own, so a passage finds exactly what it
finds alone). Every sentence still reaches BM25 (``TermWeights``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from matcher.query.domain import domain_stems
from matcher.query.step import QueryStep
from matcher.retrieval.lexical import tokens
from matcher.retrieval.units import split_sentences

if TYPE_CHECKING:
    from matcher.query.analyser import QueryAnalyser
    from matcher.query.query import AnalysedQuery

# Stems of the words a brief uses to say what it seeks ('we are seeking partners with expertise in').
CUES = frozenset(tokens("seek seeking sought looking partner partners expertise expert experience need needs "
                        "require requires required collaborator collaborators wish would like want"))
CUE_BONUS = 2.0  # a sentence that says what is sought counts as this many more field terms
MIN_PASSAGE_WORDS = 20  # a shorter best sentence is read with its better neighbour
WORD_BUDGET = 75  # words the passages may hold together (the first passage is always kept)
MAX_PASSAGES = 2


def sentence_score(sentence: str) -> float:
    """Distinct field stems in ``sentence``, plus ``CUE_BONUS`` when it says what is sought."""
    stems = set(tokens(sentence))
    return len(stems & domain_stems()) + (CUE_BONUS if stems & CUES else 0.0)


def best_passages(text: str, *, budget: int = WORD_BUDGET, most: int = MAX_PASSAGES) -> tuple[str, ...]:
    """The passages of ``text`` the model reads, best first (see the module docstring)."""
    sentences = split_sentences(text)
    if len(sentences) <= 1:
        return tuple(sentences)
    scores = [sentence_score(s) for s in sentences]
    lengths = [len(s.split()) for s in sentences]
    order = sorted(range(len(sentences)), key=lambda i: (-scores[i], i))
    used: set[int] = set()
    passages: list[str] = []
    words = 0
    for i in order:
        if len(passages) == most or i in used:
            continue
        window = [i]
        if lengths[i] < MIN_PASSAGE_WORDS:
            neighbours = [j for j in (i - 1, i + 1) if 0 <= j < len(sentences) and j not in used]
            if neighbours:
                window.append(max(neighbours, key=lambda j: (scores[j], -j)))
        size = sum(lengths[j] for j in window)
        if passages and words + size > budget:
            continue
        used.update(window)
        words += size
        passages.append(" ".join(sentences[j] for j in sorted(window)))
    return tuple(passages)


class Passages(QueryStep):
    """A long brief's passages (``best_passages`` of its normalised text); a short brief keeps none."""

    name = "passages"

    def apply(self, query: AnalysedQuery, analyser: QueryAnalyser) -> AnalysedQuery:
        if not query.long:
            return query
        return replace(query, passages=best_passages(query.dense_text, budget=WORD_BUDGET, most=MAX_PASSAGES))
