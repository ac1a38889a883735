"""Rough edges a QA run found (issue 24): each test reproduces one defect and asserts the behaviour now promised.

Invisible characters in query text, bad country codes on the browsing pages, an import dry run that passed what
the import refused, parent ids naming nothing, rough error messages, and HTTP details (OPTIONS, Retry-After,
/metrics' content type, PUT that creates).
"""

from __future__ import annotations

import json
import re
import sys
import threading
import unicodedata
from html import unescape

import pytest
from click.testing import CliRunner

from corpus.normalise import clean_query_text
from matcher.cli import main
from tests.test_api import assert_error

KEY = {"X-API-Key": "k"}
INVISIBLE = "\u00ad\u200b\u200c\u200d\u2060\ufeff\u202e"


@pytest.fixture
def api(matcher):
    from service import create_app

    return create_app({"MATCHER": matcher, "API_KEYS": ["k"], "RATE_LIMIT": "300 per minute"}).test_client()


def _org(matcher, org_id: str, **changes) -> dict:
    record = matcher.get_organisation("fx-battery-recycling").model_dump(mode="json")
    return {**record, "id": org_id, "parent_id": None, **changes}


# ------------------------------------------------------------------------------- 1: invisible characters in queries
def test_format_characters_are_removed_and_control_characters_read_as_spaces():
    assert clean_query_text("magnet re\u00adcycling") == "magnet recycling"
    assert clean_query_text("ma\u200bgnet\u2060 recycling\ufeff") == "magnet recycling"
    assert clean_query_text("lithium\x00cobalt\x07nickel\x7f") == "lithium cobalt nickel "
    assert clean_query_text("tab\tand\nlines\r") == "tab\tand\nlines\r"  # whitespace stays as typed
    assert clean_query_text("Université du Québec") == "Université du Québec"


def test_every_format_character_of_unicode_is_removed():
    # The class is written out (scanning unicodedata costs a quarter of a second): it must cover Cf entirely.
    every = [chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cf"]
    assert len(every) > 150 and clean_query_text("a" + "".join(every) + "b") == "ab"


def test_invisible_characters_change_no_ranking_on_the_api_the_page_or_the_cli(api, matcher, pm_env):
    plain = api.post("/v1/match", json={"text": "magnet recycling", "k": 5}).get_json()
    for pasted in ("magnet re\u00adcycling", "ma\u200bgnet recycling", f"magnet{INVISIBLE} recycling"):
        got = api.post("/v1/match", json={"text": pasted, "k": 5}).get_json()
        assert got["results"] == plain["results"]
        assert got["query"]["text"] == "magnet recycling"  # the echo is what was ranked
    assert_error(api.post("/v1/match", json={"text": INVISIBLE}), 400, "invalid_request")  # nothing left: empty

    with_nul = api.post("/v1/match", json={"text": "lithium\u0000cobalt", "k": 5}).get_json()
    assert with_nul["query"]["text"] == "lithium cobalt"
    assert with_nul["results"] == api.post("/v1/match", json={"text": "lithium cobalt", "k": 5}).get_json()["results"]

    page = api.get("/search?q=lithium%00cobalt").get_data(as_text=True)
    assert "\x00" not in page and "<title>Partners for “lithium cobalt”" in page
    ids = re.findall(r'href="/organisations/([a-z0-9._-]+)"', page)
    assert ids and ids == re.findall(r'href="/organisations/([a-z0-9._-]+)"',
                                     api.get("/search?q=lithium+cobalt").get_data(as_text=True))

    runner = CliRunner()
    cli = [json.loads(runner.invoke(main, ["match", text, "--json", "-k", "5"], catch_exceptions=False).output)
           for text in ("magnet re\u00adcycling", "magnet recycling")]
    assert cli[0]["results"] == cli[1]["results"]


# --------------------------------------------------------------------------- 2: country codes on the browsing pages
@pytest.mark.parametrize("path", ["/organisations", "/projects"])
def test_browsing_pages_refuse_a_bad_country_with_the_apis_hint(api, path):
    uk = api.get(f"{path}?country=UK")
    text = unescape(uk.get_data(as_text=True))
    assert uk.status_code == 400 and uk.mimetype == "text/html"
    assert "“UK” is not a country code: did you mean GB?" in text and "organisations match" not in text
    xx = unescape(api.get(f"{path}?country=XX").get_data(as_text=True))
    assert "“XX” is not a country code" in xx and "two-letter code such as GB or CA" in xx
    assert api.get(f"{path}?country=gb").status_code == 200


def test_search_says_which_country_was_meant(api):
    page = api.get("/search?q=lithium&countries=UK")
    assert page.status_code == 400 and "did you mean GB?" in unescape(page.get_data(as_text=True))


# ------------------------------------------------------------------------- 3: a dry run checks what the import does
def test_an_import_dry_run_refuses_what_the_import_refuses(api, matcher):
    before = matcher.store_.count_organisations()
    for bad in ({"organisations": [_org(matcher, "gb-bell", name="X\u0007Y")]},
                {"organisations": [_org(matcher, "gb-orphan", parent_id="gb-does-not-exist")]}):
        dry = assert_error(api.post("/v1/import?dry_run=1", json=bad, headers=KEY), 400, "invalid_request")
        real = assert_error(api.post("/v1/import", json=bad, headers=KEY), 400, "invalid_request")
        assert dry == real
    good = {"organisations": [_org(matcher, "gb-fine")]}
    answer = api.post("/v1/import?dry_run=true", json=good, headers=KEY)
    assert answer.status_code == 200 and answer.get_json() == {"imported": {"organisations": 1, "projects": 0},
                                                               "dry_run": True}
    assert matcher.store_.count_organisations() == before  # nothing was written by any of them


def test_the_cli_dry_run_refuses_what_the_cli_import_refuses(pm_env, matcher, tmp_path):
    path = tmp_path / "orgs.jsonl"
    path.write_text(json.dumps(_org(matcher, "gb-orphan", parent_id="gb-does-not-exist")) + "\n")
    runner = CliRunner()
    dry = runner.invoke(main, ["import", "--format", "jsonl", str(path), "--dry-run"])
    real = runner.invoke(main, ["import", "--format", "jsonl", str(path)])
    assert dry.exit_code == real.exit_code == 1
    assert "parent_id 'gb-does-not-exist' names no organisation" in dry.output
    assert dry.output == real.output


# ------------------------------------------------------------------------------------------------- 4: parent ids
def test_a_parent_id_must_name_an_organisation(api, matcher):
    refused = assert_error(api.post("/v1/organisations", json=_org(matcher, "gb-unit", parent_id="gb-nope"),
                                    headers=KEY), 400, "invalid_request")
    assert "'gb-nope' names no organisation" in refused["message"] and "create the parent first" in refused["message"]
    assert_error(api.post("/v1/import", json={"organisations": [_org(matcher, "gb-unit", parent_id="gb-nope")]},
                          headers=KEY), 400, "invalid_request")
    assert_error(api.put("/v1/organisations/fx-battery-recycling", json=_org(matcher, "fx-battery-recycling",
                                                                             parent_id="gb-nope"), headers=KEY),
                 400, "invalid_request")
    assert_error(api.patch("/v1/organisations/fx-battery-recycling", json={"parent_id": "gb-nope"}, headers=KEY),
                 400, "invalid_request")
    assert matcher.get_organisation("fx-battery-recycling").parent_id is None
    assert api.get("/v1/organisations/gb-unit").status_code == 404


def test_a_parent_in_the_same_import_is_accepted_in_any_order(api, matcher):
    batch = {"organisations": [_org(matcher, "gb-unit", parent_id="gb-body"), _org(matcher, "gb-body")]}
    assert api.post("/v1/import?dry_run=1", json=batch, headers=KEY).status_code == 200
    assert api.post("/v1/import", json=batch, headers=KEY).status_code == 200
    assert matcher.get_organisation("gb-unit").parent_id == "gb-body"


def test_parents_never_make_a_cycle(api, matcher):
    pair = {"organisations": [_org(matcher, "gb-a", parent_id="gb-b"), _org(matcher, "gb-b", parent_id="gb-a")]}
    cycle = assert_error(api.post("/v1/import", json=pair, headers=KEY), 400, "invalid_request")
    assert "cycle (gb-a -> gb-b -> gb-a)" in cycle["message"]
    assert_error(api.post("/v1/organisations", json=_org(matcher, "gb-self", parent_id="gb-self"), headers=KEY),
                 400, "invalid_request")
    assert api.post("/v1/import", json={"organisations": [_org(matcher, "gb-b"), _org(matcher, "gb-a",
                                                                                          parent_id="gb-b")]},
                    headers=KEY).status_code == 200
    assert "cycle (gb-b -> gb-a -> gb-b)" in assert_error(
        api.patch("/v1/organisations/gb-b", json={"parent_id": "gb-a"}, headers=KEY), 400, "invalid_request")["message"]


def test_an_organisation_named_as_parent_cannot_be_deleted_until_its_units_are_moved(api, matcher):
    api.post("/v1/import", json={"organisations": [_org(matcher, "gb-body"), _org(matcher, "gb-unit",
                                                                                   parent_id="gb-body")]}, headers=KEY)
    refused = assert_error(api.delete("/v1/organisations/gb-body", headers=KEY), 409, "organisation_has_units")
    assert refused["details"] == {"units": ["gb-unit"]} and "gb-unit" in refused["message"]
    etag = api.get("/v1/organisations/gb-body").headers["ETag"]
    assert_error(api.delete("/v1/organisations/gb-body", headers={**KEY, "If-Match": etag}), 409,
                 "organisation_has_units")
    assert matcher.get_organisation("gb-body").id == "gb-body"  # kept
    assert api.patch("/v1/organisations/gb-unit", json={"parent_id": None}, headers=KEY).status_code == 200
    assert api.delete("/v1/organisations/gb-body", headers=KEY).status_code == 204
    # A body and its units deleted together leave nothing dangling: allowed.
    api.post("/v1/import", json={"organisations": [_org(matcher, "gb-body"), _org(matcher, "gb-unit",
                                                                                   parent_id="gb-body")]}, headers=KEY)
    assert matcher.store_.delete(organisation_ids=["gb-body", "gb-unit"]) == 2


# ----------------------------------------------------------------------------------------------- 5: error messages
@pytest.mark.parametrize("body, kind", [(b"null", "null"), (b"[1, 2]", "an array"), (b'"text"', "a string"),
                                        (b"3", "a number"), (b"true", "a boolean")])
def test_a_body_that_is_not_an_object_is_named_in_json_words(api, body, kind):
    error = assert_error(api.post("/v1/match", data=body, content_type="application/json"), 400, "invalid_request")
    assert error["message"] == f"the JSON body must be an object ({{...}}), not {kind}"


def test_json_syntax_messages_read_cleanly(api):
    error = assert_error(api.post("/v1/match", data=b'{"text": "a\x01b"}', content_type="application/json"), 400,
                         "invalid_request")
    assert error["message"] == "the request body is not valid JSON: Invalid control character at line 1 column 12"


def test_a_utf8_byte_order_mark_is_accepted(api):
    body = json.dumps({"text": "lithium recycling", "k": 3}).encode()
    with_bom = api.post("/v1/match", data=b"\xef\xbb\xbf" + body, content_type="application/json")
    assert with_bom.status_code == 200
    assert with_bom.get_json() == api.post("/v1/match", data=body, content_type="application/json").get_json()


def test_a_challenge_out_of_range_gets_one_message_on_post_and_get(api, matcher):
    project = matcher.list_projects(per_page=1)[0][0].id
    post = assert_error(api.post("/v1/match", json={"text": "lithium", "challenge": 3}), 400, "invalid_request")
    get = assert_error(api.get(f"/v1/projects/{project}/matches?challenge=3"), 400, "invalid_request")
    assert post["message"] == get["message"] and "a challenge area is 1 or 2" in post["message"]
    assert post["details"][0]["message"] == get["details"][0]["message"]


def test_a_huge_unknown_id_is_not_echoed_whole(api):
    huge = "a" * 5000
    for path, code in ((f"/v1/organisations/{huge}", "organisation_not_found"),
                       (f"/v1/projects/{huge}", "project_not_found"),
                       (f"/v1/organisations/{huge}/history", "organisation_not_found")):
        error = assert_error(api.get(path), 404, code)
        assert len(error["message"]) < 200 and "a" * 80 + "…'" in error["message"]


# ------------------------------------------------------------------------------------------------- 6: HTTP details
def test_options_is_204_with_allow(api):
    answer = api.options("/v1/match")
    assert answer.status_code == 204 and answer.get_data() == b"" and "Content-Type" not in answer.headers
    assert set(answer.headers["Allow"].split(", ")) >= {"POST", "OPTIONS"}


def test_a_cors_preflight_is_204_with_the_cors_headers(matcher):
    from service import create_app

    client = create_app({"MATCHER": matcher, "CORS_ORIGINS": ["https://portal.example"]}).test_client()
    answer = client.options("/v1/match", headers={"Origin": "https://portal.example",
                                                  "Access-Control-Request-Method": "POST"})
    assert answer.status_code == 204 and answer.headers["Access-Control-Allow-Origin"] == "https://portal.example"


def test_retry_after_only_on_429_while_the_rate_limit_headers_stay(matcher):
    from service import create_app

    client = create_app({"MATCHER": matcher, "RATE_LIMIT": "2 per minute"}).test_client()
    ok = client.get("/v1/challenges")
    assert ok.status_code == 200 and "Retry-After" not in ok.headers
    assert ok.headers["X-RateLimit-Limit"] == "2" and "X-RateLimit-Remaining" in ok.headers
    fresh = client.get("/v1/challenges", headers={"If-None-Match": ok.headers["ETag"]})
    assert fresh.status_code == 304 and "Retry-After" not in fresh.headers and "X-RateLimit-Reset" in fresh.headers
    refused = client.get("/v1/challenges")
    assert refused.status_code == 429 and 0 < int(refused.headers["Retry-After"]) <= 60


def test_readyz_503_says_when_to_retry(settings, fake_embedder):
    from matcher import PartnerMatcher
    from service import create_app

    # The loader waits at a gate, so /readyz answers before anything is loaded; joined before the test ends.
    cold = PartnerMatcher(settings, embedder=fake_embedder).open()
    gate, load = threading.Event(), cold.ensure_index
    cold.ensure_index = lambda **kw: (gate.wait(30), load(**kw))[1]
    client = create_app({"MATCHER": cold, "LOAD_IN_BACKGROUND": True}).test_client()
    (loader,) = [t for t in threading.enumerate() if t.name == "index-loader"]
    try:
        for answer in (client.get("/readyz"), client.post("/v1/match", json={"text": "lithium"})):
            assert answer.status_code == 503 and answer.headers["Retry-After"] == "5"
    finally:
        gate.set()
        loader.join(30)
    ready = client.get("/readyz")
    assert ready.status_code == 200 and "Retry-After" not in ready.headers
    cold.close()


def test_metrics_names_its_charset_once(api):
    content_type = api.get("/metrics").headers["Content-Type"]
    assert content_type.count("charset") == 1 and content_type.startswith("text/plain")


def test_put_answers_201_with_location_when_it_creates_and_200_when_it_replaces(api, matcher):
    record = _org(matcher, "gb-new-body")
    created = api.put("/v1/organisations/gb-new-body", json=record, headers=KEY)
    assert created.status_code == 201 and created.headers["Location"] == "/v1/organisations/gb-new-body"
    replaced = api.put("/v1/organisations/gb-new-body", json={**record, "city": "Leeds"}, headers=KEY)
    assert replaced.status_code == 200 and "Location" not in replaced.headers
    brief = matcher.list_projects(per_page=1)[0][0].model_dump(mode="json")
    created = api.put("/v1/projects/new-brief", json={**brief, "id": "new-brief"}, headers=KEY)
    assert created.status_code == 201 and created.headers["Location"] == "/v1/projects/new-brief"
    assert api.put("/v1/projects/new-brief", json={**brief, "id": "new-brief"}, headers=KEY).status_code == 200


def test_the_store_checks_parents_on_every_backend(database_url):
    from corpus.schema import Organisation
    from matcher import InvalidRequest, OrganisationHasUnits, Store

    def org(org_id: str, parent_id: str | None = None) -> Organisation:
        return Organisation(id=org_id, name=org_id, country="GB", org_type="university", description="Fixture.",
                            parent_id=parent_id)

    store = Store(database_url).migrate()
    try:
        assert store.upsert([org("gb-unit", "gb-body"), org("gb-body")]) == (2, 0)  # the parent comes second
        with pytest.raises(InvalidRequest, match="'gb-nope' names no organisation"):
            store.check([org("gb-other", "gb-nope")])
        with pytest.raises(InvalidRequest, match="cycle"):
            store.patch_organisation("gb-body", lambda current: org("gb-body", "gb-unit"))
        with pytest.raises(OrganisationHasUnits, match="gb-unit"):
            store.delete(organisation_ids=["gb-body"])
        with pytest.raises(OrganisationHasUnits):
            store.delete_checked("organisation", "gb-body", if_match=["*"])
        assert store.get_organisation("gb-body") is not None and store.get_organisation("gb-unit").parent_id
        assert store.delete(organisation_ids=["gb-body", "gb-unit"]) == 2
    finally:
        store.close()


@pytest.mark.parametrize("path", ["/organisations", "/projects"])
def test_browsing_phrases_are_cleaned_as_queries_are(api, path):
    # A NUL would reach the database's LIKE (PostgreSQL refuses NUL in text) and the page's form.
    answer = api.get(f"{path}?q=re%C2%ADcycling%00")
    assert answer.status_code == 200 and "\x00" not in answer.get_data(as_text=True)
    assert 'value="recycling"' in answer.get_data(as_text=True)


def test_a_nul_in_an_id_is_a_400_on_every_backend(database_url, tmp_path, fake_embedder):
    # PostgreSQL refuses to compare text holding a NUL: without the guard these were 500s there.
    from matcher import PartnerMatcher, Settings
    from service import create_app
    from tests.conftest import FIXTURE_CORPUS

    settings = Settings(data_dir=tmp_path / "var", corpus_dir=FIXTURE_CORPUS, database_url=database_url)
    matcher = PartnerMatcher(settings, embedder=fake_embedder).open()
    try:
        matcher.ensure_index()
        client = create_app({"MATCHER": matcher, "API_KEYS": ["k"]}).test_client()
        for method, path in (("GET", "/v1/organisations/a%00b"), ("GET", "/v1/projects/a%00b/matches"),
                             ("GET", "/v1/organisations/a%00b/history"), ("DELETE", "/v1/projects/a%00b")):
            error = assert_error(client.open(path, method=method, headers=KEY), 400, "invalid_request")
            assert "control character U+0000 at position" in error["message"]
        error = assert_error(client.post("/v1/match", json={"project_id": "a\u0000b"}), 400, "invalid_request")
        assert error["details"][0]["field"] == "project_id"
        for page in ("/organisations/a%00b", "/search?project=a%00b"):
            answer = client.get(page)
            assert answer.status_code == 400 and answer.mimetype == "text/html"
            assert "U+0000" in answer.get_data(as_text=True)
        assert client.get("/organisations?q=a%00b").status_code == 200  # a phrase is cleaned, as a query is
    finally:
        matcher.close()
