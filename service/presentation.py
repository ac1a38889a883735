"""How the pages show the core's answers: labels for codes, the score-breakdown rows, and query-word highlighting
that escapes every piece of corpus text before wrapping matches in <mark>. No ranking happens here."""

from __future__ import annotations

import datetime as dt
import re

import Stemmer
from markupsafe import Markup, escape

from corpus import vocab
from corpus.seeds import seed_title
from matcher import SIGNALS

# Names for the country codes the corpus holds (docs/corpus.md); any other valid code is shown as itself.
COUNTRY_NAMES = {
    "GB": "United Kingdom", "CA": "Canada", "US": "United States", "AU": "Australia", "BE": "Belgium",
    "DE": "Germany", "FI": "Finland", "FR": "France", "JP": "Japan", "KR": "South Korea", "SE": "Sweden",
}
# Human labels for the components of ``Match.scores``, from each scoring signal's ``chart`` (matcher.ranking); the
# order is the chart's. ``weight`` names the key of ``explanation.weights`` that weighs the component in the overall
# score (None: part of relevance, not weighed).
COMPONENTS = [row for signal in SIGNALS for row in signal.chart]
_WORD = re.compile(r"\w+")


def highlight(text: str, stems: frozenset[str]) -> Markup:
    """``text`` escaped, with the words whose stem is in ``stems`` wrapped in <mark>. ``stems`` are the brief's key
    terms as BM25 stems (``PartnerMatcher.key_terms``), so generic words of a proposal are never marked.

    Each piece is escaped before it is wrapped, so corpus text never reaches the page as markup. Matching words in
    the raw text (not in already-escaped text) means an entity such as ``&amp;`` can never be split by a <mark>.
    """
    words = list(_WORD.finditer(text))
    stemmed = Stemmer.Stemmer("english").stemWords([m.group().lower() for m in words]) if stems else []
    pieces, last = [], 0
    for match, stem in zip(words, stemmed):
        pieces.append(escape(text[last:match.start()]))
        word = escape(match.group())
        pieces.append(Markup("<mark>%s</mark>") % word if stem in stems else word)
        last = match.end()
    pieces.append(escape(text[last:]))
    return Markup("").join(pieces)


def score_rows(result: dict, challenge: int | None) -> list[dict]:
    """The rows of a result's score-breakdown chart: every component the core returned, with its weight."""
    scores = result["scores"]
    weights = (result.get("explanation") or {}).get("weights", {})
    rows = [{"key": key, "label": label, "value": scores[key], "weight": weights.get(weight) if weight else None,
             "note": note} for key, label, weight, note in COMPONENTS if key in scores]
    if challenge is not None and f"challenge_{challenge}" in scores:
        rows.append({"key": "challenge", "label": f"Challenge {challenge} (requested)", "note": "requested boost",
                     "value": scores[f"challenge_{challenge}"], "weight": weights.get("challenge")})
    return rows


# Labels for the codes in records, as template filters (``{{ org.country | country_name }}``); unknown codes show as
# themselves, so a record added later with a new code still renders.
def country_name(code: str) -> str:
    return COUNTRY_NAMES.get(code, code)


# Labels for a result's eligibility in the programme (matcher.ranking.eligibility).
ELIGIBILITY_NAMES = {"funded": "Funded by the programme", "partner": "Project partner",
                     "not_eligible": "Not funded or a partner", "outside_programme": "Outside the programme"}


def eligibility_name(code: str) -> str:
    return ELIGIBILITY_NAMES.get(code, code)


def mineral_name(mineral_id: str) -> str:
    mineral = vocab.minerals().get(mineral_id)
    return mineral.name if mineral else mineral_id


def stage_name(stage_id: str) -> str:
    stage = vocab.value_chain_stages().get(stage_id)
    return stage.name if stage else stage_id


def org_type_name(type_id: str) -> str:
    term = vocab.org_types().get(type_id)
    return term.name if term else type_id


def source_link(ref: str) -> str | None:
    """A source's URL when it is one (only http and https become links); seed references stay text."""
    return ref if re.match(r"^https?://", ref, re.IGNORECASE) else None


def source_label(ref: str) -> str:
    """What a source is called on a page: a seed document's title and section, else the reference itself."""
    return seed_title(ref) or ref


def utc_time(iso: str) -> str:
    """An API timestamp (ISO 8601, UTC) as a page shows it: "5 Dec 2026, 09:28 UTC"."""
    when = dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(dt.UTC)
    return f"{when.day} {when:%b %Y, %H:%M} UTC"


# A change-log entry's action as a page says it; None is an entry written before the action was recorded.
CHANGE_ACTIONS = {"created": "Created", "updated": "Changed", "deleted": "Deleted", None: "Changed"}


def change_action(action: str | None) -> str:
    return CHANGE_ACTIONS.get(action, "Changed")


def percent(value: float) -> float:
    """A score in [0, 1] as a bar width in [0, 100]."""
    return max(0.0, min(100.0, round(float(value) * 100, 1)))
