"""Challenge alignment: zero-shot similarity to each challenge description, improved by a classifier.

The zero-shot part needs no labels: cosine to the challenge text, rescaled to [0, 1] over the labelled records'
range. The learned part is one scikit-learn logistic regression per challenge on the embeddings of records
labelled with their challenge areas (the corpus's project briefs). The two are averaged, so a challenge with
too few labels still gets a sensible zero-shot score.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from sklearn.linear_model import LogisticRegression

MIN_PER_CLASS = 3  # below this many positive and negative examples, a challenge stays zero-shot only


class ChallengeModel:
    """Each vector's alignment with each challenge area, in [0, 1] (estimator style: ``fit``, then ``predict``)."""

    def __init__(self, *, C: float = 1.0, blend: float = 0.5) -> None:
        self.C = C
        self.blend = blend

    def fit(self, challenge_vectors: np.ndarray, vectors: np.ndarray, labels: list[set[int]],
            challenge_ids: list[int]) -> ChallengeModel:
        self.challenge_ids_ = list(challenge_ids)
        self.challenge_vectors_ = np.asarray(challenge_vectors, dtype=np.float32)
        d = self.challenge_vectors_.shape[1]
        self.coef_ = np.zeros((len(challenge_ids), d), dtype=np.float32)
        self.intercept_ = np.zeros(len(challenge_ids), dtype=np.float32)
        self.learned_ = np.zeros(len(challenge_ids), dtype=bool)
        zero_shot = np.asarray(vectors, dtype=np.float32).reshape(-1, d) @ self.challenge_vectors_.T
        # Zero-shot cosines sit in a narrow band; the labelled records give the band to stretch to [0, 1].
        self.low_ = np.percentile(zero_shot, 5, axis=0) if len(zero_shot) else np.zeros(len(challenge_ids))
        self.high_ = np.percentile(zero_shot, 95, axis=0) if len(zero_shot) else np.ones(len(challenge_ids))
        for i, cid in enumerate(challenge_ids):
            y = np.array([cid in labelled for labelled in labels], dtype=int)
            if y.sum() >= MIN_PER_CLASS and (len(y) - y.sum()) >= MIN_PER_CLASS:
                model = LogisticRegression(C=self.C, class_weight="balanced", max_iter=1000).fit(vectors, y)
                self.coef_[i], self.intercept_[i], self.learned_[i] = model.coef_[0], model.intercept_[0], True
        self.n_labelled_ = len(labels)
        return self

    def zero_shot(self, vectors: np.ndarray) -> np.ndarray:
        """(n, challenges) cosine to each challenge text, stretched to [0, 1] over the labelled records' band."""
        raw = np.asarray(vectors, dtype=np.float32) @ self.challenge_vectors_.T
        span = np.where(self.high_ - self.low_ > 1e-6, self.high_ - self.low_, 1.0)
        return np.clip((raw - self.low_) / span, 0.0, 1.0)

    def predict(self, vectors: np.ndarray) -> np.ndarray:
        """(n, challenges) alignment in [0, 1]."""
        zero_shot = self.zero_shot(vectors)
        learned = 1.0 / (1.0 + np.exp(-(np.asarray(vectors, dtype=np.float32) @ self.coef_.T + self.intercept_)))
        return np.where(self.learned_, self.blend * learned + (1 - self.blend) * zero_shot, zero_shot)

    def state(self) -> dict[str, np.ndarray]:
        """The fitted arrays, by the names ``from_state`` reads."""
        return {"challenge_coef": self.coef_, "challenge_intercept": self.intercept_,
                "challenge_learned": self.learned_, "challenge_low": self.low_, "challenge_high": self.high_}

    @classmethod
    def from_state(cls, challenge_vectors: np.ndarray, challenge_ids: Sequence[int], arrays: Mapping[str, np.ndarray],
                   **params: float) -> ChallengeModel:
        """The model ``state()`` describes (``arrays`` may hold other arrays too)."""
        self = cls(**params)
        self.challenge_ids_ = list(challenge_ids)
        self.challenge_vectors_ = np.asarray(challenge_vectors, dtype=np.float32)
        self.coef_, self.intercept_ = arrays["challenge_coef"], arrays["challenge_intercept"]
        self.learned_ = arrays["challenge_learned"].astype(bool)
        self.low_, self.high_ = arrays["challenge_low"], arrays["challenge_high"]
        return self
