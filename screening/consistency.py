"""Rubric self-consistency: each reference response scored as an answer with itself held out.

A reference that lands more than one level from its own level is an anchor the method
cannot tell apart from references at other levels: rewrite it so that its behaviour, not
its topic, says its level. Method v1 re-scores the rubric without the reference; method
v2 reads the reference's features computed without it with a stacked model fitted on the
other questions (no refit per reference). Validity on independent answers comes first:
this check finds confusable anchors, it is not what a rubric is tuned to.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import msgspec

from screening.learned import held_out_anchor_levels
from screening.report import Answer, CandidateAnswers
from screening.rubric import Reference, Rubric
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
    if scorer.method.learned:
        return _held_out_learned(scorer, rubric, list(indices), on_progress)
    results = []
    for index in indices:
        reference = rubric.references[index]
        without = msgspec.structs.replace(rubric, references=rubric.references[:index] + rubric.references[index + 1 :])
        answer = Answer(question_id=reference.question, text=reference.text)
        report = scorer.score(without, CandidateAnswers(candidate_id=f"reference-{index}", answers=(answer,)))
        scored = next(d for d in report.answers[0].dimensions if d.dimension_id == reference.dimension)
        results.append(_held_out(index, reference, scored.level, report.answers[0].status))
        scorer.forget(without)
        if on_progress:
            on_progress(1)
    return results


def _held_out_learned(
    scorer: Scorer, rubric: Rubric, indices: list[int], on_progress: Callable[[int], None] | None
) -> list[HeldOutReference]:
    prepared = scorer.prepare(rubric)
    levels = held_out_anchor_levels(rubric, prepared.unit, scorer.method)
    position: dict[int, tuple[str, str, int]] = {}
    counts: dict[tuple[str, str], int] = {}
    for index, reference in enumerate(rubric.references):
        key = (reference.question, reference.dimension)
        position[index] = (*key, counts.get(key, 0))
        counts[key] = counts.get(key, 0) + 1
    results = []
    for index in indices:
        level = levels.get(position[index])
        rounded = None if level is None else round(level, 2)
        results.append(
            _held_out(index, rubric.references[index], rounded, "scored" if level is not None else "needs_review")
        )
        if on_progress:
            on_progress(1)
    return results


def _held_out(index: int, reference: Reference, level: float | None, status: str) -> HeldOutReference:
    return HeldOutReference(
        index=index,
        question=reference.question,
        dimension=reference.dimension,
        level=reference.level,
        held_out_level=level,
        status=status,
        text=reference.text,
    )
