"""Shortlists reviewed for real calls: named shortlists, who made and decided what, the fit band of each pair.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05

- ``shortlists.name`` (the officer's name for it, editable) and ``shortlists.created_by``;
- ``shortlist_assignments.fit`` and ``.band`` (the calibrated fit), ``.decided_by``;
- ``shortlist_decisions.decided_by`` and ``changes.by`` (who wrote each organisation or project). Names are API key names (``PM_API_KEYS=name:key``), never keys.
Every column is nullable or has a server default, so existing rows stay valid on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("shortlists", sa.Column("name", sa.String(200), nullable=False, server_default=""))
    op.add_column("shortlists", sa.Column("created_by", sa.String(100), nullable=True))
    op.add_column("shortlist_assignments", sa.Column("fit", sa.Float(), nullable=True))
    op.add_column("shortlist_assignments", sa.Column("band", sa.String(16), nullable=True))
    op.add_column("shortlist_assignments", sa.Column("decided_by", sa.String(100), nullable=True))
    op.add_column("shortlist_decisions", sa.Column("decided_by", sa.String(100), nullable=True))
    op.add_column("changes", sa.Column("by", sa.String(100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("changes") as batch:
        batch.drop_column("by")
    with op.batch_alter_table("shortlist_decisions") as batch:
        batch.drop_column("decided_by")
    with op.batch_alter_table("shortlist_assignments") as batch:
        batch.drop_column("decided_by")
        batch.drop_column("band")
        batch.drop_column("fit")
    with op.batch_alter_table("shortlists") as batch:
        batch.drop_column("created_by")
        batch.drop_column("name")
