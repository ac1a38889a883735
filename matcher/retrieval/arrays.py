"""Array helpers shared by the retrievers and the index (no state, numpy only)."""

from __future__ import annotations

import numpy as np


def ranges(starts: np.ndarray, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``starts[i]:starts[i + 1]`` of each item, concatenated, and how many each item has.

    ``starts`` is an offsets array (CSR ``indptr``, or where each organisation's sentences begin); one vectorised
    pass, because a Python loop of slices costs more than the arithmetic it feeds."""
    low, lengths = starts[items], starts[items + 1] - starts[items]
    ends = np.cumsum(lengths)
    rows = np.repeat(low - ends + lengths, lengths) + np.arange(int(ends[-1]) if len(ends) else 0)
    return rows.astype(np.int64), lengths


def gather(*parts: tuple[np.ndarray, np.ndarray | None]) -> np.ndarray:
    """Rows of several float32 matrices stacked into one new array, copying each row once: ``(matrix, rows)``
    takes those rows (``None``: all). Used instead of ``np.vstack([a[rows], ...])``, which copies twice."""
    sizes = [len(m) if rows is None else len(rows) for m, rows in parts]
    out = np.empty((sum(sizes), parts[0][0].shape[1]), dtype=np.float32)
    at = 0
    for (m, rows), size in zip(parts, sizes):
        if rows is None:
            out[at : at + size] = m
        else:
            np.take(m, rows, axis=0, out=out[at : at + size])
        at += size
    return out


def top_allowed(values: np.ndarray, k: int, mask: np.ndarray, allowed: int) -> np.ndarray:
    """Positions of the ``k`` largest positive ``values`` where ``mask`` holds (fewer if fewer are positive).

    Exact. On large arrays a threshold estimated from a strided sample keeps about ``8 * k`` allowed rows in
    expectation, and the top k of those is the top k of all whenever at least k pass it (every row left out scores
    at most the threshold, every row kept more); otherwise, the full path. Why: common query words give most rows a score,
    and masking and partitioning all of them dominates a query's lexical side."""
    n = len(values)
    if n > 50_000 and allowed > 0:
        sample = values[:: max(1, n // 20_000)]
        share = allowed / n
        threshold = np.quantile(sample, max(0.0, 1.0 - 8 * k / (n * share)))
        if threshold > 0:
            rows = np.flatnonzero(values > threshold)
            rows = rows[mask[rows]]
            if len(rows) >= k:
                return rows[np.argpartition(-values[rows], k - 1)[:k]]
    rows = np.flatnonzero(values)
    rows = rows[mask[rows]]
    if len(rows) > k:
        rows = rows[np.argpartition(-values[rows], k - 1)[:k]]
    return rows
