"""Writes don't stall reads: match latency and /readyz while `POST /v1/import` adds 1,500 organisations.

Starts `matcher serve --workers 2` (bundled corpus; the bundled model unless --model) in a temporary data folder,
measures match latency from two clients for --idle-seconds, then imports --orgs synthetic organisations
(benchmarks/synthetic.py; in the temporary database only) while the same two clients keep matching and a third
asks /readyz every 0.1 s, until the import has returned and --tail-seconds more (the other worker applies the
import in the background then). Prints idle p99, p99 during the import, their ratio, and /readyz's slowest answer.
Bounded: about idle + import + tail seconds.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_import_stall.py [--orgs 1500] [--model fake] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import synthetic  # noqa: E402
from benchmarks.harness import free_port, load_average, percentiles, query_texts  # noqa: E402
from benchmarks.replicas import Replica  # noqa: E402

KEY = "bench-import-key"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=1500)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--model", default=None, help="PM_MODEL (default: the bundled model); 'fake' for no model")
    parser.add_argument("--idle-seconds", type=float, default=15)
    parser.add_argument("--tail-seconds", type=float, default=5)
    parser.add_argument("--port", type=int, default=None, help="default: a free one")
    parser.add_argument("--models-from", type=Path, default=None,
                        help="a PM_DATA_DIR/models folder to copy in (spares the ONNX export of the model)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    env = {"PM_API_KEYS": KEY, **({"PM_MODEL": args.model} if args.model else {})}
    with tempfile.TemporaryDirectory(prefix="pm-bench-import-") as tmp:
        replica = Replica(Path(tmp) / "data", args.port or free_port(), env, workers=args.workers,
                          models_from=args.models_from)
        print(f"starting matcher serve --workers {args.workers} …", file=sys.stderr)
        replica.start()
        texts = iter(query_texts(100_000))
        lock = threading.Lock()

        def next_text() -> str:
            with lock:
                return next(texts)

        def matcher_client(into: list, errors: list, stop: threading.Event) -> None:
            while not stop.is_set():
                started = time.perf_counter()
                status, _ = replica.call("POST", "/v1/match", {"text": next_text(), "k": 10}, timeout=120)
                (into if status == 200 else errors).append(time.perf_counter() - started if status == 200 else status)

        def run_clients(seconds: float | None, until: threading.Event | None = None) -> tuple[list, list, list]:
            latencies: list[float] = []
            errors: list = []
            readyz: list[float] = []
            stop = threading.Event()

            def poll_readyz() -> None:
                while not stop.is_set():
                    started = time.perf_counter()
                    status, _ = replica.call("GET", "/readyz", timeout=120)
                    readyz.append(time.perf_counter() - started)
                    if status != 200:
                        errors.append(f"readyz {status}")
                    time.sleep(0.1)

            threads = [threading.Thread(target=matcher_client, args=(latencies, errors, stop)) for _ in range(2)]
            threads.append(threading.Thread(target=poll_readyz))
            for t in threads:
                t.start()
            if until is not None:
                until.wait()
            if seconds:
                time.sleep(seconds)
            stop.set()
            for t in threads:
                t.join()
            return latencies, errors, readyz

        try:
            for text in query_texts(10):  # warm each worker's query path once
                replica.call("POST", "/v1/match", {"text": text, "k": 10})
            idle, idle_errors, idle_readyz = run_clients(args.idle_seconds)
            organisations = [o.model_dump(mode="json") for o in synthetic.organisations(args.orgs, seed=1500)]
            done = threading.Event()
            outcome: dict = {}

            def do_import() -> None:
                started = time.perf_counter()
                outcome["status"], outcome["body"] = replica.call(
                    "POST", "/v1/import", {"organisations": organisations}, headers={"X-API-Key": KEY}, timeout=3600)
                outcome["seconds"] = time.perf_counter() - started
                done.set()

            importer = threading.Thread(target=do_import)
            importer.start()
            during, during_errors, during_readyz = run_clients(args.tail_seconds, until=done)
            importer.join()
        finally:
            replica.stop()

    idle_p, during_p = percentiles(idle), percentiles(during)
    result = {
        "orgs": args.orgs, "workers": args.workers, "model": args.model or "bundled",
        "import_status": outcome.get("status"), "import_seconds": round(outcome.get("seconds", 0), 1),
        "idle": idle_p, "during_import": during_p,
        "p99_ratio": round(during_p["p99_ms"] / idle_p["p99_ms"], 2),
        "readyz_max_ms": round(max(during_readyz + idle_readyz) * 1000, 1),
        "errors": idle_errors + during_errors, "load_average_after": load_average(),
    }
    print(f"import of {args.orgs} organisations: status {result['import_status']}, {result['import_seconds']} s")
    print(f"match idle:          p50 {idle_p['p50_ms']} ms, p99 {idle_p['p99_ms']} ms ({idle_p['n']} requests)")
    print(f"match during import: p50 {during_p['p50_ms']} ms, p99 {during_p['p99_ms']} ms ({during_p['n']} requests)")
    print(f"p99 during / idle:   {result['p99_ratio']}x")
    print(f"/readyz slowest:     {result['readyz_max_ms']} ms; errors: {len(result['errors'])}; "
          f"load average after: {result['load_average_after']}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    if result["errors"] or result["import_status"] != 200:
        sys.exit(1)


if __name__ == "__main__":
    main()
