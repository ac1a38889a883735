"""Whether an imported project belongs to the programme: critical minerals, or one of its two challenges.

Read from ``corpus/data/vocab/relevance.json`` (words) and the mineral vocabulary: a named mineral counts twice, a
domain word once per mention. A project is on topic when its minerals score reaches the threshold, or its
circular-economy words do, or both are present at the lower ``both`` threshold; otherwise it is flagged.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from corpus import vocab


@dataclass(frozen=True)
class ProgrammeFit:
    on_topic: bool
    minerals: int  # 2 per named mineral + 1 per minerals-domain word mentioned
    circular: int  # circular-economy words mentioned
    reason: str


@cache
def _vocabulary() -> tuple[re.Pattern[str], re.Pattern[str], dict[str, int]]:
    data = json.loads(resources.files("corpus").joinpath("data/vocab/relevance.json").read_text(encoding="utf-8"))

    def pattern(words: list[str]) -> re.Pattern[str]:
        ordered = sorted({w.lower() for w in words}, key=len, reverse=True)
        return re.compile(r"\b(" + "|".join(map(re.escape, ordered)) + r")\b", re.IGNORECASE)

    return pattern(data["minerals"]), pattern(data["circular_economy"]), dict(data["thresholds"])


def assess(text: str) -> ProgrammeFit:
    """How a project's title and abstract relate to the programme."""
    minerals_words, circular_words, thresholds = _vocabulary()
    named = vocab.detect_minerals(text)
    minerals = 2 * len(named) + len(minerals_words.findall(text))
    circular = len(circular_words.findall(text))
    if minerals >= thresholds["minerals"]:
        return ProgrammeFit(True, minerals, circular, "critical minerals")
    if circular >= thresholds["circular_economy"]:
        return ProgrammeFit(True, minerals, circular, "circular economy (challenge two)")
    if minerals >= thresholds["both"] and circular >= thresholds["both"]:
        return ProgrammeFit(True, minerals, circular, "minerals and circular economy")
    return ProgrammeFit(False, minerals, circular, "off-topic: no critical minerals, mining or circular-economy terms "
                                                "enough to place it in the programme")
