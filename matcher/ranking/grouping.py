"""Grouping a ranking by body: an organisation and its sub-units (``Organisation.parent_id``: a university and its
institutes) take one place in a list, so one body never fills two places.

A family is an organisation with every organisation below it; its best-scoring member takes the family's place,
and the other members found among the candidates are listed under it, best first."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np

Item = TypeVar("Item", bound=tuple)  # (score, position, ...) best first, as ``PartnerIndex.rank`` holds candidates


def family_root(position: int, ids: Sequence[str], parent_ids: Sequence[str | None] | np.ndarray,
                position_of: Callable[[str], int | None]) -> str:
    """The id of the top-most ancestor of ``position`` present in the index (itself without a parent). A parent
    missing from the index ends the walk, and so does a cycle (``matcher corpus check`` refuses both).
    ``position_of`` is asked only about parents, so an index whose candidates have none never builds its id map."""
    current, seen = ids[position], {ids[position]}
    parent = parent_ids[position]
    while parent is not None and parent not in seen:
        at = position_of(parent)
        if at is None:
            break
        seen.add(parent)
        current, parent = parent, parent_ids[at]
    return current


def collapse(scored: Sequence[Item], family: Callable[[int], str]) -> tuple[list[Item], dict[int, list[Item]]]:
    """One place per family: the first (best) member of each family in ``scored`` order, and for each place's
    position the family's other members, in the same order."""
    places: list[Item] = []
    units: dict[int, list[Item]] = {}
    leader: dict[str, int] = {}
    for item in scored:
        root = family(item[1])
        if root in leader:
            units[leader[root]].append(item)
        else:
            leader[root] = item[1]
            units[item[1]] = []
            places.append(item)
    return places, units
