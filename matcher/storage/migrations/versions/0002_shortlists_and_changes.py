"""Officers' shortlists and decisions, and the change log that keeps every worker's index current.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24

- ``shortlists``: one row per batch-shortlist job (request, status, progress, summary, error).
- ``shortlist_assignments``: the chosen (project, organisation) pairs with the latest decision.
- ``shortlist_decisions``: every decision ever made, append-only (the exportable history).
- ``changes``: one row per written or deleted organisation/project, in order; each process applies the rows after
  the last one its index has seen, so a write through one gunicorn worker is matchable through all of them.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "shortlists",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=True),
        sa.Column("error", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_shortlists_status", "shortlists", ["status"])
    op.create_index("ix_shortlists_created_at", "shortlists", ["created_at"])

    op.create_table(
        "shortlist_assignments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("shortlist_id", sa.String(32), nullable=False),
        sa.Column("project_id", sa.String(128), nullable=False),
        sa.Column("organisation_id", sa.String(128), nullable=False),
        sa.Column("organisation_name", sa.String(300), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("org_type", sa.String(32), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("decision", sa.String(16), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["shortlist_id"], ["shortlists.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("shortlist_id", "project_id", "organisation_id", name="uq_assignment_pair"),
    )
    op.create_index("ix_shortlist_assignments_shortlist_id", "shortlist_assignments", ["shortlist_id"])

    op.create_table(
        "shortlist_decisions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("shortlist_id", sa.String(32), nullable=False),
        sa.Column("project_id", sa.String(128), nullable=False),
        sa.Column("organisation_id", sa.String(128), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["shortlist_id"], ["shortlists.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_shortlist_decisions_shortlist_id", "shortlist_decisions", ["shortlist_id"])
    op.create_index("ix_shortlist_decisions_project_id", "shortlist_decisions", ["project_id"])

    op.create_table(
        "changes",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("record_id", sa.String(128), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )


def downgrade() -> None:
    op.drop_table("changes")
    op.drop_index("ix_shortlist_decisions_project_id", table_name="shortlist_decisions")
    op.drop_index("ix_shortlist_decisions_shortlist_id", table_name="shortlist_decisions")
    op.drop_table("shortlist_decisions")
    op.drop_index("ix_shortlist_assignments_shortlist_id", table_name="shortlist_assignments")
    op.drop_table("shortlist_assignments")
    op.drop_index("ix_shortlists_status", table_name="shortlists")
    op.drop_index("ix_shortlists_created_at", table_name="shortlists")
    op.drop_table("shortlists")
