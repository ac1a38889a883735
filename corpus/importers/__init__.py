"""Importers for the files users already have: UKRI Gateway to Research (the project-search CSV export and the
API's JSON), NSERC Awards open data (with its co-applicant and partner files), and generic CSV / JSONL with a
column mapping.

An import is planned whole in memory and validated before anything is written (``ImportPlan``); the caller
writes the plan in one transaction, or nothing (``dry_run``). Ids are derived from the source's own identifiers,
so importing the same file again updates records instead of duplicating them. Organisations are resolved, not
guessed (``resolver``): every name is matched, created or left waiting, and the plan says which. A project's
organisations get it as a document of their profile, so each project is evidence indexed on its own; projects
outside the programme are flagged (``relevance``) and left out unless kept.

* ``gtr``: GtR project-search CSV (``gtr.CSV_COLUMNS``; 25 columns, no abstract) or any CSV with ``ProjectId`` and
  ``Title`` (and optionally ``Abstract``). ``gtr-json``: the GtR API's projects JSON.
* ``nserc``: NSERC Awards CSV in English, French or bilingual headers (``nserc.AWARD_COLUMNS``).
* ``csv`` / ``jsonl``: the schema's own field names, or any names mapped with ``mapping={"source": "field"}``;
  list cells in CSV are separated by ``;``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from corpus.importers.generic import plan_generic
from corpus.importers.gtr import plan_gtr, plan_gtr_json
from corpus.importers.nserc import plan_nserc
from corpus.importers.plan import TITLE_ONLY, ImportPlan, OrganisationBook
from corpus.importers.resolver import OrganisationResolver, Resolution, read_mapping, write_report
from corpus.importers.tables import FORMATS, read_table
from corpus.importers.tables import read_mapping_countries
from corpus.loaders import CorpusError
from corpus.schema import Organisation, Project

__all__ = ["FORMATS", "TITLE_ONLY", "ImportPlan", "OrganisationResolver", "Resolution", "plan_import", "read_mapping",
           "read_mapping_countries", "read_table", "write_report"]


def plan_import(path: Path | str, fmt: str, existing: Iterable[Organisation], *, kind: str = "organisations",
                mapping: dict[str, str] | None = None, show_progress: bool = False,
                existing_projects: Iterable[Project] = (), organisation_map: dict[str, str] | None = None,
                accept: bool = False, keep_off_topic: bool = False,
                related: Iterable[Path | str] = (), organisation_countries: dict[str, str] | None = None) -> ImportPlan:
    """Read and validate a whole file into an ``ImportPlan``; raises CorpusError and plans nothing on any error.

    ``existing`` / ``existing_projects``: what is stored (to resolve names and count new, updated and unchanged
    records). ``organisation_map`` (name -> organisation id or ``new``, see ``read_mapping``) and ``accept`` settle
    ambiguous names; ``keep_off_topic`` imports flagged projects too; ``related``: NSERC co-applicant and partner
    files; ``organisation_countries`` (name key -> ISO code, ``read_mapping_countries``): where bodies the source
    places nowhere are (GtR leads "Outside UK", NSERC partners without a country)."""
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"{path}: no such file")
    existing = list(existing)
    existing_projects = list(existing_projects)
    if fmt in ("gtr", "gtr-json", "nserc"):
        book = OrganisationBook(existing, mapping=organisation_map, accept=accept)
        if fmt == "gtr":
            plan = plan_gtr(path, book=book, keep_off_topic=keep_off_topic, show_progress=show_progress,
                            countries=organisation_countries)
        elif fmt == "gtr-json":
            plan = plan_gtr_json(path, book=book, keep_off_topic=keep_off_topic, show_progress=show_progress,
                                 countries=organisation_countries)
        else:
            plan = plan_nserc(path, book=book, related=[Path(p) for p in related], keep_off_topic=keep_off_topic,
                              show_progress=show_progress, stored={p.id: p for p in existing_projects},
                              countries=organisation_countries)
    else:
        plan = plan_generic(path, fmt, kind, mapping, show_progress=show_progress, existing=existing)
    plan.count_changes(existing, existing_projects)
    return plan
