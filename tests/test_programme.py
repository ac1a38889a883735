"""The programme's scope as data: programme.json, each result's eligibility, the eligibility filter and the
default countries."""

import json
import shutil

import numpy as np
import pytest

from corpus.loaders import default_data_dir, load_organisations, load_programme
from corpus.quality import check_corpus
from corpus.schema import Programme
from matcher import CorpusError, MatchRequest, PartnerMatcher, Settings
from matcher.ranking.eligibility import ELIGIBILITY, Scope
from tests.conftest import FIXTURE_CORPUS

BUNDLED = json.loads((default_data_dir() / "programme.json").read_text())


def write_programme(folder, programme):
    shutil.copytree(FIXTURE_CORPUS, folder)
    (folder / "programme.json").write_text(json.dumps(programme))
    return folder


def test_bundled_programme_is_uk_and_canada_with_sources_for_every_side():
    programme = load_programme()
    assert programme.countries == ["GB", "CA"]
    assert programme.sources and all(side.sources for side in programme.sides)
    gb, ca = programme.sides
    assert gb.funded_org_types == ["university"] and "company" in gb.partner_org_types
    assert ca.funded_org_types == ["university"] and "company" in ca.partner_org_types
    # A government lab is funded only when it is recognised (an override says so); colleges join as partners.
    assert "government_lab" in gb.partner_org_types and "college" in ca.partner_org_types
    assert all(s.ref.startswith(("https://", "seed:")) for side in programme.sides for s in side.sources)


def test_bundled_overrides_name_real_organisations_of_their_side_each_with_a_source():
    programme = load_programme()
    organisations = {o.id: o for o in load_organisations()}
    for side in programme.sides:
        for override in side.overrides:
            assert organisations[override.organisation_id].country == side.country
            assert override.reason and override.sources
            assert all(s.ref.startswith(("http://", "https://")) and s.note for s in override.sources)
    assert not [f for f in check_corpus(default_data_dir()).errors if f.check == "unknown_override"]


def test_labels_of_real_bodies_follow_the_programme_rules():
    """UKCEH (an independent research organisation typed rto) and the NERC centres are funded; regulators that
    are not recognised research organisations join as partners; Canadian colleges are partners, not funders."""
    scope = Scope.of(load_programme())
    organisations = {o.id: o for o in load_organisations()}

    def label(oid):
        o = organisations[oid]
        return scope.label(o.country, o.org_type, o.id)

    assert organisations["gb-uk-centre-for-ecology-and-hydrology"].org_type == "rto"
    for oid in ("gb-uk-centre-for-ecology-and-hydrology", "gb-british-geological-survey",
                "gb-national-oceanography-centre", "gb-university-of-exeter"):
        assert label(oid) == "funded", oid
    for oid in ("gb-natural-resources-wales", "gb-mining-remediation-authority", "gb-manufacturing-technology-centre",
                "ca-northern-college", "ca-cambrian-college", "ca-natural-resources-canada"):
        assert label(oid) == "partner", oid
    assert label("gb-natural-environment-research-council") == "not_eligible"
    # Only funders are not eligible in a programme country.
    not_eligible = {o.org_type for o in organisations.values() if label(o.id) == "not_eligible"}
    assert not_eligible == {"funder"}


def test_a_corpus_folder_without_a_programme_uses_the_bundled_one(tmp_path):
    assert load_programme(FIXTURE_CORPUS) == load_programme()
    mine = dict(BUNDLED, sides=[dict(BUNDLED["sides"][0], partner_org_types=["company"])])
    assert load_programme(write_programme(tmp_path / "corpus", mine)).countries == ["GB"]


@pytest.mark.parametrize("change, words", [
    (lambda p: p["sides"][0].update(funded_org_types=["university", "castle"]), "funded_org_types"),
    (lambda p: p["sides"][1].update(country="GB"), "more than one side"),
    (lambda p: p["sides"][0].update(partner_org_types=["company", "university"]), "both funded and partner"),
    (lambda p: p["sides"][0].update(sources=[]), "sources"),
    (lambda p: p.update(rules="made up"), "rules"),
    (lambda p: p["sides"][0]["overrides"].append(dict(p["sides"][0]["overrides"][0])), "more than one override"),
    (lambda p: p["sides"][0]["overrides"][0].update(sources=[]), "sources"),
    (lambda p: p["sides"][0]["overrides"][0].update(eligibility="outside_programme"), "eligibility"),
])
def test_an_invalid_programme_is_refused_naming_what_is_wrong(tmp_path, change, words):
    programme = json.loads(json.dumps(BUNDLED))
    change(programme)
    folder = write_programme(tmp_path / "corpus", programme)
    with pytest.raises(CorpusError, match=words):
        load_programme(folder)
    report = check_corpus(folder)
    assert [f.check for f in report.errors] == ["invalid_programme"] and words in report.errors[0].message


def test_an_override_naming_no_organisation_or_another_country_fails_the_corpus_check(tmp_path):
    programme = json.loads(json.dumps(BUNDLED))
    reason = {"reason": "test", "sources": [{"ref": "https://example.org", "note": "n"}]}
    programme["sides"][0]["overrides"] = [{"organisation_id": "fx-nowhere", "eligibility": "funded", **reason},
                                          {"organisation_id": "fx-geosurvey", "eligibility": "funded", **reason}]
    programme["sides"][1]["overrides"] = []
    report = check_corpus(write_programme(tmp_path / "corpus", programme))
    found = {f.record: f.message for f in report.errors if f.check == "unknown_override"}
    assert set(found) == {"fx-nowhere", "fx-geosurvey"}
    assert "no organisation" in found["fx-nowhere"] and "in CA" in found["fx-geosurvey"]


def test_unreadable_programme_file_says_which_file(tmp_path):
    folder = write_programme(tmp_path / "corpus", BUNDLED)
    (folder / "programme.json").write_text("{not json")
    with pytest.raises(CorpusError, match="programme.json"):
        load_programme(folder)


def test_scope_labels_mask_and_default_countries_follow_the_file():
    scope = Scope.of(Programme.model_validate(BUNDLED))
    assert scope.label("GB", "university") == "funded" and scope.label("GB", "government_lab") == "partner"
    assert scope.label("GB", "government_lab", "gb-british-geological-survey") == "funded"  # an override
    assert scope.label("GB", "rto", "gb-uk-centre-for-ecology-and-hydrology") == "funded"
    assert scope.label("CA", "college") == "partner" and scope.label("GB", "rto", "some-other-rto") == "partner"
    assert scope.label("CA", "government_lab") == "partner" and scope.label("GB", "company") == "partner"
    assert scope.label("GB", "funder") == "not_eligible" and scope.label("US", "university") == "outside_programme"
    countries = np.array(["GB", "CA", "CA", "US", "GB"], dtype=object)
    types = np.array(["university", "university", "company", "university", "funder"], dtype=object)
    assert scope.mask(countries, types, ["funded"]).tolist() == [True, True, False, False, False]
    assert scope.mask(countries, types, ["partner", "outside_programme"]).tolist() == [False, False, True, True, False]
    assert scope.mask(countries, types, ["not_eligible"]).tolist() == [False, False, False, False, True]
    # With ids, the overrides count; an override applies only in its own side's country.
    labs = np.array(["government_lab", "rto", "government_lab", "government_lab"], dtype=object)
    where = np.array(["GB", "GB", "GB", "CA"], dtype=object)
    named = ["gb-british-geological-survey", "gb-uk-centre-for-ecology-and-hydrology", "gb-natural-resources-wales",
             "gb-british-geological-survey"]
    assert scope.labels(where, labs, named).tolist() == ["funded", "funded", "partner", "partner"]
    assert scope.mask(where, labs, ["funded"], named).tolist() == [True, True, False, False]
    assert scope.mask(where, labs, ["funded"]).tolist() == [False, False, False, False]
    assert scope.default_countries(None) == ["GB", "CA"]
    assert scope.default_countries("CA") == ["GB"] and scope.default_countries("GB") == ["CA"]
    assert scope.default_countries("US") == ["GB", "CA"]
    assert scope.default_countries("GB", ["outside_programme"]) == []
    # Another programme file, other rules: nothing of the programme is written in code.
    other = Scope.of(Programme.model_validate(dict(BUNDLED, sides=[dict(BUNDLED["sides"][1], country="AU")])))
    assert other.label("AU", "university") == "funded" and other.label("GB", "university") == "outside_programme"


def ids(out):
    return [r["organisation"]["id"] for r in out["results"]]


def test_candidates_default_to_the_programme_countries_and_carry_eligibility(matcher):
    out = matcher.match(MatchRequest(text="recycling rare earth magnets and national laboratory research", k=20))
    assert out["query"]["countries"] == ["GB", "CA"]
    assert "fx-us-lab" not in ids(out) and ids(out)
    labels = {r["organisation"]["id"]: r["eligibility"] for r in out["results"]}
    assert labels["fx-magnet-recyclers"] == "funded"  # a UK university
    assert labels["fx-tailings-lab"] == "funded"  # a Canadian university
    assert labels["fx-geosurvey"] == "partner"  # a Canadian government lab joins as a partner
    assert labels["fx-magnet-maker"] == "partner" and labels["fx-battery-recycling"] == "partner"
    assert set(labels.values()) <= set(ELIGIBILITY)


def test_a_team_country_searches_the_other_programme_country(matcher):
    out = matcher.match(MatchRequest(text="cobalt from mine tailings", lead_country="GB", k=20))
    assert out["query"]["countries"] == ["CA"]
    assert {r["organisation"]["country"] for r in out["results"]} == {"CA"}
    out = matcher.match(MatchRequest(text="cobalt from mine tailings", lead_country="CA", k=20))
    assert {r["organisation"]["country"] for r in out["results"]} == {"GB"}


def test_other_countries_only_when_asked_and_labelled_outside(matcher):
    named = matcher.match(MatchRequest(text="national laboratory research", countries=["US"]))
    assert ids(named) == ["fx-us-lab"] and named["results"][0]["eligibility"] == "outside_programme"
    anywhere = matcher.match(MatchRequest(text="national laboratory research", k=20,
                                          eligibility=["funded", "partner", "outside_programme"]))
    assert anywhere["query"]["countries"] == [] and "fx-us-lab" in ids(anywhere)
    assert {r["eligibility"] for r in anywhere["results"]} <= {"funded", "partner", "outside_programme"}


def test_the_eligibility_filter_keeps_only_those_labels(matcher):
    funded = matcher.match(MatchRequest(text="recycling magnets tailings mining", k=20, eligibility=["funded"]))
    assert set(ids(funded)) == {"fx-magnet-recyclers", "fx-tailings-lab"}
    partners = matcher.match(MatchRequest(text="recycling magnets tailings mining", k=20, eligibility=["partner"]))
    assert partners["results"] and {r["eligibility"] for r in partners["results"]} == {"partner"}
    assert not set(ids(funded)) & set(ids(partners))
    funders = matcher.match(MatchRequest(text="research funding", org_types=["funder"], eligibility=["not_eligible"]))
    assert ids(funders) == ["fx-funder"]


def test_an_override_labels_results_and_counts_in_the_eligibility_filter(tmp_path, fake_embedder):
    programme = json.loads(json.dumps(BUNDLED))
    source = [{"ref": "https://example.org/recognised", "note": "test"}]
    programme["sides"][0]["overrides"] = [{"organisation_id": "fx-battery-recycling", "eligibility": "funded",
                                           "reason": "a recognised research organisation", "sources": source}]
    programme["sides"][1]["overrides"] = [{"organisation_id": "fx-tailings-lab", "eligibility": "partner",
                                           "reason": "test", "sources": source}]
    folder = write_programme(tmp_path / "corpus", programme)
    m = PartnerMatcher(Settings(data_dir=tmp_path / "var", corpus_dir=folder), embedder=fake_embedder).open()
    try:
        m.ensure_index()
        out = m.match(MatchRequest(text="recycling magnets tailings mining battery", k=20))
        labels = {r["organisation"]["id"]: r["eligibility"] for r in out["results"]}
        assert labels["fx-battery-recycling"] == "funded" and labels["fx-tailings-lab"] == "partner"
        assert labels["fx-magnet-recyclers"] == "funded" and labels["fx-magnet-maker"] == "partner"
        funded = m.match(MatchRequest(text="recycling magnets tailings mining battery", k=20, eligibility=["funded"]))
        assert set(ids(funded)) == {"fx-magnet-recyclers", "fx-battery-recycling"}
    finally:
        m.close()


def test_a_stored_project_keeps_its_seeking_countries(matcher):
    project = next(p for p in matcher.store_.all_projects() if p.seeking_countries)
    out = matcher.match(MatchRequest(project_id=project.id, k=20))
    assert out["query"]["countries"] == project.seeking_countries
    assert {r["organisation"]["country"] for r in out["results"]} <= set(project.seeking_countries)


def test_api_takes_the_eligibility_filter_and_documents_it(client):
    r = client.post("/v1/match", json={"text": "recycling magnets tailings mining", "eligibility": ["funded"], "k": 20})
    assert r.status_code == 200 and {x["eligibility"] for x in r.get_json()["results"]} == {"funded"}
    bad = client.post("/v1/match", json={"text": "magnets", "eligibility": ["eligible-ish"]})
    assert bad.status_code == 400 and "eligibility" in json.dumps(bad.get_json()["error"]["details"])
    project = client.get("/v1/projects?per_page=1").get_json()["items"][0]["id"]
    r = client.get(f"/v1/projects/{project}/matches?eligibility=partner&k=20")
    assert r.status_code == 200 and {x["eligibility"] for x in r.get_json()["results"]} <= {"partner"}
    spec = client.get("/openapi.json").get_json()
    text = json.dumps(spec)
    assert "outside_programme" in text and "group_units" in text and '"units"' in text


def test_the_search_page_labels_eligibility(client):
    page = client.get("/search?q=recycling+rare+earth+magnets").get_data(as_text=True)
    assert "Funded by the programme" in page and "eligibility-funded" in page


def test_cli_match_filters_by_eligibility_and_labels_each_row(pm_env):
    from click.testing import CliRunner

    from matcher.cli import main

    result = CliRunner().invoke(main, ["match", "recycling magnets tailings mining", "-k", "20",
                                       "--eligibility", "funded"], catch_exceptions=False)
    rows = [line for line in result.output.splitlines() if line.strip().startswith(("1 ", "2 ", "3 "))]
    assert result.exit_code == 0 and len(rows) == 2 and all(row.endswith("(funded)") for row in rows)
    as_json = json.loads(CliRunner().invoke(main, ["match", "national laboratory", "--eligibility",
                                                   "outside_programme", "--json"]).output)
    assert [r["organisation"]["id"] for r in as_json["results"]] == ["fx-us-lab"]
