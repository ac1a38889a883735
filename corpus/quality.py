"""Data-quality report over a corpus folder: errors fail the check, warnings are listed for editors.

Errors: records that do not validate (unknown minerals, bad country codes, bad ROR ids, missing fields), duplicate
ids, duplicate names, an identifier (a ROR id, say) on two organisations, aliases that are another organisation's
name, organisations without sources, projects pointing at unknown lead organisations, a ``parent_id`` that names no
organisation or makes a cycle, a programme file (``programme.json``) that does not validate, and an eligibility
override in the folder's own programme file that names no organisation of the corpus or one in another country.
Warnings: aliases shared by several organisations, thin profiles (description under 60 words), no minerals, no value-chain stages, no website, few keywords.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

from corpus.loaders import CorpusError, load_programme, load_records_lenient
from corpus.schema import Organisation, Programme, Project

MIN_DESCRIPTION_WORDS = 60


@dataclass
class Finding:
    level: str  # "error" or "warning"
    check: str
    record: str
    message: str


@dataclass
class QualityReport:
    organisations: int = 0
    projects: int = 0
    countries: dict[str, int] = field(default_factory=dict)
    org_types: dict[str, int] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def add(self, level: str, check: str, record: str, message: str) -> None:
        self.findings.append(Finding(level, check, record, message))

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            "organisations": self.organisations,
            "projects": self.projects,
            "countries": self.countries,
            "org_types": self.org_types,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "findings": [asdict(f) for f in self.findings],
        }


def _norm(name: str) -> str:
    """Names compared loosely: case, accents-insensitive punctuation and 'the' do not make a new organisation."""
    return re.sub(r"[^a-z0-9]+", " ", name.lower()).replace(" the ", " ").strip()


def _load(path: Path, model, report: QualityReport) -> list:
    try:
        records, problems = load_records_lenient(path, model)
    except CorpusError as e:  # the file itself is unreadable (encoding, broken JSON line)
        report.add("error", "unreadable_file", path.name, str(e))
        return []
    for p in problems:
        report.add("error", "invalid_record", p["where"], f"{p['field']}: {p['message']}")
    return records


def check_corpus(data_dir: Path | str) -> QualityReport:
    """Check every organisation and project file under ``data_dir`` (its ``organisations/`` and ``projects/``)."""
    data_dir = Path(data_dir)
    report = QualityReport()
    organisations: list[Organisation] = []
    origin: dict[str, str] = {}
    for path in sorted((data_dir / "organisations").glob("*.*")):
        if path.suffix.lower() not in {".jsonl", ".csv"}:
            continue
        for org in _load(path, Organisation, report):
            if org.id in origin:
                report.add("error", "duplicate_id", org.id, f"defined in {origin[org.id]} and {path.name}")
                continue
            origin[org.id] = path.name
            organisations.append(org)
    _check_organisations(organisations, report)
    _check_parents(organisations, report)
    try:
        programme = load_programme(data_dir)
    except CorpusError as e:
        report.add("error", "invalid_programme", "programme.json", str(e))
    else:
        if (data_dir / "programme.json").exists():  # the bundled file's overrides name the bundled corpus
            _check_overrides(programme, organisations, report)

    projects: list[Project] = []
    seen_projects: set[str] = set()
    for path in sorted((data_dir / "projects").glob("*.*")):
        if path.suffix.lower() not in {".jsonl", ".csv"}:
            continue
        for project in _load(path, Project, report):
            if project.id in seen_projects:
                report.add("error", "duplicate_id", project.id, f"project id repeated in {path.name}")
            seen_projects.add(project.id)
            projects.append(project)
    ids = {o.id for o in organisations}
    for p in projects:
        if p.lead_organisation_id and p.lead_organisation_id not in ids:
            report.add("error", "unknown_lead", p.id, f"lead_organisation_id {p.lead_organisation_id!r} is not in the corpus")
        if p.illustrative and not p.summary.lower().startswith("illustrative"):
            report.add("warning", "unlabelled_illustrative", p.id, "illustrative brief whose summary does not say so")

    report.organisations, report.projects = len(organisations), len(projects)
    for o in organisations:
        report.countries[o.country] = report.countries.get(o.country, 0) + 1
        report.org_types[o.org_type] = report.org_types.get(o.org_type, 0) + 1
    return report


def _check_overrides(programme: Programme, organisations: list[Organisation], report: QualityReport) -> None:
    """Every eligibility override names an organisation of the corpus, in its side's country (else it labels
    nothing)."""
    country = {o.id: o.country for o in organisations}
    for side in programme.sides:
        for override in side.overrides:
            oid = override.organisation_id
            if oid not in country:
                report.add("error", "unknown_override", oid,
                           f"programme.json: the {side.country} override names no organisation of the corpus; fix "
                           "the id or remove the override")
            elif country[oid] != side.country:
                report.add("error", "unknown_override", oid,
                           f"programme.json: the override is on the {side.country} side but the organisation is in "
                           f"{country[oid]}; move it to that country's side")


def _check_parents(organisations: list[Organisation], report: QualityReport) -> None:
    """Every ``parent_id`` names an organisation of the corpus, and following parents never comes back round."""
    parent = {o.id: o.parent_id for o in organisations}
    for org in organisations:
        if org.parent_id is not None and org.parent_id not in parent:
            report.add("error", "unknown_parent", org.id, f"parent_id {org.parent_id!r} is not in the corpus; "
                                                          "give the id of an organisation in organisations/")
    reported: set[str] = set()
    for org in organisations:
        path, current = [org.id], parent.get(org.id)
        while current is not None and current in parent and current not in path:
            path.append(current)
            current = parent[current]
        if current is not None and current in path:
            cycle = path[path.index(current):]
            if not reported & set(cycle):
                report.add("error", "parent_cycle", ", ".join(cycle),
                           "parent_id makes a cycle (" + " -> ".join([*cycle, current]) + "); an organisation "
                           "cannot be part of its own sub-unit")
            reported.update(cycle)


def _check_organisations(organisations: list[Organisation], report: QualityReport) -> None:
    names: dict[str, list[str]] = defaultdict(list)
    for org in organisations:
        names[_norm(org.name)].append(org.id)
    for name, ids in names.items():
        if len(ids) > 1:
            report.add("error", "duplicate_name", ", ".join(ids), f"same name {name!r}")
    identifiers: dict[tuple[str, str], list[str]] = defaultdict(list)
    for org in organisations:
        for scheme, value in org.identifiers.items():
            identifiers[(scheme, value.lower())].append(org.id)
    for (scheme, value), ids in identifiers.items():
        if len(ids) > 1:  # importers match on it first: two bodies with one id would merge
            report.add("error", "duplicate_identifier", ", ".join(ids), f"{scheme} id {value} is on each of them; "
                       "keep it on the one body it identifies")
    aliases: dict[str, set[str]] = defaultdict(set)
    for org in organisations:
        for alias in org.aliases:
            aliases[_norm(alias)].add(org.id)
    for alias, alias_ids in aliases.items():
        named = set(names.get(alias, [])) - alias_ids
        if named:  # an alias that is another organisation's name would send users to the wrong record
            report.add("error", "alias_is_other_name", ", ".join(sorted(alias_ids | named)), f"alias {alias!r} is the name of {sorted(named)}")
        elif len(alias_ids) > 1:  # shared acronyms are real (CSM: Camborne and Colorado); flag, do not fail
            report.add("warning", "ambiguous_alias", ", ".join(sorted(alias_ids)), f"alias {alias!r} is used by several organisations")
    for org in organisations:
        if not org.sources:
            report.add("error", "no_sources", org.id, "no sources: every fact needs one")
        words = len(org.description.split())
        if words < MIN_DESCRIPTION_WORDS:
            report.add("warning", "thin_profile", org.id, f"description has {words} words (< {MIN_DESCRIPTION_WORDS})")
        if not org.value_chain_stages:
            report.add("warning", "no_stages", org.id, "no value-chain stages")
        if not org.minerals and org.org_type not in {"funder", "non_profit"}:
            report.add("warning", "no_minerals", org.id, "no critical minerals listed")
        if not org.website:
            report.add("warning", "no_website", org.id, "no website")
        if len(org.keywords) < 3:
            report.add("warning", "few_keywords", org.id, f"{len(org.keywords)} keywords")
