"""The embedding cache in the database, shared by every replica.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05

- ``embeddings``: one vector per (model id, text) hash; derived data (safe to empty), so a replica joining a
  deployment reads the vectors the others computed instead of embedding every profile again.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "embeddings",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.Column("vec", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("embeddings")
