import numpy as np

from matcher.retrieval.arrays import ranges


def test_ranges_concatenates_each_items_rows_in_the_order_asked():
    starts = np.array([0, 2, 2, 5, 6])  # item 1 has no rows
    rows, lengths = ranges(starts, np.array([3, 0, 1, 2]))
    assert rows.tolist() == [5, 0, 1, 2, 3, 4] and lengths.tolist() == [1, 2, 0, 3]
    assert rows.dtype == np.int64


def test_ranges_of_nothing_is_empty():
    rows, lengths = ranges(np.array([0, 3]), np.array([], dtype=np.int64))
    assert rows.size == 0 and lengths.size == 0
