"""The ``Store``: the database, source of truth for organisations and projects (SQLAlchemy; SQLite by default).

Records come out re-validated against the schema. The tables are in ``matcher.storage.tables``; the Store owns
the engine and its sessions, and lends them through ``session()`` (reads) and ``transaction(what)`` (writes) to
the other stores on the same database (``ShortlistStore``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar, cast

from alembic.util import CommandError
from pydantic import BaseModel, Field
from sqlalchemy import CursorResult, Select, Text, create_engine, event, func, inspect, or_, select, update
from sqlalchemy import cast as sql_cast
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import SingletonThreadPool, StaticPool

from corpus.errors import clip
from corpus.schema import Organisation, Project, control_character_problem
from matcher.errors import InvalidRequest, OrganisationHasUnits, PreconditionFailed, StorageError
from matcher.storage.migrations import upgrade_to_head
from matcher.storage.tables import ChangeRow, OrganisationRow, ProjectRow, as_utc, iso_utc, utc_now

T = TypeVar("T")
R = TypeVar("R", Organisation, Project)


def record_etag(record: BaseModel) -> str:
    """The entity tag of a record as the API serves it: a hash of its JSON (GET's ETag, PATCH's If-Match)."""
    return hashlib.sha256(json.dumps(record.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()[:32]


class Page(tuple, Generic[T]):
    """``(items, total)`` of one page of a list."""

    @property
    def items(self) -> list[T]:
        return self[0]

    @property
    def total(self) -> int:
        return self[1]


class RecordChange(BaseModel):
    """One entry of an organisation's or a project's history (the change log): when, who, and what happened."""

    at: str = Field(description="when the change was committed (ISO 8601, UTC)")
    by: str | None = Field(description="the name of the API key that made it (`cli (<user>)` for `matcher import`); "
                                       "null when no name was recorded (library calls, changes before names were "
                                       "kept). Never the key")
    action: Literal["created", "updated", "deleted"] | None = Field(
        description="what the change did; null on entries written before the service recorded it")


class Store:
    """Organisations and projects in a SQL database. ``url`` is any SQLAlchemy URL."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            parsed = make_url(url)
        except ArgumentError as e:
            raise StorageError(f"PM_DATABASE_URL {url!r} is not a valid SQLAlchemy URL "
                               "(e.g. sqlite:///var/pm.db)") from e
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs = {"connect_args": {"check_same_thread": False}} if parsed.get_backend_name() == "sqlite" else {}
        try:
            self.engine: Engine = create_engine(url, **kwargs)
        except Exception as e:  # a missing driver, a bad option: say which URL, not a traceback
            raise StorageError(f"cannot use database {parsed.render_as_string(hide_password=True)}: {e}") from e
        if parsed.get_backend_name() == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._readers = threading.local()  # per thread: the connection and cursor last_change reads through
        # Not where the pool holds the only connection to the data (in-memory SQLite: one per thread, or one for
        # all): a connection of its own would be another, empty database.
        self._own_readers = not isinstance(self.engine.pool, SingletonThreadPool | StaticPool)
        self._readers_lock = threading.Lock()
        self._reader_connections: dict = {}  # thread -> (its connection, process id), for close() and ended threads

    def migrate(self) -> Store:
        """Bring the schema up to date (``alembic upgrade head`` over this Store's own engine); returns the Store.

        The engine calls it on every start: an empty database gets every revision, a database at an older one gets
        the rest, one made before the migrations existed is adopted at revision 0001 first, and one already at
        head costs a couple of small queries.
        """
        where = self.engine.url.render_as_string(hide_password=True)
        try:
            # One transaction, so a failed migration on PostgreSQL leaves the schema as it was. Processes starting
            # together (gunicorn workers) are serialised: PostgreSQL by an advisory lock inside upgrade_to_head, a
            # SQLite file by an exclusive lock on a file beside it.
            with self._migration_lock(), self.engine.begin() as connection:
                upgrade_to_head(connection)
        except StorageError:
            raise
        except CommandError as e:  # a revision file missing or unreadable: the installation, not the database
            raise StorageError(f"cannot migrate database {where}: {e}. Reinstall partner-matcher so that "
                               "matcher/storage/migrations/versions/ is complete.") from e
        except SQLAlchemyError as e:
            raise StorageError(f"cannot open database {where}: {e}. Check that the database server is running and "
                               "that PM_DATABASE_URL names a database you may create tables in.") from e
        return self

    @contextlib.contextmanager
    def _migration_lock(self) -> Iterator[None]:
        database = self.engine.url.database if self.engine.url.get_backend_name() == "sqlite" else None
        if not database or database == ":memory:":
            yield
            return
        with open(f"{database}.migrate.lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes
            yield

    def session(self) -> Session:
        """A new session for reads (``with store.session() as session: ...``); it closes with the block."""
        return self._sessions()

    @contextlib.contextmanager
    def transaction(self, what: str) -> Iterator[Session]:
        """A session in one transaction: committed when the block ends, rolled back when it raises.

        A database error (on the way or at commit) becomes ``StorageError`` saying ``what`` was not done, so the
        doors report it as a storage failure rather than a bug.
        """
        session = self._sessions()
        transaction = session.begin()
        try:
            try:
                yield session
            except SQLAlchemyError as error:
                _finish(transaction.rollback, what)
                raise StorageError(f"{what}: the database refused the change ({type(error).__name__}: "
                                   f"{error})") from error
            except BaseException:
                _finish(transaction.rollback, what)
                raise
            _finish(transaction.commit, what)
        finally:
            session.close()

    # ------------------------------------------------------------------ writes
    def upsert(self, organisations: Iterable[Organisation] = (), projects: Iterable[Project] = (), *,
               by: str | None = None, created: set[str] | None = None) -> tuple[int, int]:
        """Insert or replace organisations and projects in one transaction: all of them are written, or none.
        ``by`` (an API key's name) is recorded with each change; ``created``, when given, receives the ids of the
        records this write inserted (rather than replaced)."""
        organisations, projects = list(organisations), list(projects)
        orgs = projects_written = 0
        try:
            with self.session() as session, session.begin():
                refuse_invalid_records(organisations, projects, parent_of=_stored_parents(session))
                # merge() reads the stored row first: a row it had to add (still pending) is created by this write.
                for org in organisations:
                    row = session.merge(OrganisationRow(id=org.id, name=org.name, country=org.country,
                                                        org_type=org.org_type, record=org.model_dump(mode="json"),
                                                        updated_at=utc_now()))
                    inserted = inspect(row).pending
                    session.add(ChangeRow(kind="organisation", record_id=org.id, by=by,
                                          action="created" if inserted else "updated"))
                    if inserted and created is not None:
                        created.add(org.id)
                    orgs += 1
                for project in projects:
                    brief = session.merge(ProjectRow(id=project.id, title=project.title, country=project.country,
                                                     record=project.model_dump(mode="json"), updated_at=utc_now()))
                    inserted = inspect(brief).pending
                    session.add(ChangeRow(kind="project", record_id=project.id, by=by,
                                          action="created" if inserted else "updated"))
                    if inserted and created is not None:
                        created.add(project.id)
                    projects_written += 1
        except SQLAlchemyError as e:
            raise StorageError(f"nothing was written: the database refused the change ({type(e).__name__}: {e})") from e
        return orgs, projects_written

    def check(self, organisations: Iterable[Organisation] = (), projects: Iterable[Project] = ()) -> None:
        """Refuse what ``upsert`` would refuse, writing nothing (a dry run): the same checks on the same data."""
        with self.session() as session:
            refuse_invalid_records(list(organisations), list(projects), parent_of=_stored_parents(session))

    def patch_organisation(self, org_id: str, merge: Callable[[Organisation], Organisation | None], *,
                           if_match: Collection[str] | None = None, by: str | None = None) -> Organisation | None:
        """Replace an organisation by ``merge(current)`` atomically across processes; None when there is none."""
        return self._patch(OrganisationRow, Organisation, "organisation", org_id, merge, if_match, by)

    def patch_project(self, project_id: str, merge: Callable[[Project], Project | None], *,
                      if_match: Collection[str] | None = None, by: str | None = None) -> Project | None:
        """Replace a project by ``merge(current)`` atomically across processes; None when there is none."""
        return self._patch(ProjectRow, Project, "project", project_id, merge, if_match, by)

    def delete_checked(self, kind: str, record_id: str, *, if_match: Collection[str], by: str | None = None) -> bool:
        """Delete one organisation or project (``kind``) if its entity tag is in ``if_match`` (or that is ``*``),
        atomically; False when there is none, ``PreconditionFailed`` when the tag is stale."""
        if kind == "organisation":
            return self._patch(OrganisationRow, Organisation, kind, record_id, lambda _: None, if_match, by) is not None
        return self._patch(ProjectRow, Project, kind, record_id, lambda _: None, if_match, by) is not None

    def _patch(self, row_type: type[OrganisationRow] | type[ProjectRow], model: type[R], kind: str, record_id: str,
               merge: Callable[[R], R | None], if_match: Collection[str] | None, by: str | None = None) -> R | None:
        """Read, merge and write one record in one transaction that holds the record's write lock throughout;
        ``merge`` returns the new record, or None to delete it. Returns what was written (or deleted), None when
        there is no such record.

        The transaction's first statement writes the row: PostgreSQL locks it, SQLite takes the database's write
        lock, so a concurrent patch (any process) waits there and then merges into the record this one wrote,
        never into the copy both read. ``if_match`` (entity tags, or ``*``) is checked against the locked record.
        """
        with self.transaction(f"{kind} {clip(record_id)!r} was not changed") as session:
            touched = session.execute(update(row_type).where(row_type.id == record_id).values(updated_at=utc_now()))
            if cast(CursorResult, touched).rowcount == 0:
                return None
            row: Any = session.get(row_type, record_id, populate_existing=True)  # locked by this transaction
            current = model.model_validate(row.record)
            etag = record_etag(current)
            if if_match is not None and "*" not in if_match and etag not in if_match:
                raise PreconditionFailed(f"{kind} {record_id!r} has changed since the version your If-Match names "
                                         f"(its ETag is now \"{etag}\"); GET it again and re-apply your change",
                                         {"etag": etag})
            updated = merge(current)
            session.add(ChangeRow(kind=kind, record_id=record_id, by=by,
                                  action="deleted" if updated is None else "updated"))
            if updated is None:
                if kind == "organisation":
                    _refuse_orphaning(session, [record_id])
                session.delete(row)
                return current
            if isinstance(updated, Organisation):
                refuse_invalid_records([updated], parent_of=_stored_parents(session))
                row.name, row.country, row.org_type = updated.name, updated.country, updated.org_type
            else:
                refuse_invalid_records(projects=[updated], parent_of=_stored_parents(session))
                row.title, row.country = updated.title, updated.country
            row.record = updated.model_dump(mode="json")
        return updated

    def upsert_organisations(self, organisations: Iterable[Organisation]) -> int:
        return self.upsert(organisations=organisations)[0]

    def upsert_projects(self, projects: Iterable[Project]) -> int:
        return self.upsert(projects=projects)[1]

    def seed(self, organisations: Sequence[Organisation], projects: Sequence[Project]) -> bool:
        """Fill an empty database from the corpus; a database that already holds data is left alone."""
        if self.count_organisations() or self.count_projects():
            return False
        try:
            with self.session() as session, session.begin():
                session.add_all(
                    OrganisationRow(id=o.id, name=o.name, country=o.country, org_type=o.org_type,
                                    record=o.model_dump(mode="json"))
                    for o in organisations
                )
                session.add_all(
                    ProjectRow(id=p.id, title=p.title, country=p.country, record=p.model_dump(mode="json"))
                    for p in projects
                )
        except IntegrityError:
            if self.count_organisations() or self.count_projects():
                return False  # another process (a second worker starting) seeded it first: same corpus, fine
            raise
        return True

    # ------------------------------------------------------------------ change log
    _LAST_CHANGE = select(func.max(ChangeRow.seq))
    _LAST_CHANGE_SQL = "SELECT max(seq) FROM changes"

    def last_change(self) -> int:
        """The sequence number of the newest change (0 when nothing was ever written after seeding).

        Every query asks, so a write through another worker is seen at once. It reads on the driver's own cursor,
        over a connection each thread keeps in autocommit (every read sees the latest commit, and no transaction is
        left open): checking an engine connection out of the pool and back costs many times more, on a path every
        query takes. A failed read (a server restart dropped the connection) reopens it through the engine, which
        raises if the database is really gone."""
        reader = self._readers
        if self._own_readers:
            try:
                cursor = reader.cursor if getattr(reader, "pid", None) == os.getpid() else self._open_reader()
                cursor.execute(self._LAST_CHANGE_SQL)
                return cursor.fetchone()[0] or 0
            except Exception:  # any driver's error: drop this thread's connection and ask through the engine
                self._close_reader(threading.current_thread())
        with self.engine.connect() as connection:
            return connection.execute(self._LAST_CHANGE).scalar() or 0

    def _open_reader(self) -> Any:
        """This thread's change-log connection: the engine's (its connect hooks ran), detached from the pool so it
        takes none of the pool's places, in autocommit. Connections of threads that have ended are closed here;
        after a fork, the child opens its own (a connection is never shared between processes)."""
        fairy = self.engine.raw_connection()
        fairy.detach()
        connection = fairy.dbapi_connection
        if connection is None:
            raise StorageError("the database gave no connection for the change log; check that it is reachable")
        self.engine.dialect.set_isolation_level(connection, "AUTOCOMMIT")
        cursor = connection.cursor()
        pid = os.getpid()
        with self._readers_lock:
            # A forked child forgets its parent's connections without closing them: closing one would end the
            # parent's session on a server database.
            self._reader_connections = {t: c for t, c in self._reader_connections.items() if c[1] == pid}
            ended = [t for t in self._reader_connections if not t.is_alive()]
        for thread in ended:
            self._close_reader(thread)
        with self._readers_lock:
            self._reader_connections[threading.current_thread()] = (connection, pid)
        self._readers.cursor, self._readers.pid = cursor, pid
        return cursor

    def _close_reader(self, thread: threading.Thread) -> None:
        if thread is threading.current_thread():
            self._readers.cursor = self._readers.pid = None
        with self._readers_lock:
            connection, _ = self._reader_connections.pop(thread, (None, None))
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.close()

    def changes_since(self, seq: int) -> tuple[int, set[str], set[str]]:
        """(newest seq, organisation ids, project ids) written or deleted after ``seq``."""
        organisations: set[str] = set()
        projects: set[str] = set()
        newest = seq
        with self.session() as session:
            for row_seq, kind, record_id in session.execute(
                    select(ChangeRow.seq, ChangeRow.kind, ChangeRow.record_id).where(ChangeRow.seq > seq)):
                newest = max(newest, row_seq)
                (organisations if kind == "organisation" else projects).add(record_id)
        return newest, organisations, projects

    def history(self, kind: str, record_id: str, *, page: int = 1, per_page: int = 20) -> Page:
        """A page of the change log of one organisation or project (``kind``), newest first: ``RecordChange``s.

        Newest first because the latest change is what a reader asks about; the log's own order (``seq``) decides,
        not the clock. A deleted record's entries stay, so its history is still readable; a record loaded by
        seeding has none until it is first written."""
        query = select(ChangeRow).where(ChangeRow.kind == kind, ChangeRow.record_id == record_id)
        with self.session() as session:
            total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = session.scalars(query.order_by(ChangeRow.seq.desc()).offset((page - 1) * per_page).limit(per_page))
            return Page(([RecordChange.model_validate({"at": iso_utc(row.at), "by": row.by, "action": row.action})
                          for row in rows], total))

    def get_organisations(self, ids: Iterable[str]) -> list[Organisation]:
        """The organisations with these ids that exist (missing ids are simply absent)."""
        return [Organisation.model_validate(record) for record in self._records(OrganisationRow, ids)]

    def get_projects(self, ids: Iterable[str]) -> list[Project]:
        """The projects with these ids that exist (missing ids are simply absent)."""
        return [Project.model_validate(record) for record in self._records(ProjectRow, ids)]

    def _records(self, table: type[OrganisationRow] | type[ProjectRow], ids: Iterable[str]) -> list[dict]:
        ids = list(ids)
        out: list[dict] = []
        with self.session() as session:
            for start in range(0, len(ids), 500):  # keep IN lists within every database's limits
                out.extend(session.scalars(select(table.record).where(table.id.in_(ids[start : start + 500]))))
        return out

    # ------------------------------------------------------------------ reads
    def count_organisations(self) -> int:
        with self.session() as session:
            return session.scalar(select(func.count()).select_from(OrganisationRow)) or 0

    def count_projects(self) -> int:
        with self.session() as session:
            return session.scalar(select(func.count()).select_from(ProjectRow)) or 0

    def all_organisations(self) -> list[Organisation]:
        with self.session() as session:
            rows = session.scalars(select(OrganisationRow).order_by(OrganisationRow.id))
            return [Organisation.model_validate(r.record) for r in rows]

    def all_projects(self) -> list[Project]:
        with self.session() as session:
            rows = session.scalars(select(ProjectRow).order_by(ProjectRow.id))
            return [Project.model_validate(r.record) for r in rows]

    def get_organisation(self, org_id: str) -> Organisation | None:
        with self.session() as session:
            row = session.get(OrganisationRow, org_id)
            return Organisation.model_validate(row.record) if row else None

    def get_organisation_stamped(self, org_id: str) -> tuple[Organisation, dt.datetime] | None:
        """The organisation and when it last changed (for Last-Modified / ETag)."""
        with self.session() as session:
            row = session.get(OrganisationRow, org_id)
            if row is None:
                return None
            return Organisation.model_validate(row.record), as_utc(row.updated_at)

    def delete(self, *, organisation_ids: Iterable[str] = (), project_ids: Iterable[str] = (),
               by: str | None = None) -> int:
        """Delete records in one transaction; returns how many rows went."""
        gone = 0
        organisation_ids = list(organisation_ids)
        try:
            with self.session() as session, session.begin():
                _refuse_orphaning(session, organisation_ids)
                for oid in organisation_ids:
                    row = session.get(OrganisationRow, oid)
                    if row is not None:
                        session.delete(row)
                        session.add(ChangeRow(kind="organisation", record_id=oid, by=by, action="deleted"))
                        gone += 1
                for pid in project_ids:
                    project = session.get(ProjectRow, pid)
                    if project is not None:
                        session.delete(project)
                        session.add(ChangeRow(kind="project", record_id=pid, by=by, action="deleted"))
                        gone += 1
        except SQLAlchemyError as e:
            raise StorageError(f"nothing was deleted: the database refused the change ({type(e).__name__}: {e})") from e
        return gone

    def get_project(self, project_id: str) -> Project | None:
        with self.session() as session:
            row = session.get(ProjectRow, project_id)
            return Project.model_validate(row.record) if row else None

    def list_organisations(
        self, *, page: int = 1, per_page: int = 20, countries: Sequence[str] = (), org_types: Sequence[str] = (),
        minerals: Sequence[str] = (), stages: Sequence[str] = (), text: str = "",
    ) -> Page:
        """A page of organisations in id order; each filter keeps records with any of its values (``text``: a
        case-insensitive phrase in the name, aliases, place, description or keywords)."""
        query = select(OrganisationRow)
        if countries:
            query = query.where(OrganisationRow.country.in_(countries))
        if org_types:
            query = query.where(OrganisationRow.org_type.in_(org_types))
        if not (minerals or stages or text.strip()):
            return self._page(query, OrganisationRow, Organisation, page, per_page)
        phrase = text.strip().casefold()

        def keep(record: dict) -> bool:
            return ((not minerals or any(m in record.get("minerals", ()) for m in minerals))
                    and (not stages or any(s in record.get("value_chain_stages", ()) for s in stages))
                    and (not phrase or any(phrase in value.casefold() for value in _organisation_texts(record))))

        # The database narrows by the ids' and the phrase's JSON text; ``keep`` then decides exactly.
        query = _narrowed(query, OrganisationRow, [[f'"{m}"' for m in minerals], [f'"{s}"' for s in stages],
                                                   [phrase] if phrase else []])
        return self._kept_page(query, OrganisationRow, Organisation, page, per_page, keep)

    def list_projects(self, *, page: int = 1, per_page: int = 20, countries: Sequence[str] = (),
                      challenges: Sequence[int] = (), text: str = "", illustrative: bool | None = None) -> Page:
        """A page of project briefs in id order; ``challenges`` keeps briefs in any of these challenge areas,
        ``text`` a case-insensitive phrase in the title, summary, lead, sought expertise or keywords,
        ``illustrative`` illustrative briefs (True) or real projects (False) only."""
        query = select(ProjectRow)
        if countries:
            query = query.where(ProjectRow.country.in_(countries))
        if not (challenges or text.strip() or illustrative is not None):
            return self._page(query, ProjectRow, Project, page, per_page)
        phrase = text.strip().casefold()

        def keep(record: dict) -> bool:
            texts = [record.get(k) or "" for k in ("title", "summary", "lead_organisation", "sought_expertise")]
            return ((not challenges or any(c in record.get("challenge_areas", ()) for c in challenges))
                    and (illustrative is None or record.get("illustrative", True) == illustrative)
                    and (not phrase or any(phrase in v.casefold() for v in [*texts, *record.get("keywords", ())])))

        query = _narrowed(query, ProjectRow, [[phrase] if phrase else []])
        return self._kept_page(query, ProjectRow, Project, page, per_page, keep)

    def _page(self, query: Select, row_type: type[OrganisationRow] | type[ProjectRow], model: type[BaseModel],
              page: int, per_page: int) -> Page:
        with self.session() as session:
            total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = session.scalars(query.order_by(row_type.id).offset((page - 1) * per_page).limit(per_page))
            return Page(([model.model_validate(r.record) for r in rows], total))

    def _kept_page(self, query: Select, row_type: type[OrganisationRow] | type[ProjectRow], model: type[BaseModel],
                   page: int, per_page: int, keep: Callable[[dict], bool]) -> Page:
        """A page of the rows ``keep`` accepts, counted and sliced here (the filter reads the JSON record)."""
        start, items, total = (page - 1) * per_page, [], 0
        with self.session() as session:
            for row in session.scalars(query.order_by(row_type.id)):
                if keep(row.record):
                    if start <= total < start + per_page:
                        items.append(model.model_validate(row.record))
                    total += 1
        return Page((items, total))

    def close(self) -> None:
        with self._readers_lock:
            readers, self._reader_connections = self._reader_connections, {}
        for connection, pid in readers.values():
            if pid == os.getpid():  # a parent's connections are the parent's to close
                with contextlib.suppress(Exception):
                    connection.close()
        self._readers = threading.local()
        self.engine.dispose()


def _organisation_texts(record: dict) -> list[str]:
    return [record.get(k) or "" for k in ("name", "city", "region", "description")] + [
        *record.get("aliases", ()), *record.get("keywords", ())]


def _narrowed(query: Select, row_type: type[OrganisationRow] | type[ProjectRow], groups: list[list[str]]) -> Select:
    """``query`` narrowed to records whose JSON text holds one string of each non-empty group (case-insensitive).

    Only plain ASCII strings narrow: the JSON text escapes other characters, so for those the exact filter in
    Python alone decides. Never wrong, only a cheaper first pass."""
    record_text = sql_cast(row_type.record, Text)
    for group in groups:
        plain = [s for s in group if s.isascii() and s.isprintable() and not ({'\\', '"'} & set(s.strip('"')))]
        if plain and len(plain) == len(group):
            query = query.where(or_(*(record_text.ilike(f"%{_like_escape(s)}%", escape="!") for s in plain)))
    return query


def _like_escape(value: str) -> str:
    return value.replace("!", "!!").replace("%", "!%").replace("_", "!_")


# How far a chain of parents is followed looking for a cycle (real bodies nest two or three deep).
MAX_PARENT_DEPTH = 100
ParentLookup = Callable[[str], "tuple[bool, str | None]"]


def refuse_invalid_records(organisations: Iterable[Organisation] = (), projects: Iterable[Project] = (), *,
                           parent_of: ParentLookup) -> None:
    """Refuse (``InvalidRequest``, every problem listed) what no door may write, checked where every write and every
    dry run passes: control characters in names and titles, and a ``parent_id`` that names no organisation (stored
    or in the same batch, in any order) or that makes a cycle. ``parent_of(id)`` is (stored?, its parent_id).
    Records stored before these checks are read as they are (and escaped on export)."""
    organisations, projects = list(organisations), list(projects)
    problems = [f"organisation {org.id!r}: {problem}" for org in organisations
                for field, text in [("name", org.name), *(("aliases", a) for a in org.aliases)]
                if (problem := control_character_problem(field, text))]
    problems += [f"project {project.id!r}: {problem}" for project in projects
                 if (problem := control_character_problem("title", project.title))]
    problems += parent_problems(organisations, parent_of)
    if problems:
        raise InvalidRequest(f"nothing was written: {problems[0]}"
                             + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""),
                             {"problems": problems[:100]})


def parent_problems(organisations: Sequence[Organisation], parent_of: ParentLookup) -> list[str]:
    """Each organisation whose ``parent_id`` is unknown or leads round a cycle, in words that say how to fix it.
    The batch's own records win over the stored ones (a write may move a body under another)."""
    batch = {o.id: o.parent_id for o in organisations}
    known: dict[str, tuple[bool, str | None]] = {}

    def lookup(org_id: str) -> tuple[bool, str | None]:
        if org_id in batch:
            return True, batch[org_id]
        if org_id not in known:
            known[org_id] = parent_of(org_id)
        return known[org_id]

    problems = []
    for org in organisations:
        if org.parent_id is None:
            continue
        if not lookup(org.parent_id)[0]:
            problems.append(f"organisation {org.id!r}: parent_id {clip(org.parent_id)!r} names no organisation; "
                            "create the parent first, or send it in the same import (in any order), or leave "
                            "parent_id out")
            continue
        chain: list[str] = [org.id]
        current: str | None = org.parent_id
        while current is not None and len(chain) <= MAX_PARENT_DEPTH:
            if current in chain:
                problems.append(f"organisation {org.id!r}: parent_id makes a cycle ("
                                + " -> ".join([*chain[chain.index(current):], current])
                                + "); a body cannot be part of itself, so clear one of these parent_ids")
                break
            chain.append(current)
            current = lookup(current)[1]
    return problems


def _stored_parents(session: Session) -> ParentLookup:
    """(stored?, parent_id) of an organisation as the session sees it: the lookup ``refuse_invalid_records`` reads."""
    def parent_of(org_id: str) -> tuple[bool, str | None]:
        row = session.get(OrganisationRow, org_id)
        return (False, None) if row is None else (True, row.record.get("parent_id"))
    return parent_of


def _refuse_orphaning(session: Session, organisation_ids: Sequence[str]) -> None:
    """Refuse deleting an organisation that others name as their parent (unless they go in the same delete):
    deleting it would leave their parent_id pointing at nothing, or silently change their records."""
    going = set(organisation_ids)
    units = sorted(session.scalars(select(OrganisationRow.id).where(
        OrganisationRow.record["parent_id"].as_string().in_(going))))
    units = [u for u in units if u not in going]
    if units:
        named = ", ".join(units[:10]) + (f" and {len(units) - 10} more" if len(units) > 10 else "")
        raise OrganisationHasUnits(
            f"nothing was deleted: {named} name{'s' if len(units) == 1 else ''} "
            f"{'an organisation being deleted' if len(going) > 1 else repr(next(iter(going)))} as parent_id; "
            "delete those too, or change their parent_id (PATCH it to another body or null) first",
            {"units": units[:100]})


def _finish(step: Any, what: str) -> None:
    """Run a transaction's commit or rollback; a database error becomes ``StorageError`` naming ``what``."""
    try:
        step()
    except SQLAlchemyError as e:
        raise StorageError(f"{what}: the database refused the change ({type(e).__name__}: {e})") from e


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the service read while an import writes; a busy timeout waits instead of failing at once.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def read_stored_records(url: str) -> tuple[list[Organisation], list[Project]] | None:
    """Every stored organisation and project, read without writing anything anywhere (no schema migration, no
    directory, no journal or WAL files): what a dry run compares with. None when there is no database yet.

    SQLite is opened read-only through its URI form (``mode=ro``); a server database is only queried."""
    import json
    import sqlite3

    try:
        parsed = make_url(url)
    except ArgumentError as e:
        raise StorageError(f"PM_DATABASE_URL {url!r} is not a valid SQLAlchemy URL (e.g. sqlite:///var/pm.db)") from e
    if parsed.get_backend_name() == "sqlite":
        if parsed.database in (None, "", ":memory:") or not Path(parsed.database).is_file():
            return None
        try:
            database = Path(parsed.database).resolve()
            # Fully checkpointed (no WAL file): immutable, so SQLite creates no -wal or -shm file beside it. With a
            # WAL file (a process has it open) the WAL must be read: read-only, and SQLite's own index files only.
            wal = database.with_name(database.name + "-wal")
            lite = sqlite3.connect(f"{database.as_uri()}?{'mode=ro' if wal.exists() else 'immutable=1'}", uri=True)
            try:
                orgs = [json.loads(r[0]) for r in lite.execute("SELECT record FROM organisations ORDER BY id")]
                projects = [json.loads(r[0]) for r in lite.execute("SELECT record FROM projects ORDER BY id")]
            finally:
                lite.close()
        except sqlite3.OperationalError as e:
            if "no such table" in str(e):
                return None
            raise StorageError(f"cannot read database {parsed.database}: {e}") from e
        return ([Organisation.model_validate(o) for o in orgs], [Project.model_validate(p) for p in projects])
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            orgs = [r[0] for r in connection.execute(select(OrganisationRow.record).order_by(OrganisationRow.id))]
            projects = [r[0] for r in connection.execute(select(ProjectRow.record).order_by(ProjectRow.id))]
    except SQLAlchemyError as e:
        if "does not exist" in str(e) or "no such table" in str(e):
            return None
        raise StorageError(f"cannot read database {parsed.render_as_string(hide_password=True)}: {e}") from e
    finally:
        engine.dispose()
    return ([Organisation.model_validate(o) for o in orgs], [Project.model_validate(p) for p in projects])
