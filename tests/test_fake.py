import numpy as np

from embeddings import Embedder, FakeEmbedder


def test_fake_embedder_is_deterministic_normalised_float32():
    a, b = FakeEmbedder(64), FakeEmbedder(64)
    va = a.encode(["recycling rare earth magnets", "mine tailings"])
    vb = b.encode(["recycling rare earth magnets", "mine tailings"])
    assert va.dtype == np.float32 and va.shape == (2, 64)
    np.testing.assert_array_equal(va, vb)
    np.testing.assert_allclose(np.linalg.norm(va, axis=1), 1.0, rtol=1e-6)
    assert isinstance(a, Embedder) and a.dim == 64


def test_fake_embedder_similarity_follows_shared_words():
    e = FakeEmbedder()
    q, near, far = e.encode(["magnet recycling", "recycling of magnet scrap", "geological mapping of gold"])
    assert float(q @ near) > float(q @ far)


def test_fake_embedder_handles_empty_input_and_empty_text():
    e = FakeEmbedder(8)
    assert e.encode([]).shape == (0, 8)
    assert np.all(e.encode([""]) == 0)
