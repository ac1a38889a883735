"""Files as a QA tester fed them to the importers (tests/data/imports/qa/): big organisations, French amounts,
Excel-saved CSVs, the wrong format, GtR leads abroad, NSERC partners abroad or of other awards, Excel dates,
files that are not CSV, the GtR API's lead link, and the names report opened in Excel."""

import csv
from datetime import date, datetime
from pathlib import Path

import pytest

from corpus import CorpusError, load_organisations
from corpus.importers import plan_import, read_mapping, read_mapping_countries, write_report
from corpus.importers.resolver import name_key
from corpus.importers.tables import country_from_name, read_amount
from corpus.schema import MAX_DOCUMENTS
from tests.conftest import TESTS

QA = TESTS / "data" / "imports" / "qa"


@pytest.fixture(scope="module")
def bundled():
    return load_organisations()


def _nserc_rows(path: Path, years: list[str], institution: str = "University of Toronto") -> Path:
    header = "ApplicationID,Name-Nom,Institution-Établissement,ProvinceEN,FiscalYear-Exercice financier,AwardAmount," \
             "ProgramNameEN,ApplicationTitle,ApplicationSummary\n"
    rows = [f'{8500000 + n},"Surnameqa{n}, First",{institution},Ontario,{year},25000,Alliance Grants,'
            f'"Cobalt recovery from mine tailings, site {n}",Recovering cobalt and nickel from sulphide mine tailings.'
            for n, year in enumerate(years)]
    path.write_text(header + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_an_organisation_with_more_projects_than_a_profile_holds(bundled, tmp_path, database_url):
    from matcher import Store

    # 1,100 awards of one university: 100 old ones, then 1,000 recent ones.
    path = _nserc_rows(tmp_path / "n_1100.csv", ["2015-2016"] * 100 + ["2023-2024"] * 1000)
    plan = plan_import(path, "nserc", bundled)
    assert len(plan.projects) == 1100  # every award is imported as a project
    toronto = next(o for o in plan.organisations if o.id == "ca-university-of-toronto")
    kept = {d.id for d in toronto.documents}
    assert len(kept) == MAX_DOCUMENTS == 1000
    assert kept == {f"nserc-{8500000 + n}" for n in range(100, 1100)}  # the most recent ones
    assert plan.warnings == [
        "University of Toronto (ca-university-of-toronto) takes part in 1,100 projects; its profile keeps the 1,000 "
        "most recent as its evidence (documents); all are imported as projects"]
    assert plan.summary().endswith("; 1 warning(s)")
    store = Store(database_url).migrate()
    try:
        store.upsert(plan.organisations, plan.projects)
        assert store.count_projects() == 1100
        assert len(store.get_organisation("ca-university-of-toronto").documents) == 1000
    finally:
        store.close()


@pytest.mark.parametrize("text,value", [
    ("120 000,00 $", 120000.0), ("1 234,56", 1234.56), ("12,5", 12.5), ("1\u202f234,56", 1234.56),
    ("1\u00a0234,56 CAD", 1234.56), ("£1,234.50", 1234.5), ("$120,000", 120000.0), ("1,234", 1234.0),
    ("1.234,56", 1234.56), ("CAD 5000", 5000.0), ("85 000 $", 85000.0), ("", None),
])
def test_amounts_in_english_and_french_forms(text, value):
    assert read_amount(text) == (value, "")


@pytest.mark.parametrize("text", ["1e6", "1 234,567", "1.234.567", "-5", "about 5000", "12."])
def test_an_amount_read_two_ways_or_none_is_left_empty_and_said(text):
    value, problem = read_amount(text)
    assert value is None and "cannot be read as one number" in problem


def test_french_amounts_in_an_nserc_file_and_a_warning_for_an_unreadable_one(bundled, tmp_path):
    plan = plan_import(QA / "n_fr_utf8.csv", "nserc", bundled, keep_off_topic=True)
    amounts = {p.id: p.award.amount for p in plan.projects}
    assert amounts == {"nserc-7200001": 120000.0, "nserc-7200002": 85000.0, "nserc-7200003": 1234.56}
    assert not plan.warnings
    odd = tmp_path / "odd.csv"
    odd.write_text((QA / "n_fr_utf8.csv").read_text(encoding="utf-8").replace('"120 000,00 $"', "1e6"),
                   encoding="utf-8")
    plan = plan_import(odd, "nserc", bundled, keep_off_topic=True)
    assert next(p for p in plan.projects if p.id == "nserc-7200001").award.amount is None
    assert plan.warnings == ["odd.csv line 2: Montant: amount '1e6' cannot be read as one number (write it as "
                             "1234.56, 1,234.56 or 1 234,56); left empty"]


def _cli(data_dir: Path, *args: str):
    from click.testing import CliRunner

    from matcher.cli import main

    return CliRunner().invoke(main, ["--data-dir", str(data_dir), *args])


def test_a_report_to_a_missing_folder_is_refused_before_anything_is_written(tmp_path, pm_env):
    data = tmp_path / "var"
    result = _cli(data, "import", "--format", "gtr", str(QA / "gtr25.csv"), "--report",
                  str(tmp_path / "missing" / "names.csv"))
    assert result.exit_code == 2 and not data.exists()  # no database made, nothing imported
    assert f"the folder {tmp_path / 'missing'} does not exist; create it" in result.output
    assert "Traceback" not in result.output
    result = _cli(data, "import", "--format", "gtr", str(QA / "gtr25.csv"), "--report", str(tmp_path))
    assert result.exit_code == 2 and "is a directory" in result.output and not data.exists()


def test_excel_saved_csvs_rows_of_commas_and_trailing_empty_columns(bundled, tmp_path):
    for name in ("g_commarows.csv", "g_trailingcols.csv"):
        plan = plan_import(QA / name, "gtr", bundled)
        assert [p.id for p in plan.projects] == ["gtr-qb000000-0000-0000-0000-000000000001",
                                                 "gtr-qb000000-0000-0000-0000-000000000002"], name
        assert plan.rows == 2
    # An unnamed trailing column that holds something is not dropped silently.
    filled = tmp_path / "filled.csv"
    filled.write_text((QA / "g_trailingcols.csv").read_text(encoding="utf-8").replace("QAPI-2,,,", "QAPI-2,,x,"),
                      encoding="utf-8")
    with pytest.raises(CorpusError, match="column 27 has cells but no name in the header; name it"):
        plan_import(filled, "gtr", bundled)


def test_gtr_leads_outside_the_uk_wait_for_their_country(bundled, tmp_path):
    plan = plan_import(QA / "gtr25.csv", "gtr", bundled)
    abroad = {"Deutsche Rohstoff Recycling GmbH": "gtr-qa000000-0000-0000-0000-000000000007",
              "Minerales Andinos S.A.": "gtr-qa000000-0000-0000-0000-000000000008"}
    for name, project_id in abroad.items():
        r = next(r for r in plan.resolutions if r.name == name)
        assert r.action == "ambiguous" and not r.organisation_id
        assert r.note.startswith("the export says Outside UK: give the country in a mapping file")
        assert (project_id, name) in plan.held
    assert not [o for o in plan.organisations if "rohstoff" in o.id or "andinos" in o.id]
    # The mapping file gives their country (a name, in English or French, or the code): created there.
    mapping = tmp_path / "names.csv"
    mapping.write_text("name;organisation_id;country\nDeutsche Rohstoff Recycling GmbH;new;Allemagne\n"
                       "Minerales Andinos S.A.;;CL\n", encoding="utf-8")
    plan = plan_import(QA / "gtr25.csv", "gtr", bundled, organisation_map=read_mapping(mapping),
                       organisation_countries=read_mapping_countries(mapping))
    created = {o.id: o for o in plan.organisations if o.id in plan.created_organisations}
    assert created["de-deutsche-rohstoff-recycling-gmbh"].country == "DE"
    assert created["cl-minerales-andinos-s-a"].country == "CL" and created["cl-minerales-andinos-s-a"].region == ""
    assert not {p for p, _ in plan.held} & set(abroad.values())
    mapping.write_text("name,country\nMinerales Andinos S.A.,Atlantis\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="names.csv line 2: country 'Atlantis' is not a country"):
        read_mapping_countries(mapping)


@pytest.mark.parametrize("text,code", [
    ("United Kingdom", "GB"), ("Royaume-Uni", "GB"), ("États-Unis", "US"), ("United States of America", "US"),
    ("Allemagne", "DE"), ("Germany", "DE"), ("GBR", "GB"), ("de", "DE"), ("Canada", "CA"), ("Chili", "CL"),
    ("Mars", None), ("", None),
])
def test_country_names_in_english_and_french(text, code):
    assert country_from_name(text) == code


def test_nserc_partners_abroad_and_rows_of_other_awards(bundled, tmp_path):
    plan = plan_import(QA / "n1_bi_bom_crlf.csv", "nserc", bundled,
                       related=[QA / "n1_partners_extra.csv", QA / "n1_coapp.csv"])
    by_id = {p.id: p for p in plan.projects}
    created = {o.name: o for o in plan.organisations if o.id in plan.created_organisations}
    recovery = created["Magnetic Recovery Ltd"]
    assert (recovery.id, recovery.country, recovery.org_type) == ("gb-magnetic-recovery-ltd", "GB", "company")
    assert recovery.id in by_id["nserc-7000003"].partner_organisation_ids
    # A partner the file places nowhere is still left out, and says why.
    nowhere = next(r for r in plan.resolutions if r.name == "Some Partner Without Country Corp")
    assert nowhere.action == "skipped" and "does not say its country" in nowhere.note
    # Partner files cover every programme: a row of an award not in this file is skipped and counted, not fatal.
    assert "n1_partners_extra.csv: 1 row(s) name an ApplicationID that is not in n1_bi_bom_crlf.csv; skipped" in (
        plan.warnings)
    other = next(r for r in plan.resolutions if r.name == "(rows of other awards)")
    assert (other.action, other.role, other.rows) == ("skipped", "partner", 1)
    report = tmp_path / "names.csv"  # the report counts them too, and a mapping made from it ignores the row
    write_report(plan.resolutions, report)
    assert ("n1_partners_extra.csv: 1 row(s) skipped: their ApplicationID is not in n1_bi_bom_crlf.csv"
            in report.read_text(encoding="utf-8-sig"))
    assert name_key("(rows of other awards)") not in read_mapping(report)


@pytest.mark.parametrize("fmt,name,expected", [
    ("nserc", "gtr25.csv", "gtr25.csv: this looks like a GtR project export, not an NSERC awards file; use --format gtr"),
    ("gtr", "n1_bi_bom_crlf.csv", "this looks like an NSERC awards file, not a GtR project export; use --format nserc"),
    ("csv", "gtr25.csv", "this looks like a GtR project export, not a CSV of the schema's fields; use --format gtr"),
    ("gtr", "j1.json", "j1.json is JSON, not CSV; use --format gtr-json"),
    ("nserc", "g_xlsx.csv", "g_xlsx.csv is a zip archive (an Excel workbook that cannot be opened, or another "
                            "archive), not CSV text; save it as CSV UTF-8"),
    ("gtr", "g_pdf.csv", "g_pdf.csv is a PDF document, not CSV text; export the data itself as CSV"),
])
def test_a_file_of_another_format_or_kind_is_named(bundled, fmt, name, expected):
    with pytest.raises(CorpusError) as error:
        plan_import(QA / name, fmt, bundled)
    assert expected in str(error.value)


def test_excel_serial_dates_and_unreadable_dates(bundled, tmp_path):
    plan = plan_import(QA / "gtr25.csv", "gtr", bundled)
    acme = next(p for p in plan.projects if p.id == "gtr-qa000000-0000-0000-0000-000000000003")
    assert (acme.award.start_date, acme.award.end_date) == (date(2024, 4, 1), date(2025, 3, 31))  # 45383, 45747
    assert acme.award.amount == 50000 and not plan.warnings
    odd = tmp_path / "odd.csv"
    odd.write_text((QA / "gtr25.csv").read_text(encoding="utf-8").replace(",45383,", ",Q2 2024,"), encoding="utf-8")
    plan = plan_import(odd, "gtr", bundled)
    assert next(p for p in plan.projects if p.id == acme.id).award.start_date is None
    assert plan.warnings == ["odd.csv line 4: StartDate: date 'Q2 2024' cannot be read (write it as 31/03/2027 or "
                             "2027-03-31); left empty"]


def test_line_numbers_count_the_lines_of_quoted_cells_and_name_the_files_column(bundled):
    with pytest.raises(CorpusError) as error:
        plan_import(QA / "g_nl_then_bad.csv", "gtr", bundled)
    assert error.value.problems == [{"where": "g_nl_then_bad.csv line 4", "field": "Title",
                                     "message": "the cell is empty; every project needs one"}]


def test_gtr_json_lead_named_only_by_its_lead_org_link(bundled):
    plan = plan_import(QA / "j1.json", "gtr-json", bundled)
    magnets = next(p for p in plan.projects if p.id == "gtr-qc000000-0000-0000-0000-000000000004")
    assert magnets.lead_organisation_id == "gb-university-of-birmingham"
    assert magnets.lead_organisation == "University of Birmingham" and not magnets.partner_organisation_ids
    lead = next(r for r in plan.resolutions if r.name == "University of Birmingham")
    assert lead.role == "lead"


@pytest.mark.parametrize("separator", [",", ";", "\t"])
def test_the_report_opens_in_excel_and_comes_back_with_any_separator(bundled, tmp_path, separator):
    plan = plan_import(QA / "gtr25.csv", "gtr", bundled)
    report = tmp_path / "names.csv"
    write_report(plan.resolutions, report)
    assert report.read_bytes().startswith(b"\xef\xbb\xbf")  # a BOM: Excel reads the accents as UTF-8
    rows = list(csv.reader(report.open(encoding="utf-8-sig", newline="")))
    resaved = tmp_path / "resaved.csv"
    with resaved.open("w", encoding="utf-8-sig", newline="") as handle:  # as a spreadsheet re-saves it
        csv.writer(handle, delimiter=separator).writerows(rows)
    mapping = read_mapping(report)
    key = name_key("ACME Magnet Recycling Ltd")
    assert mapping[key] == "gb-acme-magnet-recycling-ltd" and key in mapping.made  # a created row stays new
    resaved_mapping = read_mapping(resaved)
    assert resaved_mapping == mapping and resaved_mapping.made == mapping.made


def test_a_mapped_columns_problem_names_the_files_column(tmp_path):
    path = tmp_path / "orgs.csv"
    path.write_text("Organisation ID,Organisation,Nation,Kind,About\nca-x,Fixture Org,Atlantis,university,d\n",
                    encoding="utf-8")
    mapping = {"Organisation ID": "id", "Organisation": "name", "Nation": "country", "Kind": "org_type",
               "About": "description"}
    with pytest.raises(CorpusError) as error:
        plan_import(path, "csv", [], mapping=mapping)
    assert [(p["where"], p["field"]) for p in error.value.problems] == [("orgs.csv line 2", "Nation (country)")]


def test_an_excel_workbook_is_read_from_its_first_sheet(bundled, tmp_path):
    import openpyxl

    rows = list(csv.reader((QA / "gtr25.csv").open(encoding="utf-8", newline="")))
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(rows[0])
    for row in rows[1:]:
        cells: list = list(row)
        cells[14] = datetime(2024, 4, 1)  # StartDate as a date cell
        cells[16] = float(row[16].replace("£", "").replace(",", ""))  # AwardPounds as a number cell
        sheet.append(cells)
    book.create_sheet("Notes").append(["not read"])
    path = tmp_path / "gtr25.xlsx"
    book.save(path)
    plan = plan_import(path, "gtr", bundled)
    from_csv = plan_import(QA / "gtr25.csv", "gtr", bundled)
    assert [p.id for p in plan.projects] == [p.id for p in from_csv.projects]
    exeter = next(p for p in plan.projects if p.id == "gtr-qa000000-0000-0000-0000-000000000002")
    assert (exeter.award.start_date, exeter.award.amount) == (date(2024, 4, 1), 300000.0)


def test_json_with_a_mistake_given_as_csv_is_still_named_json(bundled, tmp_path):
    path = tmp_path / "answer.csv"
    path.write_text('{"project": [ {"id": "x", "title": "t"}, ]', encoding="utf-8")  # a trailing comma
    with pytest.raises(CorpusError, match="answer.csv is JSON, not CSV; use --format gtr-json"):
        plan_import(path, "gtr", bundled)
