"""Screenings: score and store (idempotent), list, read, export and re-score. Domain errors only."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import msgspec
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api import idempotency, webhook_events
from api.auth import Principal
from api.db import repo
from api.db.models import IdempotencyKey, ModelResult, RubricUpload, Screening, utcnow
from api.domain import Conflict, InvalidField
from api.rendering import audit_entry, render, summary
from api.rubrics import RubricEntry, resolve
from api.schemas import AuditLog, Page, ScreeningIn
from api.services import Services
from screening.errors import InvalidInput
from screening.report import Answer, CandidateAnswers, CandidateReport
from screening.scorer import validate_answers

__all__ = [
    "Pending",
    "audit_log",
    "check",
    "check_answers",
    "create",
    "end_reads",
    "export",
    "list_page",
    "prepare",
    "read_audited",
    "rescore",
    "status_counts",
    "store",
    "view",
    "view_for_review",
]

_answers_decoder = msgspec.json.Decoder(CandidateAnswers)


async def end_reads(session: AsyncSession) -> None:
    """End the session's read transaction (its connection goes back to the pool while the model runs)."""
    if session.in_transaction():
        await session.commit()


def _check_limits(services: Services, data: ScreeningIn) -> None:
    settings = services.settings
    fields: list[tuple[str, str]] = []
    if len(data.answers) > settings.max_answers:
        fields.append(("answers", f"{len(data.answers)} answers; at most {settings.max_answers} are accepted"))
    for index, answer in enumerate(data.answers):
        if len(answer.text) > settings.max_answer_chars:
            fields.append(
                (
                    f"answers[{index}].text",
                    f"{len(answer.text)} characters; at most {settings.max_answer_chars} are accepted",
                )
            )
    if fields:
        raise InvalidField("; ".join(f"{path}: {message}" for path, message in fields), fields=fields)


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
        raise Conflict(
            "rubric-changed",
            "Rubric changed while scoring",
            f"Version {entry.rubric.version!r} of {entry.rubric.id!r} was changed while this request was scored; "
            "retry the request.",
        )


StoreGuard = Callable[[AsyncSession], Awaitable[None]]


async def create(
    services: Services,
    session: AsyncSession,
    principal: Principal,
    data: ScreeningIn,
    key: str | None,
    guard: StoreGuard | None = None,
) -> bytes:
    """Score and store a screening in one transaction; with a key, replay its record or 409 for another body.

    ``guard`` runs inside the storing transaction (see :func:`store`).
    """
    _check_limits(services, data)
    if key is None:
        return await _create_once(services, session, principal, data, None, guard)
    async with idempotency.held(services.shared, principal, key):
        return await _create_once(services, session, principal, data, key, guard)


@dataclass(frozen=True, eq=False)
class Pending:
    """A checked request waiting for its report: what :func:`store` needs besides the report."""

    data: ScreeningIn
    key: str | None
    digest: str
    candidate: CandidateAnswers
    entry: RubricEntry


async def check(services: Services, session: AsyncSession, principal: Principal, data: ScreeningIn) -> RubricEntry:
    """Every check a request passes before the model runs (limits, rubric, answers); the rubric it uses."""
    _check_limits(services, data)
    entry = await resolve(
        session, services.library, services.rubric_parser, principal.org_id, data.rubric.id, data.rubric.version
    )
    check_answers(services, data, entry)
    return entry


def check_answers(services: Services, data: ScreeningIn, entry: RubricEntry) -> None:
    """The checks of :func:`check` once the rubric is resolved (pure: safe in a worker thread)."""
    _check_limits(services, data)
    problems = validate_answers(entry.rubric, _candidate(data))
    if problems:
        raise InvalidInput(problems)


def _candidate(data: ScreeningIn) -> CandidateAnswers:
    return CandidateAnswers(
        candidate_id=data.candidate_id,
        answers=tuple(Answer(question_id=a.question_id, text=a.text) for a in data.answers),
    )


async def prepare(
    services: Services, session: AsyncSession, principal: Principal, data: ScreeningIn, key: str | None
) -> str | Pending:
    """The id of the record ``key`` already made (409 for another body), or the checked request to score.

    Call it, score, then :func:`store`, under :func:`idempotency.held` when there is a key.
    """
    digest = idempotency.request_hash(data)
    if key is not None:
        recorded = await idempotency.recorded_screening(
            services.shared, services.metrics, session, principal, key, digest
        )
        if recorded is not None:
            return recorded
    candidate = _candidate(data)
    entry = await resolve(
        session, services.library, services.rubric_parser, principal.org_id, data.rubric.id, data.rubric.version
    )
    await end_reads(session)
    problems = validate_answers(entry.rubric, candidate)
    if problems:
        raise InvalidInput(problems)
    return Pending(data=data, key=key, digest=digest, candidate=candidate, entry=entry)


async def _rendered(session: AsyncSession, principal: Principal, screening_id: str) -> bytes:
    return await render(session, await repo.get_screening(session, principal.org_id, screening_id))


async def _create_once(
    services: Services,
    session: AsyncSession,
    principal: Principal,
    data: ScreeningIn,
    key: str | None,
    guard: StoreGuard | None,
) -> bytes:
    found = await prepare(services, session, principal, data, key)
    if isinstance(found, str):
        return await _rendered(session, principal, found)
    report = await services.score(found.entry.rubric, found.candidate)
    return (await store(services, session, principal, found, report, guard))[1]


async def store(
    services: Services,
    session: AsyncSession,
    principal: Principal,
    pending: Pending,
    report: CandidateReport,
    guard: StoreGuard | None = None,
) -> tuple[str, bytes]:
    """Store a scored request in one transaction: ``(record id, record)``; a key stored first meanwhile replays.

    ``guard`` runs first in that transaction: a job item or a Greenhouse invitation re-reads (and locks) its
    row there and raises when the candidate was erased while the answers were scored, so nothing is stored.
    """
    data, key, digest, entry = pending.data, pending.key, pending.digest, pending.entry
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
        answers=msgspec.json.encode(pending.candidate),
        report=blob,
        result_seq=1,
        created_by=principal.key_id,
        created_at=now,
        updated_at=now,
    )
    try:
        async with session.begin():
            await _check_rubric_unchanged(session, principal, entry)
            if guard is not None:
                await guard(session)
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
            await webhook_events.record_scored(session, screening)
            await session.flush()
            body = await render(session, screening)
    except IntegrityError:
        if key is None:
            raise
        # another worker (without a shared lock: Redis down) stored this key first
        recorded = await idempotency.recorded_screening(
            services.shared, services.metrics, session, principal, key, digest
        )
        if recorded is None:
            raise
        return recorded, await _rendered(session, principal, recorded)
    # committed: nothing after this point may report the request as failed
    if key is not None:
        ttl = services.settings.idempotency_ttl_seconds
        await idempotency.remember(services.shared, principal, key, digest, screening.id, ttl)
    return screening.id, body


async def list_page(
    session: AsyncSession,
    principal: Principal,
    filters: repo.ListFilters,
    cursor: str | None,
    limit: int,
    sort: str = "newest",
) -> Page:
    """One page of the organisation's screenings, newest first or by overall level (``repo.SORTS``)."""
    rows, next_cursor = await repo.list_screenings(session, principal.org_id, filters, cursor, limit, sort)
    return Page(items=tuple(summary(r) for r in rows), next_cursor=next_cursor)


async def read_audited(session: AsyncSession, principal: Principal, screening_id: str, action: str) -> Screening:
    """Load a live record and audit the read as ``action`` (in the caller's transaction)."""
    screening = await repo.get_screening(session, principal.org_id, screening_id)
    await repo.add_audit(session, principal, action, screening_id=screening.id)
    return screening


async def view(session: AsyncSession, principal: Principal, screening_id: str) -> bytes:
    """Return the record; the view is audited."""
    async with session.begin():
        return await render(session, await read_audited(session, principal, screening_id, "viewed"))


async def view_for_review(
    session: AsyncSession, principal: Principal, screening_id: str
) -> tuple[bytes, CandidateAnswers | None]:
    """The record and the candidate's answers, for a person reviewing it; audited as ``viewed`` (answers shown)."""
    async with session.begin():
        screening = await repo.get_screening(session, principal.org_id, screening_id)
        await repo.add_audit(
            session, principal, "viewed", screening_id=screening.id, details={"via": "review-page", "answers": True}
        )
        record = await render(session, screening)
    answers = _answers_decoder.decode(screening.answers) if screening.answers else None
    return record, answers


async def status_counts(session: AsyncSession, principal: Principal, filters: repo.ListFilters) -> dict[str, int]:
    """How many of the organisation's screenings match ``filters``, per status."""
    return await repo.count_screenings(session, principal.org_id, filters)


async def audit_log(session: AsyncSession, principal: Principal, screening_id: str) -> AuditLog:
    """Everything that happened to a record (also an erased one), oldest first."""
    if not await repo.was_erased(session, principal.org_id, screening_id):
        await repo.get_screening(session, principal.org_id, screening_id)
    events = await repo.audit_for(session, principal.org_id, screening_id)
    return AuditLog(screening_id=screening_id, entries=tuple(audit_entry(e) for e in events))


async def export(session: AsyncSession, principal: Principal, screening_id: str) -> bytes:
    """Export the record with its answers and audit log, for an HR report; audited as ``exported``."""
    async with session.begin():
        screening = await read_audited(session, principal, screening_id, "exported")
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


async def rescore(services: Services, session: AsyncSession, principal: Principal, screening_id: str) -> bytes:
    """Re-run the engine (current model, newest or pinned rubric); history and reviews are kept."""
    screening = await repo.get_screening(session, principal.org_id, screening_id)
    version = screening.rubric_version if screening.rubric_pinned else None
    entry = await resolve(
        session, services.library, services.rubric_parser, principal.org_id, screening.rubric_id, version
    )
    candidate = _answers_decoder.decode(screening.answers or b"")
    await end_reads(session)
    report = await services.score(entry.rubric, candidate)
    blob = msgspec.json.encode(report)
    async with session.begin():
        screening = await repo.get_screening(session, principal.org_id, screening_id, for_update=True)
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
        await webhook_events.record_scored(session, screening)
        await session.flush()
        return await render(session, screening)
