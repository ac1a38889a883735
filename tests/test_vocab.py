from corpus import vocab


def test_vocabularies_load_with_expected_terms():
    assert {"lithium", "cobalt", "rare_earth_elements", "graphite"} <= set(vocab.minerals())
    assert set(vocab.value_chain_stages()) == {
        "exploration", "extraction", "processing", "manufacturing", "use", "recycling", "reclamation", "policy_data"
    }
    assert "funder" in vocab.org_types()
    assert vocab.upstream_stages() >= {"exploration", "extraction", "processing"}


def test_normalise_mineral_accepts_symbols_synonyms_and_case():
    assert vocab.normalise_mineral("Li") == "lithium"
    assert vocab.normalise_mineral("REE") == "rare_earth_elements"
    assert vocab.normalise_mineral("rare earths") == "rare_earth_elements"
    assert vocab.normalise_mineral("NdFeB") == "rare_earth_elements"
    assert vocab.normalise_mineral("Cobalt") == "cobalt"
    assert vocab.normalise_mineral("aluminum") == "aluminium"
    assert vocab.normalise_mineral("unobtainium") is None


def test_detect_minerals_in_free_text_in_mention_order():
    text = "Recovering Co and Ni from tailings, then rare earths from NdFeB magnets; lithium brines too."
    assert vocab.detect_minerals(text) == ["cobalt", "nickel", "rare_earth_elements", "lithium"]


def test_detect_minerals_ignores_common_words_that_look_like_symbols():
    assert vocab.detect_minerals("In the UK, as in Canada, he said no.") == []
    assert vocab.detect_minerals("tin mining in Cornwall") == ["tin"]


def test_trie_alternation_matches_like_a_longest_first_list():
    import re

    words = ["rare earth", "rare earth elements", "rare", "lithium", "lithium brine", "li-ion", "nickel", "ni"]
    flat = re.compile(r"\b(" + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)) + r")\b", re.IGNORECASE)
    trie = re.compile(r"\b(" + vocab._alternation(words) + r")\b", re.IGNORECASE)
    texts = [
        "Rare earth elements and RARE EARTHS from lithium brine; Li-ion cells; nickel-rich NI ore; rarely lithium.",
        "rare earth elementsX rare earth, lithium brines nickelate ni",
        " ".join(words),
    ]
    for text in texts:
        assert [(m.start(), m.group(1)) for m in trie.finditer(text)] == \
               [(m.start(), m.group(1)) for m in flat.finditer(text)]


def test_detection_finds_the_longest_term_in_the_real_vocabularies():
    # every vocabulary word, written out: each is found whole, none as a shorter word it begins with
    for word, owner in vocab._stage_pattern()[1].items():
        assert vocab.detect_stages(f"we do {word.upper()} here") == [owner]
    for alias, mineral in vocab._mineral_aliases().items():
        assert vocab.detect_minerals(f"about {alias} only")[:1] == [mineral]
