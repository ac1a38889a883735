"""One organisation per real body: incoming names resolved to the organisations already known.

In order: a known identifier (GtR organisation id, NSERC OrganizationID, ROR id), the user's mapping, the
normalised name or an alias, then a cautious fuzzy match. A near match is never taken silently and never created
beside its twin: it waits, ``ambiguous``, for ``accept`` (take the proposal) or a mapping (name -> organisation id,
or ``new``). A name that is the parent body of a known sub-unit ("University of Warwick" beside "WMG, University
of Warwick") is not that sub-unit: it waits too. Every decision is kept for the import's report.
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
           "ctr": "centre", "center": "centre", "dept": "department", "universite": "university",
           "universitat": "university"}
# Research councils and UKRI name their own institutes with a prefix: "NERC British Geological Survey".
_COUNCIL_PREFIX = re.compile(r"^(nerc|stfc|bbsrc|epsrc|mrc|esrc|ahrc|ukri|ukri-nerc)\b[\s\-:]*", re.I)
_DATED = re.compile(r"\((up to|from|until|to)\b[^)]*\)", re.I)  # "NOC (Up to 31.10.2019)"
_PARENT_WORDS = re.compile(r"universit|college|institute|council|school", re.I)
_COMPANY = re.compile(r"\b(ltd|limited|plc|p\s?l\s?c|inc|incorporated|llc|corp|corporation|gmbh|oyj|s\.?a\.?s?|"
                      r"b\.?v\.?|a/s|pty|co\.)(\W|$)", re.I)
_UNIVERSITY = re.compile(r"\b(universit(y|e|é|ies)|universidad|universit[aä]t)\b", re.I)
FUZZY_SURE = 96.0  # a single candidate this close (token order and filler ignored) is the same body
FUZZY_ASK = 85.0  # candidates this close are shown and the row waits


def name_key(name: str) -> str:
    """The words that identify a body, in order: 'The University of British Columbia' -> 'university british
    columbia'; 'LONDON SCH OF HYGIENE & TROPIC. MEDICINE' -> 'london school hygiene tropical medicine'."""
    text = _LEGAL_PHRASE.sub(" ", _DATED.sub(" ", fold(name).replace("&", " and ")))
    text = re.sub(r"'s\b", "s", text)
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


def read_mapping(path: Path | str) -> dict[str, str]:
    """A mapping file: CSV with ``name`` and ``organisation_id`` columns (an edited ``--report`` file is one);
    ``organisation_id`` is an existing id, ``new`` to create the organisation, or the ROR id of an organisation
    that carries it; a ``ror`` (or ``ROR ID``) column does the same where ``organisation_id`` is blank. Rows left
    blank are ignored."""
    path = Path(path)
    text, _ = decode(path, legacy=True)
    reader = csv.DictReader(io.StringIO(text, newline=""), dialect=sniff_dialect(text))  # , ; or tab
    fields = {re.sub(r"[^a-z]", "", f.lower()) or f: f for f in reader.fieldnames or []}
    fields.setdefault("organisation_id", fields.get("organisationid", ""))
    if "name" not in fields or not fields["organisation_id"]:
        raise CorpusError(f"{path.name}: a mapping file needs the columns name and organisation_id (found "
                          f"{', '.join(reader.fieldnames or []) or 'none'}); edit the file --report writes, filling "
                          "organisation_id with an existing id, a ROR id or 'new'")
    ror_column = fields.get("ror") or fields.get("rorid")
    out: dict[str, str] = {}
    for line, row in enumerate(reader, start=2):
        name, target = (row.get(fields["name"]) or "").strip(), (row.get(fields["organisation_id"]) or "").strip()
        action = (row.get(fields["action"]) or "").strip() if "action" in fields else ""
        if action == "created":  # a report's own row: the id it would make does not exist yet
            target = "new"
        from_ror = not target and bool(ror_column)
        if from_ror:
            target = (row.get(ror_column) or "").strip()
        if target and (from_ror or target not in ("new", "skip") and _is_ror(target)):
            try:
                target = ror_id(target)
            except ValueError as e:
                raise CorpusError(f"{path.name} line {line}: {e}") from e
        if name and target and action != "skipped":
            out[name_key(name)] = target
    return out


def write_report(resolutions: Iterable[Resolution], path: Path | str) -> None:
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
        self.parents: dict[str, set[str]] = {}  # parent body's key -> its known sub-units
        for org in self.by_id.values():
            self._index(org)
        # A mapping to a ROR id means the organisation that carries it.
        self.mapping = {k: self.by_identifier.get(("ror", v.lower()), v) if v.startswith(ROR_URL) else v
                        for k, v in (mapping or {}).items()}
        unknown = sorted({v for v in self.mapping.values() if v not in self.by_id and v not in ("new", "skip")})
        if unknown:
            raise CorpusError(f"the mapping names organisation id(s) or ROR id(s) that no organisation has: "
                              f"{', '.join(unknown[:10])}; use an existing id, the ROR id of an organisation that "
                              "carries it, 'new' or 'skip'")
        self.resolutions: dict[tuple[str, str], Resolution] = {}

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
        return self._fuzzy(out, keys, country)

    def _prefer(self, ids: set[str], country: str | None) -> set[str]:
        if len(ids) > 1 and country:
            here = {i for i in ids if self.by_id[i].country == country}
            return here or ids
        return ids

    def _fuzzy(self, out: Resolution, keys: list[str], country: str | None) -> Resolution:
        # Where the source says the country, a near name elsewhere is another body; a short name (an acronym) is
        # too short for spelling distance to mean anything.
        choices = {k: ids for k, ids in self.by_key.items()
                   if not country or any(self.by_id[i].country == country for i in ids)}
        best: dict[str, float] = {}
        for key in keys:
            if len(key) < 8 or " " not in key:
                continue
            for candidate, score, _ in process.extract(key, list(choices), scorer=fuzz.token_sort_ratio,
                                                       limit=5, score_cutoff=FUZZY_ASK):
                for org_id in choices[candidate]:
                    if country and self.by_id[org_id].country != country:
                        continue
                    best[org_id] = max(best.get(org_id, 0.0), float(score))
        if not best:
            out.action, out.method = "created", "new"
            return out
        ranked = sorted(best.items(), key=lambda kv: -kv[1])
        top_id, top = ranked[0]
        runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
        if top >= FUZZY_SURE and runner_up < FUZZY_ASK and (not country or self.by_id[top_id].country == country):
            return self._matched(out, top_id, "fuzzy", score=top)
        return self._ambiguous(out, [i for i, _ in ranked[:5]], top, "a near match: the same body, or another?",
                               proposal=top_id)

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
