"""The programme's scope as data: programme.json, each result's eligibility, the eligibility filter and the
default countries."""

import json
import shutil

import numpy as np
import pytest

from corpus.loaders import default_data_dir, load_programme
from corpus.quality import check_corpus
from corpus.schema import Programme
from matcher import CorpusError, MatchRequest
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
    assert "university" in gb.funded_org_types and "company" in gb.partner_org_types
    assert ca.funded_org_types == ["university"] and "company" in ca.partner_org_types
    assert all(s.ref.startswith(("https://", "seed:")) for side in programme.sides for s in side.sources)


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
])
def test_an_invalid_programme_is_refused_naming_what_is_wrong(tmp_path, change, words):
    programme = json.loads(json.dumps(BUNDLED))
    change(programme)
    folder = write_programme(tmp_path / "corpus", programme)
    with pytest.raises(CorpusError, match=words):
        load_programme(folder)
    report = check_corpus(folder)
    assert [f.check for f in report.errors] == ["invalid_programme"] and words in report.errors[0].message


def test_unreadable_programme_file_says_which_file(tmp_path):
    folder = write_programme(tmp_path / "corpus", BUNDLED)
    (folder / "programme.json").write_text("{not json")
    with pytest.raises(CorpusError, match="programme.json"):
        load_programme(folder)


def test_scope_labels_mask_and_default_countries_follow_the_file():
    scope = Scope.of(Programme.model_validate(BUNDLED))
    assert scope.label("GB", "university") == "funded" and scope.label("GB", "government_lab") == "funded"
    assert scope.label("CA", "government_lab") == "partner" and scope.label("GB", "company") == "partner"
    assert scope.label("GB", "funder") == "not_eligible" and scope.label("US", "university") == "outside_programme"
    countries = np.array(["GB", "CA", "CA", "US", "GB"], dtype=object)
    types = np.array(["university", "university", "company", "university", "funder"], dtype=object)
    assert scope.mask(countries, types, ["funded"]).tolist() == [True, True, False, False, False]
    assert scope.mask(countries, types, ["partner", "outside_programme"]).tolist() == [False, False, True, True, False]
    assert scope.mask(countries, types, ["not_eligible"]).tolist() == [False, False, False, False, True]
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
