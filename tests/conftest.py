"""Shared fixtures: a tiny fictional corpus, the fake embedder, a built matcher and a Flask test client."""

from __future__ import annotations

import os
import threading
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from embeddings import FakeEmbedder
from matcher import Organisation, PartnerMatcher, Project, Settings

TESTS = Path(__file__).parent
FIXTURE_CORPUS = TESTS / "data" / "corpus"
SHARED_DATA = TESTS.parent.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def no_index_loader_outlives_its_test():
    """Fail a test that leaves the service's background index loader running into the next one.

    A loader reads .npy headers with ast.literal_eval; if the next test builds a Flask app meanwhile (werkzeug
    compiles routes with ast.parse), CPython 3.11's ast module, whose recursion counter is shared between threads
    (gh-106905), can raise "AST constructor recursion depth mismatch" in a test that did nothing wrong.
    """
    before = {t for t in threading.enumerate() if t.name == "index-loader"}
    yield
    left = [t for t in threading.enumerate() if t.name == "index-loader" and t not in before]
    for thread in left:
        thread.join(30)
    assert not left, "the test started a background index loader and did not wait for it; join it before returning"


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder(dim=256)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "var", corpus_dir=FIXTURE_CORPUS)


@pytest.fixture
def matcher(settings: Settings, fake_embedder: FakeEmbedder) -> PartnerMatcher:
    m = PartnerMatcher(settings, embedder=fake_embedder).open()
    m.ensure_index()
    yield m
    m.close()


@pytest.fixture
def app(matcher: PartnerMatcher):
    from service import create_app

    return create_app({"MATCHER": matcher, "TESTING": True})


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="session")
def real_matcher(tmp_path_factory):
    """The bundled corpus with the real bundled model (integration tests only; built once per session)."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("real-var"))
    m = PartnerMatcher(settings).open()
    m.ensure_index()
    yield m
    m.close()


@pytest.fixture
def pm_env(monkeypatch, tmp_path):
    """A clean PM_* environment pointing at a temporary data dir and the fake embedder."""
    for key in list(os.environ):
        if key.startswith("PM_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("PM_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("PM_CORPUS_DIR", str(FIXTURE_CORPUS))
    monkeypatch.setenv("PM_MODEL", "fake")
    return tmp_path / "var"


POSTGRES_URL_VARIABLE = "PM_TEST_POSTGRES_URL"
POSTGRES_SKIP_REASON = f"{POSTGRES_URL_VARIABLE} is not set (make test starts a server)"


@contextmanager
def postgres_schema(server_url: str):
    """A URL whose connections work in a new, empty schema, dropped (with everything in it) afterwards.

    search_path makes it the default schema, so tables, indexes and alembic_version all land there: each test
    sees an empty database, and tests never see each other's tables.
    """
    schema = f"pm_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = make_url(server_url).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """An empty database on each backend the Store supports: a SQLite file, and a schema on the test server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'db' / 'pm.db'}"
        return
    server_url = os.environ.get(POSTGRES_URL_VARIABLE)
    if not server_url:
        pytest.skip(POSTGRES_SKIP_REASON)
    with postgres_schema(server_url) as url:
        yield url


# Fictional organisations for tests only (the fixture corpus style): enough UK candidates for several projects.
EXTRA_GB = [
    ("fx-gb-cobalt-uni", "university", "Cobalt and nickel hydrometallurgy from mine tailings and leach residues."),
    ("fx-gb-tailings-co", "company", "Reprocesses historic mine tailings to recover cobalt, copper and zinc."),
    ("fx-gb-lithium-uni", "university", "Lithium extraction from geothermal brines in Cornwall; sorbents."),
    ("fx-gb-sensor-co", "company", "Sensors and drones for monitoring tailings dams and mine water."),
    ("fx-gb-magnet-rto", "rto", "Pilot-scale recycling of rare earth magnets and hard disk drives."),
    ("fx-gb-graphite-co", "company", "Purifies natural graphite for battery anodes without hydrofluoric acid."),
]
EXTRA_PROJECTS = [
    ("fx-call-cobalt", "Cobalt from tailings", "Recovering cobalt and nickel from legacy mine tailings in Ontario."),
    ("fx-call-lithium", "Lithium from brines", "Direct lithium extraction from oilfield brines in Alberta."),
    ("fx-call-magnets", "Magnet recycling", "Recycling rare earth permanent magnets from end-of-life motors."),
]


@pytest.fixture
def call(matcher: PartnerMatcher) -> PartnerMatcher:
    for oid, org_type, about in EXTRA_GB:
        matcher.save_organisation(Organisation(id=oid, name=oid.replace("-", " ").title(), country="GB",
                                               org_type=org_type, description=f"Fixture record for tests. {about}"))
    for pid, title, summary in EXTRA_PROJECTS:
        matcher.save_project(Project(id=pid, title=title, summary=summary, country="CA", seeking_countries=["GB"],
                                     lead_organisation_id="fx-tailings-lab"))
    return matcher
