"""Shortlist exports, the one recipe for both doors (the CLI's ``--out`` and the HTTP downloads): CSV with one
row per assignment or decision, and an XLSX workbook an officer can hand on (assignments, load, decisions and the
settings that made the shortlist).

Every cell of every file goes through one function, ``safe_cell``, whatever the format: that is where what a
spreadsheet program must not run or cannot hold is made safe. Rows are built once (``assignment_rows``,
``decision_rows``, ``load_rows``) with Python values, timestamps as ``datetime``: CSV writes them as ISO 8601 UTC,
XLSX as real Excel dates. CSV headers are the field names (for scripts); XLSX headers are words (``HEADERS``).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from matcher.storage.shortlist_store import DecisionRecord, ShortlistJob

EXPORT_COLUMNS = ["project_id", "project_title", "rank", "organisation_id", "organisation_name", "country",
                  "org_type", "eligibility", "website", "profile_url", "band", "fit", "score", "relevance", "reason",
                  "decision", "note", "decided_by", "decided_at", "organisation_deleted"]
DECISION_COLUMNS = ["decided_at", "decided_by", "shortlist_id", "project_id", "project_title", "organisation_id",
                    "organisation_name", "decision", "note"]
LOAD_COLUMNS = ["organisation_name", "organisation_id", "country", "org_type", "lists"]
SETTINGS_COLUMNS = ["setting", "value"]
# XLSX headers and column widths (in characters); a column not listed keeps its name and a width of 14.
HEADERS = {
    "project_id": ("Project id", 18), "project_title": ("Project", 40), "rank": ("Rank", 7),
    "organisation_id": ("Organisation id", 20), "organisation_name": ("Organisation", 36), "country": ("Country", 9),
    "org_type": ("Type", 16), "eligibility": ("Eligibility", 18), "website": ("Website", 30), "profile_url": ("Profile", 36), "band": ("Fit band", 10),
    "fit": ("Fit (calibrated)", 10), "score": ("Score (calibrated fit)", 12),
    "relevance": ("Relevance (ranking, relative)", 14), "reason": ("Reason", 60), "decision": ("Decision", 11),
    "note": ("Note", 40), "decided_by": ("Decided by", 14), "decided_at": ("Decided (UTC)", 18),
    "shortlist_id": ("Shortlist id", 34),
    "organisation_deleted": ("Organisation deleted", 12), "lists": ("Lists", 7), "setting": ("Setting", 30), "value": ("Value", 80),
}
WRAPPED = {"reason", "note", "value"}  # long text: wrapped in its cell rather than one very wide line
LINKED = {"website", "profile_url"}  # http(s) addresses: clickable in the workbook
DATE_FORMAT = "yyyy-mm-dd hh:mm"
CELL_LIMIT = 32_767


@dataclass(frozen=True)
class ExportContext:
    """What an export adds to the stored shortlist: project titles, organisation websites (by id) and the service's
    address, so that profile links are absolute ("" gives site-relative links, as the CLI has no address)."""

    project_titles: Mapping[str, str] = field(default_factory=dict)
    websites: Mapping[str, str] = field(default_factory=dict)
    base_url: str = ""

    def profile_url(self, organisation_id: str) -> str:
        from urllib.parse import quote

        return f"{self.base_url.rstrip('/')}/organisations/{quote(organisation_id, safe='')}"


FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n")
# The control characters an XLSX (XML 1.0) cell cannot hold; tab, LF and CR are allowed.
ILLEGAL_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def safe_cell(value: Any) -> Any:
    """Every exported cell passes here, whatever the columns: control characters an XLSX cell cannot hold are
    written as visible escapes (``\\x07``: old records may hold them, and an export must never fail), and text a
    spreadsheet would run as a formula (starting with = + - @ or a tab or line break) gets a quote prefix."""
    if not isinstance(value, str):
        return value
    value = ILLEGAL_CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", value)
    if value[:1] in FORMULA_PREFIXES:
        return "'" + value
    return value


def _when(value: str | None) -> dt.datetime | None:
    """An API timestamp (ISO 8601, ``Z``) as a naive UTC datetime: Excel dates carry no zone."""
    if not value:
        return None
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(dt.UTC).replace(tzinfo=None)


def _text(value: Any) -> Any:
    """A CSV field: timestamps back to ISO 8601 UTC with ``Z``, the API's form."""
    if isinstance(value, dt.datetime):
        return value.isoformat(timespec="seconds") + "Z"
    return value


# ------------------------------------------------------------------------------------------------ the rows
def assignment_rows(job: ShortlistJob, context: ExportContext | None = None) -> list[dict[str, Any]]:
    ctx = context or ExportContext()
    return [{**a.to_dict(), "project_title": ctx.project_titles.get(a.project_id, ""),
             "website": ctx.websites.get(a.organisation_id, ""), "profile_url": ctx.profile_url(a.organisation_id),
             "decided_at": _when(a.decided_at)}
            for a in job.assignments or ()]


def decision_rows(decisions: Sequence[DecisionRecord], job: ShortlistJob | None = None,
                  context: ExportContext | None = None) -> list[dict[str, Any]]:
    ctx = context or ExportContext()
    names = {a.organisation_id: a.organisation_name for a in (job.assignments or ())} if job else {}
    return [{**d.to_dict(), "project_title": ctx.project_titles.get(d.project_id, ""),
             "organisation_name": names.get(d.organisation_id, ""), "decided_at": _when(d.decided_at)}
            for d in decisions]


def load_rows(job: ShortlistJob) -> list[dict[str, Any]]:
    """Lists per organisation, most first, by name (the summary keeps ids)."""
    orgs = {a.organisation_id: a for a in job.assignments or ()}
    rows = []
    for org_id, lists in ((job.summary or {}).get("load") or {}).items():
        a = orgs.get(org_id)
        rows.append({"organisation_name": a.organisation_name if a else org_id, "organisation_id": org_id,
                     "country": a.country if a else "", "org_type": a.org_type if a else "", "lists": lists})
    return rows


def settings_rows(job: ShortlistJob) -> list[dict[str, Any]]:
    """The request that made the shortlist, in words, then the whole request as JSON (to start it again)."""
    r, s = job.request, job.summary or {}

    def listed(values: Any) -> str:
        return ", ".join(values) if values else ""

    def pairs(mapping: Mapping[str, Sequence[str]]) -> str:
        return "; ".join(f"{project}: {', '.join(orgs)}" for project, orgs in mapping.items())

    projects = r.get("project_ids")
    rows: list[tuple[str, Any]] = [
        ("Name", job.name), ("Shortlist id", job.id), ("Created (UTC)", _when(job.created_at)),
        ("Created by", job.created_by or ""), ("Status", job.status),
        ("Replaces the rejected partners of", r.get("based_on") or ""),
        ("Projects", "all" if projects == "all" else listed(projects)),
        ("Partners per project", r.get("per_project")),
        ("Max lists per organisation", r.get("max_per_organisation")),
        ("Partner countries", listed(r.get("countries")) or "each project's sought countries, else the programme's "
                                                           "other country"),
        ("Eligibility", listed(r.get("eligibility")) or "any"),
        ("Organisation types", listed(r.get("org_types")) or "all but funders"),
        ("Minimum per type", "; ".join(f"{t}: {n}" for t, n in (r.get("min_per_type") or {}).items())),
        ("Conflicts of interest (excluded)", pairs(r.get("exclude") or {})),
        ("Organisations on no list", listed(r.get("exclude_organisations"))),
        ("Partners kept", pairs(r.get("keep") or {})),
        ("Method", r.get("method")),
        ("Score", "the calibrated fit as shown: the probability that the organisation is a good partner for the "
                  "project, on the same scale for every project, as the match endpoint shows it (the same as Fit)"),
        ("Relevance", "the project's relative ranking score: it orders each project's partners, and the solver "
                      "maximises its total; it compares partners within a project, not between projects"),
        ("Assignments", s.get("assignments")), ("Total score (calibrated fit)", s.get("total_score")),
        ("Total relevance (the solver's objective)", s.get("total_relevance")),
        ("Greedy total score (calibrated fit)", s.get("greedy_total_score")),
        ("Greedy total relevance", s.get("greedy_total_relevance")),
        ("Organisations used", s.get("organisations_used")),
        ("Most lists on one organisation", s.get("max_load")),
        ("Request (JSON)", json.dumps({**r, "name": job.name}, sort_keys=True)),
    ]
    return [{"setting": k, "value": _fits(v)} for k, v in rows]


def _fits(value: Any) -> Any:
    """Spreadsheet cells hold at most 32,767 characters: longer text is cut, and says where the whole is."""
    if value is None:
        return ""
    if isinstance(value, str) and len(value) > CELL_LIMIT:
        return value[: CELL_LIMIT - 80] + " … (cut: the whole request is in GET /v1/shortlists/<id>)"
    return value


# ------------------------------------------------------------------------------------------------ the writers
def rows_to_csv(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    out = io.StringIO()
    # CRLF rows (RFC 4180): the csv module quotes a cell holding any character of the line terminator, so with
    # CRLF every cell holding a CR or a LF is quoted and a reader never splits a row inside one.
    writer = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore", lineterminator="\r\n",
                            quoting=csv.QUOTE_MINIMAL)
    writer.writeheader()
    for row in rows:
        writer.writerow({c: safe_cell(_text(row.get(c))) for c in columns})
    return out.getvalue()


def rows_to_xlsx(sheets: Mapping[str, tuple[Sequence[Mapping[str, Any]], Sequence[str]]]) -> bytes:
    """An .xlsx workbook with one sheet per entry: worded bold headers, set widths, the header row frozen, a
    filter on every column, dates as Excel dates, long text wrapped."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    book = Workbook()
    book.remove(book.active)
    bold, wrap = Font(bold=True), Alignment(wrap_text=True, vertical="top")
    for name, (rows, columns) in sheets.items():
        sheet = book.create_sheet(name[:31])
        sheet.append([safe_cell(HEADERS.get(c, (c, 0))[0]) for c in columns])
        for cell in sheet[1]:
            cell.font = bold
        for row in rows:
            sheet.append([safe_cell(row.get(c)) for c in columns])
        for i, column in enumerate(columns, start=1):
            letter = get_column_letter(i)
            sheet.column_dimensions[letter].width = HEADERS.get(column, (column, 14))[1]
            for (cell,) in sheet.iter_rows(min_row=2, min_col=i, max_col=i):
                if isinstance(cell.value, dt.datetime):
                    cell.number_format = DATE_FORMAT
                elif column in WRAPPED:
                    cell.alignment = wrap
                elif column in LINKED and isinstance(cell.value, str) and cell.value.startswith(("http://",
                                                                                                  "https://")):
                    cell.hyperlink, cell.style = cell.value, "Hyperlink"
        sheet.freeze_panes = "A2"
        sheet.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{max(1, len(rows) + 1)}"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


# ------------------------------------------------------------------------------------------------ the exports
def shortlist_to_csv(job: ShortlistJob, context: ExportContext | None = None) -> str:
    """A shortlist's assignments, one row each."""
    return rows_to_csv(assignment_rows(job, context), EXPORT_COLUMNS)


def decisions_to_csv(decisions: Sequence[DecisionRecord], job: ShortlistJob | None = None,
                     context: ExportContext | None = None) -> str:
    """A decision history, one row per decision."""
    return rows_to_csv(decision_rows(decisions, job, context), DECISION_COLUMNS)


def shortlist_to_xlsx(job: ShortlistJob, decisions: Sequence[DecisionRecord],
                      context: ExportContext | None = None) -> bytes:
    """A shortlist as a workbook: its assignments, the load (lists per organisation, by name), the decisions and
    the settings (the request that made it)."""
    return rows_to_xlsx({
        "assignments": (assignment_rows(job, context), EXPORT_COLUMNS),
        "load": (load_rows(job), LOAD_COLUMNS),
        "decisions": (decision_rows(decisions, job, context), DECISION_COLUMNS),
        "settings": (settings_rows(job), SETTINGS_COLUMNS),
    })


__all__ = ["DECISION_COLUMNS", "EXPORT_COLUMNS", "HEADERS", "LOAD_COLUMNS", "SETTINGS_COLUMNS", "ExportContext",
           "assignment_rows", "decision_rows", "decisions_to_csv", "load_rows", "rows_to_csv", "rows_to_xlsx",
           "safe_cell", "settings_rows", "shortlist_to_csv", "shortlist_to_xlsx"]
