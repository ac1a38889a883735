"""Shared fixtures: a tiny fictional corpus, the fake embedder, a built matcher and a Flask test client."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from embeddings import FakeEmbedder
from matcher import PartnerMatcher, Settings

TESTS = Path(__file__).parent
FIXTURE_CORPUS = TESTS / "data" / "corpus"
SHARED_DATA = TESTS.parent.parent / "shared" / "data"


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
