"""Shortlist jobs, assignments and decisions in the database: on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import pytest

from embeddings import FakeEmbedder
from matcher import Organisation, PartnerMatcher, Settings
from matcher.errors import AssignmentNotFound, ShortlistNotFound
from matcher.storage import ShortlistAssignment, ShortlistStore
from tests.conftest import FIXTURE_CORPUS
from tests.test_store import store  # noqa: F401  (fixture: a Store over each backend of database_url)

ROW = ShortlistAssignment(project_id="p1", organisation_id="o1", organisation_name="Org One", country="GB",
                          org_type="university", rank=1, score=0.48, relevance=0.91, fit=0.48, band="good",
                          reason="works on cobalt", decision=None, note="", decided_at=None)


def test_a_job_goes_queued_running_done_with_its_assignments(store):  # noqa: F811
    jobs = ShortlistStore(store)
    sid = jobs.create({"per_project": 1})
    assert jobs.get(sid).status == "queued" and jobs.queued() == [sid]
    assert jobs.claim(sid) and not jobs.claim(sid)
    jobs.heartbeat(sid, 0.5)
    assert jobs.get(sid).progress == 0.5
    other = ROW.model_copy(update={"project_id": "p2", "organisation_id": "o2", "organisation_name": "Org Two"})
    jobs.finish(sid, [ROW, other], {"total_score": 1.82})
    done = jobs.get(sid)
    assert done.status == "done" and done.summary == {"total_score": 1.82} and len(done.assignments) == 2
    assert done.created_at.endswith("Z") and done.assignments[0].decision is None
    # score is the calibrated fit, as on match results; relevance (the solver's) is kept beside it.
    assert [(a.score, a.relevance, a.fit, a.band) for a in done.assignments] == [(0.48, 0.91, 0.48, "good")] * 2
    assert list(done.to_dict()) == ["id", "name", "created_by", "status", "progress", "request", "summary", "error",
                                    "created_at", "updated_at", "assignments"]
    items, total = jobs.list(per_page=10)
    assert total == 1 and items[0].id == sid and "assignments" not in items[0].to_dict()


def test_decisions_are_recorded_in_order_and_rejections_feed_back(store):  # noqa: F811
    # Decisions are taken on organisations that exist (one deleted since is refused: tests/test_hostile.py).
    store.upsert(organisations=[Organisation(id="o1", name="Org One", country="GB", org_type="university",
                                             description="Fixture record for tests.")])
    jobs = ShortlistStore(store)
    sid = jobs.create({})
    jobs.claim(sid)
    jobs.finish(sid, [ROW], {})
    jobs.decide(sid, "p1", "o1", "accepted", "first thoughts")
    row = jobs.decide(sid, "p1", "o1", "rejected", "conflict: shared director")
    assert row.decision == "rejected" and row.decided_at
    assert [d.decision for d in jobs.decisions(sid)] == ["accepted", "rejected"]
    assert jobs.rejected_pairs(["p1", "p2"]) == {"p1": {"o1"}}
    with pytest.raises(AssignmentNotFound):
        jobs.decide(sid, "p1", "nobody", "accepted", "")
    with pytest.raises(ShortlistNotFound):
        jobs.decide("0" * 32, "p1", "o1", "accepted", "")


def test_who_decided_is_stored_and_decisions_can_be_cleared_or_noted(store):  # noqa: F811
    store.upsert(organisations=[Organisation(id="o1", name="Org One", country="GB", org_type="university",
                                             description="Fixture record for tests.")])
    jobs = ShortlistStore(store)
    sid = jobs.create({}, name="Call 7", by="officer-a")
    assert (jobs.get(sid).name, jobs.get(sid).created_by) == ("Call 7", "officer-a")
    assert jobs.rename(sid, "Call 7, round 2").name == "Call 7, round 2"
    jobs.claim(sid)
    jobs.finish(sid, [ROW.model_copy(update={"fit": 0.71, "band": "good"})], {})
    stored = jobs.get(sid).assignments[0]
    assert (stored.score, stored.fit, stored.band, stored.relevance) == (0.71, 0.71, "good", 0.91)  # score: the fit
    jobs.decide(sid, "p1", "o1", "accepted", "first thoughts", by="officer-a")
    cleared = jobs.decide(sid, "p1", "o1", None, by="officer-b")
    assert (cleared.decision, cleared.note, cleared.decided_by) == (None, "first thoughts", "officer-b")
    jobs.decide(sid, "p1", "o1", note="ask about", by="officer-b")
    noted = jobs.decide(sid, "p1", "o1", note="ask about capacity", by="officer-b")  # merged with the last
    assert (noted.decision, noted.note) == (None, "ask about capacity")
    jobs.decide(sid, "p1", "o1", note="ask about capacity first", by="officer-a")  # someone else: a new entry
    assert [(d.decision, d.note, d.decided_by) for d in jobs.decisions(sid)] == [
        ("accepted", "first thoughts", "officer-a"), ("cleared", "first thoughts", "officer-b"),
        ("note", "ask about capacity", "officer-b"), ("note", "ask about capacity first", "officer-a")]
    assert jobs.rejected_pairs(["p1"]) == {} and jobs.accepted_pairs(sid) == {}
    jobs.decide(sid, "p1", "o1", "accepted", by="officer-a")
    assert jobs.accepted_pairs(sid) == {"p1": ["o1"]}
    again = jobs.create({}, by="officer-c")
    jobs.claim(again)
    jobs.finish(again, [ROW], {}, based_on=sid)  # a replacement carries the acceptance over, with who and when
    carried = jobs.get(again).assignments[0]
    assert (carried.decision, carried.note, carried.decided_by) == ("accepted", "ask about capacity first",
                                                                    "officer-a")
    assert [d.decision for d in jobs.decisions(again)] == ["accepted"]


def test_a_job_whose_process_stopped_is_failed_not_left_running(store):  # noqa: F811
    jobs = ShortlistStore(store)
    sid = jobs.create({})
    jobs.claim(sid)
    assert jobs.fail_abandoned() == 0  # its heartbeat is recent
    assert jobs.fail_abandoned(older_than=-1) == 1
    failed = jobs.get(sid)
    assert failed.status == "failed" and failed.error["code"] == "interrupted"


def test_a_whole_shortlist_persists_across_a_restart(database_url, tmp_path):  # noqa: F811
    settings = Settings(data_dir=tmp_path / "var", corpus_dir=FIXTURE_CORPUS, database_url=database_url)
    from matcher.shortlists import ShortlistRequest

    first = PartnerMatcher(settings, embedder=FakeEmbedder(64)).open()
    first.ensure_index()
    job = first.shortlists.run_now(ShortlistRequest(project_ids="all", per_project=2, max_per_organisation=1))
    first.close()
    second = PartnerMatcher(settings, embedder=FakeEmbedder(64)).open()
    again = second.shortlists.get(job.id)
    assert again.status == "done" and again.assignments == job.assignments and len(job.assignments) == 4
    second.close()
