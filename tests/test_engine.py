import pytest

from embeddings import FakeEmbedder
from matcher import IndexNotReady, MatchRequest, OrganisationNotFound, PartnerMatcher, ProjectNotFound
from pydantic import ValidationError


def test_open_seeds_database_and_builds_then_reuses_index(settings, fake_embedder):
    m = PartnerMatcher(settings, embedder=fake_embedder).open()
    assert m.index_status().reason == "missing"
    _, built = m.ensure_index()
    assert built and m.index_status().fresh
    again = PartnerMatcher(settings, embedder=FakeEmbedder(256)).open()
    _, built = again.ensure_index()
    assert not built  # fresh saved index is loaded, not rebuilt


def test_stale_index_is_rebuilt_when_model_or_corpus_changes(settings, fake_embedder):
    m = PartnerMatcher(settings, embedder=fake_embedder).open()
    m.ensure_index()
    other_model = PartnerMatcher(settings, embedder=FakeEmbedder(128)).open()
    assert "built with model" in other_model.index_status().reason
    index, built = other_model.ensure_index()
    assert built and index.model_id_ == "fake-hash-128-bi"
    org = other_model.get_organisation("fx-us-lab")
    other_model.store_.upsert_organisations([org.model_copy(update={"description": "Now works on magnets."})])
    assert other_model.index_status().reason == "corpus changed since the index was built"
    index, built = other_model.ensure_index()
    assert built and "magnets" in index.organisations_[index.positions_["fx-us-lab"]].description


def test_match_shapes_results_and_reports_empty_honestly(matcher):
    out = matcher.match(MatchRequest(text="cobalt from mine tailings", countries=["CA"], k=3))
    assert [r["rank"] for r in out["results"]] == [1, 2, 3]
    assert out["results"][0]["organisation"]["id"] == "fx-tailings-lab"
    assert {"semantic", "challenge_1", "challenge_2"} <= set(out["results"][0]["scores"])
    assert out["index"]["organisations"] == 9
    empty = matcher.match(MatchRequest(text="cobalt", countries=["JP"]))
    assert empty["results"] == [] and "no organisation" in empty["message"]


def test_project_matches_default_to_the_countries_it_seeks(matcher):
    out = matcher.project_matches("fx-brief-tailings", k=5)
    assert {r["organisation"]["country"] for r in out["results"]} == {"CA"}
    with pytest.raises(ProjectNotFound):
        matcher.project_matches("nope")
    with pytest.raises(OrganisationNotFound):
        matcher.get_organisation("nope")


def test_match_before_index_is_ready(settings, fake_embedder):
    m = PartnerMatcher(settings, embedder=fake_embedder).open()
    with pytest.raises(IndexNotReady):
        m.match(MatchRequest(text="x"))


@pytest.mark.parametrize(
    "payload",
    [{}, {"text": "a", "project_id": "b"}, {"text": ""}, {"text": "a", "k": 101}, {"text": "a", "countries": ["GBR"]},
     {"text": "a", "challenge": 3}, {"text": "a", "colour": "red"}, {"text": "x" * 20_001}],
)
def test_match_request_validation(payload):
    with pytest.raises(ValidationError):
        MatchRequest.model_validate(payload)


def test_all_weak_results_are_answered_flagged_not_hidden(matcher):
    matcher.index_.weak_below = 0.99
    out = matcher.match(MatchRequest(text="magnet recycling", k=3))
    assert len(out["results"]) == 3 and all(r["weak"] and r["band"] == "weak" for r in out["results"])
    assert out["message"].startswith("weak fit") and "Name the minerals" in out["message"]
    assert "weak_results_hidden" not in out
    matcher.index_.weak_below = None


def test_team_country_is_inferred_from_a_one_sided_search():
    assert MatchRequest(text="x", countries=["GB"]).team_country() == "CA"
    assert MatchRequest(text="x", countries=["ca"]).team_country() == "GB"
    assert MatchRequest(text="x", countries=["GB", "CA"]).team_country() is None
    assert MatchRequest(text="x", lead_country="us").team_country() == "US"


def test_changed_challenge_labels_make_the_index_stale(matcher):
    project = matcher.get_project("fx-brief-tailings")
    matcher.store_.upsert_projects([project.model_copy(update={"challenge_areas": [2]})])
    assert matcher.index_status().reason == "challenge labels changed since the index was built"
    _, built = matcher.ensure_index()
    assert built and matcher.index_status().fresh


def test_a_write_updates_the_index_incrementally_and_saves_it_in_the_background(settings):
    from matcher import Organisation

    fake = FakeEmbedder(256)
    m = PartnerMatcher(settings, embedder=fake).open()
    m.ensure_index()
    before, old_index = fake.texts_encoded, m.index_
    org = Organisation(id="fx-scandium", name="Scandium Lab", country="GB", org_type="university",
                       description="Recovers scandium from bauxite residue (red mud) by selective leaching.")
    m.save_organisation(org, create_only=True)
    assert fake.texts_encoded - before <= 3  # only the new profile and its sentences were embedded
    assert m.index_ is not old_index and "fx-scandium" not in old_index.ids_  # swapped, the old one untouched
    top = m.match(MatchRequest(text="scandium from red mud", k=1))["results"][0]
    assert top["organisation"]["id"] == "fx-scandium"
    m.flush()
    assert m.index_status().fresh  # the saved file caught up with the write
    m.close()


def test_deleting_every_organisation_then_adding_one_recovers(settings, fake_embedder):
    from matcher import Organisation

    m = PartnerMatcher(settings, embedder=fake_embedder).open()
    m.ensure_index()
    for org in list(m.index_.organisations_):
        m.delete_organisation(org.id)
    with pytest.raises(IndexNotReady, match="loading|organisations"):
        m.match(MatchRequest(text="cobalt"))
    m.save_organisation(Organisation(id="fx-back", name="Back Again", country="GB", org_type="company",
                                     description="Cobalt refining from mixed hydroxide precipitate feedstocks."))
    assert m.match(MatchRequest(text="cobalt refining", k=1))["results"][0]["organisation"]["id"] == "fx-back"
    m.close()
