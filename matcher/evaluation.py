"""Retrieval evaluation on BEIR-layout benchmarks (SciFact and the like): bm25, dense, rrf and the hybrid.

The hybrid's weight is tuned on a training split and reported on another, never on the split it is scored on.
Metrics follow the BEIR / trec_eval definitions: nDCG@10 with graded gains, recall@k over relevant documents.
"""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import faiss
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from corpus.loaders import CorpusError
from embeddings.base import Embedder, encode_queries
from embeddings.cache import CachedEmbedder, EmbeddingCache
from matcher.ranking import SIGNALS
from matcher.ranking.calibration import BANDS
from matcher.requests import MatchRequest
from matcher.results import Match, ScoreWeights
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
        self.lexical_ = LexicalIndex(fold_spelling=False).fit(self.data.doc_texts)
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
TWIN_FIELDS = ("english", "spelled_out", "correct")  # the same need written plainly, scored against the same labels
REFERENCE_FAMILY = "dev"  # the plain English briefs the other families are compared with (issue 21's targets)
WITHIN = 0.1  # target: every family's product nDCG@10 within this of the reference family's


class LabelledBrief(BaseModel):
    """A brief with the organisations an expert would shortlist: 2 = ideal partner, 1 = credible partner.

    ``relevant`` is empty for an off-topic query (the right answer is nothing, or results flagged weak). The
    optional ``english`` (a French brief's translation), ``spelled_out`` (symbols written out) and ``correct``
    (typos corrected) hold the same need written plainly: its twin, scored against the same labels."""

    model_config = ConfigDict(extra="forbid")

    id: str
    text: str = Field(min_length=1)
    countries: list[str] = Field(default_factory=list)
    challenge: int | None = Field(None, ge=1, le=2)
    relevant: dict[str, int]
    note: str = ""
    split: str = Field("test", pattern="^(train|test)$", description="train: for tuning weights; test: for reporting")
    family: str | None = Field(None, min_length=1, description="the kind of input; default: the file's (see load_briefs)")
    need: str | None = Field(None, description="the capability asked for, shared by the items of every family")
    english: str | None = Field(None, min_length=1)
    spelled_out: str | None = Field(None, min_length=1)
    correct: str | None = Field(None, min_length=1)

    @property
    def good(self) -> bool:
        """Does it have a relevant organisation (off-topic queries have none)?"""
        return any(g > 0 for g in self.relevant.values())

    def twin(self) -> tuple[str, str] | None:
        """(field, text) of the plainly written twin, if the brief has one."""
        for name in TWIN_FIELDS:
            value = getattr(self, name)
            if value:
                return name, value
        return None


def _file_family(path: Path) -> str:
    return "dev" if path.stem == "dev-briefs" else path.stem


def load_briefs(path: Path | str) -> list[LabelledBrief]:
    """Labelled briefs of one JSONL file, or of every ``*.jsonl`` in a folder (in name order, ids unique across
    files). A brief without ``family`` takes its file's: the file name's stem, ``dev`` for ``dev-briefs.jsonl``."""
    from corpus.loaders import load_records

    path = Path(path)
    files = sorted(path.glob("*.jsonl")) if path.is_dir() else [path]
    if not files:
        raise CorpusError(f"no *.jsonl files of labelled briefs in {path}")
    briefs: list[LabelledBrief] = []
    origin: dict[str, str] = {}
    for file in files:
        for brief in load_records(file, LabelledBrief):
            if brief.id in origin:
                raise CorpusError(f"{file.name}: brief id {brief.id!r} is already defined in {origin[brief.id]}")
            origin[brief.id] = file.name
            briefs.append(brief if brief.family else brief.model_copy(update={"family": _file_family(file)}))
    return briefs


def _weak(result: dict) -> bool:
    """Is a result of the service's response flagged weak (a flag, or the weakest band)?"""
    return bool(result.get("weak")) or result.get("band") == "weak"


@dataclass
class _Run:
    """One query text's rankings by each method, and what the service answered."""

    rankings: dict[str, list[str]]
    empty: bool | None  # the service answered with no result (None: no service to ask)
    rejected: bool  # answered with nothing, or with every result flagged weak
    semantic: dict[str, float]  # the product's top 10: organisation id -> semantic similarity
    bands: dict[str, str]  # the product's top 10: organisation id -> the band shown
    seconds: float  # the product's ranking time


class BriefRanker:
    """The three methods compared on labelled briefs, over one index's organisations and filters.

    - ``bm25``: plain BM25 (default parameters, no query processing) over one text per organisation: its profile and
      its documents, as indexed;
    - ``dense``: the model alone: the raw query's cosine with the organisation's best unit (profile or document);
    - ``product``: ``PartnerIndex.rank`` as the service calls it (the brief's countries and challenge, the team's
      country inferred from the countries as the engine does), k = 10; beyond 10 (for recall@100), its k = 100 list.
      A result's sub-units (``units``, grouping) count where the list shows them: right after it.

    ``answer`` is the service (``PartnerMatcher.match``): with it, whether a good query is answered with nothing is
    measured through the engine's own response, so its gate that hides weak results is included."""

    def __init__(self, index: PartnerIndex, answer: Callable[[MatchRequest], dict] | None = None, *, k: int = 10,
                 depth: int = 100) -> None:
        from matcher.retrieval.units import document_texts

        self.index, self.answer, self.k, self.depth = index, answer, k, depth
        organisations = list(index.organisations_)
        self.ids = list(index.ids_)
        self.lexical = LexicalIndex(fold_spelling=False).fit(
            [" ".join([o.profile_text(), *document_texts(o)]) for o in organisations])
        layout = index.layout_
        self.unit_vectors = np.asarray(index.dense_.unit_vectors(np.arange(layout.n_units)), dtype=np.float32)
        self.unit_owner = layout.unit_owner

    def _plain(self, scores: np.ndarray, allowed: np.ndarray) -> list[str]:
        masked = np.full(len(self.ids), -np.inf)
        masked[allowed] = scores[allowed]
        order = np.argsort(-masked, kind="stable")[: min(self.depth, len(allowed))]
        return [self.ids[i] for i in order]

    def request(self, brief: LabelledBrief, text: str, k: int) -> MatchRequest:
        return MatchRequest(text=text, countries=brief.countries, challenge=brief.challenge, k=k,
                            explain=False)

    def _product(self, request: MatchRequest) -> list[Match]:
        return rank_as_service(self.index, request)

    def run(self, brief: LabelledBrief, text: str) -> _Run:
        allowed = self.index.allowed_positions(brief.countries, None, ())
        bm25 = self._plain(self.lexical.scores(text).astype(np.float64), allowed)
        qvec = encode_queries(self.index.embedder, [text], batch_size=1)[0]
        sims = self.unit_vectors @ qvec
        best = np.full(len(self.ids), -np.inf)
        np.maximum.at(best, self.unit_owner, sims)
        dense = self._plain(best, allowed)

        request = self.request(brief, text, self.k)
        started = time.perf_counter()
        top = self._product(request)
        seconds = time.perf_counter() - started
        ranked = shown_ids(top)
        empty: bool | None = None
        rejected = not top or all(m.weak for m in top)
        if self.answer is not None:
            results = self.answer(request)["results"]
            empty = not results
            rejected = empty or all(_weak(r) for r in results)
            if results:  # what the service shows is the product's ranking, whatever the index call above says
                ranked = [oid for r in results for oid in (r["organisation"]["id"],
                                                           *(u["organisation"]["id"] for u in r.get("units", [])))]
        deeper = self._product(self.request(brief, text, self.depth)) if self.depth > self.k else []
        shown = set(ranked)
        product = ranked + [oid for oid in shown_ids(deeper) if oid not in shown]
        semantic = {m.organisation.id: float(m.scores.get("semantic", np.nan)) for m in top}
        bands = {m.organisation.id: m.band or "" for m in top}
        return _Run({"bm25": bm25, "dense": dense, "product": product}, empty, rejected, semantic, bands, seconds)


def shown_ids(matches: list[Match]) -> list[str]:
    """Organisation ids in the order a list shows them: each result, then the sub-units listed under it (grouping)."""
    return [oid for m in matches for oid in (m.organisation.id, *(u.organisation.id for u in m.units))]


def rank_as_service(index: PartnerIndex, request: MatchRequest) -> list[Match]:
    """``PartnerIndex.rank`` called as ``PartnerMatcher.match`` calls it for a text request (explanations off)."""
    return index.rank(request.text or "", k=request.k, countries=request.countries, org_types=request.org_types,
                      challenge=request.challenge, prefer_org_types=request.prefer_org_types,
                      query_country=request.team_country(), challenge_only=request.challenge_only, explain=False,
                      group_units=request.group_units)


def _product_metrics(index: PartnerIndex, briefs: list[LabelledBrief], k: int = 10) -> dict[str, float]:
    """The product's metrics alone on the good briefs (no baselines, twins or service): what tuning compares."""
    good = [b for b in briefs if b.good]
    runs = {}
    for b in good:
        top = shown_ids(rank_as_service(index, MatchRequest(
            text=b.text, countries=b.countries, challenge=b.challenge, k=k, explain=False)))
        shown = set(top)
        deeper = rank_as_service(index, MatchRequest(text=b.text, countries=b.countries, challenge=b.challenge,
                                                     k=max(k, 100), explain=False))
        runs[b.id] = top + [oid for oid in shown_ids(deeper) if oid not in shown]
    return metrics(runs, {b.id: b.relevant for b in good})


def _share(flags: list[bool]) -> dict[str, float | int]:
    return {"count": int(sum(flags)), "of": len(flags), "share": round(sum(flags) / len(flags), 4) if flags else 0.0}


def _per_query_ndcg(run: dict[str, list[str]], qrels: dict[str, dict[str, int]]) -> dict[str, float]:
    return {q: ndcg_at(run[q], qrels[q]) for q in qrels if any(g > 0 for g in qrels[q].values())}


def _family_report(family: str, briefs: list[LabelledBrief], runs: dict[str, _Run],
                   twins: dict[str, tuple[str, _Run]]) -> dict:
    """One family's figures: each method's metrics on its good queries, the service's empty answers, the off-topic
    rejections, the gap to the plainly written twins and the spread across wordings of one need."""
    good = [b for b in briefs if b.good]
    out: dict[str, Any] = {"family": family, "briefs": len(briefs), "good": len(good)}
    qrels = {b.id: b.relevant for b in good}
    product_ndcg: dict[str, float] = {}
    if good:
        out["methods"] = {m: metrics({b.id: runs[b.id].rankings[m] for b in good}, qrels) for m in METHODS}
        product_ndcg = _per_query_ndcg({b.id: runs[b.id].rankings["product"] for b in good}, qrels)
        measured = [runs[b.id].empty for b in good]
        out["empty"] = _share([bool(e) for e in measured]) if None not in measured else None
    offtopic = [b for b in briefs if not b.good]
    if offtopic:
        # The right answer to an off-topic query is nothing, or results all flagged weak (higher is better).
        out["offtopic_rejected"] = _share([runs[b.id].rejected for b in offtopic])
    times = [runs[b.id].seconds for b in briefs]
    out["product_ms"] = {"median": round(1000 * float(np.median(times)), 1), "p90": round(1000 * float(np.percentile(times, 90)), 1)}
    with_twin = [b for b in good if b.id in twins]
    if with_twin:
        field = twins[with_twin[0].id][0]
        twin_runs = {b.id: twins[b.id][1] for b in with_twin}
        tq = {b.id: b.relevant for b in with_twin}
        twin_methods = {m: metrics({q: r.rankings[m] for q, r in twin_runs.items()}, tq) for m in METHODS}
        own = metrics({b.id: runs[b.id].rankings["product"] for b in with_twin}, tq)["ndcg@10"]
        measured = [r.empty for r in twin_runs.values()]
        out["twin"] = {
            "field": field,
            "briefs": len(with_twin),
            "methods": twin_methods,
            "empty": _share([bool(e) for e in measured]) if None not in measured else None,
            # The family's product nDCG@10 minus its twin's (negative: worse than the plainly written need).
            "gap": round(own - twin_methods["product"]["ndcg@10"], 4),
        }
    by_need: dict[str, list[float]] = {}
    for b in good:
        if b.need:
            by_need.setdefault(b.need, []).append(product_ndcg[b.id])
    spreads = [max(v) - min(v) for v in by_need.values() if len(v) > 1]
    if spreads:
        # Wordings of one need: the spread (best minus worst) of the product's nDCG@10 across them.
        out["paraphrase_spread"] = {"needs": len(spreads), "mean": round(float(np.mean(spreads)), 4),
                                    "max": round(float(np.max(spreads)), 4)}
    return out


METHODS = ("bm25", "dense", "product")


def evaluate_briefs(index: PartnerIndex, briefs: list[LabelledBrief], k: int = 10, *,
                    answer: Callable[[MatchRequest], dict] | None = None) -> dict:
    """recall@10 and nDCG@10 per method on labelled briefs, per family, and how the shown bands hold on them.

    Pass only the briefs of one split: tune on ``train``, report ``test``. ``answer`` is the service's
    ``PartnerMatcher.match``: with it, each family reports the share of its good queries answered with nothing
    (None without it). ``methods`` (all good briefs together) names the product ``hybrid``, as it always has."""
    started = time.perf_counter()
    ranker = BriefRanker(index, answer, k=k, depth=max(k, 100))
    runs = {b.id: ranker.run(b, b.text) for b in briefs}
    twins: dict[str, tuple[str, _Run]] = {}
    for b in briefs:
        twin = b.twin()
        if twin is not None and b.good:
            twins[b.id] = (twin[0], ranker.run(b, twin[1]))

    good = [b for b in briefs if b.good]
    qrels = {b.id: b.relevant for b in good}
    methods = {("hybrid" if m == "product" else m): metrics({b.id: runs[b.id].rankings[m] for b in good}, qrels)
               for m in METHODS} if good else {}
    families: dict[str, list[LabelledBrief]] = {}
    for b in briefs:
        families.setdefault(b.family or "dev", []).append(b)
    family_reports = {name: _family_report(name, members, runs, twins) for name, members in families.items()}

    # Does the band shown mean what it says? Per band: the shown top-10 pairs of the good briefs in it, and the
    # share of them labelled partners (the bands were fitted on the train split: read this on test).
    bands: dict[str, Any] = {}
    for band in BANDS:
        labels = [oid in b.relevant for b in good for oid, shown in runs[b.id].bands.items() if shown == band]
        bands[band] = {"pairs": len(labels), "labelled_share": round(float(np.mean(labels)), 3) if labels else None}
    return {
        "briefs": len(briefs),
        "labelled_pairs": sum(len(b.relevant) for b in briefs),
        "methods": methods,
        "families": family_reports,
        "targets": _targets(family_reports),
        "bands": bands,
        "seconds": round(time.perf_counter() - started, 1),
    }


def _targets(families: dict[str, dict]) -> dict:
    """Issue 21's targets, checked on these figures: each family within ``WITHIN`` of the reference family's product
    nDCG@10, the product ahead of both baselines, no good query answered with nothing, every off-topic one rejected."""
    out: dict[str, Any] = {}
    reference = families.get(REFERENCE_FAMILY, {}).get("methods")
    if reference:
        ref = reference["product"]["ndcg@10"]
        out["reference"] = {"family": REFERENCE_FAMILY, "ndcg@10": ref, "within": WITHIN}
        out["within_reference"] = {name: f["methods"]["product"]["ndcg@10"] >= ref - WITHIN
                                   for name, f in families.items() if "methods" in f and name != REFERENCE_FAMILY}
    out["product_beats_both"] = {
        name: f["methods"]["product"]["ndcg@10"] > max(f["methods"]["bm25"]["ndcg@10"], f["methods"]["dense"]["ndcg@10"])
        for name, f in families.items() if "methods" in f}
    empties = [f["empty"] for f in families.values() if f.get("empty") is not None]
    if empties:
        out["good_answered_empty"] = sum(int(e["count"]) for e in empties)
    rejected = [f["offtopic_rejected"] for f in families.values() if "offtopic_rejected" in f]
    if rejected:
        out["offtopic_not_rejected"] = sum(int(r["of"]) - int(r["count"]) for r in rejected)
    return out


def format_family_table(result: dict) -> list[str]:
    """The per-family table of ``evaluate_briefs``: nDCG@10 of each method, the product's recall@10, the share of
    good queries answered with nothing, and the gap to the plainly written twin (or the off-topic rejections, or
    the spread across wordings)."""
    lines = [f"{'family':12} {'n':>3} {'bm25':>6} {'dense':>6} {'product':>7} {'R@10':>5} {'empty':>6} {'ms':>5}  notes"]
    for name, f in result["families"].items():
        notes = []
        if "methods" in f:
            m = f["methods"]
            cells = f"{m['bm25']['ndcg@10']:6.3f} {m['dense']['ndcg@10']:6.3f} {m['product']['ndcg@10']:7.3f} " \
                    f"{m['product']['recall@10']:5.2f}"
        else:
            cells = f"{'-':>6} {'-':>6} {'-':>7} {'-':>5}"
        empty = f"{100 * f['empty']['share']:5.0f}%" if f.get("empty") else f"{'-':>6}"
        if "twin" in f:
            t = f["twin"]
            notes.append(f"gap {t['gap']:+.3f} vs {t['field']} (product {t['methods']['product']['ndcg@10']:.3f}, "
                         f"bm25 {t['methods']['bm25']['ndcg@10']:.3f}, dense {t['methods']['dense']['ndcg@10']:.3f}"
                         + (f", empty {100 * t['empty']['share']:.0f}%" if t.get("empty") else "") + ")")
        if "offtopic_rejected" in f:
            r = f["offtopic_rejected"]
            notes.append(f"off-topic answered empty or all weak: {r['count']}/{r['of']} ({100 * r['share']:.0f}%)")
        if "paraphrase_spread" in f:
            s = f["paraphrase_spread"]
            notes.append(f"spread across wordings: mean {s['mean']:.3f}, max {s['max']:.3f} ({s['needs']} needs)")
        lines.append(f"{name:12} {f['briefs']:>3} {cells} {empty} {f['product_ms']['median']:5.0f}  {'; '.join(notes)}")
    t = result.get("targets", {})
    if "reference" in t:
        misses = [n for n, ok in t["within_reference"].items() if not ok]
        lines.append(f"within {t['reference']['within']} of {t['reference']['family']} "
                     f"({t['reference']['ndcg@10']:.3f}): {'all' if not misses else 'not ' + ', '.join(misses)}")
    behind = [n for n, ok in t.get("product_beats_both", {}).items() if not ok]
    lines.append(f"product ahead of both bm25 and dense: {'every family' if not behind else 'not ' + ', '.join(behind)}")
    if "good_answered_empty" in t:
        lines.append(f"good queries answered with nothing: {t['good_answered_empty']}")
    if "offtopic_not_rejected" in t:
        lines.append(f"off-topic queries answered with results not flagged weak: {t['offtopic_not_rejected']}")
    return lines


# The grid searched by `matcher evaluate --briefs FILE --tune` on the train split; the winner becomes the
# default ScoreWeights and diversity (see docs/ranking.md), and is then reported on the test split. "structure" scales the
# weights of the structural signals together; a signal with its own ``tuning`` values is searched over them.
TUNING_GRID: dict[str, tuple[float, ...]] = {
    "lexical": (0.3, 0.45, 0.6, 0.75),
    "short_lexical": (0.6, 0.7, 0.8),
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
                base, lexical=params["lexical"], short_lexical=params["short_lexical"],
                **{s.name: params[s.name] for s in SIGNALS if s.tuning},
                **{s.name: getattr(base, s.name) * structure for s in SIGNALS if s.structural and not s.tuning})
            index.diversity = params["diversity"]
            hybrid = _product_metrics(index, train)
            key = (hybrid["recall@10"], hybrid["ndcg@10"])
            if best is None or key > best[0]:
                best = (key, params, hybrid)
    finally:
        index.weights, index.diversity = original, original_diversity
    assert best is not None  # nosec B101: the grid is never empty
    return best[1], best[2]
