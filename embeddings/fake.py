"""A small deterministic embedder for tests: hashed bag of words, no model, no randomness between runs."""

from __future__ import annotations

import hashlib
import re

import numpy as np

from embeddings.base import l2_normalise

_TOKEN = re.compile(r"[a-z0-9]+")


class FakeEmbedder:
    """Feature-hashes lower-cased words (and word pairs) into ``dim`` buckets with signed counts.

    Texts that share words get a high cosine, unrelated texts a low one, so ranking tests mean something; the
    same text always gives the same vector on every machine (hashes are sha1, not Python's salted ``hash``).
    """

    def __init__(self, dim: int = 256, *, bigrams: bool = True) -> None:
        self.dim_ = dim
        self.bigrams = bigrams
        self.model_id = f"fake-hash-{dim}{'-bi' if bigrams else ''}"
        self.calls = 0  # number of encode() calls that embedded at least one text (tests check caching)
        self.texts_encoded = 0

    @property
    def dim(self) -> int:
        return self.dim_

    def _bucket(self, token: str) -> tuple[int, float]:
        digest = hashlib.sha1(token.encode(), usedforsecurity=False).digest()
        return int.from_bytes(digest[:4], "little") % self.dim_, (1.0 if digest[4] & 1 else -1.0)

    def encode(self, texts: list[str], *, batch_size: int = 32, show_progress: bool = False) -> np.ndarray:
        out = np.zeros((len(texts), self.dim_), dtype=np.float32)
        for row, text in enumerate(texts):
            words = _TOKEN.findall(text.lower())
            features = words + ([f"{a} {b}" for a, b in zip(words, words[1:])] if self.bigrams else [])
            for feature in features:
                bucket, sign = self._bucket(feature)
                out[row, bucket] += sign
        if texts:
            self.calls += 1
            self.texts_encoded += len(texts)
        return l2_normalise(out)
