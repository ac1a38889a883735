"""Shortlist jobs: run in the background of one process, their state kept in the database
(``matcher.storage.shortlist_store``) so a job survives restarts and every worker sees it."""

from __future__ import annotations

import builtins
import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from types import EllipsisType
from typing import TYPE_CHECKING, Literal

from rapidfuzz import fuzz, process

from corpus.schema import Project
from matcher.errors import Conflict, InvalidRequest, MatcherError, ProjectNotFound
from matcher.shortlists.export import ExportContext
from matcher.shortlists.request import ShortlistRequest
from matcher.shortlists.shortlister import Shortlister
from matcher.storage import Page
from matcher.storage.shortlist_store import (
    HEARTBEAT_SECONDS,
    DecisionRecord,
    ShortlistAssignment,
    ShortlistJob,
    ShortlistStore,
)

if TYPE_CHECKING:
    from matcher.engine import PartnerMatcher

log = logging.getLogger("matcher.shortlists")
SUGGEST_ABOVE = 85.0  # rapidfuzz ratio (0-100) from which a stored id is offered as the one meant
MAX_PROBLEMS = 100  # unknown ids listed (with a suggestion each) in one error, as the API lists validation problems


def did_you_mean(wrong: str, known: Iterable[str]) -> str | None:
    """The stored id closest to a mistyped one, when one is close enough and closer than any other (two as close,
    such as brief-010 and brief-001 for brief-01, and none is offered: a guess would be a coin toss)."""
    found = process.extract(wrong, list(known), scorer=fuzz.ratio, score_cutoff=SUGGEST_ABOVE, limit=2)
    if not found or (len(found) > 1 and found[1][1] == found[0][1]):
        return None
    return found[0][0]


def _unknown(field: str, what: str, wrong: str, known: Iterable[str], why: str = "is not stored") -> dict[str, str]:
    """One unknown id, as a validation problem: {field, message, type, suggestion?} (the API's ``details`` items,
    as pydantic's are given)."""
    guess = did_you_mean(wrong, known)
    hint = f"did you mean {guess}?" if guess else f"check the id; GET /v1/{what}s lists them"
    item = {"field": field, "message": f"{what} {wrong!r} {why}; {hint}", "type": f"unknown_{what}"}
    return {**item, "suggestion": guess} if guess else item


class ShortlistJobs:
    """Runs shortlist jobs in the background of one process and keeps their state in the database.

    The doors use only these methods; ``store`` is the database side, for tests and maintenance."""

    def __init__(self, matcher: PartnerMatcher) -> None:
        self.matcher = matcher
        self.store = ShortlistStore(matcher.store_)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shortlist")

    def projects_for(self, request: ShortlistRequest) -> list[Project]:
        projects = self.matcher.store_.all_projects()
        if request.project_ids == "all":
            if not projects:
                raise InvalidRequest("there are no projects to shortlist for; create or import some first")
            return projects
        by_id = {p.id: p for p in projects}
        missing = [pid for pid in request.project_ids if pid not in by_id]
        if missing:
            named = [f"{pid} (did you mean {guess}?)" if (guess := did_you_mean(pid, by_id)) else pid
                     for pid in missing[:10]]
            raise ProjectNotFound(f"unknown project ids: {', '.join(named)}"
                                  f"{' …' if len(missing) > 10 else ''}; GET /v1/projects lists them",
                                  {"missing": missing[:100]})
        return [by_id[pid] for pid in dict.fromkeys(request.project_ids)]

    def check_conflicts(self, projects: Iterable[Project], exclude: dict[str, builtins.list[str]],
                        exclude_organisations: Iterable[str] = ()) -> None:
        """Refuse conflicts that name nothing (400), each with the id probably meant: an exclusion of a mistyped id
        would otherwise be silently void, and the organisation in conflict shortlisted. ``exclude``'s keys must be
        the shortlist's projects and its values, like ``exclude_organisations``, stored organisations."""
        project_ids = [p.id for p in projects]
        shortlisted, stored = set(project_ids), self.matcher.current_index().positions_
        # (field, kind, id): found by lookup; only the first MAX_PROBLEMS are matched against the stored ids.
        unknown = [(f"exclude.{p}", "project", p) for p in exclude if p not in shortlisted]
        unknown += [(f"exclude.{p}", "organisation", o) for p, orgs in exclude.items() for o in dict.fromkeys(orgs)
                    if o not in stored]
        unknown += [("exclude_organisations", "organisation", o) for o in dict.fromkeys(exclude_organisations)
                    if o not in stored]
        if not unknown:
            return
        problems = [_unknown(field, kind, wrong, project_ids, "is not one of this shortlist's projects")
                    if kind == "project" else _unknown(field, kind, wrong, stored)
                    for field, kind, wrong in unknown[:MAX_PROBLEMS]]
        listed = "; ".join(f"{d['field']}: {d['message']}" for d in problems[:3])
        more = f" (and {len(unknown) - 3} more, the first {len(problems)} in details)" if len(unknown) > 3 else ""
        raise InvalidRequest(f"a conflict of interest names an unknown id, so it would exclude nothing: "
                             f"{listed}{more}", problems)

    def _checked(self, request: ShortlistRequest, by: str | None,
                 conflicts: tuple[dict[str, builtins.list[str]], builtins.list[str]] | None = None) -> str:
        """Refuse an impossible request at once (400/404/422), else store it as a queued job; returns its id.
        ``conflicts`` (exclude, exclude_organisations) are the ones to check: the request's own by default."""
        projects = self.projects_for(request)
        exclude, exclude_organisations = conflicts or (request.exclude, request.exclude_organisations)
        self.check_conflicts(projects, exclude, exclude_organisations)
        if request.based_on is not None:
            self.store.get(request.based_on, with_assignments=False)  # 404 when it does not exist
        shortlister = Shortlister(self.matcher.current_index(), self.matcher.scope_)
        shortlister.precheck(request, projects, self.store.rejected_pairs(p.id for p in projects))
        return self.store.create(request.model_dump(mode="json", exclude={"name"}), name=request.name, by=by)

    def submit(self, request: ShortlistRequest, *, by: str | None = None) -> ShortlistJob:
        """Check the request, store it as a queued job and start it in the background; returns the job. ``by`` is
        who asked (an API key's name)."""
        return self._start(self._checked(request, by))

    def _start(self, shortlist_id: str) -> ShortlistJob:
        self._executor.submit(self._run, shortlist_id)
        return self.store.get(shortlist_id, with_assignments=False)

    def resume(self) -> int:
        """At start-up: fail jobs whose process died, and run the queued ones (each claimed by one process)."""
        self.store.fail_abandoned()
        queued = self.store.queued()
        for shortlist_id in queued:
            self._executor.submit(self._run, shortlist_id)
        return len(queued)

    def run_now(self, request: ShortlistRequest, progress: Callable[[float], None] | None = None, *,
                by: str | None = None) -> ShortlistJob:
        """Run a shortlist in this thread (the CLI), recorded like any job; returns it with its assignments.
        A failure is recorded on the job and raised."""
        shortlist_id = self._checked(request, by)
        self._run(shortlist_id, progress, reraise=True)
        return self._labelled(self.store.get(shortlist_id))

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
            request = ShortlistRequest.model_validate(job.request)
            projects = self.projects_for(request)
            rejected = self.store.rejected_pairs(p.id for p in projects)
            outcome = Shortlister(self.matcher.current_index(), self.matcher.scope_).run(request, projects, rejected,
                                                                                         progress)
            self.store.finish(shortlist_id, outcome.assignments, outcome.summary.model_dump(),
                              based_on=request.based_on)
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

    # ------------------------------------------------------------------ what the doors read and decide
    def get(self, shortlist_id: str) -> ShortlistJob:
        """A job with its assignments; a job whose process died is reported failed, not running."""
        self.store.fail_abandoned()
        return self._labelled(self.store.get(shortlist_id))

    def _label(self, assignment: ShortlistAssignment) -> ShortlistAssignment:
        # Labelled when read, from the programme file as it is now: the same labels search shows.
        label = self.matcher.scope_.label(assignment.country, assignment.org_type)
        return assignment.model_copy(update={"eligibility": label})

    def _labelled(self, job: ShortlistJob) -> ShortlistJob:
        if job.assignments is None:
            return job
        return job.model_copy(update={"assignments": [self._label(a) for a in job.assignments]})

    def list(self, *, page: int = 1, per_page: int = 20) -> Page[ShortlistJob]:
        """Jobs newest first, without their assignments; a job whose process died is reported failed."""
        self.store.fail_abandoned()
        return self.store.list(page=page, per_page=per_page)

    def decide(self, shortlist_id: str, project_id: str, organisation_id: str,
               decision: Literal["accepted", "rejected"] | None | EllipsisType = ..., note: str | None = None, *,
               by: str | None = None) -> ShortlistAssignment:
        """Record an officer's decision on one assignment (None clears it, ``...`` leaves it; a note alone may
        change); a rejected pair never reappears for that project while it stays rejected."""
        return self._label(self.store.decide(shortlist_id, project_id, organisation_id, decision, note, by=by))

    def rename(self, shortlist_id: str, name: str) -> ShortlistJob:
        return self.store.rename(shortlist_id, name)

    def replace_rejected(self, shortlist_id: str, *, exclude: dict[str, builtins.list[str]] | None = None,
                         name: str | None = None, by: str | None = None) -> ShortlistJob:
        """A new shortlist from the same request that keeps this one's accepted partners (and their decisions),
        leaves out every rejected pair (as every new shortlist does) and the new conflicts in ``exclude``, and
        fills the places left. Returns the new job, started in the background."""
        base = self.store.get(shortlist_id, with_assignments=False)
        if base.status != "done":
            raise InvalidRequest(f"shortlist {shortlist_id!r} is {base.status}; only a finished shortlist's rejected "
                                 "partners can be replaced")
        stored_request = dict(base.request)
        if isinstance(stored_request.get("project_ids"), list):  # saved before repeats were refused
            stored_request["project_ids"] = list(dict.fromkeys(stored_request["project_ids"]))
        request = ShortlistRequest.model_validate(stored_request)
        conflicts = {p: sorted({*request.exclude.get(p, ()), *orgs}) for p, orgs in (exclude or {}).items()}
        # An accepted partner deleted since cannot stay on a list: it is left out (its decision stays in the base
        # shortlist's history), so its project's other rejected partners can still be replaced.
        stored = self.matcher.current_index().positions_
        accepted = self.store.accepted_pairs(shortlist_id)
        keep = {p: [o for o in orgs if o not in conflicts.get(p, ()) and o in stored] for p, orgs in accepted.items()}
        gone = any(o not in stored for orgs in accepted.values() for o in orgs)
        if not exclude and not gone and not self.store.rejected_in(shortlist_id):
            # A replacement with nothing to replace would only re-run the same request.
            raise Conflict(f"shortlist {shortlist_id!r} has no rejected partner to replace: reject one first "
                           f"(PATCH /v1/shortlists/{shortlist_id}/assignments/<project>/<organisation> with "
                           '{"decision": "rejected"}), or send "exclude" with new conflicts')
        replacement = request.model_copy(update={
            "exclude": {**request.exclude, **conflicts}, "keep": {p: o for p, o in keep.items() if o},
            "based_on": shortlist_id, "name": name if name is not None else _replacement_name(base)})
        # Only the new conflicts are checked: the base's were checked when it started (an organisation in one may
        # have been deleted since, and that must not stop its rejected partners being replaced).
        return self._start(self._checked(ShortlistRequest.model_validate(replacement.model_dump()), by,
                                         (exclude or {}, [])))

    def history(self, shortlist_id: str) -> builtins.list[DecisionRecord]:
        """The decisions made on a shortlist, oldest first."""
        return self.store.decisions(shortlist_id)

    def export_context(self, job: ShortlistJob, base_url: str = "") -> ExportContext:
        """What the exports add to a job: its projects' titles and its organisations' websites, as stored now."""
        assignments = job.assignments or []
        wanted = {a.project_id for a in assignments}
        titles = {p.id: p.title for p in self.matcher.store_.all_projects() if p.id in wanted}
        organisations = self.matcher.store_.get_organisations({a.organisation_id for a in assignments})
        return ExportContext(titles, {o.id: o.website for o in organisations if o.website}, base_url)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=False)


def _replacement_name(base: ShortlistJob) -> str:
    own = base.name or f"shortlist {base.id[:8]}"
    return (own if own.endswith("(rejected replaced)") else f"{own} (rejected replaced)")[:200]


__all__ = ["ShortlistJobs"]
