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
from matcher.errors import MatcherError, OrganisationNotFound
from matcher.ranking import calibration
from matcher.ranking.eligibility import Scope
from matcher.results import Match
from matcher.shortlists.feasibility import FILTER_REMEDIES, Eligibility, find_shortfall
from matcher.shortlists.request import ShortlistRequest
from matcher.shortlists.solver import Assignment as Pair
from matcher.shortlists.solver import Progress, ShortlistConstraints, assign
from matcher.storage.shortlist_store import ShortlistAssignment

if TYPE_CHECKING:
    from matcher.index import PartnerIndex

class ShortlistSummary(BaseModel):
    """What a finished shortlist achieved; stored with the job and shown to officers. ``*_score``: the assigned
    partners' ``score`` (the calibrated fit); ``*_relevance``: the relevance the solver maximises."""

    projects: int
    assignments: int
    total_score: float
    lowest_score: float | None
    mean_score: float | None
    total_relevance: float | None = None  # the solver's objective (None on shortlists stored before it was kept)
    method: str
    greedy_total_score: float | None  # the greedy baseline's total fit, for comparison (optimal method only)
    greedy_total_relevance: float | None = None  # the greedy baseline's objective: never above total_relevance
    organisations_used: int
    max_load: int
    load: dict[str, int]  # organisation id -> lists it is on, most first
    seconds: float


@dataclass(frozen=True)
class Shown:
    """A candidate as its project's ranked list shows it: its place (0 first), relevance, fit and band."""

    place: int
    relevance: float
    fit: float | None
    band: str | None


@dataclass(frozen=True)
class Scored:
    """Every project's candidates: relevance per (project row, column) (-inf: not a candidate), the index
    positions of the columns, the kept pairs (row, column) and, per row, each candidate column as its list shows
    it."""

    matrix: np.ndarray
    positions: list[int]
    fixed: list[tuple[int, int]]
    shown: list[dict[int, Shown]]


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

    def _candidates(self, request: ShortlistRequest, project: Project, rejected: dict[str, set[str]]) -> list[Match]:
        """A project's best candidates, all from one ranking call (so their scores compare). The pool grows until
        it holds a margin of every type the mix requires, or every eligible organisation."""
        index = self.index
        k = min(len(index), max(100, 10 * request.per_project))
        while True:
            matches = index.rank(project, k=k, countries=self.countries(request, project),
                                 org_types=request.org_types, exclude=self._exclusions(request, project, rejected),
                                 explain=False, diversify=False, scope=self.scope,
                                 eligibility=request.eligibility)
            types = Counter(m.organisation.org_type for m in matches)
            enough = all(types[t] >= 3 * n for t, n in request.min_per_type.items())
            if enough or k >= len(index) or len(matches) < k:
                return matches
            k = min(len(index), 4 * k)

    def scores(self, request: ShortlistRequest, projects: Sequence[Project], rejected: dict[str, set[str]],
               progress: Progress | None = None) -> Scored:
        """Every (project, candidate) pair as the project's ranked list shows it: each project's retrieved
        candidates ranked by the product's ranking (one query per project, so relevance compares within the
        project); other pairs are forbidden. A kept partner that retrieval did not bring back is ranked on its own
        and placed after the list."""
        index = self.index
        columns: dict[int, int] = {}
        cells: list[tuple[int, int, float]] = []
        shown: list[dict[int, Shown]] = []
        # Each project is ranked exactly as the match endpoint ranks it (its vectors, a long summary's passages too,
        # come through the index's query cache): a batch would give the int8 model other vectors, and other fits.
        report = _checkpoint(progress, 0.2, 0.8)
        report(0.0)
        fixed: list[tuple[int, int]] = []
        for row, project in enumerate(projects):
            found = self._candidates(request, project, rejected)
            kept = self._kept(request, project, rejected)
            seen = {m.organisation.id for m in found}
            if missing := [o for o in kept if o not in seen]:
                found += index.rank(project, k=len(missing), only=missing, explain=False, diversify=False)
            listed: dict[int, Shown] = {}
            for place, m in enumerate(found):
                column = columns.setdefault(index.positions_[m.organisation.id], len(columns))
                # The solver optimises each project's relative ranking score, as the project's own list is ordered.
                relevance = m.relevance if m.relevance is not None else m.score
                cells.append((row, column, relevance))
                listed[column] = Shown(place, relevance, m.fit, m.band)
            shown.append(listed)
            fixed.extend((row, columns[index.positions_[o]]) for o in kept
                         if index.positions_[o] in columns)
            report((row + 1) / len(projects))
        matrix = np.full((len(projects), len(columns)), -np.inf)
        for row, column, score in cells:
            matrix[row, column] = score
        return Scored(matrix, list(columns), fixed, shown)

    def in_list_order(self, pairs: Sequence[Pair], shown: dict[int, Shown]) -> list[tuple[Pair, float | None, str | None]]:
        """A project's chosen pairs in the order of its ranked list (the match endpoint's order), each with the fit
        and band shown there. The fits of a list are non-increasing down it, so those of its chosen members are
        too; only a kept partner ranked apart (listed last) can exceed the one above, and is capped at it."""
        out: list[tuple[Pair, float | None, str | None]] = []
        above: float | None = None
        fitted = calibration.load()
        for pair in sorted(pairs, key=lambda p: shown[p.organisation].place):
            fit, band = shown[pair.organisation].fit, shown[pair.organisation].band
            if fit is not None and above is not None and fit > above:
                weak = band == "weak" or (self.index.weak_below is not None and above < self.index.weak_below)
                fit, band = above, "weak" if weak else fitted.band(above)
            above = fit if fit is not None else above
            out.append((pair, fit, band))
        return out

    def run(self, request: ShortlistRequest, projects: Sequence[Project], rejected: dict[str, set[str]] | None = None,
            progress: Progress | None = None) -> ShortlistOutcome:
        """The chosen pairs (ranked within each project, none decided yet) and a summary."""
        started = time.perf_counter()
        rejected = rejected or {}
        self.precheck(request, projects, rejected)
        scored = self.scores(request, projects, rejected, _checkpoint(progress, 0.0, 0.7))
        matrix, positions, fixed = scored.matrix, scored.positions, scored.fixed
        index = self.index
        types = [str(index.org_types_[p]) for p in positions]
        constraints = constraints_of(request)
        result = assign(matrix, types, constraints, method=request.method, progress=_checkpoint(progress, 0.7, 0.2),
                        project_ids=[p.id for p in projects], fixed=fixed)
        greedy = None
        if request.method == "optimal":  # the baseline, for comparison: what ranking greedily would have given
            try:
                greedy = assign(matrix, types, constraints, method="greedy", fixed=fixed)
            except MatcherError:
                greedy = None
        assignments: list[ShortlistAssignment] = []
        by_project = result.by_project()
        report = _checkpoint(progress, 0.9, 0.1)
        for done, (row, pairs) in enumerate(sorted(by_project.items())):
            project = projects[row]
            listed = self.in_list_order(pairs, scored.shown[row])
            chosen = [index.ids_[positions[pair.organisation]] for pair, _, _ in listed]
            # Only the reasons come from ranking the chosen alone: their fits are the project's list's, above.
            reasons = {m.organisation.id: m.explanation["reason"] for m in index.rank(
                project, k=len(chosen), only=chosen, explain=True, diversify=False)
                if m.explanation is not None}
            for rank, ((pair, fit, band), org_id) in enumerate(zip(listed, chosen), start=1):
                org = index.organisations_[index.positions_[org_id]]
                fit = None if fit is None else round(float(fit), 4)
                assignments.append(ShortlistAssignment(
                    project_id=project.id, organisation_id=org.id, organisation_name=org.name, country=org.country,
                    org_type=org.org_type, rank=rank, score=fit, relevance=round(float(pair.score), 4), fit=fit,
                    band=band, reason=reasons.get(org.id, ""), decision=None, note="", decided_at=None,
                    eligibility=self.scope.label(org.country, org.org_type) if self.scope else None))
            report((done + 1) / max(len(by_project), 1))
        fits = [a.score for a in assignments if a.score is not None]
        load = Counter(a.organisation_id for a in assignments)

        def fit_total(pairs: Sequence[Pair]) -> float:
            return round(float(sum(scored.shown[p.project][p.organisation].fit or 0.0 for p in pairs)), 4)

        summary = ShortlistSummary(
            projects=len(projects),
            assignments=len(assignments),
            total_score=round(float(sum(fits)), 4),
            lowest_score=round(float(min(fits)), 4) if fits else None,
            mean_score=round(float(np.mean(fits)), 4) if fits else None,
            total_relevance=round(float(result.total_score), 4),
            method=result.method,
            greedy_total_score=fit_total(greedy.pairs) if greedy is not None else None,
            greedy_total_relevance=round(float(greedy.total_score), 4) if greedy is not None else None,
            organisations_used=len(load),
            max_load=max(load.values()) if load else 0,
            load=dict(sorted(load.items(), key=lambda item: (-item[1], item[0]))),
            seconds=round(time.perf_counter() - started, 3),
        )
        return ShortlistOutcome(assignments, summary)


__all__ = ["ShortlistOutcome", "ShortlistSummary", "Shortlister", "constraints_of"]
