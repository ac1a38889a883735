"""The service answers 222 fixed match requests byte for byte as recorded (scripts/recorded_responses.py).

A change meant to keep behaviour (a refactoring) must leave every hash unchanged; a change meant to alter
rankings records the file again with ``python scripts/recorded_responses.py record --out
tests/data/recorded-responses.jsonl`` and says so in CHANGELOG.md.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RECORDED = ROOT / "tests" / "data" / "recorded-responses.jsonl"


def _script():
    spec = importlib.util.spec_from_file_location("recorded_responses", ROOT / "scripts" / "recorded_responses.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_match_responses_are_byte_for_byte_as_recorded():
    expected = [json.loads(line) for line in RECORDED.read_text().splitlines() if line.strip()]
    got = [(body, hashlib.sha256(data).hexdigest()) for body, data in _script().responses("fake")]
    assert len(got) == len(expected) >= 200
    assert [body for body, _ in got] == [e["request"] for e in expected], "the request set changed; record again"
    differ = [body for (body, digest), e in zip(got, expected) if digest != e["sha256"]]
    assert not differ, f"{len(differ)} responses changed, the first: {json.dumps(differ[0])[:200]}"
