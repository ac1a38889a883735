"""Shortlists search where search does: the programme's countries by default, eligibility on every assignment."""

from __future__ import annotations

import pytest

from corpus import Project
from matcher import Infeasible
from matcher.shortlists import ShortlistRequest, Shortlister

BATTERY = "Direct recycling of lithium-ion battery cathodes and graphite anodes; battery materials manufacturing."


@pytest.fixture
def open_projects(matcher):
    """Two projects that name no countries to seek partners in: one Canadian, one British."""
    matcher.save_project(Project(id="fx-ca-battery", title="Battery recycling", summary=BATTERY, country="CA"))
    matcher.save_project(Project(id="fx-gb-battery", title="Battery recycling", summary=BATTERY, country="GB"))
    return matcher


def _request(project: str, **kw) -> ShortlistRequest:
    return ShortlistRequest(**{"project_ids": [project], "per_project": 3, "max_per_organisation": 1, **kw})


def test_without_a_scope_a_project_seeking_nowhere_gets_partners_from_anywhere(open_projects):
    # The behaviour before shortlists used the programme: the US laboratory, the best match, takes a place.
    project = open_projects.get_project("fx-ca-battery")
    outcome = Shortlister(open_projects.index_).run(_request("fx-ca-battery"), [project])
    assert "fx-us-lab" in {a.organisation_id for a in outcome.assignments}
    assert {a.eligibility for a in outcome.assignments} == {None}


def test_a_canadian_project_gets_uk_partners_and_a_uk_project_canadian_ones(open_projects):
    jobs = open_projects.shortlists
    canadian = jobs.run_now(_request("fx-ca-battery", per_project=4))
    assert {a.country for a in canadian.assignments} == {"GB"} and len(canadian.assignments) == 4
    british = jobs.run_now(_request("fx-gb-battery"))
    assert {a.country for a in british.assignments} == {"CA"} and len(british.assignments) == 3
    labels = {a.organisation_id: a.eligibility for a in british.assignments}
    # In Canada universities are funded; government labs and companies join as partners (programme.json).
    assert labels == {"fx-tailings-lab": "funded", "fx-geosurvey": "partner", "fx-mine-operator": "partner"}


def test_labels_are_on_the_stored_shortlist_and_on_a_decision(open_projects):
    jobs = open_projects.shortlists
    job = jobs.run_now(_request("fx-ca-battery"))
    again = jobs.get(job.id)
    assert [a.eligibility for a in again.assignments] == [a.eligibility for a in job.assignments]
    assert all(a.eligibility in {"funded", "partner"} for a in again.assignments)
    first = again.assignments[0]
    decided = jobs.decide(job.id, first.project_id, first.organisation_id, "accepted")
    assert decided.eligibility == first.eligibility and decided.decision == "accepted"


def test_countries_or_eligibility_in_the_request_still_win(open_projects):
    jobs = open_projects.shortlists
    named = jobs.run_now(_request("fx-ca-battery", per_project=1, countries=["US"]))
    assert [(a.organisation_id, a.eligibility) for a in named.assignments] == [("fx-us-lab", "outside_programme")]
    outside = jobs.run_now(_request("fx-ca-battery", per_project=1, eligibility=["outside_programme"]))
    assert [(a.organisation_id, a.eligibility) for a in outside.assignments] == [("fx-us-lab", "outside_programme")]
    funded = jobs.run_now(_request("fx-ca-battery", per_project=1, eligibility=["funded"]))
    assert [(a.country, a.org_type, a.eligibility) for a in funded.assignments] == [("GB", "university", "funded")]


def test_seeking_countries_still_come_before_the_programme_default(open_projects):
    open_projects.save_project(Project(id="fx-ca-seeks-ca", title="Battery recycling", summary=BATTERY, country="CA",
                                       seeking_countries=["CA"]))
    job = open_projects.shortlists.run_now(_request("fx-ca-seeks-ca"))
    assert {a.country for a in job.assignments} == {"CA"}


def test_the_feasibility_check_counts_only_the_default_countries(open_projects):
    # Three Canadian organisations (no funders) for a UK project that wants four partners.
    with pytest.raises(Infeasible) as caught:
        open_projects.shortlists.submit(_request("fx-gb-battery", per_project=4))
    assert caught.value.details["constraint"] == "per_project" and caught.value.details["shortfall"] == 1


def test_the_cli_asks_for_eligibility_and_the_export_carries_it(pm_env, tmp_path):
    import csv

    from click.testing import CliRunner

    from matcher.cli import main

    table = tmp_path / "outside.csv"
    result = CliRunner().invoke(main, ["shortlist", "--projects", "fx-brief-magnets", "--per-project", "1",
                                       "--eligibility", "outside_programme", "--out", str(table)])
    assert result.exit_code == 0, result.output
    [row] = list(csv.DictReader(table.open(encoding="utf-8")))
    assert (row["organisation_id"], row["country"], row["eligibility"]) == ("fx-us-lab", "US", "outside_programme")
