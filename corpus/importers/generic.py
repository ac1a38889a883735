"""Organisations or projects from a CSV or JSONL file of the schema's own fields (or columns mapped onto them)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from corpus.importers.plan import ImportPlan
from corpus.importers.tables import FORMATS, progress, read_table
from corpus.loaders import (
    CorpusError,
    csv_cell,
    list_fields,
    parse_json_line,
    raise_problems,
    read_text_lines,
    validate_rows,
)
from corpus.schema import Organisation, Project


def plan_generic(path: Path, fmt: str, kind: str, mapping: dict[str, str] | None = None,
                 *, show_progress: bool = False) -> ImportPlan:
    """Organisations or projects from a CSV or JSONL file whose columns are renamed by ``mapping``."""
    models: dict[str, type[Organisation] | type[Project]] = {"organisations": Organisation, "projects": Project}
    model = models.get(kind)
    if model is None:
        raise CorpusError(f"--kind must be 'organisations' or 'projects', not {kind!r}")
    mapping = mapping or {}
    unknown = sorted(set(mapping.values()) - set(model.model_fields))
    if unknown:
        raise CorpusError(f"mapping targets {unknown} are not {kind} fields; use: {', '.join(model.model_fields)}")
    lists = list_fields(model)

    def rename(row: dict) -> dict:
        out = {mapping.get(k, k): v for k, v in row.items()}
        # Cells written as text ("a; b") become lists, as the corpus loader reads them.
        out = {k: csv_cell(k, v, lists) if isinstance(v, str) else v for k, v in out.items()}
        return {k: v for k, v in out.items() if v not in ("", None)}

    if fmt == "csv":
        rows = [(f"{path.name} line {i}", rename(r)) for i, r in enumerate(read_table(path).to_dict("records"), start=2)]
    elif fmt == "jsonl":
        rows = list(_jsonl(path, rename))
    else:
        raise CorpusError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    plan = ImportPlan(rows=len(rows))
    records = progress(rows, len(rows), fmt, show_progress)
    if kind == "organisations":
        plan.organisations, problems = validate_rows(records, Organisation)
    else:
        plan.projects, problems = validate_rows(records, Project)
    if problems:
        raise_problems(problems, path.name, prefix="nothing imported: ")
    return plan


def _jsonl(path: Path, rename: Callable[[dict], dict]):
    for number, line in enumerate(read_text_lines(path), start=1):
        if not line.strip():
            continue
        where = f"{path.name} line {number}"
        row = parse_json_line(line, where)
        yield where, rename(row) if isinstance(row, dict) else row
