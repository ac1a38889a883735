"""Project search (``PartnerMatcher.search_projects``, ``ProjectIndex``): stored projects ranked for an idea, through
the core, the API, the pages and the CLI. The fake embedder over the fixture organisations and the bundled projects
(the real briefs and funded projects of corpus/data/projects)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from embeddings import FakeEmbedder
from matcher import PartnerMatcher, Project, ProjectSearchRequest, Settings
from matcher.cli import main
from tests.conftest import FIXTURE_CORPUS

BUNDLED_PROJECTS = Path(__file__).resolve().parent.parent / "corpus" / "data" / "projects"
GRAPHITE = "graphite purification anode for batteries"  # QA's query: the old phrase filter found nothing


@pytest.fixture
def projects_matcher(tmp_path: Path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "organisations").symlink_to(FIXTURE_CORPUS / "organisations")
    (corpus / "projects").symlink_to(BUNDLED_PROJECTS)
    embedder = FakeEmbedder(dim=256)
    m = PartnerMatcher(Settings(data_dir=tmp_path / "var", corpus_dir=corpus), embedder=embedder).open()
    m.ensure_index()
    yield m
    m.close()


def search(m: PartnerMatcher, q: str, **filters):
    return m.search_projects(ProjectSearchRequest(q=q, **filters))


def ids(found) -> list[str]:
    return [hit.project.id for hit in found.items]


def test_graphite_idea_finds_the_graphite_projects_first(projects_matcher):
    found = search(projects_matcher, GRAPHITE)
    assert set(ids(found)[:2]) == {"brief-031", "brief-008"}  # purification (UK) and anode recycling (Canada)
    assert found.message is None and found.total == len(found.items) < 54  # related projects only, not all
    relevances = [hit.relevance for hit in found.items]
    assert relevances == sorted(relevances, reverse=True)
    assert ids(search(projects_matcher, "graphite purification"))[0] == "brief-031"


def test_countries_filter_the_projects_team(projects_matcher):
    canadian = search(projects_matcher, GRAPHITE, countries=["CA"])  # a UK team looking for Canadian projects
    assert ids(canadian)[0] == "brief-008"
    assert canadian.items and all(hit.project.country == "CA" for hit in canadian.items)
    british = search(projects_matcher, GRAPHITE, countries=["GB"])
    assert ids(british)[0] == "brief-031" and all(hit.project.country == "GB" for hit in british.items)


def test_french_and_symbols_are_read(projects_matcher):
    assert ids(search(projects_matcher, "purification du graphite"))[0] == "brief-031"
    lithium = search(projects_matcher, "Li brine DLE")  # lithium, brine, direct lithium extraction
    assert ids(lithium)[0] in {"brief-011", "brief-021"}  # geothermal waters (UK), oilfield brines (Alberta)
    assert ids(search(projects_matcher, "Li brine DLE", countries=["CA"]))[0] == "brief-021"


def test_challenge_and_real_projects_filters(projects_matcher):
    circular = search(projects_matcher, "recovering critical metals from waste", challenge=2)
    assert circular.items and all(2 in hit.project.challenge_areas for hit in circular.items)
    real = search(projects_matcher, "lithium", illustrative=False)
    assert real.items and all(not hit.project.illustrative for hit in real.items)
    assert "funded-nserc-am-york-lithium-detection-extraction" in ids(real)


def test_off_topic_idea_gets_nothing_and_a_message(projects_matcher):
    found = search(projects_matcher, "chocolate cake recipe")
    assert found.items == [] and found.total == 0 and "no good match" in found.message
    # The fake embedder has no calibrated gate (as any model but the bundled one): the partner search's gate is off.
    assert projects_matcher.current_index().weak_below is None
    assert ids(search(projects_matcher, "best graphite purification"))[0] == "brief-031"


@pytest.mark.integration
def test_the_partner_searchs_gate_decides_for_project_search_too(real_matcher):
    """A word every text may hold ("best") used to keep projects for an off-topic idea: with the bundled model the
    partner search's calibrated gate decides for both searches."""
    pizza = search(real_matcher, "best pizza recipes")
    assert pizza.items == [] and "off topic" in pizza.message
    assert search(real_matcher, "chocolate cake recipe").items == []
    assert ids(search(real_matcher, "best graphite purification"))[0] == "brief-031"
    assert ids(search(real_matcher, "heap leach pad stability"))  # field words the vocabulary lacks: on topic


def test_the_idea_is_echoed_as_it_was_read(projects_matcher):
    found = search(projects_matcher, "gra\u200bphite purifi\u00adcation\u0000")
    assert found.query["q"] == "graphite purification" and ids(found)[0] == "brief-031"


def test_a_written_project_is_found_by_the_next_search_and_only_it_is_embedded(projects_matcher):
    m, q = projects_matcher, "vanadium redox flow battery electrolyte from oil sands fly ash"
    search(m, q)  # builds the project index, encodes the query
    before = m.embedder.texts_encoded
    search(m, q)
    assert m.embedder.texts_encoded == before  # nothing changed: nothing embedded again
    m.save_project(Project(id="fx-vanadium-fly-ash", title="Vanadium electrolyte from oil sands fly ash",
                           summary="Recovering vanadium from oil sands fly ash for redox flow battery electrolyte.",
                           country="CA"))
    found = search(m, q)
    assert ids(found)[0] == "fx-vanadium-fly-ash"
    assert m.embedder.texts_encoded - before == 1  # the new project's text only
    m.delete_project("fx-vanadium-fly-ash")
    assert "fx-vanadium-fly-ash" not in ids(search(m, q))


def test_pages_split_the_same_ranking(projects_matcher):
    whole = search(projects_matcher, "recycling battery metals", per_page=4)
    first = search(projects_matcher, "recycling battery metals", per_page=2)
    second = search(projects_matcher, "recycling battery metals", per_page=2, page=2)
    assert whole.total == first.total == second.total >= 4
    assert ids(first) + ids(second) == ids(whole)
    assert search(projects_matcher, "recycling battery metals", page=99).items == []


# ---------------------------------------------------------------------------------------------- the doors
@pytest.fixture
def projects_client(projects_matcher):
    from service import create_app

    return create_app({"MATCHER": projects_matcher, "TESTING": True}).test_client()


def test_api_ranks_with_q_and_keeps_the_plain_list(projects_client):
    reply = projects_client.get("/v1/projects?q=graphite%20purification&countries=GB&per_page=1")
    assert reply.status_code == 200
    body = reply.get_json()
    first = body["items"][0]
    assert first["id"] == "brief-031" and first["score"] == first["relevance"] > 0
    assert set(first["scores"]) == {"semantic", "lexical"}
    assert body["page"] == 1 and body["per_page"] == 1 and body["prev"] is None
    assert body["total"] >= 1 and body["query"]["countries"] == ["GB"]
    if body["total"] > 1:
        assert body["next"] == "/v1/projects?q=graphite+purification&countries=GB&per_page=1&page=2"
    plain = projects_client.get("/v1/projects?per_page=2").get_json()
    assert [p["id"] for p in plain["items"]] == ["brief-001", "brief-002"] and "score" not in plain["items"][0]
    off = projects_client.get("/v1/projects?q=chocolate+cake+recipe").get_json()
    assert off["items"] == [] and "no good match" in off["message"]
    assert projects_client.get("/v1/projects?q=%20%20").status_code == 400
    assert projects_client.get("/v1/projects?q=lithium&challenge=3").status_code == 400
    assert projects_client.get("/v1/projects?query=lithium").status_code == 400  # unknown parameters still refused


def test_projects_page_ranks_an_idea(projects_client):
    page = projects_client.get(f"/projects?q={GRAPHITE}").get_data(as_text=True)
    assert "related to “graphite purification anode for batteries”" in page
    listed = page[page.index('class="brief-list"'):]
    assert {listed.split('href="/projects/')[1].split('"')[0],
            listed.split('href="/projects/')[2].split('"')[0]} == {"brief-031", "brief-008"}
    british = projects_client.get(f"/projects?q={GRAPHITE}&country=GB").get_data(as_text=True)
    assert british[british.index('class="brief-list"'):].split('href="/projects/')[1].startswith('brief-031"')
    canadian = projects_client.get(f"/projects?q={GRAPHITE}&country=CA").get_data(as_text=True)
    assert "/projects/brief-008" in canadian and "/projects/brief-031" not in canadian


def test_search_page_links_a_uk_team_to_canadian_projects(projects_client):
    page = projects_client.get("/search?q=graphite+purification&team=GB").get_data(as_text=True)
    assert 'href="/projects?q=graphite+purification&amp;country=CA">Canadian projects for this idea' in page
    canadian_team = projects_client.get("/search?q=graphite+purification&team=CA").get_data(as_text=True)
    assert "UK projects for this idea" in canadian_team
    with_challenge = projects_client.get("/search?q=graphite+purification&team=GB&challenge=2").get_data(as_text=True)
    assert 'href="/projects?q=graphite+purification&amp;country=CA&amp;challenge=2"' in with_challenge


def test_cli_projects_search(pm_env):
    table = CliRunner().invoke(main, ["projects", "search", "recycling rare earth magnets", "--country", "CA"])
    assert table.exit_code == 0 and "fx-brief-magnets" in table.output
    data = json.loads(CliRunner().invoke(main, ["projects", "search", "recycling rare earth magnets",
                                                "--json"]).stdout)
    assert data["items"][0]["id"] == "fx-brief-magnets" and data["items"][0]["relevance"] > 0
    uk = json.loads(CliRunner().invoke(main, ["projects", "search", "recycling rare earth magnets", "--country", "GB",
                                              "--json"]).stdout)
    assert all(item["country"] == "GB" for item in uk["items"])
    assert CliRunner().invoke(main, ["projects", "search", "--help"]).exit_code == 0


def test_a_project_imported_through_another_worker_is_found(projects_matcher):
    other = PartnerMatcher(projects_matcher.settings, embedder=FakeEmbedder(dim=256)).open()  # same database
    other.ensure_index()
    try:
        q = "antimony recovery from gold roaster dust"
        assert "fx-antimony" not in ids(search(other, q))
        projects_matcher.import_records([], [Project(id="fx-antimony", title="Antimony from gold roaster dust",
                                                     summary="Recovering antimony from gold roaster dust.",
                                                     country="CA", challenge_areas=[2])])
        assert ids(search(other, q, countries=["CA"], challenge=2))[0] == "fx-antimony"
    finally:
        other.close()
