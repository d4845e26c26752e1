"""Throughput and latency of scoring, beside the raw encoder on the same texts in the same run.

The encoder is the cost that matters; the ratio (engine time / raw encoder time) is the
engine's overhead: spaCy analysis, encoding each answer's sentences and negated clauses as
well as the whole answer, level models, guards, explanation and report building.

Each encoder backend named by ``--backends`` (torch, onnx, onnx-int8) is measured in turn, in
the same run, on the same candidates.

Usage: python scripts/benchmark.py [--repeats 30] [--batch 100] [--backends torch,onnx,onnx-int8 (default: all)]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable

from screening.cli import resolve_rubric
from screening.encoder import BACKENDS
from screening.engine import build_scorer, checked_backend
from screening.paths import builtin_rubrics_dir
from screening.report import Answer, CandidateAnswers
from screening.rubric import Rubric

ANSWERS_PER_CANDIDATE = 3


def timings(action: Callable[[], object], repeats: int) -> list[float]:
    """Wall-clock seconds of ``repeats`` runs of ``action``."""
    result = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        result.append(time.perf_counter() - start)
    return result


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def describe(name: str, seconds: list[float], answers: int) -> str:
    p50, p95 = percentile(seconds, 0.5), percentile(seconds, 0.95)
    rate = answers / statistics.median(seconds)
    return f"{name:34s} p50 {p50 * 1000:8.1f} ms  p95 {p95 * 1000:8.1f} ms  {rate:7.1f} answers/s"


def run_backend(backend: str, candidates: list[CandidateAnswers], rubric: Rubric, args: argparse.Namespace) -> None:
    """Latency and throughput of the raw encoder and of the engine on one backend."""
    scorer = build_scorer(batch_size=args.encoder_batch_size, backend=backend)
    scorer.prepare(rubric).warm()
    encoder = scorer.encoder
    one = candidates[0]
    one_texts = [a.text for a in one.answers]
    batch_texts = [a.text for c in candidates for a in c.answers]
    scorer.score(rubric, one)  # warm-up: first calls load kernels
    encoder.encode(one_texts)
    words = sum(len(t.split()) for t in batch_texts) / len(batch_texts)
    print(
        f"\n[{backend}] rubric {rubric.id} {rubric.version}; model {encoder.model_id}; method {scorer.method.method_id}; "
        f"{ANSWERS_PER_CANDIDATE} answers a candidate, {words:.0f} words an answer on average"
    )
    raw_one = timings(lambda: encoder.encode(one_texts), args.repeats)
    engine_one = timings(lambda: scorer.score(rubric, one), args.repeats)
    raw_batch = timings(lambda: encoder.encode(batch_texts), args.batch_repeats)
    engine_batch = timings(lambda: scorer.score_many(rubric, candidates), args.batch_repeats)
    print(describe("raw encoder, one candidate", raw_one, len(one_texts)))
    print(describe("engine, one candidate", engine_one, len(one_texts)))
    print(describe(f"raw encoder, batch of {args.batch}", raw_batch, len(batch_texts)))
    print(describe(f"engine, batch of {args.batch}", engine_batch, len(batch_texts)))
    print(
        f"overhead (engine / raw encoder, median time): one candidate "
        f"{statistics.median(engine_one) / statistics.median(raw_one):.2f}x, batch "
        f"{statistics.median(engine_batch) / statistics.median(raw_batch):.2f}x"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=30, help="runs for single-candidate latency")
    parser.add_argument("--batch", type=int, default=100, help="candidates in the batch")
    parser.add_argument("--batch-repeats", type=int, default=3)
    parser.add_argument(
        "--encoder-batch-size", type=int, default=None, help="texts per model call (default: the engine's)"
    )
    parser.add_argument(
        "--backends", default=",".join(BACKENDS), help="comma-separated encoder backends to measure (default: all)"
    )
    args = parser.parse_args()
    rubric = resolve_rubric("customer-service-attitude")
    heldout = builtin_rubrics_dir() / "heldout" / "customer-service-attitude.jsonl"
    rows = [json.loads(line) for line in heldout.read_text(encoding="utf-8").splitlines() if line.strip()]
    by_question: dict[str, list[str]] = {}
    for row in rows:
        by_question.setdefault(row["question_id"], []).append(row["text"])
    questions = sorted(by_question)
    candidates = []
    for n in range(args.batch):
        chosen = [questions[(n + k * 5) % len(questions)] for k in range(ANSWERS_PER_CANDIDATE)]
        answers = tuple(Answer(question_id=q, text=by_question[q][n % len(by_question[q])]) for q in chosen)
        candidates.append(CandidateAnswers(candidate_id=f"bench-{n:03d}", answers=answers))
    for backend in args.backends.split(","):
        run_backend(checked_backend(backend), candidates, rubric, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
