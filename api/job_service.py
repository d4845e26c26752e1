"""Screening jobs: accept one screening or an NDJSON batch for scoring later, read progress and items.

Accepting checks every screening exactly as ``POST /v1/screenings`` does (limits, rubric, answers)
and stores the job with its items in one transaction: ``202`` is answered only after the commit,
so nothing accepted is lost, and a batch with a bad line stores nothing (unless ``partial=allow``).
Domain errors only.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

import anyio.to_thread
import msgspec
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api import idempotency, screening_service
from api.auth import Principal
from api.db import jobs
from api.db.models import ScreeningJob, ScreeningJobItem, utcnow
from api.domain import Conflict, InvalidField, TooLarge
from api.errors import ApiError, FieldError, to_api_error
from api.job_runner import job_problem
from api.request_gate import check_json_body
from api.rubrics import RubricEntry, resolve
from api.schemas import JobItemOut, JobItemPage, JobProblem, JobProgress, ScreeningIn, ScreeningJobOut
from api.services import Services
from screening.wire_errors import msgspec_error_location

__all__ = ["MAX_LISTED_PROBLEMS", "accept_batch", "accept_single", "item_page", "view"]

MAX_LISTED_PROBLEMS = 100
INSERT_CHUNK = 1000
_line_decoder = msgspec.json.Decoder(ScreeningIn)
_problem_decoder = msgspec.json.Decoder(JobProblem)
RubricKey = tuple[str, str | None]


@dataclass
class _Lines:
    """A batch body read line by line: the good lines and every problem (listed up to a cap)."""

    good: list[tuple[int, ScreeningIn]] = field(default_factory=list)
    problems: list[FieldError] = field(default_factory=list)
    bad_lines: set[int] = field(default_factory=set)
    unlisted: int = 0

    def add(self, line: int, path: str, message: str) -> None:
        self.bad_lines.add(line)
        if len(self.problems) < MAX_LISTED_PROBLEMS:
            where = f"line {line}: {path}" if path else f"line {line}"
            self.problems.append(FieldError(path=where, message=message))
        else:
            self.unlisted += 1

    def add_error(self, line: int, error: ApiError) -> None:
        if not error.errors:
            self.add(line, "", error.detail)
        for problem in error.errors:
            self.add(line, problem.path, problem.message)

    def listed(self) -> list[FieldError]:
        more = [FieldError(path="body", message=f"{self.unlisted} more problem(s) not listed")] if self.unlisted else []
        return self.problems + more


def _too_many_lines(found: str, limit: int) -> TooLarge:
    return TooLarge(
        f"The batch has {found} lines; at most {limit} are accepted (SCREENING_MAX_BATCH_LINES). Split it into several jobs."
    )


def _numbered_lines(body: bytes, limit: int) -> list[tuple[int, bytes]]:
    """The body's non-blank lines with their 1-based numbers; refused as soon as there are more than ``limit``.

    Lines are cut one at a time (never the whole body split first), and a body with far more line breaks
    than the limit allows is refused before any is cut: memory stays proportional to the accepted lines.
    """
    breaks = body.count(b"\n")
    if breaks > 2 * limit + 1000:  # blank lines are tolerated, not without bound
        raise _too_many_lines(f"{breaks + 1:,}", limit)
    numbered: list[tuple[int, bytes]] = []
    start, number = 0, 0
    while start <= len(body):
        end = body.find(b"\n", start)
        end = len(body) if end == -1 else end
        number += 1
        if line := body[start:end].strip():
            if len(numbered) == limit:
                raise _too_many_lines(f"more than {limit}", limit)
            numbered.append((number, line))
        start = end + 1
    return numbered


def _decode_lines(body: bytes, services: Services) -> _Lines:
    """Split and decode the NDJSON body (in a worker thread: pure, bounded by the settings)."""
    settings = services.settings
    lines = _Lines()
    numbered = _numbered_lines(body, settings.max_batch_lines)
    if not numbered:
        raise InvalidField(
            "The body has no lines; send one screening request (JSON) per line.", fields=[("body", "empty")]
        )
    for number, line in numbered:
        if len(line) > settings.max_body_bytes:
            lines.add(number, "", f"{len(line)} bytes; a line holds at most {settings.max_body_bytes}")
            continue
        try:
            check_json_body(line)
            lines.good.append((number, _line_decoder.decode(line)))
        except ApiError as exc:
            lines.add_error(number, exc)
        except msgspec.ValidationError as exc:
            path, message = msgspec_error_location(str(exc))
            lines.add(number, path, message)
        except msgspec.DecodeError as exc:
            lines.add(number, "", f"not a JSON object: {exc}")
    return lines


def _check_lines(services: Services, lines: _Lines, entries: dict[RubricKey, RubricEntry | ApiError]) -> None:
    """Check each decoded line against its rubric (in a worker thread); bad ones move to the problems."""
    kept: list[tuple[int, ScreeningIn]] = []
    for number, data in lines.good:
        entry = entries[(data.rubric.id, data.rubric.version)]
        try:
            if isinstance(entry, ApiError):
                raise entry
            screening_service.check_answers(services, data, entry)
        except Exception as exc:
            lines.add_error(number, to_api_error(exc))
            continue
        kept.append((number, data))
    lines.good = kept


async def _entries(
    services: Services, session: AsyncSession, principal: Principal, wanted: set[RubricKey]
) -> dict[RubricKey, RubricEntry | ApiError]:
    found: dict[RubricKey, RubricEntry | ApiError] = {}
    for rubric_id, version in sorted(wanted, key=str):
        try:
            found[(rubric_id, version)] = await resolve(
                session, services.library, services.rubric_parser, principal.org_id, rubric_id, version
            )
        except Exception as exc:
            found[(rubric_id, version)] = to_api_error(exc)
    return found


def _digest(*parts: bytes) -> str:
    return hashlib.sha256(b"\0".join(parts)).hexdigest()


async def _replayed(session: AsyncSession, principal: Principal, key: str | None, digest: str) -> ScreeningJob | None:
    """The job this key already made (``None`` if unused); 409 if it came with another body."""
    if key is None:
        return None
    job = await jobs.job_by_key(session, principal.org_id, key)
    if job is not None and job.request_sha256 != digest:
        raise Conflict(
            "idempotency-conflict",
            "Idempotency key reused",
            "This Idempotency-Key was already used with a different request body; use a new key for a new request.",
        )
    return job


def _new_job(principal: Principal, kind: str, total: int, key: str | None, digest: str) -> ScreeningJob:
    now = utcnow()
    return ScreeningJob(
        id=str(uuid.uuid4()),
        org_id=principal.org_id,
        kind=kind,
        status="queued",
        total=total,
        scored=0,
        failed=0,
        rejected_lines=0,
        idempotency_key=key,
        request_sha256=digest,
        created_by=principal.key_id,
        created_by_role=principal.role,
        created_at=now,
        updated_at=now,
    )


async def _store(
    services: Services,
    session: AsyncSession,
    principal: Principal,
    job: ScreeningJob,
    items: Sequence[tuple[int, ScreeningIn, str]],
) -> tuple[ScreeningJobOut, bool]:
    """Store the job and its items in one transaction, then wake the workers; ``(job, created)``."""
    now = job.created_at
    rows = [
        {
            "job_id": job.id,
            "org_id": job.org_id,
            "line": line,
            "candidate_id": data.candidate_id,
            "body": msgspec.json.encode(data),
            "idempotency_key": item_key,
            "status": "queued",
            "attempts": 0,
            "dead_letter": False,
            "created_at": now,
            "updated_at": now,
        }
        for line, data, item_key in items
    ]
    try:
        async with session.begin():
            session.add(job)
            await session.flush()
            for start in range(0, len(rows), INSERT_CHUNK):
                await session.execute(insert(ScreeningJobItem), rows[start : start + INSERT_CHUNK])
    except IntegrityError:  # the same key stored meanwhile by a concurrent request
        replay = await _replayed(session, principal, job.idempotency_key, job.request_sha256)
        if replay is None:
            raise
        return await _out(session, replay), False
    # committed: a lost wake-up is covered by the reconciler (or the in-process runner's poll)
    if services.job_dispatch is not None:
        await services.job_dispatch.notify(len(rows))
    return await _out(session, job), True


async def accept_single(
    services: Services, session: AsyncSession, principal: Principal, data: ScreeningIn, key: str | None
) -> tuple[ScreeningJobOut, bool]:
    """Check one screening request and queue it: ``(job, created)``; a reused key returns its job."""
    digest = idempotency.request_hash(data)
    if (replay := await _replayed(session, principal, key, digest)) is not None:
        return await _out(session, replay), False
    if key is not None:  # a key a synchronous call used with another body is refused now, not when run
        await idempotency.recorded_screening(services.shared, services.metrics, session, principal, key, digest)
    await screening_service.check(services, session, principal, data)
    await screening_service.end_reads(session)
    job = _new_job(principal, "single", 1, key, digest)
    return await _store(services, session, principal, job, [(1, data, key or f"job:{job.id}")])


async def accept_batch(
    services: Services, session: AsyncSession, principal: Principal, body: bytes, partial: bool, key: str | None
) -> tuple[ScreeningJobOut, bool]:
    """Check every line of an NDJSON batch and queue them: ``(job, created)``.

    Any bad line refuses the whole batch (422, each problem as ``line N: field``) unless ``partial``:
    then the good lines are queued and the job's ``problem`` lists the others.
    """
    digest = _digest(body, b"partial" if partial else b"all")
    if (replay := await _replayed(session, principal, key, digest)) is not None:
        return await _out(session, replay), False
    lines = await anyio.to_thread.run_sync(_decode_lines, body, services)
    entries = await _entries(services, session, principal, {(d.rubric.id, d.rubric.version) for _, d in lines.good})
    await screening_service.end_reads(session)
    await anyio.to_thread.run_sync(_check_lines, services, lines, entries)
    rejected = len(lines.bad_lines)
    if rejected and (not partial or not lines.good):
        raise InvalidField(
            f"{rejected} line(s) of the batch have problems; nothing was queued"
            + (" (partial=allow queues the good lines)." if not partial else " (no line was good)."),
            fields=[(p.path, p.message) for p in lines.listed()],
        )
    job = _new_job(principal, "batch", len(lines.good), key, digest)
    if rejected:
        job.rejected_lines = rejected
        error = ApiError.invalid(f"{rejected} line(s) were left out (partial=allow).", lines.listed())
        job.problem = job_problem(ApiError(422, "invalid-lines", "Lines left out", error.detail, errors=error.errors))
    items = [(line, data, f"job:{job.id}:{line}") for line, data in lines.good]
    return await _store(services, session, principal, job, items)


def _problem(blob: bytes | None) -> JobProblem | None:
    return _problem_decoder.decode(blob) if blob else None


async def _out(session: AsyncSession, job: ScreeningJob) -> ScreeningJobOut:
    screening_id = None
    if job.kind == "single" and job.status == "scored":
        first = await jobs.items_page(session, job.id, 0, 1, None)
        screening_id = first[0].screening_id if first else None
    return ScreeningJobOut(
        id=job.id,
        kind=job.kind,  # type: ignore[arg-type]
        status=job.status,  # type: ignore[arg-type]
        progress=JobProgress(
            total=job.total,
            waiting=job.total - job.scored - job.failed,
            scored=job.scored,
            failed=job.failed,
            rejected_lines=job.rejected_lines,
        ),
        screening_id=screening_id,
        problem=_problem(job.problem),
        created_at=job.created_at,
        updated_at=job.updated_at,
        finished_at=job.finished_at,
    )


async def view(session: AsyncSession, principal: Principal, job_id: str) -> ScreeningJobOut:
    """The organisation's job with its progress (another organisation's is not found)."""
    return await _out(session, await jobs.get_job(session, principal.org_id, job_id))


async def item_page(
    session: AsyncSession, principal: Principal, job_id: str, after: int, limit: int, status: str | None
) -> JobItemPage:
    """A page of the job's screenings in line order."""
    job = await jobs.get_job(session, principal.org_id, job_id)
    rows = await jobs.items_page(session, job.id, after, limit + 1, status)
    more = len(rows) > limit
    rows = rows[:limit]
    items = tuple(
        JobItemOut(
            line=r.line,
            status=r.status,  # type: ignore[arg-type]
            attempts=r.attempts,
            screening_id=r.screening_id,
            problem=_problem(r.problem),
            dead_letter=r.dead_letter,
        )
        for r in rows
    )
    return JobItemPage(items=items, next_after=rows[-1].line if more and rows else None)
