"""Decision policy: a human review stands over the model's level, per target, newest review first."""

from __future__ import annotations

from collections.abc import Sequence

from api.db.models import Review
from api.schemas import Decision, DimensionDecision
from screening.report import CandidateReport

__all__ = ["decide"]


def decide(report: CandidateReport, reviews: Sequence[Review]) -> Decision:
    """What stands for the overall and each dimension: the newest human review, else the model."""
    latest = {r.target: r for r in reviews}

    def one(target: str, model_level: float | None) -> DimensionDecision:
        human = latest.get(target)
        if human is None:
            return DimensionDecision(
                dimension_id=target, model_level=model_level, human_level=None, level=model_level, stands="model"
            )
        return DimensionDecision(
            dimension_id=target,
            model_level=model_level,
            human_level=human.level,
            level=human.level,
            stands="human",
            review_id=human.id,
        )

    return Decision(
        overall=one("overall", report.overall.level),
        dimensions=tuple(one(d.dimension_id, d.level) for d in report.dimensions),
    )
