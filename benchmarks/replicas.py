"""A service replica for the deployment benchmarks: `matcher serve` as a real start (its own process, data folder
and port; PM_* settings as the environment gives them), timed from the start to its first 200 on /readyz."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class Replica:
    def __init__(self, data_dir: Path, port: int, env: dict[str, str], *, workers: int = 1,
                 models_from: Path | None = None) -> None:
        """``models_from``: a PM_DATA_DIR/models folder to copy in first, so the ONNX export is not made again."""
        self.data_dir, self.port, self.workers = Path(data_dir), port, workers
        if models_from is not None and not (self.data_dir / "models").exists():
            shutil.copytree(models_from, self.data_dir / "models")
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), "PM_DATA_DIR": str(data_dir), "PM_RATE_LIMIT": "",
                    "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1", **env}
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 7200) -> float:
        """Start and wait until every worker answers /readyz; returns the seconds that took."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.data_dir / "replica.log", "ab")
        started = time.perf_counter()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "matcher.cli", "serve", "--port", str(self.port), "--workers", str(self.workers)],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        ready: set[int] = set()
        while time.perf_counter() - started < timeout:
            if self.process.poll() is not None:
                raise RuntimeError(f"the replica exited with {self.process.returncode}; see {self.data_dir}/replica.log")
            try:
                status, body = self.call("GET", "/readyz", timeout=5)
                if status == 200:
                    ready.add(body["worker"])
                    if len(ready) == self.workers:
                        return time.perf_counter() - started
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"the replica was not ready after {timeout:.0f} s; see {self.data_dir}/replica.log")

    def call(self, method: str, path: str, body=None, *, timeout: float = 600,
             headers: dict | None = None) -> tuple[int, dict]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request(method, path, body=json.dumps(body) if body is not None else None,
                               headers={"Content-Type": "application/json", **(headers or {})})
            response = connection.getresponse()
            raw = response.read()
            return response.status, json.loads(raw) if raw else {}
        finally:
            connection.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # our own replica's process group (master and workers)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
