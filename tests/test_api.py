"""Contract tests of the v1 API through Flask's test client (fake embedder, fixture corpus)."""

import json
import threading

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from matcher import (
    Conflict,
    CorpusError,
    Infeasible,
    IndexFileError,
    MatcherError,
    MatchRequest,
    ModelLoadError,
    PartnerMatcherError,
    StorageError,
)

MATCH = {"text": "recycling rare earth magnets from electronic waste", "countries": ["GB"], "k": 3}


def assert_error(resp, status: int, code: str):
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/json"
    body = resp.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code and body["error"]["message"]
    return body["error"]


def test_health_and_readiness(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["organisations"] == 9


def test_match_contract(client):
    resp = client.post("/v1/match", json=MATCH)
    assert resp.status_code == 200
    results = resp.get_json()["results"]
    assert [r["rank"] for r in results] == [1, 2, 3]
    top = results[0]
    assert top["organisation"]["id"] == "fx-magnet-recyclers"
    assert {"id", "name", "country", "org_type"} <= set(top["organisation"])
    assert {"semantic", "challenge_1", "challenge_2"} <= set(top["scores"])
    assert top["explanation"]["reason"] and top["explanation"]["evidence"]
    assert all(r["organisation"]["country"] == "GB" for r in results)
    assert results[0]["score"] >= results[1]["score"] >= results[2]["score"]


def test_match_by_project_id_and_without_explanations(client):
    resp = client.post("/v1/match", json={"project_id": "fx-brief-magnets", "k": 2, "explain": False})
    assert resp.status_code == 200
    assert all("explanation" not in r for r in resp.get_json()["results"])
    assert_error(client.post("/v1/match", json={"project_id": "nope"}), 404, "project_not_found")


def test_project_matches_endpoint(client):
    resp = client.get("/v1/projects/fx-brief-magnets/matches?k=2&countries=GB&challenge=2")
    assert resp.status_code == 200
    body = resp.get_json()
    assert len(body["results"]) == 2 and body["query"]["challenge"] == 2
    assert_error(client.get("/v1/projects/nope/matches"), 404, "project_not_found")
    assert_error(client.get("/v1/projects/fx-brief-magnets/matches?k=0"), 400, "invalid_request")
    assert_error(client.get("/v1/projects/fx-brief-magnets/matches?challenge=9"), 400, "invalid_request")


def test_organisation_list_is_paginated_and_filterable(client):
    body = client.get("/v1/organisations?page=2&per_page=4").get_json()
    assert body["total"] == 9 and body["page"] == 2 and body["per_page"] == 4 and len(body["items"]) == 4
    gb = client.get("/v1/organisations?countries=gb&org_types=company").get_json()
    assert [o["id"] for o in gb["items"]] == ["fx-magnet-maker"]
    both = client.get("/v1/organisations?countries=GB,CA&per_page=100").get_json()
    assert both["total"] == 8  # 5 GB + 3 CA fixture organisations
    assert client.get("/v1/organisations?page=99").get_json()["items"] == []
    for bad in ("page=0", "per_page=101", "per_page=x", "countries=Britain", "colour=red"):
        assert_error(client.get(f"/v1/organisations?{bad}"), 400, "invalid_request")


def test_records_and_challenges(client):
    org = client.get("/v1/organisations/fx-tailings-lab").get_json()
    assert org["country"] == "CA" and org["sources"]
    assert_error(client.get("/v1/organisations/nope"), 404, "organisation_not_found")
    projects = client.get("/v1/projects").get_json()
    assert projects["total"] == 2
    assert client.get("/v1/projects/fx-brief-tailings").get_json()["challenge_areas"] == [1, 2]
    challenges = client.get("/v1/challenges").get_json()["items"]
    assert [c["id"] for c in challenges] == [1, 2]


@pytest.mark.parametrize(
    "kwargs,status,code",
    [
        ({"data": "text=hello"}, 415, "unsupported_media_type"),
        ({"data": "", "content_type": "application/json"}, 400, "invalid_request"),
        ({"data": "{bad json", "content_type": "application/json"}, 400, "invalid_request"),
        ({"data": b"\xff\xfe\x00", "content_type": "application/json"}, 400, "invalid_request"),
        ({"data": '"just a string"', "content_type": "application/json"}, 400, "invalid_request"),
        ({"data": '{"text": "a", "k": NaN}', "content_type": "application/json"}, 400, "invalid_request"),
        ({"data": "[" * 5000 + "]" * 5000, "content_type": "application/json"}, 400, "invalid_request"),
        ({"json": {"text": "a", "k": 500}}, 400, "invalid_request"),
        ({"json": {"text": "a", "k": "ten"}}, 400, "invalid_request"),
        ({"json": {"text": "a", "countries": "GB"}}, 400, "invalid_request"),
        ({"json": {"text": None}}, 400, "invalid_request"),
        ({"json": {"text": "x" * 20_001}}, 400, "invalid_request"),
        ({"json": {"text": "a" * 1_100_000}}, 413, "payload_too_large"),
    ],
)
def test_bad_match_requests_get_the_one_error_shape(client, kwargs, status, code):
    assert_error(client.post("/v1/match", **kwargs), status, code)


def test_validation_errors_name_the_field(client):
    error = assert_error(client.post("/v1/match", json={"text": "a", "k": 500}), 400, "invalid_request")
    assert error["details"][0]["field"] == "k"


def test_unknown_route_and_wrong_method_are_json(client):
    assert_error(client.get("/v1/nothing-here"), 404, "not_found")
    resp = client.get("/v1/match")
    error = assert_error(resp, 405, "method_not_allowed")
    assert error["details"]["allowed_methods"] == ["OPTIONS", "POST"] and resp.headers["Allow"]


def test_unexpected_errors_are_json_500(app, client, monkeypatch):
    matcher = app.extensions["partner_matcher"]
    monkeypatch.setattr(matcher, "match", lambda request: 1 / 0)
    error = assert_error(client.post("/v1/match", json=MATCH), 500, "internal_error")
    assert "ZeroDivision" not in error["message"]  # internals are logged, not shown


@pytest.mark.parametrize(
    "error, status, code, details",
    [
        (CorpusError("2 invalid records", [{"line": 1, "problem": "no id"}]), 400, "invalid_records",
         [{"line": 1, "problem": "no id"}]),
        (CorpusError("unreadable file"), 400, "invalid_records", None),
        (ModelLoadError("no model; set PM_MODEL"), 503, "model_unavailable", None),
        (IndexFileError("bad index file"), 503, "index_invalid", None),
        (StorageError("database down"), 503, "storage_error", None),
        (Infeasible("too few", {"shortfall": 3}), 422, "infeasible_constraints", {"shortfall": 3}),
        (Conflict("exists", {}), 409, "conflict", None),
        (MatcherError("core"), 500, "matcher_error", None),
        (PartnerMatcherError("root"), 500, "error", None),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else None,
)
def test_every_project_error_maps_through_one_table(app, client, monkeypatch, error, status, code, details):
    def fail(request):
        raise error

    monkeypatch.setattr(app.extensions["partner_matcher"], "match", fail)
    body = assert_error(client.post("/v1/match", json=MATCH), status, code)
    assert body["message"] == str(error) and body["details"] == details


def test_readyz_is_503_until_the_index_is_loaded(settings, fake_embedder):
    from matcher import PartnerMatcher
    from service import create_app

    matcher = PartnerMatcher(settings, embedder=fake_embedder).open()
    app = create_app({"MATCHER": matcher, "LOAD_IN_BACKGROUND": False})
    assert app.test_client().get("/readyz").status_code == 200
    # The loader waits at a gate, so the requests below arrive before it has loaded anything; it is joined
    # before the test ends (why: conftest's no_index_loader_outlives_its_test).
    cold = PartnerMatcher(settings, embedder=fake_embedder).open()
    gate, load = threading.Event(), cold.ensure_index
    cold.ensure_index = lambda **kw: (gate.wait(30), load(**kw))[1]
    cold_app = create_app({"MATCHER": cold, "LOAD_IN_BACKGROUND": True})
    (loader,) = [t for t in threading.enumerate() if t.name == "index-loader"]
    client = cold_app.test_client()
    try:
        assert_error(client.get("/readyz"), 503, "index_not_ready")
        assert_error(client.post("/v1/match", json=MATCH), 503, "index_not_ready")
    finally:
        gate.set()
        loader.join(30)
    assert not loader.is_alive()
    assert client.get("/readyz").get_json()["status"] == "ready"
    assert client.post("/v1/match", json=MATCH).status_code == 200
    cold.close()


def test_create_app_reads_environment_only_at_the_door(pm_env):
    from service import create_app

    app = create_app({"LOAD_IN_BACKGROUND": False})
    client = app.test_client()
    assert client.get("/readyz").status_code == 200
    assert (pm_env / "partner-matcher.db").exists() and (pm_env / "index" / "partner-index.npz").exists()
    assert client.post("/v1/match", json=MATCH).get_json()["results"][0]["organisation"]["id"] == "fx-magnet-recyclers"


def test_failed_index_load_is_reported_by_readyz(pm_env, monkeypatch):
    from service import create_app

    monkeypatch.setenv("PM_MODEL", "fake:notanumber")
    with pytest.raises(Exception, match="PM_MODEL"):
        create_app({"LOAD_IN_BACKGROUND": False})


def test_challenge_filter_and_preferences_over_http(client):
    boosted = client.post("/v1/match", json={"text": "critical minerals", "challenge": 2, "k": 9}).get_json()["results"]
    only = client.post("/v1/match", json={"text": "critical minerals", "challenge": 2, "challenge_only": True,
                                          "k": 9}).get_json()["results"]
    assert len(only) <= len(boosted) and all(r["scores"]["challenge_2"] >= 0.5 for r in only)
    assert_error(client.post("/v1/match", json={"text": "x", "challenge_only": True}), 400, "invalid_request")
    preferred = client.post("/v1/match", json={"text": "magnets", "prefer_org_types": ["company"]}).get_json()
    assert all("org_type" in r["scores"] for r in preferred["results"])


def test_null_for_a_list_means_not_given(client):
    given = {"text": "magnet recycling", "countries": None, "org_types": None, "eligibility": None,
             "prefer_org_types": None}
    answered = client.post("/v1/match", json=given)
    assert answered.status_code == 200, answered.get_json()
    plain = client.post("/v1/match", json={"text": "magnet recycling"}).get_json()
    assert [r["organisation"]["id"] for r in answered.get_json()["results"]] == \
        [r["organisation"]["id"] for r in plain["results"]]
    assert_error(client.post("/v1/match", json={"text": "magnets", "k": None}), 400, "invalid_request")  # not a list


@pytest.mark.parametrize("field,value", [("k", True), ("k", 10.5), ("k", "10"), ("explain", "yes"), ("challenge", "1")])
def test_match_fields_are_strictly_typed(client, field, value):
    error = assert_error(client.post("/v1/match", json={"text": "magnets", field: value}), 400, "invalid_request")
    assert error["details"][0]["field"] == field


def test_text_that_is_not_unicode_or_has_nul_bytes(client):
    bad = client.post("/v1/match", data='{"text": "\\ud800 lone surrogate"}', content_type="application/json")
    assert_error(bad, 400, "invalid_request")
    ok = client.post("/v1/match", json={"text": "magnet \u0000 recycling"})
    assert ok.status_code == 200


# ----------------------------------------------------------------------------------------------------------------
# Hostile requests to the public endpoints: any JSON, wrong types, bytes that are not UTF-8, wrong content types,
# deep nesting and huge strings get a 4xx in the one error shape, never a 5xx.

# The client is shared by a test's examples; the public endpoints it calls here keep no state between requests.
HOSTILE = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
MAX_BODY = 1024 * 1024  # service.DEFAULTS["MAX_CONTENT_LENGTH"]

any_char = st.characters(codec="utf-8", exclude_categories=("Cs",))
json_text = st.one_of(st.text(any_char, max_size=20), st.sampled_from(["", "\x00", "\u2028", "GB", "gb", "CA", "company",
                                                                      "fx-brief-magnets", "magnets", "NaN", "1"]))
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(-(2**70), 2**70),
                         st.floats(allow_nan=False, allow_infinity=False), json_text)
json_values = st.recursive(json_scalars, lambda children: st.lists(children, max_size=4)
                           | st.dictionaries(json_text, children, max_size=4), max_leaves=15)


def json_objects(fields: list[str]):
    """JSON objects whose keys are mostly the model's own fields (so validation runs deep) and whose values are anything."""
    return st.dictionaries(st.one_of(st.sampled_from(fields), json_text), json_values, max_size=len(fields) + 1)


def assert_not_5xx(resp):
    """A success, or an error in the one shape; a 5xx fails the test."""
    assert resp.status_code < 500, resp.get_data(as_text=True)
    if resp.status_code >= 400:
        assert resp.mimetype == "application/json", resp.get_data(as_text=True)
        body = resp.get_json()
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
        assert isinstance(body["error"]["code"], str) and body["error"]["message"]
    return resp


@pytest.fixture
def open_client(matcher):
    """A client without a rate limit, so a property's 40 examples are judged on their own merits, not throttled."""
    from service import create_app

    return create_app({"MATCHER": matcher, "TESTING": True, "RATE_LIMIT": ""}).test_client()


@HOSTILE
@given(body=json_objects(list(MatchRequest.model_fields)))
@example(body={"text": "magnets", "k": 10**5000 // 10**4990})
@example(body={"text": "magnets", "countries": [[[["GB"]]]]})
@example(body={"text": "magnets", "lead_country": 7})
def test_match_with_any_json_object_is_answered_or_refused_cleanly(open_client, body):
    assert_not_5xx(open_client.post("/v1/match", json=body))


@HOSTILE
@given(value=json_values.filter(lambda v: not isinstance(v, dict)))
def test_match_with_a_json_value_that_is_not_an_object_is_400(open_client, value):
    raw = json.dumps(value)  # (json=None would send no body at all)
    assert_error(open_client.post("/v1/match", data=raw, content_type="application/json"), 400, "invalid_request")


@HOSTILE
@given(raw=st.binary(max_size=200))
@example(raw=b'{"text": "magnets", "k": 1' + b"0" * 5000 + b"}")  # Python refuses to read an int this long
@example(raw=b'{"text": "caf\xe9"}')
@example(raw=b'\xef\xbb\xbf{"text": "magnets"}')
def test_match_with_any_bytes_is_answered_or_refused_cleanly(open_client, raw):
    resp = assert_not_5xx(open_client.post("/v1/match", data=raw, content_type="application/json"))
    if b"0" * 5000 in raw:
        assert resp.status_code == 400 and "digits" in resp.get_json()["error"]["message"]


@HOSTILE
@given(content_type=st.one_of(
    st.sampled_from(["text/plain", "text/json", "application/x-www-form-urlencoded", "multipart/form-data",
                     "application/xml", "application/vnd.api+json", "application/json-patch+json"]),
    st.from_regex(r"[a-z]{1,10}/[a-z0-9.+-]{1,15}", fullmatch=True).filter(lambda c: c != "application/json")))
def test_match_with_another_content_type_is_415(open_client, content_type):
    error = assert_error(open_client.post("/v1/match", data=json.dumps(MATCH), content_type=content_type), 415,
                         "unsupported_media_type")
    assert "application/json" in error["message"]


@HOSTILE
@given(depth=st.integers(21, 10_000), bracket=st.sampled_from(["[]", "{}"]))
@example(depth=10_000, bracket="{}")
def test_deeply_nested_json_is_400(open_client, depth, bracket):
    inner = '"x"' if bracket == "[]" else "1"
    opening, closing = ("[" * depth, "]" * depth) if bracket == "[]" else ('{"a":' * depth, "}" * depth)
    raw = '{"text": "magnets", "countries": ' + opening + inner + closing + "}"
    error = assert_error(open_client.post("/v1/match", data=raw, content_type="application/json"), 400, "invalid_request")
    assert "nested too deeply" in error["message"]


@HOSTILE
@given(length=st.integers(20_001, 1_200_000), char=st.sampled_from(["x", "é", "\U0001f600", "\x00"]))
def test_huge_strings_are_400_or_413(open_client, length, char):
    raw = json.dumps({"text": char * length}).encode()
    resp = open_client.post("/v1/match", data=raw, content_type="application/json")
    if len(raw) > MAX_BODY:
        assert_error(resp, 413, "payload_too_large")
    else:
        assert_error(resp, 400, "invalid_request")


@HOSTILE
@given(params=st.dictionaries(st.sampled_from(["page", "per_page", "countries", "org_types", "k", "challenge",
                                               "explain", "colour"]),
                              st.one_of(json_text, st.integers(-10, 10**30).map(str)), max_size=4))
def test_query_strings_of_any_content_are_answered_or_refused_cleanly(open_client, params):
    for path in ("/v1/organisations", "/v1/projects", "/v1/projects/fx-brief-magnets/matches"):
        assert_not_5xx(open_client.get(path, query_string=params))


@HOSTILE
@given(record_id=st.text(any_char, min_size=1, max_size=300))
def test_record_ids_of_any_content_are_found_or_404(open_client, record_id):
    for path in ("/v1/organisations/", "/v1/projects/"):
        assert_not_5xx(open_client.get(path + record_id.replace("/", "%2F").replace("?", "%3F").replace("#", "%23")))


def test_made_up_api_keys_do_not_escape_the_rate_limit(matcher):
    from service import create_app

    client = create_app({"MATCHER": matcher, "TESTING": True, "RATE_LIMIT": "2 per minute"}).test_client()
    statuses = [client.post("/v1/match", json=MATCH, headers={"X-API-Key": f"made-up-{i}"}).status_code for i in range(3)]
    assert statuses == [200, 200, 429]
