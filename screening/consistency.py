"""Rubric self-consistency: each reference response scored as an answer with itself held out.

A reference that lands more than one level from its own level is an anchor the method
cannot tell apart from references at other levels: rewrite it so that its behaviour, not
its topic, says its level.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import msgspec

from screening.report import Answer, CandidateAnswers
from screening.rubric import Rubric
from screening.scorer import Scorer

__all__ = ["HeldOutReference", "held_out_levels"]


class HeldOutReference(msgspec.Struct, frozen=True, kw_only=True):
    """A reference's own level and the level it earns when held out of the rubric."""

    index: int
    question: str
    dimension: str
    level: int
    held_out_level: float | None
    status: str
    text: str

    @property
    def within_one(self) -> bool:
        """Whether the held-out level is within one level of its own."""
        return self.held_out_level is not None and abs(self.held_out_level - self.level) <= 1


def held_out_levels(
    scorer: Scorer, rubric: Rubric, indices: Iterable[int], on_progress: Callable[[int], None] | None = None
) -> list[HeldOutReference]:
    """Score each chosen reference as a candidate's answer against the rubric without it."""
    results = []
    for index in indices:
        reference = rubric.references[index]
        without = msgspec.structs.replace(rubric, references=rubric.references[:index] + rubric.references[index + 1 :])
        answer = Answer(question_id=reference.question, text=reference.text)
        report = scorer.score(without, CandidateAnswers(candidate_id=f"reference-{index}", answers=(answer,)))
        scored = next(d for d in report.answers[0].dimensions if d.dimension_id == reference.dimension)
        results.append(
            HeldOutReference(
                index=index,
                question=reference.question,
                dimension=reference.dimension,
                level=reference.level,
                held_out_level=scored.level,
                status=report.answers[0].status,
                text=reference.text,
            )
        )
        scorer.forget(without)
        if on_progress:
            on_progress(1)
    return results
