"""Parent organisations and their sub-units: parent_id in the schema and the corpus check, one place per body in
results (matcher.ranking.grouping), and the parents set in the bundled corpus."""

import json
import shutil

import numpy as np
import pytest
from pydantic import ValidationError

from corpus.loaders import load_organisations
from corpus.quality import check_corpus
from corpus.schema import Organisation
from embeddings import FakeEmbedder
from matcher import MatchRequest, PartnerMatcher, Settings
from matcher.ranking import calibration
from matcher.ranking.grouping import collapse, family_root
from tests.conftest import FIXTURE_CORPUS
from tests.test_quality import org, write


def test_parent_id_is_optional_and_never_the_organisation_itself():
    assert Organisation.model_validate(org(1)).parent_id is None
    assert Organisation.model_validate(org(1, parent_id="gb-o2")).parent_id == "gb-o2"
    with pytest.raises(ValidationError, match="names the organisation itself"):
        Organisation.model_validate(org(1, parent_id="gb-o1"))


def test_corpus_check_refuses_unknown_parents_and_cycles(tmp_path):
    write(tmp_path / "organisations" / "a.jsonl", [
        org(1), org(2, parent_id="gb-o1"), org(3, parent_id="gb-missing"),
        org(4, parent_id="gb-o5"), org(5, parent_id="gb-o6"), org(6, parent_id="gb-o4"),
    ])
    report = check_corpus(tmp_path)
    found = {(f.check, f.record) for f in report.errors}
    assert found == {("unknown_parent", "gb-o3"), ("parent_cycle", "gb-o4, gb-o5, gb-o6")}
    assert "gb-missing" in next(f.message for f in report.errors if f.check == "unknown_parent")


def test_a_clean_parent_passes_the_check(tmp_path):
    write(tmp_path / "organisations" / "a.jsonl", [org(1), org(2, parent_id="gb-o1"), org(3, parent_id="gb-o2")])
    assert check_corpus(tmp_path).ok


def test_family_root_walks_to_the_top_and_stops_at_missing_parents_and_cycles():
    ids = ["a", "b", "c", "d", "e", "f"]
    parents = [None, "a", "b", "gone", "f", "e"]
    positions = {oid: i for i, oid in enumerate(ids)}
    asked: list[str] = []

    def position_of(oid):
        asked.append(oid)
        return positions.get(oid)

    assert family_root(0, ids, parents, position_of) == "a" and asked == []  # no parent: no look-up
    assert [family_root(i, ids, parents, position_of) for i in range(3)] == ["a", "a", "a"]
    assert family_root(3, ids, parents, position_of) == "d"  # its parent is not in the index
    assert {family_root(4, ids, parents, position_of), family_root(5, ids, parents, position_of)} <= {"e", "f"}


def test_collapse_keeps_the_best_member_of_each_family_in_place():
    scored = [(0.9, 1, 0), (0.8, 2, 1), (0.7, 0, 2), (0.6, 3, 3)]
    family = {0: "a", 1: "a", 2: "b", 3: "a"}.__getitem__
    places, units = collapse(scored, family)
    assert places == [(0.9, 1, 0), (0.8, 2, 1)]
    assert units == {1: [(0.7, 0, 2), (0.6, 3, 3)], 2: []}


@pytest.fixture
def family_matcher(tmp_path):
    """The fixture corpus and a sub-unit of its UK university, described alike so both match the same briefs."""
    corpus = tmp_path / "corpus"
    shutil.copytree(FIXTURE_CORPUS, corpus)
    path = corpus / "organisations" / "fixture.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    parent = next(r for r in rows if r["id"] == "fx-magnet-recyclers")
    unit = {**parent, "id": "fx-magnet-unit", "name": "Fixture Magnet Separation Unit", "aliases": [],
            "parent_id": "fx-magnet-recyclers"}
    path.write_text(path.read_text() + json.dumps(unit) + "\n")
    m = PartnerMatcher(Settings(data_dir=tmp_path / "var", corpus_dir=corpus), embedder=FakeEmbedder(256)).open()
    m.ensure_index()
    yield m
    m.close()


def test_a_sub_unit_is_listed_under_its_family_not_in_a_place_of_its_own(family_matcher):
    brief = "recycling rare earth magnets"
    apart = family_matcher.match(MatchRequest(text=brief, k=5, group_units=False))["results"]
    apart_ids = [r["organisation"]["id"] for r in apart]
    assert {"fx-magnet-recyclers", "fx-magnet-unit"} <= set(apart_ids)  # without grouping: two places
    grouped = family_matcher.match(MatchRequest(text=brief, k=5))["results"]
    grouped_ids = [r["organisation"]["id"] for r in grouped]
    assert len([i for i in grouped_ids if i in {"fx-magnet-recyclers", "fx-magnet-unit"}]) == 1
    leader = next(r for r in grouped if r["organisation"]["id"] in {"fx-magnet-recyclers", "fx-magnet-unit"})
    assert leader["organisation"]["id"] == apart_ids[0]  # the best-scoring member takes the place
    (unit,) = leader["units"]
    other = ({"fx-magnet-recyclers", "fx-magnet-unit"} - {leader["organisation"]["id"]}).pop()
    assert unit["organisation"]["id"] == other and unit["eligibility"] == "funded"
    listed_apart = next(r for r in apart if r["organisation"]["id"] == other)
    assert unit["relevance"] == listed_apart["relevance"]  # the same ranking evidence as when it had a place
    # Its score is its own calibrated fit, from the evidence it had in the ungrouped list (not pooled: no place).
    ungrouped = family_matcher.index_.rank(brief, k=5, group_units=False)
    cal = calibration.load()
    on_topic = cal.on_topic(ungrouped.gate_semantic, ungrouped.evidence, ungrouped.gate_coverage)  # as the gate reads
    own = next(m for m in ungrouped if m.organisation.id == other)
    expected = float(cal.fit({name: np.array([v]) for name, v in own.features.items()}, on_topic)[0])
    assert unit["score"] == pytest.approx(expected, abs=1e-4)
    # The place freed is taken by the next organisation, so the list still has k results, ranked 1..k.
    assert [r["rank"] for r in grouped] == [1, 2, 3, 4, 5] and len(set(grouped_ids)) == 5
    assert all(r["units"] == [] for r in apart)
    sub = next(r for r in apart if r["organisation"]["id"] == "fx-magnet-unit")
    assert sub["organisation"]["parent_id"] == "fx-magnet-recyclers"


def test_the_bundled_corpus_names_parents_for_the_sub_units_that_have_one():
    organisations = {o.id: o for o in load_organisations()}
    expected = {
        "gb-rights-lab-university-of-nottingham": "gb-university-of-nottingham",
        "gb-ucl-institute-for-sustainable-resources": "gb-university-college-london",
        "gb-centre-for-energy-petroleum-and-mineral-law-and-policy-university-of-dundee": "gb-university-of-dundee",
        "gb-camborne-school-of-mines-university-of-exeter": "gb-university-of-exeter",
        "gb-environment-and-sustainability-institute-university-of-exeter": "gb-university-of-exeter",
    }
    for unit, parent in expected.items():
        assert organisations[unit].parent_id == parent and parent in organisations
        assert any("(parent_id)" in s.note for s in organisations[unit].sources)  # the fact carries its source
    assert set(expected) <= {o.id for o in organisations.values() if o.parent_id}


def test_evaluation_reads_units_where_the_list_shows_them(family_matcher):
    from matcher.evaluation import rank_as_service, shown_ids

    index = family_matcher.current_index()
    request = MatchRequest(text="recycling rare earth magnets", countries=["GB"], k=3, explain=False)
    grouped = rank_as_service(index, request)
    shown = shown_ids(grouped)
    leader = grouped[0].organisation.id
    assert {leader, shown[1]} == {"fx-magnet-recyclers", "fx-magnet-unit"}  # the unit right after its body
    assert len(shown) == 4 and [m.organisation.id for m in grouped] == [shown[0], *shown[2:]]


def test_the_organisation_page_names_its_parent(family_matcher):
    from service import create_app

    client = create_app({"MATCHER": family_matcher, "TESTING": True}).test_client()
    page = client.get("/organisations/fx-magnet-unit").get_data(as_text=True)
    assert 'Part of <a href="/organisations/fx-magnet-recyclers">Fixture Magnet Recycling Lab</a>' in page
    assert "Part of" not in client.get("/organisations/fx-magnet-recyclers").get_data(as_text=True)
