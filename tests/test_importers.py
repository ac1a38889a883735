import pytest

from corpus import CorpusError, load_organisations
from corpus.importers import plan_import
from tests.conftest import FIXTURE_CORPUS, SHARED_DATA, TESTS

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
    assert "leads 2 project(s)" in created.description
    assert plan.projects[2].summary == "Lithium brine sensing"  # no abstract: the title stands in
    assert plan.projects[2].sources[0].ref.endswith("projects?ref=10000003")


def test_nserc_awards_without_storing_personal_names(existing):
    plan = plan_import(IMPORTS / "nserc_awards.csv", "nserc", existing)
    assert len(plan.projects) == 2 and all(p.id.startswith("nserc-") and p.country == "CA" for p in plan.projects)
    assert plan.projects[0].lead_organisation_id == "fx-tailings-lab"
    assert plan.projects[0].keywords == ["tailings", "nickel", "reprocessing"]
    assert plan.created_organisations == ["ca-universite-fixture-de-test"]
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
    with pytest.raises(CorpusError, match="nothing imported: 1 invalid record.*line 2.*title"):
        plan_import(bad, "gtr", [])
    with pytest.raises(CorpusError, match="missing required column"):
        plan_import(IMPORTS / "nserc_awards.csv", "gtr", [])
    (tmp_path / "latin1.csv").write_bytes("Title,ProjectId\nCaf\xe9,1\n".encode("latin-1"))
    with pytest.raises(CorpusError, match="not UTF-8"):
        plan_import(tmp_path / "latin1.csv", "gtr", [])


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
    assert matcher.index_status()["reason"] == "corpus changed since the index was built"


def test_dry_run_writes_nothing(matcher):
    before = matcher.store_.count_projects()
    plan = matcher.import_file(IMPORTS / "nserc_awards.csv", "nserc", dry_run=True)
    assert len(plan.projects) == 2 and matcher.store_.count_projects() == before


@pytest.mark.skipif(not (SHARED_DATA / "gtr_circular_economy_sample.csv").exists(),
                    reason="../shared/data/gtr_circular_economy_sample.csv is not present (it is not part of the project)")
def test_real_gtr_sample_imports_whole():
    plan = plan_import(SHARED_DATA / "gtr_circular_economy_sample.csv", "gtr", [])
    assert plan.rows == 195 and len(plan.projects) == 195
    assert sum(1 for p in plan.projects if p.minerals) > 20
    assert all(p.sources[0].ref.startswith("https://gtr.ukri.org/") for p in plan.projects)
