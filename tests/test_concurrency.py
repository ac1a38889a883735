"""Queries keep working while organisations are added, changed and deleted, and see each change at once."""

import threading

from service import create_app

KEY = {"X-API-Key": "k"}


def test_four_clients_query_while_writes_happen(matcher):
    app = create_app({"MATCHER": matcher, "API_KEYS": ["k"], "RATE_LIMIT": ""})
    failures, stop = [], threading.Event()

    def query():
        client = app.test_client()
        while not stop.is_set():
            response = client.post("/v1/match", json={"text": "rare earth magnet recycling", "k": 5})
            if response.status_code != 200 or not response.get_json()["results"]:
                failures.append(response.status_code)

    readers = [threading.Thread(target=query) for _ in range(4)]
    for t in readers:
        t.start()
    writer = app.test_client()
    try:
        for i in range(8):
            org = {"id": f"gb-new-{i}", "name": f"Fixture Concurrent Lab {i}", "country": "GB", "org_type": "rto",
                   "description": f"Fixture record {i}: tungsten carbide scrap recycling by zinc process number {i}.",
                   "sources": [{"ref": "https://example.org"}]}
            assert writer.post("/v1/organisations", json=org, headers=KEY).status_code == 201
            found = writer.post("/v1/match", json={"text": f"tungsten carbide zinc process number {i}", "k": 1})
            assert found.get_json()["results"][0]["organisation"]["id"] == f"gb-new-{i}"  # matchable at once
            assert writer.patch(f"/v1/organisations/gb-new-{i}", json={"city": "Sheffield"}, headers=KEY).status_code == 200
            if i % 2:
                assert writer.delete(f"/v1/organisations/gb-new-{i - 1}", headers=KEY).status_code == 204
    finally:
        stop.set()
        for t in readers:
            t.join()
    assert failures == []
    assert writer.get("/v1/organisations?per_page=100").get_json()["total"] == 9 + 4


def test_two_gunicorn_workers_see_every_write_at_once(tmp_path):
    """Each worker process has its own in-memory index; the store's change log brings the other one up to date
    before it answers, so whichever worker takes the next request finds the write."""
    import threading as _threading

    from tests.test_faults import Server, _call, _org

    server = Server(tmp_path / "var", workers=2)
    failures: list = []
    stop = _threading.Event()

    def query() -> None:
        while not stop.is_set():
            status, body = _call(server.port, "POST", "/v1/match", {"text": "rare earth magnet recycling", "k": 5})
            if status != 200 or not body["results"]:
                failures.append(status)

    readers = [_threading.Thread(target=query) for _ in range(4)]
    for t in readers:
        t.start()
    try:
        for i in range(12):
            assert _call(server.port, "POST", "/v1/organisations", _org(i, "fx-two"))[0] == 201
            for _ in range(3):  # several requests, so both workers answer some of them
                status, body = _call(server.port, "POST", "/v1/match",
                                     {"text": f"indium from flat panel displays solvent route {i}", "k": 1})
                assert status == 200 and body["results"][0]["organisation"]["id"] == f"fx-two-{i}"
            if i % 3 == 2:
                assert _call(server.port, "DELETE", f"/v1/organisations/fx-two-{i}")[0] == 204
                status, body = _call(server.port, "POST", "/v1/match",
                                     {"text": f"indium from flat panel displays solvent route {i}", "k": 3})
                assert f"fx-two-{i}" not in [r["organisation"]["id"] for r in body["results"]]
    finally:
        stop.set()
        for t in readers:
            t.join()
        server.kill()
    assert failures == []
