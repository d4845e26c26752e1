"""The calibration curve on real human-rated answers (SemEval-2013 Beetle): what N rated answers buy.

Plays HR: for each question, a fixed, seeded 30% of its answers is set aside as the answers
to score; from the rest HR "rate" the first N (N = 20, 50, 100, 200; all of them when a
question has fewer: Beetle has 32-128 answers per question), the rubric is calibrated with
them (`screening.calibration.calibrated_rubric`: the question's expert reference answers at
level 2 plus the rated answers at their human level) and the set-aside answers are scored.
The samples are nested (the 20 are among the 50), and every N is scored on the same answers.

Beside the engine, the repository's plain baseline on the same encoder and the same rated
answers: logistic regression per question (strength by cross-validation). Prints 3-way
macro-F1 (correct / partial / incorrect), quadratic-weighted kappa and Spearman.

Usage: python scripts/calibration_curve.py [DATA] [--sizes 20,50,100,200] [--questions N] [--model M]
The data is read from ../shared/data/ and never enters this repository.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import msgspec
import numpy as np
from bakeoff import DEFAULT_DATA, LABEL_OF_OUTCOME, build_rubric, logistic, macro_f1, norm, slug

from screening.calibration.agreement import agreement
from screening.calibration.fit import calibrated_rubric
from screening.calibration.gold import GoldSet, parse_gold
from screening.calibration.report import gold_safe_scorer
from screening.encoder import DEFAULT_MODEL
from screening.engine import build_scorer
from screening.method import METHOD_V2
from screening.report import Answer, CandidateAnswers
from screening.rubric import Rubric, Scale

TEST_SHARE = 0.3
SCALE = Scale(min=0, max=2, labels=("incorrect", "partially correct", "correct"))


def split(by_q: dict[str, list[int]], seed: int) -> tuple[dict[str, list[int]], dict[str, list[int]]]:
    """Per question: the answers to score (a fixed share) and the pool HR rate from, both shuffled."""
    rng = np.random.default_rng(seed)
    test, pool = {}, {}
    for q, indices in by_q.items():
        order = [indices[i] for i in rng.permutation(len(indices))]
        cut = max(5, round(TEST_SHARE * len(order)))
        test[q], pool[q] = order[:cut], order[cut:]
    return test, pool


def gold_of(rows: list[dict], rated: dict[str, list[int]], rubric: Rubric) -> GoldSet:
    """The rated answers as a gold file, read the way HR's upload is."""
    lines = [
        json.dumps(
            {
                "candidate_id": f"row-{i}",
                "question_id": slug(q),
                "text": rows[i]["answer"],
                "ratings": {"correctness": rows[i]["score_3level"]},
            }
        )
        for q, indices in rated.items()
        for i in indices
    ]
    return parse_gold("\n".join(lines).encode("utf-8"), "jsonl", rubric, source="beetle")


def figures(gold: np.ndarray, levels: np.ndarray) -> tuple[float, float | None, float | None]:
    """3-way macro-F1 of the rounded levels, QWK and Spearman (the calibration module's figures)."""
    rounded = np.clip(np.floor(levels + 0.5), 0, 2).astype(int)
    found = agreement(gold.tolist(), levels.tolist(), [str(i) for i in range(len(gold))], SCALE, resamples=0)
    return macro_f1(gold, rounded, [0, 1, 2]), found.qwk.value, found.spearman.value


def engine_levels(scorer, rubric: Rubric, rows: list[dict], test: dict[str, list[int]]) -> np.ndarray:
    """The engine's level of each test answer; as in the bake-off, an answer the engine reads as a
    contradiction, irrelevant, a non-answer, off topic or unscorable counts as incorrect (0).
    """
    candidates = [
        CandidateAnswers(candidate_id=f"row-{i}", answers=(Answer(question_id=slug(q), text=rows[i]["answer"]),))
        for q, indices in test.items()
        for i in indices
    ]
    levels = []
    for report in scorer.score_many(rubric, candidates):
        answer = report.answers[0]
        level = answer.dimensions[0].level
        levels.append(0.0 if level is None or answer.outcome in LABEL_OF_OUTCOME else level)
    return np.asarray(levels)


def baseline_levels(rows, questions, rated, test, vectors) -> np.ndarray:
    """Logistic regression per question on the reference answers (level 2) and the rated answers."""
    predicted = []
    for q, indices in test.items():
        refs = [norm(t) for t in rows[questions[q][0]]["reference_answers"] if norm(t)]
        train_x = np.stack([vectors[norm(rows[i]["answer"])] for i in rated[q]] + [vectors[t] for t in refs])
        train_y = [rows[i]["score_3level"] for i in rated[q]] + [2] * len(refs)
        test_x = np.stack([vectors[norm(rows[i]["answer"])] for i in indices])
        predicted += [float(p) for p in logistic(train_x, train_y, test_x)]
    return np.asarray(predicted)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--sizes", default="20,50,100,200", help="rated answers per question")
    parser.add_argument("--questions", type=int, default=0, help="a seeded sample of N questions (0: all)")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    rows = [json.loads(line) for line in args.data.read_text(encoding="utf-8").splitlines() if line.strip()]
    by_q: dict[str, list[int]] = defaultdict(list)
    for index, row in enumerate(rows):
        by_q[row["question_id"]].append(index)
    names = sorted(by_q)
    if args.questions and args.questions < len(names):
        chosen = np.random.default_rng(args.seed).choice(len(names), size=args.questions, replace=False)
        names = sorted(names[i] for i in chosen)
    questions = {q: by_q[q] for q in names}
    test, pool = split(questions, args.seed)
    # Beetle answers are short statements: the five-word minimum of attitude answers does not apply.
    scorer = build_scorer(args.model, method=msgspec.structs.replace(METHOD_V2, min_words=1))
    private = gold_safe_scorer(scorer)  # rated answers are kept off the on-disk embedding cache
    base = build_rubric("beetle-calibration", rows, questions, {})
    texts = sorted({norm(rows[i]["answer"]) for idx in questions.values() for i in idx})
    texts += sorted({norm(t) for idx in questions.values() for t in rows[idx[0]]["reference_answers"]} - set(texts))
    vectors = dict(zip(texts, private.reference_encoder.encode(texts), strict=True))  # shared with the anchors
    gold = np.asarray([rows[i]["score_3level"] for idx in test.values() for i in idx])
    sample = f"{len(questions)} of {len(by_q)} questions (seeded sample)" if len(questions) < len(by_q) else "all"
    print(f"Beetle calibration curve: {sample}, {sum(map(len, test.values()))} set-aside answers scored at every N")
    print(f"model {scorer.encoder.model_id}; method {scorer.method.method_id} (min_words=1)")
    print(
        f"\n{'N':>4} {'rated/q':>8}  {'engine F1':>9} {'QWK':>6} {'Spearman':>8}  {'LR F1':>6} {'QWK':>6} {'Spearman':>8} {'s':>5}"
    )
    done: dict[tuple[int, ...], list[str]] = {}
    for n in (int(s) for s in args.sizes.split(",")):
        begun = time.perf_counter()
        rated = {q: indices[:n] for q, indices in pool.items()}
        sizes = tuple(len(v) for v in rated.values())
        note = "  (the same rated answers as above: every pool is used up)" if sizes in done else ""
        if sizes not in done:
            rubric = calibrated_rubric(base, gold_of(rows, rated, base), f"cal-{n}")
            engine = figures(gold, engine_levels(private, rubric, rows, test))
            private.forget(rubric)
            lr = figures(gold, baseline_levels(rows, questions, rated, test, vectors))
            done[sizes] = [f"{v:.3f}" if v is not None else "-" for v in (*engine, *lr)]
        shown = done[sizes]
        print(
            f"{n:>4} {np.mean(sizes):>8.1f}  {shown[0]:>9} {shown[1]:>6} {shown[2]:>8}  {shown[3]:>6} {shown[4]:>6} "
            f"{shown[5]:>8} {time.perf_counter() - begun:>5.0f}{note}",
            flush=True,
        )
    if len(done) > 1:
        first, last = next(iter(done.values())), list(done.values())[-1]
        print(
            f"\nWhat the first N buys (Vervoe asks for about 20 graded answers): engine QWK {first[1]} "
            f"(logistic regression {first[4]}), against {last[1]} ({last[4]}) with the largest N."
        )
    print(
        f"\ntotal {time.perf_counter() - started:.0f} s. rated/q: mean rated answers per question (capped by the pool: "
        f"Beetle has {min(map(len, by_q.values()))}-{max(map(len, by_q.values()))} answers per question, "
        f"{TEST_SHARE:.0%} of each set aside)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
