"""Organisations or projects from a CSV or JSONL file of the schema's own fields (or columns mapped onto them).

An organisation's ROR id comes from a ``ror`` / ``ROR ID`` column (or ``identifiers``); a row whose id is new but
whose ROR id (or another known identifier) an organisation already carries is that organisation: it updates it,
keeping its id and name, with the row's name added as an alias.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path

from corpus.importers.plan import ImportPlan
from corpus.importers.resolver import Resolution, name_key
from corpus.importers.tables import FORMATS, progress, read_table, refuse_other_format
from corpus.importers.tables import rows as table_rows
from corpus.loaders import (
    CorpusError,
    csv_cell,
    list_fields,
    parse_json_line,
    raise_problems,
    read_text_lines,
    validate_rows,
)
from corpus.schema import MAX_DOCUMENTS, Organisation, Project


# Columns that hold an organisation's ROR id, compared without case or punctuation ("ROR ID", "ror_id").
ROR_COLUMNS = frozenset({"ror", "rorid"})


def plan_generic(path: Path, fmt: str, kind: str, mapping: dict[str, str] | None = None,
                 *, show_progress: bool = False, existing: Iterable[Organisation] = ()) -> ImportPlan:
    """Organisations or projects from a CSV or JSONL file whose columns are renamed by ``mapping`` (``ror`` is a
    target too); ``existing``: the stored organisations, matched by their identifiers."""
    models: dict[str, type[Organisation] | type[Project]] = {"organisations": Organisation, "projects": Project}
    model = models.get(kind)
    if model is None:
        raise CorpusError(f"--kind must be 'organisations' or 'projects', not {kind!r}")
    mapping = mapping or {}
    extra = {"ror"} if kind == "organisations" else set()
    unknown = sorted(set(mapping.values()) - set(model.model_fields) - extra)
    if unknown:
        raise CorpusError(f"mapping targets {unknown} are not {kind} fields; use: "
                          f"{', '.join([*model.model_fields, *sorted(extra)])}")
    lists = list_fields(model)

    def rename(row: dict) -> dict:
        out = {mapping.get(k, k): v for k, v in row.items()}
        # Cells written as text ("a; b") become lists, as the corpus loader reads them.
        out = {k: csv_cell(k, v, lists) if isinstance(v, str) else v for k, v in out.items()}
        out = {k: v for k, v in out.items() if v not in ("", None)}
        if kind == "organisations":
            for column in [k for k in out if re.sub(r"[^a-z]", "", str(k).lower()) in ROR_COLUMNS]:
                value = out.pop(column)
                identifiers = out.get("identifiers")
                if isinstance(identifiers, dict):
                    out["identifiers"] = {**identifiers, "ror": value}
                elif identifiers is None:
                    out["identifiers"] = {"ror": value}
        return out

    if fmt == "csv":
        frame = read_table(path)
        if not mapping:
            refuse_other_format(frame, "csv", path)
        rows = [(f"{path.name} line {i}", rename(r)) for i, r in table_rows(frame)]
    elif fmt == "jsonl":
        rows = list(_jsonl(path, rename))
    else:
        raise CorpusError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    plan = ImportPlan(rows=len(rows))
    records = progress(rows, len(rows), fmt, show_progress)
    if kind == "organisations":
        plan.organisations, problems = validate_rows(records, Organisation)
        if not problems:
            problems = _known_bodies(plan, existing, [where for where, _ in rows])
    else:
        plan.projects, problems = validate_rows(records, Project)
    if problems:
        # Name the file's own column where --map renamed it ("Org Name", not name).
        columns = {field: column for column, field in mapping.items()}
        for problem in problems:
            head, dot, rest = str(problem["field"]).partition(".")
            if head in columns:
                problem["field"] = f"{columns[head]} ({head}{dot}{rest})"
        raise_problems(problems, path.name, prefix="nothing imported: ")
    return plan


def _known_bodies(plan: ImportPlan, existing: Iterable[Organisation], wheres: list[str]) -> list[dict]:
    """Rows with a new id whose identifier (a ROR id, say) an organisation already carries become that
    organisation (its documents and sources kept); returns the problems (a row that names one body by id and
    another by identifier, two rows of one body)."""
    stored = {o.id: o for o in existing}
    by_identifier = {(scheme, value.lower()): o.id for o in stored.values() for scheme, value in o.identifiers.items()}
    problems: list[dict] = []
    claimed = {org.id: wheres[n] for n, org in enumerate(plan.organisations)}  # id -> the row that has it
    first: dict[tuple[str, str], str] = {}
    for number, org in enumerate(plan.organisations):
        for scheme, value in org.identifiers.items():
            if (key := (scheme, value.lower())) in first:
                problems.append({"where": wheres[number], "field": "identifiers", "message": (
                    f"{scheme} id {value} is also on {first[key]}; one body has one row")})
            first.setdefault(key, wheres[number])
    if problems:
        return problems
    for number, org in enumerate(plan.organisations):
        match = next(((scheme, value, by_identifier[(scheme, value.lower())]) for scheme, value in
                      org.identifiers.items() if (scheme, value.lower()) in by_identifier), None)
        if match is None or match[2] == org.id:
            continue
        scheme, value, known_id = match
        known = stored[known_id]
        where = wheres[number]
        if org.id in stored:
            problems.append({"where": where, "field": "identifiers", "message": (
                f"{scheme} id {value} belongs to {known.name} ({known_id}), not to {org.id}; correct the id or the "
                f"{scheme} id")})
            continue
        if known_id in claimed:
            problems.append({"where": where, "field": "identifiers", "message": (
                f"{scheme} id {value} is {known.name} ({known_id}), which {claimed[known_id]} updates too; one body "
                "has one row")})
            continue
        claimed[known_id] = where
        aliases = list(org.aliases)
        if name_key(org.name) != name_key(known.name) and org.name not in aliases:
            aliases.append(org.name)
        sources = [*known.sources, *(s for s in org.sources if s.ref not in {k.ref for k in known.sources})]
        documents = [*known.documents, *(d for d in org.documents if d.id not in {k.id for k in known.documents})]
        if len(documents) > MAX_DOCUMENTS:  # the later attached kept, as imports keep the most recent projects
            plan.warnings.append(f"{known.name} ({known_id}) would have {len(documents):,} documents; the "
                                 f"{MAX_DOCUMENTS:,} attached last are kept")
            documents = documents[-MAX_DOCUMENTS:]
        plan.organisations[number] = Organisation.model_validate({
            **org.model_dump(), "id": known_id, "name": known.name, "aliases": aliases,
            "identifiers": {**known.identifiers, **org.identifiers},
            "sources": [s.model_dump() for s in sources[:50]], "documents": [d.model_dump() for d in documents]})
        plan.resolutions.append(Resolution(name=org.name, role="organisation", action="matched",
                                           organisation_id=known_id, method="identifier",
                                           note=f"{scheme} id {value}; the row's id {org.id} is not used", rows=1))
    return problems


def _jsonl(path: Path, rename: Callable[[dict], dict]):
    for number, line in enumerate(read_text_lines(path), start=1):
        if not line.strip():
            continue
        where = f"{path.name} line {number}"
        row = parse_json_line(line, where)
        yield where, rename(row) if isinstance(row, dict) else row
