"""Absolute fit: the probability that a result is a good partner, the same scale for every query.

The ranking's ``score`` is relative (relevance is min-max normalised over the query's candidate pool, so the first
result scores near 1 however poor it is). ``fit`` is not: a logistic model over evidence that means the same for
every query, fitted on the TRAIN split of the labelled development sets (``corpus/data/evaluation/*.jsonl``). It is
the probability that the query is on topic (the gate, below) times that of a good partner given it is, a logistic
model fitted on the shown top 10 of the good queries over:

- ``semantic``: the dense similarity of the brief and the organisation (a cosine, not normalised over the pool);
- ``lexical``: raw BM25 of the organisation's best unit divided by the brief's own idf mass (the sum of its
  terms' idf, words the corpus never uses at the highest idf), so it does not depend on the other candidates;
- ``minerals``: the share of the brief's minerals the organisation works on (0 when the brief names none);
- ``evidence``: ``log1p`` of the brief's domain evidence (minerals, processes, stages, challenge terms recognised).

``fit`` is shown as a band: strong / good / possible / weak, with lower bounds chosen on the train split (in
steps of 0.05, each the lowest bound at which the shown train pairs with a fit up to 0.1 above it are at least
75%, 40% and 15% labelled partners) and kept with the coefficients in ``calibration.json``. A result is flagged
weak under ``weak_below`` (the "possible" bound).

Whether the query as a whole is on topic is decided from the query and the whole index, never from the filters
(``Calibration.gated``): a brief that names the field and nothing else (``AnalysedQuery.field_only``) is on topic;
one with at least as many foreign words (words at most one indexed text uses) as field words, and no organisation
in the index (unfiltered) as close as ``gate["foreign_line"]``, is off topic ("lithium as a treatment for bipolar
disorder"); any other goes by a second, query-level logistic model (``gate``) over the best dense similarity of any
organisation in the index, the brief's domain evidence and its coverage (the share of the brief's content words,
by idf, that one indexed text holds: "fluid inclusion studies" is the field's own words even where the vocabulary
knows none of them, "copper cookware for home chefs" is not), fitted on the good families against the off-topic
one (train split), whose line sits just over the best off-topic train query. An off
topic query has its results' fits scaled under the weak line (``off_topic_scale``), so every one is weak and its
score says so (answered with them and a message, never with nothing); only a query with no domain evidence at all,
no lexical evidence and an unfiltered dense similarity under ``empty`` is answered with nothing.

Refit (bundled model, train split only; writes ``matcher/ranking/calibration.json``)::

    .venv/bin/python scripts/fit_calibration.py --write

Without ``--write`` it prints the fit and the per-family gate figures on train and test; ``--ablation`` prints
nDCG@10 per family with each structured boost (and diversity) switched.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import isotonic_regression

from matcher.ranking.signal import QuerySignals
from matcher.retrieval.layout import SearchLayout
from matcher.retrieval.lexical import LexicalIndex

FEATURES = ("semantic", "lexical", "minerals", "evidence")
# The index's best dense similarity; log1p(the brief's domain evidence); the best text's coverage of its words.
GATE_FEATURES = ("semantic", "evidence", "coverage")
BANDS = ("strong", "good", "possible", "weak")  # best first; "weak" is everything under "possible"
# The shown fit is pooled (isotonic) over consecutive blocks of this many ranks, so a result's score does not
# depend on how many results were asked for: a list of k shows the first k of its ceil(k / POOL_DEPTH) blocks.
POOL_DEPTH = 10
OFF_TOPIC_MARGIN = 0.01  # an off-topic query's best fit is shown this far under the weak line
PATH = Path(__file__).with_name("calibration.json")


@dataclass(frozen=True)
class Calibration:
    """Logistic coefficients over ``FEATURES``, the bands' lower bounds, and the empty-answer line."""

    coef: dict[str, float]
    intercept: float
    bands: dict[str, float]  # strong, good, possible: lower bounds of fit
    gate: dict[str, Any] = field(default_factory=lambda: {"coef": dict.fromkeys(GATE_FEATURES, 0.0),
                                                          "intercept": 0.0, "line": 0.0, "foreign_line": 0.0})
    empty: dict[str, float] = field(default_factory=lambda: {"semantic": 0.0, "lexical": 0.0})
    model: str = ""
    fitted_on: str = ""

    @property
    def weak_below(self) -> float:
        """Fit under which a result is flagged weak: the lower bound of "possible"."""
        return self.bands["possible"]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        return cls(coef={k: float(data["coef"][k]) for k in FEATURES}, intercept=float(data["intercept"]),
                   bands={k: float(data["bands"][k]) for k in BANDS[:-1]},
                gate={"coef": {k: float(data["gate"]["coef"].get(k, 0.0)) for k in GATE_FEATURES},
                      "intercept": float(data["gate"]["intercept"]), "line": float(data["gate"]["line"]),
                      "foreign_line": float(data["gate"].get("foreign_line", 0.0))},
                   empty={k: float(v) for k, v in data.get("empty", {}).items()},
                   model=str(data.get("model", "")), fitted_on=str(data.get("fitted_on", "")))

    def to_dict(self) -> dict[str, Any]:
        return {"coef": self.coef, "intercept": self.intercept, "bands": self.bands, "gate": self.gate,
                "empty": self.empty, "model": self.model, "fitted_on": self.fitted_on}

    def fit(self, features: dict[str, np.ndarray], on_topic: float = 1.0) -> np.ndarray:
        """Probability of a good partner for each candidate, from its features (arrays aligned): the probability
        that the query is on topic (``on_topic``, the gate's) times that of a good partner given it is."""
        z = self.intercept + sum(self.coef[name] * np.asarray(features[name], dtype=np.float64) for name in FEATURES)
        return on_topic / (1.0 + np.exp(-z))

    def band(self, fit: float) -> str:
        for name in BANDS[:-1]:
            if fit >= self.bands[name]:
                return name
        return BANDS[-1]

    def on_topic(self, best_semantic: float, evidence: int, coverage: float = 0.0) -> float:
        """Probability that the query is about the field at all (the gate's model), from the best dense similarity
        of any organisation in the index, the brief's domain evidence and its coverage (``coverage``)."""
        coef = self.gate["coef"]
        z = (self.gate["intercept"] + coef["semantic"] * best_semantic + coef["evidence"] * math.log1p(evidence)
             + coef.get("coverage", 0.0) * coverage)
        return 1.0 / (1.0 + math.exp(-z))

    def gated(self, best_semantic: float, evidence: int, *, field_only: bool = False, foreign: int = 0,
              field_words: int = 0, coverage: float = 0.0) -> bool:
        """The query is off topic (every result weak). Never when the brief names the field and nothing else
        (``field_only``); when its foreign words (``foreign``) are at least as many as its field words and nothing
        in the index comes as close as ``foreign_line``; else when the gate's model is under its line.
        ``best_semantic``: the best dense similarity over the whole index."""
        if field_only:
            return False
        if foreign and foreign >= field_words and best_semantic < self.gate.get("foreign_line", 0.0):
            return True
        return self.on_topic(best_semantic, evidence, coverage) < self.gate["line"]

    def off_topic_scale(self, best_fit: float, weak_below: float | None = None) -> float:
        """The factor an off-topic query's fits are shown at: its best fit lands ``OFF_TOPIC_MARGIN`` under the
        weak line (``weak_below``, the "possible" bound by default), so the score agrees with the weak flag."""
        line = (self.weak_below if weak_below is None else weak_below) - OFF_TOPIC_MARGIN
        return min(1.0, line / best_fit) if best_fit > 0 else 1.0

    def nothing_found(self, evidence: int, best_semantic: float, best_lexical: float) -> bool:
        """No domain evidence at all, and neither meaning nor words come near any organisation: answer nothing."""
        return (evidence == 0 and best_semantic < self.empty.get("semantic", 0.0)
                and best_lexical < self.empty.get("lexical", 0.0))


def shown(fits: np.ndarray, block: int | None = None) -> np.ndarray:
    """The fits as shown down a ranked list: the closest non-increasing sequence (isotonic regression, which
    keeps their mean), so the score shown falls with the rank and the bands never climb back down the list.

    With ``block``, each consecutive block of that many ranks is pooled on its own and held under the block above
    it, so a rank's value depends only on its own block and those above: the list's first k values are the same
    whatever its length, as long as the block holding rank k is complete."""
    fits = np.asarray(fits, dtype=np.float64)
    if len(fits) < 2 or bool((np.diff(fits) <= 0).all()):  # already in order: nothing to pool
        return fits
    if block is None or len(fits) <= block:
        return np.asarray(isotonic_regression(fits, increasing=False).x)
    parts, ceiling = [], math.inf
    for start in range(0, len(fits), block):
        part = np.minimum(shown(fits[start:start + block]), ceiling)
        parts.append(part)
        ceiling = float(part[-1])
    return np.concatenate(parts)


def pool_depth(k: int, available: int) -> int:
    """How many ranks to score so that the first ``k`` are shown as they would be in any longer list: the blocks
    of ``POOL_DEPTH`` that hold them, as far as the ranking goes."""
    return min(available, -(-k // POOL_DEPTH) * POOL_DEPTH)


def foreign_terms(lexical: LexicalIndex, terms: tuple[str, ...] | list[str]) -> int:
    """How many of these BM25 stems at most one indexed text uses: words foreign to the corpus ("bipolar",
    "cookware", "retail"), as a brief off the field uses them."""
    n = float(lexical.n_docs_)
    rare = float(np.log1p((n - 1 + 0.5) / 1.5)) - 1e-4  # BM25's idf of a term one text uses (idf_ is float32)
    return sum(1 for t in terms if t not in lexical.vocab_ or float(lexical.idf_[lexical.vocab_[t]]) >= rare)


def coverage(lexical: LexicalIndex, terms: tuple[str, ...] | list[str]) -> float:
    """The share of these BM25 stems' idf mass (unseen stems at ``unseen_idf``) that the one indexed text holding
    most of it holds, in [0, 1]: how much of what a brief is about the corpus speaks of in one place."""
    terms = list(dict.fromkeys(terms))
    if not terms or lexical.n_docs_ == 0:
        return 0.0
    known = np.array([lexical.vocab_[t] for t in terms if t in lexical.vocab_], dtype=np.int64)
    mass = float(lexical.idf_[known].sum()) + (len(terms) - len(known)) * unseen_idf(lexical)
    if known.size == 0 or mass <= 0:
        return 0.0
    indptr, rows = lexical.counts_.indptr, lexical.counts_.indices
    postings = [rows[indptr[t]:indptr[t + 1]] for t in known.tolist()]
    weights = np.repeat(lexical.idf_[known].astype(np.float64), [len(p) for p in postings])
    held = np.bincount(np.concatenate(postings), weights=weights, minlength=lexical.n_docs_)
    return float(held.max()) / mass


@lru_cache(maxsize=4)
def load(path: Path | str = PATH) -> Calibration:
    """The persisted calibration (the package's, fitted for the bundled model, by default)."""
    return Calibration.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def domain_evidence(query: QuerySignals) -> int:
    """How much of the brief is about the field: the recognised-terms count the query side provides when it does
    (``domain_evidence``), else the minerals and value-chain stages recognised, plus a named challenge."""
    given = getattr(query, "domain_evidence", None)
    if given is not None:
        return int(given)
    return len(query.minerals) + len(query.stages) + (query.challenge is not None)


def unseen_idf(lexical: LexicalIndex) -> float:
    """The idf of a term no indexed text holds (the highest there is): a brief's words the corpus never uses still
    count in its mass, so "wedding photography in Ottawa" is not a perfect match for the one word it shares."""
    n = float(lexical.n_docs_)
    return float(np.log1p((n + 0.5) / 0.5))


def query_mass(lexical: LexicalIndex, text: str) -> float:
    """The brief's idf mass: the sum of its terms' idf, unseen terms at ``unseen_idf`` (a term repeated counts as
    often, as in BM25)."""
    tokens = lexical.terms(text)
    counted = Counter(lexical.vocab_[t] for t in tokens if t in lexical.vocab_)
    unseen = sum(1 for t in tokens if t not in lexical.vocab_) * unseen_idf(lexical)
    if not counted:
        return unseen
    terms = np.fromiter(counted, dtype=np.int64)
    repeats = np.fromiter(counted.values(), dtype=np.float64)
    return float((repeats * lexical.idf_[terms]).sum()) + unseen


def absolute_lexical(lexical: LexicalIndex, layout: SearchLayout, text: str, positions: np.ndarray,
                     best_units: np.ndarray | None = None) -> np.ndarray:
    """BM25 of each organisation's best unit (profile or document) over the brief's idf mass, in [0, 1).
    ``best_units``: those BM25 scores when retrieval already has them (plain, unweighted BM25 of ``text``)."""
    mass = query_mass(lexical, text)
    if mass <= 0 or len(positions) == 0:
        return np.zeros(len(positions))
    if best_units is not None:
        return best_units / mass
    scores = lexical.scores(text)
    best = scores[positions].astype(np.float64)
    for i, p in enumerate(positions.tolist()):
        start, end = int(layout.doc_starts[p]), int(layout.doc_starts[p + 1])
        if end > start:
            best[i] = max(best[i], float(scores[start:end].max()))
    return best / mass


def minerals_shared(query: QuerySignals, organisation_minerals: list[list[str]]) -> np.ndarray:
    """Share of the brief's minerals each organisation works on (0 when the brief names none)."""
    if not query.minerals:
        return np.zeros(len(organisation_minerals))
    return np.array([len(query.minerals & set(m)) / len(query.minerals) for m in organisation_minerals])


def features(semantic: np.ndarray, lexical: np.ndarray, minerals: np.ndarray, evidence: int) -> dict[str, np.ndarray]:
    return {"semantic": np.asarray(semantic, dtype=np.float64), "lexical": np.asarray(lexical, dtype=np.float64),
            "minerals": np.asarray(minerals, dtype=np.float64),
            "evidence": np.full(len(semantic), math.log1p(evidence))}
