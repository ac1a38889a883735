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


def test_database_cache_round_trips_and_keeps_the_first_vector(database_url):
    from matcher.storage import DatabaseEmbeddingCache, Store

    store = Store(database_url).migrate()
    cache = DatabaseEmbeddingCache(store)
    fake = FakeEmbedder(16)
    texts = [f"text {i}" for i in range(1200)]  # more keys than one SELECT or INSERT chunk
    first = CachedEmbedder(fake, cache).encode(texts)
    assert len(cache) == 1200 and fake.texts_encoded == 1200
    again = CachedEmbedder(fake, DatabaseEmbeddingCache(store)).encode(texts[::-1])
    assert fake.texts_encoded == 1200  # every vector read back from the database
    np.testing.assert_array_equal(again, first[::-1])  # bit for bit
    key = _key(fake, "text 0")
    cache.put_many({key: np.zeros(16, np.float32)})  # a replica writing the same key again: the first one stays
    np.testing.assert_array_equal(cache.get_many([key])[key], first[0])
    store.close()


def test_a_replica_joining_the_database_reads_vectors_instead_of_embedding(database_url, tmp_path):
    from matcher import PartnerMatcher, Settings
    from tests.conftest import FIXTURE_CORPUS

    built = []
    for folder in ("first", "joining"):  # each replica its own data folder, one database
        fake = FakeEmbedder(64)
        m = PartnerMatcher(Settings(data_dir=tmp_path / folder, corpus_dir=FIXTURE_CORPUS, database_url=database_url),
                           embedder=fake).open()
        index, was_built = m.ensure_index()
        built.append((fake.texts_encoded, was_built, len(index)))
        m.close()
    (first_texts, first_built, size), (joining_texts, joining_built, joined_size) = built
    assert first_built and joining_built and size == joined_size  # no index file in the new folder: built
    assert first_texts > size and joining_texts == 0


def _key(embedder: FakeEmbedder, text: str) -> str:
    from embeddings.cache import text_key

    return text_key(embedder.model_id, text)


def test_the_file_cache_of_an_older_version_is_read_through_into_the_database(tmp_path):
    from matcher import PartnerMatcher, Settings
    from matcher.storage import DatabaseEmbeddingCache
    from matcher.storage.tables import EmbeddingRow
    from tests.conftest import FIXTURE_CORPUS

    settings = Settings(data_dir=tmp_path / "var", corpus_dir=FIXTURE_CORPUS)
    old = PartnerMatcher(settings, embedder=FakeEmbedder(64)).open()
    # What an older version left: every vector in the file cache, none in the database.
    old_cache = EmbeddingCache(settings.cache_path)
    first_index = old.ensure_index()[0]
    with old.store_.engine.begin() as connection:
        rows = connection.execute(EmbeddingRow.__table__.select()).all()
        old_cache.put_many({r.key: np.frombuffer(r.vec, dtype="<f4", count=r.dim) for r in rows})
        connection.execute(EmbeddingRow.__table__.delete())
    old.close()
    old_cache.close()
    settings.index_path.unlink()
    fake = FakeEmbedder(64)
    upgraded = PartnerMatcher(settings, embedder=fake).open()
    index, built = upgraded.ensure_index()
    assert built and fake.texts_encoded == 0 and len(index) == len(first_index)
    assert len(DatabaseEmbeddingCache(upgraded.store_)) == len(rows)  # copied into the table as they were read
    upgraded.close()
