"""NSERC Awards open data: one project per ApplicationID across fiscal years, and the co-applicant and partner
files that link more organisations to those projects.

Headers are matched in English, French or bilingual form ("Institution-Établissement"), including the
misspelling "ProgramNaneEN" of some years; files are UTF-8 or (before 2020) Windows-1252. A researcher's name
(Name-Nom) is never stored: without an ApplicationID column it only tells awards apart, hashed into the id.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from pydantic import ValidationError

from corpus import vocab
from corpus.importers.plan import ImportPlan, OrganisationBook, finish_plan
from corpus.importers.relevance import ProgrammeFit, assess
from corpus.importers.resolver import Resolution, name_key
from corpus.importers.tables import (
    cell_problems,
    cells,
    columns,
    country_from_name,
    progress,
    read_amount,
    read_table,
    refuse_other_format,
    rows,
)
from corpus.loaders import CorpusError
from corpus.schema import Project, Source, slugify

NSERC_AWARDS = "https://www.nserc-crsng.gc.ca/ase-oro/index_eng.asp"
LABEL = "NSERC Awards data"
AWARD_COLUMNS = {
    "application": ("applicationid", "iddemande", "applicationiddemande", "demande"),
    "name": ("namenom", "name", "nom"),
    "institution": ("institutionetablissement", "institution", "etablissement", "organization", "organisation"),
    "organization_id": ("organizationid", "organisationid", "idorganisation", "organizationidorganisationid"),
    "province": ("provinceen", "province", "provincefr"),
    "country": ("countryenpaysen", "countryen", "country", "pays", "countryfrpaysfr", "paysfr"),
    "year": ("fiscalyearexercicefinancier", "fiscalyear", "exercicefinancier"),
    "competition": ("competitionyearanneedeconcours", "competitionyear", "anneedeconcours"),
    "amount": ("awardamount", "awardamountmontant", "montantsubvention", "montant", "amount"),
    "program": ("programnameen", "programnaneen", "programname", "program", "programnamefr", "programnanefr",
                "nomprogramme", "programme"),
    "title": ("applicationtitle", "title", "titredemande", "titre"),
    "summary": ("applicationsummary", "summary", "resumedemande", "resume"),
    "keywords": ("keyword", "keywords", "motcle", "motscles"),
}
RELATED_COLUMNS = {
    "application": AWARD_COLUMNS["application"],
    "partner": ("partnername", "partnernamenompartenaire", "partner", "partenaire", "nompartenaire",
                "partnerorganization", "partnerorganisation"),
    "institution": AWARD_COLUMNS["institution"],
    "organization_id": AWARD_COLUMNS["organization_id"],
    "province": AWARD_COLUMNS["province"],
    "country": AWARD_COLUMNS["country"],
}


def _country(text: str) -> str | None:
    """NSERC's country cell (English or French name, or code) -> ISO code; empty is Canada (the awards file names
    Canadian institutions), a name that is no country None."""
    return country_from_name(text) if text.strip() else "CA"


def _project_id(application: str, get) -> str:
    if application:
        return f"nserc-{slugify(application)}"
    # No award id: the same researcher, institution, programme and title is the same award in every year.
    identity = "|".join(get(k) for k in ("name", "institution", "program", "title"))
    return "nserc-" + hashlib.sha1(identity.encode(), usedforsecurity=False).hexdigest()[:12]


def plan_nserc(path: Path, *, book: OrganisationBook, related: list[Path] | None = None,
               keep_off_topic: bool = False, show_progress: bool = False,
               stored: dict[str, Project] | None = None, countries: dict[str, str] | None = None) -> ImportPlan:
    """``stored``: the projects already imported, by id: an award seen in earlier years' files keeps those years;
    ``countries``: organisation name key -> ISO code, from a mapping file, for partners the file gives none."""
    frame = read_table(path, legacy_encoding=True)
    refuse_other_format(frame, "nserc", path)
    cols = columns(frame, AWARD_COLUMNS, {"title"}, path)
    plan = ImportPlan(rows=len(frame), encoding=frame.attrs.get("encoding", "utf-8"))
    problems: list[dict] = []
    merged: dict[str, dict] = {}  # project id -> {"where", "rows", "by_year": {year: amount}, "years"}
    for number, row in progress(rows(frame), len(frame), "nserc", show_progress):
        get, where = cells(row, cols), f"{path.name} line {number}"
        project_id = _project_id(get("application"), get)
        entry = merged.get(project_id)
        if entry is None:
            entry = merged[project_id] = {"where": where, "rows": [], "by_year": {}, "years": []}
        entry["rows"].append(get)
        year = (get("year") or get("competition"))[:20]
        value, unreadable = read_amount(get("amount"))
        if unreadable:
            plan.warnings.append(f"{where}: {cols['amount']}: {unreadable}")
        if value is not None:
            # One amount per fiscal year (a row repeated is the same payment, not a second one).
            entry["by_year"][year] = value
        if year and year not in entry["years"]:
            entry["years"].append(year)
    links, unknown = _related_links(related or [], set(merged), problems)
    for (file_name, _), count in unknown.items():
        # Partner files cover every programme: rows of awards not in this file are skipped, and counted.
        plan.warnings.append(f"{file_name}: {count:,} row(s) name an ApplicationID that is not in {path.name}; "
                             "skipped")
    raw_projects: list = []
    relevance: dict[str, ProgrammeFit] = {}
    # The second pass (one per grant: merging, names, relevance) is most of the time: shown too.
    for project_id, entry in progress(merged.items(), len(merged), "nserc grants", show_progress):
        where = entry["where"]

        def first(name: str, rows=entry["rows"]) -> str:
            return next((g(name) for g in rows if g(name)), "")

        program = first("program")
        before = stored.get(project_id) if stored else None
        by_year = {**(before.award.amounts_by_year if before and before.award else {}), **entry["by_year"]}
        years = sorted({*entry["years"], *(before.award.fiscal_years if before and before.award else [])})
        total = sum(by_year.values()) if by_year else None
        try:
            source = Source(ref=NSERC_AWARDS, note=f"{LABEL}: {program or 'award'} {', '.join(years)}".strip()[:500])
        except ValidationError as e:
            problems += cell_problems(e, where, {"note": " and ".join(cols[k] for k in ("program", "year") if k in cols)})
            continue
        title, summary, keywords_text = first("title"), first("summary"), first("keywords")
        if not title:
            problems.append({"where": where, "field": cols["title"], "message": "the cell is empty; every award "
                             "needs its title"})
            continue
        keywords = [k.strip()[:300] for k in re.split(r"[;,]", keywords_text) if k.strip()][:100]
        project: dict = {
            "id": project_id,
            "title": title[:300],
            "summary": summary,
            "title_only": not summary,
            "country": "CA",
            "lead_organisation": first("institution")[:300],
            "minerals": vocab.detect_minerals(f"{title} {summary} {keywords_text}"),
            "keywords": keywords,
            "illustrative": False,
            "sources": [source.model_dump()],
            "award": {"funder": "NSERC", "programme": program[:300], "reference": first("application")[:200],
                      "amount": total, "currency": "CAD" if total is not None else "",
                      "fiscal_years": years, "amounts_by_year": by_year},
        }
        members: list[tuple[str, str]] = []
        held = False
        named = [(first("institution"), "lead", first("organization_id"), first("province"), first("country"))]
        named += links.get(project_id, [])
        for name, role, org_ref, province, country_text in named:
            if not name:
                continue
            country = _country(country_text) if role != "partner" or country_text else None
            country = country or (countries or {}).get(name_key(name))
            try:
                org_id, resolution = book.organisation(name, role=role, country=country, source=source, label=LABEL,
                                                       identifiers={"nserc": org_ref}, region=province)
            except ValidationError as e:
                problems += cell_problems(e, where, {"name": cols.get("institution", "institution")})
                break
            if resolution.action == "skipped" and country_text and country is None and resolution.method != "map":
                resolution.note = (f"not created: its country {country_text[:40]!r} is not one read (an ISO code, "
                                   "or a name in English or French); give it in a mapping file's country column")
            if resolution.action == "ambiguous" and role == "lead":
                held = True
            if org_id and org_id not in {m for m, _ in members}:
                members.append((org_id, role))
                if role == "lead":
                    project["lead_organisation_id"] = org_id
                else:
                    project.setdefault("partner_organisation_ids", []).append(org_id)
        if before is not None:
            # A later year's file read without the partner files still has the partners linked before: kept.
            linked = {m for m, _ in members}
            kept = [o for o in before.partner_organisation_ids if o not in linked]
            if kept:
                project["partner_organisation_ids"] = [*project.get("partner_organisation_ids", []), *kept]
        if held:
            plan.held.append((project_id, first("institution")))
        relevance[project_id] = assess(f"{title}. {summary} {keywords_text}")
        raw_projects.append((where, project, members))
    finish_plan(plan, raw_projects, book, path, problems, keep_off_topic=keep_off_topic, relevance=relevance)
    plan.resolutions += [Resolution(name="(rows of other awards)", role=role, action="skipped", rows=count,
                                    note=f"{file_name}: {count:,} row(s) skipped: their ApplicationID is not in "
                                         f"{path.name}")
                         for (file_name, role), count in unknown.items()]
    return plan


def _related_links(paths: list[Path], known: set[str],
                   problems: list[dict]) -> tuple[dict[str, list[tuple]], dict[tuple[str, str], int]]:
    """Co-applicant and partner files: project id -> [(organisation name, role, OrganizationID, province, country)],
    and per file the number of rows skipped because their ApplicationID is not in the awards file.

    Only organisation columns are read; a row without an ApplicationID is a problem."""
    out: dict[str, list[tuple]] = {}
    unknown: dict[tuple[str, str], int] = {}
    for path in paths:
        if not path.is_file():
            raise CorpusError(f"{path}: no such file")
        frame = read_table(path, legacy_encoding=True)
        cols = columns(frame, RELATED_COLUMNS, {"application"}, path)
        if "partner" not in cols and "institution" not in cols:
            raise CorpusError(f"{path.name}: neither a partner column ({', '.join(RELATED_COLUMNS['partner'])}) nor "
                              f"an institution column ({', '.join(RELATED_COLUMNS['institution'])}); give the "
                              "co-applicant or partner file as NSERC publishes it")
        role = "partner" if "partner" in cols else "co-applicant"
        for number, row in rows(frame):
            get = cells(row, cols)
            if not get("application"):
                problems.append({"where": f"{path.name} line {number}", "field": cols["application"],
                                 "message": "the cell is empty; give the award's ApplicationID"})
                continue
            project_id = f"nserc-{slugify(get('application'))}"
            if project_id not in known:
                unknown[(path.name, role)] = unknown.get((path.name, role), 0) + 1
                continue
            name = get("partner") if role == "partner" else get("institution")
            out.setdefault(project_id, []).append((name, role, get("organization_id"), get("province"),
                                                   get("country")))
    return out, unknown
