"""Batch shortlists: every constraint holds, the optimum is exact (checked against scipy's MILP), greedy is the
weaker baseline, and infeasible or malformed calls say what is wrong and by how much."""

from __future__ import annotations

import math
import pickle
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import Bounds, LinearConstraint, milp

from matcher.shortlists.solver import SCORE_SCALE, ShortlistConstraints, assign, greedy_assign
from matcher.errors import Infeasible, InvalidRequest

TYPES = ("company", "university", "government")
CONSTRAINT_NAMES = {"per_project", "min_per_type", "max_per_organisation", "combined"}
NAN, NEG_INF = float("nan"), float("-inf")


def scaled_total(result, scores) -> int:
    """The objective the solver optimises: scores rounded to millionths, summed."""
    return int(sum(np.rint(scores[p.project, p.organisation] * SCORE_SCALE) for p in result.pairs))


def milp_optimum(scores: np.ndarray, org_types, constraints: ShortlistConstraints,
                 fixed: tuple[tuple[int, int], ...] = ()) -> int | None:
    """An independent exact formulation over every allowed pair (binary x[p, o], 1 for the fixed pairs); None
    when infeasible."""
    n_projects, n_orgs = scores.shape
    rows, cols = np.nonzero(np.isfinite(scores))
    if rows.size == 0:
        return None
    types = np.asarray(org_types)[cols]
    matrix, lower, upper = [], [], []
    for p in range(n_projects):  # exactly per_project partners
        matrix.append(rows == p)
        lower.append(constraints.per_project)
        upper.append(constraints.per_project)
    for o in range(n_orgs):  # cap per organisation
        matrix.append(cols == o)
        lower.append(0)
        upper.append(constraints.max_per_organisation)
    for org_type, need in constraints.min_per_type.items():  # type minimums per project
        for p in range(n_projects):
            matrix.append((rows == p) & (types == org_type))
            lower.append(need)
            upper.append(np.inf)
    value = np.rint(scores[rows, cols] * SCORE_SCALE)
    low = np.array([1.0 if (int(r), int(c)) in set(fixed) else 0.0 for r, c in zip(rows, cols)])
    res = milp(-value, constraints=LinearConstraint(np.array(matrix, dtype=float), lower, upper),
               integrality=np.ones(rows.size), bounds=Bounds(low, 1))
    if res.status == 2:
        return None
    assert res.status == 0, res.message
    return int(round(-res.fun))


def assert_valid(result, scores: np.ndarray, org_types, constraints: ShortlistConstraints) -> None:
    k = constraints.per_project
    per_project = Counter(p.project for p in result.pairs)
    assert per_project == {p: k for p in range(scores.shape[0])}
    assert len({(p.project, p.organisation) for p in result.pairs}) == len(result.pairs)
    assert max(result.load().values(), default=0) <= constraints.max_per_organisation
    assert sum(result.load().values()) == len(result.pairs)
    for pair in result.pairs:
        assert math.isfinite(scores[pair.project, pair.organisation])
        assert pair.score == scores[pair.project, pair.organisation]
    for project, shortlist in result.by_project().items():
        assert [p.rank for p in shortlist] == list(range(1, k + 1))
        assert all(a.score >= b.score for a, b in zip(shortlist, shortlist[1:]))
        got = Counter(org_types[p.organisation] for p in shortlist)
        for org_type, need in constraints.min_per_type.items():
            assert got[org_type] >= need, (project, org_type)
    assert result.total_score == pytest.approx(sum(p.score for p in result.pairs))


@st.composite
def instances(draw):
    n_projects = draw(st.integers(1, 5))
    n_orgs = draw(st.integers(1, 8))
    # Scores on a 1/20 grid (exact after scaling) with about one pair in six forbidden, as NaN or -inf.
    cell = st.integers(-4, 20).map(lambda v: NAN if v < -2 else NEG_INF if v < 0 else v / 20)
    scores = np.array(draw(st.lists(cell, min_size=n_projects * n_orgs, max_size=n_projects * n_orgs)),
                      dtype=float).reshape(n_projects, n_orgs)
    org_types = draw(st.lists(st.sampled_from(TYPES), min_size=n_orgs, max_size=n_orgs))
    k = draw(st.integers(1, 3))
    minimums, left = {}, k
    for org_type in draw(st.lists(st.sampled_from(TYPES), unique=True, max_size=2)):
        minimums[org_type] = draw(st.integers(0, left))
        left -= minimums[org_type]
    constraints = ShortlistConstraints(k, draw(st.integers(1, 3)), minimums)
    return scores, org_types, constraints


@settings(max_examples=150, deadline=None)
@given(instances())
def test_optimal_meets_every_constraint_and_equals_the_milp_optimum(instance):
    scores, org_types, constraints = instance
    reference = milp_optimum(scores, org_types, constraints)
    if reference is None:
        with pytest.raises(Infeasible) as caught:
            assign(scores, org_types, constraints)
        details = caught.value.details
        assert details["constraint"] in CONSTRAINT_NAMES
        assert details["shortfall"] == details["required"] - details["available"] > 0
        return
    result = assign(scores, org_types, constraints)
    assert_valid(result, scores, org_types, constraints)
    assert scaled_total(result, scores) == reference
    assert result.method == "optimal" and result.exact


@settings(max_examples=150, deadline=None)
@given(instances(), st.randoms(use_true_random=False))
def test_fixed_pairs_are_kept_and_the_rest_is_optimal(instance, random):
    """Pairs fixed before solving (accepted partners kept when rejected ones are replaced) are in every result,
    and the rest is the MILP's optimum with those pairs forced to 1."""
    scores, org_types, constraints = instance
    allowed = [(int(r), int(c)) for r, c in zip(*np.nonzero(np.isfinite(scores)))]
    fixed: list[tuple[int, int]] = []
    for pair in random.sample(allowed, min(len(allowed), random.randint(0, 4))):
        rows, cols = Counter(p for p, _ in fixed), Counter(o for _, o in fixed)
        if rows[pair[0]] < constraints.per_project and cols[pair[1]] < constraints.max_per_organisation:
            fixed.append(pair)
    reference = milp_optimum(scores, org_types, constraints, tuple(fixed))
    for method in ("optimal", "greedy"):
        try:
            result = assign(scores, org_types, constraints, method=method, fixed=fixed)
        except Infeasible as exc:
            assert method == "greedy" or reference is None
            assert exc.details["constraint"] in CONSTRAINT_NAMES | {"fixed", "greedy"}
            continue
        assert_valid(result, scores, org_types, constraints)
        assert set(fixed) <= {(p.project, p.organisation) for p in result.pairs}
        if method == "optimal":
            assert reference is not None and scaled_total(result, scores) == reference


def test_fixed_pairs_are_checked():
    scores = np.array([[0.9, 0.5, NAN], [0.4, 0.8, 0.7]])
    c = ShortlistConstraints(1, 1)
    with pytest.raises(InvalidRequest, match="forbidden"):
        assign(scores, TYPES[:3], c, fixed=[(0, 2)])
    with pytest.raises(InvalidRequest, match="more fixed pairs for one project"):
        assign(scores, TYPES[:3], c, fixed=[(0, 0), (0, 1)])
    with pytest.raises(InvalidRequest, match="max_per_organisation"):
        assign(scores, TYPES[:3], c, fixed=[(0, 0), (1, 0)])
    result = assign(scores, TYPES[:3], c, fixed=[(0, 1)])  # not the best pair for project 0, but kept
    assert {(p.project, p.organisation) for p in result.pairs} == {(0, 1), (1, 2)}


@settings(max_examples=150, deadline=None)
@given(instances())
def test_greedy_meets_every_constraint_and_never_beats_the_optimum(instance):
    scores, org_types, constraints = instance
    try:
        greedy = greedy_assign(scores, org_types, constraints)
    except Infeasible as exc:  # greedy may get stuck where the optimum does not; it never returns partial lists
        assert exc.details["shortfall"] > 0
        return
    assert_valid(greedy, scores, org_types, constraints)
    optimal = assign(scores, org_types, constraints)
    assert optimal.total_score >= greedy.total_score - 1e-9
    assert assign(scores, org_types, constraints, method="greedy").pairs == greedy.pairs


@pytest.mark.parametrize("seed", range(6))
def test_lossless_pruning_drops_pairs_but_keeps_the_optimum(seed):
    # 8 projects x 2 partners, cap 4: the lossless bound keeps 2 + 7*2//4 = 5 per project and pool, of ~13.
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 1000, size=(8, 40)) / 1000
    scores[:, :3] += 0.5  # three "famous" organisations everyone wants
    scores[rng.random(scores.shape) < 0.1] = NAN
    org_types = [TYPES[i % 3] for i in range(40)]
    constraints = ShortlistConstraints(2, 4, {"university": 1})
    result = assign(scores, org_types, constraints)
    assert result.candidate_pairs < np.isfinite(scores).sum() / 2
    assert_valid(result, scores, org_types, constraints)
    assert scaled_total(result, scores) == milp_optimum(scores, org_types, constraints)
    assert result.exact


def test_harder_pruning_is_flagged_as_not_exact_and_still_valid():
    rng = np.random.default_rng(7)
    scores = rng.random((10, 30))
    org_types = [TYPES[i % 3] for i in range(30)]
    constraints = ShortlistConstraints(2, 2, {"company": 1})
    full = assign(scores, org_types, constraints)
    pruned = assign(scores, org_types, constraints, max_candidates=2)
    assert not pruned.exact and pruned.candidate_pairs < full.candidate_pairs
    assert_valid(pruned, scores, org_types, constraints)
    assert pruned.total_score <= full.total_score + 1e-9


def test_greedy_is_suboptimal_when_the_best_pick_blocks_another_project():
    # Greedy gives org 0 to project 0 (0.9) and leaves project 1 with 0.1; swapping gives 0.8 + 0.85.
    scores = np.array([[0.9, 0.8], [0.85, 0.1]])
    constraints = ShortlistConstraints(1, 1)
    greedy = greedy_assign(scores, ["company"] * 2, constraints)
    optimal = assign(scores, ["company"] * 2, constraints)
    assert [(p.project, p.organisation) for p in greedy.pairs] == [(0, 0), (1, 1)]
    assert greedy.total_score == pytest.approx(1.0)
    assert [(p.project, p.organisation) for p in optimal.pairs] == [(0, 1), (1, 0)]
    assert optimal.total_score == pytest.approx(1.65)


def test_greedy_is_suboptimal_when_a_type_minimum_forces_a_poor_pick():
    # Each project needs one university. Greedy gives university 1 to project 0 (0.85), so project 1 must take
    # university 2 at 0.0; the optimum gives project 0 university 2 (0.3) and project 1 university 1 (0.8).
    org_types = ["company", "university", "university", "company"]
    scores = np.array([[0.9, 0.85, 0.3, NAN],
                       [NAN, 0.8, 0.0, 0.7]])
    constraints = ShortlistConstraints(2, 1, {"university": 1})
    greedy = greedy_assign(scores, org_types, constraints)
    optimal = assign(scores, org_types, constraints)
    assert_valid(greedy, scores, org_types, constraints)
    assert_valid(optimal, scores, org_types, constraints)
    assert {(p.project, p.organisation) for p in greedy.pairs} == {(0, 0), (0, 1), (1, 3), (1, 2)}
    assert greedy.total_score == pytest.approx(2.45)
    assert {(p.project, p.organisation) for p in optimal.pairs} == {(0, 0), (0, 2), (1, 1), (1, 3)}
    assert optimal.total_score == pytest.approx(2.7)


def test_greedy_gets_stuck_where_the_optimum_succeeds():
    scores = np.array([[0.9, 0.1], [0.5, NAN]])  # project 1 can only use org 0
    constraints = ShortlistConstraints(1, 1)
    with pytest.raises(Infeasible) as caught:
        greedy_assign(scores, ["company"] * 2, constraints)
    assert caught.value.details == {"constraint": "greedy", "required": 2, "available": 1, "shortfall": 1,
                                    "project": 1, "org_type": None}
    assert "method='optimal'" in caught.value.message
    optimal = assign(scores, ["company"] * 2, constraints)
    assert [(p.project, p.organisation) for p in optimal.pairs] == [(0, 1), (1, 0)]


def test_ties_go_to_the_lower_column():
    scores = np.full((2, 5), 0.5)
    constraints = ShortlistConstraints(2, 1)
    for method in ("optimal", "greedy"):
        result = assign(scores, ["company"] * 5, constraints, method=method)
        assert sorted(p.organisation for p in result.pairs) == [0, 1, 2, 3], method
        assert assign(scores, ["company"] * 5, constraints, method=method).pairs == result.pairs  # deterministic
        shortlist = [p.organisation for p in result.by_project()[0]]
        assert shortlist == sorted(shortlist), method  # equal scores rank by column
    one = assign(np.array([[0.3, 0.5, 0.5, 0.5, 0.2]]), ["company"] * 5, ShortlistConstraints(2, 1))
    assert [(p.organisation, p.rank) for p in one.pairs] == [(1, 1), (2, 2)]


def test_progress_runs_from_zero_to_one():
    rng = np.random.default_rng(3)
    scores = rng.random((20, 50))
    constraints = ShortlistConstraints(3, 2, {"company": 1})
    org_types = [TYPES[i % 3] for i in range(50)]
    for method in ("optimal", "greedy"):
        seen = []
        assign(scores, org_types, constraints, method=method, progress=seen.append)
        assert seen[0] == 0.0 and seen[-1] == 1.0 and len(seen) >= 2
        assert seen == sorted(seen) and all(0.0 <= f <= 1.0 for f in seen)
    seen = []
    assign(scores, org_types, constraints, progress=seen.append)
    assert len(seen) >= 3  # start, network built, end


# --- infeasible calls: which constraint, by how much -------------------------------------------------------------


def test_too_few_places_overall():
    scores = np.full((30, 40), 0.5)
    with pytest.raises(Infeasible) as caught:
        assign(scores, ["company"] * 40, ShortlistConstraints(5, 2))
    assert caught.value.details == {"constraint": "max_per_organisation", "required": 150, "available": 80,
                                    "shortfall": 70, "project": None, "org_type": None}
    assert "30 projects × 5 partners need 150 places" in caught.value.message
    assert "40 eligible organisations × max_per_organisation 2 offer only 80 (short by 70)" in caught.value.message


def test_a_project_with_too_few_eligible_organisations():
    scores = np.full((8, 6), 0.5)
    scores[7, :3] = NAN
    with pytest.raises(Infeasible) as caught:
        assign(scores, ["company"] * 6, ShortlistConstraints(5, 8))
    assert caught.value.details == {"constraint": "per_project", "required": 5, "available": 3, "shortfall": 2,
                                    "project": 7, "org_type": None}
    assert "project 7 has 3 eligible organisations, needs 5" in caught.value.message


def test_a_project_with_too_few_organisations_of_a_required_type():
    org_types = ["company", "company", "university", "university", "company"]
    scores = np.full((4, 5), 0.5)
    scores[3, 4] = NEG_INF
    with pytest.raises(Infeasible) as caught:
        assign(scores, org_types, ShortlistConstraints(4, 4, {"company": 3}))
    assert caught.value.details == {"constraint": "min_per_type", "required": 3, "available": 2, "shortfall": 1,
                                    "project": 3, "org_type": "company"}
    assert "project 3 has only 2 eligible organisations of type 'company'; min_per_type asks for 3" in (
        caught.value.message)


def test_too_few_places_of_a_required_type_overall():
    org_types = ["company", "university", "university", "university"]
    with pytest.raises(Infeasible) as caught:
        assign(np.full((3, 4), 0.5), org_types, ShortlistConstraints(2, 2, {"company": 1}))
    assert caught.value.details == {"constraint": "min_per_type", "required": 3, "available": 2, "shortfall": 1,
                                    "project": None, "org_type": "company"}


def test_a_minimum_for_a_type_no_organisation_has():
    with pytest.raises(Infeasible) as caught:
        assign(np.full((2, 3), 0.5), ["company"] * 3, ShortlistConstraints(2, 2, {"compnay": 1}))
    assert caught.value.details["constraint"] == "min_per_type"
    assert caught.value.details["shortfall"] == 2
    assert "no organisation has type 'compnay' (types present: company)" in caught.value.message


def test_counting_passes_but_projects_compete_for_one_organisation():
    # Projects 0 and 1 can only use org 0 (cap 1); project 2 can use orgs 1 and 2. Every count adds up, yet
    # only 2 of the 3 places can be filled.
    scores = np.array([[0.9, NAN, NAN], [0.8, NAN, NAN], [NAN, 0.5, 0.4]])
    with pytest.raises(Infeasible) as caught:
        assign(scores, ["company"] * 3, ShortlistConstraints(1, 1))
    assert caught.value.details == {"constraint": "combined", "required": 3, "available": 2, "shortfall": 1,
                                    "project": None, "org_type": None}
    assert "only 2 of the 3 places can be filled" in caught.value.message


# --- malformed input ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, fragment", [
    ({"per_project": 0, "max_per_organisation": 1}, "per_project must be a whole number of at least 1"),
    ({"per_project": 2, "max_per_organisation": 0}, "max_per_organisation must be a whole number of at least 1"),
    ({"per_project": True, "max_per_organisation": 1}, "per_project"),
    ({"per_project": 2, "max_per_organisation": 1, "min_per_type": {"company": -1}}, "must be a whole number >= 0"),
    ({"per_project": 2, "max_per_organisation": 1, "min_per_type": {"company": 2, "university": 1}},
     "min_per_type asks for 3 partners per project (2 company, 1 university) but per_project is 2"),
])
def test_invalid_constraints_are_rejected(kwargs, fragment):
    with pytest.raises(InvalidRequest) as caught:
        ShortlistConstraints(**kwargs)
    assert fragment in caught.value.message


@pytest.mark.parametrize("scores, org_types, fragment", [
    (np.zeros((2, 3)), ["company"] * 2, "scores has 3 columns but org_types has 2 types"),
    (np.zeros(3), ["company"] * 3, "scores must be 2-D"),
    (np.array([[0.5, float("inf")]]), ["company"] * 2, "scores[0, 1] is +inf"),
    (np.array([[0.5, 5000.0]]), ["company"] * 2, "rescale them"),
    ([["a", "b"]], ["company"] * 2, "scores must be a numeric"),
])
def test_invalid_inputs_are_rejected(scores, org_types, fragment):
    with pytest.raises(InvalidRequest) as caught:
        assign(scores, org_types, ShortlistConstraints(1, 1))
    assert fragment in caught.value.message


def test_unknown_method_and_too_small_candidate_cap_are_rejected():
    with pytest.raises(InvalidRequest, match="unknown assignment method 'best'"):
        assign(np.zeros((1, 2)), ["company"] * 2, ShortlistConstraints(1, 1), method="best")
    with pytest.raises(InvalidRequest, match="max_candidates must be a whole number >= per_project"):
        assign(np.zeros((1, 4)), ["company"] * 4, ShortlistConstraints(2, 1), max_candidates=1)


def test_constraints_drop_zero_minimums_and_survive_pickling():
    constraints = ShortlistConstraints(3, 2, {"university": 1, "company": 0})
    assert constraints.min_per_type == {"university": 1}
    assert pickle.loads(pickle.dumps(constraints)) == constraints
    assert constraints.as_dict() == {"per_project": 3, "max_per_organisation": 2, "min_per_type": {"university": 1}}


def test_no_projects_gives_an_empty_result():
    result = assign(np.zeros((0, 3)), ["company"] * 3, ShortlistConstraints(2, 1))
    assert result.pairs == [] and result.total_score == 0.0 and result.load() == {}
