"""The compressed record table: records come back equal, derived tables share storage and leave the old intact."""

from __future__ import annotations

import pytest

from corpus.loaders import default_data_dir, load_organisations
from matcher.index import records
from matcher.index.records import OrganisationTable


@pytest.fixture(scope="module")
def bundled():
    return load_organisations(default_data_dir())


def test_records_round_trip_equal_in_order(bundled):
    table = OrganisationTable.build(iter(bundled))  # any iterable, read once
    assert len(table) == len(bundled)
    assert list(table) == bundled
    assert table[0] == bundled[0] and table[-1] == bundled[-1]
    assert table[3:6] == bundled[3:6]
    assert list(table.rows([5, 1])) == [bundled[5], bundled[1]]


def test_records_are_held_compressed(bundled):
    table = OrganisationTable.build(bundled)
    raw = sum(len(o.model_dump_json()) for o in bundled)
    assert table.nbytes < raw / 2  # the bundled profiles are long and varied; synthetic ones compress ~8x


def test_segments_boundaries(bundled, monkeypatch):
    monkeypatch.setattr(records, "_SEGMENT", 7)
    table = OrganisationTable.build(bundled[:30])
    assert len(table._storage.segments) == 5
    assert list(table) == bundled[:30]


def test_derive_keeps_rows_adds_records_and_leaves_the_old_table(bundled):
    old = OrganisationTable.build(bundled[:10])
    _ = old[2], old[4]  # cached as objects
    changed = bundled[4].model_copy(update={"description": bundled[4].description + " Updated."})
    new = old.derive([0, 2, 3], [changed, bundled[20]])
    assert list(new) == [bundled[0], bundled[2], bundled[3], changed, bundled[20]]
    assert list(old) == bundled[:10]
    assert new._storage.segments[0] is old._storage.segments[0]  # shared, not copied
    assert 2 in {int(s) for s in new._cache}  # a kept record's object came along


def test_cache_is_bounded(bundled):
    table = OrganisationTable.build(bundled[:50], cache_size=8)
    for i in range(50):
        assert table[i] == bundled[i]
    assert len(table._cache) == 8
