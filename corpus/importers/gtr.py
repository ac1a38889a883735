"""UKRI Gateway to Research: the project-search CSV export (25 columns, no abstract) and the GtR API's JSON.

The CSV export carries no abstract: such a project is marked ``title_only`` and indexed on its title alone. The
API's project JSON (``{"project": [...]}``, one project object, or a list) carries ``abstractText``, the lead and
the other participants (``participantValues``). Personal names (PISurname, PIFirstName, ...) are never read.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from corpus import vocab
from corpus.importers.plan import ImportPlan, OrganisationBook, finish_plan
from corpus.importers.relevance import ProgrammeFit, assess
from corpus.importers.resolver import name_key
from corpus.importers.tables import (
    amount,
    cell_problems,
    cells,
    columns,
    decode,
    progress,
    read_amount,
    read_table,
    refuse_other_format,
    rows,
)
from corpus.loaders import CorpusError
from corpus.schema import Source, slugify

GTR_HOME = "https://gtr.ukri.org/"
LABEL = "UKRI Gateway to Research"
CSV_COLUMNS = {
    "id": ("projectid", "gtrprojectid", "id", "projectreference"),
    "reference": ("projectreference",),
    "title": ("title", "projecttitle"),
    "abstract": ("abstract", "abstracttext", "summary"),
    "lead": ("leadroname", "leadorganisation", "leadresearchorganisation"),
    "lead_id": ("leadroid",),
    "funder": ("fundingorgname", "funder"),
    "category": ("projectcategory",),
    "start": ("startdate",),
    "end": ("enddate",),
    "award": ("awardpounds",),
    "region": ("region",),
    "status": ("status",),
    "url": ("gtrprojecturl", "url"),
}
# A number in a date column is an Excel serial day (1900 system, whose day 0 sits a day early for its phantom leap
# day) only within the span of years a project's dates fall in: other numbers are not dates.
EXCEL_EPOCH = date(1899, 12, 30)
EXCEL_SERIALS = (29952, 60000)
# GtR's Region for a lead abroad: the export gives no country then.
OUTSIDE_UK = "outside uk"


def parse_date(value: Any) -> date | None:
    """GtR dates: day/month/year (the CSV), ISO year-month-day, an Excel serial day (a CSV saved by Excel) or
    epoch milliseconds (the API); None when unreadable."""
    if value in (None, ""):
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value / 1000, tz=timezone.utc).date()
        except (OverflowError, OSError, ValueError):
            return None
    text = str(value).strip()[:10]
    if text.isdigit() and EXCEL_SERIALS[0] <= int(text) <= EXCEL_SERIALS[1]:
        return EXCEL_EPOCH + timedelta(days=int(text))
    for fmt in ("%d/%m/%Y", "%Y-%m-%d", "%d-%m-%Y"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def _project(source_id: str, title: str, abstract: str, award: dict, lead: str, source: Source) -> dict:
    return {
        "id": f"gtr-{slugify(source_id)}" if source_id else "",
        "title": title[:300],
        "summary": abstract,
        "title_only": not abstract,
        "country": "GB",
        "lead_organisation": lead[:300],
        "minerals": vocab.detect_minerals(f"{title} {abstract}"),
        "illustrative": False,
        "sources": [source.model_dump()],
        "award": award,
    }


def plan_gtr(path: Path, *, book: OrganisationBook, keep_off_topic: bool = False,
             show_progress: bool = False, countries: dict[str, str] | None = None) -> ImportPlan:
    """``countries``: organisation name key -> ISO code (a mapping file's country column), for leads the export
    places "Outside UK"."""
    frame = read_table(path, legacy_encoding=True)
    refuse_other_format(frame, "gtr", path)
    cols = columns(frame, CSV_COLUMNS, {"id", "title"}, path)
    plan = ImportPlan(rows=len(frame), encoding=frame.attrs.get("encoding", "utf-8"))
    raw_projects: list = []
    problems: list[dict] = []
    relevance: dict[str, ProgrammeFit] = {}
    for number, row in progress(rows(frame), len(frame), "gtr", show_progress):
        get, where = cells(row, cols), f"{path.name} line {number}"
        source_id, reference = get("id"), get("reference")
        empty = [cols[k] for k in ("id", "title") if not get(k)]
        if empty:
            problems += [{"where": where, "field": c, "message": "the cell is empty; every project needs one"}
                         for c in empty]
            continue
        url = get("url") or (f"{GTR_HOME}projects?ref={reference}" if reference else f"{GTR_HOME}project/{source_id}")
        url_column = cols["url"] if get("url") else cols.get("reference") if reference else cols["id"]
        try:
            source = Source(ref=url, note=f"{LABEL} project{': ' + get('funder') if get('funder') else ''}")
        except ValidationError as e:
            problems += cell_problems(e, where, {"ref": url_column or "", "note": cols.get("funder") or ""})
            continue
        value, unreadable = read_amount(get("award"))
        if unreadable:
            plan.warnings.append(f"{where}: {cols['award']}: {unreadable}")
        dates = {}
        for field in ("start", "end"):
            dates[field] = parse_date(get(field))
            if get(field) and dates[field] is None:
                plan.warnings.append(f"{where}: {cols[field]}: date {get(field)[:40]!r} cannot be read (write it "
                                     "as 31/03/2027 or 2027-03-31); left empty")
        award = {"funder": get("funder")[:300], "programme": get("category")[:300], "reference": reference[:200],
                 "status": get("status")[:100], "start_date": dates["start"], "end_date": dates["end"],
                 "amount": value, "currency": "GBP" if value is not None else ""}
        project = _project(source_id, get("title"), get("abstract"), award, get("lead"), source)
        members: list[tuple[str, str]] = []
        if get("lead"):
            abroad = get("region").lower() == OUTSIDE_UK
            country = (countries or {}).get(name_key(get("lead"))) if abroad else "GB"
            region = "" if get("region").lower() in ("unknown", OUTSIDE_UK) else get("region")
            try:
                org_id, resolution = book.organisation(get("lead"), role="lead", country=country,
                                                       source=source, label=LABEL,
                                                       identifiers={"gtr": get("lead_id")}, region=region)
            except ValidationError as e:
                problems += cell_problems(e, where, {"name": cols["lead"]})
                continue
            if not country and not org_id and resolution.action == "skipped" and resolution.method != "map":
                # Not created in GB by default: the project waits until someone says where its lead is.
                resolution.action = "ambiguous"
                resolution.note = ("the export says Outside UK: give the country in a mapping file (a country "
                                   "column, organisation_id new), or the id of an existing organisation")
            if resolution.action == "ambiguous":
                plan.held.append((project["id"], get("lead")))
            if org_id:
                project["lead_organisation_id"] = org_id
                members.append((org_id, "lead"))
        relevance[project["id"]] = assess(f"{get('title')}. {get('abstract')}")
        raw_projects.append((where, project, members))
    finish_plan(plan, raw_projects, book, path, problems, keep_off_topic=keep_off_topic, relevance=relevance)
    return plan


def _items(data: Any) -> list:
    """The project objects of a GtR API answer: ``{"project": [...]}``, one project, or a list of them."""
    if isinstance(data, dict) and isinstance(data.get("project"), list):
        return data["project"]
    if isinstance(data, dict) and isinstance(data.get("project"), dict):
        return [data["project"]]
    if isinstance(data, dict) and "title" in data:
        return [data]
    if isinstance(data, list):
        return data
    raise CorpusError("not a GtR API projects answer: expected {\"project\": [...]}, one project object or a list of "
                      "them; save the answer of https://gtr.ukri.org/gtr/api/projects?q=... fetched with Accept: "
                      "application/vnd.rcuk.gtr.json-v7")


def _list(value: Any, key: str) -> list[dict]:
    """GtR nests lists as {"participant": [...]} and gives a lone item as an object."""
    inner = value.get(key) if isinstance(value, dict) else None
    if isinstance(inner, dict):
        inner = [inner]
    return [v for v in inner or [] if isinstance(v, dict)]


def _text(value: Any) -> str:
    return " ".join(str(value).split()) if isinstance(value, str | int | float) and not isinstance(value, bool) else ""


def _number(value: Any) -> float | None:
    """A JSON amount: a number as it is, text read as an amount cell."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value) if 0 <= value < float("inf") else None
    return amount(_text(value))


def _org_id_from(href: str) -> str:
    return href.rstrip("/").rsplit("/", 1)[-1] if "/organisations/" in href else ""


def plan_gtr_json(path: Path, *, book: OrganisationBook, keep_off_topic: bool = False, show_progress: bool = False,
                  countries: dict[str, str] | None = None) -> ImportPlan:
    """``countries``: organisation name key -> ISO code (a mapping file's country column) for participants."""
    text, _ = decode(path, legacy=False)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise CorpusError(f"{path.name}: not valid JSON ({e.msg} at line {e.lineno}); save the GtR API's answer "
                          "as it came") from e
    except RecursionError as e:
        raise CorpusError(f"{path.name}: JSON nested too deeply to read; save the GtR API's answer as it came") from e
    try:
        items = _items(data)
    except CorpusError as e:
        raise CorpusError(f"{path.name}: {e}") from e
    plan = ImportPlan(rows=len(items))
    raw_projects: list = []
    problems: list[dict] = []
    relevance: dict[str, ProgrammeFit] = {}
    for number, item in progress(enumerate(items, start=1), len(items), "gtr-json", show_progress):
        where = f"{path.name} line 1, project {number}"  # the API answers on one line
        if not isinstance(item, dict):
            problems.append({"where": where, "field": "(record)", "message": "not a project object"})
            continue
        source_id, title = _text(item.get("id")), _text(item.get("title"))
        abstract = _text(item.get("abstractText"))
        reference = next((_text(i.get("value")) for i in _list(item.get("identifiers"), "identifier")
                          if _text(i.get("value"))), "")
        fund: dict = item["fund"] if isinstance(item.get("fund"), dict) else {}
        value: dict = fund["valuePounds"] if isinstance(fund.get("valuePounds"), dict) else {}
        participants = _list(item.get("participantValues"), "participant")
        links = _list(item.get("links"), "link")
        linked = next((_org_id_from(_text(link.get("href"))) for link in links
                       if _text(link.get("rel")) == "LEAD_ORG" and _org_id_from(_text(link.get("href")))), "")
        # The lead: the participant whose role says so, else the one the LEAD_ORG link names.
        lead = next((p for p in participants if _text(p.get("role")).upper() == "LEAD_PARTICIPANT"), None) or next(
            (p for p in participants if linked and _text(p.get("organisationId")) == linked), None)
        lead_id = (_text(lead.get("organisationId")) if lead else "") or linked
        offer = sum(_number(p.get("grantOffer")) or 0.0 for p in participants) or None
        funds = _number(value.get("amount")) if value else None
        url = f"{GTR_HOME}projects?ref={reference}" if reference else f"{GTR_HOME}project/{source_id}"
        funder = _text(item.get("leadFunder")) or _text((fund.get("funder") or {}).get("name")
                                                         if isinstance(fund.get("funder"), dict) else "")
        try:
            source = Source(ref=url, note=f"{LABEL} project (API){': ' + funder if funder else ''}"[:500])
        except ValidationError as e:
            problems += cell_problems(e, where, {"ref": "id", "note": "leadFunder"})
            continue
        award = {"funder": funder[:300], "programme": _text(item.get("grantCategory"))[:300],
                 "reference": reference[:200], "status": _text(item.get("status"))[:100],
                 "start_date": parse_date(item.get("start") or fund.get("start")),
                 "end_date": parse_date(item.get("end") or fund.get("end")),
                 "amount": funds if funds is not None else offer,
                 "currency": (_text(value.get("currencyCode")) or "GBP") if (funds or offer) else ""}
        lead_name = _text(lead.get("organisationName")) if lead else ""
        project = _project(source_id, title, abstract, award, lead_name, source)
        members: list[tuple[str, str]] = []
        held = False
        for participant in participants:
            name = _text(participant.get("organisationName"))
            if not name:
                continue
            is_lead = participant is lead
            try:
                # A participant's country is not in the answer: it is linked when known, never created.
                org_id, resolution = book.organisation(
                    name, role="lead" if is_lead else "participant",
                    country="GB" if is_lead else (countries or {}).get(name_key(name)),
                    source=source, label=LABEL,
                    identifiers={"gtr": lead_id if is_lead else _text(participant.get("organisationId"))})
            except ValidationError as e:
                problems += cell_problems(e, where, {"name": "organisationName"})
                continue
            if resolution.action == "ambiguous" and is_lead:
                held = True
            if org_id and org_id not in {m for m, _ in members}:
                members.append((org_id, "lead" if is_lead else "participant"))
                if is_lead:
                    project["lead_organisation_id"] = org_id
                else:
                    project.setdefault("partner_organisation_ids", []).append(org_id)
        if held:
            plan.held.append((project["id"], lead_name))
        relevance[project["id"]] = assess(f"{title}. {abstract}")
        raw_projects.append((where, project, members))
    finish_plan(plan, raw_projects, book, path, problems, keep_off_topic=keep_off_topic, relevance=relevance)
    return plan
