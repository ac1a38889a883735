"""The topology under hostile load: slow clients behind the proxy, then a replica killed mid-run.

Starts scripts/topology.sh (PostgreSQL from scripts/postgres.sh, two replicas, nginx) on the bundled corpus
(PM_MODEL from the environment; --model fake for no model), then:

1. slow clients: --slow-clients connections (default 200) each promise a 1,000-byte body and send one byte every
   5 s (under the proxy's 10 s body timeout, so nginx keeps them) for --slow-seconds (default 60), while /readyz
   is asked through the proxy every 0.2 s: prints its slowest answer and any non-200;
2. a replica killed: --clients threads post matches and one thread posts new organisations through the proxy for
   --load-seconds (default 30); replica 2 gets SIGKILL halfway. Prints the failed matches, the failed writes (at
   most the ones replica 2 held in flight may fail) and checks every acknowledged write through replica 1.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_topology.py [--model fake] [--json out.json]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KEY = "bench-topology-key"


def call(port: int, method: str, path: str, body=None, timeout: float = 30) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=json.dumps(body) if body is not None else None,
                           headers={"Content-Type": "application/json", "X-API-Key": KEY})
        response = connection.getresponse()
        response.read()
        return response.status
    except (OSError, http.client.HTTPException) as e:
        return -1 if not isinstance(e, TimeoutError) else -2
    finally:
        connection.close()


def _org(i: int) -> dict:
    return {"id": f"gb-bench-topology-{i}", "name": f"Bench Topology Record {i}", "country": "GB", "org_type": "rto",
            "description": f"Benchmark record {i}: recovers gallium from zinc refinery residue by route {i}.",
            "sources": [{"ref": "https://example.org/benchmark"}]}


def slow_clients(proxy: int, n: int, seconds: float) -> dict:
    sockets = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", proxy), timeout=10)
        s.sendall(b"POST /v1/match HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
        sockets.append(s)
    latencies, statuses = [], []
    started = last_trickle = time.monotonic()
    while time.monotonic() - started < seconds:
        if time.monotonic() - last_trickle >= 5:
            for s in sockets:
                try:
                    s.sendall(b" ")
                except OSError:
                    pass
            last_trickle = time.monotonic()
        t = time.perf_counter()
        statuses.append(call(proxy, "GET", "/readyz", timeout=10))
        latencies.append(time.perf_counter() - t)
        time.sleep(0.2)
    for s in sockets:
        s.close()
    return {"slow_clients": n, "seconds": seconds, "readyz_requests": len(statuses),
            "readyz_max_ms": round(max(latencies) * 1000, 1),
            "readyz_non_200": sum(1 for s in statuses if s != 200)}


def kill_under_load(proxy: int, replicas: list[int], clients: int, seconds: float, kill) -> dict:
    stop = threading.Event()
    matches: list[int] = []
    acknowledged: list[int] = []
    write_failures: list[int] = []

    def matcher_client() -> None:
        while not stop.is_set():
            matches.append(call(proxy, "POST", "/v1/match", {"text": "rare earth magnet recycling", "k": 10}))

    def writer() -> None:
        i = 0
        while not stop.is_set():
            i += 1
            status = call(proxy, "POST", "/v1/organisations", _org(i))
            (acknowledged.append(i) if status == 201 else write_failures.append(status))

    threads = [threading.Thread(target=matcher_client) for _ in range(clients)] + [threading.Thread(target=writer)]
    for t in threads:
        t.start()
    time.sleep(seconds / 2)
    kill(2)
    time.sleep(seconds / 2)
    stop.set()
    for t in threads:
        t.join()
    missing = [i for i in acknowledged if call(replicas[0], "GET", f"/v1/organisations/gb-bench-topology-{i}") != 200]
    return {"clients": clients, "seconds": seconds, "matches": len(matches),
            "match_failures": sum(1 for s in matches if s != 200), "writes_acknowledged": len(acknowledged),
            "write_failures": len(write_failures), "acknowledged_missing_on_survivor": len(missing)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--proxy-port", type=int, default=8890)
    parser.add_argument("--replica-port", type=int, default=8891)
    parser.add_argument("--slow-clients", type=int, default=200)
    parser.add_argument("--slow-seconds", type=float, default=60)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--load-seconds", type=float, default=30)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="pm-bench-topology-") as tmp:
        env = {**os.environ, "PM_TOPOLOGY_DIR": tmp, "PM_API_KEYS": KEY, "PM_RATE_LIMIT": "", "PM_REPLICAS": "2",
               "PM_REPLICA_PORT": str(args.replica_port), "PM_PROXY_PORT": str(args.proxy_port),
               "PYTHON": sys.executable, **({"PM_MODEL": args.model} if args.model else {})}
        script = ["bash", str(ROOT / "scripts" / "topology.sh")]
        if "PM_DATABASE_URL" not in env:  # a schema of its own on the test server, dropped at the end
            env["PM_DATABASE_URL"] = _fresh_schema(env)
        subprocess.run([*script, "start"], env=env, check=True, stdout=subprocess.DEVNULL)
        try:
            result = {"model": args.model or "bundled",
                      "slow": slow_clients(args.proxy_port, args.slow_clients, args.slow_seconds),
                      "kill": kill_under_load(args.proxy_port, [args.replica_port, args.replica_port + 1],
                                              args.clients, args.load_seconds,
                                              lambda n: subprocess.run([*script, "kill", str(n)], env=env, check=True))}
        finally:
            subprocess.run([*script, "stop"], env=env)
            _drop_schema(env["PM_DATABASE_URL"])
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    print(json.dumps(result, indent=2))
    print(f"load average after: {load}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({**result, "load_average_after": load}, indent=2))


def _fresh_schema(env: dict) -> str:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    server = subprocess.run(["bash", str(ROOT / "scripts" / "postgres.sh"), "start"], env=env, capture_output=True,
                            text=True, check=True).stdout.strip()
    schema = f"pm_bench_topology_{os.getpid()}"
    engine = create_engine(server)
    with engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    engine.dispose()
    return make_url(server).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(False)


def _drop_schema(url: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    schema = parsed.query["options"].split("=", 1)[1]
    engine = create_engine(parsed.difference_update_query(["options"]))
    with engine.begin() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


if __name__ == "__main__":
    main()
