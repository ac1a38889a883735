"""What every query step provides: one change to an ``AnalysedQuery``, reading what earlier steps wrote."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from matcher.query.analyser import QueryAnalyser
    from matcher.query.query import AnalysedQuery


class QueryStep:
    """A query step. Subclass it in its own module and add an instance to ``STEPS`` (matcher/query).

    ``apply`` returns the query with this step's fields set (``dataclasses.replace``); it reads the index's
    vocabulary and normaliser from ``analyser``. Steps hold no per-query state: one instance serves every request.
    """

    name: ClassVar[str]

    def apply(self, query: AnalysedQuery, analyser: QueryAnalyser) -> AnalysedQuery:
        raise NotImplementedError
