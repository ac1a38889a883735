"""Shared benchmark plumbing: gunicorn servers on loopback, timed HTTP requests, peak memory, tables.

Every server is started here on 127.0.0.1 with a free port, one worker (the issue's setting), and stopped by its
own process id. Requests are sequential on one keep-alive connection per server, so figures are latencies, not
throughput under contention.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def peak_rss_mb(pid: int) -> dict:
    """Peak (VmHWM) and current (VmRSS) resident memory of a process, in MB, from /proc."""
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {"peak_rss_mb": round(int(fields["VmHWM"].split()[0]) / 1024), "rss_mb": round(int(fields["VmRSS"].split()[0]) / 1024)}


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


@dataclass
class Server:
    """A gunicorn server running ``app`` (a ``module:factory(args)`` string) with one worker."""

    app: str
    env: dict = field(default_factory=dict)
    threads: int = 4
    timeout: int = 120
    port: int = field(default_factory=free_port)
    product: bool = False  # started with the environment `matcher serve` gives gunicorn (serving_environment)

    def start(self, ready_path: str = "/healthz", wait: float = 1800) -> Server:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1",
               "PM_RATE_LIMIT": "", **self.env}
        if self.product:
            from matcher.config import serving_environment

            env = serving_environment(env)
        command = [sys.executable, "-m", "gunicorn", "-w", "1", "--threads", str(self.threads), "--timeout",
                   str(self.timeout), "-b", f"127.0.0.1:{self.port}", "--log-level", "warning", self.app]
        self.log = open(os.devnull, "w") if not env.get("BENCH_SERVER_LOG") else open(env["BENCH_SERVER_LOG"], "a")
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.app} exited with {self.process.returncode} before it was ready; "
                                   "set BENCH_SERVER_LOG=/tmp/server.log to see why")
            try:
                status, _ = self.request("GET", ready_path)
                if status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.5)
        self.stop()
        raise TimeoutError(f"{self.app} was not ready after {wait:.0f} s")

    def _connection(self) -> http.client.HTTPConnection:
        if getattr(self, "_conn", None) is None:
            self._conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
        return self._conn

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, bytes]:
        payload = json.dumps(body).encode() if body is not None else None
        for attempt in (1, 2):  # gunicorn closes a keep-alive connection idle for 2 s: reconnect once
            conn = self._connection()
            try:
                conn.request(method, path, body=payload, headers={"Content-Type": "application/json"} if payload else {})
                response = conn.getresponse()
                return response.status, response.read()
            except (OSError, http.client.HTTPException):
                conn.close()
                self._conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def timed_post(self, path: str, body: dict) -> float:
        """Seconds for one POST, from sending to the last byte of the answer; raises unless it is a 200."""
        started = time.perf_counter()
        status, data = self.request("POST", path, body)
        elapsed = time.perf_counter() - started
        if status != 200:
            raise RuntimeError(f"POST {path} on {self.app} answered {status}: {data[:300]!r}")
        return elapsed

    def worker_pid(self) -> int:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        return int(children[0])

    def memory(self) -> dict:
        return peak_rss_mb(self.worker_pid())

    def stop(self) -> None:
        if getattr(self, "_conn", None) is not None:
            self._conn.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # our own gunicorn master, by its pid
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def percentiles(seconds: list[float]) -> dict:
    ms = np.asarray(seconds) * 1000
    return {"n": len(ms), "p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p99_ms": round(float(np.percentile(ms, 99)), 2), "mean_ms": round(float(ms.mean()), 2)}


def query_texts(n: int) -> list[str]:
    """``n`` distinct free-text queries as researchers type them: the labelled dev briefs (median 48 words) and
    the corpus briefs' titles (median 9 words), alternating, each with a request number appended so no two
    requests repeat (no query-cache hits unless a benchmark wants them). Stored projects are matched by id, and
    their long texts are then the same on every request: the query cache's case, measured separately."""
    from corpus.loaders import default_data_dir, load_projects

    titles = [p.title for p in load_projects(default_data_dir())]
    briefs_file = default_data_dir() / "evaluation" / "dev-briefs.jsonl"
    briefs = [json.loads(line)["text"] for line in briefs_file.read_text().splitlines() if line.strip()] \
        if briefs_file.exists() else titles
    base = [text for pair in zip(briefs, titles) for text in pair]
    return [f"{base[i % len(base)]} (request {i})" for i in range(n)]


def table(title: str, header: list[str], rows: list[list]) -> str:
    """A plain-text table (what ``make bench`` prints)."""
    cells = [[str(c) for c in row] for row in [header, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = [title, "  ".join(h.ljust(w) for h, w in zip(cells[0], widths)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))) for row in cells[1:]]
    return "\n".join(lines)
