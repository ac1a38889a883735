"""Retrieval evaluation on BEIR-layout benchmarks (SciFact and the like): bm25, dense, rrf and the hybrid.

The hybrid's weight is tuned on a training split and reported on another, never on the split it is scored on.
Metrics follow the BEIR / trec_eval definitions: nDCG@10 with graded gains, recall@k over relevant documents.
"""

from __future__ import annotations

import gzip
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import faiss
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from corpus.loaders import CorpusError
from embeddings.base import Embedder, encode_queries
from embeddings.cache import CachedEmbedder, EmbeddingCache
from matcher.ranking import SIGNALS
from matcher.results import ScoreWeights
from matcher.retrieval.fusion import convex, rrf
from matcher.retrieval.lexical import LexicalIndex

if TYPE_CHECKING:
    from matcher.index import PartnerIndex

POOL = 200  # candidates taken from each retriever before fusion (recall@100 needs well over 100)
ALPHAS = tuple(round(a, 2) for a in np.arange(0.0, 1.0001, 0.05))


@dataclass
class BeirData:
    doc_ids: list[str]
    doc_texts: list[str]
    queries: dict[str, str]

    def qrels(self, directory: Path, split: str) -> dict[str, dict[str, int]]:
        path = directory / "qrels" / f"{split}.tsv"
        if not path.exists():
            splits = sorted(p.stem for p in (directory / "qrels").glob("*.tsv"))
            raise CorpusError(f"no {split!r} split in {directory}/qrels (found: {', '.join(splits) or 'none'})")
        qrels: dict[str, dict[str, int]] = {}
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            parts = line.split("\t")
            if number == 1 and not parts[-1].strip().lstrip("-").isdigit():
                continue  # header
            if len(parts) < 3:
                raise CorpusError(f"{path.name} line {number}: expected query-id, corpus-id, score")
            qrels.setdefault(parts[0], {})[parts[1]] = int(parts[2])
        return {q: docs for q, docs in qrels.items() if q in self.queries}


def load_beir(directory: Path | str) -> BeirData:
    """A BEIR folder: ``corpus.jsonl(.gz)`` with ``_id``/``title``/``text``, ``queries.jsonl``, ``qrels/*.tsv``."""
    directory = Path(directory)
    corpus_path = next((p for p in (directory / "corpus.jsonl.gz", directory / "corpus.jsonl") if p.exists()), None)
    if corpus_path is None or not (directory / "queries.jsonl").exists():
        raise CorpusError(f"{directory} is not a BEIR folder: it needs corpus.jsonl(.gz), queries.jsonl and qrels/")
    opener = gzip.open if corpus_path.suffix == ".gz" else open
    ids, texts = [], []
    with opener(corpus_path, "rt", encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                doc = json.loads(line)
                ids.append(str(doc["_id"]))
                texts.append(f"{doc.get('title', '')} {doc.get('text', '')}".strip())
    queries = {}
    for line in (directory / "queries.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            q = json.loads(line)
            queries[str(q["_id"])] = q["text"]
    return BeirData(ids, texts, queries)


def ndcg_at(ranked: list[str], relevant: dict[str, int], k: int = 10) -> float:
    gains = [relevant.get(d, 0) for d in ranked[:k]]
    dcg = sum(g / np.log2(i + 2) for i, g in enumerate(gains) if g > 0)
    ideal = sorted((g for g in relevant.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / np.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall_at(ranked: list[str], relevant: dict[str, int], k: int) -> float:
    wanted = {d for d, g in relevant.items() if g > 0}
    return len(wanted & set(ranked[:k])) / len(wanted) if wanted else 0.0


def metrics(runs: dict[str, list[str]], qrels: dict[str, dict[str, int]]) -> dict[str, float]:
    qids = [q for q in qrels if any(g > 0 for g in qrels[q].values())]
    out = {
        "ndcg@10": float(np.mean([ndcg_at(runs[q], qrels[q]) for q in qids])),
        "recall@10": float(np.mean([recall_at(runs[q], qrels[q], 10) for q in qids])),
        "recall@100": float(np.mean([recall_at(runs[q], qrels[q], 100) for q in qids])),
    }
    return {k: round(v, 4) for k, v in out.items()}


class BeirEvaluator:
    """Indexes a BEIR corpus once with both retrievers, then scores any split with every method."""

    def __init__(self, data: BeirData, embedder: Embedder, *, cache: EmbeddingCache | None = None,
                 batch_size: int = 64, show_progress: bool = False) -> None:
        self.data = data
        self.embedder = embedder
        self.cache = cache
        self.batch_size = batch_size
        self.show_progress = show_progress

    def fit(self) -> BeirEvaluator:
        started = time.perf_counter()
        self.lexical_ = LexicalIndex().fit(self.data.doc_texts)
        encoder = CachedEmbedder(self.embedder, self.cache) if self.cache is not None else self.embedder
        self.doc_vectors_ = encoder.encode(self.data.doc_texts, batch_size=self.batch_size, show_progress=self.show_progress)
        self.dense_ = faiss.IndexFlatIP(self.doc_vectors_.shape[1])
        self.dense_.add(self.doc_vectors_)
        self.fit_seconds_ = time.perf_counter() - started
        return self

    def _pools(self, qids: list[str]) -> dict[str, dict]:
        """Per query: each retriever's ranking, and the candidate pool scored by both."""
        texts = [self.data.queries[q] for q in qids]
        qvecs = encode_queries(self.embedder, texts, batch_size=self.batch_size)
        pool = min(POOL, len(self.data.doc_ids))
        dense_sims, dense_hits = self.dense_.search(qvecs, pool)
        out = {}
        for row, qid in enumerate(qids):
            lexical_scores = self.lexical_.scores(texts[row])
            lexical_hits = np.argsort(-lexical_scores, kind="stable")[:pool]
            candidates = np.union1d(lexical_hits, dense_hits[row][dense_hits[row] >= 0])
            out[qid] = {
                "lexical": lexical_hits,
                "dense": dense_hits[row][dense_hits[row] >= 0],
                "candidates": candidates,
                "lexical_scores": lexical_scores[candidates],
                "dense_scores": self.doc_vectors_[candidates] @ qvecs[row],
            }
        return out

    def _ranked(self, pools: dict, method: str, alpha: float = 0.5) -> dict[str, list[str]]:
        ids = self.data.doc_ids
        runs = {}
        for qid, p in pools.items():
            if method == "bm25":
                order = p["lexical"]
            elif method == "dense":
                order = p["dense"]
            elif method == "rrf":
                ranks = rrf(p["lexical"], p["dense"])
                order = sorted(ranks, key=lambda d: -ranks[d])
            else:
                fused = convex(p["lexical_scores"], p["dense_scores"], alpha)
                order = p["candidates"][np.argsort(-fused, kind="stable")]
            runs[qid] = [ids[i] for i in order[:100]]
        return runs

    def tune_alpha(self, qrels: dict[str, dict[str, int]]) -> tuple[float, float]:
        """The lexical weight with the best nDCG@10 on these (training) judgements."""
        pools = self._pools(list(qrels))
        scored = [(metrics(self._ranked(pools, "hybrid", a), qrels)["ndcg@10"], a) for a in ALPHAS]
        best, alpha = max(scored, key=lambda t: (t[0], -abs(t[1] - 0.5)))
        return alpha, best

    def evaluate(self, qrels: dict[str, dict[str, int]], alpha: float) -> dict[str, dict[str, float]]:
        pools = self._pools(list(qrels))
        return {
            "bm25": metrics(self._ranked(pools, "bm25"), qrels),
            "dense": metrics(self._ranked(pools, "dense"), qrels),
            "rrf": metrics(self._ranked(pools, "rrf"), qrels),
            "hybrid": metrics(self._ranked(pools, "hybrid", alpha), qrels),
        }


def evaluate_beir(directory: Path | str, embedder: Embedder, *, split: str = "test", tune_split: str | None = "train",
                  alpha: float | None = None, cache: EmbeddingCache | None = None, show_progress: bool = False) -> dict:
    """Every method's nDCG@10, recall@10 and recall@100 on ``split``; the hybrid's weight tuned on ``tune_split``."""
    directory = Path(directory)
    data = load_beir(directory)
    test_qrels = data.qrels(directory, split)
    evaluator = BeirEvaluator(data, embedder, cache=cache, show_progress=show_progress).fit()
    tuning: dict[str, float | str | None] = {"alpha": alpha, "tuned_on": None}
    if alpha is None:
        if not tune_split or tune_split == split:
            raise CorpusError("the hybrid weight must be tuned on another split than the one reported; pass --tune-split or --alpha")
        alpha, train_ndcg = evaluator.tune_alpha(data.qrels(directory, tune_split))
        tuning = {"alpha": alpha, "tuned_on": tune_split, "tuned_ndcg@10": train_ndcg}
    started = time.perf_counter()
    methods = evaluator.evaluate(test_qrels, alpha)
    return {
        "dataset": directory.name,
        "split": split,
        "queries": len(test_qrels),
        "documents": len(data.doc_ids),
        "model": embedder.model_id,
        "hybrid": {"fusion": "convex combination of min-max normalised BM25 and dense scores", **tuning},
        "methods": methods,
        "seconds": {"index": round(evaluator.fit_seconds_, 1), "queries": round(time.perf_counter() - started, 1)},
    }


# ---------------------------------------------------------------------- labelled partner briefs
class LabelledBrief(BaseModel):
    """A brief with the organisations an expert would shortlist: 2 = ideal partner, 1 = credible partner."""

    model_config = ConfigDict(extra="forbid")

    id: str
    text: str = Field(min_length=1)
    countries: list[str] = Field(default_factory=list)
    challenge: int | None = Field(None, ge=1, le=2)
    relevant: dict[str, int]
    note: str = ""
    split: str = Field("test", pattern="^(train|test)$", description="train: for tuning weights; test: for reporting")


def load_briefs(path: Path | str) -> list[LabelledBrief]:
    from corpus.loaders import load_records

    return load_records(Path(path), LabelledBrief)


def _brief_rankings(index: PartnerIndex, brief: LabelledBrief, k: int) -> dict[str, list[str]]:
    """bm25 alone, the dense model alone, and the product's full ranking, all under the brief's filters."""
    allowed = index.filter(brief.countries, None, ())
    qvec = index.encode_query(brief.text)
    found = index.retrieve(brief.text, qvec, allowed, k)
    ids = index.ids_

    def by(values: np.ndarray) -> list[str]:
        return [ids[c] for c in found.positions[np.argsort(-values, kind="stable")][:k]]

    team = {"GB": "CA", "CA": "GB"}.get(brief.countries[0]) if len(brief.countries) == 1 else None
    product = index.rank(brief.text, k=k, countries=brief.countries, challenge=brief.challenge, query_country=team,
                         explain=False)
    return {"bm25": by(found.lexical), "dense": by(found.dense), "hybrid": [m.organisation.id for m in product]}


def evaluate_briefs(index: PartnerIndex, briefs: list[LabelledBrief], k: int = 10) -> dict:
    """recall@10 and nDCG@10 per method on labelled briefs, and a weak-match threshold calibrated on them.

    Pass only the briefs of one split: tune on ``train``, report ``test``."""
    runs: dict[str, dict[str, list[str]]] = {"bm25": {}, "dense": {}, "hybrid": {}}
    qrels = {b.id: b.relevant for b in briefs}
    relevant_sims: list[float] = []
    other_sims: list[float] = []
    for brief in briefs:
        for method, ranked in _brief_rankings(index, brief, max(k, 100)).items():
            runs[method][brief.id] = ranked
        for m in index.rank(brief.text, k=k, countries=brief.countries, explain=False):
            (relevant_sims if m.organisation.id in brief.relevant else other_sims).append(m.scores["semantic"])
    methods = {name: metrics(run, qrels) for name, run in runs.items()}
    # The threshold keeps 95% of the labelled partners that reach the top 10: below it a result is rarely one an
    # expert would pick, so it is flagged weak (and a list of nothing but weak results is answered as empty).
    threshold = float(np.percentile(relevant_sims, 5)) if relevant_sims else None
    return {
        "briefs": len(briefs),
        "labelled_pairs": sum(len(b.relevant) for b in briefs),
        "methods": methods,
        "weak_threshold": {
            "suggested_weak_below": None if threshold is None else round(threshold, 3),
            "relevant_in_top10_median_semantic": round(float(np.median(relevant_sims)), 3) if relevant_sims else None,
            "unlabelled_in_top10_median_semantic": round(float(np.median(other_sims)), 3) if other_sims else None,
        },
    }


# The grid searched by `matcher evaluate --briefs FILE --tune` on the train split; the winner becomes the
# default ScoreWeights and diversity (see README), and is then reported on the test split. "structure" scales the
# weights of the structural signals together; a signal with its own ``tuning`` values is searched over them.
TUNING_GRID: dict[str, tuple[float, ...]] = {
    "lexical": (0.3, 0.45, 0.6, 0.75),
    "diversity": (0.0, 0.1, 0.2),
    "structure": (0.0, 0.5, 1.0),
    **{signal.name: signal.tuning for signal in SIGNALS if signal.tuning},
}


def tune_on_briefs(index: PartnerIndex, train: list[LabelledBrief]) -> tuple[dict, dict]:
    """Grid search of the ranking weights on training briefs (recall@10, then nDCG@10). Returns (best, its metrics).

    The index is left with its original weights."""
    import dataclasses
    import itertools

    original, original_diversity = index.weights, index.diversity
    base = ScoreWeights()
    best: tuple | None = None
    try:
        for values in itertools.product(*TUNING_GRID.values()):
            params = dict(zip(TUNING_GRID, values))
            structure = params["structure"]
            index.weights = dataclasses.replace(
                base, lexical=params["lexical"],
                **{s.name: params[s.name] for s in SIGNALS if s.tuning},
                **{s.name: getattr(base, s.name) * structure for s in SIGNALS if s.structural and not s.tuning})
            index.diversity = params["diversity"]
            hybrid = evaluate_briefs(index, train)["methods"]["hybrid"]
            key = (hybrid["recall@10"], hybrid["ndcg@10"])
            if best is None or key > best[0]:
                best = (key, params, hybrid)
    finally:
        index.weights, index.diversity = original, original_diversity
    assert best is not None  # nosec B101: the grid is never empty
    return best[1], best[2]
