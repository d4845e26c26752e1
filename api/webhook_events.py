"""Webhook events: written to the outbox in the transaction of the change they report.

:func:`record_event` is the one way the rest of the service emits an event. It adds one
``webhook_deliveries`` row per endpoint of the organisation subscribed to the event type, in the
caller's session, so the event commits with the change (none lost) or rolls back with it (none
sent for a change that did not happen). After the commit the sender loop is woken; it signs and
sends (``api.webhook_delivery``). Payloads carry ids, statuses, levels and links, never answer text.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import get_args

import msgspec
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.db.models import Review, Screening, ScreeningJob, WebhookDelivery, WebhookEndpoint, utcnow
from api.rendering import report_levels
from api.schemas import WebhookEventType as EventType

__all__ = [
    "EVENT_TYPES",
    "WAKE_KEY",
    "EventType",
    "ReviewData",
    "ScreeningData",
    "WebhookEvent",
    "record_event",
    "record_job_completed",
    "record_needs_review",
    "record_review",
    "record_scored",
    "wake_sender_after_commit",
]

EVENT_TYPES: tuple[str, ...] = get_args(EventType)
WAKE_KEY = "webhook_wake"  # session.info: the asyncio.Event that wakes this process's sender


class _Data(msgspec.Struct, frozen=True, kw_only=True):
    """Event data: ids, statuses, levels and links only."""


class DimensionLevel(_Data):
    """The model's level of one dimension."""

    dimension_id: str
    level: float | None


class Links(_Data):
    """Paths on this service (relative to its base URL): the record for an API key, the review page for a person."""

    screening: str
    review_page: str


class ReviewData(_Data):
    """The human review a ``screening.reviewed`` event reports (its reason text is left out)."""

    id: str
    target: str
    action: str
    model_level: float | None
    level: float | None


class ScreeningData(_Data):
    """The data of every ``screening.*`` event."""

    screening_id: str
    candidate_id: str | None
    application_id: str | None
    status: str
    model_status: str
    result_seq: int
    rubric_id: str
    rubric_version: str
    overall_level: float | None
    overall_score: float | None
    dimensions: tuple[DimensionLevel, ...]
    links: Links
    review: ReviewData | None = None


class JobLinks(_Data):
    """Paths on this service: the job, and its items (each naming the record it made)."""

    job: str
    items: str


class JobData(_Data):
    """The data of ``job.completed``: counts and links; the items name the candidates, the event does not."""

    job_id: str
    kind: str
    status: str
    total: int
    scored: int
    failed: int
    rejected_lines: int
    links: JobLinks


class WebhookEvent(msgspec.Struct, frozen=True, kw_only=True):
    """The body of every delivery: ``id`` is unique per event (receivers dedupe on it)."""

    id: str
    type: str
    created_at: datetime
    data: msgspec.Raw


def wake_sender_after_commit(session: AsyncSession) -> None:
    """Wake this process's sender when the session's transaction commits (not before: it would find nothing)."""
    wake = session.info.get(WAKE_KEY)
    if isinstance(wake, asyncio.Event):
        event.listen(session.sync_session, "after_commit", lambda _: wake.set(), once=True)


async def record_event(
    session: AsyncSession,
    *,
    org_id: str,
    event_type: EventType,
    data: msgspec.Struct | Mapping[str, object],
    candidate_id: str | None = None,
    at: datetime | None = None,
) -> str | None:
    """Queue an event for every endpoint of ``org_id`` subscribed to ``event_type``, in the caller's transaction.

    Disabled endpoints get it too: it waits until they are enabled again. ``candidate_id`` names the
    candidate the data is about (an erasure deletes the deliveries). Returns the event id, or ``None``
    when no endpoint wants it.
    """
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {event_type!r}; known: {', '.join(EVENT_TYPES)}")
    query = select(WebhookEndpoint.id, WebhookEndpoint.events).where(WebhookEndpoint.org_id == org_id)
    wanting = [endpoint_id for endpoint_id, events in (await session.execute(query)).all() if event_type in events]
    if not wanting:
        return None
    now = at or utcnow()
    event_id = str(uuid.uuid4())
    payload = msgspec.json.encode(
        WebhookEvent(id=event_id, type=event_type, created_at=now, data=msgspec.Raw(msgspec.json.encode(data)))
    )
    for endpoint_id in wanting:
        session.add(
            WebhookDelivery(
                id=str(uuid.uuid4()),
                endpoint_id=endpoint_id,
                org_id=org_id,
                event_id=event_id,
                event_type=event_type,
                candidate_id=candidate_id,
                payload=payload,
                status="pending",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
                updated_at=now,
            )
        )
    wake_sender_after_commit(session)
    return event_id


def _screening_data(screening: Screening, review: ReviewData | None = None) -> ScreeningData:
    levels = report_levels(screening.report or b'{"overall": {}}')
    return ScreeningData(
        screening_id=screening.id,
        candidate_id=screening.candidate_id,
        application_id=screening.application_id,
        status=screening.status,
        model_status=screening.model_status,
        result_seq=screening.result_seq,
        rubric_id=screening.rubric_id,
        rubric_version=screening.rubric_version,
        overall_level=levels.overall.level,
        overall_score=levels.overall.score,
        dimensions=tuple(DimensionLevel(dimension_id=d.dimension_id, level=d.level) for d in levels.dimensions),
        links=Links(screening=f"/v1/screenings/{screening.id}", review_page=f"/ui/screenings/{screening.id}"),
        review=review,
    )


async def record_scored(session: AsyncSession, screening: Screening) -> None:
    """``screening.scored`` for a stored (or re-scored) screening, and ``screening.needs_review`` when it does."""
    data = _screening_data(screening)
    common = {"org_id": screening.org_id, "data": data, "candidate_id": screening.candidate_id}
    await record_event(session, event_type="screening.scored", **common)  # type: ignore[arg-type]
    if screening.status == "needs_review":
        await record_event(session, event_type="screening.needs_review", **common)  # type: ignore[arg-type]


async def record_needs_review(session: AsyncSession, screening: Screening) -> None:
    """``screening.needs_review`` for a screening sent to a person after it was scored (the candidate asked)."""
    await record_event(
        session,
        org_id=screening.org_id,
        event_type="screening.needs_review",
        data=_screening_data(screening),
        candidate_id=screening.candidate_id,
    )


async def record_review(session: AsyncSession, screening: Screening, review: Review) -> None:
    """``screening.reviewed`` for a stored human review."""
    reviewed = ReviewData(
        id=review.id, target=review.target, action=review.action, model_level=review.model_level, level=review.level
    )
    await record_event(
        session,
        org_id=screening.org_id,
        event_type="screening.reviewed",
        data=_screening_data(screening, reviewed),
        candidate_id=screening.candidate_id,
    )


async def record_job_completed(session: AsyncSession, job: ScreeningJob) -> None:
    """``job.completed`` for a screening job that has finished (scored, or failed), in its finishing transaction."""
    data = JobData(
        job_id=job.id,
        kind=job.kind,
        status=job.status,
        total=job.total,
        scored=job.scored,
        failed=job.failed,
        rejected_lines=job.rejected_lines,
        links=JobLinks(job=f"/v1/screening-jobs/{job.id}", items=f"/v1/screening-jobs/{job.id}/items"),
    )
    await record_event(session, org_id=job.org_id, event_type="job.completed", data=data)
