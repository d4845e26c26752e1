"""Validity on an attitude rubric: agreement with independently written, labelled answers.

The answer sets in rubrics/heldout/ were written and labelled by writers who never saw the
rubric's reference responses. For each set this prints, for the engine and, on the same
embeddings and anchors, for plain baselines (logistic regression per measure, similarity-
weighted kNN, cosine to the nearest top-level reference, word overlap with it, word count):

- Spearman, exact and adjacent agreement; mean estimate per intended level;
- bias (mean estimate minus intended level) per style tag;
- the within-answer dimension-profile correlation (answers whose intended levels differ);
- the partial correlation of the estimate with word count, intended level held fixed;
- the pass rate of each perturbation family (a pair passes when the estimate moves by less
  than half a level where the intended levels are equal, and by at least half a level in
  the intended direction where they differ).

Usage:
  python scripts/quality_heldout.py                       # the default rubric, both sets
  python scripts/quality_heldout.py --rubric rubrics/dev/care-support-attitude.toml \\
      --answers rubrics/heldout/care-support-attitude-sjt.jsonl \\
      --families rubrics/heldout/care-support-attitude-families.jsonl
  [--method screening.anchor-regression.v1] [--model NAME_OR_FOLDER]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np
from bakeoff import overlap
from scipy.stats import pearsonr, spearmanr

from screening.cli import resolve_rubric
from screening.engine import build_scorer, method_named
from screening.paths import builtin_rubrics_dir
from screening.report import Answer, CandidateAnswers
from screening.rubric import Rubric
from screening.stacked import fit_member, neighbour_level, out_of_fold_members

HELDOUT = builtin_rubrics_dir() / "heldout"
Predictor = Callable[[list[tuple[str, str, str]]], list[float]]  # (question, dimension, text) -> level


def engine_predictor(scorer, rubric: Rubric) -> Predictor:
    def predict(items: list[tuple[str, str, str]]) -> list[float]:
        texts = sorted({(q, t) for q, _, t in items})
        candidates = [
            CandidateAnswers(candidate_id=str(i), answers=(Answer(question_id=q, text=t),))
            for i, (q, t) in enumerate(texts)
        ]
        reports = scorer.score_many(rubric, candidates)
        levels = {
            (q, d.dimension_id, t): (d.level if d.level is not None else float(rubric.scale.min))
            for (q, t), report in zip(texts, reports, strict=True)
            for d in report.answers[0].dimensions
        }
        return [levels[item] for item in items]

    return predict


def baseline_predictors(scorer, rubric: Rubric) -> dict[str, Predictor]:
    """Plain models on the same encoder and the same anchors as the engine."""
    measures: dict[tuple[str, str], tuple[list[str], np.ndarray, np.ndarray]] = {}
    for question in rubric.questions:
        for measure in question.measures:
            refs = rubric.references_for(question.id, measure.dimension)
            texts = [r.text for r in refs]
            measures[(question.id, measure.dimension)] = (
                texts,
                scorer.reference_encoder.encode(texts),
                np.asarray([r.level for r in refs], dtype=np.int64),
            )
    members = {}
    for key, (_, embeddings, levels) in measures.items():
        # the strength with the best out-of-fold log-likelihood on this measure's anchors
        best = max(
            (1.0, 10.0, 100.0),
            key=lambda c: sum(
                np.log(max(p.get(int(y), 1e-6), 1e-6))
                for p, y in zip(out_of_fold_members(embeddings, levels, c, 0), levels, strict=True)
                if p
            ),
        )
        members[key] = fit_member(embeddings, levels, best)
    cache: dict[str, np.ndarray] = {}

    def vector(text: str) -> np.ndarray:
        if text not in cache:
            cache[text] = scorer.encoder.encode([text])[0]
        return cache[text]

    def top(key: tuple[str, str]) -> np.ndarray:
        levels = measures[key][2]
        return levels == levels.max()

    def logistic(items):
        out = []
        for q, d, t in items:
            p = members[(q, d)].probabilities(vector(t), [])
            out.append(sum(level * v for level, v in p.items()))
        return out

    def knn(items):
        return [
            neighbour_level((measures[(q, d)][1] @ vector(t)).astype(np.float32), measures[(q, d)][2], 5, 0.05)
            for q, d, t in items
        ]

    def cosine(items):
        return [float((measures[(q, d)][1][top((q, d))] @ vector(t)).max()) for q, d, t in items]

    def word_overlap(items):
        return [
            max(overlap(t, r) for r, keep in zip(measures[(q, d)][0], top((q, d)), strict=True) if keep)
            for q, d, t in items
        ]

    return {
        "logistic regression": logistic,
        "kNN (k=5)": knn,
        "cosine to top reference": cosine,
        "word overlap with top": word_overlap,
        "word count": lambda items: [float(len(t.split())) for _, _, t in items],
    }


def rank_scale(pred: np.ndarray, gold: np.ndarray) -> np.ndarray:
    """A baseline's raw score mapped onto the level scale by matching ranks (for exact/adjacent only)."""
    order = np.argsort(pred, kind="stable")
    mapped = np.empty_like(pred, dtype=float)
    mapped[order] = np.sort(gold)
    return mapped


def report_answers(name: str, predict: Predictor, rows: list[dict], scale_native: bool) -> None:
    items = [(row["question_id"], dim, row["text"]) for row in rows for dim in row["levels"]]
    gold = np.asarray([row["levels"][dim] for row in rows for dim in row["levels"]], dtype=float)
    pred = np.asarray(predict(items), dtype=float)
    rho = spearmanr(pred, gold).statistic
    on_scale = pred if scale_native else rank_scale(pred, gold)
    exact = np.mean(np.round(on_scale) == gold)
    adjacent = np.mean(np.abs(np.round(on_scale) - gold) <= 1)
    means = " ".join(f"{pred[gold == g].mean():.2f}" for g in sorted(set(gold.tolist())))
    line = f"  {name:26s} Spearman {rho:.3f}  exact {exact:.2f}  adjacent {adjacent:.2f}"
    if scale_native:
        count = np.asarray([len(t.split()) for _, _, t in items], dtype=float)
        partial = _partial_correlation(pred, count, gold)
        profile = _profile_correlation(rows, pred)
        styles = _style_bias(rows, pred, gold)
        line += f"  profile r {profile:.2f}  length partial r {partial:+.2f}\n      mean estimate per intended level: {means}\n      bias per style: {styles}"
    print(line)


def _partial_correlation(pred: np.ndarray, count: np.ndarray, gold: np.ndarray) -> float:
    """Correlation of estimate and word count with the intended level regressed out of both."""
    design = np.c_[np.ones_like(gold), gold]
    residual = [v - design @ np.linalg.lstsq(design, v, rcond=None)[0] for v in (pred, count)]
    return float(pearsonr(*residual).statistic)


def _profile_correlation(rows: list[dict], pred: np.ndarray) -> float:
    values, start = [], 0
    for row in rows:
        n = len(row["levels"])
        gold = np.asarray(list(row["levels"].values()), dtype=float)
        mine = pred[start : start + n]
        start += n
        if n >= 2 and gold.std() > 0 and mine.std() > 0:
            values.append(pearsonr(mine, gold).statistic)
        elif n >= 2 and gold.std() > 0:
            values.append(0.0)
    return float(np.mean(values)) if values else float("nan")


def _style_bias(rows: list[dict], pred: np.ndarray, gold: np.ndarray) -> str:
    by_style: dict[str, list[float]] = defaultdict(list)
    start = 0
    for row in rows:
        n = len(row["levels"])
        for style in row.get("style", []):
            by_style[style].extend((pred[start : start + n] - gold[start : start + n]).tolist())
        start += n
    return ", ".join(f"{s} {np.mean(v):+.2f}" for s, v in sorted(by_style.items()))


def report_families(name: str, predict: Predictor, pairs: list[dict]) -> None:
    items = []
    for pair in pairs:
        for dim in pair["levels_a"]:
            items += [(pair["question_id"], dim, pair["a"]), (pair["question_id"], dim, pair["b"])]
    pred = iter(predict(items))
    results: dict[str, list[bool]] = defaultdict(list)
    for pair in pairs:
        a, b = [], []
        for _ in pair["levels_a"]:
            a.append(next(pred))
            b.append(next(pred))
        intended = np.mean(list(pair["levels_b"].values())) - np.mean(list(pair["levels_a"].values()))
        moved = float(np.mean(b) - np.mean(a))
        ok = abs(moved) < 0.5 if intended == 0 else (np.sign(moved) == np.sign(intended) and abs(moved) >= 0.5)
        results[pair["family"]].append(bool(ok))
    print(f"  {name:26s} " + ", ".join(f"{f} {np.mean(v):.0%}" for f, v in sorted(results.items())))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rubric", default="customer-service-attitude")
    parser.add_argument("--answers", type=Path, action="append")
    parser.add_argument("--families", type=Path, action="append")
    parser.add_argument("--method", default=None)
    parser.add_argument("--model", default=None)
    parser.add_argument("--no-baselines", action="store_true")
    args = parser.parse_args()
    rubric = resolve_rubric(args.rubric)
    if args.answers is None and args.rubric == "customer-service-attitude":
        args.answers = [HELDOUT / "customer-service-attitude.jsonl", HELDOUT / "customer-service-attitude-sjt.jsonl"]
        args.families = args.families or [HELDOUT / "customer-service-attitude-families.jsonl"]
    scorer = build_scorer(args.model, method=method_named(args.method))
    predictors = {f"engine {scorer.method.method_id}": engine_predictor(scorer, rubric)}
    if not args.no_baselines:
        predictors.update(baseline_predictors(scorer, rubric))
    print(f"rubric {rubric.id} {rubric.version}, model {scorer.encoder.model_id}, method {scorer.method.method_id}")
    for path in args.answers or []:
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        count = sum(len(r["levels"]) for r in rows)
        print(f"{path.name}: {len(rows)} answers, {count} (answer, dimension) levels")
        for name, predict in predictors.items():
            report_answers(name, predict, rows, scale_native=name.startswith(("engine", "logistic", "kNN")))
    for path in args.families or []:
        pairs = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        print(f"{path.name}: {len(pairs)} perturbation pairs, pass rate per family")
        for name, predict in predictors.items():
            if name.startswith(("engine", "logistic", "kNN")):
                report_families(name, predict, pairs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
