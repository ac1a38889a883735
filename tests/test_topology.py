"""The production topology (scripts/topology.sh): PostgreSQL, two replicas with their own data folders, nginx in
front (scripts/proxy.sh). Slow clients do not stop /readyz; a write through one replica is matched through the
other; a replica killed under load costs no failed match and no acknowledged write.

Needs nginx (installed by scripts/proxy.sh from Debian's packages; `make test` runs `scripts/proxy.sh install`)
and the PostgreSQL test server (PM_TEST_POSTGRES_URL, which make test sets)."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import FIXTURE_CORPUS, POSTGRES_SKIP_REASON, POSTGRES_URL_VARIABLE, postgres_schema

pytestmark = pytest.mark.topology

ROOT = Path(__file__).resolve().parents[1]
KEY = "topology-key"
SLOW_CLIENTS = 200


def _free_ports(n: int) -> int:
    """The first of ``n`` consecutive ports that are free now."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            first = probe.getsockname()[1]
        if first + n >= 65535:
            continue
        try:
            sockets = []
            for port in range(first, first + n):
                s = socket.socket()
                sockets.append(s)
                s.bind(("127.0.0.1", port))
            return first
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise RuntimeError(f"no {n} consecutive free ports found")


def call(port: int, method: str, path: str, body=None, timeout: float = 10.0) -> tuple[int, dict | None]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=json.dumps(body) if body is not None else None,
                           headers={"Content-Type": "application/json", "X-API-Key": KEY})
        response = connection.getresponse()
        raw = response.read()
        return response.status, json.loads(raw) if raw else None
    finally:
        connection.close()


def _org(i: int) -> dict:
    return {"id": f"gb-topology-{i}", "name": f"Fixture Topology Lab {i}", "country": "GB", "org_type": "rto",
            "description": f"Fixture record {i}: recovers gallium from zinc refinery residue by route topo{i}.",
            "sources": [{"ref": "https://example.org/fixture"}]}


@pytest.fixture(scope="module")
def topology(tmp_path_factory):
    server_url = os.environ.get(POSTGRES_URL_VARIABLE)
    if not server_url:
        pytest.skip(POSTGRES_SKIP_REASON)
    installed = subprocess.run(["bash", str(ROOT / "scripts" / "proxy.sh"), "install"], capture_output=True, text=True)
    if installed.returncode != 0:
        pytest.skip("nginx is not installed and scripts/proxy.sh could not install Debian's nginx package: "
                    + installed.stderr.strip()[-500:])
    folder = tmp_path_factory.mktemp("topology")
    first = _free_ports(3)
    ports = {"proxy": first, "replicas": [first + 1, first + 2]}
    with postgres_schema(server_url) as database_url:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PM_")}
        env.update(PM_TOPOLOGY_DIR=str(folder), PM_DATABASE_URL=database_url, PM_MODEL="fake",
                   PM_CORPUS_DIR=str(FIXTURE_CORPUS), PM_API_KEYS=KEY, PM_RATE_LIMIT="", PM_REPLICAS="2",
                   PM_REPLICA_PORT=str(first + 1), PM_PROXY_PORT=str(first), PM_TOPOLOGY_PARALLEL="1",
                   PM_TOPOLOGY_TIMEOUT="120", PYTHON=sys.executable)
        script = ["bash", str(ROOT / "scripts" / "topology.sh")]
        started = subprocess.run([*script, "start"], env=env, capture_output=True, text=True, timeout=300)
        try:
            assert started.returncode == 0, started.stderr[-3000:]
            assert started.stdout.strip() == f"http://127.0.0.1:{first}"
            yield {"ports": ports, "kill": lambda n: subprocess.run([*script, "kill", str(n)], env=env, check=True,
                                                                    capture_output=True)}
        finally:
            subprocess.run([*script, "stop"], env=env, capture_output=True, timeout=120)


def test_a_write_through_one_replica_is_matched_through_the_other_at_once(topology):
    one, other = topology["ports"]["replicas"]
    assert call(one, "POST", "/v1/organisations", _org(1))[0] == 201
    status, body = call(other, "POST", "/v1/match", {"text": "gallium zinc refinery residue route topo1", "k": 1})
    assert status == 200 and body["results"][0]["organisation"]["id"] == "gb-topology-1"
    assert call(other, "DELETE", "/v1/organisations/gb-topology-1")[0] == 204
    status, body = call(one, "POST", "/v1/match", {"text": "gallium zinc refinery residue route topo1", "k": 3})
    assert "gb-topology-1" not in [r["organisation"]["id"] for r in body["results"]]


def test_the_proxy_answers_its_own_errors_in_json(topology):
    proxy = topology["ports"]["proxy"]

    def raw(request: bytes) -> tuple[int, dict]:
        with socket.create_connection(("127.0.0.1", proxy), timeout=10) as s:
            s.sendall(request)
            data = b""
            try:
                while chunk := s.recv(65536):
                    data += chunk
            except ConnectionResetError:  # nginx resets a connection whose unread body it refused, after answering
                assert data, "the proxy reset the connection without answering"
        head, _, body = data.partition(b"\r\n\r\n")
        assert b"content-type: application/json" in head.lower(), head
        return int(head.split()[1]), json.loads(body)

    end = b"Host: x\r\nConnection: close\r\n\r\n"
    assert raw(b"GET /v1/" + b"a" * 9000 + b" HTTP/1.1\r\n" + end)[0] == 414
    assert raw(b"GET /healthz HTTP/1.1\r\nX-Big: " + b"a" * 10_000 + b"\r\n" + end)[0] == 431
    many = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 200) for i in range(200))  # over the 32 KiB in all
    assert raw(b"GET /healthz HTTP/1.1\r\n" + many + end)[0] == 431
    status, body = raw(b"POST /v1/match HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 2000000\r\n"
                       + end)
    assert status == 413 and body["error"]["details"] == {"max_bytes": 1048576}
    chunk = b"100000\r\n" + b" " * 0x100000 + b"\r\n"  # two 1 MiB chunks: over the limit without a length
    assert raw(b"POST /v1/match HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n"
               + end + chunk * 2 + b"0\r\n\r\n")[0] == 413
    assert raw(b"GARBAGE\r\n\r\n")[0] == 400
    # 200 small headers fit the proxy's buffers, and the replicas accept as many as the proxy passes on.
    few = b"".join(b"X-H%d: v\r\n" % i for i in range(200))
    status, body = raw(b"GET /healthz HTTP/1.1\r\n" + few + end)
    assert status == 200 and body == {"status": "ok"}
    # Raw bytes outside ASCII in the request line: refused by the proxy in JSON, not by gunicorn in HTML.
    assert raw(b"GET /v1/organisations/\xff HTTP/1.1\r\n" + end)[0] == 400
    assert raw(b"GET /v1/organisations?countries=\xff HTTP/1.1\r\n" + end)[0] == 400
    # `//` is merged by the proxy: no redirect, even for a write.
    assert raw(b"GET //healthz HTTP/1.1\r\n" + end) == (200, {"status": "ok"})
    status, body = raw(b"PATCH /v1//organisations/nobody HTTP/1.1\r\nContent-Type: application/json\r\n"
                       b"Content-Length: 2\r\nX-API-Key: " + KEY.encode() + b"\r\n" + end + b"{}")
    assert status == 404 and body["error"]["code"] == "organisation_not_found"


def test_slow_clients_do_not_stop_readiness(topology):
    """200 connections each promise a 1,000-byte body and send 4 bytes, then stall: nginx holds them, the replicas
    never see them, and /readyz keeps answering in well under a second."""
    proxy = topology["ports"]["proxy"]
    stalled = []
    try:
        for _ in range(SLOW_CLIENTS):
            s = socket.create_connection(("127.0.0.1", proxy), timeout=10)
            s.sendall(b"POST /v1/match HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 1000\r\n\r\n{\"te")
            stalled.append(s)
        slowest = 0.0
        deadline = time.monotonic() + 5  # under the proxy's 10 s body timeout: every slow client is still held
        while time.monotonic() < deadline:
            started = time.perf_counter()
            status, body = call(proxy, "GET", "/readyz", timeout=5)
            slowest = max(slowest, time.perf_counter() - started)
            assert status == 200 and body["status"] == "ready"
            time.sleep(0.05)
        assert slowest < 1.0
        status, _ = call(proxy, "POST", "/v1/match", {"text": "lithium brine", "k": 3})
        assert status == 200
    finally:
        for s in stalled:
            s.close()


def test_a_replica_killed_under_load_costs_no_match_and_no_acknowledged_write(topology):
    proxy, (survivor, victim) = topology["ports"]["proxy"], topology["ports"]["replicas"]
    match_failures: list = []
    acknowledged: list[str] = []
    write_failures: list = []
    stop = threading.Event()

    def matches() -> None:
        while not stop.is_set():
            try:
                status, _ = call(proxy, "POST", "/v1/match", {"text": "rare earth magnet recycling", "k": 5})
            except (OSError, http.client.HTTPException) as e:
                status = f"{type(e).__name__}"
            if status != 200:
                match_failures.append(status)

    def writes() -> None:
        i = 100
        while not stop.is_set():
            i += 1
            try:
                status, _ = call(proxy, "POST", "/v1/organisations", _org(i))
            except (OSError, http.client.HTTPException) as e:
                status = f"{type(e).__name__}"
            (acknowledged.append(f"gb-topology-{i}") if status == 201 else write_failures.append(status))

    threads = [threading.Thread(target=matches) for _ in range(3)] + [threading.Thread(target=writes)]
    for t in threads:
        t.start()
    try:
        time.sleep(2)
        topology["kill"](2)
        time.sleep(4)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert match_failures == []  # a match is retried on the survivor, even one the victim held
    assert len(write_failures) <= 1  # at most the one write the victim held in flight
    assert len(acknowledged) >= 5
    for org_id in acknowledged:
        status, _ = call(survivor, "GET", f"/v1/organisations/{org_id}")
        assert status == 200, org_id
    last = int(acknowledged[-1].rsplit("-", 1)[1])
    status, body = call(survivor, "POST", "/v1/match", {"text": f"gallium zinc refinery residue route topo{last}",
                                                       "k": 1})
    assert body["results"][0]["organisation"]["id"] == acknowledged[-1]
    with pytest.raises(OSError):
        call(victim, "GET", "/healthz", timeout=2)
