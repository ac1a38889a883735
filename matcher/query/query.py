"""What a brief becomes once analysed: the ``AnalysedQuery`` every query step fills a part of."""

from __future__ import annotations

from dataclasses import dataclass, field
from collections.abc import Mapping

from corpus.normalise import Correction, Recognised, clean_query_text

# From this many words a brief is long: the model reads its best passages, BM25 its weighted terms. Shorter briefs
# (queries, one-paragraph briefs) take the short path: one text, every term at its BM25 weight.
LONG_BRIEF_WORDS = 100
# Up to this many words a brief is a search-box query ("tailings reprocessing"): its exact words say more than the
# model's reading of a few words against whole profiles, so BM25 weighs more in the fusion (``short_lexical``).
SHORT_QUERY_WORDS = 4


@dataclass(frozen=True)
class AnalysedQuery:
    """A brief made ready for retrieval and scoring.

    ``lexical_text`` is what BM25 reads (``lexical_terms``, when set, replaces it with weighted terms);
    ``dense_text`` is what the model reads for a short brief; ``passages`` (long briefs only) are what it reads
    instead, best first, each encoded as a query of its own.
    """

    original: str
    words: int  # of the original brief
    language: str = "en"
    translated: str | None = None  # English rendering of a French brief
    dense_text: str = ""
    lexical_text: str = ""
    corrections: tuple[Correction, ...] = ()
    recognised: tuple[Recognised, ...] = ()
    minerals: tuple[str, ...] = ()  # vocabulary mineral ids, first mention first
    stages: tuple[str, ...] = ()  # value-chain stage ids, first mention first
    domain_terms: tuple[str, ...] = ()  # distinct minerals, stages and domain words recognised (see DomainTerms)
    other_terms: tuple[str, ...] = ()  # the brief's other content stems: not field, generic or function words
    passages: tuple[str, ...] = ()  # long briefs: the passages the model reads, best first
    lexical_terms: Mapping[str, float] | None = field(default=None, compare=False)  # BM25 stem -> query weight

    @classmethod
    def of(cls, brief: str) -> AnalysedQuery:
        """The query before any step: every text is the brief itself, cleaned of format and control characters
        (``clean_query_text``), so both retrievers and every later step read the same words."""
        brief = clean_query_text(brief)
        return cls(brief, len(brief.split()), dense_text=brief, lexical_text=brief)

    @property
    def long(self) -> bool:
        return self.words >= LONG_BRIEF_WORDS

    @property
    def short(self) -> bool:
        return self.words <= SHORT_QUERY_WORDS

    @property
    def domain_evidence(self) -> int:
        """How many distinct minerals, value-chain stages and domain terms (processes, materials, environment,
        the two challenges) the brief names: 0 means nothing of the field was recognised."""
        return len(self.domain_terms)

    @property
    def field_only(self) -> bool:
        """The brief names the field (a mineral, stage or field term) and nothing else but generic and function
        words ("cobalt", "tailings", "hydrometallurgical processing"): it is about critical minerals, whatever the
        model makes of a word or two."""
        return bool(self.domain_terms) and not self.other_terms

    @property
    def field_words(self) -> int:
        """How many distinct field words (stems) the brief uses: ``domain_terms`` less its minerals and stages."""
        return sum(1 for t in self.domain_terms if ":" not in t)

    @property
    def key_terms(self) -> frozenset[str]:
        """The BM25 stems worth pointing at in evidence: a long brief's field terms (the ones ``TermWeights``
        weighs fully), any other brief's terms less the words every proposal uses (``domain.GENERIC``) and
        English function words (bm25s' fuller list: BM25 keeps "from", "with", but they say nothing)."""
        from matcher.query.domain import GENERIC, domain_stems, function_stems
        from matcher.retrieval.lexical import tokens

        terms = set(self.lexical_terms) if self.lexical_terms is not None else set(tokens(self.lexical_text))
        kept = terms & domain_stems() if self.long else terms - GENERIC
        return frozenset(kept - function_stems())

    @property
    def dense_texts(self) -> tuple[str, ...]:
        """What the model encodes: the passages of a long brief, else the one dense text."""
        return self.passages or (self.dense_text,)
