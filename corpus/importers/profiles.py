"""What an import attaches to a profile: at most ``MAX_DOCUMENTS`` documents, the most recent projects kept."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from corpus.schema import MAX_DOCUMENTS, Organisation, Project

if TYPE_CHECKING:
    from corpus.importers.plan import ImportPlan

def project_date(project: Project) -> date:
    """How recent a project is: its end, else its start, else the start of its last fiscal year; else date.min."""
    award = project.award
    if award is None:
        return date.min
    if award.end_date or award.start_date:
        return award.end_date or award.start_date or date.min
    years = [int(y[:4]) for y in award.fiscal_years if y[:4].isdigit() and 1900 < int(y[:4]) < 2200]
    return date(max(years), 4, 1) if years else date.min


def keep_recent_documents(org: Organisation, plan: ImportPlan) -> Organisation:
    """``org`` with at most ``MAX_DOCUMENTS`` documents: its most recent projects (dated by ``plan``'s projects;
    documents this import does not date, written by hand or by earlier imports, rank after dated ones, the later
    attached first). Every project is still imported as a project; the plan warns what was left off the profile."""
    if len(org.documents) <= MAX_DOCUMENTS:
        return org
    dates = {p.id: project_date(p) for p in plan.projects}
    order = sorted(range(len(org.documents)), key=lambda n: (dates.get(org.documents[n].id, date.min), n),
                   reverse=True)
    kept = sorted(order[:MAX_DOCUMENTS])
    plan.warnings.append(f"{org.name} ({org.id}) takes part in {len(org.documents):,} projects; its profile keeps the "
                         f"{MAX_DOCUMENTS:,} most recent as its evidence (documents); all are imported as projects")
    return org.model_copy(update={"documents": [org.documents[n] for n in kept]})

