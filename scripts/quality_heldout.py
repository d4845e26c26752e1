"""Validity on the default rubric: agreement with intended levels on a held-out answer set.

The held-out answers (rubrics/heldout/customer-service-attitude.jsonl) were written and
labelled independently of the rubric's reference responses, by a writer who never saw
them. Prints Spearman correlation, exact and adjacent agreement, overall and per dimension.

Usage: python scripts/quality_heldout.py [--rubric ID_OR_PATH] [--heldout FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from screening.cli import resolve_rubric
from screening.engine import build_scorer
from screening.paths import builtin_rubrics_dir
from screening.report import Answer, CandidateAnswers


def ranks(values: np.ndarray) -> np.ndarray:
    """Ranks with ties averaged (as Spearman's correlation needs)."""
    order = np.argsort(values, kind="stable")
    result = np.empty(len(values), dtype=np.float64)
    result[order] = np.arange(len(values), dtype=np.float64)
    for value in np.unique(values):
        tied = values == value
        result[tied] = result[tied].mean()
    return result


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation."""
    return float(np.corrcoef(ranks(a), ranks(b))[0, 1])


def agreement(pred: np.ndarray, gold: np.ndarray) -> str:
    rounded = np.round(pred)
    return (f"n {len(gold):3d}  Spearman {spearman(pred, gold):.3f}  exact {np.mean(rounded == gold):.3f}  "
            f"adjacent {np.mean(np.abs(rounded - gold) <= 1):.3f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rubric", default="customer-service-attitude")
    parser.add_argument("--heldout", type=Path, default=builtin_rubrics_dir() / "heldout" / "customer-service-attitude.jsonl")
    args = parser.parse_args()
    rubric = resolve_rubric(args.rubric)
    rows = [json.loads(line) for line in args.heldout.read_text(encoding="utf-8").splitlines() if line.strip()]
    scorer = build_scorer()
    candidates = [
        CandidateAnswers(candidate_id=row["id"], answers=(Answer(question_id=row["question_id"], text=row["text"]),))
        for row in rows
    ]
    reports = scorer.score_many(rubric, candidates)
    pairs: dict[str, list[tuple[float, int]]] = defaultdict(list)
    review = 0
    for row, report in zip(rows, reports, strict=True):
        answer = report.answers[0]
        review += answer.status != "scored"
        for dimension in answer.dimensions:
            if dimension.level is not None:
                pairs[dimension.dimension_id].append((dimension.level, row["levels"][dimension.dimension_id]))
    everything = [p for items in pairs.values() for p in items]
    pred, gold = np.array([p for p, _ in everything]), np.array([g for _, g in everything])
    print(f"held-out set: {len(rows)} answers, {len(everything)} (answer, dimension) levels; "
          f"{review} answers sent to review; method {scorer.method.method_id}, rubric {rubric.id} {rubric.version}")
    print(f"all dimensions       {agreement(pred, gold)}")
    for dimension_id in sorted(pairs):
        items = pairs[dimension_id]
        print(f"{dimension_id:20s} {agreement(np.array([p for p, _ in items]), np.array([g for _, g in items]))}")
    means = ", ".join(f"{g}: {pred[gold == g].mean():.2f}" for g in sorted(set(gold.tolist())))
    print(f"mean estimated level by intended level: {means}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
