"""Screening records: create (idempotent), view, review, rescore, erase. Controllers stay thin."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Literal

import msgspec
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth import Principal
from api.db import repo
from api.db.models import IdempotencyKey, ModelResult, Review, RubricUpload, Screening, utcnow
from api.errors import ApiError, FieldError
from api.rubrics import RubricEntry, resolve
from api.schemas import (
    Decision,
    DimensionDecision,
    HistoryEntry,
    ReviewIn,
    ReviewOut,
    ScreeningIn,
    ScreeningSummary,
)
from api.services import Services
from screening.errors import InvalidInput
from screening.report import Answer, CandidateAnswers, CandidateReport
from screening.scorer import validate_answers

__all__ = ["create", "erase", "export", "render", "rescore", "review", "summary", "view"]

_report_decoder = msgspec.json.Decoder(CandidateReport)
_answers_decoder = msgspec.json.Decoder(CandidateAnswers)


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


def request_hash(data: ScreeningIn) -> str:
    """Hash the request's canonical JSON (key order and whitespace do not matter)."""
    return hashlib.sha256(msgspec.json.encode(data, order="sorted")).hexdigest()


def _check_limits(services: Services, data: ScreeningIn) -> None:
    settings = services.settings
    errors: list[FieldError] = []
    if len(data.answers) > settings.max_answers:
        errors.append(
            FieldError("answers", f"{len(data.answers)} answers; at most {settings.max_answers} are accepted")
        )
    for index, answer in enumerate(data.answers):
        if len(answer.text) > settings.max_answer_chars:
            errors.append(
                FieldError(
                    f"answers[{index}].text",
                    f"{len(answer.text)} characters; at most {settings.max_answer_chars} are accepted",
                )
            )
    if errors:
        raise ApiError.invalid("; ".join(f"{e.path}: {e.message}" for e in errors), errors)


def _decision(report: CandidateReport, reviews: list[Review]) -> Decision:
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
    report = _report_decoder.decode(screening.report) if screening.report else None
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
        decision=_decision(report, reviews) if report else None,
        reviews=tuple(_review_out(r) for r in reviews),
        history=tuple(_history_out(h, screening.result_seq) for h in history),
    )
    return msgspec.json.encode(wire)


def summary(screening: Screening) -> ScreeningSummary:
    """Summarise a record for a list."""
    score = None
    if screening.report:
        score = msgspec.json.decode(screening.report, type=_OverallOnly).overall.score
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


class _Overall(msgspec.Struct):
    score: float | None = None


class _OverallOnly(msgspec.Struct):
    overall: _Overall


def _result_row(screening_id: str, seq: int, report: CandidateReport, blob: bytes) -> ModelResult:
    return ModelResult(
        screening_id=screening_id,
        seq=seq,
        report=blob,
        rubric_version=report.provenance.rubric_version,
        rubric_fingerprint=report.provenance.rubric_fingerprint,
        model_id=report.provenance.model_id,
        model_status=report.status,
        overall_level=report.overall.level,
        overall_score=report.overall.score,
        created_at=utcnow(),
    )


def _idem_store_key(principal: Principal, key: str) -> str:
    return f"idem:{principal.org_id}:{hashlib.sha256(key.encode()).hexdigest()}"


async def _replay(services: Services, principal: Principal, key: str, digest: str) -> tuple[bytes, Literal[201]] | None:
    """Return the stored record for a reused key with the same body; 409 for a different body."""
    cached = await services.idempotency_store.get(_idem_store_key(principal, key))
    services.metrics.cache_lookup("idempotency", hit=cached is not None)
    async with services.sessions() as session:
        if cached is not None:
            stored_digest, screening_id = cached.decode().split(":", 1)
        else:
            row = await repo.idempotency_row(session, principal.org_id, key)
            if row is None:
                return None
            stored_digest, screening_id = row.request_sha256, row.screening_id
        if stored_digest != digest:
            raise ApiError(
                409,
                "idempotency-conflict",
                "Idempotency key reused",
                "This Idempotency-Key was already used with a different request body; use a new key for a new request.",
            )
        screening = await repo.get_screening(session, principal.org_id, screening_id)
        return await render(session, screening), 201


async def _check_rubric_unchanged(session: AsyncSession, principal: Principal, entry: RubricEntry) -> None:
    """Refuse to store a score made with an uploaded version that was corrected while scoring."""
    if entry.source != "organisation":
        return
    query = select(RubricUpload.fingerprint).where(
        RubricUpload.org_id == principal.org_id,
        RubricUpload.rubric_id == entry.rubric.id,
        RubricUpload.version == entry.rubric.version,
    )
    current = (await session.execute(query.with_for_update())).scalar_one_or_none()
    if current != entry.fingerprint:
        raise ApiError(
            409,
            "rubric-changed",
            "Rubric changed while scoring",
            f"Version {entry.rubric.version!r} of {entry.rubric.id!r} was changed while this request was scored; "
            "retry the request.",
        )


async def create(services: Services, principal: Principal, data: ScreeningIn, key: str | None) -> tuple[bytes, int]:
    """Score and store a screening in one transaction; replay or 409 for a reused idempotency key."""
    _check_limits(services, data)
    digest = request_hash(data)
    if key is not None and (replayed := await _replay(services, principal, key, digest)):
        return replayed
    candidate = CandidateAnswers(
        candidate_id=data.candidate_id,
        answers=tuple(Answer(question_id=a.question_id, text=a.text) for a in data.answers),
    )
    async with services.sessions() as session:
        entry = await resolve(session, services.library, principal.org_id, data.rubric.id, data.rubric.version)
    problems = validate_answers(entry.rubric, candidate)
    if problems:
        raise InvalidInput(problems)
    report = await services.score(entry.rubric, candidate)
    blob = msgspec.json.encode(report)
    now = utcnow()
    screening = Screening(
        id=str(uuid.uuid4()),
        org_id=principal.org_id,
        candidate_id=data.candidate_id,
        application_id=data.application_id,
        rubric_id=entry.rubric.id,
        rubric_version=entry.rubric.version,
        rubric_pinned=data.rubric.version is not None,
        rubric_source=entry.source,
        status=report.status,
        model_status=report.status,
        answers=msgspec.json.encode(candidate),
        report=blob,
        result_seq=1,
        created_by=principal.key_id,
        created_at=now,
        updated_at=now,
    )
    try:
        async with services.sessions() as session, session.begin():
            await _check_rubric_unchanged(session, principal, entry)
            session.add(screening)
            await session.flush()
            session.add(_result_row(screening.id, 1, report, blob))
            if key is not None:
                session.add(
                    IdempotencyKey(
                        org_id=principal.org_id,
                        key=key,
                        request_sha256=digest,
                        screening_id=screening.id,
                        created_at=now,
                    )
                )
            await repo.add_audit(
                session,
                principal,
                "created",
                screening_id=screening.id,
                at=now,
                details={
                    "rubric_id": entry.rubric.id,
                    "rubric_version": entry.rubric.version,
                    "status": report.status,
                    "idempotency_key_used": key is not None,
                },
            )
            await session.flush()
            body = await render(session, screening)
    except IntegrityError:
        if key is None:
            raise
        replayed = await _replay(services, principal, key, digest)  # a concurrent request with the same key won
        if replayed is None:
            raise
        return replayed
    if key is not None:
        await services.idempotency_store.set(
            _idem_store_key(principal, key),
            f"{digest}:{screening.id}".encode(),
            expires_in=services.settings.idempotency_ttl_seconds,
        )
    return body, 201


def _gone(screening: Screening) -> None:
    if screening.erased_at is not None:
        raise ApiError(
            410,
            "erased",
            "Erased",
            f"Screening {screening.id!r} was erased on a data-protection request; only its audit log remains.",
        )


async def _read_audited(session: AsyncSession, principal: Principal, screening_id: str, action: str) -> Screening:
    """Load a record that has not been erased and audit the read as ``action`` (in the caller's transaction)."""
    screening = await repo.get_screening(session, principal.org_id, screening_id)
    _gone(screening)
    await repo.add_audit(session, principal, action, screening_id=screening.id)
    return screening


async def view(services: Services, principal: Principal, screening_id: str) -> bytes:
    """Return the record; the view is audited."""
    async with services.sessions() as session, session.begin():
        screening = await _read_audited(session, principal, screening_id, "viewed")
        return await render(session, screening)


async def export(services: Services, principal: Principal, screening_id: str) -> bytes:
    """Export the record with its answers and audit log, for an HR report; audited as ``exported``."""
    async with services.sessions() as session, session.begin():
        screening = await _read_audited(session, principal, screening_id, "exported")
        record = await render(session, screening)
        audit = [audit_entry(e) for e in await repo.audit_for(session, principal.org_id, screening.id)]
        results = [
            {"seq": r.seq, "created_at": r.created_at, "report": msgspec.Raw(r.report) if r.report else None}
            for r in await repo.history_for(session, screening.id)
        ]
    answers = msgspec.Raw(screening.answers) if screening.answers else None
    return msgspec.json.encode(
        {"screening": msgspec.Raw(record), "answers": answers, "model_results": results, "audit": audit}
    )


def audit_entry(event: object) -> dict[str, object]:
    """Convert an audit row to a dict (see :class:`~api.schemas.AuditEntry`)."""
    return {
        "seq": event.seq,
        "action": event.action,
        "actor_key_id": event.actor_key_id,  # type: ignore[attr-defined]
        "actor_role": event.actor_role,
        "at": event.created_at,
        "details": event.details,  # type: ignore[attr-defined]
    }


def _check_review(report: CandidateReport, data: ReviewIn) -> float | None:
    """Return the model level under review; 422 for an unknown target or a bad level."""
    if data.target == "overall":
        model_level = report.overall.level
    else:
        levels = {d.dimension_id: d.level for d in report.dimensions}
        if data.target not in levels:
            raise ApiError.invalid(
                f"unknown target {data.target!r}",
                [FieldError("target", f"unknown target {data.target!r}; use 'overall' or one of: {', '.join(levels)}")],
            )
        model_level = levels[data.target]
    if data.action == "override":
        low, high = report.scale.min, report.scale.max
        if data.level is None or not low <= data.level <= high:
            raise ApiError.invalid(
                "an override needs a level on the scale",
                [FieldError("level", f"an override needs a level from {low} to {high}")],
            )
    elif data.level is not None and data.level != model_level:
        raise ApiError.invalid(
            "a confirmation takes the model's level",
            [FieldError("level", "leave level out to confirm, or use action 'override'")],
        )
    elif model_level is None:
        raise ApiError.invalid(
            "nothing to confirm", [FieldError("action", "the model gave no level here; use 'override' with a level")]
        )
    return model_level


async def review(services: Services, principal: Principal, screening_id: str, data: ReviewIn) -> bytes:
    """Record a recruiter's confirmation or override beside the model's level."""
    async with services.sessions() as session, session.begin():
        screening = await repo.get_screening(session, principal.org_id, screening_id, for_update=True)
        _gone(screening)
        report = _report_decoder.decode(screening.report or b"")
        model_level = _check_review(report, data)
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
        await session.flush()
        return await render(session, screening)


async def rescore(services: Services, principal: Principal, screening_id: str) -> bytes:
    """Re-run the engine (current model, newest or pinned rubric); history and reviews are kept."""
    async with services.sessions() as session:
        screening = await repo.get_screening(session, principal.org_id, screening_id)
        _gone(screening)
        version = screening.rubric_version if screening.rubric_pinned else None
        entry = await resolve(session, services.library, principal.org_id, screening.rubric_id, version)
    candidate = _answers_decoder.decode(screening.answers or b"")
    report = await services.score(entry.rubric, candidate)
    blob = msgspec.json.encode(report)
    async with services.sessions() as session, session.begin():
        screening = await repo.get_screening(session, principal.org_id, screening_id, for_update=True)
        _gone(screening)
        await _check_rubric_unchanged(session, principal, entry)
        previous = screening.result_seq
        seq = previous + 1
        session.add(_result_row(screening.id, seq, report, blob))
        now = utcnow()
        screening.report = blob
        screening.result_seq = seq
        screening.rubric_version = entry.rubric.version
        screening.model_status = report.status
        if screening.status != "reviewed":
            screening.status = report.status
        screening.updated_at = now
        await repo.add_audit(
            session,
            principal,
            "rescored",
            screening_id=screening.id,
            at=now,
            details={
                "from_result": previous,
                "to_result": seq,
                "rubric_version": entry.rubric.version,
                "model_id": report.provenance.model_id,
            },
        )
        await session.flush()
        return await render(session, screening)


async def erase(services: Services, principal: Principal, candidate_id: str) -> tuple[int, int]:
    """Erase a candidate's answers, reports and reviews; one audit entry per record, with no personal data."""
    async with services.sessions() as session, session.begin():
        ids, keys = await repo.erase_candidate(session, principal.org_id, candidate_id)
        if not ids:
            raise ApiError.not_found("candidate", candidate_id)
        last = 0
        for screening_id in ids:
            event = await repo.add_audit(
                session,
                principal,
                "erased",
                screening_id=screening_id,
                details={
                    "reason": "data-protection erasure request",
                    "erased": ["answers", "reports", "reviews", "candidate reference"],
                },
            )
            last = event.seq
    for key in keys:
        await services.idempotency_store.delete(_idem_store_key(principal, key))
    return len(ids), last
