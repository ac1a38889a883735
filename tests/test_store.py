import pytest

from corpus import load_organisations, load_projects
from matcher import StorageError, Store
from tests.conftest import FIXTURE_CORPUS


@pytest.fixture
def store(tmp_path):
    s = Store(f"sqlite:///{tmp_path / 'db' / 'pm.db'}").create_all()
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


def test_data_survives_reopening(tmp_path):
    url = f"sqlite:///{tmp_path / 'pm.db'}"
    Store(url).create_all().seed(load_organisations(FIXTURE_CORPUS), [])
    assert Store(url).create_all().count_organisations() == 9


def test_bad_database_url_is_a_clear_error():
    with pytest.raises(StorageError, match="not a valid SQLAlchemy URL"):
        Store("not a url")
    with pytest.raises(StorageError, match="cannot use database"):
        Store("nosuchdialect://x/y")
