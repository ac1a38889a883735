"""Small array helpers shared by the index and the lexical index (no state, numpy only)."""

from __future__ import annotations

import numpy as np


def ranges(starts: np.ndarray, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``starts[i]:starts[i + 1]`` of each item, concatenated, and how many each item has.

    ``starts`` is an offsets array (CSR ``indptr``, or where each organisation's sentences begin); one vectorised
    pass instead of a Python loop of slices."""
    low, lengths = starts[items], starts[items + 1] - starts[items]
    ends = np.cumsum(lengths)
    rows = np.repeat(low - ends + lengths, lengths) + np.arange(int(ends[-1]) if len(ends) else 0)
    return rows.astype(np.int64), lengths
