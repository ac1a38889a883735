"""Batch shortlists: give every project of a call its partners at once, fairly and optimally.

Ranking each project alone puts the same famous organisations on every list. Here the shortlists are allocated
together: each project gets exactly ``per_project`` distinct organisations, no organisation sits on more than
``max_per_organisation`` lists, each project gets at least ``min_per_type[t]`` organisations of type ``t``, and the
total score is as high as those rules allow. A NaN or -inf score forbids a pair (a project's own lead
organisation, a conflict, a rejected pair, a country filter); forbidden pairs are never chosen.

Why min-cost flow (OR-Tools' ``SimpleMinCostFlow``) rather than a MILP: the problem is a bipartite b-matching
whose project-side constraints (one total per project, one lower bound per project and type) form a laminar
family, so it is exactly a network flow: a flow solver returns an integral optimum directly, with no
branch-and-bound, and handles the millions of candidate pairs of a large call (timings:
``benchmarks/bench_assignment.py``). The type minimums are lower bounds on the arcs
project -> (project, type); they become node supplies: project p supplies ``per_project - sum(min_per_type)``
and node (p, t) supplies ``min_per_type[t]``, so every unit of a minimum must leave through an organisation of
type t. Flow solvers need integer costs, so scores are scaled by ``SCORE_SCALE`` (1e6) and rounded: the optimum
is exact for scores rounded to 6 decimals. Ties are broken towards lower column indices by a secondary cost
(the column index) that is smaller than one unit of the primary one; see ``_costs``.

Candidate pruning is lossless by default, not a heuristic. For project p and a pool of interchangeable
organisations (one pool per type with a minimum, one pool for all other types), keep the best
``K = per_project + floor((P - 1) * per_project / max_per_organisation)`` eligible ones. Proof: take an optimum
that uses some pruned pair (p, o). At most ``per_project - 1`` of the kept ones are already on p's list, and at
most ``floor((P - 1) * per_project / max_per_organisation)`` organisations can be full with lists other than
p's, so some kept organisation o' of the same pool has room and is not on p's list. Swapping o for o' keeps every
constraint (the same type, or in the shared pool two types without a minimum, so every minimum still holds) and
does not lower the objective (o' ranks above o: a higher score, or an equal one at a lower column). Each swap
removes one pruned pair, so repeating it reaches an optimum that uses only kept pairs; pruning also never turns
a feasible call infeasible. The ``max_candidates`` argument can prune harder for very large calls; the result
is then optimal over the pruned candidate set only, and ``AssignmentResult.exact`` says so.

Fixed pairs (``fixed``: pairs an officer accepted, kept when the rejected ones are replaced) are placed before
solving: each uses one of its project's places (a place of its type's minimum first) and one of its
organisation's ``max_per_organisation``; the flow fills the rest. The pruning argument above still holds, as a
fixed pair counts as one of the lists that can fill an organisation.
"""

from __future__ import annotations

import heapq
import numbers
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from ortools.graph.python import min_cost_flow

from matcher.errors import InvalidRequest, MatcherError
from matcher.shortlists.feasibility import Eligibility, Shortfall, find_shortfall

SCORE_SCALE = 1_000_000  # scores become integers in millionths: flow solvers need integer costs
MAX_ABS_SCORE = 1_000.0  # keeps scaled costs far inside int64 (the solver multiplies costs by the node count)
METHODS = ("optimal", "greedy")
_COST_LIMIT = 2**62  # OR-Tools rejects costs whose magnitude times (nodes + 1) overflows int64; keep a margin
_PRUNED_OUT = np.iinfo(np.int64).min // 2  # sort key of a forbidden pair: below every real key

Progress = Callable[[float], None]


@dataclass(frozen=True)
class ShortlistConstraints:
    """What every shortlist of the call must satisfy. Invalid values raise ``InvalidRequest`` at construction.

    ``min_per_type`` is stored as a sorted copy without zero entries.
    """

    per_project: int  # exactly this many partners per project (>= 1)
    max_per_organisation: int  # no organisation on more than this many projects' lists (>= 1)
    min_per_type: Mapping[str, int] = field(default_factory=dict)  # per project, at least this many of each type

    def __post_init__(self) -> None:
        for name in ("per_project", "max_per_organisation"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise InvalidRequest(f"{name} must be a whole number of at least 1, got {value!r}",
                                     {"field": name, "value": repr(value)})
        if not isinstance(self.min_per_type, Mapping):
            raise InvalidRequest("min_per_type must map organisation types to counts, e.g. {\"company\": 1}",
                                 {"field": "min_per_type"})
        minimums = {}
        for org_type, count in self.min_per_type.items():
            if not isinstance(org_type, str) or not org_type:
                raise InvalidRequest(f"min_per_type keys must be organisation type names, got {org_type!r}",
                                     {"field": "min_per_type"})
            if not _is_int(count) or count < 0:
                raise InvalidRequest(f"min_per_type[{org_type!r}] must be a whole number >= 0, got {count!r}",
                                     {"field": "min_per_type", "org_type": org_type})
            if count:
                minimums[org_type] = int(count)
        if sum(minimums.values()) > self.per_project:
            raise InvalidRequest(
                f"min_per_type asks for {sum(minimums.values())} partners per project ({_describe(minimums)}) but "
                f"per_project is {self.per_project}; lower a minimum or raise per_project",
                {"field": "min_per_type", "required": sum(minimums.values()), "per_project": self.per_project})
        object.__setattr__(self, "per_project", int(self.per_project))
        object.__setattr__(self, "max_per_organisation", int(self.max_per_organisation))
        # A plain dict copy (not a read-only proxy) so constraints pickle into job queues.
        object.__setattr__(self, "min_per_type", dict(sorted(minimums.items())))

    def as_dict(self) -> dict[str, object]:
        return {"per_project": self.per_project, "max_per_organisation": self.max_per_organisation,
                "min_per_type": dict(self.min_per_type)}


@dataclass(frozen=True)
class Assignment:
    """One (project, organisation) pair chosen."""

    project: int  # row index into the score matrix
    organisation: int  # column index
    rank: int  # 1..per_project within its project, by score descending (ties: lower column first)
    score: float


@dataclass
class AssignmentResult:
    pairs: list[Assignment]  # sorted by project, then rank
    total_score: float
    method: str  # "optimal" or "greedy"
    seconds: float
    exact: bool = False  # a proven optimum over every allowed pair (optimal method, lossless pruning)
    candidate_pairs: int = 0  # pairs the method considered (optimal: arcs given to the solver)

    def load(self) -> dict[int, int]:
        """Organisation column -> number of projects it is on."""
        return dict(sorted(Counter(pair.organisation for pair in self.pairs).items()))

    def by_project(self) -> dict[int, list[Assignment]]:
        """Project row -> its shortlist, best first."""
        out: dict[int, list[Assignment]] = {}
        for pair in self.pairs:
            out.setdefault(pair.project, []).append(pair)
        return out


def assign(scores: np.ndarray, org_types: Sequence[str], constraints: ShortlistConstraints, *,
           method: str = "optimal", progress: Progress | None = None,
           max_candidates: int | None = None, project_ids: Sequence[str] | None = None,
           fixed: Sequence[tuple[int, int]] = ()) -> AssignmentResult:
    """Allocate shortlists for every project (rows of ``scores``) from the organisations (columns).

    ``method="optimal"`` maximises the total score exactly (see the module docstring for the formulation and why
    the default candidate pruning loses nothing); ``max_candidates`` caps the candidates kept per project and
    pool below that lossless bound, making the result optimal over the pruned set only (``exact`` is then False).
    ``method="greedy"`` runs the baseline, ``greedy_assign`` (``max_candidates`` does not apply to it).
    ``progress(fraction)`` is called with values from
    0 to 1. Raises ``InvalidRequest`` for malformed input and ``Infeasible`` when no allocation exists; its
    message and details name a project by ``project_ids[row]`` when given, else by its row number.
    ``fixed`` lists (row, column) pairs that must be in the result (allowed pairs, within the limits).
    """
    if method not in METHODS:
        raise InvalidRequest(f"unknown assignment method {method!r}; use one of {', '.join(METHODS)}",
                             {"field": "method", "allowed": list(METHODS)})
    if method == "greedy":
        return greedy_assign(scores, org_types, constraints, progress=progress, project_ids=project_ids,
                             fixed=fixed)
    started = time.perf_counter()
    report = _reporter(progress)
    report(0.0)
    problem = _Problem.build(scores, org_types, constraints, fixed)
    if max_candidates is not None and (not _is_int(max_candidates) or max_candidates < constraints.per_project):
        raise InvalidRequest(f"max_candidates must be a whole number >= per_project ({constraints.per_project}), "
                             f"got {max_candidates!r}; leave it unset for the lossless default",
                             {"field": "max_candidates"})
    problem.check_counts(project_ids)
    report(0.05)
    if problem.n_projects == 0:
        report(1.0)
        return AssignmentResult([], 0.0, "optimal", time.perf_counter() - started, exact=True)
    lossless = problem.lossless_candidates()
    keep = lossless if max_candidates is None else min(int(max_candidates), lossless)
    network = _Network.build(problem, keep)
    report(0.4)
    rows, cols = network.solve(problem, pruned=keep < lossless, project_ids=project_ids)
    rows, cols = np.concatenate([rows, problem.fixed_rows]), np.concatenate([cols, problem.fixed_cols])
    report(0.95)
    result = _result(problem, rows, cols, "optimal", started, exact=keep >= lossless,
                     candidate_pairs=network.n_candidates)
    report(1.0)
    return result


def greedy_assign(scores: np.ndarray, org_types: Sequence[str], constraints: ShortlistConstraints, *,
                  progress: Progress | None = None, project_ids: Sequence[str] | None = None,
                  fixed: Sequence[tuple[int, int]] = ()) -> AssignmentResult:
    """Baseline kept for comparison: repeatedly take the best remaining allowed pair.

    A pair is allowed when its project is not full, its organisation is below its cap, and, once a project's
    remaining places equal its unmet type minimums, the organisation is of a type still short. Ties go to the
    lower column, then the lower project row. Greedy can get stuck on calls the optimum solves (an early pick
    takes the only organisation another project could use); it then raises ``Infeasible`` with constraint
    ``"greedy"`` rather than returning partial shortlists, so callers never see a list shorter than asked.
    Calls that the counting checks prove infeasible raise the same ``Infeasible`` as the optimal method; greedy
    runs no flow, so a call infeasible only through competition (constraint ``"combined"``) is reported as stuck.
    """
    started = time.perf_counter()
    report = _reporter(progress)
    report(0.0)
    problem = _Problem.build(scores, org_types, constraints, fixed)
    problem.check_counts(project_ids)
    k, cap = problem.per_project, problem.cap
    minimum = problem.type_minimums()  # per type code, 0 when none
    taken = np.bincount(problem.fixed_rows, minlength=problem.n_projects).astype(np.int64)
    have = np.zeros((problem.n_projects, len(problem.type_names)), dtype=np.int64)
    np.add.at(have, (problem.fixed_rows, problem.types[problem.fixed_cols]), 1)
    unmet = np.maximum(minimum[None, :] - have, 0).sum(axis=1).astype(np.int64)
    load = np.bincount(problem.fixed_cols, minlength=problem.n_orgs).astype(np.int64)
    open_scores, open_allowed = problem.open_pairs()
    # Each project walks its own candidates best first; a heap holds every open project's current best, so the
    # heap top is the globally best remaining pair. A rejected pair never becomes allowed again (caps only fill,
    # and a project that must fill minimums stays in that state), so each pair is looked at once.
    walkers = [_CandidateWalk(open_scores[p], open_allowed[p], k) for p in range(problem.n_projects)]
    heap = []
    for p, walk in enumerate(walkers):
        if taken[p] < k and (col := walk.next()) is not None:
            heap.append((-problem.scores[p, col], col, p))
    heapq.heapify(heap)
    rows, cols = [], []
    examined = 0
    while heap:
        _, col, p = heapq.heappop(heap)
        examined += 1
        t = problem.types[col]
        must_fill_minimums = k - taken[p] == unmet[p]
        if load[col] < cap and (not must_fill_minimums or have[p, t] < minimum[t]):
            rows.append(p)
            cols.append(col)
            load[col] += 1
            taken[p] += 1
            if have[p, t] < minimum[t]:
                unmet[p] -= 1
            have[p, t] += 1
            if len(rows) % 256 == 0:
                report(0.05 + 0.9 * len(rows) / (problem.n_projects * k))
        if taken[p] < k and (nxt := walkers[p].next()) is not None:
            heapq.heappush(heap, (-problem.scores[p, nxt], nxt, p))
    required = problem.n_projects * k
    rows.extend(int(r) for r in problem.fixed_rows)
    cols.extend(int(c) for c in problem.fixed_cols)
    if len(rows) < required:
        stuck, placed = int(np.flatnonzero(taken < k)[0]), len(rows)
        found = int(taken[stuck])
        raise Shortfall("greedy", required, placed, lambda name: (
            f"the greedy baseline filled only {placed} of {required} places (short by {required - placed}): "
            f"project {name} ran out of eligible organisations with room ({found} of {k} found), "
            "as earlier picks used them up; method='optimal' finds a full allocation when one exists, or says "
            "which constraint cannot be met"), project=stuck).error(project_ids)
    result = _result(problem, np.asarray(rows), np.asarray(cols), "greedy", started, exact=False,
                     candidate_pairs=examined)
    report(1.0)
    return result


# --- input and counting checks -------------------------------------------------------------------------------


@dataclass
class _Problem:
    scores: np.ndarray  # float64 P x O, forbidden pairs set to -inf
    allowed: np.ndarray  # bool P x O
    types: np.ndarray  # int type code per organisation column
    type_names: list[str]
    minimums: dict[str, int]  # from the constraints (positive entries only)
    per_project: int
    cap: int
    fixed_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # pairs placed before solving
    fixed_cols: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    @property
    def n_projects(self) -> int:
        return self.scores.shape[0]

    @property
    def n_orgs(self) -> int:
        return self.scores.shape[1]

    @classmethod
    def build(cls, scores, org_types: Sequence[str], constraints: ShortlistConstraints,
              fixed: Sequence[tuple[int, int]] = ()) -> _Problem:
        if not isinstance(constraints, ShortlistConstraints):
            raise InvalidRequest("constraints must be a ShortlistConstraints", {"field": "constraints"})
        try:
            matrix = np.array(scores, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InvalidRequest(f"scores must be a numeric projects x organisations matrix ({exc})",
                                 {"field": "scores"}) from None
        if matrix.ndim != 2:
            raise InvalidRequest(f"scores must be 2-D (projects x organisations), got shape {matrix.shape}",
                                 {"field": "scores", "shape": list(matrix.shape)})
        if isinstance(org_types, str) or len(org_types) != matrix.shape[1]:
            got = "a string" if isinstance(org_types, str) else f"{len(org_types)} types"
            raise InvalidRequest(f"org_types must give one type per organisation column: scores has "
                                 f"{matrix.shape[1]} columns but org_types has {got}",
                                 {"field": "org_types", "columns": matrix.shape[1]})
        if any(not isinstance(t, str) for t in org_types):
            raise InvalidRequest("org_types must be strings such as 'company' or 'university'",
                                 {"field": "org_types"})
        if np.isposinf(matrix).any():
            row, col = (int(i) for i in np.argwhere(np.isposinf(matrix))[0])
            raise InvalidRequest(f"scores[{row}, {col}] is +inf; scores must be finite, or NaN / -inf to forbid "
                                 "a pair", {"field": "scores", "project": row, "organisation": col})
        allowed = np.isfinite(matrix)
        if allowed.any() and np.abs(matrix[allowed]).max() > MAX_ABS_SCORE:
            raise InvalidRequest(f"scores must lie within +/-{MAX_ABS_SCORE:g} (similarity scores are usually in "
                                 "[0, 1]); rescale them", {"field": "scores"})
        matrix[~allowed] = -np.inf
        type_names, codes = np.unique(np.asarray(list(org_types), dtype=str), return_inverse=True)
        fixed_rows, fixed_cols = _fixed_pairs(fixed, allowed, constraints)
        return cls(matrix, allowed, codes.astype(np.int64).reshape(-1), [str(t) for t in type_names],
                   dict(constraints.min_per_type), constraints.per_project, constraints.max_per_organisation,
                   fixed_rows, fixed_cols)

    def open_pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """Scores and allowed mask of the pairs still to choose from: the fixed ones are already placed."""
        scores, allowed = self.scores.copy(), self.allowed.copy()
        scores[self.fixed_rows, self.fixed_cols] = -np.inf
        allowed[self.fixed_rows, self.fixed_cols] = False
        return scores, allowed

    def open_places(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """After the fixed pairs: each project's places not reserved for a minimum, (projects, min types) places
        still reserved, and each organisation's remaining room. Fixed pairs fill their type's minimum first."""
        min_codes = [self.type_names.index(t) for t in self.minimums]
        have = np.zeros((self.n_projects, len(self.type_names)), dtype=np.int64)
        np.add.at(have, (self.fixed_rows, self.types[self.fixed_cols]), 1)
        need = np.array([self.minimums[t] for t in self.minimums], dtype=np.int64)
        reserved = np.maximum(need[None, :] - have[:, min_codes], 0) if min_codes else np.zeros((self.n_projects, 0),
                                                                                                  np.int64)
        free = self.per_project - have.sum(axis=1) - reserved.sum(axis=1)
        room = self.cap - np.bincount(self.fixed_cols, minlength=self.n_orgs)
        return free.astype(np.int64), reserved.astype(np.int64), room.astype(np.int64)

    def type_minimums(self) -> np.ndarray:
        """Minimum per type code (0 for types without one)."""
        return np.array([self.minimums.get(name, 0) for name in self.type_names], dtype=np.int64)

    def lossless_candidates(self) -> int:
        """Candidates per project and pool that provably keep an optimum (proof in the module docstring)."""
        return self.per_project + (self.n_projects - 1) * self.per_project // self.cap

    def check_counts(self, project_ids: Sequence[str] | None = None) -> None:
        """Raise ``Infeasible`` for the shortfalls simple counting can prove (``matcher.shortlists.feasibility``),
        and when a project's fixed pairs leave too few places for its type minimums."""
        eligibility = Eligibility.of_matrix(self.allowed, self.types, self.type_names, self.minimums)
        shortfall = find_shortfall(eligibility, self.per_project, self.cap, self.minimums)
        if shortfall is not None:
            raise shortfall.error(project_ids)
        open_free = self.open_places()[0]
        if (open_free < 0).any():
            row, k = int(np.flatnonzero(open_free < 0)[0]), self.per_project
            raise Shortfall("fixed", k, int(k + open_free[row]), lambda name: (
                f"the partners kept for project {name} leave no room for its minimum per type; keep fewer partners "
                "of other types or lower the minimum"), project=row).error(project_ids)


# --- the optimal method: min-cost flow ---------------------------------------------------------------------------


@dataclass
class _Network:
    """The flow network: projects (and (project, type) nodes) -> organisations -> sink."""

    flow: min_cost_flow.SimpleMinCostFlow
    arc_rows: np.ndarray  # project row of each candidate arc (arcs 0..n_candidates-1)
    arc_cols: np.ndarray  # organisation column of each candidate arc
    keep: int

    @property
    def n_candidates(self) -> int:
        return int(self.arc_rows.size)

    @classmethod
    def build(cls, problem: _Problem, keep: int) -> _Network:
        P, n_orgs, k = problem.n_projects, problem.n_orgs, problem.per_project
        min_types = [problem.type_names.index(t) for t in problem.minimums]
        free = k - sum(problem.minimums.values())  # places per project not reserved for a type minimum
        open_free, reserved, room = problem.open_places()  # the same, once the fixed pairs are placed
        _, open_allowed = problem.open_pairs()
        # Nodes: projects 0..P-1, then one node per (project, type with a minimum), organisations, the sink.
        type_base, org_base = P, P + P * len(min_types)
        sink = org_base + n_orgs
        pools = [(problem.types == code, type_base + np.arange(P) * len(min_types) + j)
                 for j, code in enumerate(min_types)]
        if free > 0:  # every other type shares one pool fed by the project node
            pools.append((~np.isin(problem.types, min_types), np.arange(P)))
        scaled = np.rint(problem.scores * SCORE_SCALE)  # -inf stays -inf for forbidden pairs
        rows, cols, tails = [], [], []
        for in_pool, pool_nodes in pools:
            pool_cols = np.flatnonzero(in_pool)
            r, c = _top_candidates(scaled[:, pool_cols], open_allowed[:, pool_cols], keep)
            rows.append(r)
            cols.append(pool_cols[c])
            tails.append(pool_nodes[r])
        arc_rows, arc_cols = np.concatenate(rows), np.concatenate(cols)
        flow = min_cost_flow.SimpleMinCostFlow()
        n_nodes = sink + 1
        costs = _costs(scaled[arc_rows, arc_cols].astype(np.int64), arc_cols, P * k, n_orgs, n_nodes)
        flow.add_arcs_with_capacity_and_unit_cost(np.concatenate(tails), org_base + arc_cols,
                                                  np.ones(arc_rows.size, np.int64), costs)
        if min_types and free > 0:  # the part of each project's flow not reserved may also go to any type
            for j in range(len(min_types)):
                type_nodes = type_base + np.arange(P) * len(min_types) + j
                flow.add_arcs_with_capacity_and_unit_cost(np.arange(P), type_nodes, open_free,
                                                          np.zeros(P, np.int64))
        flow.add_arcs_with_capacity_and_unit_cost(org_base + np.arange(n_orgs), np.full(n_orgs, sink), room,
                                                  np.zeros(n_orgs, np.int64))
        supplies = np.zeros(n_nodes, np.int64)
        supplies[:P] = open_free
        for j in range(len(min_types)):
            supplies[type_base + np.arange(P) * len(min_types) + j] = reserved[:, j]
        supplies[sink] = -int(supplies[:sink].sum())
        flow.set_nodes_supplies(np.arange(n_nodes), supplies)
        return cls(flow, arc_rows, arc_cols, keep)

    def solve(self, problem: _Problem, *, pruned: bool,
              project_ids: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
        status = self.flow.solve()
        if status == self.flow.OPTIMAL:
            chosen = self.flow.flows(np.arange(self.n_candidates)) > 0
            return self.arc_rows[chosen], self.arc_cols[chosen]
        if status in (self.flow.INFEASIBLE, self.flow.UNBALANCED):
            self.flow.solve_max_flow_with_min_cost()
            required = problem.n_projects * problem.per_project
            placed = int(self.flow.maximum_flow())
            scope = (f" among the top {self.keep} candidates per project and type (raise max_candidates or leave it "
                     "unset)" if pruned else "")
            raise Shortfall("combined", required, placed, lambda _: (
                f"once every organisation's cap (max_per_organisation {problem.cap}) and each project's type "
                f"minimums are respected, only {placed} of the {required} places can be filled{scope} (short by "
                f"{required - placed}): some projects compete for the same few eligible organisations; lift "
                "exclusions, raise max_per_organisation or lower per_project")).error(project_ids)
        raise MatcherError(f"the min-cost-flow solver stopped with status {status.name}; this is a bug, please "
                           "report it with the call's size and constraints")


def _top_candidates(scaled: np.ndarray, allowed: np.ndarray, keep: int) -> tuple[np.ndarray, np.ndarray]:
    """(row, column) of each row's best ``keep`` allowed entries, ties to the lower column."""
    n = scaled.shape[1]
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    # One int64 key per pair: score first, then the lower column (scores are bounded, so this cannot overflow).
    key = np.where(allowed, np.where(allowed, scaled, 0).astype(np.int64) * n + (n - 1 - np.arange(n)),
                   _PRUNED_OUT)
    if keep < n:
        idx = np.argpartition(-key, keep - 1, axis=1)[:, :keep]
    else:
        idx = np.broadcast_to(np.arange(n), key.shape)
    ok = np.take_along_axis(allowed, idx, axis=1)
    rows = np.broadcast_to(np.arange(scaled.shape[0])[:, None], idx.shape)
    return rows[ok].astype(np.int64), idx[ok].astype(np.int64)


def _costs(scaled: np.ndarray, cols: np.ndarray, places: int, n_orgs: int, n_nodes: int) -> np.ndarray:
    """Arc costs: minus the scaled score, made lexicographic with the column index as tie-break.

    The secondary term (the column) summed over all places stays below ``weight``, so it can only choose among
    allocations of equal total score, preferring lower columns. When the weighted costs would not fit the
    solver's int64 range, ties are left to the solver (still deterministic) and only the primary cost is used.
    """
    weight = places * n_orgs + 1
    biggest = int(np.abs(scaled).max(initial=0)) * weight + n_orgs
    if biggest * max(n_nodes + 1, places) <= _COST_LIMIT:
        return -scaled * weight + cols
    return -scaled


# --- results ------------------------------------------------------------------------------------------------------


def _result(problem: _Problem, rows: np.ndarray, cols: np.ndarray, method: str, started: float, *, exact: bool,
            candidate_pairs: int) -> AssignmentResult:
    rows, cols = rows.astype(np.int64), cols.astype(np.int64)
    values = problem.scores[rows, cols]
    order = np.lexsort((cols, -values, rows))  # by project, then score descending, then lower column
    rows, cols, values = rows[order], cols[order], values[order]
    starts = np.searchsorted(rows, rows, side="left")
    ranks = np.arange(rows.size) - starts + 1
    pairs = [Assignment(int(r), int(c), int(k), float(v)) for r, c, k, v in zip(rows, cols, ranks, values)]
    return AssignmentResult(pairs, float(values.sum()), method, time.perf_counter() - started, exact=exact,
                            candidate_pairs=int(candidate_pairs))


class _CandidateWalk:
    """One project's allowed columns, best score first (ties: lower column), sorted lazily in growing chunks."""

    def __init__(self, scores: np.ndarray, allowed: np.ndarray, first: int):
        self.scores, self.n_allowed = scores, int(allowed.sum())
        self.order = _best_columns(scores, min(self.n_allowed, max(4 * first, 16)))
        self.pos = 0

    def next(self) -> int | None:
        if self.pos == len(self.order):
            if len(self.order) >= self.n_allowed:
                return None
            self.order = _best_columns(self.scores, min(self.n_allowed, 4 * len(self.order)))
        col = int(self.order[self.pos])
        self.pos += 1
        return col


def _best_columns(scores: np.ndarray, count: int) -> np.ndarray:
    """At least the ``count`` best allowed columns (forbidden ones are -inf), in order, every tie included."""
    if count <= 0:
        return np.zeros(0, np.int64)
    if count < scores.size:
        threshold = np.partition(scores, scores.size - count)[scores.size - count]
        cols = np.flatnonzero(scores >= threshold)  # ascending columns; ties at the threshold all kept
    else:
        cols = np.arange(scores.size)
    cols = cols[np.isfinite(scores[cols])]
    return cols[np.argsort(-scores[cols], kind="stable")]


def _fixed_pairs(fixed: Sequence[tuple[int, int]], allowed: np.ndarray,
                 constraints: ShortlistConstraints) -> tuple[np.ndarray, np.ndarray]:
    """The fixed pairs as (rows, columns), refused with ``InvalidRequest`` unless each is an allowed pair, none is
    given twice, and they fit every project's and organisation's limit."""
    pairs = np.asarray(list(fixed), dtype=np.int64).reshape(-1, 2)
    rows, cols = pairs[:, 0], pairs[:, 1]
    n_projects, n_orgs = allowed.shape
    if ((rows < 0) | (rows >= n_projects) | (cols < 0) | (cols >= n_orgs)).any():
        raise InvalidRequest("a fixed pair is outside the score matrix", {"field": "fixed"})
    if pairs.size and not allowed[rows, cols].all():
        bad = int(np.flatnonzero(~allowed[rows, cols])[0])
        raise InvalidRequest(f"fixed pair ({int(rows[bad])}, {int(cols[bad])}) is forbidden (excluded or "
                             "filtered out); lift the exclusion or do not keep it", {"field": "fixed"})
    if len({(int(r), int(c)) for r, c in pairs}) < len(pairs):
        raise InvalidRequest("a fixed pair is given twice", {"field": "fixed"})
    if pairs.size and np.bincount(rows).max() > constraints.per_project:
        raise InvalidRequest(f"more fixed pairs for one project than per_project ({constraints.per_project})",
                             {"field": "fixed"})
    if pairs.size and np.bincount(cols).max() > constraints.max_per_organisation:
        raise InvalidRequest("an organisation is fixed on more lists than max_per_organisation "
                             f"({constraints.max_per_organisation}); raise it", {"field": "fixed"})
    return rows.copy(), cols.copy()


def _reporter(progress: Progress | None) -> Progress:
    if progress is None:
        return lambda fraction: None
    return lambda fraction: progress(min(1.0, max(0.0, float(fraction))))


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _describe(minimums: Mapping[str, int]) -> str:
    return ", ".join(f"{count} {name}" for name, count in minimums.items())


__all__ = ["Assignment", "AssignmentResult", "ShortlistConstraints", "assign", "greedy_assign"]
