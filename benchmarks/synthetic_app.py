"""The real service (``service.create_app``) over a synthetic corpus of N organisations, for scale benchmarks.

Loaded by gunicorn in its worker, so the worker's peak RSS covers generating, indexing and serving:

    BENCH_REPORT=/tmp/r.json .venv/bin/gunicorn -w 1 --threads 4 --timeout 1800 \\
        'benchmarks.synthetic_app:create(100000)'

The index is the product's ``PartnerIndex`` with its default settings (exact below 50k search units, IVF above);
only the document vectors are precomputed (``benchmarks.synthetic.VocabEmbedder``), queries are encoded by the
real model with the default backend. The database holds the bundled corpus only (the synthetic organisations live
in the index), so every request also pays the per-request change-log check, as in production.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path


def create(size: int, model: str | None = None, backend: str | None = None):
    """The app over ``size`` synthetic organisations; ``model`` encodes queries on ``backend`` (default: the
    bundled model on the default backend; tests pass ``"fake:384"``)."""
    from benchmarks import synthetic
    from corpus.loaders import default_data_dir, load_challenges
    from embeddings import load_embedder
    from matcher import PartnerMatcher, Settings
    from matcher import PartnerIndex
    from service import create_app

    started = time.perf_counter()
    data_dir = Path(os.environ.get("BENCH_DATA_DIR") or tempfile.mkdtemp(prefix="pm-synthetic-"))
    queries = load_embedder(model, backend=backend, export_dir=os.environ.get("BENCH_MODELS_DIR") or None)
    settings = Settings(data_dir=data_dir, corpus_dir=default_data_dir())
    matcher = PartnerMatcher(settings, embedder=queries).open()
    embedder = synthetic.SyntheticCorpusEmbedder(synthetic.vocab_embedder(queries), queries)
    index = PartnerIndex(embedder, diversity=settings.diversity, weak_below=None)
    generated = time.perf_counter()
    # A generator: records stream into the index's compressed table, never all held as objects at once.
    index.fit(synthetic.organisations(size), load_challenges(settings.resolved_corpus_dir))
    matcher.index_, matcher.synced_seq_ = index, matcher.store_.last_change()
    index.encode_query("warm up")
    report = {"organisations": size, "mode": index.dense_.mode, "search_units": index.layout_.n_units,
              "evidence_sentences": index.layout_.n_passages,
              "records_mb": round(index.organisations_.nbytes / 2**20, 1),
              "start_seconds": round(generated - started, 1),
              "index_seconds": round(time.perf_counter() - generated, 1)}  # generating the records included
    report.update(index.dense_.parameters())  # IVF: its lists and lists scanned
    if os.environ.get("BENCH_REPORT"):
        Path(os.environ["BENCH_REPORT"]).write_text(json.dumps(report))
    return create_app({"MATCHER": matcher, "RATE_LIMIT": ""})
