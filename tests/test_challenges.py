import numpy as np

from corpus import load_challenges
from embeddings import FakeEmbedder
from matcher.index.challenges import ChallengeModel

MINING = ["reduce the environmental impact of mining operations", "efficient ore processing with less energy",
          "data-driven exploration of mineral deposits", "sensor-based ore sorting at the mine"]
CIRCULAR = ["recycling batteries to recover cobalt", "reprocessing tailings to recover metals",
            "mine reclamation and revegetation", "recycling magnets from electronic waste"]


def fitted(embedder, labels_per_class=4):
    challenges = load_challenges()
    texts = MINING[:labels_per_class] + CIRCULAR[:labels_per_class]
    labels = [{1}] * labels_per_class + [{2}] * labels_per_class
    return ChallengeModel().fit(embedder.encode([c.text() for c in challenges]), embedder.encode(texts), labels, [1, 2])


def test_learned_model_separates_the_two_challenges():
    e = FakeEmbedder(256)
    model = fitted(e)
    assert model.learned_.all()
    scores = model.predict(e.encode(["recycling cobalt from batteries", "reduce the environmental impact of mining and ore processing"]))
    assert scores.shape == (2, 2) and np.all((0 <= scores) & (scores <= 1))
    assert scores[0, 1] > scores[0, 0] and scores[1, 0] > scores[1, 1]


def test_too_few_labels_fall_back_to_zero_shot():
    e = FakeEmbedder(256)
    model = fitted(e, labels_per_class=2)
    assert not model.learned_.any()
    v = e.encode(["mine reclamation"])
    np.testing.assert_allclose(model.predict(v), model.zero_shot(v))


def test_state_round_trip():
    e = FakeEmbedder(64)
    model = fitted(e)
    again = ChallengeModel.from_state(model.challenge_vectors_, [1, 2], model.state())
    v = e.encode(["tailings"])
    np.testing.assert_allclose(again.predict(v), model.predict(v))
