"""Organisations and projects: the schema the pre-migration Store.create_all() made.

Revision ID: 0001
Revises:
Create Date: 2025-11-24

A database that already has these two tables and records no revision is stamped at 0001 instead of running this
(matcher.storage.migrations.adopt_legacy_schema), so keep this revision exactly that schema.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "organisations",
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("org_type", sa.String(32), nullable=False),
        sa.Column("record", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_organisations_name", "organisations", ["name"])
    op.create_index("ix_organisations_country", "organisations", ["country"])
    op.create_index("ix_organisations_org_type", "organisations", ["org_type"])

    op.create_table(
        "projects",
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("record", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_projects_country", "projects", ["country"])


def downgrade() -> None:
    op.drop_index("ix_projects_country", table_name="projects")
    op.drop_table("projects")
    op.drop_index("ix_organisations_org_type", table_name="organisations")
    op.drop_index("ix_organisations_country", table_name="organisations")
    op.drop_index("ix_organisations_name", table_name="organisations")
    op.drop_table("organisations")
