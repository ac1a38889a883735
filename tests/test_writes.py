"""Writes through the API: keys, validation, conflicts, and that a write is matchable at once."""

import pytest

from tests.test_api import assert_error

KEY = {"X-API-Key": "secret-key-1"}
NEW = {"id": "gb-fixture-graphite-lab", "name": "Fixture Graphite Lab", "country": "GB", "org_type": "university",
       "description": "Fixture record: purifies spherical graphite for lithium-ion battery anodes without acid.",
       "minerals": ["graphite"], "value_chain_stages": ["processing"], "sources": [{"ref": "https://example.org"}]}


@pytest.fixture
def writer(matcher):
    from service import create_app

    return create_app({"MATCHER": matcher, "API_KEYS": ["secret-key-1", "secret-key-2"]}).test_client()


def test_writes_need_a_valid_key(writer, client):
    assert_error(writer.post("/v1/organisations", json=NEW), 401, "unauthorized")
    assert_error(writer.post("/v1/organisations", json=NEW, headers={"X-API-Key": "wrong"}), 403, "forbidden")
    error = assert_error(client.post("/v1/organisations", json=NEW, headers=KEY), 403, "forbidden")
    assert "PM_API_KEYS" in error["message"]  # no keys configured: writes are off, and the message says why


def test_create_is_matchable_at_once_and_conflicts_on_repeat(writer):
    query = {"text": "purifying spherical graphite for battery anodes", "countries": ["GB"], "k": 3}
    before = [r["organisation"]["id"] for r in writer.post("/v1/match", json=query).get_json()["results"]]
    assert "gb-fixture-graphite-lab" not in before
    created = writer.post("/v1/organisations", json=NEW, headers=KEY)
    assert created.status_code == 201 and created.headers["Location"].endswith("/v1/organisations/gb-fixture-graphite-lab")
    after = writer.post("/v1/match", json=query).get_json()["results"]
    assert after[0]["organisation"]["id"] == "gb-fixture-graphite-lab"
    assert_error(writer.post("/v1/organisations", json=NEW, headers=KEY), 409, "conflict")


def test_replace_patch_delete(writer):
    path = "/v1/organisations/fx-us-lab"
    patched = writer.patch(path, json={"city": "Lemont", "minerals": ["Li", "cobalt"]}, headers=KEY)
    assert patched.status_code == 200 and patched.get_json()["minerals"] == ["lithium", "cobalt"]
    assert writer.get(path).get_json()["city"] == "Lemont"
    assert_error(writer.patch(path, json={"country": "USA"}, headers=KEY), 400, "invalid_request")
    assert_error(writer.patch(path, json={"id": "other"}, headers=KEY), 400, "invalid_request")
    full = {**writer.get(path).get_json(), "name": "Renamed Fixture Lab"}
    assert writer.put(path, json=full, headers=KEY).get_json()["name"] == "Renamed Fixture Lab"
    assert_error(writer.put(path, json={**full, "id": "else"}, headers=KEY), 400, "invalid_request")
    assert writer.delete(path, headers=KEY).status_code == 204
    assert_error(writer.get(path), 404, "organisation_not_found")
    assert_error(writer.delete(path, headers=KEY), 404, "organisation_not_found")
    ids = [r["organisation"]["id"] for r in writer.post("/v1/match", json={"text": "lithium", "k": 20}).get_json()["results"]]
    assert "fx-us-lab" not in ids


def test_projects_and_bulk_import(writer):
    project = {"id": "p-new", "title": "New brief", "summary": "Illustrative brief: cobalt tailings.", "country": "CA"}
    assert writer.post("/v1/projects", json=project, headers=KEY).status_code == 201
    assert writer.get("/v1/projects/p-new").get_json()["title"] == "New brief"
    assert writer.patch("/v1/projects/p-new", json={"title": "Renamed"}, headers=KEY).get_json()["title"] == "Renamed"
    assert writer.delete("/v1/projects/p-new", headers=KEY).status_code == 204
    bulk = {"organisations": [NEW, {**NEW, "id": "gb-fixture-two", "name": "Fixture Two"}], "projects": [project]}
    for _ in range(2):  # idempotent
        assert writer.post("/v1/import", json=bulk, headers=KEY).get_json()["imported"] == {"organisations": 2, "projects": 1}
    assert writer.get("/v1/organisations?per_page=100").get_json()["total"] == 11
    bad = {"organisations": [NEW, {**NEW, "id": "gb-bad", "country": "Britain"}]}
    error = assert_error(writer.post("/v1/import", json=bad, headers=KEY), 400, "invalid_request")
    assert error["details"][0]["field"] == "organisations.1.country"
    assert_error(writer.post("/v1/import", json={}, headers=KEY), 400, "invalid_request")


def test_etag_and_last_modified_on_organisation_reads(writer):
    first = writer.get("/v1/organisations/fx-tailings-lab")
    assert first.headers["ETag"] and first.headers["Last-Modified"]
    again = writer.get("/v1/organisations/fx-tailings-lab", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    writer.patch("/v1/organisations/fx-tailings-lab", json={"city": "Rouyn-Noranda"}, headers=KEY)
    changed = writer.get("/v1/organisations/fx-tailings-lab", headers={"If-None-Match": first.headers["ETag"]})
    assert changed.status_code == 200 and changed.headers["ETag"] != first.headers["ETag"]


def test_request_ids_are_echoed_or_made(client):
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == "abc-123"
    made = client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"}).headers["X-Request-ID"]
    assert made and made != "bad id with spaces"
    assert client.get("/v1/nothing").headers["X-Request-ID"]
