import csv
import io
import json
import re
import time

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from corpus import CorpusError, Organisation, Project, corpus_hash, load_challenges, load_organisations, load_records
from tests.conftest import FIXTURE_CORPUS


def test_fixture_corpus_loads():
    orgs = load_organisations(FIXTURE_CORPUS)
    assert len(orgs) == 9 and all(isinstance(o, Organisation) for o in orgs)


def test_jsonl_errors_name_file_line_and_field(tmp_path):
    path = tmp_path / "orgs.jsonl"
    good = dict(id="a", name="A", country="GB", org_type="company", description="d")
    path.write_text(json.dumps(good) + "\n\n" + json.dumps({**good, "id": "b", "country": "Britain"}) + "\n")
    with pytest.raises(CorpusError) as e:
        load_records(path, Organisation)
    assert "orgs.jsonl line 3" in str(e.value) and "country" in str(e.value)
    assert e.value.problems == [{"where": "orgs.jsonl line 3", "field": "country", "message": e.value.problems[0]["message"]}]


def test_jsonl_bad_json_and_duplicate_ids(tmp_path):
    path = tmp_path / "orgs.jsonl"
    path.write_text('{"id": "a",\n')
    with pytest.raises(CorpusError, match="line 1: not valid JSON"):
        load_records(path, Organisation)
    good = json.dumps(dict(id="a", name="A", country="GB", org_type="company", description="d"))
    path.write_text(good + "\n" + good + "\n")
    with pytest.raises(CorpusError, match="duplicate id 'a'"):
        load_records(path, Organisation)


def test_csv_loader_splits_lists_and_names_lines(tmp_path):
    path = tmp_path / "projects.csv"
    path.write_text(
        "id,title,summary,country,minerals,challenge_areas,sources\n"
        "p1,Magnets,Recycle magnets,CA,REE; Li,2,https://example.org\n"
        "p2,Tailings,Reprocess tailings,XX1,cobalt,1,\n",
        encoding="utf-8",
    )
    with pytest.raises(CorpusError) as e:
        load_records(path, Project)
    assert "projects.csv line 3" in str(e.value) and "country" in str(e.value)
    path.write_text(path.read_text().replace("XX1", "GB"))
    p1, p2 = load_records(path, Project)
    assert p1.minerals == ["rare_earth_elements", "lithium"] and p1.challenge_areas == [2]
    assert p1.sources[0].ref == "https://example.org" and p2.sources == []


def test_non_utf8_and_unknown_extension(tmp_path):
    bad = tmp_path / "orgs.jsonl"
    bad.write_bytes(b'{"id": "\xff"}\n')
    with pytest.raises(CorpusError, match="not UTF-8"):
        load_records(bad, Organisation)
    with pytest.raises(CorpusError, match="unsupported file type"):
        load_records(tmp_path / "orgs.xml", Organisation)


def test_challenges_are_data_with_both_areas():
    challenges = load_challenges()
    assert [c.id for c in challenges] == [1, 2]
    assert "circular economy" in challenges[1].text().lower()


def test_corpus_hash_changes_with_content_not_order():
    orgs = load_organisations(FIXTURE_CORPUS)
    assert corpus_hash(orgs) == corpus_hash(list(reversed(orgs)))
    changed = [orgs[0].model_copy(update={"description": "other"}), *orgs[1:]]
    assert corpus_hash(changed) != corpus_hash(orgs)


# ----------------------------------------------------------------------------------------------------------------
# Hostile files: whatever the bytes, a loader returns valid records or raises a CorpusError that names the file
# (and the line and field where one applies) and says how to fix it. Never another exception type, never a hang.

# tmp_path is shared by a test's examples; each example overwrites its own file, so that is safe.
HOSTILE = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
SECONDS = 5  # "never a hang": any one file is answered well within this
# A file-level error (no per-record problems) ends with advice; record problems name the line and the field.
FIX_HINT = re.compile(r"; (save|remove|close|write|shorten|keep|export|give|name|use|rename|send)\b")
ORG_FIELDS = list(Organisation.model_fields)
GOOD_ORG = dict(id="a", name="A", country="GB", org_type="company", description="d")

# Text with everything a spreadsheet or a copy-paste can bring: NULs, control characters, separators that
# str.splitlines breaks at, quotes, delimiters, a byte-order mark mid-file, astral characters (no lone surrogates:
# those cannot be encoded to a file at all).
SPECIAL = ["\x00", "\x01", "\x1b", "\x7f", "\x85", "\u2028", "\u2029", "\ufeff", '"', ",", ";", "\r", "\n", "\r\n",
           "\t", " ", "é", "\U0001f600", "NaN", "null", "GB", "company"]
any_char = st.characters(codec="utf-8", exclude_categories=("Cs",))
hostile_text = st.one_of(st.text(any_char, max_size=30), st.sampled_from(SPECIAL),
                         st.lists(st.sampled_from(SPECIAL), max_size=6).map("".join))
cells = st.one_of(hostile_text, st.integers(1, 700).map(lambda n: "x" * n), st.just(""))
ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "latin-1", "cp1252"]


def encode(text: str, encoding: str) -> bytes:
    # latin-1 and cp1252 cannot hold every character; what they cannot hold becomes '?', as an export would do.
    return text.encode(encoding, errors="replace")


def assert_clean(load, path):
    """Run ``load(path)``: the records, or the CorpusError (asserted to be a clear one). Any other error propagates."""
    started = time.perf_counter()
    try:
        result = load(path)
    except CorpusError as e:
        message = str(e)
        assert path.name in message, message
        if e.problems:
            for problem in e.problems:
                assert problem["where"].startswith(f"{path.name} line ") and problem["field"], problem
        else:
            assert FIX_HINT.search(message), f"no advice in: {message}"
        result = e
    assert time.perf_counter() - started < SECONDS, f"{path.name} took too long"
    return result


@st.composite
def csv_files(draw, fields: list[str]) -> tuple[bytes, str]:
    """A CSV of random columns (known, unknown, blank, repeated) and ragged rows, well or badly quoted, encoded."""
    header = draw(st.lists(st.one_of(st.sampled_from(fields), st.sampled_from(["colour", "", "id"]), hostile_text),
                           max_size=8))
    rows = draw(st.lists(st.lists(cells, max_size=len(header) + 2), max_size=4))
    buffer = io.StringIO()
    if draw(st.booleans()):
        csv.writer(buffer).writerows([header, *rows])  # valid quoting
    else:
        buffer.write("".join(",".join(row) + draw(st.sampled_from(["\n", "\r\n", "\r"])) for row in [header, *rows]))
    encoding = draw(st.sampled_from(ENCODINGS))
    data = encode(buffer.getvalue(), encoding)
    if draw(st.booleans()):  # and sometimes bytes that are no text at all, anywhere in the file
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=4)) + data[at:]
    return data, encoding


json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                         hostile_text)
json_values = st.recursive(json_scalars, lambda children: st.lists(children, max_size=4)
                           | st.dictionaries(st.one_of(st.sampled_from(ORG_FIELDS), hostile_text), children, max_size=4),
                           max_leaves=12)


@st.composite
def jsonl_lines(draw) -> str:
    kind = draw(st.sampled_from(["record", "value", "garbage", "deep", "bigint"]))
    if kind == "record":  # a valid organisation with one field replaced by any JSON value
        return json.dumps({**GOOD_ORG, draw(st.sampled_from([*ORG_FIELDS, "colour"])): draw(json_values)},
                          ensure_ascii=draw(st.booleans()))
    if kind == "value":  # any JSON value, objects or not
        return json.dumps(draw(json_values), ensure_ascii=draw(st.booleans()))
    if kind == "deep":
        depth = draw(st.integers(1, 10_000))
        return draw(st.sampled_from(["[" * depth + "]" * depth, '{"a":' * depth + "1" + "}" * depth]))
    if kind == "bigint":
        return '{"id": 1' + "0" * draw(st.integers(4300, 6000)) + "}"
    return draw(st.text(any_char, max_size=40))


@HOSTILE
@given(file=csv_files(ORG_FIELDS))
@example(file=("id,name,country,org_type,description\na,A,GB,company,d\n".encode("utf-16"), "utf-16"))
@example(file=('\ufeffid,name,country,org_type,description\na,"A\x00B",GB,company,d\n'.encode(), "utf-8"))
@example(file=(b"id,name,id,country,org_type,description\na,A,b,GB,company,d\n", "utf-8"))
@example(file=(b"", "utf-8"))
@example(file=(b"id,name,country,org_type,description\r\n", "utf-8"))
def test_any_csv_file_loads_or_fails_clearly(tmp_path, file):
    data, encoding = file
    path = tmp_path / "hostile.csv"
    path.write_bytes(data)
    result = assert_clean(lambda p: load_records(p, Organisation), path)
    if encoding == "utf-16" and data:
        assert isinstance(result, CorpusError) and "not UTF-8" in str(result)


@HOSTILE
@given(lines=st.lists(jsonl_lines(), max_size=5), newline=st.sampled_from(["\n", "\r\n"]),
       encoding=st.sampled_from(ENCODINGS))
@example(lines=["[" * 10_000 + "]" * 10_000], newline="\n", encoding="utf-8")
@example(lines=['{"id": 1' + "0" * 5000 + "}"], newline="\n", encoding="utf-8")
@example(lines=["[1, 2]", "3", '"text"', "null"], newline="\n", encoding="utf-8")
def test_any_jsonl_file_loads_or_fails_clearly(tmp_path, lines, newline, encoding):
    path = tmp_path / "hostile.jsonl"
    path.write_bytes(encode(newline.join(lines), encoding))
    result = assert_clean(lambda p: load_records(p, Organisation), path)
    if encoding.startswith("utf-8") and lines and lines[0].startswith("[" * 2000):
        assert "line 1" in str(result) and "nested too deeply" in str(result)


@HOSTILE
@given(data=st.binary(max_size=300), suffix=st.sampled_from([".csv", ".jsonl"]), model=st.sampled_from([Organisation, Project]))
def test_any_bytes_load_or_fail_clearly(tmp_path, data, suffix, model):
    path = tmp_path / f"bytes{suffix}"
    path.write_bytes(data)
    assert_clean(lambda p: load_records(p, model), path)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_a_5mb_cell_is_refused_with_the_line(tmp_path, suffix):
    path = tmp_path / f"huge{suffix}"
    if suffix == ".csv":
        path.write_text("id,name,country,org_type,description\na,A,GB,company," + "x" * 5_000_000 + "\n")
    else:
        path.write_text(json.dumps({**GOOD_ORG, "description": "x" * 5_000_000}) + "\n")
    error = assert_clean(lambda p: load_records(p, Organisation), path)
    assert isinstance(error, CorpusError)
    assert f"{path.name} line {2 if suffix == '.csv' else 1}" in str(error)


@pytest.mark.parametrize("bom", [b"\xef\xbb\xbf", b""])
@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_a_utf8_byte_order_mark_is_read_as_utf8(tmp_path, bom, suffix):
    path = tmp_path / f"bom{suffix}"
    body = "id,name,country,org_type,description\na,Café,GB,company,d\n" if suffix == ".csv" else json.dumps(
        {**GOOD_ORG, "name": "Café"}, ensure_ascii=False) + "\n"
    path.write_bytes(bom + body.encode())
    assert [o.name for o in load_records(path, Organisation)] == ["Café"]


@pytest.mark.parametrize("encoding", ["utf-16", "latin-1", "cp1252"])
@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_other_encodings_are_named_and_explained(tmp_path, encoding, suffix):
    path = tmp_path / f"enc{suffix}"
    body = "id,name,country,org_type,description\na,Café “q”,GB,company,d\n" if suffix == ".csv" else json.dumps(
        {**GOOD_ORG, "name": "Café"}, ensure_ascii=False) + "\n"
    path.write_bytes(body.encode(encoding, errors="replace"))
    with pytest.raises(CorpusError, match=rf"{path.name} is not UTF-8 text \(byte \d+\); save it as UTF-8"):
        load_records(path, Organisation)


@HOSTILE
@given(description=st.text(any_char, max_size=60), ensure_ascii=st.booleans())
@example(description="before\u2028after", ensure_ascii=False)
@example(description="before\x85after\u2029end", ensure_ascii=False)
def test_every_valid_record_round_trips_through_jsonl(tmp_path, description, ensure_ascii):
    # JSON allows U+2028, U+2029 and U+0085 unescaped in strings (pydantic's model_dump_json writes them raw);
    # the loader used str.splitlines, which split such a record in two and refused a valid file.
    org = Organisation(**{**GOOD_ORG, "description": description})
    path = tmp_path / "roundtrip.jsonl"
    path.write_text(json.dumps(org.model_dump(), ensure_ascii=ensure_ascii) + "\n" + org.model_dump_json()
                    .replace('"id":"a"', '"id":"b"') + "\n", encoding="utf-8")
    assert [o.description for o in load_records(path, Organisation)] == [org.description] * 2


@HOSTILE
@given(description=st.text(any_char, min_size=1, max_size=60))
def test_every_valid_record_round_trips_through_csv(tmp_path, description):
    org = Organisation(**{**GOOD_ORG, "description": description})
    path = tmp_path / "roundtrip.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([list(GOOD_ORG), [org.id, org.name, org.country, org.org_type, org.description]])
    loaded = assert_clean(lambda p: load_records(p, Organisation), path)
    if org.description:  # an empty cell means "not given" in a spreadsheet, so a blank description is refused
        assert [o.description for o in loaded] == [org.description]
    else:
        assert isinstance(loaded, CorpusError) and "description" in str(loaded)


def test_a_column_named_twice_is_refused_not_silently_dropped(tmp_path):
    # csv.DictReader keeps only the last cell of a repeated column: here the id "a" would have vanished.
    path = tmp_path / "twice.csv"
    path.write_text("id,name,id,country,org_type,description\na,A,b,GB,company,d\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"twice.csv line 1: column\(s\) 'id' appear more than once"):
        load_records(path, Organisation)
