"""Checks of a candidate's answers against a rubric, before any scoring (cheap: no NLP)."""

from __future__ import annotations

from screening.errors import Problem
from screening.report import CandidateAnswers
from screening.rubric import Rubric

__all__ = ["validate_answers"]


def validate_answers(rubric: Rubric, candidate: CandidateAnswers, prefix: str = "") -> list[Problem]:
    """Problems with a candidate's answers for ``rubric``: unknown or repeated question ids."""
    known = {q.id for q in rubric.questions}
    problems: list[Problem] = []
    seen: set[str] = set()
    for index, answer in enumerate(candidate.answers):
        where = f"{prefix}answers[{index}].question_id"
        if answer.question_id not in known:
            problems.append(
                Problem(
                    location=where,
                    message=f"unknown question {answer.question_id!r} in rubric {rubric.id!r}; "
                    f"known: {', '.join(sorted(known))}",
                )
            )
        elif answer.question_id in seen:
            problems.append(Problem(location=where, message=f"question {answer.question_id!r} is answered twice"))
        seen.add(answer.question_id)
    if not candidate.answers:
        problems.append(Problem(location=f"{prefix}answers", message="at least one answer is required"))
    return problems
