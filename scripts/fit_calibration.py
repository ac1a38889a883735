"""Fit the absolute-fit calibration (matcher/ranking/calibration.py) on the TRAIN split, and measure on both.

    .venv/bin/python scripts/fit_calibration.py --data-dir /tmp/pm-cal            # fit and print, write nothing
    .venv/bin/python scripts/fit_calibration.py --data-dir /tmp/pm-cal --write    # and write calibration.json
    .venv/bin/python scripts/fit_calibration.py --data-dir /tmp/pm-cal --ablation # nDCG@10 per boost and family

Reads every labelled file in corpus/data/evaluation/ (dev-briefs.jsonl and the families long, french, symbols,
short, misspelt, paraphrases, offtopic). Only ``split == "train"`` items fit anything: the logistic coefficients
over the shown top 10 (a labelled organisation, grade 1 or 2, is a good partner; every other shown one, and every
result of an off-topic query, is not), the gate's model over the index's best (unfiltered) dense similarity and
the domain evidence, its line (over the best off-topic train query), the band bounds and the empty-answer line
(under every good train query's best evidence). Test figures are printed, never used.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from matcher.config import Settings  # noqa: E402
from matcher.engine import open_matcher  # noqa: E402
from matcher.evaluation import ndcg_at  # noqa: E402
from matcher.ranking import calibration  # noqa: E402

EVALUATION = ROOT / "corpus" / "data" / "evaluation"
STRUCTURAL = ("minerals", "stages", "complementarity", "org_type", "challenge")
# The weights the structured boosts had before they were measured (each is tried at this weight and at 0).
FORMER = {"minerals": 0.04, "stages": 0.025, "complementarity": 0.025, "org_type": 0.1, "challenge": 0.1}


def load_items() -> list[dict]:
    items = []
    for path in sorted(EVALUATION.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                item = json.loads(line)
                item.setdefault("family", "briefs")
                items.append(item)
    return items


def run(index, item: dict, k: int = 10):
    countries = item.get("countries") or []
    team = {"GB": "CA", "CA": "GB"}.get(countries[0]) if len(countries) == 1 else None
    return index.rank(item["text"], k=k, countries=countries, challenge=item.get("challenge"), query_country=team,
                      explain=False)


def logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0, steps: int = 50) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression by Newton's method (intercept not penalised)."""
    xb = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(xb.shape[1])
    penalty = np.full(xb.shape[1], l2)
    penalty[-1] = 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-xb @ w))
        grad = xb.T @ (p - y) + penalty * w
        hess = (xb * (p * (1 - p))[:, None]).T @ xb + np.diag(penalty)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w[:-1], float(w[-1])


def ceil2(value: float) -> float:
    return math.ceil(value * 100 + 1e-9) / 100


def floor2(value: float) -> float:
    return math.floor(value * 100 - 1e-9) / 100


def gather(index, items: list[dict]) -> list[dict]:
    rows = []
    for item in items:
        matches = run(index, item)
        rows.append({"item": item, "matches": matches,
                     "features": [m.features for m in matches],
                     "labels": [int(item["relevant"].get(m.organisation.id, 0) > 0) for m in matches]})
    return rows


def fits_of(cal: calibration.Calibration, row: dict) -> np.ndarray:
    feats = {n: np.array([f[n] for f in row["features"]]) for n in calibration.FEATURES}
    if not row["features"]:
        return np.zeros(0)
    m = row["matches"]
    return cal.fit(feats, cal.on_topic(m.gate_semantic, m.evidence, m.gate_coverage))


def fit(rows: list[dict]) -> calibration.Calibration:
    good = [r for r in rows if r["item"]["relevant"] and r["features"]]
    off = [r for r in rows if not r["item"]["relevant"] and r["features"]]
    # The gate: a query-level logistic model, good families (1) against off-topic (0), over the best dense
    # similarity in the whole index, log1p(domain evidence) and the best text's coverage of the brief's words; its
    # line just over the best off-topic train query.
    qx = np.array([[r["matches"].gate_semantic, math.log1p(r["matches"].evidence), r["matches"].gate_coverage]
                   for r in good + off])
    qy = np.array([1.0] * len(good) + [0.0] * len(off))
    # Fitted on standardised features, so the penalty weighs each alike (their ranges differ several-fold), then
    # brought back to the features' own scale.
    mean, std = qx.mean(axis=0), qx.std(axis=0)
    std[std == 0] = 1.0
    scaled, gintercept = logistic((qx - mean) / std, qy)
    gcoef, gintercept = scaled / std, float(gintercept - (scaled * mean / std).sum())
    gate = {"coef": dict(zip(calibration.GATE_FEATURES, map(float, np.round(gcoef, 4)))),
            "intercept": round(gintercept, 4), "line": 0.0}
    # The partner model, on the good queries' shown pairs: P(good partner | on topic).
    x = np.array([[f[name] for name in calibration.FEATURES] for r in good for f in r["features"]])
    y = np.array([label for r in good for label in r["labels"]], dtype=np.float64)
    coef, intercept = logistic(x, y)
    cal = calibration.Calibration(dict(zip(calibration.FEATURES, map(float, np.round(coef, 4)))),
                                  round(intercept, 4), {"strong": 1.0, "good": 1.0, "possible": 0.0}, gate)
    gate["line"] = ceil2(max(cal.on_topic(float(a), int(round(math.expm1(b))), float(c)) for a, b, c in qx[len(good):]))

    # The foreign-words rule's line: midway between the closest off-topic and the least close good train query
    # with at least as many foreign words as field words (briefs naming the field alone are never off topic).
    def foreign(rows: list[dict]) -> list[float]:
        return [r["matches"].gate_semantic for r in rows if not r["matches"].field_only
                and 0 < r["matches"].foreign >= r["matches"].field_words]

    off_close, good_far = max(foreign(off), default=0.0), min(foreign(good), default=1.0)
    gate["foreign_line"] = round((off_close + good_far) / 2, 2) if good_far > off_close else round(good_far, 2)
    print(f"foreign-words rule: best off-topic train query {off_close:.3f}, least close good one {good_far:.3f}")
    fits = np.concatenate([fits_of(cal, r) for r in rows])
    labels = np.array([label for r in rows for label in r["labels"]], dtype=np.float64)

    def bound(precision: float, upper: float) -> float:
        """The lowest fit (in steps of 0.05, under ``upper``) at which the shown train pairs with a fit within 0.1
        above it are at least ``precision`` labelled partners."""
        for t in np.arange(0.05, upper - 0.01, 0.05):
            inside = (fits >= t) & (fits < t + 0.1)
            if inside.sum() >= 20 and labels[inside].mean() >= precision:
                return round(float(t), 2)
        return round(upper - 0.05, 2)

    for low in np.arange(0.0, 1.0, 0.1):
        inside = (fits >= low) & (fits < low + 0.1)
        if inside.any():
            print(f"train pairs with fit in [{low:.1f}, {low + 0.1:.1f}): {int(inside.sum())}, "
                  f"labelled partners {labels[inside].mean():.2f}")
    strong = bound(0.75, 1.0)
    good_bound = bound(0.4, strong)
    bands = {"strong": strong, "good": good_bound, "possible": bound(0.15, good_bound)}
    cal = dataclasses.replace(cal, bands=bands)
    for name, low, high in (("strong", strong, 1.01), ("good", good_bound, strong),
                            ("possible", bands["possible"], good_bound), ("weak", 0.0, bands["possible"])):
        inside = (fits >= low) & (fits < high)
        print(f"train pairs in band {name}: {int(inside.sum())}, labelled partners {labels[inside].mean():.2f}")
    # The empty line: under every good train query's best evidence (0.05 of dense margin).
    empty = {"semantic": floor2(min(r["matches"].gate_semantic for r in good) - 0.05),
             "lexical": floor2(min(max(f["lexical"] for f in r["features"]) for r in good))}
    return dataclasses.replace(cal, gate=gate, empty=empty)


def gate_report(cal: calibration.Calibration, rows: list[dict]) -> dict:
    """Per family: queries answered with nothing, flagged weak, and answered normally."""
    out: dict[str, dict[str, int]] = defaultdict(lambda: {"queries": 0, "empty": 0, "weak": 0, "ok": 0})
    for r in rows:
        feats = {n: np.array([f[n] for f in r["features"]]) for n in calibration.FEATURES}
        fits = fits_of(cal, r)
        fam = out[r["item"]["family"]]
        fam["queries"] += 1
        evidence = r["matches"].evidence
        if len(fits) == 0:
            fam["empty"] += 1
            continue
        m = r["matches"]
        best_semantic, best_lexical = m.gate_semantic, float(feats["lexical"].max())
        all_weak = cal.gated(best_semantic, evidence, field_only=m.field_only, foreign=m.foreign,
                             field_words=m.field_words, coverage=m.gate_coverage) or fits.max() < cal.weak_below
        if not all_weak:
            fam["ok"] += 1
        elif cal.nothing_found(evidence, best_semantic, best_lexical):
            fam["empty"] += 1
        else:
            fam["weak"] += 1
        for band, fit in zip(("top_" + cal.band(float(fits[0])),), fits[:1]):
            fam[band] = fam.get(band, 0) + 1
    return dict(out)


def band_report(cal: calibration.Calibration, rows: list[dict], *, shown: bool) -> dict[str, str]:
    """Per band: the shown pairs in it and the share of them labelled partners, and the Brier score of the fit
    over every pair (good queries only). ``shown``: the fit as the list shows it (non-increasing down the list)."""
    fits, labels = [], []
    for r in rows:
        if not r["item"]["relevant"] or not r["features"]:
            continue
        f = fits_of(cal, r)
        fits.append(calibration.shown(f, calibration.POOL_DEPTH) if shown else f)
        labels.extend(r["labels"])
    all_fits, all_labels = np.concatenate(fits), np.array(labels, dtype=np.float64)
    out = {}
    for band in calibration.BANDS:
        inside = np.array([cal.band(float(f)) == band for f in all_fits])
        out[band] = f"{int(inside.sum())} pairs, {all_labels[inside].mean():.2f} partners" if inside.any() else "0"
    out["brier"] = f"{float(np.mean((all_fits - all_labels) ** 2)):.4f}"
    return out


def ndcg_by_family(index, items: list[dict]) -> dict[str, float]:
    scores: dict[str, list[float]] = defaultdict(list)
    for item in items:
        if not item["relevant"]:
            continue
        ranked = [m.organisation.id for m in run(index, item)]
        scores[item["family"]].append(ndcg_at(ranked, item["relevant"]))
        scores["all"].append(scores[item["family"]][-1])
    return {f: round(float(np.mean(v)), 4) for f, v in sorted(scores.items())}


def ablation(index, items: list[dict]) -> dict[str, dict[str, float]]:
    original, diversity = index.weights, index.diversity
    out = {"default": ndcg_by_family(index, items)}
    try:
        for name in STRUCTURAL:
            for weight in (0.0, FORMER[name]):
                if weight != getattr(original, name):
                    index.weights = dataclasses.replace(original, **{name: weight})
                    out[f"{name} at {weight}"] = ndcg_by_family(index, items)
        index.weights = dataclasses.replace(original, **{name: 0.0 for name in STRUCTURAL})
        out["every boost at 0"] = ndcg_by_family(index, items)
        index.weights = dataclasses.replace(original, **FORMER)
        out["every boost at its former weight"] = ndcg_by_family(index, items)
        index.weights = original
        index.diversity = 0.0 if diversity > 0 else 0.1
        out[f"diversity {index.diversity}"] = ndcg_by_family(index, items)
    finally:
        index.weights, index.diversity = original, diversity
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default="var", help="where the bundled model's index is built (PM_DATA_DIR)")
    parser.add_argument("--write", action="store_true", help="write matcher/ranking/calibration.json")
    parser.add_argument("--ablation", action="store_true", help="nDCG@10 per family with each boost turned off")
    args = parser.parse_args()
    matcher = open_matcher(Settings(data_dir=Path(args.data_dir)))
    index, _ = matcher.ensure_index()
    items = load_items()
    train = [i for i in items if i["split"] == "train"]
    test = [i for i in items if i["split"] == "test"]
    if args.ablation:
        for split, chosen in (("train", train), ("test", test)):
            print(f"== nDCG@10 by family, {split} split (diversity {index.diversity})")
            for name, figures in ablation(index, chosen).items():
                print(f"{name:28s}", "  ".join(f"{f}={v:.3f}" for f, v in figures.items()))
        return
    train_rows = gather(index, train)
    cal = dataclasses.replace(fit(train_rows), model=index.model_id_,
                              fitted_on="train split of corpus/data/evaluation/*.jsonl, shown top 10 per query")
    print(json.dumps(cal.to_dict(), indent=1))
    for split, rows in (("train", train_rows), ("test", gather(index, test))):
        print(f"== gate, {split} split")
        for family, figures in sorted(gate_report(cal, rows).items()):
            print(f"{family:12s}", figures)
        for kind in ("raw", "shown"):
            print(f"== bands, {split} split, fit {kind}:", band_report(cal, rows, shown=kind == "shown"))
    if args.write:
        calibration.PATH.write_text(json.dumps(cal.to_dict(), indent=1) + "\n", encoding="utf-8")
        print(f"wrote {calibration.PATH}")


if __name__ == "__main__":
    main()
