
import pytest

from corpus import load_organisations, load_projects
from matcher import StorageError, Store
from tests.conftest import FIXTURE_CORPUS

@pytest.fixture
def store(database_url):
    s = Store(database_url).create_all()
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


def test_data_survives_reopening(database_url):
    first = Store(database_url).create_all()
    first.seed(load_organisations(FIXTURE_CORPUS), [])
    first.close()
    reopened = Store(database_url).create_all()  # migrating an up-to-date database changes nothing
    assert reopened.count_organisations() == 9
    reopened.close()


def test_in_memory_sqlite_gets_the_schema():
    # sqlite:// is one database per connection: the migration must run on the Store's own engine to be seen.
    store = Store("sqlite://").create_all()
    store.seed(load_organisations(FIXTURE_CORPUS), load_projects(FIXTURE_CORPUS))
    assert store.count_organisations() == 9 and store.get_organisation("fx-magnet-maker") is not None
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
        store.create_all()
    assert "secret" not in str(e.value)
