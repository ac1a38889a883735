import numpy as np

from embeddings import CachedEmbedder, EmbeddingCache, FakeEmbedder


def test_cached_embedder_embeds_each_text_once_across_instances(tmp_path):
    path = tmp_path / "cache.sqlite"
    fake = FakeEmbedder(32)
    first = CachedEmbedder(fake, EmbeddingCache(path)).encode(["a b", "c d", "a b"])
    assert fake.texts_encoded == 2  # the repeated text is embedded once
    again = CachedEmbedder(fake, EmbeddingCache(path)).encode(["c d", "a b", "e f"])
    assert fake.texts_encoded == 3  # only the new text reached the model
    np.testing.assert_array_equal(first[0], again[1])
    np.testing.assert_array_equal(again, fake.encode(["c d", "a b", "e f"]))


def test_cache_is_keyed_by_model_id(tmp_path):
    cache = EmbeddingCache(tmp_path / "cache.sqlite")
    CachedEmbedder(FakeEmbedder(32), cache).encode(["same text"])
    other = FakeEmbedder(32, bigrams=False)
    CachedEmbedder(other, cache).encode(["same text"])
    assert other.texts_encoded == 1 and len(cache) == 2


def test_cache_handles_more_keys_than_sqlite_parameters(tmp_path):
    fake = FakeEmbedder(8)
    texts = [f"text {i}" for i in range(1200)]
    cached = CachedEmbedder(fake, EmbeddingCache(tmp_path / "c.sqlite"))
    np.testing.assert_array_equal(cached.encode(texts), cached.encode(texts))
    assert fake.texts_encoded == 1200
