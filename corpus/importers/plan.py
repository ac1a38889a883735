"""What an import will write (``ImportPlan``), and the organisations it touches (``OrganisationBook``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from corpus.importers.profiles import keep_recent_documents
from corpus.importers.relevance import ProgrammeFit
from corpus.importers.resolver import (
    OrganisationResolver,
    Resolution,
    infer_org_type,
    new_organisation_id,
)
from corpus.loaders import CorpusError, raise_problems, validate_rows
from corpus.schema import TITLE_ONLY_NOTE, Document, Organisation, Project, Source

TITLE_ONLY = TITLE_ONLY_NOTE
SHOWN_OFF_TOPIC = 5  # flagged titles the summary names; the report lists every one


@dataclass
class ImportPlan:
    """What an import will write: every record already validated, and what it decided on the way."""

    organisations: list[Organisation] = field(default_factory=list)
    projects: list[Project] = field(default_factory=list)
    created_organisations: list[str] = field(default_factory=list)
    updated_organisations: list[str] = field(default_factory=list)
    unchanged_organisations: list[str] = field(default_factory=list)
    created_projects: list[str] = field(default_factory=list)
    updated_projects: list[str] = field(default_factory=list)
    unchanged_projects: list[str] = field(default_factory=list)
    resolutions: list[Resolution] = field(default_factory=list)
    off_topic: list[tuple[str, str]] = field(default_factory=list)  # (project id, title) flagged
    off_topic_why: dict[str, str] = field(default_factory=dict)  # project id -> why it was flagged
    held: list[tuple[str, str]] = field(default_factory=list)  # (project id, the ambiguous name it waits on)
    off_topic_kept: bool = False
    warnings: list[str] = field(default_factory=list)  # what was read with a caveat (an amount left empty, ...)
    rows: int = 0
    encoding: str = "utf-8"

    def off_topic_rows(self) -> list[Resolution]:
        """The flagged projects as report rows (action ``off_topic``: the title, and why), to review before --all."""
        kept = "imported flagged (--all)" if self.off_topic_kept else "left out; --all imports it"
        return [Resolution(name=title, role="project", action="off_topic", rows=1,
                           note=f"project {project_id}, {kept}: {self.off_topic_why.get(project_id, 'off-topic')}")
                for project_id, title in self.off_topic]

    def count_changes(self, existing_orgs: Iterable[Organisation], existing_projects: Iterable[Project]) -> None:
        """Sort every planned record into new, updated (differs from what is stored) and unchanged."""
        orgs = {o.id: o for o in existing_orgs}
        projects = {p.id: p for p in existing_projects}
        self.created_organisations, self.updated_organisations, self.unchanged_organisations = _split(
            self.organisations, orgs)
        self.created_projects, self.updated_projects, self.unchanged_projects = _split(self.projects, projects)

    @property
    def changes_anything(self) -> bool:
        """Whether writing this plan changes a stored record (a new or updated organisation or project)."""
        return bool(self.created_organisations or self.updated_organisations or self.created_projects
                    or self.updated_projects)

    def summary(self) -> str:
        parts = [f"{self.rows} rows"]
        if self.projects or self.created_projects or self.off_topic or self.held:
            parts.append(f"{len(self.projects)} projects ({len(self.created_projects)} new, "
                         f"{len(self.updated_projects)} updated, {len(self.unchanged_projects)} unchanged)")
        parts.append(f"{len(self.organisations)} organisations ({len(self.created_organisations)} new, "
                     f"{len(self.updated_organisations)} updated, {len(self.unchanged_organisations)} unchanged)")
        text = f"{parts[0]}{' (read as Windows-1252)' if self.encoding == 'cp1252' else ''} -> " + ", ".join(parts[1:])
        if self.resolutions:
            counts: dict[str, int] = {}
            for r in self.resolutions:
                counts[r.action] = counts.get(r.action, 0) + 1
            text += "; names: " + ", ".join(f"{n} {a}" for a, n in sorted(counts.items()))
        if self.off_topic:
            verb = "imported flagged (--all)" if self.off_topic_kept else "left out (--all imports them)"
            text += f"; {len(self.off_topic)} off-topic {verb}: " + "; ".join(
                repr(title[:80]) for _, title in self.off_topic[:SHOWN_OFF_TOPIC])
            if len(self.off_topic) > SHOWN_OFF_TOPIC:
                text += f" and {len(self.off_topic) - SHOWN_OFF_TOPIC} more (--report lists them all)"
        if self.held:
            text += f"; {len(self.held)} project(s) wait on ambiguous names (--accept, or --map FILE.csv)"
        return text + (f"; {len(self.warnings)} warning(s)" if self.warnings else "")


def _split(records, stored: dict) -> tuple[list[str], list[str], list[str]]:
    new, updated, unchanged = [], [], []
    for record in records:
        before = stored.get(record.id)
        if before is None:
            new.append(record.id)
        elif before.model_dump(mode="json") != record.model_dump(mode="json"):
            updated.append(record.id)
        else:
            unchanged.append(record.id)
    return new, updated, unchanged


class OrganisationBook:
    """The organisations an import resolves names to, creates, and attaches projects to as documents."""

    def __init__(self, existing: Iterable[Organisation], *, mapping: dict[str, str] | None = None,
                 accept: bool = False) -> None:
        self.existing = {o.id: o for o in existing}
        self.resolver = OrganisationResolver(self.existing.values(), mapping=mapping, accept=accept)
        self.touched: dict[str, Organisation] = {}
        self.created: dict[str, str] = {}  # organisation id -> the label of the source that named it

    def organisation(self, name: str, *, role: str, country: str | None, source: Source, label: str,
                     identifiers: dict[str, str] | None = None, region: str = "") -> tuple[str | None, Resolution]:
        """The id ``name`` resolves to, creating a minimal record when the source says where it is (``country``).

        Returns (None, resolution) when the name waits (ambiguous), is skipped, or would be created with no country.
        """
        resolution = self.resolver.resolve(name, role=role, identifiers=identifiers, country=country)
        ids = {k: v.strip() for k, v in (identifiers or {}).items() if v and v.strip()}
        if resolution.action == "matched":
            org_id = resolution.organisation_id
            org = self.touched.get(org_id) or self.resolver.by_id[org_id]
            missing = {k: v for k, v in ids.items() if k not in org.identifiers}
            if missing:  # learnt from this source: later imports match on it
                self.touched[org_id] = org.model_copy(update={"identifiers": {**org.identifiers, **missing}})
            return org_id, resolution
        if resolution.action != "created":
            return None, resolution
        if resolution.organisation_id:
            return resolution.organisation_id, resolution
        if not country:
            resolution.action, resolution.note = "skipped", "not created: the source does not say its country"
            return None, resolution
        org = Organisation(
            id=new_organisation_id(name, country, self.resolver.by_id),
            name=name,
            country=country,
            org_type=infer_org_type(name),
            region=region[:200],
            description="",
            sources=[source],
            identifiers=ids,
        )
        self.resolver.add(org)
        self.touched[org.id] = org
        self.created[org.id] = label
        resolution.organisation_id = org.id
        return org.id, resolution

    def attach(self, org_id: str, project: Project) -> None:
        """The project becomes a document of the organisation's profile: evidence indexed on its own."""
        source = project.sources[0] if project.sources else None
        document = Document(id=project.id, title=project.title, text="" if project.title_only else project.summary,
                            source=source)
        org = self.touched.get(org_id) or self.resolver.by_id[org_id]
        documents = [d for d in org.documents if d.id != document.id] + [document]
        known = source is None or any(s.ref == source.ref for s in org.sources)
        sources = org.sources if known else [*org.sources, source]
        self.touched[org_id] = org.model_copy(update={"documents": documents, "sources": sources[:50]})

    def finish(self, plan: ImportPlan) -> None:
        plan.resolutions = list(self.resolver.resolutions.values())
        by_org = {r.organisation_id: r for r in plan.resolutions if r.action == "created"}
        for org_id, org in self.touched.items():
            if org_id in self.created:
                if not org.documents:  # every project naming it was left out: nothing to say about it
                    if org_id in by_org:
                        by_org[org_id].action, by_org[org_id].organisation_id = "skipped", ""
                        by_org[org_id].note = "not created: none of its projects is imported"
                    continue
                # A created record says only what the import proves: the projects it takes part in.
                titles = "; ".join(d.title for d in org.documents[:8])
                org = org.model_copy(update={"description": f"{org.name} takes part in {len(org.documents)} "
                                                            f"project(s) listed in {self.created[org_id]}: {titles}."})
            plan.organisations.append(Organisation.model_validate(keep_recent_documents(org, plan).model_dump()))


def finish_plan(plan: ImportPlan, raw_projects: list[tuple[str, dict, list[tuple[str, str]]]], book: OrganisationBook,
                path: Path, cell_problems: list[dict], *, keep_off_topic: bool,
                relevance: dict[str, ProgrammeFit]) -> None:
    """Validate every project (nothing planned on any error), leave out those waiting on an ambiguous name and the
    off-topic ones unless kept, attach the rest to their organisations as documents, then validate the
    organisations.

    ``raw_projects``: (where, project fields, [(organisation id, role)]) per project."""
    projects, problems = validate_rows([(where, raw) for where, raw, _ in raw_projects], Project)
    problems = cell_problems + problems
    if problems:
        raise_problems(problems, path.name, prefix="nothing imported: ")
    links = {raw.get("id"): members for _, raw, members in raw_projects}
    plan.off_topic_kept = keep_off_topic
    held = {project_id for project_id, _ in plan.held}  # validated like the rest, written once settled
    for project in projects:
        if project.id in held:
            continue
        judged = relevance.get(project.id)
        extra = [m for m in (judged.named if judged else ()) if m not in project.minerals]
        if extra:  # named in a French text, read through its English rendering
            project = project.model_copy(update={"minerals": [*project.minerals, *extra]})
        if judged is not None and not judged.on_topic:
            plan.off_topic.append((project.id, project.title))
            plan.off_topic_why[project.id] = judged.reason
            if not keep_off_topic:
                continue
            project = project.model_copy(update={"off_topic": True})
        plan.projects.append(project)
        for org_id, _ in links.get(project.id, []):
            book.attach(org_id, project)
    try:
        book.finish(plan)
    except ValidationError as e:  # a created organisation could not be made valid
        raise CorpusError(f"{path.name}: cannot build organisation records: {e}") from e
