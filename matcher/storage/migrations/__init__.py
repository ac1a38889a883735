"""Versioned schema migrations (Alembic) for the Store's database: SQLite files, ``sqlite://`` and PostgreSQL.

``upgrade_to_head(connection)`` is what ``Store.migrate`` runs on every start. It brings any database to the
newest revision in ``versions/``: an empty one, one at an older revision, or one made by the pre-migration
``Store.create_all`` (adopted at revision 0001, see ``adopt_legacy_schema``). Developers reach the same ``env.py``
through the alembic CLI and ``alembic.ini`` at the repository root; nothing here depends on the working directory.
"""

from __future__ import annotations

import functools
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from matcher.errors import StorageError

MIGRATIONS_DIR = Path(__file__).resolve().parent

# The revision whose schema the pre-migration Store.create_all() produced, and the columns it gave each table.
# A database holding exactly these tables and recording no revision is stamped at it rather than created again.
LEGACY_REVISION = "0001"
LEGACY_TABLES = {
    "organisations": {"id", "name", "country", "org_type", "record", "updated_at"},
    "projects": {"id", "title", "country", "record", "updated_at"},
}

# Any constant works; it only has to be the same for every process that migrates this database.
_POSTGRES_MIGRATION_LOCK = 0x504D4D31  # "PMM1"


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config built in code (no alembic.ini), pointing at this package's migrations.

    With ``connection``, env.py migrates through it (inside the caller's transaction) instead of opening its own.
    """
    config = Config()
    # Config values go through ConfigParser interpolation, so a '%' in the install path must be doubled.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@functools.cache
def script_directory() -> ScriptDirectory:
    """The revisions in ``versions/``, read once per process."""
    # Read once per process: the revision files do not change while it runs, and every start asks for the head.
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str | None:
    """The newest revision. Revisions form one straight line (see env.py), so there is exactly one head."""
    return script_directory().get_current_head()


def current_revision(connection: Connection) -> str | None:
    """The revision recorded in the database's ``alembic_version`` table, or None if it records none."""
    return MigrationContext.configure(connection).get_current_revision()


def upgrade_to_head(connection: Connection) -> None:
    """``alembic upgrade head`` through ``connection``; commit is the caller's (``engine.begin()``)."""
    if connection.dialect.name == "postgresql":
        # Several workers may start at once against a fresh database: the first migrates, the others wait for
        # its commit and then find the database at head. The lock ends with the caller's transaction.
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _POSTGRES_MIGRATION_LOCK})
    current = current_revision(connection)
    if current == head_revision():
        return  # the usual start: one small query, no migration environment to load
    if current is not None and current not in {s.revision for s in script_directory().walk_revisions()}:
        raise StorageError(
            f"the database is at schema revision {current!r}, which this installation of Partner Matcher does not "
            f"know (its newest is {head_revision()!r}): it was probably migrated by a newer version. Run that "
            "version, or point PM_DATABASE_URL at another database."
        )
    command.upgrade(alembic_config(connection), "head")


def adopt_legacy_schema(context: MigrationContext, script: ScriptDirectory) -> bool:
    """Stamp a database made by the pre-migration ``create_all`` at ``LEGACY_REVISION``; True if it was one.

    Called by env.py before any migration runs, so ``Store.migrate`` and the alembic CLI both adopt such a
    database instead of failing on "table already exists". Its schema *is* 0001, so the stamp only records a fact.
    """
    if context.get_current_heads():
        return False
    connection = context.connection
    if connection is None:  # offline (SQL script) mode has no database to look at
        return False
    tables = set(inspect(connection).get_table_names())
    present = sorted(tables & LEGACY_TABLES.keys())
    if not present:
        return False
    where = connection.engine.url.render_as_string(hide_password=True)
    missing = sorted(LEGACY_TABLES.keys() - tables)
    if missing:
        raise StorageError(
            f"database {where} has table(s) {', '.join(present)} but not {', '.join(missing)}, and records no "
            "schema revision: it was not made by Partner Matcher, or is damaged. Point PM_DATABASE_URL at an "
            f"empty database, or drop {', '.join(present)} there if it holds nothing you need."
        )
    for table in present:
        columns = {c["name"] for c in inspect(context.connection).get_columns(table)}
        if columns != LEGACY_TABLES[table]:
            raise StorageError(
                f"database {where} has a table {table!r} with columns {sorted(columns)}, not Partner Matcher's "
                f"{sorted(LEGACY_TABLES[table])}, and records no schema revision. Point PM_DATABASE_URL at a "
                "database of its own (an empty one is set up automatically)."
            )
    context.stamp(script, LEGACY_REVISION)
    return True
