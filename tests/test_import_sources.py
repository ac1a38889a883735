"""The public exports as they really are (GtR's 25-column CSV and API JSON, NSERC's awards and related files in
both encodings), the organisation resolver, relevance flags, true counts and dry runs that write nothing."""

import csv
import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from corpus import CorpusError, load_organisations
from corpus.importers import OrganisationResolver, plan_import, read_mapping, write_report
from corpus.importers.resolver import infer_org_type
from tests.conftest import SHARED_DATA, TESTS
from tests.test_api import json_values
from tests.test_loaders import HOSTILE, assert_clean

IMPORTS = TESTS / "data" / "imports"
GTR_CE = SHARED_DATA / "gtr_circular_economy_sample.csv"
GTR_TYPES = SHARED_DATA / "gtr_ce_institution_types.csv"


@pytest.fixture(scope="module")
def bundled():
    return load_organisations()


@pytest.mark.parametrize("name", ["gtr_export.csv", "gtr_export_cp1252.csv"])
def test_gtr_export_of_25_columns_in_both_encodings(bundled, name):
    with open(IMPORTS / name, encoding="utf-8" if "cp1252" not in name else "cp1252") as handle:
        assert len(next(csv.reader(handle))) == 25
    plan = plan_import(IMPORTS / name, "gtr", bundled)
    by_id = {p.id: p for p in plan.projects}
    bgs = by_id["gtr-a0000000-0000-0000-0000-000000000001"]
    assert bgs.lead_organisation_id == "gb-british-geological-survey"  # "NERC British Geological Survey"
    assert bgs.title_only and bgs.summary == ""  # the export has no abstract: said, not filled with the title
    assert bgs.award.status == "Active" and str(bgs.award.start_date) == "2024-04-01"
    assert bgs.award.amount == 512000 and bgs.award.currency == "GBP" and bgs.award.reference == "NE/Z900001/1"
    assert by_id["gtr-a0000000-0000-0000-0000-000000000002"].lead_organisation_id == "gb-queen-s-university-belfast"
    if "cp1252" in name:
        assert "\u2018café\u2019" in bgs.title and "(read as Windows-1252)" in plan.summary()
    # The lead's GtR id is learnt by the matched organisation, so the next import matches on it.
    assert next(o for o in plan.organisations if o.id == "gb-british-geological-survey").identifiers == {
        "gtr": "ORG-BGS-FIXTURE"}
    created = {o.id: o for o in plan.organisations if o.id in plan.created_organisations}
    assert list(created) == ["gb-fixture-magnet-works-ltd"]
    works = created["gb-fixture-magnet-works-ltd"]
    assert works.org_type == "company" and works.country == "GB" and works.region == "West Midlands"
    # Off-topic: flagged, counted, left out; its lead is not created either.
    assert plan.off_topic == [("gtr-a0000000-0000-0000-0000-000000000004",
                               next(r for r in [p for p in _titles(name)] if "sheep" in r))]
    assert "gtr-a0000000-0000-0000-0000-000000000004" not in by_id
    # "University of Warwick" is the parent of WMG, not WMG: its project waits, nothing is created beside it.
    assert plan.held == [("gtr-a0000000-0000-0000-0000-000000000005", "University of Warwick")]
    warwick = next(r for r in plan.resolutions if r.name == "University of Warwick")
    assert warwick.action == "ambiguous" and "gb-wmg-university-of-warwick" in warwick.candidates
    dumped = json.dumps([p.model_dump(mode="json") for p in plan.projects]) + str(plan.organisations)
    assert "Fixturesurname" not in dumped and "Fixturefirst" not in dumped  # personal names never stored


def _titles(name):
    encoding = "cp1252" if "cp1252" in name else "utf-8"
    with open(IMPORTS / name, encoding=encoding) as handle:
        return [row["Title"] for row in csv.DictReader(handle)]


def test_gtr_all_keeps_off_topic_flagged_and_accept_or_map_settles_the_parent(bundled, tmp_path):
    plan = plan_import(IMPORTS / "gtr_export.csv", "gtr", bundled, keep_off_topic=True, accept=True)
    by_id = {p.id: p for p in plan.projects}
    assert by_id["gtr-a0000000-0000-0000-0000-000000000004"].off_topic  # kept, and flagged
    assert len(plan.off_topic) == 1 and plan.off_topic_kept and not plan.held
    assert by_id["gtr-a0000000-0000-0000-0000-000000000005"].lead_organisation_id == "gb-university-of-warwick"
    # A mapping file (the report, edited) sends the name where the user says.
    report = tmp_path / "names.csv"
    write_report(plan_import(IMPORTS / "gtr_export.csv", "gtr", bundled).resolutions, report)
    rows = list(csv.DictReader(report.open(encoding="utf-8")))
    for row in rows:
        if row["name"] == "University of Warwick":
            assert row["action"] == "ambiguous" and row["organisation_id"] == ""
            row["organisation_id"] = "gb-wmg-university-of-warwick"
    with report.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    mapped = plan_import(IMPORTS / "gtr_export.csv", "gtr", bundled, organisation_map=read_mapping(report))
    assert not mapped.held
    assert {p.id: p for p in mapped.projects}["gtr-a0000000-0000-0000-0000-000000000005"].lead_organisation_id == \
        "gb-wmg-university-of-warwick"


def test_gtr_api_json_reads_abstract_lead_and_participants(bundled):
    plan = plan_import(IMPORTS / "gtr_api_projects.json", "gtr-json", bundled)
    first, second = plan.projects
    assert first.summary.startswith("Fixture abstract: mapping rare earth") and not first.title_only
    assert first.lead_organisation_id == "gb-british-geological-survey"
    assert first.partner_organisation_ids == ["ca-university-of-british-columbia"]  # the unknown one is not created
    assert first.award.reference == "NE/Z900011/1" and str(first.award.start_date) == "2024-04-01"
    assert first.award.amount == 512000 and first.minerals == ["rare_earth_elements"]
    assert second.title_only and second.award.status == "Closed" and str(second.award.end_date) == "2026-09-30"
    assert second.lead_organisation_id == "gb-queen-s-university-belfast"
    skipped = next(r for r in plan.resolutions if r.name == "Fixture Overseas Partner Inc")
    assert skipped.action == "skipped" and "country" in skipped.note
    assert not plan.created_organisations
    ubc = next(o for o in plan.organisations if o.id == "ca-university-of-british-columbia")
    assert any(d.id == first.id for d in ubc.documents) and ubc.identifiers == {"gtr": "ORG-UBC-FIXTURE"}


def test_nserc_one_project_per_application_across_years_cp1252_with_related_files(bundled):
    plan = plan_import(IMPORTS / "nserc_awards_2019_cp1252.csv", "nserc", bundled,
                       related=[IMPORTS / "nserc_coapplicants_2019.csv", IMPORTS / "nserc_partners_2019.csv"])
    by_id = {p.id: p for p in plan.projects}
    assert plan.rows == 4 and set(by_id) == {"nserc-900001", "nserc-900003"}  # 900002 off-topic
    tailings = by_id["nserc-900001"]
    assert tailings.award.amount == 200000 and tailings.award.fiscal_years == ["2018-2019", "2019-2020"]
    assert tailings.award.programme == "Alliance Grants"  # read from the misspelt ProgramNaneEN
    assert tailings.lead_organisation_id == "ca-university-of-british-columbia"  # "The University of British Columbia"
    assert tailings.partner_organisation_ids == ["ca-queens-university", "ca-li-cycle"]
    assert [o for o, _ in plan.off_topic] == ["nserc-900002"]
    created = next(o for o in plan.organisations if o.id in plan.created_organisations)
    assert created.name == "Université Fixture de l'Abitibi" and created.country == "CA"
    assert created.region == "Quebec" and created.org_type == "university"
    assert created.identifiers == {"nserc": "ORG-NEW-FIXTURE"}
    unknown = next(r for r in plan.resolutions if r.name == "Fixture Unknown Partner Corp")
    assert unknown.action == "skipped"  # a partner with no country is linked when known, never invented
    dumped = json.dumps([p.model_dump(mode="json") for p in plan.projects]) + str(plan.organisations)
    assert "Fixturename" not in dumped and "Fixtureco" not in dumped and "Person" not in dumped


def test_nserc_french_headers_and_a_reimport_from_another_year_updates_one_project(bundled, tmp_path):
    plan = plan_import(IMPORTS / "nserc_awards_fr.csv", "nserc", bundled)
    (project,) = plan.projects
    assert project.id == "nserc-900004" and project.lead_organisation_id == "ca-universite-laval"
    assert project.award.amount == 60000 and project.minerals == ["graphite"]
    # The same grant in next year's file: the same project, updated (amounts and years merged within a file).
    later = tmp_path / "nserc_2025.csv"
    later.write_text((IMPORTS / "nserc_awards_fr.csv").read_text(encoding="utf-8").replace("2024-2025", "2025-2026"),
                     encoding="utf-8")
    again = plan_import(later, "nserc", [*bundled, *plan.organisations], existing_projects=plan.projects)
    assert [p.id for p in again.projects] == ["nserc-900004"]
    assert again.updated_projects == ["nserc-900004"] and not again.created_projects
    merged = again.projects[0].award
    assert merged.fiscal_years == ["2024-2025", "2025-2026"] and merged.amount == 120000
    # The same file once more: nothing counted twice, nothing changed.
    third = plan_import(later, "nserc", [*bundled, *again.organisations], existing_projects=again.projects)
    assert third.projects[0].award.amount == 120000 and third.unchanged_projects == ["nserc-900004"]


def test_resolver_on_the_names_officers_found_duplicated(bundled):
    resolver = OrganisationResolver(bundled)
    expect = {
        "NERC British Geological Survey": "gb-british-geological-survey",
        "Queen's University of Belfast": "gb-queen-s-university-belfast",
        "The University of British Columbia": "ca-university-of-british-columbia",
        "NEWCASTLE UNIVERSITY": "gb-newcastle-university",
        "THE ROYAL MINT LIMITED": "gb-the-royal-mint",
        "NOC (Up to 31.10.2019)": "gb-national-oceanography-centre",
        "University of Exeter": "gb-university-of-exeter",  # its own record, not its Camborne School of Mines
    }
    for name, org_id in expect.items():
        r = resolver.resolve(name, role="lead", country="CA" if "Columbia" in name else "GB")
        assert (r.action, r.organisation_id) == ("matched", org_id), name
    r = resolver.resolve("University of Warwick", role="lead", country="GB")  # parent of a known sub-unit: waits
    assert r.action == "ambiguous" and not r.organisation_id and r.candidates == ["gb-wmg-university-of-warwick"]
    assert resolver.resolve("SRUC", role="lead", country="GB").action == "created"  # no fuzzy on acronyms
    # Known only in another country than the source says: a namesake or another arm, for a person to settle.
    abroad = resolver.resolve("The University of British Columbia", role="partner", country="GB")
    assert abroad.action == "ambiguous" and abroad.candidates == ["ca-university-of-british-columbia"]
    accepted = OrganisationResolver(bundled, accept=True).resolve("University of British Columbia", role="partner",
                                                                  country="GB")
    assert (accepted.action, accepted.organisation_id) == ("matched", "ca-university-of-british-columbia")
    near = resolver.resolve("Newcastle Universty Fixture", role="lead", country="GB")
    assert near.action in ("ambiguous", "created") and near.organisation_id == ""
    assert [infer_org_type(n) for n in ("Acme Widgets Ltd", "RENISHAW P L C", "Foo Inc", "University of Bar",
                                        "Shetland Islands Council", "Minerais Boréal Ltée", "Hydro-Québec")] == [
        "company", "company", "company", "university", "unknown", "company", "unknown"]


@pytest.mark.skipif(not GTR_TYPES.exists(), reason="../shared/data/gtr_ce_institution_types.csv is not present "
                                                   "(it is not part of the project)")
def test_resolver_report_on_the_shared_gtr_institutions(bundled, tmp_path):
    by_key = {}
    from corpus.importers.resolver import name_keys

    for org in bundled:
        for name in (org.name, *org.aliases):
            for key in name_keys(name):
                by_key.setdefault(key, set()).add(org.id)
    resolver = OrganisationResolver(bundled)
    rows = list(csv.DictReader(GTR_TYPES.open(encoding="utf-8")))
    checked = 0
    for row in rows:
        names = [row["canonical_name"], *[n.strip() for n in row["name_variants"].split(";") if n.strip()]]
        for name in names:
            r = resolver.resolve(name, role="lead", country="GB")
            assert not (r.organisation_id or "").startswith("gb-camborne")  # never a parent attached to a sub-unit
            gb = [i for k in name_keys(name) for i in by_key.get(k, ()) if i.startswith("gb-")]
            if len(set(gb)) == 1:  # a name that has an existing organisation is matched to it
                assert (r.action, r.organisation_id) == ("matched", gb[0]), name
                checked += 1
    assert checked >= 20
    report = tmp_path / "report.csv"
    write_report(resolver.resolutions.values(), report)
    table = list(csv.DictReader(report.open(encoding="utf-8")))
    assert {"matched", "created"} <= {t["action"] for t in table}
    assert all(t["organisation_id"] or t["action"] != "matched" for t in table)


@pytest.mark.skipif(not GTR_CE.exists(), reason="../shared/data/gtr_circular_economy_sample.csv is not present "
                                                "(it is not part of the project)")
def test_relevance_on_the_real_circular_economy_abstracts():
    plan = plan_import(GTR_CE, "gtr", [])
    flagged = {title for _, title in plan.off_topic}
    assert 35 <= len(flagged) <= 60 and len(plan.projects) + len(flagged) == 195
    for off in ("Sheep Farming", "pDNA", "fabric care"):
        assert any(off.lower() in t.lower() for t in flagged), off
    for mineral in ("Critical Metals", "Yellow Sub Hydro"):
        assert any(mineral.lower() in p.title.lower() for p in plan.projects), mineral
    assert all(not p.off_topic for p in plan.projects)
    assert all(p.minerals == [] or p.title not in flagged for p in plan.projects)


def test_semicolon_separated_file_is_named_once(tmp_path):
    path = tmp_path / "orgs.csv"
    path.write_text("id;name;country;org_type;description\ngb-x;X;GB;company;d\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="separated by semicolons") as error:
        plan_import(path, "csv", [])
    assert "Field required" not in str(error.value)


def test_true_counts_on_reimport_of_changed_rows(matcher, tmp_path):
    path = tmp_path / "orgs.csv"
    rows = [f"gb-fixture-count-{i},Fixture Count {i},GB,company,Fixture record {i}" for i in range(20)]
    path.write_text("id,name,country,org_type,description\n" + "\n".join(rows) + "\n", encoding="utf-8")
    first = matcher.import_file(path, "csv")
    assert (len(first.created_organisations), len(first.updated_organisations)) == (20, 0)
    assert "20 organisations (20 new, 0 updated, 0 unchanged)" in first.summary()
    path.write_text(path.read_text().replace("Fixture record 7", "Fixture record seven"), encoding="utf-8")
    second = matcher.import_file(path, "csv")
    assert second.updated_organisations == ["gb-fixture-count-7"] and not second.created_organisations
    assert "(0 new, 1 updated, 19 unchanged)" in second.summary()


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _cli(data_dir: Path, *args: str):
    from click.testing import CliRunner

    from matcher.cli import main

    return CliRunner().invoke(main, ["--data-dir", str(data_dir), *args])


def test_dry_run_writes_nothing_anywhere(tmp_path, pm_env, monkeypatch):
    monkeypatch.delenv("PM_CORPUS_DIR")  # the bundled corpus: what a first start would seed
    # No data folder yet: a dry run creates none (no database made or seeded, no index, no model export).
    fresh = tmp_path / "fresh"
    result = _cli(fresh, "import", "--format", "gtr", str(IMPORTS / "gtr_export.csv"), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "Would import 5 rows" in result.output and not fresh.exists()
    assert "ambiguous lead         University of Warwick" in result.output
    report = tmp_path / "names.csv"
    result = _cli(fresh, "import", "--format", "gtr", str(IMPORTS / "gtr_export.csv"), "--dry-run", "--report",
                  str(report))
    assert result.exit_code == 0 and not fresh.exists()
    actions = {row["name"]: row["action"] for row in csv.DictReader(report.open(encoding="utf-8"))}
    assert actions["NERC British Geological Survey"] == "matched" and actions["University of Warwick"] == "ambiguous"
    refused = _cli(fresh, "import", "--format", "csv", str(IMPORTS / "orgs_mapped.csv"), "--dry-run", "--with",
                   str(IMPORTS / "nserc_partners_2019.csv"))
    assert refused.exit_code != 0 and "--with adds NSERC" in refused.output
    # A data folder made by a real import: byte for byte the same after dry runs of every importer.
    folder = tmp_path / "var"
    made = _cli(folder, "import", "--format", "nserc", str(IMPORTS / "nserc_awards_fr.csv"))
    assert made.exit_code == 0, made.output
    assert "The index is now stale" in made.output
    again = _cli(folder, "import", "--format", "nserc", str(IMPORTS / "nserc_awards_fr.csv"))  # as stored already
    assert again.exit_code == 0 and "Nothing changed" in again.output and "stale" not in again.output, again.output
    before = _digest(folder)
    assert "partner-matcher.db" in before
    for fmt, name in (("gtr", "gtr_export.csv"), ("nserc", "nserc_awards_fr.csv"), ("gtr-json", "gtr_api_projects.json")):
        result = _cli(folder, "import", "--format", fmt, str(IMPORTS / name), "--dry-run")
        assert result.exit_code == 0, result.output
    assert _digest(folder) == before


@pytest.mark.parametrize("flag", ["1", "true", ""])
def test_api_import_dry_run_validates_and_writes_nothing(matcher, flag):
    from service import create_app
    from tests.test_api import assert_error
    from tests.test_writes import KEY, NEW

    writer = create_app({"MATCHER": matcher, "API_KEYS": ["secret-key-1"]}).test_client()
    store = matcher.store_
    before = ([o.model_dump() for o in store.all_organisations()], [p.model_dump() for p in store.all_projects()])
    reply = writer.post(f"/v1/import?dry_run={flag}", json={"organisations": [NEW]}, headers=KEY)
    assert reply.status_code == 200 and reply.get_json() == {"imported": {"organisations": 1, "projects": 0},
                                                             "dry_run": True}
    bad = {"organisations": [{**NEW, "country": "Britain"}]}
    assert_error(writer.post(f"/v1/import?dry_run={flag}", json=bad, headers=KEY), 400, "invalid_request")
    for query in ("dry_run=maybe", "dryrun=1"):  # a value that is not yes/no, a misspelt parameter: refused
        assert_error(writer.post(f"/v1/import?{query}", json={"organisations": [NEW]}, headers=KEY), 400,
                     "invalid_request")
    assert ([o.model_dump() for o in store.all_organisations()], [p.model_dump() for p in store.all_projects()]) == before
    written = writer.post("/v1/import?dry_run=0", json={"organisations": [NEW]}, headers=KEY)
    assert written.get_json() == {"imported": {"organisations": 1, "projects": 0}}
    assert store.get_organisation(NEW["id"]) is not None


def test_a_title_only_project_says_so_in_results(matcher):
    plan = matcher.import_file(IMPORTS / "gtr_export.csv", "gtr")
    works = next(o for o in plan.organisations if o.name == "FIXTURE MAGNET WORKS LTD")
    project_id = "gtr-a0000000-0000-0000-0000-000000000003"
    assert matcher.get_project(project_id).title_only
    response = matcher.project_matches(project_id, k=20)
    assert response["query"]["note"] == "no abstract; matched on title only"
    from matcher import MatchRequest

    answer = matcher.match(MatchRequest(text="recycling neodymium magnets from scrap", k=20))
    shown = next(r for r in answer["results"] if r["organisation"]["id"] == works.id)
    assert any("(no abstract; matched on title only)" in e["text"] for e in shown["explanation"]["evidence"])


GTR_FIELDS = ["id", "title", "abstractText", "status", "grantCategory", "leadFunder", "identifiers", "start", "end",
              "fund", "participantValues", "links"]


@HOSTILE
@given(data=st.data())
def test_any_gtr_api_answer_plans_or_fails_clearly(tmp_path, data):
    good = json.loads((IMPORTS / "gtr_api_projects.json").read_text(encoding="utf-8"))["project"][0]
    shape = data.draw(st.sampled_from(["field", "participant", "value"]))
    if shape == "field":
        answer = {"project": [{**good, data.draw(st.sampled_from(GTR_FIELDS)): data.draw(json_values)}]}
    elif shape == "participant":
        participant = {"organisationName": data.draw(json_values), "role": data.draw(json_values),
                       "organisationId": data.draw(json_values), "grantOffer": data.draw(json_values)}
        answer = {"project": [{**good, "participantValues": {"participant": [participant]}}]}
    else:
        answer = data.draw(json_values)
    path = tmp_path / "answer.json"
    path.write_text(json.dumps(answer), encoding="utf-8")
    result = assert_clean(lambda p: plan_import(p, "gtr-json", load_organisations()), path)
    assert not isinstance(result, Exception) or isinstance(result, CorpusError)


def test_stored_records_are_read_without_writing_on_each_backend(database_url, tmp_path):
    from matcher import Store
    from matcher.storage.store import read_stored_records

    assert read_stored_records(database_url) is None  # nothing there yet: the bundled corpus stands in
    existing = load_organisations()[:3]
    store = Store(database_url).migrate()
    store.upsert(existing, [])
    store.close()
    folder = tmp_path / "db"
    before = _digest(folder) if folder.exists() else {}
    organisations, projects = read_stored_records(database_url)
    assert [o.id for o in organisations] == sorted(o.id for o in existing) and projects == []
    assert (_digest(folder) if folder.exists() else {}) == before


def test_a_known_identifier_matches_whatever_the_name(bundled, tmp_path):
    first = plan_import(IMPORTS / "gtr_export.csv", "gtr", bundled)
    known = {o.id: o for o in bundled} | {o.id: o for o in first.organisations}
    renamed = tmp_path / "renamed.csv"
    renamed.write_text((IMPORTS / "gtr_export.csv").read_text(encoding="utf-8").replace(
        "NERC British Geological Survey", "BGS Keyworth Fixture Campus"), encoding="utf-8")
    again = plan_import(renamed, "gtr", known.values())
    r = next(r for r in again.resolutions if r.name == "BGS Keyworth Fixture Campus")
    assert (r.action, r.organisation_id, r.method) == ("matched", "gb-british-geological-survey", "identifier")


def test_the_same_grant_from_another_years_file_updates_one_stored_project(matcher, tmp_path):
    store = matcher.store_
    before = store.count_projects()
    first = matcher.import_file(IMPORTS / "nserc_awards_fr.csv", "nserc")
    assert first.created_projects == ["nserc-900004"]
    later = tmp_path / "nserc_2025.csv"
    later.write_text((IMPORTS / "nserc_awards_fr.csv").read_text(encoding="utf-8").replace("2024-2025", "2025-2026"),
                     encoding="utf-8")
    second = matcher.import_file(later, "nserc")
    assert second.updated_projects == ["nserc-900004"] and not second.created_projects
    assert store.count_projects() == before + 1
    award = store.get_project("nserc-900004").award
    assert award.fiscal_years == ["2024-2025", "2025-2026"] and award.amounts_by_year == {
        "2024-2025": 60000, "2025-2026": 60000}
    assert "1 projects (0 new, 1 updated, 0 unchanged)" in second.summary()
