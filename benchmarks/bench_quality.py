"""Retrieval quality of each embedding backend on SciFact (BEIR): the bar int8 must meet to be used.

Each backend embeds the corpus itself (a fresh embedding cache per backend), so the figures compare the backends,
not a cache. Needs ``../shared/data/scifact_beir``; skipped with a message when it is absent.

    .venv/bin/python benchmarks/bench_quality.py --backends onnx onnx-int8 --json var/bench/quality.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from embeddings import EmbeddingCache, load_embedder  # noqa: E402
from matcher.evaluation import evaluate_beir  # noqa: E402

SCIFACT = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "scifact_beir"
INT8_MAX_NDCG_LOSS = 0.005  # int8 is used only if its hybrid and dense nDCG@10 stay this close to fp32


def measure(backends: list[str], beir_dir: Path, export_dir: Path) -> dict:
    out: dict = {"dataset": str(beir_dir), "split": "test", "backends": {}}
    for backend in backends:
        embedder = load_embedder(None, backend=backend, export_dir=export_dir)
        with tempfile.TemporaryDirectory() as tmp:
            started = time.perf_counter()
            result = evaluate_beir(beir_dir, embedder, split="test", tune_split="train",
                                   cache=EmbeddingCache(Path(tmp) / "cache.sqlite"))
            seconds = time.perf_counter() - started
        methods = result["methods"]
        out["backends"][backend] = {
            "dense_ndcg@10": methods["dense"]["ndcg@10"], "hybrid_ndcg@10": methods["hybrid"]["ndcg@10"],
            "dense_recall@100": methods["dense"]["recall@100"], "alpha": result["hybrid"]["alpha"],
            "index_seconds": result["seconds"]["index"], "total_seconds": round(seconds, 1),
        }
        print(f"{backend:10} dense nDCG@10 {methods['dense']['ndcg@10']:.4f}  hybrid nDCG@10 "
              f"{methods['hybrid']['ndcg@10']:.4f}  (corpus embedded in {result['seconds']['index']} s)", flush=True)
    if {"onnx", "onnx-int8"} <= set(out["backends"]):
        fp32, int8 = out["backends"]["onnx"], out["backends"]["onnx-int8"]
        loss = max(fp32[m] - int8[m] for m in ("dense_ndcg@10", "hybrid_ndcg@10"))
        out["int8_ndcg_loss"] = round(loss, 4)
        out["int8_meets_bar"] = loss <= INT8_MAX_NDCG_LOSS
        print(f"int8 loses {loss:.4f} nDCG@10 (bar {INT8_MAX_NDCG_LOSS}): "
              f"{'meets' if out['int8_meets_bar'] else 'fails'} the bar", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["onnx", "onnx-int8"])
    parser.add_argument("--beir", type=Path, default=SCIFACT)
    parser.add_argument("--export-dir", type=Path, default=Path("var/models"))
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if not (args.beir / "corpus.jsonl.gz").exists() and not (args.beir / "corpus.jsonl").exists():
        print(f"skipped: no BEIR data at {args.beir} (the SciFact copy lives in ../shared/data)")
        return 0
    result = measure(args.backends, args.beir, args.export_dir)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
