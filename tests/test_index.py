import faiss
import numpy as np
import pytest

from corpus import Organisation, load_challenges, load_organisations, load_projects
from embeddings import FakeEmbedder
from matcher import IndexNotReady, InvalidRequest, PartnerIndex
from tests.conftest import FIXTURE_CORPUS


@pytest.fixture
def orgs():
    return load_organisations(FIXTURE_CORPUS)


@pytest.fixture
def index(orgs, fake_embedder):
    return PartnerIndex(fake_embedder).fit(orgs, load_challenges())


def synthetic_orgs(n: int, seed: int = 7) -> list[Organisation]:
    rng = np.random.default_rng(seed)
    words = "lithium cobalt nickel tailings magnet recycling battery geology smelter reclamation water sensor".split()
    return [
        Organisation(id=f"o{i}", name=f"Org {i}", country=["GB", "CA", "US"][i % 3],
                     org_type=["university", "company", "rto"][i % 3],
                     description=" ".join(rng.choice(words, size=12)) + ".")
        for i in range(n)
    ]


def test_faiss_ranking_equals_brute_force_numpy_cosine(fake_embedder):
    orgs = synthetic_orgs(300)
    idx = PartnerIndex(fake_embedder, fusion="dense", diversity=0).fit(orgs, load_challenges())
    query = "geology sensor water battery"  # no mineral or stage terms, dense only: the relevance is the cosine
    matches = idx.rank(query, k=25)
    q = fake_embedder.encode([query])[0]
    # Dense relevance = the better of the whole profile and its best sentence (the description is one sentence).
    cosine = np.maximum(fake_embedder.encode([o.profile_text() for o in orgs]) @ q,
                        fake_embedder.encode([o.description for o in orgs]) @ q)
    expected = np.argsort(-cosine, kind="stable")[:25]
    np.testing.assert_allclose([m.relevance for m in matches], cosine[expected], atol=1e-4)
    assert {m.organisation.id for m in matches} == {f"o{i}" for i in expected} or np.isclose(
        cosine[expected[-1]], sorted(cosine)[-26], atol=1e-6)  # equal only up to ties at the cut-off
    for m in matches:
        assert m.relevance == pytest.approx(m.scores["semantic"]) == pytest.approx(float(cosine[int(m.organisation.id[1:])]), abs=1e-4)


def test_hybrid_fuses_bm25_and_dense_and_reports_both(index):
    matches = index.rank("hydrogen decrepitation", k=3)  # rare words: BM25 finds them even if dense is weak
    top = matches[0]
    assert top.organisation.id == "fx-magnet-recyclers"
    assert top.scores["lexical"] == 1.0 and top.scores["relevance"] == pytest.approx(1.0)
    assert {"relevance", "semantic", "lexical"} <= set(top.scores)
    dense_only = PartnerIndex(index.embedder, fusion="dense").fit(index.organisations_, load_challenges())
    assert dense_only.rank("hydrogen decrepitation", k=1)[0].scores["relevance"] == top.scores["semantic"]
    with pytest.raises(ValueError):
        PartnerIndex(index.embedder, fusion="magic")


def test_rank_returns_typed_components_in_score_order(index):
    matches = index.rank("recycling rare earth NdFeB magnets from electronic waste", k=5)
    assert [m.rank for m in matches] == [1, 2, 3, 4, 5]
    assert [m.score for m in matches] == sorted((m.score for m in matches), reverse=True)
    top = matches[0]
    assert top.organisation.id == "fx-magnet-recyclers"
    assert set(top.scores) >= {"semantic", "minerals", "challenge_1", "challenge_2"}
    assert top.explanation["shared_minerals"] == ["Rare earth elements"]
    assert "NdFeB" in top.explanation["evidence"][0]["text"]


def test_filters_apply_inside_search_and_funders_are_left_out(index):
    gb = index.rank("rare earth magnets", k=20, countries=["GB"])
    assert gb and {m.organisation.country for m in gb} == {"GB"}
    assert "fx-funder" not in {m.organisation.id for m in gb}
    funders = index.rank("rare earth magnets", k=20, org_types=["funder"])
    assert [m.organisation.id for m in funders] == ["fx-funder"]
    assert index.rank("anything", countries=["FR"]) == []
    companies = index.rank("mining", k=20, org_types=["company"])
    assert {m.organisation.org_type for m in companies} == {"company"}


def test_project_query_excludes_its_lead_and_uses_its_minerals(index):
    project = next(p for p in load_projects(FIXTURE_CORPUS) if p.id == "fx-brief-magnets")
    ids = [m.organisation.id for m in index.rank(project, k=20)]
    assert "fx-geosurvey" not in ids  # the project's own lead organisation
    assert ids[0] == "fx-magnet-recyclers"


def test_challenge_boost_changes_order_towards_that_challenge(index):
    query = "critical minerals research"
    plain = index.rank(query, k=8)
    for challenge in (1, 2):
        boosted = index.rank(query, k=8, challenge=challenge)
        key = f"challenge_{challenge}"
        assert np.mean([m.scores[key] for m in boosted[:3]]) >= np.mean([m.scores[key] for m in plain[:3]]) - 1e-9
    with pytest.raises(InvalidRequest):
        index.rank(query, challenge=3)


def test_unfitted_index_and_empty_corpus(fake_embedder):
    with pytest.raises(IndexNotReady):
        PartnerIndex(fake_embedder).rank("x")
    with pytest.raises(IndexNotReady):
        PartnerIndex(fake_embedder).fit([], load_challenges())


def test_fit_uses_the_embedding_cache(tmp_path, orgs):
    from embeddings import EmbeddingCache

    fake = FakeEmbedder(64)
    PartnerIndex(fake, cache=EmbeddingCache(tmp_path / "c.sqlite")).fit(orgs, load_challenges())
    first = fake.texts_encoded
    PartnerIndex(fake, cache=EmbeddingCache(tmp_path / "c.sqlite")).fit(orgs, load_challenges())
    assert fake.texts_encoded == first  # nothing re-embedded


def test_documents_are_indexed_on_their_own_and_aggregated(tmp_path, fake_embedder):
    from corpus import Document

    generic = dict(country="GB", org_type="university", description="A large university with many departments.")
    one_doc = Organisation(id="u1", name="Uni One", **generic, documents=[
        Document(id="d1", title="Graphite anode recycling", text="Purifying graphite anode material from spent cells.")])
    two_docs = Organisation(id="u2", name="Uni Two", **generic, documents=[
        Document(id="d2", title="Graphite anode recycling", text="Purifying graphite anode material from spent cells."),
        Document(id="d3", title="Graphite anode purification", text="Recycling graphite anode from spent cells.")])
    plain = Organisation(id="u3", name="Uni Three", **generic)
    idx = PartnerIndex(fake_embedder).fit([one_doc, two_docs, plain], load_challenges())
    matches = idx.rank("recycling graphite anode material from spent cells", k=3)
    assert [m.organisation.id for m in matches] == ["u2", "u1", "u3"]  # a second strong document adds a little
    assert "Graphite anode" in matches[0].explanation["evidence"][0]["text"]
    loaded = PartnerIndex.load(idx.save(tmp_path / "i.npz"), fake_embedder, [one_doc, two_docs, plain], load_challenges())
    assert [(m.organisation.id, m.score) for m in loaded.rank("graphite anode", k=3)] == \
        [(m.organisation.id, m.score) for m in idx.rank("graphite anode", k=3)]


def test_diversity_moves_near_duplicates_down(fake_embedder):
    base = dict(country="GB", org_type="company", value_chain_stages=["recycling"])
    clones = [Organisation(id=f"clone{i}", name=f"Clone {i}", description="Magnet recycling of NdFeB scrap by hydrogen.",
                           **base) for i in range(4)]
    other = Organisation(id="other", name="Other", description="Magnet recycling research in electric motors.", **base)
    orgs = [*clones, other]
    plain = PartnerIndex(fake_embedder, fusion="dense", diversity=0).fit(orgs, load_challenges()).rank("magnet recycling NdFeB", k=3)
    diverse = PartnerIndex(fake_embedder, fusion="dense", diversity=0.5).fit(orgs, load_challenges()).rank("magnet recycling NdFeB", k=3)
    assert "other" not in [m.organisation.id for m in plain]
    assert "other" in [m.organisation.id for m in diverse]  # a distinct organisation beats a third clone
    with pytest.raises(ValueError):
        PartnerIndex(fake_embedder, diversity=2)


def test_weak_results_are_flagged(index, orgs, fake_embedder):
    strict = PartnerIndex(fake_embedder, weak_below=0.99).fit(orgs, load_challenges())
    assert all(m.weak for m in strict.rank("magnets", k=3))
    assert not any(m.weak for m in index.rank("magnets", k=3))


def test_stages_complementarity_and_type_preference(index):
    top = index.rank("recycling magnets", k=9, query_country="CA", prefer_org_types=["company"])
    by_id = {m.organisation.id: m for m in top}
    assert by_id["fx-magnet-recyclers"].scores["stages"] == 1.0
    assert by_id["fx-magnet-maker"].scores["org_type"] == 1.0 and by_id["fx-magnet-recyclers"].scores["org_type"] == 0.0
    # A Canadian team that names only recycling is downstream: upstream partners complement it.
    assert by_id["fx-tailings-lab"].scores["complementarity"] > by_id["fx-magnet-maker"].scores["complementarity"]
    assert "Recycling and recovery" in by_id["fx-magnet-recyclers"].explanation["shared_stages"]


def _ranked(idx, query, **kw):
    return [(m.organisation.id, m.score, m.scores) for m in idx.rank(query, k=20, **kw)]


def test_with_changes_equals_a_fresh_fit_and_leaves_the_old_index_untouched(orgs, fake_embedder):
    from corpus import Document

    challenges, projects = load_challenges(), load_projects(FIXTURE_CORPUS)
    labelled = [p for p in projects if p.challenge_areas]
    base = PartnerIndex(fake_embedder).fit(orgs, challenges, labelled)
    before = {q: _ranked(base, q) for q in ("cobalt from tailings", "recycling magnets", "lithium brine")}
    changed = orgs[1].model_copy(update={"description": "Lithium brine extraction and direct lithium extraction "
                                                        "pilot plants in salars; zinc and vanadium too.",
                                         "documents": [Document(id="d9", title="Brine lithium",
                                                                text="Sorbent-based lithium recovery from brines.")]})
    added = Organisation(id="zz-new", name="New Lithium Lab", country="CA", org_type="university",
                         description="Studies lithium brines and geothermal brines for battery-grade lithium.")
    updated = base.with_changes([changed, added], deleted=[orgs[2].id], labelled=labelled)
    fresh = PartnerIndex(fake_embedder).fit([orgs[0], changed, *orgs[3:], added], challenges, labelled)
    for q in ("cobalt from tailings", "recycling magnets", "lithium brine"):
        got, want = _ranked(updated, q), _ranked(fresh, q)
        assert [g[0] for g in got] == [w[0] for w in want]
        for g, w in zip(got, want):
            assert g[1] == pytest.approx(w[1], abs=1e-4)
            assert g[2] == pytest.approx(w[2], abs=1e-4)
    assert orgs[2].id not in updated.ids_ and "zz-new" in updated.ids_
    assert updated.corpus_hash_ == fresh.corpus_hash_
    assert {q: _ranked(base, q) for q in before} == before  # queries in flight keep the old index intact
    # Saved and loaded, the updated index answers as it did.
    assert len(updated) == len(fresh)


def test_with_changes_embeds_only_the_changed_organisation(tmp_path, orgs):
    from embeddings import EmbeddingCache

    fake = FakeEmbedder(64)
    base = PartnerIndex(fake, cache=EmbeddingCache(tmp_path / "c.sqlite")).fit(orgs, load_challenges())
    before = fake.texts_encoded
    one = orgs[0].model_copy(update={"description": "Entirely new words about scandium from red mud residues."})
    updated = base.with_changes([one])
    assert 0 < fake.texts_encoded - before <= 3  # its profile and its (one or two) evidence sentences
    assert updated.rank("scandium red mud", k=1)[0].organisation.id == one.id


def test_with_changes_retrains_the_challenge_model_when_labels_change(orgs, fake_embedder):
    challenges, projects = load_challenges(), load_projects(FIXTURE_CORPUS)
    labelled = [p for p in projects if p.challenge_areas]
    base = PartnerIndex(fake_embedder).fit(orgs, challenges, labelled)
    relabelled = [labelled[0].model_copy(update={"challenge_areas": [1] if 2 in labelled[0].challenge_areas else [2]}),
                  *labelled[1:]]
    updated = base.with_changes(labelled=relabelled)
    fresh = PartnerIndex(fake_embedder).fit(orgs, challenges, relabelled)
    np.testing.assert_allclose(updated.challenge_alignment_, fresh.challenge_alignment_, atol=1e-6)
    assert updated.labels_hash_ == fresh.labels_hash_ != base.labels_hash_


def test_with_changes_can_delete_everything_but_one_and_refuses_an_empty_index(orgs, fake_embedder):
    base = PartnerIndex(fake_embedder).fit(orgs, load_challenges())
    last = base.with_changes(deleted=[o.id for o in orgs[1:]])
    assert last.ids_ == [orgs[0].id] and last.rank("cobalt", k=5, org_types=[orgs[0].org_type])
    with pytest.raises(IndexNotReady):
        last.with_changes(deleted=[orgs[0].id])


# ---------------------------------------------------------------- approximate search (IVF) and the query cache
QUERIES = ("geology sensor water battery", "lithium cobalt smelter", "magnet recycling", "tailings reclamation water")


def _ids(idx, query, **kw):
    return [m.organisation.id for m in idx.rank(query, k=10, **kw)]


@pytest.fixture(scope="module")
def big_orgs():
    return synthetic_orgs(1500)


@pytest.fixture(scope="module")
def exact_and_approximate(big_orgs):
    fake = FakeEmbedder(256)
    exact = PartnerIndex(fake, diversity=0).fit(big_orgs, load_challenges())
    approximate = PartnerIndex(fake, diversity=0, ann_threshold=500, nprobe=8).fit(big_orgs, load_challenges())
    return exact, approximate


def test_the_index_is_exact_below_the_threshold_and_approximate_above(exact_and_approximate):
    exact, approximate = exact_and_approximate
    assert exact.dense_.mode == "exact" and isinstance(exact.dense_.index, faiss.IndexFlatIP)
    assert approximate.dense_.mode == "ivf" and isinstance(approximate.dense_.units.base, faiss.IndexIVFScalarQuantizer)
    assert approximate.dense_.units.base.nlist == round(1500 ** 0.5)


@pytest.mark.parametrize("countries", [None, ["GB"], ["CA", "US"]])
def test_approximate_results_recall_the_exact_ones_and_respect_filters(exact_and_approximate, big_orgs, countries):
    exact, approximate = exact_and_approximate
    country = {o.id: o.country for o in big_orgs}
    recall = []
    for query in QUERIES:
        want, got = _ids(exact, query, countries=countries), _ids(approximate, query, countries=countries)
        assert len(got) == 10 and all(country[i] in (countries or ["GB", "CA", "US"]) for i in got)
        recall.append(len(set(want) & set(got)) / 10)
    assert np.mean(recall) >= 0.9  # make bench measures >= 0.95 at scale; tiny, word-hashed data is harder


def test_filters_are_cached_per_index_and_respect_type_filters(exact_and_approximate):
    _, approximate = exact_and_approximate
    approximate.filters_.cache_clear()
    for _ in range(3):
        assert {m.organisation.org_type for m in approximate.rank("lithium", k=5, org_types=["rto"])} == {"rto"}
    info = approximate.filters_.cache_info()
    assert info.misses == 1 and info.hits == 2
    # A filter naming organisations (exclusions) is computed for the request, not cached.
    excluded = _ids(approximate, "lithium cobalt smelter")[0]
    assert excluded not in _ids(approximate, "lithium cobalt smelter", exclude=[excluded])
    assert approximate.filters_.cache_info().currsize == 2


def test_approximate_with_changes_uses_a_delta_and_matches_a_fresh_index(exact_and_approximate, big_orgs):
    _, approximate = exact_and_approximate
    changed = big_orgs[0].model_copy(update={"description": "Scandium from red mud residues, scandium alloys."})
    added = Organisation(id="zz-new", name="Red Mud Lab", country="CA", org_type="university",
                         description="Scandium recovery from red mud and bauxite residues.")
    updated = approximate.with_changes([changed, added], deleted=["o7"])
    assert updated.dense_.mode == "ivf" and updated.dense_.units.base is approximate.dense_.units.base  # base shared
    assert len(updated.dense_.units.delta) == 2 and len(updated.dense_.passages.delta) >= 2
    top = _ids(updated, "scandium red mud")
    assert set(top[:2]) == {big_orgs[0].id, "zz-new"} and "o7" not in top
    assert "o7" not in {i for q in QUERIES for i in _ids(updated, q)}
    assert big_orgs[0].id not in _ids(approximate, "scandium red mud")[:2]  # the old index is untouched
    # A second change keeps only the delta rows still in use.
    again = updated.with_changes([changed.model_copy(update={"description": "Tellurium from copper anode slimes."})])
    assert len(again.dense_.units.delta) == 2
    assert _ids(again, "tellurium anode slimes")[0] == big_orgs[0].id


def test_a_large_delta_rebuilds_the_base(exact_and_approximate, big_orgs, monkeypatch):
    from matcher.retrieval.approximate import ApproximateVectors

    _, approximate = exact_and_approximate
    monkeypatch.setattr(ApproximateVectors, "DELTA_REBUILD_MIN", 5)
    monkeypatch.setattr(ApproximateVectors, "DELTA_REBUILD_SHARE", 0.0)
    changed = [o.model_copy(update={"description": f"Germanium from zinc residues, plant {i}."})
               for i, o in enumerate(big_orgs[:10])]
    rebuilt = approximate.with_changes(changed)
    assert rebuilt.dense_.mode == "ivf" and rebuilt.dense_.units.base is not approximate.dense_.units.base
    assert len(rebuilt.dense_.units.delta) == 0 and rebuilt.dense_.units.base.ntotal == len(big_orgs)
    assert set(_ids(rebuilt, "germanium zinc residues")) == {o.id for o in big_orgs[:10]}


def test_shrinking_below_half_the_threshold_goes_back_to_exact(big_orgs):
    fake = FakeEmbedder(64)
    approximate = PartnerIndex(fake, ann_threshold=400).fit(big_orgs[:500], load_challenges())
    smaller = approximate.with_changes(deleted=[o.id for o in big_orgs[:400]])
    assert approximate.dense_.mode == "ivf" and smaller.dense_.mode == "exact" and len(smaller) == 100
    fresh = PartnerIndex(fake, ann_threshold=400).fit(big_orgs[400:500], load_challenges())
    for query in QUERIES:  # the kept vectors were decoded from 8 bits: equal up to ~1e-3 of cosine
        got, want = smaller.rank(query, k=10), fresh.rank(query, k=10)
        assert [m.organisation.id for m in got[:5]] == [m.organisation.id for m in want[:5]]
        np.testing.assert_allclose([m.score for m in got[:5]], [m.score for m in want[:5]], atol=0.01)


def test_an_approximate_index_saves_and_loads(exact_and_approximate, tmp_path):
    _, approximate = exact_and_approximate
    updated = approximate.with_changes([Organisation(id="zz-new", name="Red Mud Lab", country="CA",
                                                     org_type="university", description="Scandium from red mud.")])
    path = updated.save(tmp_path / "ivf.npz")
    loaded = PartnerIndex.load(path, updated.embedder, updated.organisations_, load_challenges(), diversity=0,
                               ann_threshold=500)
    assert loaded.dense_.mode == "ivf" and len(loaded.dense_.units.delta) == 1
    for query in (*QUERIES, "scandium red mud"):
        assert [(m.organisation.id, m.score) for m in loaded.rank(query, k=10)] == \
               [(m.organisation.id, m.score) for m in updated.rank(query, k=10)]
    np.testing.assert_allclose(loaded.challenge_alignment_, updated.challenge_alignment_)


def test_query_embeddings_are_cached_and_read_only(orgs):
    fake = FakeEmbedder(64)
    idx = PartnerIndex(fake, query_cache_size=2).fit(orgs, load_challenges())
    calls = fake.calls
    first = idx.encode_query("cobalt from tailings")
    assert idx.encode_query("cobalt from tailings") is first and fake.calls == calls + 1
    with pytest.raises(ValueError):
        first[0] = 1.0  # shared between requests: nobody may change it
    derived = idx.with_changes(deleted=[orgs[0].id])
    assert derived.encode_query("cobalt from tailings") is first  # the cache outlives index updates
    idx.encode_query("b"), idx.encode_query("c")  # size 2: the first text is evicted
    assert idx.encode_query("cobalt from tailings") is not first
