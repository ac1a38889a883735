"""British and North American spellings of one word read as one term: "sulphide" and "sulfide", "aluminium" and
"aluminum", "characterisation" and "characterization", "centre" and "center"; and "e-waste" read as "ewaste" as well
as "waste".

UK records and briefs spell the field's words one way, Canadian ones (and many UK chemists) the other; the model
reads both alike, but BM25 would see two unrelated terms. Each word is folded to its North American form before
stemming, on both sides (indexed texts and queries), so folding a word that has no variant costs nothing but a
lookup. The word list is breame's (British spellings and their American forms); the patterns cover the field's
words it lacks ("mineralisation", "valorised", "sulphuric", "caesium", "haematite"). The spelling corrector's own
British rules (``corpus.normalise.in_dictionary``) answer another question, whether a word is a word, against a
dictionary; folding them into one would change what either does (its broad "ph"/"oe" rewrites would read "shoe" as
"she").
"""

from __future__ import annotations

import re
from functools import lru_cache

from breame.data.spelling_constants import BRITISH_ENGLISH_SPELLINGS

# (pattern, replacement) applied in turn to a lower-cased word breame does not list, then the -ise/-yse rule.
_PATTERNS = (
    (re.compile(r"sulph"), "sulf"),  # sulphur, sulphuric, desulphurisation (and its -isation below)
    (re.compile(r"^caesium"), "cesium"),
    (re.compile(r"^haem"), "hem"),  # haematite
)
# -ise/-yse verbs and their forms; three letters at least before them, so "rise", "wise", "prise" stay as they are.
_VERB = re.compile(r"(?<=\w{3})(i|y)s(ation|ations|e|ed|es|ing|er|ers)$")
# A one-letter prefix joined by a hyphen ("e-waste", "x-ray", "e-scrap"): BM25's words have two letters at least, so
# the letter would be lost and "e-waste" read as "waste".
_LETTER_PREFIX = re.compile(r"\b([^\W\d_])-([^\W\d_]{2,})")


def join_letter_prefixes(text: str) -> str:
    """``text`` with each one-letter hyphenated prefix joined to its word, the word kept too: "e-waste" becomes
    "ewaste waste", so the term names e-waste and the word still meets "waste"."""
    return _LETTER_PREFIX.sub(r"\1\2 \2", text) if "-" in text else text


@lru_cache(maxsize=200_000)
def fold(word: str) -> str:
    """The North American spelling of a lower-cased word, or the word itself."""
    listed = BRITISH_ENGLISH_SPELLINGS.get(word)
    if listed is not None:
        return listed
    for pattern, replacement in _PATTERNS:
        word = pattern.sub(replacement, word)
    return _VERB.sub(r"\1z\2", word)


__all__ = ["fold", "join_letter_prefixes"]
