"""``make bench``: the performance figures of the issue, printed as tables and saved as JSON.

    .venv/bin/python benchmarks/bench_perf.py [--sizes 10000 100000 1000000] [--requests 300] \\
        [--json var/bench/results.json]

Sections (each also a function, so tests can run them tiny):

0. matrix products: ONNX Runtime's fp32 and int8 kernels alone at the model's shapes (``bench_gemm.py``): how much
   int8 can gain on this CPU;
1. query encode: one query at a time, in process, torch vs ONNX fp32 vs ONNX int8, interleaved; then int8 after
   an idle gap, with ONNX Runtime's default threads and with one;
2. build: documents/s of ``--backend`` (onnx-int8) vs sentence-transformers' default torch encode on the bundled
   corpus's texts (and their cosine), a cold build of the bundled corpus, one changed profile until matchable;
3. HTTP latency on the bundled corpus: the product (gunicorn, one worker) against ``naive_service.py`` (Flask +
   ``util.semantic_search``, torch), requests interleaved one by one (the targets), then each service alone for
   reference; plus a repeated query (LRU cache hit);
4. HTTP latency, index time and peak RSS on synthetic corpora (``synthetic.py``) of each ``--sizes``;
5. ANN recall@10 of the approximate index against exact search, with and without a country filter;
6. the batch-shortlist solver (``bench_assignment.py``, 1,000 projects x 10,000 organisations);
7. brief length: a 300-word brief against a 20-word one over HTTP on the bundled corpus (target: at most 3x).

Load average (other jobs share the machine) is recorded with every section.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import bench_gemm, synthetic  # noqa: E402
from benchmarks.harness import ROOT, Server, load_average, percentiles, query_texts, table  # noqa: E402
from embeddings.base import encode_queries  # noqa: E402

TARGETS = {"p50_speedup": 3.0, "p99_speedup": 2.0, "p50_1m_ms": 50.0, "rss_1m_mb": 2560, "build_speedup": 1.5,
           "build_cosine": 0.99, "cold_build_s": 60.0, "change_s": 1.0, "recall@10": 0.95}


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    import os

    from embeddings.onnx import int8_weights

    return {"cpu": cpu, "cores": len(os.sched_getaffinity(0)), "python": platform.python_version(),
            "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
            "int8_weights": int8_weights()}  # the int8 recipe this CPU gets (see embeddings.onnx.INT8_WEIGHTS)


# ---------------------------------------------------------------------------------------------- 1. query encode
def bench_encode(n: int = 100, backends=("torch", "onnx", "onnx-int8"), export_dir: Path | None = None,
                 idle_n: int = 30, idle_gap_s: float = 0.5) -> dict:
    """Back-to-back encode per backend, then int8 after an idle gap with the default threads and with one."""
    from embeddings import load_embedder

    embedders = {b: load_embedder(None, backend=b, export_dir=export_dir) for b in backends}
    texts = query_texts(n + 5)
    for embedder in embedders.values():
        for text in texts[:5]:
            encode_queries(embedder, [text], batch_size=1)  # load, warm up
    times: dict[str, list[float]] = {b: [] for b in backends}
    for i, text in enumerate(texts[5:]):
        order = list(backends) if i % 2 == 0 else list(reversed(backends))  # interleaved, alternating order
        for backend in order:
            started = time.perf_counter()
            encode_queries(embedders[backend], [text], batch_size=1)
            times[backend].append(time.perf_counter() - started)
    out = {"load": load_average(), "backends": {b: percentiles(t) for b, t in times.items()}}
    if idle_n:
        out["after_idle"] = bench_encode_after_idle(idle_n, idle_gap_s, export_dir)
    return out


def bench_encode_after_idle(n: int, gap_s: float, export_dir: Path | None = None) -> dict:
    """int8 query encode after ``gap_s`` of idleness, as with sporadic traffic, with ONNX Runtime's threads at
    their default (the usable cores) and at one (``PM_ONNX_THREADS=1``), alternating. On this VM two threads win
    back to back and one wins after an idle gap; the tuning advice in docs/performance.md rests on these figures."""
    from embeddings import load_embedder
    from embeddings.onnx import default_threads

    settings = sorted({default_threads(), 1}, reverse=True)
    embedders = {t: load_embedder(None, backend="onnx-int8", export_dir=export_dir, threads=t) for t in settings}
    texts = query_texts(n + 6)  # alternating ~48-word briefs (even places) and ~9-word titles (odd)
    for embedder in embedders.values():
        encode_queries(embedder, texts[:6], batch_size=1)
    times = {f"{t}_{kind}": [] for t in settings for kind in ("briefs", "titles")}
    for i, text in enumerate(texts[6:]):
        for t in settings if i % 4 < 2 else settings[::-1]:
            time.sleep(gap_s)
            started = time.perf_counter()
            encode_queries(embedders[t], [text], batch_size=1)
            times[f"{t}_{'briefs' if i % 2 == 0 else 'titles'}"].append(time.perf_counter() - started)
    return {"gap_s": gap_s, "threads": settings, **{key: percentiles(t) for key, t in times.items()}}


# ---------------------------------------------------------------------------------------------- 2. build
def bench_build(export_dir: Path | None = None, limit: int | None = None, backend: str = "onnx-int8") -> dict:
    """Documents/s and cosine of ``backend`` vs torch, cold build, and one change until matchable."""
    from corpus.loaders import default_data_dir, load_organisations
    from embeddings import load_embedder
    from matcher import PartnerMatcher, Settings
    from matcher.retrieval.units import evidence_passages, unit_texts

    organisations = load_organisations(default_data_dir())
    texts = unit_texts(organisations)[0] + [p for o in organisations for p in evidence_passages(o)]
    texts = texts[:limit] if limit else texts
    torch_embedder = load_embedder(None, backend="torch")
    default = load_embedder(None, backend=backend, export_dir=export_dir)
    torch_embedder.encode(texts[:8]), default.encode(texts[:8])  # load and warm both
    runs = {"torch": [], backend: []}
    vectors = {}
    for order in ((("torch", torch_embedder), (backend, default)),
                  ((backend, default), ("torch", torch_embedder))):  # interleaved: each twice
        for name, embedder in order:
            started = time.perf_counter()
            vectors[name] = embedder.encode(texts, batch_size=32)
            runs[name].append(time.perf_counter() - started)
    cosine = (vectors["torch"] * vectors[backend]).sum(axis=1)
    docs_per_s = {name: round(len(texts) / min(seconds), 1) for name, seconds in runs.items()}
    out = {"load": load_average(), "texts": len(texts), "backend": backend, "docs_per_s": docs_per_s,
           "speedup": round(docs_per_s[backend] / docs_per_s["torch"], 2),
           "cosine_min": round(float(cosine.min()), 5), "cosine_mean": round(float(cosine.mean()), 5)}
    with tempfile.TemporaryDirectory(prefix="pm-cold-") as tmp:
        settings = Settings(data_dir=Path(tmp))
        matcher = PartnerMatcher(settings, embedder=load_embedder(None, backend=backend, export_dir=export_dir)).open()
        started = time.perf_counter()
        index, built = matcher.ensure_index()
        out["cold_build_s"] = round(time.perf_counter() - started, 1)
        out["organisations"] = len(index)
        org = organisations[0]
        changed = org.model_copy(update={"description": org.description + " It now also recovers scandium from "
                                         "red mud residues in a pilot plant."})
        started = time.perf_counter()
        matcher.save_organisation(changed)
        top = matcher.index_.rank("scandium from red mud residues pilot plant", k=3)
        out["change_s"] = round(time.perf_counter() - started, 3)
        out["change_visible"] = org.id in [m.organisation.id for m in top]
        matcher.close()
    return out


# ---------------------------------------------------------------------------------------------- 3. bundled HTTP
def bench_bundled_http(n: int = 300, data_dir: Path | None = None, backend: str = "onnx-int8") -> dict:
    """The product (on ``backend``) vs the naive service (torch), same model and organisations, requests
    interleaved one by one."""
    with tempfile.TemporaryDirectory(prefix="pm-http-") as tmp:
        data_dir = data_dir or Path(tmp)
        ours = Server("service:create_app()", env={"PM_DATA_DIR": str(data_dir), "PM_BACKEND": backend}, timeout=600,
                      product=True)
        naive = Server("benchmarks.naive_service:create_app()", timeout=600)
        servers = {"naive": naive, "product": ours}
        for server in servers.values():
            server.start(ready_path="/readyz" if server is ours else "/healthz")
        try:
            texts = query_texts(2 * n + 10)  # the second n: the one-after-the-other run, texts not seen before
            bodies = [{"text": t, "countries": [["GB"], ["CA"], []][i % 3], "k": 10} for i, t in enumerate(texts)]
            for body in bodies[:10]:
                for server in servers.values():
                    server.timed_post("/v1/match", body)
            times: dict[str, list[float]] = {name: [] for name in servers}
            for i, body in enumerate(bodies[10 : n + 10]):
                order = list(servers.items()) if i % 2 == 0 else list(reversed(servers.items()))
                for name, server in order:
                    times[name].append(server.timed_post("/v1/match", body))
            # For reference only (the targets are the interleaved figures): each service alone, all its requests
            # back to back, as when it has the machine to itself. Interleaved, each request follows ~20 ms of the
            # other service's work, and after such a gap this machine encodes a query up to twice as slowly.
            alone = {name: percentiles([server.timed_post("/v1/match", body) for body in bodies[n + 10 :]])
                     for name, server in servers.items()}
            repeated = [ours.timed_post("/v1/match", bodies[0]) for _ in range(50)]  # the query-cache path
            # query_texts alternates dev briefs (~48 words) and titles (~9 words): each kind on its own too
            by_kind = {f"{name}_{kind}": percentiles(t[start::2]) for name, t in times.items()
                       for kind, start in (("briefs", 0), ("titles", 1))}
            out = {"load": load_average(), "requests": n, "backend": backend,
                   **{name: percentiles(t) for name, t in times.items()},
                   "by_kind": by_kind,
                   "product_repeated_query": percentiles(repeated),
                   "one_after_the_other": {
                       **alone, "p50_speedup": round(alone["naive"]["p50_ms"] / alone["product"]["p50_ms"], 2),
                       "p99_speedup": round(alone["naive"]["p99_ms"] / alone["product"]["p99_ms"], 2)},
                   "memory": {name: server.memory() for name, server in servers.items()}}
        finally:
            for server in servers.values():
                server.stop()
    out["p50_speedup"] = round(out["naive"]["p50_ms"] / out["product"]["p50_ms"], 2)
    out["p99_speedup"] = round(out["naive"]["p99_ms"] / out["product"]["p99_ms"], 2)
    return out


# ---------------------------------------------------------------------------------------------- 7. brief length
GTR_SAMPLE = ROOT.parent / "shared" / "data" / "gtr_circular_economy_sample.csv"


def brief_length_texts(path: Path = GTR_SAMPLE, long_words: int = 300, short_words: int = 20) -> tuple[list, list]:
    """Real project summaries (the GtR abstracts in shared data) cut to ``long_words`` (the first and the last
    ``long_words`` of each abstract that long, so every text is new to the caches) and, from every abstract, its
    first ``short_words``."""
    import csv

    with path.open(newline="", encoding="utf-8") as handle:
        abstracts = [row["abstract"].split() for row in csv.DictReader(handle)]
    long = [" ".join(w[:long_words]) for w in abstracts if len(w) >= long_words]
    long += [" ".join(w[-long_words:]) for w in abstracts if len(w) > long_words]
    short = [" ".join(w[:short_words]) for w in abstracts if len(w) >= short_words]
    return long, short


def bench_brief_length(data_dir: Path | None = None, backend: str = "onnx-int8") -> dict:
    """Answer time of ``/v1/match`` for 300-word and 20-word briefs, interleaved one by one on one server (a new
    text every request: the analysis and the query vectors are computed each time; one round, since a long text
    sent again, even changed, would find its passages' vectors in the query cache)."""
    if not GTR_SAMPLE.exists():
        return {"skipped": f"{GTR_SAMPLE} is absent (the shared data folder beside the project)"}
    long, short = brief_length_texts()
    pairs = min(len(long), len(short) - 5)
    with tempfile.TemporaryDirectory(prefix="pm-len-") as tmp:
        server = Server("service:create_app()", env={"PM_DATA_DIR": str(data_dir or tmp), "PM_BACKEND": backend},
                        timeout=600, product=True).start(ready_path="/readyz")
        try:
            for text in short[-5:]:  # warm-up, texts not measured
                server.timed_post("/v1/match", {"text": text, "k": 10})
            times: dict[str, list[float]] = {"words_300": [], "words_20": []}
            for i in range(pairs):
                bodies = [("words_300", long[i]), ("words_20", short[i])]
                for name, text in bodies if i % 2 == 0 else reversed(bodies):
                    times[name].append(server.timed_post("/v1/match", {"text": text, "k": 10}))
        finally:
            server.stop()
    out = {"load": load_average(), **{name: percentiles(t) for name, t in times.items()}}
    out["p50_ratio"] = round(out["words_300"]["p50_ms"] / out["words_20"]["p50_ms"], 2)
    out["mean_ratio"] = round(out["words_300"]["mean_ms"] / out["words_20"]["mean_ms"], 2)
    return out


# ---------------------------------------------------------------------------------------------- 4. synthetic HTTP
def bench_synthetic_http(size: int, n: int = 300, model: str | None = None, backend: str = "onnx-int8") -> dict:
    with tempfile.TemporaryDirectory(prefix="pm-syn-") as tmp:
        report = Path(tmp) / "report.json"
        server = Server(f"benchmarks.synthetic_app:create({size}, {model!r}, {backend!r})", timeout=3600,
                        env={"BENCH_REPORT": str(report), "BENCH_DATA_DIR": tmp}, product=True)
        started = time.perf_counter()
        server.start(ready_path="/readyz", wait=3600)
        ready_s = time.perf_counter() - started
        try:
            texts = query_texts(2 * n + 10)  # the second n: the one-after-the-other run, texts not seen before
            bodies = [{"text": t, "countries": [["GB"], ["CA"], []][i % 3], "k": 10} for i, t in enumerate(texts)]
            for body in bodies[:10]:
                server.timed_post("/v1/match", body)
            times = [server.timed_post("/v1/match", body) for body in bodies[10:]]
            by_filter = {name: percentiles([t for t, b in zip(times, bodies[10:]) if b["countries"] == value])
                         for name, value in (("GB", ["GB"]), ("CA", ["CA"]), ("none", []))}
            out = {"load": load_average(), "backend": backend, **json.loads(report.read_text()),
                   "ready_s": round(ready_s, 1),
                   **percentiles(times), "by_filter": by_filter, **server.memory()}
        finally:
            server.stop()
    return out


# ---------------------------------------------------------------------------------------------- 5. ANN recall
def bench_recall(size: int, n_queries: int = 200, query_embedder=None, seed: int = 0, backend: str = "onnx-int8") -> dict:
    """recall@10 of the approximate unit search (production defaults) against exact search on the same vectors."""
    import faiss

    from embeddings import load_embedder
    from matcher.retrieval.approximate import ApproximateVectors

    query_embedder = query_embedder or load_embedder(None, backend=backend)
    documents = synthetic.vocab_embedder(query_embedder, seed=seed)
    texts, countries = [], []
    for org in synthetic.organisations(size, seed=seed):
        texts.append(org.profile_text())
        countries.append(org.country)
    vectors = documents.encode(texts)
    del texts
    countries = np.array(countries)
    started = time.perf_counter()
    approximate = ApproximateVectors.build(vectors)
    build_s = time.perf_counter() - started
    exact = faiss.IndexFlatIP(vectors.shape[1])
    exact.add(vectors)
    del vectors
    # The service's queries: free-text briefs through the real model (random word salads would be nearer to
    # thousands of synthetic profiles at once, a tie no ranking cares about).
    queries = encode_queries(query_embedder, query_texts(n_queries), batch_size=32).astype(np.float32)
    out = {"organisations": size, "nlist": int(approximate.base.nlist), "nprobe": int(approximate.nprobe),
           "build_s": round(build_s, 1), "queries": len(queries), "filters": {}}
    for name, allowed in (("none", np.ones(size, dtype=bool)), ("country GB", countries == "GB")):
        bitmap = np.packbits(allowed, bitorder="little")
        share = float(allowed.mean())
        selector = faiss.IDSelectorBitmap(size, faiss.swig_ptr(bitmap))
        recalls, ann_s, exact_s = [], [], []
        for q in queries:
            started = time.perf_counter()
            _, want = exact.search(q[None, :], 10, params=faiss.SearchParameters(sel=selector))
            exact_s.append(time.perf_counter() - started)
            started = time.perf_counter()
            got, _, _, _ = approximate.search(q, 10, bitmap, share, np.zeros(0, dtype=bool))
            ann_s.append(time.perf_counter() - started)
            recalls.append(len(set(want[0].tolist()) & set(got.tolist())) / 10)
        out["filters"][name] = {"recall@10": round(float(np.mean(recalls)), 4),
                                "ann_ms": percentiles(ann_s)["p50_ms"], "exact_ms": percentiles(exact_s)["p50_ms"]}
    out["load"] = load_average()
    return out


# ---------------------------------------------------------------------------------------------- 6. shortlists
def bench_shortlist(projects: int = 1000, organisations: int = 10000) -> dict:
    from benchmarks.bench_assignment import run

    report = run(projects, organisations, 0)
    return {"load": load_average(), "projects": projects, "organisations": organisations,
            **{row["method"]: row.get("seconds") for row in report["results"]}}


# ---------------------------------------------------------------------------------------------- report
def print_report(results: dict) -> None:
    t = TARGETS
    m = results["machine"]
    print(f"\nMachine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB, Python {m['python']}"
          + (f", int8 weights {m['int8_weights']}" if "int8_weights" in m else ""))
    if "gemm" in results:
        g = results["gemm"]
        print(table(f"\nONNX Runtime matrix products alone, (rows x {g['k']}) @ ({g['k']} x {g['n']}): int8 pays only where it "
                    f"outruns fp32 (int8 weights {g['int8_weights']})", ["kernel", "threads", "rows", "GMAC/s", "us"],
                    [[r["kernel"], r["threads"], r["rows"], r["gmac_per_s"], r["us"]] for r in g["results"]]))
    if "encode" in results:
        e = results["encode"]
        print(table(f"\nQuery encode, one query, in process (load {e['load']})", ["backend", "p50 ms", "p99 ms"],
                    [[b, r["p50_ms"], r["p99_ms"]] for b, r in e["backends"].items()]))
        if "after_idle" in e:
            a = e["after_idle"]
            print(table(f"\nint8 query encode after {a['gap_s']} s idle (sporadic traffic), by PM_ONNX_THREADS",
                        ["threads", "briefs p50 ms", "briefs p99 ms", "titles p50 ms", "titles p99 ms"],
                        [[t, a[f"{t}_briefs"]["p50_ms"], a[f"{t}_briefs"]["p99_ms"], a[f"{t}_titles"]["p50_ms"],
                          a[f"{t}_titles"]["p99_ms"]] for t in a["threads"]]))
    if "build" in results:
        b = results["build"]
        print(table(f"\nBuild (bundled corpus, {b['texts']} texts; load {b['load']})", ["figure", "value", "target"], [
            ["torch docs/s", b["docs_per_s"]["torch"], ""],
            [f"{b['backend']} docs/s", b["docs_per_s"][b["backend"]], ""],
            ["speed-up", b["speedup"], f">= {t['build_speedup']}"],
            ["cosine to torch (min / mean)", f"{b['cosine_min']} / {b['cosine_mean']}", f">= {t['build_cosine']}"],
            ["cold build of the bundled corpus, s", b["cold_build_s"], f"<= {t['cold_build_s']}"],
            ["one changed profile until matchable, s", b["change_s"], f"<= {t['change_s']}"],
        ]))
    if "bundled_http" in results:
        h = results["bundled_http"]
        rows = [[name, h[name]["p50_ms"], h[name]["p99_ms"], h["memory"][name]["peak_rss_mb"]]
                for name in ("naive", "product")]
        rows.append(["product, repeated query", h["product_repeated_query"]["p50_ms"],
                     h["product_repeated_query"]["p99_ms"], ""])
        rows.append(["speed-up (naive / product)", h["p50_speedup"], h["p99_speedup"], ""])
        for kind in ("briefs", "titles"):
            naive, ours = h["by_kind"][f"naive_{kind}"], h["by_kind"][f"product_{kind}"]
            rows.append([f"  {kind} only: naive / product p50", f"{naive['p50_ms']} / {ours['p50_ms']}",
                         f"{naive['p99_ms']} / {ours['p99_ms']}", ""])
        if "one_after_the_other" in h:  # reference, not the target: each service alone, back to back
            alone = h["one_after_the_other"]
            rows.append(["not interleaved: naive / product", f"{alone['naive']['p50_ms']} / {alone['product']['p50_ms']}",
                         f"{alone['naive']['p99_ms']} / {alone['product']['p99_ms']}", ""])
            rows.append(["  speed-up, not interleaved (reference)", alone["p50_speedup"], alone["p99_speedup"], ""])
        print(table(f"\nPOST /v1/match, bundled corpus, k=10 with explanations, {h['requests']} interleaved requests, "
                    f"product on {h.get('backend', '?')} (load {h['load']}); targets: p50 >= {t['p50_speedup']}x, "
                    f"p99 >= {t['p99_speedup']}x",
                    ["service", "p50 ms", "p99 ms", "peak RSS MB"], rows))
    if results.get("synthetic"):
        print(table("\nPOST /v1/match, synthetic corpora, one gunicorn worker; 1M targets: p50 <= "
                    f"{t['p50_1m_ms']:.0f} ms, peak RSS <= {t['rss_1m_mb']} MB",
                    ["organisations", "index", "index s", "p50 ms", "p99 ms", "p50 GB / CA / none", "peak RSS MB",
                     "RSS MB", "records MB", "load"],
                    [[f"{r['organisations']:,}", r["mode"], r["index_seconds"], r["p50_ms"], r["p99_ms"],
                      " / ".join(str(r["by_filter"][f]["p50_ms"]) for f in ("GB", "CA", "none"))
                      if "by_filter" in r else "", r["peak_rss_mb"], r["rss_mb"], r.get("records_mb", ""), r["load"]]
                     for r in results["synthetic"]]))
    if results.get("recall"):
        rows = []
        for r in results["recall"]:
            for name, f in r["filters"].items():
                rows.append([f"{r['organisations']:,}", f"{r['nlist']}/{r['nprobe']}", name, f["recall@10"],
                             f["ann_ms"], f["exact_ms"]])
        print(table(f"\nANN recall@10 vs exact (IVF-SQ8; target >= {t['recall@10']})",
                    ["organisations", "nlist/nprobe", "filter", "recall@10", "ANN ms", "exact ms"], rows))
    if "brief_length" in results:
        b = results["brief_length"]
        if "skipped" in b:
            print(f"\nBrief length: skipped, {b['skipped']}")
        else:
            print(table(f"\nBrief length over HTTP, real GtR summaries, interleaved (load {b['load']}; target: 300 words "
                        "at most 3x 20 words)", ["brief", "n", "p50 ms", "p99 ms", "mean ms"],
                        [[name, b[name]["n"], b[name]["p50_ms"], b[name]["p99_ms"], b[name]["mean_ms"]]
                         for name in ("words_20", "words_300")]))
            print(f"ratio 300/20 words: p50 {b['p50_ratio']}x, mean {b['mean_ratio']}x")
    if "shortlist" in results:
        s = results["shortlist"]
        print(table(f"\nBatch shortlist solver, {s['projects']:,} projects x {s['organisations']:,} organisations "
                    f"(load {s['load']})", ["method", "seconds"],
                    [[k, v] for k, v in s.items() if k not in ("load", "projects", "organisations")]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--recall-sizes", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--backend", default="onnx-int8", choices=["torch", "onnx", "onnx-int8"],
                        help="the product's embedding backend in every section (the naive service is always torch)")
    parser.add_argument("--only", nargs="*", choices=["gemm", "encode", "build", "bundled_http", "synthetic", "recall",
                                                      "shortlist", "brief_length"],
                        help="run only these sections")
    parser.add_argument("--json", type=Path, default=Path("var/bench/results.json"))
    args = parser.parse_args(argv)
    chosen = set(args.only or ["gemm", "encode", "build", "bundled_http", "synthetic", "recall", "shortlist",
                               "brief_length"])
    results: dict = {"machine": machine(), "started": time.strftime("%Y-%m-%d %H:%M:%S"), "load_start": load_average()}
    backend = args.backend
    results["backend"] = backend
    steps = [("gemm", bench_gemm.run), ("encode", lambda: bench_encode(n=args.requests // 3)),
             ("build", lambda: bench_build(backend=backend)),
             ("bundled_http", lambda: bench_bundled_http(n=args.requests, backend=backend)),
             ("synthetic", lambda: [bench_synthetic_http(size, n=args.requests, backend=backend) for size in args.sizes]),
             ("recall", lambda: [bench_recall(size, backend=backend) for size in args.recall_sizes]),
             ("shortlist", bench_shortlist), ("brief_length", lambda: bench_brief_length(backend=backend))]
    for name, step in steps:
        if name in chosen:
            started = time.perf_counter()
            print(f"[{time.strftime('%H:%M:%S')}] {name}…", file=sys.stderr, flush=True)
            results[name] = step()
            results.setdefault("seconds", {})[name] = round(time.perf_counter() - started, 1)
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(results, indent=2))  # after every section: partial runs keep figures
    print_report(results)
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
