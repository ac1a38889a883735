"""Every table of the database, on one SQLAlchemy metadata (``Base``): records, the change log, shortlists.

One module holds them all so that the migrations (``matcher.storage.migrations``) compare against the whole
schema by importing one thing. Each record is stored whole as validated JSON beside the columns lists filter and
sort on, so the schema can grow without a migration for every new field.
"""

from __future__ import annotations

import datetime as dt
from typing import overload

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


def utc_now() -> dt.datetime:
    """Now, timezone-aware in UTC: every timestamp column is written in UTC."""
    return dt.datetime.now(dt.UTC)


@overload
def as_utc(value: dt.datetime) -> dt.datetime: ...
@overload
def as_utc(value: None) -> None: ...
def as_utc(value: dt.datetime | None) -> dt.datetime | None:
    """``value`` with its UTC zone: SQLite returns naive datetimes, and they were written in UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def iso_utc(value: dt.datetime | None) -> str | None:
    """ISO 8601 with a ``Z`` suffix, the form the API gives every timestamp in."""
    value = as_utc(value)
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


# ---------------------------------------------------------------------------------------------------- records
class OrganisationRow(Base):
    __tablename__ = "organisations"
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(300), index=True)
    country: Mapped[str] = mapped_column(String(2), index=True)
    org_type: Mapped[str] = mapped_column(String(32), index=True)
    record: Mapped[dict] = mapped_column(JSON)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utc_now, onupdate=utc_now)


class ProjectRow(Base):
    __tablename__ = "projects"
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    country: Mapped[str] = mapped_column(String(2), index=True)
    record: Mapped[dict] = mapped_column(JSON)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utc_now, onupdate=utc_now)


class ChangeRow(Base):
    """One written or deleted record, in commit order. Every process applies the rows after the last one its index
    has seen, so a write through one worker is matchable through every worker (see PartnerMatcher.sync)."""

    __tablename__ = "changes"
    __table_args__ = (Index("ix_changes_record", "kind", "record_id"),)  # one record's history (Store.history)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # "organisation" or "project"
    record_id: Mapped[str] = mapped_column(String(128))
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    by: Mapped[str | None] = mapped_column(String(100), nullable=True)  # the API key's name (None: seeding, tests)
    # created, updated or deleted; None on entries written before revision 0006, which did not record it.
    action: Mapped[str | None] = mapped_column(String(16), nullable=True)


class EmbeddingRow(Base):
    """One cached vector, keyed by model id and text hash (``embeddings.cache.text_key``): derived data in the
    database every replica shares, so a replica joining a large deployment reads vectors instead of embedding."""

    __tablename__ = "embeddings"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    dim: Mapped[int] = mapped_column(Integer)
    vec: Mapped[bytes] = mapped_column(LargeBinary)  # float32, little-endian


# ------------------------------------------------------------------------------------------------- shortlists
class ShortlistRow(Base):
    """One batch-shortlist job: a row, so it survives restarts and every worker process sees it."""

    __tablename__ = "shortlists"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="", server_default="")  # the officer's, editable
    created_by: Mapped[str | None] = mapped_column(String(100), nullable=True)  # the API key's name, never the key
    status: Mapped[str] = mapped_column(String(16), index=True)  # queued, running, done, failed
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    request: Mapped[dict] = mapped_column(JSON)
    summary: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    error: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    owner: Mapped[str | None] = mapped_column(String(300), nullable=True)  # the running process (process_identity)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utc_now, index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utc_now)


class AssignmentRow(Base):
    """One chosen (project, organisation) pair of a shortlist, holding the latest decision on it."""

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
    # The solver's relative score (the API's ``relevance``); its column keeps its first name, "score".
    relevance: Mapped[float] = mapped_column("score", Float)
    fit: Mapped[float | None] = mapped_column(Float, nullable=True)  # calibrated fit as shown: the API's ``score``
    band: Mapped[str | None] = mapped_column(String(16), nullable=True)  # strong / good / possible / weak
    reason: Mapped[str] = mapped_column(Text)
    decision: Mapped[str | None] = mapped_column(String(16), nullable=True)  # accepted, rejected, or none yet
    note: Mapped[str] = mapped_column(Text, default="")
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(100), nullable=True)  # who changed decision or note last


class DecisionRow(Base):
    """Every decision ever made, in order (the exportable history); never deleted. Only a note typed in several
    saves is merged into its own last entry (``NOTE_MERGE_SECONDS``), so one note is one entry."""

    __tablename__ = "shortlist_decisions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    shortlist_id: Mapped[str] = mapped_column(ForeignKey("shortlists.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[str] = mapped_column(String(128), index=True)
    organisation_id: Mapped[str] = mapped_column(String(128))
    decision: Mapped[str] = mapped_column(String(16))  # accepted, rejected, cleared, or note (the note alone)
    note: Mapped[str] = mapped_column(Text, default="")
    decided_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    decided_by: Mapped[str | None] = mapped_column(String(100), nullable=True)  # the API key's name


__all__ = ["AssignmentRow", "Base", "ChangeRow", "DecisionRow", "EmbeddingRow", "OrganisationRow", "ProjectRow", "ShortlistRow",
           "as_utc", "iso_utc", "utc_now"]
