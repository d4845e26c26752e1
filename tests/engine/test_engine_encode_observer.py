"""Encode observers: told the size of each batch of answer texts the scorer encodes (real model)."""

from __future__ import annotations

from screening.report import Answer, CandidateAnswers


def test_an_observer_hears_each_answer_batch_until_removed(scorer, default_rubric) -> None:
    question = default_rubric.questions[0].id
    sizes: list[int] = []
    scorer.add_encode_observer(sizes.append)
    scorer.add_encode_observer(sizes.append)  # added once, however often
    try:
        text = "I'd apologise, check the order myself and ring her back today with a fix."
        scorer.score(
            default_rubric, CandidateAnswers(candidate_id="obs-1", answers=(Answer(question_id=question, text=text),))
        )
    finally:
        scorer.remove_encode_observer(sizes.append)
    assert sizes and all(size > 0 for size in sizes)
    assert sizes.append not in scorer.encode_observers
    heard = len(sizes)
    other = "I would say sorry and send a replacement straight away."
    scorer.score(
        default_rubric, CandidateAnswers(candidate_id="obs-2", answers=(Answer(question_id=question, text=other),))
    )
    assert len(sizes) == heard
