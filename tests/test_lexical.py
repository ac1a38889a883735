import numpy as np
import pytest

from matcher.retrieval.lexical import LexicalIndex, tokens

TEXTS = ["Recycling NdFeB magnets from hard drives", "Mine tailings reprocessing for cobalt",
         "The the the", "Cobalt and nickel smelting"]


def test_bm25_ranks_by_stemmed_terms_without_stopwords():
    index = LexicalIndex().fit(TEXTS)
    top, scores = index.search("recycled magnet", k=2)
    assert top[0] == 0 and scores[0] > 0  # "recycled"/"Recycling" and "magnet"/"magnets" share stems
    assert index.scores("the")[2] == 0  # stop words carry no weight
    assert np.all(index.scores("unknownword") == 0)


def test_search_respects_the_allowed_mask_and_k():
    index = LexicalIndex().fit(TEXTS)
    allowed = np.array([False, False, True, True])
    top, _ = index.search("cobalt", k=10, allowed=allowed)
    assert list(top) == [3, 2] or list(top)[0] == 3
    assert set(top) <= {2, 3}
    assert len(index.search("cobalt", k=0)[0]) == 0


def test_empty_texts_do_not_break_indexing():
    index = LexicalIndex().fit(["", "cobalt"])
    assert index.search("cobalt", k=1)[0][0] == 1


def _bm25s_scores(texts, query):
    """bm25s' own Lucene BM25 over the same tokens: the reference the sparse implementation must equal."""
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    tokens = bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, return_ids=False, show_progress=False)
    model = bm25s.BM25(k1=1.2, b=0.75)
    model.index(tokens, show_progress=False)
    terms = [t for t in bm25s.tokenize([query], stopwords="en", stemmer=stemmer, return_ids=False,
                                       show_progress=False)[0] if t in model.vocab_dict]
    if not terms:
        return np.zeros(len(texts), dtype=np.float32)
    return np.asarray(model.get_scores(terms), dtype=np.float32)


MORE = ["Lithium brine extraction in the Atacama", "Hydrometallurgical recovery of cobalt from tailings",
        "Rare earth magnets: recycling magnets of wind turbines", "Graphite anodes for batteries"]


def test_scores_equal_bm25s_lucene_including_repeated_query_terms():
    texts = TEXTS[:2] + TEXTS[3:] + MORE
    index = LexicalIndex().fit(texts)
    for query in ["cobalt tailings", "recycling magnets magnets", "lithium", "nothing here"]:
        np.testing.assert_allclose(index.scores(query), _bm25s_scores(texts, query), rtol=1e-5, atol=1e-6)


def test_recombine_equals_a_fresh_index_over_the_same_texts():
    texts = TEXTS + MORE
    index = LexicalIndex().fit(texts)
    # Drop row 1, keep the rest in a new order, replace row 5 and add two new texts with unseen words.
    new = ["Vanadium redox flow batteries", "Scandium from red mud"]
    derived = index.recombine([np.array([0, 2, 3]), ["Cobalt refining in Ontario"], np.array([4, 6, 7]), new])
    expected_texts = [texts[0], texts[2], texts[3], "Cobalt refining in Ontario", texts[4], texts[6], texts[7], *new]
    fresh = LexicalIndex().fit(expected_texts)
    for query in ["cobalt", "vanadium batteries", "magnets recycling", "red mud scandium", "tailings"]:
        np.testing.assert_allclose(derived.scores(query), fresh.scores(query), rtol=1e-5, atol=1e-6)
    # The source index is untouched (queries in flight keep using it).
    assert index.n_docs_ == len(texts) and "vanadium" not in " ".join(index.vocab_)


def test_tokens_equal_bm25s_tokenize_on_the_bundled_profiles():
    """The own tokeniser (faster per query) must give bm25s' tokens, or scores would drift from its BM25."""
    import bm25s
    import Stemmer

    from corpus.loaders import default_data_dir, load_organisations

    texts = [o.profile_text() for o in load_organisations(default_data_dir())] + ["", "a", "Li-ion NdFeB, 2024: the REE's"]
    index = LexicalIndex(fold_spelling=False).fit(texts)
    expected = bm25s.tokenize(texts, stopwords="en", stemmer=Stemmer.Stemmer("english"), return_ids=False,
                              show_progress=False)
    assert index._tokenise(texts) == expected


def test_british_and_north_american_spellings_are_one_term():
    """A UK brief finds a Canadian record's words and the other way round; the plain index keeps them apart."""
    texts = ["Lithium-sulfur cells and sulfide electrolytes", "Characterization of aluminum smelter residues",
             "Mineralisation in the centre of the belt", "Copper flotation"]
    index = LexicalIndex().fit(texts)
    assert index.scores("lithium sulphur")[0] == index.scores("lithium sulfur")[0] > 0
    assert index.scores("aluminium residue characterisation").argmax() == 1
    assert index.scores("mineralization center")[2] > 0 and index.scores("mineralization center")[3] == 0
    assert tokens("sulphides, characterised") == tokens("sulfides, characterized") == index.terms("sulphides characterised")
    assert "rise" in tokens("prices rise")  # short words are never folded into other words
    assert tokens("E-waste and x-ray") == ["ewast", "wast", "xray", "ray"]  # the letter is kept, and the word
    assert LexicalIndex().fit(["ewaste recycling", "waste rock"]).scores("e-waste").argmax() == 0
    plain = LexicalIndex(fold_spelling=False).fit(texts)
    assert plain.scores("lithium sulphur")[0] < plain.scores("lithium sulfur")[0]
    assert plain.recombine([np.array([0, 1])]).fold_spelling is False


def _assert_same_index(a: LexicalIndex, b: LexicalIndex) -> None:
    assert a.vocab_ == b.vocab_ and a.n_docs_ == b.n_docs_
    for name in ("indptr", "indices", "data"):
        np.testing.assert_array_equal(getattr(a.counts_, name), getattr(b.counts_, name))
    np.testing.assert_array_equal(a.weights_.data, b.weights_.data)


def test_fit_reads_a_generator_once_and_equals_fit_from_a_list():
    texts = TEXTS + MORE
    consumed = []

    def stream():
        for text in texts:
            consumed.append(text)
            yield text

    from_generator = LexicalIndex().fit(stream(), chunk_size=3)
    assert consumed == texts  # each text read exactly once, in order
    _assert_same_index(from_generator, LexicalIndex().fit(texts))
    assert from_generator.counts_.indices.dtype == np.int32  # int32 where it fits: half the index memory


def test_chunk_boundaries_do_not_change_the_index_or_its_scores():
    texts = TEXTS + MORE + ["", "cobalt cobalt cobalt"]  # an empty text and repeated terms at chunk edges
    default = LexicalIndex().fit(texts)
    for chunk_size in (1, 2, 3, len(texts), 1000):
        chunked = LexicalIndex().fit(texts, chunk_size=chunk_size)
        _assert_same_index(chunked, default)
        assert chunked.scores("cobalt").dtype == np.float32
        np.testing.assert_allclose(chunked.scores("cobalt magnets"), _bm25s_scores(texts, "cobalt magnets"),
                                   rtol=1e-5, atol=1e-6)


def test_fit_of_nothing_gives_an_empty_index_that_answers_queries():
    index = LexicalIndex().fit(iter([]))
    assert index.n_docs_ == 0 and index.scores("cobalt").shape == (0,)
    assert len(index.search("cobalt", k=5)[0]) == 0


def test_fit_refuses_a_single_string_and_a_zero_chunk_size_with_a_fix():
    with pytest.raises(TypeError, match="wrap a single text in a list"):
        LexicalIndex().fit("cobalt refining")
    with pytest.raises(ValueError, match="chunk_size must be a positive number"):
        LexicalIndex().fit(TEXTS, chunk_size=0)


def test_recombine_with_generators_and_small_chunks_equals_bm25s():
    texts = TEXTS + MORE
    index = LexicalIndex().fit(texts, chunk_size=2)
    new = ["Vanadium redox flow batteries", "Scandium from red mud", "Cobalt tailings in Quebec"]
    derived = index.recombine([np.array([7, 1, 5]), (t for t in new)], chunk_size=2)
    expected_texts = [texts[7], texts[1], texts[5], *new]
    for query in ["cobalt tailings", "vanadium batteries", "recycling magnets magnets", "graphite"]:
        np.testing.assert_allclose(derived.scores(query), _bm25s_scores(expected_texts, query), rtol=1e-5, atol=1e-6)


def test_few_and_many_postings_paths_give_the_same_scores(monkeypatch):
    from matcher.retrieval import lexical

    texts = TEXTS[:2] + TEXTS[3:] + MORE
    index = LexicalIndex().fit(texts)
    queries = ["cobalt tailings", "recycling magnets magnets", "lithium", "nothing here", "graphite cobalt lithium"]
    small = [index.scores(q) for q in queries]  # a handful of postings: the bincount
    monkeypatch.setattr(lexical, "SMALL_POSTINGS", 0)  # every query: the sparse product
    for query, expected in zip(queries, small):
        got = index.scores(query)
        assert got.dtype == expected.dtype == np.float32
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(got, _bm25s_scores(texts, query), rtol=1e-5, atol=1e-6)
