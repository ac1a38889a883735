"""Reading an export as a table: encoding detected, separator checked, header mapped to our names by key."""

from __future__ import annotations

import csv
import io
import re
import unicodedata
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd
from pydantic import ValidationError
from tqdm import tqdm

from corpus.loaders import CorpusError, check_header

FORMATS = ("gtr", "gtr-json", "nserc", "csv", "jsonl")
# Exports have a few dozen columns; a header far wider is not one, and pandas slows down on very wide tables.
MAX_COLUMNS = 1000
# What a public export may be saved in: UTF-8 (with or without BOM), else Windows-1252 (NSERC files before 2020).
LEGACY_ENCODING = "cp1252"


def fold(text: str) -> str:
    return unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode().lower()


def key(name: str) -> str:
    """Header key: 'Institution-Établissement' -> 'institutionetablissement'."""
    return re.sub(r"[^a-z0-9]", "", fold(name))


def decode(path: Path, *, legacy: bool) -> tuple[str, str]:
    """The file's text and the encoding it was read in: UTF-8, else (``legacy``) Windows-1252; never UTF-16."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise CorpusError(f"cannot read {path}: {e.strerror}") from e
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError as e:
        # NUL bytes mean UTF-16 or a binary file, which Windows-1252 would "decode" into nonsense.
        if not legacy or b"\x00" in data:
            raise CorpusError(f"{path} is not UTF-8 text (byte {e.start}); save it as UTF-8 and retry") from e
        try:
            return data.decode(LEGACY_ENCODING), LEGACY_ENCODING
        except UnicodeDecodeError as e2:
            raise CorpusError(f"{path} is neither UTF-8 nor Windows-1252 text (byte {e2.start}); save it as UTF-8 "
                              "and retry") from e2


def read_table(path: Path, *, legacy_encoding: bool = False) -> pd.DataFrame:
    """A CSV as strings (no NaN guessing), or a clear CorpusError naming the file.

    ``legacy_encoding``: accept Windows-1252 when the file is not UTF-8 (the public exports' older years); the
    encoding read is in ``frame.attrs["encoding"]``."""
    text, encoding = decode(path, legacy=legacy_encoding)
    try:
        _check_table_header(text, path)
        with warnings.catch_warnings():
            # index_col=False: without it, a first row with one cell too many silently becomes the row labels and
            # every cell shifts one column left. pandas then only warns (and drops the cell); refuse instead.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, index_col=False)
            frame.attrs["encoding"] = encoding
            return frame
    except pd.errors.ParserWarning as e:
        raise CorpusError(f"{path.name}: the first row under the header has more cells than the header has columns; "
                          "remove the extra cells or name their column in the header") from e
    except pd.errors.EmptyDataError as e:
        raise CorpusError(f"{path.name}: the file is empty; export it again with a header row") from e
    except pd.errors.ParserError as e:
        raise CorpusError(f"{path.name}: cannot read as CSV ({str(e).strip()}); give every row one cell per column "
                          "and close every quoted cell") from e


def _check_table_header(text: str, path: Path) -> None:
    """Refuse a repeated, far too wide or wrongly separated header before pandas reads it.

    pandas renames a repeated column ("a", "a.1", ...) in time quadratic in the number of columns (minutes for a
    1 MB header line), and the renamed copy would be ignored anyway. A header read as one column that holds ``;``
    or a tab is a file saved with another separator (Excel in many locales): every row would fail for the same
    reason, so that reason is given once.
    """
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next((row for row in reader if row), [])  # pandas skips blank lines before the header too
    except csv.Error as e:
        raise CorpusError(f"{path.name} line {reader.line_num + 1}: malformed CSV header ({e}); close every quoted "
                          "cell") from e
    where = f"{path.name} line {reader.line_num}"
    if len(header) == 1:
        for separator, name in ((";", "semicolons (;)"), ("\t", "tabs")):
            if header[0].count(separator) >= 1:
                raise CorpusError(f"{where}: the columns are separated by {name}, not commas; save the file as "
                                  "comma-separated CSV (in Excel: CSV UTF-8, comma delimited) and retry")
    check_header(header, where)
    if len(header) > MAX_COLUMNS:
        raise CorpusError(f"{where}: {len(header):,} columns in the header, more than the {MAX_COLUMNS:,} an import "
                          "reads; keep only the columns the import uses")


def columns(frame: pd.DataFrame, wanted: dict[str, tuple[str, ...]], required: set[str], path: Path,
            formats: Iterable[str] = FORMATS) -> dict[str, str]:
    """Map our names to the file's columns by normalised header; name the missing required ones."""
    present = {key(c): c for c in frame.columns}
    found: dict[str, str] = {}
    for ours, keys in wanted.items():
        for k in keys:
            if k in present:
                found[ours] = present[k]
                break
    missing = sorted(required - set(found))
    if missing:
        expected = "; ".join(f"{m}: one of {', '.join(wanted[m])}" for m in missing)
        raise CorpusError(f"{path.name}: missing required column(s) ({expected}); found "
                          f"{', '.join(map(str, frame.columns))}; rename the columns or use the format that matches "
                          f"the file ({', '.join(formats)})")
    return found


def cells(row: dict, cols: dict[str, str]) -> Callable[[str], str]:
    """Read a row's cell by our column name ('' when the file has no such column or the cell is empty)."""
    return lambda name: " ".join(str(row.get(cols.get(name, ""), "") or "").split())


def progress(rows: Iterable, total: int, label: str, show: bool):
    return tqdm(rows, total=total, desc=label, unit="row", disable=not show)


def cell_problems(error: ValidationError, where: str, cols: dict[str, str]) -> list[dict]:
    """A record built from a row's cells was invalid: each problem named by the file's column, not our field."""
    out = []
    for e in error.errors():
        field = str(e["loc"][0]) if e["loc"] else ""
        out.append({"where": where, "field": cols.get(field) or field or "(record)", "message": e["msg"]})
    return out


def amount(text: str) -> float | None:
    """'£1,234.50' or '1234' -> 1234.5; '' or unreadable -> None."""
    cleaned = re.sub(r"[^0-9.\-]", "", text.replace(",", ""))
    try:
        value = float(cleaned) if cleaned else None
    except ValueError:
        return None
    return value if value is not None and value >= 0 else None
