"""The OpenAPI document describes every route, and schemathesis finds no 5xx and no non-JSON error."""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from embeddings import FakeEmbedder
from matcher import PartnerMatcher, Settings
from tests.conftest import FIXTURE_CORPUS

KEY = "schemathesis-key"


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory):
    from service import create_app

    settings_ = Settings(data_dir=tmp_path_factory.mktemp("fuzz"), corpus_dir=FIXTURE_CORPUS)
    matcher = PartnerMatcher(settings_, embedder=FakeEmbedder(64)).open()
    matcher.ensure_index()
    return create_app({"MATCHER": matcher, "API_KEYS": [KEY]})


@pytest.fixture(scope="module")
def api_schema(fuzz_app):
    return schemathesis.openapi.from_wsgi("/openapi.json", fuzz_app)


def test_document_lists_every_route_with_the_error_shape(fuzz_app):
    spec = fuzz_app.test_client().get("/openapi.json").get_json()
    documented = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    for rule in fuzz_app.url_map.iter_rules():
        if rule.rule.startswith("/v1/"):
            path = rule.rule.replace("<", "{").replace(">", "}")
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                assert (path, method.lower()) in documented, (path, method)
    match = spec["paths"]["/v1/match"]["post"]
    assert match["responses"]["400"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    assert "MatchRequest" in spec["components"]["schemas"]
    assert fuzz_app.test_client().get("/docs").status_code == 200


def test_no_server_errors_for_any_generated_request(api_schema):
    # schemathesis generates requests from the document (valid and invalid); every answer must be below 500 and,
    # when an error, in the one JSON error shape. Examples are bounded so CI stays fast.
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 15

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        def check(case):
            response = case.call(headers={"X-API-Key": KEY})
            case.validate_response(response, checks=[not_a_server_error])
            if response.status_code >= 400:
                headers = {k.lower(): v for k, v in response.headers.items()}
                content_type = headers["content-type"]
                content_type = content_type[0] if isinstance(content_type, list) else content_type
                assert content_type.startswith("application/json"), response.text[:200]
                assert set(response.json()["error"]) == {"code", "message", "details"}

        check()
