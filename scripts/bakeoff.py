"""Method bake-off on real, human-labelled short answers (SemEval-2013 Beetle).

Every method sees the same anchors and is scored on the same folds:

- within-question: 5-fold cross-validation inside each question; the anchors of a fold are
  the expert reference answers (level 2) and the labelled answers of the other folds (the
  way HR calibrate a rubric with rated answers);
- leave-questions-out (zero-shot): the questions are split in 5 groups; a held-out
  question has its reference answers only (model answers, level 2), the other questions
  keep all their labelled answers.

Methods: the engine v2 (one rubric holding every question, so its stacked model is
shared; Beetle's contradictory / irrelevant / non-domain labels become the anchors'
outcomes, so 5-way is read from the engine's native outcomes), the engine v1 (one rubric
per question, as before), logistic regression and similarity-weighted kNN on the same
embeddings of the same anchors, and one-threshold cosine and word-overlap baselines. All
on the same encoder (all-MiniLM-L6-v2 unless --model). Prints 2-way (correct or not),
3-way (correct, partial, incorrect) and 5-way macro-F1.

Usage: python scripts/bakeoff.py [DATA] [--methods v2,v1,baselines] [--runs within,zero-shot] [--limit N]
The data is read from ../shared/data/ and never enters this repository.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import time
import warnings
from collections import Counter, defaultdict
from pathlib import Path

import msgspec
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from screening.encoder import DEFAULT_MODEL
from screening.engine import build_scorer
from screening.method import METHOD_V1, METHOD_V2
from screening.report import Answer, CandidateAnswers
from screening.rubric import Dimension, Measure, Question, Reference, Rubric, Scale

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "beetle-train.jsonl"
LABELS5 = ("correct", "partially_correct_incomplete", "contradictory", "irrelevant", "non_domain")
OUTCOME_OF = {"contradictory": "contradiction", "irrelevant": "irrelevant", "non_domain": "non_answer"}
LABEL_OF_OUTCOME = {"contradiction": 2, "irrelevant": 3, "non_answer": 4, "off_topic": 4, "unscorable": 4}
SCALE = Scale(min=0, max=2, labels=("incorrect", "partially correct", "correct"))
FOLDS = 5


def macro_f1(gold: np.ndarray, pred: np.ndarray, classes: list[int]) -> float:
    scores = []
    for c in classes:
        tp = int(((pred == c) & (gold == c)).sum())
        fp = int(((pred == c) & (gold != c)).sum())
        fn = int(((pred != c) & (gold == c)).sum())
        scores.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores))


def fold_of(key: str) -> int:
    return int(hashlib.sha256(key.encode()).hexdigest(), 16) % FOLDS


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:60] or "q"


def norm(text: str) -> str:
    return " ".join(text.split())


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


def overlap(a: str, b: str) -> float:
    wa, wb = words(a), words(b)
    common = len(wa & wb)
    return 0.0 if common == 0 else 2 * common / (len(wa) + len(wb))


def build_rubric(
    name: str, rows: list[dict], questions: dict[str, list[int]], anchor_rows: dict[str, list[int]]
) -> Rubric:
    """One rubric: every question in ``questions``; its anchors the reference answers plus ``anchor_rows``."""
    references: list[Reference] = []
    qs = []
    for qid, indices in questions.items():
        sq = slug(qid)
        first = rows[indices[0]]
        qs.append(Question(id=sq, prompt=first["question"], measures=(Measure(dimension="correctness"),)))
        seen: set[str] = set()
        for text in first["reference_answers"]:
            if norm(text) and norm(text).lower() not in seen:
                seen.add(norm(text).lower())
                references.append(Reference(question=sq, dimension="correctness", level=2, text=norm(text)))
        votes: dict[str, Counter] = defaultdict(Counter)
        for i in anchor_rows.get(qid, []):
            votes[norm(rows[i]["answer"])][rows[i]["label"]] += 1
        for text, counter in votes.items():
            if not text or text.lower() in seen:
                continue
            seen.add(text.lower())
            label = counter.most_common(1)[0][0]
            level = {"correct": 2, "partially_correct_incomplete": 1}.get(label, 0)
            references.append(
                Reference(question=sq, dimension="correctness", level=level, text=text, outcome=OUTCOME_OF.get(label))
            )
    return Rubric(
        id=slug(name),
        version="1",
        title=name,
        scale=SCALE,
        dimensions=(
            Dimension(id="correctness", name="Correctness", description="Says what the reference answers say."),
        ),
        questions=tuple(qs),
        references=tuple(references),
    )


def engine_scores(
    scorer, rubric: Rubric, rows: list[dict], test: list[int], by_question: dict[str, str]
) -> dict[int, tuple[int, int]]:
    """(3-level, 5-label) per test row, from the engine's level and native outcome."""
    candidates = [
        CandidateAnswers(
            candidate_id=str(i), answers=(Answer(question_id=slug(by_question[i]), text=rows[i]["answer"]),)
        )
        for i in test
    ]
    result = {}
    for i, report in zip(test, scorer.score_many(rubric, candidates), strict=True):
        answer = report.answers[0]
        level = answer.dimensions[0].level
        three = 0 if level is None else int(np.clip(np.round(level), 0, 2))
        if answer.outcome in LABEL_OF_OUTCOME:
            five = LABEL_OF_OUTCOME[answer.outcome]
            three = 0
        else:
            five = {2: 0, 1: 1, 0: 2}[three]
        result[i] = (three, five)
    return result


def logistic(train_x: np.ndarray, train_y: list[int], test_x: np.ndarray) -> np.ndarray:
    """Logistic regression, its strength chosen by cross-validated accuracy on the training answers."""
    from sklearn.model_selection import cross_val_score

    smallest = min(Counter(train_y).values())
    if len(set(train_y)) < 2:
        return np.full(len(test_x), train_y[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)
        best = 10.0
        if smallest >= 2:
            folds = min(5, smallest)
            best = max(
                (1.0, 10.0, 100.0),
                key=lambda c: cross_val_score(
                    LogisticRegression(C=c, max_iter=3000), train_x, train_y, cv=folds
                ).mean(),
            )
        return LogisticRegression(C=best, max_iter=3000).fit(train_x, train_y).predict(test_x)


def threshold(train_values: np.ndarray, train_correct: np.ndarray) -> float:
    candidates = np.unique(np.round(train_values, 3))
    scores = [macro_f1(train_correct, (train_values >= t).astype(int), [0, 1]) for t in candidates]
    return float(candidates[int(np.argmax(scores))])


def split(run: str, fold: int, rows: list[dict], questions: dict[str, list[int]], question_of: dict[int, str]):
    """The test answers and each question's anchor answers of one fold of one run."""
    if run == "within":
        test = [i for i in question_of if fold_of(f"{i}:{rows[i]['answer']}") == fold]
        anchors = {q: [i for i in idx if fold_of(f"{i}:{rows[i]['answer']}") != fold] for q, idx in questions.items()}
    else:
        held = {q for q in questions if fold_of(q) == fold}
        test = [i for i in question_of if question_of[i] in held]
        anchors = {q: idx for q, idx in questions.items() if q not in held}
    return test, anchors


def run_engines(run, fold, scorers, rows, questions, anchors, test, question_of, preds) -> None:
    """Engine v2 on one rubric holding every question; v1 on one rubric per question (within only)."""
    scorer2, scorer1 = scorers
    if scorer2 is not None:
        rubric = build_rubric(f"beetle-{run}-{fold}", rows, questions, anchors)
        preds["engine v2"].update(engine_scores(scorer2, rubric, rows, test, question_of))
        scorer2.forget(rubric)
    if scorer1 is None or run != "within":
        return
    for q, indices in questions.items():
        q_test = [i for i in test if question_of[i] == q]
        if q_test:
            rubric = build_rubric(f"beetle-{q}", rows, {q: indices}, {q: anchors[q]})
            for i, (three, _) in engine_scores(scorer1, rubric, rows, q_test, question_of).items():
                preds["engine v1"][i] = (three, None)
            scorer1.forget(rubric)


def print_table(run: str, preds: dict, gold3: dict[int, int], gold5: dict[int, int], seconds: float) -> None:
    count = max((len(found) for found in preds.values()), default=0)
    print(f"\n{run}: {count} answers scored, {seconds:.0f} s")
    print(f"  {'method':32s} 2-way   3-way   5-way")
    for name, found in preds.items():
        ids = sorted(found)
        g3 = np.asarray([gold3[i] for i in ids])
        p3 = np.asarray([found[i][0] for i in ids])
        line = f"  {name:32s} {macro_f1((g3 == 2).astype(int), (p3 == 2).astype(int), [0, 1]):.3f}"
        line += "     -  " if name.endswith("one threshold") else f"   {macro_f1(g3, p3, [0, 1, 2]):.3f}"
        if all(found[i][1] is not None for i in ids):
            g5 = np.asarray([gold5[i] for i in ids])
            line += f"   {macro_f1(g5, np.asarray([found[i][1] for i in ids]), [0, 1, 2, 3, 4]):.3f}"
        else:
            line += "     -"
        print(line)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--methods", default="v2,v1,baselines")
    parser.add_argument("--runs", default="within,zero-shot")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--limit", type=int, default=0, help="only the first N questions (a quick look)")
    args = parser.parse_args(argv)
    methods = set(args.methods.split(","))
    rows = [json.loads(line) for line in args.data.read_text(encoding="utf-8").splitlines() if line.strip()]
    by_q: dict[str, list[int]] = defaultdict(list)
    for index, row in enumerate(rows):
        by_q[row["question_id"]].append(index)
    questions = {q: by_q[q] for q in sorted(by_q)[: args.limit or None]}
    question_of = {i: q for q, indices in questions.items() for i in indices}
    # Beetle answers are short statements: the five-word minimum of attitude answers does not apply.
    scorer2 = (
        build_scorer(args.model, method=msgspec.structs.replace(METHOD_V2, min_words=1)) if "v2" in methods else None
    )
    scorer1 = (
        build_scorer(args.model, method=msgspec.structs.replace(METHOD_V1, min_words=1)) if "v1" in methods else None
    )
    encoder = (scorer2 or scorer1 or build_scorer(args.model)).encoder
    texts = {norm(rows[i]["answer"]) for i in question_of}
    texts |= {norm(t) for indices in questions.values() for t in rows[indices[0]]["reference_answers"]}
    vectors = dict(zip(sorted(texts), encoder.encode(sorted(texts)), strict=True))
    gold3 = {i: rows[i]["score_3level"] for i in question_of}
    gold5 = {i: LABELS5.index(rows[i]["label"]) for i in question_of}
    print(f"Beetle: {len(question_of)} answers to {len(questions)} questions; model {encoder.model_id}")
    for run in args.runs.split(","):
        started = time.perf_counter()
        preds: dict[str, dict[int, tuple[int, int | None]]] = defaultdict(dict)
        for fold in range(FOLDS):
            test, anchors = split(run, fold, rows, questions, question_of)
            if not test:
                continue
            run_engines(run, fold, (scorer2, scorer1), rows, questions, anchors, test, question_of, preds)
            if "baselines" in methods:
                _baselines(run, rows, questions, anchors, test, question_of, vectors, preds)
        print_table(run, preds, gold3, gold5, time.perf_counter() - started)
    return 0


def _baselines(run, rows, questions, anchors, test, question_of, vectors, preds) -> None:
    """Logistic regression and kNN per question on the same anchors; cosine and overlap thresholds."""
    train_all = [i for idx in anchors.values() for i in idx]
    for q in questions:
        q_test = [i for i in test if question_of[i] == q]
        if not q_test:
            continue
        refs = [norm(t) for t in rows[questions[q][0]]["reference_answers"]]
        ref_vectors = np.stack([vectors[t] for t in refs])
        test_x = np.stack([vectors[norm(rows[i]["answer"])] for i in q_test])
        cos = {i: float((ref_vectors @ vectors[norm(rows[i]["answer"])]).max()) for i in q_test}
        ovl = {i: max(overlap(rows[i]["answer"], r) for r in refs) for i in q_test}
        # thresholds tuned on labelled answers: this question's (within) or the other questions' (zero-shot)
        pool = anchors[q] if run == "within" else train_all
        pool_refs = {i: [norm(t) for t in rows[questions[question_of[i]][0]]["reference_answers"]] for i in pool}
        pool_cos = np.asarray(
            [max(float(vectors[r] @ vectors[norm(rows[i]["answer"])]) for r in pool_refs[i]) for i in pool]
        )
        pool_ovl = np.asarray([max(overlap(rows[i]["answer"], r) for r in pool_refs[i]) for i in pool])
        pool_correct = np.asarray([rows[i]["score_3level"] == 2 for i in pool], dtype=int)
        t_cos, t_ovl = threshold(pool_cos, pool_correct), threshold(pool_ovl, pool_correct)
        for i in q_test:
            preds["cosine, one threshold"][i] = (2 if cos[i] >= t_cos else 0, None)
            preds["word overlap, one threshold"][i] = (2 if ovl[i] >= t_ovl else 0, None)
        if run != "within":
            continue
        train = anchors[q]
        train_x = np.vstack([np.stack([vectors[norm(rows[i]["answer"])] for i in train]), ref_vectors])
        y3 = [rows[i]["score_3level"] for i in train] + [2] * len(refs)
        y5 = [LABELS5.index(rows[i]["label"]) for i in train] + [0] * len(refs)
        p3, p5 = logistic(train_x, y3, test_x), logistic(train_x, y5, test_x)
        y3a = np.asarray(y3)
        for k, i in enumerate(q_test):
            preds["logistic regression"][i] = (int(p3[k]), int(p5[k]))
            sims = train_x @ test_x[k]
            nearest = np.argsort(-sims)[:5]
            weights = np.exp((sims[nearest] - sims[nearest].max()) / 0.05)
            preds["kNN (k=5)"][i] = (int(np.round((weights * y3a[nearest]).sum() / weights.sum())), None)


if __name__ == "__main__":
    sys.exit(main())
