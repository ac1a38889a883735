"""French briefs: telling French from English, and rendering a French brief in English for the retrievers.

The corpus is English, so a French brief is matched through an English rendering: terms from the bilingual
lexicon (``data/vocab/lexicon_fr_en.json``) are replaced by their English terms, French stop words are dropped and
every other word is kept as written (names, symbols, numbers). It is a lexical rendering for BM25 and the embedding
model, not a translation a person would read.

Language detection is a transparent function-word count (``data/vocab/language_words.json``) rather than a library:
the offline detectors on PyPI are either unmaintained (langdetect) or ship models for dozens of languages at about
100 MB (lingua), and two languages with disjoint function words need neither.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources

import Stemmer

# Elided forms and the full word each stands for: "l'extraction" reads as "le extraction", so lexicon phrases and
# stop words need no elided variants.
ELISIONS = {
    "l": "le", "d": "de", "qu": "que", "n": "ne", "s": "se", "c": "ce", "j": "je", "m": "me", "t": "te",
    "jusqu": "jusque", "lorsqu": "lorsque", "puisqu": "puisque", "quoiqu": "quoique",
}
# A word: letters and digits, with inner hyphens ("Colombie-Britannique", "Li-ion", "43-101") and apostrophes.
_WORD = re.compile(r"\w+(?:[-'’]\w+)*")
_APOSTROPHE = re.compile(r"['’]")
_FRENCH_LETTERS = re.compile(r"[éèêëàâçîïôûùüÿœ]", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?:^|[.!?:;\n•])\s*[\"'«(\[]*\s*$")


def _read_json(name: str) -> dict:
    return json.loads(resources.files("corpus").joinpath("data", "vocab", name).read_text(encoding="utf-8"))


@lru_cache(maxsize=1 << 16)  # a brief's words repeat across briefs; folding is pure
def fold(word: str) -> str:
    """Lower case without accents or ligatures ('Résidus' -> 'residus', 'œuvre' -> 'oeuvre')."""
    word = word.lower().replace("œ", "oe").replace("æ", "ae")
    return "".join(c for c in unicodedata.normalize("NFD", word) if unicodedata.category(c) != "Mn")


def _singular(word: str) -> str:
    """A folded word with its plural ending removed ('metaux' -> 'metal', 'eaux' -> 'eau', 'residus' -> 'residu'),
    so lexicon entries need not list plurals. Applied alike to lexicon keys and brief words, so a rare wrong
    singular still matches itself."""
    if len(word) <= 3:
        return word
    if word.endswith("eaux"):
        return word[:-1]
    if word.endswith("aux") and len(word) > 4:
        return word[:-3] + "al"
    if word[-1] in "sx" and word[-2] != word[-1]:
        return word[:-1]
    return word


@cache
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("french")


def stem_french(word: str) -> str:
    """French Snowball stem of a word, accents folded afterwards (the stemmer reads accents)."""
    return fold(_stemmer().stemWord(word.lower()))


@dataclass(frozen=True)
class Token:
    text: str  # as written, without an elided prefix ("extraction" of "l'extraction")
    key: str  # folded and singular, for exact lexicon matches
    stem: str  # French stem, for lexicon matches across inflections ("minières" ~ "minier")
    start: int
    end: int
    sentence_start: bool


def tokenise(text: str) -> list[Token]:
    """Words of a French text; an elided article or pronoun becomes its own token ("d'uranium" -> "de", "uranium")."""
    tokens: list[Token] = []
    for match in _WORD.finditer(text):
        start = match.start()
        initial = start == 0 or bool(_SENTENCE_END.search(text[max(0, start - 40):start]))
        parts = _APOSTROPHE.split(match.group())
        # Only a leading elision splits ("l'or", "jusqu'à"); other apostrophes stay inside the word.
        if len(parts) > 1 and fold(parts[0]) in ELISIONS:
            full = ELISIONS[fold(parts[0])]
            tokens.append(Token(parts[0], full, full, start, start + len(parts[0]) + 1, initial))
            start += len(parts[0]) + 1
            initial = False
        word = text[start:match.end()]
        tokens.append(Token(word, _key(word), _stem_key(word), start, match.end(), initial))
    return tokens


@lru_cache(maxsize=1 << 16)
def _key(word: str) -> str:
    return "-".join(_singular(part) for part in fold(word).split("-"))


@lru_cache(maxsize=1 << 16)
def _stem_key(word: str) -> str:
    return "-".join(stem_french(part) for part in word.split("-"))


def _same_family(stems: set[tuple[str, ...]]) -> bool:
    """Whether English stem sequences are inflections of one term: same length, and at each word one stem begins
    the other ('recov' / 'recoveri' for recover / recovery)."""
    first = next(iter(stems))
    return all(len(other) == len(first) and all(a.startswith(b) or b.startswith(a) for a, b in zip(first, other))
               for other in stems)


@dataclass(frozen=True)
class LexiconEntry:
    french: str
    english: str
    topic: str


class Lexicon:
    """French phrases -> English terms. Matching is greedy and longest-first: at each word the longest phrase that
    matches wins, exact (accents, case and plurals folded) before stemmed, so 'drainage minier acide' is read as
    one term before 'drainage' or 'minier' alone."""

    def __init__(self, entries: list[LexiconEntry]) -> None:
        self.entries = entries
        self._exact: dict[tuple[str, ...], LexiconEntry] = {}
        english_stem = Stemmer.Stemmer("english").stemWords
        stemmed: dict[tuple[str, ...], set[tuple[str, ...]]] = {}
        by_stem: dict[tuple[str, ...], LexiconEntry] = {}
        for entry in entries:
            tokens = tokenise(entry.french)
            self._exact.setdefault(tuple(t.key for t in tokens), entry)
            key = tuple(t.stem for t in tokens)
            stemmed.setdefault(key, set()).add(tuple(english_stem(_WORD.findall(entry.english.lower()))))
            by_stem.setdefault(key, entry)
        # A French stem shared by entries whose English differs beyond inflection ('minerai' ore, 'mine' mine) would
        # pick one arbitrarily, so it matches only exactly; 'géologie'/'géologique' (geology/geological) may share.
        self._stemmed = {k: by_stem[k] for k, english in stemmed.items() if _same_family(english)}
        self.longest = max((len(k) for k in self._exact), default=0)
        # A phrase can start only where a first word of an entry does, and is no longer than the longest entry
        # starting with that word: most words are settled by one or two lookups.
        self._longest_from: dict[tuple[int, str], int] = {}
        for kind, table in enumerate((self._exact, self._stemmed)):
            for k in table:
                if k:
                    self._longest_from[kind, k[0]] = max(self._longest_from.get((kind, k[0]), 0), len(k))
        self._english_words = frozenset(fold(w) for e in entries for w in _WORD.findall(e.english))

    def match(self, tokens: list[Token], i: int) -> tuple[LexiconEntry, int] | None:
        """The entry matching the longest phrase starting at ``tokens[i]`` and its length in tokens, or None."""
        first = tokens[i]
        exact_n = self._longest_from.get((0, first.key), 0)
        stem_n = self._longest_from.get((1, first.stem), 0)
        for n in range(min(max(exact_n, stem_n), len(tokens) - i), 0, -1):
            window = tokens[i:i + n]
            entry = ((self._exact.get(tuple(t.key for t in window)) if n <= exact_n else None)
                     or (self._stemmed.get(tuple(t.stem for t in window)) if n <= stem_n else None))
            if entry is not None:
                return entry, n
        return None

    def english_words(self) -> frozenset[str]:
        """Every folded word on the English side: words a French brief shares with English prove nothing."""
        return self._english_words


@cache
def lexicon() -> Lexicon:
    """The bundled French -> English lexicon (lexicon_fr_en.json)."""
    doc = _read_json("lexicon_fr_en.json")
    return Lexicon([LexiconEntry(e["fr"], e["en"], e.get("topic", "")) for e in doc["entries"]])


@cache
def _language_words() -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    from bm25s.stopwords import STOPWORDS_FRENCH

    doc = _read_json("language_words.json")
    stop = frozenset(fold(w) for w in (*STOPWORDS_FRENCH, *doc["fr_stopwords_extra"]))
    return frozenset(doc["en"]), frozenset(fold(w) for w in doc["fr"]), stop


def french_stopwords() -> frozenset[str]:
    """Folded French stop words a translation drops."""
    return _language_words()[2]


@dataclass(frozen=True)
class LanguageGuess:
    language: str  # "en" or "fr"
    english: float  # evidence for English: English function words
    french: float  # evidence for French: French function words, elisions, accented words, lexicon terms


# Below this much evidence for French a text stays English: a lone accented name ('Québec') is not French prose.
MIN_FRENCH_EVIDENCE = 1.5


def detect_language(text: str) -> LanguageGuess:
    """English or French, by counting each language's function words (a word counts when written in lower case,
    or capitalised but not an element symbol: 'Ni' is nickel, not 'ni'). Accented words, elided articles and French
    lexicon terms that are not English words add to French. Ties and short, bare texts read as English, the corpus's
    language."""
    from corpus.normalise import element_symbols

    english_words, french_words, _ = _language_words()
    symbols = element_symbols()
    text = re.sub(r"\bet al\b\.?", " ", text)  # a citation, not French
    english = french = 0.0
    tokens = [t for t in tokenise(text) if not (t.text in symbols and not t.text.islower())]
    for token in tokens:
        lower = token.text.lower()
        if token.end - token.start > len(token.text):  # an elided article: 'l'', 'd''
            french += 1
        elif lower in english_words:
            english += 1
        elif fold(lower) in french_words:
            french += 1
        elif _FRENCH_LETTERS.search(token.text):
            french += 0.5
    # Lexicon terms written in a word English lacks: 'lixiviation' counts, 'exploration' (the same in both) does not.
    not_french = _not_french()
    i = 0
    while i < len(tokens):
        match = lexicon().match(tokens, i)
        if match is None:
            i += 1
            continue
        n = match[1]
        if any(fold(t.text) not in not_french for t in tokens[i:i + n]):
            french += 0.5
        i += n
    language = "fr" if french > english and french >= MIN_FRENCH_EVIDENCE else "en"
    return LanguageGuess(language, english, french)


@cache
def _not_french() -> frozenset[str]:
    """Words that prove nothing about French: the lexicon's English side and English function words."""
    return lexicon().english_words() | _language_words()[0]


def _marks(gap: str) -> tuple[str, str]:
    """The punctuation worth keeping from the text between two words: what closes the word before (',', ')') and
    what opens the word after ('(')."""
    return "".join(c for c in gap if c in ",.;:!?)"), "(" if "(" in gap else ""


def translate_french(text: str) -> str:
    """An English rendering of a French text: lexicon terms become English terms (longest phrase first), French stop
    words are dropped (except a capitalised one mid-sentence, which is a symbol or a name: 'Co', 'As'), and other
    words are kept as written. Punctuation between words is kept, so lists ('Li, Co et Ni') keep their shape."""
    tokens = tokenise(text)
    stop = french_stopwords()
    lex = lexicon()
    out: list[str] = []
    previous_end = 0
    i = 0
    while i < len(tokens):
        token = tokens[i]
        closing, opening = _marks(text[previous_end:token.start])
        if closing and out:
            out[-1] += closing
        match = lex.match(tokens, i)
        if match is not None:
            entry, n = match
            out.append(opening + entry.english)
            previous_end = tokens[i + n - 1].end
            i += n
            continue
        previous_end = token.end
        i += 1
        elided = token.end - token.start > len(token.text)  # 'l'', 'd'' left unmatched
        capitalised_mid = token.text[:1].isupper() and not token.sentence_start
        if elided or (fold(token.text) in stop and not capitalised_mid):
            continue
        out.append(opening + token.text)
    tail = "".join(c for c in text[previous_end:] if c in ".!?)")
    if tail and out:
        out[-1] += tail
    return " ".join(out).strip()
