"""Quality on real, externally written, human-labelled answers: the SemEval-2013 Beetle corpus.

Each question becomes a rubric on a 0-2 scale (incorrect, partial, correct) with one
dimension: the expert reference answers at level 2, plus the human-labelled answers of
the other folds as anchors at their levels (the way HR calibrate a rubric). Every answer
is scored by the engine with 5-fold cross-validation within its question, so no answer is
ever scored against itself. Two baselines are computed in the same run on the same folds:
cosine similarity to the nearest reference answer with one threshold, and word overlap
with one threshold (each threshold tuned on the training folds).

Usage: python scripts/quality_beetle.py [PATH_TO/beetle-train.jsonl] [--folds 5] [--limit N]
The data never goes into this repository: it is read from ../shared/data/ by default.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from screening.engine import build_scorer
from screening.method import MethodConfig
from screening.report import Answer, CandidateAnswers
from screening.rubric import Dimension, Measure, Question, Reference, Rubric, Scale

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "beetle-train.jsonl"
LABELS = ("incorrect", "partially correct", "correct")


def macro_f1(gold: np.ndarray, pred: np.ndarray, classes: list[int]) -> float:
    """Unweighted mean F1 over ``classes``."""
    scores = []
    for c in classes:
        tp = int(((pred == c) & (gold == c)).sum())
        fp = int(((pred == c) & (gold != c)).sum())
        fn = int(((pred != c) & (gold == c)).sum())
        scores.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores))


def fold_of(row_index: int, text: str, folds: int) -> int:
    """A stable fold from the row's position and text."""
    return int(hashlib.sha256(f"{row_index}:{text}".encode()).hexdigest(), 16) % folds


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


def overlap(a: str, b: str) -> float:
    """Word-overlap F1 between two texts."""
    wa, wb = words(a), words(b)
    common = len(wa & wb)
    return 0.0 if common == 0 else 2 * common / (len(wa) + len(wb))


def best_threshold(values: np.ndarray, correct: np.ndarray) -> float:
    """The threshold on ``values`` that maximises correct/incorrect macro-F1 on training data."""
    candidates = np.unique(np.round(values, 3))
    scores = [macro_f1(correct, (values >= t).astype(int), [0, 1]) for t in candidates]
    return float(candidates[int(np.argmax(scores))])


def question_rubric(question_id: str, prompt: str, references: list[str], anchors: list[tuple[str, int]]) -> Rubric:
    """A 0-2 rubric for one question: reference answers at 2, labelled anchors at their levels."""
    by_text: dict[str, Counter[int]] = defaultdict(Counter)
    for text, level in anchors:
        by_text[" ".join(text.split())][level] += 1
    refs = {" ".join(t.split()): 2 for t in references}
    for text, votes in by_text.items():
        if text and text.lower() not in {r.lower() for r in refs}:
            refs[text] = votes.most_common(1)[0][0]
    seen: set[str] = set()
    reference_list = []
    for text, level in refs.items():
        key = text.lower()
        if key in seen or not text:
            continue
        seen.add(key)
        reference_list.append(Reference(question="q", dimension="correctness", level=level, text=text))
    slug = re.sub(r"[^a-z0-9-]+", "-", question_id.lower()).strip("-")
    return Rubric(
        id=f"beetle-{slug}"[:64],
        version="1",
        title=question_id,
        scale=Scale(min=0, max=2, labels=LABELS),
        dimensions=(Dimension(id="correctness", name="Correctness", description="Says what the reference answers say."),),
        questions=(Question(id="q", prompt=prompt, measures=(Measure(dimension="correctness"),)),),
        references=tuple(reference_list),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--limit", type=int, default=0, help="only the first N questions (for a quick look)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="override a method parameter (for experiments; changes the method's meaning)")
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.data.read_text(encoding="utf-8").splitlines() if line.strip()]
    by_question: dict[str, list[int]] = defaultdict(list)
    for index, row in enumerate(rows):
        by_question[row["question_id"]].append(index)
    questions = sorted(by_question)[: args.limit or None]
    # Beetle answers are short technical statements: the five-word minimum for attitude answers does not apply.
    overrides = {name: float(value) if "." in value else int(value) for name, value in (o.split("=", 1) for o in args.set)}
    scorer = build_scorer(method=MethodConfig(**{"min_words": 1, **overrides}))
    started = time.perf_counter()
    predicted: dict[int, float] = {}
    flagged: dict[int, list[str]] = {}
    cosine_pred: dict[int, int] = {}
    overlap_pred: dict[int, int] = {}
    for qid in questions:
        indices = by_question[qid]
        first = rows[indices[0]]
        references = first["reference_answers"]
        ref_vectors = scorer.encoder.encode(references)
        answer_vectors = dict(zip(indices, scorer.encoder.encode([rows[i]["answer"] for i in indices]), strict=True))
        for fold in range(args.folds):
            train = [i for i in indices if fold_of(i, rows[i]["answer"], args.folds) != fold]
            test = [i for i in indices if fold_of(i, rows[i]["answer"], args.folds) == fold]
            if not test:
                continue
            rubric = question_rubric(qid, first["question"], references, [(rows[i]["answer"], rows[i]["score_3level"]) for i in train])
            candidates = [
                CandidateAnswers(candidate_id=str(i), answers=(Answer(question_id="q", text=rows[i]["answer"]),)) for i in test
            ]
            for i, report in zip(test, scorer.score_many(rubric, candidates), strict=True):
                answer = report.answers[0]
                level = answer.dimensions[0].level
                predicted[i] = 0.0 if level is None else level
                flagged[i] = [r.code for r in answer.reasons]
            # Baselines, thresholds tuned on this fold's training answers.
            train_correct = np.array([rows[i]["score_3level"] == 2 for i in train], dtype=int)
            cos = {i: float((ref_vectors @ answer_vectors[i]).max()) for i in indices}
            ovl = {i: max(overlap(rows[i]["answer"], r) for r in references) for i in indices}
            t_cos = best_threshold(np.array([cos[i] for i in train]), train_correct)
            t_ovl = best_threshold(np.array([ovl[i] for i in train]), train_correct)
            for i in test:
                cosine_pred[i] = int(cos[i] >= t_cos)
                overlap_pred[i] = int(ovl[i] >= t_ovl)
        print(f"  {qid}: {len(indices)} answers", file=sys.stderr)
    elapsed = time.perf_counter() - started
    scored = sorted(predicted)
    gold3 = np.array([rows[i]["score_3level"] for i in scored])
    pred3 = np.array([int(np.clip(np.round(predicted[i]), 0, 2)) for i in scored])
    gold2 = (gold3 == 2).astype(int)
    pred2 = np.array([int(predicted[i] >= 1.5) for i in scored])
    labels = [rows[i]["label"] for i in scored]
    print(f"Beetle: {len(scored)} answers to {len(questions)} questions, {args.folds}-fold cross-validation, "
          f"{elapsed:.0f} s, method {scorer.method.method_id}")
    print(f"engine   3-level macro-F1 {macro_f1(gold3, pred3, [0, 1, 2]):.3f}  exact agreement {np.mean(gold3 == pred3):.3f}"
          f"  correct/incorrect macro-F1 {macro_f1(gold2, pred2, [0, 1]):.3f}")
    print(f"baseline cosine to nearest reference, one threshold: correct/incorrect macro-F1 "
          f"{macro_f1(gold2, np.array([cosine_pred[i] for i in scored]), [0, 1]):.3f}")
    print(f"baseline word overlap, one threshold:               correct/incorrect macro-F1 "
          f"{macro_f1(gold2, np.array([overlap_pred[i] for i in scored]), [0, 1]):.3f}")
    for group in (("contradictory",), ("non_domain", "irrelevant")):
        members = [k for k, i in enumerate(scored) if labels[k] in group]
        caught = [k for k in members if pred3[k] == 0 or flagged[scored[k]]]
        zero = [k for k in members if pred3[k] == 0]
        print(f"{'/'.join(group)}: {len(members)} answers; scored 0: {len(zero)}; flagged or scored 0: {len(caught)} "
              f"({len(caught) / max(len(members), 1):.0%})")
    reasons = Counter(code for i in scored for code in flagged[i])
    print("reasons given: " + ", ".join(f"{code} {n}" for code, n in reasons.most_common()))
    matrix = Counter(zip(gold3.tolist(), pred3.tolist(), strict=True))
    print("confusion (gold -> predicted): " + ", ".join(f"{g}->{p}: {matrix[(g, p)]}" for g in range(3) for p in range(3)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
