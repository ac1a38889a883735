"""Batch shortlists in the core: constraints, exclusions, infeasibility, decisions feeding back, jobs, exports."""

from __future__ import annotations

import csv
import io
import json

import pytest
from pydantic import ValidationError

from matcher import (Conflict, Infeasible, InvalidRequest, PartnerMatcher, ProjectNotFound, shortlist_to_csv,
                     shortlist_to_xlsx)
from matcher.shortlists import ShortlistRequest, Shortlister
from matcher.shortlists.export import EXPORT_COLUMNS, assignment_rows, rows_to_csv
from tests.conftest import EXTRA_PROJECTS

EXTRA_PROJECTS_TITLES = [(p[0], p[1]) for p in EXTRA_PROJECTS]


def _request(**kw) -> ShortlistRequest:
    base = {"project_ids": [p[0] for p in EXTRA_PROJECTS], "per_project": 3, "max_per_organisation": 1}
    return ShortlistRequest(**{**base, **kw})


def test_every_constraint_holds_and_the_optimum_is_no_worse_than_greedy(call):
    request = _request(min_per_type={"company": 1, "university": 1})
    projects = [call.get_project(p[0]) for p in EXTRA_PROJECTS]
    outcome = Shortlister(call.index_).run(request, projects)
    assignments, summary = outcome.assignments, outcome.summary
    by_project: dict[str, list] = {}
    for a in assignments:
        by_project.setdefault(a.project_id, []).append(a)
        assert a.country == "GB" and a.reason  # the projects seek UK partners
        assert a.organisation_id != "fx-tailings-lab"  # never the project's own lead
    assert set(by_project) == {p[0] for p in EXTRA_PROJECTS}
    for rows in by_project.values():
        assert len(rows) == 3 and sorted(r.rank for r in rows) == [1, 2, 3]
        types = [r.org_type for r in rows]
        assert "company" in types and "university" in types
    assert summary.max_load == 1 and len({a.organisation_id for a in assignments}) == 9
    assert summary.greedy_total_relevance is None or \
        summary.total_relevance >= summary.greedy_total_relevance - 1e-9  # the solver's objective
    assert summary.total_relevance == pytest.approx(sum(a.relevance for a in assignments), abs=1e-3)
    assert summary.lowest_score == min(a.score for a in assignments)
    assert summary.total_score == pytest.approx(sum(a.fit for a in assignments), abs=1e-3)


def test_score_is_the_fit_the_project_s_list_shows_and_never_rises_down_a_list(call):
    """``score`` means what it means on match results: the calibrated fit as the project's ranked list shows it
    (the same number as GET /v1/projects/<id>/matches), listed in that list's order; ``relevance`` orders it."""
    job = call.shortlists.run_now(_request(per_project=4, max_per_organisation=2))
    by_project: dict[str, list] = {}
    for a in job.assignments:
        by_project.setdefault(a.project_id, []).append(a)
    for project_id, rows in by_project.items():
        assert [a.rank for a in rows] == [1, 2, 3, 4]
        assert all(a.score == a.fit and a.fit is not None and a.relevance is not None for a in rows)
        assert [a.fit for a in rows] == sorted((a.fit for a in rows), reverse=True)  # never rising down the list
        assert [a.relevance for a in rows] == sorted((a.relevance for a in rows), reverse=True)
        shown = {r["organisation"]["id"]: r for r in
                 call.project_matches(project_id, k=100, explain=False)["results"]}
        for a in rows:  # the match endpoint's number for the same project and organisation
            assert (a.score, a.band) == (shown[a.organisation_id]["score"], shown[a.organisation_id]["band"])


def test_infeasible_requests_say_which_constraint_and_by_how_much(call):
    projects = [call.get_project(p[0]) for p in EXTRA_PROJECTS]
    shortlister = Shortlister(call.index_)
    with pytest.raises(Infeasible) as e:  # 9 eligible UK partners (no funders), 3 projects × 4 at most once each
        shortlister.precheck(_request(per_project=4), projects, {})
    assert e.value.details["constraint"] == "max_per_organisation"
    assert e.value.details["shortfall"] == 12 - 10 and "short by 2" in e.value.message
    with pytest.raises(Infeasible) as e:
        shortlister.precheck(_request(per_project=11, max_per_organisation=3), projects, {})
    assert e.value.details["constraint"] == "per_project" and e.value.details["shortfall"] == 1
    with pytest.raises(Infeasible) as e:
        shortlister.precheck(_request(min_per_type={"rto": 3}), projects, {})
    assert e.value.details == {"constraint": "min_per_type", "project": "fx-call-cobalt", "org_type": "rto",
                               "required": 3, "available": 2, "shortfall": 1}


def test_requests_are_validated_with_clear_messages():
    with pytest.raises(ValidationError, match="per_project is 2"):
        ShortlistRequest(project_ids="all", per_project=2, min_per_type={"company": 2, "university": 1})
    with pytest.raises(ValidationError, match='project_ids is required.*or send "all"') as e:
        ShortlistRequest.model_validate({})  # never every project by accident
    assert e.value.errors()[0]["loc"] == ("project_ids",)
    with pytest.raises(ValidationError, match="project_ids is empty"):
        ShortlistRequest(project_ids=[])
    with pytest.raises(ValidationError):
        ShortlistRequest(per_project=0)


def test_conflicts_and_rejected_pairs_are_never_shortlisted(call):
    jobs = call.shortlists
    first = jobs.run_now(_request(project_ids=["fx-call-cobalt"], per_project=2))
    top = first.assignments[0]
    jobs.decide(first.id, "fx-call-cobalt", top.organisation_id, "rejected", "conflict of interest")
    conflict = first.assignments[1].organisation_id
    second = jobs.run_now(_request(project_ids=["fx-call-cobalt"], per_project=2,
                                   exclude={"fx-call-cobalt": [conflict]}))
    chosen = {a.organisation_id for a in second.assignments}
    assert top.organisation_id not in chosen and conflict not in chosen and len(chosen) == 2
    history = jobs.history(first.id)
    assert history[0].decision == "rejected" and history[0].note == "conflict of interest"


def test_background_job_runs_to_done_and_survives_a_restart(call, settings, fake_embedder):
    jobs = call.shortlists
    job = jobs.submit(_request())
    assert job.status in {"queued", "running", "done"} and job.id
    jobs.wait()
    done = jobs.get(job.id)
    assert done.status == "done" and done.progress == 1.0 and len(done.assignments) == 9
    reopened = PartnerMatcher(settings, embedder=fake_embedder).open()  # a restart: a new process, same database
    again = reopened.shortlists.get(job.id)
    assert again.assignments == done.assignments and again.summary == done.summary
    reopened.close()


def test_a_job_cut_off_by_a_restart_is_failed_and_a_queued_one_resumes(call):
    jobs = call.shortlists
    running = jobs.store.create(_request().model_dump(mode="json"))
    assert jobs.store.claim(running) and not jobs.store.claim(running)  # only one process may run a job
    queued = jobs.store.create(_request().model_dump(mode="json"))
    assert jobs.store.fail_abandoned(older_than=-1) == 1  # its heartbeat stopped: the process is gone
    failed = jobs.get(running)
    assert failed.status == "failed" and "start it again" in failed.error["message"]
    assert jobs.resume() == 1
    jobs.wait()
    assert jobs.get(queued).status == "done"


def test_a_project_listed_twice_is_refused_by_name():
    with pytest.raises(ValidationError, match="project_ids lists fx-call-cobalt more than once; list each project once"):
        _request(project_ids=["fx-call-cobalt", "fx-call-lithium", "fx-call-cobalt"])


def test_unknown_projects_are_named(call):
    with pytest.raises(ProjectNotFound, match="nope"):
        call.shortlists.submit(_request(project_ids=["fx-call-cobalt", "nope"]))
    with pytest.raises(ProjectNotFound, match=r"fx-call-cobolt \(did you mean fx-call-cobalt\?\)"):
        call.shortlists.submit(_request(project_ids=["fx-call-cobolt"]))


def test_a_misspelt_conflict_is_refused_with_the_id_meant_never_ignored(call):
    jobs = call.shortlists
    before = jobs.list(per_page=100).total
    with pytest.raises(InvalidRequest) as e:
        jobs.submit(_request(exclude={"fx-call-cobalt": ["fx-gb-cobalt-unii"]}))
    assert "did you mean fx-gb-cobalt-uni?" in e.value.message and "fx-gb-cobalt-unii" in e.value.message
    assert e.value.details == [{"field": "exclude.fx-call-cobalt", "type": "unknown_organisation",
                                "message": "organisation 'fx-gb-cobalt-unii' is not stored; did you mean "
                                           "fx-gb-cobalt-uni?", "suggestion": "fx-gb-cobalt-uni"}]
    with pytest.raises(InvalidRequest, match="'fx-call-cobolt' is not one of this shortlist's projects; did you mean "
                                             "fx-call-cobalt"):
        jobs.submit(_request(exclude={"fx-call-cobolt": ["fx-gb-cobalt-uni"]}))
    with pytest.raises(InvalidRequest, match="'nobody-at-all' is not stored; check the id"):
        jobs.submit(_request(exclude_organisations=["nobody-at-all"]))
    assert jobs.list(per_page=100).total == before  # nothing was started
    job = jobs.run_now(_request(max_per_organisation=2, exclude={"fx-call-cobalt": ["fx-gb-cobalt-uni"]}))  # it holds
    assert ("fx-call-cobalt", "fx-gb-cobalt-uni") not in {(a.project_id, a.organisation_id) for a in job.assignments}
    with pytest.raises(InvalidRequest, match="did you mean fx-gb-tailings-co"):  # new conflicts when replacing
        jobs.replace_rejected(job.id, exclude={"fx-call-lithium": ["fx-gb-tailing-co"]})
    with pytest.raises(Conflict, match="has no rejected partner to replace: reject one first"):
        jobs.replace_rejected(job.id)  # nothing rejected, no new conflict: nothing would change
    assert jobs.list(per_page=100).total == before + 1  # nothing was started
    first = job.assignments[0]
    jobs.decide(job.id, first.project_id, first.organisation_id, "rejected")
    call.delete_organisation("fx-gb-cobalt-uni")  # a conflict of the base shortlist gone since: no obstacle
    replaced = jobs.replace_rejected(job.id)
    jobs.wait()
    assert jobs.get(replaced.id).status == "done"


def test_exports_have_one_row_per_assignment_and_defuse_formulas(call):
    job = call.shortlists.run_now(_request(name="Call 7 - first pass"), by="officer-a")
    context = call.shortlists.export_context(job, "http://pm.example/")
    text = shortlist_to_csv(job, context)
    assert text == rows_to_csv(assignment_rows(job, context), EXPORT_COLUMNS)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0])[:3] == ["project_id", "project_title", "rank"] and len(rows) == 9
    titles = {p[0]: p[1] for p in EXTRA_PROJECTS}
    for row, a in zip(rows, job.assignments):
        assert row["project_title"] == titles[a.project_id] and row["organisation_name"] == a.organisation_name
        assert row["profile_url"] == f"http://pm.example/organisations/{a.organisation_id}"
        assert row["band"] == (a.band or "") and row["decided_by"] == ""
    assert "'=cmd" in rows_to_csv([{"project_id": "=cmd|' /C calc'!A0"}], EXPORT_COLUMNS)


def test_the_workbook_is_one_an_officer_can_hand_on(call):
    import datetime as dt

    from openpyxl import load_workbook

    job = call.shortlists.run_now(_request(name="Call 7", exclude={"fx-call-cobalt": ["fx-gb-magnet-rto"]}),
                                  by="officer-a")
    first = job.assignments[0]
    call.shortlists.decide(job.id, first.project_id, first.organisation_id, "accepted", "Good fit", by="officer-b")
    job = call.shortlists.get(job.id)
    book = load_workbook(io.BytesIO(shortlist_to_xlsx(job, call.shortlists.history(job.id),
                                                      call.shortlists.export_context(job))))
    assert book.sheetnames == ["assignments", "load", "decisions", "settings"]
    sheet = book["assignments"]
    headers = [c.value for c in sheet[1]]
    assert headers[:5] == ["Project id", "Project", "Rank", "Organisation id", "Organisation"]
    assert sheet.max_row == 1 + 9 and sheet.freeze_panes == "A2" and sheet.auto_filter.ref == "A1:T10"  # organisation_deleted last
    assert all(c.font.bold for c in sheet[1]) and sheet.column_dimensions["O"].width == 60  # the reason
    row = {h: c.value for h, c in zip(headers, sheet[2])}
    assert (row["Decision"], row["Note"], row["Decided by"]) == ("accepted", "Good fit", "officer-b")
    decided = row["Decided (UTC)"]
    assert isinstance(decided, dt.datetime) and abs(decided - dt.datetime.now(dt.UTC).replace(tzinfo=None)) < \
        dt.timedelta(minutes=5)
    assert sheet.cell(row=2, column=headers.index("Decided (UTC)") + 1).number_format == "yyyy-mm-dd hh:mm"
    load = book["load"]
    assert [c.value for c in load[1]] == ["Organisation", "Organisation id", "Country", "Type", "Lists"]
    names = {a.organisation_name for a in job.assignments}
    assert {load.cell(row=r, column=1).value for r in range(2, load.max_row + 1)} == names  # names, not ids
    decisions = book["decisions"]
    assert [c.value for c in decisions[2]][1:] == ["officer-b", job.id, first.project_id,
                                                    dict(EXTRA_PROJECTS_TITLES)[first.project_id],
                                                    first.organisation_id, first.organisation_name, "accepted",
                                                    "Good fit"]
    settings = {r[0].value: r[1].value for r in book["settings"].iter_rows(min_row=2)}
    assert settings["Name"] == "Call 7" and settings["Created by"] == "officer-a"
    assert settings["Partners per project"] == 3 and settings["Conflicts of interest (excluded)"] == \
        "fx-call-cobalt: fx-gb-magnet-rto"
    assert json.loads(settings["Request (JSON)"])["exclude"] == {"fx-call-cobalt": ["fx-gb-magnet-rto"]}


def test_replacing_rejected_keeps_accepted_and_their_decisions(call):
    jobs = call.shortlists
    job = jobs.run_now(_request(name="Round 1"), by="officer-a")
    by_project: dict[str, list] = {}
    for a in job.assignments:
        by_project.setdefault(a.project_id, []).append(a)
    accepted = [rows[0] for rows in by_project.values()]
    rejected = [rows[1] for rows in by_project.values()]
    for a in accepted:
        jobs.decide(job.id, a.project_id, a.organisation_id, "accepted", "keep", by="officer-a")
    for a in rejected:
        jobs.decide(job.id, a.project_id, a.organisation_id, "rejected", "no", by="officer-b")
    conflict = by_project["fx-call-cobalt"][2]
    new = jobs.replace_rejected(job.id, exclude={"fx-call-cobalt": [conflict.organisation_id]}, by="officer-c")
    jobs.wait()
    new = jobs.get(new.id)
    assert new.status == "done", new.error
    assert new.name == "Round 1 (rejected replaced)" and new.created_by == "officer-c"
    assert new.request["based_on"] == job.id
    pairs = {(a.project_id, a.organisation_id): a for a in new.assignments}
    for a in accepted:  # kept, with the officer's decision, note and name
        kept = pairs[(a.project_id, a.organisation_id)]
        assert (kept.decision, kept.note, kept.decided_by) == ("accepted", "keep", "officer-a")
    for a in rejected:
        assert (a.project_id, a.organisation_id) not in pairs
    assert ("fx-call-cobalt", conflict.organisation_id) not in pairs
    assert len(new.assignments) == 9 and max(new.summary["load"].values()) <= 1
    assert [h.decision for h in jobs.history(new.id)] == ["accepted"] * 3


def test_a_decision_can_be_cleared_and_a_note_changed_alone(call):
    jobs = call.shortlists
    job = jobs.run_now(_request())
    a = job.assignments[0]
    jobs.decide(job.id, a.project_id, a.organisation_id, "rejected", "too far", by="officer-a")
    cleared = jobs.decide(job.id, a.project_id, a.organisation_id, None, by="officer-a")
    assert (cleared.decision, cleared.note, cleared.decided_by) == (None, "too far", "officer-a")
    for text in ("Call", "Call them", "Call them on Monday"):  # typed in several saves: one history entry
        noted = jobs.decide(job.id, a.project_id, a.organisation_id, note=text, by="officer-b")
    assert (noted.decision, noted.note, noted.decided_by) == (None, "Call them on Monday", "officer-b")
    history = [(h.decision, h.note, h.decided_by) for h in jobs.history(job.id)]
    assert history == [("rejected", "too far", "officer-a"), ("cleared", "too far", "officer-a"),
                       ("note", "Call them on Monday", "officer-b")]
    assert a.organisation_id not in jobs.store.rejected_pairs([a.project_id]).get(a.project_id, set())


def test_a_shortlist_is_named_and_renamed(call):
    jobs = call.shortlists
    job = jobs.run_now(_request(name="Magnets call, first pass"))
    assert job.name == "Magnets call, first pass" and "name" not in job.request
    assert jobs.rename(job.id, "Magnets call").name == "Magnets call" == jobs.get(job.id).name


def test_kept_partners_that_are_also_excluded_are_refused():
    with pytest.raises(ValidationError, match="both keeps and excludes"):
        _request(keep={"fx-call-cobalt": ["fx-gb-magnet-rto"]}, exclude={"fx-call-cobalt": ["fx-gb-magnet-rto"]})


def test_one_feasibility_check_counts_the_same_from_filter_rows_or_a_score_matrix():
    import numpy as np

    from matcher.shortlists.feasibility import Eligibility, find_shortfall

    rng = np.random.default_rng(7)
    names = np.array(["company", "rto", "university"])
    for _ in range(200):
        n_projects, n_orgs = int(rng.integers(1, 6)), int(rng.integers(1, 12))
        allowed = rng.random((n_projects, n_orgs)) < 0.5
        types = names[rng.integers(0, 3, n_orgs)]
        per_project, cap = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        minimums = {t: 1 for t in names if rng.random() < 0.4}
        used = allowed.any(axis=0)  # the filter rows name only organisations eligible somewhere
        present, codes = np.unique(types[used], return_inverse=True)
        from_matrix = Eligibility.of_matrix(allowed[:, used], codes.reshape(-1), list(present), minimums)
        from_rows = Eligibility.of_rows([np.flatnonzero(row) for row in allowed], types, minimums)
        expected, got = (find_shortfall(e, per_project, cap, minimums) for e in (from_matrix, from_rows))
        assert (expected is None) == (got is None)
        if expected is not None:
            assert expected.error(["a", "b", "c", "d", "e"]).details == got.error(["a", "b", "c", "d", "e"]).details
            assert expected.describe("'a'") == got.describe("'a'")


def test_a_kept_partner_ranked_apart_is_listed_last_and_never_shows_a_higher_fit(call):
    from matcher.shortlists.shortlister import Shown
    from matcher.shortlists.solver import Assignment

    # Columns 0 and 1 from the project's list (places 3 and 0), column 2 a kept partner the search no longer
    # returned (ranked on its own, placed after the list) whose own fit is higher than theirs.
    shown = {0: Shown(3, 0.71, 0.45, "good"), 1: Shown(0, 0.93, 0.62, "strong"), 2: Shown(150, 1.0, 0.8, "strong")}
    pairs = [Assignment(0, c, r, shown[c].relevance) for r, c in enumerate((2, 1, 0), start=1)]
    listed = Shortlister(call.index_).in_list_order(pairs, shown)
    assert [(p.organisation, fit, band) for p, fit, band in listed] == [(1, 0.62, "strong"), (0, 0.45, "good"),
                                                                         (2, 0.45, "good")]
