"""What every embedder shares: the query-encoder hook and L2 normalisation."""

from __future__ import annotations

import numpy as np

from embeddings import FakeEmbedder, encode_queries, l2_normalise


class _TwoEncoders(FakeEmbedder):
    """An embedder with its own (here: shifted) query encoder, as int8 ONNX has."""

    def encode_queries(self, texts, *, batch_size=32):
        self.asked = (list(texts), batch_size)
        return self.encode(texts) + 1.0


def test_encode_queries_uses_the_embedders_query_encoder_when_it_has_one():
    plain, two = FakeEmbedder(16), _TwoEncoders(16)
    np.testing.assert_array_equal(encode_queries(plain, ["magnet recycling"]), plain.encode(["magnet recycling"]))
    got = encode_queries(two, ["magnet recycling"], batch_size=1)
    np.testing.assert_array_equal(got, two.encode(["magnet recycling"]) + 1.0)
    assert two.asked == (["magnet recycling"], 1)


def test_l2_normalise_gives_unit_rows_and_keeps_zero_rows():
    out = l2_normalise(np.array([[3.0, 4.0], [0.0, 0.0]]))
    assert out.dtype == np.float32 and out.flags.c_contiguous
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.0, 0.0]])
    assert l2_normalise(np.array([1.0, 0.0])).shape == (1, 2)
