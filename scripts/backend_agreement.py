"""Agreement of the ONNX encoder backends with torch, and their raw throughput, in one run.

The same texts are encoded and scored with each backend (torch, onnx fp32, onnx int8), on the
sets the quality scripts use:

- the default rubric's held-out attitude answers (rubrics/heldout/customer-service-attitude*.jsonl,
  method v2, the behaviour encoder) and the care-support SJT answers against its dev rubric;
- Beetle (../shared/data/beetle-train.jsonl, as in scripts/quality_beetle.py): the answers to the
  first ``--beetle-questions`` questions, fold 0 of the within-question split, scored by method v2
  on one rubric whose anchors are the reference answers and the other folds' labelled answers.

Per backend and set it prints the cosine of each answer's embedding with torch's (mean, min), the
scored levels' differences from torch (mean |delta level| per dimension, the share of answers whose
overall level moves by >= 0.5, the largest |delta|, answers scored on one backend only), and the raw
encoder throughput (answers/s, batches of 32) measured on the held-out answers in this run.

Rule: a backend may be the default iff, on every set, its mean cosine with torch is >= 0.99 and at
most 1% of answers move their overall level by >= 0.5 (and none is scored on one backend only).

Usage: python scripts/backend_agreement.py [--beetle PATH] [--beetle-questions 10] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import msgspec
import numpy as np
from bakeoff import DEFAULT_DATA, build_rubric, norm, slug, split

from screening.cli import resolve_rubric
from screening.encoder import BACKENDS, CachingEncoder, EmbeddingCache, Encoder
from screening.engine import default_model, open_encoder
from screening.method import METHOD_V2, MethodConfig
from screening.paths import builtin_rubrics_dir, default_cache_dir
from screening.report import Answer, CandidateAnswers, CandidateReport
from screening.rubric import Rubric
from screening.scorer import Scorer
from screening.text import TextAnalyzer

HELDOUT = builtin_rubrics_dir() / "heldout"
MIN_MEAN_COSINE = 0.99
MAX_SHARE_MOVED = 0.01
MOVED = 0.5
THROUGHPUT_BATCH = 32


class ScoreSet(msgspec.Struct, frozen=True):
    """One set: a rubric, (question id, answer text) pairs to score against it, and the method."""

    name: str
    rubric: Rubric
    answers: list[tuple[str, str]]
    method: MethodConfig = METHOD_V2


def attitude_sets() -> list[ScoreSet]:
    default = resolve_rubric("customer-service-attitude")
    care = resolve_rubric(str(builtin_rubrics_dir() / "dev" / "care-support-attitude.toml"))
    sets = []
    for name, rubric, files in (
        (
            "customer-service held-out",
            default,
            ("customer-service-attitude.jsonl", "customer-service-attitude-sjt.jsonl"),
        ),
        ("care-support SJT", care, ("care-support-attitude-sjt.jsonl",)),
    ):
        rows = [
            json.loads(line) for f in files for line in (HELDOUT / f).read_text("utf-8").splitlines() if line.strip()
        ]
        sets.append(ScoreSet(name, rubric, [(r["question_id"], r["text"]) for r in rows]))
    return sets


def beetle_set(path: Path, questions_wanted: int) -> ScoreSet | None:
    if not path.is_file() or questions_wanted <= 0:
        return None
    rows = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
    by_q: dict[str, list[int]] = defaultdict(list)
    for index, row in enumerate(rows):
        by_q[row["question_id"]].append(index)
    questions = {q: by_q[q] for q in sorted(by_q)[:questions_wanted]}
    question_of = {i: q for q, indices in questions.items() for i in indices}
    test, anchors = split("within", 0, rows, questions, question_of)
    rubric = build_rubric("beetle-agreement", rows, questions, anchors)
    answers = list(dict.fromkeys((slug(question_of[i]), norm(rows[i]["answer"])) for i in test))
    # Beetle answers are short statements: the five-word minimum of attitude answers does not apply.
    method = msgspec.structs.replace(METHOD_V2, min_words=1)
    return ScoreSet(f"Beetle ({len(questions)} questions, fold 0)", rubric, answers, method)


def score(
    encoder: Encoder, analyzer: TextAnalyzer, cache: EmbeddingCache, score_set: ScoreSet
) -> list[CandidateReport]:
    scorer = Scorer(encoder, analyzer, reference_encoder=CachingEncoder(encoder, cache), method=score_set.method)
    candidates = [
        CandidateAnswers(candidate_id=str(i), answers=(Answer(question_id=q, text=t),))
        for i, (q, t) in enumerate(score_set.answers)
    ]
    return scorer.score_many(score_set.rubric, candidates)


def levels(report: CandidateReport) -> tuple[float | None, dict[str, float | None]]:
    return report.overall.level, {d.dimension_id: d.level for d in report.answers[0].dimensions}


def throughput(encoder: Encoder, texts: list[str], repeats: int) -> float:
    """Answers a second, encoding ``texts`` in batches of 32 (the median of ``repeats`` passes)."""
    encoder.encode(texts[:THROUGHPUT_BATCH])  # warm-up
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(0, len(texts), THROUGHPUT_BATCH):
            encoder.encode(texts[i : i + THROUGHPUT_BATCH])
        seconds.append(time.perf_counter() - start)
    return len(texts) / statistics.median(seconds)


def compare(reference: list[CandidateReport], other: list[CandidateReport]) -> dict[str, object]:
    per_dimension: dict[str, list[float]] = defaultdict(list)
    overall: list[float] = []
    one_sided = 0
    for mine, theirs in zip(reference, other, strict=True):
        (o_ref, d_ref), (o_new, d_new) = levels(mine), levels(theirs)
        if (o_ref is None) != (o_new is None):
            one_sided += 1
        elif o_ref is not None and o_new is not None:
            overall.append(abs(o_new - o_ref))
        for dim, level in d_ref.items():
            if level is not None and d_new.get(dim) is not None:
                per_dimension[dim].append(abs(d_new[dim] - level))
    deltas = np.asarray(overall) if overall else np.zeros(1)
    dims = [abs(v) for values in per_dimension.values() for v in values]
    return {
        "per_dimension": {d: float(np.mean(v)) for d, v in sorted(per_dimension.items())},
        "moved": float(np.mean(deltas >= MOVED - 1e-9)),
        "max": float(max(deltas.max(), max(dims, default=0.0))),
        "one_sided": one_sided,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--beetle", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--beetle-questions", type=int, default=10, help="0: skip Beetle")
    parser.add_argument("--repeats", type=int, default=3, help="throughput passes (median)")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    args = parser.parse_args()
    backends = args.backends.split(",")
    if backends[0] != "torch":
        parser.error("the first backend must be torch, the reference")
    sets = attitude_sets()
    beetle = beetle_set(args.beetle, args.beetle_questions)
    if beetle is not None:
        sets.append(beetle)
    else:
        print(f"(Beetle skipped: {args.beetle} not found or --beetle-questions 0)")
    cache_dir = default_cache_dir()
    cache = EmbeddingCache(cache_dir / "embeddings.sqlite3")
    analyzer = TextAnalyzer()
    model = default_model(METHOD_V2)
    texts = [t for _, t in sets[0].answers]
    embeddings: dict[str, dict[str, np.ndarray]] = {}
    reports: dict[str, dict[str, list[CandidateReport]]] = {}
    rates: dict[str, float] = {}
    identity: dict[str, str] = {}
    for backend in backends:
        encoder = open_encoder(model, cache_dir, THROUGHPUT_BATCH, backend=backend)
        identity[backend] = f"weights/graph sha256 {encoder.weights_sha256[:16]}"
        rates[backend] = throughput(encoder, texts, args.repeats)
        embeddings[backend] = {s.name: encoder.encode([t for _, t in s.answers]) for s in sets}
        reports[backend] = {s.name: score(encoder, analyzer, cache, s) for s in sets}
        print(f"{backend}: done ({identity[backend]})", file=sys.stderr, flush=True)
    print(
        f"model {model}, method {METHOD_V2.method_id}; raw throughput on {len(texts)} held-out answers, batches of 32"
    )
    verdicts = {}
    for backend in backends:
        line = f"  {backend:10s} {rates[backend]:7.1f} answers/s  ({rates[backend] / rates['torch']:.2f}x torch)"
        print(line + f"  {identity[backend]}")
    for s in sets:
        print(f"\n{s.name}: {len(s.answers)} answers, rubric {s.rubric.id}")
        for backend in backends[1:]:
            cos = (embeddings[backend][s.name] * embeddings["torch"][s.name]).sum(axis=1)
            c = compare(reports["torch"][s.name], reports[backend][s.name])
            dims = ", ".join(f"{d} {v:.3f}" for d, v in c["per_dimension"].items())
            print(
                f"  {backend:10s} cosine mean {cos.mean():.5f} min {cos.min():.5f}; overall level moved >= {MOVED}: "
                f"{c['moved']:.1%}; max |delta| {c['max']:.2f}; scored on one backend only: {c['one_sided']}"
            )
            print(f"  {'':10s} mean |delta level| per dimension: {dims}")
            ok = cos.mean() >= MIN_MEAN_COSINE and c["moved"] <= MAX_SHARE_MOVED and c["one_sided"] == 0
            verdicts[backend] = verdicts.get(backend, True) and ok
    print(
        f"\nrule: a backend may be the default iff on every set its mean cosine with torch is >= {MIN_MEAN_COSINE} "
        f"and at most {MAX_SHARE_MOVED:.0%} of answers move their overall level by >= {MOVED} (none scored on one only)"
    )
    for backend, ok in verdicts.items():
        print(f"  {backend:10s} {'may be the default' if ok else 'may NOT be the default'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
