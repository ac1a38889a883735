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
