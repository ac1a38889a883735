"""Whether an imported project belongs to the programme: critical minerals, or one of its two challenges.

Read from ``corpus/data/vocab/relevance.json`` (words) and the mineral vocabulary: a named mineral counts twice, a
domain word once per mention. A project is on topic when its minerals score reaches the threshold, or its
circular-economy words do, or both are present at the lower ``both`` threshold; a short text (a title with no
abstract) is on topic with one of the ``clear_terms`` (tailings, mine water, urban mining...), since a title names
its field once. A text in French is read through its English rendering (``corpus.french``) as well.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from corpus import vocab
from corpus.french import detect_language, translate_french


# Accented letters or the commonest French words: an on-topic text without one is not weighed for French.
_FRENCH_HINT = re.compile(r"[éèêëàâçîïôûùœ]|\b(?:des|les|du|aux|dans|pour|une|et|sur)\b", re.IGNORECASE)


@dataclass(frozen=True)
class ProgrammeFit:
    on_topic: bool
    minerals: int  # 2 per named mineral + 1 per minerals-domain word mentioned
    circular: int  # circular-economy words mentioned
    reason: str
    named: tuple[str, ...] = ()  # mineral ids the text names (in English or French)


@dataclass(frozen=True)
class _Vocabulary:
    minerals: re.Pattern[str]
    circular: re.Pattern[str]
    clear: re.Pattern[str]
    thresholds: dict[str, int]
    short_text_words: int


@cache
def _vocabulary() -> _Vocabulary:
    data = json.loads(resources.files("corpus").joinpath("data/vocab/relevance.json").read_text(encoding="utf-8"))

    def pattern(words: list[str]) -> re.Pattern[str]:
        ordered = sorted({w.lower() for w in words}, key=len, reverse=True)
        return re.compile(r"\b(" + "|".join(map(re.escape, ordered)) + r")\b", re.IGNORECASE)

    return _Vocabulary(pattern(data["minerals"]), pattern(data["circular_economy"]), pattern(data["clear_terms"]),
                       dict(data["thresholds"]), int(data["short_text_words"]))


def _judge(text: str, language: str) -> ProgrammeFit:
    words = _vocabulary()
    named = tuple(vocab.detect_minerals(text))
    minerals = 2 * len(named) + len(words.minerals.findall(text))
    circular = len(words.circular.findall(text))
    thresholds = words.thresholds
    read = " (read in French)" if language == "fr" else ""
    if minerals >= thresholds["minerals"]:
        return ProgrammeFit(True, minerals, circular, "critical minerals" + read, named)
    if circular >= thresholds["circular_economy"]:
        return ProgrammeFit(True, minerals, circular, "circular economy (challenge two)" + read, named)
    if minerals >= thresholds["both"] and circular >= thresholds["both"]:
        return ProgrammeFit(True, minerals, circular, "minerals and circular economy" + read, named)
    clear = words.clear.search(text)
    if clear and len(re.findall(r"\w+", text)) <= words.short_text_words:
        return ProgrammeFit(True, minerals, circular, f"a short text naming the field: {clear.group(1).lower()!r}"
                            + read, named)
    return ProgrammeFit(False, minerals, circular, "off-topic: no critical minerals, mining or circular-economy terms "
                                                "enough to place it in the programme" + read, named)


def assess(text: str) -> ProgrammeFit:
    """How a project's title and abstract relate to the programme. A text with more French than English evidence
    is also read through its English rendering: the better reading decides, and minerals named in either count."""
    fit = _judge(text, "en")
    if fit.on_topic and not _FRENCH_HINT.search(text):
        return fit  # on topic, with no accent and no common French word: nothing French to add
    guess = detect_language(text)
    if guess.french <= guess.english:
        return fit
    french = _judge(translate_french(text), "fr")
    named = tuple(dict.fromkeys(fit.named + french.named))
    best = french if (french.on_topic, french.minerals + french.circular) > (fit.on_topic,
                                                                           fit.minerals + fit.circular) else fit
    return ProgrammeFit(best.on_topic, best.minerals, best.circular, best.reason, named)
