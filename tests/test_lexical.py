import numpy as np

from matcher.lexical import LexicalIndex

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
