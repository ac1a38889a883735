"""The IVF store built in chunks equals one built at once; filters and the delta find what exact search finds."""

from __future__ import annotations

import numpy as np

from matcher.retrieval.approximate import ApproximateVectors, approximate_filter


def _unit(n: int, d: int = 32, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_trained_then_added_in_chunks_equals_built_at_once():
    vectors = _unit(3000)
    whole = ApproximateVectors.build(vectors)
    chunked = ApproximateVectors.trained(vectors, len(vectors))
    ids = np.concatenate([chunked.add(vectors[i : i + 700]) for i in range(0, len(vectors), 700)])
    assert ids.tolist() == list(range(len(vectors)))
    everything = np.packbits(np.ones(len(vectors), dtype=bool), bitorder="little")
    for q in _unit(20, seed=1):
        a = whole.search(q, 10, everything, 1.0, np.zeros(0, dtype=bool))
        b = chunked.search(q, 10, everything, 1.0, np.zeros(0, dtype=bool))
        assert a[0].tolist() == b[0].tolist()
    np.testing.assert_allclose(chunked.vectors(np.arange(5)), vectors[:5], atol=0.02)


def test_filter_and_delta_searches_match_exact_on_a_small_store():
    vectors = _unit(2000)
    store = ApproximateVectors.build(vectors[:1500])
    store.nprobe = store.base.nlist  # every list: exact apart from 8-bit rounding
    derived, src = store.derive(np.arange(1500), vectors[1500:])
    allowed = np.zeros(2000, dtype=bool)
    allowed[::3] = True
    bitmap, share, delta_mask = approximate_filter(derived, src, allowed)
    q = _unit(1, seed=2)[0]
    base_ids, _, delta_rows, delta_sims = derived.search(q, 10, bitmap, share, delta_mask)
    found = set(base_ids.tolist()) | {1500 + r for r in delta_rows.tolist()}
    exact = np.flatnonzero(allowed)[np.argsort(-(vectors[allowed] @ q))[:10]]
    assert len(found & set(exact.tolist())) >= 9
    assert all(allowed[i] for i in found)


def test_a_store_trained_on_a_sample_reserves_its_lists_and_holds_everything():
    vectors = _unit(4000, seed=4)
    store = ApproximateVectors.trained(vectors[::4], len(vectors))  # lists reserved from the sample's spread
    for i in range(0, len(vectors), 1000):
        store.add(vectors[i : i + 1000])
    assert store.base.ntotal == len(vectors)
    everything = np.packbits(np.ones(len(vectors), dtype=bool), bitorder="little")
    store.nprobe = store.base.nlist
    ids, sims, _, _ = store.search(vectors[7], 1, everything, 1.0, np.zeros(0, dtype=bool))
    assert ids.tolist() == [7] and sims[0] > 0.99
