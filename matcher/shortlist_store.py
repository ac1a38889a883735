"""Shortlists and officers' decisions in the database (same SQLAlchemy metadata as ``matcher.store``).

A shortlist is a job: its request, status and progress are rows, so it survives restarts and every worker process
sees it. A running job writes a heartbeat; one whose heartbeat stopped (its process was killed or restarted) is
marked failed with a reason when read, never left "running" for ever. Decisions are an append-only history; the
assignment row holds the latest one.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint, func, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Mapped, mapped_column

from matcher.errors import NotFound, StorageError
from matcher.store import Base, Page, Store, _now

HEARTBEAT_SECONDS = 5.0  # a running job touches its row at least this often
STALE_AFTER_SECONDS = 120.0  # no heartbeat for this long: the process running it is gone


class ShortlistNotFound(NotFound):
    code = "shortlist_not_found"


class AssignmentNotFound(NotFound):
    code = "assignment_not_found"


class ShortlistRow(Base):
    __tablename__ = "shortlists"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), index=True)  # queued, running, done, failed
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    request: Mapped[dict] = mapped_column(JSON)
    summary: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    error: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now, index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)


class AssignmentRow(Base):
    __tablename__ = "shortlist_assignments"
    __table_args__ = (UniqueConstraint("shortlist_id", "project_id", "organisation_id", name="uq_assignment_pair"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    shortlist_id: Mapped[str] = mapped_column(ForeignKey("shortlists.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[str] = mapped_column(String(128))
    organisation_id: Mapped[str] = mapped_column(String(128))
    organisation_name: Mapped[str] = mapped_column(String(300))
    country: Mapped[str] = mapped_column(String(2))
    org_type: Mapped[str] = mapped_column(String(32))
    rank: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(Text)
    decision: Mapped[str | None] = mapped_column(String(16), nullable=True)  # accepted, rejected, or none yet
    note: Mapped[str] = mapped_column(Text, default="")
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class DecisionRow(Base):
    """Every decision ever made, in order (the exportable history); never updated or deleted."""

    __tablename__ = "shortlist_decisions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    shortlist_id: Mapped[str] = mapped_column(ForeignKey("shortlists.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[str] = mapped_column(String(128), index=True)
    organisation_id: Mapped[str] = mapped_column(String(128))
    decision: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")
    decided_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=_now)


ASSIGNMENT_FIELDS = ("project_id", "organisation_id", "organisation_name", "country", "org_type", "rank", "score",
                     "reason", "decision", "note", "decided_at")


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is not None and value.tzinfo is None:  # SQLite returns naive datetimes; they were written in UTC
        return value.replace(tzinfo=dt.UTC)
    return value


def _iso(value: dt.datetime | None) -> str | None:
    value = _aware(value)
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def _assignment(row: AssignmentRow) -> dict:
    out = {name: getattr(row, name) for name in ASSIGNMENT_FIELDS}
    out["decided_at"] = _iso(row.decided_at)
    return out


class ShortlistStore:
    """Reads and writes shortlist jobs, their assignments and decisions through a ``Store``'s engine."""

    def __init__(self, store: Store):
        self._sessions = store._sessions

    def _write(self, what: str):
        return _Transaction(self._sessions, what)

    # ------------------------------------------------------------------ jobs
    def create(self, request: dict) -> str:
        shortlist_id = uuid.uuid4().hex
        with self._write("the shortlist was not created") as session:
            session.add(ShortlistRow(id=shortlist_id, status="queued", progress=0.0, request=request))
        return shortlist_id

    def claim(self, shortlist_id: str) -> bool:
        """queued → running, atomically: only one process runs a job, even with several workers."""
        with self._write("the shortlist could not start") as session:
            result = session.execute(update(ShortlistRow).where(ShortlistRow.id == shortlist_id,
                                                                 ShortlistRow.status == "queued")
                                     .values(status="running", updated_at=_now()))
            return result.rowcount == 1

    def heartbeat(self, shortlist_id: str, progress: float) -> None:
        with self._write("progress could not be saved") as session:
            session.execute(update(ShortlistRow).where(ShortlistRow.id == shortlist_id)
                            .values(progress=round(float(progress), 4), updated_at=_now()))

    def finish(self, shortlist_id: str, assignments: Sequence[dict], summary: dict) -> None:
        """Store the result in one transaction: the job is done with all its assignments, or not at all."""
        with self._write("the shortlist result was not saved") as session:
            session.add_all(AssignmentRow(shortlist_id=shortlist_id, note="", **a) for a in assignments)
            session.execute(update(ShortlistRow).where(ShortlistRow.id == shortlist_id)
                            .values(status="done", progress=1.0, summary=summary, updated_at=_now()))

    def fail(self, shortlist_id: str, error: dict) -> None:
        with self._write("the failure could not be recorded") as session:
            session.execute(update(ShortlistRow).where(ShortlistRow.id == shortlist_id)
                            .values(status="failed", error=error, updated_at=_now()))

    def fail_abandoned(self, *, older_than: float = STALE_AFTER_SECONDS) -> int:
        """Mark failed the running jobs whose process stopped sending heartbeats (killed, restarted)."""
        cutoff = _now() - dt.timedelta(seconds=older_than)
        error = {"code": "interrupted", "message": "the process running this shortlist stopped (a restart or a "
                                                   "crash) before it finished; start it again"}
        with self._write("abandoned shortlists could not be marked") as session:
            result = session.execute(update(ShortlistRow).where(ShortlistRow.status == "running",
                                                                ShortlistRow.updated_at < cutoff)
                                     .values(status="failed", error=error, updated_at=_now()))
            return result.rowcount

    def queued(self) -> list[str]:
        with self._sessions() as session:
            return list(session.scalars(select(ShortlistRow.id).where(ShortlistRow.status == "queued")
                                        .order_by(ShortlistRow.created_at)))

    # ------------------------------------------------------------------ reads
    def _job(self, row: ShortlistRow) -> dict:
        return {"id": row.id, "status": row.status, "progress": row.progress, "request": row.request,
                "summary": row.summary, "error": row.error, "created_at": _iso(row.created_at),
                "updated_at": _iso(row.updated_at)}

    def get(self, shortlist_id: str, *, with_assignments: bool = True) -> dict:
        with self._sessions() as session:
            row = session.get(ShortlistRow, shortlist_id)
            if row is None:
                raise ShortlistNotFound(f"no shortlist with id {shortlist_id!r}; GET /v1/shortlists lists them")
            out = self._job(row)
            if with_assignments:
                rows = session.scalars(select(AssignmentRow).where(AssignmentRow.shortlist_id == shortlist_id)
                                       .order_by(AssignmentRow.project_id, AssignmentRow.rank))
                out["assignments"] = [_assignment(r) for r in rows]
            return out

    def list(self, *, page: int = 1, per_page: int = 20) -> Page:
        with self._sessions() as session:
            total = session.scalar(select(func.count()).select_from(ShortlistRow)) or 0
            rows = session.scalars(select(ShortlistRow).order_by(ShortlistRow.created_at.desc(), ShortlistRow.id)
                                   .offset((page - 1) * per_page).limit(per_page))
            return Page(([self._job(r) for r in rows], total))

    # ------------------------------------------------------------------ decisions
    def decide(self, shortlist_id: str, project_id: str, organisation_id: str, decision: str, note: str) -> dict:
        """Record an officer's decision on one assignment (and append it to the history) in one transaction."""
        with self._write("the decision was not saved") as session:
            if session.get(ShortlistRow, shortlist_id) is None:
                raise ShortlistNotFound(f"no shortlist with id {shortlist_id!r}; GET /v1/shortlists lists them")
            row = session.scalar(select(AssignmentRow).where(AssignmentRow.shortlist_id == shortlist_id,
                                                             AssignmentRow.project_id == project_id,
                                                             AssignmentRow.organisation_id == organisation_id))
            if row is None:
                raise AssignmentNotFound(f"shortlist {shortlist_id!r} does not assign {organisation_id!r} to project "
                                         f"{project_id!r}; GET /v1/shortlists/{shortlist_id} lists its assignments")
            now = _now()
            row.decision, row.note, row.decided_at = decision, note, now
            session.add(DecisionRow(shortlist_id=shortlist_id, project_id=project_id, organisation_id=organisation_id,
                                    decision=decision, note=note, decided_at=now))
            session.flush()
            return _assignment(row)

    def decisions(self, shortlist_id: str | None = None) -> list[dict]:
        """The decision history (of one shortlist, or of all), oldest first."""
        query = select(DecisionRow).order_by(DecisionRow.id)
        if shortlist_id is not None:
            self.get(shortlist_id, with_assignments=False)
            query = query.where(DecisionRow.shortlist_id == shortlist_id)
        with self._sessions() as session:
            return [{"shortlist_id": r.shortlist_id, "project_id": r.project_id, "organisation_id": r.organisation_id,
                     "decision": r.decision, "note": r.note, "decided_at": _iso(r.decided_at)}
                    for r in session.scalars(query)]

    def rejected_pairs(self, project_ids: Iterable[str]) -> dict[str, set[str]]:
        """Organisations whose assignment to each project is currently rejected (in any shortlist)."""
        project_ids = list(project_ids)
        out: dict[str, set[str]] = {}
        with self._sessions() as session:
            for start in range(0, len(project_ids), 500):  # keep IN lists within every database's limits
                rows = session.execute(select(AssignmentRow.project_id, AssignmentRow.organisation_id)
                                       .where(AssignmentRow.decision == "rejected",
                                              AssignmentRow.project_id.in_(project_ids[start : start + 500])))
                for project_id, organisation_id in rows:
                    out.setdefault(project_id, set()).add(organisation_id)
        return out


class _Transaction:
    """``with`` a session in a transaction; database errors become StorageError saying what was not done."""

    def __init__(self, sessions, what: str):
        self._sessions, self._what = sessions, what

    def __enter__(self):
        self._session = self._sessions()
        self._tx = self._session.begin()
        return self._session

    def __exit__(self, kind, error, tb):
        try:
            if kind is None:
                self._tx.commit()
            else:
                self._tx.rollback()
        except SQLAlchemyError as e:
            raise StorageError(f"{self._what}: the database refused the change ({type(e).__name__}: {e})") from e
        finally:
            self._session.close()
        if isinstance(error, SQLAlchemyError):
            raise StorageError(f"{self._what}: the database refused the change ({type(error).__name__}: "
                               f"{error})") from error
        return False
