"""Alembic environment: how migrations reach the database, from Store.migrate and from the alembic CLI.

Conventions for new revisions (read this before adding a file to versions/):

- One file per revision in ``versions/``, named ``NNNN_slug.py`` with ``revision = "NNNN"`` and
  ``down_revision`` the previous number: one straight line, no branches, so "head" is always a single revision
  (tests/test_migrations.py checks this). From the repository root,
  ``alembic revision --autogenerate --rev-id 0003 -m "what it changes"`` writes such a file
  (alembic.ini sets the file-name template) for you to review. Nothing else needs registering: Store.migrate
  runs every revision the database has not had yet.
- Every revision runs on SQLite and on PostgreSQL. Alter existing tables inside ``op.batch_alter_table(...)``:
  SQLite cannot ALTER most things, and batch mode copies the table there and issues plain ALTERs elsewhere.
  ``render_as_batch`` is on for every dialect below, so autogenerate writes batch operations whichever database
  it was run against.
- Revisions spell out their tables and columns instead of importing matcher.storage.tables: a migration must keep
  producing the schema of its day after the models move on.
- Tables are declared in ``matcher.storage.tables`` (on its ``Base``); a table declared anywhere else must have
  its module listed in ``MODEL_MODULES`` below, or autogenerate cannot see it (and would propose dropping it).
- Keep the names SQLAlchemy gives by default (``ix_<table>_<column>`` for ``index=True``) so models and migrations
  agree; tests/test_migrations.py fails if autogenerate finds any difference at head.
- Write ``downgrade()`` as well: the tests round-trip ``downgrade base`` / ``upgrade head``.

The connection: Store.migrate passes its own in ``config.attributes["connection"]`` (so ``sqlite://`` in-memory
databases work, and the migration commits with the caller's transaction). From the CLI the URL is
``-x url=...``, else ``sqlalchemy.url`` in alembic.ini, else the application's own (PM_DATABASE_URL, or the
SQLite file under PM_DATA_DIR) - the CLI is a developer's door, so it may read the environment.
"""

from __future__ import annotations

import importlib
from logging.config import fileConfig
from typing import Any

from alembic import context
from sqlalchemy.engine import Connection

from matcher.config import Settings
from matcher.storage.migrations import adopt_legacy_schema
from matcher.storage.store import Store
from matcher.storage.tables import Base

# Every module whose models add tables to Base.metadata: importing it registers them.
MODEL_MODULES = ("matcher.storage.tables",)
for module in MODEL_MODULES:
    importlib.import_module(module)

config = context.config
target_metadata = Base.metadata

if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

OPTIONS: dict[str, Any] = {
    "target_metadata": target_metadata,
    "render_as_batch": True,  # see the module docstring: the same revision files run on SQLite
    "compare_type": True,
}


def cli_database_url() -> str:
    """The database the alembic CLI works on: ``-x url=...``, else alembic.ini's, else the application's."""
    return (context.get_x_argument(as_dictionary=True).get("url")
            or config.get_main_option("sqlalchemy.url")
            or Settings.from_env().resolved_database_url)


def run_migrations(connection: Connection) -> None:
    context.configure(connection=connection, **OPTIONS)
    with context.begin_transaction():
        adopt_legacy_schema(context.get_context(), context.script)
        context.run_migrations()


def run_migrations_offline() -> None:
    """``alembic upgrade head --sql``: write the SQL out instead of running it (for a DBA to review)."""
    context.configure(url=cli_database_url(), literal_binds=True, dialect_opts={"paramstyle": "named"}, **OPTIONS)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        run_migrations(connection)
        return
    store = Store(cli_database_url())  # the application's engine set-up: SQLite pragmas, parent directory
    try:
        with store.engine.connect() as connection:
            run_migrations(connection)
    finally:
        store.close()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
