"""Officers' batch shortlists: every project of a call gets partners at once, fairly, and decisions are recorded.

Ranking each project alone puts the same famous organisations on every list. A shortlist instead scores every
(project, candidate) pair with the product's ranking, then solves one constrained assignment over all of them
(``matcher.assignment``): at most ``max_per_organisation`` lists per organisation, an organisation-type mix per
project, exclusions (the project's lead, listed conflicts, pairs an officer rejected before). The job runs in
the background; its state lives in the database (``matcher.shortlist_store``) so it survives restarts.
"""

from __future__ import annotations

import csv
import io
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from corpus.schema import CountryCode, Id, OrgType, Project
from embeddings.base import encode_queries
from matcher.assignment import ShortlistConstraints, assign
from matcher.errors import Infeasible, InvalidRequest, MatcherError, ProjectNotFound
from matcher.shortlist_store import HEARTBEAT_SECONDS, ShortlistStore

if TYPE_CHECKING:
    from matcher.engine import PartnerMatcher
    from matcher.index import PartnerIndex

log = logging.getLogger("matcher.shortlists")

MAX_PROJECTS = 5000


class ShortlistRequest(BaseModel):
    """What an officer asks for. Countries default to each project's ``seeking_countries`` (else any)."""

    model_config = ConfigDict(extra="forbid")

    project_ids: list[Id] | Literal["all"] = Field("all", description='project ids, or "all" for every project')
    per_project: int = Field(5, ge=1, le=50, description="partners on each project's list")
    max_per_organisation: int = Field(2, ge=1, le=10_000, description="lists any one organisation may appear on")
    countries: list[CountryCode] = Field(default_factory=list, max_length=50,
                                         description="partner countries; empty: each project's seeking_countries")
    org_types: list[OrgType] = Field(default_factory=list, description="eligible organisation types; empty: all "
                                                                        "but funders")
    min_per_type: dict[OrgType, Annotated[int, Field(ge=0, le=50)]] = Field(
        default_factory=dict, description='per project, at least this many of each type, e.g. {"company": 1}')
    exclude: dict[Id, list[Id]] = Field(default_factory=dict, description="conflicts: project id -> organisation "
                                                                          "ids never shortlisted for it")
    exclude_organisations: list[Id] = Field(default_factory=list, max_length=10_000,
                                            description="organisations on no list")
    method: Literal["optimal", "greedy"] = "optimal"

    @model_validator(mode="after")
    def _coherent(self) -> ShortlistRequest:
        if isinstance(self.project_ids, list):
            if not self.project_ids:
                raise ValueError('project_ids is empty; list some project ids or send "all"')
            if len(self.project_ids) > MAX_PROJECTS:
                raise ValueError(f"at most {MAX_PROJECTS} projects per shortlist")
        needed = sum(self.min_per_type.values())
        if needed > self.per_project:
            raise ValueError(f"min_per_type asks for {needed} partners per project but per_project is "
                             f"{self.per_project}; raise per_project or lower the minimums")
        if self.org_types and (missing := set(self.min_per_type) - set(self.org_types)):
            raise ValueError(f"min_per_type names {sorted(missing)}, which org_types leaves out")
        return self


def _checkpoint(progress: Callable[[float], None] | None, start: float, span: float):
    return (lambda f: progress(start + span * min(max(f, 0.0), 1.0))) if progress else (lambda f: None)


class Shortlister:
    """Computes shortlists over a partner index (pure: no database, no threads). Used by the job runner and the
    CLI's synchronous path alike."""

    def __init__(self, index: PartnerIndex):
        self.index = index

    def _exclusions(self, request: ShortlistRequest, project: Project, rejected: dict[str, set[str]]) -> set[str]:
        out = {*request.exclude_organisations, *request.exclude.get(project.id, ()), *rejected.get(project.id, ())}
        if project.lead_organisation_id:
            out.add(project.lead_organisation_id)
        return out

    def precheck(self, request: ShortlistRequest, projects: Sequence[Project], rejected: dict[str, set[str]]) -> None:
        """Counting checks that need no ranking, so an impossible request is refused at once (422) with the
        constraint and the shortfall. Passing them is necessary, not sufficient: the solver reports the rest."""
        index = self.index
        union: set[int] = set()
        for project in projects:
            countries = request.countries or project.seeking_countries
            allowed = index._allowed_positions(countries, request.org_types, self._exclusions(request, project, rejected))
            union.update(allowed.tolist())
            if allowed.size < request.per_project:
                raise Infeasible(
                    f"project {project.id!r} has {allowed.size} eligible organisations but per_project asks for "
                    f"{request.per_project} (short by {request.per_project - allowed.size}); widen countries or "
                    f"org_types, or lower per_project",
                    {"constraint": "per_project", "project": project.id, "required": request.per_project,
                     "available": int(allowed.size), "shortfall": request.per_project - int(allowed.size),
                     "org_type": None})
            types = Counter(index.org_types_[allowed].tolist())
            for org_type, minimum in request.min_per_type.items():
                if types[org_type] < minimum:
                    raise Infeasible(
                        f"project {project.id!r} has {types[org_type]} eligible organisations of type {org_type!r} "
                        f"but min_per_type asks for {minimum} (short by {minimum - types[org_type]})",
                        {"constraint": "min_per_type", "project": project.id, "org_type": org_type,
                         "required": minimum, "available": types[org_type], "shortfall": minimum - types[org_type]})
        required = len(projects) * request.per_project
        available = len(union) * request.max_per_organisation
        if available < required:
            raise Infeasible(
                f"{len(projects)} projects × {request.per_project} partners need {required} places, but the "
                f"{len(union)} eligible organisations × max_per_organisation {request.max_per_organisation} offer "
                f"only {available} (short by {required - available}); raise max_per_organisation or widen countries",
                {"constraint": "max_per_organisation", "project": None, "org_type": None, "required": required,
                 "available": available, "shortfall": required - available})

    def _candidates(self, request: ShortlistRequest, project: Project, rejected: dict[str, set[str]],
                    vector: np.ndarray | None = None) -> list:
        """A project's best candidates, all from one ranking call (so their scores compare). The pool grows until
        it holds a margin of every type the mix requires, or every eligible organisation."""
        index = self.index
        k = min(len(index), max(100, 10 * request.per_project))
        while True:
            matches = index.rank(project, k=k, countries=request.countries or project.seeking_countries,
                                 org_types=request.org_types, exclude=self._exclusions(request, project, rejected),
                                 explain=False, diversify=False, query_vector=vector)
            types = Counter(m.organisation.org_type for m in matches)
            enough = all(types[t] >= 3 * n for t, n in request.min_per_type.items())
            if enough or k >= len(index) or len(matches) < k:
                return matches
            k = min(len(index), 4 * k)

    def scores(self, request: ShortlistRequest, projects: Sequence[Project], rejected: dict[str, set[str]],
               progress: Callable[[float], None] | None = None) -> tuple[np.ndarray, list[int], np.ndarray]:
        """The score of every (project, candidate) pair: each project's retrieved candidates scored by the
        product's ranking (one query per project, comparable within the project); other pairs are forbidden.
        Returns (scores, index positions of the columns, the projects' query vectors)."""
        index = self.index
        columns: dict[int, int] = {}
        cells: list[tuple[int, int, float]] = []
        # Every project's text goes to the model in batches (far faster than one query at a time).
        vectors = encode_queries(index.embedder, [p.query_text() for p in projects], batch_size=32)
        report = _checkpoint(progress, 0.2, 0.8)
        report(0.0)
        for row, project in enumerate(projects):
            for m in self._candidates(request, project, rejected, vectors[row]):
                position = index.positions_[m.organisation.id]
                cells.append((row, columns.setdefault(position, len(columns)), m.score))
            report((row + 1) / len(projects))
        matrix = np.full((len(projects), len(columns)), -np.inf)
        for row, column, score in cells:
            matrix[row, column] = score
        return matrix, list(columns), vectors

    def run(self, request: ShortlistRequest, projects: Sequence[Project], rejected: dict[str, set[str]] | None = None,
            progress: Callable[[float], None] | None = None) -> tuple[list[dict], dict]:
        """Assignments (one dict per chosen pair, ranked within its project) and a summary."""
        started = time.perf_counter()
        rejected = rejected or {}
        self.precheck(request, projects, rejected)
        matrix, positions, vectors = self.scores(request, projects, rejected, _checkpoint(progress, 0.0, 0.7))
        index = self.index
        types = [str(index.org_types_[p]) for p in positions]
        constraints = ShortlistConstraints(per_project=request.per_project,
                                           max_per_organisation=request.max_per_organisation,
                                           min_per_type=dict(request.min_per_type))
        try:
            result = assign(matrix, types, constraints, method=request.method,
                            progress=_checkpoint(progress, 0.7, 0.2))
        except Infeasible as e:
            details, message = dict(e.details or {}), e.message
            if isinstance(details.get("project"), int):  # the solver speaks in rows; officers in project ids
                row = details["project"]
                details["project"] = projects[row].id
                message = message.replace(f"project {row} ", f"project {projects[row].id!r} ", 1)
            raise Infeasible(message, details) from e
        greedy_total = None
        if request.method == "optimal":  # the baseline, for comparison: what ranking greedily would have given
            try:
                greedy_total = round(assign(matrix, types, constraints, method="greedy").total_score, 4)
            except MatcherError:
                greedy_total = None
        by_project: dict[int, list] = {}
        for pair in result.pairs:
            by_project.setdefault(pair.project, []).append(pair)
        assignments = []
        report = _checkpoint(progress, 0.9, 0.1)
        for done, (row, pairs) in enumerate(sorted(by_project.items())):
            project = projects[row]
            pairs = sorted(pairs, key=lambda p: p.rank)
            chosen = [index.ids_[positions[p.organisation]] for p in pairs]
            reasons = {m.organisation.id: m.explanation["reason"] for m in index.rank(
                project, k=len(chosen), only=chosen, explain=True, diversify=False, query_vector=vectors[row],
                countries=request.countries or project.seeking_countries, org_types=request.org_types)}
            for pair, org_id in zip(pairs, chosen):
                org = index.organisations_[index.positions_[org_id]]
                assignments.append({"project_id": project.id, "organisation_id": org.id, "organisation_name": org.name,
                                    "country": org.country, "org_type": org.org_type, "rank": pair.rank,
                                    "score": round(float(pair.score), 4), "reason": reasons.get(org.id, "")})
            report((done + 1) / max(len(by_project), 1))
        scores = [a["score"] for a in assignments]
        load = Counter(a["organisation_id"] for a in assignments)
        summary = {
            "projects": len(projects),
            "assignments": len(assignments),
            "total_score": round(float(sum(scores)), 4),
            "lowest_score": round(float(min(scores)), 4) if scores else None,
            "mean_score": round(float(np.mean(scores)), 4) if scores else None,
            "method": result.method,
            "greedy_total_score": greedy_total,
            "organisations_used": len(load),
            "max_load": max(load.values()) if load else 0,
            "load": dict(sorted(load.items(), key=lambda item: (-item[1], item[0]))),
            "seconds": round(time.perf_counter() - started, 3),
        }
        return assignments, summary


class ShortlistJobs:
    """Runs shortlist jobs in the background of one process and keeps their state in the database."""

    def __init__(self, matcher: PartnerMatcher):
        self.matcher = matcher
        self.store = ShortlistStore(matcher.store_)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shortlist")
        self._lock = threading.Lock()

    def projects_for(self, request: ShortlistRequest) -> list[Project]:
        projects = self.matcher.store_.all_projects()
        if request.project_ids == "all":
            if not projects:
                raise InvalidRequest("there are no projects to shortlist for; create or import some first")
            return projects
        by_id = {p.id: p for p in projects}
        missing = [pid for pid in request.project_ids if pid not in by_id]
        if missing:
            raise ProjectNotFound(f"unknown project ids: {', '.join(missing[:10])}"
                                  f"{' …' if len(missing) > 10 else ''}; GET /v1/projects lists them",
                                  {"missing": missing[:100]})
        return [by_id[pid] for pid in dict.fromkeys(request.project_ids)]

    def submit(self, request: ShortlistRequest) -> dict:
        """Check the request (404/422 at once), store it as a queued job and start it; returns the job."""
        projects = self.projects_for(request)
        index = self.matcher._index()
        Shortlister(index).precheck(request, projects, self.store.rejected_pairs(p.id for p in projects))
        shortlist_id = self.store.create(request.model_dump(mode="json"))
        self._executor.submit(self._run, shortlist_id)
        return self.store.get(shortlist_id, with_assignments=False)

    def resume(self) -> int:
        """At start-up: fail jobs whose process died, and run the queued ones (each claimed by one process)."""
        self.store.fail_abandoned()
        queued = self.store.queued()
        for shortlist_id in queued:
            self._executor.submit(self._run, shortlist_id)
        return len(queued)

    def run_now(self, request: ShortlistRequest, progress: Callable[[float], None] | None = None) -> dict:
        """Run a shortlist in this thread (the CLI), recorded like any job; returns it with its assignments.
        A failure is recorded on the job and raised."""
        projects = self.projects_for(request)
        Shortlister(self.matcher._index()).precheck(request, projects, self.store.rejected_pairs(p.id for p in projects))
        shortlist_id = self.store.create(request.model_dump(mode="json"))
        self._run(shortlist_id, progress, reraise=True)
        return self.store.get(shortlist_id)

    def _run(self, shortlist_id: str, report: Callable[[float], None] | None = None, *, reraise: bool = False) -> None:
        if not self.store.claim(shortlist_id):
            return  # another process took it
        last = [0.0]

        def progress(fraction: float) -> None:
            if report is not None:
                report(fraction)
            now = time.monotonic()
            if now - last[0] >= min(1.0, HEARTBEAT_SECONDS):  # throttled: a heartbeat, not a write per project
                last[0] = now
                self.store.heartbeat(shortlist_id, fraction)

        try:
            job = self.store.get(shortlist_id, with_assignments=False)
            request = ShortlistRequest.model_validate(job["request"])
            projects = self.projects_for(request)
            rejected = self.store.rejected_pairs(p.id for p in projects)
            assignments, summary = Shortlister(self.matcher._index()).run(request, projects, rejected, progress)
            self.store.finish(shortlist_id, assignments, summary)
        except MatcherError as e:
            log.warning("shortlist %s failed: %s", shortlist_id, e)
            self.store.fail(shortlist_id, {"code": e.code, "message": e.message, "details": e.details})
            if reraise:
                raise
        except Exception as e:  # recorded for the officer, logged in full for the operator
            log.exception("shortlist %s failed", shortlist_id)
            self.store.fail(shortlist_id, {"code": "internal_error", "message": f"{type(e).__name__}: {e}",
                                           "details": None})
            if reraise:
                raise

    def wait(self) -> None:
        """Block until every job submitted so far has finished (tests, shutdown)."""
        self._executor.submit(lambda: None).result()

    def get(self, shortlist_id: str) -> dict:
        self.store.fail_abandoned()
        return self.store.get(shortlist_id)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=False)


# ---------------------------------------------------------------------- export
EXPORT_COLUMNS = ["project_id", "rank", "organisation_id", "organisation_name", "country", "org_type", "score",
                  "reason", "decision", "note", "decided_at"]
DECISION_COLUMNS = ["decided_at", "shortlist_id", "project_id", "organisation_id", "decision", "note"]


def _safe_cell(value):
    """Spreadsheet programs run cells that start with = + - @ as formulas; prefix such text with a quote."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def rows_to_csv(rows: Sequence[dict], columns: Sequence[str]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: _safe_cell(row.get(c)) for c in columns})
    return out.getvalue()


def rows_to_xlsx(sheets: dict[str, tuple[Sequence[dict], Sequence[str]]]) -> bytes:
    """An .xlsx workbook with one sheet per entry (pandas + openpyxl)."""
    import pandas as pd

    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        for name, (rows, columns) in sheets.items():
            frame = pd.DataFrame([{c: _safe_cell(r.get(c)) for c in columns} for r in rows], columns=list(columns))
            frame.to_excel(writer, sheet_name=name[:31], index=False)
    return buffer.getvalue()
