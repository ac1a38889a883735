"""Importers for the files users already have: UKRI Gateway to Research and NSERC Awards CSVs, and generic
CSV / JSONL with a column mapping.

An import is planned whole in memory and validated before anything is written (``ImportPlan``); the caller
writes the plan in one transaction. Ids are derived from the source's own identifiers, so importing the same
file again updates records instead of duplicating them. A lead organisation's projects become documents of its
profile, so each project is evidence indexed on its own.

Supported columns (matched case- and punctuation-insensitively):

* ``gtr`` (UKRI Gateway to Research project export): ``ProjectId`` or ``gtr_project_id`` or
  ``ProjectReference`` (required), ``Title`` (required), ``Abstract`` / ``AbstractText``, ``LeadROName``,
  ``FundingOrgName`` / ``funder``, ``Department``, ``GTRProjectUrl``, ``StartDate``, ``Status``.
* ``nserc`` (NSERC Awards data, English or bilingual headers): ``ApplicationTitle`` (required),
  ``ApplicationSummary``, ``Institution`` / ``Institution-Établissement``, ``ProvinceEN``, ``ProgramNameEN``,
  ``FiscalYear`` / ``CompetitionYear``, ``Keyword``, ``Name-Nom`` (used only to tell awards apart, never stored).
* ``csv`` / ``jsonl``: the schema's own field names, or any names mapped with ``mapping={"source": "field"}``;
  list cells in CSV are separated by ``;``.
"""

from __future__ import annotations

import csv
import hashlib
import re
import unicodedata
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from pydantic import ValidationError
from tqdm import tqdm

from corpus import vocab
from corpus.loaders import (
    CorpusError,
    check_header,
    csv_cell,
    list_fields,
    parse_json_line,
    raise_problems,
    read_text_lines,
    validate_rows,
)
from corpus.schema import Document, Organisation, Project, Source, slugify

FORMATS = ("gtr", "nserc", "csv", "jsonl")
GTR_HOME = "https://gtr.ukri.org/"
NSERC_AWARDS = "https://www.nserc-crsng.gc.ca/ase-oro/index_eng.asp"
# Exports have a few dozen columns; a header far wider is not one, and pandas slows down on very wide tables.
MAX_COLUMNS = 1000
_UNIVERSITY = re.compile(r"universit|college|school of|polytechni|institute of technology|école|ecole", re.I)


@dataclass
class ImportPlan:
    """What an import will write: every record already validated."""

    organisations: list[Organisation] = field(default_factory=list)
    projects: list[Project] = field(default_factory=list)
    created_organisations: list[str] = field(default_factory=list)
    updated_organisations: list[str] = field(default_factory=list)
    rows: int = 0

    def summary(self) -> str:
        return (
            f"{self.rows} rows -> {len(self.projects)} projects, {len(self.organisations)} organisations "
            f"({len(self.created_organisations)} new, {len(self.updated_organisations)} updated)"
        )


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode().lower()


def _key(name: str) -> str:
    """Header key: 'Institution-Établissement' -> 'institutionetablissement'."""
    return re.sub(r"[^a-z0-9]", "", _fold(name))


def _norm_name(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", _fold(name)).strip()


def read_table(path: Path) -> pd.DataFrame:
    """A CSV as strings (no NaN guessing), or a clear CorpusError naming the file."""
    try:
        _check_table_header(path)
        with warnings.catch_warnings():
            # index_col=False: without it, a first row with one cell too many silently becomes the row labels and
            # every cell shifts one column left. pandas then only warns (and drops the cell); refuse instead.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig", index_col=False)
    except UnicodeDecodeError as e:
        raise CorpusError(f"{path} is not UTF-8 text (byte {e.start}); save it as UTF-8 and retry") from e
    except pd.errors.ParserWarning as e:
        raise CorpusError(f"{path.name}: the first row under the header has more cells than the header has columns; "
                          "remove the extra cells or name their column in the header") from e
    except pd.errors.EmptyDataError as e:
        raise CorpusError(f"{path.name}: the file is empty; export it again with a header row") from e
    except pd.errors.ParserError as e:
        raise CorpusError(f"{path.name}: cannot read as CSV ({str(e).strip()}); give every row one cell per column "
                          "and close every quoted cell") from e
    except OSError as e:
        raise CorpusError(f"cannot read {path}: {e.strerror}") from e


def _check_table_header(path: Path) -> None:
    """Refuse a repeated or far too wide header before pandas reads it.

    pandas renames a repeated column ("a", "a.1", ...) in time quadratic in the number of columns (minutes for a
    1 MB header line), and the renamed copy would be ignored anyway.
    """
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        try:
            header = next((row for row in reader if row), [])  # pandas skips blank lines before the header too
        except csv.Error as e:
            raise CorpusError(f"{path.name} line {reader.line_num + 1}: malformed CSV header ({e}); close every quoted "
                              "cell") from e
    where = f"{path.name} line {reader.line_num}"
    check_header(header, where)
    if len(header) > MAX_COLUMNS:
        raise CorpusError(f"{where}: {len(header):,} columns in the header, more than the {MAX_COLUMNS:,} an import "
                          "reads; keep only the columns the import uses")


def _columns(frame: pd.DataFrame, wanted: dict[str, tuple[str, ...]], required: set[str], path: Path) -> dict[str, str]:
    """Map our names to the file's columns by normalised header; name the missing required ones."""
    present = {_key(c): c for c in frame.columns}
    found: dict[str, str] = {}
    for ours, keys in wanted.items():
        for k in keys:
            if k in present:
                found[ours] = present[k]
                break
    missing = sorted(required - set(found))
    if missing:
        expected = "; ".join(f"{m}: one of {', '.join(wanted[m])}" for m in missing)
        raise CorpusError(f"{path.name}: missing required column(s) ({expected}); found {', '.join(map(str, frame.columns))}; "
                          f"rename the columns or use the format that matches the file ({', '.join(FORMATS)})")
    return found


def _cells(row: dict, cols: dict[str, str]) -> Callable[[str], str]:
    """Read a row's cell by our column name ('' when the file has no such column or the cell is empty)."""
    return lambda name: str(row.get(cols.get(name, ""), "") or "").strip()


class _OrgDirectory:
    """Existing organisations by normalised name and alias, plus those this import creates or changes."""

    def __init__(self, existing: Iterable[Organisation]):
        self.by_id: dict[str, Organisation] = {o.id: o for o in existing}
        self.by_name: dict[tuple[str, str], str] = {}
        for o in self.by_id.values():
            for name in (o.name, *o.aliases):
                self.by_name.setdefault((o.country, _norm_name(name)), o.id)
        self.touched: dict[str, Organisation] = {}
        self.created: set[str] = set()

    def lead(self, name: str, country: str, source: Source) -> str:
        """The id of the organisation called ``name`` in ``country``, creating a minimal record if needed."""
        key = (country, _norm_name(name))
        if key in self.by_name:
            return self.by_name[key]
        org_id = f"{country.lower()}-{slugify(name)}"
        if org_id not in self.by_id:
            org = Organisation(
                id=org_id,
                name=" ".join(name.split()),
                country=country,
                org_type="university" if _UNIVERSITY.search(name) else "rto",
                description="",
                sources=[source],
            )
            self.by_id[org_id] = org
            self.created.add(org_id)
        self.by_name[key] = org_id
        return org_id

    def add_document(self, org_id: str, document: Document) -> None:
        org = self.touched.get(org_id) or self.by_id[org_id]
        documents = [d for d in org.documents if d.id != document.id] + [document]
        source = document.source
        known = source is None or any(s.ref == source.ref for s in org.sources)
        sources = org.sources if known else [*org.sources, source]
        self.touched[org_id] = org.model_copy(update={"documents": documents, "sources": sources[:50]})

    def finish(self, plan: ImportPlan, label: str) -> None:
        for org_id, org in self.touched.items():
            if org_id in self.created:
                # A created record says only what the import proves: that it leads these projects.
                titles = "; ".join(d.title for d in org.documents[:8])
                org = org.model_copy(update={
                    "description": f"{org.name} leads {len(org.documents)} project(s) listed in {label}: {titles}.",
                    "keywords": [],
                })
                plan.created_organisations.append(org_id)
            else:
                plan.updated_organisations.append(org_id)
            plan.organisations.append(Organisation.model_validate(org.model_dump()))


def _progress(rows: Iterable, total: int, label: str, show: bool):
    return tqdm(rows, total=total, desc=label, unit="row", disable=not show)


def plan_gtr(path: Path, existing: Iterable[Organisation], *, show_progress: bool = False) -> ImportPlan:
    frame = read_table(path)
    cols = _columns(
        frame,
        {
            "id": ("projectid", "gtrprojectid", "id", "projectreference"),
            "reference": ("projectreference",),
            "title": ("title", "projecttitle"),
            "abstract": ("abstract", "abstracttext", "summary"),
            "lead": ("leadroname", "leadorganisation", "leadresearchorganisation"),
            "funder": ("fundingorgname", "funder"),
            "department": ("department",),
            "url": ("gtrprojecturl", "url"),
        },
        {"id", "title"},
        path,
    )
    directory = _OrgDirectory(existing)
    plan, raw_projects, problems = ImportPlan(rows=len(frame)), [], []
    for number, row in _progress(enumerate(frame.to_dict("records"), start=2), len(frame), "gtr", show_progress):
        get, where = _cells(row, cols), f"{path.name} line {number}"
        source_id = get("id")
        url = get("url") or (f"{GTR_HOME}projects?ref={get('reference')}" if get("reference") else f"{GTR_HOME}project/{source_id}")
        url_column = cols["url"] if get("url") else cols.get("reference") if get("reference") else cols["id"]
        try:
            source = Source(ref=url, note=f"UKRI Gateway to Research project{': ' + get('funder') if get('funder') else ''}")
        except ValidationError as e:
            problems += _cell_problems(e, where, {"ref": url_column or "", "note": cols.get("funder") or ""})
            continue
        text = get("abstract") or get("title")
        project = {
            "id": f"gtr-{slugify(source_id)}" if source_id else "",
            "title": get("title")[:300],
            "summary": text,
            "country": "GB",
            "lead_organisation": get("lead"),
            "minerals": vocab.detect_minerals(f"{get('title')} {text}"),
            "seeking_countries": ["CA"],
            "illustrative": False,
            "sources": [source.model_dump()],
        }
        if get("lead"):
            try:
                project["lead_organisation_id"] = directory.lead(get("lead"), "GB", source)
            except ValidationError as e:
                problems += _cell_problems(e, where, {"name": cols["lead"]})
                continue
        raw_projects.append((where, project))
    _finish(plan, raw_projects, directory, path, "UKRI Gateway to Research", problems)
    return plan


def plan_nserc(path: Path, existing: Iterable[Organisation], *, show_progress: bool = False) -> ImportPlan:
    frame = read_table(path)
    cols = _columns(
        frame,
        {
            "title": ("applicationtitle", "title"),
            "summary": ("applicationsummary", "summary"),
            "institution": ("institutionetablissement", "institution", "organization"),
            "province": ("provinceen", "province"),
            "program": ("programnameen", "programname", "program"),
            "year": ("fiscalyearexercicefinancier", "fiscalyear", "competitionyearanneedeconcours", "competitionyear"),
            "keywords": ("keyword", "keywords"),
            "name": ("namenom", "name"),
        },
        {"title"},
        path,
    )
    directory = _OrgDirectory(existing)
    plan, raw_projects, problems = ImportPlan(rows=len(frame)), [], []
    for number, row in _progress(enumerate(frame.to_dict("records"), start=2), len(frame), "nserc", show_progress):
        get, where = _cells(row, cols), f"{path.name} line {number}"
        # NSERC rows carry no award id: the same researcher, institution, programme, year and title is the same award.
        identity = "|".join(get(k) for k in ("name", "institution", "program", "year", "title"))
        try:
            source = Source(ref=NSERC_AWARDS, note=f"NSERC Awards data: {get('program') or 'award'} {get('year')}".strip())
        except ValidationError as e:
            note_columns = " and ".join(cols[k] for k in ("program", "year") if k in cols)
            problems += _cell_problems(e, where, {"note": note_columns})
            continue
        summary = get("summary") or get("title")
        keywords = [k.strip() for k in re.split(r"[;,]", get("keywords")) if k.strip()][:100]
        project = {
            # An id, not a secret: SHA-1 only spreads the award's identity over 12 stable hex digits.
            "id": "nserc-" + hashlib.sha1(identity.encode(), usedforsecurity=False).hexdigest()[:12],
            "title": get("title")[:300],
            "summary": summary,
            "country": "CA",
            "lead_organisation": get("institution"),
            "minerals": vocab.detect_minerals(f"{get('title')} {summary} {get('keywords')}"),
            "keywords": [k[:300] for k in keywords],
            "seeking_countries": ["GB"],
            "illustrative": False,
            "sources": [source.model_dump()],
        }
        if get("institution"):
            try:
                project["lead_organisation_id"] = directory.lead(get("institution"), "CA", source)
            except ValidationError as e:
                problems += _cell_problems(e, where, {"name": cols["institution"]})
                continue
        raw_projects.append((where, project))
    _finish(plan, raw_projects, directory, path, "NSERC Awards data", problems)
    return plan


def _cell_problems(error: ValidationError, where: str, columns: dict[str, str]) -> list[dict]:
    """A record built from a row's cells was invalid: each problem named by the file's column, not our field."""
    out = []
    for e in error.errors():
        field = str(e["loc"][0]) if e["loc"] else ""
        out.append({"where": where, "field": columns.get(field) or field or "(record)", "message": e["msg"]})
    return out


def _finish(plan: ImportPlan, raw_projects, directory: _OrgDirectory, path: Path, label: str,
            cell_problems: list[dict]) -> None:
    """Validate every project, attach each to its lead as a document, then validate the organisations."""
    projects, problems = validate_rows(raw_projects, Project)
    problems = cell_problems + problems
    if problems:
        raise_problems(problems, path.name, prefix="nothing imported: ")
    for project in projects:
        if project.lead_organisation_id:
            directory.add_document(
                project.lead_organisation_id,
                Document(id=project.id, title=project.title, text=project.summary, source=project.sources[0]),
            )
    try:
        directory.finish(plan, label)
    except Exception as e:  # pydantic: a created organisation could not be made valid
        raise CorpusError(f"{path.name}: cannot build organisation records: {e}") from e
    plan.projects = projects


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
    progress = _progress(rows, len(rows), fmt, show_progress)
    plan = ImportPlan(rows=len(rows))
    if kind == "organisations":
        plan.organisations, problems = validate_rows(progress, Organisation)
    else:
        plan.projects, problems = validate_rows(progress, Project)
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


def plan_import(path: Path | str, fmt: str, existing: Iterable[Organisation], *, kind: str = "organisations",
                mapping: dict[str, str] | None = None, show_progress: bool = False) -> ImportPlan:
    """Read and validate a whole file into an ``ImportPlan``; raises CorpusError and plans nothing on any error."""
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"{path}: no such file")
    if fmt == "gtr":
        return plan_gtr(path, existing, show_progress=show_progress)
    if fmt == "nserc":
        return plan_nserc(path, existing, show_progress=show_progress)
    return plan_generic(path, fmt, kind, mapping, show_progress=show_progress)
