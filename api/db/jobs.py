"""Screening-job queries. Reads are scoped to one organisation; the queue's claim takes the oldest
claimable items of any organisation (the database is the queue, see :mod:`api.db.leases`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.db import leases
from api.db.models import ScreeningJob, ScreeningJobItem, utcnow
from api.domain import NotFound

__all__ = [
    "Claim",
    "claim_items",
    "claimable_count",
    "erase_candidate_items",
    "finish_item",
    "get_job",
    "item_counts",
    "items_of",
    "items_page",
    "job_by_key",
    "release_items",
    "renew_items",
    "retry_item",
]

Claim = leases.Claim
PK = ScreeningJobItem.pk


async def get_job(session: AsyncSession, org_id: str, job_id: str) -> ScreeningJob:
    """The organisation's job; :class:`NotFound` otherwise (another organisation's too)."""
    query = select(ScreeningJob).where(ScreeningJob.id == job_id, ScreeningJob.org_id == org_id)
    found = (await session.execute(query.execution_options(populate_existing=True))).scalar_one_or_none()
    if found is None:
        raise NotFound("screening job", job_id)
    return found


async def job_by_key(session: AsyncSession, org_id: str, key: str) -> ScreeningJob | None:
    """The job an ``Idempotency-Key`` already made, if any."""
    query = select(ScreeningJob).where(ScreeningJob.org_id == org_id, ScreeningJob.idempotency_key == key)
    return (await session.execute(query)).scalar_one_or_none()


async def items_page(
    session: AsyncSession, job_id: str, after_line: int, limit: int, status: str | None
) -> list[ScreeningJobItem]:
    """Up to ``limit`` items of a job after ``after_line``, in line order (the caller checked the job's org)."""
    query = select(ScreeningJobItem).where(ScreeningJobItem.job_id == job_id, ScreeningJobItem.line > after_line)
    if status is not None:
        query = query.where(ScreeningJobItem.status == status)
    return list((await session.execute(query.order_by(ScreeningJobItem.line).limit(limit))).scalars())


async def claim_items(session: AsyncSession, lease: timedelta, limit: int) -> list[Claim]:
    """Take up to ``limit`` oldest claimable items of any job (their jobs become ``running``)."""
    claims = await leases.claim(session, ScreeningJobItem, PK, PK, lease, limit=limit)
    if claims:
        jobs = select(ScreeningJobItem.job_id).where(PK.in_([pk for pk, _ in claims]))
        await session.execute(
            update(ScreeningJob)
            .where(ScreeningJob.id.in_(jobs), ScreeningJob.status == "queued")
            .values(status="running", updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
    return claims


async def items_of(session: AsyncSession, pks: Sequence[int]) -> list[tuple[ScreeningJobItem, ScreeningJob]]:
    """The claimed items with their jobs, oldest first."""
    query = (
        select(ScreeningJobItem, ScreeningJob)
        .join(ScreeningJob, ScreeningJob.id == ScreeningJobItem.job_id)
        .where(PK.in_(list(pks)))
        .order_by(PK)
    )
    return [(item, job) for item, job in (await session.execute(query)).all()]


async def renew_items(session: AsyncSession, claims: Sequence[Claim], lease: timedelta) -> list[int]:
    """Extend the leases of claimed items; the ones still held."""
    return await leases.renew(session, ScreeningJobItem, PK, claims, lease)


async def release_items(session: AsyncSession, claims: Sequence[Claim]) -> int:
    """Queue claimed items again without counting the attempt (a worker shutting down)."""
    return await leases.release(session, ScreeningJobItem, PK, claims)


async def retry_item(session: AsyncSession, claim: Claim, delay: timedelta, problem: bytes) -> bool:
    """Leave a failed attempt's item to be claimed again after ``delay``, noting why it failed."""
    return bool(await leases.release(session, ScreeningJobItem, PK, [claim], retry_after=delay, problem=problem))


async def finish_item(
    session: AsyncSession,
    claim: Claim,
    *,
    screening_id: str | None,
    problem: bytes | None,
    dead_letter: bool = False,
) -> ScreeningJob | None:
    """Mark a claimed item scored (with its record) or failed (with its problem) and count it in its job.

    Returns the job when this item was the last one (the job is then finished), else ``None``; nothing
    changes when another attempt has taken the item over.
    """
    pk, attempt = claim
    now = utcnow()
    status = "scored" if screening_id is not None else "failed"
    done = await session.execute(
        update(ScreeningJobItem)
        .where(ScreeningJobItem.pk == pk, ScreeningJobItem.attempts == attempt, ScreeningJobItem.status == "running")
        .values(
            status=status,
            screening_id=screening_id,
            problem=problem,
            dead_letter=dead_letter,
            lease_until=None,
            updated_at=now,
        )
        .returning(ScreeningJobItem.job_id)
        .execution_options(synchronize_session=False)
    )
    job_id = done.scalar_one_or_none()
    if job_id is None:
        return None
    counter = ScreeningJob.scored if status == "scored" else ScreeningJob.failed
    counted = await session.execute(
        update(ScreeningJob)
        .where(ScreeningJob.id == job_id)
        .values({counter: counter + 1, ScreeningJob.updated_at: now})
        .returning(ScreeningJob.scored, ScreeningJob.failed, ScreeningJob.total)
        .execution_options(synchronize_session=False)
    )
    scored, failed, total = counted.one()
    if scored + failed < total:
        return None
    job = await session.get(ScreeningJob, job_id, populate_existing=True)
    assert job is not None  # the update above just counted it
    job.status = "scored" if scored else "failed"
    job.finished_at = now
    if job.kind == "single" and not scored:
        job.problem = problem
    await session.flush()
    return job


async def claimable_count(session: AsyncSession) -> int:
    """How many items are waiting to be claimed (queued, or under a lapsed lease)."""
    query = select(func.count()).select_from(ScreeningJobItem).where(leases.claimable(ScreeningJobItem, utcnow()))
    return int((await session.execute(query)).scalar_one())


async def item_counts(session: AsyncSession) -> dict[str, int]:
    """Items of every organisation per state, dead-lettered ones apart (for the metrics)."""
    query = select(ScreeningJobItem.status, ScreeningJobItem.dead_letter, func.count()).group_by(
        ScreeningJobItem.status, ScreeningJobItem.dead_letter
    )
    counts: dict[str, int] = {"queued": 0, "running": 0, "scored": 0, "failed": 0, "dead_letter": 0}
    for status, dead, count in (await session.execute(query)).all():
        counts[status] = counts.get(status, 0) + count
        if dead:
            counts["dead_letter"] += count
    return counts


async def erase_candidate_items(session: AsyncSession, org_id: str, candidate_id: str) -> int:
    """Blank a candidate's answers in every job item (an unfinished one then fails as erased); how many."""
    query = select(ScreeningJobItem).where(
        ScreeningJobItem.org_id == org_id, ScreeningJobItem.candidate_id == candidate_id
    )
    items = list((await session.execute(query.with_for_update())).scalars())
    now = utcnow()
    for item in items:
        item.body, item.candidate_id, item.updated_at = b"", "", now
    return len(items)
