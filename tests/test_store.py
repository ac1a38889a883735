
import os
import threading

import pytest

from corpus import load_organisations, load_projects
from matcher import StorageError, Store
from tests.conftest import FIXTURE_CORPUS

@pytest.fixture
def store(database_url):
    s = Store(database_url).migrate()
    yield s
    s.close()


def test_seed_once_then_read_back_validated_records(store):
    orgs, projects = load_organisations(FIXTURE_CORPUS), load_projects(FIXTURE_CORPUS)
    assert store.seed(orgs, projects) is True
    assert store.seed(orgs, projects) is False  # a database with data is never re-seeded
    assert store.count_organisations() == len(orgs) and store.count_projects() == len(projects)
    assert store.get_organisation("fx-magnet-recyclers") == next(o for o in orgs if o.id == "fx-magnet-recyclers")
    assert store.get_organisation("missing") is None
    assert store.all_organisations() == sorted(orgs, key=lambda o: o.id)
    assert store.all_projects() == sorted(projects, key=lambda p: p.id)


def test_pagination_and_filters(store):
    store.seed(load_organisations(FIXTURE_CORPUS), [])
    items, total = store.list_organisations(page=1, per_page=4)
    assert total == 9 and len(items) == 4
    rest, _ = store.list_organisations(page=3, per_page=4)
    assert len(rest) == 1
    beyond, total = store.list_organisations(page=9, per_page=4)
    assert beyond == [] and total == 9
    gb, total = store.list_organisations(countries=["GB"], org_types=["company"])
    assert total == 1 and gb[0].id == "fx-magnet-maker"


def test_browse_filters_by_mineral_stage_and_phrase(store):
    orgs = load_organisations(FIXTURE_CORPUS)
    # Non-ASCII and LIKE's own characters in the text: the database's narrowing must not lose or invent a match.
    accented = orgs[0].model_copy(update={"id": "fx-quebec", "name": "Fixture Québec 100%_Lab", "aliases": []})
    store.seed([*orgs, accented], load_projects(FIXTURE_CORPUS))
    ids = lambda page: [o.id for o in page.items]  # noqa: E731
    assert ids(store.list_organisations(minerals=["cobalt"])) == ["fx-battery-recycling", "fx-tailings-lab"]
    assert ids(store.list_organisations(minerals=["cobalt", "graphite"], countries=["CA", "US"])) == [
        "fx-tailings-lab", "fx-us-lab"]
    assert ids(store.list_organisations(stages=["manufacturing"], org_types=["company"])) == ["fx-magnet-maker"]
    assert ids(store.list_organisations(text="québec")) == ids(store.list_organisations(text="QUÉBEC")) == ["fx-quebec"]
    assert ids(store.list_organisations(text="100%_lab")) == ["fx-quebec"]
    assert ids(store.list_organisations(text="100%xlab")) == ids(store.list_organisations(text="0_%")) == []
    # "minerals" is a key of every record: a phrase is looked for in the fields' text, not in the JSON.
    assert store.list_organisations(text='"minerals"').total == 0
    page = store.list_organisations(minerals=["nickel"], page=2, per_page=2)
    assert page.total == 3 and ids(page) == ["fx-tailings-lab"]
    assert ids(store.list_projects(challenges=[1])) == ["fx-brief-tailings"]
    assert ids(store.list_projects(text="E-WASTE")) == ["fx-brief-magnets"]
    assert ids(store.list_projects(challenges=[2], countries=["CA"])) == ["fx-brief-magnets"]
    real = load_projects(FIXTURE_CORPUS)[0].model_copy(update={"id": "fx-real", "illustrative": False,
                                                             "sources": orgs[0].sources})
    store.upsert(projects=[real])
    assert ids(store.list_projects(illustrative=False)) == ["fx-real"]
    assert ids(store.list_projects(illustrative=True)) == ["fx-brief-magnets", "fx-brief-tailings"]
    assert sorted(p.id for p in store.get_projects(["fx-real", "fx-brief-tailings", "fx-gone"])) == [
        "fx-brief-tailings", "fx-real"]


def test_upsert_replaces_without_duplicating(store):
    orgs = load_organisations(FIXTURE_CORPUS)
    store.upsert_organisations(orgs)
    store.upsert_organisations([orgs[0].model_copy(update={"name": "Renamed"})])
    assert store.count_organisations() == len(orgs)
    assert store.get_organisation(orgs[0].id).name == "Renamed"


def test_delete_and_last_modified_stamp(store):
    orgs = load_organisations(FIXTURE_CORPUS)
    store.upsert_organisations(orgs)
    org, stamp = store.get_organisation_stamped(orgs[0].id)
    assert org == orgs[0] and stamp.tzinfo is not None  # both backends hand back an aware timestamp
    assert store.delete(organisation_ids=[orgs[0].id, "missing"]) == 1
    assert store.get_organisation(orgs[0].id) is None and store.count_organisations() == len(orgs) - 1


def test_history_of_one_record_newest_first_with_who_and_what(store):
    from matcher.storage.tables import ChangeRow

    orgs = load_organisations(FIXTURE_CORPUS)
    store.seed(orgs, load_projects(FIXTURE_CORPUS))
    assert store.history("organisation", orgs[0].id) == ([], 0)  # seeded: nothing recorded until it is written
    new = orgs[0].model_copy(update={"id": "fx-new"})
    store.upsert([new], by="ann")
    store.upsert([new.model_copy(update={"name": "Renamed"})], by="bob")
    store.patch_organisation("fx-new", lambda o: o.model_copy(update={"city": "Leeds"}), by="cli (amy)")
    store.upsert([orgs[1]], by="ann")  # another record, and seeded: an update, in its own history only
    store.delete_checked("organisation", "fx-new", if_match=["*"], by="bob")
    page = store.history("organisation", "fx-new")
    assert page.total == 4
    assert [(c.action, c.by) for c in page.items] == [("deleted", "bob"), ("updated", "cli (amy)"),
                                                      ("updated", "bob"), ("created", "ann")]
    assert [c.at for c in page.items] == sorted((c.at for c in page.items), reverse=True)
    assert all(c.at.endswith("Z") for c in page.items)
    assert [(c.action, c.by) for c in store.history("organisation", orgs[1].id).items] == [("updated", "ann")]
    assert [c.action for c in store.history("organisation", "fx-new", page=2, per_page=3).items] == ["created"]
    store.upsert([new])  # created again after its deletion, by nobody named
    store.delete(organisation_ids=["fx-new"], by="ann")
    assert [(c.action, c.by) for c in store.history("organisation", "fx-new", per_page=2).items] == [
        ("deleted", "ann"), ("created", None)]
    assert store.history("project", "fx-new").total == 0  # a project's log is its own, whatever the id
    project = load_projects(FIXTURE_CORPUS)[0]
    store.patch_project(project.id, lambda p: p.model_copy(update={"title": "Retitled"}), by="bob")
    assert [(c.action, c.by) for c in store.history("project", project.id).items] == [("updated", "bob")]
    with store.transaction("an entry as written before revision 0006") as session:
        session.add(ChangeRow(kind="project", record_id=project.id, by=None))
    assert store.history("project", project.id).items[0].action is None  # not recorded then: not guessed


def test_data_survives_reopening(database_url):
    first = Store(database_url).migrate()
    first.seed(load_organisations(FIXTURE_CORPUS), [])
    first.close()
    reopened = Store(database_url).migrate()  # migrating an up-to-date database changes nothing
    assert reopened.count_organisations() == 9
    reopened.close()


def test_last_change_sees_another_connections_write_at_once(database_url):
    # Two Stores on one database stand for two gunicorn workers: each query asks last_change, on a connection
    # its thread keeps open, and a write through the other must show at once (no snapshot held between reads).
    reader, writer = Store(database_url).migrate(), Store(database_url)
    try:
        assert reader.last_change() == 0
        orgs = load_organisations(FIXTURE_CORPUS)
        writer.upsert_organisations(orgs[:2])
        first = reader.last_change()
        assert first == writer.last_change() and first > 0
        writer.delete(organisation_ids=[orgs[0].id])
        assert reader.last_change() > first
    finally:
        reader.close()
        writer.close()


def test_last_change_recovers_from_a_dropped_connection(store):
    store.upsert_organisations(load_organisations(FIXTURE_CORPUS)[:1])
    seq = store.last_change()
    store._readers.cursor.connection.close()  # as a database restart would leave it
    assert store.last_change() == seq  # answered through the engine, and the broken connection dropped
    assert store.last_change() == seq  # then a fresh connection of this thread's own
    assert store._readers.cursor is not None


def test_last_change_connections_of_ended_threads_are_closed(store):
    seen = []
    for _ in range(3):
        thread = threading.Thread(target=lambda: seen.append(store.last_change()))
        thread.start()
        thread.join()
    assert seen == [0, 0, 0]
    store.last_change()  # opening this thread's connection closes those of threads that have ended
    assert list(store._reader_connections) == [threading.current_thread()]
    store.close()
    assert store._reader_connections == {}


def test_a_forked_child_leaves_its_parents_change_log_connections_open(store):
    store.upsert_organisations(load_organisations(FIXTURE_CORPUS)[:1])
    seq = store.last_change()  # the parent's connection, then a fork (gunicorn with --preload would do this)
    pid = os.fork()
    if pid == 0:  # the child: its own connection, then close everything it may
        code = 0 if store.last_change() == seq else 1
        store.close()
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    cursor = store._readers.cursor
    assert store.last_change() == seq and store._readers.cursor is cursor  # still open, not reopened


def test_in_memory_sqlite_gets_the_schema():
    # sqlite:// is one database per connection: the migration must run on the Store's own engine to be seen.
    store = Store("sqlite://").migrate()
    store.seed(load_organisations(FIXTURE_CORPUS), load_projects(FIXTURE_CORPUS))
    assert store.count_organisations() == 9 and store.get_organisation("fx-magnet-maker") is not None
    store.upsert_organisations(load_organisations(FIXTURE_CORPUS)[:1])
    assert store.last_change() == 1  # read on the pool's connection: a connection of its own would be empty
    store.close()


def test_bad_database_url_is_a_clear_error():
    with pytest.raises(StorageError, match="not a valid SQLAlchemy URL"):
        Store("not a url")
    with pytest.raises(StorageError, match="cannot use database"):
        Store("nosuchdialect://x/y")


def test_unreachable_server_says_what_to_check():
    # Port 1 on the loopback refuses at once; no server is needed for this test.
    store = Store("postgresql+psycopg://nobody:secret@127.0.0.1:1/none?connect_timeout=2")
    with pytest.raises(StorageError, match="(?s)cannot open database .*Check that the database server is running") as e:
        store.migrate()
    assert "secret" not in str(e.value)
