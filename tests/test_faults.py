"""Faults: a killed server, a corrupt or missing index file, a missing model, a full disk during an index save.

The killed-server tests run the real thing: gunicorn (as `matcher serve` starts it) over a SQLite database, with
the fake embedder, killed with SIGKILL mid-write, then restarted on the same data directory.
"""

from __future__ import annotations

import errno
import http.client
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from embeddings import FakeEmbedder
from matcher import MatchRequest, ModelLoadError, Organisation, PartnerMatcher, Settings
from tests.conftest import FIXTURE_CORPUS

KEY = "fault-key"
ROOT = Path(__file__).resolve().parent.parent


def _call(port: int, method: str, path: str, body=None, timeout: float = 30.0) -> tuple[int, dict | None]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json", "X-API-Key": KEY})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


class Server:
    """gunicorn serving the app on a free port over ``data_dir``; ``kill()`` is SIGKILL to master and workers.

    The server's log goes to ``data_dir/../gunicorn.log`` (or ``PM_TEST_SERVER_LOG``), and its tail is in the error
    when the server does not become ready, so a failure on a CI machine says why."""

    def __init__(self, data_dir: Path, workers: int = 1):
        env = {k: v for k, v in os.environ.items() if not k.startswith("PM_")}
        # Port 0: gunicorn binds a port the system picks, and says which in its log. (A port found free here and
        # bound by gunicorn later could be taken in between, by any connection's local end.)
        env.update(PM_DATA_DIR=str(data_dir), PM_CORPUS_DIR=str(FIXTURE_CORPUS), PM_MODEL="fake", PM_LOG_LEVEL="info",
                   PM_API_KEYS=KEY, PM_RATE_LIMIT="", HOST="127.0.0.1", PORT="0", WEB_CONCURRENCY=str(workers))
        self.log = Path(os.environ.get("PM_TEST_SERVER_LOG") or Path(data_dir).parent / "gunicorn.log")
        start = self.log.stat().st_size if self.log.exists() else 0  # a restarted server appends to the same log
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "service" / "gunicorn.conf.py"), "service:create_app()"],
                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
        deadline = time.monotonic() + 60
        ready: set[int] = set()  # workers that said ready: each loads its own index, and any may still be loading
        last = "no answer"
        self.port = None
        while time.monotonic() < deadline and self.process.poll() is None:
            if self.port is None:
                with open(self.log, "rb") as log:
                    log.seek(start)
                    found = re.search(rb"Listening at: http://127\.0\.0\.1:(\d+)", log.read())
                if not found:
                    time.sleep(0.1)
                    continue
                self.port = int(found.group(1))
            try:
                status, body = _call(self.port, "GET", "/readyz", timeout=2)
                last = f"{status} {body}"
                if status == 200:
                    ready.add(body["worker"])
                    if len(ready) == workers:
                        return
            except (OSError, http.client.HTTPException) as e:
                last = f"{type(e).__name__}: {e}"
            time.sleep(0.1)  # also lets another worker take the next connection
        exited = self.process.poll()
        self.kill()
        tail = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
        raise RuntimeError(f"the server {'exited' if exited is not None else 'was not ready within 60 s'} (exit code "
                           f"{exited}; port {self.port}; workers ready: {len(ready)} of "
                           f"{workers}; last /readyz: {last}); its log ends:\n{tail}")

    def kill(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:  # it had already exited
            pass
        self.process.wait(timeout=30)


def _org(i: int, prefix: str = "fx-kill") -> dict:
    return {"id": f"{prefix}-{i}", "name": f"Fixture Kill Test {i}", "country": "GB", "org_type": "rto",
            "description": f"Fixture record {i}: recovers indium from flat panel displays by solvent route {i}.",
            "sources": [{"ref": "https://example.org/fixture"}]}


def _integrity(data_dir: Path) -> str:
    with sqlite3.connect(data_dir / "partner-matcher.db") as connection:
        return connection.execute("PRAGMA integrity_check").fetchone()[0]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigkill_during_writes_loses_no_acknowledged_write(tmp_path):
    data_dir = tmp_path / "var"
    server = Server(data_dir)
    acknowledged: list[str] = []
    stop = threading.Event()

    def write() -> None:
        i = 0
        while not stop.is_set():
            try:
                status, _ = _call(server.port, "POST", "/v1/organisations", _org(i), timeout=10)
            except (OSError, http.client.HTTPException):
                return  # the server is gone (a response cut off mid-body is not an acknowledgement)
            if status == 201:
                acknowledged.append(f"fx-kill-{i}")
            i += 1

    writer = threading.Thread(target=write)
    writer.start()
    while len(acknowledged) < 15 and writer.is_alive():
        time.sleep(0.01)
    server.kill()  # mid-stream: a write is (very likely) in flight
    stop.set()
    writer.join()
    assert len(acknowledged) >= 15
    assert _integrity(data_dir) == "ok"

    again = Server(data_dir)
    try:
        for oid in acknowledged:
            assert _call(again.port, "GET", f"/v1/organisations/{oid}")[0] == 200, oid
        last = acknowledged[-1].rsplit("-", 1)[1]
        status, body = _call(again.port, "POST", "/v1/match",
                             {"text": f"indium from flat panel displays solvent route {last}", "k": 3})
        assert status == 200 and acknowledged[-1] in [r["organisation"]["id"] for r in body["results"]]
    finally:
        again.kill()


def test_sigkill_during_an_import_writes_all_or_nothing(tmp_path):
    data_dir = tmp_path / "var"
    server = Server(data_dir)
    records = [_org(i, "fx-bulk") for i in range(3000)]
    outcome: list = []

    def send() -> None:
        try:
            outcome.append(_call(server.port, "POST", "/v1/import", {"organisations": records}, timeout=60)[0])
        except (OSError, http.client.HTTPException) as e:  # refused, reset, or cut off mid-response
            outcome.append(e)

    sender = threading.Thread(target=send)
    sender.start()
    time.sleep(1.0)  # the import is being validated or written
    server.kill()
    sender.join()
    assert _integrity(data_dir) == "ok"
    with sqlite3.connect(data_dir / "partner-matcher.db") as connection:
        written = connection.execute("SELECT count(*) FROM organisations WHERE id LIKE 'fx-bulk-%'").fetchone()[0]
    if outcome and outcome[0] == 200:
        assert written == len(records)  # acknowledged: all there
    else:
        assert written in (0, len(records))  # cut off: all or nothing, never half


def test_a_corrupt_or_truncated_index_file_is_rebuilt_never_served(settings, fake_embedder):
    m = PartnerMatcher(settings, embedder=fake_embedder).open()
    m.ensure_index()
    path = settings.index_path
    good = path.read_bytes()
    for damaged in (good[: len(good) // 2], b"\x00" * 1024, good[:100] + b"garbage" + good[107:]):
        path.write_bytes(damaged)
        fresh = PartnerMatcher(settings, embedder=FakeEmbedder(256)).open()
        status = fresh.index_status()
        assert not status.fresh
        if damaged == b"\x00" * 1024:  # not even its metadata can be read: the status says what is wrong
            assert "damaged, or not an index file" in status.reason and "matcher build" in status.reason
        index, built = fresh.ensure_index()
        assert built and len(index) == 9  # rebuilt from the database
        assert fresh.match(MatchRequest(text="magnet recycling", k=3))["results"]
        fresh.close()
    path.unlink()
    missing = PartnerMatcher(settings, embedder=FakeEmbedder(256)).open()
    assert missing.index_status().reason == "missing" and missing.ensure_index()[1]
    m.close()
    missing.close()


def test_a_missing_model_is_a_clear_error_naming_pm_model(tmp_path):
    settings = Settings(data_dir=tmp_path / "var", corpus_dir=FIXTURE_CORPUS, model=str(tmp_path / "no-such-model"))
    with pytest.raises(ModelLoadError, match="PM_MODEL") as e:
        PartnerMatcher(settings).open().ensure_index()
    assert "no-such-model" in str(e.value)


def test_a_missing_model_is_reported_by_the_cli_and_readyz(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from matcher.cli import main
    from service import create_app

    monkeypatch.setenv("PM_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("PM_CORPUS_DIR", str(FIXTURE_CORPUS))
    monkeypatch.setenv("PM_MODEL", str(tmp_path / "no-such-model"))
    result = CliRunner().invoke(main, ["build"])
    assert result.exit_code == 1 and "PM_MODEL" in result.output and "Traceback" not in result.output
    client = create_app({"LOAD_IN_BACKGROUND": False}).test_client()
    response = client.get("/readyz")
    assert response.status_code == 503 and "PM_MODEL" in response.get_json()["error"]["message"]


def test_a_full_disk_during_an_index_save_keeps_the_previous_index_serving(settings, fake_embedder, monkeypatch):
    m = PartnerMatcher(settings, embedder=fake_embedder).open()
    m.ensure_index()
    before = settings.index_path.read_bytes()

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)  # the save fails after writing part of its temporary file
    m.save_organisation(Organisation(id="fx-disk-full", name="Disk Full Lab", country="GB", org_type="rto",
                                     description="Fixture record: germanium recovery from zinc refinery residues."))
    m.flush()
    # The write is served from memory, the saved file is the previous one, whole, and no temporary file is left.
    top = m.match(MatchRequest(text="germanium from zinc refinery residues", k=1))["results"][0]
    assert top["organisation"]["id"] == "fx-disk-full"
    assert settings.index_path.read_bytes() == before
    assert not list(settings.index_path.parent.glob(".partner-index-*"))
    # A full rebuild whose save fails still swaps in the new index and says so in the log, rather than failing.
    index, built = m.ensure_index(rebuild=True)
    assert built and m.index_ is index and settings.index_path.read_bytes() == before
    monkeypatch.undo()
    m.flush()
    restarted = PartnerMatcher(settings, embedder=FakeEmbedder(256)).open()
    assert restarted.index_status().reason == "corpus changed since the index was built"  # stale, so rebuilt
    assert "fx-disk-full" in restarted.ensure_index()[0].ids_
    m.close()
    restarted.close()
