"""Reviews: a recruiter confirms or overrides a level; the model's level is kept beside the human one."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from api import webhook_events
from api.auth import Principal
from api.db import repo
from api.db.models import Review, utcnow
from api.domain import InvalidField
from api.rendering import decode_report, render
from api.schemas import ReviewIn
from screening.report import CandidateReport

__all__ = ["review"]


def _invalid(field: str, message: str, detail: str) -> InvalidField:
    return InvalidField(detail, fields=[(field, message)])


def _model_level(report: CandidateReport, data: ReviewIn) -> float | None:
    """Return the model level under review; 422 for an unknown target or a level the action does not take."""
    if data.target == "overall":
        model_level = report.overall.level
    else:
        levels = {d.dimension_id: d.level for d in report.dimensions}
        if data.target not in levels:
            message = f"unknown target {data.target!r}; use 'overall' or one of: {', '.join(levels)}"
            raise _invalid("target", message, f"unknown target {data.target!r}")
        model_level = levels[data.target]
    if data.action == "override":
        low, high = report.scale.min, report.scale.max
        if data.level is None or not low <= data.level <= high:
            message = f"an override needs a level from {low} to {high}"
            raise _invalid("level", message, "an override needs a level on the scale")
    elif data.level is not None and data.level != model_level:
        message = "leave level out to confirm, or use action 'override'"
        raise _invalid("level", message, "a confirmation takes the model's level")
    elif model_level is None:
        message = "the model gave no level here; use 'override' with a level"
        raise _invalid("action", message, "nothing to confirm")
    return model_level


async def review(session: AsyncSession, principal: Principal, screening_id: str, data: ReviewIn) -> bytes:
    """Record a recruiter's confirmation or override beside the model's level."""
    async with session.begin():
        screening = await repo.get_screening(session, principal.org_id, screening_id, for_update=True)
        model_level = _model_level(decode_report(screening.report or b""), data)
        now = utcnow()
        row = Review(
            id=str(uuid.uuid4()),
            screening_id=screening.id,
            target=data.target,
            action=data.action,
            model_level=model_level,
            level=data.level if data.action == "override" else model_level,
            reason=data.reason,
            reviewer=principal.key_id,
            created_at=now,
        )
        session.add(row)
        screening.status = "reviewed"
        screening.updated_at = now
        await repo.add_audit(
            session,
            principal,
            "reviewed",
            screening_id=screening.id,
            at=now,
            details={"review_id": row.id, "target": data.target, "action": data.action},
        )
        await webhook_events.record_review(session, screening, row)
        await session.flush()
        return await render(session, screening)
