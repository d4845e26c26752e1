"""Encoding across callers with the real model: concurrent callers share model calls and each gets its own
rows, the same as encoding alone; a lone caller is one model call; a failure reaches every waiting caller.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
import pytest

from screening.batching import BatchingEncoder
from screening.encoder import Embeddings, EncoderWrapper
from screening.report import Answer, CandidateAnswers
from screening.scorer import Scorer

TEXTS = [
    f"I'd {verb} the customer {when} and {then}."
    for verb in ("call", "email", "phone", "visit")
    for when in ("today", "at once", "this afternoon")
    for then in ("send a replacement", "refund the order", "check the stock")
]


@pytest.fixture
def batching(scorer: Scorer):
    encoder = BatchingEncoder(scorer.encoder)
    yield encoder
    encoder.close()


def _concurrently(count: int, work) -> list:
    results: list = [None] * count
    start = threading.Barrier(count)

    def run(i: int) -> None:
        start.wait()
        results[i] = work(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_concurrent_callers_share_model_calls_and_get_their_own_rows(scorer, batching) -> None:
    alone = scorer.encoder.encode(TEXTS)
    expected = dict(zip(TEXTS, alone, strict=True))
    chunks = [TEXTS[i::12] for i in range(12)]
    got = _concurrently(12, lambda i: batching.encode(chunks[i]))
    for chunk, rows in zip(chunks, got, strict=True):
        assert rows.shape == (len(chunk), alone.shape[1]) and rows.dtype == np.float32
        cosines = np.sum(rows * np.stack([expected[t] for t in chunk]), axis=1)
        assert cosines.min() > 0.9999
    assert batching.batches < 12


def test_a_lone_caller_is_one_model_call_each_time(batching) -> None:
    for text in TEXTS[:3]:
        batching.encode([text, text])
    assert batching.batches == 3
    assert batching.encode([]).shape[0] == 0


class _FailsOn(EncoderWrapper):
    """The real encoder, except that one text makes it raise (the error path under test)."""

    def __init__(self, inner, poison: str) -> None:
        super().__init__(inner)
        self.poison = poison

    def encode(self, texts: Sequence[str]) -> Embeddings:
        if self.poison in texts:
            raise RuntimeError("the model failed")
        return self.inner.encode(texts)


def test_a_failure_reaches_every_caller_of_the_batch_and_the_encoder_goes_on(scorer) -> None:
    encoder = BatchingEncoder(_FailsOn(scorer.encoder, "poison"))
    try:
        outcomes = _concurrently(6, lambda i: _try(encoder, ["poison"] if i == 0 else [TEXTS[i]]))
        assert outcomes[0] == "error"
        assert all(o in ("error", "ok") for o in outcomes)
        assert _try(encoder, [TEXTS[0]]) == "ok"
    finally:
        encoder.close()


def _try(encoder: BatchingEncoder, texts: list[str]) -> str:
    try:
        encoder.encode(texts)
    except RuntimeError:
        return "error"
    return "ok"


def test_scores_through_the_batching_encoder_match_direct_scores(scorer, default_rubric, batching) -> None:
    question = default_rubric.questions[0].id
    candidates = [
        CandidateAnswers(candidate_id=f"c{i}", answers=(Answer(question_id=question, text=TEXTS[i]),)) for i in range(8)
    ]
    direct = [scorer.score(default_rubric, c).overall.level for c in candidates]
    batched_scorer = Scorer(batching, scorer.analyzer, reference_encoder=scorer.reference_encoder, method=scorer.method)
    batched = _concurrently(8, lambda i: batched_scorer.score(default_rubric, candidates[i]).overall.level)
    assert batched == pytest.approx(direct, abs=0.01)
