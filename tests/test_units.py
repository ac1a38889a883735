"""What an index is built from, per organisation: unit texts, evidence sentences, columns and bit sets."""

from __future__ import annotations

import numpy as np

from corpus import Document, vocab
from corpus.loaders import record_digest
from corpus.schema import Organisation
from matcher.index.columns import organisation_columns
from matcher.ranking.bitsets import bits, mineral_bit, stage_bit
from matcher.retrieval.units import DOCUMENT_CHARS, document_texts, evidence_passages, split_sentences, unit_texts


def _org(oid: str, **fields) -> Organisation:
    base = {"name": f"Org {oid}", "country": "GB", "org_type": "university",
            "description": "It recovers cobalt from tailings. It also runs a pilot plant in Cornwall."}
    return Organisation(id=oid, **{**base, **fields})


def test_split_sentences_folds_short_fragments_into_their_neighbour():
    assert split_sentences("  Magnets are recycled here. Dr. Smith leads it. It uses hydrogen decrepitation on scrap. ") == [
        "Magnets are recycled here. Dr. Smith leads it.", "It uses hydrogen decrepitation on scrap."]
    assert split_sentences("") == [] and split_sentences("one line without a full stop") == ["one line without a full stop"]


def test_evidence_passages_are_the_description_then_each_documents_sentences_or_the_name():
    doc = Document(id="d1", title="Pilot plant", text="The plant leaches cobalt from sulphide tailings. " * 30)
    org = _org("a", documents=[doc])
    passages = evidence_passages(org)
    assert passages[:2] == ["It recovers cobalt from tailings.", "It also runs a pilot plant in Cornwall."]
    assert len(passages) == 2 + 20 and all(p.startswith("Pilot plant: ") for p in passages[2:])  # 20 per document
    assert evidence_passages(_org("b", description="   ")) == ["Org b"]  # nothing to quote: the name


def test_unit_texts_are_profiles_first_then_documents_cut_where_the_model_stops_reading():
    long = Document(id="d1", title="Report", text="x " * 5000)
    orgs = [_org("a"), _org("b", documents=[long, Document(id="d2", title="Note", text="Short.")])]
    texts, owners = unit_texts(orgs)
    assert texts[:2] == [orgs[0].profile_text(), orgs[1].profile_text()] and owners == [1, 1]
    assert texts[2:] == document_texts(orgs[1]) and len(texts[2]) == DOCUMENT_CHARS and texts[3] == "Note. Short."


def test_columns_hold_filters_bit_sets_and_digests_per_organisation():
    minerals, stages = list(vocab.minerals()), list(vocab.value_chain_stages())
    orgs = [_org("a", minerals=[minerals[0], minerals[3]], value_chain_stages=[stages[1]]), _org("b", country="CA")]
    columns = organisation_columns(orgs)
    assert list(columns["ids"]) == ["a", "b"] and list(columns["countries"]) == ["GB", "CA"]
    assert columns["mineral_bits"].dtype == np.uint64 and columns["mineral_bits"].tolist() == [0b1001, 0]
    assert columns["stage_bits"].tolist() == [0b10, 0]
    assert columns["digests"].tolist() == [record_digest(o) for o in orgs]
    assert columns["n_passages"].tolist() == [2, 2] and columns["n_docs"].tolist() == [0, 0]
    assert organisation_columns([])["ids"].shape == (0,)


def test_bits_ignore_ids_outside_the_vocabulary():
    assert bits(["not-a-mineral"], mineral_bit()) == 0
    assert bits(vocab.value_chain_stages(), stage_bit()) == (1 << len(vocab.value_chain_stages())) - 1
