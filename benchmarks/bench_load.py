"""Load test: how many matches per second two gunicorn workers sustain for 60 s, with zero errors.

Starts `matcher serve --workers 2` (the bundled corpus and model; the index is built first if needed) on a free
port on 127.0.0.1, drives it with wrk (Debian's package, installed if missing) posting briefs to /v1/match from
8 connections, and reports throughput and latency percentiles. Bounded: `--seconds` (default 60) and
`--max-requests` (default 200,000) per wrk thread. Rate limiting is switched off for the run (one client address
would otherwise hit the per-address limit, which is the limiter working, not the service failing).

    .venv/bin/python benchmarks/bench_load.py [--seconds 60] [--connections 8] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("installing wrk (Debian package)…", file=sys.stderr)
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = sudo + ["apt-get", "install", "-y", "-q", "wrk"]
    if subprocess.run(install, env=env, stdout=sys.stderr).returncode != 0:
        subprocess.run(sudo + ["apt-get", "update", "-q"], env=env, stdout=sys.stderr, check=True)
        subprocess.run(install, env=env, stdout=sys.stderr, check=True)
    return shutil.which("wrk") or "/usr/bin/wrk"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(port: int, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"the service on port {port} was not ready within {timeout:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--max-requests", type=int, default=200_000, help="per wrk thread")
    parser.add_argument("--json", type=Path, help="also write the results here (folders are created)")
    args = parser.parse_args()

    wrk = ensure_wrk()
    port = free_port()
    env = dict(os.environ, PM_RATE_LIMIT="", PM_LOG_LEVEL="warning", MAX_REQUESTS=str(args.max_requests))
    matcher = str(Path(sys.executable).parent / "matcher")
    server = subprocess.Popen([matcher, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers",
                               str(args.workers)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_ready(port)
        # Both workers load and warm up on their own; give the second one a moment beyond the first /readyz.
        for _ in range(20):
            urllib.request.urlopen(urllib.request.Request(
                f"http://127.0.0.1:{port}/v1/match", data=b'{"text": "warm up cobalt"}',
                headers={"Content-Type": "application/json"}), timeout=60).read()
        run = subprocess.run([wrk, "-t2", f"-c{args.connections}", f"-d{args.seconds}s", "--timeout", "10s",
                              "-s", str(ROOT / "benchmarks" / "wrk_match.lua"), f"http://127.0.0.1:{port}"],
                             env=env, capture_output=True, text=True, check=True)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
    line = next(x for x in run.stdout.splitlines() if x.startswith("WRK_JSON "))
    result = json.loads(line[len("WRK_JSON "):])
    errors = sum(result["errors"].values())
    result.update(workers=args.workers, connections=args.connections, throughput_rps=round(result["requests"] /
                  result["seconds"], 1), total_errors=errors, cpus=os.cpu_count(),
                  load_before=os.getloadavg())
    print(f"\nLoad: {args.workers} gunicorn workers, {args.connections} connections, {result['seconds']:.0f} s, "
          f"POST /v1/match (k=10, explanations)")
    print(f"{'requests':>10} {'req/s':>8} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8} {'errors':>7}")
    lat = result["latency_ms"]
    print(f"{result['requests']:>10} {result['throughput_rps']:>8} {lat['p50']:>8.1f} {lat['p90']:>8.1f} "
          f"{lat['p99']:>8.1f} {lat['max']:>8.1f} {errors:>7}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    if errors:
        raise SystemExit(f"{errors} errors during the load test: {result['errors']}")


if __name__ == "__main__":
    main()
