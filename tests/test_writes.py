"""Writes through the API: keys, validation, conflicts, and that a write is matchable at once."""

import json
import logging

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from corpus.schema import Organisation, Project
from tests.test_api import HOSTILE, MAX_BODY, any_char, assert_error, assert_not_5xx, json_objects, json_values

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


# ----------------------------------------------------------------------------------------------------------------
# Hostile writes: any payload to any write endpoint is a success or a 4xx in the one error shape, never a 5xx,
# and a refused write leaves the database exactly as it was.

PROJECT = {"id": "p-hostile", "title": "Hostile brief", "summary": "Illustrative brief: cobalt tailings.", "country": "CA"}
ORG_FIELDS, PROJECT_FIELDS = list(Organisation.model_fields), list(Project.model_fields)
# (method, path, fields of the body) for every write endpoint, on records the fixture corpus holds.
WRITES = [
    ("POST", "/v1/organisations", ORG_FIELDS),
    ("PUT", "/v1/organisations/fx-us-lab", ORG_FIELDS),
    ("PATCH", "/v1/organisations/fx-us-lab", ORG_FIELDS),
    ("POST", "/v1/projects", PROJECT_FIELDS),
    ("PUT", "/v1/projects/fx-brief-magnets", PROJECT_FIELDS),
    ("PATCH", "/v1/projects/fx-brief-magnets", PROJECT_FIELDS),
    ("POST", "/v1/import", ["organisations", "projects"]),
]
# Values that are wrong for a field of a record; each is refused, whatever else the record holds.
INVALID = [("country", "Britain"), ("org_type", "castle"), ("id", "Not An Id"), ("name", ""), ("name", None),
           ("website", "ftp://example.org"), ("minerals", ["kryptonite"]), ("colour", "red"), ("sources", "x"),
           ("description", "x" * 20_001), ("documents", [{"id": "d"}]), ("keywords", [""] * 101)]


@pytest.fixture
def hostile_writer(matcher):
    """A writing client without a rate limit, so every example reaches validation."""
    from service import create_app

    return create_app({"MATCHER": matcher, "API_KEYS": ["secret-key-1"], "RATE_LIMIT": ""}).test_client()


def snapshot(matcher) -> tuple:
    store = matcher.store_
    return ([o.model_dump() for o in store.all_organisations()], [p.model_dump() for p in store.all_projects()])


def send(client, method: str, path: str, **kwargs):
    return client.open(path, method=method, headers=KEY, **kwargs)


@HOSTILE
@given(data=st.data(), write=st.sampled_from(WRITES))
def test_any_json_object_to_any_write_is_done_or_refused_without_a_trace(hostile_writer, matcher, data, write):
    method, path, fields = write
    body = data.draw(json_objects(fields))
    before = snapshot(matcher)
    resp = assert_not_5xx(send(hostile_writer, method, path, json=body))
    if resp.status_code >= 400:
        assert snapshot(matcher) == before


@HOSTILE
@given(data=st.data(), write=st.sampled_from(WRITES[:-1]))
def test_a_valid_record_with_one_field_replaced_is_written_whole_or_not_at_all(hostile_writer, matcher, data, write):
    method, path, fields = write
    base = NEW if "organisations" in path else PROJECT
    if method != "POST":
        base = {**base, "id": path.rsplit("/", 1)[1]}
    field = data.draw(st.sampled_from([*fields, "colour"]))
    body = {**base, field: data.draw(json_values)}
    before = snapshot(matcher)
    resp = assert_not_5xx(send(hostile_writer, method, path, json=body))
    if resp.status_code >= 400:
        assert snapshot(matcher) == before
    else:  # written: what the API answered is what a reader gets back
        written = resp.get_json()
        assert hostile_writer.get(f"{path.rsplit('/', 1)[0] if method != 'POST' else path}/{written['id']}").get_json() == written
        if method == "POST":  # leave the fixture corpus as it was for the next example
            assert hostile_writer.delete(f"{path}/{written['id']}", headers=KEY).status_code == 204


@HOSTILE
@given(good=st.integers(1, 4), bad=st.sampled_from(INVALID), kind=st.sampled_from(["organisations", "projects"]),
       name=st.text(any_char, min_size=1, max_size=40).filter(str.strip))
@example(good=1, bad=("id", "gb-bulk-0"), kind="organisations", name="Duplicate")  # the same id twice in one payload
def test_a_bulk_import_whose_last_record_is_bad_writes_nothing(hostile_writer, matcher, good, bad, kind, name):
    base = NEW if kind == "organisations" else PROJECT
    text_field = "name" if kind == "organisations" else "title"
    records = [{**base, "id": f"gb-bulk-{i}", text_field: f"{name} {i}"} for i in range(good)]
    field, value = bad
    if kind == "projects" and field in {"org_type", "website", "minerals", "name", "documents", "description"}:
        field = {"name": "title", "description": "summary"}.get(field, "colour")
    records.append({**base, "id": f"gb-bulk-{good}", field: value})
    before = snapshot(matcher)
    error = assert_error(send(hostile_writer, "POST", "/v1/import", json={kind: records}), 400, "invalid_request")
    assert error["details"] and error["details"][0]["field"].startswith(kind)
    assert snapshot(matcher) == before


@HOSTILE
@given(raw=st.binary(max_size=200), write=st.sampled_from(WRITES))
@example(raw=b'{"name": "caf\xe9"}', write=WRITES[2])
@example(raw=b'{"id": 1' + b"0" * 5000 + b"}", write=WRITES[0])
@example(raw=b"[" * 10_000 + b"]" * 10_000, write=WRITES[6])
def test_any_bytes_to_any_write_are_refused_without_a_trace(hostile_writer, matcher, raw, write):
    method, path, _ = write
    before = snapshot(matcher)
    resp = assert_not_5xx(send(hostile_writer, method, path, data=raw, content_type="application/json"))
    if resp.status_code >= 400:
        assert snapshot(matcher) == before


@HOSTILE
@given(write=st.sampled_from(WRITES), content_type=st.sampled_from(
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", "text/json", "application/xml"]))
def test_writes_in_another_content_type_are_415(hostile_writer, matcher, write, content_type):
    method, path, _ = write
    before = snapshot(matcher)
    resp = send(hostile_writer, method, path, data=json.dumps(NEW), content_type=content_type)
    assert_error(resp, 415, "unsupported_media_type")
    assert snapshot(matcher) == before


@HOSTILE
@given(write=st.sampled_from(WRITES), length=st.integers(20_001, 1_200_000), char=st.sampled_from(["x", "é", "\x00"]))
def test_huge_strings_in_writes_are_400_or_413_without_a_trace(hostile_writer, matcher, write, length, char):
    method, path, _ = write
    # A record that is valid but for one field far too long, so the refusal is about that field.
    field, record = ("summary", PROJECT) if "projects" in path else ("description", NEW)
    record = {**record, "id": path.rsplit("/", 1)[1]} if method != "POST" else record
    body = {"organisations": [{**NEW, field: char * length}]} if path == "/v1/import" else {**record, field: char * length}
    raw = json.dumps(body).encode()
    before = snapshot(matcher)
    resp = send(hostile_writer, method, path, data=raw, content_type="application/json")
    if len(raw) > MAX_BODY:
        assert_error(resp, 413, "payload_too_large")
    else:
        error = assert_error(resp, 400, "invalid_request")
        assert [d["field"] for d in error["details"]] == [f"organisations.0.{field}" if path == "/v1/import" else field]
    assert snapshot(matcher) == before


# ----------------------------------------------------------------------------------------------------------------
# API keys never reach the logs: not the access log, not an error's traceback, not the rate limiter's log.


def test_api_keys_never_reach_the_logs(matcher, monkeypatch, capsys):
    from service import create_app

    secret = "secret-xyz"
    monkeypatch.setenv("PM_LOG_JSON", "1")  # the production set-up: JSON lines on stderr (service/__init__.py)
    monkeypatch.setenv("PM_LOG_LEVEL", "DEBUG")  # everything any logger says
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    records: list[logging.LogRecord] = []
    try:
        valid = create_app({"MATCHER": matcher, "API_KEYS": [secret], "RATE_LIMIT": "3 per minute"}).test_client()
        invalid = create_app({"MATCHER": matcher, "API_KEYS": ["another-key"], "RATE_LIMIT": ""}).test_client()
        collector = logging.Handler()
        collector.emit = records.append  # the raw records too: their arguments and extras, before formatting
        root.addHandler(collector)
        headers = {"X-API-Key": secret, "X-Request-ID": "keys-test"}
        assert valid.post("/v1/organisations", json=NEW, headers=headers).status_code == 201
        assert valid.post("/v1/organisations", json=NEW, headers=headers).status_code == 409
        monkeypatch.setattr(matcher, "delete_organisation", lambda org_id, **kw: 1 / 0)  # a 500: logged with traceback
        assert valid.delete(f"/v1/organisations/{NEW['id']}", headers=headers).status_code == 500
        assert valid.post("/v1/organisations", json=NEW, headers=headers).status_code == 409  # 3rd: the limit (per route)
        assert valid.post("/v1/organisations", json=NEW, headers=headers).status_code == 429  # limiter logs a breach
        assert invalid.post("/v1/organisations", json=NEW, headers=headers).status_code == 403
        assert invalid.patch("/v1/organisations/fx-us-lab", json={"city": "x"}, headers=headers).status_code == 403
        assert invalid.get("/v1/organisations/fx-us-lab", headers=headers).status_code == 200
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    output = capsys.readouterr().err
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    # The capture worked: one access line per request, with the request id, and the 500's traceback.
    assert sum(1 for line in lines if line.get("logger") == "service.access") == 8
    assert all(line["request_id"] == "keys-test" for line in lines if line.get("logger") == "service.access")
    assert "ZeroDivisionError" in output and "ratelimit" in output
    assert secret not in output
    assert records and all(secret not in repr(vars(r)) and secret not in r.getMessage() for r in records)
