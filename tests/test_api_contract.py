"""The API as a portal's developer meets it: country codes checked with a hint, ETags and 304 on every GET, paged
lists with next/prev links, the rate limit in the error shape, and an OpenAPI document with a real example for
every operation, 304 and 429 documented."""

from __future__ import annotations

import json

import pytest
from pydantic import TypeAdapter

from corpus.loaders import load_organisations, load_projects
from corpus.schema import Organisation
from tests.test_api import MATCH, assert_error

KEY = {"X-API-Key": "contract-key"}
CORPUS = __import__("pathlib").Path(__file__).resolve().parents[1] / "corpus" / "data"


@pytest.fixture
def keyed(matcher):
    from service import create_app

    return create_app({"MATCHER": matcher, "API_KEYS": [KEY["X-API-Key"]], "RATE_LIMIT": ""}).test_client()


@pytest.fixture
def spec(keyed) -> dict:
    return keyed.get("/openapi.json").get_json()


# ------------------------------------------------------------------------------------------------ country codes
@pytest.mark.parametrize(("given", "meant"), [("UK", "GB"), ("uk", "GB"), ("GBR", "GB"), ("Canada", "CA"),
                                              ("CAN", "CA"), ("United Kingdom", "GB")])
def test_a_country_that_is_not_a_code_is_refused_with_the_code_meant(client, given, meant):
    error = assert_error(client.post("/v1/match", json={**MATCH, "countries": [given]}), 400, "invalid_request")
    assert f"did you mean '{meant}'?" in error["message"]
    assert error["details"] == [{"field": "countries.0", "type": "country_code", "suggestion": meant,
                                 "message": f"'{given}' is not an ISO 3166-1 alpha-2 country code; "
                                            f"did you mean '{meant}'?"}]


def test_an_unknown_code_without_a_likely_meaning_says_what_a_code_looks_like(client):
    error = assert_error(client.post("/v1/match", json={**MATCH, "countries": ["GB", "XX"]}), 400, "invalid_request")
    assert error["details"][0]["field"] == "countries.1" and "suggestion" not in error["details"][0]
    assert "use a two-letter code such as 'GB' or 'CA'" in error["message"]


def test_country_codes_are_checked_on_every_door_of_the_api(client, keyed):
    assert "did you mean 'GB'" in assert_error(client.get("/v1/organisations?countries=UK"), 400,
                                               "invalid_request")["message"]
    assert "did you mean 'GB'" in assert_error(client.get("/v1/projects?countries=CA,uk"), 400,
                                               "invalid_request")["message"]
    assert "did you mean 'GB'" in assert_error(client.get("/v1/projects/fx-brief-magnets/matches?countries=UK"), 400,
                                               "invalid_request")["message"]
    assert "did you mean 'CA'" in assert_error(client.post("/v1/match", json={**MATCH, "lead_country": "CAN"}), 400,
                                               "invalid_request")["message"]
    record = {"id": "gb-contract-lab", "name": "Contract Lab", "country": "UK", "org_type": "university",
              "description": "Fixture record.", "sources": [{"ref": "https://example.org"}]}
    error = assert_error(keyed.post("/v1/organisations", json=record, headers=KEY), 400, "invalid_request")
    assert error["details"][0]["field"] == "country" and error["details"][0]["suggestion"] == "GB"


def test_lower_case_codes_are_accepted_and_normalised(client):
    lower = client.post("/v1/match", json={**MATCH, "countries": ["gb"], "lead_country": "ca"}).get_json()
    upper = client.post("/v1/match", json={**MATCH, "countries": ["GB"], "lead_country": "CA"}).get_json()
    assert lower["query"]["countries"] == ["GB"] and lower == upper
    listed = client.get("/v1/organisations?countries=gb").get_json()
    assert listed["total"] > 0 and {o["country"] for o in listed["items"]} == {"GB"}


# ------------------------------------------------------------------------------------------------- ETags and 304
GETS = ["/v1/organisations?per_page=2", "/v1/organisations/fx-tailings-lab", "/v1/projects", "/v1/projects/fx-brief-magnets",
        "/v1/projects/fx-brief-magnets/matches?k=3", "/v1/challenges", "/v1/shortlists"]


@pytest.mark.parametrize("url", GETS)
def test_every_get_has_an_etag_and_answers_a_current_one_with_304(keyed, url):
    first = keyed.get(url, headers=KEY)
    assert first.status_code == 200 and first.headers["ETag"].startswith('"')
    again = keyed.get(url, headers={**KEY, "If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.get_data() == b"" and again.headers["ETag"] == first.headers["ETag"]
    stale = keyed.get(url, headers={**KEY, "If-None-Match": '"not-the-tag"'})
    assert stale.status_code == 200 and stale.get_data() == first.get_data()
    assert keyed.head(url, headers={**KEY, "If-None-Match": first.headers["ETag"]}).status_code == 304


def test_the_tag_follows_the_answer(keyed):
    matches = "/v1/projects/fx-brief-magnets/matches?k=3"
    tags = {url: keyed.get(url).headers["ETag"] for url in (matches, "/v1/organisations", "/v1/projects")}
    assert keyed.get(matches.replace("k=3", "k=2")).headers["ETag"] != tags[matches]  # another question
    # An organisation write changes the corpus, so the match answer (which carries the corpus hash) and the list
    # change their tags; the project list, unchanged, keeps its tag.
    org = keyed.get("/v1/organisations/fx-tailings-lab").get_json()
    changed = keyed.patch("/v1/organisations/fx-tailings-lab", json={"description": org["description"] + " Also "
                          "recovers cobalt from mine tailings."}, headers=KEY)
    assert changed.status_code == 200
    for url in (matches, "/v1/organisations"):
        after = keyed.get(url, headers={"If-None-Match": tags[url]})
        assert after.status_code == 200 and after.headers["ETag"] != tags[url], url
    assert keyed.get("/v1/projects", headers={"If-None-Match": tags["/v1/projects"]}).status_code == 304


def test_errors_and_writes_carry_no_etag(keyed):
    assert "ETag" not in keyed.get("/v1/organisations/no-such-org").headers
    assert "ETag" not in keyed.post("/v1/match", json=MATCH).headers


# ------------------------------------------------------------------------------------------------------- paging
def test_following_next_visits_every_item_once_and_prev_goes_back(client):
    url, seen, pages = "/v1/organisations?per_page=2&countries=GB", [], []
    while url:
        page = client.get(url)
        body = page.get_json()
        seen += [o["id"] for o in body["items"]]
        pages.append(body)
        if body["next"]:
            assert f'<{body["next"]}>; rel="next"' in page.headers["Link"]
        url = body["next"]
    total = pages[0]["total"]
    assert len(seen) == len(set(seen)) == total and len(pages) == pages[0]["pages"] == -(-total // 2) >= 2
    assert pages[0]["prev"] is None and pages[-1]["next"] is None
    assert all("countries=GB" in p["next"] for p in pages[:-1])  # the filters are kept
    back = client.get(pages[-1]["prev"]).get_json()
    assert back["page"] == len(pages) - 1 and back["items"] == pages[-2]["items"]


def test_a_page_past_the_end_says_so_and_links_to_the_last_page(client):
    total = client.get("/v1/projects").get_json()["total"]
    assert total >= 2
    past = client.get("/v1/projects?per_page=1&page=99")
    body = past.get_json()
    assert past.status_code == 200 and body["items"] == [] and body["next"] is None
    assert body["prev"] == f"/v1/projects?per_page=1&page={total}" and body["pages"] == total
    assert body["message"] == f"page 99 is past the end: {total} items make {total} pages of 1; the last is page {total}"
    assert past.headers["Link"] == f'</v1/projects?per_page=1&page={total}>; rel="prev"'


def test_an_empty_list_is_one_empty_page_without_links(client):
    body = client.get("/v1/organisations?countries=JP").get_json()
    assert body == {"items": [], "total": 0, "page": 1, "per_page": 20, "pages": 0, "next": None, "prev": None}


# ------------------------------------------------------------------------------------------------ rate limit
def test_the_rate_limit_answers_in_the_error_shape_and_says_what_to_do(matcher):
    from service import create_app

    client = create_app({"MATCHER": matcher, "RATE_LIMIT": "1 per minute", "API_KEYS": ["k1", "k2"]}).test_client()
    assert client.get("/v1/challenges").status_code == 200
    limited = client.get("/v1/challenges")
    error = assert_error(limited, 429, "too_many_requests")
    assert int(limited.headers["Retry-After"]) > 0 and limited.headers["X-RateLimit-Limit"] == "1"
    assert "send your API key" in error["message"] and error["details"] == {"limit": "1 per 1 minute"}
    # Each valid key has its own quota, apart from the address's.
    for key in ("k1", "k2"):
        assert client.get("/v1/challenges", headers={"X-API-Key": key}).status_code == 200
        assert client.get("/v1/challenges", headers={"X-API-Key": key}).status_code == 429


# ------------------------------------------------------------------------------------------- the OpenAPI document
def _operations(spec: dict):
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            yield path, method, op


def test_the_document_states_the_rate_limit_and_the_conventions(spec):
    text = spec["info"]["description"]
    assert "**Rate limit:** 300 per minute" not in text  # this app has none, and says so
    assert "no rate limit" in text
    for words in ("did you mean 'GB'?", "If-None-Match", "past the end", "`prev`"):
        assert words in text, words


def test_the_rate_limit_rule_and_per_key_quota_are_documented(matcher):
    from service import create_app

    spec = create_app({"MATCHER": matcher, "RATE_LIMIT": "300 per minute"}).test_client().get("/openapi.json").get_json()
    text = spec["info"]["description"]
    assert "**Rate limit:** 300 per minute for each route and caller" in text
    assert "each key has its own quota" in text and "counted by client address" in text


def test_429_is_documented_with_retry_after_on_every_limited_operation(spec):
    for path, method, op in _operations(spec):
        if path in ("/healthz", "/readyz"):
            assert "429" not in op["responses"], path  # probes are never limited
            continue
        limited = op["responses"]["429"]
        assert limited["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
        assert {"Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining"} <= set(limited["headers"]), (path, method)
        assert limited["content"]["application/json"]["example"]["error"]["code"] == "too_many_requests"


def test_304_and_etag_are_documented_on_every_get_of_the_api(spec):
    for path, method, op in _operations(spec):
        if method == "get" and path.startswith("/v1/"):
            assert "304" in op["responses"] and "ETag" in op["responses"]["200"]["headers"], path
            assert any(p["name"] == "If-None-Match" and p["in"] == "header" for p in op["parameters"]), path
        else:
            assert "304" not in op["responses"], (path, method)
    assert "Link" in spec["paths"]["/v1/organisations"]["get"]["responses"]["200"]["headers"]


def test_every_operation_has_a_request_and_response_example_that_fits_its_schema(spec, keyed):
    from service.openapi import load_examples

    schemas = spec["components"]["schemas"]
    validators = _pydantic_validators(keyed.application)
    for path, method, op in _operations(spec):
        where = f"{method.upper()} {path}"
        if "requestBody" in op:
            body = op["requestBody"]["content"]["application/json"]
            assert "example" in body, where
            validators[body["schema"]["$ref"].rsplit("/", 1)[1]](body["example"])
        for param in op["parameters"]:
            if param["in"] == "path":
                assert "example" in param, (where, param["name"])
        status, ok = next((s, r) for s, r in op["responses"].items() if s.startswith("2"))
        if status == "204":
            continue
        (media_type, media), = ok["content"].items()
        if media_type.startswith("application/vnd"):  # a binary workbook: described, no example
            continue
        assert "example" in media, where
        ref = media["schema"].get("$ref")
        if ref:
            name = ref.rsplit("/", 1)[1]
            assert name in schemas
            validators[name](media["example"])
        for code, response in op["responses"].items():
            if code.startswith(("4", "5")):
                example = response["content"]["application/json"]["example"]
                assert set(example["error"]) == {"code", "message", "details"}, (where, code)
    assert set(load_examples()["operations"]) >= {op["operationId"] for _, _, op in _operations(spec)}


def test_examples_show_the_corpus_own_records(spec):
    from service.openapi import load_examples

    examples = json.dumps(load_examples())
    org_ids = {o.id for o in load_organisations(CORPUS)}
    project_ids = {p.id for p in load_projects(CORPUS)}
    shown = set(__import__("re").findall(r'"(?:id|org_id|organisation_id)": "([a-z]{2}-[a-z0-9._-]+)"', examples))
    assert shown and shown <= org_ids | project_ids, shown - org_ids - project_ids
    organisation = load_examples()["operations"]["v1_get_organisation"]["response"]
    assert TypeAdapter(Organisation).validate_python(organisation) == next(
        o for o in load_organisations(CORPUS) if o.id == organisation["id"])


def _pydantic_validators(app) -> dict:
    """Component name -> a function that validates an example with the pydantic model the document came from."""
    from pydantic import BaseModel

    out = {}
    for view in app.view_functions.values():
        meta = getattr(view, "openapi", None) or {}
        for key in ("body", "response"):
            model = meta.get(key)
            if isinstance(model, type) and issubclass(model, BaseModel):
                out[model.__name__] = model.model_validate
    return out


# ------------------------------------------------------------------------------------------------ /docs itself
def test_docs_serve_swagger_ui_5_from_the_package_under_their_own_csp(client):
    page = client.get("/docs")
    csp = dict(d.strip().split(" ", 1) for d in page.headers["Content-Security-Policy"].split(";"))
    assert csp["default-src"] == "'none'" and csp["script-src"] == "'self'" and csp["style-src"] == "'self'"
    assert "unsafe" not in page.headers["Content-Security-Policy"]
    html = page.get_data(as_text=True)
    assert "<script>" not in html and "style=" not in html  # no inline script or style to allow
    bundle = client.get("/docs/static/swagger-ui-bundle.js").get_data(as_text=True)
    version = bundle.split('PACKAGE_VERSION:"', 1)[1].split('"', 1)[0]
    assert int(version.split(".")[0]) >= 5, version  # 4.x cannot render OpenAPI 3.1
    assert client.get("/docs/static/swagger-ui.css").status_code == 200
    assert client.get("/docs/assets/docs.js").status_code == 200
    assert client.get("/docs/static/swagger-editor-bundle.js").status_code == 404  # only the viewer's two files
    assert client.get("/docs/static/../__init__.py").status_code == 404


def test_a_portal_in_the_browser_may_read_the_tag_and_the_links(matcher):
    from service import create_app

    client = create_app({"MATCHER": matcher, "CORS_ORIGINS": ["https://portal.example"]}).test_client()
    response = client.get("/v1/organisations?per_page=1", headers={"Origin": "https://portal.example"})
    exposed = {h.strip() for h in response.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"ETag", "Link", "Retry-After"} <= exposed and response.headers["Link"]
