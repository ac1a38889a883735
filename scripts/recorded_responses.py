"""Record or check the service's match responses, byte for byte, on a fixed set of 200+ requests.

A refactoring that must not change behaviour is checked by recording before and checking after:

    python scripts/recorded_responses.py record --out before.jsonl            # fake embedder (the test's)
    python scripts/recorded_responses.py check --file before.jsonl
    python scripts/recorded_responses.py record --model default --out real.jsonl   # the real bundled model

The requests are the bundled briefs (corpus/data/evaluation), every bundled project by id, and generated briefs
(each mineral of the vocabulary with value-chain stages and challenge words) under varied filters, weights
and sizes. Each line holds the request and the SHA-256 of the response body as the HTTP API sends it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FILTERS = [
    {},
    {"countries": ["GB"]},
    {"countries": ["CA"], "k": 5},
    {"countries": ["GB", "CA"], "challenge": 1},
    {"challenge": 2, "challenge_only": True},
    {"org_types": ["university"], "k": 3},
    {"prefer_org_types": ["company"], "countries": ["GB"]},
    {"lead_country": "CA", "countries": ["GB"], "explain": False},
    {"k": 20, "countries": ["CA"], "challenge": 2},
]


def requests() -> Iterator[dict]:
    """The fixed request set: deterministic order, no randomness."""
    from corpus import vocab
    from corpus.loaders import load_projects

    briefs = ROOT / "corpus" / "data" / "evaluation" / "dev-briefs.jsonl"
    for i, line in enumerate(briefs.read_text().splitlines()):
        brief = json.loads(line)
        body = {"text": brief["text"], **FILTERS[i % len(FILTERS)]}
        yield body
        yield {"text": brief["text"], "countries": brief.get("countries", [])}
        yield {"text": brief["text"], **FILTERS[(i + 4) % len(FILTERS)]}
    for project in load_projects(ROOT / "corpus" / "data"):
        yield {"project_id": project.id, "k": 5}
    stages = list(vocab.value_chain_stages().values())
    for i, mineral in enumerate(vocab.minerals().values()):
        stage = stages[i % len(stages)]
        text = f"{stage.name} of {mineral.name.lower()} with lower environmental impact and tailings reuse"
        yield {"text": text, **FILTERS[(i + 3) % len(FILTERS)]}
        yield {"text": f"{mineral.name} recycling from end-of-life products", **FILTERS[(i + 5) % len(FILTERS)]}
    for i, stage in enumerate(stages):
        yield {"text": f"partners for {stage.name.lower()} research in critical minerals", **FILTERS[i % len(FILTERS)]}
    yield {"text": "zzzz qqqq nothing here", "countries": ["GB"]}
    yield {"text": "graphite", "k": 1}


def responses(model: str) -> Iterator[tuple[dict, bytes]]:
    from embeddings import FakeEmbedder
    from matcher import PartnerMatcher, Settings
    from service import create_app

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp) / "var", **({} if model in ("fake", "default") else {"model": model}))
        embedder = FakeEmbedder(dim=256) if model == "fake" else None
        matcher = PartnerMatcher(settings, embedder=embedder).open()
        matcher.ensure_index()
        client = create_app({"MATCHER": matcher, "TESTING": True, "RATELIMIT_ENABLED": False}).test_client()
        try:
            for body in requests():
                reply = client.post("/v1/match", json=body)
                yield body, f"{reply.status_code} ".encode() + reply.get_data()
        finally:
            matcher.close()


def record(model: str, out: Path) -> int:
    lines = []
    for body, data in responses(model):
        lines.append(json.dumps({"request": body, "sha256": hashlib.sha256(data).hexdigest()}))
    out.write_text("\n".join(lines) + "\n")
    print(f"recorded {len(lines)} responses to {out}")
    return 0


def check(model: str, path: Path) -> int:
    expected = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    got = [(body, hashlib.sha256(data).hexdigest()) for body, data in responses(model)]
    differ = [(e["request"], h) for e, (_, h) in zip(expected, got) if e["sha256"] != h]
    if len(expected) != len(got) or any(e["request"] != b for e, (b, _) in zip(expected, got)):
        print(f"the request set changed ({len(expected)} recorded, {len(got)} now); record again", file=sys.stderr)
        return 2
    for body, _ in differ[:10]:
        print(f"differs: {json.dumps(body)[:160]}", file=sys.stderr)
    print(f"{len(got) - len(differ)} of {len(got)} responses identical")
    return 1 if differ else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["record", "check"])
    parser.add_argument("--model", default="fake", help="'fake' (deterministic test embedder) or a model name")
    parser.add_argument("--out", type=Path, help="with record: the file to write")
    parser.add_argument("--file", type=Path, help="with check: the recorded file")
    args = parser.parse_args()
    if args.action == "record":
        if args.out is None:
            parser.error("record needs --out FILE")
        return record(args.model, args.out)
    if args.file is None:
        parser.error("check needs --file FILE")
    return check(args.model, args.file)


if __name__ == "__main__":
    sys.exit(main())
