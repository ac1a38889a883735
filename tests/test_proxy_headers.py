"""Behind a trusted proxy (PM_TRUSTED_PROXIES), the client's address comes from X-Forwarded-For: rate limits count
clients, not the proxy; without it the header is ignored, so no client can choose its own bucket."""

from matcher import Settings
from service import create_app
from tests.conftest import FIXTURE_CORPUS


def _limited_client(matcher, tmp_path, proxies: int):
    settings = Settings(data_dir=tmp_path / "var", corpus_dir=FIXTURE_CORPUS, trusted_proxies=proxies)
    return create_app({"MATCHER": matcher, "SETTINGS": settings, "RATE_LIMIT": "2 per minute"}).test_client()


def test_a_trusted_proxy_s_forwarded_address_is_the_client(matcher, tmp_path):
    client = _limited_client(matcher, tmp_path, proxies=1)
    for address in ("198.51.100.1", "198.51.100.2"):
        statuses = [client.get("/v1/challenges", headers={"X-Forwarded-For": address}).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]  # each address its own bucket


def test_without_a_trusted_proxy_the_header_is_ignored(matcher, tmp_path):
    client = _limited_client(matcher, tmp_path, proxies=0)
    statuses = [client.get("/v1/challenges", headers={"X-Forwarded-For": f"198.51.100.{i}"}).status_code
                for i in range(3)]
    assert statuses == [200, 200, 429]  # one bucket: the peer's address
