"""The real sentence-transformers embedder (integration: loads the bundled all-MiniLM-L6-v2, offline)."""

import numpy as np
import pytest

from embeddings import ModelLoadError, SentenceTransformerEmbedder, load_embedder

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def embedder():
    return SentenceTransformerEmbedder()


def test_bundled_model_encodes_normalised_float32(embedder):
    vectors = embedder.encode(["recycling NdFeB magnets", "gold exploration in the Yukon"], batch_size=2)
    assert vectors.shape == (2, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert embedder.model_id.startswith("sentence-transformers/all-MiniLM-L6-v2@")


def test_semantics_and_determinism(embedder):
    q, near, far = embedder.encode(
        ["recovering rare earths from old magnets", "magnet recycling of neodymium scrap", "wheat crop yields"]
    )
    assert float(q @ near) > float(q @ far) + 0.2
    np.testing.assert_allclose(embedder.encode(["same"]), embedder.encode(["same"]), atol=1e-6)


def test_missing_model_is_a_clear_error_naming_pm_model(tmp_path):
    broken = SentenceTransformerEmbedder(str(tmp_path))  # a folder with no model in it
    with pytest.raises(ModelLoadError, match="PM_MODEL"):
        broken.encode(["x"])


def test_load_embedder_choices():
    assert load_embedder("fake:32").dim == 32
    assert isinstance(load_embedder(None, backend="torch"), SentenceTransformerEmbedder)
    with pytest.raises(ModelLoadError, match="PM_MODEL"):
        load_embedder("fake:x")
