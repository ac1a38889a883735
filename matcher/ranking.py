"""The query side of the partner index: filters, retrieval, scoring, diversity and explanations.

``PartnerIndex`` (matcher/index.py) builds, updates and persists the index and inherits these methods; they read
its fitted state (the attributes ending in ``_``) and never change it, so any number of requests may rank at once.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import faiss
import numpy as np

from corpus import vocab
from corpus.schema import Organisation, Project
from matcher.ann import approximate_filter
from matcher.arrays import ranges as _ranges
from matcher.errors import InvalidRequest
from matcher.fusion import convex
from matcher.results import Match
from matcher.units import bits, evidence_passages, mineral_bit, stage_bit

_SEARCHES = ThreadPoolExecutor(max_workers=2, thread_name_prefix="ivf-search")  # see Ranking._retrieve
CHALLENGE_ALIGNED = 0.5  # alignment from which an organisation counts as working on a challenge
_CHALLENGE_NAMES = {1: "challenge one (responsible and efficient mining)", 2: "challenge two (circular economy)"}


@dataclass(frozen=True)
class QuerySignals:
    """What a query asks for beyond its words: minerals, stages, side of the value chain, type preferences."""

    minerals: set[str]
    stages: set[str]
    upstream: bool | None  # the project's side of the chain; None when unknown
    prefer_org_types: set[str]
    challenge: int | None


def _query_side(stages: set[str], country: str | None) -> bool | None:
    """Is the project upstream? From the stages it names, else the seed report's national pattern."""
    if stages:
        upstream = vocab.upstream_stages()
        up = sum(1 for s in stages if s in upstream)
        if up != len(stages) - up:
            return up > len(stages) - up
    return {"CA": True, "GB": False}.get(country or "")


def _top_allowed(values: np.ndarray, k: int, mask: np.ndarray, allowed: int) -> np.ndarray:
    """Positions of the ``k`` largest positive ``values`` where ``mask`` holds (fewer if fewer are positive).

    Exact, and at a million rows about a tenth of the cost of masking, ``flatnonzero`` and ``argpartition`` over
    all of them (common query words give most rows a score): a threshold estimated from a strided sample keeps
    ~8k rows in expectation, and the top k of those is the top k of all whenever at least k pass it (every row
    left out scores at most the threshold, every row kept more). Otherwise, the full path."""
    n = len(values)
    if n > 50_000 and allowed > 0:
        sample = values[:: max(1, n // 20_000)]
        share = allowed / n
        threshold = np.quantile(sample, max(0.0, 1.0 - 8 * k / (n * share)))
        if threshold > 0:
            rows = np.flatnonzero(values > threshold)
            rows = rows[mask[rows]]
            if len(rows) >= k:
                return rows[np.argpartition(-values[rows], k - 1)[:k]]
    rows = np.flatnonzero(values)
    rows = rows[mask[rows]]
    if len(rows) > k:
        rows = rows[np.argpartition(-values[rows], k - 1)[:k]]
    return rows


@dataclass
class _Filter:
    """What one filter (countries, types, exclusions) allows, in the forms each search takes; cached per index."""

    mask: np.ndarray  # organisations
    count: int
    unit_mask: np.ndarray
    unit_count: int
    params: object = None  # exact: faiss.SearchParameters with an ID selector over unit rows
    selector: object = None  # kept alive beside params (FAISS holds a raw pointer)
    units: tuple = ()  # approximate: (base bitmap, base share, delta mask) for units
    passages: tuple = ()  # and for evidence sentences


class Ranking:
    """Query methods of ``PartnerIndex`` (a mixin: see the module docstring)."""

    def encode_query(self, text: str) -> np.ndarray:
        """The query's vector (read-only), from the LRU cache when this text was asked for recently."""
        return self._query_vectors(text)

    def challenge_alignment_of(self, vector: np.ndarray) -> dict[int, float]:
        """Zero-shot alignment of any vector (a query, a project) with each challenge area, in [0, 1]."""
        self._check_fitted()
        sims = self.challenge_model_.predict(vector[None, :])[0]
        return {cid: round(float(s), 4) for cid, s in zip(self.challenges_, sims)}

    def _allowed_positions(self, countries, org_types, exclude, only=None) -> np.ndarray | None:
        return np.flatnonzero(self._filter(countries, org_types, exclude, only).mask)

    def _filter(self, countries, org_types, exclude=(), only=None) -> _Filter:
        """The filter's masks and selectors; cached when it names no organisations (the common, repeated case)."""
        exclude = frozenset(oid for oid in exclude if oid in self.positions_)
        key = (tuple(sorted(set(countries or ()))), tuple(sorted(set(org_types or ()))))
        if not exclude and only is None:
            return self.filters_(*key)
        return self._make_filter(*key, exclude, only)

    def _make_filter(self, countries, org_types, exclude=frozenset(), only=None) -> _Filter:
        mask = self._organisation_mask(countries, org_types, exclude, only)
        unit_mask = mask[self.unit_owner_]
        out = _Filter(mask, int(mask.sum()), unit_mask, int(unit_mask.sum()))
        if self.mode_ == "exact":
            out.selector = faiss.IDSelectorBatch(np.flatnonzero(unit_mask).astype(np.int64))
            out.params = faiss.SearchParameters(sel=out.selector)
        else:
            out.units = approximate_filter(self.units_ann_, self.unit_src_, unit_mask)
            out.passages = approximate_filter(self.passages_ann_, self.passage_src_, mask[self.passage_owner_])
        return out

    def _organisation_mask(self, countries, org_types, exclude, only) -> np.ndarray:
        if only is not None:
            mask = np.zeros(len(self.ids_), dtype=bool)
            mask[[self.positions_[oid] for oid in only if oid in self.positions_]] = True
        else:
            mask = np.ones(len(self.ids_), dtype=bool)
        if countries:
            mask &= np.isin(self.countries_, list(countries))
        if org_types:
            mask &= np.isin(self.org_types_, list(org_types))
        else:
            mask &= self.org_types_ != "funder"  # funders pay for partnerships; they are not partners
        for oid in exclude:
            if oid in self.positions_:
                mask[self.positions_[oid]] = False
        return mask

    def rank(
        self,
        query: str | Project,
        *,
        k: int = 10,
        countries: Sequence[str] | None = None,
        org_types: Sequence[str] | None = None,
        challenge: int | None = None,
        exclude: Iterable[str] = (),
        prefer_org_types: Sequence[str] = (),
        query_country: str | None = None,
        challenge_only: bool = False,
        explain: bool = True,
        only: Iterable[str] | None = None,
        diversify: bool = True,
        query_vector: np.ndarray | None = None,
    ) -> list[Match]:
        """Best ``k`` organisations for a brief (free text) or a project, filtered inside the search.

        ``query_country`` is the project team's country (a project's own country by default); with it, partners
        whose value-chain stages complement the project's side of the chain score higher. ``only`` restricts the
        search to these organisation ids (to explain chosen pairs; scores are relative to the candidates searched);
        ``diversify=False`` ranks by score alone (for callers that take every candidate, such as shortlists).
        """
        self._check_fitted()
        if isinstance(query, Project):
            text = query.query_text()
            query_minerals = set(query.minerals) | set(vocab.detect_minerals(text))
            exclude = {*exclude, *([query.lead_organisation_id] if query.lead_organisation_id else [])}
            query_country = query_country or query.country
        else:
            text = query
            query_minerals = set(vocab.detect_minerals(text))
        query_stages = set(vocab.detect_stages(text))
        signals = QuerySignals(
            minerals=query_minerals,
            stages=query_stages,
            upstream=_query_side(query_stages, query_country),
            prefer_org_types=set(prefer_org_types),
            challenge=challenge,
        )
        if challenge is not None and challenge not in self.challenges_:
            raise InvalidRequest(f"challenge must be one of {sorted(self.challenges_)} or null, not {challenge!r}")
        allowed = self._filter(countries, org_types, exclude, only)
        if k <= 0 or allowed.count == 0:
            return []
        qvec = self.encode_query(text) if query_vector is None else query_vector  # batch callers encode once
        candidates, relevance, dense, lexical = self._retrieve(text, qvec, allowed, k)
        scores, parts = self._score(candidates, relevance, dense, lexical, signals)
        rows = np.arange(len(candidates))
        if challenge_only and challenge is not None:
            rows = rows[parts[f"challenge_{challenge}"] >= CHALLENGE_ALIGNED]
        ids = self.ids_
        keep = min(len(rows), 3 * k)
        if len(rows) > keep:  # only the best 3k (and anything tied with the last) need sorting, by score then id
            cut = np.partition(scores[rows], len(rows) - keep)[len(rows) - keep]
            rows = rows[scores[rows] >= cut]
        order = sorted(rows.tolist(), key=lambda i: (-scores[i], ids[candidates[i]]))
        scored = [(float(scores[i]), int(candidates[i]), i) for i in order]
        chosen = self._diversify(scored[: 3 * k], k) if self.diversity > 0 and diversify else scored[:k]
        if not chosen:
            return []
        chosen_rows = np.array([row for _, _, row in chosen])
        names = list(parts)
        table = np.round(np.stack([parts[name][chosen_rows] for name in names], axis=1), 4).tolist()
        explanations = self._explanations([p for _, p, _ in chosen], qvec, signals) if explain else None
        matches = []
        for rank, ((score, position, _), values) in enumerate(zip(chosen, table), start=1):
            components = {name: value for name, value in zip(names, values) if not math.isnan(value)}  # NaN: n/a
            organisation = self.organisations_[position]
            explanation = explanations(rank - 1, components) if explain else None
            weak = self.weak_below is not None and components["semantic"] < self.weak_below
            matches.append(Match(rank, round(score, 4), organisation, components, explanation, weak))
        return matches

    def _diversify(self, scored: list, k: int) -> list:
        """Maximal marginal relevance over the best candidates, using profile similarity between organisations.

        A candidate's gain is (1 - d) * score - d * (its highest similarity to one already chosen). Kept up to date
        with one ``minimum`` per pick against that pick's row of ``value - d * similarity``, which is the same
        float arithmetic (rounding is monotone): three numpy calls a pick instead of six."""
        positions = np.array([p for _, p, _ in scored], dtype=np.int64)
        value = (1 - self.diversity) * np.array([s for s, _, _ in scored])
        profiles = self._unit_vectors(positions)  # profile rows are organisation positions
        after = value - self.diversity * (profiles @ profiles.T).astype(np.float64)  # row b: gains once b is chosen
        gain = value.copy()
        chosen: list[int] = []
        for _ in range(min(k, len(scored))):
            best = int(gain.argmax())  # ties: the earlier (better-ranked) candidate
            chosen.append(best)
            np.minimum(gain, after[best], out=gain)
            gain[best] = -np.inf  # and minimum keeps it there
        return [scored[i] for i in chosen]

    def _retrieve(self, text: str, qvec: np.ndarray, allowed: _Filter, k: int):
        """Candidate organisations from both retrievers, each scored exactly by both, then fused.

        Dense candidates come from FAISS restricted to the allowed organisations' units (ID selector, or bitmap
        for the approximate index) and from each organisation's best evidence sentence: the model reads ~256
        tokens, so a long profile is judged on its beginning, and a capability stated further down is caught by
        its sentence. Lexical candidates come from one sparse BM25 product over all units, masked. Returns
        (positions, relevance, dense, lexical).
        """
        n = len(self.ids_)
        pool = min(allowed.unit_count, max(self.candidates, 3 * k))
        if self.mode_ == "exact":
            _, hits = self.index_.search(qvec[None, :], pool, params=allowed.params)
            dense_orgs = self.unit_owner_[hits[0][hits[0] >= 0]]
        else:
            # The sentence search runs on a second thread meanwhile (FAISS releases the GIL): one query's two IVF
            # searches take the time of one on two cores. (FAISS's own per-list threading would too, but it
            # returns different hits among equal distances from run to run.)
            sentences_found = _SEARCHES.submit(self.passages_ann_.search, qvec, pool, *allowed.passages)
            base_ids, _, delta_rows, _ = self.units_ann_.search(qvec, pool, *allowed.units)
            dense_orgs = self.unit_owner_[np.concatenate([self.unit_base_rows_[base_ids], self.unit_delta_rows_[delta_rows]])]
        unit_lexical = self.lexical_.scores(text)
        org_lexical = unit_lexical[:n]  # profiles; then an organisation's best document
        if len(unit_lexical) > n:
            # Documents are grouped by owner: one maximum per group (ufunc.at is ten times slower).
            has_docs = self.n_docs_ > 0
            best_doc = np.maximum.reduceat(unit_lexical[n:], self.doc_starts_[:-1][has_docs] - n)
            org_lexical[has_docs] = np.maximum(org_lexical[has_docs], best_doc)
        lexical_orgs = _top_allowed(org_lexical, pool, allowed.mask, allowed.count)
        if self.mode_ == "exact":
            # Best sentence per organisation: one matrix product over the evidence sentences, masked to the allowed.
            # Sentences are grouped by owner and every organisation has one (its name if nothing else).
            best_sentence = np.maximum.reduceat(self.passage_vectors_ @ qvec, self.passage_starts_[:-1]).astype(np.float64)
            best_sentence[~allowed.mask] = -1.0
            sentence_orgs = np.argpartition(-best_sentence, min(pool, n) - 1)[:pool]
            sentence_orgs = sentence_orgs[allowed.mask[sentence_orgs]]
        else:
            base_ids, _, delta_rows, _ = sentences_found.result()
            rows = np.concatenate([self.passage_base_rows_[base_ids], self.passage_delta_rows_[delta_rows]])
            sentence_orgs = self.passage_owner_[rows]
        candidates = np.sort(np.concatenate([dense_orgs, lexical_orgs, sentence_orgs]).astype(np.int64))
        first = np.ones(len(candidates), dtype=bool)
        np.not_equal(candidates[1:], candidates[:-1], out=first[1:])
        candidates = candidates[first]  # unique and sorted: np.unique's result, without its checks (~0.1 ms cold)
        if candidates.size == 0:  # an approximate search can miss a tiny filter's few vectors altogether
            empty = np.zeros(0)
            return candidates, empty, empty, empty
        sentences = best_sentence[candidates] if self.mode_ == "exact" else self._best_sentences(candidates, qvec)
        dense = np.maximum(self._dense_scores(candidates, qvec), sentences)
        lexical = org_lexical[candidates].astype(np.float64) * allowed.mask[candidates]
        if self.fusion == "dense":
            relevance = dense
        else:
            relevance = convex(lexical, dense, self.weights.lexical)
        top_lexical = lexical.max() if lexical.size and lexical.max() > 0 else 1.0
        return candidates, relevance, dense, lexical / top_lexical

    def _best_sentences(self, candidates: np.ndarray, qvec: np.ndarray) -> np.ndarray:
        """Each candidate's best evidence-sentence similarity (every organisation has at least one sentence)."""
        rows, lengths = _ranges(self.passage_starts_, candidates)
        sims = self._passage_vectors(rows) @ qvec
        return np.maximum.reduceat(sims, np.concatenate([[0], np.cumsum(lengths)[:-1]])).astype(np.float64)

    def _dense_scores(self, candidates: np.ndarray, qvec: np.ndarray) -> np.ndarray:
        """Per organisation: best unit + a share of the second best, so a second strong document counts but one
        strong project is never averaged away by weaker ones. With one unit this is the plain cosine."""
        if not self.n_docs_[candidates].any():  # profiles only (no documents attached): the plain cosines
            return (self._unit_vectors(candidates) @ qvec).astype(np.float64)
        doc_rows, doc_counts = _ranges(self.doc_starts_ - len(self.ids_), candidates)
        units = np.concatenate([candidates, len(self.ids_) + doc_rows])  # profile row = organisation position
        owners = np.concatenate([candidates, np.repeat(candidates, doc_counts)])
        sims = self._unit_vectors(units) @ qvec
        order = np.lexsort((-sims, owners))
        owners, sims = owners[order], sims[order]
        first = np.r_[True, owners[1:] != owners[:-1]]
        heads = np.flatnonzero(first)
        best, who = sims[heads], owners[heads]
        nxt = np.minimum(heads + 1, len(owners) - 1)
        second = np.where((heads + 1 < len(owners)) & (owners[nxt] == who), sims[nxt], 0.0)
        share = self.weights.second_document
        combined = np.where(best > 0, best + share * np.clip(second, 0, None) * (1 - best), best)
        if np.array_equal(who, candidates):  # candidates come sorted and unique (np.unique): already aligned
            return combined.astype(np.float64)
        return combined[np.searchsorted(who, candidates)].astype(np.float64)

    def _score(self, candidates: np.ndarray, relevance: np.ndarray, dense: np.ndarray, lexical: np.ndarray,
               q: QuerySignals) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Scores of all candidates at once: the weighted mean of the components that apply to this query (every
        component in [0, 1]); and each component per candidate (NaN where it does not apply to that one).

        Vectorised over bitmasks of minerals and stages: scoring hundreds of candidates one by one in Python
        cost more than the rest of a query together."""
        w = self.weights
        parts = {"relevance": relevance, "semantic": dense, "lexical": lexical}
        total = w.semantic * relevance
        weight = np.full(len(candidates), w.semantic)
        stage_bits = self.stage_bits_[candidates]
        if q.minerals:
            shared = np.bitwise_count(self.mineral_bits_[candidates] & np.uint64(bits(q.minerals, mineral_bit())))
            parts["minerals"] = shared / len(q.minerals)
            total, weight = total + w.minerals * parts["minerals"], weight + w.minerals
        query_stages = bits(q.stages, stage_bit())
        if q.stages:
            parts["stages"] = np.bitwise_count(stage_bits & np.uint16(query_stages)) / len(q.stages)
            total, weight = total + w.stages * parts["stages"], weight + w.stages
        if q.upstream is not None:
            # The seed report's pattern: partners are often complementary, not identical. An upstream project
            # (exploration, extraction, processing, mine waste) gains most from downstream partners, and back.
            upstream = bits(vocab.upstream_stages(), stage_bit())
            every = (1 << len(stage_bit())) - 1
            other = (every & ~upstream if q.upstream else upstream) & ~query_stages & every
            counts = np.bitwise_count(stage_bits)
            has = counts > 0
            value = np.bitwise_count(stage_bits & np.uint16(other)) / np.maximum(counts, 1)
            parts["complementarity"] = np.where(has, value, np.nan)
            total = total + np.where(has, w.complementarity * value, 0.0)
            weight = weight + np.where(has, w.complementarity, 0.0)
        if q.prefer_org_types:
            parts["org_type"] = np.isin(self.org_types_[candidates], list(q.prefer_org_types)).astype(np.float64)
            total, weight = total + w.org_type * parts["org_type"], weight + w.org_type
        for column, cid in enumerate(self.challenges_):
            parts[f"challenge_{cid}"] = self.challenge_alignment_[candidates, column].astype(np.float64)
        if q.challenge is not None:
            total, weight = total + w.challenge * parts[f"challenge_{q.challenge}"], weight + w.challenge
        return total / weight, parts

    def _explanations(self, positions: list[int], qvec: np.ndarray, q: QuerySignals):
        """A function (i, components) -> the explanation of the i-th chosen organisation.

        What depends only on the query (its minerals and stages by name, the weights) is made once, what depends
        only on the organisation comes from ``shown_`` (cached while it keeps being shown), and the evidence
        sentences of all chosen organisations are scored in one matrix product."""
        rows, lengths = _ranges(self.passage_starts_, np.asarray(positions, dtype=np.int64))
        flat = (self._passage_vectors(rows) @ qvec).tolist()  # Python floats: each is read once or twice
        offsets = [0, *itertools.accumulate(lengths.tolist())]
        minerals, stages = vocab.minerals(), vocab.value_chain_stages()
        query_minerals = sorted(minerals[m].name for m in q.minerals)
        query_stages = [stages[s].name for s in sorted(q.stages)]
        weights = self.weights.as_dict()
        challenge_keys = [(cid, f"challenge_{cid}") for cid in self.challenges_]

        def explain(i: int, components: dict) -> dict:
            shown = self.shown_(positions[i])
            sims = flat[offsets[i] : offsets[i + 1]]
            best = sorted(range(len(sims)), key=sims.__getitem__, reverse=True)[:2]  # ties: the earlier sentence
            evidence = [{"text": shown.passages[j], "similarity": round(sims[j], 4)} for j in best]
            shared = [minerals[m].name for m in shown.minerals if m in q.minerals]
            challenge_scores = {cid: components[key] for cid, key in challenge_keys}
            best_challenge = max(challenge_scores, key=challenge_scores.get)
            reason = f"{shown.head}: profile similarity {components['semantic']:.2f}"
            if shared:
                reason += f"; works on {', '.join(shared)}"
            reason += shown.active_in
            if components.get("complementarity", 0) >= 0.5:
                reason += "; complements the project's side of the value chain"
            reason += f"; closest to {_CHALLENGE_NAMES.get(best_challenge, f'challenge {best_challenge}')}."
            return {
                "reason": reason,
                "evidence": evidence,
                "shared_minerals": shared,
                "query_minerals": list(query_minerals),
                "value_chain_stages": list(shown.stage_names),
                "shared_stages": [name for s, name in zip(shown.stages, shown.stage_names) if s in q.stages],
                "query_stages": list(query_stages),
                "challenge": {"best": best_challenge, "alignment": challenge_scores},
                "weights": dict(weights),
            }

        return explain


@dataclass(frozen=True)
class ShownOrganisation:
    """What an organisation's explanation takes from its record alone: made once while it keeps being shown."""

    passages: list[str]  # evidence sentences, in the order of the index's sentence vectors
    head: str  # "Name (GB, university)"
    minerals: tuple[str, ...]
    stages: tuple[str, ...]
    stage_names: tuple[str, ...]
    active_in: str  # "; active in <its first three stages>", or "" when it names none

    @classmethod
    def of(cls, org: Organisation) -> ShownOrganisation:
        stages, types = vocab.value_chain_stages(), vocab.org_types()
        names = tuple(stages[s].name for s in org.value_chain_stages)
        active_in = f"; active in {', '.join(n.lower() for n in names[:3])}" if names else ""
        return cls(evidence_passages(org), f"{org.name} ({org.country}, {types[org.org_type].name.lower()})",
                   tuple(org.minerals), tuple(org.value_chain_stages), names, active_in)
