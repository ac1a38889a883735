"""Synthetic corpora for scale benchmarks: organisations generated from the controlled vocabularies.

Nothing here is a real organisation: ids are ``syn-NNNNNNN`` and names "Synthetic <type> NNNNNNN", they exist only
in a benchmark's memory and temporary folders, never in the corpus or a database that is kept.

Each organisation gets a country (the bundled corpus's mix: mostly GB and CA), a type, one to three critical
minerals, one to three value-chain stages and a few of those stages' terms as keywords, and a one-sentence
description made of them. So BM25, filters and scoring see realistic fields.

Vectors are precomputed rather than made by the model, so a million organisations index in minutes, not days:
``VocabEmbedder`` embeds a text as the normalised sum of the vectors of the vocabulary words it contains (each
word embedded once by the real model) plus a small per-text noise, which gives the clustered, topical geometry
that approximate search finds hard. Queries still go through the real model (``SyntheticCorpusEmbedder``).
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Iterator
from functools import cache

import numpy as np
import scipy.sparse as sp

from corpus import vocab
from corpus.schema import Organisation
from embeddings.base import encode_queries

COUNTRIES = {"GB": 0.40, "CA": 0.40, "US": 0.10, "DE": 0.03, "AU": 0.03, "FR": 0.02, "SE": 0.02}
ORG_TYPES = {"company": 0.36, "university": 0.31, "government_lab": 0.13, "non_profit": 0.11, "rto": 0.05,
             "funder": 0.04}
_WORD = re.compile(r"[a-z]+")
NOISE = 0.35  # per-text noise relative to the vocabulary signal: organisations with the same topics still differ


@cache
def stage_terms() -> dict[str, list[str]]:
    """Each value-chain stage's terms (the vocabulary file's ``terms``, which detect stages in text)."""
    from corpus.loaders import default_data_dir

    stages = json.loads((default_data_dir() / "vocab" / "value_chain_stages.json").read_text(encoding="utf-8"))
    return {s["id"]: list(s.get("terms", [])) for s in stages}


def vocabulary_words() -> list[str]:
    """Every word of the mineral, stage and organisation-type vocabularies (and the stages' terms)."""
    words: set[str] = set()
    for mineral in vocab.minerals().values():
        words.update(_WORD.findall(" ".join([mineral.name, *mineral.synonyms]).lower()))
    for stage in vocab.value_chain_stages().values():
        words.update(_WORD.findall(" ".join([stage.name, *stage_terms()[stage.id]]).lower()))
    for org_type in vocab.org_types().values():
        words.update(_WORD.findall(org_type.name.lower()))
    return sorted(w for w in words if len(w) > 2 and w not in {"and", "the", "for", "with"})


def organisations(n: int, seed: int = 0) -> Iterator[Organisation]:
    """``n`` synthetic organisations, the same for the same seed (constructed without re-validation: the
    generator only uses vocabulary ids, which the schema would accept)."""
    rng = np.random.default_rng(seed)
    minerals = vocab.minerals()
    stages = vocab.value_chain_stages()
    mineral_ids, stage_ids = list(minerals), list(stages)
    countries = rng.choice(list(COUNTRIES), size=n, p=list(COUNTRIES.values()))
    org_types = rng.choice(list(ORG_TYPES), size=n, p=list(ORG_TYPES.values()))
    type_names = {k: v.name.lower() for k, v in vocab.org_types().items()}
    for i in range(n):
        chosen_minerals = [mineral_ids[j] for j in rng.choice(len(mineral_ids), size=rng.integers(1, 4), replace=False)]
        chosen_stages = [stage_ids[j] for j in rng.choice(len(stage_ids), size=rng.integers(1, 4), replace=False)]
        terms = [t for s in chosen_stages for t in stage_terms()[s]]
        keywords = [terms[j] for j in rng.choice(len(terms), size=min(3, len(terms)), replace=False)]
        org_type = str(org_types[i])
        name = f"Synthetic {type_names[org_type]} {i:07d}"
        description = (f"{name} works on {', '.join(minerals[m].name.lower() for m in chosen_minerals)} in "
                       f"{', '.join(stages[s].name.lower() for s in chosen_stages)}, with {', '.join(keywords)}.")
        yield Organisation.model_construct(
            id=f"syn-{i:07d}", name=name, aliases=[], country=str(countries[i]), org_type=org_type, region="",
            city="", website="", description=description, keywords=keywords, minerals=chosen_minerals,
            value_chain_stages=chosen_stages, sources=[], documents=[])


class VocabEmbedder:
    """Text -> normalised sum of its vocabulary words' vectors + per-text noise (seeded by the text's CRC)."""

    def __init__(self, word_vectors: dict[str, np.ndarray], *, noise: float = NOISE, seed: int = 0):
        self.words = {w: i for i, w in enumerate(word_vectors)}
        self.matrix = np.vstack(list(word_vectors.values())).astype(np.float32)
        self.dim_ = self.matrix.shape[1]
        self.noise = noise
        bank = np.random.default_rng(seed).standard_normal(size=(1 << 16, self.dim_), dtype=np.float32)
        self.bank = (bank / np.linalg.norm(bank, axis=1, keepdims=True)).astype(np.float16)  # 50 MB, not 100
        self.model_id = f"synthetic-vocab-{len(self.words)}x{self.dim_}"

    @property
    def dim(self) -> int:
        return self.dim_

    def encode(self, texts: list[str], *, batch_size: int = 32, show_progress: bool = False) -> np.ndarray:
        out = np.empty((len(texts), self.dim_), dtype=np.float32)
        for start in range(0, len(texts), 10_000):  # bounded temporary memory (four float32 blocks of a chunk)
            chunk = texts[start : start + 10_000]
            indptr, indices = [0], []
            for text in chunk:
                indices.extend(self.words[w] for w in _WORD.findall(text.lower()) if w in self.words)
                indptr.append(len(indices))
            counts = sp.csr_matrix((np.ones(len(indices), dtype=np.float32), indices, indptr),
                                   shape=(len(chunk), len(self.words)))
            signal = np.asarray(counts @ self.matrix)
            norms = np.linalg.norm(signal, axis=1, keepdims=True)
            signal /= np.where(norms > 0, norms, 1.0)
            rows = np.fromiter((zlib.crc32(t.encode()) & 0xFFFF for t in chunk), dtype=np.int64, count=len(chunk))
            block = signal + self.noise * self.bank[rows]
            out[start : start + len(chunk)] = block / np.linalg.norm(block, axis=1, keepdims=True)
        return out


class SyntheticCorpusEmbedder:
    """Documents through ``VocabEmbedder`` (fast, no model), queries through the real model.

    ``PartnerIndex.encode_query`` asks for queries through ``encode_queries``; index builds ask ``encode``. So a
    benchmark's HTTP latency includes the real query encode, while a million profiles index in minutes.
    """

    def __init__(self, documents: VocabEmbedder, queries):
        self.documents = documents
        self.queries = queries
        self.model_id = f"{documents.model_id}+{queries.model_id}"

    @property
    def dim(self) -> int:
        return self.documents.dim

    def encode(self, texts: list[str], *, batch_size: int = 32, show_progress: bool = False) -> np.ndarray:
        return self.documents.encode(texts, batch_size=batch_size)

    def encode_queries(self, texts: list[str], *, batch_size: int = 32) -> np.ndarray:
        return encode_queries(self.queries, texts, batch_size=batch_size)


def vocab_embedder(model_embedder, *, seed: int = 0) -> VocabEmbedder:
    """A VocabEmbedder whose word vectors come from ``model_embedder`` (one batch of a few hundred words)."""
    words = vocabulary_words()
    vectors = encode_queries(model_embedder, words, batch_size=64)  # the query session only: no second model held
    return VocabEmbedder(dict(zip(words, vectors)), seed=seed)
