"""Read corpus records from JSONL and CSV files, with errors that name the file, the line and the field.

A loader validates every row before returning any, so a caller never acts on half a file.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sys
from collections import Counter
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from corpus.errors import CorpusError
from corpus.schema import Challenge, Organisation, Programme, Project

M = TypeVar("M", bound=BaseModel)

# Columns of a CSV that hold lists are written "a; b; c" (semicolons, so commas stay free for prose).
LIST_SEPARATOR = ";"


def _describe(error: ValidationError, where: str) -> list[dict]:
    out = []
    for e in error.errors():
        field = ".".join(str(p) for p in e["loc"]) or "(record)"
        out.append({"where": where, "field": field, "message": e["msg"]})
    return out


def raise_problems(problems: list[dict], path: Path | str, prefix: str = "") -> None:
    """Raise one CorpusError summarising the first problems (all of them ride along in ``problems``)."""
    if not problems:
        return
    head = "; ".join(f"{p['where']}: field '{p['field']}': {p['message']}" for p in problems[:5])
    more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
    raise CorpusError(f"{prefix}{len(problems)} invalid record(s) in {path}: {head}{more}", problems)


def validate_rows(rows: Iterable[tuple[str, dict]], model: type[M]) -> tuple[list[M], list[dict]]:
    """Validate ``(where, dict)`` rows against ``model``: the valid records, and every problem found."""
    records: list[M] = []
    problems: list[dict] = []
    seen: dict[str, str] = {}
    for where, row in rows:
        if not isinstance(row, dict):
            problems.append({"where": where, "field": "(record)", "message": "expected a JSON object"})
            continue
        try:
            record = model.model_validate(row)
        except ValidationError as e:
            problems.extend(_describe(e, where))
            continue
        rid = getattr(record, "id", None)
        if rid is not None and rid in seen:
            problems.append({"where": where, "field": "id", "message": f"duplicate id {rid!r} (first at {seen[rid]})"})
            continue
        if rid is not None:
            seen[rid] = where
        records.append(record)
    return records, problems


def parse_records(rows: Iterable[tuple[str, dict]], model: type[M], path: Path | str) -> list[M]:
    """Validate rows; collect every problem, then raise once, so nothing is used from a file with errors."""
    records, problems = validate_rows(rows, model)
    raise_problems(problems, path)
    return records


def _rows(path: Path, model: type[BaseModel]) -> Iterable[tuple[str, dict]]:
    if path.suffix.lower() == ".jsonl":
        return _jsonl_rows(path)
    if path.suffix.lower() == ".csv":
        return _csv_rows(path, list_fields(model))
    raise CorpusError(f"{path}: unsupported file type {path.suffix!r}; use .jsonl or .csv")


def load_records_lenient(path: Path | str, model: type[M]) -> tuple[list[M], list[dict]]:
    """The valid records of a file and the problems of the others (for reports; loaders use load_records)."""
    path = Path(path)
    return validate_rows(_rows(path, model), model)


def read_text_lines(path: Path) -> list[str]:
    """A UTF-8 text file's lines (a leading byte-order mark skipped), or a CorpusError naming the file.

    Lines end only at \\n, \\r\\n or \\r: ``str.splitlines`` would also split at U+2028, U+0085 and other
    separators that JSON allows unescaped inside a string, breaking a valid record in two.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise CorpusError(f"{path} is not UTF-8 text (byte {e.start}); save it as UTF-8 and retry") from e
    except OSError as e:
        raise CorpusError(f"cannot read {path}: {e.strerror}") from e
    return list(io.StringIO(text, newline=None))


def parse_json_line(line: str, where: str):
    """One JSON value, or a CorpusError naming ``where``: also for nesting too deep to parse and huge integers."""
    try:
        return json.loads(line)
    except json.JSONDecodeError as e:
        raise CorpusError(f"{where}: not valid JSON ({e.msg} at column {e.colno}); write one JSON object per line") from e
    except RecursionError as e:
        raise CorpusError(f"{where}: JSON nested too deeply to read; write each record as one object of fields, "
                          "nested a few levels at most") from e
    except ValueError as e:  # Python refuses to convert integers of more than sys.get_int_max_str_digits() digits
        raise CorpusError(f"{where}: a number has more than {sys.get_int_max_str_digits()} digits; shorten it or "
                          "write it as a quoted string") from e


def _jsonl_rows(path: Path) -> Iterable[tuple[str, dict]]:
    for number, line in enumerate(read_text_lines(path), start=1):
        if not line.strip():
            continue
        where = f"{path.name} line {number}"
        yield where, parse_json_line(line, where)


def _csv_rows(path: Path, list_fields: set[str]) -> Iterable[tuple[str, dict]]:
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as e:
        raise CorpusError(f"cannot read {path}: {e.strerror}") from e
    with handle:
        reader = csv.DictReader(handle)
        read = 0  # lines read whole so far: a row that cannot be parsed starts on the next one
        try:
            check_header(list(reader.fieldnames or []), f"{path.name} line {reader.line_num}")
            read = reader.line_num
            for row in reader:
                # Line numbers count the header as line 1, as a spreadsheet shows them.
                where = f"{path.name} line {reader.line_num}"
                read = reader.line_num
                if None in row:
                    raise CorpusError(f"{where}: more cells than the header has columns; remove the extra cells "
                                      "or name their column in the header")
                yield where, {k: csv_cell(k, v, list_fields) for k, v in row.items() if v not in (None, "")}
        except UnicodeDecodeError as e:
            raise CorpusError(f"{path} is not UTF-8 text (byte {e.start}); save it as UTF-8 and retry") from e
        except csv.Error as e:
            raise CorpusError(f"{path.name} line {read + 1}: malformed CSV ({e}); close every quoted cell "
                              f"and keep cells under {csv.field_size_limit():,} characters") from e


def check_header(columns: list[str], where: str) -> None:
    """A column named twice would silently keep only its last cell; say so instead."""
    twice = sorted(c for c, n in Counter(columns).items() if n > 1)
    if twice:
        raise CorpusError(f"{where}: column(s) {', '.join(map(repr, twice))} appear more than once in the header; "
                          "keep one of each")


def csv_cell(key: str, value: str, list_fields: set[str]):
    """A spreadsheet cell as the schema wants it: "a; b" lists split, sources as ``{"ref": ...}`` objects."""
    if key in list_fields:
        return [part.strip() for part in value.split(LIST_SEPARATOR) if part.strip()]
    if key == "sources":
        return [{"ref": part.strip()} for part in value.split(LIST_SEPARATOR) if part.strip()]
    return value


def list_fields(model: type[BaseModel]) -> set[str]:
    """Fields of ``model`` that hold plain lists (``sources`` is handled by ``csv_cell`` on its own)."""
    return {name for name, f in model.model_fields.items() if "list" in str(f.annotation).lower() and name != "sources"}


def load_records(path: Path | str, model: type[M]) -> list[M]:
    """Load one JSONL or CSV file of ``model`` records (chosen by extension); all valid or CorpusError."""
    path = Path(path)
    return parse_records(_rows(path, model), model, path)


def load_dir(directory: Path | str, model: type[M]) -> list[M]:
    """Load every ``*.jsonl`` and ``*.csv`` file in a folder, in name order; ids must be unique across files."""
    directory = Path(directory)
    files = sorted(p for p in directory.iterdir() if p.suffix.lower() in {".jsonl", ".csv"})
    records: list[M] = []
    origin: dict[str, str] = {}
    for path in files:
        for record in load_records(path, model):
            rid = getattr(record, "id")  # every record model has an id
            if rid in origin:
                raise CorpusError(f"{path.name}: id {rid!r} is already defined in {origin[rid]}")
            origin[rid] = path.name
            records.append(record)
    return records


def default_data_dir() -> Path:
    """The corpus bundled with the package."""
    return Path(str(resources.files("corpus").joinpath("data")))


def load_organisations(data_dir: Path | str | None = None) -> list[Organisation]:
    return load_dir(Path(data_dir or default_data_dir()) / "organisations", Organisation)


def load_projects(data_dir: Path | str | None = None) -> list[Project]:
    return load_dir(Path(data_dir or default_data_dir()) / "projects", Project)


def _programme_file(data_dir: Path | str | None, name: str, what: str, fix: str = "") -> tuple[Path, Any]:
    """A programme-wide JSON file of the corpus folder (the bundled one when the folder has none), parsed."""
    path = Path(data_dir or default_data_dir()) / name
    if not path.exists():
        path = default_data_dir() / name
    try:
        return path, json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise CorpusError(f"cannot read {what} from {path}: {e}{fix}") from e


def load_challenges(data_dir: Path | str | None = None) -> list[Challenge]:
    path, rows = _programme_file(data_dir, "challenges.json", "challenge areas")
    return parse_records(((f"{path.name} item {i + 1}", r) for i, r in enumerate(rows)), Challenge, path)


def load_programme(data_dir: Path | str | None = None) -> Programme:
    """The programme's scope (``programme.json`` beside ``challenges.json``; the bundled one when a corpus folder
    has none), validated whole."""
    path, row = _programme_file(data_dir, "programme.json", "the programme's scope",
                                "; fix the file (see docs/corpus.md)")
    return parse_records([(path.name, row)], Programme, path)[0]


def record_digest(org: Organisation) -> int:
    """64 bits of the SHA-256 of a record's JSON: its share of ``corpus_hash``.

    ``identifiers`` counts only when it holds something: it is not embedded, and a record without any keeps the
    digest it had before the field existed, so saved indexes stay fresh across the upgrade."""
    exclude = None if org.identifiers else {"identifiers"}
    return int.from_bytes(hashlib.sha256(org.model_dump_json(exclude=exclude).encode()).digest()[:8], "little")


def combine_digests(total: int) -> str:
    return f"{total % (1 << 64):016x}"


def corpus_hash(organisations: Iterable[Organisation]) -> str:
    """A fingerprint of everything that is embedded; an index built for another hash is stale.

    The sum (mod 2**64) of the records' digests: independent of order, so an index updates it in O(changed
    records) (subtract the old records' digests, add the new ones) instead of re-reading a million records."""
    return combine_digests(sum(record_digest(org) for org in organisations))
