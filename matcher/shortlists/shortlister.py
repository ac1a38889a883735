"""Computing one shortlist: score every (project, candidate) pair with the product's ranking, then solve one
constrained assignment over all of them (``matcher.shortlists.solver``). Pure: no database, no threads."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel

from corpus.schema import Project
from embeddings.base import encode_queries
from matcher.errors import MatcherError, OrganisationNotFound
from matcher.ranking.eligibility import Scope
from matcher.results import Match
from matcher.shortlists.feasibility import FILTER_REMEDIES, Eligibility, find_shortfall
from matcher.shortlists.request import ShortlistRequest
from matcher.shortlists.solver import Progress, ShortlistConstraints, assign
from matcher.storage.shortlist_store import ShortlistAssignment

if TYPE_CHECKING:
    from matcher.index import PartnerIndex

class ShortlistSummary(BaseModel):
    """What a finished shortlist achieved; stored with the job and shown to officers."""

    projects: int
    assignments: int
    total_score: float
    lowest_score: float | None
    mean_score: float | None
    method: str
    greedy_total_score: float | None  # the greedy baseline's total, for comparison (optimal method only)
    organisations_used: int
    max_load: int
    load: dict[str, int]  # organisation id -> lists it is on, most first
    seconds: float


@dataclass(frozen=True)
class ShortlistOutcome:
    assignments: list[ShortlistAssignment]  # ranked within each project, projects in request order
    summary: ShortlistSummary


def _checkpoint(progress: Progress | None, start: float, span: float) -> Progress:
    return (lambda f: progress(start + span * min(max(f, 0.0), 1.0))) if progress else (lambda f: None)


def constraints_of(request: ShortlistRequest) -> ShortlistConstraints:
    return ShortlistConstraints(per_project=request.per_project, max_per_organisation=request.max_per_organisation,
                                min_per_type={str(t): n for t, n in request.min_per_type.items()})


class Shortlister:
    """Computes shortlists over a partner index. Used by the job runner and the CLI's synchronous path alike.

    ``scope``: the programme (``matcher.ranking.eligibility``), as search uses it: a project's partners are sought
    in the request's countries, else the ones it seeks partners from, else the programme's other country; each
    assignment carries its ``eligibility``, and the request's ``eligibility`` keeps only those labels. Without a
    scope, a project without seeking countries looks everywhere and nothing is labelled."""

    def __init__(self, index: PartnerIndex, scope: Scope | None = None) -> None:
        self.index = index
        self.scope = scope

    def countries(self, request: ShortlistRequest, project: Project) -> list[str]:
        """The countries a project's partners come from (``[]``: every country)."""
        if request.countries:
            return list(request.countries)
        if self.scope is None:
            return list(project.seeking_countries)
        return self.scope.project_countries(project.seeking_countries, project.country, request.eligibility)

    def _allowed(self, request: ShortlistRequest, project: Project, rejected: dict[str, set[str]]) -> np.ndarray:
        """Index positions a project's filters allow (countries, types, eligibility, exclusions)."""
        index = self.index
        positions = index.allowed_positions(self.countries(request, project), request.org_types,
                                            self._exclusions(request, project, rejected))
        if self.scope is not None and request.eligibility:
            positions = positions[self.scope.mask(index.countries_[positions], index.org_types_[positions],
                                                  request.eligibility)]
        return positions

    def _exclusions(self, request: ShortlistRequest, project: Project, rejected: dict[str, set[str]]) -> set[str]:
        out = {*request.exclude_organisations, *request.exclude.get(project.id, ()), *rejected.get(project.id, ())}
        if project.lead_organisation_id:
            out.add(project.lead_organisation_id)
        return out

    def _kept(self, request: ShortlistRequest, project: Project, rejected: dict[str, set[str]]) -> list[str]:
        """The organisations kept on a project's list (accepted before): stored, not rejected since, not its lead."""
        kept = list(dict.fromkeys(request.keep.get(project.id, ())))
        missing = [o for o in kept if o not in self.index.positions_]
        if missing:
            raise OrganisationNotFound(f"project {project.id!r} keeps {', '.join(missing)}, which is not stored (any "
                                       "more); remove it from keep", {"missing": missing})
        return [o for o in kept if o not in rejected.get(project.id, ()) and o != project.lead_organisation_id]

    def precheck(self, request: ShortlistRequest, projects: Sequence[Project], rejected: dict[str, set[str]]) -> None:
        """Refuse an impossible request at once (422), before any ranking: the feasibility check over every
        organisation each project's filters allow (and its kept partners). Passing it is necessary, not
        sufficient: the solver reports the rest."""
        rows = [np.union1d(self._allowed(request, project, rejected),
                           np.array([self.index.positions_[o] for o in self._kept(request, project, rejected)],
                                    dtype=np.int64))
                for project in projects]
        constraints = constraints_of(request)
        eligibility = Eligibility.of_rows(rows, self.index.org_types_, constraints.min_per_type)
        shortfall = find_shortfall(eligibility, constraints.per_project, constraints.max_per_organisation,
                                   constraints.min_per_type, FILTER_REMEDIES)
        if shortfall is not None:
            raise shortfall.error([p.id for p in projects])

    def _candidates(self, request: ShortlistRequest, project: Project, rejected: dict[str, set[str]],
                    vector: np.ndarray | None = None) -> list[Match]:
        """A project's best candidates, all from one ranking call (so their scores compare). The pool grows until
        it holds a margin of every type the mix requires, or every eligible organisation."""
        index = self.index
        k = min(len(index), max(100, 10 * request.per_project))
        while True:
            matches = index.rank(project, k=k, countries=self.countries(request, project),
                                 org_types=request.org_types, exclude=self._exclusions(request, project, rejected),
                                 explain=False, diversify=False, query_vector=vector, scope=self.scope,
                                 eligibility=request.eligibility)
            types = Counter(m.organisation.org_type for m in matches)
            enough = all(types[t] >= 3 * n for t, n in request.min_per_type.items())
            if enough or k >= len(index) or len(matches) < k:
                return matches
            k = min(len(index), 4 * k)

    def scores(self, request: ShortlistRequest, projects: Sequence[Project], rejected: dict[str, set[str]],
               progress: Progress | None = None) -> tuple[np.ndarray, list[int], np.ndarray, list[tuple[int, int]]]:
        """The score of every (project, candidate) pair: each project's retrieved candidates scored by the
        product's ranking (one query per project, comparable within the project); other pairs are forbidden.
        A kept partner that retrieval did not bring back is scored on its own. Returns (scores, index positions of
        the columns, the projects' query vectors, the kept pairs as (row, column))."""
        index = self.index
        columns: dict[int, int] = {}
        cells: list[tuple[int, int, float]] = []
        # Every project's text goes to the model in batches: far faster than one query at a time. The model reads
        # what the query steps make of it (normalised, translated, a long summary's best passage), as a brief's.
        texts = [index.analyse_query(p.query_text()).dense_texts[0] for p in projects]
        vectors = encode_queries(index.embedder, texts, batch_size=32)
        report = _checkpoint(progress, 0.2, 0.8)
        report(0.0)
        fixed: list[tuple[int, int]] = []
        for row, project in enumerate(projects):
            found = self._candidates(request, project, rejected, vectors[row])
            kept = self._kept(request, project, rejected)
            seen = {m.organisation.id for m in found}
            if missing := [o for o in kept if o not in seen]:
                found += index.rank(project, k=len(missing), only=missing, explain=False, diversify=False,
                                    query_vector=vectors[row])
            for m in found:
                position = index.positions_[m.organisation.id]
                # The solver optimises each project's relative ranking score, as the project's own list is ordered.
                relevance = m.relevance if m.relevance is not None else m.score
                cells.append((row, columns.setdefault(position, len(columns)), relevance))
            fixed.extend((row, columns[index.positions_[o]]) for o in kept
                         if index.positions_[o] in columns)
            report((row + 1) / len(projects))
        matrix = np.full((len(projects), len(columns)), -np.inf)
        for row, column, score in cells:
            matrix[row, column] = score
        return matrix, list(columns), vectors, fixed

    def run(self, request: ShortlistRequest, projects: Sequence[Project], rejected: dict[str, set[str]] | None = None,
            progress: Progress | None = None) -> ShortlistOutcome:
        """The chosen pairs (ranked within each project, none decided yet) and a summary."""
        started = time.perf_counter()
        rejected = rejected or {}
        self.precheck(request, projects, rejected)
        matrix, positions, vectors, fixed = self.scores(request, projects, rejected, _checkpoint(progress, 0.0, 0.7))
        index = self.index
        types = [str(index.org_types_[p]) for p in positions]
        constraints = constraints_of(request)
        result = assign(matrix, types, constraints, method=request.method, progress=_checkpoint(progress, 0.7, 0.2),
                        project_ids=[p.id for p in projects], fixed=fixed)
        greedy_total = None
        if request.method == "optimal":  # the baseline, for comparison: what ranking greedily would have given
            try:
                greedy_total = round(assign(matrix, types, constraints, method="greedy", fixed=fixed).total_score, 4)
            except MatcherError:
                greedy_total = None
        assignments: list[ShortlistAssignment] = []
        by_project = result.by_project()
        report = _checkpoint(progress, 0.9, 0.1)
        for done, (row, pairs) in enumerate(sorted(by_project.items())):
            project = projects[row]
            pairs = sorted(pairs, key=lambda p: p.rank)
            chosen = [index.ids_[positions[p.organisation]] for p in pairs]
            explained = {m.organisation.id: m for m in index.rank(
                project, k=len(chosen), only=chosen, explain=True, diversify=False, query_vector=vectors[row])}
            reasons = {o: m.explanation["reason"] for o, m in explained.items() if m.explanation is not None}
            for pair, org_id in zip(pairs, chosen):
                org = index.organisations_[index.positions_[org_id]]
                assignments.append(ShortlistAssignment(
                    project_id=project.id, organisation_id=org.id, organisation_name=org.name, country=org.country,
                    org_type=org.org_type, rank=pair.rank, score=round(float(pair.score), 4),
                    fit=None if (m := explained.get(org.id)) is None or m.fit is None else round(float(m.fit), 4),
                    band=m.band if m is not None else None,
                    reason=reasons.get(org.id, ""), decision=None, note="", decided_at=None,
                    eligibility=self.scope.label(org.country, org.org_type) if self.scope else None))
            report((done + 1) / max(len(by_project), 1))
        scores = [a.score for a in assignments]
        load = Counter(a.organisation_id for a in assignments)
        summary = ShortlistSummary(
            projects=len(projects),
            assignments=len(assignments),
            total_score=round(float(sum(scores)), 4),
            lowest_score=round(float(min(scores)), 4) if scores else None,
            mean_score=round(float(np.mean(scores)), 4) if scores else None,
            method=result.method,
            greedy_total_score=greedy_total,
            organisations_used=len(load),
            max_load=max(load.values()) if load else 0,
            load=dict(sorted(load.items(), key=lambda item: (-item[1], item[0]))),
            seconds=round(time.perf_counter() - started, 3),
        )
        return ShortlistOutcome(assignments, summary)


__all__ = ["ShortlistOutcome", "ShortlistSummary", "Shortlister", "constraints_of"]
