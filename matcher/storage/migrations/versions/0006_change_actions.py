"""What each change-log entry did, and an index to read one record's history.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05

- ``changes.action``: ``created``, ``updated`` or ``deleted``, decided by the store where it writes. Entries made
  before this revision keep NULL: which of the three they were cannot be told from the table, so none is guessed.
- ``ix_changes_record`` on (``kind``, ``record_id``): the history of one organisation or project without reading
  the whole log.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("changes", sa.Column("action", sa.String(16), nullable=True))
    op.create_index("ix_changes_record", "changes", ["kind", "record_id"])


def downgrade() -> None:
    op.drop_index("ix_changes_record", table_name="changes")
    with op.batch_alter_table("changes") as batch:
        batch.drop_column("action")
