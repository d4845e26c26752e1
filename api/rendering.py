"""How a stored screening is shown: the record with its report as stored, reviews, decision and history."""

from __future__ import annotations

from datetime import datetime

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from api.db import repo
from api.db.models import AuditEvent, ModelResult, Review, Screening
from api.decision import decide
from api.schemas import AuditEntry, Decision, HistoryEntry, ReviewOut, ScreeningSummary
from screening.report import CandidateReport

__all__ = ["ReportLevels", "audit_entry", "decode_report", "render", "report_levels", "summary"]

_report_decoder = msgspec.json.Decoder(CandidateReport)


def decode_report(blob: bytes) -> CandidateReport:
    """Decode a stored report."""
    return _report_decoder.decode(blob)


class ScreeningWire(msgspec.Struct, frozen=True, kw_only=True):
    """:class:`~api.schemas.ScreeningOut` with the report spliced in as its stored bytes."""

    id: str
    candidate_id: str | None
    application_id: str | None
    rubric_id: str
    rubric_version: str
    status: str
    created_at: datetime
    updated_at: datetime
    report: msgspec.Raw | None
    decision: Decision | None
    reviews: tuple[ReviewOut, ...]
    history: tuple[HistoryEntry, ...]


def _review_out(review: Review) -> ReviewOut:
    return ReviewOut(
        id=review.id,
        target=review.target,
        action=review.action,  # type: ignore[arg-type]
        model_level=review.model_level,
        level=review.level,
        reason=review.reason or "",
        reviewer_key_id=review.reviewer,
        created_at=review.created_at,
    )


def _history_out(result: ModelResult, current_seq: int) -> HistoryEntry:
    return HistoryEntry(
        seq=result.seq,
        created_at=result.created_at,
        rubric_version=result.rubric_version,
        rubric_fingerprint=result.rubric_fingerprint,
        model_id=result.model_id,
        status=result.model_status,
        overall_level=result.overall_level,
        overall_score=result.overall_score,
        current=result.seq == current_seq,
    )


async def render(session: AsyncSession, screening: Screening) -> bytes:
    """Render the record as JSON, with the report exactly as stored at scoring time."""
    reviews = await repo.reviews_for(session, screening.id)
    history = await repo.history_for(session, screening.id)
    report = decode_report(screening.report) if screening.report else None
    wire = ScreeningWire(
        id=screening.id,
        candidate_id=screening.candidate_id,
        application_id=screening.application_id,
        rubric_id=screening.rubric_id,
        rubric_version=screening.rubric_version,
        status=screening.status,
        created_at=screening.created_at,
        updated_at=screening.updated_at,
        report=msgspec.Raw(screening.report) if screening.report else None,
        decision=decide(report, reviews) if report else None,
        reviews=tuple(_review_out(r) for r in reviews),
        history=tuple(_history_out(h, screening.result_seq) for h in history),
    )
    return msgspec.json.encode(wire)


class OverallLevel(msgspec.Struct):
    """A stored report's overall level and score."""

    level: float | None = None
    score: float | None = None


class DimensionLevel(msgspec.Struct):
    """A stored report's level of one dimension."""

    dimension_id: str
    level: float | None = None


class ReportLevels(msgspec.Struct):
    """The levels of a stored report, decoded without its evidence (for lists and group reports)."""

    overall: OverallLevel
    dimensions: list[DimensionLevel] = msgspec.field(default_factory=list)


_levels_decoder = msgspec.json.Decoder(ReportLevels)


def report_levels(blob: bytes) -> ReportLevels:
    """Decode only the levels of a stored report."""
    return _levels_decoder.decode(blob)


def summary(screening: Screening) -> ScreeningSummary:
    """Summarise a record for a list."""
    score = None
    if screening.report:
        score = report_levels(screening.report).overall.score
    return ScreeningSummary(
        id=screening.id,
        candidate_id=screening.candidate_id,
        application_id=screening.application_id,
        rubric_id=screening.rubric_id,
        rubric_version=screening.rubric_version,
        status=screening.status,  # type: ignore[arg-type]
        overall_score=score,
        created_at=screening.created_at,
        updated_at=screening.updated_at,
    )


def audit_entry(event: AuditEvent) -> AuditEntry:
    """Convert an audit row to its wire form."""
    return AuditEntry(
        seq=event.seq,
        action=event.action,
        actor_key_id=event.actor_key_id,
        actor_role=event.actor_role,
        at=event.created_at,
        details=event.details,
    )
