"""Query normalisation shared by the lexical and dense retrievers.

A brief is first cleaned (``clean_query_text``: invisible format characters pasted from PDFs and word processors
removed, control characters made spaces), then goes through three steps, each a pure function of its text and the
data files:

1. ``detect_language`` / ``translate_french`` (corpus.french): a French brief is rendered in English.
2. ``SpellingCorrector``: words neither the index nor an English dictionary knows are corrected to a frequent
   index word within a small edit distance (optimal string alignment, rapidfuzz: a swap of two letters is one edit,
   so 'nickle' is one from 'nickel'). The dictionary (pyspellchecker's word list) keeps valid words the corpus
   happens to lack ('traction', 'trust') from being 'corrected' into corpus words ('extraction', 'crust').
3. ``recognise`` / ``expand``: element symbols, formulas, abbreviations and mineral terms are recognised and their
   spelled-out names inserted after the first mention ('Li (lithium), Co (cobalt) and Ni (nickel)'), so BM25 and
   the embedding model both read the words the documents use, and the original stays for exact matches.

``QueryNormaliser`` runs the three and returns a ``NormalisedBrief``: the text to retrieve with, plus what was
recognised (with vocabulary mineral ids) and corrected, for logging and filters.

Element symbols are read with their case and in context: 'In this project', 'As a result', 'Co-operative' and
'Appendix C' are prose, while 'In and Ga', 'Nd/Pr/Dy/Tb', 'Li, Co and Ni' and 'recovering Co from' are elements.
Data: ``minerals.json`` (symbols and synonyms -> mineral ids), ``elements.json`` (symbols, names, which symbols
are ambiguous in prose), ``abbreviations.json`` (abbreviations, formulas and terms with their meaning).
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

import Stemmer
from rapidfuzz import process
from rapidfuzz.distance import OSA

from corpus import vocab
from corpus.french import detect_language, lexicon, translate_french

# Kinds of recognised span, in the order that wins when two candidates cover the same text.
ABBREVIATION, FORMULA, TERM, MINERAL, ELEMENT = "abbreviation", "formula", "term", "mineral", "element"
# The note of abbreviations.json's terms that render an everyday phrase ('shredding batteries') in the field's words.
PLAIN_LANGUAGE = "plain-language phrase"
_PRIORITY = {ABBREVIATION: 0, FORMULA: 0, TERM: 1, MINERAL: 2, ELEMENT: 3}

_SYMBOL_SHAPE = re.compile(r"[A-Z][a-z]?")
_SENTENCE_END = re.compile(r"(?:^|[.!?:;\n•*]|\s-)\s*[\"'“‘«(\[]*\s*$")
# Between two symbols of a list: 'Li, Co and Ni', 'Nd/Pr', 'Nd-Fe-B', 'In and Ga', 'U & Th'.
_CONNECTOR = re.compile(r"\s*(?:,\s*(?:and|or)?|/|&|\+|-|–|and|or)\s*")
_HONORIFIC = re.compile(r"(?:Dr|Prof|Professor|Mr|Mrs|Ms|Mx|Dr\.|Prof\.)\s+$")
_FORMULA_TOKEN = re.compile(r"(?<![\w·])(?:[A-Z][a-z]?\d*)+(?![\w·])")
_FORMULA_PART = re.compile(r"([A-Z][a-z]?)(\d*)")
_COMPOUND_TAIL = re.compile(r"(?:-\w+)*")
# Second parts of hyphenated words that make a symbol before them an element ('Co-free', 'In-bearing').
_AMOUNT_SUFFIXES = frozenset({"free", "rich", "poor", "bearing", "based", "containing", "doped", "depleted",
                              "enriched", "substituted"})
# Unicode's format characters (category Cf: soft hyphen, zero-width space and joiners, word joiner, byte-order mark,
# bidirectional marks...), written out rather than scanned from unicodedata at import (a quarter of a second);
# tests/test_normalise.py checks the class against unicodedata.
_FORMAT_CHARACTERS = re.compile(
    "[\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f]")
# Control characters (C0, DEL and C1) but tab, line feed and carriage return, which are whitespace in a brief.
_CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def clean_query_text(text: str) -> str:
    """A brief without the characters that are not text: format characters are removed (a soft hyphen or a
    zero-width space inside 're\u00adcycling' must not split the word) and control characters become spaces (they
    separate, never join, words). Every door's query text passes here, so the page, the API and the CLI rank the
    same words."""
    return _FORMAT_CHARACTERS.sub("", _CONTROL_CHARACTERS.sub(" ", text))


MAX_SUBSCRIPT = 20  # larger numbers after capitals are names (COP28, H2020, C40), not formulas


def _read_json(name: str) -> dict:
    return json.loads(resources.files("corpus").joinpath("data", "vocab", name).read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Element:
    symbol: str
    name: str
    mineral: str | None  # vocabulary mineral id, if the element is (in) one
    standalone: bool  # read outside formulas
    ambiguous: bool  # also a prose word: read only in lists or mid-sentence (see recognise)


@cache
def elements() -> dict[str, Element]:
    """Element symbol -> Element. Mineral ids come from minerals.json (its symbols and symbol-like synonyms, e.g.
    'Nd' of rare_earth_elements), then from elements.json's groups for the members minerals.json does not name."""
    doc = _read_json("elements.json")
    mineral_of: dict[str, str] = {}
    for mineral in vocab.minerals().values():
        for alias in (mineral.symbol, *mineral.synonyms):
            if _SYMBOL_SHAPE.fullmatch(alias):
                mineral_of.setdefault(alias, mineral.id)
    for group, symbols in doc["groups"].items():
        for symbol in symbols:
            mineral_of.setdefault(symbol, group)
    standalone = set(doc["standalone"])
    ambiguous = set(doc["ambiguous"])
    return {
        e["symbol"]: Element(e["symbol"], e["name"], mineral_of.get(e["symbol"]),
                             e["symbol"] in mineral_of or e["symbol"] in standalone, e["symbol"] in ambiguous)
        for e in doc["elements"]
    }


def element_symbols() -> frozenset[str]:
    """Every element symbol, in its exact case."""
    return frozenset(elements())


@cache
def _formula_non_minerals() -> frozenset[str]:
    return frozenset(_read_json("elements.json")["formula_non_minerals"])


@cache
def _formula_endings() -> frozenset[str]:
    return frozenset(_read_json("elements.json")["formula_endings"])


@dataclass(frozen=True)
class Abbreviation:
    form: str
    kind: str  # ABBREVIATION, FORMULA or TERM
    expansion: str
    minerals: tuple[str, ...]
    note: str = ""


@cache
def abbreviations() -> dict[str, Abbreviation]:
    """Form as written ('LIB', 'Li2CO3', 'black mass') -> Abbreviation, from abbreviations.json."""
    doc = _read_json("abbreviations.json")
    return {e["form"]: Abbreviation(e["form"], e["kind"], e["expansion"], tuple(e["minerals"]), e.get("note", ""))
            for e in doc["entries"]}


@cache
def _not_formulas() -> frozenset[str]:
    return frozenset(_read_json("abbreviations.json")["not_formulas"])


@cache
def plain_language_forms() -> frozenset[str]:
    """The lower-cased forms of abbreviations.json's plain-language phrases."""
    return frozenset(a.form.lower() for a in abbreviations().values() if a.note == PLAIN_LANGUAGE)


def _alternation(forms: Iterable[str]) -> str:
    """A regex matching any of ``forms``, the longest that fits first, written as a trie ('ab(?:c|d(?:e)?)'): the
    engine then tries one branch per letter instead of every form at every position of a brief."""
    trie: dict = {}
    for form in forms:
        node = trie
        for char in form:
            node = node.setdefault(char, {})
        node[""] = {}
    return _trie_regex(trie)


def _trie_regex(node: dict) -> str:
    branches = [re.escape(char) + _trie_regex(child) for char, child in sorted(node.items()) if char]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    # A form ending here is tried after its longer continuations (a greedy optional group), as longest-first did.
    return f"(?:{body})?" if "" in node else body


@cache
def _exact_pattern() -> re.Pattern[str]:
    """Abbreviations and formulas with their exact case; an abbreviation also with a plural 's' ('LIBs')."""
    forms = [a.form for a in abbreviations().values() if a.kind != TERM]
    return re.compile(r"(?<![\w·])(" + _alternation(forms) + r")(s?)(?![\w·])")


@cache
def _mineral_terms() -> dict[str, tuple[str, tuple[str, ...]]]:
    """Lower-cased term -> (expansion, mineral ids): abbreviations.json terms, then minerals.json names and
    synonyms of three letters or more (shorter ones are symbols, read with their case). A synonym's expansion is
    its mineral's name ('spodumene' -> 'lithium'); a name needs none."""
    out: dict[str, tuple[str, tuple[str, ...]]] = {}
    for a in abbreviations().values():
        if a.kind == TERM:
            out[a.form.lower()] = (a.expansion, a.minerals)
    for m in vocab.minerals().values():
        name = m.name.lower()
        for alias in (m.name, m.id.replace("_", " "), *m.synonyms):
            if len(alias) > 2 and not _SYMBOL_SHAPE.fullmatch(alias):
                out.setdefault(alias.lower(), ("" if name in alias.lower() else name, (m.id,)))
    return out


@cache
def _term_forms() -> frozenset[str]:
    """The lower-cased forms of abbreviations.json's terms (a recognised one is a TERM, any other a MINERAL)."""
    return frozenset(a.form.lower() for a in abbreviations().values() if a.kind == TERM)


@cache
def _term_pattern() -> re.Pattern[str]:
    return re.compile(r"(?<!\w)(" + _alternation(_mineral_terms()) + r")(?!\w)", re.IGNORECASE)


@cache
def _symbol_pattern() -> re.Pattern[str]:
    symbols = [s for s, e in elements().items() if e.standalone]
    return re.compile(r"(?<![\w·])(" + _alternation(symbols) + r")(?![\w·+])")


@dataclass(frozen=True)
class Recognised:
    """One thing recognised in a brief: where, what kind, what it means and which vocabulary minerals it names."""

    text: str  # as written in the brief
    start: int
    end: int
    kind: str  # ABBREVIATION, FORMULA, TERM, MINERAL or ELEMENT
    expansion: str  # spelled-out words inserted after it ("" when it is already spelled out)
    minerals: tuple[str, ...] = ()


def _sentence_initial(text: str, start: int) -> bool:
    return bool(_SENTENCE_END.search(text[max(0, start - 40):start])) or start == 0


def _previous_word(text: str, start: int) -> str:
    """The word before ``start``, without brackets or quotes ('of' in 'content of (In)')."""
    match = re.search(r"([^\s(\[\"'“‘]+)[\s(\[\"'“‘]*$", text[max(0, start - 60):start])
    return match.group(1) if match else ""


def _hyphen_joined(text: str, start: int, end: int) -> bool:
    """Whether a token is part of a hyphenated word ('Co-operative', 'Bi-annual', 'In-situ')."""
    return bool(re.fullmatch(r"\w-", text[max(0, start - 2):start]) or re.match(r"-\w", text[end:end + 2]))


def _amount_compound(text: str, start: int, end: int) -> bool:
    """Whether a symbol starts a compound saying how much of the element there is ('Co-free', 'In-bearing'):
    no prose word takes these endings, so the symbol is an element even at a sentence start."""
    after = re.match(r"-(\w+)", text[end:end + 20])
    return bool(after and after.group(1).lower() in _AMOUNT_SUFFIXES
                and not re.fullmatch(r"\w-", text[max(0, start - 2):start]))


def _is_name(text: str, start: int, end: int) -> bool:
    """A surname, not a symbol: 'Dr Li', 'Li's group', 'Li et al.'."""
    return bool(_HONORIFIC.search(text[max(0, start - 12):start])
                or re.match(r"['’]s\b|\s+et al\b", text[end:end + 7]))


_PROCESS_AFTER = re.compile(r"\s+(?:recovery|recycling|extraction|refining|leaching|removal|separation|production|"
                            r"processing|purification|deposits?|ores?|supply|mining|smelting|tailings|"
                            r"contamination|speciation|bioleaching|precipitation)\b(?!\s*,)")


def _solo_ambiguous_ok(text: str, start: int, end: int) -> bool:
    """An ambiguous two-letter symbol on its own is an element only mid-sentence after a lower-case word, not
    hyphenated, not a company ('Smith & Co', 'Smith and Co.') and not followed by a capitalised word (a place:
    'at La Corne'): 'recovering Co from' but not 'In this project'."""
    if _amount_compound(text, start, end):
        return True
    if _hyphen_joined(text, start, end):
        return False
    if _sentence_initial(text, start):
        # A short query (not prose) that opens with the symbol and names what is done to it: 'Co recovery',
        # 'As removal from mine water'; 'As mining grows, we ...' is a sentence.
        return (start == len(text) - len(text.lstrip()) and len(text.split()) <= 6 and "," not in text
                and bool(_PROCESS_AFTER.match(text, end)))
    following = re.match(r"\s+([A-Z][a-z]+)\b", text[end:end + 40])
    if following and following.group(1) not in elements():
        return False
    previous = _previous_word(text, start)
    if not previous or previous == "&" or not (previous[0].islower() or previous[0].isdigit()):
        return False
    if previous in {"and", "or"}:
        before = _previous_word(text, start - len(previous) - 1).rstrip(",")
        if before[:1].isupper() and not before.isupper() and before not in elements():
            return False
    return not re.match(r"\.\s*(?:Ltd|Limited|Inc|LLC|plc)\b", text[end:end + 12])


def _element_candidates(text: str) -> list[Recognised]:
    """Element symbols read in context (see module docstring): lists of symbols are accepted together; a symbol on
    its own needs to be unambiguous (or mid-sentence, for ambiguous two-letter ones) and not a surname."""
    table = elements()
    matches = [m for m in _symbol_pattern().finditer(text) if not _is_name(text, m.start(), m.end())]
    chains: list[list[re.Match[str]]] = []
    for match in matches:
        if chains and _CONNECTOR.fullmatch(text, chains[-1][-1].end(), match.start()):
            chains[-1].append(match)
        else:
            chains.append([match])
    out = []
    for chain in chains:
        as_list = len(chain) >= 2 and any(len(m.group()) == 2 for m in chain)
        for match in chain:
            element = table[match.group()]
            if not as_list:
                if len(element.symbol) == 1:
                    continue
                if element.ambiguous and not _solo_ambiguous_ok(text, match.start(), match.end()):
                    continue
            minerals = (element.mineral,) if element.mineral else ()
            out.append(Recognised(match.group(), match.start(), match.end(), ELEMENT, element.name, minerals))
    return out


def parse_formula(token: str) -> list[tuple[str, int]] | None:
    """A formula read as (symbol, count) parts, or None when the token is not one. Formulas without digits
    ('LiOH', 'NdFeB') are read only from abbreviations.json; here every part must be an element, with at least two
    different elements and a subscript of 1-20, ending in a subscript or a non-metal (elements.json's
    formula_endings), and one-letter symbols alone need O, H or S, so names and codes ('ReLiB', 'Li4UK', 'CV5',
    'COP28', 'H2020') are not formulas."""
    if token in _not_formulas() or not token:
        return None
    parts = _FORMULA_PART.findall(token)
    if "".join(s + n for s, n in parts) != token:
        return None
    table = elements()
    if any(s not in table or n.startswith("0") or (n and int(n) > MAX_SUBSCRIPT) for s, n in parts):
        return None
    symbols = {s for s, _ in parts}
    if len(symbols) < 2 or not any(n for _, n in parts):
        return None
    last_symbol, last_count = parts[-1]
    if not last_count and last_symbol not in _formula_endings():
        return None
    if all(len(s) == 1 for s in symbols) and not symbols & {"O", "H", "S"}:
        return None
    return [(s, int(n) if n else 1) for s, n in parts]


def _formula_candidates(text: str) -> list[Recognised]:
    """Formulas not in abbreviations.json, spelled out element by element ('CuSO4' -> 'copper sulfur oxygen')."""
    table = elements()
    out = []
    for match in _FORMULA_TOKEN.finditer(text):
        parts = parse_formula(match.group())
        if parts is None or match.group() in abbreviations():
            continue
        symbols = list(dict.fromkeys(s for s, _ in parts))
        minerals = tuple(dict.fromkeys(m for s in symbols
                                       if (m := table[s].mineral) and s not in _formula_non_minerals()))
        expansion = " ".join(table[s].name for s in symbols)
        out.append(Recognised(match.group(), match.start(), match.end(), FORMULA, expansion, minerals))
    return out


def _candidates(text: str) -> list[Recognised]:
    out = []
    table = abbreviations()
    for match in _exact_pattern().finditer(text):
        a = table[match.group(1)]
        out.append(Recognised(match.group(), match.start(), match.end(), a.kind, a.expansion, a.minerals))
    terms = _mineral_terms()
    kinds = _term_forms()
    for match in _term_pattern().finditer(text):
        key = match.group().lower()
        expansion, minerals = terms[key]
        out.append(Recognised(match.group(), match.start(), match.end(),
                              TERM if key in kinds else MINERAL, expansion, minerals))
    out.extend(_formula_candidates(text))
    out.extend(_element_candidates(text))
    return out


def recognise(text: str) -> list[Recognised]:
    """Symbols, formulas, abbreviations and mineral terms in ``text``, in text order, without overlaps (the longest
    candidate wins, then abbreviations over terms over mineral names over symbols) and each written form once (its
    first mention)."""
    chosen: list[Recognised] = []
    for cand in sorted(_candidates(text), key=lambda r: (r.start - r.end, _PRIORITY[r.kind], r.start)):
        if all(cand.end <= r.start or cand.start >= r.end for r in chosen):
            chosen.append(cand)
    seen: set[str] = set()
    out = []
    for r in sorted(chosen, key=lambda r: r.start):
        key = r.text if r.kind in (ELEMENT, FORMULA, ABBREVIATION) else r.text.lower()
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out


def expand(text: str, recognised: list[Recognised]) -> str:
    """``text`` with each recognised span's expansion inserted after it in brackets, unless every word of the
    expansion is already in the text (a brief that says 'lithium (Li)' gains nothing from another 'lithium')."""
    present = {w.lower() for w in re.findall(r"\w+", text)}
    pieces = []
    previous = 0
    for r in sorted(recognised, key=lambda r: r.start):
        # After the whole hyphenated word ('neodymium-iron-boron (...)', 'Li-ion (...)'), so compounds stay whole.
        tail = _COMPOUND_TAIL.match(text, r.end)
        end = tail.end() if tail else r.end
        if end < previous:
            continue
        pieces.append(text[previous:end])
        previous = end
        words = {w.lower() for w in re.findall(r"\w+", r.expansion)}
        if r.expansion and not words <= present:
            pieces.append(f" ({r.expansion})")
            present |= words
    pieces.append(text[previous:])
    return "".join(pieces)


# ---------------------------------------------------------------------------------------------------------- spelling

_WORD = re.compile(r"[^\W\d_]+")
MIN_LENGTH = 4  # shorter words are never corrected: too many real words lie one edit apart
LONG_WORD = 8  # from this length a word may be two edits from its correction, below it one
DOMINANCE = 2.0  # of two candidates at the same distance, the more frequent wins only when this many times commoner
TRUNCATION = 3  # letters a clipped form lacks at least; fewer missing letters at the end are a typo ('minin')


def max_distance(word: str) -> int:
    """Edits allowed to correct ``word``: 0 below MIN_LENGTH, 1 below LONG_WORD, else 2."""
    if len(word) < MIN_LENGTH:
        return 0
    return 1 if len(word) < LONG_WORD else 2


def word_frequencies(texts: Iterable[str]) -> dict[str, int]:
    """Document frequency of each lower-cased word (letters only) in ``texts``: the vocabulary a SpellingCorrector
    needs. BM25's own vocabulary holds stems ('hydrometallurgi'), which a corrected brief should not contain, so
    the engine builds this from the texts it indexes."""
    counts: dict[str, int] = {}
    for text in texts:
        for word in set(_WORD.findall(text.lower())):
            counts[word] = counts.get(word, 0) + 1
    return counts


@cache
def _english_stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


@cache
def protected_words() -> frozenset[str]:
    """Lower-cased words the data files spell (mineral names and synonyms, element names, abbreviation meanings,
    the lexicon's English): correct by construction, so never corrected even when the index lacks them."""
    words: set[str] = set(_english_stopwords())
    texts: list[str] = []
    for m in vocab.minerals().values():
        texts += [m.name, m.id, *m.synonyms]
    texts += [e.name for e in elements().values()]
    for a in abbreviations().values():
        texts += [a.form, a.expansion]
    texts += [e.english for e in lexicon().entries]
    for t in texts:
        words.update(_WORD.findall(t.lower()))
    return frozenset(words)


# British spellings the (American) English dictionary lacks, each rewritten to its American form: a word is a
# dictionary word when any rewrite is ('organisation' -> 'organization', 'sulphate' -> 'sulfate').
_AMERICAN = [(re.compile(a), b) for a, b in [
    (r"is(e|es|ed|ing|ation|ations|er|ers)$", r"iz\1"),
    (r"ys(e|es|ed|ing)$", r"yz\1"),
    (r"our(s|ed|ing|ful|less|ite|ites|able)?$", r"or\1"),
    (r"([^aeiou])re(s|d)?$", r"\1er\2"),
    (r"ph", "f"),
    (r"ae", "e"),
    (r"oe", "e"),
    (r"mme(s)?$", r"m\1"),
    (r"ll(ed|ing|er|ers)$", r"l\1"),
    (r"ence$", "ense"),
    (r"ogue(s)?$", r"og\1"),
    (r"inium$", "inum"),
]]


@cache
def _dictionary(language: str) -> Mapping[str, int]:
    """pyspellchecker's word list for ``language`` ('en', 'fr'): word -> frequency, lower case."""
    from spellchecker import SpellChecker

    return SpellChecker(language=language).word_frequency.dictionary


def in_dictionary(word: str, languages: Iterable[str] = ("en",)) -> bool:
    """Whether a lower-cased word is spelt right in one of ``languages`` (English also in British spelling)."""
    for language in languages:
        words = _dictionary(language)
        if word in words:
            return True
        if language == "en" and any(pattern.search(word) and pattern.sub(american, word) in words
                                    for pattern, american in _AMERICAN):
            return True
    return False


@dataclass(frozen=True)
class Correction:
    original: str
    corrected: str
    distance: int
    start: int  # in the text that was corrected


class SpellingCorrector:
    """Corrects words an index has never seen to a frequent index word a small edit distance away.

    ``vocabulary`` maps lower-cased words to document frequencies (see ``word_frequencies``). A word is left alone
    when it is short, in the vocabulary (at any frequency), a word of the English dictionary (pyspellchecker's, so
    'traction' is not corrected to 'extraction' for want of it in the corpus), an inflection of a vocabulary word
    (same English stem: 'cathodic' beside 'cathode'; see ``suggest``), a clipped form of one ('geochem'), a
    protected data-file word, written with capitals other than a sentence's first
    letter (acronyms, formulas, names), or joined to digits. Otherwise it becomes the nearest vocabulary word with at
    least ``min_frequency`` documents, within ``max_distance`` edits; a tie at that distance between words of
    similar frequency leaves it alone, since either guess may be wrong.
    """

    def __init__(self, vocabulary: Mapping[str, int], *, min_frequency: int = 2) -> None:
        self.vocabulary = {w.lower(): int(n) for w, n in vocabulary.items()}
        self.min_frequency = min_frequency
        self._stemmer = Stemmer.Stemmer("english")
        words = list(self.vocabulary)
        self._stems = frozenset(self._stemmer.stemWords(words))
        by_length: dict[int, list[str]] = {}
        by_stem: dict[str, list[str]] = {}
        for word, stem in zip(words, self._stemmer.stemWords(words)):
            if self.vocabulary[word] >= min_frequency and len(word) >= MIN_LENGTH - 1 and word.isalpha():
                by_length.setdefault(len(word), []).append(word)
                by_stem.setdefault(stem, []).append(word)
        self._by_length = by_length
        self._by_stem = by_stem
        self._sorted = sorted(self.vocabulary)
        self._protected = protected_words()

    def known(self, word: str, languages: Iterable[str] = ("en",)) -> bool:
        """Whether ``word`` (lower-cased) needs no correction: in the vocabulary, protected, a dictionary word of
        one of ``languages``, or a short form of a vocabulary word. (An inflection of a vocabulary word is not
        'known' here: see ``suggest``.)"""
        return (word in self.vocabulary or word in self._protected or in_dictionary(word, languages)
                or self._short_form(word))

    def _short_form(self, word: str) -> bool:
        """Whether ``word`` begins a vocabulary word at least TRUNCATION letters longer: a clipped form ('hydromet',
        'geochem') rather than a typo, which a two-edit correction would turn into another word ('hydrogen')."""
        if len(word) < MIN_LENGTH + 1:
            return False
        i = bisect.bisect_left(self._sorted, word)
        while i < len(self._sorted) and self._sorted[i].startswith(word):
            if len(self._sorted[i]) - len(word) >= TRUNCATION:
                return True
            i += 1
        return False

    def suggest(self, word: str) -> tuple[str, int] | None:
        """The correction of a lower-cased unknown word and its distance, or None when there is no clear one.

        A word with the English stem of a vocabulary word ('cathodic' beside 'cathode') is an inflection, which
        BM25 already matches: it is only corrected to a word of that stem and length one letter away
        ('responsable' -> 'responsible'), never to another word nor by adding or dropping an ending."""
        limit = max_distance(word)
        if limit == 0:
            return None
        stem = self._stemmer.stemWord(word)
        if stem in self._stems:
            same = [w for w in self._by_stem.get(stem, ()) if len(w) == len(word) and OSA.distance(word, w) == 1]
            return (max(same, key=lambda w: (self.vocabulary[w], w)), 1) if same else None
        choices = [w for n in range(len(word) - limit, len(word) + limit + 1) for w in self._by_length.get(n, ())]
        found = process.extract(word, choices, scorer=OSA.distance, score_cutoff=limit, limit=None)
        # Two edits only within the same first two letters: typos rarely hit a word's start, and a word two edits
        # from another that starts differently is usually a different word ('retreatment', 'treatment').
        found = [(w, d, i) for w, d, i in found if d < 2 or w[:2] == word[:2]]
        if not found:
            return None
        ranked = sorted(((d, -self.vocabulary[w], w) for w, d, _ in found))
        best_distance, best_df, best = ranked[0]
        # Rivals: other words as close, not much rarer, and not an inflection of the best ('magnet' / 'magnets').
        stem = self._stemmer.stemWord(best)
        rivals = [w for d, df, w in ranked[1:] if d == best_distance and -best_df < DOMINANCE * -df
                  and self._stemmer.stemWord(w) != stem]
        if rivals:
            return None
        return best, int(best_distance)

    def correct(self, text: str, languages: Iterable[str] = ("en",)) -> tuple[str, list[Correction]]:
        """``text`` with unknown words corrected (case of the first letter kept), and the corrections made. Words of
        ``languages``' dictionaries are left alone: pass ("en", "fr") for a French brief's English rendering, whose
        untranslated words are French."""
        languages = tuple(languages)
        corrections: list[Correction] = []
        pieces: list[str] = []
        previous = 0
        for match in _WORD.finditer(text):
            word, start, end = match.group(), match.start(), match.end()
            lower = word.lower()
            if lower in self.vocabulary or not self._eligible(text, word, start, end) or self.known(lower, languages):
                continue  # most words are the index's own: one lookup settles them
            suggestion = self.suggest(lower)
            if suggestion is None:
                continue
            corrected, distance = suggestion
            if word[0].isupper():
                corrected = corrected[0].upper() + corrected[1:]
            pieces += [text[previous:start], corrected]
            previous = end
            corrections.append(Correction(word, corrected, distance, start))
        pieces.append(text[previous:])
        return "".join(pieces), corrections

    @staticmethod
    def _eligible(text: str, word: str, start: int, end: int) -> bool:
        """Plain words only: not joined to digits ('Li2CO3', '3D'), no inner capitals ('NdFeB', 'LIB'), and a
        capitalised word only at a sentence start (elsewhere it is a name: 'Sudbury', 'Laval')."""
        if len(word) < MIN_LENGTH:
            return False
        if (start and text[start - 1].isdigit()) or (end < len(text) and text[end].isdigit()):
            return False
        if any(c.isupper() for c in word[1:]):
            return False
        return not word[0].isupper() or _sentence_initial(text, start)


# ------------------------------------------------------------------------------------------------------------ query


@dataclass(frozen=True)
class NormalisedBrief:
    """A brief made ready for retrieval. ``text`` is what both retrievers should read."""

    original: str
    text: str
    language: str  # "en" or "fr" (detected)
    translated: str | None  # the English rendering of a French brief, before correction and expansion
    recognised: tuple[Recognised, ...] = ()
    corrections: tuple[Correction, ...] = ()
    _minerals: tuple[str, ...] = field(default=(), repr=False)

    @property
    def minerals(self) -> tuple[str, ...]:
        """Vocabulary mineral ids the brief names, in first-mention order."""
        return self._minerals

    @property
    def lexical_text(self) -> str:
        """``text``, and for a French brief its original too: the corpus keeps French names as written ('Université
        du Québec à Chicoutimi'), which only the original's words match exactly. The dense side reads ``text``."""
        return self.text if self.translated is None else f"{self.text}\n{self.original}"


class QueryNormaliser:
    """Detects French and translates it, corrects misspellings against the index's words (when given a
    vocabulary), and expands symbols, formulas and abbreviations. Holds no state between briefs, so one instance
    serves every request."""

    def __init__(self, vocabulary: Mapping[str, int] | None = None, *, min_frequency: int = 2,
                 translate: bool = True, expands: Callable[[Recognised], bool] | None = None) -> None:
        self.corrector = SpellingCorrector(vocabulary, min_frequency=min_frequency) if vocabulary else None
        self.translate = translate
        self.expands = expands  # which recognised spans get their expansion inserted (None: all)

    def __call__(self, brief: str) -> NormalisedBrief:
        return self.normalise(brief)

    def normalise(self, brief: str, language: str | None = None, *, plain_language: bool = True) -> NormalisedBrief:
        """The normalised brief: translated if French, corrected, then expanded. ``language`` ("en" or "fr"), when
        the caller knows it (say, detected on a long brief's beginning), skips detection. ``plain_language``: whether
        everyday phrases ('shredding batteries') get the field's words too."""
        brief = clean_query_text(brief)
        language = language or detect_language(brief).language
        translated = translate_french(brief) if language == "fr" and self.translate else None
        text = translated if translated is not None else brief
        corrections: list[Correction] = []
        if self.corrector is not None:
            text, corrections = self.corrector.correct(text, ("en", "fr") if translated is not None else ("en",))
        found = recognise(text)
        minerals = tuple(dict.fromkeys(m for r in found for m in r.minerals))
        shown = found if self.expands is None else [r for r in found if self.expands(r)]
        if not plain_language:
            shown = [r for r in shown if not (r.kind == TERM and r.text.lower() in plain_language_forms())]
        return NormalisedBrief(brief, expand(text, shown), language, translated, tuple(found), tuple(corrections),
                               minerals)


def normalise_query(brief: str, vocabulary: Mapping[str, int] | None = None) -> NormalisedBrief:
    """One-off ``QueryNormaliser(vocabulary).normalise(brief)``; build a QueryNormaliser once to serve many briefs."""
    return QueryNormaliser(vocabulary).normalise(brief)
