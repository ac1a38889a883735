"""Shortlist exports, the one recipe for both doors (the CLI's ``--out`` and the HTTP downloads): CSV with one
row per assignment or decision, and an XLSX workbook (assignments, load, decisions)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from typing import Any

from matcher.storage.shortlist_store import DecisionRecord, ShortlistJob

EXPORT_COLUMNS = ["project_id", "rank", "organisation_id", "organisation_name", "country", "org_type", "score",
                  "reason", "decision", "note", "decided_at", "organisation_deleted"]
DECISION_COLUMNS = ["decided_at", "shortlist_id", "project_id", "organisation_id", "decision", "note"]
LOAD_COLUMNS = ["organisation_id", "lists"]


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


def rows_to_csv(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    out = io.StringIO()
    # CRLF rows (RFC 4180): the csv module quotes a cell holding any character of the line terminator, so with
    # CRLF every cell holding a CR or a LF is quoted and a reader never splits a row inside one.
    writer = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore", lineterminator="\r\n",
                            quoting=csv.QUOTE_MINIMAL)
    writer.writeheader()
    for row in rows:
        writer.writerow({c: safe_cell(row.get(c)) for c in columns})
    return out.getvalue()


def rows_to_xlsx(sheets: Mapping[str, tuple[Sequence[Mapping[str, Any]], Sequence[str]]]) -> bytes:
    """An .xlsx workbook with one sheet per entry (pandas + openpyxl)."""
    import pandas as pd

    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        for name, (rows, columns) in sheets.items():
            frame = pd.DataFrame([{c: safe_cell(r.get(c)) for c in columns} for r in rows], columns=list(columns))
            frame.to_excel(writer, sheet_name=name[:31], index=False)
    return buffer.getvalue()


def shortlist_to_csv(job: ShortlistJob) -> str:
    """A shortlist's assignments, one row each."""
    return rows_to_csv([a.to_dict() for a in job.assignments or ()], EXPORT_COLUMNS)


def decisions_to_csv(decisions: Sequence[DecisionRecord]) -> str:
    """A decision history, one row per decision."""
    return rows_to_csv([d.to_dict() for d in decisions], DECISION_COLUMNS)


def shortlist_to_xlsx(job: ShortlistJob, decisions: Sequence[DecisionRecord]) -> bytes:
    """A shortlist as a workbook: its assignments, the load (lists per organisation) and the decisions."""
    load = [{"organisation_id": k, "lists": v} for k, v in ((job.summary or {}).get("load") or {}).items()]
    return rows_to_xlsx({
        "assignments": ([a.to_dict() for a in job.assignments or ()], EXPORT_COLUMNS),
        "load": (load, LOAD_COLUMNS),
        "decisions": ([d.to_dict() for d in decisions], DECISION_COLUMNS),
    })


__all__ = ["DECISION_COLUMNS", "EXPORT_COLUMNS", "LOAD_COLUMNS", "decisions_to_csv", "rows_to_csv",
           "rows_to_xlsx", "safe_cell", "shortlist_to_csv", "shortlist_to_xlsx"]
