"""Batch shortlists in the core: constraints, exclusions, infeasibility, decisions feeding back, jobs, exports."""

from __future__ import annotations

import io

import pytest
from pydantic import ValidationError

from matcher import Infeasible, PartnerMatcher, ProjectNotFound, shortlist_to_csv, shortlist_to_xlsx
from matcher.shortlists import ShortlistRequest, Shortlister
from matcher.shortlists.export import EXPORT_COLUMNS, rows_to_csv, rows_to_xlsx
from tests.conftest import EXTRA_PROJECTS


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
    assert summary.greedy_total_score is None or summary.total_score >= summary.greedy_total_score - 1e-9
    assert summary.lowest_score == min(a.score for a in assignments)


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
        ShortlistRequest(per_project=2, min_per_type={"company": 2, "university": 1})
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


def test_unknown_projects_are_named(call):
    with pytest.raises(ProjectNotFound, match="nope"):
        call.shortlists.submit(_request(project_ids=["fx-call-cobalt", "nope"]))


def test_exports_have_one_row_per_assignment_and_defuse_formulas(call):
    job = call.shortlists.run_now(_request())
    text = shortlist_to_csv(job)
    assert text == rows_to_csv([a.to_dict() for a in job.assignments], EXPORT_COLUMNS)
    lines = text.strip().split("\n")
    assert lines[0].split(",")[:3] == ["project_id", "rank", "organisation_id"] and len(lines) == 1 + 9
    assert "'=cmd" in rows_to_csv([{"project_id": "=cmd|' /C calc'!A0"}], EXPORT_COLUMNS)
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(shortlist_to_xlsx(job, decisions=[])))
    assert book.sheetnames == ["assignments", "load", "decisions"]
    sheet = book["assignments"]
    assert sheet.max_row == 1 + 9 and [c.value for c in sheet[1]][:3] == ["project_id", "rank", "organisation_id"]
    assert book["load"].max_row == 1 + 9 and book["decisions"].max_row == 1
    single = load_workbook(io.BytesIO(rows_to_xlsx({"assignments": ([a.to_dict() for a in job.assignments],
                                                                    EXPORT_COLUMNS)})))
    assert single.sheetnames == ["assignments"]


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
