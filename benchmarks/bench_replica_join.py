"""A replica joining a large deployment: seconds from `matcher serve` to /readyz, cold build vs warm shared cache.

Fills a fresh PostgreSQL schema with --orgs synthetic organisations (benchmarks/synthetic.py; they exist only in
that schema, dropped at the end) and the bundled corpus's projects, then starts, one after the other, each with
its own empty data folder and the same database:

- cold: the first replica: embeds every profile, document and evidence sentence (into the database's embedding
  cache) and builds the index;
- warm: a replica joining afterwards: no index file of its own, every vector read back from the shared cache;
- restart: the first replica's data folder again: its saved index is current, so it is only loaded.

The database: --database-url (a PostgreSQL server URL), else scripts/postgres.sh's test server
(PM_PG_PORT). --model fake (the default) is the hashing embedder, so 100,000 organisations build in minutes;
--model bundled is the real model (slow on a shared 2-core machine: use a smaller --orgs).

    PYTHONPATH=. .venv/bin/python benchmarks/bench_replica_join.py [--orgs 100000] [--model fake|bundled]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, func, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from benchmarks import synthetic  # noqa: E402
from benchmarks.harness import free_port, load_average  # noqa: E402
from benchmarks.replicas import Replica  # noqa: E402
from corpus.loaders import default_data_dir, load_projects  # noqa: E402
from matcher.storage import Store  # noqa: E402
from matcher.storage.tables import EmbeddingRow  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=100_000)
    parser.add_argument("--model", default="fake", help="'fake' (default) or 'bundled' (the real model)")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--port", type=int, default=None, help="default: a free one")
    parser.add_argument("--models-from", type=Path, default=None,
                        help="a PM_DATA_DIR/models folder to copy in (spares the ONNX export of the model)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    server = args.database_url or subprocess.run(["bash", str(ROOT / "scripts" / "postgres.sh"), "start"],
                                                 capture_output=True, text=True, check=True).stdout.strip()
    schema = f"pm_bench_join_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(server).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(False)
    env = {"PM_DATABASE_URL": url, **({"PM_MODEL": "fake"} if args.model == "fake" else {})}
    result: dict = {"orgs": args.orgs, "model": args.model}
    try:
        started = time.perf_counter()
        store = Store(url).migrate()
        store.seed(list(synthetic.organisations(args.orgs, seed=100)), load_projects(default_data_dir()))
        result["seed_seconds"] = round(time.perf_counter() - started, 1)
        print(f"seeded {args.orgs} organisations in {result['seed_seconds']} s", file=sys.stderr)
        port = args.port or free_port()
        with tempfile.TemporaryDirectory(prefix="pm-bench-join-") as tmp:
            for name, folder in (("cold", "first"), ("warm", "joining"), ("restart", "first")):
                replica = Replica(Path(tmp) / folder, port, env, models_from=args.models_from)
                print(f"{name}: starting a replica in {folder}/ …", file=sys.stderr)
                try:
                    result[f"{name}_seconds"] = round(replica.start(), 1)
                    status, body = replica.call("GET", "/readyz")
                    assert status == 200 and body["organisations"] >= args.orgs, body
                finally:
                    replica.stop()
                print(f"{name}: ready in {result[f'{name}_seconds']} s", file=sys.stderr)
        with store.session() as session:
            result["cached_vectors"] = session.scalar(select(func.count()).select_from(EmbeddingRow))
        store.close()
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
    result["load_average_after"] = load_average()
    print(f"replica start to /readyz, {args.orgs:,} organisations, model {args.model}:")
    print(f"  cold build (empty cache):           {result['cold_seconds']} s")
    print(f"  joining, warm shared cache:         {result['warm_seconds']} s")
    print(f"  restart with its own index file:    {result['restart_seconds']} s")
    print(f"  vectors in the database's cache:    {result['cached_vectors']:,}; load average after: "
          f"{result['load_average_after']}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
