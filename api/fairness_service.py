"""Adverse-impact reports over an organisation's stored screenings and its candidates' self-identification.

Each candidate counts once, with the current report of their newest screening with the rubric in the
window. The report holds group figures only: no candidate id, no per-candidate row.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import Principal
from api.db import repo
from api.domain import InvalidField
from api.rendering import report_levels
from api.rubrics import resolve
from api.services import Services
from screening.demographics import Demographics
from screening.errors import RubricNotFound
from screening.fairness import AdverseImpactReport, ScoredCandidate, adverse_impact
from screening.rubric import Rubric

__all__ = ["adverse_impact_report", "compute"]


def _scored(candidate_id: str, blob: bytes) -> ScoredCandidate:
    levels = report_levels(blob)
    return ScoredCandidate(
        candidate_id=candidate_id,
        level=levels.overall.level,
        score=levels.overall.score,
        dimensions={d.dimension_id: d.level for d in levels.dimensions},
    )


async def adverse_impact_report(
    services: Services,
    session: AsyncSession,
    principal: Principal,
    rubric_id: str,
    cut: float | None,
    after: datetime | None,
    before: datetime | None,
) -> AdverseImpactReport:
    """The adverse-impact report of one rubric's screenings in a window; the request is audited."""
    try:
        entry = await resolve(session, services.library, services.rubric_parser, principal.org_id, rubric_id, None)
    except RubricNotFound as exc:
        message = f"no rubric {rubric_id!r} is available to this organisation"
        raise InvalidField(message, fields=[("rubric_id", message)]) from exc
    report = await compute(session, principal, entry.rubric, cut, after, before)
    await repo.add_audit(
        session, principal, "adverse_impact_reported", details={"rubric_id": rubric_id, "candidates": report.candidates}
    )
    await session.commit()
    return report


async def compute(
    session: AsyncSession,
    principal: Principal,
    rubric: Rubric,
    cut: float | None,
    after: datetime | None = None,
    before: datetime | None = None,
) -> AdverseImpactReport:
    """The report over the organisation's screenings with ``rubric``'s id (not audited: callers do that)."""
    scale = rubric.scale
    if cut is not None and not scale.min <= cut <= scale.max:
        message = f"the cut must be a level from {scale.min} to {scale.max}"
        raise InvalidField(message, fields=[("cut", message)])
    rows = await repo.latest_reports(session, principal.org_id, rubric.id, after, before)
    people = await repo.demographics_of(session, principal.org_id, [candidate_id for candidate_id, _ in rows])
    demographics = {
        p.candidate_id: Demographics(candidate_id=p.candidate_id, sex=p.sex, race_ethnicity=p.race_ethnicity)  # type: ignore[arg-type]
        for p in people
    }
    return adverse_impact(
        [_scored(candidate_id, blob) for candidate_id, blob in rows],
        demographics,
        cut=cut,
        dimensions=[d.id for d in rubric.dimensions],
    )
