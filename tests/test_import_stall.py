"""Writes don't stall reads: while an import is embedded and indexed, matches are answered from the current index
and /readyz answers; a second replica on the same database picks the import up from the shared embedding cache."""

from __future__ import annotations

import threading
import time

import numpy as np

from benchmarks import synthetic
from embeddings import FakeEmbedder
from matcher import PartnerMatcher, Settings
from service import create_app
from tests.conftest import FIXTURE_CORPUS

IMPORTED = 300


class SlowEmbedder(FakeEmbedder):
    """The fake embedder at a model's pace when ``delay`` (seconds per text) is set: an import takes seconds."""

    delay = 0.0

    def encode(self, texts: list[str], *, batch_size: int = 32, show_progress: bool = False) -> np.ndarray:
        if self.delay and len(texts) > 1:  # index texts; a single query text stays fast
            time.sleep(self.delay * len(texts))
        return super().encode(texts, batch_size=batch_size, show_progress=show_progress)


def _timed(call) -> tuple[float, object]:
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


def test_matches_and_readiness_are_answered_during_an_import(tmp_path):
    writer_embedder = SlowEmbedder(dim=256)
    writer = PartnerMatcher(Settings(data_dir=tmp_path / "a", corpus_dir=FIXTURE_CORPUS),
                            embedder=writer_embedder).open()
    writer.ensure_index()
    before = len(writer.index_ or ())
    # A second replica: its own data folder, the same database.
    replica_embedder = FakeEmbedder(dim=256)
    replica = PartnerMatcher(Settings(data_dir=tmp_path / "b", corpus_dir=FIXTURE_CORPUS,
                                      database_url=writer.settings.resolved_database_url),
                             embedder=replica_embedder).open()
    replica.ensure_index()
    apps = [create_app({"MATCHER": m, "RATE_LIMIT": "", "LOAD_IN_BACKGROUND": False}) for m in (writer, replica)]
    clients = [a.test_client() for a in apps]
    organisations = list(synthetic.organisations(IMPORTED, seed=24))
    writer_embedder.delay = 0.01  # about 3 s of embedding for the import's profiles alone

    importing = threading.Thread(target=writer.import_records, args=(organisations, []))
    import_started = time.perf_counter()
    importing.start()
    slowest = {"match": 0.0, "readyz": 0.0}
    statuses: list[int] = []
    try:
        while importing.is_alive():
            for client in clients:
                seconds, response = _timed(lambda: client.post("/v1/match", json={"text": "lithium brine", "k": 3}))
                statuses.append(response.status_code)
                slowest["match"] = max(slowest["match"], seconds)
                seconds, response = _timed(lambda: client.get("/readyz"))
                statuses.append(response.status_code)
                slowest["readyz"] = max(slowest["readyz"], seconds)
            time.sleep(0.02)
    finally:
        importing.join()
    import_seconds = time.perf_counter() - import_started

    assert import_seconds > 2.0  # the import really took a while, so the latencies below mean something
    assert set(statuses) == {200}
    assert slowest["match"] < 1.0 and slowest["readyz"] < 1.0, (slowest, import_seconds)
    # Acknowledged: matchable through the replica that took it at once...
    assert len(writer.current_index()) == before + IMPORTED
    # ...and through the other, which applies it in the background, reading every vector from the shared cache.
    embedded_before = replica_embedder.texts_encoded
    deadline = time.monotonic() + 30
    while len(replica.current_index()) != before + IMPORTED and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(replica.current_index()) == before + IMPORTED
    assert replica_embedder.texts_encoded - embedded_before <= 1  # at most a query's text; no profile re-embedded
    found = clients[1].post("/v1/match", json={"text": organisations[7].description, "k": 3}).get_json()
    assert organisations[7].id in [r["organisation"]["id"] for r in found["results"]]
    for m in (writer, replica):
        m.close()
