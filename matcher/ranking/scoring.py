"""Scores, diversity and explanations of one query's candidates, from the registered signals."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from matcher.ranking.calibration import unseen_idf
from matcher.ranking.signal import QuerySignals, ScoringData, ShownOrganisation, Signal
from matcher.retrieval.lexical import LexicalIndex


def combine(signals: Sequence[Signal], weights: Any, data: ScoringData,
            query: QuerySignals) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Scores of all candidates at once: the weighted mean of the contributions that apply (every one in
    [0, 1]); and each component per candidate (NaN where it does not apply to that one).

    Summed in registry order, one vector operation per signal: the order fixes the float arithmetic, so the same
    signals always give the same scores to the last bit."""
    parts: dict[str, np.ndarray] = {}
    total: np.ndarray | None = None
    weight: np.ndarray | None = None
    for signal in signals:
        contribution = signal.score(data, query)
        if contribution is None:
            continue
        parts.update(contribution.parts)
        if contribution.value is None:
            continue
        w = getattr(weights, signal.name)
        if total is None:  # the first signal applies everywhere (see SIGNALS)
            total, weight = w * contribution.value, np.full(len(contribution.value), w)
        elif contribution.applies is None:
            total, weight = total + w * contribution.value, weight + w
        else:
            total = total + np.where(contribution.applies, w * contribution.value, 0.0)
            weight = weight + np.where(contribution.applies, w, 0.0)
    assert total is not None and weight is not None, "the first signal must always contribute"  # nosec B101
    return total / weight, parts


def diversify(scored: list[tuple[float, int, int]], k: int, diversity: float,
              profiles: np.ndarray) -> list[tuple[float, int, int]]:
    """Maximal marginal relevance over the best candidates, using profile similarity between organisations.

    ``scored`` is (score, position, row) best first; ``profiles`` their profile vectors, aligned. A candidate's
    gain is (1 - d) * score - d * (its highest similarity to one already chosen). Kept up to date with one
    ``minimum`` per pick against that pick's row of ``value - d * similarity``, which is the same float arithmetic
    (rounding is monotone) in fewer numpy calls a pick."""
    value = (1 - diversity) * np.array([s for s, _, _ in scored])
    after = value - diversity * (profiles @ profiles.T).astype(np.float64)  # row b: gains once b is chosen
    gain = value.copy()
    chosen: list[int] = []
    for _ in range(min(k, len(scored))):
        best = int(gain.argmax())  # ties: the earlier (better-ranked) candidate
        chosen.append(best)
        np.minimum(gain, after[best], out=gain)
        gain[best] = -np.inf  # and minimum keeps it there
    return [scored[i] for i in chosen]


@dataclass(frozen=True)
class SentenceTerms:
    """The brief's indexed terms and their idf, to score an evidence sentence's words against the brief.

    A sentence's keyword score is the idf mass of the brief's terms it contains, over the brief's whole idf mass:
    in [0, 1], 1 when it holds every term of the brief."""

    tokenise: Callable[[str], list[str]]
    idf: dict[str, float]
    mass: float

    @classmethod
    def of(cls, lexical: LexicalIndex, text: str) -> SentenceTerms:
        tokenise = lexical.terms
        terms = set(tokenise(text)) if text else set()
        unseen = unseen_idf(lexical)  # a word the corpus never uses: the highest idf
        idf = {t: float(lexical.idf_[lexical.vocab_[t]]) if t in lexical.vocab_ else unseen for t in terms}
        return cls(tokenise, idf, sum(idf.values()))

    def score(self, sentence: str) -> float:
        return self.score_terms(frozenset(self.tokenise(sentence)))

    def score_terms(self, terms: frozenset[str]) -> float:
        """The score of a sentence already tokenised (``sentence_terms``)."""
        if self.mass <= 0:
            return 0.0
        shared = terms & self.idf.keys()  # a few brief terms against a sentence's many: intersect in C
        return sum(map(self.idf.__getitem__, shared)) / self.mass if shared else 0.0


def sentence_terms(lexical: LexicalIndex, sentence: str) -> frozenset[str]:
    """A sentence's distinct terms, tokenised as the index's BM25 does."""
    return frozenset(lexical.terms(sentence))


def explanations(signals: Sequence[Signal], query: QuerySignals, challenge_ids: Sequence[int],
                 shown: Sequence[ShownOrganisation], sentence_sims: list[float], lengths: list[int],
                 weights: dict[str, float], sentence_keywords: Sequence[float] | None = None,
                 lexical_share: float = 0.0) -> Callable[[int, dict[str, float]], dict]:
    """A function (i, components) -> the explanation of the i-th shown organisation.

    ``sentence_sims`` are the similarities of every shown organisation's evidence sentences to the query and
    ``sentence_keywords`` their keyword scores (``SentenceTerms``), concatenated (``lengths`` of each). The
    evidence is the two sentences best by both together, ``lexical_share * keywords + (1 - lexical_share) *
    similarity`` (the share of BM25 in the relevance fusion). What depends only on the query is made once, by each
    signal's explainer; the reason text is their parts in registry order, as one plain sentence."""
    explainers = [e for e in (s.explainer(query, challenge_ids) for s in signals) if e is not None]
    offsets = [0, *itertools.accumulate(lengths)]
    keywords = list(sentence_keywords) if sentence_keywords is not None else [0.0] * len(sentence_sims)

    def explain(i: int, components: dict[str, float]) -> dict:
        organisation = shown[i]
        sims = sentence_sims[offsets[i] : offsets[i + 1]]
        words = keywords[offsets[i] : offsets[i + 1]]
        combined = [lexical_share * w + (1 - lexical_share) * s for s, w in zip(sims, words)]
        best = sorted(range(len(sims)), key=combined.__getitem__, reverse=True)[:2]  # ties: the earlier sentence
        evidence = [{"text": organisation.passages[j], "similarity": round(sims[j], 4), "keywords": round(words[j], 4)}
                    for j in best]
        reason, fields = "", {}
        for explainer in explainers:
            part, more = explainer(organisation, components)
            reason += part
            fields.update(more)
        reason = reason.strip().strip(";").strip()
        if reason:
            reason = reason[0].upper() + reason[1:] + ("" if reason.endswith(".") else ".")
        return {"reason": reason, "evidence": evidence, **fields, "weights": dict(weights)}

    return explain
