"""The process running a shortlist job, so a restart fails the jobs its killed predecessor left running at once.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05

- ``shortlists.owner``: ``host/boot id/pid/process start`` of the process that claimed the job (null for jobs
  claimed before this revision, and for queued ones). A process on the same host and boot that finds the owner
  gone marks the job failed without waiting for its heartbeat to go stale.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("shortlists") as batch:
        batch.add_column(sa.Column("owner", sa.String(300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("shortlists") as batch:
        batch.drop_column("owner")
