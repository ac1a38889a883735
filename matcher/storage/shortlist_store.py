"""Shortlist jobs, their assignments and officers' decisions in the database (tables: ``matcher.storage.tables``).

A shortlist is a job: its request, status and progress are rows, so it survives restarts and every worker process
sees it. A running job records the process running it and writes a heartbeat. A job is marked failed with a reason, never
left "running", as soon as a process of the same host and boot sees its owner gone (killed, restarted: checked when
the service starts and whenever jobs are read), and on any host once its heartbeat stopped. Decisions are an append-only history; the
assignment row holds the latest one. Reads return typed records whose ``to_dict()`` is the API's JSON.
"""

from __future__ import annotations

import builtins
import datetime as dt
import functools
import os
import socket
import uuid
from collections.abc import Iterable, Sequence
from types import EllipsisType
from typing import Any, Literal, cast

from pydantic import BaseModel, Field
from sqlalchemy import CursorResult, func, select, update

from corpus.errors import clip
from corpus.schema import Eligibility, control_character_problem
from matcher.errors import AssignmentNotFound, InvalidRequest, OrganisationDeleted, ShortlistNotFound
from matcher.storage.store import Page, Store
from matcher.storage.tables import AssignmentRow, DecisionRow, OrganisationRow, ShortlistRow, as_utc, iso_utc, utc_now

HEARTBEAT_SECONDS = 5.0  # a running job touches its row at least this often
STALE_AFTER_SECONDS = 120.0  # no heartbeat for this long: the process running it is gone
# A note typed in several saves (the page saves as the officer types) is one history entry: a note-only change
# by the same person within this many seconds of their last note-only entry on the pair replaces its text.
NOTE_MERGE_SECONDS = 120.0


def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as handle:
            return handle.read().strip()
    except OSError:  # not Linux: processes are told apart by pid alone
        return "-"


def _started(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot), "-" where /proc is absent, None if there is none."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rpartition(")")[2].split()[19]
    except FileNotFoundError:
        return None
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, another user's
    return "-"


@functools.cache
def _machine() -> tuple[str, str]:
    return socket.gethostname(), _boot_id()


def process_identity() -> str:
    """``host/boot id/pid/start``: names this process among every process, past and present, of every host."""
    host, boot = _machine()
    pid = os.getpid()
    return f"{host}/{boot}/{pid}/{_started(pid) or '-'}"


def owner_is_gone(owner: str | None) -> bool:
    """Whether the process ``owner`` (a ``process_identity``) has certainly ended: it ran on this host and the
    host rebooted since, or its pid is dead or now names another process. Unknown (another host): False."""
    if not owner:
        return False
    host, boot, pid, started = (owner.split("/") + ["", "", "", ""])[:4]
    if host != _machine()[0] or not pid.isdigit():
        return False
    if boot != _machine()[1]:
        return True
    now = _started(int(pid))
    return now is None or (started != "-" and now != "-" and now != started)


# The API documents these two models as they are (service/shortlists.py): a docstring here would become part of
# the published OpenAPI document, so they are described in comments.


# One (project, organisation) pair of a shortlist, with the latest decision on it (none when proposed).
class ShortlistAssignment(BaseModel):
    project_id: str
    organisation_id: str
    organisation_name: str
    country: str
    org_type: str
    # In the programme (``corpus.schema.Eligibility``), labelled when read from the programme file; not stored.
    eligibility: Eligibility | None = None
    rank: int
    score: float | None = Field(description=(
        "the calibrated fit as the project's ranked list shows it, as on match results (the same as fit); null only "
        "on shortlists stored before fits were"))
    relevance: float | None = Field(None, description=(
        "the relative ranking score: it orders the project's partners (rank) and the solver maximises its total; "
        "it compares partners within a project, not between projects"))
    fit: float | None = None
    band: str | None = None
    reason: str
    decision: Literal["accepted", "rejected"] | None
    note: str
    decided_at: str | None
    decided_by: str | None = None
    # The organisation was deleted after the shortlist was made: kept for the record, no longer decidable.
    organisation_deleted: bool = False

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump()


# A shortlist job; ``assignments`` is None when it was read without them (lists, a fresh job).
class ShortlistJob(BaseModel):
    id: str
    name: str = ""
    created_by: str | None = None
    status: Literal["queued", "running", "done", "failed"]
    progress: float
    request: dict[str, Any]
    summary: dict[str, Any] | None
    error: dict[str, Any] | None
    created_at: str | None
    updated_at: str | None
    assignments: list[ShortlistAssignment] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The API's JSON: a job read without its assignments has no ``assignments`` key at all."""
        out = self.model_dump()
        if self.assignments is None:
            del out["assignments"]
        return out


class DecisionRecord(BaseModel):
    """One entry of the decision history."""

    shortlist_id: str
    project_id: str
    organisation_id: str
    decision: str  # accepted, rejected, cleared (back to undecided) or note (the note changed alone)
    note: str
    decided_at: str | None
    decided_by: str | None = None  # the API key's name

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump()


ASSIGNMENT_FIELDS = ("project_id", "organisation_id", "organisation_name", "country", "org_type", "rank",
                     "relevance", "fit", "band", "reason", "decision", "note", "decided_at", "decided_by")


def _assignment(row: AssignmentRow, *, deleted: bool = False) -> ShortlistAssignment:
    values = {name: getattr(row, name) for name in ASSIGNMENT_FIELDS}
    # ``score`` is the fit, as on match results; the stored score column has always held the relevance.
    values["score"], values["decided_at"] = row.fit, iso_utc(row.decided_at)
    return ShortlistAssignment.model_validate({**values, "organisation_deleted": deleted})


def _job(row: ShortlistRow, assignments: list[ShortlistAssignment] | None = None) -> ShortlistJob:
    return ShortlistJob(id=row.id, name=row.name or "", created_by=row.created_by, status=row.status, progress=row.progress, request=row.request,
                        summary=row.summary, error=row.error, created_at=iso_utc(row.created_at),
                        updated_at=iso_utc(row.updated_at), assignments=assignments)


def _check_name(name: str, what: str) -> None:
    """A shortlist's name is shown on pages and in exports: no control characters (as a decision's note)."""
    problem = control_character_problem("the name", name)
    if problem:
        raise InvalidRequest(f"{what}: {problem}")


class ShortlistStore:
    """Reads and writes shortlist jobs, their assignments and decisions through a ``Store``'s sessions."""

    def __init__(self, store: Store) -> None:
        self._store = store

    # ------------------------------------------------------------------ jobs
    def create(self, request: dict[str, Any], *, name: str = "", by: str | None = None) -> str:
        _check_name(name, "the shortlist was not created")
        shortlist_id = uuid.uuid4().hex
        with self._store.transaction("the shortlist was not created") as session:
            session.add(ShortlistRow(id=shortlist_id, name=name, created_by=by, status="queued", progress=0.0,
                                     request=request))
        return shortlist_id

    def rename(self, shortlist_id: str, name: str) -> ShortlistJob:
        _check_name(name, "the new name was not saved")
        with self._store.transaction("the new name was not saved") as session:
            row = session.get(ShortlistRow, shortlist_id)
            if row is None:
                raise ShortlistNotFound(f"no shortlist with id {clip(shortlist_id)!r}; GET /v1/shortlists lists them")
            row.name = name
            row.updated_at = utc_now()
            session.flush()
            return _job(row)

    def claim(self, shortlist_id: str) -> bool:
        """queued → running, atomically: only one process runs a job, even with several workers."""
        with self._store.transaction("the shortlist could not start") as session:
            result = session.execute(update(ShortlistRow).where(ShortlistRow.id == shortlist_id,
                                                                 ShortlistRow.status == "queued")
                                     .values(status="running", owner=process_identity(), updated_at=utc_now()))
            return cast(CursorResult, result).rowcount == 1

    def heartbeat(self, shortlist_id: str, progress: float) -> None:
        with self._store.transaction("progress could not be saved") as session:
            session.execute(update(ShortlistRow).where(ShortlistRow.id == shortlist_id)
                            .values(progress=round(float(progress), 4), updated_at=utc_now()))

    def finish(self, shortlist_id: str, assignments: Sequence[ShortlistAssignment], summary: dict[str, Any],
               *, based_on: str | None = None) -> None:
        """Store the result in one transaction: the job is done with all its assignments, or not at all.
        The assignments are stored undecided, whatever decision they carry, except the pairs accepted in
        ``based_on`` (the shortlist this one replaces the rejected partners of): they keep that acceptance, its
        note, who and when, and it opens this shortlist's history."""
        kept: dict[tuple[str, str], AssignmentRow] = {}
        with self._store.transaction("the shortlist result was not saved") as session:
            if based_on is not None:
                kept = {(r.project_id, r.organisation_id): r for r in session.scalars(
                    select(AssignmentRow).where(AssignmentRow.shortlist_id == based_on,
                                                AssignmentRow.decision == "accepted"))}
            for a in assignments:
                row = AssignmentRow(shortlist_id=shortlist_id, note="", **a.model_dump(
                    exclude={"score", "decision", "note", "decided_at", "decided_by", "organisation_deleted",
                             "eligibility"}))
                if (old := kept.get((a.project_id, a.organisation_id))) is not None:
                    row.decision, row.note, row.decided_at, row.decided_by = ("accepted", old.note, old.decided_at,
                                                                              old.decided_by)
                    session.add(DecisionRow(shortlist_id=shortlist_id, project_id=a.project_id,
                                            organisation_id=a.organisation_id, decision="accepted", note=old.note,
                                            decided_at=old.decided_at or utc_now(), decided_by=old.decided_by))
                session.add(row)
            session.execute(update(ShortlistRow).where(ShortlistRow.id == shortlist_id)
                            .values(status="done", progress=1.0, summary=summary, updated_at=utc_now()))

    def fail(self, shortlist_id: str, error: dict[str, Any]) -> None:
        with self._store.transaction("the failure could not be recorded") as session:
            session.execute(update(ShortlistRow).where(ShortlistRow.id == shortlist_id)
                            .values(status="failed", error=error, updated_at=utc_now()))

    def fail_abandoned(self, *, older_than: float = STALE_AFTER_SECONDS) -> int:
        """Mark failed the running jobs whose process is gone: at once when it ran on this host (its pid ended or
        names another process), else when it stopped sending heartbeats."""
        cutoff = utc_now() - dt.timedelta(seconds=older_than)
        error = {"code": "interrupted", "message": "the process running this shortlist stopped (a restart or a "
                                                   "crash) before it finished; start it again"}
        with self._store.session() as session:
            running = session.execute(select(ShortlistRow.id, ShortlistRow.owner)
                                      .where(ShortlistRow.status == "running")).all()
        if not running:
            return 0
        abandoned = ShortlistRow.updated_at < cutoff
        gone = [shortlist_id for shortlist_id, owner in running if owner_is_gone(owner)]
        if gone:
            abandoned = abandoned | ShortlistRow.id.in_(gone)
        with self._store.transaction("abandoned shortlists could not be marked") as session:
            result = session.execute(update(ShortlistRow).where(ShortlistRow.status == "running", abandoned)
                                     .values(status="failed", error=error, updated_at=utc_now()))
            return cast(CursorResult, result).rowcount

    def queued(self) -> list[str]:
        with self._store.session() as session:
            return list(session.scalars(select(ShortlistRow.id).where(ShortlistRow.status == "queued")
                                        .order_by(ShortlistRow.created_at)))

    # ------------------------------------------------------------------ reads
    def get(self, shortlist_id: str, *, with_assignments: bool = True) -> ShortlistJob:
        with self._store.session() as session:
            row = session.get(ShortlistRow, shortlist_id)
            if row is None:
                raise ShortlistNotFound(f"no shortlist with id {clip(shortlist_id)!r}; GET /v1/shortlists lists them")
            if not with_assignments:
                return _job(row)
            rows = session.execute(select(AssignmentRow, OrganisationRow.id)
                                   .outerjoin(OrganisationRow, OrganisationRow.id == AssignmentRow.organisation_id)
                                   .where(AssignmentRow.shortlist_id == shortlist_id)
                                   .order_by(AssignmentRow.project_id, AssignmentRow.rank))
            return _job(row, [_assignment(r, deleted=present is None) for r, present in rows])

    def list(self, *, page: int = 1, per_page: int = 20) -> Page[ShortlistJob]:
        with self._store.session() as session:
            total = session.scalar(select(func.count()).select_from(ShortlistRow)) or 0
            rows = session.scalars(select(ShortlistRow).order_by(ShortlistRow.created_at.desc(), ShortlistRow.id)
                                   .offset((page - 1) * per_page).limit(per_page))
            return Page(([_job(r) for r in rows], total))

    # ------------------------------------------------------------------ decisions
    def decide(self, shortlist_id: str, project_id: str, organisation_id: str,
               decision: Literal["accepted", "rejected"] | None | EllipsisType = ..., note: str | None = None, *,
               by: str | None = None) -> ShortlistAssignment:
        """Change an officer's decision on one assignment and append it to the history, in one transaction.

        ``decision`` is "accepted", "rejected", None (cleared: undecided again) or ``...`` (unchanged); ``note``
        None leaves the note as it is. ``by`` is who made the change (an API key's name)."""
        problem = control_character_problem("note", note) if note is not None else None
        if problem:
            raise InvalidRequest(f"the decision was not saved: {problem}")
        with self._store.transaction("the decision was not saved") as session:
            if session.get(ShortlistRow, shortlist_id) is None:
                raise ShortlistNotFound(f"no shortlist with id {clip(shortlist_id)!r}; GET /v1/shortlists lists them")
            row = session.scalar(select(AssignmentRow).where(AssignmentRow.shortlist_id == shortlist_id,
                                                             AssignmentRow.project_id == project_id,
                                                             AssignmentRow.organisation_id == organisation_id))
            if row is None:
                raise AssignmentNotFound(f"shortlist {clip(shortlist_id)!r} does not assign {clip(organisation_id)!r} to project "
                                         f"{clip(project_id)!r}; GET /v1/shortlists/{shortlist_id} lists its assignments")
            if session.get(OrganisationRow, organisation_id) is None:
                raise OrganisationDeleted(f"organisation {clip(organisation_id)!r} ({row.organisation_name}) was deleted "
                                          "after this shortlist was made; its assignment is kept for the record but "
                                          "can no longer be accepted or rejected", {"organisation_id": organisation_id})
            now = utc_now()
            if not isinstance(decision, EllipsisType):
                row.decision = decision
            if note is not None:
                row.note = note
            row.decided_at, row.decided_by = now, by
            if isinstance(decision, EllipsisType):
                last = session.scalar(select(DecisionRow).where(DecisionRow.shortlist_id == shortlist_id,
                                                                DecisionRow.project_id == project_id,
                                                                DecisionRow.organisation_id == organisation_id)
                                      .order_by(DecisionRow.id.desc()).limit(1))
                if (last is not None and last.decision == "note" and last.decided_by == by
                        and (now - as_utc(last.decided_at)).total_seconds() <= NOTE_MERGE_SECONDS):
                    last.note, last.decided_at = row.note, now
                    session.flush()
                    return _assignment(row)
            kind = "note" if isinstance(decision, EllipsisType) else decision or "cleared"
            session.add(DecisionRow(shortlist_id=shortlist_id, project_id=project_id, organisation_id=organisation_id,
                                    decision=kind, note=row.note, decided_at=now, decided_by=by))
            session.flush()
            return _assignment(row)

    def accepted_pairs(self, shortlist_id: str) -> dict[str, builtins.list[str]]:
        """Project id -> organisations accepted for it in this shortlist (their current decision)."""
        out: dict[str, builtins.list[str]] = {}
        with self._store.session() as session:
            rows = session.execute(select(AssignmentRow.project_id, AssignmentRow.organisation_id)
                                   .where(AssignmentRow.shortlist_id == shortlist_id,
                                          AssignmentRow.decision == "accepted")
                                   .order_by(AssignmentRow.project_id, AssignmentRow.rank))
            for project_id, organisation_id in rows:
                out.setdefault(project_id, []).append(organisation_id)
        return out

    def decisions(self, shortlist_id: str | None = None) -> builtins.list[DecisionRecord]:
        """The decision history (of one shortlist, or of all), oldest first."""
        query = select(DecisionRow).order_by(DecisionRow.id)
        if shortlist_id is not None:
            self.get(shortlist_id, with_assignments=False)
            query = query.where(DecisionRow.shortlist_id == shortlist_id)
        with self._store.session() as session:
            return [DecisionRecord(shortlist_id=r.shortlist_id, project_id=r.project_id,
                                   organisation_id=r.organisation_id, decision=r.decision, note=r.note,
                                   decided_at=iso_utc(r.decided_at), decided_by=r.decided_by)
                    for r in session.scalars(query)]

    def rejected_in(self, shortlist_id: str) -> int:
        """How many of this shortlist's assignments are currently rejected."""
        with self._store.session() as session:
            return int(session.scalar(select(func.count()).select_from(AssignmentRow).where(
                AssignmentRow.shortlist_id == shortlist_id, AssignmentRow.decision == "rejected")) or 0)

    def rejected_pairs(self, project_ids: Iterable[str]) -> dict[str, set[str]]:
        """Organisations whose assignment to each project is currently rejected (in any shortlist)."""
        project_ids = list(project_ids)
        out: dict[str, set[str]] = {}
        with self._store.session() as session:
            for start in range(0, len(project_ids), 500):  # keep IN lists within every database's limits
                rows = session.execute(select(AssignmentRow.project_id, AssignmentRow.organisation_id)
                                       .where(AssignmentRow.decision == "rejected",
                                              AssignmentRow.project_id.in_(project_ids[start : start + 500])))
                for project_id, organisation_id in rows:
                    out.setdefault(project_id, set()).add(organisation_id)
        return out


__all__ = ["HEARTBEAT_SECONDS", "NOTE_MERGE_SECONDS", "STALE_AFTER_SECONDS", "DecisionRecord", "ShortlistAssignment",
           "ShortlistJob", "ShortlistStore", "owner_is_gone", "process_identity"]
