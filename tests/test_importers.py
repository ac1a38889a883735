import csv
import io
import json
import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from corpus import CorpusError, Organisation, load_organisations
from corpus.importers import ImportPlan, plan_import
from tests.conftest import FIXTURE_CORPUS, SHARED_DATA, TESTS
from tests.test_loaders import ENCODINGS, GOOD_ORG, HOSTILE, assert_clean, cells, csv_files, encode, jsonl_lines

IMPORTS = TESTS / "data" / "imports"


@pytest.fixture
def existing():
    return load_organisations(FIXTURE_CORPUS)


def test_gtr_projects_become_documents_of_their_lead(existing):
    plan = plan_import(IMPORTS / "gtr_projects.csv", "gtr", existing)
    assert [p.id for p in plan.projects] == [
        "gtr-11111111-aaaa-bbbb-cccc-000000000001", "gtr-11111111-aaaa-bbbb-cccc-000000000002",
        "gtr-11111111-aaaa-bbbb-cccc-000000000003"]
    first = plan.projects[0]
    assert first.country == "GB" and not first.illustrative and first.minerals == ["rare_earth_elements"]
    assert first.lead_organisation_id == "fx-magnet-recyclers"  # matched by name to the existing record
    assert plan.updated_organisations == ["fx-magnet-recyclers"]
    assert plan.created_organisations == ["gb-fixture-university-of-testing"]
    created = next(o for o in plan.organisations if o.id == "gb-fixture-university-of-testing")
    assert created.org_type == "university" and len(created.documents) == 2 and created.sources
    assert "takes part in 2 project(s)" in created.description
    assert plan.projects[2].summary == "" and plan.projects[2].title_only  # no abstract: marked, not filled
    assert plan.projects[2].sources[0].ref.endswith("projects?ref=10000003")


def test_nserc_awards_without_storing_personal_names(existing):
    plan = plan_import(IMPORTS / "nserc_awards.csv", "nserc", existing)
    assert len(plan.projects) == 2 and all(p.id.startswith("nserc-") and p.country == "CA" for p in plan.projects)
    assert plan.projects[0].lead_organisation_id == "fx-tailings-lab"
    assert plan.projects[0].keywords == ["tailings", "nickel", "reprocessing"]
    assert plan.created_organisations == ["ca-universite-fixture-de-test"]
    assert plan.projects[0].award.amount == 120000 and plan.projects[0].award.fiscal_years == ["2025-2026"]
    dumped = str([p.model_dump() for p in plan.projects]) + str([o.model_dump() for o in plan.organisations])
    assert "Person" not in dumped and "Other" not in dumped


def test_generic_csv_with_mapping_and_jsonl(tmp_path):
    mapping = {"Organisation ID": "id", "Organisation": "name", "Nation": "country", "Kind": "org_type",
               "About": "description", "Metals": "minerals", "Stages": "value_chain_stages", "Evidence": "sources"}
    plan = plan_import(IMPORTS / "orgs_mapped.csv", "csv", [], mapping=mapping)
    org = plan.organisations[0]
    assert org.country == "GB" and org.minerals == ["tin"] and org.sources[0].ref == "https://example.org/fixture"
    jsonl = tmp_path / "orgs.jsonl"
    jsonl.write_text(org.model_dump_json() + "\n")
    assert plan_import(jsonl, "jsonl", []).organisations == [org]
    with pytest.raises(CorpusError, match="not organisations fields"):
        plan_import(IMPORTS / "orgs_mapped.csv", "csv", [], mapping={"About": "colour"})


def test_one_bad_row_means_nothing_is_planned(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text((IMPORTS / "gtr_projects.csv").read_text().replace("Short-loop recycling of NdFeB magnets", ""))
    # The problem names the file's own column and says what is wrong with its cell.
    with pytest.raises(CorpusError, match="nothing imported: 1 invalid record.*line 2: field 'Title': the cell is empty"):
        plan_import(bad, "gtr", [])
    with pytest.raises(CorpusError, match="this looks like an NSERC awards file, not a GtR project export; use --format "
                                          "nserc"):
        plan_import(IMPORTS / "nserc_awards.csv", "gtr", [])
    (tmp_path / "other.csv").write_text("Id,Name\n1,x\n")
    with pytest.raises(CorpusError, match="missing required column"):
        plan_import(tmp_path / "other.csv", "gtr", [])
    (tmp_path / "latin1.csv").write_bytes("Title,ProjectId\nCaf\xe9,1\n".encode("latin-1"))
    with pytest.raises(CorpusError, match="not UTF-8"):
        plan_import(tmp_path / "latin1.csv", "csv", [])
    assert plan_import(tmp_path / "latin1.csv", "gtr", [], keep_off_topic=True).projects[0].title == "Café"


def test_import_through_the_matcher_is_idempotent_and_atomic(matcher):
    store = matcher.store_
    before_orgs, before_projects = store.count_organisations(), store.count_projects()
    for _ in range(2):
        matcher.import_file(IMPORTS / "gtr_projects.csv", "gtr")
    assert store.count_projects() == before_projects + 3
    assert store.count_organisations() == before_orgs + 1
    assert len(store.get_organisation("fx-magnet-recyclers").documents) == 1  # re-import replaced, not appended
    with pytest.raises(CorpusError):
        matcher.import_file(IMPORTS / "nserc_awards.csv", "gtr")
    assert store.count_projects() == before_projects + 3
    assert matcher.index_status().reason == "corpus changed since the index was built"


def test_dry_run_writes_nothing(matcher):
    before = matcher.store_.count_projects()
    plan = matcher.import_file(IMPORTS / "nserc_awards.csv", "nserc", dry_run=True)
    assert len(plan.projects) == 2 and matcher.store_.count_projects() == before


@pytest.mark.skipif(not (SHARED_DATA / "gtr_circular_economy_sample.csv").exists(),
                    reason="../shared/data/gtr_circular_economy_sample.csv is not present (it is not part of the project)")
def test_real_gtr_sample_imports_whole():
    plan = plan_import(SHARED_DATA / "gtr_circular_economy_sample.csv", "gtr", [], keep_off_topic=True)
    assert plan.rows == 195 and len(plan.projects) == 195  # with --all, the off-topic ones too (flagged)
    assert sum(1 for p in plan.projects if p.minerals) > 20
    assert all(p.sources[0].ref.startswith("https://gtr.ukri.org/") for p in plan.projects)


# ----------------------------------------------------------------------------------------------------------------
# Hostile files: every format plans whole or raises a CorpusError naming the file (and line and column where one
# applies) with advice; never a pandas, pydantic, Unicode or recursion error, never a hang, never a partial write.

GTR_COLUMNS = ["ProjectId", "ProjectReference", "Title", "Abstract", "LeadROName", "FundingOrgName", "Department",
               "GTRProjectUrl", "Status"]
NSERC_COLUMNS = ["Name-Nom", "Institution-Établissement", "ProvinceEN", "FiscalYear-Exercice financier",
                 "ProgramNameEN", "ApplicationTitle", "Keyword", "ApplicationSummary"]
COLUMNS = {"gtr": GTR_COLUMNS, "nserc": NSERC_COLUMNS, "csv": list(Organisation.model_fields)}


def plan(fmt: str):
    return lambda path: plan_import(path, fmt, load_organisations(FIXTURE_CORPUS))


@HOSTILE
@given(fmt=st.sampled_from(["gtr", "nserc", "csv"]), data=st.data())
def test_any_csv_import_plans_or_fails_clearly(tmp_path, fmt, data):
    raw, _ = data.draw(csv_files(COLUMNS[fmt]))
    path = tmp_path / f"hostile-{fmt}.csv"
    path.write_bytes(raw)
    assert_clean(plan(fmt), path)


@st.composite
def gtr_rows(draw) -> list[list[str]]:
    """Well-formed GTR exports whose cells are anything: long, blank, control characters, odd URLs."""
    return draw(st.lists(st.lists(cells, min_size=len(GTR_COLUMNS), max_size=len(GTR_COLUMNS)), min_size=1, max_size=4))


@HOSTILE
@given(rows=gtr_rows())
@example(rows=[["1", "", "Magnets", "abc", "U" * 301, "", "", "", ""]])  # a lead's name longer than a name may be
@example(rows=[["1", "", "Magnets", "abc", "Uni", "", "", "ab", ""]])  # a URL too short to be one
@example(rows=[["1", "", "Magnets", "abc", "Uni", "F" * 600, "", "", ""]])  # a funder too long for a source note
def test_gtr_cells_of_any_content_plan_or_name_their_line_and_column(tmp_path, rows):
    buffer = io.StringIO()
    csv.writer(buffer).writerows([GTR_COLUMNS, *rows])
    path = tmp_path / "cells.csv"
    path.write_text(buffer.getvalue(), encoding="utf-8")
    result = assert_clean(plan("gtr"), path)
    if isinstance(result, CorpusError):
        assert "nothing imported" in str(result) or "cannot build organisation records" in str(result)
        assert all(p["field"] for p in result.problems)


@HOSTILE
@given(rows=st.lists(st.lists(cells, min_size=len(NSERC_COLUMNS), max_size=len(NSERC_COLUMNS)), min_size=1, max_size=4))
@example(rows=[["P", "I" * 301, "", "2025", "Alliance", "Title", "", ""]])
@example(rows=[["P", "Inst", "", "2025", "A" * 600, "Title", "", ""]])
def test_nserc_cells_of_any_content_plan_or_name_their_line_and_column(tmp_path, rows):
    buffer = io.StringIO()
    csv.writer(buffer).writerows([NSERC_COLUMNS, *rows])
    path = tmp_path / "cells.csv"
    path.write_text(buffer.getvalue(), encoding="utf-8")
    assert_clean(plan("nserc"), path)


@HOSTILE
@given(lines=st.lists(jsonl_lines(), max_size=5), encoding=st.sampled_from(ENCODINGS),
       kind=st.sampled_from(["organisations", "projects"]))
def test_any_jsonl_import_plans_or_fails_clearly(tmp_path, lines, encoding, kind):
    path = tmp_path / "hostile.jsonl"
    path.write_bytes(encode("\n".join(lines), encoding))
    assert_clean(lambda p: plan_import(p, "jsonl", [], kind=kind), path)


@HOSTILE
@given(data=st.binary(max_size=300), fmt=st.sampled_from(["gtr", "nserc", "csv", "jsonl"]))
def test_any_bytes_plan_or_fail_clearly(tmp_path, data, fmt):
    path = tmp_path / f"bytes.{'jsonl' if fmt == 'jsonl' else 'csv'}"
    path.write_bytes(data)
    assert_clean(plan(fmt), path)


HEADER = "ProjectId,Title,Abstract,LeadROName\n"


@pytest.mark.parametrize("fmt", ["gtr", "nserc", "csv", "jsonl"])
@pytest.mark.parametrize("name,data,expected", [
    ("empty", b"", "the file is empty; export it again"),
    ("utf16", (HEADER + "1,Magnets,abc,Uni\n").encode("utf-16"), "not UTF-8 text.*; save it as (CSV )?UTF-8"),
    ("latin1", (HEADER + "1,Café,abc,Uni\n").encode("latin-1"), "not UTF-8 text .*; save it as UTF-8"),
    ("cp1252", (HEADER + "1,“Magnets”,abc,Uni\n").encode("cp1252"), "not UTF-8 text .*; save it as UTF-8"),
    ("invalid-utf8", (HEADER + "1,Mag").encode() + b"\xc3\x28" + b",abc,Uni\n", "not UTF-8 text .*; save it as UTF-8"),
    ("shifted", (HEADER + "1,Magnets,abc,Uni,extra\n").encode(), "more cells than the header has columns; remove"),
    ("ragged", (HEADER + "1,Magnets,abc,Uni\n2,Tailings,abc,Uni,extra\n").encode(), "line 3, saw 5.*one cell per column"),
    ("unclosed-quote", (HEADER + '1,"Magnets,abc,Uni\n').encode(), "close every quoted cell"),
])
def test_named_hostile_files(tmp_path, fmt, name, data, expected):
    path = tmp_path / f"{name}.{'jsonl' if fmt == 'jsonl' else 'csv'}"
    path.write_bytes(data)
    result = assert_clean(plan(fmt), path)
    if fmt in ("gtr", "nserc") and name in ("latin1", "cp1252", "invalid-utf8"):
        assert isinstance(result, ImportPlan) and result.rows == 1  # public exports: Windows-1252 read as such
    elif fmt == "jsonl" and name == "empty":
        assert result.rows == 0 and not result.organisations  # an empty JSONL file holds no records: nothing to do
    elif fmt == "jsonl" and "UTF-8" not in expected:
        assert isinstance(result, CorpusError) and "line 1: not valid JSON" in str(result)  # a CSV is not JSON
    else:
        assert isinstance(result, CorpusError) and re.search(expected, str(result)), str(result)


def test_a_first_row_with_one_cell_too_many_is_refused_not_shifted(tmp_path):
    # pandas used to take the extra first cell as the row's label and shift every other cell one column left:
    # here "A" would have become the id and "GB" the name, silently, in a file that looked valid.
    path = tmp_path / "shifted.csv"
    path.write_text("id,name,country,org_type,description\nx,a,A,GB,company,d\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="first row under the header has more cells"):
        plan_import(path, "csv", [])


@pytest.mark.parametrize("fmt", ["gtr", "nserc", "csv"])
@pytest.mark.parametrize("header,expected", [
    (",".join(["Title"] * 200_000), "'Title' appear more than once"),  # pandas took minutes renaming these
    (",".join(f"c{i}" for i in range(200_000)), "200,000 columns in the header, more than the 1,000"),
])
def test_a_repeated_or_huge_header_is_refused_quickly(tmp_path, fmt, header, expected):
    path = tmp_path / "wide.csv"
    path.write_text(header + "\n" + ",".join(["1"] * 200_000) + "\n", encoding="utf-8")
    error = assert_clean(plan(fmt), path)  # (within SECONDS)
    assert isinstance(error, CorpusError) and "wide.csv line 1" in str(error) and expected in str(error)


@pytest.mark.parametrize("fmt", ["gtr", "nserc", "csv"])
def test_a_5mb_cell_plans_nothing_and_names_the_line(tmp_path, fmt):
    header = {"gtr": "ProjectId,Title,Abstract", "nserc": "ApplicationTitle,Institution,ApplicationSummary",
              "csv": "id,name,description"}[fmt]
    path = tmp_path / "huge.csv"
    path.write_text(f"{header}\n1,Magnets," + "x" * 5_000_000 + "\n", encoding="utf-8")
    error = assert_clean(plan(fmt), path)
    assert isinstance(error, CorpusError) and "huge.csv line 2" in str(error)


def test_deep_and_huge_json_lines_are_refused_with_the_line(tmp_path):
    path = tmp_path / "deep.jsonl"
    path.write_text(json.dumps(GOOD_ORG) + "\n" + "[" * 10_000 + "]" * 10_000 + "\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="deep.jsonl line 2: JSON nested too deeply"):
        plan_import(path, "jsonl", [])
    path.write_text(json.dumps(GOOD_ORG) + "\n" + '{"id": 1' + "0" * 5000 + "}\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="deep.jsonl line 2: a number has more than"):
        plan_import(path, "jsonl", [])


# -------------------------------------------------------------------- atomic imports through the engine

GTR_GOOD = "{i},Fixture magnet recycling study {i},Fixture abstract {i},Fixture Import Lab {i}"
BAD_LAST_ROWS = {
    # (a byte that is not UTF-8 is no error for gtr and nserc: their files are read as Windows-1252 then)
    "gtr": ["{i},,abc,Uni", "{i},Title,abc," + "U" * 301, "{i},Title,abc,Uni,extra", '{i},"Title,abc,Uni'],
    "nserc": [",Fixture Inst,abc", "Title {i}," + "I" * 301 + ",abc", "Title {i},Inst,abc,extra"],
    "csv": ["gb-row-{i},Name,Britain,company,d", "gb-row-{i},Name,GB,castle,d", "gb-row-{i},Name", "gb-row-0,Dup,GB,company,d",
            "gb-row-{i},Caf\udce9,GB,company,d"],
    "jsonl": ["[1, 2]", "{{bad json", "[" * 5000 + "]" * 5000, '{{"id": 1' + "0" * 5000 + "}}",
              json.dumps({**GOOD_ORG, "id": "gb-row-{i}", "country": "Britain"}).replace("{", "{{").replace("}", "}}")
              .replace("{{i}}", "{i}")],
}
FILES = {
    "gtr": ("ProjectId,Title,Abstract,LeadROName", GTR_GOOD),
    "nserc": ("ApplicationTitle,Institution-Établissement,ApplicationSummary", "Fixture title {i},Fixture Inst {i},abc {i}"),
    "csv": ("id,name,country,org_type,description", "gb-row-{i},Fixture Row {i},GB,company,Fixture record {i}"),
    "jsonl": (None, json.dumps({**GOOD_ORG, "id": "gb-row-{i}", "name": "Fixture Row {i}"})
              .replace("{", "{{").replace("}", "}}").replace("{{i}}", "{i}")),
}


@HOSTILE
@given(fmt=st.sampled_from(sorted(FILES)), good_rows=st.integers(1, 4), data=st.data())
def test_a_file_whose_last_row_is_bad_writes_nothing(matcher, tmp_path, fmt, good_rows, data):
    header, good = FILES[fmt]
    bad = data.draw(st.sampled_from(BAD_LAST_ROWS[fmt]))
    lines = ([header] if header else []) + [good.format(i=i) for i in range(good_rows)] + [bad.format(i=good_rows)]
    path = tmp_path / f"import.{'jsonl' if fmt == 'jsonl' else 'csv'}"
    # A lone surrogate stands for a byte that is not UTF-8 (surrogateescape writes it back as that byte).
    path.write_bytes("\n".join(lines).encode("utf-8", errors="surrogateescape") + b"\n")
    store = matcher.store_
    before = ([o.model_dump() for o in store.all_organisations()], [p.model_dump() for p in store.all_projects()])
    with pytest.raises(CorpusError) as error:
        matcher.import_file(path, fmt)
    assert path.name in str(error.value)
    assert ([o.model_dump() for o in store.all_organisations()], [p.model_dump() for p in store.all_projects()]) == before
