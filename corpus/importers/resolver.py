"""One organisation per real body: incoming names resolved to the organisations already known.

In order: a known identifier (GtR organisation id, NSERC OrganizationID, ROR id), the user's mapping, the
normalised name or an alias, then what makes a known body plausible, in any country: the name without a bracketed
acronym ("British Geological Survey (BGS)"), parts naming known bodies ("University of Toronto - St. George";
a known sub-unit named with its parent is that sub-unit), a name that begins with a known one ("Queen's University
at Kingston") or that a known one begins with, an acronym that is a known name's initials, and a near spelling
whose telling words (not "university", "of") are alike too. Only a spelling slip of the same words, in the source's
country, is taken without asking; every other plausible match waits, ``ambiguous``, with its candidates, for
``accept`` (take the proposal) or a mapping (name -> organisation id, or ``new``). A name that is the parent body of
a known sub-unit ("University of Warwick" beside "WMG, University of Warwick") is not that sub-unit: it waits too.
Every decision is kept for the import's report.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from rapidfuzz import fuzz, process

from corpus.errors import CorpusError
from corpus.importers.tables import decode, fold, sniff_dialect
from corpus.schema import ROR_PREFIX, ROR_URL, Organisation, ror_id, ror_problem, slugify

# Legal forms and filler words that do not tell two bodies apart ("Ltd", "The", "of").
_DROP = frozenset("""the of and at for in de du des la le les et a an ltd limited plc llp llc inc incorporated corp
corporation co company cic cio gmbh ag sa sas bv ab oyj uk""".split())
_LEGAL_PHRASE = re.compile(r"\bhigher education corporation\b")  # "De Montfort University Higher Education Corp."
_EXPAND = {"univ": "university", "uni": "university", "sch": "school", "inst": "institute", "natl": "national",
           "nat": "national", "tropic": "tropical", "med": "medicine", "lab": "laboratory", "labs": "laboratories",
           "ctr": "centre", "center": "centre", "st": "saint", "ste": "sainte", "dept": "department",
           "universite": "university", "universitat": "university"}
# Research councils and UKRI name their own institutes with a prefix: "NERC British Geological Survey".
_COUNCIL_PREFIX = re.compile(r"^(nerc|stfc|bbsrc|epsrc|mrc|esrc|ahrc|ukri|ukri-nerc)\b[\s\-:]*", re.I)
_DATED = re.compile(r"\((up to|from|until|to)\b[^)]*\)", re.I)  # "NOC (Up to 31.10.2019)"
_PARENT_WORDS = re.compile(r"universit|college|institute|council|school", re.I)
_COMPANY = re.compile(r"\b(ltd|limited|plc|p\s?l\s?c|inc|incorporated|llc|corp|corporation|gmbh|oyj|s\.?a\.?s?|"
                      r"b\.?v\.?|a/s|pty|co\.|lt[eé]e|limit[eé]e|s\.?e\.?n\.?c\.?)(\W|$)", re.I)  # ltée: Québec
_UNIVERSITY = re.compile(r"\b(universit(y|e|é|ies)|universidad|universit[aä]t)\b", re.I)
FUZZY_SURE = 96.0  # a single candidate this close (token order and filler ignored) is the same body
FUZZY_ASK = 85.0  # candidates this close are shown and the row waits
# Words that name a kind of body, not which one: a name made only of them is too general to stand for a body inside
# a longer name, and two names alike only in them are not near.
_GENERIC = frozenset("""university universities college school institute centre department faculty laboratory
laboratories national research council survey geological society association foundation trust group international
technology sciences science engineering royal campus division unit office agency ministry government
services saint sainte""".split())


def _telling(key: str) -> bool:
    """Whether a name key (the shorter of two, found whole in the other) tells a body apart: two words or more
    with one that is not generic, or one word no dictionary knows ('UBC', 'CanmetMINING')."""
    from corpus.normalise import in_dictionary

    words = key.split()
    if len(words) == 1:
        return len(key) >= 3 and not key.isdigit() and not in_dictionary(key)
    return any(w not in _GENERIC and not w.isdigit() for w in words)


def _cores_alike(a: str, b: str) -> bool:
    """Whether the words that tell two names apart (not 'university', 'of', 'institute'...) are alike too: spelt
    nearly the same, or one beginning like the other and nearly part of it ('laurentian' / 'laurentienne'; not
    'chester' / 'manchester'). Names with no such words on one side are left to the whole-name score."""
    core_a = " ".join(w for w in a.split() if w not in _GENERIC)
    core_b = " ".join(w for w in b.split() if w not in _GENERIC)
    if not core_a or not core_b:
        return True
    if fuzz.token_set_ratio(core_a, core_b) >= FUZZY_ASK:  # one set of telling words in the other counts
        return True
    return (min(len(core_a), len(core_b)) >= 5 and core_a[:3] == core_b[:3]
            and fuzz.partial_ratio(core_a, core_b) >= FUZZY_ASK)


def _same_but_spelling(a: str, b: str) -> bool:
    """The same words but for spelling slips: as many words, the same numbers, each pair alike. A name that differs
    in a number ('No. 3' / 'No. 30') or by a word (a campus, a city) is another body until a person says so."""
    wa, wb = sorted(a.split()), sorted(b.split())
    if len(wa) != len(wb) or [w for w in wa if any(c.isdigit() for c in w)] != [
            w for w in wb if any(c.isdigit() for c in w)]:
        return False
    only_a, only_b = [w for w in wa if w not in wb], [w for w in wb if w not in wa]
    return all(max((fuzz.ratio(x, y) for y in only_b), default=0) >= 75 for x in only_a)


def name_key(name: str) -> str:
    """The words that identify a body, in order: 'The University of British Columbia' -> 'university british
    columbia'; 'LONDON SCH OF HYGIENE & TROPIC. MEDICINE' -> 'london school hygiene tropical medicine'."""
    text = _LEGAL_PHRASE.sub(" ", _DATED.sub(" ", fold(name).replace("&", " and ")))
    text = re.sub(r"'s\b", "s", text)
    text = re.sub(r"\bu\.?\s+of\b", "university of", text)  # 'U of Toronto', 'U. of T'
    # Initials written with full stops ('C.I.C.', 'U.S.') are one word, as is 'P L C': 'cic', 'us', 'plc'.
    text = re.sub(r"\b(?:[a-z]\.\s?){2,}", lambda m: re.sub(r"[.\s]", "", m.group(0)) + " ", text)
    text = re.sub(r"\bp l c\b", "plc", text)
    words = [_EXPAND.get(w, w) for w in re.findall(r"[a-z0-9]+", text)]
    words = [w for w in words if w not in _DROP]
    return " ".join(words)


def name_keys(name: str) -> list[str]:
    """The keys a name is looked up by: as written, and without a council's prefix (NERC, STFC, ...)."""
    keys = [name_key(name)]
    bare = _COUNCIL_PREFIX.sub("", name.strip())
    if bare != name.strip() and name_key(bare):
        keys.append(name_key(bare))
    return [k for k in dict.fromkeys(keys) if k]


def sorted_key(key: str) -> str:
    return " ".join(sorted(key.split()))


def infer_org_type(name: str) -> str:
    """A type only where the name makes it plain (a university; Ltd, plc, Inc -> company), else 'unknown'."""
    if _UNIVERSITY.search(name):
        return "university"
    if _COMPANY.search(name):
        return "company"
    return "unknown"


def split_unit(name: str) -> tuple[str, str] | None:
    """'Camborne School of Mines, University of Exeter' -> (unit, parent) when the last part names a body."""
    unit, sep, parent = name.rpartition(",")
    if sep and unit.strip() and _PARENT_WORDS.search(parent):
        return unit.strip(), parent.strip()
    return None


@dataclass
class Resolution:
    """What became of one incoming name: matched, created or ambiguous (waiting), and why."""

    name: str
    role: str  # lead, participant, co-applicant, partner
    action: str = ""  # matched | created | ambiguous | skipped
    organisation_id: str = ""
    method: str = ""  # identifier | name | alias | fuzzy | map | accepted | new
    score: float | None = None
    candidates: list[str] = field(default_factory=list)
    note: str = ""
    rows: int = 0

    REPORT_COLUMNS = ("role", "name", "action", "organisation_id", "method", "score", "candidates", "note", "rows")

    def as_row(self) -> dict[str, str]:
        return {"role": self.role, "name": self.name, "action": self.action, "organisation_id": self.organisation_id,
                "method": self.method, "score": "" if self.score is None else f"{self.score:.1f}",
                "candidates": "; ".join(self.candidates), "note": self.note, "rows": str(self.rows)}


def _is_ror(value: str) -> bool:
    """A mapping target written as a ROR id (a URL, ror:…, or 9 characters that check out) rather than an id."""
    return bool(ROR_PREFIX.match(value)) or ror_problem(value) is None


class OrganisationMap(dict[str, str]):
    """A mapping read from files: name key -> organisation id, ROR id, ``new`` or ``skip``; ``where`` remembers the
    file, line and name each came from, so a refused id is named where the user wrote it."""

    def __init__(self) -> None:
        super().__init__()
        self.where: dict[str, str] = {}
        self.made: set[str] = set()  # keys of a report's unedited 'created' rows: their id, or new


def _report_made_id(target: str, name: str) -> bool:
    """Whether ``target`` is the id a report gave a name it would create (``ca-<slug>``, perhaps ``-2``)."""
    slug = slugify(name)
    for stem in (target, re.sub(r"-\d+$", "", target)):
        made = stem[3:] if re.match(r"[a-z]{2}-", stem) else ""
        if made and (made == slug or (len(stem) >= 100 and slug.startswith(made))):  # ids are cut at 120
            return True
    return False


def read_mapping(*paths: Path | str) -> OrganisationMap:
    """Mapping files: CSV with ``name`` and ``organisation_id`` columns (an edited ``--report`` file is one);
    ``organisation_id`` is an existing id, ``new`` to create the organisation, ``skip``, or the ROR id of an
    organisation that carries it; a ``ror`` (or ``ROR ID``) column does the same where ``organisation_id`` is blank.
    The id written wins whatever the row's ``action`` says; on a report's ``created`` row the id the report made up
    for it means that record once it exists, else ``new`` (``made``). Rows left blank, and the report's ``off_topic`` rows, are ignored."""
    out = OrganisationMap()
    for path in map(Path, paths):
        _read_one_mapping(path, out)
    return out


def _read_one_mapping(path: Path, out: OrganisationMap) -> None:
    text, _ = decode(path, legacy=True)
    reader = csv.DictReader(io.StringIO(text, newline=""), dialect=sniff_dialect(text))  # , ; or tab
    fields = {re.sub(r"[^a-z]", "", f.lower()) or f: f for f in reader.fieldnames or []}
    fields.setdefault("organisation_id", fields.get("organisationid", ""))
    if "name" not in fields or not fields["organisation_id"]:
        raise CorpusError(f"{path.name}: a mapping file needs the columns name and organisation_id (found "
                          f"{', '.join(reader.fieldnames or []) or 'none'}); edit the file --report writes, filling "
                          "organisation_id with an existing id, a ROR id or 'new'")
    ror_column = fields.get("ror") or fields.get("rorid")
    for line, row in enumerate(reader, start=2):
        name, target = (row.get(fields["name"]) or "").strip(), (row.get(fields["organisation_id"]) or "").strip()
        action = (row.get(fields["action"]) or "").strip() if "action" in fields else ""
        if action == "off_topic":
            continue
        made = action == "created" and _report_made_id(target, name)
        from_ror = not target and bool(ror_column)
        if from_ror:
            target = (row.get(ror_column) or "").strip()
        if target and (from_ror or target not in ("new", "skip") and _is_ror(target)):
            try:
                target = ror_id(target)
            except ValueError as e:
                raise CorpusError(f"{path.name} line {line}: {e}") from e
        if name and target:
            key, here = name_key(name), f"{path.name} line {line}, {name}"
            if key in out and out[key] != target:  # one name, one organisation: say which lines disagree
                raise CorpusError(f"the mapping gives {name!r} two organisations: {out[key]} ({out.where[key]}) and "
                                  f"{target} ({here}); keep one of them (a name is one organisation whatever its "
                                  "role)")
            out[key] = target
            out.where[key] = here
            if made:
                out.made.add(name_key(name))
            else:
                out.made.discard(name_key(name))


def write_report(resolutions: Iterable[Resolution], path: Path | str) -> None:
    """The import's report: one row per name (and, from ``ImportPlan.off_topic_rows``, per flagged project)."""
    with open(path, "w", encoding="utf-8-sig", newline="") as handle:  # with a BOM: Excel then reads it as UTF-8
        writer = csv.DictWriter(handle, fieldnames=Resolution.REPORT_COLUMNS)
        writer.writeheader()
        for r in resolutions:
            writer.writerow(r.as_row())


class OrganisationResolver:
    """Resolves names to organisation ids against ``existing``; remembers every decision (``resolutions``)."""

    def __init__(self, existing: Iterable[Organisation], *, mapping: dict[str, str] | None = None,
                 accept: bool = False) -> None:
        self.by_id: dict[str, Organisation] = {o.id: o for o in existing}
        self.accept = accept
        self.by_identifier: dict[tuple[str, str], str] = {}
        self.by_key: dict[str, set[str]] = {}
        self.by_sorted: dict[str, set[str]] = {}
        self.by_word: dict[str, set[str]] = {}  # a word -> the name keys that hold it
        self.by_initials: dict[str, set[str]] = {}  # 'ets' -> bodies whose name's words begin e, t, s
        self.parents: dict[str, set[str]] = {}  # parent body's key -> its known sub-units
        for org in self.by_id.values():
            self._index(org)
        # A mapping to a ROR id means the organisation that carries it.
        self.mapping = {k: self.by_identifier.get(("ror", v.lower()), v) if v.startswith(ROR_URL) else v
                        for k, v in (mapping or {}).items()}
        # A report's own 'created' row names the id it would make: that record if it exists by now, else new.
        for key in getattr(mapping, "made", ()):
            if self.mapping.get(key) not in self.by_id:
                self.mapping[key] = "new"
        self._refuse_unknown(mapping or {})
        self.resolutions: dict[tuple[str, str], Resolution] = {}

    def _refuse_unknown(self, mapping: dict[str, str]) -> None:
        """A mapping to an id no organisation has is refused, naming the line and the nearest existing ids."""
        where = getattr(mapping, "where", {})
        problems = []
        for key, target in self.mapping.items():
            if target in self.by_id or target in ("new", "skip"):
                continue
            near = [c for c, _, _ in process.extract(target, list(self.by_id), scorer=fuzz.ratio, limit=2,
                                                     score_cutoff=70)]
            hint = f"; did you mean {' or '.join(near)}?" if near else ""
            problems.append(f"{mapping[key]} ({where.get(key, 'for ' + repr(key))}{hint})")
        if problems:
            raise CorpusError("the mapping names organisation id(s) or ROR id(s) that no organisation has: "
                              + "; ".join(sorted(problems)[:10]) + ". Use an existing organisation's id, the ROR id of "
                              "an organisation that carries it, 'new' to create the organisation, or 'skip'")

    def _index(self, org: Organisation) -> None:
        for scheme, value in org.identifiers.items():
            self.by_identifier.setdefault((scheme, value.strip().lower()), org.id)
        split = split_unit(org.name)
        parent_keys = set(name_keys(split[1])) if split else set()
        for key in parent_keys:
            self.parents.setdefault(key, set()).add(org.id)
        names = [org.name, *org.aliases] + ([split[0]] if split else [])
        for name in names:
            for key in name_keys(name):
                if key in parent_keys:
                    continue  # an alias naming the parent body ("University of Exeter" on CSM) is not this body
                self.by_key.setdefault(key, set()).add(org.id)
                for word in key.split():
                    self.by_word.setdefault(word, set()).add(key)
                if len(key.split()) >= 2 and name is org.name:
                    self.by_initials.setdefault("".join(w[0] for w in key.split()), set()).add(org.id)
                self.by_sorted.setdefault(sorted_key(key), set()).add(org.id)

    def add(self, org: Organisation) -> None:
        """An organisation this import creates: later rows naming it find it."""
        self.by_id[org.id] = org
        self._index(org)

    def resolve(self, name: str, *, role: str, identifiers: dict[str, str] | None = None,
                country: str | None = None) -> Resolution:
        """The decision for ``name`` (one per distinct name and role; repeated rows count in ``rows``).

        ``country``: where the source places the body, preferred when one name fits bodies in two countries."""
        name = " ".join(name.split())
        ident = {k: v.strip() for k, v in (identifiers or {}).items() if v and v.strip()}
        if "ror" in ident:
            try:
                ident["ror"] = ror_id(ident["ror"])
            except ValueError as e:
                raise CorpusError(f"{name}: {e}") from e
        memo = (role, name_key(name) or name.lower())
        if memo in self.resolutions:
            found = self.resolutions[memo]
            found.rows += 1
            return found
        r = self._decide(name, role, ident, country)
        r.rows = 1
        self.resolutions[memo] = r
        return r

    def _decide(self, name: str, role: str, ident: dict[str, str], country: str | None) -> Resolution:
        out = Resolution(name=name, role=role)
        for scheme, value in ident.items():
            org_id = self.by_identifier.get((scheme, value.lower()))
            if org_id:
                return self._matched(out, org_id, "identifier", note=f"{scheme} id {value}")
        keys = name_keys(name)
        for key in keys:
            target = self.mapping.get(key)
            if target == "new":
                # The same mapping used again: the organisation its 'new' created then is the one meant now.
                same = self._prefer(self.by_key.get(key, set()), country)
                if len(same) == 1:
                    return self._matched(out, next(iter(same)), "map",
                                         note="the mapping says new; created by an earlier import with it")
                out.action, out.method, out.note = "created", "map", "the mapping says: new organisation"
                return out
            if target == "skip":
                out.action, out.method, out.note = "skipped", "map", "the mapping says: skip"
                return out
            if target:
                return self._matched(out, target, "map")
        for index, note in ((self.by_key, ""), (self.by_sorted, "same words in another order")):
            for key in keys:
                found = index.get(key if index is self.by_key else sorted_key(key), set())
                ids = self._prefer(found, country)
                if len(ids) > 1:
                    return self._ambiguous(out, sorted(ids), None, "the name fits several organisations")
                if ids and country and self.by_id[next(iter(ids))].country != country:
                    # Known only in another country: a namesake or an arm of the same group, for a person to say.
                    org_id = next(iter(ids))
                    return self._ambiguous(out, [org_id], None, f"the name is known only in "
                                           f"{self.by_id[org_id].country}, the source places it in {country}",
                                           proposal=org_id)
                if ids:
                    return self._matched(out, next(iter(ids)), "name", note=note)
        for key in keys:
            subunits = self.parents.get(key)
            if subunits and not self.by_key.get(key):
                return self._ambiguous(out, sorted(subunits), None,
                                       "names the parent body of known sub-unit(s), which are not the same body; "
                                       "map it to one of them, or accept to create the parent",
                                       proposal="new")
        return self._near(out, name, keys, country)

    def _prefer(self, ids: set[str], country: str | None) -> set[str]:
        if len(ids) > 1 and country:
            here = {i for i in ids if self.by_id[i].country == country}
            return here or ids
        return ids

    def _near(self, out: Resolution, name: str, keys: list[str], country: str | None) -> Resolution:
        """No exact name: an existing organisation that plausibly is this body makes the row wait; only a spelling
        slip of the same words in the same country is taken without asking; nothing plausible -> created."""
        for decide in (self._acronym_in_brackets, self._named_parts):
            decided = decide(out, name, country)
            if decided is not None:
                return decided
        best: dict[str, tuple[float, str]] = {}  # organisation id -> (score, why)
        sure: set[str] = set()  # the same words but for a spelling slip

        def offer(org_ids: Iterable[str], score: float, why: str) -> None:
            for org_id in org_ids:
                if score > best.get(org_id, (0.0, ""))[0]:
                    best[org_id] = (score, why)

        if re.fullmatch(r"[A-Z]{2,6}", name.strip()):  # an acronym no record carries: the initials of a known name
            offer(self.by_initials.get(name.strip().lower(), set()), 90.0,
                  "an acronym that is the initials of a known name: the same body, or another?")
        all_keys = list(self.by_key)
        for key in keys:
            # One name begins with the other whole ('Queen's University at Kingston' / 'Queen's University'): the
            # same body with a campus or department added, a part of it, or its parent; a person says which. A
            # name holding the other's words elsewhere ('Oxford Brookes University') is another body.
            sharing = set().union(*(self.by_word.get(w, set()) for w in key.split()))
            for candidate in sorted(sharing):
                shorter, longer = sorted((candidate, key), key=len)
                if candidate == key or not (longer.startswith(shorter + " ") and _telling(shorter)):
                    continue
                for org_id in self.by_key[candidate]:
                    known = self.by_id[org_id].name
                    offer([org_id], 100.0, f"holds the whole name of {known}: a campus, department or part of it, or "
                          "another body?" if shorter == candidate else
                          f"its whole name begins {known}'s: the same body, or another?")
            if len(key) < 8 or " " not in key:
                continue  # a short name (an acronym) is too short for spelling distance to mean anything
            for candidate, score, _ in process.extract(key, all_keys, scorer=fuzz.token_sort_ratio, limit=5,
                                                       score_cutoff=FUZZY_ASK):
                if not _cores_alike(key, candidate):
                    continue  # alike only in words every such name has ('University of Derby' / '... Regina')
                offer(self.by_key[candidate], float(score), "a near match: the same body, or another?")
                if score >= FUZZY_SURE and _same_but_spelling(key, candidate):
                    sure |= self.by_key[candidate]
        if not best:
            out.action, out.method = "created", "new"
            return out
        ranked = sorted(best.items(), key=lambda kv: -kv[1][0])
        (top_id, (top, why)), runner_up = ranked[0], (ranked[1][1][0] if len(ranked) > 1 else 0.0)
        abroad = bool(country) and self.by_id[top_id].country != country
        if top_id in sure and runner_up < FUZZY_ASK and not abroad:
            return self._matched(out, top_id, "fuzzy", score=top)
        if abroad:
            why += f" (known in {self.by_id[top_id].country}, the source places it in {country})"
        return self._ambiguous(out, [i for i, _ in ranked[:5]], top, why, proposal=top_id)

    def _exact(self, name: str) -> set[str]:
        return {i for key in name_keys(name) for i in self.by_key.get(key, ())}

    def _acronym_in_brackets(self, out: Resolution, name: str, country: str | None) -> Resolution | None:
        """'British Geological Survey (BGS)': the name without the brackets, checked against the acronym."""
        match = re.fullmatch(r"(.+?)\s*\(([^()]+)\)\s*", name)
        if not match:
            return None
        bare, acronym = self._exact(match.group(1)), self._exact(match.group(2))
        initials = "".join(w[0] for key in name_keys(match.group(1))[:1] for w in key.split())
        agrees = acronym == bare or (not acronym and name_key(match.group(2)).replace(" ", "") == initials)
        if len(bare) == 1 and not agrees:  # '(Mississauga)', '(UTM)': a campus or a part, for a person to say
            org_id = next(iter(bare))
            return self._ambiguous(out, [org_id], None, f"names {self.by_id[org_id].name} with "
                                   f"'({match.group(2)})': the same body, a part of it, or another?", proposal=org_id)
        if len(bare) == 1:
            org_id = next(iter(bare))
            if country and self.by_id[org_id].country != country:
                return self._ambiguous(out, [org_id], None, f"the name without '({match.group(2)})' is known only in "
                                       f"{self.by_id[org_id].country}, the source places it in {country}",
                                       proposal=org_id)
            return self._matched(out, org_id, "name", note=f"the name without '({match.group(2)})'")
        if bare or acronym:
            candidates = sorted(bare) + sorted(acronym - bare)
            return self._ambiguous(out, candidates[:5], None, f"the name and its '({match.group(2)})' point to "
                                   "different or several organisations", proposal=candidates[0])
        return None

    def _named_parts(self, out: Resolution, name: str, country: str | None) -> Resolution | None:
        """'University of Exeter - Camborne School of Mines': a known sub-unit named with its parent is that
        sub-unit; a known body with a campus or department added, or two known bodies, wait."""
        parts = [p.strip() for p in re.split(r"\s+[-–—/:]\s+|\s*[,;]\s*", name) if name_keys(p)]  # not 'Ltd'
        if len(parts) < 2:
            return None
        named = [(part, self._exact(part)) for part in parts]
        found = [(part, ids) for part, ids in named if ids]
        if not found:
            return None
        all_ids = set().union(*(ids for _, ids in found))
        for org_id in sorted(all_ids):
            parent = self.by_id[org_id].parent_id
            others = all_ids - {org_id}
            if parent and others == {parent} and all(ids for _, ids in named):
                if not country or self.by_id[org_id].country == country:
                    return self._matched(out, org_id, "name", note="a known sub-unit named with its parent")
        ordered = [i for _, ids in (found if "," in name else reversed(found)) for i in sorted(ids)]
        unnamed = [part for part, ids in named if not ids]
        note = (f"names {', '.join(sorted(all_ids))} with {', '.join(repr(u) for u in unnamed)}: a campus or "
                "department of it, or another body?" if unnamed else "names several known organisations: which?")
        return self._ambiguous(out, list(dict.fromkeys(ordered))[:5], None, note, proposal=ordered[0])

    def _matched(self, out: Resolution, org_id: str, method: str, *, score: float | None = None,
                 note: str = "") -> Resolution:
        out.action, out.organisation_id, out.method, out.score, out.note = "matched", org_id, method, score, note
        return out

    def _ambiguous(self, out: Resolution, candidates: list[str], score: float | None, note: str, *,
                   proposal: str | None = None) -> Resolution:
        out.candidates, out.score = candidates, score
        if self.accept and proposal:
            if proposal == "new":
                out.action, out.method, out.note = "created", "accepted", note
            else:
                out.action, out.organisation_id, out.method, out.note = "matched", proposal, "accepted", note
            return out
        out.action, out.note = "ambiguous", note + " (waits for --accept or a mapping file)"
        return out


def new_organisation_id(name: str, country: str, taken: Iterable[str]) -> str:
    """``gb-<slug>``, with a number added if that id is taken by another body."""
    base = f"{country.lower()}-{slugify(name)}"[:120]
    taken = set(taken)
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    return candidate
