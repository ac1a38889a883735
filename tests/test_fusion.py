import numpy as np

from matcher.retrieval.fusion import convex, minmax, rrf


def test_minmax_and_constant_vectors():
    np.testing.assert_allclose(minmax(np.array([2.0, 4.0, 3.0])), [0, 1, 0.5])
    assert np.all(minmax(np.array([5.0, 5.0])) == 0)
    np.testing.assert_allclose(minmax(np.array([1.0, -np.inf, 3.0])), [0, 0, 1])


def test_convex_weights_both_sides():
    lexical, dense = np.array([10.0, 0.0, 5.0]), np.array([0.1, 0.9, 0.5])
    assert np.argmax(convex(lexical, dense, 1.0)) == 0
    assert np.argmax(convex(lexical, dense, 0.0)) == 1
    np.testing.assert_allclose(convex(lexical, dense, 0.5), [0.5, 0.5, 0.5])


def test_rrf_rewards_agreement():
    fused = rrf(np.array([1, 2, 3]), np.array([2, 1, 4]))
    assert set(fused) == {1, 2, 3, 4}
    assert fused[1] == fused[2] > fused[3] > fused[4] or fused[1] == fused[2]
    assert fused[1] == 1 / 61 + 1 / 62
