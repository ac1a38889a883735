"""Who created, changed or deleted an organisation or a project, and when: the API's history and the pages'.

Writes are made with named keys; the history shows each key's name and never the key."""

import re

import pytest

from tests.test_api import assert_error
from tests.test_writes import NEW

ANN, BOB = "ann-secret-key-7f3a", "bob-secret-key-91c2"
AS_ANN, AS_BOB = {"X-API-Key": ANN}, {"X-API-Key": BOB}
PROJECT = {"id": "p-history", "title": "History brief", "summary": "Illustrative brief: cobalt tailings.",
           "country": "CA"}


@pytest.fixture
def writer(matcher):
    from service import create_app

    return create_app({"MATCHER": matcher, "API_KEYS": f"ann:{ANN},bob:{BOB}", "RATE_LIMIT": ""}).test_client()


def history(client, path: str, **query) -> dict:
    response = client.get(f"{path}/history", query_string=query)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_organisation_history_names_who_did_what_newest_first_and_survives_a_delete(writer):
    path = f"/v1/organisations/{NEW['id']}"
    assert writer.post("/v1/organisations", json=NEW, headers=AS_ANN).status_code == 201
    assert writer.patch(path, json={"city": "Leeds"}, headers=AS_BOB).status_code == 200
    assert writer.put(path, json={**NEW, "city": "York"}, headers=AS_ANN,
                      ).status_code == 200
    body = history(writer, path)
    assert [(c["action"], c["by"]) for c in body["items"]] == [("updated", "ann"), ("updated", "bob"),
                                                               ("created", "ann")]
    assert body["total"] == 3 and body["next"] is None
    stamps = [c["at"] for c in body["items"]]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", s) for s in stamps)
    assert stamps == sorted(stamps, reverse=True)

    assert writer.delete(path, headers=AS_BOB).status_code == 204
    assert_error(writer.get(path), 404, "organisation_not_found")
    after = history(writer, path)  # the record is gone; who deleted it, and when, is not
    assert [(c["action"], c["by"]) for c in after["items"]][:2] == [("deleted", "bob"), ("updated", "ann")]
    text = writer.get(f"{path}/history").get_data(as_text=True)
    assert ANN not in text and BOB not in text


def test_project_history_and_bulk_import_tell_created_from_updated(writer):
    assert writer.post("/v1/projects", json=PROJECT, headers=AS_BOB).status_code == 201
    for _ in range(2):  # the first import creates the organisation, the second one only rewrites it
        bulk = {"organisations": [NEW], "projects": [{**PROJECT, "title": "Renamed brief"}]}
        assert writer.post("/v1/import", json=bulk, headers=AS_ANN).status_code == 200
    assert [(c["action"], c["by"]) for c in history(writer, "/v1/projects/p-history")["items"]] == [
        ("updated", "ann"), ("updated", "ann"), ("created", "bob")]
    assert [c["action"] for c in history(writer, f"/v1/organisations/{NEW['id']}")["items"]] == ["updated", "created"]
    # A seeded organisation, then written: its first entry is an update, not a creation.
    assert writer.patch("/v1/organisations/fx-us-lab", json={"city": "Lemont"}, headers=AS_ANN).status_code == 200
    assert [(c["action"], c["by"]) for c in history(writer, "/v1/organisations/fx-us-lab")["items"]] == [
        ("updated", "ann")]


def test_history_pages_tags_and_errors(writer):
    path = f"/v1/organisations/{NEW['id']}"
    writer.post("/v1/organisations", json=NEW, headers=AS_ANN)
    for city in ("Leeds", "York", "Hull"):
        writer.patch(path, json={"city": city}, headers=AS_BOB)
    first = history(writer, path, per_page=3)
    assert first["total"] == 4 and first["pages"] == 2 and len(first["items"]) == 3
    assert first["next"] == f"{path}/history?per_page=3&page=2"
    last = history(writer, path, per_page=3, page=2)
    assert [(c["action"], c["by"]) for c in last["items"]] == [("created", "ann")] and last["next"] is None

    seen = writer.get(f"{path}/history")
    assert writer.get(f"{path}/history", headers={"If-None-Match": seen.headers["ETag"]}).status_code == 304
    writer.patch(path, json={"city": "Bath"}, headers=AS_BOB)
    changed = writer.get(f"{path}/history", headers={"If-None-Match": seen.headers["ETag"]})
    assert changed.status_code == 200 and changed.get_json()["total"] == 5

    # A stored record never written since it was seeded has an empty history; an unknown id is a 404.
    assert history(writer, "/v1/organisations/fx-tailings-lab")["items"] == []
    error = assert_error(writer.get("/v1/organisations/no-such-org/history"), 404, "organisation_not_found")
    assert "no-such-org" in error["message"]
    assert_error(writer.get("/v1/projects/no-such-brief/history"), 404, "project_not_found")
    assert_error(writer.get(f"{path}/history?per_page=0"), 400, "invalid_request")
    assert_error(writer.get(f"{path}/history?sort=asc"), 400, "invalid_request")


def test_pages_show_who_changed_a_record_never_the_key(writer):
    writer.post("/v1/organisations", json=NEW, headers=AS_ANN)
    writer.patch(f"/v1/organisations/{NEW['id']}", json={"city": "Leeds"}, headers=AS_BOB)
    page = writer.get(f"/organisations/{NEW['id']}").get_data(as_text=True)
    section = page[page.index('id="history-heading"'):]
    assert re.search(r"<summary>Changed \d+ \w{3} \d{4}, \d\d:\d\d UTC by bob\s+· 2 recorded changes</summary>", section)
    rows = re.findall(r"<tr>\s*<td>([^<]+)</td>\s*<td>(\w+)</td>\s*<td>([^<]+)</td>", section)
    assert [(what, who) for _, what, who in rows] == [("Changed", "bob"), ("Created", "ann")]
    assert ANN not in page and BOB not in page

    for city in ("York", "Hull", "Bath", "Ely"):
        writer.patch(f"/v1/organisations/{NEW['id']}", json={"city": city}, headers=AS_ANN)
    page = writer.get(f"/organisations/{NEW['id']}").get_data(as_text=True)
    assert page.count("<tr>") == 1 + 5  # the header, then the five newest of six
    assert f'The 5 newest of 6 changes; every one is in\n      <a href="/v1/organisations/{NEW["id"]}/history">' in page

    seeded = writer.get("/organisations/fx-tailings-lab").get_data(as_text=True)
    assert "No change has been recorded since this organisation was loaded" in seeded

    writer.post("/v1/projects", json=PROJECT, headers=AS_BOB)
    brief = writer.get("/projects/p-history").get_data(as_text=True)
    assert re.search(r"<summary>Created [^<]+ by bob\s+· 1 recorded change</summary>", brief)
    assert BOB not in brief
