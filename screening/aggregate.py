"""From answer-level dimension scores to dimension levels, an overall level and a 0-100 score."""

from __future__ import annotations

from collections.abc import Sequence

from screening.report import AnswerReport, DimensionScore, Overall
from screening.rubric import Rubric

__all__ = ["dimension_scores", "overall_score"]


def _weighted_mean(pairs: Sequence[tuple[float, float]]) -> float | None:
    total = sum(w for _, w in pairs)
    return sum(v * w for v, w in pairs) / total if total else None


def dimension_scores(rubric: Rubric, answers: Sequence[AnswerReport]) -> tuple[DimensionScore, ...]:
    """Each dimension's level across scored answers, weighted by the questions' measure weights.

    Confidence is the weighted mean answer confidence times the share of the rubric's
    questions for that dimension that were answered and scored.
    """
    by_question = {a.question_id: a for a in answers if a.status == "scored"}
    results = []
    for dimension in rubric.dimensions:
        measuring = [(q, m) for q in rubric.questions for m in q.measures if m.dimension == dimension.id]
        levels: list[tuple[float, float]] = []
        confidences: list[tuple[float, float]] = []
        for question, measure in measuring:
            report = by_question.get(question.id)
            found = [d for d in report.dimensions if d.dimension_id == dimension.id] if report else []
            if found and found[0].level is not None:
                levels.append((found[0].level, measure.weight))
                confidences.append((found[0].confidence, measure.weight))
        level = _weighted_mean(levels)
        coverage = len(levels) / len(measuring) if measuring else 0.0
        results.append(
            DimensionScore(
                dimension_id=dimension.id,
                name=dimension.name,
                level=None if level is None else round(level, 2),
                label=None if level is None else rubric.scale.label(level),
                confidence=round((_weighted_mean(confidences) or 0.0) * coverage, 2),
                answers_scored=len(levels),
                answers_expected=len(measuring),
            )
        )
    return tuple(results)


def overall_score(rubric: Rubric, dimensions: Sequence[DimensionScore]) -> Overall:
    """Dimension-weighted overall level, its 0-100 score, and confidence."""
    weights = {d.id: d.weight for d in rubric.dimensions}
    scored = [(d, weights[d.dimension_id]) for d in dimensions if d.level is not None]
    level = _weighted_mean([(d.level, w) for d, w in scored if d.level is not None])
    if level is None:
        return Overall(level=None, score=None, label=None, confidence=0.0)
    scale = rubric.scale
    share = sum(w for _, w in scored) / sum(weights.values())
    confidence = (_weighted_mean([(d.confidence, w) for d, w in scored]) or 0.0) * share
    level = round(level, 2)  # the score is read from the level as reported, so the two always agree
    return Overall(
        level=level,
        score=round((level - scale.min) / scale.span * 100, 1),
        label=scale.label(level),
        confidence=round(confidence, 2),
    )
