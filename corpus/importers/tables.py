"""Reading an export as a table: encoding detected, separator checked, header mapped to our names by key."""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
import warnings
import zipfile
from collections.abc import Callable, Iterable
from datetime import date, datetime, time
from pathlib import Path

import iso3166
import openpyxl
import pandas as pd
from openpyxl.utils.exceptions import InvalidFileException
from pydantic import ValidationError
from tqdm import tqdm

from corpus.loaders import CorpusError, check_header
from corpus.schema import COUNTRY_ALIASES

FORMATS = ("gtr", "gtr-json", "nserc", "csv", "jsonl")
# Exports have a few dozen columns; a header far wider is not one, and pandas slows down on very wide tables.
MAX_COLUMNS = 1000
# What a public export may be saved in: UTF-8 (with or without BOM), else Windows-1252 (NSERC files before 2020).
LEGACY_ENCODING = "cp1252"
# Files that are not text, told by their first bytes: what the file is and how to get a CSV from it.
_SAVE_AS_CSV = "save it as CSV UTF-8 (in Excel: File > Save As > CSV UTF-8 (comma delimited)) and import that file"
NOT_TEXT = (
    (b"PK\x03\x04", f"a zip archive (an Excel workbook that cannot be opened, or another archive), not CSV text; "
                        f"{_SAVE_AS_CSV}"),
    (b"\xd0\xcf\x11\xe0", f"an Excel 97-2003 workbook (.xls), not CSV text; {_SAVE_AS_CSV}"),
    (b"%PDF", "a PDF document, not CSV text; export the data itself as CSV from the source (GtR: the search "
              "page's CSV export; NSERC: the open data CSV files)"),
    (b"\xff\xfe", f"UTF-16 text, not UTF-8 text; {_SAVE_AS_CSV}"),
    (b"\xfe\xff", f"UTF-16 text, not UTF-8 text; {_SAVE_AS_CSV}"),
)
# Header keys that tell the public exports apart: a file with several of one set and fewer of the other is that
# export, whatever --format says.
SIGNATURES = {
    "gtr": frozenset({"projectid", "leadroname", "leadroid", "fundingorgname", "fundingorgid", "gtrprojecturl",
                      "awardpounds", "expenditurepounds", "pisurname", "pifirstname", "projectcategory",
                      "projectreference"}),
    "nserc": frozenset({"applicationid", "namenom", "institutionetablissement", "fiscalyearexercicefinancier",
                        "competitionyearanneedeconcours", "programnameen", "programnaneen", "programnamefr",
                        "awardamount", "applicationtitle", "applicationsummary", "iddemande", "titredemande",
                        "resumedemande", "departmentdepartement"}),
}
DESCRIPTIONS = {"gtr": "a GtR project export", "nserc": "an NSERC awards file", "gtr-json": "a GtR API answer",
                "csv": "a CSV of the schema's fields"}


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
    for magic, what in NOT_TEXT:
        if data.startswith(magic):
            raise CorpusError(f"{path.name} is {what}")
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
    encoding read is in ``frame.attrs["encoding"]``. The frame's index is each row's line number in the file (a
    quoted cell may span lines). Rows whose cells are all empty (Excel saves them as a line of commas) are dropped,
    and so are unnamed columns at the header's end whose cells are all empty."""
    workbook = _workbook_text(path)
    text, encoding = (workbook, "xlsx") if workbook is not None else decode(path, legacy=legacy_encoding)
    _refuse_json(text, path)
    try:
        trailing = _check_table_header(text, path)
        with warnings.catch_warnings():
            # index_col=False: without it, a first row with one cell too many silently becomes the row labels and
            # every cell shifts one column left. pandas then only warns (and drops the cell); refuse instead.
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, index_col=False)
    except pd.errors.ParserWarning as e:
        raise CorpusError(f"{path.name}: the first row under the header has more cells than the header has columns; "
                          "remove the extra cells or name their column in the header") from e
    except pd.errors.EmptyDataError as e:
        raise CorpusError(f"{path.name}: the file is empty; export it again with a header row") from e
    except pd.errors.ParserError as e:
        raise CorpusError(f"{path.name}: cannot read as CSV ({str(e).strip()}); give every row one cell per column "
                          "and close every quoted cell") from e
    if trailing:
        unnamed = list(frame.columns[-trailing:])
        filled = [n for n, c in enumerate(unnamed, start=len(frame.columns) - trailing + 1)
                  if frame[c].str.strip().ne("").any()]
        if filled:
            raise CorpusError(f"{path.name}: column {filled[0]} has cells but no name in the header; name it in the "
                              "header or delete the column")
        frame = frame.drop(columns=unnamed)
    lines = _record_lines(text)
    if len(lines) == len(frame):
        frame.index = pd.Index(lines)
    else:  # the csv module and pandas split the file differently: count one line per row
        frame.index = pd.RangeIndex(2, len(frame) + 2)
    if len(frame.columns):
        blank = frame.apply(lambda column: column.str.strip().eq("")).all(axis=1)
        frame = frame[~blank]
    frame.attrs["encoding"] = encoding
    return frame


def _workbook_text(path: Path) -> str | None:
    """An Excel workbook's first sheet as CSV text (dates as 2024-04-01, whole numbers without '.0'); None when the
    file is not a workbook openpyxl can read (``decode`` then says what it is)."""
    try:
        with path.open("rb") as handle:
            if handle.read(4) != b"PK\x03\x04":
                return None
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, InvalidFileException):
        return None
    try:
        table = [[_cell_text(v) for v in values] for values in book.worksheets[0].iter_rows(values_only=True)]
    finally:
        book.close()
    # A sheet once formatted far to the right reports thousands of empty columns: keep those that hold something.
    width = max((max((n + 1 for n, v in enumerate(row) if v), default=0) for row in table), default=0)
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(row[:width] + [""] * (width - len(row)) for row in table)
    return out.getvalue()


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def rows(frame: pd.DataFrame) -> list[tuple[int, dict]]:
    """(line number, row) for each row of a ``read_table`` frame."""
    return list(zip((int(i) for i in frame.index), frame.to_dict("records"), strict=True))


def _record_lines(text: str) -> list[int]:
    """The line each record under the header starts on, as the csv module splits the file (blank lines skipped)."""
    reader = csv.reader(io.StringIO(text, newline=""))
    starts: list[int] = []
    end = 0
    try:
        for record in reader:
            if record:
                starts.append(end + 1)
            end = reader.line_num
    except csv.Error:
        return []
    return starts[1:]


def _refuse_json(text: str, path: Path) -> None:
    """A JSON file given as CSV (an object or list from end to end, or a first line that is JSON): say so, and
    which format reads it."""
    stripped = text.strip()
    if stripped[:1] not in ("{", "["):
        return
    whole = stripped[-1:] in ("}", "]")
    if not whole:
        try:
            json.loads(stripped.split("\n", 1)[0])
        except (ValueError, RecursionError):
            return
    raise CorpusError(f"{path.name} is JSON, not CSV; use --format gtr-json for an answer of the GtR API, or "
                      "--format jsonl for records of the schema, one per line")


def looks_like(header: Iterable[str]) -> str | None:
    """The public export a header belongs to ('gtr', 'nserc'), or None when it is neither (or unclear)."""
    keys = {key(c) for c in header}
    scores = {fmt: len(keys & names) for fmt, names in SIGNATURES.items()}
    best = max(scores, key=lambda fmt: scores[fmt])
    others = max(v for fmt, v in scores.items() if fmt != best)
    return best if scores[best] >= 3 and scores[best] > others else None


def refuse_other_format(frame: pd.DataFrame, fmt: str, path: Path) -> None:
    """Refuse a file that is plainly another export than ``fmt``, naming the format that reads it."""
    other = looks_like(map(str, frame.columns))
    if other and other != fmt:
        raise CorpusError(f"{path.name}: this looks like {DESCRIPTIONS[other]}, not {DESCRIPTIONS.get(fmt, fmt)}; "
                          f"use --format {other}")


def _check_table_header(text: str, path: Path) -> int:
    """Refuse a repeated, far too wide or wrongly separated header before pandas reads it; returns how many empty
    cells end the header (Excel adds them for columns once used).

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
    named = len(header)
    while named and not header[named - 1].strip():
        named -= 1
    check_header(header[:named], where)
    if len(header) > MAX_COLUMNS:
        raise CorpusError(f"{where}: {len(header):,} columns in the header, more than the {MAX_COLUMNS:,} an import "
                          "reads; keep only the columns the import uses")
    return len(header) - named if named else 0


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


# Currency marks an amount cell may carry, before or after the number ("£1,234", "120 000,00 $", "CAD 5000").
_CURRENCY = re.compile(r"(?i)(?:\b(?:ca|us|c)?\$|[$£€]|\b(?:cad|gbp|eur|usd)\b)")
# The number forms read, after spaces (space, no-break, narrow no-break, thin) become " ": English "1,234.56",
# French "1 234,56" (a comma followed by 1 or 2 digits is a decimal comma), "1 234.56", continental "1.234,56".
_AMOUNT_FORMS = (
    (re.compile(r"\d+(?:\.\d+)?"), lambda t: t),
    (re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?"), lambda t: t.replace(",", "")),
    (re.compile(r"\d{1,3}(?: \d{3})+(?:\.\d+)?"), lambda t: t.replace(" ", "")),
    (re.compile(r"(?:\d{1,3}(?: \d{3})+|\d+),\d{1,2}"), lambda t: t.replace(" ", "").replace(",", ".")),
    (re.compile(r"\d{1,3}(?:\.\d{3})+,\d{1,2}"), lambda t: t.replace(".", "").replace(",", ".")),
)


def read_amount(text: str) -> tuple[float | None, str]:
    """An amount cell in English or French form -> (value, ''); ('', unreadable) -> (None, why).

    '£1,234.50' -> 1234.5, '120 000,00 $' -> 120000.0, '12,5' -> 12.5. What cannot be read one way only ('1e6',
    '1 234,567', '1.234.567', a negative amount) gives None and the reason, never a guess."""
    cleaned = _CURRENCY.sub(" ", text)
    cleaned = re.sub(r"[\s\u00a0\u202f\u2009]+", " ", cleaned).strip()
    if not cleaned:
        return None, ""
    for pattern, normalise in _AMOUNT_FORMS:
        if pattern.fullmatch(cleaned):
            return float(normalise(cleaned)), ""
    return None, (f"amount {text.strip()[:40]!r} cannot be read as one number (write it as 1234.56, 1,234.56 or "
                  "1 234,56); left empty")


def amount(text: str) -> float | None:
    """``read_amount``'s value alone ('' or unreadable -> None)."""
    return read_amount(text)[0]


# Country names the exports write that ISO 3166's English names do not cover: French (NSERC's FR columns) and
# everyday English; compared folded (no accents, lower case).
COUNTRY_NAMES = {
    "royaume-uni": "GB", "royaume uni": "GB", "grande-bretagne": "GB", "angleterre": "GB", "ecosse": "GB",
    "pays de galles": "GB", "irlande du nord": "GB", "united states": "US", "usa": "US", "u.s.a.": "US",
    "u.s.": "US", "etats-unis": "US", "etats unis": "US", "etats-unis d'amerique": "US", "south korea": "KR",
    "korea": "KR", "coree du sud": "KR", "coree": "KR", "allemagne": "DE", "australie": "AU", "belgique": "BE",
    "suede": "SE", "finlande": "FI", "japon": "JP", "chine": "CN", "chili": "CL", "perou": "PE", "bresil": "BR",
    "mexique": "MX", "norvege": "NO", "pays-bas": "NL", "netherlands": "NL", "the netherlands": "NL",
    "suisse": "CH", "espagne": "ES", "italie": "IT", "irlande": "IE", "inde": "IN", "afrique du sud": "ZA",
    "autriche": "AT", "danemark": "DK", "pologne": "PL", "nouvelle-zelande": "NZ", "islande": "IS",
    "argentine": "AR", "colombie": "CO", "russie": "RU", "russia": "RU", "singapour": "SG", "vietnam": "VN",
    "viet nam": "VN", "iran": "IR", "bolivia": "BO", "bolivie": "BO", "grece": "GR", "turquie": "TR",
    "turkey": "TR", "egypte": "EG", "maroc": "MA", "arabie saoudite": "SA", "emirats arabes unis": "AE",
    "indonesie": "ID", "malaisie": "MY", "thailande": "TH", "zambie": "ZM", "tanzanie": "TZ",
    "republique tcheque": "CZ", "czech republic": "CZ", "tchequie": "CZ", "hongrie": "HU", "roumanie": "RO",
    "groenland": "GL", "congo (kinshasa)": "CD", "democratic republic of the congo": "CD",
    "republique democratique du congo": "CD",
}


def country_from_name(text: str) -> str | None:
    """A country cell (ISO code, English or French name: 'United Kingdom', 'Royaume-Uni', 'GBR') -> ISO 3166-1
    alpha-2; None when it is not one."""
    folded = " ".join(fold(text).split())
    if not folded or len(folded) > 80:
        return None
    if folded in COUNTRY_NAMES:
        return COUNTRY_NAMES[folded]
    upper = folded.upper()
    if upper in COUNTRY_ALIASES:
        return COUNTRY_ALIASES[upper]
    if len(upper) == 2 and upper in iso3166.countries_by_alpha2:
        return upper
    found = iso3166.countries_by_apolitical_name.get(upper) or iso3166.countries_by_name.get(upper)
    if found is None:
        try:
            found = iso3166.countries.get(folded)
        except KeyError:
            return None
    return found.alpha2


def read_mapping_countries(path: Path | str) -> dict[str, str]:
    """A mapping file's ``country`` column: organisation name -> ISO code, for names the source gives no country
    (GtR leads 'Outside UK', NSERC partners without one). Keyed like ``read_mapping`` (``name_key``)."""
    from corpus.importers.resolver import name_key

    path = Path(path)
    text, _ = decode(path, legacy=True)
    reader = csv.DictReader(io.StringIO(text, newline=""), dialect=sniff_dialect(text))
    fields = {key(f): f for f in reader.fieldnames or []}
    if "name" not in fields or "country" not in fields:
        return {}
    out: dict[str, str] = {}
    for line, row in enumerate(reader, start=2):
        name, country = (row.get(fields["name"]) or "").strip(), (row.get(fields["country"]) or "").strip()
        if not name or not country:
            continue
        code = country_from_name(country)
        if code is None:
            raise CorpusError(f"{path.name} line {line}: country {country[:40]!r} is not a country; write its ISO "
                              "code (DE, CL) or its name in English or French")
        out[name_key(name)] = code
    return out


def sniff_dialect(text: str) -> type[csv.Dialect]:
    """The separator of a small CSV such as a mapping file: comma, or the semicolon or tab a spreadsheet saved it
    with in some locales."""
    try:
        return csv.Sniffer().sniff(text.split("\n", 1)[0], delimiters=",;\t")
    except csv.Error:
        return csv.excel
