"""The one feasibility check of a shortlist call: the shortfalls that simple counting can prove.

It runs twice on the same rules: before any ranking, over every organisation each project's filters allow (so an
impossible request is refused at once, 422), and in the solver, over the candidates it was given (so a direct
caller of ``assign`` gets the same answer). Passing it is necessary, not sufficient: the solver reports the rest
(projects competing for the same few organisations).

A shortfall is returned as data (``Shortfall``: the constraint, the numbers, the project's row) and becomes an
``Infeasible`` error only at the caller, which knows what the rows are called (project ids, or just row numbers).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from matcher.errors import Infeasible


@dataclass(frozen=True)
class Remedies:
    """What the caller can change to meet each constraint; it depends on where the eligible set came from."""

    missing_type: str
    per_project: str
    min_per_type: str
    type_capacity: str
    capacity: str


# The solver's candidates are fixed by its caller: exclusions and the constraints are what can move.
CANDIDATE_REMEDIES = Remedies(
    missing_type="fix the type name or drop the minimum",
    per_project="lift exclusions for it or lower per_project",
    min_per_type="lift exclusions or lower the minimum",
    type_capacity="raise max_per_organisation or lower the minimum",
    capacity="raise max_per_organisation or lower per_project",
)
# Before ranking, the request's own filters decide who is eligible.
FILTER_REMEDIES = Remedies(
    missing_type="widen countries or org_types, or drop the minimum",
    per_project="widen countries or org_types, or lower per_project",
    min_per_type="widen countries or org_types, or lower the minimum",
    type_capacity="raise max_per_organisation or widen countries",
    capacity="raise max_per_organisation or widen countries",
)


@dataclass(frozen=True)
class Shortfall:
    """One constraint no allocation can meet. ``project`` is a row index (None when the whole call is short);
    ``describe`` writes the message given the project's name, so it is written once, with the right name."""

    constraint: str
    required: int
    available: int
    describe: Callable[[str], str]
    project: int | None = None
    org_type: str | None = None

    def error(self, project_ids: Sequence[str] | None = None) -> Infeasible:
        """The ``Infeasible`` to raise: projects named by ``project_ids`` (quoted), else by row number."""
        project: int | str | None = self.project
        name = ""
        if self.project is not None:
            project = self.project if project_ids is None else project_ids[self.project]
            name = str(project) if project_ids is None else repr(project)
        details = {"constraint": self.constraint, "project": project, "org_type": self.org_type,
                   "required": int(self.required), "available": int(self.available),
                   "shortfall": int(self.required) - int(self.available)}
        return Infeasible(self.describe(name), details)


@dataclass(frozen=True)
class Eligibility:
    """Who may go on which list, counted: all the feasibility check needs, whatever the eligible set came from."""

    per_project: np.ndarray  # (projects,) eligible organisations of each project
    per_type: dict[str, np.ndarray]  # type with a minimum -> (projects,) eligible organisations of that type
    projects_per_org: np.ndarray  # (organisations,) projects each organisation is eligible for
    org_types: np.ndarray  # (organisations,) type code of each organisation
    type_names: list[str]  # type code -> name

    @property
    def n_projects(self) -> int:
        return int(self.per_project.size)

    @classmethod
    def of_matrix(cls, allowed: np.ndarray, org_types: np.ndarray, type_names: Sequence[str],
                  minimums: Mapping[str, int]) -> Eligibility:
        """From a projects x organisations matrix of allowed pairs; ``org_types`` are codes into ``type_names``."""
        names = list(type_names)
        per_type = {t: allowed[:, org_types == names.index(t)].sum(axis=1) for t in minimums if t in names}
        return cls(allowed.sum(axis=1), per_type, allowed.sum(axis=0), org_types, names)

    @classmethod
    def of_rows(cls, rows: Sequence[np.ndarray], org_types: np.ndarray, minimums: Mapping[str, int]) -> Eligibility:
        """From each project's eligible organisation positions; ``org_types`` holds every position's type name.
        Only organisations eligible for some project count as present."""
        rows = [np.asarray(r, dtype=np.int64) for r in rows]
        type_of = np.asarray(org_types).astype(str)
        union, projects_per_org = np.unique(np.concatenate(rows) if rows else np.zeros(0, np.int64),
                                            return_counts=True)
        names, codes = np.unique(type_of[union], return_inverse=True)
        present = [str(n) for n in names]
        per_type = {t: np.array([int((type_of[r] == t).sum()) for r in rows], dtype=np.int64)
                    for t in minimums if t in present}
        return cls(np.array([r.size for r in rows], dtype=np.int64), per_type, projects_per_org, codes.reshape(-1),
                   present)


def find_shortfall(eligibility: Eligibility, per_project: int, max_per_organisation: int,
                   minimums: Mapping[str, int], remedies: Remedies = CANDIDATE_REMEDIES) -> Shortfall | None:
    """The first shortfall counting proves, in this order: a required type absent, a project with too few
    eligible organisations (then of a required type), too few places for a type, too few places overall."""
    P, k, cap = eligibility.n_projects, per_project, max_per_organisation
    if P == 0:
        return None
    names = eligibility.type_names
    for org_type, need in minimums.items():
        if org_type not in names:
            text = (f"no organisation has type {org_type!r} (types present: {', '.join(names) or 'none'}); "
                    f"min_per_type asks for {need} per project, {P * need} in all; {remedies.missing_type}")
            return Shortfall("min_per_type", P * need, 0, _fixed(text), org_type=org_type)
    found = _first_short(eligibility.per_project, k, lambda have: (
        f"{have} eligible organisations, needs {k} (short by {k - have})"), remedies.per_project, "per_project")
    if found:
        return found
    for org_type, need in minimums.items():
        found = _first_short(eligibility.per_type[org_type], need, lambda have: (
            f"only {have} eligible organisations of type {org_type!r}; min_per_type asks for {need} "
            f"(short by {need - have})"), remedies.min_per_type, "min_per_type", org_type)
        if found:
            return found
    # An organisation can fill at most min(cap, projects it is eligible for) places.
    room = np.minimum(eligibility.projects_per_org, cap)
    for org_type, need in minimums.items():
        of_type = eligibility.org_types == names.index(org_type)
        offered, required = int(room[of_type].sum()), P * need
        if offered < required:
            text = (f"{P} projects × {need} {org_type!r} partners need {required} places, but the "
                    f"{int((room[of_type] > 0).sum())} eligible {org_type!r} organisations × max_per_organisation "
                    f"{cap} offer only {offered}{_room_note(room[of_type], cap)} (short by {required - offered}); "
                    f"{remedies.type_capacity}")
            return Shortfall("min_per_type", required, offered, _fixed(text), org_type=org_type)
    offered, required = int(room.sum()), P * k
    if offered < required:
        text = (f"{P} projects × {k} partners need {required} places, but the {int((room > 0).sum())} eligible "
                f"organisations × max_per_organisation {cap} offer only {offered}{_room_note(room, cap)} (short by "
                f"{required - offered}); {remedies.capacity}")
        return Shortfall("max_per_organisation", required, offered, _fixed(text))
    return None


def _fixed(text: str) -> Callable[[str], str]:
    """A message that names no project."""
    return lambda _name: text


def _first_short(have: np.ndarray, need: int, what: Callable[[int], str], remedy: str, constraint: str,
                 org_type: str | None = None) -> Shortfall | None:
    """The first project with fewer than ``need``; ``what(count)`` says what it has, after "project P has "."""
    short = np.flatnonzero(have < need)
    if not short.size:
        return None
    row, count = int(short[0]), int(have[short[0]])
    others = f"; {short.size - 1} other project(s) are short too" if short.size > 1 else ""
    rest = f"{what(count)}{others}; {remedy}"  # written now: the loop's variables change after this call
    return Shortfall(constraint, need, count, lambda name: f"project {name} has {rest}", project=row,
                     org_type=org_type)


def _room_note(room: np.ndarray, cap: int) -> str:
    partial = room[(room > 0) & (room < cap)]
    if partial.size == 0:
        return ""
    return f" ({partial.size} of them are eligible for fewer than {cap} projects)"


__all__ = ["CANDIDATE_REMEDIES", "FILTER_REMEDIES", "Eligibility", "Remedies", "Shortfall", "find_shortfall"]
