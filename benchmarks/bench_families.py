"""Per-family ranking quality on the bundled evaluation sets, as Markdown tables for docs/ranking.md.

The same figures as ``matcher evaluate --briefs corpus/data/evaluation --split SPLIT --json`` (plain BM25, the model
alone and the product side by side per family, the share of good queries the service answers with nothing, the
gap to each brief's plainly written twin), for each split asked for, stamped with the time, model and commit.

    .venv/bin/python benchmarks/bench_families.py --data-dir /tmp/evalvar --splits test train --json var/bench/families.json
"""

from __future__ import annotations

import argparse
import json
import subprocess  # nosec B404: git describe only
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from corpus.loaders import default_data_dir  # noqa: E402
from matcher import Settings, open_matcher  # noqa: E402
from matcher.evaluation import evaluate_briefs, load_briefs  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def _commit() -> str:
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,  # nosec
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],  # nosec
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head}{' + uncommitted changes' if dirty else ''}"


def markdown(result: dict, split: str) -> list[str]:
    """One split's per-family table."""
    lines = [f"| family ({split}) | n | BM25 | dense | product | product R@10 | empty | median ms | notes |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, f in result["families"].items():
        notes = []
        if "twin" in f:
            t = f["twin"]
            notes.append(f"{t['field']}: product {t['methods']['product']['ndcg@10']:.3f}, gap {t['gap']:+.3f}")
        if "offtopic_rejected" in f:
            r = f["offtopic_rejected"]
            notes.append(f"answered empty or all weak {r['count']}/{r['of']}")
        if "paraphrase_spread" in f:
            notes.append(f"spread across wordings mean {f['paraphrase_spread']['mean']:.3f}, "
                         f"max {f['paraphrase_spread']['max']:.3f}")
        if "methods" in f:
            m = f["methods"]
            cells = (f"{m['bm25']['ndcg@10']:.3f} | {m['dense']['ndcg@10']:.3f} | **{m['product']['ndcg@10']:.3f}** | "
                     f"{m['product']['recall@10']:.3f}")
        else:
            cells = "– | – | – | –"
        empty = f"{f['empty']['count']}/{f['empty']['of']}" if f.get("empty") else "–"
        lines.append(f"| {name} | {f['briefs']} | {cells} | {empty} | {f['product_ms']['median']:.0f} | "
                     f"{'; '.join(notes)} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, help="index, cache and database folder (as matcher --data-dir)")
    parser.add_argument("--briefs", type=Path, default=default_data_dir() / "evaluation")
    parser.add_argument("--splits", nargs="+", default=["test", "train"])
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)

    matcher = open_matcher(Settings.from_env(data_dir=args.data_dir))
    matcher.ensure_index()
    index = matcher.current_index()
    briefs = load_briefs(args.briefs)
    out: dict = {"model": index.model_id_, "commit": _commit(), "briefs": str(args.briefs), "splits": {}}
    for split in args.splits:
        stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        result = evaluate_briefs(index, [b for b in briefs if b.split == split], answer=matcher.match)
        out["splits"][split] = {"measured": stamp, **result}
        print(f"\n{split} split, measured {stamp}, {index.model_id_}, commit {out['commit']}\n")
        print("\n".join(markdown(result, split)))
        print(f"\ntargets: {json.dumps(result['targets'])}\nbands shown: {json.dumps(result['bands'])}")
    matcher.close()
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
