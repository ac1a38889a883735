import json
import logging

from service import create_app
from tests.test_api import assert_error


def test_metrics_expose_latency_index_size_and_load_time(matcher):
    client = create_app({"MATCHER": matcher}).test_client()
    client.post("/v1/match", json={"text": "magnets"})
    text = client.get("/metrics").get_data(as_text=True)
    assert 'pm_request_seconds_count{endpoint="/v1/match",method="POST",status="200"} 1.0' in text
    assert "pm_index_organisations 9.0" in text and "pm_model_load_seconds" in text


def test_rate_limit_answers_429_in_the_error_shape_with_retry_after(matcher):
    client = create_app({"MATCHER": matcher, "RATE_LIMIT": "3 per minute", "API_KEYS": ["another-client"]}).test_client()
    for _ in range(3):
        assert client.get("/v1/challenges").status_code == 200
    limited = client.get("/v1/challenges")
    assert_error(limited, 429, "too_many_requests")
    assert int(limited.headers["Retry-After"]) > 0
    assert client.get("/healthz").status_code == 200  # health checks are never limited
    other_key = client.get("/v1/challenges", headers={"X-API-Key": "another-client"})
    assert other_key.status_code == 200  # limits are per valid key (or per address without one)
    assert_error(client.get("/v1/challenges", headers={"X-API-Key": "made-up"}), 429, "too_many_requests")


def test_cors_only_when_configured(matcher):
    closed = create_app({"MATCHER": matcher}).test_client().get("/v1/challenges", headers={"Origin": "https://portal.example"})
    assert "Access-Control-Allow-Origin" not in closed.headers
    open_ = create_app({"MATCHER": matcher, "CORS_ORIGINS": ["https://portal.example"]}).test_client()
    response = open_.get("/v1/challenges", headers={"Origin": "https://portal.example"})
    assert response.headers["Access-Control-Allow-Origin"] == "https://portal.example"


def test_json_logs_carry_the_request_id_and_never_the_key(matcher, capsys):
    from service.observability import configure_json_logging

    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_json_logging("INFO")
        client = create_app({"MATCHER": matcher, "API_KEYS": ["top-secret"]}).test_client()
        client.delete("/v1/organisations/nope", headers={"X-API-Key": "top-secret", "X-Request-ID": "req-42"})
        lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    finally:
        root.handlers[:], _ = saved[0], root.setLevel(saved[1])
    access = [line for line in lines if line.get("logger") == "service.access"]
    assert access and access[-1]["request_id"] == "req-42" and access[-1]["status"] == 404
    assert all("top-secret" not in json.dumps(line) for line in lines)
